"""Checks an ONNX model nodegrad exported and runs it with onnxruntime.

    python onnx_run.py MODEL.onnx FEEDS.json [--all]

FEEDS.json maps each graph input to {"shape": [batch, ...], "value": [...]} (row-major).
Runs onnx.checker.check_model(full_check=True), then onnxruntime on the CPU, and prints one
JSON object: every graph output's name -> {"shape": [...], "value": [...]}. With --all, every
node's value (the values named without a `.`, i.e. after nodegrad nodes) is an output too.
Used by tests/interop_export.rs; handy by hand too.
"""

import json
import sys

import numpy as np
import onnx
import onnxruntime as ort


def main():
    model_path, feeds_path = sys.argv[1:3]
    model = onnx.load(model_path)
    onnx.checker.check_model(model, full_check=True)
    if "--all" in sys.argv[3:]:
        have = {o.name for o in model.graph.output} | {i.name for i in model.graph.input}
        have |= {t.name for t in model.graph.initializer}
        for node in model.graph.node:
            for name in node.output:
                if "." not in name and name not in have:
                    model.graph.output.append(
                        onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None))
                    have.add(name)
    with open(feeds_path) as f:
        feeds = {
            name: np.array(v["value"], dtype=np.float32).reshape(v["shape"])
            for name, v in json.load(f).items()
        }
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    outputs = session.run(names, feeds)
    print(json.dumps({
        n: {"shape": list(o.shape), "value": [float(x) for x in o.reshape(-1)]}
        for n, o in zip(names, outputs)
    }))


if __name__ == "__main__":
    main()
