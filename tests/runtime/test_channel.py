"""A shared-memory channel's writer asked what a send would wait for (`ShmWriter.blocked`), the
check that lets a lossy edge's producer write the channel itself and never wait (fuse.py).
Both ends in one process, over real pipes and segments."""

from __future__ import annotations

import os
import pickle
import select
import time
from collections.abc import Iterator

import numpy as np
import pytest

from edgespeed.runtime.shm import SEND_WAITS, ShmWriter, cleanup_segments, pipe_pair
from edgespeed.runtime.shm_reader import ShmReader


RELEASES: dict[int, int] = {}  # writer -> the descriptor its slots come back on
PIPES: dict[int, int] = {}  # writer -> the descriptor it writes its descriptors into


@pytest.fixture
def channel() -> Iterator[tuple[ShmWriter, ShmReader]]:
    data_r, data_w = pipe_pair()
    rel_r, rel_w = pipe_pair()
    w = ShmWriter("a/out -> b.data", os.getpid(), "t0", data_w, rel_r, slots=2)
    r = ShmReader("a/out -> b.data", os.getpid(), "t0", data_r, rel_w)
    RELEASES[id(w)], PIPES[id(w)] = rel_r.fileno(), data_w.fileno()
    yield w, r
    r.close()
    w.close(eos=False)
    for end in (data_r, data_w, rel_r, rel_w):
        end.close()
    assert cleanup_segments() == []


def test_a_frame_waits_for_a_slot_and_goes_once_the_reader_gives_one_back(channel: tuple[ShmWriter, ShmReader]) -> None:
    w, r = channel
    frame = np.zeros((64, 64, 3), np.uint8)  # 12 KiB: through a slot
    assert w.blocked(frame) is None
    w.send(0, 0, 0, frame)
    w.send(1, 0, 0, frame)
    assert w.blocked(frame) == (RELEASES[id(w)], select.POLLIN), "both slots are out: wait for a release"
    kind, seq, _, _, held, _ = r.recv(1.0)
    assert (kind, seq) == ("data", 0)
    assert w.blocked(frame) is not None, "still viewed by the reader's side"
    del held
    r.give_back()
    assert w.blocked(frame) is None
    w.send(2, 0, 0, frame)
    assert w.blocked(frame) is not None
    time.sleep(1.05)  # every slot short for a second: it adds some, as a waiting send would
    for seq in (3, 4):
        assert w.blocked(frame) is None
        w.send(seq, 0, 0, frame)
    assert w.blocked(frame) is not None, "two more slots, as many as the segment had"


def test_small_packets_stop_before_the_pipe_would_make_a_send_wait(channel: tuple[ShmWriter, ShmReader]) -> None:
    w, r = channel
    small = np.arange(16, dtype=np.uint8)
    sent = 0
    while w.blocked(small) is None:  # (a send that waited would hang this test: nothing reads)
        w.send(sent, 0, 0, small)
        sent += 1
    assert sent > 100 and w.blocked(small) == (PIPES[id(w)], select.POLLOUT), "a full pipe: wait until it is writable"
    for i in range(sent // 2):
        kind, seq, _, _, value, _ = r.recv(1.0)
        assert (kind, seq) == ("data", i) and value.tolist() == list(range(16))
    assert w.blocked(small) is None
    big = np.zeros(6000, np.uint8)  # (inline, longer than PIPE_BUF: it must find the pipe empty)
    assert w.blocked(big) == (-1, 0)
    while r.recv(0.01)[0] == "data":
        pass
    assert w.blocked(big) is None
    record = {"blob": bytes(100 << 10)}  # (longer than the whole pipe: only a waiting send writes it)
    assert w.blocked(record) == SEND_WAITS


def test_a_record_is_pickled_once_for_the_check_and_the_send(channel: tuple[ShmWriter, ShmReader],
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    w, r = channel
    calls = []
    dumps = pickle.dumps
    monkeypatch.setattr(pickle, "dumps", lambda v, protocol=None: calls.append(v) or dumps(v, protocol=protocol))
    record = {"boxes": [[1, 2, 3, 4]] * 200, "label": "car"}
    assert w.blocked(record) is None
    w.send(0, 0, 0, record)
    assert r.recv(1.0)[4] == record and len(calls) == 1
    w.send(1, 0, 0, {"other": 1})  # (a value the check did not see is pickled by the send)
    assert r.recv(1.0)[4] == {"other": 1}


def test_the_check_says_when_the_reader_is_gone() -> None:
    data_r, data_w = pipe_pair()
    rel_r, rel_w = pipe_pair()
    w = ShmWriter("a/out -> b.data", os.getpid(), "t1", data_w, rel_r)
    data_r.close()  # the reader's process exited: its ends are closed
    rel_w.close()
    with pytest.raises((EOFError, OSError)):
        w.blocked(np.zeros(4))
    w.close(eos=False)
    data_w.close()
    rel_r.close()
