from __future__ import annotations


import numpy as np
import pytest

from edgespeed.testing import run_node

MATCHERS = [pytest.param("greedy", id="greedy"),
            pytest.param("hungarian", id="hungarian")]  # scipy is a dev dependency


def dets(boxes: list[list[float]], classes: list[int] | None = None) -> dict:
    n = len(boxes)
    return {"boxes_xyxy": np.array(boxes, np.float32).reshape(-1, 4), "scores": np.full(n, 0.9, np.float32),
            "class_ids": np.array(classes if classes is not None else [0] * n, np.int32)}


def moving(start_x: float, y: float, vx: float, vy: float, t: int, size: float = 40) -> list[float]:
    x, yy = start_x + vx * t, y + vy * t
    return [x, yy, x + size, yy + size]


def _ids_by_object(frames_out: list[dict], frames_in: list[list[list[float]]]) -> dict[int, set[int]]:
    """Which track ids each object (index in the frame's input list) got over the run."""
    seen: dict[int, set[int]] = {}
    for out, boxes in zip(frames_out, frames_in):
        for obj, box in enumerate(boxes):
            k = int(np.argmin(np.abs(out["boxes_xyxy"] - np.array(box, np.float32)).sum(axis=1)))
            seen.setdefault(obj, set()).add(int(out["track_ids"][k]))
    return seen


@pytest.mark.parametrize("matcher", MATCHERS)
def test_ids_stay_stable_for_moving_boxes(matcher: str) -> None:
    frames = [[moving(0, 0, 20, 0, t), moving(400, 100, -12, 4, t), moving(200, 300, 0, -15, t)] for t in range(15)]
    rng = np.random.default_rng(0)
    shuffled = [[f[i] for i in rng.permutation(3)] for f in frames]  # order within a frame means nothing
    out = run_node("post.tracker", params={"matcher": matcher}, inputs={"detections": [dets(f) for f in shuffled]})["tracks"]
    objects = _ids_by_object(out, frames)
    for o in out:
        assert o["track_ids"].dtype == np.int64 and len(set(o["track_ids"].tolist())) == 3
    assert sorted(len(ids) for ids in objects.values()) == [1, 1, 1]
    assert set().union(*objects.values()) == {1, 2, 3}


def test_constant_velocity_bridges_missed_frames_and_tracks_expire() -> None:
    frames = [[moving(0, 0, 20, 0, t)] for t in range(6)] + [[]] * 3 + [[moving(0, 0, 20, 0, t)] for t in range(9, 12)]
    out = run_node("post.tracker", params={"max_age": 5}, inputs={"detections": [dets(f) for f in frames]})["tracks"]
    ids = [o["track_ids"].tolist() for o in out]
    assert ids[:6] == [[1]] * 6 and ids[6:9] == [[]] * 3 and ids[9:] == [[1]] * 3  # 80 px away, still track 1
    gone = [[moving(0, 0, 0, 0, 0)]] * 2 + [[]] * 4 + [[moving(0, 0, 0, 0, 0)]]
    out = run_node("post.tracker", params={"max_age": 3}, inputs={"detections": [dets(f) for f in gone]})["tracks"]
    assert [o["track_ids"].tolist() for o in out if len(o["track_ids"])] == [[1], [1], [2]]  # expired: a new id


def test_min_hits_and_class_aware_matching() -> None:
    frames = [dets([[0, 0, 40, 40]], [0]), dets([[0, 0, 40, 40]], [0]), dets([[0, 0, 40, 40]], [1])]
    out = run_node("post.tracker", params={"min_hits": 2}, inputs={"detections": frames})["tracks"]
    assert [o["track_ids"].tolist() for o in out] == [[], [1], []]  # class 1 starts its own (unconfirmed) track
    assert out[1]["scores"].shape == (1,)
