//! ONNX import (issue 17): the fixtures that scripts/make_onnx_fixtures.py builds import
//! with their names kept, evaluate to onnxruntime's numbers, lay out without overlapping
//! cards; unsupported ops and attributes are listed by node; hostile files get messages,
//! never a panic; the CLI never replaces a file unasked; File > Import ONNX… in the window.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use nodegrad::graph::{Array, Graph, NodeId, Op};
use nodegrad::interop::onnx_import::{self, ImportError, layout, limits};
use onnx_ir::{Message, ModelProto};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/onnx")
        .join(format!("{name}.onnx"))
}

fn import(name: &str) -> Graph {
    onnx_import::import_file(&fixture(name))
        .unwrap_or_else(|e| panic!("{name}: {e}"))
        .graph
}

fn names(g: &Graph) -> BTreeSet<String> {
    g.nodes().map(|n| n.name.clone()).collect()
}

fn op_of<'a>(g: &'a Graph, name: &str) -> &'a Op {
    &g.find(name)
        .unwrap_or_else(|| panic!("no node {name}: {:?}", names(g)))
        .op
}

/// A Python with onnxruntime: $NODEGRAD_PYTHON, the project venv, or python3.
fn onnxruntime_python() -> Option<String> {
    let candidates = [
        std::env::var("NODEGRAD_PYTHON").ok(),
        Some("/cache/pyenv/bin/python".to_string()),
        Some("python3".to_string()),
    ];
    candidates.into_iter().flatten().find(|py| {
        Command::new(py)
            .args(["-c", "import onnxruntime, numpy"])
            .output()
            .is_ok_and(|o| o.status.success())
    })
}

/// Runs the model in onnxruntime with every node's output added as a graph output, so each
/// intermediate value can be compared too; prints {value name: flat values}.
const RUN_ORT: &str = r#"
import json, sys
import numpy as np
import onnx
import onnxruntime as ort
model, feeds = onnx.load(sys.argv[1]), json.load(sys.stdin)
have = {o.name for o in model.graph.output}
for n in model.graph.node:
    for o in n.output:
        if o and o not in have:
            model.graph.output.append(onnx.ValueInfoProto(name=o))
            have.add(o)
sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
inputs = {k: np.array(v["data"], dtype=np.float32).reshape([1] + v["shape"]) for k, v in feeds.items()}
outs = sess.run(None, inputs)
names = [o.name for o in sess.get_outputs()]
print(json.dumps({k: o.astype(np.float64).ravel().tolist() for k, o in zip(names, outs)}))
"#;

/// onnxruntime's outputs for a batch of one sample (the graph's Input values by ONNX
/// name); `None` (after saying so loudly) where onnxruntime is missing, a failure where
/// NODEGRAD_REQUIRE_ONNX=1.
fn onnxruntime_outputs(
    model: &Path,
    feeds: &[(String, &Array)],
) -> Option<BTreeMap<String, Vec<f64>>> {
    let Some(py) = onnxruntime_python() else {
        assert!(
            std::env::var("NODEGRAD_REQUIRE_ONNX").as_deref() != Ok("1"),
            "NODEGRAD_REQUIRE_ONNX=1 but no Python with onnxruntime (set NODEGRAD_PYTHON)"
        );
        eprintln!(
            "\n*** SKIPPED the onnxruntime comparison for {}: no Python with onnxruntime and \
             numpy (pip install onnxruntime numpy, or set NODEGRAD_PYTHON) ***\n",
            model.display()
        );
        return None;
    };
    let json = feeds
        .iter()
        .map(|(k, a)| {
            let data: Vec<String> = a.data().iter().map(|v| format!("{v:e}")).collect();
            let shape: Vec<String> = a.shape().iter().map(|d| d.to_string()).collect();
            format!(
                "\"{k}\": {{\"data\": [{}], \"shape\": [{}]}}",
                data.join(","),
                shape.join(",")
            )
        })
        .collect::<Vec<_>>()
        .join(",");
    let mut child = Command::new(&py)
        .args(["-c", RUN_ORT])
        .arg(model)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("python starts");
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{{{json}}}").as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "onnxruntime failed on {}: {}",
        model.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let parsed: BTreeMap<String, Vec<f64>> =
        serde_json::from_slice(&out.stdout).expect("onnxruntime's JSON");
    Some(parsed)
}

