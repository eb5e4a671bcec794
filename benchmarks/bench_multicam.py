"""Many cameras on one box (issue 12): graphs/multi_camera against one process per camera.

Targets (issue 12), all measured in the same run on the same files and model:
- 4 streams through `multi_camera` (one process, one batched detector) against 4 single-stream
  processes (file -> letterbox -> normalize -> onnx -> post.yolo -> tracker -> counter -> jsonl),
  each started as `edgespeed run` (start-up included; that is what a box running one process per
  camera pays): wall time >= 1.3x better, total peak RSS <= 0.5x;
- the model node busy >= 85% of the run with unpaced sources (time in its process() calls over
  the steady part of the run, i.e. after its first batch);
- RSS flat over a long run: looped streams for `LONG_S` seconds, RSS sampled every 0.5 s, the
  slope over the second half below 1 MB per 1000 frames (bench_pipeline's criterion).

The model is the shipped squares detector (its 64x64 window convolution costs about 13 ms an
image on one core, 29 ms for a batch of 4); MULTICAM_DEPTH=n adds n convolutions whose result is
multiplied by zero (detections unchanged) for a heavier model. Both sides run it with one ONNX
Runtime thread. Sizes: MULTICAM_FRAMES (per stream, default 150), MULTICAM_LONG_S (default 60).
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

av = pytest.importorskip("av")
onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
from onnx import helper, numpy_helper

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "edgespeed/data"
FRAMES = int(os.environ.get("MULTICAM_FRAMES", "150"))  # per stream
DEPTH = int(os.environ.get("MULTICAM_DEPTH", "0"))  # extra convolutions in the model (0: the shipped model as it is)
LONG_S = float(os.environ.get("MULTICAM_LONG_S", "60"))
STREAMS = 4
MIN_WALL_RATIO, MAX_RSS_RATIO, MIN_BUSY = 1.3, 0.5, 0.85

# The peak RSS of an `edgespeed run` process, printed at its exit (getrusage of itself).
RUN = ("import atexit, resource, runpy, sys; "
       "atexit.register(lambda: print('MAXRSS_KB', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)); "
       "sys.argv = ['edgespeed', *sys.argv[1:]]; runpy.run_module('edgespeed', run_name='__main__')")


def _squares_module() -> Any:
    spec = importlib.util.spec_from_file_location("make_squares", DATA / "media/video/make_squares.py")
    mod = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """The four shipped clips' scenes, FRAMES frames each (the 90-frame motion repeated)."""
    sq = _squares_module()
    folder = tmp_path_factory.mktemp("multicam")
    out = []
    for name, shapes in sq.CLIPS.items():
        path = folder / f"{name}.mp4"
        with av.open(str(path), "w") as c:
            s = c.add_stream("libx264", rate=sq.FPS)
            s.width, s.height, s.pix_fmt = sq.W, sq.H, "yuv420p"
            for i in range(FRAMES):
                for p in s.encode(av.VideoFrame.from_ndarray(sq.draw(shapes, i % sq.FRAMES), format="bgr24")):
                    c.mux(p)
            for p in s.encode(None):
                c.mux(p)
        out.append(path)
    return out


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The squares detector, plus DEPTH 3x3 convolutions (32 channels, 1/4 resolution) times zero."""
    if DEPTH == 0:
        return DATA / "models/squares_detector.onnx"
    m = onnx.load(str(DATA / "models/squares_detector.onnx"))
    g = m.graph
    rng = np.random.default_rng(0)
    x, cin = "images", 3
    for i, stride in enumerate([4] + [1] * DEPTH):
        w = (rng.normal(size=(32, cin, 3, 3)) * 0.1).astype(np.float32)
        g.initializer.append(numpy_helper.from_array(w, f"heavy_w{i}"))
        g.node.append(helper.make_node("Conv", [x, f"heavy_w{i}"], [f"heavy_c{i}"], strides=[stride, stride], pads=[1] * 4))
        g.node.append(helper.make_node("Relu", [f"heavy_c{i}"], [f"heavy_r{i}"]))
        x, cin = f"heavy_r{i}", 32
    g.initializer.append(numpy_helper.from_array(np.zeros((), np.float32), "heavy_zero"))
    g.initializer.append(numpy_helper.from_array(np.array([1, 2, 3], np.int64), "heavy_axes"))
    g.node.append(helper.make_node("ReduceMean", [x, "heavy_axes"], ["heavy_mean"], keepdims=1))  # N x 1 x 1 x 1
    g.node.append(helper.make_node("Mul", ["heavy_mean", "heavy_zero"], ["heavy_nothing"]))
    # the score gets + 0 * (the branch): the detections are those of the plain detector
    for node in g.node:
        if node.op_type == "Mul" and list(node.output) == ["score"]:
            node.output[0] = "score_plain"
    g.node.append(helper.make_node("Add", ["score_plain", "heavy_nothing"], ["score"]))
    # keep the graph in topological order: the Concat and Reshape that read `score` go last
    tail = [n for n in g.node if "score" in n.input or n.op_type == "Reshape"]
    rest = [n for n in g.node if n not in tail]
    del g.node[:]
    g.node.extend(rest + tail)
    onnx.checker.check_model(m)
    path = tmp_path_factory.mktemp("model") / "squares_heavy.onnx"
    onnx.save(m, str(path))
    return path


SINGLE = """
name: one_camera
nodes:
  - {{id: src, type: video.file, params: {{path: "{clip}"}}}}
  - {{id: box, type: image.letterbox, params: {{size_wh: [320, 320]}}, inputs: {{image: src/frame}}}}
  - {{id: norm, type: image.normalize, params: {{swap_rb: true}}, inputs: {{image: box/out}}}}
  - id: det
    type: inference.onnx
    params: {{model: "{model}", providers: [cpu], intra_op_threads: 1, input_ports: [tensor], output_ports: [out]}}
    inputs: {{tensor: norm/tensor}}
  - {{id: decode, type: post.yolo, params: {{layout: v8, score_min: 0.5, iou_max: 0.45}}, inputs: {{predictions: det/out, transform: box/transform}}}}
  - {{id: track, type: post.tracker, params: {{iou_min: 0.2, max_age: 15}}, inputs: {{detections: decode/detections}}}}
  - {{id: count, type: post.counter, params: {{lines: {{middle: [0, 120, 320, 120]}}, objects: true}}, inputs: {{tracks: track/tracks}}}}
  - {{id: log, type: sink.jsonl, params: {{path: "{out}"}}, inputs: {{data: count/counts}}}}
