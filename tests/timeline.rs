//! The training timeline and compared runs (issue 13, points 1 and 2): the worker records
//! the weights at every epoch, the window scrubs through them (the cards show the weights
//! recorded then), restores them as one undo step, saves the runs with the project and
//! reopens them; "Run again with…" changes one setting and the compare table names it.
//! Every wait is on the worker's events or the app's state, never on a duration.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use egui::{Key, Modifiers};
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use nodegrad::graph::NodeId;
use nodegrad::graph::{Array, Op};
use nodegrad::project::Project;
use nodegrad::project::training::DeviceChoice;
use nodegrad::train::compare::{RunSettings, Variation, differing, hidden_activations, run_name};
use nodegrad::train::timeline::{Frame, Timeline, fmt_bytes};
use nodegrad::train::worker::{Event, TrainJob};
use nodegrad::train::{Prepared, TrainDevice, Trainer};
use nodegrad::ui::editor::card::value_text;
use nodegrad::ui::training::RunState;
use nodegrad::ui::{AppConfig, NodegradApp};

/// A copy of an example that trains on the CPU for `epochs` epochs.
fn cpu_copy(dir: &Path, name: &str, epochs: usize) -> PathBuf {
    let text = std::fs::read_to_string(common::project_path(&format!("{name}.ron"))).unwrap();
    let mut p = Project::parse(&text, name).unwrap();
    let t = p.training.as_mut().unwrap();
    t.device = DeviceChoice::Cpu;
    t.epochs = epochs;
    let file = dir.join(format!("{name}.ron"));
    p.save(&file).unwrap();
    file
}

fn app(file: &Path, storage: &Path, size: [f32; 2]) -> Harness<'static, NodegradApp> {
    let config = AppConfig {
        file: Some(file.to_path_buf()),
        storage_dir: Some(storage.to_path_buf()),
        window_size: Some(size),
        ..AppConfig::default()
    };
    let mut h = Harness::builder()
        .with_size(size)
        .with_max_steps(40)
        .build_eframe(move |cc| NodegradApp::new(cc, config.clone()));
    h.run_steps(12);
    h
}

/// Steps the app until `done` (the worker's events arrive between frames).
fn step_until(h: &mut Harness<'_, NodegradApp>, what: &str, done: impl Fn(&NodegradApp) -> bool) {
    let start = std::time::Instant::now();
    while !done(h.state()) {
        assert!(
            start.elapsed() < Duration::from_secs(300),
            "waited five minutes for {what}; message: {}",
            h.state().message
        );
        std::thread::sleep(Duration::from_millis(20));
        h.step();
    }
    h.run_steps(4);
}

/// Zooms in (the canvas's + button) far enough that the cards show their tensors, not the
/// large-type summary they show when zoomed out.
fn zoom_in(h: &mut Harness<'_, NodegradApp>) {
    for _ in 0..2 {
        h.get_by_label("+").click();
        h.run_steps(3);
    }
}

fn finished(a: &NodegradApp) -> bool {
    matches!(a.training.state, RunState::Finished(_))
}

fn count(h: &Harness<'_, NodegradApp>, label: &str) -> usize {
    h.query_all_by_label_contains(label).count()
}

/// The weight of `out` (xor-train's output layer) recorded in frame `k`.
fn recorded(a: &NodegradApp, node: &str, key: &str, k: usize) -> Array {
    let id = a.doc.graph().find(node).unwrap().id;
    a.training.run.timeline.frames()[k]
        .weights
        .iter()
        .find(|(n, kk, _)| *n == id && kk == key)
        .map(|(_, _, w)| w.clone())
        .expect("recorded")
}

fn doc_tensor(a: &NodegradApp, node: &str, key: &str) -> Array {
    a.doc.graph().find(node).unwrap().tensors[key].clone()
}

/// What the card of `out` shows for the graph's own weight.
fn shown_weight(a: &NodegradApp) -> String {
    format!("weight {}", value_text(&doc_tensor(a, "out", "weight")))
}

