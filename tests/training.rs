//! Training on the CPU: the examples reach their accuracies, optimizers do what their
//! formulas say, weights round-trip, the worker pauses, steps and stops, divergence is
//! caught and named.

mod common;

use std::time::Duration;

use common::{load, project_path};
use nodegrad::graph::{Array, Graph, Init, Op};
use nodegrad::project::Project;
use nodegrad::project::training::{DatasetSpec, DeviceChoice, OptimizerKind, TrainingConfig};
use nodegrad::train::worker::{Command, Event, FinishReason, TrainJob};
use nodegrad::train::{Finish, Prepared, TrainDevice, TrainError, Trainer, train_to_end};

/// A trainer on the CPU for `graph` and `config` (the dataset loaded from `config`).
fn cpu_trainer(graph: &Graph, config: &TrainingConfig) -> Result<Trainer, TrainError> {
    let prepared = Prepared::new(config, None)?;
    Trainer::new(
        graph,
        config,
        prepared,
        TrainDevice::choose(DeviceChoice::Cpu)?,
    )
}

fn trainer_for(project: &Project) -> Trainer {
    let mut config = project.training.clone().expect("training settings");
    config.device = DeviceChoice::Cpu;
    cpu_trainer(&project.graph, &config).unwrap_or_else(|e| panic!("{e}"))
}

fn train_example(name: &str) -> Trainer {
    let p = load(name);
    let mut t = trainer_for(&p);
    train_to_end(&mut t, |_, _| {}).unwrap_or_else(|e| panic!("{name}: {e}"));
    t
}

#[test]
fn xor_train_reaches_full_accuracy_and_its_loss_falls() {
    let t = train_example("xor-train.ron");
    let first = &t.history[0];
    let last = t.history.last().unwrap();
    assert!(
        last.train.loss < first.train.loss / 4.0,
        "loss {} -> {}",
        first.train.loss,
        last.train.loss
    );
    assert_eq!(last.train.accuracy, Some(1.0), "{last:?}");
    assert_eq!(last.val.unwrap().accuracy, Some(1.0), "{last:?}");
}

#[test]
fn spiral_mlp_reaches_95_percent_training_accuracy() {
    let t = train_example("spiral-mlp.ron");
    let last = t.history.last().unwrap();
    assert!(last.train.accuracy.unwrap() >= 0.95, "{last:?}");
}

#[test]
fn digits_mlp_reaches_95_percent_validation_accuracy() {
    let t = train_example("digits-mlp.ron");
    let val = t.score(&t.prepared.split.val.clone()).unwrap();
    assert!(val.accuracy.unwrap() >= 0.95, "{val:?}");
}

#[test]
fn sine_regression_fits_to_the_noise_level() {
    let t = train_example("sine-regression.ron");
    let val = t.score(&t.prepared.split.val.clone()).unwrap();
    // The noise has standard deviation 0.1: a perfect fit leaves an MSE of about 0.01.
    assert!(val.loss < 0.02, "{val:?}");
    assert_eq!(val.accuracy, None, "regression has no accuracy");
}

/// y_hat = w * x, MSE against the sine data: the gradient is known in closed form.
fn linear_model(kind: OptimizerKind, lr: f64) -> (Graph, TrainingConfig) {
    let mut g = Graph::new();
    let x = g.add(Op::Input, [0.0, 0.0]);
    let y = g.add(Op::Input, [0.0, 0.0]);
    let w = g.add(
        Op::Parameter {
            init: Init::Constant { value: 0.5 },
        },
        [0.0, 0.0],
    );
    let mul = g.add(Op::Mul, [0.0, 0.0]);
    let mse = g.add(Op::MSE, [0.0, 0.0]);
    g.set_tensor(x, "value", Array::vector(vec![1.0])).unwrap();
    g.set_tensor(y, "value", Array::scalar(0.0)).unwrap();
    g.set_tensor(w, "value", Array::scalar(0.5)).unwrap();
    g.connect(x, mul, 0).unwrap();
    g.connect(w, mul, 1).unwrap();
    g.connect(mul, mse, 0).unwrap();
    g.connect(y, mse, 1).unwrap();
    let names = |id| g.node(id).unwrap().name.clone();
    let mut c = TrainingConfig::new(
        DatasetSpec::Sine {
            samples: 40,
            noise: 0.0,
        },
        &names(x),
        &names(y),
    );
    c.validation = 0.0;
    c.batch_size = 40; // the whole set: one step is one exact gradient step
    c.optimizer = kind;
    c.learning_rate = lr;
    c.device = DeviceChoice::Cpu;
    (g, c)
}

