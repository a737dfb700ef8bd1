//! The graph as an ONNX model (opset 17, IR version 8), following
//! the convention shared with the importer: value names are node names, helper values are
//! `<node>.<what>`, weights are initializers `<node>.<key>`, every Input is a graph input with
//! a leading dynamic batch dimension `N`.
//!
//! Values that depend on an Input carry the batch dimension; values computed from Constants
//! and Parameters only do not (they are the same for every sample). Ops whose per-sample
//! meaning would change under NumPy broadcasting get an explicit Unsqueeze/Squeeze, so the
//! model computes exactly nodegrad's per-sample function for every sample of a batch.
//!
//! Nothing is written unless the whole model could be built (`write` goes through a temp
//! file and a rename).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use onnx_ir::{
    AttributeProto, AttributeType, GraphProto, Message, ModelProto, NodeProto, TensorProto,
    ValueInfoProto,
};
use thiserror::Error;

use crate::analysis::{self, Analysis, Severity};
use crate::graph::{Graph, Node, NodeId, Op, Shape, numel};

pub const OPSET: i64 = 17;
pub const IR_VERSION: i64 = 8;
/// ONNX's element type FLOAT (f32) and INT64.
const FLOAT: i32 = 1;
const INT64: i32 = 7;
/// BatchNorm's epsilon, as `exec` uses it.
const BN_EPS: f32 = crate::exec::forward::BN_EPS as f32;

/// Why an export did not happen. Nothing was written when this is returned.
#[derive(Debug, Error)]
pub enum ExportError {
    /// The graph cannot be exported as it is (errors in it, or an op without an equivalent).
    #[error("{0}")]
    Refused(String),
    #[error("cannot write {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
}

impl ExportError {
    pub fn io(path: &Path, source: std::io::Error) -> Self {
        ExportError::Io {
            path: path.display().to_string(),
            source,
        }
    }
}

/// Analysis of a graph about to be exported; a graph with errors is refused with its first
/// error (the place and the message), since its numbers are not defined.
pub fn analyze_for_export(graph: &Graph) -> Result<Analysis, ExportError> {
    let analysis = analysis::analyze(graph);
    if let Some(d) = analysis
        .diagnostics
        .iter()
        .find(|d| d.severity == Severity::Error)
    {
        return Err(ExportError::Refused(format!(
            "the graph has errors; fix them first: {}: {}",
            d.place, d.message
        )));
    }
    Ok(analysis)
}

/// What `write` produced, for the status line and the CLI.
#[derive(Clone, Debug, PartialEq)]
pub struct OnnxSummary {
    pub inputs: Vec<String>,
    pub outputs: Vec<String>,
    pub onnx_nodes: usize,
    pub initializers: usize,
    pub bytes: usize,
}

/// Builds the model and writes it to `path` (temp file + rename).
pub fn write(graph: &Graph, with_loss: bool, path: &Path) -> Result<OnnxSummary, ExportError> {
    let model = build(graph, with_loss)?;
    let bytes = model
        .write_to_bytes()
        .map_err(|e| ExportError::Refused(format!("the model could not be encoded: {e}")))?;
    crate::project::write_atomic(path, &bytes).map_err(|e| ExportError::io(path, e))?;
    let g = &model.graph;
    Ok(OnnxSummary {
        inputs: g.input.iter().map(|v| v.name.clone()).collect(),
        outputs: g.output.iter().map(|v| v.name.clone()).collect(),
        onnx_nodes: g.node.len(),
        initializers: g.initializer.len(),
        bytes: bytes.len(),
    })
}

/// Which nodes an export keeps, and which are its outputs.
pub struct Selection {
    /// Kept nodes in evaluation order.
    pub order: Vec<NodeId>,
    pub outputs: Vec<NodeId>,
}

