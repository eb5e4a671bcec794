"""Inference nodes: models run by ONNX Runtime."""
