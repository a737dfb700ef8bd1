//! Analysis: diagnostics with places, parameter counts (the lecture's N_F), hostile sizes,
//! deep graphs.

mod common;

use nodegrad::analysis::{Options, Severity, analyze, analyze_with};
use nodegrad::exec::Engine;
use nodegrad::graph::{Array, Graph, Init, NodeId, Op};

fn chain_of_dense(layers: &[usize]) -> (Graph, Vec<NodeId>) {
    let mut g = Graph::new();
    let x = g.add(Op::Input, [0.0, 0.0]);
    g.set_tensor(x, "value", Array::zeros(vec![layers[0]]))
        .unwrap();
    let mut prev = x;
    let mut ids = vec![x];
    for &units in &layers[1..] {
        let d = g.add(
            Op::Dense {
                units,
                init: Init::XavierUniform,
            },
            [0.0, 0.0],
        );
        g.connect(prev, d, 0).unwrap();
        let s = g.add(Op::Sigmoid, [0.0, 0.0]);
        g.connect(d, s, 0).unwrap();
        ids.push(d);
        prev = s;
    }
    (g, ids)
}

#[test]
fn parameter_count_matches_the_lecture_formula() {
    // N_F = sum over layers of (n_{l-1} + 1) * n_l.
    for layers in [vec![2, 2, 1], vec![4, 8, 8, 3], vec![784, 128, 10]] {
        let (g, _) = chain_of_dense(&layers);
        let nf: usize = layers.windows(2).map(|w| (w[0] + 1) * w[1]).sum();
        assert_eq!(analyze(&g).total_params, nf, "{layers:?}");
    }
}

#[test]
fn unconnected_input_names_node_and_port() {
    let mut g = Graph::new();
    let a = g.add(Op::Input, [0.0, 0.0]);
    let m = g.add(Op::Mul, [0.0, 0.0]);
    g.connect(a, m, 0).unwrap();
    let an = analyze(&g);
    let d = an
        .diagnostics
        .iter()
        .find(|d| d.node == Some(m))
        .expect("diagnostic on mul1");
    assert_eq!(d.severity, Severity::Error);
    assert_eq!(d.port, Some(1));
    assert_eq!(
        d.to_string(),
        "error: node `mul1` input `rhs` is not connected: wire a value into it"
    );
    assert!(!an.is_evaluable(m));
}

#[test]
fn shape_mismatch_is_reported_on_the_node() {
    let mut g = Graph::new();
    let a = g.add(Op::Input, [0.0, 0.0]);
    g.set_tensor(a, "value", Array::vector(vec![1.0, 2.0]))
        .unwrap();
    let b = g.add(Op::Input, [0.0, 0.0]);
    g.set_tensor(b, "value", Array::vector(vec![1.0, 2.0, 3.0]))
        .unwrap();
    let s = g.add(Op::Add, [0.0, 0.0]);
    g.connect(a, s, 0).unwrap();
    g.connect(b, s, 1).unwrap();
    let n = g.add(Op::Neg, [0.0, 0.0]);
    g.connect(s, n, 0).unwrap();
    let an = analyze(&g);
    let errs: Vec<String> = an
        .diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .map(|d| d.to_string())
        .collect();
    assert_eq!(
        errs,
        vec![
            "error: node `add1` shapes [2] and [3] do not fit together element-wise: sizes must match or be 1"
        ]
    );
    // Downstream nodes are not blamed again, and evaluation still runs for the rest.
    let e = Engine::cpu().evaluate(&g, &an).unwrap();
    assert!(e.nodes.contains_key(&a) && !e.nodes.contains_key(&n));
}

#[test]
fn nan_input_is_an_error() {
    let mut g = Graph::new();
    let a = g.add(Op::Input, [0.0, 0.0]);
    g.set_tensor(a, "value", Array::vector(vec![1.0, f64::NAN]))
        .unwrap();
    let n = g.add(Op::Neg, [0.0, 0.0]);
    g.connect(a, n, 0).unwrap();
    let an = analyze(&g);
    assert!(an.diagnostics.iter().any(|d| d.to_string()
        == "error: node `x1` value has a NaN or infinite entry at index 1: use a finite number"));
}