/// The inference graph: every node that is not a loss and depends on no loss, with the sinks
/// among them (that are not Inputs, Constants or Parameters) as outputs. With `with_loss`,
/// the nodes that depend on a loss too, whose sinks become outputs as well. Only the ancestors
/// of the outputs are kept (a target Input feeding only a loss is dropped without losses).
pub fn select(graph: &Graph, analysis: &Analysis, with_loss: bool) -> Selection {
    let mut lossy: BTreeSet<NodeId> = BTreeSet::new();
    for &id in &analysis.order {
        let Some(node) = graph.node(id) else { continue };
        let from_loss = (0..node.op.arity())
            .filter_map(|p| graph.input(id, p))
            .any(|src| lossy.contains(&src));
        if node.op.is_loss() || from_loss {
            lossy.insert(id);
        }
    }
    // Sinks among `kept`: nodes no kept node consumes (sources are never outputs).
    let sinks = |kept: &BTreeSet<NodeId>| -> Vec<NodeId> {
        let consumed: BTreeSet<NodeId> = graph
            .edges()
            .filter(|e| kept.contains(&e.to))
            .map(|e| e.from)
            .collect();
        analysis
            .order
            .iter()
            .copied()
            .filter(|id| kept.contains(id) && !consumed.contains(id))
            .filter(|id| graph.node(*id).is_some_and(|n| !n.op.is_source()))
            .collect()
    };
    let inference: BTreeSet<NodeId> = analysis
        .order
        .iter()
        .copied()
        .filter(|id| !lossy.contains(id))
        .collect();
    let mut outputs = sinks(&inference);
    if with_loss {
        let all: BTreeSet<NodeId> = analysis.order.iter().copied().collect();
        outputs.extend(sinks(&all).into_iter().filter(|id| lossy.contains(id)));
    }
    let mut needed: BTreeSet<NodeId> = BTreeSet::new();
    let mut stack = outputs.clone();
    while let Some(id) = stack.pop() {
        if !needed.insert(id) {
            continue;
        }
        if let Some(node) = graph.node(id) {
            stack.extend((0..node.op.arity()).filter_map(|p| graph.input(id, p)));
        }
    }
    Selection {
        order: analysis
            .order
            .iter()
            .copied()
            .filter(|id| needed.contains(id))
            .collect(),
        outputs,
    }
}

/// One value the ONNX graph has: its name, nodegrad's per-sample shape, and whether it has
/// the leading batch dimension.
#[derive(Clone, Debug)]
struct Value {
    name: String,
    shape: Shape,
    batched: bool,
}

impl Value {
    /// Where the per-sample axes start.
    fn off(&self) -> i64 {
        i64::from(self.batched)
    }
}

/// Nodes and initializers of the graph being built.
#[derive(Default)]
struct Builder {
    nodes: Vec<NodeProto>,
    inits: Vec<TensorProto>,
}

fn attr_int(name: &str, v: i64) -> AttributeProto {
    let mut a = AttributeProto::new();
    a.name = name.into();
    a.type_ = AttributeType::INT.into();
    a.i = v;
    a
}

fn attr_ints(name: &str, v: &[i64]) -> AttributeProto {
    let mut a = AttributeProto::new();
    a.name = name.into();
    a.type_ = AttributeType::INTS.into();
    a.ints = v.to_vec();
    a
}

fn attr_float(name: &str, v: f32) -> AttributeProto {
    let mut a = AttributeProto::new();
    a.name = name.into();
    a.type_ = AttributeType::FLOAT.into();
    a.f = v;
    a
}

fn dims_i64(shape: &[usize]) -> Vec<i64> {
    shape.iter().map(|&d| d as i64).collect()
}

impl Builder {
    /// An ONNX node named like the value it produces.
    fn node(&mut self, op: &str, inputs: &[&str], output: &str, attrs: Vec<AttributeProto>) {
        let mut n = NodeProto::new();
        n.op_type = op.into();
        n.name = output.into();
        n.input = inputs.iter().map(|s| s.to_string()).collect();
        n.output = vec![output.to_string()];
        n.attribute = attrs;
        self.nodes.push(n);
    }

    fn init_f32(&mut self, name: &str, shape: &[usize], data: &[f64]) -> String {
        let mut t = TensorProto::new();
        t.name = name.into();
        t.dims = dims_i64(shape);
        t.data_type = FLOAT;
        t.float_data = data.iter().map(|&v| v as f32).collect();
        self.inits.push(t);
        name.to_string()
    }

    fn init_i64(&mut self, name: &str, data: &[i64]) -> String {
        let mut t = TensorProto::new();
        t.name = name.into();
        t.dims = vec![data.len() as i64];
        t.data_type = INT64;
        t.int64_data = data.to_vec();
        self.inits.push(t);
        name.to_string()
    }

    /// `x` with `count` axes of size 1 inserted after the batch axis (or in front, unbatched),
    /// as `<node>.<what>`.
    fn unsqueeze(&mut self, x: &str, axes: &[i64], node: &str, what: &str) -> String {
        let out = format!("{node}.{what}");
        let axes = self.init_i64(&format!("{out}_axes"), axes);
        self.node("Unsqueeze", &[x, &axes], &out, vec![]);
        out
    }

