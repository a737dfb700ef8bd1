//! ONNX models in as graphs: the raw `ModelProto` (parsed with the protobuf types `onnx-ir`
//! re-exports, never its graph builder, which renames and fuses) mapped op by op onto
//! nodegrad's ops, keeping the model's value names as node names.
//!
//! ONNX tensors carry a leading batch axis; nodegrad's graph computes one sample. Every
//! runtime value is tracked with its per-sample shape (the ONNX shape without the batch
//! axis) and axes are shifted by one. What cannot be mapped exactly is refused with the
//! node's name and the reason; nothing is approximated.
//!
//! **Architecture Invariant:** a file never panics or aborts the importer: sizes are checked
//! (`limits`) before anything is allocated from them, and every problem is a message naming
//! the node, value or initializer.

pub mod layout;
mod ops;
pub mod tensors;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;

use onnx_ir::{Message, ModelProto, NodeProto};

use crate::graph::{Array, Graph, Init, NodeId, Op, Shape, fmt_shape, is_valid_name};
use crate::project::Project;

use tensors::Tensor;

/// What a file may ask of the importer.
pub mod limits {
    /// Largest .onnx file read (the protobuf is parsed in memory).
    pub const MAX_FILE_BYTES: u64 = 256 << 20;
    /// Elements of one tensor (an initializer, an input's sample value).
    pub const MAX_TENSOR_ELEMENTS: usize = 1 << 24;
    /// Elements of all initializers together.
    pub const MAX_TOTAL_ELEMENTS: usize = 1 << 25;
    /// Axes of one tensor.
    pub const MAX_RANK: usize = 8;
    /// ONNX nodes in the graph.
    pub const MAX_NODES: usize = 20_000;
}

/// Why a model did not import: every problem found, each naming its place.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{}", render(.problems))]
pub struct ImportError {
    pub problems: Vec<String>,
}

fn render(problems: &[String]) -> String {
    match problems {
        [one] => format!("cannot import the ONNX model: {one}"),
        many => {
            let mut s = format!("cannot import the ONNX model ({} problems):", many.len());
            for p in many {
                s.push_str("\n  - ");
                s.push_str(p);
            }
            s
        }
    }
}

impl ImportError {
    fn one(message: impl Into<String>) -> Self {
        Self {
            problems: vec![message.into()],
        }
    }
}

/// Ops the importer maps, in the order the documentation lists them.
pub const SUPPORTED_OPS: &[&str] = &[
    "Gemm",
    "MatMul",
    "Conv",
    "MaxPool",
    "AveragePool",
    "BatchNormalization",
    "Relu",
    "LeakyRelu",
    "PRelu",
    "Sigmoid",
    "Tanh",
    "Softmax",
    "Flatten",
    "Reshape",
    "Concat",
    "Add",
    "Sub",
    "Mul",
    "Div",
    "Neg",
    "Exp",
    "Log",
    "Sqrt",
    "Abs",
    "Pow",
    "ReduceSum",
    "ReduceMean",
    "Transpose",
    "Identity",
    "Dropout",
    "Constant",
    "Unsqueeze",
    "Squeeze",
];

/// Reads and imports a .onnx file; the project is titled after the file's name.
pub fn import_file(path: &Path) -> Result<Project, ImportError> {
    let shown = path.display();
    let meta = std::fs::metadata(path)
        .map_err(|e| ImportError::one(format!("cannot read {shown}: {e}")))?;
    if meta.len() > limits::MAX_FILE_BYTES {
        return Err(ImportError::one(format!(
            "{shown} is {} bytes; nodegrad imports models up to {} bytes",
            meta.len(),
            limits::MAX_FILE_BYTES
        )));
    }
    let bytes =
        std::fs::read(path).map_err(|e| ImportError::one(format!("cannot read {shown}: {e}")))?;
    let title = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "imported".into());
    import_bytes(&bytes, &title)
}

/// Imports a model from its bytes.
pub fn import_bytes(bytes: &[u8], title: &str) -> Result<Project, ImportError> {
    if bytes.len() as u64 > limits::MAX_FILE_BYTES {
        return Err(ImportError::one(format!(
            "the model is {} bytes; nodegrad imports models up to {} bytes",
            bytes.len(),
            limits::MAX_FILE_BYTES
        )));
    }
    let model = ModelProto::parse_from_bytes(bytes).map_err(|e| {
        ImportError::one(format!(
            "not a readable ONNX model ({e}): the file is damaged, cut short, or not ONNX"
        ))
    })?;
    let graph = import_model(&model)?;
    let mut project = Project::from_graph(graph);
    project.title = title.to_string();
    let producer = format!("{} {}", model.producer_name, model.producer_version);
    let producer = match producer.trim() {
        "" => String::new(),
        p => format!(" (made by {p})"),
    };
    project.description = format!("Imported from the ONNX model {title}{producer}.");
    Ok(project)
}

