//! ONNX ops onto nodegrad ops: which attributes nodegrad can represent (checked for every
//! node before anything is built) and the mapping itself, with axes shifted past the batch.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use onnx_ir::{AttributeProto, GraphProto, NodeProto, ValueInfoProto};

use crate::graph::ops::Padding;
use crate::graph::{Array, Init, NodeId, Op, Shape, fmt_shape};

use super::limits::MAX_RANK;
use super::tensors::{self, Tensor};
use super::{Builder, ConstKind};

fn attr<'a>(n: &'a NodeProto, name: &str) -> Option<&'a AttributeProto> {
    n.attribute.iter().find(|a| a.name == name)
}

fn int(n: &NodeProto, name: &str, default: i64) -> i64 {
    attr(n, name).map_or(default, |a| a.i)
}

fn float(n: &NodeProto, name: &str, default: f64) -> f64 {
    attr(n, name).map_or(default, |a| a.f as f64)
}

fn ints(n: &NodeProto, name: &str) -> Option<Vec<i64>> {
    attr(n, name).map(|a| a.ints.clone())
}

fn string(n: &NodeProto, name: &str) -> Option<String> {
    attr(n, name).map(|a| String::from_utf8_lossy(&a.s).into_owned())
}

/// Everything about a supported node's attributes (and extra outputs) that nodegrad cannot
/// represent, each naming the node and the attribute.
pub fn attribute_problems(n: &NodeProto, opset: i64, consumed: &BTreeSet<&str>) -> Vec<String> {
    let name = super::node_label(n);
    let op = n.op_type.as_str();
    let mut out = Vec::new();
    let mut bad = |attribute: &str, why: String| {
        out.push(format!(
            "node '{name}' ({op}): attribute {attribute}: {why}"
        ));
    };
    if n.output.iter().all(|o| o.is_empty()) && op != "Constant" {
        bad("output", "the node has no output".into());
    }
    for (k, o) in n.output.iter().enumerate().skip(1) {
        if !o.is_empty() && consumed.contains(o.as_str()) {
            bad(
                "output",
                format!("output {k} ('{o}') is used, but nodegrad's op has one output"),
            );
        }
    }
    let square = |bad: &mut dyn FnMut(&str, String), what: &str| {
        if let Some(v) = ints(n, what) {
            if v.len() != 2 {
                bad(what, format!("{v:?}: nodegrad has 2-D kernels only"));
            } else if v[0] != v[1] {
                bad(
                    what,
                    format!("{v:?} is not square: nodegrad's kernels and strides are K x K"),
                );
            }
        }
    };
    let spatial = |bad: &mut dyn FnMut(&str, String), zero_pads: bool| {
        square(bad, "kernel_shape");
        square(bad, "strides");
        if let Some(d) = ints(n, "dilations")
            && d.iter().any(|&x| x != 1)
        {
            bad(
                "dilations",
                format!("{d:?}: nodegrad has no dilation (all 1)"),
            );
        }
        if let Some(p) = ints(n, "pads") {
            if zero_pads && p.iter().any(|&x| x != 0) {
                bad("pads", format!("{p:?}: nodegrad's pools have no padding"));
            } else if p.len() != 4 || p.iter().any(|&x| x != p[0]) {
                bad(
                    "pads",
                    format!("{p:?} are asymmetric: nodegrad pads every side equally"),
                );
            }
        }
        match string(n, "auto_pad").as_deref() {
            None | Some("") | Some("NOTSET") | Some("VALID") => {}
            Some(s @ ("SAME_UPPER" | "SAME_LOWER")) if !zero_pads => {
                if ints(n, "strides").is_some_and(|v| v.iter().any(|&x| x != 1)) {
                    bad(
                        "auto_pad",
                        format!("{s} with a stride above 1: write explicit pads"),
                    );
                }
            }
            Some(s) => bad("auto_pad", format!("{s}: write explicit pads")),
        }
    };
    match op {
        "Conv" => {
            let g = int(n, "group", 1);
            if g != 1 {
                bad("group", format!("{g}: nodegrad's Conv2d has no groups (1)"));
            }
            spatial(&mut bad, false);
        }
        "MaxPool" | "AveragePool" => {
            spatial(&mut bad, true);
            let c = int(n, "ceil_mode", 0);
            if c != 0 {
                bad("ceil_mode", format!("{c}: nodegrad rounds down (0)"));
            }
            let s = int(n, "storage_order", 0);
            if s != 0 {
                bad("storage_order", format!("{s}: only 0 (row major)"));
            }
        }
        "Gemm" => {
            let t = int(n, "transA", 0);
            if t != 0 {
                bad(
                    "transA",
                    format!("{t}: the batch must be the rows of A (0)"),
                );
            }
        }
        "BatchNormalization" => {
            let t = int(n, "training_mode", 0);
            if t != 0 {
                bad(
                    "training_mode",
                    format!("{t}: import the inference graph (0)"),
                );
            }
            let eps = float(n, "epsilon", 1e-5);
            if ((eps - 1e-5) / 1e-5).abs() > 1e-3 {
                bad(
                    "epsilon",
                    format!("{eps:e}: nodegrad's BatchNorm uses 1e-5"),
                );
            }
            let m = float(n, "momentum", 0.9);
            if !(0.0..=1.0).contains(&m) {
                bad("momentum", format!("{m}: use a number from 0 to 1"));
            }
        }
        "Flatten" => {
            let a = int(n, "axis", 1);
            if a != 1 {
                bad(
                    "axis",
                    format!("{a}: nodegrad flattens everything after the batch axis (1)"),
                );
            }
        }
        "Reshape" => {
            let a = int(n, "allowzero", 0);
            if a != 0 {
                bad("allowzero", format!("{a}: only 0"));
            }
        }
        "ReduceSum" | "ReduceMean" => {
            let e = int(n, "noop_with_empty_axes", 0);
            if e != 0 {
                bad("noop_with_empty_axes", format!("{e}: only 0"));
            }
        }
        "Dropout" if opset < 12 => {
            let r = float(n, "ratio", 0.5);
            if !(0.0..1.0).contains(&r) {
                bad("ratio", format!("{r}: use a probability from 0 up to 1"));
            }
        }
        "Constant" => {
            let known = [
                "value",
                "value_float",
                "value_floats",
                "value_int",
                "value_ints",
            ];
            if !n.attribute.iter().any(|a| known.contains(&a.name.as_str())) {
                let names: Vec<&str> = n.attribute.iter().map(|a| a.name.as_str()).collect();
                bad(
                    &names.join(", "),
                    "nodegrad reads numeric constants (value, value_float(s), value_int(s))".into(),
                );
            }
        }
        _ => {}
    }
    out
}

