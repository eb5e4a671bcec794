"""Word error rate of a transcript against its reference, as the speech tests and benchmarks
score recognizers (PocketSphinx, Whisper) on the same files.

Both sides are normalized first, so a recognizer is not charged for writing "7." where the
reference says "seven": lowercase, punctuation dropped, 10..99 as cardinals ("forty seven"),
other digit strings digit by digit (as the flite test set reads them), a few titles spoken out.
"""

from __future__ import annotations

import re

DIGITS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
TEENS = ["ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen"]
TENS = ["_", "_", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
SPOKEN = {"mr": "mister", "mrs": "missus", "dr": "doctor"}


def _number(m: re.Match[str]) -> str:
    s = m.group()
    if len(s) == 2 and s[0] != "0":
        tens, ones = int(s[0]), int(s[1])
        return f" {TEENS[ones]} " if tens == 1 else f" {TENS[tens]} {DIGITS[ones] if ones else ''} "
    return " " + " ".join(DIGITS[int(c)] for c in s) + " "


def words(text: str) -> str:
    """Lowercase words without punctuation, numbers in words, a few abbreviations spoken out."""
    text = re.sub(r"\d+", _number, text.lower())
    return " ".join(SPOKEN.get(w, w) for w in re.sub(r"[^a-z' ]", " ", text).split())


def word_errors(ref: str, hyp: str) -> int:
    """Substitutions + insertions + deletions between two already-normalized word strings."""
    r, h = ref.split(), hyp.split()
    d = list(range(len(h) + 1))
    for i in range(1, len(r) + 1):
        prev, d[0] = d[0], i
        for j in range(1, len(h) + 1):
            prev, d[j] = d[j], min(d[j] + 1, d[j - 1] + 1, prev + (r[i - 1] != h[j - 1]))
    return d[len(h)]


def wer(ref: str, hyp: str) -> float:
    """Word errors per reference word, both sides normalized."""
    r = words(ref)
    return word_errors(r, words(hyp)) / max(1, len(r.split()))
