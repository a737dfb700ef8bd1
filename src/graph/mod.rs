//! The graph model: nodes with stable ids, unique names, ops with settings, positions, and
//! one edge per input port. Pure data with checked edits.
//!
//! **Architecture Invariant:** this module knows nothing of burn, egui or files.

pub mod array;
pub mod expand;
pub mod init;
pub mod ops;
pub mod shapes;
pub mod templates;

use std::collections::{BTreeMap, BTreeSet};

use thiserror::Error;

pub use array::{Array, Shape, fmt_number, fmt_shape, numel};
pub use expand::Expansion;
pub use init::Init;
pub use ops::{Category, Op, OpSpec, OwnedTensor};

/// Stable node id: never reused within a graph, kept in the project file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NodeId(pub u64);

impl std::fmt::Display for NodeId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "#{}", self.0)
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    pub id: NodeId,
    pub name: String,
    pub op: Op,
    /// Canvas position (editor only; no meaning for evaluation).
    pub pos: [f32; 2],
    /// Stored tensors, keyed as `Op::owned_tensors` names them (`value`, `weight`, ...).
    pub tensors: BTreeMap<String, Array>,
}

impl Node {
    /// The stored value of an Input, Constant or Parameter.
    pub fn value(&self) -> Option<&Array> {
        self.tensors.get("value")
    }

    /// The stored tensor for `spec` when its shape fits, else a fresh draw from the op's
    /// initializer (seeded by the graph seed, the node id and the key, so it is repeatable).
    /// An initializer that cannot be drawn (settings analysis refuses) is an error.
    pub fn try_tensor_or_init(&self, spec: &OwnedTensor, graph_seed: u64) -> Result<Array, String> {
        match self.tensors.get(spec.key) {
            Some(a) if a.shape() == spec.shape.as_slice() => Ok(a.clone()),
            _ => {
                let key_hash = spec
                    .key
                    .bytes()
                    .fold(0u64, |h, b| h.wrapping_mul(31).wrapping_add(b as u64));
                let seed = graph_seed ^ self.id.0.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ key_hash;
                self.op.initializer(spec.key).sample(
                    spec.shape.clone(),
                    spec.fan_in,
                    spec.fan_out,
                    seed,
                )
            }
        }
    }

    /// `try_tensor_or_init` for callers that ran analysis first: analysis refuses every
    /// initializer that cannot be drawn, so the zeros here are never reached from a node
    /// analysis shaped.
    pub fn tensor_or_init(&self, spec: &OwnedTensor, graph_seed: u64) -> Array {
        self.try_tensor_or_init(spec, graph_seed)
            .unwrap_or_else(|_| Array::zeros(spec.shape.clone()))
    }
}

/// What of a node may change in place: its stored tensors and its position. Its id, name
/// and op change only through `Graph` (`rename`, `set_op`), which keep the name index and
/// the edges in step.
///
/// ```compile_fail
/// let mut g = nodegrad::graph::Graph::new();
/// let a = g.add(nodegrad::graph::Op::Input, [0.0, 0.0]);
/// g.node_mut(a).unwrap().name.push_str("_renamed"); // the name is read-only here
/// ```
pub struct NodeMut<'a> {
    pub id: NodeId,
    pub name: &'a str,
    pub op: &'a Op,
    pub pos: &'a mut [f32; 2],
    pub tensors: &'a mut BTreeMap<String, Array>,
}

/// An edge: the output of `from` feeds input `port` of `to`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Edge {
    pub from: NodeId,
    pub to: NodeId,
    pub port: usize,
}

