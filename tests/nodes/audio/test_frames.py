"""audio.frames: windows are sample-exact across any chunk boundaries."""

from __future__ import annotations

import numpy as np
import pytest
from edgespeed.nodes.audio.frames import Framer

from edgespeed.errors import NodeError
from edgespeed.testing import run_node


def random_chunks(x: np.ndarray, rng: np.random.Generator) -> list[np.ndarray]:
    cuts = np.sort(rng.choice(np.arange(1, len(x)), size=len(x) // 97, replace=False))
    return [c[:, None] for c in np.split(x, cuts)]


@pytest.mark.parametrize(("window_ms", "hop_ms"), [
    pytest.param(25, 10, id="overlap"),
    pytest.param(20, 20, id="adjacent"),
    pytest.param(10, 25, id="gaps"),
    pytest.param(32, 16, id="half"),
])
def test_sample_exact_across_chunks(window_ms, hop_ms):
    rng = np.random.default_rng(window_ms * 100 + hop_ms)
    x = np.arange(16000, dtype=np.float32)  # each sample is its own index: any slip shows
    out = run_node(Framer, params={"window_ms": window_ms, "hop_ms": hop_ms}, inputs={"audio": random_chunks(x, rng)})
    frames = np.concatenate(out["frames"])
    w, h = window_ms * 16, hop_ms * 16
    n = (len(x) - w) // h + 1
    assert frames.shape == (n, w)
    starts = frames[:, 0].astype(int)
    assert starts.tolist() == list(range(0, n * h, h))  # none lost, none repeated
    assert np.array_equal(frames, np.stack([x[s:s + w] for s in starts]))


def test_small_chunks_emit_nothing_until_a_window_is_full():
    x = np.arange(1000, dtype=np.float32)[:, None]
    out = run_node(Framer, params={"window_ms": 25, "hop_ms": 10}, inputs={"audio": [x[:100], x[100:399], x[399:400]]})
    assert [len(f) for f in out["frames"]] == [1]


def test_stereo_is_refused():
    with pytest.raises(NodeError, match="mix it first with audio.mix"):
        run_node(Framer, inputs={"audio": [np.zeros((400, 2), np.float32)]})
