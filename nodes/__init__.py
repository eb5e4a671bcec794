"""The built-in node library, installed as `edgespeed.nodes`.

Families: `video` (sources), `image` (preprocessing), `sinks` (outputs). Each node registers
through the `edgespeed.nodes` entry-point group, like any plugin, and imports only the public
`edgespeed` API. Heavy libraries (PyAV, ONNX Runtime, sounddevice) are imported in `setup()`.
"""