#[derive(Debug, Error, PartialEq)]
pub enum GraphError {
    #[error("no node {0}")]
    UnknownNode(NodeId),
    #[error("no node named `{0}`")]
    UnknownName(String),
    #[error("a node named `{0}` exists already: pick another name")]
    DuplicateName(String),
    #[error("`{0}` is not a valid name: use letters, digits and _ (not starting with a digit)")]
    InvalidName(String),
    #[error("`{node}` has no input port {port}")]
    NoSuchPort { node: String, port: usize },
    #[error("wiring `{from}` into `{to}` would make a cycle: a value cannot depend on itself")]
    Cycle { from: String, to: String },
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Graph {
    nodes: BTreeMap<NodeId, Node>,
    /// (consumer, port) -> producer. A map, so one edge per input port holds by construction.
    inputs: BTreeMap<(NodeId, usize), NodeId>,
    /// producer -> (consumer, port): the reverse of `inputs`, kept in step with it so cycle
    /// checks walk forward from the new consumer instead of scanning every edge.
    consumers: BTreeMap<NodeId, BTreeSet<(NodeId, usize)>>,
    /// name -> id, kept in step with `nodes` (names are unique).
    names: BTreeMap<String, NodeId>,
    /// Last number handed out per default-name prefix, so adding stays O(log n).
    hints: NameHints,
    next_id: u64,
    /// The node whose value is differentiated; `None` picks the loss node or the single sink.
    pub output: Option<NodeId>,
    /// Seed for initializers (mixed with node ids).
    pub seed: u64,
    /// Dense layers opened into their neurons, keyed by the layer's id (`expand.rs`).
    expansions: BTreeMap<NodeId, Expansion>,
}

/// Bookkeeping only: two graphs with the same nodes and edges are equal whatever their hints.
#[derive(Clone, Debug, Default)]
struct NameHints(BTreeMap<String, u64>);

impl PartialEq for NameHints {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

pub fn is_valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_alphabetic() || c == '_')
        && chars.all(|c| c.is_alphanumeric() || c == '_' || c == '\'')
}

impl Graph {
    pub fn new() -> Self {
        Self {
            next_id: 1,
            ..Self::default()
        }
    }

    pub fn nodes(&self) -> impl Iterator<Item = &Node> {
        self.nodes.values()
    }