fn weight(t: &Trainer) -> f64 {
    t.weights().unwrap()[0].2.data()[0]
}

/// dL/dw = mean(2 (w x - y) x) over the data.
fn exact_grad(t: &Trainer, w: f64) -> f64 {
    let d = &t.prepared.data;
    let n = d.len() as f64;
    (0..d.len())
        .map(|i| {
            let x = d.sample(i)[0] as f64;
            2.0 * (w * x - d.targets[i] as f64) * x
        })
        .sum::<f64>()
        / n
}

fn linear_trainer(kind: OptimizerKind, lr: f64) -> Trainer {
    let (g, c) = linear_model(kind, lr);
    cpu_trainer(&g, &c).unwrap()
}

#[test]
fn sgd_and_momentum_steps_match_their_formulas() {
    let mut t = linear_trainer(OptimizerKind::Sgd, 0.1);
    let g0 = exact_grad(&t, 0.5);
    t.step().unwrap();
    let w1 = weight(&t);
    assert!((w1 - (0.5 - 0.1 * g0)).abs() < 1e-5, "sgd: {w1}");

    let mut t = linear_trainer(OptimizerKind::Momentum { momentum: 0.9 }, 0.1);
    t.step().unwrap();
    let w1 = weight(&t);
    assert!(
        (w1 - (0.5 - 0.1 * g0)).abs() < 1e-5,
        "momentum step 1: {w1}"
    );
    let g1 = exact_grad(&t, w1);
    t.step().unwrap();
    // v2 = 0.9 g0 + g1, w2 = w1 - lr v2.
    let want = w1 - 0.1 * (0.9 * g0 + g1);
    assert!(
        (weight(&t) - want).abs() < 1e-5,
        "momentum step 2: {} vs {want}",
        weight(&t)
    );
}

#[test]
fn adam_first_step_moves_each_weight_by_the_learning_rate() {
    // Adam's first update is lr * m_hat / (sqrt(v_hat) + eps) = lr * sign(g).
    let mut t = linear_trainer(OptimizerKind::Adam, 0.01);
    let g0 = exact_grad(&t, 0.5);
    t.step().unwrap();
    let want = 0.5 - 0.01 * g0.signum();
    assert!((weight(&t) - want).abs() < 1e-5, "{} vs {want}", weight(&t));
}

#[test]
fn every_optimizer_lowers_the_loss() {
    for kind in OptimizerKind::ALL {
        let mut t = linear_trainer(kind, 0.05);
        let before = t.score(&t.prepared.split.train.clone()).unwrap().loss;
        for _ in 0..20 {
            t.step().unwrap();
        }
        let after = t.score(&t.prepared.split.train.clone()).unwrap().loss;
        assert!(after < before, "{kind:?}: {before} -> {after}");
    }
}

#[test]
fn a_run_is_reproducible_on_the_cpu() {
    let p = load("spiral-mlp.ron");
    let run = || {
        let mut t = trainer_for(&p);
        for _ in 0..30 {
            t.step().unwrap();
        }
        t.weights().unwrap()
    };
    assert_eq!(run(), run());
}

