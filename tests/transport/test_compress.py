"""Lossless link compression (zlib, zstd, lz4): exact round trips, and bounded, strict decoding."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import tracemalloc
import zlib

import lz4.block
import msgpack
import numpy as np
import pytest
import zstandard

from edgespeed.errors import MissingDependency
from edgespeed.transport import compress, wire
from edgespeed.transport.compress import codec_for
from edgespeed.transport.link import Receiver, Sender

LOSSLESS = ["zlib", "zstd", "lz4"]
BOMB = 16 << 20  # what the zip bombs inflate to


def _smooth(shape: tuple[int, ...], dtype: str) -> np.ndarray:
    """Compressible content like a link carries: a normalized smooth image, audio, a frame."""
    n = int(np.prod(shape))
    t = np.linspace(0, 8 * np.pi, n)
    if dtype == "float32":  # an 8-bit image normalized to mean 0, std 1: 256 values per channel
        return ((np.round(127 + 120 * np.sin(t)) / 255 - 0.45) / 0.225).astype(np.float32).reshape(shape)
    if dtype == "int16":
        return (8000 * np.sin(t)).astype(np.int16).reshape(shape)
    return (127 + 100 * np.sin(t)).astype(np.uint8).reshape(shape)


def _header(frames):
    return msgpack.unpackb(bytes(frames[0]))


def _forge(array_frame: bytes, codec: str, dtype: str, shape: list[int]) -> list[bytes]:
    """A data message carrying `array_frame` under the given entry (what a hostile peer sends)."""
    frames = wire.encode("l", 0, 0, 0, np.zeros(1, np.uint8))
    h = _header(frames)
    h["a"] = [[np.dtype(dtype).str, shape, codec, int(np.prod(shape)) * np.dtype(dtype).itemsize]]
    return [msgpack.packb(h, use_bin_type=True), array_frame]


def _encoded(codec: str, arr: np.ndarray, quality: int | None = None) -> bytes:
    frames = wire.encode("l", 0, 0, 0, arr, None, codec_for(codec, quality))
    assert _header(frames)["a"][0][2] == codec
    return bytes(frames[1])


@pytest.mark.parametrize("codec", LOSSLESS)
@pytest.mark.parametrize("dtype", ["float32", "int16", "uint8"])
@pytest.mark.parametrize("shape", [(1,), (7,), (3, 5), (1, 3, 32, 32), (48, 64, 3)], ids=str)
def test_round_trip_is_exact_and_read_only(codec, dtype, shape):
    value = _smooth(shape, dtype)
    frames = wire.encode("l", 3, 1, 2, value, None, codec_for(codec))
    assert _header(frames)["a"][0][2] == codec
    out = wire.decode([bytes(f) for f in frames]).value
    assert out.dtype == value.dtype and out.shape == value.shape
    assert np.array_equal(out, value) and not out.flags.writeable


@pytest.mark.parametrize("codec", LOSSLESS)
def test_every_array_of_a_record_is_compressed_and_comes_back(codec):
    value = {"tensor": _smooth((1, 3, 16, 16), "float32"), "mask": np.zeros((32, 32), np.uint8),
             "scalar": np.array(2.5, np.float32), "empty": np.zeros((0, 4), np.float32), "label": "x"}
    frames = wire.encode("l", 0, 0, 0, value, None, codec_for(codec))
    assert [e[2] for e in _header(frames)["a"]].count(codec) == 3  # the empty array travels raw
    out = wire.decode([bytes(f) for f in frames]).value
    assert out["label"] == "x" and out["empty"].shape == (0, 4)
    for key in ("tensor", "mask", "scalar"):
        assert np.array_equal(out[key], value[key]) and not out[key].flags.writeable


@pytest.mark.parametrize("codec, quality", [
    pytest.param("zlib", None, id="zlib"), pytest.param("zstd", None, id="zstd"),
    pytest.param("zstd", 0, id="zstd-0-clamped"), pytest.param("zstd", 100, id="zstd-100-clamped"),
    pytest.param("lz4", None, id="lz4-fast"), pytest.param("lz4", 9, id="lz4-hc"),
    pytest.param("lz4", 100, id="lz4-hc-clamped"),
])
def test_compressible_data_shrinks(codec, quality):
    value = _smooth((1, 3, 64, 64), "float32")
    data = _encoded(codec, value, quality)
    assert len(data) < value.nbytes / 2
    out = wire.decode(wire.encode("l", 0, 0, 0, value, None, codec_for(codec, quality))).value
    assert np.array_equal(out, value)


def test_higher_quality_compresses_more():
    value = _smooth((1, 3, 64, 64), "float32")
    assert len(_encoded("zstd", value, 19)) < len(_encoded("zstd", value, 1))
    assert len(_encoded("lz4", value, 12)) < len(_encoded("lz4", value))


def _damaged(codec: str) -> list[pytest.param]:
    data = _encoded(codec, _smooth((64, 64), "float32"))
    cases = [pytest.param(data[: len(data) // 2], id=f"{codec}-half"), pytest.param(data[:-1], id=f"{codec}-last-byte"),
             pytest.param(b"\xff" * 16 + data[16:], id=f"{codec}-garbage-start"), pytest.param(b"", id=f"{codec}-empty")]
    if codec != "lz4":  # zlib and zstd carry a checksum; an lz4 block only a structure
        mid = bytearray(data)
        mid[len(mid) // 2] ^= 0x55
        cases.append(pytest.param(bytes(mid), id=f"{codec}-flipped-byte"))
    return [pytest.param(codec, *c.values, id=c.id) for c in cases]


@pytest.mark.parametrize("codec, data", [c for name in LOSSLESS for c in _damaged(name)])
def test_damaged_data_is_rejected(codec, data):
    with pytest.raises(wire.WireError, match=codec):
        wire.decode(_forge(data, codec, "float32", [64, 64]))


@pytest.mark.parametrize("codec", LOSSLESS)
@pytest.mark.parametrize("declared", [pytest.param([2000], id="bigger"), pytest.param([500], id="smaller")])
def test_data_that_inflates_to_another_size_is_rejected(codec, declared):
    data = _encoded(codec, _smooth((1000,), "float32"))
    with pytest.raises(wire.WireError):
        wire.decode(_forge(data, codec, "float32", declared))


def _lying_zstd(stated: int) -> bytes:
    """A zstd frame whose header states `stated` bytes and whose blocks inflate to BOMB bytes."""
    honest = zstandard.ZstdCompressor(write_content_size=False, write_checksum=False).compress(bytes(BOMB))
    assert honest[4] == 0  # frame header descriptor: no content size, no checksum, not single-segment
    # descriptor 0x40: a 2-byte content size (stored as size - 256); the window descriptor stays
    return honest[:4] + b"\x40" + honest[5:6] + (stated - 256).to_bytes(2, "little") + honest[6:]


BOMBS = {
    "zlib": lambda: zlib.compress(bytes(BOMB), 9),
    "zstd-stated": lambda: zstandard.ZstdCompressor().compress(bytes(BOMB)),
    "zstd-unstated": lambda: zstandard.ZstdCompressor(write_content_size=False).compress(bytes(BOMB)),
    "zstd-lying": lambda: _lying_zstd(4096),
    "lz4": lambda: lz4.block.compress(bytes(BOMB), store_size=False),
}


@pytest.mark.parametrize("bomb", list(BOMBS))
def test_a_zip_bomb_never_allocates_more_than_the_declared_size(bomb):
    data = BOMBS[bomb]()
    codec = bomb.split("-")[0]
    assert len(data) < BOMB // 100
    declared = 4096
    tracemalloc.start()
    try:
        with pytest.raises(wire.WireError):
            wire.decode(_forge(data, codec, "uint8", [declared]))
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        if bomb not in ("zstd-lying", "zstd-unstated"):  # the control: the measurement sees an inflation
            assert wire.decode(_forge(data, codec, "uint8", [BOMB])).value.nbytes == BOMB
            assert tracemalloc.get_traced_memory()[1] >= BOMB
    finally:
        tracemalloc.stop()
    assert peak < declared + (256 << 10), peak


def test_a_lying_zstd_header_is_caught_in_the_bounded_buffer():
    with pytest.raises(wire.WireError, match="bad zstd data"):
        wire.decode(_forge(_lying_zstd(4096), "zstd", "uint8", [4096]))


def test_compressed_data_for_an_empty_array_is_rejected():
    # zlib's max_length 0 means "no limit": an empty array must not reach the inflater
    with pytest.raises(wire.WireError, match="empty array"):
        wire.decode(_forge(zlib.compress(bytes(BOMB)), "zlib", "uint8", [0]))


def test_a_missing_library_is_a_clear_error_when_sending_and_a_wire_error_when_receiving(monkeypatch):
    data = _encoded("zstd", _smooth((100,), "float32"))
    monkeypatch.setitem(sys.modules, "zstandard", None)
    monkeypatch.setitem(sys.modules, "lz4.block", None)
    monkeypatch.setattr(compress, "_libs", {})
    for name, module in (("zstd", "zstandard"), ("lz4", "lz4")):
        with pytest.raises(MissingDependency) as e:
            codec_for(name)
        assert (e.value.module, e.value.extra) == (module, "zmq")
        assert f"[zmq]' (for compress: {name})" in str(e.value) and "pip install '" in str(e.value)
    with pytest.raises(wire.WireError, match="cannot decode zstd data: needs zstandard"):
        wire.decode(_forge(data, "zstd", "float32", [100]))
    assert codec_for("zlib") is not None


def test_the_module_imports_without_zstandard_and_lz4():
    code = ("import sys; sys.modules['zstandard'] = sys.modules['lz4'] = None\n"
            "from edgespeed.transport.compress import CHOICES, codec_for\n"
            "assert 'zstd' in CHOICES and 'lz4' in CHOICES and codec_for('zlib').name == 'zlib'")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_unknown_names_are_refused():
    with pytest.raises(ValueError, match="zstd, lz4"):
        codec_for("brotli")


# -- over a real link ---------------------------------------------------------------------------
def _endpoint() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"tcp://127.0.0.1:{s.getsockname()[1]}"


@pytest.mark.parametrize("codec", ["zstd", "lz4"])
def test_a_link_carries_compressed_tensors_exactly_and_counts_bytes_before_and_after(codec):
    ep = _endpoint()
    rx = Receiver("l", ep)
    got: list[np.ndarray] = []

    def consume() -> None:
        while not rx.ended:
            for m in rx.recv(10):
                got.append(m.value.copy())
                rx.complete(m.seq, rx.epoch)
        rx.close()

    consumer = threading.Thread(target=consume, daemon=True)
    consumer.start()
    base = _smooth((1, 3, 64, 64), "float32")
    sent = [np.roll(base, i, axis=3) for i in range(20)]
    tx = Sender("l", ep, window=4, codec=codec_for(codec))
    for i, tensor in enumerate(sent):
        tx.send(tensor, i, i)
    assert tx.close(linger_s=10)
    consumer.join(10)
    assert len(got) == len(sent)
    for a, b in zip(got, sent):
        assert a.dtype == np.float32 and np.array_equal(a, b)
    assert tx.counters["bytes_raw"] == sum(t.nbytes for t in sent)
    assert 0 < tx.counters["bytes"] < tx.counters["bytes_raw"] / 2
    assert 0 < rx.counters["bytes"] < tx.counters["bytes_raw"] / 2
