//! Analysis: topological order, cycles, unconnected inputs, shape inference, parameter
//! counts, the memory budget and the choice of output. It never fails: it returns what it
//! could work out plus diagnostics that name the node and port and say what to do.
//!
//! **Architecture Invariant:** analysis never fails and never allocates tensors; a node
//! that gets a shape here is safe to hand to `exec` (its inputs exist, shapes agree, and its
//! memory fits the budget).

mod diagnostic;
mod order;

use std::collections::BTreeMap;

pub use diagnostic::{Diagnostic, Severity};

use crate::graph::{Graph, NodeId, OwnedTensor, Shape, fmt_shape, numel};

/// The most dimensions a value may have per sample (the batch makes it 4 in `exec`).
pub const MAX_RANK: usize = 3;

#[derive(Clone, Debug)]
pub struct Options {
    /// Memory the evaluation may use, in bytes (values, gradients and their bookkeeping).
    pub memory_budget: u64,
    /// Samples per evaluation (1 for inspection; the batch size when training).
    pub batch: usize,
}

impl Default for Options {
    fn default() -> Self {
        let mb = std::env::var("NODEGRAD_MEMORY_MB")
            .ok()
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(2048);
        Self {
            memory_budget: mb.saturating_mul(1 << 20),
            batch: 1,
        }
    }
}

/// Bytes per element an evaluation keeps for a node output: value, gradient, the zero leaf
/// on each outgoing edge and its gradient in burn, and the host copies of the value and the
/// gradient read back (f64). Measured with `/usr/bin/time -v`: `eval --json` of a Dense of
/// 2*10^7 units on a scalar peaked at 2.26 GiB, about 40 bytes per element.
const BYTES_PER_OUTPUT_ELEMENT: u64 = 8 * 6;
/// Owned tensors: the graph's copy, burn's copy, the gradient, the host copies of value and
/// gradient read back, and the initializer's draw.
const BYTES_PER_OWNED_ELEMENT: u64 = 8 * 6;
/// Scratch an op allocates (`Op::scratch_elements`: a convolution's unfolded input and its
/// weight gradient's buffer), per sample (f64).
const BYTES_PER_SCRATCH_ELEMENT: u64 = 8;

#[derive(Clone, Debug, Default)]
pub struct Analysis {
    /// Every node not on or behind a cycle, producers before consumers.
    pub order: Vec<NodeId>,
    /// Per-sample output shape of every node that can be evaluated.
    pub shapes: BTreeMap<NodeId, Shape>,
    /// Tensors each evaluable node owns, with the shapes its inputs imply.
    pub owned: BTreeMap<NodeId, Vec<OwnedTensor>>,
    /// Trainable values per node (Parameter, Dense weight + bias, PReLU alpha).
    pub param_counts: BTreeMap<NodeId, usize>,
    pub total_params: usize,
    /// The node that is differentiated: explicit, else the loss, else the single sink.
    pub output: Option<NodeId>,
    /// Estimated bytes an evaluation needs.
    pub memory_bytes: u64,
    pub diagnostics: Vec<Diagnostic>,
}

impl Analysis {
    pub fn has_errors(&self) -> bool {
        self.diagnostics
            .iter()
            .any(|d| d.severity == Severity::Error)
    }

    pub fn diagnostics_for(&self, id: NodeId) -> impl Iterator<Item = &Diagnostic> {
        self.diagnostics.iter().filter(move |d| d.node == Some(id))
    }

    /// Whether `exec` may evaluate this node.
    pub fn is_evaluable(&self, id: NodeId) -> bool {
        self.shapes.contains_key(&id)
    }
}

pub fn analyze(graph: &Graph) -> Analysis {
    analyze_with(graph, &Options::default())
}

pub fn analyze_with(graph: &Graph, options: &Options) -> Analysis {
    let mut a = Analysis::default();
    let (order, cycle_diags) = order::topological(graph);
    a.order = order;
    a.diagnostics.extend(cycle_diags);
    infer_shapes(graph, options, &mut a);
    check_unused(graph, &mut a);
    a.output = choose_output(graph, &mut a.diagnostics);
    a.diagnostics
        .sort_by(|x, y| (x.severity, x.node, x.port).cmp(&(y.severity, y.node, y.port)));
    a
}