#[test]
fn trained_weights_round_trip_through_save_and_load() {
    let mut p = load("xor-train.ron");
    let mut t = trainer_for(&p);
    for _ in 0..50 {
        t.step().unwrap();
    }
    let weights = t.weights().unwrap();
    let scores = t.score(&t.prepared.split.val.clone()).unwrap();
    for (id, key, a) in &weights {
        p.graph.set_tensor(*id, key, a.clone()).unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("trained.ron");
    p.save(&path).unwrap();
    let back = Project::load(&path).unwrap();
    assert_eq!(back.training, p.training, "training settings round-trip");
    for (id, key, a) in &weights {
        assert_eq!(
            back.graph.node(*id).unwrap().tensors.get(key),
            Some(a),
            "{key}"
        );
    }
    // A trainer built from the saved file starts from the trained weights.
    let t2 = trainer_for(&back);
    let again = t2.score(&t2.prepared.split.val.clone()).unwrap();
    assert!(
        (again.loss - scores.loss).abs() < 1e-6,
        "{again:?} vs {scores:?}"
    );
}

#[test]
fn divergence_is_caught_named_and_keeps_finite_weights() {
    // Log of a prediction that goes negative: the loss becomes NaN at the Log node.
    let (mut g, c) = linear_model(OptimizerKind::Sgd, 0.1);
    let mse = g.find("mse1").unwrap().id;
    let mul = g.find("mul1").unwrap().id;
    let log = g.add(Op::Log, [0.0, 0.0]);
    g.disconnect(mse, 0);
    g.connect(mul, log, 0).unwrap();
    g.connect(log, mse, 0).unwrap();
    let mut t = cpu_trainer(&g, &c).unwrap();
    let e = t.step().unwrap_err();
    match &e {
        TrainError::Diverged { node, op, step, .. } => {
            assert_eq!(node, "log1");
            assert_eq!(op, "Log");
            assert_eq!(*step, 1);
        }
        other => panic!("{other}"),
    }
    assert!(e.to_string().contains("node `log1` (Log)"), "{e}");
    let w = t.weights().unwrap();
    assert_eq!(
        w[0].2.data(),
        &[0.5],
        "the weights before the bad step are kept"
    );
}

#[test]
fn a_huge_learning_rate_diverges_and_the_last_finite_weights_stay() {
    let mut t = linear_trainer(OptimizerKind::Sgd, 1e30);
    for _ in 0..20 {
        match t.step() {
            Ok(_) => {}
            Err(e @ TrainError::Diverged { .. }) => {
                // The first update overflows the square in the loss: it is dropped, the start kept.
                assert_eq!(weight(&t), 0.5, "{e}");
                assert!(e.to_string().contains("node `mse1` (MSE)"), "{e}");
                return;
            }
            Err(e) => panic!("{e}"),
        }
    }
    panic!("did not diverge");
}

#[test]
fn binding_mistakes_name_the_node() {
    let p = load("spiral-mlp.ron");
    let mut config = p.training.clone().unwrap();
    config.dataset = DatasetSpec::Digits;
    let e = cpu_trainer(&p.graph, &config).err().unwrap().to_string();
    assert!(
        e.contains("features input `x` has shape [2]") && e.contains("[64]"),
        "{e}"
    );
    config.dataset = DatasetSpec::Spiral {
        samples: 30,
        noise: 0.1,
        classes: 3,
    };
    config.target = "dense1".into();
    let e = cpu_trainer(&p.graph, &config).err().unwrap().to_string();
    assert!(e.contains("`dense1` is a Dense"), "{e}");
}

#[test]
fn early_stopping_keeps_the_best_epoch() {
    let p = load("digits-mlp.ron");
    let mut config = p.training.clone().unwrap();
    config.device = DeviceChoice::Cpu;
    config.learning_rate = 0.05; // noisy: validation loss soon stops improving
    config.patience = 2;
    config.epochs = 60;
    let mut t = cpu_trainer(&p.graph, &config).unwrap();
    let f = train_to_end(&mut t, |_, _| {}).unwrap();
    let Finish::EarlyStopped { best_epoch } = f else {
        panic!("no early stop in 60 epochs: {f:?}");
    };
    let best = t.history[best_epoch - 1].val.unwrap().loss;
    assert!(t.history.iter().all(|m| m.val.unwrap().loss >= best));
    let now = t.score(&t.prepared.split.val.clone()).unwrap().loss;
    assert!((now - best).abs() < 1e-6, "restored {now} vs best {best}");
}

#[test]
fn the_worker_pauses_steps_and_stops() {
    let p = load("spiral-mlp.ron");
    let mut config = p.training.clone().unwrap();
    config.device = DeviceChoice::Cpu;
    // So many epochs that the run cannot end before the Pause below arrives, however fast
    // the machine: the test acts on the worker's own events, never on elapsed time.
    config.epochs = 1_000_000;
    config.patience = 0;
    let job = TrainJob::start(p.graph.clone(), config, None, true, || {});
    let mut snapshots = 0;
    let mut next = || loop {
        match job.wait(Duration::from_secs(60)).expect("an event") {
            // A timeline frame carries the dashboard's snapshot too.
            Event::Snapshot(_) | Event::Frame(_) => snapshots += 1,
            e => return e,
        }
    };
    match next() {
        Event::Ready {
            train,
            val,
            classification,
            ..
        } => {
            assert_eq!((train, val), (480, 120));
            assert!(classification);
        }
        e => panic!("{e:?}"),
    }
    // Paused at the start: nothing but the untrained network's frame (epoch 0 of the
    // timeline, with its snapshot) until asked.
    assert!(matches!(
        job.wait(Duration::from_secs(60)),
        Some(Event::Frame(f)) if f.epoch == 0 && f.snapshot.is_some()
    ));
    assert!(job.wait(Duration::from_millis(300)).is_none());
    job.send(Command::Step);
    match next() {
        Event::Steps { points, .. } => assert_eq!(points.len(), 1),
        e => panic!("{e:?}"),
    }
    let Event::Paused { weights } = next() else {
        panic!("no pause after a step")
    };
    assert_eq!(weights.len(), 6, "three Dense layers: weight and bias each");
    job.send(Command::Run);
    // Pause once the worker reports that it has run past the single step above.
    let mut steps = 0;
    while steps <= 1 {
        match next() {
            Event::Steps { points, .. } => steps = points.last().unwrap().0,
            Event::Epoch(_) => {}
            e => panic!("{e:?}"),
        }
    }
    job.send(Command::Pause);
    loop {
        match next() {
            Event::Steps { points, .. } => steps = points.last().unwrap().0,
            Event::Epoch(_) => {}
            Event::Paused { .. } => break,
            e => panic!("{e:?}"),
        }
    }
    assert!(steps > 1, "ran {steps} steps");
    job.send(Command::Stop);
    match next() {
        Event::Finished { why, weights } => {
            assert_eq!(why, FinishReason::Stopped);
            assert_eq!(weights.len(), 6);
        }
        e => panic!("{e:?}"),
    }
    drop(next);
    assert!(
        snapshots >= 2,
        "a snapshot at each pause and at the end: {snapshots}"
    );
}

#[test]
fn a_missing_dataset_file_is_a_clear_message() {
    let mut p = load("xor-train.ron");
    let mut c = p.training.clone().unwrap();
    c.dataset = DatasetSpec::Csv {
        path: "no-such.csv".into(),
        features: vec![],
        label: "y".into(),
        header: true,
        classification: true,
    };
    p.training = Some(c.clone());
    let e = Prepared::new(&c, Some(&project_path("")))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("no-such.csv") && e.contains("cannot read"),
        "{e}"
    );
}

