//! The graph as one readable PyTorch file: an `nn.Module` whose `forward` has one line per
//! node in evaluation order, named like the nodes; the weights inline (small graphs) or in a
//! `.safetensors` file beside it; a `__main__` that evaluates the project's own inputs in
//! float64, runs backward and prints every node's value and gradient as JSON in the layout of
//! `nodegrad eval --json`; and, when the project has training settings, a `train()` with the
//! same optimizer, learning rate, decay, batch size, epochs and loss on the dataset written
//! beside it as CSV.
//!
//! Every value in `forward` carries a leading batch axis; Constants and Parameters get one of
//! size 1 (`self.w[None]`), so PyTorch's broadcasting lines up with nodegrad's per-sample
//! shapes. Files are written through temp files and renames, the `.py` last, so a `.py`
//! never names a side file that is not there.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::analysis::Analysis;
use crate::graph::{Graph, Node, NodeId, Op, Shape, fmt_shape, numel};
use crate::project::Project;
use crate::project::training::{DatasetSpec, Decay, OptimizerKind, TrainingConfig};

pub use super::onnx_export::ExportError;
use super::onnx_export::analyze_for_export;

/// Graphs with more weight values than this get a `.safetensors` file instead of inline
/// numbers (a few pages of numbers stay readable; LeNet's 60,000 do not).
pub const INLINE_LIMIT: usize = 4096;

/// What `write` produced.
#[derive(Clone, Debug, PartialEq)]
pub struct PytorchExport {
    pub py: PathBuf,
    pub safetensors: Option<PathBuf>,
    pub csv: Option<PathBuf>,
}

impl PytorchExport {
    /// "model.py (+ model.safetensors, model.csv)" for the status line.
    pub fn describe(&self) -> String {
        let side: Vec<String> = [&self.safetensors, &self.csv]
            .into_iter()
            .flatten()
            .map(|p| file_name(p))
            .collect();
        if side.is_empty() {
            self.py.display().to_string()
        } else {
            format!("{} (+ {})", self.py.display(), side.join(", "))
        }
    }
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Python's keywords, the names the generated file uses at module level, and the attributes
/// of `nn.Module` (a layer named `training` or `eval` would replace them): a node with one of
/// these names gets a `_` appended.
#[rustfmt::skip]
const RESERVED: &[&str] = &[
    "False", "None", "True", "and", "as", "assert", "async", "await", "break", "class",
    "continue", "def", "del", "elif", "else", "except", "finally", "for", "from", "global", "if",
    "import", "in", "is", "lambda", "nonlocal", "not", "or", "pass", "raise", "return", "try",
    "while", "with", "yield", "match", "case", "type", "print", "len", "range", "dict", "list",
    "float", "int", "str", "max", "min", "sum", "abs", "open", "self", "super", "torch", "nn",
    "F", "json", "math", "os", "struct", "sys", "csv", "HERE", "Model", "WEIGHTS", "WEIGHTS_FILE",
    "DATASET", "INPUTS", "load_weights", "per_sample", "same_batch", "mse", "l1", "bce",
    "cross_entropy_index", "cross_entropy_onehot", "train", "evaluate_json", "param_views",
    "predicted_class", "lr_at", "read_dataset", "training", "forward", "values", "eval",
    "parameters", "buffers", "children", "modules", "state_dict", "load_state_dict", "to", "cuda",
    "cpu", "double", "half", "bfloat16", "apply", "zero_grad", "register_buffer",
    "register_parameter", "add_module", "named_parameters", "named_buffers", "named_modules",
    "named_children", "requires_grad_", "extra_repr", "get_parameter", "get_buffer",
    "get_submodule", "share_memory", "compile", "xpu", "ipu", "mtia", "dump_patches",
    "call_super_init", "register_module", "get_extra_state", "set_extra_state",
];

/// A valid, deterministic Python identifier for every node: letters, digits and `_` stay,
/// `'` becomes `_p` (x' -> x_p), anything else `_`; reserved words get a `_`; clashes get
/// `_2`, `_3`, ... in evaluation order.
pub fn python_names(graph: &Graph, order: &[NodeId]) -> BTreeMap<NodeId, String> {
    let mut used: BTreeSet<String> = BTreeSet::new();
    let mut out = BTreeMap::new();
    for &id in order {
        let Some(node) = graph.node(id) else { continue };
        let mut s = String::new();
        for c in node.name.chars() {
            match c {
                'a'..='z' | 'A'..='Z' | '0'..='9' | '_' => s.push(c),
                '\'' => s.push_str("_p"),
                _ => s.push('_'),
            }
        }
        if s.is_empty() || s.starts_with(|c: char| c.is_ascii_digit()) {
            s.insert(0, '_');
        }
        if RESERVED.contains(&s.as_str()) {
            s.push('_');
        }
        let mut name = s.clone();
        let mut k = 2;
        while used.contains(&name) {
            name = format!("{s}_{k}");
            k += 1;
        }
        used.insert(name.clone());
        out.insert(id, name);
    }
    out
}

/// A Python float literal that reads back as the same f64.
pub fn py_float(v: f64) -> String {
    if v.is_nan() {
        "float('nan')".into()
    } else if v.is_infinite() {
        if v > 0.0 {
            "float('inf')"
        } else {
            "-float('inf')"
        }
        .into()
    } else {
        format!("{v:?}")
    }
}

fn py_str(s: &str) -> String {
    // JSON string syntax is valid Python string syntax.
    serde_json::to_string(s).unwrap_or_else(|_| "''".into())
}

fn py_ints(v: &[usize]) -> String {
    let items: Vec<String> = v.iter().map(|d| d.to_string()).collect();
    format!("[{}]", items.join(", "))
}

/// Numbers as a Python list, a few per line.
fn py_floats(v: &[f64], indent: &str) -> String {
    if v.len() <= 4 {
        let items: Vec<String> = v.iter().map(|x| py_float(*x)).collect();
        return format!("[{}]", items.join(", "));
    }
    let mut s = String::from("[\n");
    for chunk in v.chunks(4) {
        let items: Vec<String> = chunk.iter().map(|x| py_float(*x)).collect();
        let _ = writeln!(s, "{indent}    {},", items.join(", "));
    }
    s.push_str(indent);
    s.push(']');
    s
}

/// One weight as PyTorch stores it: its `state_dict` key, shape and values, plus how to
/// read nodegrad's layout back from the module (for the JSON), by node and key.
struct Weight {
    key: String,
    shape: Shape,
    data: Vec<f64>,
}

/// [rows, cols] -> [cols, rows] (nodegrad's Dense weight [n, units] is PyTorch's [units, n]).
fn transpose(data: &[f64], rows: usize, cols: usize) -> Vec<f64> {
    let mut out = vec![0.0; data.len()];
    for r in 0..rows {
        for c in 0..cols {
            out[c * rows + r] = data[r * cols + c];
        }
    }
    out
}

/// Everything the generator knows about one node.
struct Ctx<'a> {
    graph: &'a Graph,
    analysis: &'a Analysis,
    names: BTreeMap<NodeId, String>,
}

