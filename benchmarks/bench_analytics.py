"""The video analytics chain: pipelined graph vs a sequential loop, and live mode with a slow model.

Targets (issue 3):
- file -> letterbox -> normalize -> onnx (a small conv model in the YOLOv8 layout) -> post.yolo ->
  post.tracker -> post.counter on a 720p H.264 file: the graph's throughput is >= 1.3x a
  hand-written loop making the same decode and process() calls (whole runs, setup included, in
  the same run), and its steady-state rate (after the first 30 frames) is >= 85% of the slowest
  stage's solo throughput (its calls in that loop); the model node is pinned to a core (`cpus:`);
- live mode: a 30 fps paced source into a model slower than the source, `latest` policy with a
  queue of 1: no queue growth (the edge's peak stays at its capacity), drops reported; with a
  model that keeps up, end-to-end latency p50 <= model time + 5 ms and p99 <= model time + 20 ms.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

av = pytest.importorskip("av")
onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper, numpy_helper

from edgespeed import Graph, Input, Node
from edgespeed.registry import default_registry

W, H, FPS, FRAMES = 1280, 720, 30, 300
CLASSES = 4
MIN_RATIO = 1.3
MIN_OF_SOLO = 0.85
ROUNDS = 3  # median of 3 runs each, loop and graph
THREADS = 1  # ORT threads per session: a 2-core box has one core left for the other stages
# The model gets a core of its own (`cpus:`), the other stages the rest: unpinned, decode and
# preprocessing preempt it and the graph reached 73-75% of the model's solo rate, pinned 90-93%.
_OFFERED = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
PIN_DET = [_OFFERED[-1]] if len(_OFFERED) >= 2 else None


def conv_yolo(path: Path, depth: int, width: int = 32) -> Path:
    """A small conv net 640x640 -> (1, 4 + CLASSES, 6400) in the YOLOv8 layout, seeded weights."""
    rng = np.random.default_rng(0)
    inits, nodes = [], []

    def conv(x: str, cin: int, cout: int, k: int, stride: int, name: str, act: str | None = "Relu", bias: float = 0.0) -> str:
        inits.append(numpy_helper.from_array((rng.normal(size=(cout, cin, k, k)) * (0.5 / (cin * k * k) ** 0.5)).astype(np.float32), name + "_w"))
        inits.append(numpy_helper.from_array(np.full(cout, bias, np.float32), name + "_b"))
        nodes.append(helper.make_node("Conv", [x, name + "_w", name + "_b"], [name], strides=[stride, stride], pads=[k // 2] * 4))
        if act:
            nodes.append(helper.make_node(act, [name], [name + "_a"]))
            return name + "_a"
        return name

    y = conv("images", 3, width, 3, 4, "c0")
    y = conv(y, width, width, 3, 2, "c1")
    for i in range(depth):
        y = conv(y, width, width, 3, 1, f"b{i}")
    y = conv(y, width, 4 + CLASSES, 1, 1, "head", act="Sigmoid", bias=-3.0)  # few boxes above threshold
    inits.append(numpy_helper.from_array(np.array([1, 4 + CLASSES, 6400], np.int64), "shape"))
    inits.append(numpy_helper.from_array(np.array([640, 640, 80, 80] + [1] * CLASSES, np.float32).reshape(1, -1, 1), "scale"))
    nodes.append(helper.make_node("Reshape", [y, "shape"], ["flat"]))
    nodes.append(helper.make_node("Mul", ["flat", "scale"], ["output0"]))
    graph = helper.make_graph(nodes, "conv_yolo", [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, 640, 640])],
                              [helper.make_tensor_value_info("output0", TensorProto.FLOAT, [1, 4 + CLASSES, 6400])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


@pytest.fixture(scope="module")
def video_720p(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import cv2

    path = tmp_path_factory.mktemp("analytics") / "traffic.mp4"
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = W, H, "yuv420p"
        for i in range(FRAMES):
            img = np.full((H, W, 3), 90, np.uint8)
            for k in range(4):
                x = (40 + 9 * i + 300 * k) % (W - 120)
                cv2.rectangle(img, (x, 100 + 140 * k), (x + 120, 200 + 140 * k), (40 * k, 200, 255 - 40 * k), -1)
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="bgr24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


STAGES = [
    ("box", "image.letterbox", {"size_wh": [640, 640]}),
    ("norm", "image.normalize", {}),
    ("det", "inference.onnx", {"input_ports": ["tensor"], "output_ports": ["out"], "intra_op_threads": THREADS}),
    ("decode", "post.yolo", {"score_min": 0.3}),
    ("track", "post.tracker", {}),
    ("count", "post.counter", {"lines": {"gate": [0, 360, 1280, 360]}}),
]


class Clock(Node):
    """A sink that notes when each packet arrives: the graph's steady-state rate, setup excluded."""

    kind = "bench.clock"
    data = Input()
    seen: list[float] = []  # the last run's arrival times (one graph runs at a time)

    def setup(self) -> None:
        Clock.seen = []

    def process(self, data: Any) -> None:
        Clock.seen.append(time.perf_counter())


