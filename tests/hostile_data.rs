//! Hostile datasets, training settings and stepper inputs (issue 12, classes 7 to 9): each
//! is refused before anything large is allocated, with a message that names the file or
//! setting, the row and column where there is one, and the limit.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use nodegrad::analysis::analyze;
use nodegrad::project::Project;
use nodegrad::project::training::DeviceChoice;
use nodegrad::train::worker::{Event, TrainJob};
use nodegrad::train::{Prepared, TrainDevice, Trainer, batch_fits};

fn nodegrad(args: &[&str], dir: &Path) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_nodegrad"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run nodegrad");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

/// A 2-feature binary classifier (`x` -> Dense(units) -> sigmoid -> BCE against `y`).
fn binary_net(units: usize) -> String {
    format!(
        r#"(name: "x", op: Input, value: Vector([0.0, 0.0])),
        (name: "y", op: Input, value: Scalar(0.0)),
        (name: "hidden", op: Dense(units: {units}, init: XavierUniform), inputs: {{"x": "x"}}),
        (name: "out", op: Dense(units: 1, init: XavierUniform), inputs: {{"x": "hidden"}}),
        (name: "y_hat", op: Sigmoid, inputs: {{"x": "out"}}),
        (name: "loss", op: BCE, inputs: {{"pred": "y_hat", "target": "y"}}),"#
    )
}

/// A 2-feature classifier into `logits` class scores and a CrossEntropy with a class index.
fn softmax_net(logits: usize) -> String {
    format!(
        r#"(name: "x", op: Input, value: Vector([0.0, 0.0])),
        (name: "y", op: Input, value: Scalar(0.0)),
        (name: "logits", op: Dense(units: {logits}, init: XavierUniform), inputs: {{"x": "x"}}),
        (name: "loss", op: CrossEntropy, inputs: {{"logits": "logits", "target": "y"}}),"#
    )
}

/// Writes a project with these training settings (inside `training: (...)`) and nodes.
fn write_project(dir: &Path, training: &str, nodes: &str) -> PathBuf {
    let file = dir.join("hostile.ron");
    let text = format!(
        "#![enable(implicit_some)]\n(version: 1, training: (features: \"x\", target: \"y\", \
         device: Cpu, {training}), nodes: [{nodes}])"
    );
    std::fs::write(&file, text).unwrap();
    file
}

fn trainer_error(file: &Path) -> String {
    let p = Project::load(file).unwrap_or_else(|e| panic!("{e}"));
    let config = p.training.clone().unwrap();
    let built = Prepared::new(&config, file.parent()).and_then(|prepared| {
        Trainer::new(
            &p.graph,
            &config,
            prepared,
            TrainDevice::choose(DeviceChoice::Cpu)?,
        )
    });
    match built {
        Ok(_) => panic!("{} trained", file.display()),
        Err(e) => e.to_string(),
    }
}

