from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from edgespeed import NodeError, Stamped
from edgespeed.registry import default_registry
from edgespeed.testing import run_node


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """Images 0..4 (gray level 10 * i), written out of order, with a non-image file among them."""
    for i in (3, 0, 4, 1, 2):
        ext = "png" if i % 2 else "jpg"
        cv2.imwrite(str(tmp_path / f"img_{i:03d}.{ext}"), np.full((20, 30, 3), 10 * i, np.uint8))
    (tmp_path / "notes.txt").write_text("not an image")
    return tmp_path


def test_images_come_in_sorted_order(folder: Path) -> None:
    out = run_node("image.folder", params={"path": str(folder)})
    assert out["name"] == [f"img_{i:03d}.{'png' if i % 2 else 'jpg'}" for i in range(5)]
    assert [round(float(f.mean()) / 10) for f in out["frame"]] == [0, 1, 2, 3, 4]
    assert out["frame"][0].shape == (20, 30, 3)


@pytest.mark.parametrize(
    ("params", "shape", "count"),
    [
        pytest.param({"pattern": "*.png"}, (20, 30, 3), 2, id="pattern"),
        pytest.param({"format": "gray"}, (20, 30), 5, id="gray"),
        pytest.param({"format": "rgb24"}, (20, 30, 3), 5, id="rgb24"),
    ],
)
def test_pattern_and_formats(folder: Path, params: dict[str, object], shape: tuple[int, ...], count: int) -> None:
    frames = run_node("image.folder", params={"path": str(folder), **params})["frame"]
    assert len(frames) == count and frames[0].shape == shape


def test_loop_and_media_time(folder: Path) -> None:
    node = default_registry().resolve("image.folder")("src", path=str(folder), loop=True, fps=10)
    node.setup()
    items: list[Stamped] = []
    for item in node.generate():
        items.append(item)
        if len(items) == 7:
            break
    assert [i.outputs["name"][:7] for i in items][4:7] == ["img_004", "img_000", "img_001"]
    assert [i.pts_ns for i in items] == [k * 100_000_000 for k in range(7)]


@pytest.mark.parametrize(
    ("setup", "expect"),
    [
        pytest.param(lambda p: p / "missing", "does not exist", id="missing-folder"),
        pytest.param(lambda p: (p / "empty").mkdir() or p / "empty", "no images matching '*'", id="empty-folder"),
    ],
)
def test_bad_folders(tmp_path: Path, setup: object, expect: str) -> None:
    path = setup(tmp_path)  # type: ignore[operator]
    with pytest.raises(NodeError, match=expect):
        run_node("image.folder", params={"path": str(path)})


def test_unreadable_image_fails_naming_it_or_is_skipped(folder: Path) -> None:
    (folder / "img_002.jpg").write_bytes(b"broken")
    with pytest.raises(NodeError, match="failed in generate.*cannot read image '.*img_002.jpg'"):
        run_node("image.folder", params={"path": str(folder)})
    out = run_node("image.folder", params={"path": str(folder), "skip_unreadable": True})
    assert len(out["frame"]) == 4
