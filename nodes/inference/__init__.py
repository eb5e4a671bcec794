"""Inference nodes: models run by ONNX Runtime (inference.onnx) and PyTorch (inference.torch).

`session.py` holds what every ONNX node shares: the `SessionParams` mixin (providers, threads)
over the engine's one session factory, `edgespeed.infer.session`.
"""
