//! The example projects, loaded and evaluated, against the lecture's worked numbers.

mod common;

use common::{assert_close, eval_cpu, load};
use nodegrad::analysis::analyze;
use nodegrad::exec::Evaluation;
use nodegrad::graph::Graph;
use nodegrad::project::{Project, list_projects};

fn by_name<'a>(g: &Graph, e: &'a Evaluation, name: &str) -> (&'a [f64], &'a [f64]) {
    let id = g.find(name).unwrap_or_else(|| panic!("no node {name}")).id;
    let n = &e.nodes[&id];
    (n.value.data(), n.grad.as_ref().expect("gradient").data())
}

/// (node, value, gradient) rows checked element by element.
fn check(project: &str, rows: &[(&str, &[f64], &[f64])]) {
    let p = load(project);
    let e = eval_cpu(&p.graph);
    for (name, value, grad) in rows {
        let (v, g) = by_name(&p.graph, &e, name);
        assert_eq!(v.len(), value.len(), "{project} {name} value");
        for i in 0..v.len() {
            assert_close(
                v[i],
                value[i],
                1e-9,
                &format!("{project} {name} value[{i}]"),
            );
            assert_close(g[i], grad[i], 1e-9, &format!("{project} {name} grad[{i}]"));
        }
    }
}

#[test]
fn computational_graph_worked_example() {
    // J = 3(a + bc), a = 5, b = 3, c = 2.
    check(
        "computational-graph.ron",
        &[
            ("a", &[5.0], &[3.0]),
            ("b", &[3.0], &[6.0]),
            ("c", &[2.0], &[9.0]),
            ("u", &[6.0], &[3.0]),
            ("v", &[11.0], &[3.0]),
            ("J", &[33.0], &[1.0]),
        ],
    );
}

#[test]
fn linear_regression() {
    // y-hat = 1.5 * 2 + 0.5 = 3.5; L = 1/2 (7 - 3.5)^2 = 6.125; dL/dy-hat = -(y - y-hat) = -3.5.
    check(
        "linear-regression.ron",
        &[
            ("y_hat", &[3.5], &[-3.5]),
            ("L", &[6.125], &[1.0]),
            ("w", &[1.5], &[-7.0]),
            ("b", &[0.5], &[-3.5]),
            ("x", &[2.0], &[-5.25]),
            ("error", &[3.5], &[3.5]),
        ],
    );
}

#[test]
fn logistic_regression() {
    // z = 1 * 0.5 + 2 * -0.25 + 0.1 = 0.1; p = sigmoid(z); L = -ln p; dL/dz = p - 1.
    let p = 1.0 / (1.0 + (-0.1f64).exp());
    let dz = p - 1.0;
    check(
        "logistic-regression.ron",
        &[
            ("z", &[0.1], &[dz]),
            ("y_hat", &[p], &[-1.0 / p]),
            ("L", &[-p.ln()], &[1.0]),
            ("w", &[0.5, -0.25], &[dz * 1.0, dz * 2.0]),
            ("b", &[0.1], &[dz]),
        ],
    );
}

#[test]
fn xor_mlp_by_hand() {
    let s = |z: f64| 1.0 / (1.0 + (-z).exp());
    // x = (1, 0); W1 = [[6, 4], [6, 4]], b1 = [-3, -6]; W2 = [8, -8], b2 = -4; target 1.
    let z1 = [6.0 - 3.0, 4.0 - 6.0];
    let h = [s(z1[0]), s(z1[1])];
    let z2 = 8.0 * h[0] - 8.0 * h[1] - 4.0;
    let y = s(z2);
    let l = (y - 1.0).powi(2);
    let dy = 2.0 * (y - 1.0);
    let dz2 = dy * y * (1.0 - y);
    let dh = [dz2 * 8.0, dz2 * -8.0];
    let dz1 = [dh[0] * h[0] * (1.0 - h[0]), dh[1] * h[1] * (1.0 - h[1])];
    check(
        "xor-mlp.ron",
        &[
            ("hidden", &z1, &dz1),
            ("h", &h, &dh),
            ("out", &[z2], &[dz2]),
            ("y_hat", &[y], &[dy]),
            ("L", &[l], &[1.0]),
        ],
    );
    let p = load("xor-mlp.ron");
    let e = eval_cpu(&p.graph);
    let hidden = &e.nodes[&p.graph.find("hidden").unwrap().id];
    let dw = hidden.tensors["weight"]
        .grad
        .as_ref()
        .unwrap()
        .data()
        .to_vec();
    // dL/dW1[i][j] = x_i * dz1_j with x = (1, 0).
    for (got, want) in dw.iter().zip([dz1[0], dz1[1], 0.0, 0.0]) {
        assert_close(*got, want, 1e-9, "dL/dW1");
    }
    let db = hidden.tensors["bias"]
        .grad
        .as_ref()
        .unwrap()
        .data()
        .to_vec();
    assert_close(db[0], dz1[0], 1e-9, "dL/db1");
    // N_F = (2 + 1) * 2 + (2 + 1) * 1 = 9.
    assert_eq!(analyze(&p.graph).total_params, 9);
}

#[test]
fn every_example_loads_clean_and_round_trips() {
    let dir = common::project_path("");
    let files = list_projects(&dir);
    assert!(files.len() >= 4, "{files:?}");
    for f in files {
        let p = Project::load(&f).unwrap_or_else(|e| panic!("{e}"));
        assert!(
            p.load_diagnostics.is_empty(),
            "{}: {:?}",
            f.display(),
            p.load_diagnostics
        );
        let a = analyze(&p.graph);
        assert!(!a.has_errors(), "{}: {:?}", f.display(), a.diagnostics);
        assert!(a.output.is_some(), "{} has an output", f.display());
        let text = p.to_ron().unwrap();
        let again = Project::parse(&text, "again").unwrap();
        assert_eq!(
            again.to_ron().unwrap(),
            text,
            "{} save -> load -> save",
            f.display()
        );
        assert_eq!(again.graph, p.graph);
    }
}
