//! Every op's gradient against central finite differences in f64, on random inputs,
//! through one data-driven helper.

mod common;

use nodegrad::analysis::analyze;
use nodegrad::exec::Engine;
use nodegrad::graph::ops::Padding;
use nodegrad::graph::{Array, Graph, Init, NodeId, Op, numel};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Where an input's random values come from.
#[derive(Clone, Copy)]
enum Domain {
    /// Anywhere in [-2, 2] but at least 0.1 from 0 (away from kinks).
    Any,
    /// (0.2, 2].
    Positive,
    /// (0.05, 0.95): probabilities.
    Prob,
    /// A fixed value (class index).
    Fixed(f64),
}

fn sample(rng: &mut StdRng, shape: &[usize], d: Domain) -> Array {
    let data = (0..numel(shape))
        .map(|_| match d {
            Domain::Any => {
                let v: f64 = rng.random_range(0.1..2.0);
                if rng.random::<bool>() { v } else { -v }
            }
            Domain::Positive => rng.random_range(0.2..2.0),
            Domain::Prob => rng.random_range(0.05..0.95),
            Domain::Fixed(v) => v,
        })
        .collect();
    Array::new(shape.to_vec(), data).unwrap()
}

/// Builds inputs -> op -> sum(op * C) with a random constant C, and checks the gradient of
/// every input and every owned trainable tensor against central differences.
fn check(op: Op, inputs: &[(&[usize], Domain)], seed: u64) {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut g = Graph::new();
    let node = g.add(op.clone(), [0.0, 0.0]);
    let mut input_ids: Vec<NodeId> = Vec::new();
    for (port, (shape, dom)) in inputs.iter().enumerate() {
        let id = g.add(Op::Input, [0.0, 0.0]);
        g.set_tensor(id, "value", sample(&mut rng, shape, *dom))
            .unwrap();
        g.connect(id, node, port).unwrap();
        input_ids.push(id);
    }
    let a = analyze(&g);
    assert!(!a.has_errors(), "{op:?}: {:?}", a.diagnostics);
    let out_shape = a.shapes[&node].clone();
    let c = g.add(Op::Constant, [0.0, 0.0]);
    g.set_tensor(c, "value", sample(&mut rng, &out_shape, Domain::Any))
        .unwrap();
    let m = g.add(Op::Mul, [0.0, 0.0]);
    g.connect(node, m, 0).unwrap();
    g.connect(c, m, 1).unwrap();
    let s = g.add(Op::Sum { axis: None }, [0.0, 0.0]);
    g.connect(m, s, 0).unwrap();
    g.output = Some(s);
    // Freeze the op's own tensors (Dense weight, PReLU alpha) so perturbing them is possible.
    let owned = analyze(&g).owned[&node].clone();
    for spec in &owned {
        let mut init = sample(&mut rng, &spec.shape, Domain::Any);
        if spec.key == "alpha" {
            init = Array::scalar(0.3);
        }
        if spec.key == "running_var" {
            init = sample(&mut rng, &spec.shape, Domain::Positive);
        }
        g.set_tensor(node, spec.key, init).unwrap();
    }
    let engine = Engine::cpu();
    let objective = |g: &Graph| -> f64 {
        let a = analyze(g);
        engine.evaluate(g, &a).unwrap().objective.unwrap()
    };
    let eval = engine.evaluate(&g, &analyze(&g)).unwrap();
    assert_eq!(eval.output, Some(s), "{op:?}: the final Sum is the output");

    let h = 1e-6;
    let mut targets: Vec<(NodeId, String, Array)> = input_ids
        .iter()
        .filter(|id| {
            !matches!(
                inputs[input_ids.iter().position(|x| x == *id).unwrap()].1,
                Domain::Fixed(_)
            )
        })
        .map(|&id| {
            (
                id,
                "value".to_string(),
                eval.nodes[&id].grad.clone().unwrap(),
            )
        })
        .collect();
    for (key, t) in &eval.nodes[&node].tensors {
        targets.push((node, key.clone(), t.grad.clone().unwrap()));
    }
    assert!(!targets.is_empty());
    for (id, key, analytic) in targets {
        let base = g.node(id).unwrap().tensors[&key].clone();
        for i in 0..base.len() {
            let mut plus = base.clone();
            plus.data_mut()[i] += h;
            let mut minus = base.clone();
            minus.data_mut()[i] -= h;
            let mut gp = g.clone();
            gp.set_tensor(id, &key, plus).unwrap();
            let mut gm = g.clone();
            gm.set_tensor(id, &key, minus).unwrap();
            let numeric = (objective(&gp) - objective(&gm)) / (2.0 * h);
            let got = analytic.data()[i];
            assert!(
                (got - numeric).abs() <= 1e-5 * (1.0 + numeric.abs()),
                "{op:?} d/d{key}[{i}] of input {id}: burn {got}, finite differences {numeric}"
            );
        }
    }
}