impl Ctx<'_> {
    fn shape(&self, id: NodeId) -> &[usize] {
        self.analysis
            .shapes
            .get(&id)
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    fn input(&self, node: &Node, port: usize) -> Option<NodeId> {
        self.graph.input(node.id, port)
    }

    fn var(&self, id: NodeId) -> &str {
        self.names.get(&id).map(String::as_str).unwrap_or("_")
    }

    fn owned(&self, node: &Node, key: &str) -> Result<(Shape, Vec<f64>), ExportError> {
        let spec = self
            .analysis
            .owned
            .get(&node.id)
            .and_then(|v| v.iter().find(|s| s.key == key))
            .ok_or_else(|| refuse(node, &format!("its {key} has no shape")))?;
        let a = node
            .try_tensor_or_init(spec, self.graph.seed)
            .map_err(|e| ExportError::Refused(format!("node '{}': {e}", node.name)))?;
        Ok((spec.shape.clone(), a.data().to_vec()))
    }
}

fn refuse(node: &Node, why: &str) -> ExportError {
    ExportError::Refused(format!(
        "node '{}' ({}): not exportable to PyTorch because {why}",
        node.name,
        node.op.name()
    ))
}

/// The generated parts of the module for one node.
#[derive(Default)]
struct NodeCode {
    /// Lines of `__init__` (layers, parameters, buffers).
    init: Vec<String>,
    /// The line of `forward` (without indentation); `None` for Inputs (arguments).
    forward: Option<String>,
    /// Weights by `state_dict` key, in PyTorch's layout.
    weights: Vec<Weight>,
    /// (nodegrad key, Python expression of the value in nodegrad's layout, of its gradient).
    params: Vec<(String, String, String)>,
    /// Helper functions it needs.
    helpers: Vec<&'static str>,
}

const HELPERS: &[(&str, &str)] = &[
    (
        "per_sample",
        "def per_sample(x, rank):
    \"\"\"x with axes of size 1 inserted after the batch axis until it has `rank` per-sample
    axes: nodegrad broadcasts per sample, right-aligned.\"\"\"
    return x.reshape(x.shape[:1] + (1,) * (rank + 1 - x.dim()) + x.shape[1:])
",
    ),
    (
        "same_batch",
        "def same_batch(*xs):
    \"\"\"Values that do not depend on an input have a batch axis of 1: repeat them.\"\"\"
    b = max(x.shape[0] for x in xs)
    return [x.expand(b, *x.shape[1:]) for x in xs]
",
    ),
    (
        "mse",
        "def mse(pred, target):
    \"\"\"Mean over each sample's values of (pred - target)^2 -> [batch].\"\"\"
    d = pred.reshape(pred.shape[0], -1) - target.reshape(target.shape[0], -1)
    return (d ** 2).mean(dim=1)
",
    ),
    (
        "l1",
        "def l1(pred, target):
    \"\"\"Mean over each sample's values of |pred - target| -> [batch].\"\"\"
    d = pred.reshape(pred.shape[0], -1) - target.reshape(target.shape[0], -1)
    return d.abs().mean(dim=1)
",
    ),
    (
        "bce",
        "def bce(pred, target):
    \"\"\"Binary cross-entropy per sample, p clamped to [eps, 1 - eps] as nodegrad does.\"\"\"
    eps = 1e-12 if pred.dtype == torch.float64 else 1e-7
    p = pred.reshape(pred.shape[0], -1).clamp(eps, 1 - eps)
    t = target.reshape(target.shape[0], -1)
    return -(t * torch.log(p) + (1 - t) * torch.log(1 - p)).mean(dim=1)
",
    ),
    (
        "cross_entropy_index",
        "def cross_entropy_index(logits, target):
    \"\"\"Softmax + cross-entropy with a class index per sample -> [batch]. The index becomes
    a one-hot row as nodegrad makes it (|class - index| < 0.5), with no gradient.\"\"\"
    classes = torch.arange(logits.shape[-1], dtype=logits.dtype)
    onehot = ((classes - target.detach().reshape(-1, 1)).abs() < 0.5).to(logits.dtype)
    return -(onehot * torch.log_softmax(logits, dim=-1)).sum(dim=-1)
",
    ),
    (
        "cross_entropy_onehot",
        "def cross_entropy_onehot(logits, target):
    \"\"\"Softmax + cross-entropy with a one-hot target -> [batch].\"\"\"
    return -(target * torch.log_softmax(logits, dim=-1)).sum(dim=-1)
",
    ),
];

