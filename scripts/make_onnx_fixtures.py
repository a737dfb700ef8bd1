#!/usr/bin/env python3
"""Builds the ONNX models the import tests read (tests/fixtures/onnx/*.onnx) with onnx.helper.

Run from the repository root:  /cache/pyenv/bin/python scripts/make_onnx_fixtures.py
(any Python with `onnx` and `numpy` does). The weights come from a fixed NumPy seed, so the
files are the same on every run. Every model except unsupported.onnx passes
onnx.checker.check_model(full_check=True).
"""

import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "onnx")
rng = np.random.default_rng(17)


def w(name, *shape, scale=0.5):
    return numpy_helper.from_array((rng.standard_normal(shape) * scale).astype(np.float32), name)


def const_i64(name, values):
    return numpy_helper.from_array(np.array(values, dtype=np.int64), name)


def inp(name, *dims):
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, ["N", *dims])


def out(name, *dims):
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, ["N", *dims])


def save(name, nodes, inputs, outputs, inits, check=True):
    graph = helper.make_graph(nodes, name, inputs, outputs, inits)
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="make_onnx_fixtures"
    )
    model.ir_version = 8
    if check:
        onnx.checker.check_model(model, full_check=True)
    onnx.save(model, os.path.join(OUT, name + ".onnx"))
    print("wrote", name + ".onnx")


def mlp_gemm():
    """An MLP as torch.onnx.export writes nn.Linear: Gemm with transB=1, PyTorch's names."""
    nodes = [
        helper.make_node("Gemm", ["input", "fc1.weight", "fc1.bias"], ["/fc1/Gemm_output_0"],
                         name="/fc1/Gemm", alpha=1.0, beta=1.0, transB=1),
        helper.make_node("Relu", ["/fc1/Gemm_output_0"], ["/relu/Relu_output_0"], name="/relu/Relu"),
        helper.make_node("Gemm", ["/relu/Relu_output_0", "fc2.weight", "fc2.bias"], ["output"],
                         name="/fc2/Gemm", alpha=1.0, beta=1.0, transB=1),
    ]
    inits = [w("fc1.weight", 8, 4), w("fc1.bias", 8), w("fc2.weight", 3, 8), w("fc2.bias", 3)]
    save("mlp_gemm", nodes, [inp("input", 4)], [out("output", 3)], inits)


def mlp_matmul_add():
    """MatMul + Add (as TensorFlow and Keras converters write dense layers)."""
    nodes = [
        helper.make_node("MatMul", ["x", "W1"], ["h1_mm"], name="h1_mm"),
        helper.make_node("Add", ["h1_mm", "b1"], ["h1"], name="h1"),
        helper.make_node("Tanh", ["h1"], ["a1"], name="a1"),
        helper.make_node("MatMul", ["a1", "W2"], ["h2_mm"], name="h2_mm"),
        helper.make_node("Add", ["h2_mm", "b2"], ["h2"], name="h2"),
        helper.make_node("Sigmoid", ["h2"], ["y"], name="y"),
    ]
    inits = [w("W1", 3, 5), w("b1", 5), w("W2", 5, 2), w("b2", 2)]
    save("mlp_matmul_add", nodes, [inp("x", 3)], [out("y", 2)], inits)


def cnn():
    """Conv / Relu / MaxPool / Conv / Relu / Flatten / Gemm / Softmax on a 1x8x8 image."""
    nodes = [
        helper.make_node("Conv", ["image", "conv1.weight", "conv1.bias"], ["conv1"], name="conv1",
                         kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[1, 1]),
        helper.make_node("Relu", ["conv1"], ["relu1"], name="relu1"),
        helper.make_node("MaxPool", ["relu1"], ["pool1"], name="pool1",
                         kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Conv", ["pool1", "conv2.weight"], ["conv2"], name="conv2",
                         kernel_shape=[3, 3], strides=[1, 1]),
        helper.make_node("Relu", ["conv2"], ["relu2"], name="relu2"),
        helper.make_node("Flatten", ["relu2"], ["flat"], name="flat", axis=1),
        helper.make_node("Gemm", ["flat", "fc.weight", "fc.bias"], ["logits"], name="logits",
                         transB=1),
        helper.make_node("Softmax", ["logits"], ["probs"], name="probs", axis=-1),
    ]
    inits = [w("conv1.weight", 4, 1, 3, 3), w("conv1.bias", 4), w("conv2.weight", 6, 4, 3, 3),
             w("fc.weight", 3, 24), w("fc.bias", 3)]
    save("cnn", nodes, [inp("image", 1, 8, 8)], [out("probs", 3)], inits)


