"""The wire format: round trips without copies, and a strict decoder that never crashes."""

from __future__ import annotations

import msgpack
import numpy as np
import pytest
import zmq

from edgespeed.transport import wire
from edgespeed.transport.compress import codec_for


def _roundtrip(value, codec=None):
    frames = wire.encode("a/out -> b.in", 7, 111, 222, value, {"k": 1}, codec)
    return wire.decode([bytes(f) for f in frames])


@pytest.mark.parametrize("value", [
    pytest.param(np.arange(24, dtype=np.uint8).reshape(2, 4, 3), id="frame"),
    pytest.param(np.zeros((0, 4), np.float32), id="empty"),
    pytest.param(np.array(3.5), id="0d"),
    pytest.param(np.ones((2, 3), np.dtype(">f4")), id="big-endian"),
    pytest.param(np.arange(10, dtype=np.int64)[::2], id="strided"),
    pytest.param(np.array([True, False]), id="bool"),
    pytest.param({"boxes_xyxy": np.ones((2, 4), np.float32), "scores": np.array([0.5, 0.9], np.float32),
                  "class_ids": np.array([1, 2], np.int32), "label": "person", "n": 2}, id="detections"),
    pytest.param({"nested": [1, 2.5, "x", None, True, b"raw", {"deep": np.arange(3)}]}, id="nested"),
    pytest.param({"t": (1, 2), "np": np.float32(1.5)}, id="tuple-and-numpy-scalar"),
    pytest.param("just text", id="string"),
    pytest.param(None, id="none"),
])
def test_roundtrip(value):
    msg = _roundtrip(value)
    assert (msg.kind, msg.link, msg.seq, msg.ts_ns, msg.pts_ns, msg.meta) == ("data", "a/out -> b.in", 7, 111, 222, {"k": 1})

    def same(a, b):
        if isinstance(b, np.ndarray):
            assert isinstance(a, np.ndarray) and a.shape == b.shape and a.dtype == b.dtype.newbyteorder("<")
            assert np.array_equal(a, b) and not a.flags.writeable
        elif isinstance(b, dict):
            assert set(a) == set(b)
            for k in b:
                same(a[k], b[k])
        elif isinstance(b, (list, tuple)):
            assert len(a) == len(b)
            for x, y in zip(a, b):
                same(x, y)
        else:
            assert a == (b.item() if isinstance(b, np.generic) else b)

    same(msg.value, value)


def test_arrays_are_sent_and_received_without_copies():
    frame = np.random.default_rng(0).integers(0, 255, (108, 192, 3), np.uint8)
    frames = wire.encode("l", 0, 0, 0, frame)
    assert np.shares_memory(np.frombuffer(frames[1], np.uint8), frame)  # the send side: the array's memory
    received = [frames[0], bytearray(frames[1])]
    msg = wire.decode(received)
    assert np.shares_memory(msg.value, np.frombuffer(received[1], np.uint8))  # a view of the received frame
    assert np.array_equal(msg.value, frame)


@pytest.mark.parametrize("value", [pytest.param(object(), id="object"), pytest.param({"a": {1, 2}}, id="set"),
                                   pytest.param(np.array(["x"], dtype=object), id="object-array"),
                                   pytest.param(np.array(["abc"]), id="unicode-array")])
def test_values_that_cannot_travel_are_refused_at_the_sender(value):
    with pytest.raises(wire.WireError, match="cannot send"):
        wire.encode("l", 0, 0, 0, value)


def _header(**over):
    h = {"v": 1, "k": "data", "l": "l", "q": 0, "ts": 0, "pts": 0, "m": {}, "a": [["|u1", [4], "raw", 4]],
         "b": msgpack.ExtType(1, (0).to_bytes(2, "little"))}
    h.update(over)
    return msgpack.packb({k: v for k, v in h.items() if v is not _DROP})


_DROP = object()



