"""isolate: process — nodes in processes of their own over shared-memory channels."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from edgespeed.graph import load_text
from edgespeed.graph.validate import check
from edgespeed.runtime.scheduler import Run
from edgespeed.testing import ListSink
from testnodes import check_stream_pair_join

TESTS = Path(__file__).resolve().parents[1]


def shm_left(pid: int) -> list[str]:
    return sorted(n for n in os.listdir("/dev/shm") if n.startswith(f"es{pid}_"))


def run(text: str, timeout_s: float = 60):
    r = Run(check(load_text(text)), drain_timeout_s=10)
    r.start()
    return r.wait(timeout_s), r


def test_an_isolated_node_runs_in_its_own_process_and_nothing_is_lost() -> None:
    result, _ = run("""
nodes:
  - {id: src, type: "testnodes:ArraySource", params: {count: 40, shape: [240, 320, 3]}}
  - {id: who, type: "testnodes:Pid", isolate: process, inputs: {data: src/out}}
  - {id: sink, type: testing.list_sink, inputs: {data: who/out}}
""")
    assert result.ok, result.failures
    got = ListSink.collected["sink"]
    assert len(got) == 40
    pids = {pid for pid, _ in got}
    assert len(pids) == 1 and os.getpid() not in pids
    assert [int(a[0, 0, 0]) for _, a in got] == list(range(40)), "order and content kept"
    assert all(a.shape == (240, 320, 3) and not a.flags.writeable for _, a in got)
    rep = result.report
    assert rep["nodes"]["who"]["in"] == 40 and rep["nodes"]["who"]["process"] == "who"
    assert "shm_in_0" not in rep["nodes"], "the engine's relays stay out of the report"
    assert rep["sinks"]["sink"]["latency_ms"]["count"] == 40
    assert shm_left(os.getpid()) == []


def test_a_group_shares_one_process() -> None:
    result, _ = run("""
nodes:
  - {id: src, type: testing.list_source, params: {items: [1, 2, 3]}}
  - {id: a, type: "testnodes:Pid", isolate: workers, inputs: {data: src/out}}
  - {id: b, type: "testnodes:Pid", isolate: workers, inputs: {data: a/out}}
  - {id: sink, type: testing.list_sink, inputs: {data: b/out}}
""")
    assert result.ok
    got = ListSink.collected["sink"]
    assert [v for _, (_, v) in got] == [1, 2, 3]
    (pid_b, (pid_a, _)) = got[0]
    assert pid_a == pid_b != os.getpid()


def test_a_crash_is_reported_with_the_node_id_and_stops_the_graph() -> None:
    result, _ = run("""
nodes:
  - {id: src, type: "testnodes:ArraySource", params: {count: 1000, shape: [64, 64, 3], period_s: 0.002}}
  - {id: burn, type: "testnodes:Burn", isolate: process, params: {loops: 0, crash_at: 5}, inputs: {data: src/out}}
  - {id: sink, type: testing.list_sink, inputs: {data: burn/out}}
""")
    (err,) = result.failures
    assert (err.node_id, err.method) == ("burn", "process")
    assert str(err) == "node 'burn' failed in process(): its process crashed (exit code 9)"
    assert result.stopped_by == "error"
    assert len(ListSink.collected["sink"]) <= 5, "what the dead process had not sent is lost, nothing more arrives"
    assert shm_left(os.getpid()) == []


def test_on_error_restart_starts_a_new_process() -> None:
    result, _ = run("""
nodes:
  - {id: src, type: "testnodes:ArraySource", params: {count: 60, shape: [64, 64, 3], period_s: 0.005}}
  - {id: burn, type: "testnodes:Burn", isolate: process, on_error: restart, params: {loops: 0, crash_at: 10}, inputs: {data: src/out}}
  - {id: sink, type: testing.list_sink, inputs: {data: burn/out}}
