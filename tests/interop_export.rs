//! Export to PyTorch code and ONNX, checked against the real tools: every example's Python
//! compiles; every example's ONNX model passes `onnx.checker` (full check) and onnxruntime
//! gives nodegrad's numbers; where PyTorch is installed the generated file prints nodegrad's
//! values and gradients. Missing Python packages are skipped LOUDLY, and fail the test when
//! NODEGRAD_REQUIRE_ONNX=1 (CI) or NODEGRAD_REQUIRE_TORCH=1.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use nodegrad::analysis::analyze;
use nodegrad::exec::{Engine, Evaluation};
use nodegrad::graph::{Array, Graph};
use nodegrad::interop::{onnx_export, pytorch};
use nodegrad::project::Project;
use nodegrad::ui::{AppConfig, NodegradApp};
use serde_json::Value;

/// The Python with onnx and onnxruntime (CI's venv), else the shared one, else python3.
fn python() -> PathBuf {
    if let Ok(p) = std::env::var("NODEGRAD_PYTHON") {
        return PathBuf::from(p);
    }
    let shared = PathBuf::from("/cache/pyenv/bin/python");
    if shared.exists() {
        return shared;
    }
    PathBuf::from("python3")
}

fn has_modules(modules: &str) -> bool {
    Command::new(python())
        .args(["-c", &format!("import {modules}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Whether the tools are there; a loud message (or a failure when `require_var` is 1) when not.
fn tools_or_skip(modules: &str, require_var: &str, test: &str) -> bool {
    if has_modules(modules) {
        return true;
    }
    let msg = format!(
        "\n\n*** SKIPPED {test}: `{} -c 'import {modules}'` failed. Set NODEGRAD_PYTHON to a \
         Python with {modules} (see .ci/run). ***\n",
        python().display()
    );
    if std::env::var(require_var).as_deref() == Ok("1") {
        panic!("{msg}({require_var}=1: the tools are required)");
    }
    eprintln!("{msg}");
    false
}

fn examples() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(common::project_path(""))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "ron"))
        .collect();
    v.sort();
    assert!(v.len() >= 12, "{v:?}");
    v
}

fn evaluate(graph: &Graph) -> Evaluation {
    let analysis = analyze(graph);
    assert!(!analysis.has_errors(), "{:?}", analysis.diagnostics);
    Engine::cpu().evaluate(graph, &analysis).unwrap()
}

fn value_of<'a>(graph: &Graph, eval: &'a Evaluation, name: &str) -> &'a Array {
    &eval.nodes[&graph.find(name).unwrap().id].value
}

fn run_python(args: &[&str]) -> String {
    let out = Command::new(python()).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{} {args:?} failed:\n{}",
        python().display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn script() -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("scripts/onnx_run.py")
        .display()
        .to_string()
}

/// Runs `model` on `feeds` (input -> (batch shape, values)) through the checker and
/// onnxruntime; returns output -> values.
fn onnxruntime(
    model: &Path,
    feeds: &[(String, Vec<usize>, Vec<f64>)],
) -> serde_json::Map<String, Value> {
    let feeds_path = model.with_extension("feeds.json");
    let doc: serde_json::Map<String, Value> = feeds
        .iter()
        .map(|(n, s, v)| (n.clone(), serde_json::json!({"shape": s, "value": v})))
        .collect();
    std::fs::write(&feeds_path, serde_json::to_vec(&doc).unwrap()).unwrap();
    let out = run_python(&[
        &script(),
        &model.display().to_string(),
        &feeds_path.display().to_string(),
    ]);
    serde_json::from_str::<Value>(&out)
        .unwrap()
        .as_object()
        .unwrap()
        .clone()
}

fn numbers(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap_or(f64::NAN))
        .collect()
}

/// f32 against f64: |got - want| <= 1e-4 max(1, |want|).
fn close_f32(got: f64, want: f64) -> bool {
    (got - want).abs() <= 1e-4 * want.abs().max(1.0)
}