#[test]
fn snapshots_show_the_boundary_histograms_and_confusion() {
    let p = load("spiral-mlp.ron");
    let mut t = trainer_for(&p);
    let before = t.snapshot().unwrap();
    for _ in 0..300 {
        t.step().unwrap();
    }
    let s = t.snapshot().unwrap();
    // One activation histogram per computed node over the probe batch.
    let names: Vec<&str> = s.activations.iter().map(|(_, n, _)| n.as_str()).collect();
    assert_eq!(names, ["dense1", "h1", "dense2", "h2", "logits", "loss"]);
    for (_, name, h) in &s.activations {
        let per_sample = if name == "loss" {
            1
        } else if name == "logits" {
            3
        } else {
            64
        };
        assert_eq!(h.total() as usize, 256 * per_sample, "{name}");
    }
    let labels: Vec<&str> = s.params.iter().map(|p| p.label.as_str()).collect();
    assert_eq!(labels[0], "dense1.weight");
    assert_eq!(s.params[0].values.total(), 2 * 64);
    assert!(
        s.params
            .iter()
            .all(|p| p.grad_norm.is_finite() && p.grad_norm > 0.0)
    );
    // The boundary agrees with the confusion matrix's accuracy on most of the data.
    let b = s
        .boundary
        .as_ref()
        .expect("two features and classes: a boundary");
    assert_eq!(b.class.len(), 48 * 48);
    assert_eq!(b.class.iter().map(|&c| c as usize).max(), Some(2));
    let c = s.confusion.as_ref().unwrap();
    assert_eq!(c.on, "validation");
    assert_eq!(c.counts.iter().sum::<u32>(), 120);
    let val = t.score(&t.prepared.split.val.clone()).unwrap();
    assert!((c.accuracy() - val.accuracy.unwrap()).abs() < 1e-9);
    assert!(c.accuracy() > before.confusion.as_ref().unwrap().accuracy());
    assert!(s.fit.is_none());
}