#[test]
fn the_worker_records_every_epoch_and_the_last_frame_is_the_final_weights() {
    let p = common::load("xor-train.ron");
    let mut config = p.training.clone().unwrap();
    config.device = DeviceChoice::Cpu;
    config.epochs = 4;
    let job = TrainJob::start(p.graph.clone(), config, None, false, || {});
    let mut frames: Vec<Frame> = Vec::new();
    let final_weights = loop {
        match job.wait(Duration::from_secs(120)).expect("an event") {
            Event::Frame(f) => frames.push(*f),
            Event::Finished { weights, .. } => break weights,
            Event::Failed { message, .. } => panic!("{message}"),
            _ => {}
        }
    };
    let epochs: Vec<usize> = frames.iter().map(|f| f.epoch).collect();
    assert_eq!(
        epochs,
        vec![0, 1, 2, 3, 4],
        "epoch 0 is the untrained network"
    );
    assert_eq!(frames[4].weights, final_weights);
    assert_ne!(
        frames[0].weights, frames[4].weights,
        "training moved the weights"
    );
    for f in &frames {
        let s = f.snapshot.as_ref().expect("every frame has its snapshot");
        assert_eq!(s.epoch, f.epoch);
        assert!(s.boundary.is_some(), "XOR has a decision boundary");
    }
    // The untrained frame holds the weights the initializers drew for this graph.
    let dense1 = p.graph.find("dense1").unwrap().id;
    let w0 = &frames[0]
        .weights
        .iter()
        .find(|(n, k, _)| *n == dense1 && k == "weight")
        .unwrap()
        .2;
    let spec = nodegrad::analysis::analyze(&p.graph).owned[&dense1][0].clone();
    let drawn = p
        .graph
        .node(dense1)
        .unwrap()
        .tensor_or_init(&spec, p.graph.seed);
    for (a, b) in w0.data().iter().zip(drawn.data()) {
        assert!((a - b).abs() < 1e-6, "f32 on the device: {a} vs {b}");
    }
}

#[test]
fn digits_lenet_timeline_memory_over_30_epochs() {
    let p = common::load("digits-lenet.ron");
    let mut config = p.training.clone().unwrap();
    config.device = DeviceChoice::Cpu;
    assert_eq!(config.epochs, 30);
    // All 30 epochs: no early stopping.
    config.patience = 0;
    let prepared = Prepared::new(&config, None).unwrap();
    let device = TrainDevice::choose(DeviceChoice::Cpu).unwrap();
    let mut t = Trainer::new(&p.graph, &config, prepared, device).unwrap();
    let mut timeline = Timeline::default();
    timeline.push(Frame::capture(&t).unwrap());
    let params: usize = t
        .model
        .params
        .iter()
        .map(|i| i.shape.iter().product::<usize>())
        .sum();
    loop {
        let r = t.step().unwrap();
        if r.epoch_done.is_some() {
            timeline.push(Frame::capture(&t).unwrap());
        }
        if r.finished.is_some() {
            break;
        }
    }
    let per_frame: Vec<usize> = timeline.frames().iter().map(Frame::bytes).collect();
    println!(
        "digits-lenet timeline over 30 epochs: {} bytes ({}) in {} frames (epochs {:?}), \
         {} trainable numbers, {} bytes per frame ({} of them the snapshot), budget {} bytes",
        timeline.bytes(),
        nodegrad::train::timeline::fmt_bytes(timeline.bytes()),
        timeline.len(),
        timeline
            .frames()
            .iter()
            .map(|f| f.epoch)
            .collect::<Vec<_>>(),
        params,
        per_frame[1],
        per_frame[1]
            - timeline.frames()[1]
                .weights
                .iter()
                .map(|(_, k, a)| (a.len() + a.shape().len()) * 8 + k.len() + 64)
                .sum::<usize>(),
        timeline.budget()
    );
    assert_eq!(timeline.len(), 31, "every epoch fits the default budget");
    assert_eq!(timeline.bytes(), per_frame.iter().sum::<usize>());
    assert!(timeline.bytes() <= timeline.budget());
    assert!(per_frame[1] >= params * 8, "at least the weights as f64");
}