/// The ONNX graph as a nodegrad graph, laid out.
pub fn import_model(model: &ModelProto) -> Result<Graph, ImportError> {
    let Some(g) = model.graph.as_ref() else {
        return Err(ImportError::one("the model has no graph"));
    };
    if g.node.len() > limits::MAX_NODES {
        return Err(ImportError::one(format!(
            "the graph has {} nodes; nodegrad imports up to {}",
            g.node.len(),
            limits::MAX_NODES
        )));
    }
    let opset = model
        .opset_import
        .iter()
        .find(|o| o.domain.is_empty() || o.domain == "ai.onnx")
        .map(|o| o.version)
        .unwrap_or(17);

    // 1. Every unsupported op and every attribute nodegrad cannot represent, in one list.
    let consumed: BTreeSet<&str> = g
        .node
        .iter()
        .flat_map(|n| n.input.iter().map(String::as_str))
        .chain(g.output.iter().map(|o| o.name.as_str()))
        .filter(|s| !s.is_empty())
        .collect();
    let mut unsupported = Vec::new();
    let mut problems = Vec::new();
    for n in &g.node {
        let supported = (n.domain.is_empty() || n.domain == "ai.onnx")
            && SUPPORTED_OPS.contains(&n.op_type.as_str());
        if supported {
            problems.extend(ops::attribute_problems(n, opset, &consumed));
        } else {
            unsupported.push(format!("{} ({})", node_label(n), op_label(n)));
        }
    }
    if !unsupported.is_empty() {
        problems.insert(
            0,
            format!(
                "{} node(s) use ops nodegrad does not have: {}",
                unsupported.len(),
                unsupported.join(", ")
            ),
        );
    }
    if !problems.is_empty() {
        return Err(ImportError { problems });
    }

    // 2. Constants: initializers and the outputs of Constant nodes.
    let mut b = Builder::default();
    let mut total: usize = 0;
    for t in &g.initializer {
        let what = format!("initializer '{}'", t.name);
        let tensor = tensors::decode(t, &what).map_err(ImportError::one)?;
        total = total
            .checked_add(tensor.len())
            .filter(|&n| n <= limits::MAX_TOTAL_ELEMENTS)
            .ok_or_else(|| {
                ImportError::one(format!(
                    "the initializers hold more than {} values together, the most nodegrad \
                     imports",
                    limits::MAX_TOTAL_ELEMENTS
                ))
            })?;
        b.consts
            .insert(t.name.clone(), (tensor, ConstKind::Initializer));
    }

    // 3. Graph inputs (those that are not initializers) become Input nodes.
    for input in &g.input {
        if b.consts.contains_key(&input.name) {
            continue;
        }
        let shape = ops::input_shape(input).map_err(ImportError::one)?;
        // input_shape checked the product against the per-tensor limit.
        total = total
            .checked_add(shape.iter().product())
            .filter(|&n| n <= limits::MAX_TOTAL_ELEMENTS)
            .ok_or_else(|| {
                ImportError::one(format!(
                    "the initializers and the inputs' values hold more than {} values \
                     together, the most nodegrad imports (at graph input '{}')",
                    limits::MAX_TOTAL_ELEMENTS,
                    input.name
                ))
            })?;
        let value = sample_value(&shape).map_err(ImportError::one)?;
        let id = b
            .add_node(&input.name, Op::Input, &[], [("value", value)].into())
            .map_err(ImportError::one)?;
        b.values.insert(input.name.clone(), (id, shape));
    }

    // 4. Nodes in dependency order.
    let order = topological_order(g, &b).map_err(|p| ImportError { problems: p })?;
    let plan = ops::Plan::new(g, &consumed);
    for &i in &order {
        let n = &g.node[i];
        ops::convert(&mut b, n, opset, &plan).map_err(|e| {
            ImportError::one(format!("node '{}' ({}): {e}", node_label(n), op_label(n)))
        })?;
    }

    // 5. The outputs.
    let mut outputs = Vec::new();
    for o in &g.output {
        match b.values.get(&o.name) {
            Some((id, _)) => outputs.push(*id),
            None if b.consts.contains_key(&o.name) => {}
            None => {
                return Err(ImportError::one(format!(
                    "graph output '{}' is not computed by any node",
                    o.name
                )));
            }
        }
    }
    b.graph.output = outputs.first().copied();
    layout::arrange(&mut b.graph);
    Ok(b.graph)
}

