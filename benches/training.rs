//! `cargo bench --bench training`: CPU training throughput, one line per model,
//! `NAME: X samples/s`, counting forward + backward + optimizer step (the same work as
//! ../shared/bench/torch_reference.py measures in PyTorch; run both in one shell).
//!
//! - spiral-mlp: 2-64-64-3 ReLU, softmax cross-entropy, Adam, batch 32.
//! - digits-mlp: 64-128-10 ReLU, softmax cross-entropy, Adam, batch 64.
//! - digits-cnn: 1x8x8 -> conv 3x3 16 same -> ReLU -> max-pool 2 -> conv 3x3 32 same -> ReLU
//!   -> max-pool 2 -> flatten -> dense 64 -> ReLU -> dense 10, Adam, batch 64
//!   (projects/digits-lenet.ron).
//!
//! The end-of-epoch scoring of the training and validation sets is not counted (PyTorch's
//! script has none); the wall-clock figure with it is printed alongside.
//! `NODEGRAD_BENCH_SECS` sets the seconds per model (default 3).

use std::path::PathBuf;
use std::time::Instant;

use nodegrad::project::Project;
use nodegrad::project::training::DeviceChoice;
use nodegrad::train::stats::SnapshotClock;
use nodegrad::train::worker::{SNAPSHOT_MIN_GAP, SNAPSHOT_SHARE};
use nodegrad::train::{Prepared, TrainDevice, Trainer};

fn bench(name: &str, file: &str, batch: usize, secs: f64) {
    let plain = run(name, file, batch, secs, false);
    let with = run(name, file, batch, secs, true);
    println!(
        "{name}-with-dashboard: {with:.0} samples/s ({:.1}% of training without snapshots)",
        100.0 * with / plain
    );
}

/// Trains for `secs`; with `dashboard`, takes snapshots as the window's worker does.
fn run(name: &str, file: &str, batch: usize, secs: f64, dashboard: bool) -> f64 {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("projects")
        .join(file);
    let project = Project::load(&path).expect("example project");
    let mut config = project.training.clone().expect("training settings");
    config.batch_size = batch;
    config.epochs = usize::MAX / 2;
    config.patience = 0; // no early stopping: measure steps, not a finished run
    config.device = DeviceChoice::Cpu;
    let prepared = Prepared::new(&config, path.parent()).expect("dataset");
    let device = TrainDevice::choose(DeviceChoice::Cpu).expect("cpu");
    let mut fresh = Trainer::new(&project.graph, &config, prepared, device).expect("trainer");
    for _ in 0..20 {
        fresh.step().expect("warm-up step");
    }
    let start = Instant::now();
    let steps_before = fresh.steps_done();
    let mut samples = 0usize;
    let mut clock = SnapshotClock::new(SNAPSHOT_SHARE, SNAPSHOT_MIN_GAP);
    let mut snapshots = 0;
    let mut snapshot_time = 0.0;
    while start.elapsed().as_secs_f64() < secs {
        let r = fresh.step().expect("step");
        assert!(r.finished.is_none(), "the run ended during the benchmark");
        samples += batch;
        if dashboard && clock.due(Instant::now()) {
            let t = Instant::now();
            fresh.snapshot().expect("snapshot");
            let now = Instant::now();
            clock.took(now - t, now);
            snapshots += 1;
            snapshot_time += (now - t).as_secs_f64();
        }
    }
    let wall = start.elapsed().as_secs_f64();
    let steps = fresh.steps_done() - steps_before;
    if dashboard {
        // With snapshots: samples over all the time spent (steps, scoring and snapshots).
        let per_s = samples as f64 / wall;
        eprintln!(
            "  ({name} with dashboard: {snapshots} snapshots, {:.1} ms each, {per_s:.0} samples/s wall clock)",
            1000.0 * snapshot_time / snapshots.max(1) as f64
        );
        return per_s;
    }
    // Trainer::throughput counts only the steps (its own clock around each one).
    println!(
        "{name}: {:.0} samples/s ({steps} steps, batch {batch}; {:.0} samples/s wall clock with \
         end-of-epoch scoring)",
        fresh.throughput(),
        samples as f64 / wall
    );
    samples as f64 / wall
}

fn main() {
    let secs = std::env::var("NODEGRAD_BENCH_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3.0);
    bench("spiral-mlp", "spiral-mlp.ron", 32, secs);
    bench("digits-mlp", "digits-mlp.ron", 64, secs);
    bench("digits-cnn", "digits-lenet.ron", 64, secs);
}
