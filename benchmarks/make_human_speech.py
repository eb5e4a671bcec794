"""Build the human-speech folder bench_whisper.py reads (EDGESPEED_HUMAN_SPEECH) from pocketsphinx's
own test data: a checkout of the cmusphinx/pocketsphinx repository (measured at commit 511126b4).

Takes `test/data/librivox/*.wav` with their `.txt` references (LibriVox, public domain),
`test/data/cards/*.wav` with `cards.transcription`, and `test/data/goforward.raw` (16 kHz 16-bit
mono, "go forward ten meters"), and writes `<name>.wav` + `<name>.txt` pairs into the output folder.
Nothing here downloads; the project does not ship these files.

    python benchmarks/make_human_speech.py ~/src/pocketsphinx /tmp/human
    EDGESPEED_HUMAN_SPEECH=/tmp/human pytest benchmarks/bench_whisper.py -s
"""

from __future__ import annotations

import re
import shutil
import sys
import wave
from pathlib import Path


def main(checkout: Path, out: Path) -> int:
    data = checkout / "test" / "data"
    out.mkdir(parents=True, exist_ok=True)
    for wav in sorted((data / "librivox").glob("*.wav")):
        shutil.copy(wav, out / wav.name)
        shutil.copy(wav.with_suffix(".txt"), out / f"{wav.stem}.txt")
    for line in (data / "cards" / "cards.transcription").read_text().splitlines():
        m = re.match(r"<s>(.*)</s>\s*\((\w+)\)", line.strip())
        if m:
            shutil.copy(data / "cards" / f"{m.group(2)}.wav", out / f"cards_{m.group(2)}.wav")
            (out / f"cards_{m.group(2)}.txt").write_text(m.group(1).strip())
    with wave.open(str(out / "goforward.wav"), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes((data / "goforward.raw").read_bytes())
    (out / "goforward.txt").write_text("go forward ten meters")
    print(f"{len(list(out.glob('*.wav')))} recordings in {out}")
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        raise SystemExit(2)
    raise SystemExit(main(Path(sys.argv[1]), Path(sys.argv[2])))