""")
    assert result.ok, result.failures
    assert result.report["nodes"]["burn"]["restarts"] >= 1
    got = [int(a[0, 0, 0]) for a in ListSink.collected["sink"]]
    assert got[0] == 0 and got[-1] == 59, "it goes on after the restart"
    assert got == sorted(got) and 10 not in got
    assert len(got) >= 45, "only the failing packet and those still in the dead process are lost"
    assert shm_left(os.getpid()) == []


def test_a_node_reading_two_channels_goes_on_while_one_writer_restarts() -> None:
    """join (in the parent) reads both channels itself, one from a process that crashes and is
    restarted: no reader thread, the other input loses nothing, and what the restarted
    process sends arrives too (the read of the dead channel never waits: it is looked at again
    until its replacement is up)."""
    r = Run(check(load_text("""
nodes:
  - {id: src, type: "testnodes:ArraySource", params: {count: 60, shape: [4, 4, 3], period_s: 0.01}}
  - {id: burn, type: "testnodes:Burn", isolate: process, on_error: restart, params: {loops: 0, crash_at: 10}, inputs: {data: src/out}}
  - {id: mid, type: "testnodes:Passthrough", isolate: process, inputs: {data: src/out}}
  - {id: join, type: "testnodes:StreamTag", sync: any, inputs: {data: burn/out, other: mid/out}}
  - {id: sink, type: testing.list_sink, inputs: {data: join/out}}
""")), drain_timeout_s=10)
    r.start()
    seen: set[str] = set()
    while not r.finished:
        seen |= {t.name for t in threading.enumerate()}
        time.sleep(0.01)
    result = r.wait(30)
    assert result.ok, result.failures
    assert result.report["nodes"]["burn"]["restarts"] >= 1
    assert not [t for t in seen if t.startswith("edgespeed:shm_in")], sorted(seen)
    got = Counter(int(a[0, 0, 0]) for a in ListSink.collected["sink"])
    assert set(got) == set(range(60)), "the other input loses nothing"
    assert got[10] == 1 and got[59] == 2, "the crashing packet is lost; the restarted process goes on"
    assert sum(got.values()) >= 60 + 45


def test_a_frame_over_the_memory_cap_names_the_edge() -> None:
    result, _ = run("""
nodes:
  - {id: src, type: "testnodes:ArraySource", params: {count: 3, shape: [1080, 1920, 3]}}
  - {id: who, type: "testnodes:Pid", isolate: process, shm_cap_mb: 4, inputs: {data: src/out}}
  - {id: sink, type: sink.null, inputs: {data: who/out}}
""", timeout_s=30)
    (err,) = result.failures
    assert err.node_id == "shm_out_0" or "src/out -> who.data" in str(err)
    assert "src/out -> who.data" in str(err) and "does not fit the shared-memory cap of 4 MiB" in str(err)
    assert shm_left(os.getpid()) == []


def test_a_process_that_cannot_start_gives_one_line_naming_the_node() -> None:
    result, _ = run("""
nodes:
  - {id: src, type: testing.list_source, params: {items: [1, 2]}}
  - {id: frag, type: "childfail_nodes:Fragile", isolate: process, inputs: {data: src/out}}
  - {id: sink, type: sink.null, inputs: {data: frag/out}}
""", timeout_s=30)
    (err,) = result.failures
    assert str(err).startswith("node 'frag' failed in start(): its process could not start: ")
    assert "libfoo.so.1" in str(err)


@pytest.mark.parametrize("how", ["sigint", "kill-child"])
def test_no_segment_is_left_behind(tmp_path: Path, how: str) -> None:
    g = tmp_path / "g.yaml"
    g.write_text("""
nodes:
  - {id: src, type: "testnodes:ArraySource", params: {endless: true, shape: [480, 640, 3], period_s: 0.01}}
  - {id: who, type: "testnodes:Pid", isolate: process, inputs: {data: src/out}}
  - {id: sink, type: sink.jsonl, params: {path: out.jsonl}, inputs: {data: who/out}}
