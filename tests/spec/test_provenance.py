"""Every file shipped in edgespeed/data has its row in PROVENANCE.md, with its true SHA-256,
a licence and the script that made it; and the shipped models and media stay small."""

from __future__ import annotations

import hashlib
import re

from edgespeed.data import ROOT, shipped

ROWS = {m.group(1): m.group(0) for m in re.finditer(r"^\| ([\w./-]+) \|.*$", (ROOT / "PROVENANCE.md").read_text(), re.M)}


def test_each_shipped_file_has_a_row_with_its_sha256() -> None:
    files = [s.removeprefix("builtin:") for s in shipped()]
    assert "models/centernet_coco.onnx" in files and "media/video/pedestrians.mp4" in files
    for rel in files:
        assert rel in ROWS, f"{rel} has no row in PROVENANCE.md"
        digest = hashlib.sha256((ROOT / rel).read_bytes()).hexdigest()
        cells = [c.strip() for c in ROWS[rel].strip("|").split("|")]
        assert cells[-1] == digest, f"{rel}: PROVENANCE.md says {cells[-1]}, the file is {digest}"
        assert len(cells) == 5 and all(cells), ROWS[rel]  # file, what, made by, licence, SHA-256


def test_shipped_models_and_media_stay_within_20_mb() -> None:
    total = sum((ROOT / s.removeprefix("builtin:")).stat().st_size for s in shipped())
    assert total < 20 * 2**20, total
