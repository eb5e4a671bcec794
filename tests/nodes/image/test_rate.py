from __future__ import annotations

import pytest

from edgespeed.testing import run_node


def _feed(params: dict, pts_ms: list[float]) -> list[int]:
    out = run_node("image.rate_limit", params=params, inputs={"data": list(range(len(pts_ms)))},
                   pts_ns=[int(t * 1e6) for t in pts_ms], node_id="rate")
    return list(out["out"])


@pytest.mark.parametrize(
    ("params", "pts_ms", "kept"),
    [
        pytest.param({"every_n": 3}, [i * 33.3 for i in range(10)], [0, 3, 6, 9], id="every-3rd"),
        pytest.param({"max_fps": 10}, [i * 1000 / 30 for i in range(13)], [0, 3, 6, 9, 12], id="30fps-to-10fps"),
        pytest.param({"max_fps": 10}, [0, 10, 20, 500, 510, 600], [0, 3, 5], id="after-a-gap"),
        pytest.param({"max_fps": 100}, [i * 40 for i in range(5)], [0, 1, 2, 3, 4], id="slower-than-limit"),
        pytest.param({"max_fps": 15, "every_n": 2}, [i * 1000 / 60 for i in range(12)], [0, 4, 8], id="both"),
    ],
)
def test_rate_limit_keeps_the_right_packets(params, pts_ms, kept) -> None:
    assert _feed(params, pts_ms) == kept
