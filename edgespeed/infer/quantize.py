"""`edgespeed model quantize`: INT8 (static with calibration, or dynamic) and FP16 models, with
the size they save and how much they still agree with the original.

Static INT8 writes a QDQ model (QuantizeLinear/DequantizeLinear around each quantized op)
with uint8 activations and per-channel int8 weights, scales taken from the calibration inputs
(min/max); what follows the last convolution or matmul stays float (see `float_tail`).
ONNX Runtime fuses the QDQ pairs into integer kernels (QLinearConv, MatMulInteger),
which VNNI / dot-product CPUs run several times faster. Dynamic INT8 quantizes the weights only
and the activations per run: no calibration, suited to MatMul-heavy models (transformers, RNNs)
rather than convolutions. FP16 halves the size; `keep_io_types` keeps float32 inputs and
outputs (a Cast at each end) so the graph feeding the model does not change.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from . import ModelInputError
from .common import Feed, agreement, first_line, load_onnx, run_all, session


def quantize_int8(src: Path, dst: Path, calib: list[Feed], *, dynamic: bool = False, per_channel: bool = True) -> None:
    """Write an INT8 version of `src` to `dst`: static QDQ calibrated on `calib`, or dynamic.

    Raises:
        ModelInputError: no calibration inputs for a static quantization, or ORT refused the model.
    """
    from onnxruntime.quantization import QuantType, quantize_dynamic, quantize_static  # type: ignore[import-untyped]

    load_onnx(src, external=False)  # a clear line for a file that is not ONNX
    dst.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="edgespeed-quant-") as tmp:
        prepared = _preprocess(src, Path(tmp) / "prepared.onnx")
        try:
            if dynamic:
                quantize_dynamic(str(prepared), str(dst), weight_type=QuantType.QInt8, per_channel=per_channel)
                return
            if not calib:
                raise ModelInputError("static INT8 quantization needs calibration inputs (--calib DIR or --calib-graph); or use --dynamic")
            from onnxruntime.quantization import CalibrationMethod, QuantFormat

            quantize_static(str(prepared), str(dst), _Reader(calib), quant_format=QuantFormat.QDQ, per_channel=per_channel,
                            activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                            calibrate_method=CalibrationMethod.MinMax, nodes_to_exclude=float_tail(prepared))
        except ModelInputError:
            raise
        except Exception as e:
            raise ModelInputError(f"onnxruntime could not quantize the model: {first_line(e)}", src) from e


HEAVY = {"Conv", "ConvTranspose", "MatMul", "Gemm"}


def float_tail(path: Path) -> list[str]:
    """Names of the nodes after the last heavy op (conv, matmul) on every path to an output.

    They stay float: they cost little, and a detector's own box decoding lives there, where one
    uint8 scale per tensor would destroy what it joins (pixel coordinates 0..640, scores 0..1
    and class ids in one concatenated output: scores would all round to 0).
    """
    import onnx

    nodes = list(onnx.load(str(path), load_external_data=False).graph.node)
    consumers: dict[str, list[int]] = {}
    for k, n in enumerate(nodes):
        for name in n.input:
            consumers.setdefault(name, []).append(k)
    heavy_below: dict[int, bool] = {}  # node -> a heavy op lies downstream of it
    for k in reversed(range(len(nodes))):  # ONNX graphs are topologically sorted: consumers come later
        below = [j for out in nodes[k].output for j in consumers.get(out, []) if j > k]
        heavy_below[k] = any(nodes[j].op_type in HEAVY or heavy_below[j] for j in below)
    return [n.name for k, n in enumerate(nodes) if n.op_type not in HEAVY and not heavy_below[k] and n.name]


def _preprocess(src: Path, out: Path) -> Path:
    """Shape inference and graph optimization before quantizing, as ONNX Runtime recommends
    (better scales, fewer Q/DQ pairs); the model as it is when that step fails."""
    import logging

    from onnxruntime.quantization.shape_inference import quant_pre_process  # type: ignore[import-untyped]

    quiet = logging.getLogger().level
    try:
        logging.getLogger().setLevel(logging.ERROR)  # it logs a warning per un-inferred shape
        quant_pre_process(str(src), str(out), skip_symbolic_shape=True)
        return out
    except Exception:  # noqa: BLE001  (optional step: quantize the model as it is)
        return src
    finally:
        logging.getLogger().setLevel(quiet)


class _Reader:
    """The CalibrationDataReader protocol over a list of feeds."""

    def __init__(self, feeds: list[Feed]) -> None:
        from ..metrics.console import ProgressBar

        self._it = iter(feeds)
        self._bar = ProgressBar("calibrating", len(feeds))  # on a terminal only

    def get_next(self) -> Feed | None:
        feed = next(self._it, None)
        self._bar.step() if feed is not None else self._bar.close()
        return feed


def convert_fp16(src: Path, dst: Path, *, keep_io_types: bool = True) -> None:
    """Write a float16 version of `src` to `dst` (float32 inputs/outputs kept when asked)."""
    import onnx
    from onnxruntime.transformers.float16 import convert_float_to_float16  # type: ignore[import-untyped]

    model = load_onnx(src)
    try:
        half = convert_float_to_float16(model, keep_io_types=keep_io_types, disable_shape_infer=False)
    except Exception as e:
        raise ModelInputError(f"could not convert the model to float16: {first_line(e)}", src) from e
    dst.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(half, str(dst))


def compare(src: Path, dst: Path, feeds: list[Feed]) -> dict[str, Any]:
    """Sizes of both files and the agreement of `dst`'s outputs with `src`'s on `feeds`
    (inputs cast to what each model declares, so an FP16-io model gets float16)."""
    from .common import dtype_of

    ref_sess, new_sess = session(src), session(dst)
    types = {a.name: dtype_of(a.type) for a in new_sess.get_inputs()}
    ref = run_all(ref_sess, feeds)
    new = run_all(new_sess, [{k: v.astype(types.get(k, v.dtype)) for k, v in f.items()} for f in feeds])
    before, after = src.stat().st_size, dst.stat().st_size
    return {"size_before": before, "size_after": after, "ratio": before / max(after, 1), **agreement(ref, new)}
