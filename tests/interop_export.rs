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
    let mut compared = 0usize;
    let mut worst = 0.0f64;
    for path in examples() {
        let project = Project::load(&path).unwrap();
        let stem = path
            .file_stem()
            .unwrap()
            .to_string_lossy()
            .replace('-', "_");
        let py = dir.path().join(format!("{stem}.py"));
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
                let rel = (x - y).abs() / y.abs().max(1e-300);
                assert!(
                    (x - y).abs() <= 1e-6 * y.abs().max(1e-12) || (x - y).abs() < 1e-15,
                    "{stem} {what}: torch {x}, nodegrad {y}"
                );
                if y.abs() > 1e-12 {
                    worst = worst.max(rel);
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
    }
    eprintln!(
        "PyTorch vs nodegrad eval --json: {compared} numbers, worst relative difference {worst:e}"
    );
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
    large.snapshot("export_menu_1920");
    results.extend_harness(&mut large);
    let mut h = app(&file, storage.path(), [1280.0, 720.0]);
    open_export_menu(&mut h);
    h.snapshot("export_menu");
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
