"""audio.mix: mono, select, matrix."""

from __future__ import annotations

import numpy as np
import pytest
from edgespeed.nodes.audio.mix import ChannelMixer

from edgespeed.errors import NodeError
from edgespeed.testing import run_node

X = np.array([[1.0, 0.0, 0.5], [0.2, 0.4, 0.6]], np.float32)


@pytest.mark.parametrize(("params", "want"), [
    pytest.param({"mode": "mono"}, X.mean(axis=1, keepdims=True), id="mono"),
    pytest.param({"mode": "select", "channels": [2, 0]}, X[:, [2, 0]], id="select"),
    pytest.param({"mode": "matrix", "matrix": [[0.5, 0.5, 0], [0, 0, 2]]}, np.stack([X[:, :2].mean(1), 2 * X[:, 2]], 1), id="matrix"),
])
def test_mix(params, want):
    out = run_node(ChannelMixer, params=params, inputs={"audio": [X]})["out"][0]
    np.testing.assert_allclose(out, want, rtol=1e-6)


def test_select_missing_channel():
    with pytest.raises(NodeError, match="channel 5 does not exist: the audio has 3"):
        run_node(ChannelMixer, params={"mode": "select", "channels": [5]}, inputs={"audio": [X]})