/// What the whole graph says that single nodes need: who reads which value.
pub struct Plan<'a> {
    readers: HashMap<&'a str, Vec<&'a NodeProto>>,
    outputs: BTreeSet<&'a str>,
}

impl<'a> Plan<'a> {
    pub fn new(g: &'a GraphProto, _consumed: &BTreeSet<&str>) -> Self {
        let mut readers: HashMap<&str, Vec<&NodeProto>> = HashMap::new();
        for n in &g.node {
            for i in n.input.iter().filter(|s| !s.is_empty()) {
                readers.entry(i.as_str()).or_default().push(n);
            }
        }
        Self {
            readers,
            outputs: g.output.iter().map(|o| o.name.as_str()).collect(),
        }
    }

    /// The Add that alone reads `value` (and `value` is no graph output): MatMul + Add
    /// import as one Dense.
    fn only_add(&self, value: &str) -> Option<&'a NodeProto> {
        match self.readers.get(value).map(Vec::as_slice) {
            Some([add]) if add.op_type == "Add" && !self.outputs.contains(value) => Some(add),
            _ => None,
        }
    }
}

/// An input's per-sample shape: its ONNX shape without the leading batch axis (dynamic or
/// 1); every other axis must be a fixed size.
pub fn input_shape(v: &ValueInfoProto) -> Result<Shape, String> {
    let name = &v.name;
    let Some(t) = v.type_.as_ref().filter(|t| t.has_tensor_type()) else {
        return Err(format!("graph input '{name}' is not a tensor"));
    };
    let tt = t.tensor_type();
    if tt.elem_type != 1 && tt.elem_type != 11 {
        return Err(format!(
            "graph input '{name}' has element type {}: nodegrad's inputs are FLOAT numbers",
            tensors::elem_type_name(tt.elem_type)
        ));
    }
    let Some(shape) = tt.shape.as_ref() else {
        return Err(format!(
            "graph input '{name}' has no shape: export the model with its input shape"
        ));
    };
    let dims = &shape.dim;
    if dims.is_empty() {
        return Err(format!(
            "graph input '{name}' is a scalar without a batch axis: nodegrad expects [N, ...]"
        ));
    }
    if dims.len() > MAX_RANK + 1 {
        return Err(format!(
            "graph input '{name}' has {} dimensions; the limit is {}",
            dims.len(),
            MAX_RANK
        ));
    }
    let first = &dims[0];
    if first.has_dim_value() && first.dim_value() != 1 {
        return Err(format!(
            "graph input '{name}' has a fixed batch of {}: nodegrad computes one sample, so \
             export with a dynamic batch or a batch of 1",
            first.dim_value()
        ));
    }
    let mut raw = Vec::new();
    for (k, d) in dims.iter().enumerate().skip(1) {
        if d.has_dim_value() {
            raw.push(d.dim_value());
        } else {
            let p = if d.has_dim_param() {
                d.dim_param()
            } else {
                "?"
            };
            return Err(format!(
                "dimension {k} of graph input '{name}' is dynamic ('{p}'): nodegrad needs \
                 fixed sizes after the batch axis"
            ));
        }
    }
    let (dims, _) = tensors::checked_dims(&raw, &format!("graph input '{name}'"))?;
    if dims.contains(&0) {
        return Err(format!(
            "graph input '{name}' has an empty dimension {}",
            fmt_shape(&dims)
        ));
    }
    Ok(dims)
}