#[test]
fn run_again_changes_one_setting_and_the_names_say_which() {
    let p = common::load("vanishing-gradients.ron");
    let g = &p.graph;
    let c = p.training.clone().unwrap();
    // Six sigmoid and six ReLU hidden layers; the two output sigmoids are not hidden.
    let hidden = hidden_activations(g);
    assert_eq!(hidden.len(), 12);
    let base = RunSettings::of(g, &c);
    assert_eq!(base.get("activation"), "Sigmoid + ReLU");
    let (relu_g, relu_c) = Variation::Activation(Op::ReLU).apply(g, &c);
    let (sig_g, sig_c) = Variation::Activation(Op::Sigmoid).apply(g, &c);
    let relu = RunSettings::of(&relu_g, &relu_c);
    let sig = RunSettings::of(&sig_g, &sig_c);
    assert_eq!(differing(&[&sig, &relu]), vec!["activation"]);
    assert_eq!(run_name(&sig, &["activation"], 1), "activation Sigmoid");
    assert_eq!(run_name(&relu, &["activation"], 2), "activation ReLU");
    // The output layers keep their sigmoid; every weight the graph stored is kept.
    for id in g.node_ids() {
        let (a, b) = (g.node(id).unwrap(), relu_g.node(id).unwrap());
        if !hidden.contains(&id) {
            assert_eq!(a.op, b.op, "{}", a.name);
        }
        assert_eq!(a.tensors, b.tensors);
    }
    // Two settings changed: both are named.
    let (lr_g, lr_c) = Variation::LearningRate(0.5).apply(&relu_g, &relu_c);
    let (two_g, two_c) = Variation::Seed(9).apply(&lr_g, &lr_c);
    let two = RunSettings::of(&two_g, &two_c);
    let keys = differing(&[&relu, &two]);
    assert_eq!(keys, vec!["learning rate", "seed"]);
    assert_eq!(run_name(&two, &keys, 2), "learning rate 0.5, seed 9");
    // Another initializer draws the weights anew.
    let (he_g, _) = Variation::Initializer(nodegrad::graph::Init::HeNormal).apply(&relu_g, &c);
    let d1 = he_g.find("r_d1").unwrap();
    assert!(matches!(
        d1.op,
        Op::Dense {
            init: nodegrad::graph::Init::HeNormal,
            ..
        }
    ));
}