/// The code of one node; `x(i)` is the variable of input port i.
fn node_code(ctx: &Ctx, node: &Node) -> Result<NodeCode, ExportError> {
    let v = ctx.var(node.id).to_string();
    let out_shape = ctx.shape(node.id).to_vec();
    let ins: Vec<NodeId> = (0..node.op.arity())
        .map(|p| ctx.input(node, p))
        .collect::<Option<_>>()
        .ok_or_else(|| refuse(node, "an input is not wired"))?;
    let x = |i: usize| ctx.var(ins[i]).to_string();
    let rank = |i: usize| ctx.shape(ins[i]).len();
    let mut c = NodeCode::default();
    let expr: String = match &node.op {
        Op::Input => return Ok(c),
        Op::Constant | Op::Parameter { .. } => {
            let (shape, data) = ctx.owned(node, "value")?;
            let zeros = format!("torch.zeros({})", py_ints(&shape));
            if matches!(node.op, Op::Constant) {
                c.init
                    .push(format!("self.register_buffer({}, {zeros})", py_str(&v)));
            } else {
                c.init.push(format!("self.{v} = nn.Parameter({zeros})"));
                c.params
                    .push(("value".into(), format!("m.{v}"), format!("m.{v}.grad")));
            }
            c.weights.push(Weight {
                key: v.clone(),
                shape,
                data,
            });
            format!("self.{v}[None]")
        }
        Op::Add | Op::Sub | Op::Mul | Op::Div => {
            let r = out_shape.len();
            let side = |i: usize| {
                if rank(i) < r {
                    c_helper_per_sample(&x(i), r)
                } else {
                    x(i)
                }
            };
            if rank(0) < r || rank(1) < r {
                c.helpers.push("per_sample");
            }
            let sym = node.op.infix_symbol().unwrap_or("+");
            format!("{} {sym} {}", side(0), side(1))
        }
        Op::Neg => format!("-{}", x(0)),
        Op::Pow { exponent } => format!("{} ** {}", x(0), py_float(*exponent)),
        Op::Exp => format!("torch.exp({})", x(0)),
        Op::Log => format!("torch.log({})", x(0)),
        Op::Sqrt => format!("torch.sqrt({})", x(0)),
        Op::Abs => format!("torch.abs({})", x(0)),
        Op::Scale { factor } => format!("{} * {}", py_float(*factor), x(0)),
        Op::MatMul => {
            let (a, b) = (x(0), x(1));
            match (rank(0), rank(1)) {
                (1, 1) => format!("({a} * {b}).sum(dim=-1)"),
                (1, _) => format!("({a}.unsqueeze(-2) @ {b}).squeeze(-2)"),
                (_, 1) => format!("({a} @ {b}.unsqueeze(-1)).squeeze(-1)"),
                _ => format!("{a} @ {b}"),
            }
        }
        Op::Transpose => {
            if rank(0) >= 2 {
                format!("{}.transpose(-1, -2)", x(0))
            } else {
                format!("{}.clone()", x(0))
            }
        }
        Op::Sum { axis } | Op::Mean { axis } => {
            let f = if matches!(node.op, Op::Sum { .. }) {
                "sum"
            } else {
                "mean"
            };
            let r = rank(0);
            match axis {
                None if r == 0 => format!("{}.clone()", x(0)),
                None => {
                    let dims: Vec<String> = (1..=r).map(|d| d.to_string()).collect();
                    format!("{}.{f}(dim=({},))", x(0), dims.join(", "))
                }
                Some(a) => {
                    let k =
                        crate::graph::shapes::resolve_axis(*a, r).map_err(|e| refuse(node, &e))?;
                    format!("{}.{f}(dim={})", x(0), k + 1)
                }
            }
        }
        Op::Reshape { .. } | Op::Flatten => {
            let mut dims = vec![format!("{}.shape[0]", x(0))];
            dims.extend(out_shape.iter().map(|d| d.to_string()));
            format!("{}.reshape({})", x(0), dims.join(", "))
        }
        Op::Concat { axis, .. } => {
            c.helpers.push("same_batch");
            let xs: Vec<String> = (0..ins.len()).map(x).collect();
            if xs.iter().enumerate().all(|(i, _)| rank(i) == 0) {
                format!("torch.stack(same_batch({}), dim=1)", xs.join(", "))
            } else {
                let k = crate::graph::shapes::resolve_axis(*axis, rank(0))
                    .map_err(|e| refuse(node, &e))?;
                format!("torch.cat(same_batch({}), dim={})", xs.join(", "), k + 1)
            }
        }
        Op::Dense { units, .. } => {
            let n = numel(ctx.shape(ins[0]));
            let (_, w) = ctx.owned(node, "weight")?;
            let (_, b) = ctx.owned(node, "bias")?;
            c.init.push(format!(
                "self.{v} = nn.Linear({n}, {units})  # nodegrad's weight [{n}, {units}] is stored transposed"
            ));
            c.weights.push(Weight {
                key: format!("{v}.weight"),
                shape: vec![*units, n],
                data: transpose(&w, n, *units),
            });
            c.weights.push(Weight {
                key: format!("{v}.bias"),
                shape: vec![*units],
                data: b,
            });
            c.params.push((
                "bias".into(),
                format!("m.{v}.bias"),
                format!("m.{v}.bias.grad"),
            ));
            c.params.push((
                "weight".into(),
                format!("m.{v}.weight.t()"),
                format!("transposed(m.{v}.weight.grad)"),
            ));
            if rank(0) == 1 {
                format!("self.{v}({})", x(0))
            } else {
                format!("self.{v}({}.reshape({}.shape[0], {n}))", x(0), x(0))
            }
        }
        Op::Conv2d {
            filters,
            kernel,
            stride,
            padding,
            bias,
            ..
        } => {
            let (wshape, w) = ctx.owned(node, "weight")?;
            let channels = wshape.get(1).copied().unwrap_or(1);
            let p = padding.amount(*kernel);
            c.init.push(format!(
                "self.{v} = nn.Conv2d({channels}, {filters}, kernel_size={kernel}, stride={stride}, padding={p}, bias={})",
                if *bias { "True" } else { "False" }
            ));
            c.weights.push(Weight {
                key: format!("{v}.weight"),
                shape: wshape,
                data: w,
            });
            if *bias {
                let (bshape, b) = ctx.owned(node, "bias")?;
                c.weights.push(Weight {
                    key: format!("{v}.bias"),
                    shape: bshape,
                    data: b,
                });
                c.params.push((
                    "bias".into(),
                    format!("m.{v}.bias"),
                    format!("m.{v}.bias.grad"),
                ));
            }
            c.params.push((
                "weight".into(),
                format!("m.{v}.weight"),
                format!("m.{v}.weight.grad"),
            ));
            if rank(0) == 2 {
                format!("self.{v}({}.unsqueeze(1))  # [H, W] is one channel", x(0))
            } else {
                format!("self.{v}({})", x(0))
            }
        }
        Op::MaxPool2d { kernel, stride } | Op::AvgPool2d { kernel, stride } => {
            let f = if matches!(node.op, Op::MaxPool2d { .. }) {
                "F.max_pool2d"
            } else {
                "F.avg_pool2d"
            };
            if rank(0) == 2 {
                format!(
                    "{f}({}.unsqueeze(1), {kernel}, stride={stride}).squeeze(1)",
                    x(0)
                )
            } else {
                format!("{f}({}, {kernel}, stride={stride})", x(0))
            }
        }
        Op::Dropout { p } => {
            c.init
                .push(format!("self.{v} = nn.Dropout(p={})", py_float(*p)));
            format!("self.{v}({}).clone()", x(0))
        }
        Op::BatchNorm { momentum } => {
            let r = rank(0);
            let kind = if r == 3 { "BatchNorm2d" } else { "BatchNorm1d" };
            let (s, gamma) = ctx.owned(node, "gamma")?;
            let ch = s.first().copied().unwrap_or(1);
            c.init.push(format!(
                "self.{v} = nn.{kind}({ch}, eps=1e-5, momentum={})  # running stats: PyTorch updates the variance unbiased",
                py_float(*momentum)
            ));
            for (key, torch_key) in [
                ("gamma", "weight"),
                ("beta", "bias"),
                ("running_mean", "running_mean"),
                ("running_var", "running_var"),
            ] {
                let (shape, data) = if key == "gamma" {
                    (s.clone(), gamma.clone())
                } else {
                    ctx.owned(node, key)?
                };
                c.weights.push(Weight {
                    key: format!("{v}.{torch_key}"),
                    shape,
                    data,
                });
                // Buffers have no gradient in PyTorch: the JSON says null there.
                let grad = if key.starts_with("running") {
                    "None".to_string()
                } else {
                    format!("m.{v}.{torch_key}.grad")
                };
                c.params
                    .push((key.into(), format!("m.{v}.{torch_key}"), grad));
            }
            c.params.sort();
            format!("self.{v}({})", x(0))
        }
        // Pass-throughs are new tensors (`clone`), so each node's gradient is its own.
        Op::Identity => format!("{}.clone()", x(0)),
        Op::Step => format!(
            "({x} > 0).to({x}.dtype) + 0 * {x}  # + 0 * x keeps it on autograd's tape: its derivative is 0",
            x = x(0)
        ),
        Op::Sigmoid => format!("torch.sigmoid({})", x(0)),
        Op::Tanh => format!("torch.tanh({})", x(0)),
        Op::ReLU => format!("torch.relu({})", x(0)),
        Op::LeakyReLU { alpha } => format!(
            "F.leaky_relu({}, negative_slope={})",
            x(0),
            py_float(*alpha)
        ),
        Op::PReLU { .. } => {
            let (_, a) = ctx.owned(node, "alpha")?;
            c.init.push(format!("self.{v} = nn.PReLU(1)"));
            c.weights.push(Weight {
                key: format!("{v}.weight"),
                shape: vec![1],
                data: a,
            });
            c.params.push((
                "alpha".into(),
                format!("m.{v}.weight.reshape(())"),
                format!("as_scalar(m.{v}.weight.grad)"),
            ));
            // As nodegrad computes it (relu(x) - alpha relu(-x)), so the gradient at 0 agrees.
            format!(
                "torch.relu({x}) - self.{v}.weight * torch.relu(-{x})",
                x = x(0)
            )
        }
        Op::Softmax => format!("torch.softmax({}, dim=-1)", x(0)),
        Op::MSE | Op::L1 | Op::BCE => {
            let f = match node.op {
                Op::MSE => "mse",
                Op::L1 => "l1",
                _ => "bce",
            };
            c.helpers.push(f);
            format!("{f}({}, {})", x(0), x(1))
        }
        Op::CrossEntropy => {
            let classes = ctx.shape(ins[0]).first().copied().unwrap_or(1);
            let t = ctx.shape(ins[1]);
            let f = if t.len() == 1 && classes > 1 && t[0] == classes {
                "cross_entropy_onehot"
            } else {
                "cross_entropy_index"
            };
            c.helpers.push(f);
            format!("{f}({}, {})", x(0), x(1))
        }
        #[cfg(feature = "test-ops")]
        Op::TestBrokenSquare => {
            return Err(refuse(
                node,
                "it is a test-only op with a deliberately wrong derivative",
            ));
        }
    };
    c.forward = Some(format!("{v} = {expr}"));
    Ok(c)
}

