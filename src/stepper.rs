//! Forward and backward steps written out with numbers, one node per step: what the
//! step-through mode shows and `nodegrad steps` prints. Built on an `Evaluation`; local
//! derivatives come from burn too (each consumer alone on its evaluated inputs, all of them
//! differentiated in one backward pass: `Engine::local_derivatives`), never from a second
//! hand-written derivative table.

use std::collections::{BTreeMap, BTreeSet};

use crate::analysis::Analysis;
use crate::exec::{Engine, Evaluation};
use crate::graph::{Array, Edge, Graph, NodeId, Op, fmt_number, fmt_shape};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    Forward,
    Backward,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Step {
    pub direction: Direction,
    pub node: NodeId,
    /// `u = b * c = 3.0 * 2.0 = 6.0`, or `dJ/db = dJ/du * ∂u/∂b = 3.0 * 2.0 = 6.0`.
    pub text: String,
    /// Wires this step reads (forward: the inputs; backward: the consumers' terms).
    pub edges: Vec<Edge>,
}

fn short(a: &Array) -> String {
    if a.shape().is_empty() {
        fmt_number(a.data()[0])
    } else {
        a.to_string()
    }
}

fn symbol(op: &Op) -> Option<&'static str> {
    match op {
        Op::Add => Some("+"),
        Op::Sub => Some("-"),
        Op::Mul => Some("*"),
        Op::Div => Some("/"),
        _ => None,
    }
}

/// One forward step per evaluated node, in evaluation order.
pub fn forward_steps(graph: &Graph, analysis: &Analysis, eval: &Evaluation) -> Vec<Step> {
    let mut steps = Vec::new();
    for &id in &analysis.order {
        let (Some(node), Some(ev)) = (graph.node(id), eval.nodes.get(&id)) else {
            continue;
        };
        let inputs: Vec<(Edge, String, String)> = (0..node.op.arity())
            .filter_map(|port| {
                let from = graph.input(id, port)?;
                let src = graph.node(from)?;
                let v = eval.nodes.get(&from)?;
                Some((
                    Edge { from, to: id, port },
                    src.name.clone(),
                    short(&v.value),
                ))
            })
            .collect();
        let names: Vec<&str> = inputs.iter().map(|(_, n, _)| n.as_str()).collect();
        let values: Vec<&str> = inputs.iter().map(|(_, _, v)| v.as_str()).collect();
        let out = short(&ev.value);
        let text = match (&node.op, symbol(&node.op)) {
            (op, _) if op.is_source() => format!("{} = {out}", node.name),
            (_, Some(sym)) => format!(
                "{} = {} {sym} {} = {} {sym} {} = {out}",
                node.name, names[0], names[1], values[0], values[1]
            ),
            (Op::Scale { factor }, _) => {
                let k = fmt_number(*factor);
                format!(
                    "{} = {k} * {} = {k} * {} = {out}",
                    node.name, names[0], values[0]
                )
            }
            (Op::Neg, _) => format!("{} = -{} = -{} = {out}", node.name, names[0], values[0]),
            (Op::Pow { exponent }, _) => {
                let p = fmt_number(*exponent);
                format!(
                    "{} = {}^{p} = {}^{p} = {out}",
                    node.name, names[0], values[0]
                )
            }
            (op, _) => {
                let f = op.name().to_lowercase();
                format!(
                    "{} = {f}({}) = {f}({}) = {out}",
                    node.name,
                    names.join(", "),
                    values.join(", ")
                )
            }
        };
        // Tensor steps also say how the shapes change: `  ([2] -> [2])`.
        let in_shapes: Vec<String> = (0..node.op.arity())
            .filter_map(|p| {
                graph
                    .input(id, p)
                    .and_then(|f| analysis.shapes.get(&f))
                    .map(|s| fmt_shape(s))
            })
            .collect();
        let out_shape = analysis
            .shapes
            .get(&id)
            .map(|s| fmt_shape(s))
            .unwrap_or_default();
        let tensor = analysis.shapes.get(&id).is_some_and(|s| !s.is_empty())
            || (0..node.op.arity()).any(|p| {
                graph
                    .input(id, p)
                    .and_then(|f| analysis.shapes.get(&f))
                    .is_some_and(|s| !s.is_empty())
            });
        let text = if tensor && !node.op.is_source() {
            format!("{text}  ({} -> {out_shape})", in_shapes.join(", "))
        } else {
            text
        };
        steps.push(Step {
            direction: Direction::Forward,
            node: id,
            text,
            edges: inputs.into_iter().map(|(e, _, _)| e).collect(),
        });
    }
    steps
}

