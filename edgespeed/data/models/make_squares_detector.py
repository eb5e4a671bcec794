"""Make `squares_detector.onnx`: a tiny, exact detector of bright squares, with a YOLOv8 output layout.

A stand-in for a trained detector in the ready graphs, so `multi_camera` runs by name with
nothing to download; it finds the solid bright shapes of the shipped square clips (and nothing
in the gray letterbox border). Made with onnx.helper from a few fixed convolutions, no training:

- presence p = 2 * relu(max over channels - 0.5): bright pixels count, dark and mid-gray do not;
- one 64x64 window every 16 px (a 20x20 grid on 320x320): the window's mass of p and its first
  and second moments (one Conv with 5 fixed kernels) give the centroid and, for a solid
  rectangle, its width and height (w = sqrt(12 var + 1));
- score = sigmoid(2 * (margin - 1)) * sigmoid((mass - 100) / 10), where margin is how far the
  box stays inside its window: only windows holding a whole shape score, and they all give the
  same box, which NMS merges into one.

Input `images`: N x 3 x 320 x 320 float32 (0..1, any channel order; the batch is dynamic).
Output `output0`: N x 5 x 400 (cx, cy, w, h, score of class 0 `square`), as YOLOv8 exports.

Run: python edgespeed/data/models/make_squares_detector.py  (needs `onnx`, in the dev extra)
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

SIZE, K, S = 320, 64, 16
PAD = K // 2 - S // 2
GRID = (SIZE + 2 * PAD - K) // S + 1  # 20


def build() -> onnx.ModelProto:
    r = np.arange(K, dtype=np.float32) - (K - 1) / 2  # offset from the window center
    ry, rx = np.meshgrid(r, r, indexing="ij")
    kernels = np.stack([np.ones((K, K), np.float32), rx, ry, rx * rx, ry * ry])[:, None]  # 5 x 1 x K x K
    centers = (np.arange(GRID, dtype=np.float32) * S + S / 2 - 0.5)  # window center in pixel coordinates
    cy, cx = np.meshgrid(centers, centers, indexing="ij")

    def const(name: str, value: np.ndarray | float) -> onnx.NodeProto:
        return helper.make_node("Constant", [], [name], value=numpy_helper.from_array(np.asarray(value, np.float32), name))

    nodes = [
        const("half", 0.5), const("two", 2.0), const("one", 1.0), const("twelve", 12.0), const("eps", 1e-3),
        const("k_half", K / 2), const("mass_min", 100.0), const("mass_scale", 0.1),
        const("gx", cx[None, None]), const("gy", cy[None, None]),
        helper.make_node("ReduceMax", ["images", "channel_axis"], ["bright"], keepdims=1),
        helper.make_node("Sub", ["bright", "half"], ["b0"]),
        helper.make_node("Relu", ["b0"], ["b1"]),
        helper.make_node("Mul", ["b1", "two"], ["p"]),
        helper.make_node("Conv", ["p", "kernels"], ["moments"], kernel_shape=[K, K], strides=[S, S], pads=[PAD] * 4),
        helper.make_node("Split", ["moments"], ["m0", "mx", "my", "mxx", "myy"], axis=1, num_outputs=5),
        helper.make_node("Add", ["m0", "eps"], ["mass"]),
        helper.make_node("Div", ["mx", "mass"], ["ox"]),
        helper.make_node("Div", ["my", "mass"], ["oy"]),
        helper.make_node("Div", ["mxx", "mass"], ["ex2"]),
        helper.make_node("Div", ["myy", "mass"], ["ey2"]),
        helper.make_node("Mul", ["ox", "ox"], ["ox2"]),
        helper.make_node("Mul", ["oy", "oy"], ["oy2"]),
        helper.make_node("Sub", ["ex2", "ox2"], ["vx0"]),
        helper.make_node("Sub", ["ey2", "oy2"], ["vy0"]),
        helper.make_node("Relu", ["vx0"], ["vx"]),
        helper.make_node("Relu", ["vy0"], ["vy"]),
        helper.make_node("Mul", ["vx", "twelve"], ["vx12"]),
        helper.make_node("Mul", ["vy", "twelve"], ["vy12"]),
        helper.make_node("Add", ["vx12", "one"], ["vx13"]),
        helper.make_node("Add", ["vy12", "one"], ["vy13"]),
        helper.make_node("Sqrt", ["vx13"], ["w"]),
        helper.make_node("Sqrt", ["vy13"], ["h"]),
        helper.make_node("Add", ["ox", "gx"], ["cx"]),
        helper.make_node("Add", ["oy", "gy"], ["cy"]),
        # margin = K/2 - max(|ox| + w/2, |oy| + h/2): how far the box stays inside its window
        helper.make_node("Abs", ["ox"], ["aox"]),
        helper.make_node("Abs", ["oy"], ["aoy"]),
        helper.make_node("Mul", ["w", "half"], ["hw"]),
        helper.make_node("Mul", ["h", "half"], ["hh"]),
        helper.make_node("Add", ["aox", "hw"], ["ex"]),
        helper.make_node("Add", ["aoy", "hh"], ["ey"]),
        helper.make_node("Max", ["ex", "ey"], ["extent"]),
        helper.make_node("Sub", ["k_half", "extent"], ["margin"]),
        helper.make_node("Sub", ["margin", "one"], ["m1"]),
        helper.make_node("Mul", ["m1", "two"], ["m2"]),
        helper.make_node("Sigmoid", ["m2"], ["inside"]),
        helper.make_node("Sub", ["m0", "mass_min"], ["g0"]),
        helper.make_node("Mul", ["g0", "mass_scale"], ["g1"]),
        helper.make_node("Sigmoid", ["g1"], ["solid"]),
        helper.make_node("Mul", ["inside", "solid"], ["score"]),
        helper.make_node("Concat", ["cx", "cy", "w", "h", "score"], ["grid"], axis=1),
        helper.make_node("Reshape", ["grid", "out_shape"], ["output0"]),
    ]
    graph = helper.make_graph(
        nodes, "squares_detector",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, ["batch", 3, SIZE, SIZE])],
        [helper.make_tensor_value_info("output0", TensorProto.FLOAT, ["batch", 5, GRID * GRID])],
        initializer=[numpy_helper.from_array(kernels, "kernels"), numpy_helper.from_array(np.array([0, 5, -1], np.int64), "out_shape"),
                     numpy_helper.from_array(np.array([1], np.int64), "channel_axis")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)], producer_name="edgespeed")
    model.ir_version = 8  # readable by ONNX Runtime >= 1.14
    onnx.checker.check_model(model, full_check=True)
    return model


if __name__ == "__main__":
    out = Path(__file__).with_name("squares_detector.onnx")
    onnx.save(build(), out)
    out.with_name("squares_labels.txt").write_text("square\n")
    print(out, out.stat().st_size, "bytes")