#[test]
fn every_op_matches_finite_differences() {
    use Domain::*;
    let s: &[usize] = &[];
    let v3: &[usize] = &[3];
    let m23: &[usize] = &[2, 3];
    let m34: &[usize] = &[3, 4];
    let cases: Vec<(Op, Vec<(&[usize], Domain)>)> = vec![
        (Op::Add, vec![(m23, Any), (v3, Any)]),
        (Op::Sub, vec![(v3, Any), (s, Any)]),
        (Op::Mul, vec![(m23, Any), (m23, Any)]),
        (Op::Div, vec![(v3, Any), (v3, Positive)]),
        (Op::Neg, vec![(m23, Any)]),
        (Op::Pow { exponent: 2.5 }, vec![(v3, Positive)]),
        (Op::Pow { exponent: 3.0 }, vec![(v3, Any)]),
        (Op::Exp, vec![(v3, Any)]),
        (Op::Log, vec![(v3, Positive)]),
        (Op::Sqrt, vec![(v3, Positive)]),
        (Op::Abs, vec![(v3, Any)]),
        (Op::Scale { factor: -1.5 }, vec![(m23, Any)]),
        (Op::MatMul, vec![(m23, Any), (m34, Any)]),
        (Op::MatMul, vec![(v3, Any), (m34, Any)]),
        (Op::MatMul, vec![(m23, Any), (v3, Any)]),
        (Op::MatMul, vec![(v3, Any), (v3, Any)]),
        (Op::MatMul, vec![(&[2, 2, 3], Any), (m34, Any)]),
        (Op::Transpose, vec![(m23, Any)]),
        (Op::Sum { axis: None }, vec![(m23, Any)]),
        (Op::Sum { axis: Some(0) }, vec![(m23, Any)]),
        (Op::Mean { axis: None }, vec![(m23, Any)]),
        (Op::Mean { axis: Some(-1) }, vec![(m23, Any)]),
        (Op::Reshape { shape: vec![3, -1] }, vec![(m23, Any)]),
        (Op::Flatten, vec![(&[2, 2, 3], Any)]),
        (
            Op::Concat {
                inputs: 2,
                axis: -1,
            },
            vec![(m23, Any), (&[2, 1], Any)],
        ),
        (
            Op::Concat { inputs: 3, axis: 0 },
            vec![(s, Any), (s, Any), (s, Any)],
        ),
        (
            Op::Dense {
                units: 4,
                init: Init::Zeros,
            },
            vec![(v3, Any)],
        ),
        (
            Op::Conv2d {
                filters: 3,
                kernel: 3,
                stride: 1,
                padding: Padding::Valid,
                bias: true,
                init: Init::Zeros,
            },
            vec![(&[2, 5, 5], Any)],
        ),
        (
            Op::Conv2d {
                filters: 2,
                kernel: 3,
                stride: 2,
                padding: Padding::Same,
                bias: false,
                init: Init::Zeros,
            },
            vec![(&[6, 6], Any)],
        ),
        (
            Op::Conv2d {
                filters: 2,
                kernel: 2,
                stride: 1,
                padding: Padding::Explicit(1),
                bias: true,
                init: Init::Zeros,
            },
            vec![(&[1, 3, 3], Any)],
        ),
        (
            Op::MaxPool2d {
                kernel: 2,
                stride: 2,
            },
            vec![(&[2, 4, 4], Any)],
        ),
        (
            Op::MaxPool2d {
                kernel: 3,
                stride: 1,
            },
            vec![(&[1, 4, 5], Any)],
        ),
        (
            Op::AvgPool2d {
                kernel: 2,
                stride: 2,
            },
            vec![(&[2, 4, 5], Any)],
        ),
        (Op::Dropout { p: 0.5 }, vec![(v3, Any)]),
        (Op::BatchNorm { momentum: 0.1 }, vec![(&[2, 3, 3], Any)]),
        (Op::BatchNorm { momentum: 0.1 }, vec![(&[4], Any)]),
        (Op::Identity, vec![(v3, Any)]),
        (Op::Step, vec![(v3, Any)]),
        (Op::Sigmoid, vec![(m23, Any)]),
        (Op::Tanh, vec![(m23, Any)]),
        (Op::ReLU, vec![(m23, Any)]),
        (Op::LeakyReLU { alpha: 0.1 }, vec![(m23, Any)]),
        (Op::PReLU { init_alpha: 0.25 }, vec![(m23, Any)]),
        (Op::Softmax, vec![(v3, Any)]),
        (Op::Softmax, vec![(m23, Any)]),
        (Op::MSE, vec![(v3, Any), (v3, Any)]),
        (Op::L1, vec![(v3, Any), (v3, Any)]),
        (Op::BCE, vec![(v3, Prob), (v3, Prob)]),
        (Op::CrossEntropy, vec![(&[4], Any), (s, Fixed(2.0))]),
        (Op::CrossEntropy, vec![(&[4], Any), (&[4], Prob)]),
    ];
    let mut covered: Vec<&str> = Vec::new();
    for (i, (op, inputs)) in cases.into_iter().enumerate() {
        covered.push(op.name());
        check(op, &inputs, 1000 + i as u64);
    }
    for op in Op::catalogue() {
        if !op.is_source() {
            assert!(
                covered.contains(&op.name()),
                "{} has no gradient check",
                op.name()
            );
        }
    }
}