#[test]
fn scrubbing_shows_the_recorded_weights_and_restore_is_one_undo_step() {
    let storage = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = cpu_copy(dir.path(), "xor-train", 4);
    let mut h = app(&file, storage.path(), [1280.0, 720.0]);
    h.get_by_label("▶ Train").click();
    h.step();
    step_until(&mut h, "the end of the run", finished);
    let a = h.state();
    assert_eq!(a.training.run.timeline.len(), 5, "epochs 0 to 4");
    let trained = doc_tensor(a, "out", "weight");
    assert_eq!(
        recorded(a, "out", "weight", 4),
        trained,
        "the last frame is the graph's"
    );
    zoom_in(&mut h);
    assert_eq!(
        count(&h, &shown_weight(h.state())),
        1,
        "the card shows the trained weight"
    );

    // Two epochs back: the timeline shows epoch 2; the card its recorded weight.
    h.get_by_label("◀ Earlier").click();
    h.run_steps(3);
    h.get_by_label("◀ Earlier").click();
    h.run_steps(3);
    let a = h.state();
    assert_eq!(a.training.run.scrub, Some(2));
    assert_eq!(a.training.run.scrubbed().unwrap().epoch, 2);
    let at2 = recorded(a, "out", "weight", 2);
    assert_ne!(at2, trained);
    let text = format!("weight {}", value_text(&at2));
    assert_eq!(
        count(&h, &text),
        1,
        "the card shows epoch 2's weight: {text}"
    );
    assert_eq!(
        count(&h, &format!("weight {}", value_text(&trained))),
        0,
        "not the trained one"
    );
    assert!(count(&h, "Showing epoch 2 (step") >= 1);
    // The dashboard shows epoch 2 as well: its snapshot is the one recorded then.
    assert_eq!(h.state().training.run.shown().unwrap().epoch, 2);
    assert_eq!(
        doc_tensor(h.state(), "out", "weight"),
        trained,
        "the graph is unchanged"
    );

    // Restore: the graph holds epoch 2's weights; Ctrl+Z gives the trained ones back.
    h.get_by_label("Restore these weights").click();
    h.run_steps(4);
    assert_eq!(doc_tensor(h.state(), "out", "weight"), at2);
    assert_eq!(
        doc_tensor(h.state(), "dense1", "weight"),
        recorded(h.state(), "dense1", "weight", 2)
    );
    assert_eq!(
        h.state().training.run.scrub,
        None,
        "back to the present, which is now epoch 2"
    );
    assert_eq!(count(&h, &text), 1, "the card shows the restored weight");
    h.key_press_modifiers(Modifiers::COMMAND, Key::Z);
    h.run_steps(4);
    assert_eq!(
        doc_tensor(h.state(), "out", "weight"),
        trained,
        "one undo step"
    );
    assert_eq!(
        doc_tensor(h.state(), "dense1", "weight"),
        recorded(h.state(), "dense1", "weight", 4)
    );

    // Save with the runs, reopen: the timeline is there again and scrubs the same way.
    h.get_by_label_contains("Save the runs with the project")
        .click();
    h.run_steps(2);
    assert!(h.state().training.save_runs);
    h.key_press_modifiers(Modifiers::COMMAND, Key::S);
    h.run_steps(4);
    assert!(
        h.state().message.starts_with("saved"),
        "{}",
        h.state().message
    );
    let reopened = Project::load(&file).unwrap();
    assert_eq!(reopened.runs.len(), 1);
    assert_eq!(reopened.runs[0].frames.len(), 5);
    drop(h);
    let mut h = app(&file, storage.path(), [1280.0, 720.0]);
    zoom_in(&mut h);
    let a = h.state();
    assert_eq!(a.training.run.timeline.len(), 5);
    assert_eq!(a.training.run.epochs.len(), 4, "the curves came back");
    assert!(
        a.training.save_runs,
        "saved with runs: saved with runs again"
    );
    h.get_by_label("◀ Earlier").click();
    h.run_steps(3);
    h.get_by_label("◀ Earlier").click();
    h.run_steps(3);
    let at2_again = recorded(h.state(), "out", "weight", 2);
    // Saved as text and read back: the same numbers.
    assert_eq!(at2_again, at2);
    assert_eq!(
        count(&h, &text),
        1,
        "the reopened timeline shows epoch 2's weight"
    );
}

