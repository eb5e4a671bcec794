"""The built-in node library, installed as `edgespeed.nodes`.

Families, one package each: `video` (camera, file, stream and synthetic sources, writer,
overlay, preview), `image` (preprocessing), `audio` (sources, framing, features, VAD,
endpointing), `speech` (recognition, CTC, captions), `sensor` (CSV replay, IMU, windows,
filters), `inference` (ONNX Runtime and PyTorch models), `ocr` (text detection and
recognition), `post` (decoding, tracking, counting) and `sinks` (files, MQTT, counters).

Each node registers through the `edgespeed.nodes` entry-point group, like any plugin, and
imports only the public `edgespeed` API (and `edgespeed.infer` for models). Heavy libraries
(PyAV, ONNX Runtime, sounddevice) are imported in `setup()`, so `validate` needs none of them.
"""
