"""Ring policies: lossless backpressure, counted drops, byte limits, shutdown."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from edgespeed.runtime.packet import Packet, freeze, payload_bytes
from edgespeed.runtime.ring import Ring
from edgespeed.types import StreamEnd


def pkt(i: int, value: object = None) -> Packet:
    value = i if value is None else value
    return Packet(i, 0, 0, value, payload_bytes(value))


def drain(ring: Ring) -> list[int]:
    out = []
    with ring.cond:
        while ring.ready():
            out.append(ring.pop().seq)
    return out


def test_block_makes_the_producer_wait_until_there_is_room() -> None:
    ring = Ring("a/out -> b.in", 2, "block")
    ring.put(pkt(0))
    ring.put(pkt(1))
    done = threading.Event()

    def produce() -> None:
        ring.put(pkt(2))
        done.set()

    t = threading.Thread(target=produce)
    t.start()
    assert not done.wait(0.2), "put into a full block ring must wait"
    with ring.cond:
        assert ring.pop().seq == 0
    assert done.wait(2)
    t.join()
    assert drain(ring) == [1, 2]
    assert ring.dropped == 0


@pytest.mark.parametrize(
    ("policy", "kept"),
    [
        pytest.param("drop_oldest", [2, 3, 4], id="drop_oldest-keeps-newest-in-order"),
        pytest.param("latest", [4], id="latest-takes-only-the-newest"),
    ],
)
def test_lossy_policies_count_every_drop(policy: str, kept: list[int]) -> None:
    ring = Ring("a/out -> b.in", 3, policy)
    for i in range(5):
        assert ring.put(pkt(i))
    got = drain(ring)
    assert got == kept
    assert ring.dropped == 5 - len(kept)


@pytest.mark.parametrize(
    ("policy", "kept"),
    [
        pytest.param("drop_oldest", ["end a", 7, 8], id="drop_oldest-keeps-the-end-and-the-newest"),
        pytest.param("latest", ["end a", 8], id="latest-takes-the-end-then-the-newest"),
    ],
)
def test_no_policy_drops_the_end_of_a_stream(policy: str, kept: list[object]) -> None:
    """A stream's end is an event: the lossy policies drop the data around it, never it."""
    ring = Ring("a/out -> b.in", 3, policy)
    for i in range(9):
        ring.put(Packet(-1, 0, 0, StreamEnd("a"), 0, None, "a") if i == 4 else pkt(i))
    got = []
    with ring.cond:
        while ring.ready():
            p = ring.pop()
            got.append(f"end {p.value.stream}" if isinstance(p.value, StreamEnd) else p.seq)
    assert got == kept
    assert ring.dropped == 9 - len(kept) and ring.ends == 0


def test_a_lossy_ring_full_of_ends_still_takes_them() -> None:
    ring = Ring("a/out -> b.in", 1, "drop_oldest")
    for s in "abc":
        ring.put(Packet(-1, 0, 0, StreamEnd(s), 0, None, s))
    assert len(ring) == 3 and ring.dropped == 0


def test_byte_limit_bounds_memory_but_always_takes_one_packet() -> None:
    frame = np.zeros((100, 100, 3), np.uint8)  # 30 kB
    ring = Ring("a/out -> b.in", 100, "drop_oldest", max_bytes=70_000)
    for i in range(5):
        ring.put(pkt(i, frame))
    assert len(ring) == 2 and ring.dropped == 3
    big = Ring("a/out -> b.in", 100, "block", max_bytes=10)
    big.put(pkt(0, frame))  # larger than the limit, still accepted into an empty ring
    assert len(big) == 1


def test_kill_releases_a_blocked_producer_and_discards() -> None:
    ring = Ring("a/out -> b.in", 1, "block")
    ring.put(pkt(0))
    result: list[bool] = []
    t = threading.Thread(target=lambda: result.append(ring.put(pkt(1))))
    t.start()
    time.sleep(0.05)
    ring.kill()
    t.join(2)
    assert result == [False]
    assert ring.dropped == 2  # the queued one and the refused one


def test_close_is_seen_after_the_ring_drains() -> None:
    ring = Ring("a/out -> b.in", 4, "block")
    ring.put(pkt(0))
    ring.close()
    with ring.cond:
        assert not ring.finished()
        ring.pop()
        assert ring.finished()


def test_freeze_shares_memory_and_is_read_only() -> None:
    a = np.arange(12, dtype=np.uint8).reshape(3, 4)
    v = freeze(a)
    assert np.shares_memory(a, v)
    with pytest.raises(ValueError):
        v[0, 0] = 1
    d = freeze({"boxes": a, "label": "x"})
    assert np.shares_memory(d["boxes"], a) and not d["boxes"].flags.writeable
    assert a.flags.writeable, "the producer keeps its own writable array"