    fn squeeze_to(&mut self, x: &str, axes: &[i64], out: &str) {
        let axes = self.init_i64(&format!("{out}.squeeze_axes"), axes);
        self.node("Squeeze", &[x, &axes], out, vec![]);
    }

    /// Mean over `x`'s per-sample axes (keepdims 0) into `out`; a per-sample scalar is
    /// already its own mean.
    fn mean_per_sample(&mut self, x: &str, v: &Value, out: &str) {
        if v.shape.is_empty() {
            self.node("Identity", &[x], out, vec![]);
        } else {
            let axes: Vec<i64> = (0..v.shape.len() as i64).map(|a| a + v.off()).collect();
            self.node(
                "ReduceMean",
                &[x],
                out,
                vec![attr_ints("axes", &axes), attr_int("keepdims", 0)],
            );
        }
    }
}

fn value_info(name: &str, shape: &[usize], batched: bool) -> ValueInfoProto {
    let mut v = ValueInfoProto::new();
    v.name = name.into();
    let tensor = v.type_.mut_or_insert_default().mut_tensor_type();
    tensor.elem_type = FLOAT;
    let dims = &mut tensor.shape.mut_or_insert_default().dim;
    if batched {
        dims.push(Default::default());
        if let Some(d) = dims.last_mut() {
            d.set_dim_param("N".into());
        }
    }
    for &s in shape {
        dims.push(Default::default());
        if let Some(d) = dims.last_mut() {
            d.set_dim_value(s as i64);
        }
    }
    v
}

fn refuse(node: &Node, why: &str) -> String {
    format!(
        "node '{}' ({}): not exportable to ONNX because {why}",
        node.name,
        node.op.name()
    )
}

/// The model of `graph` (see the module doc); nothing is written.
pub fn build(graph: &Graph, with_loss: bool) -> Result<ModelProto, ExportError> {
    let analysis = analyze_for_export(graph)?;
    let sel = select(graph, &analysis, with_loss);
    if sel.outputs.is_empty() {
        return Err(ExportError::Refused(if with_loss {
            "the graph computes nothing from its inputs: add an op after an Input".into()
        } else {
            "the graph has no output besides its losses: export with --with-loss (File > \
             Export > ONNX with losses) or add a node after an Input"
                .into()
        }));
    }
    let mut b = Builder::default();
    let mut values: BTreeMap<NodeId, Value> = BTreeMap::new();
    let mut gp = GraphProto::new();
    gp.name = "nodegrad".into();
    for &id in &sel.order {
        let (Some(node), Some(shape)) = (graph.node(id), analysis.shapes.get(&id)) else {
            continue;
        };
        let ins: Vec<Value> = (0..node.op.arity())
            .map(|p| graph.input(id, p).and_then(|src| values.get(&src).cloned()))
            .collect::<Option<_>>()
            .ok_or_else(|| ExportError::Refused(refuse(node, "an input is not wired")))?;
        let owned: Vec<(String, Shape, Vec<f64>)> = analysis
            .owned
            .get(&id)
            .map(Vec::as_slice)
            .unwrap_or(&[])
            .iter()
            .map(|spec| {
                node.try_tensor_or_init(spec, graph.seed)
                    .map(|a| (spec.key.to_string(), spec.shape.clone(), a.data().to_vec()))
                    .map_err(|e| ExportError::Refused(format!("node '{}': {e}", node.name)))
            })
            .collect::<Result<_, _>>()?;
        let batched = match node.op {
            Op::Input => true,
            Op::Constant | Op::Parameter { .. } => false,
            _ => ins.iter().any(|v| v.batched),
        };
        let out = Value {
            name: node.name.clone(),
            shape: shape.clone(),
            batched,
        };
        match node.op {
            Op::Input => gp.input.push(value_info(&node.name, shape, true)),
            Op::Constant | Op::Parameter { .. } => {
                let (_, s, data) = owned
                    .iter()
                    .find(|(k, _, _)| k == "value")
                    .ok_or_else(|| ExportError::Refused(refuse(node, "it has no value")))?;
                b.init_f32(&node.name, s, data);
            }
            _ => export_op(&mut b, node, &ins, &out, &owned).map_err(ExportError::Refused)?,
        }
        values.insert(id, out);
    }
    for id in &sel.outputs {
        if let Some(v) = values.get(id) {
            gp.output.push(value_info(&v.name, &v.shape, v.batched));
        }
    }
    gp.node = b.nodes;
    gp.initializer = b.inits;
    let mut model = ModelProto::new();
    model.ir_version = IR_VERSION;
    model.producer_name = "nodegrad".into();
    model.producer_version = env!("CARGO_PKG_VERSION").into();
    model.opset_import.push(Default::default());
    if let Some(op) = model.opset_import.last_mut() {
        op.domain = String::new();
        op.version = OPSET;
    }
    model.graph = Some(gp).into();
    Ok(model)
}