"""


def _start(args: list[str], cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", RUN, *args], cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def _finish(p: subprocess.Popen[str]) -> int:
    _, err = p.communicate(timeout=600)
    assert p.returncode == 0, err[-2000:]
    return int(next(line.split()[1] for line in err.splitlines() if line.startswith("MAXRSS_KB")))


def _multi_args(clips: list[Path], model: Path, out: Path, report: Path, extra: tuple[str, ...] = ()) -> list[str]:
    paths = "[" + ", ".join(f"{{name: cam{i}, path: '{c}'}}" for i, c in enumerate(clips)) + "]"
    return ["run", "multi_camera", "-q", "--set", f"src.paths={paths}", "--set", f"det.model={model}",
            "--set", "det.intra_op_threads=1", "--set", "det.providers=[cpu]", "--set", f"log.path={out}",
            "--report", str(report), *extra]


def _multi(clips: list[Path], model: Path, tmp: Path) -> tuple[float, int, dict[str, Any]]:
    t0 = time.perf_counter()
    rss = _finish(_start(_multi_args(clips, model, tmp / "multi.jsonl", tmp / "multi.json"), tmp))
    wall = time.perf_counter() - t0
    return wall, rss, json.loads((tmp / "multi.json").read_text())


def _singles(clips: list[Path], model: Path, tmp: Path) -> tuple[float, int]:
    graphs = []
    for i, clip in enumerate(clips):
        g = tmp / f"one_{i}.yaml"
        g.write_text(SINGLE.format(clip=clip, model=model, out=tmp / f"one_{i}.jsonl"))
        graphs.append(g)
    t0 = time.perf_counter()
    procs = [_start(["run", str(g), "-q"], tmp) for g in graphs]
    rss = sum(_finish(p) for p in procs)
    return time.perf_counter() - t0, rss


@pytest.mark.timeout(1200)
def test_one_process_for_four_streams_against_four_processes(clips: list[Path], model: Path, tmp_path: Path,
                                                             benchmark: Any, figures: dict[str, Any]) -> None:
    rounds: list[tuple[float, int, float, int, dict[str, Any]]] = []

    def one_round() -> None:  # alternate, so both sides see the same load on a shared box
        s_wall, s_rss = _singles(clips, model, tmp_path)
        m_wall, m_rss, rep = _multi(clips, model, tmp_path)
        rounds.append((m_wall, m_rss, s_wall, s_rss, rep))

    benchmark.pedantic(one_round, rounds=2, iterations=1)
    # the least favourable round counts (a shared box is noisy; both sides alternate)
    m_wall, _, s_wall, _, rep = min(rounds, key=lambda r: r[2] / r[0])
    m_rss, s_rss = max(r[1] for r in rounds), min(r[3] for r in rounds)
    lines = (tmp_path / "multi.jsonl").read_text().splitlines()
    assert len(lines) == STREAMS * FRAMES
    assert sum(len((tmp_path / f"one_{i}.jsonl").read_text().splitlines()) for i in range(STREAMS)) == STREAMS * FRAMES
    det = rep["nodes"]["det"]
    busy_all = det["process_ms"]["mean"] * det["process_ms"]["count"] / 1000 / rep["wall_s"]  # of the whole run
    figures.update(multicam_frames_per_stream=FRAMES, multicam_model_depth=DEPTH,
                   multicam_wall_s=round(m_wall, 2), multicam_single4_wall_s=round(s_wall, 2),
                   multicam_wall_gain=round(s_wall / m_wall, 2),
                   multicam_rss_mb=round(m_rss / 1024, 1), multicam_single4_rss_mb=round(s_rss / 1024, 1),
                   multicam_rss_ratio=round(m_rss / s_rss, 2),
                   multicam_batches=det["in"], multicam_mean_batch=round(STREAMS * FRAMES / det["in"], 2),
                   multicam_det_batch_ms=det["process_ms"]["mean"], multicam_det_busy=round(busy_all, 3),
                   multicam_rounds=[(round(r[0], 2), round(r[2], 2)) for r in rounds])
    assert s_wall >= MIN_WALL_RATIO * m_wall, f"4 processes {s_wall:.1f} s vs one {m_wall:.1f} s"
    assert m_rss <= MAX_RSS_RATIO * s_rss, f"one process {m_rss / 1024:.0f} MB vs 4 processes {s_rss / 1024:.0f} MB"


@pytest.mark.timeout(600)
def test_the_model_stays_busy_with_unpaced_sources(clips: list[Path], model: Path, tmp_path: Path, benchmark: Any,
                                                   figures: dict[str, Any]) -> None:
    """In process, so each call of the model node is timed: busy = time inside its process()
    over the span from its first call's start to its last call's end (start-up and drain left out)."""
    import edgespeed
    from edgespeed.graph.validate import check
    from edgespeed.runtime.scheduler import Run

    spec = edgespeed.load(REPO / "graphs/multi_camera.yaml")
    text = spec.to_yaml()
    paths = "[" + ", ".join(f"{{name: cam{i}, path: '{c}'}}" for i, c in enumerate(clips)) + "]"
    text = text.replace("builtin:models/squares_detector.onnx", str(model)).replace("out/multi_camera.jsonl", str(tmp_path / "busy.jsonl"))
    spec = edgespeed.load_text(text)
    run = Run(check(_with(spec, paths)))
    det = run.nodes["det"]
    calls: list[tuple[int, int]] = []
    inner = det.process

    def timed(**kw: Any) -> Any:
        t0 = time.perf_counter_ns()
        try:
            return inner(**kw)
        finally:
            calls.append((t0, time.perf_counter_ns()))

    det.process = timed  # type: ignore[method-assign]

    def whole_run() -> Any:
        run.start()
        return run.wait(600)

    result = benchmark.pedantic(whole_run, rounds=1, iterations=1)
    assert result.ok, result.failures
    busy = sum(b - a for a, b in calls) / (calls[-1][1] - calls[0][0])
    steady = calls[len(calls) // 10:]  # after the first tenth: the pipeline is full
    busy_steady = sum(b - a for a, b in steady) / (steady[-1][1] - steady[0][0])
    figures.update(multicam_det_busy_span=round(busy, 3), multicam_det_busy_steady=round(busy_steady, 3),
                   multicam_det_calls=len(calls), multicam_det_call_ms=round(sum(b - a for a, b in calls) / len(calls) / 1e6, 2))
    assert busy_steady >= MIN_BUSY, f"the model was busy {busy_steady:.0%} of the steady run"


def _with(spec: Any, paths: str) -> Any:
    """`spec` with src.paths, det's one thread and the cpu provider set (as --set does)."""
    import dataclasses

    import yaml

    nodes = []
    for n in spec.nodes:
        if n.id == "src":
            n = dataclasses.replace(n, params={**n.params, "paths": yaml.safe_load(paths)})
        if n.id == "det":
            n = dataclasses.replace(n, params={**n.params, "intra_op_threads": 1, "providers": ["cpu"]})
        nodes.append(n)
    return dataclasses.replace(spec, nodes=tuple(nodes) if isinstance(spec.nodes, tuple) else nodes)