#[test]
fn generator_sizes_past_the_budget_are_refused_by_check_and_train() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            "dataset: Xor(samples: 1000000000)",
            "the Xor dataset's `samples` is 1000000000: 1000000000 samples of 2 feature(s) need \
             26.1 GiB, but the memory budget is 2.0 GiB: use at most 76695844 samples (or raise \
             NODEGRAD_MEMORY_MB)",
        ),
        (
            "dataset: Circles(samples: 18446744073709551615)",
            "the Circles dataset's `samples` is 18446744073709551615: 18446744073709551615 \
             samples of 2 feature(s) need more than 16 EiB",
        ),
        (
            "dataset: Spiral(samples: 300, classes: 18446744073709551615)",
            "the Spiral dataset's `classes` is 18446744073709551615: a spiral has 2 to 10000 arms",
        ),
    ];
    for (training, want) in cases {
        let file = write_project(dir.path(), training, &binary_net(4));
        let shown = file.display().to_string();
        let (code, stdout, stderr) = nodegrad(&["check", &shown], dir.path());
        assert_eq!(code, 1, "{stdout}{stderr}");
        assert!(
            stdout.contains(&format!("{shown}: error: training: {want}")),
            "{stdout}"
        );
        let (code, _, stderr) = nodegrad(&["train", &shown], dir.path());
        assert_eq!(code, 1, "{stderr}");
        assert!(stderr.contains(&format!("{shown}: {want}")), "{stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}

#[test]
fn a_batch_too_large_for_the_widest_layer_is_refused_before_training() {
    let dir = tempfile::tempdir().unwrap();
    let file = write_project(
        dir.path(),
        "dataset: Xor(samples: 2000000), batch_size: 2000000, validation: 0.0",
        &binary_net(4096),
    );
    let shown = file.display().to_string();
    let (code, stdout, _) = nodegrad(&["check", &shown], dir.path());
    assert_eq!(code, 1, "{stdout}");
    let want = format!(
        "{shown}: error: training: batch_size is 2000000: with 2000000 samples in a batch, \
         node `hidden`: its output [4096] for each of 2000000 samples would need 366.2 GiB but the \
         memory budget has"
    );
    assert!(stdout.contains(&want), "{stdout}");
    // The largest batch the message offers fits, one more does not.
    let at_most: usize = stdout
        .split("use a batch_size of at most ")
        .nth(1)
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| panic!("{stdout}"));
    let graph = Project::load(&file).unwrap().graph;
    assert!(at_most > 1000, "{at_most}");
    assert_eq!(batch_fits(&graph, at_most, at_most), Ok(()));
    assert!(batch_fits(&graph, at_most + 1, at_most + 1).is_err());
    // Training refuses it too, after loading the 2,000,000 samples (56 MB) and before any step.
    let e = trainer_error(&file);
    assert!(
        e.starts_with(
            "training settings: batch_size is 2000000: with 2000000 samples in a batch, node \
             `hidden`: its output [4096] for each of 2000000 samples would need"
        ),
        "{e}"
    );
    // The same network trains with a batch that fits.
    let ok = write_project(
        dir.path(),
        "dataset: Xor(samples: 100), batch_size: 2000000, epochs: 1",
        &binary_net(4096),
    );
    let (code, stdout, stderr) = nodegrad(&["check", &ok.display().to_string()], dir.path());
    assert_eq!(
        code, 0,
        "a batch is at most the 100 samples: {stdout}{stderr}"
    );
}

#[test]
fn an_idx_header_past_64_bits_is_refused_by_train() {
    let dir = tempfile::tempdir().unwrap();
    let mut img = vec![0u8, 0, 8, 3];
    img.extend([0xff; 12]);
    std::fs::write(dir.path().join("i.idx"), &img).unwrap();
    std::fs::write(dir.path().join("l.idx"), [0, 0, 8, 1, 0, 0, 0, 1, 0]).unwrap();
    let file = write_project(
        dir.path(),
        r#"dataset: Idx(images: "i.idx", labels: "l.idx")"#,
        &binary_net(4),
    );
    let (code, _, stderr) = nodegrad(&["train", &file.display().to_string()], dir.path());
    assert_eq!(code, 1, "{stderr}");
    let idx = dir.path().join("i.idx").display().to_string();
    assert!(
        stderr.contains(&format!(
            "{idx}: its header announces 4294967295 x 4294967295 x 4294967295 bytes, more than \
             64 bits can count"
        )),
        "{stderr}"
    );
}

#[test]
fn a_csv_file_larger_than_the_budget_is_refused_before_reading() {
    let dir = tempfile::tempdir().unwrap();
    let rows: String = (0..40_000)
        .map(|i| format!("{i},{i},{}\n", i % 2))
        .collect();
    std::fs::write(dir.path().join("big.csv"), format!("a,b,y\n{rows}")).unwrap();
    let file = write_project(
        dir.path(),
        r#"dataset: Csv(path: "big.csv", label: "y")"#,
        &binary_net(4),
    );
    let out = Command::new(env!("CARGO_BIN_EXE_nodegrad"))
        .args(["train", &file.display().to_string()])
        .env("NODEGRAD_MEMORY_MB", "0")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let csv = dir.path().join("big.csv").display().to_string();
    assert!(
        stderr.contains(&format!(
            "{csv}: the file is 525.2 KiB, more than the memory budget of 0 B"
        )),
        "{stderr}"
    );
}

#[test]
fn more_classes_than_logits_are_refused_at_the_first_label_outside() {
    let dir = tempfile::tempdir().unwrap();
    let file = write_project(
        dir.path(),
        "dataset: Spiral(samples: 300, classes: 5)",
        &softmax_net(2),
    );
    // Arms come in order, 60 samples each: sample 120 is the first of class 2.
    assert_eq!(
        trainer_error(&file),
        "spiral: sample 120: label 2 is not one of the 2 classes (0..1) that `loss` scores from \
         `logits` [2]; spiral has 5 classes: give `logits` 5 values (one logit per class), or \
         use a dataset with at most 2 classes"
    );
    // Five logits score them.
    let file = write_project(
        dir.path(),
        "dataset: Spiral(samples: 300, classes: 5), epochs: 1",
        &softmax_net(5),
    );
    let (code, _, stderr) = nodegrad(&["train", &file.display().to_string()], dir.path());
    assert_eq!(code, 0, "{stderr}");
}

#[test]
fn a_csv_label_outside_the_classes_is_named_at_its_row_and_column() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("data.csv"),
        "x1,x2,label\n0,0,0\n1,1,1\n0.5,0.5,9999\n1,0,1\n",
    )
    .unwrap();
    let file = write_project(
        dir.path(),
        r#"dataset: Csv(path: "data.csv", label: "label")"#,
        &binary_net(4),
    );
    let shown = file.display().to_string();
    let (code, _, stderr) = nodegrad(&["train", &shown], dir.path());
    assert_eq!(code, 1, "{stderr}");
    let csv = dir.path().join("data.csv").display().to_string();
    assert!(
        stderr.contains(&format!(
            "{shown}: {csv}: row 4, column `label`: label 9999 is not one of the 2 classes \
             (0..1) that `loss` scores from `y_hat` [1]; {csv} has 10000 classes: one output \
             scores two classes (0 and 1): for 10000 classes, end in 10000 logits and a \
             CrossEntropy"
        )),
        "{stderr}"
    );
}

