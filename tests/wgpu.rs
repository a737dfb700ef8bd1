//! The same evaluation on burn's wgpu backend (f32). In CI it runs on Mesa lavapipe; where
//! no adapter exists it says so loudly, and fails when NODEGRAD_REQUIRE_WGPU=1.

mod common;

use nodegrad::analysis::analyze;
use nodegrad::exec::Engine;
use nodegrad::project::list_projects;

pub fn wgpu_engine() -> Option<Engine> {
    match Engine::wgpu() {
        Ok(e) => Some(e),
        Err(e) => {
            let required = std::env::var("NODEGRAD_REQUIRE_WGPU").is_ok_and(|v| v == "1");
            eprintln!(
                "\n!!!!!!!!\n!!! WGPU TEST SKIPPED: {e}\n!!! install mesa-vulkan-drivers for lavapipe\n!!!!!!!!\n"
            );
            assert!(
                !required,
                "NODEGRAD_REQUIRE_WGPU=1 but wgpu is unavailable: {e}"
            );
            None
        }
    }
}

#[test]
fn examples_on_wgpu_match_cpu() {
    let Some(gpu) = wgpu_engine() else { return };
    let cpu = Engine::cpu();
    for file in list_projects(&common::project_path("")) {
        let p = nodegrad::project::Project::load(&file).unwrap();
        let a = analyze(&p.graph);
        let want = cpu.evaluate(&p.graph, &a).unwrap();
        let got = gpu.evaluate(&p.graph, &a).unwrap();
        assert_eq!(got.output, want.output);
        for (id, w) in &want.nodes {
            let g = &got.nodes[id];
            let pairs = w.value.data().iter().zip(g.value.data()).chain(
                w.grad
                    .as_ref()
                    .unwrap()
                    .data()
                    .iter()
                    .zip(g.grad.as_ref().unwrap().data()),
            );
            for (x, y) in pairs {
                assert!(
                    (x - y).abs() <= 1e-4 * (1.0 + x.abs()),
                    "{}: node {id}: cpu {x}, wgpu {y}",
                    file.display()
                );
            }
        }
    }
}

/// A short training run on wgpu (lavapipe in CI): the loss falls and the weights follow the
/// CPU run (both f32) closely.
#[test]
fn training_steps_on_wgpu_follow_the_cpu() {
    use nodegrad::project::training::DeviceChoice;
    use nodegrad::train::{Prepared, TrainDevice, Trainer};
    if wgpu_engine().is_none() {
        return;
    }
    let p = common::load("spiral-mlp.ron");
    let config = p.training.clone().unwrap();
    let run = |choice: DeviceChoice| {
        let device = TrainDevice::choose(choice).unwrap_or_else(|e| panic!("{e}"));
        let prepared = Prepared::new(&config, None).unwrap();
        let mut t = Trainer::new(&p.graph, &config, prepared, device).unwrap();
        let rows = t.prepared.split.train.clone();
        let before = t.score(&rows).unwrap().loss;
        for _ in 0..40 {
            t.step().unwrap_or_else(|e| panic!("{choice:?}: {e}"));
        }
        let after = t.score(&rows).unwrap().loss;
        (before, after, t.weights().unwrap(), t.device.name.clone())
    };
    let (b, a, gpu_w, name) = run(DeviceChoice::Wgpu);
    eprintln!("trained on {name}");
    assert!(name.starts_with("GPU (burn wgpu"), "{name}");
    assert!(a < b, "wgpu loss {b} -> {a}");
    let (_, _, cpu_w, _) = run(DeviceChoice::Cpu);
    for ((_, key, g), (_, _, c)) in gpu_w.iter().zip(&cpu_w) {
        for (x, y) in g.data().iter().zip(c.data()) {
            assert!(
                (x - y).abs() <= 1e-3 * (1.0 + y.abs()),
                "{key}: wgpu {x}, cpu {y}"
            );
        }
    }
}