/// Imports `name`, evaluates it with nodegrad (CPU, f64) on the importer's sample inputs and
/// compares the output node's values with onnxruntime's (f32) on the same inputs.
fn compare_with_onnxruntime(name: &str, output: &str, inputs: &[(&str, &str)]) -> Graph {
    let g = import(name);
    let eval = common::eval_cpu(&g);
    let out = g.find(output).expect("output node");
    assert_eq!(
        g.output,
        Some(out.id),
        "{name}: the graph output is {output}"
    );
    let ours = eval.nodes[&out.id].value.clone();
    let feeds: Vec<(String, &Array)> = inputs
        .iter()
        .map(|(onnx, node)| {
            let n = g.find(node).unwrap();
            assert_eq!(n.op, Op::Input, "{node} is an Input");
            (onnx.to_string(), n.value().unwrap())
        })
        .collect();
    // The sample inputs are not all zeros: the comparison means something.
    for (_, a) in &feeds {
        let (lo, _, hi) = a.min_mean_max();
        assert!(hi > lo, "{name}: the sample input varies");
    }
    if let Some(theirs) = onnxruntime_outputs(&fixture(name), &feeds) {
        // Every ONNX value that is a node of the graph (under its sanitized name) has
        // onnxruntime's numbers; the output is one of them.
        let mut compared = Vec::new();
        for (value, want) in &theirs {
            let Some(node) = g.find(&onnx_import::sanitize(value)) else {
                continue;
            };
            let got = &eval.nodes[&node.id].value;
            assert_eq!(got.len(), want.len(), "{name}: size of {value}");
            for (i, (a, b)) in got.data().iter().zip(want).enumerate() {
                common::assert_close(*a, *b, 1e-4, &format!("{name}: {value}[{i}]"));
            }
            compared.push(node.name.clone());
        }
        assert!(
            compared.iter().any(|n| n == output),
            "{name}: the output was compared"
        );
        eprintln!(
            "{name}: {} values match onnxruntime (output {output}: {} numbers): {}",
            compared.len(),
            ours.len(),
            compared.join(", ")
        );
    }
    g
}

/// No two cards' estimated rectangles overlap.
fn assert_no_overlap(g: &Graph, what: &str) {
    let rects: Vec<(String, [f32; 4])> = g
        .nodes()
        .map(|n| {
            let h = layout::card_height(&n.op);
            (
                n.name.clone(),
                [n.pos[0], n.pos[1], n.pos[0] + 280.0, n.pos[1] + h],
            )
        })
        .collect();
    for (i, (a, ra)) in rects.iter().enumerate() {
        for (b, rb) in &rects[i + 1..] {
            let apart = ra[2] <= rb[0] || rb[2] <= ra[0] || ra[3] <= rb[1] || rb[3] <= ra[1];
            assert!(apart, "{what}: cards {a} {ra:?} and {b} {rb:?} overlap");
        }
    }
}

#[test]
fn pytorch_style_gemm_mlp_imports_with_its_names_and_matches_onnxruntime() {
    let g = compare_with_onnxruntime("mlp_gemm", "output", &[("input", "input")]);
    // PyTorch's value names, with the characters nodegrad forbids made `_`.
    let want: BTreeSet<String> = ["input", "fc1_Gemm_output_0", "relu_Relu_output_0", "output"]
        .map(String::from)
        .into();
    assert_eq!(names(&g), want);
    // Gemm transB=1 -> Dense with the weight transposed to nodegrad's [n, units].
    let fc1 = g.find("fc1_Gemm_output_0").unwrap();
    assert!(matches!(fc1.op, Op::Dense { units: 8, .. }));
    assert_eq!(fc1.tensors["weight"].shape(), &[4, 8]);
    assert_eq!(g.find("input").unwrap().value().unwrap().shape(), &[4]);
    assert_no_overlap(&g, "mlp_gemm");
}

