"""Draw the current transcript on video frames."""

from __future__ import annotations

from typing import Any

import numpy as np

from edgespeed import Frame, Input, Node, Output, Param, Record


class CaptionOverlay(Node):
    """Draw the newest transcript as a caption at the bottom of each frame.

    Frames drive the node (`sync: latest` with `trigger: frame`, whatever order the YAML lists
    the inputs in): each frame is drawn with the newest transcript that has arrived, which is
    how a live caption aligns speech and video. A caption stays for
    `hold_s` of media time after its utterance ended (the frame's time against the
    transcript's `end_s`), then disappears; partial results (final: false) show in grey. The
    transcript input is optional, so frames flow before anything was said.

    Ports:
        frame (in): HxWx3 uint8 BGR.
        transcript (in, optional): record with `text` (and `end_s`, `final`), e.g. from
            speech.recognize.
        out (out): the frame with the caption drawn.

    Params:
        hold_s: how long a caption stays after its utterance ended, in s (default 3).
        font_scale: OpenCV font scale (default 0.8).
        fps: the video's frame rate, to know each frame's time (default 30).

    Example:
        ```yaml
        - id: captioned
          type: speech.caption
          inputs: {frame: cam/frame, transcript: asr/transcript}
        ```
    """

    kind = "speech.caption"
    sync = "latest"
    trigger = "frame"  # one output per frame, whatever order the YAML lists the inputs in
    frame = Input(Frame)
    transcript = Input(Record, optional=True, queue=4, doc="{text, end_s, final}")
    out = Output(Frame)
    hold_s: float = Param(3.0, ge=0)
    font_scale: float = Param(0.8, gt=0, le=10)
    fps: float = Param(30.0, gt=0)

    def setup(self) -> None:
        import cv2

        self._cv2 = cv2
        self._frames = 0

    def process(self, frame: np.ndarray, transcript: dict[str, Any] | None = None) -> dict[str, Any]:
        out = self.buffer("out", frame.shape, np.uint8)
        np.copyto(out, frame)
        now_s = self._frames / self.fps
        self._frames += 1
        if transcript and transcript.get("text") and now_s <= float(transcript.get("end_s", now_s)) + self.hold_s:
            self._draw(out, str(transcript["text"]), bool(transcript.get("final", True)))
        return {"out": out}

    def _draw(self, img: np.ndarray, text: str, final: bool) -> None:
        cv2, scale = self._cv2, self.font_scale
        (w, h), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 2)
        x, y = max(4, (img.shape[1] - w) // 2), img.shape[0] - 12
        cv2.rectangle(img, (x - 6, y - h - 8), (x + w + 6, y + base + 4), (0, 0, 0), -1)
        cv2.putText(img, text, (x, y), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255) if final else (160, 160, 160), 2, cv2.LINE_AA)
