//! `cargo bench --bench remote`: training throughput through `nodegrad serve` on loopback
//! (burn's remote backend over WebSocket) against local CPU training, for spiral-mlp
//! (batch 32) and digits-lenet (batch 64). One line per model:
//! `NAME: local X samples/s, remote Y samples/s (Y/X)`. The loss is read every step in both
//! (as training does), so every remote step waits for a round trip.
//!
//! The server is the built binary (`nodegrad serve --device D`, D from
//! `NODEGRAD_BENCH_SERVER_DEVICE`, default cpu) on 127.0.0.1 with a free port; on one machine
//! client and server share its cores. `NODEGRAD_BENCH_SECS` sets the seconds per
//! measurement (default 3).

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Instant;

use nodegrad::project::Project;
use nodegrad::project::training::DeviceChoice;
use nodegrad::train::{Prepared, TrainDevice, Trainer};

/// Samples per second over `secs` of steps (after a warm-up), on `device`.
fn run(file: &str, batch: usize, secs: f64, device: DeviceChoice, url: &str) -> f64 {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("projects")
        .join(file);
    let project = Project::load(&path).expect("example project");
    let mut config = project.training.clone().expect("training settings");
    config.batch_size = batch;
    config.epochs = usize::MAX / 2;
    config.patience = 0;
    config.device = device;
    config.remote_address = url.to_string();
    let prepared = Prepared::new(&config, path.parent()).expect("dataset");
    let device = TrainDevice::for_config(&config).unwrap_or_else(|e| panic!("{e}"));
    let mut t = Trainer::new(&project.graph, &config, prepared, device).expect("trainer");
    for _ in 0..10 {
        t.step().expect("warm-up step");
    }
    let start = Instant::now();
    let mut samples = 0usize;
    while start.elapsed().as_secs_f64() < secs {
        t.step().expect("step");
        samples += batch;
    }
    samples as f64 / start.elapsed().as_secs_f64()
}

fn main() {
    let secs = std::env::var("NODEGRAD_BENCH_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3.0);
    let server_device =
        std::env::var("NODEGRAD_BENCH_SERVER_DEVICE").unwrap_or_else(|_| "cpu".into());
    // `NODEGRAD_BIN` overrides the binary (a target directory shared by several checkouts
    // can hold another checkout's binary at cargo's path).
    let bin =
        std::env::var_os("NODEGRAD_BIN").unwrap_or_else(|| env!("CARGO_BIN_EXE_nodegrad").into());
    let mut server = Command::new(bin)
        .args(["serve", "--bind", "127.0.0.1:0", "--device", &server_device])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("nodegrad serve starts");
    let mut lines = BufReader::new(server.stdout.take().expect("stdout")).lines();
    let mut url = None;
    for line in lines.by_ref().map_while(Result::ok) {
        if let Some(u) = line.split("listening on ").nth(1) {
            url = Some(u.trim().to_string());
        }
        if line.starts_with("computing on:") {
            println!("server {line}");
            break;
        }
    }
    let url = url.expect("the server printed its address");
    // Keep reading, so the server never blocks on a full pipe.
    std::thread::spawn(move || lines.map_while(Result::ok).for_each(drop));
    for (name, file, batch) in [
        ("spiral-mlp", "spiral-mlp.ron", 32),
        ("digits-lenet", "digits-lenet.ron", 64),
    ] {
        let local = run(file, batch, secs, DeviceChoice::Cpu, &url);
        let remote = run(file, batch, secs, DeviceChoice::Remote, &url);
        println!(
            "{name}: local CPU {local:.0} samples/s, remote over loopback {remote:.0} samples/s \
             ({:.2}x), batch {batch}",
            remote / local
        );
    }
    let _ = server.kill();
    let _ = server.wait();
}
