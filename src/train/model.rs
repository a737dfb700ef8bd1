//! The graph compiled into a trainable burn model: the nodes the loss depends on, in
//! analysis order, with every trainable tensor (Parameter value, Dense weight and bias, PReLU
//! alpha) as a burn parameter and the bound Input nodes fed from mini-batches.

use burn::tensor::{DType, Device, Tensor, TensorData};

use super::TrainError;
use crate::analysis::Analysis;
use crate::data::{Dataset, Task};
use crate::exec::forward::{OpInputs, batch_stats, forward};
use crate::exec::layout::{RANK, phys, upload};
use crate::graph::{Array, Graph, NodeId, Op, fmt_shape, numel};

pub type T = Tensor<RANK>;

/// Where a node's value comes from.
#[derive(Clone, Debug)]
enum Source {
    Features,
    Target,
    /// A stored value that does not train (other Inputs, Constants), uploaded once.
    Fixed(Array),
    /// A Parameter: its value is one of the model's parameters.
    OwnValue,
    /// An op over earlier nodes (positions in `nodes`).
    Op(Vec<usize>),
}

#[derive(Clone, Debug)]
struct CNode {
    id: NodeId,
    op: Op,
    shape: Vec<usize>,
    source: Source,
    /// (key, index into the parameter list) for the tensors this node owns.
    params: Vec<(&'static str, usize)>,
    /// (key, index into the buffer list): owned tensors that do not train (BatchNorm's
    /// running mean and variance).
    buffers: Vec<(&'static str, usize)>,
}

/// One trainable tensor.
#[derive(Clone, Debug, PartialEq)]
pub struct ParamInfo {
    pub node: NodeId,
    pub node_name: String,
    pub key: &'static str,
    pub shape: Vec<usize>,
    pub initial: Array,
}

/// How dataset targets become the target node's value.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum TargetKind {
    /// The class index or regression value as one number.
    Value,
    /// One-hot over this many classes.
    OneHot(usize),
}

#[derive(Clone, Debug)]
pub struct Model {
    nodes: Vec<CNode>,
    pub params: Vec<ParamInfo>,
    /// Owned tensors updated by training but not by the optimizer.
    pub buffers: Vec<ParamInfo>,
    /// Position of the loss (the project's output) in `nodes`.
    output: usize,
    /// Position of the loss's prediction input (for accuracy).
    pred: Option<usize>,
    pub feature_shape: Vec<usize>,
    pub target_shape: Vec<usize>,
    pub target_kind: TargetKind,
    /// Names and ops, for messages.
    names: Vec<String>,
}

fn binding(msg: String) -> TrainError {
    TrainError::Binding(msg)
}

/// Whether `op` is a loss, whose first input is the prediction (accuracy, the decision
/// boundary). The op catalogue decides; nothing here lists the losses again.
fn is_loss(op: &Op) -> bool {
    op.is_loss()
}

/// Refuses data the loss cannot score, naming the first sample that breaks it: class
/// indices beyond the logits of a CrossEntropy (5 classes into 2 logits would add no loss
/// for classes >= 2), more than 2 classes into a loss on a single output, or regression
/// values into a CrossEntropy. `names` are the loss's and the prediction's.
fn check_scorable(
    data: &Dataset,
    target: TargetKind,
    loss: &Op,
    (loss_name, pred_name): (&str, &str),
    pred_shape: &[usize],
) -> Result<(), TrainError> {
    let outputs = numel(pred_shape);
    let classes = match (&data.task, loss) {
        (Task::Regression, Op::CrossEntropy) => {
            return Err(binding(format!(
                "`{loss_name}` is a CrossEntropy, which needs class indices, but {} holds one \
                 real value per sample (a regression): use MSE or L1, or a classification \
                 dataset",
                data.name
            )));
        }
        (Task::Regression, _) => return Ok(()),
        (Task::Classification { classes, .. }, _) => *classes,
    };
    // A one-hot target has exactly `classes` values: the loss's shape rule matched them.
    if target != TargetKind::Value {
        return Ok(());
    }
    let (scored, fix) = match loss {
        Op::CrossEntropy => (
            outputs,
            format!(
                "give `{pred_name}` {classes} values (one logit per class), or use a dataset \
                 with at most {outputs} classes"
            ),
        ),
        _ if outputs == 1 => (
            2,
            format!(
                "one output scores two classes (0 and 1): for {classes} classes, end in {classes} \
                 logits and a CrossEntropy"
            ),
        ),
        _ => return Ok(()),
    };
    if classes <= scored {
        return Ok(());
    }
    let (i, label) = data
        .targets
        .iter()
        .enumerate()
        .find(|(_, t)| **t as usize >= scored)
        .map(|(i, t)| (i, *t as usize))
        .unwrap_or((0, classes - 1));
    Err(binding(format!(
        "{}: label {label} is not one of the {scored} classes (0..{}) that `{loss_name}` scores \
         from `{pred_name}` {}; {} has {classes} classes: {fix}",
        data.label_place(i),
        scored - 1,
        fmt_shape(pred_shape),
        data.name
    )))
}

impl Model {
    /// Compiles `graph` for training on `data`, with `features` and `target` naming the
    /// Input nodes the samples feed. Every mismatch names the node.
    pub fn compile(
        graph: &Graph,
        analysis: &Analysis,
        data: &Dataset,
        features: &str,
        target: &str,
    ) -> Result<Self, TrainError> {
        if let Some(d) = analysis
            .diagnostics
            .iter()
            .find(|d| d.severity == crate::analysis::Severity::Error)
        {
            return Err(binding(format!(
                "the graph has errors; fix them first: {}: {}",
                d.place, d.message
            )));
        }
        let input = |name: &str, role: &str| -> Result<NodeId, TrainError> {
            let node = graph.find(name).ok_or_else(|| {
                binding(format!(
                    "the {role} input `{name}` does not exist: choose an Input node"
                ))
            })?;
            if node.op != Op::Input {
                return Err(binding(format!(
                    "`{name}` is a {}, but the {role} must be an Input node",
                    node.op.name()
                )));
            }
            Ok(node.id)
        };
        let fid = input(features, "features")?;
        let tid = input(target, "target")?;
        if fid == tid {
            return Err(binding(format!(
                "`{features}` is bound to both the features and the target"
            )));
        }
        let output = analysis.output.ok_or_else(|| {
            binding("the graph has no output to minimise: add a loss node".into())
        })?;
        let shape_of = |id: NodeId| analysis.shapes.get(&id).cloned().unwrap_or_default();
        let feature_shape = shape_of(fid);
        if numel(&feature_shape) != data.feature_len() {
            return Err(binding(format!(
                "features input `{features}` has shape {} ({} values), but a {} sample has {} \
                 features: give `{features}` the shape {}",
                fmt_shape(&feature_shape),
                numel(&feature_shape),
                data.name,
                data.feature_len(),
                fmt_shape(&data.feature_shape)
            )));
        }
        let target_shape = shape_of(tid);
        let target_kind = match (&data.task, numel(&target_shape)) {
            (_, 1) => TargetKind::Value,
            (Task::Classification { classes, .. }, n) if n == *classes => {
                TargetKind::OneHot(*classes)
            }
            (Task::Classification { classes, .. }, _) => {
                return Err(binding(format!(
                    "target input `{target}` has shape {}, but {} has {classes} classes: give it \
                     shape [] (a class index) or [{classes}] (one-hot)",
                    fmt_shape(&target_shape),
                    data.name
                )));
            }
            (Task::Regression, _) => {
                return Err(binding(format!(
                    "target input `{target}` has shape {}, but {} has one target value per \
                     sample: give it shape []",
                    fmt_shape(&target_shape),
                    data.name
                )));
            }
        };

        // Only what the loss depends on runs.
        let mut needed = std::collections::BTreeSet::new();
        let mut stack = vec![output];
        while let Some(id) = stack.pop() {
            if !needed.insert(id) {
                continue;
            }
            if let Some(n) = graph.node(id) {
                for p in 0..n.op.arity() {
                    if let Some(src) = graph.input(id, p) {
                        stack.push(src);
                    }
                }
            }
        }
        if !needed.contains(&fid) {
            return Err(binding(format!(
                "the loss does not depend on the features input `{features}`: wire it in"
            )));
        }
        let mut pos = std::collections::BTreeMap::new();
        let mut nodes = Vec::new();
        let mut params = Vec::new();
        let mut buffers = Vec::new();
        let mut names = Vec::new();
        for &id in analysis.order.iter().filter(|id| needed.contains(id)) {
            let Some(node) = graph.node(id) else { continue };
            let mut own = Vec::new();
            let mut bufs = Vec::new();
            let mut fixed = None;
            for spec in analysis.owned.get(&id).map(Vec::as_slice).unwrap_or(&[]) {
                let arr = node.tensor_or_init(spec, graph.seed);
                if spec.trainable {
                    own.push((spec.key, params.len()));
                    params.push(ParamInfo {
                        node: id,
                        node_name: node.name.clone(),
                        key: spec.key,
                        shape: spec.shape.clone(),
                        initial: arr,
                    });
                } else if spec.key == "value" {
                    fixed = Some(arr);
                } else {
                    bufs.push((spec.key, buffers.len()));
                    buffers.push(ParamInfo {
                        node: id,
                        node_name: node.name.clone(),
                        key: spec.key,
                        shape: spec.shape.clone(),
                        initial: arr,
                    });
                }
            }
            let source = if id == fid {
                Source::Features
            } else if id == tid {
                Source::Target
            } else if node.op.is_source() {
                match fixed {
                    Some(a) => Source::Fixed(a),
                    None => Source::OwnValue,
                }
            } else {
                let mut ins = Vec::new();
                for p in 0..node.op.arity() {
                    let src = graph
                        .input(id, p)
                        .and_then(|s| pos.get(&s).copied())
                        .ok_or_else(|| {
                            binding(format!("`{}` has an unconnected input", node.name))
                        })?;
                    ins.push(src);
                }
                Source::Op(ins)
            };
            pos.insert(id, nodes.len());
            names.push(node.name.clone());
            nodes.push(CNode {
                id,
                op: node.op.clone(),
                shape: shape_of(id),
                source,
                params: own,
                buffers: bufs,
            });
        }
        let out_pos = *pos.get(&output).ok_or_else(|| {
            binding("the output could not be computed: check its diagnostics".into())
        })?;
        let out_node = &nodes[out_pos];
        let pred = match &out_node.source {
            Source::Op(ins) if is_loss(&out_node.op) => ins.first().copied(),
            _ => None,
        };
        if let Some(p) = pred {
            let pred_node = &nodes[p];
            check_scorable(
                data,
                target_kind,
                &out_node.op,
                (&names[out_pos], &names[p]),
                &pred_node.shape,
            )?;
        }
        Ok(Self {
            nodes,
            params,
            buffers,
            output: out_pos,
            pred,
            feature_shape,
            target_shape,
            target_kind,
            names,
        })
    }