fn input(n: &NodeProto, i: usize) -> Option<&str> {
    n.input.get(i).map(String::as_str).filter(|s| !s.is_empty())
}

fn array(dims: Vec<usize>, data: Vec<f64>) -> Result<Array, String> {
    Array::new(dims, data)
}

/// The node computing `name`, or a node for the constant `name` with its ONNX dims.
fn operand(b: &mut Builder, name: &str) -> Result<(NodeId, Shape), String> {
    if let Some(v) = b.runtime(name) {
        return Ok(v);
    }
    let dims = b
        .constant(name)
        .map(|t| t.dims.clone())
        .ok_or_else(|| format!("'{name}' is not computed"))?;
    let id = b.const_node(name, dims.clone())?;
    Ok((id, dims))
}

/// A value as an operand: its node, its shape without the batch axis, and whether it has
/// one (values that depend on a graph input do; constants and what is computed from
/// constants alone do not).
struct Val {
    id: NodeId,
    shape: Shape,
    batched: bool,
}

impl Val {
    /// Axes before the per-sample ones: 1 with a batch axis.
    fn off(&self) -> usize {
        usize::from(self.batched)
    }

    /// The ONNX rank.
    fn full(&self) -> usize {
        self.shape.len() + self.off()
    }
}

/// Input `i` as an operand (a constant becomes a node with its ONNX dims).
fn value_input(b: &mut Builder, n: &NodeProto, i: usize) -> Result<Val, String> {
    let name = input(n, i).ok_or_else(|| format!("input {i} is missing"))?;
    let (id, shape) = operand(b, name)?;
    Ok(Val {
        id,
        shape,
        batched: b.batched.contains(&id),
    })
}

/// Input `i`, which must depend on a graph input (images, Gemm's rows).
fn runtime_input(b: &mut Builder, n: &NodeProto, i: usize) -> Result<(NodeId, Shape), String> {
    let v = value_input(b, n, i)?;
    if !v.batched {
        return Err(format!(
            "input {i} ('{}') does not depend on a graph input: nodegrad runs this op on the \
             model's inputs only",
            input(n, i).unwrap_or_default()
        ));
    }
    Ok((v.id, v.shape))
}

/// A constant input (weights, shapes, axes).
fn const_input(b: &Builder, n: &NodeProto, i: usize, what: &str) -> Result<Tensor, String> {
    let name = input(n, i).ok_or_else(|| format!("its {what} (input {i}) is missing"))?;
    b.constant(name).cloned().ok_or_else(|| {
        format!(
            "its {what} ('{name}') is computed at run time: nodegrad needs it as an \
             initializer or Constant"
        )
    })
}

fn optional_const(
    b: &Builder,
    n: &NodeProto,
    i: usize,
    what: &str,
) -> Result<Option<Tensor>, String> {
    match input(n, i) {
        None => Ok(None),
        Some(_) => const_input(b, n, i, what).map(Some),
    }
}

/// A constant operand beside a runtime value of per-sample rank `rank`: its per-sample dims
/// (a leading 1 that lines up with the batch axis is dropped).
fn beside_batch(t: &Tensor, rank: usize, name: &str) -> Result<Vec<usize>, String> {
    let full = rank + 1;
    if t.dims.len() < full {
        Ok(t.dims.clone())
    } else if t.dims.len() == full && t.dims[0] == 1 {
        Ok(t.dims[1..].to_vec())
    } else {
        Err(format!(
            "constant '{name}' {} spans the batch axis of a value with {full} axes: nodegrad \
             computes one sample, so its first axis must be 1 or absent",
            fmt_shape(&t.dims)
        ))
    }
}

fn resolve(axis: i64, rank: usize, what: &str) -> Result<usize, String> {
    let r = rank as i64;
    let a = if axis < 0 { axis + r } else { axis };
    if (0..r).contains(&a) {
        Ok(a as usize)
    } else {
        Err(format!("{what} {axis} is out of range for {rank} axes"))
    }
}

