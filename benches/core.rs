//! `cargo bench --bench core`: one line per figure, `NAME: VALUE UNIT`.
//!
//! - scalar-graph-1000: forward + every node's gradient of a 2-16-16-1 MLP written with
//!   scalar ops (about 1,000 nodes), on burn Flex f64.
//! - project-load-save-1000: parse + serialize of a 1,000-node project.
//! - steps-chain-10000 and -30000: what `nodegrad steps` computes for a chain of Scale
//!   nodes (analysis, evaluation, every forward and backward step); it grows linearly.

use std::time::Instant;

use nodegrad::analysis::analyze;
use nodegrad::exec::Engine;
use nodegrad::graph::{Array, Graph, NodeId, Op};
use nodegrad::project::Project;

/// A 2-16-16-1 tanh MLP from scalar Mul/Add nodes, with an MSE-style loss.
fn scalar_mlp() -> Graph {
    let mut g = Graph::new();
    let mut k = 0.0f64;
    let mut param = |g: &mut Graph, op: Op| {
        let id = g.add(op, [0.0, 0.0]);
        k += 1.0;
        g.set_tensor(id, "value", Array::scalar((k * 0.37).sin() * 0.5))
            .unwrap();
        id
    };
    let mut layer: Vec<NodeId> = (0..2).map(|_| param(&mut g, Op::Input)).collect();
    for (width, act) in [(16, true), (16, true), (1, false)] {
        let mut next = Vec::new();
        for _ in 0..width {
            let mut acc = param(
                &mut g,
                Op::Parameter {
                    init: nodegrad::graph::Init::Zeros,
                },
            );
            for &x in &layer {
                let w = param(
                    &mut g,
                    Op::Parameter {
                        init: nodegrad::graph::Init::Zeros,
                    },
                );
                let m = g.add(Op::Mul, [0.0, 0.0]);
                g.connect(w, m, 0).unwrap();
                g.connect(x, m, 1).unwrap();
                let a = g.add(Op::Add, [0.0, 0.0]);
                g.connect(acc, a, 0).unwrap();
                g.connect(m, a, 1).unwrap();
                acc = a;
            }
            if act {
                let t = g.add(Op::Tanh, [0.0, 0.0]);
                g.connect(acc, t, 0).unwrap();
                acc = t;
            }
            next.push(acc);
        }
        layer = next;
    }
    let y = param(&mut g, Op::Input);
    let d = g.add(Op::Sub, [0.0, 0.0]);
    g.connect(layer[0], d, 0).unwrap();
    g.connect(y, d, 1).unwrap();
    let sq = g.add(Op::Pow { exponent: 2.0 }, [0.0, 0.0]);
    g.connect(d, sq, 0).unwrap();
    g
}

/// `n0` (an Input) -> `n1` = 1.0 * n0 -> ... -> `n{len-1}`.
fn chain(len: usize) -> Graph {
    let mut g = Graph::new();
    let mut prev = g.add(Op::Input, [0.0, 0.0]);
    g.set_tensor(prev, "value", Array::scalar(0.5)).unwrap();
    for _ in 1..len {
        let n = g.add(Op::Scale { factor: 1.0 }, [0.0, 0.0]);
        g.connect(prev, n, 0).unwrap();
        prev = n;
    }
    g
}

fn median_ms(mut f: impl FnMut(), runs: usize) -> f64 {
    f(); // warm-up
    let mut times: Vec<f64> = (0..runs)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    times.sort_by(|a, b| a.total_cmp(b));
    times[times.len() / 2]
}

fn main() {
    let g = scalar_mlp();
    let engine = Engine::cpu();
    let nodes = g.len();
    let eval_ms = median_ms(
        || {
            let a = analyze(&g);
            let e = engine.evaluate(&g, &a).unwrap();
            assert!(e.objective.is_some());
        },
        20,
    );
    println!(
        "scalar-graph-1000: {eval_ms:.2} ms ({nodes} nodes, {} edges, analysis + forward + all gradients)",
        g.edge_count()
    );
    let analysis_ms = median_ms(|| drop(analyze(&g)), 20);
    println!("scalar-graph-1000-analysis: {analysis_ms:.3} ms");

    let text = Project::from_graph(g).to_ron().unwrap();
    let load_save_ms = median_ms(
        || {
            let p = Project::parse(&text, "bench.ron").unwrap();
            let out = p.to_ron().unwrap();
            assert_eq!(out.len(), text.len());
        },
        20,
    );
    println!(
        "project-load-save-1000: {load_save_ms:.2} ms ({nodes} nodes, {} KiB)",
        text.len() / 1024
    );

    for len in [10_000, 30_000] {
        let g = chain(len);
        let ms = median_ms(
            || {
                let a = analyze(&g);
                let e = engine.evaluate(&g, &a).unwrap();
                let f = nodegrad::stepper::forward_steps(&g, &a, &e);
                let b = nodegrad::stepper::backward_steps(&g, &a, &e);
                assert_eq!((f.len(), b.len()), (len, len));
            },
            3,
        );
        println!("steps-chain-{len}: {ms:.0} ms (analysis + evaluation + every step)");
    }
}
