from __future__ import annotations

import time

import numpy as np
import pytest

from edgespeed.registry import default_registry
from edgespeed.testing import run_node

T = [np.full((1, 3, 4, 4), i, np.float32) for i in range(7)]


def test_batch_concats_full_batches() -> None:
    out = run_node("image.batch", params={"size": 3}, inputs={"data": T})["batch"]
    assert [b.shape for b in out] == [(3, 3, 4, 4), (3, 3, 4, 4), (1, 3, 4, 4)]  # the 7th at end of stream
    assert [float(b[k, 0, 0, 0]) for b in out for k in range(len(b))] == [0, 1, 2, 3, 4, 5, 6]


def test_batch_stacks_frames() -> None:
    frames = [np.full((4, 5, 3), i, np.uint8) for i in range(4)]
    out = run_node("image.batch", params={"size": 2, "mode": "stack"}, inputs={"data": frames})["batch"]
    assert out[0].shape == (2, 4, 5, 3) and out[1][1, 0, 0, 0] == 3


def test_shape_change_flushes_the_pending_batch() -> None:
    items = [T[0], T[1], np.zeros((1, 3, 8, 8), np.float32)]
    out = run_node("image.batch", params={"size": 4}, inputs={"data": items})["batch"]
    assert [b.shape for b in out] == [(2, 3, 4, 4), (1, 3, 8, 8)]  # the new shape's batch at end of stream


def test_timeout_emits_a_smaller_batch() -> None:
    node = default_registry().resolve("image.batch")("b", size=8, timeout_ms=20)
    node.setup()
    assert list(node.process(data=T[0])) == []
    time.sleep(0.05)
    (first,) = list(node.process(data=T[1]))  # arrives late: the pending batch goes first
    assert first["batch"].shape == (1, 3, 4, 4)


@pytest.mark.parametrize(
    ("count", "shapes"),
    [
        pytest.param(5, [(2, 4, 5, 3), (2, 4, 5, 3), (1, 4, 5, 3)], id="partial-last"),
        pytest.param(4, [(2, 4, 5, 3), (2, 4, 5, 3)], id="nothing-pending"),
        pytest.param(0, [], id="empty-stream"),
    ],
)
def test_in_a_graph_the_partial_batch_comes_at_end_of_stream(count: int, shapes: list[tuple[int, ...]]) -> None:
    from edgespeed import load_text
    from edgespeed.runtime.scheduler import run_spec
    from edgespeed.testing import ListSink

    result = run_spec(load_text(
        "nodes:\n"
        f"  - {{id: src, type: test.array_source, params: {{count: {count}, shape: [4, 5, 3]}}}}\n"
        "  - {id: b, type: image.batch, params: {size: 2, mode: stack}, inputs: {data: src/out}}\n"
        "  - {id: sink, type: testing.list_sink, inputs: {data: b/batch}}\n"
    ))
    assert result.ok, result.failures
    got = ListSink.collected["sink"]
    assert [b.shape for b in got] == shapes
    assert [int(x[0, 0, 0]) for b in got for x in b] == list(range(count))


@pytest.mark.parametrize("keepdims", [pytest.param(True, id="keepdims"), pytest.param(False, id="squeeze")])
def test_unbatch_splits_arrays(keepdims) -> None:
    batch = np.arange(3 * 2 * 5, dtype=np.float32).reshape(3, 2, 5)
    out = run_node("image.unbatch", params={"keepdims": keepdims}, inputs={"batch": [batch]})["out"]
    assert len(out) == 3 and out[2].shape == ((1, 2, 5) if keepdims else (2, 5))
    assert np.array_equal(out[1].reshape(2, 5), batch[1]) and np.shares_memory(out[1], batch)


def test_unbatch_splits_records() -> None:
    rec = {"boxes": np.zeros((2, 4)), "scores": np.array([0.1, 0.9]), "name": "x"}
    out = run_node("image.unbatch", params={"keepdims": False}, inputs={"batch": [rec]})["out"]
    assert [o["scores"] for o in out] == [0.1, 0.9] and out[0]["name"] == "x"