/// The node's name for messages: its ONNX name, else its first output's.
fn node_label(n: &NodeProto) -> String {
    if !n.name.is_empty() {
        n.name.clone()
    } else {
        n.output
            .first()
            .cloned()
            .unwrap_or_else(|| "unnamed".into())
    }
}

fn op_label(n: &NodeProto) -> String {
    if n.domain.is_empty() || n.domain == "ai.onnx" {
        n.op_type.clone()
    } else {
        format!("{}::{}", n.domain, n.op_type)
    }
}

/// A repeatable sample in [0, 1) for an input, so values and gradients show something
/// before the student sets their own.
fn sample_value(shape: &[usize]) -> Result<Array, String> {
    let n = shape
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .filter(|&n| n <= limits::MAX_TENSOR_ELEMENTS)
        .ok_or_else(|| {
            format!(
                "an input of shape {} has more than {} values",
                fmt_shape(shape),
                limits::MAX_TENSOR_ELEMENTS
            )
        })?;
    let mut state: u64 = 0x2545_F491_4F6C_DD1D;
    let data = (0..n)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 11) as f64 / (1u64 << 53) as f64
        })
        .collect();
    Array::new(shape.to_vec(), data)
}

/// Kahn's order over the nodes, or every missing input and the nodes of a cycle.
fn topological_order(g: &onnx_ir::GraphProto, b: &Builder) -> Result<Vec<usize>, Vec<String>> {
    let mut producer: HashMap<&str, usize> = HashMap::new();
    let mut problems = Vec::new();
    for (i, n) in g.node.iter().enumerate() {
        for o in n.output.iter().filter(|o| !o.is_empty()) {
            if b.values.contains_key(o) || b.consts.contains_key(o) {
                problems.push(format!(
                    "node '{}' writes '{o}', which is already a graph input or initializer",
                    node_label(n)
                ));
            } else if let Some(&j) = producer.get(o.as_str()) {
                problems.push(format!(
                    "value '{o}' is written by two nodes, '{}' and '{}'",
                    node_label(&g.node[j]),
                    node_label(n)
                ));
            } else {
                producer.insert(o, i);
            }
        }
    }
    let mut waiting = vec![0usize; g.node.len()];
    let mut consumers: Vec<Vec<usize>> = vec![Vec::new(); g.node.len()];
    for (i, n) in g.node.iter().enumerate() {
        for inp in n.input.iter().filter(|s| !s.is_empty()) {
            if let Some(&j) = producer.get(inp.as_str()) {
                waiting[i] += 1;
                consumers[j].push(i);
            } else if !b.values.contains_key(inp) && !b.consts.contains_key(inp) {
                problems.push(format!(
                    "node '{}' ({}) reads '{inp}', which no node, graph input or initializer \
                     provides",
                    node_label(n),
                    op_label(n)
                ));
            }
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    let mut ready: Vec<usize> = (0..g.node.len()).filter(|&i| waiting[i] == 0).collect();
    ready.reverse();
    let mut order = Vec::with_capacity(g.node.len());
    while let Some(i) = ready.pop() {
        order.push(i);
        for &c in consumers[i].iter().rev() {
            waiting[c] -= 1;
            if waiting[c] == 0 {
                ready.push(c);
            }
        }
    }
    if order.len() < g.node.len() {
        let stuck: Vec<String> = (0..g.node.len())
            .filter(|&i| waiting[i] > 0)
            .take(10)
            .map(|i| format!("'{}'", node_label(&g.node[i])))
            .collect();
        return Err(vec![format!(
            "the graph has a cycle: {} node(s) wait on each other ({}{})",
            g.node.len() - order.len(),
            stuck.join(", "),
            if g.node.len() - order.len() > 10 {
                ", …"
            } else {
                ""
            }
        )]);
    }
    Ok(order)
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum ConstKind {
    /// A graph initializer: a Parameter when used as a value.
    Initializer,
    /// The output of a Constant node: a Constant when used as a value.
    Constant,
}

/// The graph being built: nodes, the values computed so far, the constants.
#[derive(Default)]
struct Builder {
    graph: Graph,
    /// Runtime value name -> (node, per-sample shape).
    values: HashMap<String, (NodeId, Shape)>,
    /// Constant value name -> tensor (ONNX dims).
    consts: HashMap<String, (Tensor, ConstKind)>,
    /// Nodes made for constants used as values, by (name, per-sample dims).
    const_nodes: HashMap<(String, Vec<usize>), NodeId>,
    /// Per-sample shapes of every node made.
    shapes: BTreeMap<NodeId, Shape>,
    /// Nodes whose value has the batch axis: the Inputs and what depends on them.
    batched: BTreeSet<NodeId>,
}

/// `name` as a nodegrad name: characters nodegrad forbids become `_`, a leading digit gets a
/// `v` before it.
pub fn sanitize(name: &str) -> String {
    let mapped: String = name
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let trimmed = mapped.trim_matches('_');
    let base = if trimmed.is_empty() { "value" } else { trimmed };
    if base.chars().next().is_some_and(|c| c.is_alphabetic()) {
        base.to_string()
    } else {
        format!("v{base}")
    }
}

impl Builder {
    /// A unique nodegrad name for an ONNX name (`_2`, `_3`, ... when taken).
    fn unique_name(&self, onnx_name: &str) -> String {
        let base = sanitize(onnx_name);
        debug_assert!(is_valid_name(&base));
        self.graph.unique_name(&base)
    }

    /// Adds a node named after `onnx_name`, wired to `inputs` in port order, with its
    /// tensors; checks its shape and that every tensor has the shape the op expects.
    fn add_node(
        &mut self,
        onnx_name: &str,
        op: Op,
        inputs: &[NodeId],
        tensors: BTreeMap<&'static str, Array>,
    ) -> Result<NodeId, String> {
        let in_shapes: Vec<&[usize]> = inputs
            .iter()
            .map(|id| self.shapes.get(id).map(Vec::as_slice).unwrap_or(&[]))
            .collect();
        let value = tensors.get("value").map(|a| a.shape());
        let shape = op
            .infer_shape(&in_shapes, value)
            .map_err(|e| format!("as nodegrad's {}: {e}", op.name()))?;
        for spec in op.owned_tensors(&in_shapes, value) {
            match tensors.get(spec.key) {
                Some(a) if a.shape() == spec.shape.as_slice() => {}
                Some(a) => {
                    return Err(format!(
                        "its {} has shape {} but nodegrad's {} needs {} here",
                        spec.key,
                        fmt_shape(a.shape()),
                        op.name(),
                        fmt_shape(&spec.shape)
                    ));
                }
                None => return Err(format!("internal: no {} given", spec.key)),
            }
        }
        let name = self.unique_name(onnx_name);
        let arity = op.arity();
        let batched = op == Op::Input || inputs.iter().any(|i| self.batched.contains(i));
        let id = self.graph.add(op, [0.0, 0.0]);
        self.graph
            .rename(id, &name)
            .map_err(|e| format!("internal: {e}"))?;
        if let Some(node) = self.graph.node_mut(id) {
            node.tensors.clear();
            for (k, v) in tensors {
                node.tensors.insert(k.to_string(), v);
            }
        }
        for (port, &from) in inputs.iter().enumerate().take(arity) {
            self.graph
                .connect(from, id, port)
                .map_err(|e| format!("internal: {e}"))?;
        }
        self.shapes.insert(id, shape);
        if batched {
            self.batched.insert(id);
        }
        Ok(id)
    }

    /// Adds a node that computes ONNX value `output` and records it.
    fn add_value(
        &mut self,
        output: &str,
        op: Op,
        inputs: &[NodeId],
        tensors: BTreeMap<&'static str, Array>,
    ) -> Result<NodeId, String> {
        let id = self.add_node(output, op, inputs, tensors)?;
        let shape = self.shapes[&id].clone();
        self.values.insert(output.to_string(), (id, shape));
        Ok(id)
    }

    /// The node and per-sample shape of a value used as an operand. A constant becomes a
    /// Parameter (initializer) or Constant (Constant node) named after it, with `dims` as
    /// its per-sample shape.
    fn const_node(&mut self, name: &str, dims: Vec<usize>) -> Result<NodeId, String> {
        let key = (name.to_string(), dims.clone());
        if let Some(&id) = self.const_nodes.get(&key) {
            return Ok(id);
        }
        let (t, kind) = self
            .consts
            .get(name)
            .ok_or_else(|| format!("'{name}' is not a constant"))?;
        let value = Array::new(dims, t.data.clone())?;
        let op = match kind {
            ConstKind::Initializer => Op::Parameter { init: Init::Zeros },
            ConstKind::Constant => Op::Constant,
        };
        let id = self.add_node(name, op, &[], [("value", value)].into())?;
        self.const_nodes.insert(key, id);
        Ok(id)
    }

    fn constant(&self, name: &str) -> Option<&Tensor> {
        self.consts.get(name).map(|(t, _)| t)
    }

    fn runtime(&self, name: &str) -> Option<(NodeId, Shape)> {
        self.values.get(name).cloned()
    }
}