#[test]
fn hostile_sizes_are_refused_before_allocation() {
    let (g, ids) = chain_of_dense(&[4, 1_000_000_000]);
    let an = analyze(&g);
    let d = an
        .diagnostics
        .iter()
        .find(|d| d.node == Some(ids[1]))
        .expect("refused");
    assert!(
        d.message.contains("weight [4, 1000000000]") && d.message.contains("memory budget"),
        "{d}"
    );
    // Evaluating anyway allocates nothing for it and does not fail.
    let e = Engine::cpu().evaluate(&g, &an).unwrap();
    assert!(!e.nodes.contains_key(&ids[1]));

    // Broadcasting [100000, 1] against [100000] would make 10^10 values (80 GB).
    let mut g = Graph::new();
    let a = g.add(Op::Input, [0.0, 0.0]);
    g.set_tensor(a, "value", Array::zeros(vec![100_000, 1]))
        .unwrap();
    let b = g.add(Op::Input, [0.0, 0.0]);
    g.set_tensor(b, "value", Array::zeros(vec![100_000]))
        .unwrap();
    let s = g.add(Op::Add, [0.0, 0.0]);
    g.connect(a, s, 0).unwrap();
    g.connect(b, s, 1).unwrap();
    let an = analyze_with(
        &g,
        &Options {
            memory_budget: 1 << 30,
            batch: 1,
        },
    );
    let d = an
        .diagnostics
        .iter()
        .find(|d| d.node == Some(s))
        .expect("refused");
    assert!(
        d.message.contains("output [100000, 100000]") && d.message.contains("GiB"),
        "{d}"
    );
    assert!(
        Engine::cpu()
            .evaluate(&g, &an)
            .unwrap()
            .nodes
            .get(&s)
            .is_none()
    );
}

#[test]
fn ten_thousand_node_chain_evaluates() {
    let mut g = Graph::new();
    let x = g.add(Op::Input, [0.0, 0.0]);
    g.set_tensor(x, "value", Array::scalar(1.0)).unwrap();
    let mut prev = x;
    for _ in 0..10_000 {
        let s = g.add(Op::Scale { factor: 1.0001 }, [0.0, 0.0]);
        g.connect(prev, s, 0).unwrap();
        prev = s;
    }
    let an = analyze(&g);
    assert_eq!(an.order.len(), 10_001);
    assert_eq!(an.output, Some(prev));
    let e = Engine::cpu().evaluate(&g, &an).unwrap();
    let want = 1.0001f64.powi(10_000);
    common::assert_close(e.nodes[&prev].value.data()[0], want, 1e-9, "value");
    common::assert_close(
        e.nodes[&x].grad.as_ref().unwrap().data()[0],
        want,
        1e-9,
        "dJ/dx",
    );
}

#[test]
fn a_class_index_out_of_range_is_an_error() {
    let mut g = Graph::new();
    let z = g.add(Op::Input, [0.0, 0.0]);
    g.set_tensor(z, "value", Array::vector(vec![1.0, 2.0, 3.0]))
        .unwrap();
    let t = g.add(Op::Input, [0.0, 0.0]);
    let ce = g.add(Op::CrossEntropy, [0.0, 0.0]);
    g.connect(z, ce, 0).unwrap();
    g.connect(t, ce, 1).unwrap();
    for (index, ok) in [(2.0, true), (3.0, false), (1.5, false), (-1.0, false)] {
        g.set_tensor(t, "value", Array::scalar(index)).unwrap();
        let e = Engine::cpu().evaluate(&g, &analyze(&g)).unwrap();
        let found = e
            .diagnostics
            .iter()
            .any(|d| d.node == Some(ce) && d.message.contains("class index"));
        assert_eq!(found, !ok, "index {index}: {:?}", e.diagnostics);
    }
}

#[test]
fn several_final_nodes_warn_and_give_no_gradient() {
    let mut g = Graph::new();
    let a = g.add(Op::Input, [0.0, 0.0]);
    let n1 = g.add(Op::Neg, [0.0, 0.0]);
    let n2 = g.add(Op::Exp, [0.0, 0.0]);
    g.connect(a, n1, 0).unwrap();
    g.connect(a, n2, 0).unwrap();
    let an = analyze(&g);
    assert_eq!(an.output, None);
    assert!(
        an.diagnostics
            .iter()
            .any(|d| d.severity == Severity::Warning && d.message.contains("`neg1`, `exp1`"))
    );
    let e = Engine::cpu().evaluate(&g, &an).unwrap();
    assert_eq!(e.nodes[&n2].value, Array::scalar(1.0));
    assert_eq!(e.nodes[&n2].grad, None);
    g.output = Some(n2);
    let e = Engine::cpu().evaluate(&g, &analyze(&g)).unwrap();
    assert_eq!(e.nodes[&a].grad, Some(Array::scalar(1.0)));
}