@pytest.mark.parametrize("frames, why", [
    pytest.param([], "empty", id="no-frames"),
    pytest.param([b"\xc1"], "bad msgpack", id="garbage"),
    pytest.param([msgpack.packb([1, 2])], "not a map", id="not-a-map"),
    pytest.param([_header(v=2), b"abcd"], "version", id="version"),
    pytest.param([_header(k="evil"), b"abcd"], "unknown kind", id="kind"),
    pytest.param([_header(q=-1), b"abcd"], "'q'", id="negative-seq"),
    pytest.param([_header(q="1"), b"abcd"], "'q'", id="seq-type"),
    pytest.param([_header(a=[["|O", [4], "raw", 4]]), b"abcd"], "dtype", id="object-dtype"),
    pytest.param([_header(a=[["<U4", [1], "raw", 16]]), b"abcd"], "dtype", id="unicode-dtype"),
    pytest.param([_header(a=[["|u1", [5], "raw", 5]]), b"abcd"], "frame of 4 bytes", id="short-frame"),
    pytest.param([_header(a=[["|u1", [2], "raw", 4]]), b"abcd"], "does not match", id="shape-size"),
    pytest.param([_header(a=[["|u1", [-4], "raw", 4]]), b"abcd"], "shape", id="negative-dim"),
    pytest.param([_header(a=[["|u1", [1] * 9, "raw", 1]]), b"a"], "shape", id="too-many-dims"),
    pytest.param([_header(a=[["|u1", [1 << 40], "raw", 1 << 40]]), b"abcd"], "does not match", id="huge"),
    pytest.param([_header(a=[["|u1", [4], "lzma", 4]]), b"abcd"], "codec", id="codec"),
    pytest.param([_header(a=[["|u1", [4], "zlib", 4]]), b"abcd"], "zlib", id="bad-zlib"),
    pytest.param([_header(a=[["|u1", [4, 4, 3], "jpeg", 48]]), b"notajpeg"], "jpeg", id="bad-jpeg"),
    pytest.param([_header(), b"abcd", b"extra"], "declared", id="extra-frame"),
    pytest.param([_header(a=[])], "not referenced|bad array reference", id="dangling-ref"),
    pytest.param([_header(b=msgpack.ExtType(7, b"x")), b"abcd"], "ext type", id="unknown-ext"),
    pytest.param([_header(m=[1]), b"abcd"], "metadata", id="meta-type"),
    pytest.param([_header(x=1), b"abcd"], "unknown fields", id="unknown-field"),
    pytest.param([_header(l=5), b"abcd"], "link", id="link-type"),
    pytest.param([msgpack.packb({"v": 1, "k": "ack", "l": "l", "acked": "x"})], "control field", id="control-type"),
    pytest.param([msgpack.packb({"v": 1, "k": "ack", "l": "l", "evil": 1})], "control field", id="control-key"),
    pytest.param([msgpack.packb({"v": 1, "k": "ack", "l": "l"}), b"x"], "one frame", id="control-frames"),
    pytest.param([b"\x91" * 5000 + b"\x01"], "bad msgpack|nested", id="deep-nesting"),
])
@pytest.mark.parametrize("wrap", [pytest.param(bytes, id="bytes"), pytest.param(zmq.Frame, id="zmq-frame"),
                                  pytest.param(lambda b: memoryview(bytearray(b)), id="memoryview")])
def test_malformed_messages_raise_wire_error(frames, why, wrap):
    wire.FRAME_TYPES.add(zmq.Frame)  # (as `link` does: received frames are read in place)
    with pytest.raises(wire.WireError, match=why):
        wire.decode([wrap(f) for f in frames])


@pytest.mark.parametrize("value", [pytest.param(np.arange(24, dtype=np.uint8).reshape(2, 4, 3), id="frame"),
                                   pytest.param(np.arange(8, dtype=np.int64), id="64-bytes"),
                                   pytest.param({"a": np.ones(3, np.float32), "b": [np.zeros((2, 2))]}, id="tree")])
def test_received_zmq_frames_are_read_in_place_as_read_only_arrays(value):
    wire.FRAME_TYPES.add(zmq.Frame)
    frames = [zmq.Frame(bytes(f)) for f in wire.encode("l", 3, 1, 2, value)]
    msg = wire.decode(frames)
    arrays = [msg.value] if isinstance(value, np.ndarray) else [msg.value["a"], msg.value["b"][0]]
    for got, frame in zip(arrays, frames[1:]):
        assert np.shares_memory(got, np.frombuffer(frame, np.uint8)) and not got.flags.writeable
    assert msg.nbytes == sum(len(f) for f in frames)


def test_message_size_limit():
    frames = wire.encode("l", 0, 0, 0, np.zeros(1000, np.uint8))
    with pytest.raises(wire.WireError, match="exceeds the limit"):
        wire.decode([bytes(f) for f in frames], max_bytes=500)


def test_compressed_arrays_roundtrip_and_shrink():
    frame = np.zeros((120, 160, 3), np.uint8)
    frame[40:80, 50:110] = (0, 200, 255)
    tensor = np.repeat(np.arange(100, dtype=np.float32), 100).reshape(100, 100)
    for name, value, lossless in (("png", frame, True), ("jpeg", frame, False), ("zlib", tensor, True)):
        frames = wire.encode("l", 0, 0, 0, value, None, codec_for(name, None))
        assert len(frames[1]) < value.nbytes / 2, name
        out = wire.decode([bytes(f) for f in frames]).value
        assert out.shape == value.shape and out.dtype == value.dtype
        assert np.array_equal(out, value) if lossless else np.abs(out.astype(int) - value).mean() < 3


def test_png_on_a_tensor_falls_back_to_raw():
    tensor = np.ones((3, 3), np.float32)
    frames = wire.encode("l", 0, 0, 0, tensor, None, codec_for("png"))
    assert msgpack.unpackb(frames[0])["a"][0][2] == "raw"
    assert np.array_equal(wire.decode([bytes(f) for f in frames]).value, tensor)
