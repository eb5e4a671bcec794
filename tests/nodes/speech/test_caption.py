"""speech.caption: the newest transcript is drawn on frames, and disappears after hold_s."""

from __future__ import annotations

import numpy as np
from edgespeed.nodes.speech.caption import CaptionOverlay

from edgespeed.testing import run_node


def test_caption_drawn_then_expires():
    frames = [np.full((120, 320, 3), 50, np.uint8) for _ in range(6)]
    said = {"text": "good morning", "start_s": 0.0, "end_s": 0.1, "final": True}
    out = run_node(CaptionOverlay, params={"fps": 10, "hold_s": 0.15},
                   inputs={"frame": frames, "transcript": [None, said, said, said, said, said]})["out"]
    changed = [bool((o[-40:] != 50).any()) for o in out]
    assert changed == [False, True, True, False, False, False]  # frame times 0.0 .. 0.5 s; caption until 0.25 s
    assert all((o[:60] == 50).all() for o in out)  # only the bottom band is drawn on
    assert not np.shares_memory(out[1], frames[1])


def test_partial_is_grey():
    frame = np.zeros((120, 320, 3), np.uint8)
    out = run_node(CaptionOverlay, inputs={"frame": [frame], "transcript": [{"text": "hello", "end_s": 0, "final": False}]})["out"][0]
    text = out[out.max(axis=2) > 100]
    assert len(text) and (text.max(axis=1) < 200).all()
