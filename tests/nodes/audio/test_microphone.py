"""audio.microphone: a missing device or PortAudio gives one clear line; the callback never blocks."""

from __future__ import annotations

import subprocess
import sys
import time

import numpy as np
import pytest
from edgespeed.nodes.audio.microphone import MicrophoneSource

from edgespeed.errors import NodeError
from edgespeed.testing import run_node

CLEAR = ("apt-get install libportaudio2", "no audio input device 'no-such-mic-4711'")


def test_missing_device_is_a_clear_error():
    with pytest.raises(NodeError) as err:
        run_node(MicrophoneSource, params={"device": "no-such-mic-4711"}, max_packets=1)
    msg = str(err.value)
    assert any(c in msg for c in CLEAR), msg  # whichever is missing here: PortAudio, or the device
    assert "input devices:" in msg or "libportaudio2" in msg


def test_missing_device_in_a_graph_is_one_line(tmp_path):
    graph = tmp_path / "mic.yaml"
    graph.write_text("nodes:\n  - {id: mic, type: audio.microphone, params: {device: no-such-mic-4711}}\n"
                     "  - {id: out, type: sink.null, inputs: {data: mic/audio}}\n")
    r = subprocess.run([sys.executable, "-m", "edgespeed", "run", str(graph), "-q"], check=False, capture_output=True, text=True, timeout=60)
    assert r.returncode == 1
    assert "Traceback" not in r.stderr
    lines = [s for s in r.stderr.splitlines() if s.strip()]
    assert len(lines) == 1 and lines[0].startswith("node 'mic' failed in setup()"), r.stderr
    assert any(c in lines[0] for c in CLEAR)


def test_device_listing_command_never_tracebacks():
    r = subprocess.run([sys.executable, "-m", "edgespeed.nodes.audio.microphone"], check=False, capture_output=True, text=True, timeout=60)
    assert "Traceback" not in r.stderr
    assert (r.returncode == 0) or "libportaudio2" in r.stderr


def test_callback_never_blocks_and_counts_overruns():
    # The PortAudio callback alone (no device needed): a full queue drops and counts, never waits.
    import queue

    mic = MicrophoneSource("mic", queue_blocks=3)
    mic.overruns, mic._frames, mic._queue = 0, 0, queue.Queue(3)
    block = np.ones((320, 1), np.float32)
    t0 = time.perf_counter()
    for _ in range(10):
        mic._callback(block, 320, None, None)
    assert time.perf_counter() - t0 < 0.05
    assert mic.overruns == 7 and mic._queue.qsize() == 3
    starts = [mic._queue.get_nowait()[0] for _ in range(3)]
    assert starts == [0, 320, 640] and mic._frames == 3200  # the media clock counts dropped blocks too


@pytest.mark.microphone
def test_real_microphone_captures_stamped_blocks():
    node = MicrophoneSource("mic", block_ms=20)
    node.setup()
    try:
        gen = node.generate()
        items = [next(gen) for _ in range(10)]
        gen.close()
    finally:
        node.teardown()
    assert all(i.outputs["audio"].shape == (320, 1) and i.outputs["audio"].dtype == np.float32 for i in items)
    assert [i.pts_ns for i in items] == sorted(i.pts_ns for i in items)
