"""image.mux / image.demux: cross-stream batches (like nvstreammux) and results split back per stream."""

from __future__ import annotations

import time

import numpy as np
import pytest

from edgespeed import Stamped
from edgespeed.registry import default_registry
from edgespeed.runtime.packet import Packet
from edgespeed.testing import run_node


def frame(v: int, w: int = 8, h: int = 6) -> np.ndarray:
    return np.full((h, w, 3), v, np.uint8)


def mux(**params: object):
    node = default_registry().resolve("image.mux")("mux", **params)
    node.setup()
    return node


def feed(node, value: int, stream: str, seq: int = 0) -> list:
    node.engine_packet = Packet(seq, 1000 + value, 10 * value, None, stream=stream)
    try:
        return list(node.process(frame=frame(value)))
    finally:
        node.engine_packet = None


def test_a_batch_goes_out_when_every_live_stream_is_in() -> None:
    m = mux(size=8, max_wait_ms=1000)
    assert len(feed(m, 1, "a")) == 1  # `a` is the only live stream: nothing to wait for
    m = mux(size=8, max_wait_ms=1000)
    m._seen = {"a": time.monotonic_ns(), "b": time.monotonic_ns()}  # both streams sent lately
    assert feed(m, 1, "a") == []
    (out,) = feed(m, 2, "b")
    assert isinstance(out, Stamped)
    assert [int(f[0, 0, 0]) for f in out.outputs["batch"]] == [1, 2]
    assert [i["stream"] for i in out.outputs["items"]] == ["a", "b"]
    assert [i["pts_ns"] for i in out.outputs["items"]] == [10, 20] and out.ts_ns == 1001  # oldest capture


def test_a_full_batch_goes_out_at_once() -> None:
    m = mux(size=2, max_wait_ms=1000)
    m._seen = {s: time.monotonic_ns() for s in "abc"}
    assert feed(m, 1, "a") == []
    (out,) = feed(m, 2, "a")
    assert len(out.outputs["batch"]) == 2


def test_a_stalled_stream_makes_the_batch_smaller_on_time_with_no_new_frame() -> None:
    m = mux(size=4, max_wait_ms=30)
    m._seen = {"a": time.monotonic_ns(), "stalled": time.monotonic_ns()}
    t0 = time.monotonic()
    assert feed(m, 1, "a") == []
    wait = m.wake_in_s()
    assert 0 < wait <= 0.03
    time.sleep(wait)
    assert m.wake_in_s() <= 0
    out = m.wake()  # the worker calls it at the deadline, with no packet
    assert [i["stream"] for i in out.outputs["items"]] == ["a"]
    assert time.monotonic() - t0 < 0.2
    assert m.wake_in_s() is None  # nothing pending: no deadline


def test_a_stream_silent_past_the_live_window_is_not_waited_for() -> None:
    m = mux(size=4, max_wait_ms=1000, live_window_ms=50)
    m._seen = {"gone": time.monotonic_ns() - 100_000_000}
    (out,) = feed(m, 1, "a")
    assert len(out.outputs["batch"]) == 1


def test_a_stream_end_sends_its_pending_frames_and_stops_the_wait_for_it() -> None:
    m = mux(size=4, max_wait_ms=1000)
    m._seen = {"a": time.monotonic_ns(), "b": time.monotonic_ns()}
    feed(m, 1, "a")
    out = m.end_stream("a")
    assert [i["stream"] for i in out.outputs["items"]] == ["a"]
    assert "a" not in m._seen and m.end_stream("a") is None


def test_batch_media_times_strictly_increase() -> None:
    m = mux(size=1)
    pts = [feed(m, i, "a")[0].pts_ns for i in range(50)]
    assert all(b > a for a, b in zip(pts, pts[1:]))


