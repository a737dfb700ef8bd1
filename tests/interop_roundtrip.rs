//! Export -> import -> evaluate (issue 17): every example whose ops export to ONNX comes back
//! from its own ONNX file as a graph that computes the same numbers, node by node, on the
//! example's own inputs. Needs no Python: both directions are nodegrad's own code.

mod common;

use std::collections::BTreeMap;
use std::process::Command;

use nodegrad::graph::{Graph, Op};
use nodegrad::interop::{onnx_export, onnx_import};
use onnx_ir::Message;

/// The weights travel as f32 (ONNX FLOAT), the evaluation runs in f64: values agree to f32
/// precision, relative to the value's size.
const TOL: f64 = 2e-5;

/// Copies the original graph's input values into the imported graph (the importer draws
/// sample inputs of its own), matching Input nodes by their sanitized names.
fn feed_original_inputs(original: &Graph, imported: &mut Graph, what: &str) -> usize {
    let mut fed = 0;
    for n in original.nodes().filter(|n| n.op == Op::Input) {
        let name = onnx_import::sanitize(&n.name);
        let Some(target) = imported.find(&name).map(|t| t.id) else {
            continue;
        };
        let value = n.value().expect("an Input has a value").clone();
        imported
            .set_tensor(target, "value", value)
            .unwrap_or_else(|e| panic!("{what}: input {name}: {e}"));
        fed += 1;
    }
    fed
}

/// Compares every node that exists in both graphs under the same name; returns how many
/// values (and how many numbers) were compared.
fn compare(original: &Graph, imported: &Graph, what: &str) -> (usize, usize) {
    let a = common::eval_cpu(original);
    let b = common::eval_cpu(imported);
    let by_name: BTreeMap<String, _> = imported
        .nodes()
        .map(|n| (n.name.clone(), &b.nodes[&n.id].value))
        .collect();
    let (mut values, mut numbers) = (0, 0);
    for n in original.nodes() {
        let Some(got) = by_name.get(&onnx_import::sanitize(&n.name)) else {
            continue;
        };
        let want = &a.nodes[&n.id].value;
        assert_eq!(got.len(), want.len(), "{what}: size of {}", n.name);
        for (i, (g, w)) in got.data().iter().zip(want.data()).enumerate() {
            common::assert_close(*g, *w, TOL, &format!("{what}: {}[{i}]", n.name));
        }
        values += 1;
        numbers += want.len();
    }
    (values, numbers)
}

#[test]
fn every_exportable_example_comes_back_from_onnx_with_the_same_numbers() {
    let dir = common::project_path("");
    let mut paths: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "ron"))
        .collect();
    paths.sort();
    let mut round_tripped = Vec::new();
    for path in &paths {
        let what = path.file_name().unwrap().to_string_lossy().into_owned();
        let project = nodegrad::project::Project::load(path).unwrap();
        let model = match onnx_export::build(&project.graph, false) {
            Ok(m) => m,
            Err(e) => {
                eprintln!("NOT EXPORTABLE (so not round-tripped): {what}: {e}");
                continue;
            }
        };
        let bytes = model.write_to_bytes().expect("protobuf bytes");
        let mut imported = onnx_import::import_bytes(&bytes, &what)
            .unwrap_or_else(|e| panic!("{what}: its own ONNX export does not import: {e}"))
            .graph;
        let fed = feed_original_inputs(&project.graph, &mut imported, &what);
        assert!(fed > 0, "{what}: no input came back by name");
        // The prediction the ONNX model outputs is a node of both graphs.
        let out = imported.output.expect("the import names an output");
        let out_name = imported.node(out).unwrap().name.clone();
        assert!(
            project
                .graph
                .nodes()
                .any(|n| onnx_import::sanitize(&n.name) == out_name),
            "{what}: the imported output {out_name} is a node of the original"
        );
        let (values, numbers) = compare(&project.graph, &imported, &what);
        assert!(values >= 2, "{what}: only {values} values compared");
        eprintln!("{what}: {values} node values ({numbers} numbers) agree after export -> import");
        round_tripped.push(what);
    }
    // Every example but the ones named above round-trips; the lecture's graphs and the CNN
    // must be among them.
    for must in [
        "computational-graph.ron",
        "digits-lenet.ron",
        "digits-mlp.ron",
        "spiral-mlp.ron",
        "xor-mlp.ron",
    ] {
        assert!(
            round_tripped.iter().any(|r| r == must),
            "{must} did not round-trip: {round_tripped:?}"
        );
    }
}

#[test]
fn the_cli_round_trip_of_lenet_gives_a_project_that_evaluates_like_the_original() {
    let dir = tempfile::tempdir().unwrap();
    let onnx = dir.path().join("lenet.onnx");
    let ron = dir.path().join("lenet.ron");
    let bin = env!("CARGO_BIN_EXE_nodegrad");
    let original = common::load("digits-lenet.ron");
    let out = Command::new(bin)
        .arg("export")
        .arg(common::project_path("digits-lenet.ron"))
        .args(["--to", "onnx", "-o"])
        .arg(&onnx)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = Command::new(bin)
        .arg("import")
        .arg(&onnx)
        .arg("-o")
        .arg(&ron)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut imported = nodegrad::project::Project::load(&ron).unwrap().graph;
    feed_original_inputs(&original.graph, &mut imported, "lenet");
    let (values, numbers) = compare(&original.graph, &imported, "lenet via the CLI");
    // conv1, pool1, conv2, pool2, the dense layers, ... and the input.
    assert!(values >= 8, "only {values} values compared");
    eprintln!("digits-lenet via the CLI: {values} values ({numbers} numbers) agree");
}

#[test]
fn the_lecture_graph_comes_back_with_its_scale_and_no_parameters() {
    let original = common::load("computational-graph.ron");
    let bytes = onnx_export::build(&original.graph, false)
        .unwrap()
        .write_to_bytes()
        .unwrap();
    let imported = onnx_import::import_bytes(&bytes, "lecture").unwrap().graph;
    // J = 3v: a Scale with its factor on the card, not a trainable one-number Parameter.
    assert_eq!(
        imported.find("J").map(|n| &n.op),
        Some(&Op::Scale { factor: 3.0 })
    );
    assert!(
        imported
            .nodes()
            .all(|n| !matches!(n.op, Op::Parameter { .. })),
        "no parameters: {:?}",
        imported
            .nodes()
            .map(|n| (&n.name, &n.op))
            .collect::<Vec<_>>()
    );
    for name in ["a", "b", "c", "u", "v", "J"] {
        assert!(imported.find(name).is_some(), "{name} keeps its name");
    }
}
