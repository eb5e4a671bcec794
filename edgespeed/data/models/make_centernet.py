"""Make centernet_coco.onnx (and labels/coco.txt) from the TF.js model of @vladmandic/human 3.3.6.

Run once, by hand, in a throwaway environment (TensorFlow is no dependency of EdgeSpeed):

    cd /tmp && npm pack @vladmandic/human@3.3.6           # MIT; ships models/centernet.{json,bin}
    python3.11 -m venv /tmp/tfconv
    /tmp/tfconv/bin/pip install 'tensorflow-cpu==2.15.*' 'tf2onnx==1.16.*'
    /tmp/tfconv/bin/python edgespeed/data/models/make_centernet.py /tmp/vladmandic-human-3.3.6.tgz

(`python make_centernet.py --any-batch` applies only the last step, `any_batch`, to the committed
file; it needs onnx alone.)

The model is CenterNet on MobileNetV3 (https://github.com/610265158/mobilenetv3_centernet),
trained on COCO. Its graph decodes its own heatmap: input `tower_0/images` (renamed
`images` here) 1x512x512x3 RGB float 0..255, output `tower_0/detections` (renamed `detections`)
1x100x6 rows of x1, y1, x2, y2 (input pixels), score, class (0-based COCO: 0 = person), best
score first (checked on frames of media/video/pedestrians.mp4: people are class 0, tall boxes).
The shipped file takes any input size (`any_size`): video_analytics feeds it 512x384.
The TF.js weights are float16; tf2onnx widens them to float32, hence ~8 MB of ONNX from 4 MB.

Two attributes the TF.js converter dropped must be put back before tf2onnx builds a TF graph
from the JSON (TensorFlow's op registry requires them): `TArgs` on the `_FusedConv2D` nodes (the
dtypes of their extra bias inputs) and `index_type` on TopKV2 (TF >= 2.13).
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
OUT = HERE / "centernet_coco.onnx"
LABELS = HERE.parent / "labels" / "coco.txt"
# the two files as published in @vladmandic/human 3.3.6 (checked: a changed package stops here)
SHA256 = {"package/models/centernet.json": "bfb942eaacc5becf738d536663bc4580a0ae9e560722306e6d4dd7fe4a09de05",
          "package/models/centernet.bin": "1b635a15009071f506f9f2b3519b31c072c534888989f30d269ffd44734ef7ef"}
FUSED = {"_FusedConv2D"}  # _FusedDepthwiseConv2dNative has no TArgs in TF 2.15


def patch(model: dict[str, Any]) -> int:
    """Fill in the attributes tf2onnx needs; returns how many nodes changed."""
    changed = 0
    for n in model["modelTopology"]["node"]:
        attr = n.setdefault("attr", {})
        if n["op"] in FUSED and "TArgs" not in attr:
            num_args = int(attr.get("num_args", {}).get("i", len(n["input"]) - 2))
            attr["TArgs"] = {"list": {"type": [attr["T"]["type"]] * num_args}}
            changed += 1
        if n["op"] == "TopKV2" and "index_type" not in attr:
            attr["index_type"] = {"type": "DT_INT32"}
            changed += 1
    return changed


def labels(ts_source: str) -> list[str]:
    """The 80 COCO names from human's src/object/labels.ts, in class order."""
    found = [(int(c), name) for c, name in re.findall(r"class:\s*(\d+),\s*label:\s*'([^']+)'", ts_source)]
    assert [c for c, _ in found] == list(range(1, 81)), "expected COCO classes 1..80 in labels.ts"
    return [name for _, name in found]


