"""The shipped detector on the shipped clip: speed against agreement on this box, the graph
against a direct run, and INT8 against float.

- The shipped model (it takes any input size, multiples of 32) at 512x512, 512x384 (the
  graph's: the 4:3 clip fills it, no border), 448x352 and 384x288, and its INT8 version made here
  by `edgespeed model quantize --int8`, calibrated on 64 frames of the clip through the graph's
  `norm/tensor` port, at 512x384: fps alone (ONNX Runtime, CPU, default threads = all cores,
  median and best of RUNS), CPU ms per frame on one thread (a loaded box disturbs it far less
  than wall time), and agreement with the float model at 512x512 on 30 frames: its person boxes
  of score >= 0.3 (and >= 0.5) found at IoU >= 0.5 (recall), and the variant's boxes it
  confirms (precision).
- graphs/video_analytics.yaml on the whole clip (150 frames), all sinks included: fps of the graph.
- the graph, its sinks replaced by a list sink on `decode/detections`, against the same model
  and post-processing run frame by frame by hand (PyAV decode, letterbox here, session.run,
  post.detections): >= 99% of boxes matched at IoU >= 0.9.
- the shipping rule: an INT8 model ships (edgespeed/data/models/*int8*) if and only if it agrees
  with the float model at the graph's size on >= 95% of boxes both ways and is faster.

Run: nice -n 10 python -m pytest benchmarks/bench_detector.py -s -p no:cacheprovider
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pytest

av = pytest.importorskip("av")
ort = pytest.importorskip("onnxruntime")
cv2 = pytest.importorskip("cv2")

import yaml  # noqa: E402

from edgespeed.data import ROOT, resolve  # noqa: E402
from edgespeed.graph import load_text  # noqa: E402
from edgespeed.nodes.post.boxes import iou_matrix  # noqa: E402
from edgespeed.runtime.scheduler import run_spec  # noqa: E402
from edgespeed.testing import ListSink, run_node  # noqa: E402

REPO = Path(__file__).parents[1]
GRAPH = REPO / "graphs" / "video_analytics.yaml"
CLIP = resolve("builtin:media/video/pedestrians.mp4")
FLOAT = resolve("builtin:models/centernet_coco.onnx")
SHIPPED_INT8 = sorted((ROOT / "models").glob("*int8*.onnx"))
SIZES = [(512, 512), (512, 384), (448, 352), (384, 288)]  # the graph's is 512x384: 4:3 like the clip, no border
GRAPH_SIZE = (512, 384)
RUNS = 12
pytestmark = pytest.mark.timeout(1800)  # quantizing and five model variants on a shared 2-core box


def frames(step: int = 1) -> list[np.ndarray]:
    with av.open(str(CLIP)) as c:
        return [f.to_ndarray(format="bgr24") for k, f in enumerate(c.decode(video=0)) if k % step == 0]


def session(path: Path, threads: int = 0) -> ort.InferenceSession:
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def letterbox(frame: np.ndarray, size_wh: tuple[int, int]) -> tuple[np.ndarray, dict]:
    """The model input and the transform record, computed here without image.letterbox."""
    (w, h), (W, H) = frame.shape[1::-1], size_wh
    s = min(W / w, H / h)
    nw, nh = round(w * s), round(h * s)
    px, py = (W - nw) // 2, (H - nh) // 2
    img = np.zeros((H, W, 3), np.uint8)
    img[py:py + nh, px:px + nw] = cv2.resize(frame, (nw, nh), interpolation=cv2.INTER_LINEAR)
    x = np.ascontiguousarray(img[:, :, ::-1], dtype=np.float32)[None]  # RGB, 0..255, NHWC
    return x, {"scale_xy": (nw / w, nh / h), "offset_xy": (px, py), "src_wh": (w, h)}


def detect(sess: ort.InferenceSession, clip: list[np.ndarray], size_wh: tuple[int, int], **params) -> list[dict]:
    """Frame by frame by hand: letterbox, session.run, post.detections."""
    feeds = [letterbox(f, size_wh) for f in clip]
    outs = [sess.run(None, {sess.get_inputs()[0].name: x})[0] for x, _ in feeds]
    return run_node("post.detections", params=params, inputs={"predictions": outs, "transform": [t for _, t in feeds]})["detections"]


def matched(a: list[dict], b: list[dict], iou_min: float) -> tuple[int, int]:
    """How many boxes of `a` have a box of `b` in the same frame at IoU >= iou_min, of how many."""
    hit = total = 0
    for x, y in zip(a, b):
        total += len(x["boxes_xyxy"])
        if len(x["boxes_xyxy"]) and len(y["boxes_xyxy"]):
            hit += int((iou_matrix(x["boxes_xyxy"], y["boxes_xyxy"]).max(axis=1) >= iou_min).sum())
    return hit, total


def fps(sess: ort.InferenceSession, x: np.ndarray) -> tuple[float, float]:
    """(frames per second, wall), best of RUNS after warm-up; and CPU ms per frame."""
    name = sess.get_inputs()[0].name
    for _ in range(3):
        sess.run(None, {name: x})
    times = []
    for _ in range(RUNS):
        t0 = time.perf_counter()
        sess.run(None, {name: x})
        times.append(time.perf_counter() - t0)
    return 1 / float(np.median(times)), 1 / min(times)


@pytest.fixture(scope="session")
def variants(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, tuple[int, int]]]:
    """name -> (model, input size): the shipped model takes any multiple of 32 (make_centernet.py)."""
    from edgespeed.cli import main

    int8 = tmp_path_factory.mktemp("detector") / "centernet_coco_int8.onnx"
    code = main(["model", "quantize", str(FLOAT), "--int8", "--calib-graph", str(GRAPH), "--calib-port", "norm/tensor",
                 "--calib-count", "64", "-o", str(int8)])
    assert code == 0
    out = {f"float_{w}x{h}": (FLOAT, (w, h)) for w, h in SIZES}
    out.update({f"int8_{w}x{h}": (int8, (w, h)) for w, h in SIZES[1:2]})  # at the graph's size
    return out


@pytest.fixture(scope="session")
def reference() -> tuple[list[np.ndarray], list[dict]]:
    clip = frames(step=5)
    return clip, detect(session(FLOAT), clip, (512, 512), classes=[0])


def cpu_ms(model: Path, x: np.ndarray) -> float:
    one = session(model, threads=1)
    name = one.get_inputs()[0].name
    one.run(None, {name: x})
    c0 = time.process_time()
    for _ in range(RUNS // 2):
        one.run(None, {name: x})
    return (time.process_time() - c0) / (RUNS // 2) * 1000


@pytest.mark.parametrize("name", [*(f"float_{w}x{h}" for w, h in SIZES), "int8_512x384"])
def test_speed_and_agreement(name: str, variants: dict, reference: tuple, figures: dict) -> None:
    clip, ref = reference
    model, size = variants[name]
    sess = session(model)
    x, _ = letterbox(clip[1], size)
    median_fps, best_fps = fps(sess, x)
    ms = cpu_ms(model, x)
    got = detect(sess, clip, size, classes=[0])
    found, total = matched(ref, got, 0.5)
    confirmed, total_got = matched(got, ref, 0.5)
    recall, precision = found / total, confirmed / max(total_got, 1)
    strong = [{k: v[d["scores"] >= 0.5] for k, v in d.items()} for d in ref]
    found_strong, total_strong = matched(strong, got, 0.5)
    for key, value in (("fps_median", median_fps), ("fps_best", best_fps), ("cpu_ms_1thread", ms), ("recall", recall),
                       ("precision", precision), ("recall_score0.5", found_strong / total_strong)):
        figures[f"detector.{name}.{key}"] = round(value, 3)
    print(f"{name}: {median_fps:.1f} fps median, {best_fps:.1f} best (all cores); {ms:.0f} CPU ms/frame on 1 thread; "
          f"vs float 512x512: {found}/{total} boxes found ({found_strong}/{total_strong} of score >= 0.5), "
          f"{confirmed}/{total_got} confirmed (IoU >= 0.5, load {os.getloadavg()[0]:.1f})")
    assert total > 3 * len(clip) and median_fps > 0


def test_int8_ships_only_if_it_agrees_and_is_faster(variants: dict, figures: dict) -> None:
    """At the graph's input size, against the float model at the same size."""
    i8, f32 = "detector.int8_512x384", "detector.float_512x384"
    if f"{i8}.cpu_ms_1thread" not in figures or f"{f32}.cpu_ms_1thread" not in figures:
        pytest.skip("run with test_speed_and_agreement first")
    clip = frames(step=5)
    ref = detect(session(FLOAT), clip, GRAPH_SIZE, classes=[0])
    got = detect(session(variants["int8_512x384"][0]), clip, GRAPH_SIZE, classes=[0])
    (found, total), (confirmed, total_got) = matched(ref, got, 0.5), matched(got, ref, 0.5)
    recall, precision = found / total, confirmed / max(total_got, 1)
    worthy = recall >= 0.95 and precision >= 0.95 and figures[f"{i8}.cpu_ms_1thread"] < figures[f"{f32}.cpu_ms_1thread"]
    figures["detector.int8_vs_float_512x384.recall"], figures["detector.int8_vs_float_512x384.precision"] = round(recall, 3), round(precision, 3)
    print(f"INT8 vs float at 512x384: {found}/{total} float boxes found, {confirmed}/{total_got} confirmed; "
          f"{figures[f'{i8}.cpu_ms_1thread']:.0f} vs {figures[f'{f32}.cpu_ms_1thread']:.0f} CPU ms: {'ship it' if worthy else 'not shipped'}")
    assert bool(SHIPPED_INT8) == worthy, SHIPPED_INT8