""")
    env = dict(os.environ, PYTHONPATH=str(TESTS))
    p = subprocess.Popen([sys.executable, "-m", "edgespeed", "run", str(g), "-q"], cwd=tmp_path, env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 20
    while not (tmp_path / "out.jsonl").exists() or (tmp_path / "out.jsonl").stat().st_size < 1000:
        assert time.monotonic() < deadline and p.poll() is None, p.stderr.read() if p.poll() is not None else "no output"
        time.sleep(0.1)
    try:
        _interrupt(p, how)
    except BaseException:
        p.kill()
        raise
    _, err = p.communicate(timeout=30)
    assert "Traceback" not in err, err
    if how == "kill-child":
        assert "node 'who' failed in process(): its process crashed (killed by SIGKILL)" in err
        assert p.returncode == 1
    else:
        assert p.returncode == 130
    assert shm_left(p.pid) == []
    lines = (tmp_path / "out.jsonl").read_text().splitlines()
    assert lines and all(line.endswith("}") for line in lines)


def _interrupt(p: subprocess.Popen, how: str) -> None:
    assert shm_left(p.pid), "the run uses shared memory"
    if how == "sigint":
        p.send_signal(signal.SIGINT)
    else:
        ps = subprocess.run(["ps", "-ww", "-o", "pid=,args=", "--ppid", str(p.pid)], capture_output=True, text=True).stdout
        workers = [int(line.split()[0]) for line in ps.splitlines() if "edgespeed.runtime.child" in line]
        assert workers, ps  # the node's process (not the resource tracker)
        for c in workers:
            os.kill(c, signal.SIGKILL)


def test_pooled_frames_are_written_once_into_shared_memory() -> None:
    # a live-paced producer: frames cross as fast as they come, so nearly all go zero-copy. At
    # 50 fps the channel's 32 slots cover a consumer stalled for 0.6 s (a loaded CI box); a
    # copy means one that fell further behind, the fallback working as designed.
    result, run_ = run("""
nodes:
  - {id: src, type: "testnodes:ArraySource", params: {count: 100, shape: [480, 640, 3], pooled: true, period_s: 0.02}}
  - {id: who, type: "testnodes:Pid", isolate: process, inputs: {data: src/out}}
  - {id: sink, type: sink.null, inputs: {data: who/out}}
""")
    assert result.ok
    sender = next(n for n in run_.nodes.values() if type(n).kind == "runtime.shm_out")
    zero, copied = sender.counters.get("zero_copy_frames", 0), sender.counters.get("bytes_copied", 0)
    assert zero + copied // (480 * 640 * 3) == 100
    assert zero >= 90, f"frames cross without a copy ({zero} of 100; {copied} bytes copied)"


def test_an_isolated_nodes_logs_and_live_figures_reach_the_parent(caplog: pytest.LogCaptureFixture) -> None:
    """Its log lines go through the parent's handlers (above the live table, not through it)
    and its counts show in the parent's live report while it runs, not only at the end."""
    caplog.set_level("INFO")
    r = Run(check(load_text("""
nodes:
  - {id: src, type: "testnodes:ArraySource", params: {count: 400, shape: [8], period_s: 0.01}}
  - {id: who, type: "testnodes:Pid", isolate: process, params: {say: hello from the child}, inputs: {data: src/out}}
  - {id: sink, type: testing.list_sink, inputs: {data: who/out}}
""")), drain_timeout_s=10)
    r.start()
    live = 0
    end = time.monotonic() + 30
    while time.monotonic() < end and not live:
        time.sleep(0.2)
        live = r.snapshot()["nodes"]["who"].get("in", 0)
    r.stop()
    result = r.wait(30)
    assert result.ok, result.failures
    assert 0 < live < 400, "the isolated node's count reached the parent while it ran"
    child = [rec for rec in caplog.records if rec.name == "edgespeed.node.who" and "hello from the child" in rec.getMessage()]
    assert child and child[0].process == os.getpid(), "re-logged by the parent"


