//! Execution with burn: every node's value and the gradient of the output with respect to
//! every node and along every edge, on Flex (CPU, f64) or wgpu (f32).
//!
//! burn keeps gradients of leaf tensors only. So each edge gets its own zero-valued leaf:
//! the consumer reads `producer + z_edge`, which changes no value, and `dJ/dz_edge` is
//! exactly the gradient flowing along that edge. A node's gradient is the sum over its
//! outgoing edges (plus 1 where it is the output), the rule micrograd's `+=` implements.
//!
//! **Architecture Invariant:** only `exec` imports burn; it evaluates only nodes that
//! analysis gave a shape, so no burn shape check can fire. A panic from burn would still be
//! caught and returned as an error, never shown to the user as a crash.

pub mod forward;
pub mod layout;

use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::OnceLock;

use burn::tensor::{DType, Device, FloatDType, Tensor};
use thiserror::Error;

use crate::analysis::{Analysis, Diagnostic};
use crate::graph::{Array, Edge, Graph, NodeId, fmt_number};
use forward::{OpInputs, forward};
use layout::{RANK, upload};

#[derive(Debug, Error, Clone, PartialEq)]
pub enum ExecError {
    #[error("no GPU adapter for wgpu: {0}")]
    NoGpu(String),
    #[error("the compute backend failed: {0}")]
    Backend(String),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EngineKind {
    /// burn's Flex backend on the CPU, in f64: numbers match hand computation.
    Cpu,
    /// burn's wgpu backend (a GPU, or Mesa's lavapipe), in f32.
    Wgpu,
}

/// A burn device with autodiff and the float type used on it.
#[derive(Clone, Debug)]
pub struct Engine {
    device: Device,
    dtype: DType,
    kind: EngineKind,
}

static WGPU: OnceLock<Result<Device, String>> = OnceLock::new();

impl Engine {
    pub fn cpu() -> Self {
        let mut device = Device::flex();
        // f64 by default, so ops that make new tensors (step's comparison, say) stay f64.
        // Only the first call can configure; later ones find it already set, which is fine.
        let _ = device.configure(FloatDType::F64);
        Self {
            device: device.autodiff(),
            dtype: DType::F64,
            kind: EngineKind::Cpu,
        }
    }

    /// The wgpu device, initialised once per process. Fails (never panics) without an adapter.
    pub fn wgpu() -> Result<Self, ExecError> {
        let dev = WGPU.get_or_init(|| {
            catch_unwind(|| Device::wgpu_options().init())
                .map_err(|p| panic_text(&p))
                .and_then(|r| r.map_err(|e| e.to_string()))
        });
        match dev {
            Ok(d) => Ok(Self {
                device: d.clone().autodiff(),
                dtype: DType::F32,
                kind: EngineKind::Wgpu,
            }),
            Err(e) => Err(ExecError::NoGpu(e.clone())),
        }
    }

    pub fn kind(&self) -> EngineKind {
        self.kind
    }

    pub fn device(&self) -> &Device {
        &self.device
    }

    pub fn dtype(&self) -> DType {
        self.dtype
    }

    /// For the status bar and the CLI: "CPU (burn Flex, f64)".
    pub fn describe(&self) -> String {
        match self.kind {
            EngineKind::Cpu => "CPU (burn Flex, f64)".into(),
            EngineKind::Wgpu => "GPU (burn wgpu, f32)".into(),
        }
    }

    fn eps(&self) -> f64 {
        if self.dtype == DType::F64 {
            crate::graph::ops::BCE_EPS_F64
        } else {
            crate::graph::ops::BCE_EPS_F32
        }
    }

    /// Evaluates every node analysis could shape, then differentiates the output.
    pub fn evaluate(&self, graph: &Graph, analysis: &Analysis) -> Result<Evaluation, ExecError> {
        catch_unwind(AssertUnwindSafe(|| self.evaluate_inner(graph, analysis)))
            .map_err(|p| ExecError::Backend(panic_text(&p)))?
    }

