"""speech.ctc_decode: greedy CTC on constructed logits, vocabulary formats, and after inference.onnx."""

from __future__ import annotations

import json

import numpy as np
import pytest
from edgespeed.nodes.speech.ctc import CtcDecoder

from edgespeed.errors import NodeError
from edgespeed.testing import run_node

VOCAB = ["<pad>", "|", "a", "b", "c", "d", "e", "h", "l", "o", "w", "r"]


def logits_for(path: list[str], vocab: list[str] = VOCAB, sure: float = 8.0) -> np.ndarray:
    """Logits whose argmax at step t is path[t] ('_' is the blank, index 0)."""
    x = np.zeros((len(path), len(vocab)), np.float32)
    for t, tok in enumerate(path):
        x[t, 0 if tok == "_" else vocab.index(tok)] = sure
    return x


@pytest.fixture
def vocab_txt(tmp_path):
    p = tmp_path / "vocab.txt"
    p.write_text("\n".join(VOCAB) + "\n")
    return p


@pytest.mark.parametrize(("path", "text"), [
    pytest.param(["h", "h", "e", "_", "l", "l", "_", "l", "o", "|", "|", "w", "o", "o", "r", "_", "l", "d"], "hello world", id="repeats-and-blanks"),
    pytest.param(["_", "_", "_"], "", id="all-blank"),
    pytest.param(["a", "_", "a", "a", "|", "b"], "aa b", id="blank-separates-repeats"),
    pytest.param(["|", "|", "c", "a", "b", "|"], "cab", id="delimiters-trimmed"),
])
def test_greedy_decode(vocab_txt, path, text):
    (t,) = run_node(CtcDecoder, params={"vocabulary": vocab_txt}, inputs={"logits": [logits_for(path)[None]]})["transcript"]
    assert t["text"] == text
    if text:
        assert 0.99 < t["confidence"] <= 1.0


def test_confidence_and_steps(vocab_txt):
    x = logits_for(["_", "a", "_", "b"], sure=1.0)
    (t,) = run_node(CtcDecoder, params={"vocabulary": vocab_txt}, inputs={"logits": [x]})["transcript"]
    p = np.e / (np.e + len(VOCAB) - 1)
    assert t["steps"] == [1, 3] and t["tokens"] == [2, 3]
    assert t["confidence"] == pytest.approx(p, abs=1e-4)


def test_json_vocabulary_and_other_blank(tmp_path):
    vocab = ["a", "b", "<blank>", " "]
    p = tmp_path / "vocab.json"
    p.write_text(json.dumps({tok: i for i, tok in enumerate(vocab)}))
    x = logits_for(["a", "<blank>", "a", " ", "b"], vocab)
    (t,) = run_node(CtcDecoder, params={"vocabulary": p, "blank_index": 2, "word_delimiter": " "}, inputs={"logits": [x]})["transcript"]
    assert t["text"] == "aa b"


def test_size_mismatch_names_the_vocabulary(vocab_txt):
    with pytest.raises(NodeError, match="logits have 5 classes but the vocabulary .*vocab.txt' has 12 tokens"):
        run_node(CtcDecoder, params={"vocabulary": vocab_txt}, inputs={"logits": [np.zeros((3, 5), np.float32)]})


def test_after_inference_onnx(tmp_path, vocab_txt):
    """A tiny 'acoustic model' in ONNX (log-softmax of its input), run by inference.onnx, then decoded."""
    import onnx
    import onnxruntime  # noqa: F401  (a dev dependency: a missing one must fail, not skip)
    from onnx import TensorProto, helper

    from edgespeed.graph import load_text
    from edgespeed.runtime.scheduler import run_spec
    from edgespeed.testing import ListSink

    graph = helper.make_graph([helper.make_node("LogSoftmax", ["features"], ["logits"], axis=-1)], "am",
                              [helper.make_tensor_value_info("features", TensorProto.FLOAT, [1, None, len(VOCAB)])],
                              [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, None, len(VOCAB)])])
    model = tmp_path / "am.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(model))
    items = [logits_for(p.split())[None].tolist() for p in ("c a b", "b e e _ e | h e r e", "_")]
    spec = load_text(f"""
nodes:
  - {{id: feats, type: testing.list_source, params: {{items: {json.dumps(items)}}}}}
  - {{id: cast, type: "test_ctc:as_float32", inputs: {{x: feats/out}}}}
  - {{id: am, type: inference.onnx, params: {{model: '{model}', warmup_runs: 0}}, inputs: {{features: cast/out}}}}
  - {{id: ctc, type: speech.ctc_decode, params: {{vocabulary: '{vocab_txt}'}}, inputs: {{logits: am/logits}}}}
  - {{id: sink, type: testing.list_sink, inputs: {{data: ctc/transcript}}}}
""")
    result = run_spec(spec)
    assert result.ok, result.failures
    assert [t["text"] for t in ListSink.collected["sink"]] == ["cab", "bee here", ""]


from edgespeed import node


@node
def as_float32(x):
    """Lists from YAML to a float32 array (the test's feature extractor)."""
    return np.asarray(x, np.float32)