@pytest.mark.parametrize("isolate", ["thread", "process"])
def test_sources_start_once_every_node_has_set_up(isolate: str) -> None:
    """Preroll: a source's first reading is taken after the slow node's setup ended, also when
    that node sets up in a process of its own; nothing queues behind a model still loading."""
    result, _ = run(f"""
nodes:
  - {{id: src, type: "testnodes:ClockSource", params: {{count: 5}}}}
  - {{id: slow, type: "testnodes:SlowSetup", params: {{setup_s: 0.8}}, isolate: {isolate}, inputs: {{data: src/out}}}}
  - {{id: sink, type: testing.list_sink, inputs: {{data: slow/out}}}}
""")
    assert result.ok, result.failures
    lead = ListSink.collected["sink"]
    assert len(lead) == 5 and min(lead) >= 0, f"readings taken before the setup ended by {-min(lead):.3f} s"


def _by_stream(sink: str) -> dict[str | None, list[Any]]:
    got: dict[str | None, list[Any]] = {}
    for env, v in zip(ListSink.envelopes[sink], ListSink.collected[sink]):
        got.setdefault(env.stream, []).append(v if isinstance(v, str) else int(v.flat[0]))
    return got


@pytest.mark.parametrize("isolate", ["process", "thread"])
def test_streams_and_their_ends_cross_a_process_boundary(isolate: str) -> None:
    # mid runs in a child and reads the channel in its own thread; join (two inputs, one of
    # them from the child) must run its end_stream once, after a's packets on both inputs
    result, _ = run(f"""
nodes:
  - {{id: src, type: "testnodes:StreamPair", params: {{n: 5, tail: 3}}}}
  - {{id: mid, type: "testnodes:StreamTag", isolate: {isolate}, inputs: {{data: src/out}}}}
  - {{id: join, type: "testnodes:StreamTag", sync: any, inputs: {{data: mid/out, other: src/out}}}}
  - {{id: sink, type: testing.list_sink, inputs: {{data: join/out}}}}
""")
    assert result.ok, result.failures
    got = _by_stream("sink")
    check_stream_pair_join(got)


def test_an_isolated_node_with_all_inputs_over_channels_matches_streams_and_ends() -> None:
    # join runs in a child with both inputs over channels from the parent, which it reads
    # itself (feed.py): the stream ends still arrive after their packets on both inputs
    result, _ = run("""
nodes:
  - {id: src, type: "testnodes:StreamPair", params: {n: 5, tail: 3}}
  - {id: mid, type: "testnodes:StreamTag", inputs: {data: src/out}}
  - {id: join, type: "testnodes:StreamTag", sync: any, isolate: process, inputs: {data: mid/out, other: src/out}}
  - {id: sink, type: testing.list_sink, inputs: {data: join/out}}
""")
    assert result.ok, result.failures
    check_stream_pair_join(_by_stream("sink"))


@pytest.mark.parametrize("where", ["child", "parent"])
def test_a_node_with_inputs_over_a_channel_and_a_ring_matches_streams_and_ends(where: str) -> None:
    # join reads its channel itself and is woken for its in-process input by a doorbell
    # (feed.py); in the child, mid shares its process; in the parent, mid is isolated
    mid, join = ("isolate: grp", "isolate: grp") if where == "child" else ("isolate: process", "isolate: thread")
    result, _ = run(f"""
nodes:
  - {{id: src, type: "testnodes:StreamPair", params: {{n: 5, tail: 3}}}}
  - {{id: mid, type: "testnodes:StreamTag", {mid}, inputs: {{data: src/out}}}}
  - {{id: join, type: "testnodes:StreamTag", sync: any, {join}, inputs: {{data: mid/out, other: src/out}}}}
  - {{id: sink, type: testing.list_sink, inputs: {{data: join/out}}}}
""")
    assert result.ok, result.failures
    check_stream_pair_join(_by_stream("sink"))