    /// The loss node's name.
    pub fn output_name(&self) -> &str {
        &self.names[self.output]
    }

    /// The prediction's per-sample length (1 for binary or regression, C for classes).
    pub fn pred_len(&self) -> Option<usize> {
        self.pred.map(|p| numel(&self.nodes[p].shape))
    }

    /// Every parameter's starting value on `device`, as leaves that keep gradients.
    pub fn initial_params(&self, device: &Device, dtype: DType) -> Vec<T> {
        self.params
            .iter()
            .map(|p| upload(&p.initial, device, dtype).require_grad())
            .collect()
    }

    /// Every buffer's starting value on `device` (no gradients).
    pub fn initial_buffers(&self, device: &Device, dtype: DType) -> Vec<T> {
        self.buffers
            .iter()
            .map(|p| upload(&p.initial, device, dtype))
            .collect()
    }

    /// BatchNorm's running statistics after a training batch: (buffer index, new value),
    /// new = (1 - momentum) old + momentum * batch statistic.
    pub fn buffer_updates(&self, vals: &[Option<T>], buffers: &[T]) -> Vec<(usize, T)> {
        let mut out = Vec::new();
        for n in &self.nodes {
            let (Op::BatchNorm { momentum }, Source::Op(ins)) = (&n.op, &n.source) else {
                continue;
            };
            let Some(Some(input)) = ins.first().map(|&i| vals[i].clone()) else {
                continue;
            };
            let per_channel = self.nodes[ins[0]].shape.len() == 3;
            let (mean, var) = batch_stats(input.detach(), per_channel);
            for (key, stat) in [("running_mean", mean), ("running_var", var)] {
                if let Some(&(_, b)) = n.buffers.iter().find(|(k, _)| *k == key) {
                    let old = buffers[b].clone();
                    let stat = stat.reshape(old.dims());
                    out.push((
                        b,
                        old.mul_scalar(1.0 - momentum) + stat.mul_scalar(*momentum),
                    ));
                }
            }
        }
        out
    }

