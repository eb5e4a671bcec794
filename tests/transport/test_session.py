"""The link state machines alone: no sockets, no sleeps; time is an argument."""

from __future__ import annotations

from types import SimpleNamespace

from edgespeed.transport.session import ReceiverSession, SenderSession


def _tx(**kw) -> SenderSession:
    opts = {"reliable": True, "window": 3, "queue": 2, "heartbeat_s": 0.5, "timeout_s": 3.0, "counters": {}, "now": 0.0}
    s = SenderSession(**{**opts, **kw})
    s.sid = "a"
    return s


def _rx(**kw) -> ReceiverSession:
    opts = {"reliable": True, "window": 3, "heartbeat_s": 0.5, "timeout_s": 3.0, "rsid": "r", "counters": {}, "now": 0.0}
    return ReceiverSession(**{**opts, **kw})


def _data(seq: int) -> SimpleNamespace:
    return SimpleNamespace(seq=seq, fields={})


def _hello(base: int) -> SimpleNamespace:
    return SimpleNamespace(fields={"base": base})


def _queue(tx: SenderSession, n: int) -> None:
    for _ in range(n):
        tx.queued(tx.next_seq, f"frames{tx.next_seq}", 10)


def _send_all(tx: SenderSession) -> list[int]:
    sent = []
    for i in tx.sendable():
        sent.append(tx.unacked[i][0])
        tx.sent_upto = tx.unacked[i][0]
    return sent


def test_nothing_goes_before_welcome_then_credit_bounds_what_goes():
    tx = _tx()
    tx.hello(0.0)
    _queue(tx, 5)
    assert tx.credit == 0 and list(tx.sendable()) == []
    assert tx.outbox == [("hello", {"sid": "a", "base": 0})]
    tx.on("welcome", {"acked": -1, "win": 8}, 0.1, 0)
    assert tx.win == 3  # the smaller window
    assert _send_all(tx) == [0, 1, 2] and list(tx.sendable()) == []
    tx.on("ack", {"acked": 1, "win": 8}, 0.2, 0)
    assert [s for s, _, _ in tx.unacked] == [2, 3, 4] and _send_all(tx) == [3, 4]


def test_a_welcome_after_reconnect_resends_after_what_the_receiver_holds():
    tx = _tx()
    tx.on("welcome", {"acked": -1}, 0.0, 0)
    _queue(tx, 3)
    assert _send_all(tx) == [0, 1, 2]
    tx.on("welcome", {"acked": 0}, 1.0, 0)  # the receiver has 0; 1 and 2 were lost
    assert tx.counters["resends"] == 2 and _send_all(tx) == [1, 2]


def test_a_silent_peer_is_lost_after_the_timeout_and_hello_follows():
    tx = _tx(timeout_s=1.0)
    tx.on("welcome", {"acked": -1}, 0.0, 0)
    assert tx.due(0.9, 0) and tx.outbox == [("ping", {"t0": 0})]
    tx.outbox.clear()
    assert not tx.due(1.2, 0)
    assert tx.counters["peer_lost"] == 1 and not tx.welcomed and tx.outbox[0][0] == "hello"


def test_pings_follow_the_heartbeat_and_pongs_give_the_clock_offset():
    tx = _tx(heartbeat_s=0.5)
    tx.on("welcome", {"acked": -1}, 0.0, 0)
    tx.due(0.0, 100)
    tx.due(0.3, 200)
    tx.due(0.6, 300)
    assert [k for k, _ in tx.outbox] == ["ping", "ping"]
    tx.on("pong", {"t0": 1000, "t1": 5_000_600}, 0.7, 1200)  # rtt 200, receiver 5 ms ahead
    assert tx.offset_ns == 5_000_000 - 500 and tx.counters["rtt_us"] == 0


def test_realtime_drops_the_oldest_waiting_beyond_the_queue():
    tx = _tx(reliable=False, queue=2)
    _queue(tx, 5)
    assert [s for s, _, _ in tx.unacked] == [3, 4] and tx.counters["dropped"] == 3


def test_realtime_never_drops_the_end_of_a_stream():
    tx = _tx(reliable=False, queue=2)
    for seq in range(6):
        tx.queued(seq, [b"x"], 1, keep=seq == 2)
    assert [s for s, _, _ in tx.unacked] == [2, 5] and tx.counters["dropped"] == 4
    for seq in range(6, 9):  # (kept ones alone past the queue: they all stay)
        tx.queued(seq, [b"x"], 1, keep=True)
    assert [s for s, _, _ in tx.unacked] == [2, 6, 7, 8]
    tx.on("welcome", {"acked": 7}, 0.0, 0)
    assert [s for s, _, _ in tx.unacked] == [8]


def test_eos_goes_once_everything_before_it_went_and_again_each_heartbeat():
    tx = _tx()
    tx.on("welcome", {"acked": -1}, 0.0, 0)
    _queue(tx, 1)
    tx.eos_seq = 1
    assert not tx.eos_due()  # packet 0 still waits
    _send_all(tx)
    assert tx.eos_due() and not tx.eos_due()
    tx.due(1.0, 0)
    assert tx.eos_due()
    tx.on("ack", {"acked": 0, "q": 1}, 1.1, 0)
    assert tx.eos_acked and not tx.unacked