#[test]
fn names_are_sanitized_only_where_nodegrad_forbids_characters_and_stay_unique() {
    assert_eq!(
        onnx_import::sanitize("/fc1/Gemm_output_0"),
        "fc1_Gemm_output_0"
    );
    assert_eq!(onnx_import::sanitize("input.1"), "input_1");
    assert_eq!(onnx_import::sanitize("23"), "v23");
    assert_eq!(onnx_import::sanitize("conv1"), "conv1");
    assert_eq!(onnx_import::sanitize("::"), "value");
    // Two ONNX values that sanitize alike get distinct nodes.
    let mut m = model("mlp_gemm");
    let g = m.graph.as_mut().unwrap();
    g.node[1].output[0] = "fc1.Gemm_output_0".into();
    g.node[2].input[0] = "fc1.Gemm_output_0".into();
    let g = import_model(&m).unwrap();
    assert!(matches!(op_of(&g, "fc1_Gemm_output_0"), Op::Dense { .. }));
    assert_eq!(op_of(&g, "fc1_Gemm_output_0_2"), &Op::ReLU);
    let p = onnx_import::import_bytes(&m.write_to_bytes().unwrap(), "t").unwrap();
    assert_eq!(
        p.description,
        "Imported from the ONNX model t (made by make_onnx_fixtures)."
    );
}

#[test]
fn matmul_add_mlp_imports_as_dense_layers_and_matches_onnxruntime() {
    let g = compare_with_onnxruntime("mlp_matmul_add", "y", &[("x", "x")]);
    // Each MatMul + Add pair is one Dense named after the Add's value.
    assert_eq!(
        names(&g),
        ["x", "h1", "a1", "h2", "y"].map(String::from).into()
    );
    assert!(matches!(op_of(&g, "h1"), Op::Dense { units: 5, .. }));
    assert!(matches!(op_of(&g, "h2"), Op::Dense { units: 2, .. }));
    assert_no_overlap(&g, "mlp_matmul_add");
}

#[test]
fn small_cnn_imports_and_matches_onnxruntime() {
    let g = compare_with_onnxruntime("cnn", "probs", &[("image", "image")]);
    assert_eq!(
        names(&g),
        [
            "image", "conv1", "relu1", "pool1", "conv2", "relu2", "flat", "logits", "probs"
        ]
        .map(String::from)
        .into()
    );
    assert!(matches!(
        op_of(&g, "conv1"),
        Op::Conv2d {
            filters: 4,
            kernel: 3,
            stride: 1,
            padding: nodegrad::graph::ops::Padding::Explicit(1),
            bias: true,
            ..
        }
    ));
    assert!(matches!(op_of(&g, "conv2"), Op::Conv2d { bias: false, .. }));
    assert_eq!(
        op_of(&g, "pool1"),
        &Op::MaxPool2d {
            kernel: 2,
            stride: 2
        }
    );
    assert_eq!(
        g.find("image").unwrap().value().unwrap().shape(),
        &[1, 8, 8]
    );
    assert_no_overlap(&g, "cnn");
}

#[test]
fn batchnorm_model_imports_and_matches_onnxruntime() {
    let g = compare_with_onnxruntime("batchnorm", "out", &[("x", "x")]);
    // ONNX momentum 0.9 (running = 0.9 running + 0.1 batch) is nodegrad's 0.1.
    match op_of(&g, "bn1") {
        Op::BatchNorm { momentum } => assert!((momentum - 0.1).abs() < 1e-6, "{momentum}"),
        other => panic!("bn1 is {other:?}"),
    }
    assert!(matches!(op_of(&g, "drop"), Op::Dropout { p } if (p - 0.3).abs() < 1e-6));
    assert_eq!(op_of(&g, "out"), &Op::Identity);
    assert!(matches!(op_of(&g, "leaky"), Op::LeakyReLU { alpha } if (alpha - 0.1).abs() < 1e-6));
    assert_eq!(
        op_of(&g, "avg"),
        &Op::AvgPool2d {
            kernel: 2,
            stride: 2
        }
    );
    assert_eq!(g.find("bn2").unwrap().tensors["running_var"].shape(), &[4]);
    assert_no_overlap(&g, "batchnorm");
}