fn c_helper_per_sample(x: &str, r: usize) -> String {
    format!("per_sample({x}, {r})")
}

/// The `.safetensors` bytes of `weights` (f64, PyTorch's layout, `state_dict` keys).
fn safetensors_bytes(weights: &[Weight]) -> Result<Vec<u8>, ExportError> {
    let bytes: Vec<(String, Shape, Vec<u8>)> = weights
        .iter()
        .map(|w| {
            let b: Vec<u8> = w.data.iter().flat_map(|v| v.to_le_bytes()).collect();
            (w.key.clone(), w.shape.clone(), b)
        })
        .collect();
    let views = bytes
        .iter()
        .map(|(k, s, b)| {
            safetensors::tensor::TensorView::new(safetensors::Dtype::F64, s.clone(), b)
                .map(|v| (k.clone(), v))
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ExportError::Refused(format!("the weights could not be encoded: {e}")))?;
    safetensors::tensor::serialize(views, None)
        .map_err(|e| ExportError::Refused(format!("the weights could not be encoded: {e}")))
}

/// The dataset as training sees it (split, standardized when asked), one row per sample:
/// `split` (train/val), the features `f0..`, the `target`.
fn dataset_csv(config: &TrainingConfig, base: Option<&Path>) -> Result<Vec<u8>, ExportError> {
    let prepared = crate::train::Prepared::new(config, base).map_err(|e| {
        ExportError::Refused(format!("the training dataset could not be loaded: {e}"))
    })?;
    let data = &prepared.data;
    let d = data.feature_len();
    let mut w = csv::Writer::from_writer(Vec::new());
    let mut header = vec!["split".to_string()];
    header.extend((0..d).map(|i| format!("f{i}")));
    header.push("target".into());
    let csv_err = |e: csv::Error| ExportError::Refused(format!("the dataset CSV: {e}"));
    w.write_record(&header).map_err(csv_err)?;
    let mut rows: Vec<(usize, &str)> = prepared
        .split
        .train
        .iter()
        .map(|&i| (i, "train"))
        .chain(prepared.split.val.iter().map(|&i| (i, "val")))
        .collect();
    rows.sort_unstable();
    for (i, split) in rows {
        let mut rec = vec![split.to_string()];
        rec.extend(data.sample(i).iter().map(|v| format!("{v:?}")));
        rec.push(format!("{:?}", data.targets[i]));
        w.write_record(&rec).map_err(csv_err)?;
    }
    w.into_inner()
        .map_err(|e| ExportError::Refused(format!("the dataset CSV: {e}")))
}

/// The generated files' contents, before anything is written.
pub struct Generated {
    pub py: String,
    pub safetensors: Option<Vec<u8>>,
    pub csv: Option<Vec<u8>>,
}

/// Generates the files for `project` exported as `py_path` (side files are named after its
/// stem). `base` resolves the dataset's relative paths (the project file's folder).
pub fn generate(
    project: &Project,
    base: Option<&Path>,
    py_path: &Path,
) -> Result<Generated, ExportError> {
    let graph = &project.graph;
    let analysis = analyze_for_export(graph)?;
    let order = analysis.order.clone();
    let names = python_names(graph, &order);
    let ctx = Ctx {
        graph,
        analysis: &analysis,
        names,
    };
    let mut codes: Vec<(&Node, NodeCode)> = Vec::new();
    for &id in &order {
        let Some(node) = graph.node(id) else { continue };
        codes.push((node, node_code(&ctx, node)?));
    }
    let weights: Vec<&Weight> = codes.iter().flat_map(|(_, c)| c.weights.iter()).collect();
    let total: usize = weights.iter().map(|w| w.data.len()).sum();
    let stem = py_path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "model".into());
    let st_name = format!("{stem}.safetensors");
    let csv_name = format!("{stem}.csv");
    let safetensors = if total > INLINE_LIMIT {
        let owned: Vec<Weight> = weights
            .iter()
            .map(|w| Weight {
                key: w.key.clone(),
                shape: w.shape.clone(),
                data: w.data.clone(),
            })
            .collect();
        Some(safetensors_bytes(&owned)?)
    } else {
        None
    };
    let csv = match &project.training {
        Some(config) => Some(dataset_csv(config, base)?),
        None => None,
    };

    let inputs: Vec<&Node> = codes
        .iter()
        .filter(|(n, _)| matches!(n.op, Op::Input))
        .map(|(n, _)| *n)
        .collect();
    let var = |id: NodeId| ctx.var(id).to_string();
    let mut py = String::new();
    let title = if project.title.is_empty() {
        "nodegrad graph".to_string()
    } else {
        project.title.clone()
    };
    // Header: what the file is and how to run it.
    let _ = writeln!(
        py,
        "\"\"\"{} -- exported from nodegrad.",
        title.replace('"', "'")
    );
    let _ = writeln!(py);
    let _ = writeln!(
        py,
        "`Model.forward` computes the graph one node per line, in nodegrad's order, named like the"
    );
    let _ = writeln!(
        py,
        "nodes. Shapes in comments are per sample; every value has a leading batch axis."
    );
    match &safetensors {
        Some(_) => {
            let _ = writeln!(
                py,
                "Weights: {st_name} beside this file ({total} values, float64)."
            );
        }
        None => {
            let _ = writeln!(py, "Weights: inline below ({total} values).");
        }
    }
    if csv.is_some() {
        let _ = writeln!(
            py,
            "Dataset: {csv_name} beside this file (split, features f0.., target), read by train()."
        );
    }
    let _ = writeln!(py);
    let _ = writeln!(
        py,
        "    python {stem}.py          # every node's value and gradient as JSON, like `nodegrad eval --json`"
    );
    if csv.is_some() {
        let _ = writeln!(
            py,
            "    python {stem}.py train    # train as nodegrad does (same optimizer, lr, batch, epochs, loss)"
        );
    }
    let _ = writeln!(py, "\"\"\"");
    let _ = writeln!(py);
    let _ = writeln!(py, "import json\nimport os\nimport struct\nimport sys\n");
    let _ = writeln!(
        py,
        "import torch\nfrom torch import nn\nimport torch.nn.functional as F\n"
    );
    let _ = writeln!(py, "HERE = os.path.dirname(os.path.abspath(__file__))");
    if safetensors.is_some() {
        let _ = writeln!(
            py,
            "WEIGHTS_FILE = os.path.join(HERE, {})",
            py_str(&st_name)
        );
    }
    if csv.is_some() {
        let _ = writeln!(py, "DATASET = os.path.join(HERE, {})", py_str(&csv_name));
    }
    let _ = writeln!(py);
    let used: BTreeSet<&str> = codes
        .iter()
        .flat_map(|(_, c)| c.helpers.iter().copied())
        .collect();
    for (name, code) in HELPERS {
        if used.contains(name) {
            let _ = writeln!(py, "\n{code}");
        }
    }

    // The module.
    let _ = writeln!(py, "\nclass Model(nn.Module):");
    let _ = writeln!(py, "    def __init__(self):");
    let _ = writeln!(py, "        super().__init__()");
    for (_, c) in &codes {
        for l in &c.init {
            let _ = writeln!(py, "        {l}");
        }
    }
    let args: Vec<String> = inputs.iter().map(|n| var(n.id)).collect();
    let _ = writeln!(py, "\n    def forward(self, {}):", args.join(", "));
    let _ = writeln!(
        py,
        "        \"\"\"Inputs: {}. Returns `{}`; every node's value is kept in `self.values`.\"\"\"",
        inputs
            .iter()
            .map(|n| format!("{} {}", var(n.id), fmt_shape(ctx.shape(n.id))))
            .collect::<Vec<_>>()
            .join(", "),
        analysis.output.map(var).unwrap_or_else(|| "None".into())
    );
    for (node, c) in &codes {
        if let Some(line) = &c.forward {
            let _ = writeln!(
                py,
                "        {line}  # {} {}",
                node.op.name(),
                fmt_shape(ctx.shape(node.id))
            );
        }
    }
    let all: Vec<String> = codes
        .iter()
        .map(|(n, _)| format!("{}: {}", py_str(&n.name), var(n.id)))
        .collect();
    let _ = writeln!(py, "        self.values = {{");
    for item in &all {
        let _ = writeln!(py, "            {item},");
    }
    let _ = writeln!(py, "        }}");
    let _ = writeln!(
        py,
        "        return {}",
        analysis.output.map(var).unwrap_or_else(|| "None".into())
    );

    // Weights.
    let _ = writeln!(py, "\n");
    match &safetensors {
        Some(_) => {
            let _ = writeln!(
                py,
                "def load_weights(model):
    \"\"\"Reads {st_name} (the safetensors format: an 8-byte header length, a JSON header,
    then the raw little-endian tensors) into the model.\"\"\"
    with open(WEIGHTS_FILE, \"rb\") as f:
        raw = f.read()
    (n,) = struct.unpack(\"<Q\", raw[:8])
    header = json.loads(raw[8:8 + n])
    state = {{}}
    for key, info in header.items():
        if key == \"__metadata__\":
            continue
        begin, end = info[\"data_offsets\"]
        data = bytearray(raw[8 + n + begin:8 + n + end])
        state[key] = torch.frombuffer(data, dtype=torch.float64).reshape(info[\"shape\"])
    model.load_state_dict(state)
    return model"
            );
        }
        None => {
            let _ = writeln!(
                py,
                "# The trained weights in PyTorch's layout, by state_dict key: (shape, values)."
            );
            let _ = writeln!(py, "WEIGHTS = {{");
            for w in &weights {
                let _ = writeln!(
                    py,
                    "    {}: ({}, {}),",
                    py_str(&w.key),
                    py_ints(&w.shape),
                    py_floats(&w.data, "    ")
                );
            }
            let _ = writeln!(py, "}}");
            let _ = writeln!(
                py,
                "

def load_weights(model):
    state = {{k: torch.tensor(v, dtype=torch.float64).reshape(s) for k, (s, v) in WEIGHTS.items()}}
    model.load_state_dict(state)
    return model"
            );
        }
    }

    // The project's own input values.
    let _ = writeln!(py, "\n\n# The project's own input values: (shape, values).");
    let _ = writeln!(py, "INPUTS = {{");
    for n in &inputs {
        let value = n.value().map(|a| a.data().to_vec()).unwrap_or_default();
        let _ = writeln!(
            py,
            "    {}: ({}, {}),",
            py_str(&var(n.id)),
            py_ints(ctx.shape(n.id)),
            py_floats(&value, "    ")
        );
    }
    let _ = writeln!(py, "}}");

    // nodegrad's view of every weight, for the JSON.
    let _ = writeln!(
        py,
        "

def param_views(m):
    \"\"\"Each node's tensors in nodegrad's layout: node -> key -> (value, gradient).\"\"\"
    transposed = lambda g: None if g is None else g.t()
    as_scalar = lambda g: None if g is None else g.reshape(())
    return {{"
    );
    for (node, c) in &codes {
        let mut params: Vec<&(String, String, String)> =
            c.params.iter().filter(|(k, _, _)| k != "value").collect();
        params.sort();
        if params.is_empty() {
            continue;
        }
        let items: Vec<String> = params
            .iter()
            .map(|(k, val, grad)| format!("            {}: ({val}, {grad}),", py_str(k)))
            .collect();
        let _ = writeln!(
            py,
            "        {}: {{\n{}\n        }},",
            py_str(&node.name),
            items.join("\n")
        );
    }
    let _ = writeln!(py, "    }}");

    // __main__'s evaluation.
    let constants: Vec<String> = codes
        .iter()
        .filter(|(n, _)| matches!(n.op, Op::Constant))
        .map(|(n, _)| py_str(&var(n.id)))
        .collect();
    let ops: Vec<String> = codes
        .iter()
        .map(|(n, _)| format!("    {}: {},", py_str(&n.name), py_str(n.op.name())))
        .collect();
    let constants_grad = if constants.is_empty() {
        String::new()
    } else {
        format!(
            "\n    for name in [{}]:\n        getattr(model, name).requires_grad_(True)  # nodegrad gives constants a gradient too",
            constants.join(", ")
        )
    };
    let output_name = analysis
        .output
        .and_then(|id| graph.node(id))
        .map(|n| py_str(&n.name))
        .unwrap_or_else(|| "None".into());
    let _ = writeln!(
        py,
        "

# Each node's op, for the JSON.
OPS = {{
{ops}
}}


def evaluate_json():
    \"\"\"Evaluates the project's own inputs in float64 (one sample), runs backward from the
    sum of the output's values, and returns every node's value and gradient in the layout
    of `nodegrad eval --json` (nodes, their shapes and parameters; no edges).\"\"\"
    model = load_weights(Model().double())
    model.eval(){constants_grad}
    inputs = {{k: torch.tensor(v, dtype=torch.float64).reshape([1] + s).requires_grad_(True)
              for k, (s, v) in INPUTS.items()}}
    out = model(**inputs)
    for v in model.values.values():
        if v.requires_grad and v.grad_fn is not None:
            v.retain_grad()
    output = {output_name}
    if out is not None:
        out.sum().backward()
    views = param_views(model)
    flat = lambda t: [float(x) for x in t.detach().reshape(-1)]
    nodes = []
    for name, v in model.values.items():
        grad = None
        if out is not None:
            grad = flat(v.grad) if v.grad is not None else [0.0] * v[0].numel()
        node = {{\"name\": name, \"op\": OPS[name], \"shape\": list(v.shape[1:]),
                \"value\": flat(v[0]), \"grad\": grad}}
        if name in views:
            node[\"params\"] = {{k: {{\"shape\": list(t.shape), \"value\": flat(t),
                                   \"grad\": flat(g) if g is not None else None}}
                               for k, (t, g) in views[name].items()}}
        nodes.append(node)
    parameters = {params}
    return {{\"output\": output, \"device\": \"PyTorch \" + torch.__version__ + \" (CPU, float64)\",
            \"parameters\": parameters, \"nodes\": nodes}}",
        ops = ops.join("\n"),
        params = analysis.total_params,
    );

    if let Some(config) = &project.training {
        write_train(&mut py, &ctx, config, &inputs)?;
    }

    let _ = writeln!(py, "\n\nif __name__ == \"__main__\":");
    if project.training.is_some() {
        let _ = writeln!(
            py,
            "    if sys.argv[1:2] == [\"train\"]:\n        train()\n    else:"
        );
        let _ = writeln!(py, "        print(json.dumps(evaluate_json(), indent=2))");
    } else {
        let _ = writeln!(py, "    print(json.dumps(evaluate_json(), indent=2))");
    }
    Ok(Generated {
        py,
        safetensors,
        csv,
    })
}

/// `train()`: nodegrad's training loop in PyTorch (float32, as nodegrad trains).
fn write_train(
    py: &mut String,
    ctx: &Ctx,
    config: &TrainingConfig,
    inputs: &[&Node],
) -> Result<(), ExportError> {
    let graph = ctx.graph;
    let find = |name: &str, role: &str| {
        graph
            .find(name)
            .filter(|n| matches!(n.op, Op::Input))
            .ok_or_else(|| {
                ExportError::Refused(format!(
                    "training: the {role} input `{name}` is not an Input node of the graph"
                ))
            })
    };
    let features = find(&config.features, "features")?;
    let target = find(&config.target, "target")?;
    let output = ctx
        .analysis
        .output
        .and_then(|id| graph.node(id))
        .ok_or_else(|| {
            ExportError::Refused("training: the graph has no output to minimise".into())
        })?;
    let pred = if output.op.is_loss() {
        graph
            .input(output.id, 0)
            .and_then(|id| graph.node(id))
            .map(|n| n.name.clone())
    } else {
        None
    };
    let (opt, note) = match config.optimizer {
        OptimizerKind::Sgd => ("torch.optim.SGD(params, lr=lr, weight_decay=WEIGHT_DECAY)".to_string(), "SGD"),
        OptimizerKind::Momentum { momentum } => (
            format!(
                "torch.optim.SGD(params, lr=lr, momentum={}, dampening=0, weight_decay=WEIGHT_DECAY)",
                py_float(momentum)
            ),
            "SGD with momentum (v <- m v + g)",
        ),
        OptimizerKind::RmsProp => (
            "torch.optim.RMSprop(params, lr=lr, alpha=0.99, eps=1e-8, momentum=0, weight_decay=WEIGHT_DECAY)".to_string(),
            "RMSProp",
        ),
        OptimizerKind::Adam => (
            "torch.optim.Adam(params, lr=lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=WEIGHT_DECAY)".to_string(),
            "Adam",
        ),
    };
    let decay = match config.decay {
        Decay::None => "return LEARNING_RATE".to_string(),
        Decay::Step { every, factor } => format!(
            "return LEARNING_RATE * {} ** (epoch // {})",
            py_float(factor),
            every.max(1)
        ),
        Decay::Exponential { gamma } => {
            format!("return LEARNING_RATE * {} ** epoch", py_float(gamma))
        }
    };
    let fshape = ctx.shape(features.id).to_vec();
    let tshape = ctx.shape(target.id).to_vec();
    let fixed: Vec<String> = inputs
        .iter()
        .filter(|n| n.id != features.id && n.id != target.id)
        .map(|n| {
            let v = ctx.var(n.id);
            format!(
                "{}: torch.tensor(INPUTS[{}][1]).reshape([1] + INPUTS[{}][0])",
                py_str(v),
                py_str(v),
                py_str(v)
            )
        })
        .collect();
    let classes = numel(&tshape);
    let target_expr = if classes > 1 {
        format!(
            "F.one_hot(t.long(), {classes}).to(torch.float32)  # one-hot over {classes} classes"
        )
    } else {
        format!("t.reshape([-1] + {})", py_ints(&tshape))
    };
    let accuracy = match &pred {
        Some(p) => format!("model.values[{}]", py_str(p)),
        None => "None".into(),
    };
    // Whether the dataset's targets are classes (accuracy is reported for those).
    let classification = match &config.dataset {
        DatasetSpec::Sine { .. } => false,
        DatasetSpec::Csv { classification, .. } => *classification,
        _ => true,
    } && pred.is_some();
    let _ = writeln!(
        py,
        "

# Training settings from the project ({note}).
LEARNING_RATE = {lr}
WEIGHT_DECAY = {wd}
BATCH_SIZE = {bs}
EPOCHS = {epochs}
PATIENCE = {patience}  # 0: no early stopping
SEED = {seed}
CLASSIFICATION = {classification}


def lr_at(epoch):
    {decay}


def read_dataset(path=None):
    \"\"\"The CSV nodegrad wrote: split (train/val), features f0.., target.\"\"\"
    import csv
    rows = list(csv.DictReader(open(path or DATASET, newline=\"\")))
    d = sum(1 for k in rows[0] if k.startswith(\"f\"))
    def part(split):
        r = [row for row in rows if row[\"split\"] == split]
        x = torch.tensor([[float(row[f\"f{{i}}\"]) for i in range(d)] for row in r], dtype=torch.float32)
        t = torch.tensor([float(row[\"target\"]) for row in r], dtype=torch.float32)
        return x.reshape([-1] + {fshape}), t
    return part(\"train\"), part(\"val\")


def predicted_class(p):
    \"\"\"nodegrad's rule: one probability -> p > 0.5; scores -> the largest.\"\"\"
    p = p.reshape(p.shape[0], -1)
    return (p[:, 0] > 0.5).long() if p.shape[1] == 1 else p.argmax(dim=1)


def train(path=None, epochs=EPOCHS):
    \"\"\"Trains from the exported weights with the project's optimizer, learning rate (and
    decay), batch size, epochs and loss (the mean over a batch of `{loss}`), early stopping
    on the validation loss after PATIENCE epochs without improvement (then the best weights
    are put back). Prints one line per epoch and returns the model.\"\"\"
    torch.manual_seed(SEED)
    (x_train, t_train), (x_val, t_val) = read_dataset(path)
    model = load_weights(Model()).float()
    fixed = {{{fixed}}}

    def run(x, t):
        return model(**fixed, **{{{fname}: x, {tname}: target_of(t)}})

    def target_of(t):
        return {target_expr}

    def score(x, t):
        model.eval()
        with torch.no_grad():
            per_sample = run(x, t).reshape(len(x), -1).sum(dim=1)
            loss = float(per_sample.mean())
            pred = {accuracy}
            acc = float((predicted_class(pred) == t.long()).float().mean()) if CLASSIFICATION and pred is not None else None
        return loss, acc

    params = [p for p in model.parameters() if p.requires_grad]
    lr = lr_at(0)
    optimizer = {opt}
    best = (float(\"inf\"), 0, None)
    for epoch in range(epochs):
        for group in optimizer.param_groups:
            group[\"lr\"] = lr_at(epoch)
        model.train()
        order = torch.randperm(len(x_train))
        for start in range(0, len(order), BATCH_SIZE):
            rows = order[start:start + BATCH_SIZE]
            loss = run(x_train[rows], t_train[rows]).sum() / len(rows)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        loss, acc = score(x_train, t_train)
        line = f\"epoch {{epoch + 1}}: loss={{loss:.4f}}\"
        if acc is not None:
            line += f\" accuracy={{acc:.4f}}\"
        if len(x_val):
            val_loss, val_acc = score(x_val, t_val)
            line += f\" val_loss={{val_loss:.4f}}\"
            if val_acc is not None:
                line += f\" val_accuracy={{val_acc:.4f}}\"
            if val_loss < best[0]:
                best = (val_loss, epoch + 1, {{k: v.clone() for k, v in model.state_dict().items()}})
            elif PATIENCE and epoch + 1 - best[1] >= PATIENCE:
                print(line)
                print(f\"early stop: best validation loss at epoch {{best[1]}}\")
                model.load_state_dict(best[2])
                break
        print(line)
    return model",
        lr = py_float(config.learning_rate),
        wd = py_float(config.weight_decay),
        bs = config.batch_size.max(1),
        epochs = config.epochs,
        patience = config.patience,
        seed = config.seed,
        classification = if classification { "True" } else { "False" },
        fshape = py_ints(&fshape),
        loss = output.name,
        fixed = fixed.join(", "),
        fname = py_str(ctx.var(features.id)),
        tname = py_str(ctx.var(target.id)),
    );
    Ok(())
}

/// Generates and writes the files: the dataset CSV and the weights first, the `.py` last,
/// each through a temp file and a rename.
pub fn write(
    project: &Project,
    base: Option<&Path>,
    py_path: &Path,
) -> Result<PytorchExport, ExportError> {
    let g = generate(project, base, py_path)?;
    let beside = |ext: &str| py_path.with_extension(ext);
    let mut out = PytorchExport {
        py: py_path.to_path_buf(),
        safetensors: None,
        csv: None,
    };
    if let Some(bytes) = &g.csv {
        let p = beside("csv");
        crate::project::write_atomic(&p, bytes).map_err(|e| ExportError::io(&p, e))?;
        out.csv = Some(p);
    }
    if let Some(bytes) = &g.safetensors {
        let p = beside("safetensors");
        crate::project::write_atomic(&p, bytes).map_err(|e| ExportError::io(&p, e))?;
        out.safetensors = Some(p);
    }
    crate::project::write_atomic(py_path, g.py.as_bytes())
        .map_err(|e| ExportError::io(py_path, e))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::{Array, Init};

    #[test]
    fn names_become_valid_distinct_python_identifiers() {
        let mut g = Graph::new();
        let mut ids = Vec::new();
        for name in ["x'", "x_p", "lambda", "torch", "training", "größe", "h1"] {
            let id = g.add(Op::Input, [0.0, 0.0]);
            g.rename(id, name).unwrap();
            ids.push(id);
        }
        let names = python_names(&g, &ids);
        let got: Vec<&str> = ids.iter().map(|id| names[id].as_str()).collect();
        assert_eq!(
            got,
            [
                "x_p",
                "x_p_2",
                "lambda_",
                "torch_",
                "training_",
                "gr__e",
                "h1"
            ]
        );
    }

    #[test]
    fn dense_weights_are_transposed_and_floats_read_back_exactly() {
        // nodegrad [n=2, units=3] row-major -> PyTorch [3, 2].
        assert_eq!(
            transpose(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], 2, 3),
            [1.0, 4.0, 2.0, 5.0, 3.0, 6.0]
        );
        assert_eq!(py_float(0.1), "0.1");
        assert_eq!(py_float(-2.5e-300), "-2.5e-300");
        assert_eq!(py_float(f64::NAN), "float('nan')");
        let mut g = Graph::new();
        let x = g.add(Op::Input, [0.0, 0.0]);
        g.set_tensor(x, "value", Array::vector(vec![1.0, 2.0]))
            .unwrap();
        let d = g.add(
            Op::Dense {
                units: 3,
                init: Init::Zeros,
            },
            [0.0, 0.0],
        );
        g.connect(x, d, 0).unwrap();
        let w = Array::new(vec![2, 3], vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]).unwrap();
        g.set_tensor(d, "weight", w).unwrap();
        let project = Project::from_graph(g);
        let out = generate(&project, None, Path::new("m.py")).unwrap();
        assert!(out.safetensors.is_none() && out.csv.is_none());
        assert!(
            out.py.contains("self.dense1 = nn.Linear(2, 3)"),
            "{}",
            out.py
        );
        assert!(
            out.py
                .contains("\"dense1.weight\": ([3, 2], [\n        1.0, 4.0, 2.0, 5.0,\n        3.0, 6.0,\n    ]),"),
            "{}",
            out.py
        );
        assert!(
            out.py
                .contains("        dense1 = self.dense1(x1)  # Dense [3]"),
            "{}",
            out.py
        );
        assert!(out.py.contains("\"x1\": ([2], [1.0, 2.0]),"));
    }

    #[test]
    fn broken_graphs_are_refused_before_anything_is_written() {
        let mut g = Graph::new();
        let x = g.add(Op::Input, [0.0, 0.0]);
        let a = g.add(Op::Add, [0.0, 0.0]);
        g.connect(x, a, 0).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let py = dir.path().join("m.py");
        let err = write(&Project::from_graph(g), None, &py)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("fix them first") && err.contains("add1"),
            "{err}"
        );
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