    /// A batch of samples `rows` as (features, targets) tensors on `device`.
    pub fn batch(&self, data: &Dataset, rows: &[usize], device: &Device, dtype: DType) -> (T, T) {
        let d = data.feature_len();
        let mut xs = Vec::with_capacity(rows.len() * d);
        for &r in rows {
            xs.extend_from_slice(data.sample(r));
        }
        let ys: Vec<f32> = match self.target_kind {
            TargetKind::Value => rows.iter().map(|&r| data.targets[r]).collect(),
            TargetKind::OneHot(c) => {
                let mut v = vec![0f32; rows.len() * c];
                for (i, &r) in rows.iter().enumerate() {
                    v[i * c + data.targets[r] as usize] = 1.0;
                }
                v
            }
        };
        let b = rows.len();
        let up = |v: Vec<f32>, shape: &[usize]| {
            let td = TensorData::new(v, phys(b, shape).to_vec()).convert_dtype(dtype);
            T::from_data(td, (device, dtype))
        };
        (up(xs, &self.feature_shape), up(ys, &self.target_shape))
    }

    /// The fixed values (Constants, unbound Inputs) on `device`, by position; upload once.
    pub fn fixed_values(&self, device: &Device, dtype: DType) -> Vec<Option<T>> {
        self.nodes
            .iter()
            .map(|n| match &n.source {
                Source::Fixed(a) => Some(upload(a, device, dtype)),
                _ => None,
            })
            .collect()
    }