def batchnorm():
    """BatchNormalization over channels and over features, with AveragePool, LeakyRelu,
    Dropout and Identity between."""
    c = 3
    nodes = [
        helper.make_node("Conv", ["x", "conv.weight", "conv.bias"], ["conv"], name="conv",
                         kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        helper.make_node("BatchNormalization",
                         ["conv", "bn1.gamma", "bn1.beta", "bn1.mean", "bn1.var"], ["bn1"],
                         name="bn1", epsilon=1e-5, momentum=0.9),
        helper.make_node("LeakyRelu", ["bn1"], ["leaky"], name="leaky", alpha=0.1),
        helper.make_node("AveragePool", ["leaky"], ["avg"], name="avg",
                         kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Flatten", ["avg"], ["flat"], name="flat"),
        helper.make_node("Dropout", ["flat", "drop.ratio"], ["drop"], name="drop"),
        helper.make_node("Gemm", ["drop", "fc.weight", "fc.bias"], ["fc"], name="fc", transB=1),
        helper.make_node("BatchNormalization",
                         ["fc", "bn2.gamma", "bn2.beta", "bn2.mean", "bn2.var"], ["bn2"],
                         name="bn2"),
        helper.make_node("Identity", ["bn2"], ["out"], name="out"),
    ]
    inits = [
        w("conv.weight", c, 2, 3, 3), w("conv.bias", c),
        numpy_helper.from_array((1.0 + 0.3 * rng.standard_normal(c)).astype(np.float32), "bn1.gamma"),
        w("bn1.beta", c),
        w("bn1.mean", c),
        numpy_helper.from_array((0.5 + rng.random(c)).astype(np.float32), "bn1.var"),
        numpy_helper.from_array(np.array(0.3, dtype=np.float32), "drop.ratio"),
        w("fc.weight", 4, c * 3 * 3), w("fc.bias", 4),
        numpy_helper.from_array((1.0 + 0.3 * rng.standard_normal(4)).astype(np.float32), "bn2.gamma"),
        w("bn2.beta", 4), w("bn2.mean", 4),
        numpy_helper.from_array((0.5 + rng.random(4)).astype(np.float32), "bn2.var"),
    ]
    save("batchnorm", nodes, [inp("x", 2, 6, 6)], [out("out", 4)], inits)


def elementwise():
    """Every other listed op: Add, Sub, Mul, Div, Neg, Exp, Log, Sqrt, Abs, Pow, PRelu,
    Sigmoid, Tanh, Reshape, Transpose, MatMul of two run-time values, ReduceSum (axes input),
    ReduceMean (axes attribute, keepdims), Flatten, Concat, Softmax, and a Constant node."""
    nodes = [
        helper.make_node("Abs", ["x"], ["abs"], name="abs"),
        helper.make_node("Add", ["abs", "one"], ["shifted"], name="shifted"),
        helper.make_node("Log", ["shifted"], ["log"], name="log"),
        helper.make_node("Sqrt", ["shifted"], ["sqrt"], name="sqrt"),
        helper.make_node("Constant", [], ["half"], name="half",
                         value=helper.make_tensor("half", TensorProto.FLOAT, [], [0.5])),
        helper.make_node("Pow", ["shifted", "half"], ["pow"], name="pow"),
        helper.make_node("Mul", ["log", "sqrt"], ["mul"], name="mul"),
        helper.make_node("Div", ["mul", "pow"], ["div"], name="div"),
        helper.make_node("Neg", ["div"], ["neg"], name="neg"),
        helper.make_node("Exp", ["neg"], ["exp"], name="exp"),
        helper.make_node("Sub", ["exp", "x"], ["sub"], name="sub"),
        helper.make_node("PRelu", ["sub", "slope"], ["prelu"], name="prelu"),
        helper.make_node("Reshape", ["prelu", "shape"], ["grid"], name="grid"),
        helper.make_node("Transpose", ["grid"], ["gridT"], name="gridT", perm=[0, 2, 1]),
        helper.make_node("MatMul", ["gridT", "grid"], ["gram"], name="gram"),
        helper.make_node("ReduceSum", ["gram", "axes"], ["rowsum"], name="rowsum", keepdims=0),
        helper.make_node("ReduceMean", ["gram"], ["colmean"], name="colmean", axes=[1], keepdims=1),
        helper.make_node("Flatten", ["colmean"], ["colflat"], name="colflat"),
        helper.make_node("Concat", ["rowsum", "colflat"], ["joined"], name="joined", axis=1),
        helper.make_node("Sigmoid", ["joined"], ["sig"], name="sig"),
        helper.make_node("Tanh", ["sig"], ["tanh"], name="tanh"),
        helper.make_node("Softmax", ["tanh"], ["probs"], name="probs"),
    ]
    inits = [
        numpy_helper.from_array(np.ones(6, dtype=np.float32), "one"),
        numpy_helper.from_array(np.array([0.2], dtype=np.float32), "slope"),
        const_i64("shape", [-1, 2, 3]),
        const_i64("axes", [2]),
    ]
    save("elementwise", nodes, [inp("x", 6)], [out("probs", 6)], inits)


def constants():
    """Values computed from initializers alone (no batch axis), as nodegrad's exporter writes
    them: a transposed weight, an Unsqueeze that lines a batched value up with a matrix, a
    reduction over every axis after the batch axis (keepdims) and a Squeeze."""
    nodes = [
        helper.make_node("Transpose", ["W"], ["Wt"], name="Wt", perm=[1, 0]),
        helper.make_node("Exp", ["Wt"], ["eWt"], name="eWt"),
        helper.make_node("MatMul", ["x", "eWt"], ["proj"], name="proj"),
        helper.make_node("Unsqueeze", ["proj", "proj.axes"], ["proj.row"], name="proj.row"),
        helper.make_node("Mul", ["proj.row", "M"], ["scaled"], name="scaled"),
        helper.make_node("ReduceSum", ["scaled", "sum.axes"], ["total_k"], name="total_k",
                         keepdims=1),
        helper.make_node("Squeeze", ["total_k", "squeeze.axes"], ["total"], name="total"),
    ]
    inits = [w("W", 3, 4), w("M", 2, 3), const_i64("proj.axes", [1]), const_i64("sum.axes", [1, 2]),
             const_i64("squeeze.axes", [1, 2])]
    graph_out = helper.make_tensor_value_info("total", TensorProto.FLOAT, ["N"])
    save("constants", nodes, [inp("x", 4)], [graph_out], inits)


def unsupported():
    """Ops nodegrad lacks and attributes it cannot represent, for the error list."""
    nodes = [
        helper.make_node("Conv", ["x", "cw"], ["grouped"], name="grouped",
                         kernel_shape=[3, 3], group=2, dilations=[2, 2]),
        helper.make_node("MaxPool", ["grouped"], ["pool"], name="pool",
                         kernel_shape=[2, 3], pads=[0, 0, 1, 1], ceil_mode=1),
        helper.make_node("Erf", ["pool"], ["erf"], name="erf"),
        helper.make_node("Flatten", ["erf"], ["flat"], name="flat"),
        helper.make_node("LpNormalization", ["flat"], ["norm"], name="norm"),
        helper.make_node("Gemm", ["norm", "fw"], ["fc"], name="fc", transB=1),
        helper.make_node("TopK", ["fc", "k"], ["top", "top_idx"], name="top"),
    ]
    inits = [w("cw", 4, 2, 3, 3), w("fw", 3, 4), const_i64("k", [2])]
    save("unsupported", nodes, [inp("x", 4, 8, 8)], [out("top", 2)], inits, check=False)


if __name__ == "__main__":
    os.makedirs(OUT, exist_ok=True)
    mlp_gemm()
    mlp_matmul_add()
    cnn()
    batchnorm()
    elementwise()
    constants()
    unsupported()
