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
    analysis
        .order
        .iter()
        .filter_map(|&id| forward_step(graph, analysis, eval, id))
        .collect()
}

/// The forward step of one node: `v = a + u = 5.0 + 6.0 = 11.0`. The one place these texts
/// are written: the stepper's list and a card's tooltip both come from here.
pub fn forward_step(
    graph: &Graph,
    analysis: &Analysis,
    eval: &Evaluation,
    id: NodeId,
) -> Option<Step> {
    let (node, ev) = (graph.node(id)?, eval.nodes.get(&id)?);
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
        (_, Some(sym)) if names.len() == 2 => format!(
            "{} = {} {sym} {} = {} {sym} {} = {out}",
            node.name, names[0], names[1], values[0], values[1]
        ),
        (Op::Scale { factor }, _) if names.len() == 1 => {
            let k = fmt_number(*factor);
            format!(
                "{} = {k} * {} = {k} * {} = {out}",
                node.name, names[0], values[0]
            )
        }
        (Op::Neg, _) if names.len() == 1 => {
            format!("{} = -{} = -{} = {out}", node.name, names[0], values[0])
        }
        (Op::Pow { exponent }, _) if names.len() == 1 => {
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
    Some(Step {
        direction: Direction::Forward,
        node: id,
        text,
        edges: inputs.into_iter().map(|(e, _, _)| e).collect(),
    })
}

/// One backward step per node that the output depends on, from the output back. The
/// chain rule is written with the local factor as a partial derivative:
/// `dJ/db = dJ/du * ∂u/∂b = 3.0 * 2.0 = 6.0`. Linear in the graph's size: the edges are
/// grouped by producer and the nodes that reach the output are found once.
pub fn backward_steps(graph: &Graph, analysis: &Analysis, eval: &Evaluation) -> Vec<Step> {
    let Some(output) = eval.output else {
        return Vec::new();
    };
    if graph.node(output).is_none() {
        return Vec::new();
    }
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
    analysis
        .order
        .iter()
        .rev()
        .filter_map(|&id| {
            let terms = outgoing.get(&id).map_or(&[][..], Vec::as_slice);
            backward_step_with(graph, eval, output, id, terms, &locals)
        })
        .collect()
}

/// The backward step of one node: `dJ/db = dJ/du * ∂u/∂b = 3.0 * 2.0 = 6.0`, the text the
/// stepper writes for it (a card's tooltip shows it). Finds only this node's terms and runs
/// only its own local derivative, so hovering a card of a big graph stays cheap.
pub fn backward_step(
    graph: &Graph,
    analysis: &Analysis,
    eval: &Evaluation,
    id: NodeId,
) -> Option<Step> {
    let output = eval.output?;
    let reaching = reaching(graph, output);
    let terms: Vec<(&Edge, &Array)> = eval
        .edges
        .iter()
        .filter(|(e, _)| e.from == id && reaching.contains(&e.to))
        .collect();
    let locals: BTreeMap<Edge, f64> = match terms.as_slice() {
        [(e, _)] => Engine::cpu()
            .local_derivatives(graph, analysis, eval, &[**e])
            .ok()
            .and_then(|ds| ds.into_iter().next().flatten())
            .map(|d| BTreeMap::from([(**e, d)]))
            .unwrap_or_default(),
        _ => BTreeMap::new(),
    };
    backward_step_with(graph, eval, output, id, &terms, &locals)
}

/// One node's backward step from its terms (the edges to its consumers, with the gradient
/// along each) and the local factors known for single-term steps.
fn backward_step_with(
    graph: &Graph,
    eval: &Evaluation,
    output: NodeId,
    id: NodeId,
    terms: &[(&Edge, &Array)],
    locals: &BTreeMap<Edge, f64>,
) -> Option<Step> {
    let out_name = graph.node(output)?.name.clone();
    let d = |n: &str| format!("d{out_name}/d{n}");
    let (node, ev) = (graph.node(id)?, eval.nodes.get(&id)?);
    let grad = ev.grad.as_ref()?;
    if id == output {
        return Some(Step {
            direction: Direction::Backward,
            node: id,
            text: format!("{} = 1", d(&node.name)),
            edges: vec![],
        });
    }
    if terms.is_empty() {
        return None;
    }
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
    Some(Step {
        direction: Direction::Backward,
        node: id,
        text,
        edges: terms.iter().map(|(e, _)| **e).collect(),
    })
}

/// A tensor in a line: its shape, its first entries and its range,
/// `[2, 3]: 0.1, -0.2, 0.3, 0.4 … (6 entries, min -0.2, max 0.9)`; a number as itself.
/// Shown under a step's text where the step only summarises a tensor.
pub fn entries_summary(a: &Array, first: usize) -> String {
    if a.shape().is_empty() {
        return short(a);
    }
    let shown: Vec<String> = a
        .data()
        .iter()
        .take(first)
        .map(|v| fmt_number(*v))
        .collect();
    let more = if a.len() > first { " …" } else { "" };
    let (min, _, max) = a.min_mean_max();
    format!(
        "{}: {}{more} ({} entries, min {}, max {})",
        fmt_shape(a.shape()),
        shown.join(", "),
        a.len(),
        fmt_number(min),
        fmt_number(max)
    )
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
