"""audio.preemphasis: chunked filtering equals filtering the whole signal."""

from __future__ import annotations

import numpy as np
from edgespeed.nodes.audio.preemphasis import PreEmphasizer

from edgespeed.testing import run_node


def test_chunked_equals_whole():
    x = np.random.default_rng(1).normal(0, 0.2, (1000, 2)).astype(np.float32)
    want = x.copy()
    want[1:] -= 0.97 * x[:-1]
    parts = [x[:1], x[1:333], x[333:334], x[334:]]
    out = run_node(PreEmphasizer, inputs={"audio": parts})["out"]
    np.testing.assert_allclose(np.concatenate(out), want, atol=1e-6)
