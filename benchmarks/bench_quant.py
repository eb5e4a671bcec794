"""INT8 against FP32 on the CPU: a conv model quantized with `edgespeed.infer` (static QDQ,
per-channel int8 weights, uint8 activations) runs >= 1.5x faster than the float model, both
measured in this run with the same ONNX Runtime settings.

The model (built here with onnx.helper): 1x3x64x64 float32 input; a 3x3 conv 3 -> 64, then
five 3x3 convs (64 -> 128 with stride 2 once, 128 -> 128), each with ReLU, global average
pool and a 128 -> 10 linear layer: about 0.56 M parameters and 0.69 GMAC per image, so the
convolutions dominate the time. Calibration: 16 random images.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from onnx import TensorProto, helper, numpy_helper

from edgespeed.infer.quantize import quantize_int8

MIN_SPEEDUP = 1.5
RUNS = 30
LAYERS = [(3, 64, 1), (64, 64, 1), (64, 128, 2), (128, 128, 1), (128, 128, 1), (128, 128, 1)]


def conv_model(path: Path) -> Path:
    rng = np.random.default_rng(0)
    x = helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, 64, 64])
    y = helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 10])
    nodes, inits, prev = [], [], "image"
    for k, (cin, cout, stride) in enumerate(LAYERS):
        inits += [numpy_helper.from_array(rng.normal(0, np.sqrt(2 / (9 * cin)), (cout, cin, 3, 3)).astype(np.float32), f"w{k}"),
                  numpy_helper.from_array(rng.normal(0, 0.05, cout).astype(np.float32), f"b{k}")]
        nodes += [helper.make_node("Conv", [prev, f"w{k}", f"b{k}"], [f"c{k}"], pads=[1, 1, 1, 1], strides=[stride, stride]),
                  helper.make_node("Relu", [f"c{k}"], [f"r{k}"])]
        prev = f"r{k}"
    inits += [numpy_helper.from_array(rng.normal(0, 0.1, (128, 10)).astype(np.float32), "fc")]
    nodes += [helper.make_node("GlobalAveragePool", [prev], ["gap"]), helper.make_node("Flatten", ["gap"], ["flat"]),
              helper.make_node("MatMul", ["flat", "fc"], ["logits"])]
    model = helper.make_model(helper.make_graph(nodes, "bench", [x], [y], inits), opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def _latency_ms(path: Path, x: np.ndarray, threads: int) -> float:
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    for _ in range(3):
        sess.run(None, {"image": x})
    times = []
    for _ in range(RUNS):
        t0 = time.perf_counter()
        sess.run(None, {"image": x})
        times.append(time.perf_counter() - t0)
    return float(np.median(times) * 1000)


@pytest.mark.parametrize("threads", [pytest.param(1, id="1-thread"), pytest.param(0, id="default-threads")])
def test_int8_is_faster_than_fp32(tmp_path: Path, threads: int, figures: dict) -> None:
    fp32 = conv_model(tmp_path / "fp32.onnx")
    rng = np.random.default_rng(1)
    calib = [{"image": rng.random((1, 3, 64, 64), dtype=np.float32)} for _ in range(16)]
    int8 = tmp_path / "int8.onnx"
    quantize_int8(fp32, int8, calib)
    x = calib[0]["image"]
    # interleaved rounds, best of each: the box is shared, noise only ever adds time
    a = min(_latency_ms(fp32, x, threads) for _ in range(2))
    b = min(_latency_ms(int8, x, threads) for _ in range(2))
    speedup = a / b
    figures[f"quant.fp32_ms.{threads or 'default'}t"] = round(a, 3)
    figures[f"quant.int8_ms.{threads or 'default'}t"] = round(b, 3)
    figures[f"quant.int8_speedup.{threads or 'default'}t"] = round(speedup, 2)
    print(f"threads {threads or 'default'}: fp32 {a:.2f} ms, int8 {b:.2f} ms, speed-up {speedup:.2f}x, "
          f"size {fp32.stat().st_size / 1e6:.2f} MB -> {int8.stat().st_size / 1e6:.2f} MB")
    assert speedup >= MIN_SPEEDUP, f"int8 {b:.2f} ms vs fp32 {a:.2f} ms: {speedup:.2f}x < {MIN_SPEEDUP}x"