def _steady_fps(times: list[float], skip: int = 30) -> float:
    """Packets per second after the first `skip` (setup, warm-up and the rings filling)."""
    return (len(times) - 1 - skip) / (times[-1] - times[skip])


def _graph(video: Path, model: Path, *, realtime: bool = False, live: bool = False, sink: Any = "sink.null") -> Graph:
    g = Graph("analytics")
    src = g.add("video.file", id="src", path=str(video), realtime=realtime)
    box = g.add("image.letterbox", id="box", **STAGES[0][2])
    g.connect(src.frame, box.image, queue=1 if live else None, policy="latest" if live else None)
    norm = g.add("image.normalize", id="norm", image=box.out)
    det = g.add("inference.onnx", id="det", model=str(model), cpus=PIN_DET, **STAGES[2][2])
    g.connect(norm.tensor, det.tensor, queue=1 if live else None, policy="latest" if live else None)
    dec = g.add("post.yolo", id="decode", predictions=det.out, transform=box.transform, **STAGES[3][2])
    trk = g.add("post.tracker", id="track", detections=dec.detections)
    cnt = g.add("post.counter", id="count", tracks=trk.tracks, **STAGES[5][2])
    g.add(sink, id="sink", data=cnt.counts)
    return g


def _sequential(video: Path, model: Path) -> tuple[float, dict[str, float]]:
    """The same decode and process() calls, one after another; returns (fps, ms per stage)."""
    reg = default_registry()
    t0 = time.perf_counter()  # setup included, as Graph.run() includes it
    nodes = {sid: reg.resolve(kind)(sid, **({**params, "model": str(model)} if kind == "inference.onnx" else params))
             for sid, kind, params in STAGES}
    for n in nodes.values():
        n.setup()
    spent = dict.fromkeys(["decode_video", *nodes], 0.0)
    with av.open(str(video)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        frames = container.decode(stream)
        count = 0
        while True:
            t = time.perf_counter()
            frame = next(frames, None)
            if frame is None:
                break
            img = frame.to_ndarray(format="bgr24")
            spent["decode_video"] += time.perf_counter() - t
            t = time.perf_counter()
            boxed = nodes["box"].process(image=img)
            spent["box"] += time.perf_counter() - t
            t = time.perf_counter()
            tensor = nodes["norm"].process(image=boxed["out"])["tensor"]
            spent["norm"] += time.perf_counter() - t
            t = time.perf_counter()
            out = nodes["det"].process(tensor=tensor)["out"]
            spent["det"] += time.perf_counter() - t
            t = time.perf_counter()
            dets = next(iter(nodes["decode"].process(predictions=out, transform=boxed["transform"])))["detections"]
            spent["decode"] += time.perf_counter() - t
            t = time.perf_counter()
            tracks = nodes["track"].process(detections=dets)["tracks"]
            spent["track"] += time.perf_counter() - t
            t = time.perf_counter()
            nodes["count"].process(tracks=tracks)
            spent["count"] += time.perf_counter() - t
            count += 1
    fps = count / (time.perf_counter() - t0)
    return fps, {k: round(v * 1000 / max(count, 1), 2) for k, v in spent.items()}


def test_graph_vs_sequential_loop(video_720p: Path, tmp_path: Path, benchmark: Any, figures: dict[str, Any]) -> None:
    model = conv_yolo(tmp_path / "conv_yolo.onnx", depth=4)  # about as long as decode + pre + post
    loops = sorted((_sequential(video_720p, model) for _ in range(ROUNDS)), key=lambda r: r[0])
    loop_fps, stage_ms = loops[ROUNDS // 2]  # the median run: a shared 2-core box is noisy
    steady: list[float] = []

    def run() -> Any:
        result = _graph(video_720p, model, sink=Clock).run()
        steady.append(_steady_fps(Clock.seen))
        return result

    result = benchmark.pedantic(run, rounds=ROUNDS, iterations=1)
    assert result.ok, result.failures
    report = result.report
    assert report["nodes"]["sink"]["in"] == FRAMES
    graph_fps = FRAMES / benchmark.stats.stats.median  # whole runs, setup included, as the loop's
    steady_fps = sorted(steady)[ROUNDS // 2]
    slowest = max(stage_ms, key=lambda k: stage_ms[k])
    solo_fps = 1000 / stage_ms[slowest]
    figures.update(analytics_graph_fps=round(graph_fps, 1), analytics_loop_fps=round(loop_fps, 1),
                   analytics_graph_vs_loop=round(graph_fps / loop_fps, 2), analytics_slowest_stage=slowest,
                   analytics_slowest_solo_fps=round(solo_fps, 1), analytics_steady_fps=round(steady_fps, 1), analytics_vs_slowest_solo=round(steady_fps / solo_fps, 2),
                   analytics_stage_ms=stage_ms)
    assert graph_fps >= MIN_RATIO * loop_fps, f"graph {graph_fps:.1f} fps < {MIN_RATIO} x loop {loop_fps:.1f} fps ({stage_ms})"
    assert steady_fps >= MIN_OF_SOLO * solo_fps, f"graph {steady_fps:.1f} fps < {MIN_OF_SOLO:.0%} of {slowest} alone ({solo_fps:.1f} fps)"


def _model_ms(model: Path) -> float:
    node = default_registry().resolve("inference.onnx")("m", model=str(model), intra_op_threads=THREADS, input_ports=["tensor"], output_ports=["out"])
    node.setup()
    x = np.random.default_rng(0).random((1, 3, 640, 640), dtype=np.float32)
    times = []
    for _ in range(5):
        t = time.perf_counter()
        node.process(tensor=x)
        times.append(time.perf_counter() - t)
    return float(np.median(times)) * 1000


def test_live_mode_slow_model_drops_without_queue_growth(video_720p: Path, tmp_path: Path, benchmark: Any, figures: dict[str, Any]) -> None:
    depth = 4
    model = conv_yolo(tmp_path / "slow.onnx", depth=depth, width=64)
    while _model_ms(model) < 1.5 * 1000 / FPS and depth < 256:  # well past the 33 ms frame period
        depth *= 2
        model = conv_yolo(tmp_path / f"slow{depth}.onnx", depth=depth, width=64)
    slow_ms = _model_ms(model)
    result = benchmark.pedantic(lambda: _graph(video_720p, model, realtime=True, live=True).run(), rounds=1, iterations=1)
    assert result.ok, result.failures
    rep = result.report
    edge = next(v for k, v in rep["edges"].items() if k.endswith("-> det.tensor"))
    dropped = sum(e["dropped"] for e in rep["edges"].values())
    figures.update(live_slow_model_ms=round(slow_ms, 1), live_slow_dropped=dropped, live_slow_det_in=rep["nodes"]["det"]["in"],
                   live_slow_edge_peak=edge["peak"], live_slow_latency_p50_ms=rep["sinks"]["sink"]["latency_ms"]["p50"])
    assert edge["peak"] <= edge["capacity"] == 1
    assert dropped > 0 and rep["nodes"]["det"]["in"] < FRAMES


def test_live_mode_latency_when_the_model_keeps_up(video_720p: Path, tmp_path: Path, benchmark: Any, figures: dict[str, Any]) -> None:
    model = conv_yolo(tmp_path / "fast.onnx", depth=0)
    model_ms = _model_ms(model)
    result = benchmark.pedantic(lambda: _graph(video_720p, model, realtime=True, live=True).run(), rounds=1, iterations=1)
    assert result.ok, result.failures
    lat = result.report["sinks"]["sink"]["latency_ms"]
    figures.update(live_fast_model_ms=round(model_ms, 1), live_fast_latency_p50_ms=lat["p50"], live_fast_latency_p99_ms=lat["p99"],
                   live_fast_dropped=sum(e["dropped"] for e in result.report["edges"].values()))
    # the targets; pre- and postprocessing of the 720p frame come on top of the model
    assert lat["p50"] <= model_ms + 5, f"latency p50 {lat['p50']:.1f} ms > model {model_ms:.1f} ms + 5 ms"
    assert lat["p99"] <= model_ms + 20, f"latency p99 {lat['p99']:.1f} ms > model {model_ms:.1f} ms + 20 ms"