#[test]
fn non_finite_csv_cells_are_refused_when_loading_at_their_row_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            "x1,x2,label\n0,0,0\n1,1,NaN\n",
            "row 3, column `label`: `NaN` is not a finite number",
        ),
        (
            "x1,x2,label\n0,0,0\n1,-inf,1\n",
            "row 3, column `x2`: `-inf` is not a finite number",
        ),
    ];
    for (text, want) in cases {
        std::fs::write(dir.path().join("data.csv"), text).unwrap();
        for classification in [true, false] {
            let file = write_project(
                dir.path(),
                &format!(
                    r#"dataset: Csv(path: "data.csv", label: "label", classification: {classification})"#
                ),
                &binary_net(4),
            );
            let (code, _, stderr) = nodegrad(&["train", &file.display().to_string()], dir.path());
            assert_eq!(code, 1, "{stderr}");
            let csv = dir.path().join("data.csv").display().to_string();
            assert!(stderr.contains(&format!("{csv}: {want}")), "{stderr}");
            assert!(!stderr.contains("diverged"), "{stderr}");
        }
    }
}

#[test]
fn regression_values_into_a_cross_entropy_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let nodes = r#"(name: "x", op: Input, value: Vector([0.0])),
        (name: "y", op: Input, value: Scalar(0.0)),
        (name: "logits", op: Dense(units: 3, init: XavierUniform), inputs: {"x": "x"}),
        (name: "loss", op: CrossEntropy, inputs: {"logits": "logits", "target": "y"}),"#;
    let file = write_project(dir.path(), "dataset: Sine()", nodes);
    assert_eq!(
        trainer_error(&file),
        "`loss` is a CrossEntropy, which needs class indices, but noisy sine holds one real \
         value per sample (a regression): use MSE or L1, or a classification dataset"
    );
}

#[test]
fn a_worker_that_panics_reports_failed_with_the_panic_text() {
    let job = TrainJob::start_with(|_| panic!("injected worker failure"));
    match job.wait(Duration::from_secs(60)) {
        Some(Event::Failed { message, weights }) => {
            assert_eq!(
                message,
                "training stopped: the worker failed (injected worker failure); the graph is \
                 unchanged"
            );
            assert_eq!(weights, None);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        job.wait(Duration::from_millis(100)),
        None,
        "one Failed only"
    );
}

#[test]
fn a_worker_that_ends_without_a_word_is_reported_failed() {
    let job = TrainJob::start_with(|_| {});
    // `drain` is what the window calls each frame: it must end the run, not wait forever.
    let mut events = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while events.is_empty() && std::time::Instant::now() < deadline {
        events = job.drain();
        if events.is_empty() {
            // Wait for the thread to end (an event, never a guess at how long it takes).
            let _ = job.wait(Duration::from_millis(50)).map(|e| events.push(e));
        }
    }
    assert_eq!(
        events,
        [Event::Failed {
            message: "training stopped: the training thread ended without a result; the graph \
                      is unchanged"
                .into(),
            weights: None
        }]
    );
    assert!(job.drain().is_empty(), "reported once");
}

/// `a` (2.0) through a Step, times `w` (3.0).
const STEP_IN_THE_MIDDLE: &str = r#"(version: 1, nodes: [
    (name: "a", op: Input, value: Scalar(2.0)),
    (name: "w", op: Input, value: Scalar(3.0)),
    (name: "s", op: Step, inputs: {"x": "a"}),
    (name: "J", op: Mul, inputs: {"lhs": "s", "rhs": "w"}),
])"#;