#[test]
fn value_used_twice_gets_both_contributions() {
    // f = x * x at x = 3: each edge carries 3, the node gets 6 = 2x.
    let mut g = Graph::new();
    let x = g.add(Op::Input, [0.0, 0.0]);
    g.set_tensor(x, "value", Array::scalar(3.0)).unwrap();
    let m = g.add(Op::Mul, [0.0, 0.0]);
    g.connect(x, m, 0).unwrap();
    g.connect(x, m, 1).unwrap();
    let e = common::eval_cpu(&g);
    assert_eq!(e.nodes[&m].value, Array::scalar(9.0));
    assert_eq!(e.nodes[&x].grad, Some(Array::scalar(6.0)));
    let along: Vec<f64> = e.edges.values().map(|a| a.data()[0]).collect();
    assert_eq!(along, vec![3.0, 3.0]);
}

#[test]
fn non_scalar_output_is_reduced_by_sum() {
    let mut g = Graph::new();
    let x = g.add(Op::Input, [0.0, 0.0]);
    g.set_tensor(x, "value", Array::vector(vec![1.0, 2.0, 3.0]))
        .unwrap();
    let sq = g.add(Op::Pow { exponent: 2.0 }, [0.0, 0.0]);
    g.connect(x, sq, 0).unwrap();
    let e = common::eval_cpu(&g);
    assert_eq!(e.output, Some(sq));
    assert_eq!(e.objective, Some(14.0));
    assert_eq!(e.nodes[&sq].grad, Some(Array::vector(vec![1.0, 1.0, 1.0])));
    assert_eq!(e.nodes[&x].grad, Some(Array::vector(vec![2.0, 4.0, 6.0])));
}

#[test]
fn log_of_a_negative_number_is_reported_as_nan() {
    let mut g = Graph::new();
    let x = g.add(Op::Input, [0.0, 0.0]);
    g.set_tensor(x, "value", Array::scalar(-1.0)).unwrap();
    let l = g.add(Op::Log, [0.0, 0.0]);
    g.connect(x, l, 0).unwrap();
    let e = common::eval_cpu(&g);
    assert!(e.nodes[&l].value.data()[0].is_nan());
    assert!(
        e.diagnostics
            .iter()
            .any(|d| d.node == Some(l) && d.message.contains("NaN")),
        "{:?}",
        e.diagnostics
    );
}