#[test]
fn every_other_listed_op_imports_and_matches_onnxruntime() {
    let g = compare_with_onnxruntime("elementwise", "probs", &[("x", "x")]);
    let expect = [
        ("abs", "Abs"),
        ("shifted", "Add"),
        ("log", "Log"),
        ("sqrt", "Sqrt"),
        ("pow", "Pow"),
        ("mul", "Mul"),
        ("div", "Div"),
        ("neg", "Neg"),
        ("exp", "Exp"),
        ("sub", "Sub"),
        ("prelu", "PReLU"),
        ("grid", "Reshape"),
        ("gridT", "Transpose"),
        ("gram", "MatMul"),
        ("rowsum", "Sum"),
        ("colmean_reduced", "Mean"),
        ("colmean", "Reshape"),
        ("colflat", "Flatten"),
        ("joined", "Concat"),
        ("sig", "Sigmoid"),
        ("tanh", "Tanh"),
        ("probs", "Softmax"),
        // The initializer beside a value is a Parameter named after it.
        ("one", "Parameter"),
    ];
    for (name, op) in expect {
        assert_eq!(op_of(&g, name).name(), op, "{name}");
    }
    assert_eq!(op_of(&g, "pow"), &Op::Pow { exponent: 0.5 });
    // Axes shift past the batch axis: ReduceSum axes=[2] of [N, 3, 3] is Sum over axis 1.
    assert_eq!(op_of(&g, "rowsum"), &Op::Sum { axis: Some(1) });
    assert_eq!(op_of(&g, "colmean_reduced"), &Op::Mean { axis: Some(0) });
    assert_eq!(op_of(&g, "grid"), &Op::Reshape { shape: vec![2, 3] });
    assert_no_overlap(&g, "elementwise");
}

#[test]
fn values_without_a_batch_axis_and_unsqueeze_import_and_match_onnxruntime() {
    let g = compare_with_onnxruntime("constants", "total", &[("x", "x")]);
    // The initializer W [3, 4] is transposed and exponentiated once, not per sample.
    assert_eq!(op_of(&g, "Wt"), &Op::Transpose);
    assert_eq!(g.find("W").unwrap().value().unwrap().shape(), &[3, 4]);
    assert_eq!(op_of(&g, "proj"), &Op::MatMul);
    // Unsqueeze axes=[1] of [N, 3] is a Reshape to [1, 3] per sample.
    assert_eq!(op_of(&g, "proj_row"), &Op::Reshape { shape: vec![1, 3] });
    // ReduceSum over axes 1 and 2 of [N, 2, 3] (keepdims): all of a sample, kept as [1, 1];
    // Squeeze axes [1, 2] removes them again.
    assert_eq!(op_of(&g, "total_k_reduced"), &Op::Sum { axis: None });
    assert_eq!(op_of(&g, "total_k"), &Op::Reshape { shape: vec![1, 1] });
    assert_eq!(op_of(&g, "total"), &Op::Reshape { shape: vec![] });
    assert_no_overlap(&g, "constants");
}

#[test]
fn unsupported_ops_and_attributes_are_all_listed_by_node() {
    let err = onnx_import::import_file(&fixture("unsupported")).unwrap_err();
    let text = err.to_string();
    for want in [
        "3 node(s) use ops nodegrad does not have: erf (Erf), norm (LpNormalization), top (TopK)",
        "node 'grouped' (Conv): attribute group: 2",
        "node 'grouped' (Conv): attribute dilations: [2, 2]",
        "node 'pool' (MaxPool): attribute kernel_shape: [2, 3] is not square",
        "node 'pool' (MaxPool): attribute pads: [0, 0, 1, 1]",
        "node 'pool' (MaxPool): attribute ceil_mode: 1",
    ] {
        assert!(text.contains(want), "missing {want:?} in:\n{text}");
    }
    assert_eq!(err.problems.len(), 6, "{text}");
    // The supported Gemm and Flatten are not in the list.
    assert!(
        !text.contains("(Gemm)") && !text.contains("(Flatten)"),
        "{text}"
    );
}