#[test]
fn sigmoid_vs_relu_in_one_click_then_a_second_setting() {
    let storage = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = cpu_copy(dir.path(), "vanishing-gradients", 2);
    let mut h = app(&file, storage.path(), [1280.0, 720.0]);
    assert!(
        h.query_by_label("Run again with…").is_none(),
        "nothing to run again before a run"
    );
    // The project as it is (sigmoid and ReLU side by side), then one click.
    h.get_by_label("▶ Train").click();
    h.step();
    step_until(&mut h, "the first run", finished);
    h.get_by_label("Run again with…").click();
    h.run_steps(2);
    h.get_by_label("Sigmoid vs ReLU (two runs)").click();
    h.step();
    step_until(&mut h, "both runs", |a| {
        a.training.runs.len() == 2 && finished(a)
    });
    let a = h.state();
    let names = nodegrad::ui::training::dashboard::run_names(&a.training.run, &a.training.runs);
    assert_eq!(names.0, vec!["activation"]);
    assert_eq!(
        names.1,
        vec![
            "activation Sigmoid + ReLU",
            "activation Sigmoid",
            "activation ReLU"
        ]
    );
    // The runs start from the same weights (the first run's).
    assert_eq!(
        a.training.runs[1].timeline.frames()[0].weights,
        a.training.run.timeline.frames()[0].weights
    );
    assert_eq!(
        a.training.runs[0].timeline.frames()[0].weights,
        a.training.run.timeline.frames()[0].weights
    );
    // The sigmoid run's first layers get far smaller gradients than the ReLU run's.
    let first_norm = |r: &nodegrad::ui::training::dashboard::Run| {
        let s = r.latest.as_ref().unwrap();
        s.params
            .iter()
            .find(|p| p.label == "s_d1.weight")
            .unwrap()
            .grad_norm
    };
    assert!(
        first_norm(&a.training.runs[1]) < first_norm(&a.training.run),
        "sigmoid {} vs relu {}",
        first_norm(&a.training.runs[1]),
        first_norm(&a.training.run)
    );
    // The current run trained the all-ReLU variant: scrubbed back, its weights cannot be
    // restored into the graph's own (sigmoid) ops, where they would compute other numbers.
    let before = h.state().doc.project().graph.clone();
    h.get_by_label("◀ Earlier").click();
    h.run_ok();
    assert!(h.state().training.run.scrub.is_some(), "scrubbed back");
    let restore = h.get_by_label("Restore these weights");
    {
        use egui_kittest::kittest::NodeT;
        assert!(
            restore.accesskit_node().is_disabled(),
            "a variant's weights are not restored"
        );
    }
    restore.click();
    h.run_ok();
    assert_eq!(
        h.state().doc.project().graph,
        before,
        "the graph kept its weights"
    );
    h.get_by_label("Live").click();
    h.run_ok();
    // The compare table in the curves tile: a column for the one setting that differs.
    h.get_by_label("Loss & accuracy").click();
    h.run_steps(3);
    let curves = &h.state().layout.drawn[&nodegrad::ui::layout::Pane::Curves];
    assert!(
        curves.content.width() <= curves.tile.width() + 0.5,
        "the legend and the table stay inside the curves tile: {curves:?}"
    );
    assert!(
        count(&h, "activation Sigmoid") >= 1,
        "legend and table name the sigmoid run"
    );
    assert!(count(&h, "activation ReLU (this run)") == 1);
    assert_eq!(
        h.query_all_by_label("Sigmoid").count(),
        1,
        "the table's cell"
    );
    assert_eq!(h.query_all_by_label("ReLU").count(), 1);
    // The curves tile maximized: the legend, the overlaid curves and the table.
    h.get_by_label("Maximize Loss & accuracy").click();
    h.run_steps(4);
    let mut results = egui_kittest::SnapshotResults::new();
    let opts = egui_kittest::SnapshotOptions::new().max_failed_pixels(4000);
    h.snapshot_options("timeline-compare-1280x720", &opts);
    results.extend_harness(&mut h);
    h.get_by_label("Restore the tiles").click();
    h.run_steps(4);

    // Run again with a learning rate ten times larger: two settings differ now.
    h.get_by_label("Run again with…").click();
    h.run_steps(2);
    h.get_by_label_contains("Learning rate…").click();
    h.run_steps(4);

    h.get_by_label_contains("(×10.0)").click();
    h.step();
    step_until(&mut h, "the fourth run", |a| {
        a.training.runs.len() == 3 && finished(a)
    });
    let a = h.state();
    let (keys, names) =
        nodegrad::ui::training::dashboard::run_names(&a.training.run, &a.training.runs);
    assert_eq!(keys, vec!["learning rate", "activation"]);
    assert_eq!(names[3], "learning rate 0.5, activation ReLU");
    assert!(
        count(&h, "learning rate") >= 1,
        "the table has the learning rate column"
    );
    assert!(count(&h, "learning rate 0.5, activation ReLU (this run)") == 1);

    // Saved with the runs and reopened: the three runs and their table are back.
    h.get_by_label_contains("Save the runs with the project")
        .click();
    h.run_steps(2);
    h.key_press_modifiers(Modifiers::COMMAND, Key::S);
    h.run_steps(4);
    drop(h);
    if let Ok(to) = std::env::var("NODEGRAD_KEEP_COMPARED_RUNS") {
        // For the README's picture of the real window (`--screenshot-to`).
        std::fs::copy(&file, to).unwrap();
    }
    let mut h = app(&file, storage.path(), [1280.0, 720.0]);
    h.get_by_label("Loss & accuracy").click();
    h.run_steps(3);
    let a = h.state();
    assert_eq!(a.training.runs.len(), 3);
    let (keys, names) =
        nodegrad::ui::training::dashboard::run_names(&a.training.run, &a.training.runs);
    assert_eq!(keys, vec!["learning rate", "activation"]);
    assert_eq!(names[0], "learning rate 0.05, activation Sigmoid + ReLU");
    assert!(count(&h, "learning rate 0.5, activation ReLU (this run)") == 1);
}

