"""`edgespeed model inspect|quantize|prune|bench|export`: make a model smaller and faster and
see what it costs. The work is in `edgespeed.infer`; this module parses flags and prints.

Bad input (a file that is not ONNX, an empty calibration folder, an unknown provider) is one
line naming the file and exit code 2, as for graphs.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from ..errors import GraphError, GraphErrors, Location

PRUNE_HELP = ("Set the given fraction of each weight tensor (Conv, Gemm, MatMul) to zero, smallest magnitudes "
              "first. Note: dense kernels do NOT get faster from unstructured sparsity; the pruned model is as slow "
              "as the original and only compresses better (smaller download). Fine-tune afterwards to recover accuracy.")


def add_model_parser(sub: Any) -> None:
    """The `model` subcommand and its own subcommands."""
    m = sub.add_parser("model", help="inspect, quantize, prune, benchmark or export models",
                       description="Model tools: inspect, quantize (INT8/FP16), prune, bench, export (PyTorch -> ONNX).")
    m.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    ms = m.add_subparsers(dest="model_command", metavar="ACTION", parser_class=type(m))
    ms.required = True

    i = ms.add_parser("inspect", help="inputs, outputs, opset, size, parameters, operators")
    i.add_argument("model", type=Path, metavar="MODEL", help="an ONNX model file")
    i.add_argument("--json", action="store_true", help="machine-readable output")

    q = ms.add_parser("quantize", help="INT8 (static with calibration, or dynamic) or FP16",
                      description="Quantize a model and report size before/after and agreement with the original "
                                  "(top-1 for classifiers, max/mean absolute difference otherwise).")
    q.add_argument("model", type=Path, metavar="MODEL", help="an ONNX model file")
    q.add_argument("-o", "--output", type=Path, required=True, metavar="OUT", help="where to write the quantized model")
    kind = q.add_mutually_exclusive_group()
    kind.add_argument("--int8", action="store_true", help="INT8 (the default): static QDQ calibrated on --calib, or --dynamic")
    kind.add_argument("--fp16", action="store_true", help="float16 weights and compute")
    q.add_argument("--dynamic", action="store_true", help="INT8 weights, activations quantized per run (no calibration)")
    q.add_argument("--per-tensor", action="store_true", help="one weight scale per tensor instead of per channel")
    q.add_argument("--keep-io-types", action=argparse.BooleanOptionalAction, default=True,
                   help="FP16: keep float32 inputs and outputs (default on)")
    _calib_args(q)

    p = ms.add_parser("prune", help="magnitude pruning of weights (smaller compressed, not faster)", description=PRUNE_HELP)
    p.add_argument("model", type=Path, metavar="MODEL", help="an ONNX model file")
    p.add_argument("--sparsity", type=float, required=True, metavar="S", help="fraction of each weight tensor set to zero, 0..1")
    p.add_argument("-o", "--output", type=Path, required=True, metavar="OUT", help="where to write the pruned model")
    _calib_args(p)

    b = ms.add_parser("bench", help="latency p50/p99 and throughput per provider and thread count")
    b.add_argument("model", type=Path, metavar="MODEL", help="an ONNX model file")
    b.add_argument("--provider", dest="providers", action="append", metavar="NAME",
                   help="a provider (cpu, cuda, tensorrt, openvino, ...); repeatable; default: all installed")
    b.add_argument("--threads", type=_int_list, metavar="N[,N...]", help="intra-op thread counts (default: 1 and all cores)")
    b.add_argument("--input", type=Path, metavar="FILE", help="inputs from a .npy (one input) or .npz (by input name)")
    b.add_argument("--shape", action="append", default=[], metavar="NAME=DxDxD", help="shape of an input with dynamic axes")
    b.add_argument("--batch", type=int, default=1, help="batch size for a dynamic batch axis (default 1)")
    b.add_argument("--runs", type=int, default=50, help="timed runs per row (default 50)")
    b.add_argument("--warmup", type=int, default=3, help="untimed runs first (default 3)")
    b.add_argument("--duration", type=float, metavar="S", help="time each row for S seconds instead of --runs")
    b.add_argument("--json", action="store_true", help="machine-readable output")

    e = ms.add_parser("export", help="export a PyTorch module to ONNX (needs edgespeed[torch])")
    e.add_argument("factory", metavar="MODULE:FACTORY", help="e.g. mypkg.models:build or models.py:Net, called with no arguments")
    e.add_argument("-o", "--output", type=Path, required=True, metavar="OUT", help="where to write the ONNX model")
    e.add_argument("--shape", action="append", required=True, metavar="DxDxD", help="an input shape, e.g. 1x3x224x224; repeat per input")
    e.add_argument("--opset", type=int, default=17, metavar="N", help="ONNX opset to export to (default 17)")
    e.add_argument("--static-batch", action="store_true", help="no dynamic batch axis")
    e.add_argument("--input-names", type=lambda s: s.split(","), metavar="A,B", help="names of the model's inputs (default: input, or input0, input1, ...)")
    e.add_argument("--output-names", type=lambda s: s.split(","), metavar="A,B", help="names of the model's outputs (default: output, or output0, output1, ...)")
    for sp in (i, q, p, b, e):
        sp.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)


def _calib_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--calib", type=Path, metavar="DIR", help="calibration / agreement inputs: images, audio or .npy/.npz files")
    p.add_argument("--calib-graph", type=Path, metavar="GRAPH", help="take the inputs from a graph's port instead (see --calib-port)")
    p.add_argument("--calib-port", metavar="NODE/PORT", help="the graph port whose tensors feed the model")
    p.add_argument("--calib-count", type=int, default=64, metavar="N", help="at most N inputs (default 64)")
    p.add_argument("--bgr", action="store_true", help="images: keep OpenCV's BGR order (default: RGB)")
    p.add_argument("--mean", type=_float_list, default=(0.0,), metavar="M[,M,M]", help="images: subtract after scaling to 0..1")
    p.add_argument("--std", type=_float_list, default=(1.0,), metavar="S[,S,S]", help="images: divide by, after --mean")
    p.add_argument("--sample-rate", type=int, default=16000, metavar="HZ", help="audio: decode at this rate (default 16000)")


def _int_list(text: str) -> list[int]:
    return [int(t) for t in text.split(",")]


def _float_list(text: str) -> tuple[float, ...]:
    return tuple(float(t) for t in text.split(","))


def _shape(text: str) -> tuple[int, ...]:
    try:
        dims = tuple(int(d) for d in text.lower().split("x"))
    except ValueError:
        raise GraphErrors([GraphError(f"shape {text!r} is not like 1x3x224x224")]) from None
    return dims


def cmd_model(args: argparse.Namespace) -> int:
    from ..infer import ModelInputError

    try:
        return int(_COMMANDS[args.model_command](args))
    except ModelInputError as e:
        raise GraphErrors([GraphError(e.msg, location=Location(e.path) if e.path else None)]) from e


def _inspect(args: argparse.Namespace) -> int:
    from ..infer.inspect import format_inspect, inspect_model

    info = inspect_model(args.model)
    print(json.dumps(info, indent=2) if args.json else format_inspect(info))
    return 0


def _feeds(args: argparse.Namespace, sess: Any, *, required: bool) -> list[Any]:
    from ..infer import ModelInputError
    from ..infer.calib import Preprocess, folder_feeds, graph_feeds

    if args.calib_graph:
        if not args.calib_port:
            raise ModelInputError("--calib-graph needs --calib-port NODE/PORT", args.calib_graph)
        return graph_feeds(args.calib_graph, args.calib_port, sess, limit=args.calib_count)
    if args.calib:
        pre = Preprocess(bgr=args.bgr, mean=args.mean, std=args.std, sample_rate_hz=args.sample_rate)
        return folder_feeds(args.calib, sess, limit=args.calib_count, pre=pre)
    if required:
        raise ModelInputError("static INT8 quantization needs calibration inputs: --calib DIR, or --calib-graph with --calib-port; "
                              "or use --dynamic", args.model)
    from ..infer.common import random_feed

    return [random_feed(sess, seed=k) for k in range(8)]


def _quantize(args: argparse.Namespace) -> int:
    from ..infer.common import describe_agreement, human_size, load_onnx, session
    from ..infer.quantize import compare, convert_fp16, quantize_int8

    load_onnx(args.model, external=False)
    sess = session(args.model)
    static = not args.fp16 and not args.dynamic
    feeds = _feeds(args, sess, required=static)
    if args.fp16:
        convert_fp16(args.model, args.output, keep_io_types=args.keep_io_types)
        what = "FP16" + (" (float32 inputs/outputs)" if args.keep_io_types else "")
    else:
        quantize_int8(args.model, args.output, feeds, dynamic=args.dynamic, per_channel=not args.per_tensor)
        what = "INT8 " + ("dynamic" if args.dynamic else f"static, calibrated on {len(feeds)} inputs")
    r = compare(args.model, args.output, feeds)
    print(f"{what}: {args.output}")
    print(f"size: {human_size(r['size_before'])} -> {human_size(r['size_after'])} ({r['ratio']:.2f}x smaller)")
    print("agreement with the original: " + describe_agreement(r))
    return 0


def _prune(args: argparse.Namespace) -> int:
    from ..infer.common import agreement, describe_agreement, human_size, run_all, session
    from ..infer.prune import prune_model

    r = prune_model(args.model, args.output, args.sparsity)
    feeds = _feeds(args, session(args.model), required=False)
    agree = agreement(run_all(session(args.model), feeds), run_all(session(args.output), feeds))
    print(f"pruned {r['tensors']} weight tensors ({r['weights']:,} values): sparsity {r['sparsity_before']:.1%} -> {r['sparsity']:.1%} "
          f"({r['sparsity_all_parameters']:.1%} of all parameters): {args.output}")
    print(f"size: {human_size(r['size_before'])} raw, {human_size(r['compressed_before'])} -> {human_size(r['compressed_after'])} compressed (zlib)")
    print("agreement with the original: " + describe_agreement(agree))
    print("note: dense kernels run zeros like any weight; expect no speed-up from unstructured sparsity")
    return 0


def _bench(args: argparse.Namespace) -> int:
    from ..infer import ModelInputError
    from ..infer.bench import bench_model, format_rows

    shapes = {}
    for s in args.shape:
        name, eq, dims = s.partition("=")
        if not eq:
            raise ModelInputError(f"--shape {s!r}: expected NAME=DxDxD, e.g. images=1x3x224x224")
        shapes[name] = _shape(dims)
    rows = bench_model(args.model, providers=args.providers, threads=args.threads, inputs=args.input, shapes=shapes,
                       batch=args.batch, warmup=args.warmup, runs=args.runs, duration_s=args.duration)
    print(json.dumps(rows, indent=2) if args.json else format_rows(rows))
    return 0


def _export(args: argparse.Namespace) -> int:
    from ..infer.common import human_size
    from ..infer.export import export_onnx

    r = export_onnx(args.factory, args.output, [_shape(s) for s in args.shape], opset=args.opset, dynamic_batch=not args.static_batch,
                    input_names=args.input_names, output_names=args.output_names)
    print(f"exported {args.factory} -> {r['path']} ({human_size(r['size_bytes'])}, {r['exporter']} exporter); "
          f"inputs {', '.join(r['inputs'])}, outputs {', '.join(r['outputs'])}")
    print(f"onnxruntime vs torch on the export inputs: max abs diff {r['max_abs_diff']:.3g}")
    return 0


_COMMANDS = {"inspect": _inspect, "quantize": _quantize, "prune": _prune, "bench": _bench, "export": _export}