fn model(name: &str) -> ModelProto {
    ModelProto::parse_from_bytes(&std::fs::read(fixture(name)).unwrap()).unwrap()
}

fn import_model(m: &ModelProto) -> Result<Graph, ImportError> {
    onnx_import::import_bytes(&m.write_to_bytes().unwrap(), "hostile").map(|p| p.graph)
}

fn expect_error(m: &ModelProto, fragments: &[&str]) {
    let err = import_model(m).expect_err("a hostile model is refused");
    let text = err.to_string();
    for f in fragments {
        assert!(text.contains(f), "{f:?} not in: {text}");
    }
}

#[test]
fn hostile_models_get_messages_with_the_place_and_the_limit() {
    // A 1e9-element initializer that holds 8 values: refused by the element limit before
    // anything is allocated.
    let mut m = model("mlp_gemm");
    let g = m.graph.as_mut().unwrap();
    g.initializer[0].dims = vec![1_000_000_000];
    expect_error(
        &m,
        &[
            "initializer 'fc1.weight'",
            &limits::MAX_TENSOR_ELEMENTS.to_string(),
        ],
    );
    // Dims whose product overflows u64.
    let mut m = model("mlp_gemm");
    m.graph.as_mut().unwrap().initializer[0].dims = vec![1 << 40, 1 << 40, 1 << 40];
    expect_error(&m, &["initializer 'fc1.weight'", "more than"]);
    // Data shorter than its dims.
    let mut m = model("mlp_gemm");
    m.graph.as_mut().unwrap().initializer[1].dims = vec![9];
    expect_error(&m, &["initializer 'fc1.bias'", "need 36", "cut short"]);
    // A negative dimension.
    let mut m = model("mlp_gemm");
    m.graph.as_mut().unwrap().initializer[1].dims = vec![-8];
    expect_error(&m, &["initializer 'fc1.bias'", "negative dimension -8"]);
    // An input of a billion values per sample.
    let mut m = model("cnn");
    let input = &mut m.graph.as_mut().unwrap().input[0];
    let dims = &mut input
        .type_
        .as_mut()
        .unwrap()
        .mut_tensor_type()
        .shape
        .as_mut()
        .unwrap()
        .dim;
    dims[2].set_dim_value(100_000);
    dims[3].set_dim_value(100_000);
    expect_error(
        &m,
        &[
            "graph input 'image'",
            &limits::MAX_TENSOR_ELEMENTS.to_string(),
        ],
    );
    // A fixed batch of 4.
    let mut m = model("cnn");
    let input = &mut m.graph.as_mut().unwrap().input[0];
    let dims = &mut input
        .type_
        .as_mut()
        .unwrap()
        .mut_tensor_type()
        .shape
        .as_mut()
        .unwrap()
        .dim;
    dims[0].set_dim_value(4);
    expect_error(&m, &["graph input 'image' has a fixed batch of 4"]);
    // A missing input.
    let mut m = model("cnn");
    m.graph.as_mut().unwrap().node[1].input[0] = "nowhere".into();
    expect_error(&m, &["node 'relu1' (Relu) reads 'nowhere'", "no node"]);
    // A cycle: relu1 reads relu2, which depends on relu1.
    let mut m = model("cnn");
    m.graph.as_mut().unwrap().node[1].input[0] = "relu2".into();
    expect_error(&m, &["cycle", "'relu1'", "'conv2'"]);
    // A value written twice.
    let mut m = model("cnn");
    m.graph.as_mut().unwrap().node[4].output[0] = "relu1".into();
    expect_error(&m, &["value 'relu1' is written by two nodes"]);
    // A Conv weight that does not fit its input's channels.
    let mut m = model("cnn");
    let g = m.graph.as_mut().unwrap();
    let w = g
        .initializer
        .iter_mut()
        .find(|t| t.name == "conv2.weight")
        .unwrap();
    w.dims = vec![4, 6, 3, 3];
    w.float_data = vec![0.5; 4 * 6 * 9];
    w.raw_data = Default::default();
    expect_error(
        &m,
        &["node 'conv2' (Conv)", "weight has shape [4, 6, 3, 3]"],
    );
    // A NaN weight.
    let mut m = model("mlp_gemm");
    let t = &mut m.graph.as_mut().unwrap().initializer[1];
    t.float_data = vec![f32::NAN; 8];
    t.raw_data = Default::default();
    expect_error(&m, &["initializer 'fc1.bias' holds NaN"]);
    // Inputs that together hold more values than the limit, each within it.
    let mut m = model("mlp_gemm");
    let g = m.graph.as_mut().unwrap();
    let mut big = g.input[0].clone();
    let dims = &mut big
        .type_
        .as_mut()
        .unwrap()
        .mut_tensor_type()
        .shape
        .as_mut()
        .unwrap()
        .dim;
    dims[1].set_dim_value(1 << 22);
    for i in 0..9 {
        let mut extra = big.clone();
        extra.name = format!("extra{i}");
        g.input.push(extra);
    }
    expect_error(
        &m,
        &[
            &limits::MAX_TOTAL_ELEMENTS.to_string(),
            "at graph input 'extra",
        ],
    );
    // A Reshape to ten thousand axes.
    let mut m = model("elementwise");
    let g = m.graph.as_mut().unwrap();
    let shape = g
        .initializer
        .iter_mut()
        .find(|t| t.name == "shape")
        .unwrap();
    shape.dims = vec![10_000];
    shape.int64_data = vec![1; 10_000];
    shape.raw_data = Default::default();
    expect_error(&m, &["node 'grid' (Reshape)", "10000 entries", "limit"]);
    // No graph at all.
    expect_error(&ModelProto::new(), &["no graph"]);
}