/// The ONNX nodes of one nodegrad op whose inputs are `ins`, producing `out.name`.
fn export_op(
    b: &mut Builder,
    node: &Node,
    ins: &[Value],
    out: &Value,
    owned: &[(String, Shape, Vec<f64>)],
) -> Result<(), String> {
    let name = node.name.as_str();
    let x = ins.first().map(|v| v.name.as_str()).unwrap_or_default();
    let weight = |key: &str, b: &mut Builder| -> Result<String, String> {
        let (_, s, data) = owned
            .iter()
            .find(|(k, _, _)| k == key)
            .ok_or_else(|| refuse(node, &format!("its {key} is missing")))?;
        Ok(b.init_f32(&format!("{name}.{key}"), s, data))
    };
    let scalar =
        |what: &str, v: f64, b: &mut Builder| b.init_f32(&format!("{name}.{what}"), &[], &[v]);
    let need_batched = |why: &str| -> Result<(), String> {
        if ins[0].batched {
            Ok(())
        } else {
            Err(refuse(
                node,
                &format!(
                    "its input depends on no Input (only Constants and Parameters), and ONNX's {why} needs a batch axis: feed it from an Input"
                ),
            ))
        }
    };
    // Image ops see [N, C, H, W]; a per-sample [H, W] is one channel.
    let one_channel = ins.first().is_some_and(|v| v.shape.len() == 2);
    match &node.op {
        Op::Input | Op::Constant | Op::Parameter { .. } => {}
        Op::Add | Op::Sub | Op::Mul | Op::Div => {
            let mut names = Vec::new();
            for (v, what) in ins.iter().zip(["lhs", "rhs"]) {
                let missing = out.shape.len() - v.shape.len().min(out.shape.len());
                names.push(if v.batched && missing > 0 {
                    let axes: Vec<i64> = (1..=missing as i64).collect();
                    b.unsqueeze(&v.name, &axes, name, what)
                } else {
                    v.name.clone()
                });
            }
            let op = match node.op {
                Op::Add => "Add",
                Op::Sub => "Sub",
                Op::Mul => "Mul",
                _ => "Div",
            };
            b.node(op, &[&names[0], &names[1]], name, vec![]);
        }
        Op::Neg => b.node("Neg", &[x], name, vec![]),
        Op::Exp => b.node("Exp", &[x], name, vec![]),
        Op::Log => b.node("Log", &[x], name, vec![]),
        Op::Sqrt => b.node("Sqrt", &[x], name, vec![]),
        Op::Abs => b.node("Abs", &[x], name, vec![]),
        Op::Identity => b.node("Identity", &[x], name, vec![]),
        Op::Sigmoid => b.node("Sigmoid", &[x], name, vec![]),
        Op::Tanh => b.node("Tanh", &[x], name, vec![]),
        Op::ReLU => b.node("Relu", &[x], name, vec![]),
        Op::Softmax => b.node("Softmax", &[x], name, vec![attr_int("axis", -1)]),
        Op::LeakyReLU { alpha } => b.node(
            "LeakyRelu",
            &[x],
            name,
            vec![attr_float("alpha", *alpha as f32)],
        ),
        Op::PReLU { .. } => {
            let alpha = weight("alpha", b)?;
            b.node("PRelu", &[x, &alpha], name, vec![]);
        }
        Op::Pow { exponent } => {
            let e = scalar("exponent", *exponent, b);
            b.node("Pow", &[x, &e], name, vec![]);
        }
        Op::Scale { factor } => {
            let k = scalar("factor", *factor, b);
            b.node("Mul", &[x, &k], name, vec![]);
        }
        Op::Step => {
            let zero = scalar("zero", 0.0, b);
            let positive = format!("{name}.positive");
            b.node("Greater", &[x, &zero], &positive, vec![]);
            b.node(
                "Cast",
                &[&positive],
                name,
                vec![attr_int("to", FLOAT as i64)],
            );
        }
        Op::MatMul => export_matmul(b, name, &ins[0], &ins[1]),
        Op::Transpose => {
            let r = ins[0].shape.len() + usize::from(ins[0].batched);
            if ins[0].shape.len() >= 2 {
                let mut perm: Vec<i64> = (0..r as i64).collect();
                perm.swap(r - 1, r - 2);
                b.node("Transpose", &[x], name, vec![attr_ints("perm", &perm)]);
            } else {
                b.node("Identity", &[x], name, vec![]);
            }
        }
        Op::Sum { axis } | Op::Mean { axis } => {
            let r = ins[0].shape.len();
            let axes: Vec<i64> = match axis {
                None => (0..r as i64).collect(),
                Some(a) => {
                    let k =
                        crate::graph::shapes::resolve_axis(*a, r).map_err(|e| refuse(node, &e))?;
                    vec![k as i64]
                }
            };
            let axes: Vec<i64> = axes.iter().map(|a| a + ins[0].off()).collect();
            if axes.is_empty() {
                b.node("Identity", &[x], name, vec![]);
            } else if matches!(node.op, Op::Sum { .. }) {
                let axes = b.init_i64(&format!("{name}.axes"), &axes);
                b.node(
                    "ReduceSum",
                    &[x, &axes],
                    name,
                    vec![attr_int("keepdims", 0)],
                );
            } else {
                b.node(
                    "ReduceMean",
                    &[x],
                    name,
                    vec![attr_ints("axes", &axes), attr_int("keepdims", 0)],
                );
            }
        }
        Op::Reshape { .. } => {
            let mut dims = dims_i64(&out.shape);
            if out.batched {
                dims.insert(0, -1);
            }
            let shape = b.init_i64(&format!("{name}.shape"), &dims);
            b.node("Reshape", &[x, &shape], name, vec![]);
        }
        Op::Flatten => {
            if out.batched {
                b.node("Flatten", &[x], name, vec![attr_int("axis", 1)]);
            } else {
                let shape = b.init_i64(&format!("{name}.shape"), &[numel(&ins[0].shape) as i64]);
                b.node("Reshape", &[x, &shape], name, vec![]);
            }
        }
        Op::Concat { axis, .. } => {
            if ins.iter().any(|v| v.batched != out.batched) {
                return Err(refuse(
                    node,
                    "it joins values that depend on an Input with values that do not (ONNX's \
                     Concat cannot repeat the latter for every sample): join values of one kind",
                ));
            }
            let off = i64::from(out.batched);
            let scalars = ins.iter().all(|v| v.shape.is_empty());
            let names: Vec<String> = if scalars {
                ins.iter()
                    .enumerate()
                    .map(|(i, v)| b.unsqueeze(&v.name, &[off], name, &format!("in{}", i + 1)))
                    .collect()
            } else {
                ins.iter().map(|v| v.name.clone()).collect()
            };
            let k = if scalars {
                0
            } else {
                crate::graph::shapes::resolve_axis(*axis, ins[0].shape.len())
                    .map_err(|e| refuse(node, &e))? as i64
            };
            let refs: Vec<&str> = names.iter().map(String::as_str).collect();
            b.node("Concat", &refs, name, vec![attr_int("axis", k + off)]);
        }
        Op::Dense { units, .. } => {
            let w = weight("weight", b)?;
            let bias = weight("bias", b)?;
            let n = numel(&ins[0].shape) as i64;
            let gemm_attrs = || {
                vec![
                    attr_float("alpha", 1.0),
                    attr_float("beta", 1.0),
                    attr_int("transA", 0),
                    attr_int("transB", 0),
                ]
            };
            if ins[0].batched {
                let x = if ins[0].shape.len() == 1 {
                    x.to_string()
                } else {
                    let flat = format!("{name}.flatten");
                    b.node("Flatten", &[x], &flat, vec![attr_int("axis", 1)]);
                    flat
                };
                b.node("Gemm", &[&x, &w, &bias], name, gemm_attrs());
            } else {
                // One row [1, n] through Gemm, then back to [units].
                let flat = format!("{name}.flatten");
                let row = b.init_i64(&format!("{name}.row_shape"), &[1, n]);
                b.node("Reshape", &[x, &row], &flat, vec![]);
                let gemm = format!("{name}.gemm");
                b.node("Gemm", &[&flat, &w, &bias], &gemm, gemm_attrs());
                let shape = b.init_i64(&format!("{name}.shape"), &[*units as i64]);
                b.node("Reshape", &[&gemm, &shape], name, vec![]);
            }
        }
        Op::Conv2d {
            kernel,
            stride,
            padding,
            bias,
            ..
        } => {
            need_batched("Conv")?;
            let w = weight("weight", b)?;
            let x = if one_channel {
                b.unsqueeze(x, &[1], name, "unsqueeze")
            } else {
                x.to_string()
            };
            let mut inputs = vec![x, w];
            if *bias {
                inputs.push(weight("bias", b)?);
            }
            let p = padding.amount(*kernel) as i64;
            let refs: Vec<&str> = inputs.iter().map(String::as_str).collect();
            b.node(
                "Conv",
                &refs,
                name,
                vec![
                    attr_ints("kernel_shape", &[*kernel as i64; 2]),
                    attr_ints("pads", &[p; 4]),
                    attr_ints("strides", &[*stride as i64; 2]),
                    attr_ints("dilations", &[1, 1]),
                    attr_int("group", 1),
                ],
            );
        }
        Op::MaxPool2d { kernel, stride } | Op::AvgPool2d { kernel, stride } => {
            let op = if matches!(node.op, Op::MaxPool2d { .. }) {
                "MaxPool"
            } else {
                "AveragePool"
            };
            need_batched(op)?;
            let attrs = vec![
                attr_ints("kernel_shape", &[*kernel as i64; 2]),
                attr_ints("strides", &[*stride as i64; 2]),
            ];
            if one_channel {
                let x = b.unsqueeze(x, &[1], name, "unsqueeze");
                let pooled = format!("{name}.pool");
                b.node(op, &[&x], &pooled, attrs);
                b.squeeze_to(&pooled, &[1], name);
            } else {
                b.node(op, &[x], name, attrs);
            }
        }
        Op::Dropout { p } => {
            // Inference: the identity. The ratio is kept so the importer gets p back.
            let ratio = scalar("ratio", *p, b);
            b.node("Dropout", &[x, &ratio], name, vec![]);
        }
        Op::BatchNorm { momentum } => {
            need_batched("BatchNormalization")?;
            let keys = ["gamma", "beta", "running_mean", "running_var"];
            let mut inputs = vec![x.to_string()];
            for k in keys {
                inputs.push(weight(k, b)?);
            }
            let refs: Vec<&str> = inputs.iter().map(String::as_str).collect();
            // ONNX: running = running * momentum + batch * (1 - momentum); nodegrad's momentum
            // is the weight of the batch.
            b.node(
                "BatchNormalization",
                &refs,
                name,
                vec![
                    attr_float("epsilon", BN_EPS),
                    attr_float("momentum", (1.0 - momentum) as f32),
                ],
            );
        }
        Op::MSE | Op::L1 | Op::BCE => {
            let (p, t) = (&ins[0], &ins[1]);
            let t = reshape_like(b, name, t, p);
            let per = format!("{name}.per_value");
            match node.op {
                Op::MSE | Op::L1 => {
                    let diff = format!("{name}.diff");
                    b.node("Sub", &[&p.name, &t], &diff, vec![]);
                    if matches!(node.op, Op::MSE) {
                        b.node("Mul", &[&diff, &diff], &per, vec![]);
                    } else {
                        b.node("Abs", &[&diff], &per, vec![]);
                    }
                }
                _ => {
                    let eps = crate::graph::ops::BCE_EPS_F32;
                    let lo = scalar("eps", eps, b);
                    let hi = scalar("one_minus_eps", 1.0 - eps, b);
                    let one = scalar("one", 1.0, b);
                    let q = format!("{name}.clipped");
                    b.node("Clip", &[&p.name, &lo, &hi], &q, vec![]);
                    let names = ["log_p", "one_minus_p", "log_one_minus_p", "one_minus_t"];
                    let [log_p, omp, log_omp, omt] = names.map(|w| format!("{name}.{w}"));
                    b.node("Log", &[&q], &log_p, vec![]);
                    b.node("Sub", &[&one, &q], &omp, vec![]);
                    b.node("Log", &[&omp], &log_omp, vec![]);
                    b.node("Sub", &[&one, &t], &omt, vec![]);
                    let [a, c, s] =
                        ["t_log_p", "rest", "log_likelihood"].map(|w| format!("{name}.{w}"));
                    b.node("Mul", &[&t, &log_p], &a, vec![]);
                    b.node("Mul", &[&omt, &log_omp], &c, vec![]);
                    b.node("Add", &[&a, &c], &s, vec![]);
                    b.node("Neg", &[&s], &per, vec![]);
                }
            }
            b.mean_per_sample(&per, p, name);
        }
        Op::CrossEntropy => {
            let (z, t) = (&ins[0], &ins[1]);
            let classes = z.shape[0];
            let log_sm = format!("{name}.log_softmax");
            b.node(
                "LogSoftmax",
                &[&z.name],
                &log_sm,
                vec![attr_int("axis", -1)],
            );
            let one_hot = t.shape.len() == 1 && classes > 1 && t.shape[0] == classes;
            let onehot = if one_hot {
                t.name.clone()
            } else {
                // Class index -> one-hot as nodegrad computes it: |class - index| < 0.5.
                let iota: Vec<f64> = (0..classes).map(|c| c as f64).collect();
                let classes_init = b.init_f32(&format!("{name}.classes"), &[classes], &iota);
                let flat_shape = if t.batched { vec![-1, 1] } else { vec![1] };
                let shape = b.init_i64(&format!("{name}.index_shape"), &flat_shape);
                let index = format!("{name}.index");
                b.node("Reshape", &[&t.name, &shape], &index, vec![]);
                let [dist, absd, is, oh] = ["distance", "abs_distance", "is_class", "onehot"]
                    .map(|w| format!("{name}.{w}"));
                b.node("Sub", &[&classes_init, &index], &dist, vec![]);
                b.node("Abs", &[&dist], &absd, vec![]);
                let half = scalar("half", 0.5, b);
                b.node("Less", &[&absd, &half], &is, vec![]);
                b.node("Cast", &[&is], &oh, vec![attr_int("to", FLOAT as i64)]);
                oh
            };
            let [picked, sum] = ["picked", "sum"].map(|w| format!("{name}.{w}"));
            b.node("Mul", &[&onehot, &log_sm], &picked, vec![]);
            let axes = b.init_i64(&format!("{name}.axes"), &[-1]);
            b.node(
                "ReduceSum",
                &[&picked, &axes],
                &sum,
                vec![attr_int("keepdims", 0)],
            );
            b.node("Neg", &[&sum], name, vec![]);
        }
        #[cfg(feature = "test-ops")]
        Op::TestBrokenSquare => {
            return Err(refuse(
                node,
                "it is a test-only op with a deliberately wrong derivative",
            ));
        }
    }
    Ok(())
}

