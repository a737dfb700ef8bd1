//! The binary, run as a user runs it.

mod common;

use std::process::Command;

fn nodegrad(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_nodegrad"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run nodegrad");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

#[test]
fn eval_json_prints_the_worked_example() {
    let (code, stdout, stderr) = nodegrad(&["eval", "projects/computational-graph.ron", "--json"]);
    assert_eq!(code, 0, "{stderr}");
    let doc: serde_json::Value = serde_json::from_str(&stdout).expect("exactly one JSON document");
    assert_eq!(doc["output"], "J");
    let node = |name: &str| {
        doc["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|n| n["name"] == name)
            .unwrap()
            .clone()
    };
    assert_eq!(node("J")["value"], serde_json::json!([33.0]));
    assert_eq!(node("J")["shape"], serde_json::json!([]));
    assert_eq!(node("J")["op"], "Scale");
    assert_eq!(node("a")["grad"], serde_json::json!([3.0]));
    assert_eq!(node("b")["grad"], serde_json::json!([6.0]));
    assert_eq!(node("c")["grad"], serde_json::json!([9.0]));
    assert_eq!(node("u")["value"], serde_json::json!([6.0]));
    assert_eq!(node("v")["value"], serde_json::json!([11.0]));
    assert_eq!(doc["diagnostics"], serde_json::json!([]));
}

#[test]
fn eval_set_overrides_values() {
    let (code, stdout, _) = nodegrad(&[
        "eval",
        "projects/computational-graph.ron",
        "--set",
        "a=1",
        "--set",
        "c=-1",
        "--json",
    ]);
    assert_eq!(code, 0);
    let doc: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let j = doc["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["name"] == "J")
        .unwrap();
    // J = 3(1 + 3 * -1) = -6.
    assert_eq!(j["value"], serde_json::json!([-6.0]));
    let (code, _, stderr) = nodegrad(&["eval", "projects/computational-graph.ron", "--set", "q=1"]);
    assert_eq!(code, 1);
    assert!(
        stderr.contains("no node named `q`") && stderr.contains("a, b, c"),
        "{stderr}"
    );
    let (code, _, stderr) = nodegrad(&[
        "eval",
        "projects/logistic-regression.ron",
        "--set",
        "w=1,2,x",
    ]);
    assert_eq!(code, 1);
    assert!(stderr.contains("`x` is not a number"), "{stderr}");
}

#[test]
fn eval_table_is_readable() {
    let (code, stdout, _) = nodegrad(&["eval", "projects/computational-graph.ron"]);
    assert_eq!(code, 0);
    assert!(stdout.contains("output: J"), "{stdout}");
    let row = stdout.lines().find(|l| l.starts_with("c ")).unwrap();
    let cols: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(cols, ["c", "Input", "[]", "2.0", "9.0"]);
}

#[test]
fn check_exit_codes() {
    let (code, stdout, _) = nodegrad(&[
        "check",
        "projects/computational-graph.ron",
        "projects/xor-mlp.ron",
    ]);
    assert_eq!(code, 0, "{stdout}");
    assert!(
        stdout.contains("xor-mlp.ron: 7 node(s), 9 parameter(s), 0 error(s)"),
        "{stdout}"
    );
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.ron");
    std::fs::write(&bad, "(version: 1, nodes: [(name: \"m\", op: Mul)])").unwrap();
    let (code, stdout, _) = nodegrad(&["check", bad.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(
        stdout.contains("node `m` input `lhs` is not connected"),
        "{stdout}"
    );
    let broken = dir.path().join("broken.ron");
    std::fs::write(&broken, "(version: 1,\n nodes: [(name: 3)])").unwrap();
    let (code, _, stderr) = nodegrad(&["check", broken.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(stderr.contains("broken.ron:2:"), "{stderr}");
}

/// `key=value` fields of the `done:` line.
fn done_fields(stdout: &str) -> std::collections::BTreeMap<String, String> {
    let last = stdout.lines().last().unwrap_or_default();
    assert!(last.starts_with("done: "), "last line: {last}");
    last["done: ".len()..]
        .split(' ')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn train_reaches_xor_accuracy_writes_metrics_and_the_trained_project() {
    let dir = tempfile::tempdir().unwrap();
    let metrics = dir.path().join("m.csv");
    let out = dir.path().join("trained.ron");
    let before = std::fs::read(common::project_path("xor-train.ron")).unwrap();
    let (code, stdout, stderr) = nodegrad(&[
        "train",
        "projects/xor-train.ron",
        "--device",
        "cpu",
        "--metrics",
        metrics.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{stderr}");
    let f = done_fields(&stdout);
    let keys: Vec<&str> = f.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "accuracy",
            "device",
            "epochs",
            "loss",
            "samples_per_s",
            "val_accuracy",
            "val_loss"
        ]
    );
    assert_eq!(f["epochs"], "60");
    assert_eq!(f["accuracy"], "1.000000");
    assert_eq!(f["device"], "cpu");
    assert!(f["samples_per_s"].parse::<f64>().unwrap() > 0.0);
    let csv = std::fs::read_to_string(&metrics).unwrap();
    let mut lines = csv.lines();
    assert_eq!(
        lines.next(),
        Some("epoch,step,loss,val_loss,accuracy,val_accuracy,lr,samples_per_s")
    );
    assert_eq!(lines.count(), 60);
    let trained = nodegrad::project::Project::load(&out).unwrap();
    let hidden = trained.graph.find("dense1").unwrap();
    assert_eq!(hidden.tensors["weight"].shape(), &[2, 4]);
    assert_eq!(
        std::fs::read(common::project_path("xor-train.ron")).unwrap(),
        before,
        "the input file is never changed"
    );
    // The saved weights are the trained ones: evaluating needs no training.
    let (code, stdout, stderr) = nodegrad(&[
        "train",
        out.to_str().unwrap(),
        "--device",
        "cpu",
        "--epochs",
        "1",
    ]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(done_fields(&stdout)["accuracy"], "1.000000");
}

#[test]
fn train_fails_clearly_without_settings_and_exits_3_on_divergence() {
    let (code, _, stderr) = nodegrad(&["train", "projects/computational-graph.ron"]);
    assert_eq!(code, 1);
    assert!(stderr.contains("has no `training:` settings"), "{stderr}");

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("wild.ron");
    let text = std::fs::read_to_string(common::project_path("sine-regression.ron"))
        .unwrap()
        .replace("optimizer: Adam", "optimizer: Sgd")
        .replace("learning_rate: 0.01", "learning_rate: 1e30");
    std::fs::write(&file, text).unwrap();
    let (code, stdout, stderr) = nodegrad(&["train", file.to_str().unwrap(), "--device", "cpu"]);
    assert_eq!(code, 3, "{stdout}\n{stderr}");
    assert!(
        stderr.contains("training diverged at step")
            && stderr.contains("first non-finite value is in node `"),
        "{stderr}"
    );
    assert!(!stdout.contains("done:"));
}