#[test]
fn truncated_and_bit_flipped_fixtures_never_panic() {
    let mut tried = 0;
    let mut refused = 0;
    for name in [
        "mlp_gemm",
        "mlp_matmul_add",
        "cnn",
        "batchnorm",
        "elementwise",
        "constants",
        "unsupported",
    ] {
        let bytes = std::fs::read(fixture(name)).unwrap();
        let mut variants: Vec<Vec<u8>> = Vec::new();
        for cut in (0..bytes.len()).step_by(7) {
            variants.push(bytes[..cut].to_vec());
        }
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15 ^ bytes.len() as u64;
        for _ in 0..300 {
            let mut v = bytes.clone();
            for _ in 0..3 {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                let i = (state % v.len() as u64) as usize;
                v[i] ^= 1 << (state >> 60 & 7);
            }
            variants.push(v);
        }
        for v in variants {
            tried += 1;
            let result = std::panic::catch_unwind(|| onnx_import::import_bytes(&v, name));
            match result {
                Ok(Ok(project)) => {
                    // Whatever imports analyses without panicking too.
                    let _ = nodegrad::analysis::analyze(&project.graph);
                }
                Ok(Err(e)) => {
                    refused += 1;
                    assert!(!e.problems.is_empty() && !e.to_string().is_empty());
                }
                Err(_) => panic!("{name}: the importer panicked on damaged bytes"),
            }
        }
    }
    assert!(
        refused > tried / 4,
        "{refused} of {tried} damaged files refused"
    );
}

