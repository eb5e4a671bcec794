"""Write transcripts as JSON lines."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, TextIO

from edgespeed import Input, Node, Param, Record


class TranscriptSink(Node):
    """Write each transcript as one JSON line: text, start and end time, confidence.

    Lines are flushed as they are written, so a transcript is on disk as soon as it is
    recognized. Partial results (`final: false`) are skipped unless `partials` is set.

    Ports:
        transcript (in): record with `text`, `start_s`, `end_s`, `confidence` (e.g. from
            speech.recognize or speech.ctc_decode); other fields are kept if `details` is set.

    Params:
        path: the output file; parent folders are created (default out/transcript.jsonl).
        partials: also write partial results (default false).
        details: also write the other fields, e.g. per-word times (default false).
        append: add to an existing file instead of replacing it (default false).

    Example:
        ```yaml
        - {id: text, type: sink.transcript, params: {path: out/transcript.jsonl}, inputs: {transcript: asr/transcript}}
        ```

    Output line:
        `{"text": "turn on the lights", "start_s": 1.24, "end_s": 2.5, "confidence": 0.93}`
    """

    kind = "sink.transcript"
    transcript = Input(Record, doc="{text, start_s, end_s, confidence}")
    path: Path = Param(Path("out/transcript.jsonl"))
    partials: bool = Param(False)
    details: bool = Param(False)
    append: bool = Param(False)

    def setup(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file: TextIO | None = None  # opened at the first line: a failed run leaves no empty file
        self.lines = 0

    def process(self, transcript: dict[str, Any]) -> None:
        if not isinstance(transcript, dict) or "text" not in transcript:
            raise ValueError(f"expected a transcript record with 'text', got {type(transcript).__name__}")
        if transcript.get("final", True) is False and not self.partials:
            return
        line: dict[str, Any] = {"text": transcript["text"]}
        for key in ("start_s", "end_s", "confidence"):
            value = transcript.get(key)
            line[key] = round(float(value), 3) if value is not None else None
        if self.details:
            line.update({k: v for k, v in transcript.items() if k not in line})
        if self._file is None:
            self._file = open(self.path, "a" if self.append else "w", encoding="utf-8")  # noqa: SIM115 - closed in teardown
        self._file.write(json.dumps(line, default=_plain) + "\n")
        self._file.flush()
        self.lines += 1
        return

    def teardown(self) -> None:
        if self._file is not None:
            self._file.close()


def _plain(v: Any) -> Any:
    return v.tolist() if hasattr(v, "tolist") else str(v)