def test_demux_gives_each_result_its_frames_stream_and_stamps() -> None:
    items = [{"stream": "a", "seq": 3, "ts_ns": 111, "pts_ns": 5}, {"stream": "b", "seq": 7, "ts_ns": 222, "pts_ns": 6}]
    node = default_registry().resolve("image.demux")("split")
    batch = np.arange(2 * 5 * 3, dtype=np.float32).reshape(2, 5, 3)
    tfs = [{"scale_xy": (1.0, 1.0), "offset_xy": (0.0, 0.0), "src_wh": (8, 6)}, {"scale_xy": (2.0, 2.0), "offset_xy": (0.0, 1.0), "src_wh": (4, 3)}]
    out = list(node.process(out=batch, items=items, transform=tfs))
    assert [(o.stream, o.ts_ns, o.pts_ns) for o in out] == [("a", 111, 5), ("b", 222, 6)]
    assert out[1].outputs["out"].shape == (1, 5, 3) and np.shares_memory(out[1].outputs["out"], batch)
    assert out[1].outputs["out"][0, 0, 0] == 15 and out[1].outputs["transforms"] is tfs[1]


def test_demux_refuses_a_result_that_lost_the_batch_axis() -> None:
    node = default_registry().resolve("image.demux")("split")
    with pytest.raises(ValueError, match="'out' has 1 results for 2 frames"):
        list(node.process(out=np.zeros((1, 5, 3)), items=[{}, {}]))


def test_demux_splits_every_output_of_a_multi_output_model() -> None:
    """A CenterNet-style model has several outputs: each is an input and an output of the demuxer."""
    node = default_registry().resolve("image.demux")("split", ports=["heatmap", "sizes"])
    assert set(node.inputs) == {"heatmap", "sizes", "items", "transform"} and set(node.outputs) == {"heatmap", "sizes", "transforms"}
    items = [{"stream": s, "seq": 0, "ts_ns": 1, "pts_ns": 2} for s in ("a", "b", "c")]
    out = list(node.process(heatmap=np.arange(3.0).reshape(3, 1), sizes=np.arange(6.0).reshape(3, 2), items=items))
    assert [o.stream for o in out] == ["a", "b", "c"]
    assert out[2].outputs["heatmap"].tolist() == [[2.0]] and out[2].outputs["sizes"].tolist() == [[4.0, 5.0]]


@pytest.mark.parametrize("ports", [pytest.param([], id="none"), pytest.param(["items"], id="taken"), pytest.param(["a", "a"], id="twice"),
                                   pytest.param(["Out"], id="uppercase")])
def test_demux_port_names_are_checked_at_validate(ports: list[str]) -> None:
    from edgespeed import load_text
    from edgespeed.errors import GraphErrors
    from edgespeed.graph.validate import check

    with pytest.raises(GraphErrors, match="give distinct lowercase names"):
        check(load_text(f"nodes:\n  - {{id: split, type: image.demux, params: {{ports: {ports}}}}}\n"))


def test_letterbox_batch_mode_matches_one_frame_at_a_time() -> None:
    frames = [np.random.default_rng(i).integers(0, 255, (h, w, 3), np.uint8) for i, (w, h) in enumerate([(64, 48), (30, 60), (64, 64)])]
    single = run_node("image.letterbox", params={"size_wh": [32, 32]}, inputs={"image": frames})
    batched = run_node("image.letterbox", params={"size_wh": [32, 32], "batch": True}, inputs={"image": [frames]})
    (b,), (tfs,) = batched["out"], batched["transform"]
    assert b.shape == (3, 32, 32, 3)
    for i in range(3):
        assert np.array_equal(b[i], single["out"][i]) and tfs[i] == single["transform"][i]


def test_normalize_a_batch_in_one_pass_matches_one_image_at_a_time() -> None:
    batch = np.random.default_rng(0).integers(0, 255, (3, 8, 10, 3), np.uint8)
    params = {"mean": [0.1, 0.2, 0.3], "std": [0.5, 0.6, 0.7]}
    (whole,) = run_node("image.normalize", params=params, inputs={"image": [batch]})["tensor"]
    one = run_node("image.normalize", params=params, inputs={"image": list(batch)})["tensor"]
    assert whole.shape == (3, 3, 8, 10)
    assert np.allclose(whole, np.concatenate(one), atol=1e-6)