def any_size(m: Any) -> None:
    """Let the model take any input of W x H pixels, both multiples of 32 (the network is fully
    convolutional, its upsampling is by scale). Only its built-in decoding names the 512 x 512
    size: the heatmap's width (128, which splits a flat peak index into x and y) becomes the
    input's width / 4, and the size map's reshape to (128 * 128, 4) becomes (-1, 4). A smaller
    input trades recall for speed (see benchmarks/bench_detector.py); no border, at 4:3, is free.
    """
    import numpy as np
    import onnx
    from onnx import helper, numpy_helper

    inits = {i.name: i for i in m.graph.initializer}
    width = inits.pop("tower_0/strided_slice_6:0")
    assert numpy_helper.to_array(width).tolist() == 128, "expected the 128 px heatmap width of the 512 x 512 graph"
    (wh_shape,) = [i for i in inits.values() if i.data_type == onnx.TensorProto.INT64 and numpy_helper.to_array(i).tolist() == [16384, 4]]
    wh_shape.CopyFrom(numpy_helper.from_array(np.array([-1, 4], np.int64), wh_shape.name))
    m.graph.initializer.remove(width)
    m.graph.initializer.extend([numpy_helper.from_array(np.array(2, np.int64), "any_size/w_axis"),
                                numpy_helper.from_array(np.array(4, np.int64), "any_size/stride")])
    image = m.graph.input[0].name
    m.graph.node.insert(0, helper.make_node("Shape", [image], ["any_size/shape"], name="any_size/shape"))  # NHWC
    m.graph.node.insert(1, helper.make_node("Gather", ["any_size/shape", "any_size/w_axis"], ["any_size/w"], name="any_size/w", axis=0))
    m.graph.node.insert(2, helper.make_node("Div", ["any_size/w", "any_size/stride"], ["any_size/w4"], name="any_size/w4"))
    m.graph.node.insert(3, helper.make_node("Cast", ["any_size/w4"], [width.name], name="any_size/cast", to=onnx.TensorProto.INT32))
    dims = m.graph.input[0].type.tensor_type.shape.dim
    dims[1].dim_param, dims[2].dim_param = "height", "width"  # setting dim_param clears the fixed value
    del m.graph.value_info[:]  # shapes inferred for 512 x 512


def any_batch(m: Any) -> None:
    """Let the model take a batch of N images (multi_camera: one call for the frames of N
    streams). The export wrote batch 1 into it twice: the squeeze-excite and head reshapes
    (`[1, C, 1, 1]`, `[1, -1]`), whose leading 1 becomes 0 (copy the batch), and the decoding's
    box lookup, which gathered from all images' boxes flattened together with indices of one
    image. That becomes a per-image `GatherND(batch_dims=1)` of the (N, H*W, 4) box map. Batch 1
    gives the same bytes as before; each image of a batch gives what it gives alone.
    """
    import numpy as np
    import onnx
    from onnx import helper, numpy_helper

    g = m.graph
    inits = {i.name: i for i in g.initializer}
    nodes = {n.name: n for n in g.node}
    for n in g.node:
        if n.op_type != "Reshape" or n.input[1] not in inits or n.name.startswith("tower_0/BatchGather"):
            continue
        shape = numpy_helper.to_array(inits[n.input[1]])
        if shape.size and shape[0] == 1:
            shape = shape.copy()
            shape[0] = 0
            g.initializer.append(numpy_helper.from_array(shape, f"{n.name}/any_batch"))
            n.input[1] = f"{n.name}/any_batch"
    boxes, index = nodes["tower_0/BatchGather/Reshape_2"], nodes["tower_0/BatchGather/add"]
    flat, gather, back = (nodes[f"tower_0/BatchGather/{k}"] for k in ("Reshape_1", "GatherV2", "Reshape_3"))
    g.initializer.extend([numpy_helper.from_array(np.array([0, -1, 4], np.int64), "any_batch/boxes_shape"),
                          numpy_helper.from_array(np.array([-1], np.int64), "any_batch/last_axis")])
    boxes.input[1] = "any_batch/boxes_shape"  # (N, H*W, 4)
    at = list(g.node).index(flat)
    for n in (flat, gather, back):
        g.node.remove(n)
    for k, n in enumerate([
        helper.make_node("Cast", [index.output[0]], ["any_batch/index"], name="any_batch/cast", to=onnx.TensorProto.INT64),
        helper.make_node("Unsqueeze", ["any_batch/index", "any_batch/last_axis"], ["any_batch/indices"], name="any_batch/unsqueeze"),
        helper.make_node("GatherND", [boxes.output[0], "any_batch/indices"], [back.output[0]], name="any_batch/gather", batch_dims=1),
    ]):
        g.node.insert(at + k, n)
    for v in (g.input[0], g.output[0]):
        v.type.tensor_type.shape.dim[0].dim_param = "batch"
    used = {x for n in g.node for x in n.input}
    for i in [i for i in g.initializer if i.name not in used]:
        g.initializer.remove(i)


