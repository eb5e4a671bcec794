"""Small models and data for the model-tool tests, built here (nothing is downloaded)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

CLASSES = 10
SIZE = 32


def conv_classifier(path: Path, calib: Path | None = None, *, channels: tuple[int, ...] = (32, 64, 64), size: int = SIZE,
                    seed: int = 0) -> Path:
    """3x3 convs (stride 2 after the first) with ReLU, global average pool, a linear layer and
    softmax: N x 3 x size x size float32 (RGB, 0..1) in, N x 10 class probabilities out.

    The convs are He-initialised; the linear layer is a nearest-class-mean classifier fitted on
    the images of `calib` (class = file index % 10, see `class_images`), so the model really
    separates the classes, with margins, as a trained one does (a random head would put
    near-ties everywhere and make top-1 agreement meaningless)."""
    rng = np.random.default_rng(seed)
    x = helper.make_tensor_value_info("image", TensorProto.FLOAT, ["n", 3, size, size])
    y = helper.make_tensor_value_info("probs", TensorProto.FLOAT, ["n", CLASSES])
    nodes, inits, prev, cin = [], [], "image", 3
    for k, cout in enumerate(channels):
        w = rng.normal(0, np.sqrt(2 / (9 * cin)), (cout, cin, 3, 3)).astype(np.float32)
        b = rng.normal(0, 0.05, cout).astype(np.float32)
        inits += [numpy_helper.from_array(w, f"w{k}"), numpy_helper.from_array(b, f"b{k}")]
        nodes += [helper.make_node("Conv", [prev, f"w{k}", f"b{k}"], [f"c{k}"], pads=[1, 1, 1, 1], strides=[1 if k == 0 else 2] * 2),
                  helper.make_node("Relu", [f"c{k}"], [f"r{k}"])]
        prev, cin = f"r{k}", cout
    nodes += [helper.make_node("GlobalAveragePool", [prev], ["gap"]), helper.make_node("Flatten", ["gap"], ["flat"])]
    feat = helper.make_model(helper.make_graph(nodes, "features", [x], [helper.make_tensor_value_info("flat", TensorProto.FLOAT, ["n", cin])], inits),
                             opset_imports=[helper.make_opsetid("", 17)])
    fc, fcb = _class_means_head(feat, calib, size, cin, rng)
    inits += [numpy_helper.from_array(fc, "fc"), numpy_helper.from_array(fcb, "fcb")]
    nodes += [helper.make_node("Gemm", ["flat", "fc", "fcb"], ["logits"]), helper.make_node("Softmax", ["logits"], ["probs"], axis=1)]
    model = helper.make_model(helper.make_graph(nodes, "classifier", [x], [y], inits), opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def _class_means_head(feat: onnx.ModelProto, calib: Path | None, size: int, cin: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    if calib is None:
        return rng.normal(0, np.sqrt(1 / cin), (cin, CLASSES)).astype(np.float32), np.zeros(CLASSES, np.float32)
    import onnxruntime as ort

    feat.ir_version = 8
    sess = ort.InferenceSession(feat.SerializeToString(), providers=["CPUExecutionProvider"])
    files = sorted(calib.glob("*.png"))
    batch = np.stack([cv2.resize(cv2.imread(str(f)), (size, size), interpolation=cv2.INTER_AREA)[:, :, ::-1] for f in files])
    feats = sess.run(None, {"image": (batch.astype(np.float32) / 255).transpose(0, 3, 1, 2).copy()})[0]
    labels = np.arange(len(files)) % CLASSES
    means = np.stack([feats[labels == k].mean(0) for k in range(CLASSES)])  # classes x features
    # argmax of -|f - m_k|^2 = argmax of 2 m_k.f - |m_k|^2, scaled so the softmax is confident
    scale = 10.0
    return (scale * 2 * means.T).astype(np.float32), (-scale * (means ** 2).sum(1)).astype(np.float32)


def class_images(folder: Path, count: int, *, size: int = 48, seed: int = 1) -> Path:
    """`count` PNG images; image i is of class i % 10: one of 5 hues, dark or bright, with pixel
    noise and a small blob of random colour (larger than the model input: resized)."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    hues = np.linspace(0, 180, 5, endpoint=False)
    for i in range(count):
        c = i % CLASSES
        hsv = np.zeros((size, size, 3), np.uint8)
        hsv[..., 0] = (hues[c % 5] + rng.normal(0, 3, (size, size))).clip(0, 179)
        hsv[..., 1], hsv[..., 2] = 200, 90 if c < 5 else 250
        img = cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)
        color = tuple(int(v) for v in rng.integers(0, 255, 3))
        cv2.circle(img, tuple(int(v) for v in rng.integers(0, size, 2)), int(rng.integers(2, 6)), color, -1)
        cv2.imwrite(str(folder / f"img{i:03d}.png"), img)
    return folder


@pytest.fixture(scope="session")
def calib_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return class_images(tmp_path_factory.mktemp("calib"), 40)


@pytest.fixture(scope="session")
def classifier(tmp_path_factory: pytest.TempPathFactory, calib_dir: Path) -> Path:
    return conv_classifier(tmp_path_factory.mktemp("models") / "classifier.onnx", calib_dir)