#[test]
fn cli_import_writes_the_project_and_never_replaces_a_file_unasked() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("cnn.ron");
    let run = |args: &[&str]| -> (i32, String, String) {
        let cli = <nodegrad::cli::Cli as clap::Parser>::try_parse_from(
            std::iter::once("nodegrad").chain(args.iter().copied()),
        )
        .unwrap();
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let code = nodegrad::cli::run(cli, &mut out, &mut err);
        (
            code,
            String::from_utf8(out).unwrap(),
            String::from_utf8(err).unwrap(),
        )
    };
    let model = fixture("cnn");
    let (m, t) = (model.to_str().unwrap(), target.to_str().unwrap());
    let (code, out, err) = run(&["import", m, "-o", t]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("imported 9 nodes"), "{out}");
    let saved = nodegrad::project::Project::load(&target).unwrap();
    assert_eq!(
        saved.graph,
        import("cnn"),
        "the file holds the imported graph"
    );
    assert_eq!(saved.title, "cnn");
    // A second import refuses to replace it...
    std::fs::write(&target, "keep me").unwrap();
    let (code, _, err) = run(&["import", m, "-o", t]);
    assert_eq!(code, 2);
    assert!(
        err.contains("exists already") && err.contains("--force"),
        "{err}"
    );
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "keep me");
    // ... unless asked.
    let (code, _, _) = run(&["import", m, "-o", t, "--force"]);
    assert_eq!(code, 0);
    assert!(nodegrad::project::Project::load(&target).is_ok());
    // A model that does not import writes nothing.
    let bad = dir.path().join("bad.ron");
    let unsupported = fixture("unsupported");
    let (code, _, err) = run(&[
        "import",
        unsupported.to_str().unwrap(),
        "-o",
        bad.to_str().unwrap(),
    ]);
    assert_eq!(code, 1);
    assert!(err.contains("erf (Erf)"), "{err}");
    assert!(!bad.exists());
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name())
        .filter(|n| n.to_string_lossy().contains("nodegrad-tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn importing_through_the_window_shows_the_cards_and_says_what_failed() {
    use egui_kittest::Harness;
    use egui_kittest::kittest::Queryable;
    use nodegrad::ui::app::AppCommand;
    use nodegrad::ui::{AppConfig, NodegradApp};

    let dir = tempfile::tempdir().unwrap();
    let config = AppConfig {
        storage_dir: Some(dir.path().to_path_buf()),
        window_size: Some([1280.0, 720.0]),
        ..AppConfig::default()
    };
    let mut h = Harness::builder()
        .with_size([1280.0, 720.0])
        .with_max_steps(40)
        .build_eframe(move |cc| NodegradApp::new(cc, config));
    h.run_steps(6);
    // The menu item is there.
    h.get_by_label("File").click();
    h.run_ok();
    assert!(
        h.query_by_label_contains("Import ONNX").is_some(),
        "File > Import ONNX… exists"
    );
    h.key_press(egui::Key::Escape);
    h.run_steps(2);

    h.state_mut()
        .commands
        .push(AppCommand::ImportOnnx(Some(fixture("cnn"))));
    h.run_steps(14);
    let app = h.state();
    assert_eq!(app.doc.display_name(), "cnn", "titled after the file");
    assert!(
        app.doc.is_dirty() && app.doc.path.is_none(),
        "a new unsaved project"
    );
    assert!(app.message.contains("imported"), "{}", app.message);
    let g = app.doc.graph().clone();
    // Every card is on screen with its name, and no two measured cards overlap.
    let ids: Vec<NodeId> = g.node_ids().collect();
    let rects: Vec<(String, egui::Rect)> = ids
        .iter()
        .map(|id| {
            let name = g.node(*id).unwrap().name.clone();
            let r = app
                .canvas
                .node_screen_rect(*id)
                .unwrap_or_else(|| panic!("card {name} is drawn"));
            (name, r)
        })
        .collect();
    for (i, (a, ra)) in rects.iter().enumerate() {
        for (b, rb) in &rects[i + 1..] {
            assert!(
                !ra.shrink(1.0).intersects(rb.shrink(1.0)),
                "cards {a} {ra:?} and {b} {rb:?} overlap on screen"
            );
        }
    }
    h.snapshot_options(
        "import-onnx-cnn-1280x720",
        &egui_kittest::SnapshotOptions::new().max_failed_pixels(1200),
    );
    // Every card, brought into view and selected, is on screen and the inspector names it
    // with its op.
    for (name, op) in [
        ("image", "Input"),
        ("conv1", "Conv2d"),
        ("relu1", "ReLU"),
        ("pool1", "MaxPool2d"),
        ("conv2", "Conv2d"),
        ("relu2", "ReLU"),
        ("flat", "Flatten"),
        ("logits", "Dense"),
        ("probs", "Softmax"),
    ] {
        let id = g.find(name).unwrap().id;
        h.state_mut().commands.push(AppCommand::Focus(id));
        h.run_ok();
        h.run_steps(10);
        let canvas = h
            .state()
            .layout
            .pane_rect(nodegrad::ui::layout::Pane::Canvas)
            .unwrap();
        let card = h.state().canvas.node_screen_rect(id).unwrap();
        assert!(canvas.contains_rect(card), "{name}: {card:?} in {canvas:?}");
        assert!(
            h.query_by_label(&format!("{name}  ({op})")).is_some(),
            "the inspector shows {name} ({op})"
        );
    }

    // A model with unsupported ops: the error lists them and the document stays.
    h.state_mut()
        .commands
        .push(AppCommand::ImportOnnx(Some(fixture("unsupported"))));
    h.run_ok();
    // The imported cnn is unsaved: the app asks first.
    assert!(
        h.query_by_label_contains("importing an ONNX model")
            .is_some(),
        "asks about the unsaved import"
    );
    h.state_mut().commands.push(AppCommand::ConfirmDiscard);
    h.run_ok();
    let app = h.state();
    let shown = app.load_error.clone().expect("the error is shown");
    assert!(
        shown.contains("erf (Erf)") && shown.contains("top (TopK)"),
        "{shown}"
    );
    assert_eq!(
        app.doc.graph(),
        &g,
        "a failed import keeps the open project"
    );
}

#[test]
fn a_larger_imported_model_reads_at_1920x1080_and_1280x720() {
    use egui_kittest::Harness;
    use nodegrad::ui::app::AppCommand;
    use nodegrad::ui::{AppConfig, NodegradApp};

    let mut results = egui_kittest::SnapshotResults::new();
    for (size, snap) in [
        ([1920.0, 1080.0], "import-onnx-elementwise-1920x1080"),
        ([1280.0, 720.0], "import-onnx-elementwise-1280x720"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let config = AppConfig {
            storage_dir: Some(dir.path().to_path_buf()),
            window_size: Some(size),
            ..AppConfig::default()
        };
        let mut h = Harness::builder()
            .with_size(size)
            .with_max_steps(40)
            .build_eframe(move |cc| NodegradApp::new(cc, config));
        h.run_steps(6);
        h.state_mut()
            .commands
            .push(AppCommand::ImportOnnx(Some(fixture("elementwise"))));
        h.run_steps(14);
        let app = h.state();
        let g = app.doc.graph();
        assert_eq!(g.len(), 24, "{:?}", names(g));
        let canvas = app
            .layout
            .pane_rect(nodegrad::ui::layout::Pane::Canvas)
            .unwrap();
        let rects: Vec<(String, egui::Rect)> = g
            .nodes()
            .map(|n| (n.name.clone(), app.canvas.node_screen_rect(n.id).unwrap()))
            .collect();
        for (i, (a, ra)) in rects.iter().enumerate() {
            assert!(
                canvas.contains_rect(*ra),
                "{a} {ra:?} is inside the canvas {canvas:?} after Fit"
            );
            for (b, rb) in &rects[i + 1..] {
                assert!(
                    !ra.shrink(1.0).intersects(rb.shrink(1.0)),
                    "cards {a} {ra:?} and {b} {rb:?} overlap on screen"
                );
            }
        }
        h.snapshot_options(
            snap,
            &egui_kittest::SnapshotOptions::new().max_failed_pixels(1200),
        );
        results.extend_harness(&mut h);
    }
}