def graph_detections(end_s: float) -> list[dict]:
    doc = yaml.safe_load(GRAPH.read_text())
    doc["nodes"] = [n for n in doc["nodes"] if n["id"] in {"src", "box", "norm", "det", "decode"}]
    src = next(n for n in doc["nodes"] if n["id"] == "src")
    src["params"]["end_s"] = end_s
    doc["nodes"].append({"id": "got", "type": "testing.list_sink", "inputs": {"data": "decode/detections"}})
    result = run_spec(load_text(yaml.safe_dump(doc), file=str(GRAPH)))
    assert result.ok, result.failures
    return list(ListSink.collected["got"])


def test_graph_fps(tmp_path: Path, figures: dict) -> None:
    """The whole ready graph (JSON lines and the annotated mp4 included) on the whole clip."""
    doc = yaml.safe_load(GRAPH.read_text())
    for n in doc["nodes"]:
        if n["type"] in ("sink.jsonl", "video.writer"):
            n["params"]["path"] = str(tmp_path / Path(n["params"]["path"]).name)
    spec = load_text(yaml.safe_dump(doc), file=str(GRAPH))
    load0 = os.getloadavg()[0]
    t0 = time.perf_counter()
    result = run_spec(spec)
    wall = time.perf_counter() - t0
    assert result.ok, result.failures
    lines = (tmp_path / "video_analytics.jsonl").read_text().splitlines()
    figures["detector.graph_fps"] = round(len(lines) / wall, 2)
    figures["detector.graph_fps.loadavg"] = round(load0, 1)
    print(f"graph: {len(lines)} frames in {wall:.1f} s = {len(lines) / wall:.1f} fps (setup included; load average {load0:.1f})")
    assert len(lines) == 150


def test_graph_matches_a_direct_run(figures: dict) -> None:
    n = 40  # 4 s of the clip
    got = graph_detections(end_s=n / 10)
    nodes = {x["id"]: x for x in yaml.safe_load(GRAPH.read_text())["nodes"]}
    decode, box = nodes["decode"]["params"], nodes["box"]
    params = {**decode, "labels": None}
    want = detect(session(FLOAT), frames()[:n], tuple(box["params"]["size_wh"]), **params)
    assert len(got) == n
    hit, total = matched(want, got, 0.9)
    back, total_got = matched(got, want, 0.9)
    figures["detector.graph_vs_direct.boxes"] = total
    figures["detector.graph_vs_direct.matched_iou0.9"] = round(hit / total, 4)
    print(f"graph vs direct, {n} frames: {hit}/{total} direct boxes matched at IoU >= 0.9, {back}/{total_got} graph boxes")
    assert total > 3 * n and hit / total >= 0.99 and back / total_got >= 0.99
