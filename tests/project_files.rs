//! Malformed files, versions, unknown names, determinism and atomic saves.

mod common;

use nodegrad::analysis::{Severity, analyze};
use nodegrad::graph::{Array, Graph, Init, Op};
use nodegrad::project::{Project, ProjectError};

/// (file text, fragment the error must contain, with its place).
fn check_error(text: &str, expected: &str) {
    let err = Project::parse(text, "broken.ron")
        .expect_err("should be refused")
        .to_string();
    assert!(
        err.contains(expected),
        "error {err:?} should contain {expected:?}"
    );
}

#[test]
fn malformed_files_name_the_place() {
    check_error("(version: 1, nodes: [", "broken.ron:1:");
    check_error(
        "(\n    version: 1,\n    nodes: [\n        (name: \"a\", op: Frobnicate),\n    ],\n)",
        "broken.ron:4:",
    );
    check_error(
        "(version: 1, nodes: [(name: \"a\", op: Frobnicate)])",
        "Frobnicate",
    );
    check_error("(version: 1, nodes: [], colour: 3)", "colour");
    check_error(
        "(version: 9, nodes: [])",
        "newer nodegrad (format version 9)",
    );
    check_error("(version: 0, nodes: [])", "unknown format version 0");
    check_error(
        "(version: 1, nodes: [\n (name: \"a\", op: Input),\n (name: \"a\", op: Input),\n])",
        "broken.ron:3:",
    );
    check_error(
        "(version: 1, nodes: [(name: \"a b\", op: Input)])",
        "not a valid node name",
    );
    check_error(
        "(version: 1, nodes: [(name: \"a\", op: Input, value: Tensor(shape: [2, 2], data: [1.0]))])",
        "needs 4 values",
    );
    check_error(
        "(version: 1, nodes: [(name: \"a\", op: Input, value: Tensor(shape: [2, 0], data: []))])",
        "dimension of size 0",
    );
    check_error(
        "(version: 1, nodes: [(id: 18446744073709551615, name: \"a\", op: Input)])",
        "ids go up to",
    );
}

#[test]
fn newer_version_is_refused_even_with_unknown_fields() {
    let err = Project::parse("(version: 2, nodes: [], dataset: (rows: 3))", "new.ron").unwrap_err();
    assert!(
        matches!(err, ProjectError::NewerVersion { found: 2, .. }),
        "{err}"
    );
}

#[test]
fn unknown_names_become_diagnostics_on_the_node() {
    let p = Project::parse(
        "(version: 1, output: \"nope\", nodes: [(name: \"a\", op: Input, value: Scalar(1.0)), \
         (name: \"n\", op: Neg, inputs: {\"x\": \"ghost\", \"y\": \"a\"})])",
        "f.ron",
    )
    .unwrap();
    let texts: Vec<String> = p.load_diagnostics.iter().map(|d| d.to_string()).collect();
    assert!(
        texts
            .iter()
            .any(|t| t.contains("node `n` input `x`") && t.contains("`ghost`")),
        "{texts:?}"
    );
    assert!(
        texts
            .iter()
            .any(|t| t.contains("input `y`") && t.contains("inputs x")),
        "{texts:?}"
    );
    assert!(
        texts.iter().any(|t| t.contains("output names `nope`")),
        "{texts:?}"
    );
    assert!(
        p.load_diagnostics
            .iter()
            .all(|d| d.severity == Severity::Error)
    );
}

#[test]
fn hand_written_file_without_ids_gets_ids_and_round_trips() {
    let p = Project::parse(
        "(version: 1, nodes: [(name: \"a\", op: Input, value: Scalar(2.0)), \
         (name: \"sq\", op: Pow(exponent: 2.0), inputs: {\"x\": \"a\"})])",
        "f.ron",
    )
    .unwrap();
    let text = p.to_ron().unwrap();
    assert!(text.contains("id: 1") && text.contains("id: 2"), "{text}");
    let again = Project::parse(&text, "g.ron").unwrap();
    assert_eq!(again.to_ron().unwrap(), text);
}

#[test]
fn save_is_deterministic_and_atomic() {
    let mut g = Graph::new();
    let x = g.add(Op::Input, [10.5, 20.25]);
    g.set_tensor(
        x,
        "value",
        Array::new(vec![2, 2], vec![0.1, 1.0 / 3.0, -2.5e-8, 1e20]).unwrap(),
    )
    .unwrap();
    let d = g.add(
        Op::Dense {
            units: 3,
            init: Init::HeNormal,
        },
        [100.0, 0.0],
    );
    let f = g.add(Op::Flatten, [50.0, 0.0]);
    g.connect(x, f, 0).unwrap();
    g.connect(f, d, 0).unwrap();
    let mut p = Project::from_graph(g);
    p.title = "round trip".into();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.ron");
    p.save(&path).unwrap();
    let first = std::fs::read_to_string(&path).unwrap();
    let loaded = Project::load(&path).unwrap();
    assert_eq!(loaded.graph, p.graph);
    loaded.save(&path).unwrap();
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        first,
        "save -> load -> save is byte-identical"
    );
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        1,
        "no temp file left behind"
    );
    // Saving into a folder that does not exist fails and creates nothing.
    let bad = dir.path().join("missing").join("p.ron");
    assert!(matches!(p.save(&bad), Err(ProjectError::Write { .. })));
}

#[test]
fn failed_load_changes_nothing_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("broken.ron");
    std::fs::write(&path, "(version: 1, nodes: [").unwrap();
    let err = Project::load(&path).unwrap_err().to_string();
    assert!(err.starts_with(&format!("{}:1:", path.display())), "{err}");
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        "(version: 1, nodes: ["
    );
}

#[test]
fn a_cycle_in_a_file_is_reported_not_fatal() {
    let p = Project::parse(
        "(version: 1, nodes: [(name: \"a\", op: Neg, inputs: {\"x\": \"b\"}), \
         (name: \"b\", op: Neg, inputs: {\"x\": \"a\"}), (name: \"c\", op: Input, value: Scalar(1.0)), \
         (name: \"d\", op: Exp, inputs: {\"x\": \"c\"})])",
        "cycle.ron",
    )
    .unwrap();
    let a = analyze(&p.graph);
    let cyc: Vec<String> = a
        .diagnostics
        .iter()
        .filter(|d| d.message.contains("cycle"))
        .map(|d| d.to_string())
        .collect();
    assert_eq!(cyc.len(), 2, "{cyc:?}");
    assert!(
        cyc[0].contains("a -> b -> a") || cyc[0].contains("b -> a -> b"),
        "{cyc:?}"
    );
    // The rest of the graph still evaluates.
    assert!(a.is_evaluable(p.graph.find("d").unwrap().id));
}

/// Saving goes through a private temp file: the saved file must keep the target's
/// permissions (a new one gets 0644), not the temp file's 0600.
#[cfg(unix)]
#[test]
fn saving_keeps_the_files_permissions() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("p.ron");
    let p =
        nodegrad::project::Project::load(&common::project_path("computational-graph.ron")).unwrap();
    p.save(&file).unwrap();
    let mode = |f: &std::path::Path| std::fs::metadata(f).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&file), 0o644, "a new file");
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o664)).unwrap();
    p.save(&file).unwrap();
    assert_eq!(mode(&file), 0o664, "an existing file keeps its mode");
}