def _child_threads(kind: str, edge: str = "src/out", two: bool = False) -> int:
    """The most threads the isolated node's process had while packets came (paced, 1.2 s);
    `two`: a second source feeds its input `other` (sync: any)."""
    src = '{id: src, type: "testnodes:ClockSource", params: {count: 30, period_s: 0.04}}'
    more = f"  - {src.replace('src', 'src2', 1)}\n" if two else ""
    inputs = f"{{data: {edge}, other: src2/out}}, sync: any" if two else f"{{data: {edge}}}"
    r = Run(check(load_text(f"""
nodes:
  - {src}
{more}  - {{id: mid, type: "{kind}", isolate: process, inputs: {inputs}}}
  - {{id: sink, type: testing.list_sink, inputs: {{data: mid/out}}}}
""")), drain_timeout_s=10)
    r.start()
    most, want = 0, 60 if two else 30
    while r.snapshot()["nodes"]["sink"].get("in", 0) < want - 5:
        (group,) = r.groups
        if group.proc is not None:
            try:
                most = max(most, len(os.listdir(f"/proc/{group.proc.pid}/task")))
            except FileNotFoundError:
                pass
        time.sleep(0.02)
    result = r.wait(30)
    assert result.ok, result.failures
    assert result.report["nodes"]["sink"]["in"] == want
    return most


def test_a_consumer_with_a_deadline_reads_its_channel_in_its_own_thread() -> None:
    """No relay thread between the channel and an isolated node, also when the node has a
    deadline of its own (`Node.wake`): its process runs as many threads as a plain node's."""
    plain, timed = _child_threads("testnodes:Passthrough"), _child_threads("testnodes:Deadline")
    assert plain > 0 and timed == plain, f"{timed} threads with a deadline, {plain} without"


def test_a_latest_edge_needs_no_reader_thread_in_the_consumers_process() -> None:
    """The consumer fills its `latest` ring from the channel itself: its process runs as many
    threads as with a plain edge (the writer's side keeps its thread)."""
    plain = _child_threads("testnodes:Passthrough")
    lossy = _child_threads("testnodes:Passthrough", "{from: src/out, queue: 2, policy: latest}")
    assert plain > 0 and lossy == plain, f"{lossy} threads under latest, {plain} under block"


def test_a_node_with_all_inputs_over_channels_needs_no_reader_threads() -> None:
    """Two sources in the parent, one isolated node reading both: it fills its two rings from
    the channels itself and matches them there, so its process runs as many threads as a
    one-input node's (it ran two more, one reader per channel). Every packet arrives."""
    plain = _child_threads("testnodes:Passthrough")
    both = _child_threads("testnodes:StreamTag", two=True)
    assert plain > 0 and both == plain, f"{both} threads with two inputs, {plain} with one"


@pytest.mark.parametrize("policy", ["latest", "drop_oldest"])
@pytest.mark.parametrize("isolate", ["thread", "process"])
def test_a_latest_edge_into_an_isolated_node_drops_its_backlog(isolate: str, policy: str) -> None:
    """`policy: latest` holds across a process boundary: the slow node takes the newest reading,
    not every one that the channel handed over (which it did: 150 of 150, stale by seconds)."""
    result, _ = run(f"""
nodes:
  - {{id: src, type: "testnodes:ClockSource", params: {{count: 150, period_s: 0.01}}}}
  - id: slow
    type: "testnodes:Slow"
    params: {{delay_s: 0.05}}
    isolate: {isolate}
    inputs: {{data: {{from: src/out, queue: 1, policy: {policy}}}}}
  - {{id: sink, type: testing.list_sink, inputs: {{data: slow/out}}}}
""")
    assert result.ok, result.failures
    got = ListSink.collected["sink"]
    assert 0 < len(got) < 75 and result.report["nodes"]["slow"]["dropped"] == 150 - len(got)
    nexts = sum(b - a < 15_000_000 for a, b in zip(got, got[1:]))  # readings 10 ms apart: the very next one
    assert nexts <= len(got) // 10, f"{nexts} of {len(got)} were the next reading, not the newest"


