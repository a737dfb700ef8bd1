//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::PathBuf;

use nodegrad::analysis::analyze;
use nodegrad::exec::{Engine, Evaluation};
use nodegrad::graph::Graph;
use nodegrad::project::Project;

pub fn project_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("projects")
        .join(name)
}

pub fn load(name: &str) -> Project {
    Project::load(&project_path(name)).unwrap_or_else(|e| panic!("{e}"))
}

pub fn eval_cpu(graph: &Graph) -> Evaluation {
    let analysis = analyze(graph);
    assert!(
        !analysis.has_errors(),
        "unexpected diagnostics: {:?}",
        analysis.diagnostics
    );
    Engine::cpu()
        .evaluate(graph, &analysis)
        .expect("evaluation")
}

pub fn assert_close(got: f64, want: f64, tol: f64, what: &str) {
    let scale = 1.0f64.max(want.abs());
    assert!(
        (got - want).abs() <= tol * scale,
        "{what}: got {got}, want {want}"
    );
}