#[test]
fn timeline_snapshots_at_1920x1080() {
    let storage = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = cpu_copy(dir.path(), "spiral-mlp", 6);
    let mut h = app(&file, storage.path(), [1920.0, 1080.0]);
    h.get_by_label("▶ Train").click();
    h.step();
    step_until(&mut h, "the end of the run", finished);
    for _ in 0..3 {
        h.get_by_label("◀ Earlier").click();
        h.run_steps(3);
    }
    assert_eq!(h.state().training.run.scrubbed().unwrap().epoch, 3);
    assert!(count(&h, "Showing epoch 3") >= 1);
    let opts = egui_kittest::SnapshotOptions::new().max_failed_pixels(4000);
    h.snapshot_options("timeline-scrubbed-1920x1080", &opts);
}

#[test]
fn a_hostile_runs_section_is_refused_with_the_place_and_the_limit() {
    let base = std::fs::read_to_string(common::project_path("xor-train.ron")).unwrap();
    assert!(
        Project::parse(&base, "xor-train.ron")
            .unwrap()
            .runs
            .is_empty(),
        "old files load"
    );
    let with_runs = |runs: &str| {
        let cut = base.rfind(')').unwrap();
        format!(
            "{},\n    runs: [{runs}],\n)\n",
            base[..cut].trim_end().trim_end_matches(',')
        )
    };
    let run = |frames: &str| {
        format!("(training: (dataset: Xor(), features: \"x\", target: \"y\"), frames: [{frames}])")
    };
    let cases = [
        (
            run("(epoch: 0, step: 0, weights: {\"ghost\": {\"weight\": Vector([1.0])}})"),
            "run 1: frame 1 (epoch 0): weights of `ghost`, but no node is called that",
        ),
        (
            run("(epoch: 0, step: 0, weights: {\"dense1\": {\"gamma\": Vector([1.0])}})"),
            "`dense1` (Dense) has no tensor `gamma`: it holds weight, bias",
        ),
        (
            run(
                "(epoch: 0, step: 0, weights: {\"out\": {\"bias\": Vector([1.0])}}), \
                 (epoch: 1, step: 9, weights: {\"out\": {\"bias\": Vector([1.0, 2.0])}})",
            ),
            "frame 2 (epoch 1): bias of `out` has shape [2], but [1] in an earlier frame",
        ),
        (
            run(
                "(epoch: 0, step: 0, weights: {\"out\": {\"bias\": Tensor(shape: [2], data: [1.0])}})",
            ),
            "bias of `out`",
        ),
        (
            vec![run(""); 33].join(", "),
            "33 runs are saved: at most 32 are allowed",
        ),
        (
            "(training: (dataset: Xor(), features: \"x\", target: \"y\", learning_rate: -1.0))"
                .to_string(),
            "run 1: training: learning_rate is -1",
        ),
    ];
    for (runs, want) in cases {
        let text = with_runs(&runs);
        let err = Project::parse(&text, "hostile.ron")
            .unwrap_err()
            .to_string();
        assert!(err.contains(want), "{err}\nwanted: {want}");
        assert!(err.starts_with("hostile.ron:"), "names the place: {err}");
    }
    // A well-formed runs section loads, its weights by node.
    let ok = with_runs(&run(
        "(epoch: 3, step: 30, weights: {\"out\": {\"bias\": Vector([0.25])}})",
    ));
    let p = Project::parse(&ok, "ok.ron").unwrap();
    let out = p.graph.find("out").unwrap().id;
    assert_eq!(
        p.runs[0].frames[0].weights,
        vec![(out, "bias".to_string(), Array::vector(vec![0.25]))]
    );
}