    /// Runs the forward pass; returns every node's value (by position) or `None` where a
    /// node could not run. `fixed` comes from `fixed_values`.
    #[allow(clippy::too_many_arguments)]
    pub fn forward(
        &self,
        x: T,
        y: T,
        params: &[T],
        buffers: &[T],
        fixed: &[Option<T>],
        eps: f64,
        training: bool,
    ) -> Vec<Option<T>> {
        let mut vals: Vec<Option<T>> = Vec::with_capacity(self.nodes.len());
        for (at, n) in self.nodes.iter().enumerate() {
            let owned: Vec<(&'static str, T)> = n
                .params
                .iter()
                .map(|&(k, i)| (k, params[i].clone()))
                .chain(n.buffers.iter().map(|&(k, i)| (k, buffers[i].clone())))
                .collect();
            let v = match &n.source {
                Source::Features => Some(x.clone()),
                Source::Target => Some(y.clone()),
                Source::Fixed(_) => fixed.get(at).cloned().flatten(),
                Source::OwnValue => owned
                    .iter()
                    .find(|(k, _)| *k == "value")
                    .map(|(_, t)| t.clone()),
                Source::Op(ins) => {
                    let xs: Option<Vec<T>> = ins.iter().map(|&i| vals[i].clone()).collect();
                    match xs {
                        Some(xs) => forward(
                            &n.op,
                            OpInputs {
                                xs,
                                shapes: ins
                                    .iter()
                                    .map(|&i| self.nodes[i].shape.as_slice())
                                    .collect(),
                                owned,
                                out_shape: &n.shape,
                                eps,
                                training,
                            },
                        ),
                        None => None,
                    }
                }
            };
            vals.push(v);
        }
        vals
    }

    /// The mean over the batch of the output (summed over its per-sample values).
    pub fn loss_of(&self, vals: &[Option<T>], batch: usize) -> Option<Tensor<1>> {
        vals[self.output]
            .clone()
            .map(|o| o.sum().div_scalar(batch.max(1) as f64))
    }

    /// Per-sample loss values `[B]` and the prediction `[B, pred_len]`.
    pub fn per_sample(&self, vals: &[Option<T>]) -> (Option<T>, Option<T>) {
        let out = vals[self.output].clone().map(|o| {
            let b = o.dims()[0];
            o.reshape([b, 1, 1, numel(&self.nodes[self.output].shape).max(1)])
                .sum_dim(3)
        });
        let pred = self.pred.and_then(|p| {
            vals[p].clone().map(|v| {
                let b = v.dims()[0];
                v.reshape([b, 1, 1, numel(&self.nodes[p].shape).max(1)])
            })
        });
        (out, pred)
    }

    /// The first node (in order) whose values are not all finite, with its op.
    pub fn first_non_finite(&self, values: &[Option<Vec<f64>>]) -> Option<(String, &'static str)> {
        self.nodes
            .iter()
            .zip(values)
            .zip(&self.names)
            .find_map(|((n, v), name)| {
                v.as_ref()
                    .filter(|v| v.iter().any(|x| !x.is_finite()))
                    .map(|_| (name.clone(), n.op.name()))
            })
    }

    /// The computed nodes (not sources): (position, id, name), for activation histograms.
    pub fn activation_nodes(&self) -> Vec<(usize, NodeId, String)> {
        self.nodes
            .iter()
            .enumerate()
            .filter(|(_, n)| !n.op.is_source())
            .map(|(i, n)| (i, n.id, self.names[i].clone()))
            .collect()
    }
}