/// A loss target in the prediction's per-sample shape (they hold the same number of values).
fn reshape_like(b: &mut Builder, node: &str, t: &Value, p: &Value) -> String {
    if t.shape == p.shape && t.batched == p.batched {
        return t.name.clone();
    }
    let mut dims = dims_i64(&p.shape);
    if t.batched {
        dims.insert(0, -1);
    }
    let shape = b.init_i64(&format!("{node}.target_shape"), &dims);
    let out = format!("{node}.target");
    b.node("Reshape", &[&t.name, &shape], &out, vec![]);
    out
}

/// NumPy's matmul as nodegrad applies it per sample. ONNX's MatMul broadcasts the same way
/// except where a batched vector would be taken for a matrix: those get an axis and lose it
/// again.
fn export_matmul(b: &mut Builder, name: &str, a: &Value, c: &Value) {
    let (ra, rc) = (a.shape.len(), c.shape.len());
    if ra == 1 && rc == 1 && c.batched {
        let product = format!("{name}.product");
        b.node("Mul", &[&a.name, &c.name], &product, vec![]);
        let axes = b.init_i64(&format!("{name}.axes"), &[-1]);
        b.node(
            "ReduceSum",
            &[&product, &axes],
            name,
            vec![attr_int("keepdims", 0)],
        );
    } else if ra == 1 && a.batched && rc >= 2 && c.batched {
        // [N, n] -> [N, 1, n] @ [N, n, m] -> [N, 1, m] -> [N, m]
        let row = b.unsqueeze(&a.name, &[1], name, "row");
        let m = format!("{name}.matmul");
        b.node("MatMul", &[&row, &c.name], &m, vec![]);
        b.squeeze_to(&m, &[-2], name);
    } else if rc == 1 && c.batched && ra >= 2 {
        // [N, n] -> [N, n, 1]; [.., k, n] @ [N, n, 1] -> [N, k, 1] -> [N, k]
        let col = b.unsqueeze(&c.name, &[-1], name, "column");
        let m = format!("{name}.matmul");
        b.node("MatMul", &[&a.name, &col], &m, vec![]);
        b.squeeze_to(&m, &[-1], name);
    } else {
        b.node("MatMul", &[&a.name, &c.name], name, vec![]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::{Array, Init};

    fn dense_graph() -> Graph {
        let mut g = Graph::new();
        let x = g.add(Op::Input, [0.0, 0.0]);
        g.set_tensor(x, "value", Array::vector(vec![1.0, 2.0, 3.0]))
            .unwrap();
        let d = g.add(
            Op::Dense {
                units: 2,
                init: Init::XavierUniform,
            },
            [0.0, 0.0],
        );
        g.connect(x, d, 0).unwrap();
        g
    }

    #[test]
    fn dense_becomes_gemm_with_nodegrads_weight_layout_and_named_values() {
        let g = dense_graph();
        let m = build(&g, false).unwrap();
        let gp = &m.graph;
        assert_eq!(m.ir_version, 8);
        assert_eq!(m.opset_import[0].version, 17);
        assert_eq!(gp.input.len(), 1);
        assert_eq!(gp.input[0].name, "x1");
        assert_eq!(gp.output[0].name, "dense1");
        let gemm = &gp.node[0];
        assert_eq!(gemm.op_type, "Gemm");
        assert_eq!(gemm.input, ["x1", "dense1.weight", "dense1.bias"]);
        let attrs: Vec<(&str, i64)> = gemm
            .attribute
            .iter()
            .map(|a| (a.name.as_str(), a.i))
            .collect();
        assert_eq!(
            attrs,
            [("alpha", 0), ("beta", 0), ("transA", 0), ("transB", 0)]
        );
        assert_eq!(gemm.attribute[0].f, 1.0);
        let w = gp
            .initializer
            .iter()
            .find(|t| t.name == "dense1.weight")
            .unwrap();
        // nodegrad's [n, units], not PyTorch's [units, n].
        assert_eq!(w.dims, [3, 2]);
        assert_eq!(w.float_data.len(), 6);
        // The input has a dynamic batch axis N, then the per-sample shape.
        let dims = &gp.input[0].type_.tensor_type().shape.dim;
        assert_eq!(dims[0].dim_param(), "N");
        assert_eq!(dims[1].dim_value(), 3);
    }

    #[test]
    fn refusals_name_the_node_and_the_reason() {
        let mut g = Graph::new();
        let x = g.add(Op::Input, [0.0, 0.0]);
        let c = g.add(Op::Constant, [0.0, 0.0]);
        let cat = g.add(Op::Concat { inputs: 2, axis: 0 }, [0.0, 0.0]);
        g.connect(x, cat, 0).unwrap();
        g.connect(c, cat, 1).unwrap();
        let err = build(&g, false).unwrap_err().to_string();
        assert!(
            err.starts_with("node 'concat1' (Concat): not exportable to ONNX because it joins"),
            "{err}"
        );
        // A graph with an error is refused with its place, and nothing is written.
        let mut g = dense_graph();
        let d = g.find("dense1").unwrap().id;
        g.disconnect(d, 0);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.onnx");
        let err = write(&g, false, &path).unwrap_err().to_string();
        assert!(
            err.contains("fix them first") && err.contains("dense1"),
            "{err}"
        );
        assert!(!path.exists());
    }

    #[test]
    fn losses_only_with_with_loss_and_their_targets_become_inputs() {
        let mut g = dense_graph();
        let d = g.find("dense1").unwrap().id;
        let y = g.add(Op::Input, [0.0, 0.0]);
        g.set_tensor(y, "value", Array::scalar(1.0)).unwrap();
        let ce = g.add(Op::CrossEntropy, [0.0, 0.0]);
        g.connect(d, ce, 0).unwrap();
        g.connect(y, ce, 1).unwrap();
        let plain = build(&g, false).unwrap();
        let names = |v: &[ValueInfoProto]| v.iter().map(|v| v.name.clone()).collect::<Vec<_>>();
        assert_eq!(names(&plain.graph.input), ["x1"]);
        assert_eq!(names(&plain.graph.output), ["dense1"]);
        let full = build(&g, true).unwrap();
        assert_eq!(names(&full.graph.input), ["x1", "x2"]);
        assert_eq!(names(&full.graph.output), ["dense1", "ce1"]);
        let ops: Vec<&str> = full.graph.node.iter().map(|n| n.op_type.as_str()).collect();
        assert!(
            ops.contains(&"LogSoftmax") && ops.ends_with(&["ReduceSum", "Neg"]),
            "{ops:?}"
        );
        assert!(full.graph.node.iter().all(|n| n.name == n.output[0]));
    }
}