@pytest.mark.parametrize("policy", ["latest", "drop_oldest"])
def test_a_lossy_edge_into_an_isolated_node_is_written_by_its_producer(policy: str) -> None:
    """The writer's side of a lossy edge has no thread of its own: the producer writes the
    channel while it takes frames without waiting, and a frame that had to wait for slots goes
    as soon as the reader gives them back (the process's pump thread, which runs only while a
    channel is backed up), not at the producer's next frame: here the source's last frame
    reaches the sink while the source still lingers, its stream not yet ended."""
    from edgespeed.runtime.fuse import PUMP

    r = Run(check(load_text(f"""
nodes:
  - {{id: src, type: "testnodes:ArraySource", params: {{count: 30, shape: [256, 256, 3], period_s: 0.002, linger_s: 4.0}}}}
  - id: slow
    type: "testnodes:Slow"
    params: {{delay_s: 0.2}}
    isolate: process
    inputs: {{data: {{from: src/out, queue: 1, policy: {policy}}}}}
  - {{id: sink, type: testing.list_sink, inputs: {{data: slow/out}}}}
""")), drain_timeout_s=10)
    r.start()
    seen: set[str] = set()
    last_while_lingering = False
    while not r.finished:
        seen |= {t.name for t in threading.enumerate()}
        if not last_while_lingering and any(int(a[0, 0, 0]) == 29 for a in list(ListSink.collected.get("sink", []))):
            last_while_lingering = r.snapshot()["nodes"]["src"]["state"] != "done"
        time.sleep(0.01)
    result = r.wait(30)
    assert result.ok, result.failures
    assert not [t for t in seen if t.startswith("edgespeed:shm_out")], sorted(seen)
    assert "edgespeed:pump" in seen, "the channel backed up (frames this size fill its slots)"
    assert last_while_lingering, "the frame that waited for slots went only at the end of the stream"
    got = ListSink.collected["sink"]
    assert len(got) + result.report["nodes"]["slow"]["dropped"] == 30
    deadline = time.monotonic() + 3 * PUMP.IDLE_S
    while PUMP.running and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not PUMP.running, "the pump thread ends once no channel is backed up"


def test_a_backed_up_lossy_channel_costs_its_pump_a_few_wake_ups_a_second() -> None:
    """While the reader keeps every slot, the pump waits for it to give one back: it wakes for
    a release, its tick (4 a second) and nothing else, however fast the producer comes (a
    carrier that it found still backed up once rang its own bell and spun it: 82% of a core)."""
    from edgespeed.runtime.fuse import PUMP

    r = Run(check(load_text("""
nodes:
  - {id: src, type: "testnodes:ArraySource", params: {count: 200, shape: [240, 320, 3], period_s: 0.01}}
  - {id: slow, type: "testnodes:Slow", params: {delay_s: 0.5}, isolate: process, inputs: {data: {from: src/out, queue: 1, policy: latest}}}
""")), drain_timeout_s=10)
    r.start()
    deadline = time.monotonic() + 20
    while not PUMP.running and time.monotonic() < deadline:
        time.sleep(0.01)
    before = PUMP.rounds
    time.sleep(1.0)
    rounds = PUMP.rounds - before
    r.stop()
    result = r.wait(30)
    assert result.ok, result.failures
    assert 0 < rounds <= 20, f"{rounds} wake-ups of the pump in a second, with 100 frames put"