def test_restart_returns_what_was_not_acknowledged():
    tx = _tx()
    tx.on("welcome", {"acked": -1}, 0.0, 0)
    _queue(tx, 3)
    assert tx.restart("b", 1.0) == [0, 1, 2] and not tx.welcomed and tx.outbox[-1] == ("hello", {"sid": "b", "base": 3})


def test_receiver_delivers_in_order_drops_duplicates_and_asks_after_a_gap():
    rx, out = _rx(), []
    rx.on(b"a", "hello", _hello(0), out, 0.0, 0)
    assert rx.outbox.pop() == (b"a", "welcome", {"sid": "r", "acked": -1, "win": 3})
    for seq in (0, 1, 1, 3):
        rx.on(b"a", "data", _data(seq), out, 0.1, 0)
    assert [m.seq for m in out] == [0, 1]
    assert rx.counters["duplicates"] == 1 and rx.counters["gaps"] == 1
    assert rx.outbox == [(b"a", "welcome", {"sid": "r", "acked": -1, "win": 3})]


def test_acknowledgements_follow_completion_and_the_heartbeat():
    rx, out = _rx(heartbeat_s=0.5), []
    rx.on(b"a", "hello", _hello(0), out, 0.0, 0)
    rx.on(b"a", "data", _data(0), out, 0.0, 0)
    rx.acknowledge(0.6)
    rx.outbox.clear()
    rx.acknowledge(0.7)
    assert rx.outbox == []  # nothing new, the beat is not due
    rx.complete(0, rx.epoch)
    rx.acknowledge(0.8)
    assert rx.outbox == [(b"a", "ack", {"acked": 0, "win": 3})]
    rx.outbox.clear()
    rx.acknowledge(1.2)
    assert rx.outbox == [(b"a", "ack", {"acked": 0, "win": 3})]


def test_a_silent_sender_is_noticed_once():
    rx, out = _rx(timeout_s=1.0), []
    rx.on(b"a", "hello", _hello(0), out, 0.0, 0)
    assert not rx.acknowledge(0.5)
    assert rx.acknowledge(1.5) and not rx.acknowledge(2.0) and rx.counters["peer_lost"] == 1


def test_a_third_partys_hello_never_resets_the_real_session():
    rx, out = _rx(), []
    rx.on(b"real", "hello", _hello(0), out, 0.0, 0)
    for seq in range(3):
        rx.on(b"real", "data", _data(seq), out, 0.1, 0)
    rx.on(b"rogue", "hello", _hello(0), out, 0.2, 0)  # a session of its own
    rx.on(b"real", "hello", _hello(0), out, 0.3, 0)  # a replayed hello: the session keeps its place
    for seq in range(4):  # the real sender resends from its oldest unacknowledged packet
        rx.on(b"real", "data", _data(seq), out, 0.4, 0)
    assert [m.seq for m in out] == [0, 1, 2, 3] and rx.counters["duplicates"] == 3
    assert len(rx.peers) == 2 and rx.peers[b"real"].expected == 4


def test_completion_goes_to_the_session_it_belongs_to():
    rx, out = _rx(), []
    rx.on(b"a", "hello", _hello(0), out, 0.0, 0)
    rx.on(b"a", "data", _data(0), out, 0.0, 0)
    epoch_a = rx.epoch
    rx.on(b"b", "hello", _hello(5), out, 0.0, 0)
    rx.on(b"b", "data", _data(5), out, 0.0, 0)
    assert rx.epoch != epoch_a
    rx.outbox.clear()
    rx.complete(0, epoch_a)
    rx.acknowledge(0.1)
    assert (b"a", "ack", {"acked": 0, "win": 3}) in rx.outbox
    assert rx.peers[b"b"].done == 4


def test_the_least_recently_heard_session_is_forgotten_beyond_the_cap():
    rx, out = _rx(max_peers=2), []
    rx.on(b"a", "hello", _hello(0), out, 0.0, 0)
    rx.on(b"b", "hello", _hello(0), out, 1.0, 0)
    rx.on(b"a", "ping", SimpleNamespace(fields={"t0": 1}), out, 2.0, 9)
    rx.on(b"c", "hello", _hello(0), out, 3.0, 0)
    assert set(rx.peers) == {b"a", b"c"}


def test_a_restarted_receiver_resumes_after_what_the_sinks_hold():
    rx, out = _rx(), []
    rx.resume = {"a": 6}
    rx.on(b"a", "hello", _hello(4), out, 0.0, 0)
    assert rx.outbox.pop()[2]["acked"] == 6
    rx.on(b"a", "data", _data(5), out, 0.0, 0)
    rx.on(b"a", "data", _data(7), out, 0.0, 0)
    assert [m.seq for m in out] == [7]