fn weight_frame(epoch: usize, numbers: usize) -> Frame {
    Frame {
        epoch,
        step: epoch * 10,
        weights: vec![(
            NodeId(1),
            "weight".into(),
            Array::vector(vec![epoch as f64; numbers]),
        )],
        snapshot: None,
    }
}

#[test]
fn every_epoch_is_kept_within_the_budget() {
    let mut t = Timeline::new(1 << 20);
    for e in 0..=30 {
        t.push(weight_frame(e, 10));
    }
    assert_eq!(t.len(), 31);
    assert_eq!(t.stride(), 1);
    // 10 numbers + 1 shape entry, 8 bytes each, "weight" and the overhead.
    assert_eq!(t.bytes(), 31 * (11 * 8 + 6 + 64));
    assert_eq!(t.at_epoch(17).unwrap().weights[0].2.data()[0], 17.0);
}

#[test]
fn past_the_budget_the_frames_are_thinned_evenly_and_the_latest_stays() {
    let one = weight_frame(0, 100).bytes();
    let mut t = Timeline::new(one * 10);
    for e in 0..=30 {
        t.push(weight_frame(e, 100));
        assert!(t.bytes() <= t.budget(), "epoch {e}: {} bytes", t.bytes());
        assert_eq!(t.frames().last().unwrap().epoch, e, "the latest is kept");
        assert_eq!(t.frames()[0].epoch, 0, "the start is kept");
    }
    let epochs: Vec<usize> = t.frames().iter().map(|f| f.epoch).collect();
    assert_eq!(t.stride(), 4);
    assert_eq!(epochs, vec![0, 4, 8, 12, 16, 20, 24, 28, 30]);
}

#[test]
fn sizes_read_like_a_file_manager() {
    assert_eq!(fmt_bytes(12), "12 bytes");
    assert_eq!(fmt_bytes(64_000), "64 kB");
    assert_eq!(fmt_bytes(1_234_567), "1.2 MB");
}

/// The compare table's decision boundaries are drawn as squares, not squeezed into the
/// strip the plots leave (a newcomer saw captions over zero-height pictures).
#[test]
fn compared_runs_show_their_decision_boundaries_side_by_side() {
    let storage = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = cpu_copy(dir.path(), "spiral-mlp", 2);
    let mut h = app(&file, storage.path(), [1280.0, 720.0]);
    h.get_by_label("▶ Train").click();
    h.step();
    step_until(&mut h, "the first run", finished);
    h.get_by_label("Run again with…").click();
    h.run_steps(2);
    h.get_by_label_contains("Learning rate…").click();
    h.run_steps(4);
    h.get_by_label_contains("(×10.0)").click();
    h.step();
    step_until(&mut h, "the second run", |a| {
        a.training.runs.len() == 1 && finished(a)
    });
    h.get_by_label("Maximize Loss & accuracy").click();
    h.run_steps(4);
    let caption = h
        .get_by_label("Decision boundaries (latest of each run):")
        .rect();
    let img = h.render().expect("a picture of the window");
    // Below the caption, the pictures: rows whose pixels carry the boundary's class colours
    // (saturated blue or orange, unlike the grey panel).
    let x0 = caption.left().max(0.0) as u32 + 4;
    let y0 = caption.bottom() as u32 + 16;
    let coloured_rows = (y0..(y0 + 200).min(img.height()))
        .filter(|&y| {
            (x0..x0 + 40).any(|x| {
                let p = img.get_pixel(x, y).0;
                let (hi, lo) = (p[0].max(p[1]).max(p[2]), p[0].min(p[1]).min(p[2]));
                hi as i32 - lo as i32 > 60
            })
        })
        .count();
    assert!(
        coloured_rows >= 40,
        "the boundary pictures are {coloured_rows} px tall"
    );
    let mut results = egui_kittest::SnapshotResults::new();
    let opts = egui_kittest::SnapshotOptions::new().max_failed_pixels(4000);
    h.snapshot_options("timeline-compare-boundaries-1280x720", &opts);
    results.extend_harness(&mut h);
}