    pub fn node_ids(&self) -> impl Iterator<Item = NodeId> + '_ {
        self.nodes.keys().copied()
    }

    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    pub fn node(&self, id: NodeId) -> Option<&Node> {
        self.nodes.get(&id)
    }

    /// A node's tensors and position to change in place (never its name, id or op).
    pub fn node_mut(&mut self, id: NodeId) -> Option<NodeMut<'_>> {
        let Node {
            id,
            name,
            op,
            pos,
            tensors,
        } = self.nodes.get_mut(&id)?;
        Some(NodeMut {
            id: *id,
            name,
            op,
            pos,
            tensors,
        })
    }

    pub fn find(&self, name: &str) -> Option<&Node> {
        self.names.get(name).and_then(|id| self.nodes.get(id))
    }

    /// The producer wired into `(node, port)`.
    pub fn input(&self, node: NodeId, port: usize) -> Option<NodeId> {
        self.inputs.get(&(node, port)).copied()
    }

    /// All edges, sorted by consumer then port.
    pub fn edges(&self) -> impl Iterator<Item = Edge> + '_ {
        self.inputs
            .iter()
            .map(|(&(to, port), &from)| Edge { from, to, port })
    }

    pub fn edge_count(&self) -> usize {
        self.inputs.len()
    }

    /// A fresh name from the op's prefix: `mul1`, `mul2`, ... (numbers keep counting up
    /// after a deletion, as in most editors).
    pub fn fresh_name(&mut self, prefix: &str) -> String {
        let start = self.hints.0.get(prefix).copied().unwrap_or(0) + 1;
        let mut i = start;
        loop {
            let name = format!("{prefix}{i}");
            if !self.names.contains_key(&name) {
                self.hints.0.insert(prefix.to_string(), i);
                return name;
            }
            i += 1;
        }
    }

    /// `base` when no node has that name, else `base_2`, `base_3`, ...: the first free one.
    pub fn unique_name(&self, base: &str) -> String {
        if !self.names.contains_key(base) {
            return base.to_string();
        }
        let mut i: u64 = 2;
        loop {
            let name = format!("{base}_{i}");
            if !self.names.contains_key(&name) {
                return name;
            }
            i += 1;
        }
    }

    /// Adds a node with a default name and, for source ops, a default scalar value.
    pub fn add(&mut self, op: Op, pos: [f32; 2]) -> NodeId {
        let name = self.fresh_name(op.spec().default_name);
        let mut tensors = BTreeMap::new();
        if op.is_source() {
            tensors.insert("value".to_string(), Array::scalar(0.0));
        }
        let id = NodeId(self.next_id.max(1));
        self.next_id = id.0.saturating_add(1);
        self.names.insert(name.clone(), id);
        self.nodes.insert(
            id,
            Node {
                id,
                name,
                op,
                pos,
                tensors,
            },
        );
        id
    }

    /// Inserts a node as given (the loader and copies use this), replacing the node with
    /// the same id (and its wires into ports the new op lacks). Refuses a name that another
    /// node has, so names stay unique. Keeps `next_id` ahead of the id.
    pub fn insert_node(&mut self, node: Node) -> Result<(), GraphError> {
        if !is_valid_name(&node.name) {
            return Err(GraphError::InvalidName(node.name));
        }
        if self
            .names
            .get(&node.name)
            .is_some_and(|&other| other != node.id)
        {
            return Err(GraphError::DuplicateName(node.name));
        }
        self.next_id = self.next_id.max(node.id.0.saturating_add(1));
        if let Some(old) = self.nodes.remove(&node.id) {
            self.names.remove(&old.name);
            for port in node.op.arity()..old.op.arity() {
                self.unlink(node.id, port);
            }
        }
        self.names.insert(node.name.clone(), node.id);
        self.nodes.insert(node.id, node);
        Ok(())
    }

    /// Removes a node and every edge touching it; returns it with its edges (for undo).
    pub fn remove(&mut self, id: NodeId) -> Option<(Node, Vec<Edge>)> {
        let node = self.nodes.remove(&id)?;
        self.names.remove(&node.name);
        let arity = node.op.arity();
        let mut edges: Vec<Edge> = (0..arity)
            .filter_map(|port| self.input(id, port).map(|from| Edge { from, to: id, port }))
            .collect();
        let outgoing = self.consumers.get(&id).cloned().unwrap_or_default();
        edges.extend(
            outgoing
                .into_iter()
                .map(|(to, port)| Edge { from: id, to, port }),
        );
        for e in &edges {
            self.unlink(e.to, e.port);
        }
        self.consumers.remove(&id);
        if self.output == Some(id) {
            self.output = None;
        }
        // A deleted layer cannot collapse; a deleted neuron node leaves the group, whose
        // collapse then says which node is missing.
        self.expansions.remove(&id);
        Some((node, edges))
    }

    pub fn rename(&mut self, id: NodeId, name: &str) -> Result<(), GraphError> {
        if !is_valid_name(name) {
            return Err(GraphError::InvalidName(name.to_string()));
        }
        if self.names.get(name).is_some_and(|&other| other != id) {
            return Err(GraphError::DuplicateName(name.to_string()));
        }
        let node = self.nodes.get_mut(&id).ok_or(GraphError::UnknownNode(id))?;
        self.names.remove(&node.name);
        node.name = name.to_string();
        self.names.insert(node.name.clone(), id);
        Ok(())
    }

    fn name_of(&self, id: NodeId) -> String {
        self.nodes
            .get(&id)
            .map(|n| n.name.clone())
            .unwrap_or_else(|| id.to_string())
    }

    /// Wires `from` into `(to, port)`, replacing what was there. Refuses cycles; returns the
    /// producer that was replaced.
    pub fn connect(
        &mut self,
        from: NodeId,
        to: NodeId,
        port: usize,
    ) -> Result<Option<NodeId>, GraphError> {
        let target = self.nodes.get(&to).ok_or(GraphError::UnknownNode(to))?;
        if port >= target.op.arity() {
            return Err(GraphError::NoSuchPort {
                node: target.name.clone(),
                port,
            });
        }
        if !self.nodes.contains_key(&from) {
            return Err(GraphError::UnknownNode(from));
        }
        if from == to || self.reaches(to, from) {
            return Err(GraphError::Cycle {
                from: self.name_of(from),
                to: self.name_of(to),
            });
        }
        let old = self.unlink(to, port);
        self.connect_unchecked(from, to, port);
        Ok(old)
    }

    /// Wires without the cycle check, so a file with a cycle loads and analysis reports it.
    /// Only the loader uses it; every edit goes through `connect`.
    pub fn connect_unchecked(&mut self, from: NodeId, to: NodeId, port: usize) {
        self.unlink(to, port);
        self.inputs.insert((to, port), from);
        self.consumers.entry(from).or_default().insert((to, port));
    }

    pub fn disconnect(&mut self, to: NodeId, port: usize) -> Option<NodeId> {
        self.unlink(to, port)
    }

    /// Removes the edge into `(to, port)` from both indexes.
    fn unlink(&mut self, to: NodeId, port: usize) -> Option<NodeId> {
        let from = self.inputs.remove(&(to, port))?;
        if let Some(set) = self.consumers.get_mut(&from) {
            set.remove(&(to, port));
            if set.is_empty() {
                self.consumers.remove(&from);
            }
        }
        Some(from)
    }

    /// Whether `to` is reachable from `from` along edges (iterative: deep graphs are fine).
    pub fn reaches(&self, from: NodeId, to: NodeId) -> bool {
        let mut stack = vec![from];
        let mut seen = BTreeSet::new();
        while let Some(n) = stack.pop() {
            if n == to {
                return true;
            }
            if seen.insert(n) {
                if let Some(cs) = self.consumers.get(&n) {
                    stack.extend(cs.iter().map(|(c, _)| *c));
                }
            }
        }
        false
    }

    /// Whether anything reads this node's output.
    pub fn has_consumers(&self, id: NodeId) -> bool {
        self.consumers.contains_key(&id)
    }

    /// producer -> its outgoing edges, sorted.
    pub fn consumers_map(&self) -> BTreeMap<NodeId, Vec<Edge>> {
        let mut map: BTreeMap<NodeId, Vec<Edge>> = BTreeMap::new();
        for e in self.edges() {
            map.entry(e.from).or_default().push(e);
        }
        map
    }

    /// Changes a node's op (settings edit). Edges to ports that no longer exist are dropped
    /// and returned.
    pub fn set_op(&mut self, id: NodeId, op: Op) -> Result<Vec<Edge>, GraphError> {
        let arity = op.arity();
        let node = self.nodes.get_mut(&id).ok_or(GraphError::UnknownNode(id))?;
        node.op = op;
        let dropped: Vec<Edge> = self
            .edges()
            .filter(|e| e.to == id && e.port >= arity)
            .collect();
        for e in &dropped {
            self.unlink(e.to, e.port);
        }
        Ok(dropped)
    }

    /// Sets a stored tensor (`value` of an Input, `weight` of a Dense, ...).
    pub fn set_tensor(&mut self, id: NodeId, key: &str, value: Array) -> Result<(), GraphError> {
        let node = self.nodes.get_mut(&id).ok_or(GraphError::UnknownNode(id))?;
        node.tensors.insert(key.to_string(), value);
        Ok(())
    }

    /// The expanded layers, by the id of the layer (now the Concat of its neurons).
    pub fn expansions(&self) -> &BTreeMap<NodeId, Expansion> {
        &self.expansions
    }

    /// Records that `layer` is expanded (`expand::expand` and the project loader).
    pub fn set_expansion(&mut self, layer: NodeId, expansion: Expansion) {
        self.expansions.insert(layer, expansion);
    }

    /// Forgets that `layer` is expanded and returns what was recorded.
    pub fn take_expansion(&mut self, layer: NodeId) -> Option<Expansion> {
        self.expansions.remove(&layer)
    }

    /// `--set NAME=VALUE`: overrides the value of an Input, Constant or Parameter by name.
    pub fn set_value_by_name(&mut self, name: &str, value: Array) -> Result<(), String> {
        let Some(node) = self.names.get(name).and_then(|id| self.nodes.get_mut(id)) else {
            let mut names: Vec<&str> = self
                .nodes
                .values()
                .filter(|n| n.op.is_source())
                .map(|n| n.name.as_str())
                .collect();
            names.sort();
            return Err(format!(
                "no node named `{name}` (inputs and parameters: {})",
                names.join(", ")
            ));
        };
        if !node.op.is_source() {
            return Err(format!(
                "`{name}` is a {} node: only Input, Constant and Parameter values can be set",
                node.op.name()
            ));
        }
        node.tensors.insert("value".to_string(), value);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_ids_and_edges() {
        let mut g = Graph::new();
        let a = g.add(Op::Input, [0.0, 0.0]);
        let b = g.add(Op::Input, [0.0, 0.0]);
        let m = g.add(Op::Mul, [0.0, 0.0]);
        assert_eq!(g.node(a).unwrap().name, "x1");
        assert_eq!(g.node(b).unwrap().name, "x2");
        assert_eq!(g.node(m).unwrap().name, "mul1");
        g.connect(a, m, 0).unwrap();
        assert_eq!(
            g.connect(b, m, 0).unwrap(),
            Some(a),
            "a new wire replaces the old"
        );
        assert!(matches!(
            g.connect(a, m, 2),
            Err(GraphError::NoSuchPort { .. })
        ));
        assert!(matches!(g.connect(m, m, 1), Err(GraphError::Cycle { .. })));
        g.connect(a, m, 1).unwrap();
        let n = g.add(Op::Neg, [0.0, 0.0]);
        g.connect(m, n, 0).unwrap();
        assert!(matches!(g.connect(n, m, 0), Err(GraphError::Cycle { .. })));
        assert_eq!(
            g.rename(a, "x2"),
            Err(GraphError::DuplicateName("x2".into()))
        );
        assert_eq!(g.rename(a, "2x"), Err(GraphError::InvalidName("2x".into())));
        g.rename(a, "a").unwrap();
        let (_, edges) = g.remove(m).unwrap();
        assert_eq!(edges.len(), 3);
        assert_eq!(g.edge_count(), 0);
        let again = g.add(Op::Mul, [0.0, 0.0]);
        assert!(again.0 > m.0, "ids are never reused");
    }

    #[test]
    fn graph_knows_nothing_of_burn_egui_or_files() {
        let sources = [
            ("mod.rs", include_str!("mod.rs")),
            ("array.rs", include_str!("array.rs")),
            ("expand.rs", include_str!("expand.rs")),
            ("init.rs", include_str!("init.rs")),
            ("ops.rs", include_str!("ops.rs")),
            ("shapes.rs", include_str!("shapes.rs")),
            ("templates.rs", include_str!("templates.rs")),
        ];
        // Built from pieces so this test's own text does not match.
        let banned = ["burn", "egui", "egui_snarl", "std::fs", "std::io"].map(|w| format!("{w}::"));
        for (file, text) in sources {
            for word in &banned {
                assert!(!text.contains(word.as_str()), "graph/{file} uses {word}");
            }
        }
    }

    #[test]
    fn names_change_only_through_rename() {
        let mut g = Graph::new();
        let a = g.add(Op::Input, [0.0, 0.0]);
        let b = g.add(Op::Input, [0.0, 0.0]);
        // node_mut reaches the tensors and the position only; the name is read-only there.
        let n = g.node_mut(a).unwrap();
        assert_eq!(n.name, "x1");
        n.tensors.insert("value".into(), Array::scalar(2.0));
        *n.pos = [5.0, 6.0];
        assert_eq!(g.node(a).unwrap().pos, [5.0, 6.0]);
        // A copy of `b` named like `a` cannot go in beside it.
        let mut clash = g.node(b).unwrap().clone();
        clash.name = "x1".into();
        assert_eq!(
            g.insert_node(clash),
            Err(GraphError::DuplicateName("x1".into()))
        );
        assert_eq!(g.find("x1").map(|n| n.id), Some(a));
        // Replacing a node under its own id re-indexes its new name.
        let mut renamed = g.node(b).unwrap().clone();
        renamed.name = "y".into();
        g.insert_node(renamed).unwrap();
        assert!(g.find("x2").is_none());
        assert_eq!(g.find("y").map(|n| n.id), Some(b));
    }

    #[test]
    fn set_value_by_name_errors_list_names() {
        let mut g = Graph::new();
        g.add(Op::Input, [0.0, 0.0]);
        g.add(Op::Neg, [0.0, 0.0]);
        let err = g.set_value_by_name("q", Array::scalar(1.0)).unwrap_err();
        assert!(err.contains("x1"), "{err}");
        assert!(
            g.set_value_by_name("neg1", Array::scalar(1.0))
                .unwrap_err()
                .contains("Neg")
        );
    }
}