def _results_out_by_the_sources_last(count: int, text: str) -> tuple[int, Any]:
    """Run `text`; how many results `sink` had when `src` had put out its `count`-th packet,
    and how the run ended (it must end well)."""
    r = Run(check(load_text(text)), drain_timeout_s=10)
    r.start()
    deadline = time.monotonic() + 30
    while r.snapshot()["nodes"]["src"]["out"] < count and time.monotonic() < deadline:
        time.sleep(0.01)
    first = r.snapshot()["nodes"]["sink"]["in"]
    result = r.wait(30)
    assert result.ok, result.failures
    return first, result


def test_records_longer_than_the_pipe_never_hold_a_lossy_edges_producer_back() -> None:
    """A record that pickles to more than the descriptor pipe holds (64 KiB) can only go by a
    send that waits for the reader; on a lossy edge that wait is the pump thread's, so the source
    emits all it has while the isolated node is still in its first call."""
    first, result = _results_out_by_the_sources_last(30, """
nodes:
  - {id: src, type: "testnodes:RecordSource", params: {count: 30, kib: 200, period_s: 0.005}}
  - {id: slow, type: "testnodes:Slow", params: {delay_s: 1.5}, isolate: process, inputs: {data: {from: src/out, queue: 1, policy: latest}}}
  - {id: sink, type: testing.list_sink, inputs: {data: slow/out}}
""")
    assert first == 0, f"the source was held back: {first} results were out before its last record"
    got = [rec["i"] for rec in ListSink.collected["sink"]]
    assert got[-1] == 29 and len(got) + result.report["nodes"]["slow"]["dropped"] == 30


def test_the_report_names_the_graphs_edges_across_processes_and_counts_drops_on_both_sides() -> None:
    """An edge cut by a process boundary keeps its name in the report (not the boundary node's),
    once, also where its consumer reads the channel with no ring between. A lossy one has the
    drops of the rings on both sides of its channel, in it and in its consumer's count: every
    frame is taken or counted as dropped (frames this size fill the channel's slots, so the
    writer's ring drops too: 97 and 44 of 150 in one run)."""
    result, _ = run("""
nodes:
  - {id: src, type: "testnodes:ArraySource", params: {count: 150, shape: [256, 256, 3], period_s: 0.002}}
  - id: slow
    type: "testnodes:Slow"
    params: {delay_s: 0.05}
    isolate: process
    inputs: {data: {from: src/out, queue: 1, policy: drop_oldest}}
  - {id: sink, type: testing.list_sink, inputs: {data: slow/out}}
""")
    assert result.ok, result.failures
    edges, got = result.report["edges"], len(ListSink.collected["sink"])
    assert sorted(edges) == ["slow/out -> sink.data", "src/out -> slow.data"], "each edge once, as in one process"
    assert edges["slow/out -> sink.data"]["packets"] == got  # (read by the sink straight from its channel)
    assert edges["src/out -> slow.data"]["capacity"] == 1 and edges["src/out -> slow.data"]["policy"] == "drop_oldest"
    assert edges["src/out -> slow.data"]["dropped"] == result.report["nodes"]["slow"]["dropped"] == 150 - got


def test_what_runs_is_what_the_plan_says() -> None:
    """The processes a run starts and the edges it reports are the plan's (`edgespeed plan`)."""
    from edgespeed.graph.plan import plan

    text = """
nodes:
  - {id: src, type: "testnodes:ArraySource", params: {count: 20, shape: [8, 8, 3]}}
  - {id: a, type: "testnodes:Passthrough", isolate: g1, inputs: {data: src/out}}
  - {id: b, type: "testnodes:Passthrough", isolate: g1, inputs: {data: a/out}}
  - {id: c, type: "testnodes:SlowPreview", params: {delay_s: 0}, isolate: process, inputs: {data: b/out}}
  - {id: join, type: "testnodes:StreamTag", sync: any, inputs: {data: c/out, other: src/out}}
  - {id: sink, type: testing.list_sink, inputs: {data: join/out}}
"""
    p = plan(check(load_text(text)))
    result, _ = run(text)
    assert result.ok, result.failures
    rep = result.report
    assert {nid: n.get("process") for nid, n in rep["nodes"].items()} == {nid: n.process for nid, n in p.nodes.items()}
    assert {name: (e["capacity"], e["policy"]) for name, e in rep["edges"].items()} == {
        f"{e.source} -> {e.target}": (e.capacity, e.policy) for e in p.edges}