def finish(raw: Path) -> None:
    """Plain port names (`images`, `detections`) and a doc string without the temp folder.

    A rerun gives an equivalent file, not the same bytes: tf2onnx numbers some of the nodes it
    makes differently from run to run (the SHA-256 in PROVENANCE.md is of the committed file)."""
    import onnx

    m = onnx.load(str(raw))
    renames = {m.graph.input[0].name: "images", m.graph.output[0].name: "detections"}
    for n in m.graph.node:
        n.input[:] = [renames.get(x, x) for x in n.input]
        n.output[:] = [renames.get(x, x) for x in n.output]
    for v in (*m.graph.input, *m.graph.output):
        v.name = renames.get(v.name, v.name)
    any_size(m)
    any_batch(m)
    m.graph.doc_string = "CenterNet-MobileNetV3 (COCO) from @vladmandic/human 3.3.6 models/centernet.json, by make_centernet.py"
    onnx.checker.check_model(m)
    onnx.save(m, str(OUT))


def main(tgz: str) -> None:
    with tempfile.TemporaryDirectory() as tmp, tarfile.open(tgz) as tar:
        work = Path(tmp)
        for member, digest in SHA256.items():
            data = tar.extractfile(member).read()  # type: ignore[union-attr]
            assert hashlib.sha256(data).hexdigest() == digest, f"{member}: not the file of human 3.3.6"
            (work / Path(member).name).write_bytes(data)
        names = labels(tar.extractfile("package/src/object/labels.ts").read().decode())  # type: ignore[union-attr]
        model = json.loads((work / "centernet.json").read_text())
        print(f"patched {patch(model)} nodes")
        (work / "centernet.json").write_text(json.dumps(model))
        raw = work / "raw.onnx"
        subprocess.run([sys.executable, "-m", "tf2onnx.convert", "--tfjs", str(work / "centernet.json"),
                        "--outputs", "tower_0/detections", "--opset", "13", "--output", str(raw)], check=True)
        finish(raw)
    LABELS.parent.mkdir(exist_ok=True)
    LABELS.write_text("\n".join(names) + "\n", encoding="utf-8")
    for p in (OUT, LABELS):
        print(p.name, p.stat().st_size, hashlib.sha256(p.read_bytes()).hexdigest())


def only_any_batch() -> None:
    """`--any-batch`: apply `any_batch` to the committed file (no TensorFlow needed; the file
    shipped before it took one image at a time)."""
    import onnx

    m = onnx.load(str(OUT))
    if any(n.name == "any_batch/gather" for n in m.graph.node):
        print(f"{OUT.name}: takes any batch already")
        return
    any_batch(m)
    onnx.checker.check_model(m)
    onnx.save(m, str(OUT))
    print(OUT.name, OUT.stat().st_size, hashlib.sha256(OUT.read_bytes()).hexdigest())


if __name__ == "__main__":
    if sys.argv[1:] == ["--any-batch"]:
        only_any_batch()
    else:
        main(sys.argv[1] if len(sys.argv) > 1 else "/tmp/vladmandic-human-3.3.6.tgz")