fn infer_shapes(graph: &Graph, options: &Options, a: &mut Analysis) {
    let batch = options.batch.max(1) as u64;
    let mut used: u64 = 0;
    for &id in &a.order {
        let Some(node) = graph.node(id) else { continue };
        // Settings first: a Concat with a million inputs is one message, not a million
        // unconnected ports.
        if let Err(msg) = node.op.check_settings() {
            a.diagnostics.push(Diagnostic::error(node, None, msg));
            continue;
        }
        let ports = node.op.ports();
        let mut inputs: Vec<&[usize]> = Vec::with_capacity(ports.len());
        let mut ready = true;
        for (port, port_name) in ports.iter().enumerate() {
            match graph.input(id, port) {
                None => {
                    a.diagnostics.push(Diagnostic::error(
                        node,
                        Some((port, port_name)),
                        "is not connected: wire a value into it",
                    ));
                    ready = false;
                }
                Some(src) => match a.shapes.get(&src) {
                    Some(s) => inputs.push(s.as_slice()),
                    // The producer has its own diagnostic; do not repeat it downstream.
                    None => ready = false,
                },
            }
        }
        if !ready {
            continue;
        }
        if let Some(v) = node.value() {
            if v.is_empty() {
                a.diagnostics.push(Diagnostic::error(
                    node,
                    None,
                    format!(
                        "value {} is empty: give it at least one number",
                        fmt_shape(v.shape())
                    ),
                ));
                continue;
            }
            if let Some(i) = v.data().iter().position(|x| !x.is_finite()) {
                a.diagnostics.push(Diagnostic::error(
                    node,
                    None,
                    format!("value has a NaN or infinite entry at index {i}: use a finite number"),
                ));
                continue;
            }
        }
        let shape = match node
            .op
            .infer_shape(&inputs, node.value().map(|v| v.shape()))
        {
            Ok(s) => s,
            Err(msg) => {
                a.diagnostics.push(Diagnostic::error(node, None, msg));
                continue;
            }
        };
        if shape.len() > MAX_RANK {
            a.diagnostics.push(Diagnostic::error(
                node,
                None,
                format!(
                    "output {} has {} dimensions; nodegrad supports up to {MAX_RANK} per sample",
                    fmt_shape(&shape),
                    shape.len()
                ),
            ));
            continue;
        }
        if shape.contains(&0) {
            a.diagnostics.push(Diagnostic::error(
                node,
                None,
                format!(
                    "output {} has a dimension of size 0: every dimension needs at least 1 value",
                    fmt_shape(&shape)
                ),
            ));
            continue;
        }
        let owned = node
            .op
            .owned_tensors(&inputs, node.value().map(|v| v.shape()));
        let out_elems = numel(&shape) as u64;
        let owned_elems: u64 = owned
            .iter()
            .map(|t| numel(&t.shape) as u64)
            .fold(0, u64::saturating_add);
        let scratch_elems = node.op.scratch_elements(&inputs, &shape);
        let bytes = out_elems
            .saturating_mul(batch)
            .saturating_mul(BYTES_PER_OUTPUT_ELEMENT)
            .saturating_add(owned_elems.saturating_mul(BYTES_PER_OWNED_ELEMENT))
            .saturating_add(
                scratch_elems
                    .saturating_mul(batch)
                    .saturating_mul(BYTES_PER_SCRATCH_ELEMENT),
            );
        if used.saturating_add(bytes) > options.memory_budget {
            let biggest_owned = owned
                .iter()
                .max_by_key(|t| numel(&t.shape))
                .filter(|t| numel(&t.shape) as u64 > out_elems.saturating_mul(batch));
            let what = if scratch_elems > out_elems.max(owned_elems) {
                format!(
                    "its scratch ({scratch_elems} values: the unfolded input and the weight \
                     gradient's buffer, which grows with the stride and padding)"
                )
            } else if let Some(t) = biggest_owned {
                format!("its {} {}", t.key, fmt_shape(&t.shape))
            } else if batch > 1 {
                format!(
                    "its output {} for each of {batch} samples",
                    fmt_shape(&shape)
                )
            } else {
                format!("its output {}", fmt_shape(&shape))
            };
            a.diagnostics.push(Diagnostic::error(
                node,
                None,
                format!(
                    "{what} would need {} but the memory budget has {} left: make it smaller \
                     (or raise NODEGRAD_MEMORY_MB)",
                    human_bytes(bytes),
                    human_bytes(options.memory_budget.saturating_sub(used))
                ),
            ));
            continue;
        }
        used += bytes;
        for t in &owned {
            if let Some(stored) = node.tensors.get(t.key) {
                if stored.shape() != t.shape.as_slice() && !node.op.is_source() {
                    a.diagnostics.push(Diagnostic::info(
                        node,
                        None,
                        format!(
                            "stored {} {} does not fit {}: it starts from its initializer",
                            t.key,
                            fmt_shape(stored.shape()),
                            fmt_shape(&t.shape)
                        ),
                    ));
                }
            }
        }
        let params: usize = owned
            .iter()
            .filter(|t| t.trainable)
            .map(|t| numel(&t.shape))
            .fold(0, usize::saturating_add);
        if params > 0 {
            a.param_counts.insert(id, params);
            a.total_params = a.total_params.saturating_add(params);
        }
        a.owned.insert(id, owned);
        a.shapes.insert(id, shape);
    }
    a.memory_bytes = used;
}

fn check_unused(graph: &Graph, a: &mut Analysis) {
    for node in graph.nodes() {
        if node.op.is_source() && !graph.has_consumers(node.id) && graph.len() > 1 {
            a.diagnostics.push(Diagnostic::warning(
                node,
                None,
                "is not used by any node: wire it in or delete it",
            ));
        }
    }
}

fn choose_output(graph: &Graph, diags: &mut Vec<Diagnostic>) -> Option<NodeId> {
    if let Some(id) = graph.output {
        if graph.node(id).is_some() {
            return Some(id);
        }
    }
    let losses: Vec<NodeId> = graph
        .nodes()
        .filter(|n| n.op.is_loss())
        .map(|n| n.id)
        .collect();
    if losses.len() == 1 {
        return Some(losses[0]);
    }
    let candidates: Vec<NodeId> = if losses.len() > 1 {
        losses
    } else {
        graph
            .nodes()
            .filter(|n| !graph.has_consumers(n.id) && !n.op.is_source())
            .map(|n| n.id)
            .collect()
    };
    match candidates.as_slice() {
        [] => None,
        [one] => Some(*one),
        many => {
            let names: Vec<String> = many
                .iter()
                .filter_map(|id| graph.node(*id))
                .map(|n| format!("`{}`", n.name))
                .collect();
            diags.push(Diagnostic::graph(
                Severity::Warning,
                format!(
                    "the graph has several final nodes ({}): gradients need one output; \
                     connect them into one or mark one as the output",
                    names.join(", ")
                ),
            ));
            None
        }
    }
}

pub fn human_bytes(b: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = b as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{b} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}