#[test]
fn steps_through_a_step_show_its_zero_derivative_without_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("step.ron");
    std::fs::write(&file, STEP_IN_THE_MIDDLE).unwrap();
    let (code, stdout, stderr) = nodegrad(&["steps", &file.display().to_string()], dir.path());
    assert_eq!(code, 0, "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(
        lines.contains(&"backward dJ/da = dJ/ds * ∂s/∂a = 3.0 * 0.0 = 0.0"),
        "{stdout}"
    );
    assert!(
        lines.contains(&"backward dJ/ds = dJ/dJ * ∂J/∂s = 1.0 * 3.0 = 3.0"),
        "{stdout}"
    );
}

#[test]
fn steps_with_a_step_as_the_output_say_why_no_gradient_flows_back() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("step-out.ron");
    std::fs::write(
        &file,
        r#"(version: 1, nodes: [
            (name: "a", op: Input, value: Scalar(2.0)),
            (name: "J", op: Step, inputs: {"x": "a"}),
        ])"#,
    )
    .unwrap();
    let shown = file.display().to_string();
    let (code, stdout, stderr) = nodegrad(&["steps", &shown], dir.path());
    assert!(!stderr.contains("panicked"), "{stderr}");
    // The backward pass is shown with the zero the Step passes on, computed by burn.
    assert_eq!(
        stdout,
        "forward  a = 2.0\nforward  J = step(a) = step(2.0) = 1.0\n\
         backward dJ/dJ = 1\nbackward dJ/da = dJ/dJ * ∂J/∂a = 1.0 * 0.0 = 0.0\n"
    );
    assert!(
        stderr.contains("warning: node `J` is the output but passes no gradient back"),
        "{stderr}"
    );
    assert_eq!(code, 0, "a warning, not an error: {stderr}");
}

#[test]
fn eval_json_streams_a_wide_layer_as_one_valid_document() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("wide.ron");
    std::fs::write(
        &file,
        r#"(version: 1, nodes: [
            (name: "x", op: Input, value: Vector([1.0, 2.0])),
            (name: "d", op: Dense(units: 100000, init: Zeros), inputs: {"x": "x"}),
            (name: "J", op: Sum(axis: None), inputs: {"x": "d"}),
        ])"#,
    )
    .unwrap();
    let (code, stdout, stderr) =
        nodegrad(&["eval", &file.display().to_string(), "--json"], dir.path());
    assert_eq!(code, 0, "{stderr}");
    let doc: serde_json::Value = serde_json::from_str(&stdout).expect("one JSON document");
    let d = doc["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["name"] == "d")
        .unwrap();
    assert_eq!(d["shape"], serde_json::json!([100000]));
    assert_eq!(d["value"].as_array().unwrap().len(), 100000);
    assert_eq!(d["grad"].as_array().unwrap()[99999], 1.0);
    let w = &d["params"]["weight"];
    assert_eq!(w["shape"], serde_json::json!([2, 100000]));
    // dJ/dW[i][j] = x_i.
    assert_eq!(w["grad"].as_array().unwrap()[100000], 2.0);
    assert_eq!(doc["edges"].as_array().unwrap().len(), 2);
    assert_eq!(doc["output"], "J");
}

#[test]
fn the_stepper_walks_a_long_chain_once() {
    // 2,000 nodes: a quadratic walk would still finish, so this checks the numbers; the
    // timing of 30,000 is in the report and the benchmark.
    let mut text =
        String::from("(version: 1, nodes: [(name: \"n0\", op: Input, value: Scalar(1.0)),");
    for i in 1..2000 {
        text += &format!(
            "(name: \"n{i}\", op: Scale(factor: 1.0), inputs: {{\"x\": \"n{}\"}}),",
            i - 1
        );
    }
    text += "])";
    let p = nodegrad::project::Project::parse(&text, "chain.ron").unwrap();
    let a = analyze(&p.graph);
    let e = nodegrad::exec::Engine::cpu()
        .evaluate(&p.graph, &a)
        .unwrap();
    let b = nodegrad::stepper::backward_steps(&p.graph, &a, &e);
    assert_eq!(b.len(), 2000);
    assert_eq!(
        b[1].text,
        "dn1999/dn1998 = dn1999/dn1999 * ∂n1999/∂n1998 = 1.0 * 1.0 = 1.0"
    );
    assert_eq!(
        b[1999].text,
        "dn1999/dn0 = dn1999/dn1 * ∂n1/∂n0 = 1.0 * 1.0 = 1.0"
    );
}
