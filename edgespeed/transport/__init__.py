"""Links between devices: the wire format (`wire`, raising `errors.WireError`), the protocol's
state machines (`session`, no I/O), ZeroMQ link endpoints driving them (`link`), CurveZMQ
keys and peer allowlists (`security`) and per-edge compression (`compress`).

pyzmq and msgpack come with the `zmq` extra; nothing here imports them until a link opens.
"""