#[test]
fn every_example_exports_python_that_compiles() {
    let dir = tempfile::tempdir().unwrap();
    for path in examples() {
        let project = Project::load(&path).unwrap();
        let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
        let py = dir.path().join(format!("{}.py", stem.replace('-', "_")));
        let written = pytorch::write(&project, path.parent(), &py).unwrap();
        let text = std::fs::read_to_string(&py).unwrap();
        // One forward line per node that is not an Input, named like the node.
        for node in project.graph.nodes() {
            if node.op != nodegrad::graph::Op::Input {
                assert!(
                    text.contains(&format!("        {} = ", node.name)),
                    "{stem}: no forward line for {}",
                    node.name
                );
            }
        }
        assert_eq!(written.csv.is_some(), project.training.is_some(), "{stem}");
        if let Some(csv) = &written.csv {
            let rows = std::fs::read_to_string(csv).unwrap();
            assert!(rows.starts_with("split,f0,"), "{stem}");
            assert!(text.contains("def train("), "{stem}");
        }
        let out = Command::new("python3")
            .args(["-m", "py_compile", &py.display().to_string()])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{stem}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // LeNet's weights go beside the file; the XOR net's stay inline.
    let lenet = Project::load(&common::project_path("digits-lenet.ron")).unwrap();
    let w = pytorch::write(&lenet, None, &dir.path().join("lenet.py")).unwrap();
    let st = std::fs::read(w.safetensors.unwrap()).unwrap();
    let header_len = u64::from_le_bytes(st[..8].try_into().unwrap()) as usize;
    let header: Value = serde_json::from_slice(&st[8..8 + header_len]).unwrap();
    assert_eq!(header["conv1.weight"]["dtype"], "F64");
    let xor = std::fs::read_to_string(dir.path().join("xor_mlp.py")).unwrap();
    assert!(xor.contains("WEIGHTS = {"));
}

/// Every example with the project's own inputs, with losses: the checker passes and
/// onnxruntime's outputs equal nodegrad's evaluation.
#[test]
fn onnx_models_pass_the_checker_and_match_nodegrad() {
    if !tools_or_skip(
        "onnx, onnxruntime, numpy",
        "NODEGRAD_REQUIRE_ONNX",
        "the ONNX check",
    ) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut compared = 0usize;
    let mut worst = 0.0f64;
    for path in examples() {
        let project = Project::load(&path).unwrap();
        let graph = &project.graph;
        let eval = evaluate(graph);
        let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
        for with_loss in [false, true] {
            let model = dir.path().join(format!("{stem}-{with_loss}.onnx"));
            let summary = match onnx_export::write(graph, with_loss, &model) {
                Ok(s) => s,
                // A graph made only of a loss has nothing to export without it.
                Err(e) if !with_loss && e.to_string().contains("--with-loss") => continue,
                Err(e) => panic!("{stem}: {e}"),
            };
            let feeds: Vec<(String, Vec<usize>, Vec<f64>)> = summary
                .inputs
                .iter()
                .map(|n| {
                    let a = graph.find(n).unwrap().value().unwrap();
                    let mut s = vec![1];
                    s.extend(a.shape());
                    (n.clone(), s, a.data().to_vec())
                })
                .collect();
            let got = onnxruntime(&model, &feeds);
            assert_eq!(got.len(), summary.outputs.len());
            for (name, v) in &got {
                let want = value_of(graph, &eval, name);
                let values = numbers(&v["value"]);
                assert_eq!(values.len(), want.len(), "{stem}: {name}");
                for (g, w) in values.iter().zip(want.data()) {
                    assert!(
                        close_f32(*g, *w),
                        "{stem} (with_loss {with_loss}): {name}: onnxruntime {g}, nodegrad {w}"
                    );
                    worst = worst.max((g - w).abs() / w.abs().max(1.0));
                    compared += 1;
                }
            }
        }
    }
    eprintln!("onnxruntime vs nodegrad: {compared} numbers, worst relative difference {worst:e}");
    assert!(compared > 30, "{compared}");
}

/// LeNet on real digits from its dataset, a batch of 3: each row equals nodegrad's
/// evaluation of that digit and the predicted classes agree.
#[test]
fn onnx_lenet_classifies_dataset_digits_like_nodegrad() {
    if !tools_or_skip(
        "onnx, onnxruntime, numpy",
        "NODEGRAD_REQUIRE_ONNX",
        "the LeNet ONNX check",
    ) {
        return;
    }
    let path = common::project_path("digits-lenet.ron");
    let project = Project::load(&path).unwrap();
    let config = project.training.clone().unwrap();
    let prepared = nodegrad::train::Prepared::new(&config, path.parent()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("lenet.onnx");
    let summary = onnx_export::write(&project.graph, false, &model).unwrap();
    assert_eq!(summary.inputs, ["x"]);
    let out_name = summary.outputs[0].clone();
    let x_shape = project
        .graph
        .find("x")
        .unwrap()
        .value()
        .unwrap()
        .shape()
        .to_vec();
    let rows = [0usize, 7, 100];
    let mut batch = Vec::new();
    let mut want = Vec::new();
    for &r in &rows {
        let sample: Vec<f64> = prepared.data.sample(r).iter().map(|v| *v as f64).collect();
        batch.extend(sample.iter().copied());
        let mut g = project.graph.clone();
        g.set_value_by_name("x", Array::new(x_shape.clone(), sample).unwrap())
            .unwrap();
        let eval = evaluate(&g);
        want.push(value_of(&g, &eval, &out_name).data().to_vec());
    }
    let mut shape = vec![rows.len()];
    shape.extend(&x_shape);
    let got = onnxruntime(&model, &[("x".into(), shape, batch)]);
    let values = numbers(&got[&out_name]["value"]);
    let per = want[0].len();
    assert_eq!(values.len(), per * rows.len());
    let argmax = |v: &[f64]| (0..v.len()).max_by(|&a, &b| v[a].total_cmp(&v[b])).unwrap();
    for (i, w) in want.iter().enumerate() {
        let row = &values[i * per..(i + 1) * per];
        for (g, w) in row.iter().zip(w) {
            assert!(
                close_f32(*g, *w),
                "digit {}: onnxruntime {g}, nodegrad {w}",
                rows[i]
            );
        }
        assert_eq!(argmax(row), argmax(w), "digit {}", rows[i]);
    }
    eprintln!(
        "LeNet on digits {rows:?}: {} logits equal nodegrad's (f32 tolerance)",
        values.len()
    );
}

/// Where PyTorch is importable: the generated file's JSON equals `nodegrad eval --json`
/// for every node's value and gradient and every weight's (rel 1e-6, float64).
#[test]
fn pytorch_prints_nodegrads_values_and_gradients() {
    if !tools_or_skip("torch", "NODEGRAD_REQUIRE_TORCH", "the PyTorch comparison") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (mut compared, mut worst) = (0usize, 0.0f64);
    for path in examples() {
        let (n, w) = compare_with_torch(&path, dir.path());
        compared += n;
        worst = worst.max(w);
    }
    eprintln!(
        "PyTorch vs nodegrad eval --json: {compared} numbers, worst relative difference {worst:e}"
    );
    assert!(compared > 10_000, "{compared}");
}

/// Runs the generated file of the project at `path` and compares its JSON with
/// `nodegrad eval --json`: every node's value, gradient and parameters (rel 1e-6, f64).
/// Returns how many numbers were compared and the worst relative difference.
fn compare_with_torch(path: &Path, dir: &Path) -> (usize, f64) {
    let mut compared = 0usize;
    let mut worst = 0.0f64;
    let project = Project::load(path).unwrap();
    let stem = path
        .file_stem()
        .unwrap()
        .to_string_lossy()
        .replace('-', "_");
    let py = dir.join(format!("{stem}.py"));
    pytorch::write(&project, path.parent(), &py).unwrap();
    let torch: Value = serde_json::from_str(&run_python(&[&py.display().to_string()])).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_nodegrad"))
        .args(["eval", &path.display().to_string(), "--json"])
        .output()
        .unwrap();
    let ours: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(torch["output"], ours["output"], "{stem}");
    assert_eq!(torch["parameters"], ours["parameters"], "{stem}");
    let nodes = ours["nodes"].as_array().unwrap();
    let theirs = torch["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), theirs.len(), "{stem}");
    let mut check = |what: String, a: &Value, b: &Value| {
        if a.is_null() && b.is_null() {
            return;
        }
        let (a, b) = (numbers(a), numbers(b));
        assert_eq!(a.len(), b.len(), "{stem} {what}");
        for (x, y) in a.iter().zip(&b) {
            assert!(
                (x - y).abs() <= 1e-6 * y.abs().max(1e-12) || (x - y).abs() < 1e-15,
                "{stem} {what}: torch {x}, nodegrad {y}"
            );
            if y.abs() > 1e-12 {
                worst = worst.max((x - y).abs() / y.abs());
            }
            compared += 1;
        }
    };
    for n in nodes {
        let name = n["name"].as_str().unwrap();
        let t = theirs
            .iter()
            .find(|t| t["name"] == n["name"])
            .unwrap_or_else(|| panic!("{stem}: torch has no node {name}"));
        assert_eq!(t["shape"], n["shape"], "{stem} {name}");
        check(format!("{name} value"), &t["value"], &n["value"]);
        check(format!("{name} grad"), &t["grad"], &n["grad"]);
        if let Some(params) = n["params"].as_object() {
            for (k, p) in params {
                // BatchNorm's running statistics are buffers in PyTorch: no gradient.
                if k.starts_with("running_") {
                    assert!(t["params"][k]["grad"].is_null(), "{stem} {name}.{k}");
                    check(
                        format!("{name}.{k} value"),
                        &t["params"][k]["value"],
                        &p["value"],
                    );
                    continue;
                }
                check(
                    format!("{name}.{k} value"),
                    &t["params"][k]["value"],
                    &p["value"],
                );
                check(
                    format!("{name}.{k} grad"),
                    &t["params"][k]["grad"],
                    &p["grad"],
                );
            }
        }
    }
    (compared, worst)
}

/// Every op of the catalogue in one graph (74 nodes: a vector broadcast against a matrix,
/// every MatMul form, Concat of scalars and of vectors, Conv2d with same and explicit
/// padding, pools on [H, W] and [C, H, W], BatchNorm with stored statistics, every loss with
/// both CrossEntropy targets), summed into one output.
const ALL_OPS: &str = r#"#![enable(implicit_some)]
(
    version: 1,
    title: "Every op, for the export tests",
    output: "total",
    seed: 7,
    nodes: [
        (id: 1, name: "x", op: Input, value: Vector([0.5, -1.2, 2.0, 0.3])),
        (id: 2, name: "img", op: Input, value: Tensor(shape: [5, 5], data: [-1.1, -0.387, 0.326, 1.039, -0.748, -0.035, 0.678, 1.391, -0.396, 0.317, 1.03, -0.757, -0.044, 0.669, 1.382, -0.405, 0.308, 1.021, -0.766, -0.053, 0.66, 1.373, -0.414, 0.299, 1.012])),
        (id: 3, name: "t", op: Input, value: Vector([0.2, 0.7, 0.1])),
        (id: 4, name: "cls", op: Input, value: Scalar(2.0)),
        (id: 5, name: "yb", op: Input, value: Vector([1.0, 0.0, 1.0])),
        (id: 6, name: "c", op: Constant, value: Vector([1.5, 2.0, 0.5, 3.0])),
        (id: 7, name: "W", op: Parameter(init: Zeros), value: Tensor(shape: [4, 3], data: [0.1, -0.2, 0.3, 0.4, 0.5, -0.6, 0.7, 0.8, 0.9, -1.0, 1.1, 1.2])),
        (id: 8, name: "M", op: Parameter(init: Zeros), value: Tensor(shape: [2, 4], data: [0.3, -0.1, 0.2, 0.5, -0.4, 0.6, 0.1, -0.2])),
        (id: 9, name: "add", op: Add, inputs: {"lhs": "x", "rhs": "c"}),
        (id: 10, name: "sub", op: Sub, inputs: {"lhs": "x", "rhs": "c"}),
        (id: 11, name: "mul", op: Mul, inputs: {"lhs": "x", "rhs": "c"}),
        (id: 12, name: "div", op: Div, inputs: {"lhs": "x", "rhs": "c"}),
        (id: 13, name: "neg", op: Neg, inputs: {"x": "x"}),
        (id: 14, name: "sq", op: Pow(exponent: 2.0), inputs: {"x": "x"}),
        (id: 15, name: "ex", op: Exp, inputs: {"x": "x"}),
        (id: 16, name: "lg", op: Log, inputs: {"x": "ex"}),
        (id: 17, name: "sq_root", op: Sqrt, inputs: {"x": "c"}),
        (id: 18, name: "mul2", op: Mul, inputs: {"lhs": "x", "rhs": "sq_root"}),
        (id: 19, name: "ab", op: Abs, inputs: {"x": "x"}),
        (id: 20, name: "sc", op: Scale(factor: 3.0), inputs: {"x": "x"}),
        (id: 21, name: "bm", op: Add, inputs: {"lhs": "x", "rhs": "M"}),
        (id: 22, name: "mv", op: MatMul, inputs: {"lhs": "bm", "rhs": "x"}),
        (id: 23, name: "tr", op: Transpose, inputs: {"x": "bm"}),
        (id: 24, name: "vm", op: MatMul, inputs: {"lhs": "x", "rhs": "tr"}),
        (id: 25, name: "xw", op: MatMul, inputs: {"lhs": "sub", "rhs": "W"}),
        (id: 26, name: "dot", op: MatMul, inputs: {"lhs": "x", "rhs": "c"}),
        (id: 27, name: "dot2", op: MatMul, inputs: {"lhs": "c", "rhs": "x"}),
        (id: 28, name: "s_ax", op: Sum(axis: 0), inputs: {"x": "bm"}),
        (id: 29, name: "m_all", op: Mean(axis: None), inputs: {"x": "bm"}),
        (id: 30, name: "rs", op: Reshape(shape: [2, -1]), inputs: {"x": "tr"}),
        (id: 31, name: "fl", op: Flatten, inputs: {"x": "rs"}),
        (id: 32, name: "cat", op: Concat(inputs: 3, axis: 0), inputs: {"in1": "xw", "in2": "mv", "in3": "vm"}),
        (id: 33, name: "cat_s", op: Concat(inputs: 2, axis: -1), inputs: {"in1": "dot", "in2": "m_all"}),
        (id: 34, name: "dense", op: Dense(units: 3, init: XavierUniform), inputs: {"x": "fl"}),
        (id: 35, name: "dense_s", op: Dense(units: 2, init: XavierUniform), inputs: {"x": "dot"}),
        (id: 36, name: "relu", op: ReLU, inputs: {"x": "dense"}),
        (id: 37, name: "sig", op: Sigmoid, inputs: {"x": "xw"}),
        (id: 38, name: "th", op: Tanh, inputs: {"x": "cat"}),
        (id: 39, name: "lrelu", op: LeakyReLU(alpha: 0.1), inputs: {"x": "sub"}),
        (id: 40, name: "prelu", op: PReLU(init_alpha: 0.25), inputs: {"x": "sub"}),
        (id: 41, name: "step", op: Step, inputs: {"x": "sub"}),
        (id: 42, name: "ident", op: Identity, inputs: {"x": "mul"}),
        (id: 43, name: "drop", op: Dropout(p: 0.5), inputs: {"x": "div"}),
        (id: 44, name: "bn", op: BatchNorm(momentum: 0.1), params: {"beta": Vector([0.1, 0.0, -0.1]), "gamma": Vector([1.0, 0.5, 2.0]), "running_mean": Vector([0.1, -0.2, 0.3]), "running_var": Vector([0.5, 2.0, 1.5])}, inputs: {"x": "xw"}),
        (id: 45, name: "smx", op: Softmax, inputs: {"x": "xw"}),
        (id: 46, name: "feat", op: Concat(inputs: 10, axis: 0), inputs: {"in1": "add", "in2": "neg", "in3": "sq", "in4": "lg", "in5": "ab", "in6": "sc", "in7": "lrelu", "in8": "step", "in9": "ident", "in10": "mul2"}),
        (id: 47, name: "dense_f", op: Dense(units: 3, init: XavierUniform), inputs: {"x": "feat"}),
        (id: 48, name: "conv", op: Conv2d(filters: 2, kernel: 3, stride: 1, padding: Same, bias: true, init: HeUniform), inputs: {"x": "img"}),
        (id: 49, name: "conv_s", op: Conv2d(filters: 1, kernel: 2, stride: 2, padding: Explicit(1), bias: false, init: HeUniform), inputs: {"x": "conv"}),
        (id: 50, name: "ap", op: AvgPool2d(kernel: 2, stride: 1), inputs: {"x": "conv"}),
        (id: 51, name: "bn2", op: BatchNorm(momentum: 0.1), inputs: {"x": "ap"}),
        (id: 52, name: "mp", op: MaxPool2d(kernel: 2, stride: 2), inputs: {"x": "img"}),
        (id: 53, name: "ap2", op: AvgPool2d(kernel: 2, stride: 2), inputs: {"x": "img"}),
        (id: 54, name: "mse", op: MSE, inputs: {"pred": "dense_f", "target": "t"}),
        (id: 55, name: "l1", op: L1, inputs: {"pred": "prelu", "target": "c"}),
        (id: 56, name: "bce", op: BCE, inputs: {"pred": "sig", "target": "yb"}),
        (id: 57, name: "ce_i", op: CrossEntropy, inputs: {"logits": "dense", "target": "cls"}),
        (id: 58, name: "ce_o", op: CrossEntropy, inputs: {"logits": "dense", "target": "t"}),
        (id: 59, name: "s_img", op: Sum(axis: None), inputs: {"x": "conv_s"}),
        (id: 60, name: "s_bn2", op: Sum(axis: None), inputs: {"x": "bn2"}),
        (id: 61, name: "s_mp", op: Sum(axis: None), inputs: {"x": "mp"}),
        (id: 62, name: "s_ap2", op: Mean(axis: None), inputs: {"x": "ap2"}),
        (id: 63, name: "s_th", op: Sum(axis: None), inputs: {"x": "th"}),
        (id: 64, name: "s_bn", op: Sum(axis: None), inputs: {"x": "bn"}),
        (id: 65, name: "s_drop", op: Sum(axis: None), inputs: {"x": "drop"}),
        (id: 66, name: "s_relu", op: Sum(axis: None), inputs: {"x": "relu"}),
        (id: 67, name: "s_smx", op: Mean(axis: 0), inputs: {"x": "smx"}),
        (id: 68, name: "s_cat", op: Sum(axis: None), inputs: {"x": "cat_s"}),
        (id: 69, name: "s_dense", op: Sum(axis: None), inputs: {"x": "dense_s"}),
        (id: 70, name: "s_rs", op: Sum(axis: -1), inputs: {"x": "rs"}),
        (id: 71, name: "s_sax", op: Sum(axis: None), inputs: {"x": "s_ax"}),
        (id: 72, name: "s_rs2", op: Sum(axis: None), inputs: {"x": "s_rs"}),
        (id: 73, name: "heads", op: Concat(inputs: 19, axis: 0), inputs: {"in1": "mse", "in2": "l1", "in3": "bce", "in4": "ce_i", "in5": "ce_o", "in6": "dot2", "in7": "s_img", "in8": "s_bn2", "in9": "s_mp", "in10": "s_ap2", "in11": "s_th", "in12": "s_bn", "in13": "s_drop", "in14": "s_relu", "in15": "s_smx", "in16": "s_cat", "in17": "s_dense", "in18": "s_rs2", "in19": "s_sax"}),
        (id: 74, name: "total", op: Sum(axis: None), inputs: {"x": "heads"}),
    ],
)
"#;

fn all_ops_project(dir: &Path) -> PathBuf {
    let path = dir.join("all_ops.ron");
    std::fs::write(&path, ALL_OPS).unwrap();
    path
}

/// A second sample for the batch: every Input's values changed a little.
fn shifted(graph: &Graph) -> Graph {
    let mut g = graph.clone();
    for name in ["x", "img", "t", "yb"] {
        let a = g.find(name).unwrap().value().unwrap().clone();
        let data: Vec<f64> = a
            .data()
            .iter()
            .enumerate()
            .map(|(i, v)| v * 0.9 + 0.05 * (i % 3) as f64)
            .collect();
        g.set_value_by_name(name, Array::new(a.shape().to_vec(), data).unwrap())
            .unwrap();
    }
    g.set_value_by_name("cls", Array::scalar(0.0)).unwrap();
    g
}

/// The batch of both samples of `graphs` as the feeds file of the scripts: input ->
/// {shape: [2, ...], value}.
fn batch_feeds(graphs: &[Graph], inputs: &[String], path: &Path) {
    let doc: serde_json::Map<String, Value> = inputs
        .iter()
        .map(|n| {
            let rows: Vec<&Array> = graphs
                .iter()
                .map(|g| g.find(n).unwrap().value().unwrap())
                .collect();
            let mut shape = vec![rows.len()];
            shape.extend(rows[0].shape());
            let values: Vec<f64> = rows.iter().flat_map(|a| a.data().to_vec()).collect();
            (
                n.clone(),
                serde_json::json!({"shape": shape, "value": values}),
            )
        })
        .collect();
    std::fs::write(path, serde_json::to_vec(&doc).unwrap()).unwrap();
}

/// Compares every computed node of `graphs[0]` in `got` (node -> values, a row per sample
/// or one row for values that depend on no Input) with nodegrad's evaluation of each
/// sample; returns (nodes, numbers) compared.
fn compare_rows(
    graphs: &[Graph],
    evals: &[Evaluation],
    got: &serde_json::Map<String, Value>,
    close: impl Fn(f64, f64) -> bool,
    what: &str,
) -> (usize, usize) {
    let (mut seen, mut compared) = (0usize, 0usize);
    for node in graphs[0].nodes() {
        if node.op.is_source() {
            continue;
        }
        let v = got
            .get(&node.name)
            .unwrap_or_else(|| panic!("{what} has no value {}", node.name));
        let values = numbers(&v["value"]);
        let per = evals[0].nodes[&node.id].value.len();
        // Values that depend on no Input have no batch axis (ONNX) or one of size 1.
        let rows = values.len() / per;
        assert!(
            rows == 1 || rows == graphs.len(),
            "{what} {}: {} values",
            node.name,
            values.len()
        );
        for (row, eval) in evals.iter().enumerate().take(rows) {
            let want = value_of(&graphs[row], eval, &node.name);
            for (g, w) in values[row * per..(row + 1) * per].iter().zip(want.data()) {
                assert!(
                    close(*g, *w),
                    "{} sample {row}: {what} {g}, nodegrad {w}",
                    node.name
                );
                compared += 1;
            }
        }
        seen += 1;
    }
    (seen, compared)
}

/// Every node's value from onnxruntime, for a batch of two different samples, equals
/// nodegrad's evaluation of each sample (the batch axis never mixes samples).
#[test]
fn onnx_computes_every_op_like_nodegrad_sample_by_sample() {
    if !tools_or_skip(
        "onnx, onnxruntime, numpy",
        "NODEGRAD_REQUIRE_ONNX",
        "the all-ops ONNX check",
    ) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let project = Project::load(&all_ops_project(dir.path())).unwrap();
    let graphs = [project.graph.clone(), shifted(&project.graph)];
    let evals: Vec<Evaluation> = graphs.iter().map(evaluate).collect();
    let model = dir.path().join("all.onnx");
    let summary = onnx_export::write(&graphs[0], true, &model).unwrap();
    assert!(summary.outputs.len() > 10, "{:?}", summary.outputs);
    let feeds_path = model.with_extension("feeds.json");
    batch_feeds(&graphs, &summary.inputs, &feeds_path);
    let out = run_python(&[
        &script(),
        &model.display().to_string(),
        &feeds_path.display().to_string(),
        "--all",
    ]);
    let got: serde_json::Map<String, Value> = serde_json::from_str(&out).unwrap();
    let (seen, compared) = compare_rows(&graphs, &evals, &got, close_f32, "onnxruntime");
    eprintln!(
        "all ops: {seen} nodes, {compared} numbers of 2 samples equal nodegrad's (f32 tolerance)"
    );
    assert_eq!(seen, 66);
}

/// The same graph as PyTorch code: every node's value and gradient and every weight's
/// equal `nodegrad eval --json` (rel 1e-6, float64).
#[test]
fn pytorch_computes_every_op_like_nodegrad() {
    if !tools_or_skip(
        "torch",
        "NODEGRAD_REQUIRE_TORCH",
        "the all-ops PyTorch comparison",
    ) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = all_ops_project(dir.path());
    let (compared, worst) = compare_with_torch(&path, dir.path());
    eprintln!(
        "all ops, PyTorch vs nodegrad eval --json: {compared} numbers, worst relative difference {worst:e}"
    );
    assert!(compared > 500, "{compared}");
    // A batch of two different samples: each row is that sample's values.
    let project = Project::load(&path).unwrap();
    let graphs = [project.graph.clone(), shifted(&project.graph)];
    let evals: Vec<Evaluation> = graphs.iter().map(evaluate).collect();
    let py = dir.path().join("all_ops.py");
    let feeds = dir.path().join("batch.json");
    let inputs: Vec<String> = ["x", "img", "t", "cls", "yb"].map(String::from).to_vec();
    batch_feeds(&graphs, &inputs, &feeds);
    let runner = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scripts/pytorch_batch.py");
    let out = run_python(&[
        &runner.display().to_string(),
        &py.display().to_string(),
        &feeds.display().to_string(),
    ]);
    let got: serde_json::Map<String, Value> = serde_json::from_str(&out).unwrap();
    let rel = |g: f64, w: f64| (g - w).abs() <= 1e-9 * w.abs().max(1.0);
    let (seen, compared) = compare_rows(&graphs, &evals, &got, rel, "PyTorch");
    eprintln!(
        "all ops, PyTorch on a batch of 2: {seen} nodes, {compared} numbers equal nodegrad's"
    );
    assert_eq!(seen, 66);
}

#[test]
fn the_cli_exports_and_refuses_by_node_name() {
    let dir = tempfile::tempdir().unwrap();
    let bin = env!("CARGO_BIN_EXE_nodegrad");
    let file = common::project_path("xor-train.ron");
    let onnx = dir.path().join("xor.onnx");
    let out = Command::new(bin)
        .args(["export", &file.display().to_string(), "--to", "onnx", "-o"])
        .arg(&onnx)
        .arg("--with-loss")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("outputs y_hat, loss"), "{text}");
    assert!(std::fs::metadata(&onnx).unwrap().len() > 100);
    let py = dir.path().join("xor.py");
    let out = Command::new(bin)
        .args([
            "export",
            &file.display().to_string(),
            "--to",
            "pytorch",
            "-o",
        ])
        .arg(&py)
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(dir.path().join("xor.csv").exists());
    // A Concat of an Input and a Constant has no batch-safe ONNX form: refused by name,
    // and no file appears.
    let bad = dir.path().join("bad.ron");
    std::fs::write(
        &bad,
        "(version: 1, nodes: [
            (id: 1, name: \"x\", op: Input, value: Vector([1.0, 2.0])),
            (id: 2, name: \"c\", op: Constant, value: Vector([3.0])),
            (id: 3, name: \"joined\", op: Concat(inputs: 2, axis: 0),
             inputs: {\"in1\": \"x\", \"in2\": \"c\"}),
        ])",
    )
    .unwrap();
    let bad_onnx = dir.path().join("bad.onnx");
    let out = Command::new(bin)
        .args(["export", &bad.display().to_string(), "--to", "onnx", "-o"])
        .arg(&bad_onnx)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("node 'joined' (Concat): not exportable to ONNX because"),
        "{err}"
    );
    assert!(!bad_onnx.exists());
}

fn app(file: &Path, storage: &Path, size: [f32; 2]) -> Harness<'static, NodegradApp> {
    let config = AppConfig {
        file: Some(file.to_path_buf()),
        storage_dir: Some(storage.to_path_buf()),
        ..AppConfig::default()
    };
    let mut h = Harness::builder()
        .with_size(size)
        .with_max_steps(40)
        .build_eframe(move |cc| NodegradApp::new(cc, config.clone()));
    h.run_ok();
    h
}

/// File > Export opens a submenu with the three entries.
fn open_export_menu(h: &mut Harness<'static, NodegradApp>) {
    h.get_by_label("File").click();
    h.run_ok();
    h.query_all_by_label_contains("Export")
        .next()
        .unwrap()
        .hover();
    h.run_ok();
    for entry in ["PyTorch code…", "ONNX…", "ONNX with losses…"] {
        assert!(h.query_by_label(entry).is_some(), "{entry}");
    }
}

#[test]
fn file_export_writes_the_files_and_says_so() {
    use nodegrad::ui::app::AppCommand;
    let storage = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let file = common::project_path("xor-train.ron");
    let mut results = egui_kittest::SnapshotResults::new();
    let mut large = app(&file, storage.path(), [1920.0, 1080.0]);
    open_export_menu(&mut large);
    // A few antialiased pixels differ between runs on lavapipe.
    let options = egui_kittest::SnapshotOptions::new().max_failed_pixels(400usize);
    large.snapshot_options("export_menu_1920", &options);
    results.extend_harness(&mut large);
    let mut h = app(&file, storage.path(), [1280.0, 720.0]);
    open_export_menu(&mut h);
    h.snapshot_options("export_menu", &options);
    results.extend_harness(&mut h);
    h.key_press(egui::Key::Escape);
    h.run_ok();
    // The dialog is bypassed with a path, as the Open/Save tests do.
    let py = out.path().join("xor.py");
    h.state_mut()
        .commands
        .push(AppCommand::ExportPytorch(Some(py.clone())));
    h.run_ok();
    assert!(py.exists() && out.path().join("xor.csv").exists());
    let status = h.state().message.clone();
    assert!(
        status.starts_with("exported") && status.ends_with("xor.py (+ xor.csv)"),
        "{status}"
    );
    assert!(h.query_by_label_contains("xor.py (+ xor.csv)").is_some());
    let onnx = out.path().join("xor.onnx");
    h.state_mut().commands.push(AppCommand::ExportOnnx {
        path: Some(onnx.clone()),
        with_loss: false,
    });
    h.run_ok();
    assert!(onnx.exists());
    let status = h.state().message.clone();
    assert!(
        status.ends_with("(ONNX: inputs x, outputs y_hat)"),
        "{status}"
    );
    // Nowhere to write: the status says why, and nothing appears.
    let nowhere = out.path().join("missing-dir").join("x.onnx");
    h.state_mut().commands.push(AppCommand::ExportOnnx {
        path: Some(nowhere.clone()),
        with_loss: true,
    });
    h.run_ok();
    let status = h.state().message.clone();
    assert!(
        status.starts_with(&format!("Not exported: cannot write {}", nowhere.display())),
        "{status}"
    );
    assert!(
        h.query_by_label_contains("Not exported: cannot write")
            .is_some()
    );
    assert!(!nowhere.exists() && !nowhere.parent().unwrap().exists());
}