fn tensors_of(pairs: Vec<(&'static str, Array)>) -> BTreeMap<&'static str, Array> {
    pairs.into_iter().collect()
}

/// Converts one node (its inputs are converted already).
pub fn convert(b: &mut Builder, n: &NodeProto, opset: i64, plan: &Plan<'_>) -> Result<(), String> {
    let op_type = n.op_type.as_str();
    if op_type == "Constant" {
        return constant(b, n);
    }
    let out = n.output[0].as_str();
    let unary = |b: &mut Builder, op: Op| -> Result<(), String> {
        let name = input(n, 0).ok_or("input 0 is missing")?;
        let (x, _) = operand(b, name)?;
        b.add_value(out, op, &[x], BTreeMap::new()).map(|_| ())
    };
    match op_type {
        "Identity" => unary(b, Op::Identity),
        "Relu" => unary(b, Op::ReLU),
        "Sigmoid" => unary(b, Op::Sigmoid),
        "Tanh" => unary(b, Op::Tanh),
        "Exp" => unary(b, Op::Exp),
        "Log" => unary(b, Op::Log),
        "Sqrt" => unary(b, Op::Sqrt),
        "Abs" => unary(b, Op::Abs),
        "Neg" => unary(b, Op::Neg),
        "Flatten" => {
            let (x, _) = runtime_input(b, n, 0)?;
            b.add_value(out, Op::Flatten, &[x], BTreeMap::new())
                .map(|_| ())
        }
        "Unsqueeze" => unsqueeze(b, n, opset),
        "Squeeze" => squeeze(b, n, opset),
        "LeakyRelu" => unary(
            b,
            Op::LeakyReLU {
                alpha: float(n, "alpha", 0.01),
            },
        ),
        "Dropout" => {
            let p = if opset < 12 {
                float(n, "ratio", 0.5)
            } else {
                match optional_const(b, n, 1, "ratio")? {
                    Some(t) => t.single("the ratio")?,
                    None => 0.5,
                }
            };
            if let Some(t) = optional_const(b, n, 2, "training_mode")?
                && t.single("training_mode")? != 0.0
            {
                return Err("training_mode is on: import the inference graph".into());
            }
            unary(b, Op::Dropout { p })
        }
        "PRelu" => {
            let x = value_input(b, n, 0)?.id;
            let slope = const_input(b, n, 1, "slope")?;
            let first = *slope.data.first().ok_or("its slope is empty")?;
            if slope.data.iter().any(|&v| v != first) {
                return Err(format!(
                    "its slope has {} different values (per channel): nodegrad's PReLU \
                     learns one alpha",
                    slope.len()
                ));
            }
            b.add_value(
                out,
                Op::PReLU { init_alpha: first },
                &[x],
                tensors_of(vec![("alpha", Array::scalar(first))]),
            )
            .map(|_| ())
        }
        "Softmax" => {
            let v = value_input(b, n, 0)?;
            let (x, full) = (v.id, v.full());
            let axis = resolve(
                int(n, "axis", if opset >= 13 { -1 } else { 1 }),
                full,
                "axis",
            )?;
            if axis != full - 1 {
                return Err(format!(
                    "softmax over axis {axis} of {full}: nodegrad's Softmax runs over the last axis"
                ));
            }
            b.add_value(out, Op::Softmax, &[x], BTreeMap::new())
                .map(|_| ())
        }
        "Add" if b.values.contains_key(out) => Ok(()), // fused into a Dense by its MatMul
        "Add" | "Sub" | "Mul" | "Div" => {
            // A value times one constant number is nodegrad's Scale (as the exporter writes
            // it): a factor on the card, not a trainable one-number Parameter.
            if op_type == "Mul"
                && let Some((x, factor)) = scale_of(b, n)
            {
                return b
                    .add_value(out, Op::Scale { factor }, &[x], BTreeMap::new())
                    .map(|_| ());
            }
            let op = match op_type {
                "Add" => Op::Add,
                "Sub" => Op::Sub,
                "Mul" => Op::Mul,
                _ => Op::Div,
            };
            let ids = binary_operands(b, n)?;
            b.add_value(out, op, &ids, BTreeMap::new()).map(|_| ())
        }
        "Pow" => {
            let exp = const_input(b, n, 1, "exponent")?;
            let exponent = exp.single("the exponent")?;
            unary(b, Op::Pow { exponent })
        }
        "MatMul" => matmul(b, n, plan),
        "Gemm" => gemm(b, n),
        "Conv" => conv(b, n),
        "MaxPool" | "AveragePool" => {
            let (x, _) = runtime_input(b, n, 0)?;
            let k = ints(n, "kernel_shape").ok_or("it has no kernel_shape")?;
            let kernel = positive(k[0], "kernel_shape")?;
            let stride = match ints(n, "strides") {
                Some(s) => positive(s[0], "strides")?,
                None => 1,
            };
            let op = if op_type == "MaxPool" {
                Op::MaxPool2d { kernel, stride }
            } else {
                Op::AvgPool2d { kernel, stride }
            };
            b.add_value(out, op, &[x], BTreeMap::new()).map(|_| ())
        }
        "BatchNormalization" => {
            let (x, _) = runtime_input(b, n, 0)?;
            let mut ts = Vec::new();
            for (i, key) in [
                (1, "gamma"),
                (2, "beta"),
                (3, "running_mean"),
                (4, "running_var"),
            ] {
                let t = const_input(b, n, i, key)?;
                let len = t.len();
                ts.push((key, array(vec![len], t.data)?));
            }
            let momentum = 1.0 - float(n, "momentum", 0.9);
            b.add_value(out, Op::BatchNorm { momentum }, &[x], tensors_of(ts))
                .map(|_| ())
        }
        "Reshape" => {
            let v = value_input(b, n, 0)?;
            let target = const_input(b, n, 1, "shape")?;
            if target.len() > MAX_RANK + 1 {
                return Err(format!(
                    "its shape has {} entries; the limit is {MAX_RANK} axes",
                    target.len()
                ));
            }
            let target = target.as_ints("its shape")?;
            let x = v.id;
            let shape = per_sample_reshape(&target, &v.shape, v.batched)?;
            b.add_value(out, Op::Reshape { shape }, &[x], BTreeMap::new())
                .map(|_| ())
        }
        "Concat" => {
            let names: Vec<&str> = n.input.iter().map(String::as_str).collect();
            if names.is_empty() || names.len() > *crate::graph::ops::limits::CONCAT_INPUTS.end() {
                return Err(format!(
                    "it joins {} inputs; nodegrad's Concat takes 1 to {}",
                    names.len(),
                    crate::graph::ops::limits::CONCAT_INPUTS.end()
                ));
            }
            let batched_rank = names.iter().find_map(|nm| {
                b.runtime(nm)
                    .filter(|(id, _)| b.batched.contains(id))
                    .map(|(_, s)| s.len())
            });
            let mut ids = Vec::new();
            let mut rank = 0;
            for nm in names {
                let id = match (b.runtime(nm), batched_rank) {
                    (Some((id, _)), Some(_)) if !b.batched.contains(&id) => {
                        return Err(format!(
                            "it joins '{nm}', which does not depend on a graph input, with \
                             values that do"
                        ));
                    }
                    (Some((id, _)), _) => id,
                    (None, Some(r)) => {
                        let t = b.constant(nm).cloned().ok_or("an input is missing")?;
                        let dims = beside_batch(&t, r, nm)?;
                        b.const_node(nm, dims)?
                    }
                    (None, None) => operand(b, nm)?.0,
                };
                rank = b.shapes[&id].len();
                ids.push(id);
            }
            let off = usize::from(batched_rank.is_some());
            let axis = resolve(int(n, "axis", 0), rank + off, "axis")?;
            if axis < off {
                return Err("it joins along the batch axis: nodegrad computes one sample".into());
            }
            let op = Op::Concat {
                inputs: ids.len(),
                axis: (axis - off) as i64,
            };
            b.add_value(out, op, &ids, BTreeMap::new()).map(|_| ())
        }
        "Transpose" => {
            let v = value_input(b, n, 0)?;
            let (x, full) = (v.id, v.full());
            let perm = ints(n, "perm").unwrap_or_else(|| (0..full as i64).rev().collect());
            let identity: Vec<i64> = (0..full as i64).collect();
            let mut swapped = identity.clone();
            let min = 2 + v.off();
            if full >= min {
                swapped.swap(full - 1, full - 2);
            }
            let op = if perm == identity {
                Op::Identity
            } else if full >= min && perm == swapped {
                Op::Transpose
            } else {
                return Err(format!(
                    "perm {perm:?}: nodegrad's Transpose swaps the last two axes and keeps \
                     the batch axis first ({swapped:?})"
                ));
            };
            b.add_value(out, op, &[x], BTreeMap::new()).map(|_| ())
        }
        "ReduceSum" | "ReduceMean" => reduce(b, n, opset),
        other => Err(format!(
            "internal: {other} passed the op check but has no mapping"
        )),
    }
}

fn positive(v: i64, what: &str) -> Result<usize, String> {
    usize::try_from(v)
        .ok()
        .filter(|&v| v >= 1)
        .ok_or_else(|| format!("{what} {v} must be at least 1"))
}

fn constant(b: &mut Builder, n: &NodeProto) -> Result<(), String> {
    let out = n.output.first().ok_or("it has no output")?;
    let what = format!("Constant '{out}'");
    let a = n
        .attribute
        .iter()
        .find(|a| {
            [
                "value",
                "value_float",
                "value_floats",
                "value_int",
                "value_ints",
            ]
            .contains(&a.name.as_str())
        })
        .ok_or("it has no numeric value")?;
    let t = match a.name.as_str() {
        "value" => {
            let t = a.t.as_ref().ok_or("its value attribute holds no tensor")?;
            tensors::decode(t, &what)?
        }
        "value_float" => Tensor {
            dims: vec![],
            data: vec![a.f as f64],
        },
        "value_int" => Tensor {
            dims: vec![],
            data: vec![a.i as f64],
        },
        "value_floats" => {
            tensors::checked_dims(&[a.floats.len() as i64], &what)?;
            Tensor {
                dims: vec![a.floats.len()],
                data: a.floats.iter().map(|&v| v as f64).collect(),
            }
        }
        _ => {
            tensors::checked_dims(&[a.ints.len() as i64], &what)?;
            Tensor {
                dims: vec![a.ints.len()],
                data: a.ints.iter().map(|&v| v as f64).collect(),
            }
        }
    };
    b.consts.insert(out.clone(), (t, ConstKind::Constant));
    Ok(())
}

/// `Mul(x, k)` or `Mul(k, x)` with `k` a constant of one finite number: x and k.
fn scale_of(b: &Builder, n: &NodeProto) -> Option<(NodeId, f64)> {
    let (a, c) = (input(n, 0)?, input(n, 1)?);
    [(a, c), (c, a)].into_iter().find_map(|(x, k)| {
        let (id, _) = b.runtime(x)?;
        if b.runtime(k).is_some() {
            return None;
        }
        let factor = b.constant(k)?.single("the factor").ok()?;
        factor.is_finite().then_some((id, factor))
    })
}

/// The two operands of an elementwise op, constants lined up past the batch axis.
fn binary_operands(b: &mut Builder, n: &NodeProto) -> Result<Vec<NodeId>, String> {
    let names = [
        input(n, 0).ok_or("input 0 is missing")?,
        input(n, 1).ok_or("input 1 is missing")?,
    ];
    let rank = names
        .iter()
        .filter_map(|nm| b.runtime(nm))
        .filter(|(id, _)| b.batched.contains(id))
        .map(|(_, s)| s.len())
        .collect::<Vec<_>>();
    if let [ra, rb] = rank[..]
        && ra != rb
    {
        return Err(format!(
            "its inputs have {} and {} axes: nodegrad lines up per-sample shapes, so \
             both need the same number of axes",
            ra + 1,
            rb + 1
        ));
    }
    let mut ids = Vec::new();
    for nm in names {
        ids.push(match (b.runtime(nm), rank.first()) {
            (Some((id, s)), Some(&r)) if !b.batched.contains(&id) && s.len() > r => {
                return Err(format!(
                    "'{nm}' {} does not depend on a graph input and has as many axes as the \
                     batched value beside it: nodegrad computes one sample",
                    fmt_shape(&s)
                ));
            }
            (Some((id, _)), _) => id,
            (None, Some(&r)) => {
                let t = b.constant(nm).cloned().ok_or("an input is missing")?;
                let dims = beside_batch(&t, r, nm)?;
                b.const_node(nm, dims)?
            }
            (None, None) => operand(b, nm)?.0,
        });
    }
    Ok(ids)
}

/// MatMul: a Dense when B is a 2-D constant and the input a vector per sample (with the
/// bias of an Add that alone reads it), else nodegrad's MatMul.
fn matmul(b: &mut Builder, n: &NodeProto, plan: &Plan<'_>) -> Result<(), String> {
    let out = n.output[0].as_str();
    let (a_name, b_name) = (
        input(n, 0).ok_or("input 0 is missing")?,
        input(n, 1).ok_or("input 1 is missing")?,
    );
    let batched = |v: Option<(NodeId, Shape)>| v.filter(|(id, _)| b.batched.contains(id));
    match (batched(b.runtime(a_name)), batched(b.runtime(b_name))) {
        (Some((x, s)), None) if b.constant(b_name).is_some() => {
            let w = b.constant(b_name).cloned().ok_or("input 1 is missing")?;
            if w.dims.len() > 2 {
                return Err(format!(
                    "its constant B {} has more than 2 axes",
                    fmt_shape(&w.dims)
                ));
            }
            if s.len() == 1 && w.dims.len() == 2 {
                let units = w.dims[1];
                let fused = plan.only_add(out).and_then(|add| {
                    let other = add.input.iter().find(|i| i.as_str() != out)?;
                    let t = b.constant(other)?;
                    let fits = t.dims == [units] || t.dims == [1, units];
                    (fits && add.input.len() == 2).then(|| (add.output[0].clone(), t.data.clone()))
                });
                let (name, bias) = fused.unwrap_or_else(|| (out.to_string(), vec![0.0; units]));
                let op = Op::Dense {
                    units,
                    init: Init::XavierUniform,
                };
                let ts = vec![
                    ("weight", array(w.dims.clone(), w.data)?),
                    ("bias", array(vec![units], bias)?),
                ];
                return b.add_value(&name, op, &[x], tensors_of(ts)).map(|_| ());
            }
            let wid = b.const_node(b_name, w.dims.clone())?;
            b.add_value(out, Op::MatMul, &[x, wid], BTreeMap::new())
                .map(|_| ())
        }
        (None, Some((y, _))) if b.constant(a_name).is_some() => {
            let a = b.constant(a_name).cloned().ok_or("input 0 is missing")?;
            if a.dims.len() > 2 {
                return Err(format!(
                    "its constant A {} has more than 2 axes",
                    fmt_shape(&a.dims)
                ));
            }
            let aid = b.const_node(a_name, a.dims.clone())?;
            b.add_value(out, Op::MatMul, &[aid, y], BTreeMap::new())
                .map(|_| ())
        }
        (Some((x, sx)), Some((y, sy))) => {
            if sx.len() < 2 || sy.len() < 2 {
                return Err(format!(
                    "it multiplies two run-time values with {} and {} axes: nodegrad \
                     multiplies per sample, so each needs a matrix per sample ([N, k, n])",
                    sx.len() + 1,
                    sy.len() + 1
                ));
            }
            b.add_value(out, Op::MatMul, &[x, y], BTreeMap::new())
                .map(|_| ())
        }
        _ => {
            let (x, _) = operand(b, a_name)?;
            let (y, _) = operand(b, b_name)?;
            b.add_value(out, Op::MatMul, &[x, y], BTreeMap::new())
                .map(|_| ())
        }
    }
}

/// Gemm(A, B, C) = alpha A B' + beta C as a Dense: weight alpha B' ([n, units], B'
/// = B^T when transB = 1), bias beta C.
fn gemm(b: &mut Builder, n: &NodeProto) -> Result<(), String> {
    let out = n.output[0].as_str();
    let (x, s) = runtime_input(b, n, 0)?;
    if s.len() != 1 {
        return Err(format!(
            "its input A has per-sample shape {}: Gemm needs [N, n]",
            fmt_shape(&s)
        ));
    }
    let w = const_input(b, n, 1, "B (weight)")?;
    if w.dims.len() != 2 {
        return Err(format!("its B {} is not a matrix", fmt_shape(&w.dims)));
    }
    let w = if int(n, "transB", 0) != 0 {
        w.transposed()
    } else {
        w
    };
    let (alpha, beta) = (float(n, "alpha", 1.0), float(n, "beta", 1.0));
    let units = w.dims[1];
    let weight: Vec<f64> = w.data.iter().map(|v| alpha * v).collect();
    let bias = match optional_const(b, n, 2, "C (bias)")? {
        None => vec![0.0; units],
        Some(c) => match c.dims.as_slice() {
            [] | [1] | [1, 1] => vec![beta * c.data[0]; units],
            [u] | [1, u] if *u == units => c.data.iter().map(|v| beta * v).collect(),
            _ => {
                return Err(format!(
                    "its C {} is not one bias per unit ([{units}])",
                    fmt_shape(&c.dims)
                ));
            }
        },
    };
    let op = Op::Dense {
        units,
        init: Init::XavierUniform,
    };
    let ts = vec![
        ("weight", array(w.dims.clone(), weight)?),
        ("bias", array(vec![units], bias)?),
    ];
    b.add_value(out, op, &[x], tensors_of(ts)).map(|_| ())
}

fn conv(b: &mut Builder, n: &NodeProto) -> Result<(), String> {
    let out = n.output[0].as_str();
    let (x, _) = runtime_input(b, n, 0)?;
    let w = const_input(b, n, 1, "W (weight)")?;
    let [f, c, kh, kw] = w.dims[..] else {
        return Err(format!(
            "its weight {} is not [F, C, K, K]: nodegrad has 2-D convolutions only",
            fmt_shape(&w.dims)
        ));
    };
    if kh != kw {
        return Err(format!("its kernel {kh} x {kw} is not square"));
    }
    if let Some(k) = ints(n, "kernel_shape")
        && k.iter().any(|&v| v != kh as i64)
    {
        return Err(format!(
            "kernel_shape {k:?} does not match its weight {}",
            fmt_shape(&w.dims)
        ));
    }
    let stride = match ints(n, "strides") {
        Some(s) => positive(s[0], "strides")?,
        None => 1,
    };
    let padding = match string(n, "auto_pad").as_deref() {
        Some("SAME_UPPER" | "SAME_LOWER") => {
            if kh % 2 == 0 {
                return Err(format!(
                    "auto_pad SAME with an even kernel {kh} pads unevenly: write explicit pads"
                ));
            }
            Padding::Same
        }
        _ => match ints(n, "pads").and_then(|p| p.first().copied()) {
            None | Some(0) => Padding::Valid,
            Some(p) => {
                Padding::Explicit(usize::try_from(p).map_err(|_| format!("pads {p} is negative"))?)
            }
        },
    };
    let bias = optional_const(b, n, 2, "B (bias)")?;
    let mut ts = vec![("weight", array(vec![f, c, kh, kw], w.data)?)];
    if let Some(t) = &bias {
        ts.push(("bias", array(vec![t.len()], t.data.clone())?));
    }
    let op = Op::Conv2d {
        filters: f,
        kernel: kh,
        stride,
        padding,
        bias: bias.is_some(),
        init: Init::HeUniform,
    };
    b.add_value(out, op, &[x], tensors_of(ts)).map(|_| ())
}

/// ONNX Reshape's target (batch axis first; 0 copies the input's size) as nodegrad's
/// per-sample shape.
fn per_sample_reshape(target: &[i64], s: &[usize], batched: bool) -> Result<Vec<i64>, String> {
    if !batched {
        return target
            .iter()
            .enumerate()
            .map(|(k, &d)| match d {
                0 => s
                    .get(k)
                    .map(|&v| v as i64)
                    .ok_or_else(|| format!("shape {target:?} copies axis {k} the input lacks")),
                d if d >= -1 => Ok(d),
                d => Err(format!("shape {target:?} has a negative size {d}")),
            })
            .collect();
    }
    let Some((&first, rest)) = target.split_first() else {
        return Err("it reshapes to a scalar, which drops the batch axis".into());
    };
    if !(-1..=1).contains(&first) {
        return Err(format!(
            "shape {target:?} changes the batch axis: its first entry must be 0, 1 or -1"
        ));
    }
    if first == -1 && rest.contains(&-1) {
        return Err(format!(
            "shape {target:?} has two -1 entries: nodegrad needs the per-sample sizes"
        ));
    }
    rest.iter()
        .enumerate()
        .map(|(k, &d)| match d {
            0 => s
                .get(k)
                .map(|&v| v as i64)
                .ok_or_else(|| format!("shape {target:?} copies axis {} the input lacks", k + 1)),
            d if d >= -1 => Ok(d),
            d => Err(format!("shape {target:?} has a negative size {d}")),
        })
        .collect()
}

fn reduce(b: &mut Builder, n: &NodeProto, _opset: i64) -> Result<(), String> {
    let out = n.output[0].as_str();
    let v = value_input(b, n, 0)?;
    let (x, off, full) = (v.id, v.off(), v.full());
    let s = v.shape;
    let axes = match (ints(n, "axes"), optional_const(b, n, 1, "axes")?) {
        (Some(a), _) => a,
        (None, Some(t)) => t.as_ints("its axes")?,
        (None, None) if off == 1 => {
            return Err(
                "it reduces every axis, the batch axis too: give the axes after the batch axis"
                    .into(),
            );
        }
        (None, None) => (0..full as i64).collect(),
    };
    let mut set = BTreeSet::new();
    for a in axes {
        set.insert(resolve(a, full, "axis")?);
    }
    if off == 1 && set.contains(&0) {
        return Err("it reduces the batch axis: nodegrad computes one sample".into());
    }
    let all: BTreeSet<usize> = (off..full).collect();
    let axis = if set == all {
        None
    } else if set.len() == 1 {
        set.first().map(|&a| (a - off) as i64)
    } else {
        return Err(format!(
            "it reduces axes {set:?}: nodegrad's Sum and Mean take one axis or all of them"
        ));
    };
    let op = if n.op_type == "ReduceSum" {
        Op::Sum { axis }
    } else {
        Op::Mean { axis }
    };
    if int(n, "keepdims", 1) == 0 {
        return b.add_value(out, op, &[x], BTreeMap::new()).map(|_| ());
    }
    // keepdims: the reduced axes stay as 1.
    let kept: Vec<i64> = s
        .iter()
        .enumerate()
        .map(|(k, &d)| {
            if set.contains(&(k + off)) {
                1
            } else {
                d as i64
            }
        })
        .collect();
    let reduced = b.add_node(&format!("{out}_reduced"), op, &[x], BTreeMap::new())?;
    b.add_value(
        out,
        Op::Reshape { shape: kept },
        &[reduced],
        BTreeMap::new(),
    )
    .map(|_| ())
}

/// Unsqueeze (axes after the batch axis) as a Reshape that adds the axes of size 1.
fn unsqueeze(b: &mut Builder, n: &NodeProto, opset: i64) -> Result<(), String> {
    let out = n.output[0].as_str();
    let v = value_input(b, n, 0)?;
    let axes = if opset >= 13 {
        const_input(b, n, 1, "axes")?.as_ints("its axes")?
    } else {
        ints(n, "axes").ok_or("it has no axes")?
    };
    let full = v.full() + axes.len();
    if full > MAX_RANK + 1 {
        return Err(format!(
            "it makes {full} axes; the limit is {MAX_RANK} after the batch axis"
        ));
    }
    let mut set = BTreeSet::new();
    for a in axes {
        set.insert(resolve(a, full, "axis")?);
    }
    if v.batched && set.contains(&0) {
        return Err("it adds an axis before the batch axis: nodegrad computes one sample".into());
    }
    let mut dims = v.shape.iter().map(|&d| d as i64);
    let shape: Vec<i64> = (v.off()..full)
        .map(|k| {
            if set.contains(&k) {
                Some(1)
            } else {
                dims.next()
            }
        })
        .collect::<Option<_>>()
        .ok_or("its axes repeat")?;
    b.add_value(out, Op::Reshape { shape }, &[v.id], BTreeMap::new())
        .map(|_| ())
}

/// Squeeze (axes after the batch axis, each of size 1) as a Reshape without them.
fn squeeze(b: &mut Builder, n: &NodeProto, opset: i64) -> Result<(), String> {
    let out = n.output[0].as_str();
    let v = value_input(b, n, 0)?;
    let axes = if opset >= 13 {
        optional_const(b, n, 1, "axes")?
            .map(|t| t.as_ints("its axes"))
            .transpose()?
    } else {
        ints(n, "axes")
    };
    let Some(axes) = axes else {
        return Err("it has no axes: give the axes to remove".into());
    };
    let mut set = BTreeSet::new();
    for a in axes {
        set.insert(resolve(a, v.full(), "axis")?);
    }
    if v.batched && set.contains(&0) {
        return Err("it removes the batch axis: nodegrad computes one sample".into());
    }
    let mut shape = Vec::new();
    for (k, &d) in v.shape.iter().enumerate() {
        if set.contains(&(k + v.off())) {
            if d != 1 {
                return Err(format!(
                    "axis {} has size {d}, not 1: only axes of size 1 can be removed",
                    k + v.off()
                ));
            }
        } else {
            shape.push(d as i64);
        }
    }
    b.add_value(out, Op::Reshape { shape }, &[v.id], BTreeMap::new())
        .map(|_| ())
}
