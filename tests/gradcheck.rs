//! The gradient check passes on every example and catches a wrong derivative.

mod common;

use nodegrad::analysis::analyze;
use nodegrad::exec::Engine;
use nodegrad::gradcheck::{THRESHOLD, check};
use nodegrad::project::list_projects;

#[test]
fn every_example_passes() {
    for file in list_projects(&common::project_path("")) {
        let p = nodegrad::project::Project::load(&file).unwrap();
        let a = analyze(&p.graph);
        let e = Engine::cpu().evaluate(&p.graph, &a).unwrap();
        let checks = check(&p.graph, &a, &e).unwrap();
        assert!(!checks.is_empty());
        for c in checks {
            assert!(
                c.passed(),
                "{}: node {} {}: relative error {}",
                file.display(),
                c.node,
                c.key,
                c.max_rel_error
            );
        }
    }
}

#[test]
fn a_broken_op_is_caught() {
    // L = (a * broken(x)) with x = 3: the broken op claims d(x^2)/dx = x.
    use nodegrad::graph::{Array, Graph, Op};
    let mut g = Graph::new();
    let x = g.add(Op::Input, [0.0, 0.0]);
    g.set_tensor(x, "value", Array::scalar(3.0)).unwrap();
    let a = g.add(
        Op::Parameter {
            init: nodegrad::graph::Init::Zeros,
        },
        [0.0, 0.0],
    );
    g.set_tensor(a, "value", Array::scalar(2.0)).unwrap();
    let sq = g.add(Op::TestBrokenSquare, [0.0, 0.0]);
    g.connect(x, sq, 0).unwrap();
    let m = g.add(Op::Mul, [0.0, 0.0]);
    g.connect(a, m, 0).unwrap();
    g.connect(sq, m, 1).unwrap();
    let an = analyze(&g);
    let e = Engine::cpu().evaluate(&g, &an).unwrap();
    assert_eq!(e.nodes[&sq].value, Array::scalar(9.0), "the value is right");
    let checks = check(&g, &an, &e).unwrap();
    let of = |id| checks.iter().find(|c| c.node == id).unwrap();
    assert!(
        !of(x).passed(),
        "x's gradient goes through the broken op: {}",
        of(x).max_rel_error
    );
    assert!(of(a).passed(), "a's does not");
}

#[test]
fn a_wrong_derivative_is_caught() {
    // As if Pow's derivative were off by 1% (3x^2 * 1.01): only x, whose gradient flows
    // through it, fails; y, which does not depend on it, passes.
    let p = common::load("chain-rule-fan-out.ron");
    let a = analyze(&p.graph);
    let mut e = Engine::cpu().evaluate(&p.graph, &a).unwrap();
    let x = p.graph.find("x").unwrap().id;
    let y = p.graph.find("y").unwrap().id;
    let x_value_grad = e
        .nodes
        .get_mut(&x)
        .unwrap()
        .tensors
        .get_mut("value")
        .unwrap()
        .grad
        .as_mut()
        .unwrap();
    assert_eq!(
        x_value_grad.data(),
        [8.5],
        "an Input's own tensor carries its gradient"
    );
    x_value_grad.data_mut()[0] = 8.5 + 4.0 * 0.01;
    let checks = check(&p.graph, &a, &e).unwrap();
    let of = |id| checks.iter().find(|c| c.node == id).unwrap();
    assert!(!of(x).passed(), "relative error {}", of(x).max_rel_error);
    assert!(of(x).max_rel_error > 100.0 * THRESHOLD);
    assert!(of(y).passed());
}

#[test]
fn values_at_a_kink_are_counted_not_compared() {
    // relu(x) at x = 0: the left slope is 0, the right slope 1; autodiff says 0.
    let mut g = nodegrad::graph::Graph::new();
    let x = g.add(nodegrad::graph::Op::Input, [0.0, 0.0]);
    g.set_tensor(x, "value", nodegrad::graph::Array::vector(vec![0.0, 2.0]))
        .unwrap();
    let r = g.add(nodegrad::graph::Op::ReLU, [0.0, 0.0]);
    g.connect(x, r, 0).unwrap();
    let s = g.add(nodegrad::graph::Op::Sum { axis: None }, [0.0, 0.0]);
    g.connect(r, s, 0).unwrap();
    let a = analyze(&g);
    let e = Engine::cpu().evaluate(&g, &a).unwrap();
    let checks = check(&g, &a, &e).unwrap();
    assert_eq!(checks.len(), 1);
    assert_eq!(checks[0].kinks, 1, "x = 0 is a kink");
    assert!(checks[0].passed(), "x = 2 checks out: {:?}", checks[0]);
}