#[test]
fn a_regression_snapshot_has_the_fitted_curve() {
    let p = load("sine-regression.ron");
    let t = trainer_for(&p);
    let s = t.snapshot().unwrap();
    let fit = s.fit.expect("one feature, regression: a curve");
    assert_eq!(fit.len(), 200);
    assert!(fit[0][0] < -3.0 && fit[199][0] > 3.0);
    assert!(s.boundary.is_none() && s.confusion.is_none());
}

#[test]
fn vanishing_gradients_show_in_the_sigmoid_net_not_the_relu_net() {
    let p = load("vanishing-gradients.ron");
    let mut t = trainer_for(&p);
    for _ in 0..50 {
        t.step().unwrap();
    }
    let s = t.snapshot().unwrap();
    let norm = |label: &str| {
        s.params
            .iter()
            .find(|p| p.label == label)
            .unwrap_or_else(|| panic!("no {label}"))
            .grad_norm
    };
    let sigmoid = norm("s_d1.weight") / norm("s_out.weight");
    let relu = norm("r_d1.weight") / norm("r_out.weight");
    eprintln!("first/last layer gradient norm: sigmoid {sigmoid:e}, relu {relu:e}");
    assert!(
        sigmoid < 1e-2,
        "the sigmoid net's first layer barely learns: {sigmoid:e}"
    );
    assert!(
        relu > 100.0 * sigmoid,
        "the ReLU net's does: {relu:e} vs {sigmoid:e}"
    );
}

#[test]
fn digits_lenet_reaches_97_percent_validation_accuracy() {
    let t = train_example("digits-lenet.ron");
    let val = t.score(&t.prepared.split.val.clone()).unwrap();
    assert!(val.accuracy.unwrap() >= 0.97, "{val:?}");
    // The 1x8x8 images feed the conv layers through the Input's shape.
    assert_eq!(t.model.feature_shape, vec![1, 8, 8]);
}

#[test]
fn batchnorm_and_dropout_train_and_keep_running_statistics() {
    let mut p = load("digits-mlp.ron");
    // dense1 -> BatchNorm -> Dropout -> h1.
    let dense1 = p.graph.find("dense1").unwrap().id;
    let h1 = p.graph.find("h1").unwrap().id;
    let bn = p.graph.add(Op::BatchNorm { momentum: 0.1 }, [0.0, 0.0]);
    let drop = p.graph.add(Op::Dropout { p: 0.2 }, [0.0, 0.0]);
    p.graph.disconnect(h1, 0);
    p.graph.connect(dense1, bn, 0).unwrap();
    p.graph.connect(bn, drop, 0).unwrap();
    p.graph.connect(drop, h1, 0).unwrap();
    let mut t = trainer_for(&p);
    t.config.epochs = 3;
    let before = t.weights().unwrap();
    let running = |w: &[(nodegrad::graph::NodeId, String, Array)], key: &str| {
        w.iter()
            .find(|(id, k, _)| *id == bn && k == key)
            .map(|(_, _, a)| a.clone())
            .unwrap()
    };
    assert!(
        running(&before, "running_mean")
            .data()
            .iter()
            .all(|&v| v == 0.0)
    );
    for _ in 0..60 {
        t.step().unwrap();
    }
    let after = t.weights().unwrap();
    assert!(
        running(&after, "running_mean")
            .data()
            .iter()
            .any(|&v| v.abs() > 1e-3),
        "training updates the running mean"
    );
    assert!(
        running(&after, "running_var")
            .data()
            .iter()
            .all(|&v| v > 0.0)
    );
    let val = t.score(&t.prepared.split.val.clone()).unwrap();
    assert!(val.accuracy.unwrap() > 0.8, "{val:?}");
}
