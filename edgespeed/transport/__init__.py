"""Links between devices: the wire format (`wire`), ZeroMQ link endpoints (`link`), CurveZMQ
keys and peer allowlists (`security`) and per-edge compression (`compress`).

pyzmq and msgpack come with the `zmq` extra; nothing here imports them until a link opens.
"""