/// One backward step per node that the output depends on, from the output back. The
/// chain rule is written with the local factor as a partial derivative:
/// `dJ/db = dJ/du * ∂u/∂b = 3.0 * 2.0 = 6.0`. Linear in the graph's size: the edges are
/// grouped by producer and the nodes that reach the output are found once.
pub fn backward_steps(graph: &Graph, analysis: &Analysis, eval: &Evaluation) -> Vec<Step> {
    let Some(output) = eval.output else {
        return Vec::new();
    };
    let Some(out_name) = graph.node(output).map(|n| n.name.clone()) else {
        return Vec::new();
    };
    let d = |n: &str| format!("d{out_name}/d{n}");
    let reaching = reaching(graph, output);
    let mut outgoing: BTreeMap<NodeId, Vec<(&Edge, &Array)>> = BTreeMap::new();
    for (e, along) in &eval.edges {
        if reaching.contains(&e.to) {
            outgoing.entry(e.from).or_default().push((e, along));
        }
    }
    // The local factors of single-term steps, all from burn in one backward pass.
    let single: Vec<Edge> = outgoing
        .values()
        .filter(|terms| terms.len() == 1)
        .map(|terms| *terms[0].0)
        .collect();
    let locals: BTreeMap<Edge, f64> = Engine::cpu()
        .local_derivatives(graph, analysis, eval, &single)
        .map(|ds| {
            single
                .iter()
                .zip(ds)
                .filter_map(|(e, d)| Some((*e, d?)))
                .collect()
        })
        .unwrap_or_default();
    let mut steps = Vec::new();
    for &id in analysis.order.iter().rev() {
        let (Some(node), Some(ev)) = (graph.node(id), eval.nodes.get(&id)) else {
            continue;
        };
        let Some(grad) = &ev.grad else { continue };
        if id == output {
            steps.push(Step {
                direction: Direction::Backward,
                node: id,
                text: format!("{} = 1", d(&node.name)),
                edges: vec![],
            });
            continue;
        }
        let Some(terms) = outgoing.get(&id) else {
            continue;
        };
        let mut symbolic = Vec::new();
        // `3.0 * 2.0` where both factors are single numbers; `None` for tensors.
        let mut products: Vec<Option<String>> = Vec::new();
        let mut values = Vec::new();
        for (e, along) in terms {
            let consumer = graph
                .node(e.to)
                .map(|n| n.name.as_str())
                .unwrap_or_default();
            symbolic.push(format!("{} * ∂{consumer}/∂{}", d(consumer), node.name));
            let upstream = eval.nodes.get(&e.to).and_then(|n| n.grad.as_ref());
            // Fan-out steps show the terms' values; only a single term is written as a product.
            let local = if terms.len() == 1 {
                locals.get(*e).copied()
            } else {
                None
            };
            products.push(match (upstream, local) {
                (Some(up), Some(local)) if up.len() == 1 => Some(format!(
                    "{} * {}",
                    fmt_number(up.data()[0]),
                    fmt_number(local)
                )),
                _ => None,
            });
            values.push(short(along));
        }
        let total = short(grad);
        let text = match (terms.len(), &products[0]) {
            (1, Some(product)) => {
                format!("{} = {} = {product} = {total}", d(&node.name), symbolic[0])
            }
            (1, None) => format!("{} = {} = {total}", d(&node.name), symbolic[0]),
            _ => format!(
                "{} = {} = {} = {total}",
                d(&node.name),
                symbolic.join(" + "),
                values.join(" + ")
            ),
        };
        steps.push(Step {
            direction: Direction::Backward,
            node: id,
            text,
            edges: terms.iter().map(|(e, _)| **e).collect(),
        });
    }
    steps
}

/// The nodes the output depends on, itself included: one walk back along the inputs.
fn reaching(graph: &Graph, output: NodeId) -> BTreeSet<NodeId> {
    let mut seen = BTreeSet::new();
    let mut stack = vec![output];
    while let Some(id) = stack.pop() {
        if !seen.insert(id) {
            continue;
        }
        if let Some(n) = graph.node(id) {
            stack.extend((0..n.op.arity()).filter_map(|p| graph.input(id, p)));
        }
    }
    seen
}
