"""Fuzz a link receiver over a real socket: malformed messages are counted and dropped."""

from __future__ import annotations

import random
import socket
import time

import msgpack
import numpy as np
import zmq

from edgespeed.transport import wire
from edgespeed.transport.link import Receiver

N = 10_000


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def _malformed(rng: random.Random) -> list[bytes]:
    """One multipart message that breaks the format (checked below with the decoder)."""
    good = wire.encode("fuzz", rng.randrange(100), 1, 2, {"a": np.arange(rng.randrange(1, 64), dtype=np.float32), "s": "x"})
    good = [bytes(f) for f in good]
    kind = rng.randrange(8)
    if kind == 0:  # random bytes, random frame count
        return [rng.randbytes(rng.randrange(0, 200)) for _ in range(rng.randrange(1, 5))]
    if kind == 1:  # a truncated header
        return [good[0][: rng.randrange(len(good[0]))], *good[1:]]
    if kind == 2:  # a short or long array frame
        return [good[0], good[1][: -rng.randrange(1, 4)] if rng.random() < 0.5 else good[1] + b"x"]
    if kind == 3:  # bit flips in the header
        h = bytearray(good[0])
        for _ in range(rng.randrange(1, 6)):
            h[rng.randrange(len(h))] ^= 1 << rng.randrange(8)
        return [bytes(h), *good[1:]]
    if kind == 4:  # a plausible header with a bad field
        h = msgpack.unpackb(good[0])
        key = rng.choice(["v", "k", "q", "ts", "a", "b", "m", "l"])
        h[key] = rng.choice([None, -5, "zz", [1, 2], {"x": 1}, 2**63 + 5 if key != "l" else 3, b"\x00"])
        return [msgpack.packb(h), *good[1:]]
    if kind == 5:  # a forbidden dtype or an inconsistent shape
        h = msgpack.unpackb(good[0])
        h["a"][0][rng.randrange(2)] = rng.choice(["|O", "<U8", "V16", [3, 3], [1 << 40], "S1"])
        return [msgpack.packb(h), *good[1:]]
    if kind == 6:  # missing frames, or extra ones
        return [good[0]] if rng.random() < 0.5 else [*good, rng.randbytes(8)]
    return [msgpack.packb({"v": 1, "k": "ack", "l": "fuzz", "acked": rng.choice(["x", 1.5, None, [1]])})]


def _is_malformed(frames: list[bytes]) -> bool:
    try:
        msg = wire.decode(frames)
    except wire.WireError:
        return True
    return msg.link != "fuzz"


def test_fuzzed_messages_are_all_counted_and_never_crash_the_receiver():
    rng = random.Random(1234)
    messages = []
    while len(messages) < N:
        m = _malformed(rng)
        if _is_malformed(m):  # a mutation that happens to be valid is not a fuzz case
            messages.append(m)
    port = _free_port()
    rx = Receiver("fuzz", f"tcp://127.0.0.1:{port}")
    tx = zmq.Context.instance().socket(zmq.DEALER)
    tx.linger = 0
    tx.sndhwm = 0
    tx.connect(f"tcp://127.0.0.1:{port}")
    try:
        rx.recv(10)
        before = _rss_mb()
        for i, m in enumerate(messages):
            tx.send_multipart(m)
            if i % 500 == 0:
                assert rx.recv(0) == []
        deadline = time.monotonic() + 30
        while rx.counters["rejected"] < N and time.monotonic() < deadline:
            assert rx.recv(20) == []
        assert rx.counters["rejected"] == N
        assert rx.counters["packets"] == 0 and rx.peer is None
        assert _rss_mb() - before < 64  # nothing accumulates per bad message
        # and the receiver still works: a real sender gets through afterwards
        from edgespeed.transport.link import Sender

        s = Sender("fuzz", f"tcp://127.0.0.1:{port}")
        got = []
        s.pump(0)
        deadline = time.monotonic() + 10
        s.unacked.append((0, wire.encode("fuzz", 0, 5, 6, np.arange(3)), 0))
        s.next_seq = 1
        while not got and time.monotonic() < deadline:
            s.pump(10)
            got += rx.recv(10)
        assert [int(x) for x in got[0].value] == [0, 1, 2]
        s.close(linger_s=0)
    finally:
        tx.close()
        rx.close()