@pytest.mark.timeout(1200)
def test_rss_stays_flat_over_a_long_run(clips: list[Path], model: Path, tmp_path: Path, benchmark: Any, figures: dict[str, Any]) -> None:
    args = _multi_args(clips, model, tmp_path / "long.jsonl", tmp_path / "long.json",
                       ("--set", "src.loop=true", "--duration", str(LONG_S)))
    samples: list[tuple[float, float]] = []

    def sampled_run() -> None:
        p = _start(args, tmp_path)
        t0 = time.monotonic()
        while p.poll() is None:
            try:
                rss_kb = next(int(line.split()[1]) for line in Path(f"/proc/{p.pid}/status").read_text().splitlines() if line.startswith("VmRSS"))
            except (OSError, StopIteration):
                break
            samples.append((time.monotonic() - t0, rss_kb / 1024))
            time.sleep(0.5)
        _finish(p)

    benchmark.pedantic(sampled_run, rounds=1, iterations=1)
    rep = json.loads((tmp_path / "long.json").read_text())
    t, mb = np.array(samples).T
    # the second half of the streaming time (start-up is about 2 s; after LONG_S the run drains and tears down)
    half = (t >= (LONG_S + 2) / 2) & (t <= LONG_S)
    slope_mb_min = float(np.polyfit(t[half], mb[half], 1)[0] * 60)
    frames = sum(s["frames"] for s in rep["streams"].values())
    per_1000 = slope_mb_min / 60 * t[-1] / frames * 1000  # MB per 1000 frames (bench_pipeline's unit)
    at = {f"multicam_long_rss_mb_at_{q}s": round(float(mb[np.searchsorted(t, q)]), 1) for q in (5, LONG_S / 4, LONG_S / 2, 3 * LONG_S / 4, LONG_S - 1)}
    figures.update(multicam_long_s=round(float(t[-1]), 1), multicam_long_frames=frames, **at,
                   multicam_long_rss_max_mb=round(float(mb.max()), 1), multicam_long_rss_slope_mb_per_min=round(slope_mb_min, 2),
                   multicam_long_rss_slope_mb_per_1000_frames=round(per_1000, 3))
    # as bench_pipeline: under 1 MB per 1000 frames over the second half (a leak of one 320x240
    # frame a frame would be 230 MB per 1000); the box's RSS wobbles by +-5 MB around its plateau
    assert per_1000 < 1.0, f"RSS grows {per_1000:.2f} MB per 1000 frames ({slope_mb_min:.1f} MB a minute) over the second half"
    # no new frame buffers after warm-up: every pooled port's allocations stay a small bound
    # (what a run of a few hundred frames needs, ~20), never growing with the run's length
    buffers = {f"{nid}.{port}": n for nid, node in rep["nodes"].items() for port, n in (node.get("buffers") or {}).items()}
    figures.update(multicam_long_buffers=buffers, multicam_long_frames_per_stream=min(s["frames"] for s in rep["streams"].values()))
    assert buffers and max(buffers.values()) <= 64, f"pooled buffers grew with the run: {buffers} over {frames} frames"
