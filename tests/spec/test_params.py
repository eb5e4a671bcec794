"""Param values are checked against their annotations and bounds: `expected ..., got ...`."""

from pathlib import Path
from typing import Any, Literal, Optional

import pytest

from edgespeed import Node, Output, Param
from edgespeed.params import Bounds, ParamValueError, check

OK = [
    pytest.param(int, 3, None, 3, id="int"),
    pytest.param(int, 3.0, None, 3, id="int-from-whole-float"),
    pytest.param(int, 16, Bounds(ge=16, le=8192), 16, id="int-at-bound"),
    pytest.param(float, 2, None, 2.0, id="float-from-int"),
    pytest.param(float, 0.5, Bounds(gt=0, lt=1), 0.5, id="float-in-bounds"),
    pytest.param(bool, False, None, False, id="bool"),
    pytest.param(str, "bgr", None, "bgr", id="str"),
    pytest.param(Literal["fast", "exact"], "exact", None, "exact", id="literal"),
    pytest.param(tuple[int, int], [640, 480], Bounds(ge=1), (640, 480), id="tuple-from-yaml-list"),
    pytest.param(Path, "models/yolo.onnx", None, Path("models/yolo.onnx"), id="path"),
    pytest.param(Optional[int], None, None, None, id="optional-none"),
    pytest.param(int | None, 7, None, 7, id="optional-value"),
    pytest.param(list[str], ["person", "car"], None, ["person", "car"], id="list-str"),
    pytest.param(dict[str, float], {"a": 1}, None, {"a": 1.0}, id="dict"),
]


@pytest.mark.parametrize("ann, value, bounds, expected", OK)
def test_accepted_and_converted(ann: Any, value: Any, bounds: Bounds | None, expected: Any) -> None:
    got = check(ann, value, bounds)
    assert got == expected and type(got) is type(expected)


BAD = [
    pytest.param(int, 3.5, None, "expected an integer, got 3.5", id="int-fraction"),
    pytest.param(int, "3", None, "expected an integer, got '3'", id="int-from-str"),
    pytest.param(int, True, None, "expected an integer, got True", id="int-refuses-bool"),
    pytest.param(float, True, None, "expected a number, got True", id="float-refuses-bool"),
    pytest.param(float, "30fps", Bounds(gt=0), "expected a number > 0, got '30fps'", id="float-from-str"),
    pytest.param(float, 0, Bounds(gt=0), "expected a number > 0, got 0", id="float-exclusive-bound"),
    pytest.param(float, float("nan"), Bounds(ge=0), "expected a number >= 0, got nan", id="float-nan"),
    pytest.param(int, 9000, Bounds(ge=16, le=8192), "expected an integer >= 16 and <= 8192, got 9000", id="int-range"),
    pytest.param(bool, 1, None, "expected true or false, got 1", id="bool-from-int"),
    pytest.param(str, 5, None, "expected a string, got 5", id="str-from-int"),
    pytest.param(Literal["fast", "exact"], "quick", None, "expected one of 'fast', 'exact', got 'quick'", id="literal"),
    pytest.param(Literal[1, 2], True, None, "expected one of 1, 2, got True", id="literal-refuses-bool"),
    pytest.param(tuple[int, int], [640], None, "expected [int, int], got [640]", id="tuple-length"),
    pytest.param(tuple[int, int], [0, 480], Bounds(ge=1), "expected [int, int] (each >= 1), got [0, 480]",
                 id="tuple-bound"),
    pytest.param(tuple[int, int], "640x480", None, "expected [int, int], got '640x480'", id="tuple-from-str"),
    pytest.param(Path, "", None, "expected a path, got ''", id="path-empty"),
    pytest.param(Path, 5, None, "expected a path, got 5", id="path-from-int"),
    pytest.param(Optional[int], "x", None, "expected an integer or null, got 'x'", id="optional"),
    pytest.param(list[str], ["person", 3], None, "expected list of str, got ['person', 3]", id="list-item"),
    pytest.param(list[str], "person", None, "expected list of str, got 'person'", id="list-from-str"),
]


@pytest.mark.parametrize("ann, value, bounds, message", BAD)
def test_refused_with_expected_and_got(ann: Any, value: Any, bounds: Bounds | None, message: str) -> None:
    with pytest.raises(ParamValueError) as info:
        check(ann, value, bounds)
    assert str(info.value) == message


class Detector(Node):
    """A node whose params cover the annotation forms."""

    kind = "test.params_detector"
    detections = Output()
    model: Path = Param()
    score_min: float = Param(0.25, ge=0, le=1)
    size_wh: tuple[int, int] = Param((640, 640), ge=1)
    mode: Literal["fast", "exact"] = Param("fast")
    labels: Optional[list[str]] = Param(None)


NODE = [
    pytest.param({"model": "m.onnx", "size_wh": [320, 320], "score_min": 1},
                 {"model": Path("m.onnx"), "score_min": 1.0, "size_wh": (320, 320), "mode": "fast", "labels": None},
                 [], id="ok-with-defaults"),
    pytest.param({}, None, [("model", "param 'model': missing; expected path")], id="missing-required"),
    pytest.param({"model": "m.onnx", "score_min": 2}, None,
                 [("score_min", "param 'score_min': expected a number >= 0 and <= 1, got 2")], id="out-of-range"),
    pytest.param({"model": "m.onnx", "scor_min": 0.4}, None,
                 [("scor_min", "unknown param 'scor_min'; did you mean 'score_min'?")], id="unknown-did-you-mean"),
    pytest.param({"model": "m.onnx", "mode": "slow", "labels": "car"}, None,
                 [("mode", "param 'mode': expected one of 'fast', 'exact', got 'slow'"),
                  ("labels", "param 'labels': expected list of str or null, got 'car'")], id="all-problems-reported"),
]


@pytest.mark.parametrize("given, values, problems", NODE)
def test_node_check_params(given: dict[str, Any], values: dict[str, Any] | None,
                            problems: list[tuple[str, str]]) -> None:
    got_values, got_problems = Detector.check_params(given)
    assert got_problems == problems
    if values is not None:
        assert got_values == values


def test_exponent_floats_without_a_dot_are_numbers() -> None:
    from edgespeed.params import check

    assert check(float, "1e-10") == 1e-10  # PyYAML reads this as a string
    assert check(float, "-2.5E3") == -2500.0