@pytest.mark.parametrize("isolated", ["view", "src"])
def test_a_policy_the_consumers_port_declares_holds_on_the_writers_side_too(isolated: str) -> None:
    """A node whose input port declares `latest` (a preview) never holds its producer back
    across a process boundary: the writer's side of the channel drops as the plan says, so the
    source emits all it has while the node is still in its first call (it stalled behind the
    channel's slots once they were full: the writer's side was a plain lossless edge)."""
    iso = {n: "isolate: process, shm_cap_mb: 2, " if n == isolated else "" for n in ("src", "view")}
    first, result = _results_out_by_the_sources_last(40, f"""
nodes:
  - {{id: src, type: "testnodes:ArraySource", {iso["src"]}params: {{count: 40, shape: [256, 256, 3], period_s: 0.005}}}}
  - {{id: view, type: "testnodes:SlowPreview", {iso["view"]}params: {{delay_s: 2.0}}, inputs: {{data: src/out}}}}
  - {{id: sink, type: testing.list_sink, inputs: {{data: view/out}}}}
""")
    assert first == 0, f"the source was held back: {first} results were out before its last frame"
    edge = result.report["edges"]["src/out -> view.data"]
    assert (edge["capacity"], edge["policy"]) == (1, "latest")
    assert len(ListSink.collected["sink"]) + result.report["nodes"]["view"]["dropped"] == 40


def test_channels_out_of_an_isolated_node_need_no_reader_threads() -> None:
    """An isolated node feeding three nodes across the boundary writes three channels: the two
    single-input nodes (one of them slow) read theirs in their own threads, and so does the node
    with two inputs, whose other input is an in-process ring (it kept a reader thread, its input
    matching waiting on its rings). Every packet arrives."""
    r = Run(check(load_text("""
nodes:
  - {id: src, type: "testnodes:ClockSource", params: {count: 40, period_s: 0.005}}
  - {id: mid, type: "testnodes:Passthrough", isolate: process, inputs: {data: src/out}}
  - {id: fast, type: testing.list_sink, inputs: {data: mid/out}}
  - {id: slow, type: "testnodes:Slow", params: {delay_s: 0.01}, inputs: {data: mid/out}}
  - {id: late, type: testing.list_sink, inputs: {data: slow/out}}
  - {id: both, type: "testnodes:StreamTag", sync: any, inputs: {data: mid/out, other: src/out}}
  - {id: all, type: testing.list_sink, inputs: {data: both/out}}
""")), drain_timeout_s=10)
    r.start()
    seen: set[str] = set()
    while r.snapshot()["nodes"]["late"].get("in", 0) < 30:
        seen |= {t.name for t in threading.enumerate()}
        time.sleep(0.01)
    result = r.wait(30)
    assert result.ok, result.failures
    fast, late = ListSink.collected["fast"], ListSink.collected["late"]
    assert len(fast) == 40 and fast == sorted(fast) and late == fast
    assert len(ListSink.collected["all"]) == 80 and result.report["nodes"]["both"]["in"] == 80
    # channels in graph order: 0 src -> mid, 1 -> fast, 2 -> slow, 3 -> both
    readers = sorted(t for t in seen if t.startswith("edgespeed:shm_in"))
    assert "edgespeed:fast" in seen and "edgespeed:both" in seen and readers == [], sorted(seen)