    fn evaluate_inner(&self, graph: &Graph, analysis: &Analysis) -> Result<Evaluation, ExecError> {
        let mut values: BTreeMap<NodeId, Tensor<RANK>> = BTreeMap::new();
        let mut owned_leaves: BTreeMap<NodeId, Vec<(&'static str, Tensor<RANK>)>> = BTreeMap::new();
        let mut edge_leaves: Vec<(Edge, Tensor<RANK>)> = Vec::with_capacity(graph.edge_count());
        for &id in &analysis.order {
            let (Some(node), Some(out_shape)) = (graph.node(id), analysis.shapes.get(&id)) else {
                continue;
            };
            let owned_specs = analysis.owned.get(&id).map(Vec::as_slice).unwrap_or(&[]);
            let mut owned: Vec<(&'static str, Tensor<RANK>)> =
                Vec::with_capacity(owned_specs.len());
            for spec in owned_specs {
                let arr = node
                    .try_tensor_or_init(spec, graph.seed)
                    .map_err(|e| ExecError::Backend(format!("node `{}`: {e}", node.name)))?;
                // Every stored tensor is a leaf that keeps its gradient (an Input's too: the
                // gradient check and the inspector read it).
                let t = upload(&arr, &self.device, self.dtype);
                owned.push((spec.key, t.require_grad()));
            }
            let value = if node.op.is_source() {
                owned
                    .iter()
                    .find(|(k, _)| *k == "value")
                    .map(|(_, t)| t.clone())
            } else {
                let arity = node.op.arity();
                let mut xs = Vec::with_capacity(arity);
                let mut shapes = Vec::with_capacity(arity);
                for port in 0..arity {
                    // Analysis shaped this node, so every input is wired and evaluated.
                    let Some(src) = graph.input(id, port) else {
                        break;
                    };
                    let (Some(v), Some(s)) = (values.get(&src), analysis.shapes.get(&src)) else {
                        break;
                    };
                    let leaf =
                        Tensor::<RANK>::zeros(v.dims(), (&self.device, self.dtype)).require_grad();
                    xs.push(v.clone() + leaf.clone());
                    shapes.push(s.as_slice());
                    edge_leaves.push((
                        Edge {
                            from: src,
                            to: id,
                            port,
                        },
                        leaf,
                    ));
                }
                if xs.len() != arity {
                    continue;
                }
                forward(
                    &node.op,
                    OpInputs {
                        xs,
                        shapes,
                        owned: owned.clone(),
                        out_shape,
                        eps: self.eps(),
                        training: false,
                    },
                )
            };
            let Some(value) = value else { continue };
            values.insert(id, value);
            owned_leaves.insert(id, owned);
        }

        let output = analysis.output.filter(|id| values.contains_key(id));
        let mut passes_no_gradient = false;
        let grads = output.and_then(|id| values.get(&id)).map(|out| {
            if out.is_tracked() {
                out.clone().sum().backward()
            } else {
                // An output that depends on nothing differentiable (a Step: its derivative is
                // 0) is not on burn's tape. Differentiate it through a zero leaf instead, so
                // its gradient is 1 and every gradient before it the 0 it truly is.
                passes_no_gradient = true;
                let z =
                    Tensor::<RANK>::zeros(out.dims(), (&self.device, self.dtype)).require_grad();
                (out.clone() + z).sum().backward()
            }
        });

        // Everything to read back, in one transfer: per-tensor reads cost more than the math
        // for small graphs (and each one is a device sync on a GPU).
        let mut batch = layout::Readback::default();
        let mut node_slots = Vec::with_capacity(values.len());
        for (&id, t) in &values {
            let value = batch.push(t.clone());
            let mut owned = Vec::new();
            for (key, leaf) in owned_leaves.remove(&id).unwrap_or_default() {
                let grad = grads
                    .as_ref()
                    .and_then(|g| leaf.grad(g))
                    .map(|t| batch.push(t));
                owned.push((key, batch.push(leaf), grad));
            }
            node_slots.push((id, value, owned));
        }
        let edge_slots: Vec<(Edge, Option<usize>)> = match &grads {
            Some(g) => edge_leaves
                .into_iter()
                .map(|(edge, leaf)| (edge, leaf.grad(g).map(|t| batch.push(t))))
                .collect(),
            None => Vec::new(),
        };
        let data = batch.fetch().map_err(ExecError::Backend)?;
        let array = |slot: usize, shape: &[usize]| {
            Array::new(shape.to_vec(), data[slot].clone()).map_err(ExecError::Backend)
        };

        let mut eval = Evaluation {
            output,
            ..Evaluation::default()
        };
        for (id, slot, owned) in node_slots {
            let shape = &analysis.shapes[&id];
            let value = array(slot, shape)?;
            let grad = grads.as_ref().map(|_| {
                let fill = if Some(id) == output { 1.0 } else { 0.0 };
                Array::filled(shape.clone(), fill)
            });
            let mut tensors = BTreeMap::new();
            for (key, value_slot, grad_slot) in owned {
                let spec_shape = leaf_shape(analysis, id, key);
                let grad = match grad_slot {
                    Some(g) => Some(array(g, &spec_shape)?),
                    None => grads.as_ref().map(|_| Array::zeros(spec_shape.clone())),
                };
                tensors.insert(
                    key.to_string(),
                    TensorEval {
                        value: array(value_slot, &spec_shape)?,
                        grad,
                    },
                );
            }
            eval.nodes.insert(
                id,
                NodeEval {
                    value,
                    grad,
                    tensors,
                },
            );
        }
        for (edge, slot) in edge_slots {
            let shape = &analysis.shapes[&edge.from];
            let grad = match slot {
                Some(g) => array(g, shape)?,
                None => Array::zeros(shape.clone()),
            };
            if let Some(NodeEval {
                grad: Some(total), ..
            }) = eval.nodes.get_mut(&edge.from)
            {
                total.add_assign(&grad);
            }
            eval.edges.insert(edge, grad);
        }
        eval.objective = output
            .and_then(|id| eval.nodes.get(&id))
            .map(|n| n.value.data().iter().sum());
        eval.diagnostics = non_finite_diagnostics(graph, &eval);
        if let Some(node) = output
            .filter(|_| passes_no_gradient)
            .and_then(|id| graph.node(id))
        {
            eval.diagnostics.push(Diagnostic::warning(
                node,
                None,
                format!(
                    "is the output but passes no gradient back ({}): every gradient before it \
                     is 0; a smooth op (Sigmoid) would pass one",
                    node.op.spec().derivative
                ),
            ));
        }
        eval.diagnostics
            .extend(class_index_diagnostics(graph, &eval));
        Ok(eval)
    }
}

impl Engine {
    /// The local derivatives `∂consumer/∂input` of scalar pairs at the evaluated point, by
    /// burn, for many edges at once: every consumer is run once on fresh leaves holding its
    /// evaluated inputs and tensors (constants), the outputs are summed into one number and
    /// differentiated once. The consumers share no leaves, so the gradient at each leaf is
    /// that consumer's own local derivative, exactly what a one-op graph per consumer gives,
    /// in one backward pass instead of one per edge. `None` where a pair is not two single
    /// numbers or the consumer was not evaluated.
    pub fn local_derivatives(
        &self,
        graph: &Graph,
        analysis: &Analysis,
        eval: &Evaluation,
        edges: &[Edge],
    ) -> Result<Vec<Option<f64>>, ExecError> {
        catch_unwind(AssertUnwindSafe(|| {
            self.local_derivatives_inner(graph, analysis, eval, edges)
        }))
        .map_err(|p| ExecError::Backend(panic_text(&p)))?
    }

    fn local_derivatives_inner(
        &self,
        graph: &Graph,
        analysis: &Analysis,
        eval: &Evaluation,
        edges: &[Edge],
    ) -> Result<Vec<Option<f64>>, ExecError> {
        let scalar = |id: NodeId| eval.nodes.get(&id).is_some_and(|n| n.value.len() == 1);
        // Consumers with the same op (settings included), shapes and no tensors of their own
        // run as one batch, a row each (burn ops are per sample along the batch axis); the
        // others run alone. `runs[r][port]` is a leaf; `at[consumer] = (r, row)`.
        let mut runs: Vec<Vec<Tensor<RANK>>> = Vec::new();
        let mut at: BTreeMap<NodeId, (usize, usize)> = BTreeMap::new();
        let mut groups: BTreeMap<String, Vec<NodeId>> = BTreeMap::new();
        let mut seen: std::collections::BTreeSet<NodeId> = std::collections::BTreeSet::new();
        let mut terms: Vec<Tensor<1>> = Vec::new();
        for e in edges {
            if !scalar(e.to) || !scalar(e.from) || !seen.insert(e.to) {
                continue;
            }
            let (Some(node), Some(out_shape), Some(evaluated)) = (
                graph.node(e.to),
                analysis.shapes.get(&e.to),
                eval.nodes.get(&e.to),
            ) else {
                continue;
            };
            let arity = node.op.arity();
            let sources: Vec<NodeId> = (0..arity)
                .map_while(|port| graph.input(e.to, port))
                .filter(|src| eval.nodes.contains_key(src) && analysis.shapes.contains_key(src))
                .collect();
            if sources.len() != arity {
                continue;
            }
            let owns_nothing = analysis.owned.get(&e.to).is_none_or(Vec::is_empty);
            if owns_nothing && !node.op.is_source() && sources.iter().all(|s| scalar(*s)) {
                let shapes: Vec<&Vec<usize>> =
                    sources.iter().map(|s| &analysis.shapes[s]).collect();
                let key = format!("{:?}|{shapes:?}|{out_shape:?}", node.op);
                let group = groups.entry(key).or_default();
                group.push(e.to);
                continue;
            }
            let xs: Vec<Tensor<RANK>> = sources
                .iter()
                .map(|src| upload(&eval.nodes[src].value, &self.device, self.dtype).require_grad())
                .collect();
            let shapes = sources
                .iter()
                .map(|src| analysis.shapes[src].as_slice())
                .collect();
            let owned = evaluated
                .tensors
                .iter()
                .filter_map(|(k, t)| {
                    analysis
                        .owned
                        .get(&e.to)?
                        .iter()
                        .find(|spec| spec.key == k)
                        .map(|spec| (spec.key, upload(&t.value, &self.device, self.dtype)))
                })
                .collect();
            let inputs = xs.clone();
            let Some(out) = forward(
                &node.op,
                OpInputs {
                    xs,
                    shapes,
                    owned,
                    out_shape,
                    eps: self.eps(),
                    training: false,
                },
            ) else {
                continue;
            };
            terms.push(out.sum());
            at.insert(e.to, (runs.len(), 0));
            runs.push(inputs);
        }
        for ids in groups.values() {
            let Some(first) = ids.first().and_then(|id| graph.node(*id)) else {
                continue;
            };
            let arity = first.op.arity();
            let rows = ids.len();
            let mut xs = Vec::with_capacity(arity);
            let mut shapes = Vec::with_capacity(arity);
            for port in 0..arity {
                let values: Vec<f64> = ids
                    .iter()
                    .filter_map(|id| {
                        let src = graph.input(*id, port)?;
                        eval.nodes.get(&src).map(|n| n.value.data()[0])
                    })
                    .collect();
                let src = graph.input(first.id, port);
                let (true, Some(shape)) = (
                    values.len() == rows,
                    src.and_then(|s| analysis.shapes.get(&s)),
                ) else {
                    break;
                };
                let column = Array::new(vec![rows], values).map_err(ExecError::Backend)?;
                let t = upload(&column, &self.device, self.dtype).reshape([rows, 1, 1, 1]);
                xs.push(t.require_grad());
                shapes.push(shape.as_slice());
            }
            let out_shape = analysis.shapes.get(&first.id);
            let (true, Some(out_shape)) = (xs.len() == arity, out_shape) else {
                continue;
            };
            let inputs = xs.clone();
            let Some(out) = forward(
                &first.op,
                OpInputs {
                    xs,
                    shapes,
                    owned: Vec::new(),
                    out_shape,
                    eps: self.eps(),
                    training: false,
                },
            ) else {
                continue;
            };
            terms.push(out.sum());
            for (row, id) in ids.iter().enumerate() {
                at.insert(*id, (runs.len(), row));
            }
            runs.push(inputs);
        }
        if terms.is_empty() {
            return Ok(vec![None; edges.len()]);
        }
        let total = Tensor::cat(terms, 0).sum();
        // Consumers that pass no gradient (a Step) leave the sum untracked: a zero leaf keeps
        // it on the tape, and their inputs get the 0 they truly have.
        let z = Tensor::<1>::zeros(total.dims(), (&self.device, self.dtype)).require_grad();
        let grads = (total + z).sum().backward();
        let mut batch = layout::Readback::default();
        let slots: Vec<Vec<Option<usize>>> = runs
            .iter()
            .map(|leaves| {
                leaves
                    .iter()
                    .map(|leaf| leaf.grad(&grads).map(|g| batch.push(g)))
                    .collect()
            })
            .collect();
        let data = batch.fetch().map_err(ExecError::Backend)?;
        Ok(edges
            .iter()
            .map(|e| {
                let &(run, row) = at.get(&e.to)?;
                match *slots.get(run)?.get(e.port)? {
                    Some(i) => data.get(i)?.get(row).copied(),
                    None => Some(0.0),
                }
            })
            .collect())
    }
}

fn leaf_shape(analysis: &Analysis, id: NodeId, key: &str) -> Vec<usize> {
    analysis
        .owned
        .get(&id)
        .and_then(|v| v.iter().find(|t| t.key == key))
        .map(|t| t.shape.clone())
        .unwrap_or_default()
}

/// A CrossEntropy target given as a class index must be a whole number in 0..C; anything
/// else would silently give an all-zero one-hot and a loss of 0.
fn class_index_diagnostics(graph: &Graph, eval: &Evaluation) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    for node in graph
        .nodes()
        .filter(|n| matches!(n.op, crate::graph::Op::CrossEntropy))
    {
        let (Some(logits), Some(target)) = (graph.input(node.id, 0), graph.input(node.id, 1))
        else {
            continue;
        };
        let (Some(z), Some(t)) = (eval.nodes.get(&logits), eval.nodes.get(&target)) else {
            continue;
        };
        let classes = z.value.len();
        if t.value.len() != 1 || (classes == 1 && t.value.shape() == [1]) {
            continue; // one-hot
        }
        let c = t.value.data()[0];
        if c.fract() != 0.0 || c < 0.0 || c >= classes as f64 {
            out.push(Diagnostic::error(
                node,
                Some((1, "target")),
                format!("class index {} is not one of 0..{}: use a whole number below the number of classes", fmt_number(c), classes - 1),
            ));
        }
    }
    out
}

fn non_finite_diagnostics(graph: &Graph, eval: &Evaluation) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    for (id, n) in &eval.nodes {
        let Some(node) = graph.node(*id) else {
            continue;
        };
        if !n.value.all_finite() {
            out.push(Diagnostic::warning(
                node,
                None,
                format!(
                    "produced a NaN or infinite value ({}): check its inputs are in range \
                     (log and sqrt need positive numbers, division a non-zero divisor)",
                    node.op.spec().formula
                ),
            ));
        } else if n.grad.as_ref().is_some_and(|g| !g.all_finite()) {
            out.push(Diagnostic::warning(
                node,
                None,
                "has a NaN or infinite gradient: an input is where the derivative is undefined",
            ));
        }
    }
    out
}

fn panic_text(p: &Box<dyn std::any::Any + Send>) -> String {
    p.downcast_ref::<String>()
        .cloned()
        .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "unknown panic".into())
}

/// Value and gradient of a tensor a node owns (Dense weight, Parameter value, ...).
#[derive(Clone, Debug, PartialEq)]
pub struct TensorEval {
    pub value: Array,
    pub grad: Option<Array>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct NodeEval {
    /// The node's output for one sample.
    pub value: Array,
    /// d(output)/d(this node's output); `None` when there is no output to differentiate.
    pub grad: Option<Array>,
    pub tensors: BTreeMap<String, TensorEval>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Evaluation {
    pub output: Option<NodeId>,
    /// The differentiated number: the sum of the output's values.
    pub objective: Option<f64>,
    pub nodes: BTreeMap<NodeId, NodeEval>,
    /// Gradient flowing along each edge, in the producer's shape.
    pub edges: BTreeMap<Edge, Array>,
    /// Runtime findings: NaN or infinite values.
    pub diagnostics: Vec<Diagnostic>,
}
