//! Opening a Dense layer into its neurons and closing it again: pure graph transforms.
//!
//! A Dense layer `y = x W + b` with W [n, units] becomes, for each unit j, the scalar graph
//! of one neuron: `y_j = sum_i (x * w_j)_i + b_j`, where `w_j` is column j of W (a
//! Parameter [n]) and `b_j` is a scalar Parameter. A Concat joins the neurons' outputs
//! into the vector the layer's consumers read. The Concat keeps the layer's id and name, so
//! the consumers' wires, the graph's output and the training settings that name the layer
//! stay as they were. The graph remembers the group (`Expansion`) so it can be collapsed
//! back into the Dense, with whatever weights the user edited in the expanded form.

use super::{Array, Graph, Node, NodeId, Op, fmt_shape, numel};

/// Largest layer that opens into neurons: beyond 8 inputs x 8 units the cards no longer
/// read on a laptop screen.
pub const MAX_INPUTS: usize = 8;
pub const MAX_UNITS: usize = 8;

/// Cards keep their size on screen when zoomed out (large-type summaries), so the spacing
/// is what a fitted layer needs at 1280x720 for its cards to stay apart. Up to
/// `COMPACT_UNITS` neurons: four columns (weights, products, sums with the biases half a
/// row below them, neurons), two card heights per neuron. Beyond, one card height per
/// neuron, the biases in a column of their own, and wider columns (the fit zooms out
/// further, so the same cards take more canvas units).
const COMPACT_UNITS: usize = 4;
const COMPACT: Layout = Layout {
    column: 420.0,
    row: 480.0,
    bias_column: 2.0,
    columns: 4.0,
};
const TALL: Layout = Layout {
    column: 560.0,
    row: 330.0,
    bias_column: 3.0,
    columns: 5.0,
};

struct Layout {
    /// Canvas distance between columns, and the least room kept beside the block.
    column: f32,
    /// Canvas distance between neurons.
    row: f32,
    /// The biases' column (half a row below their neuron).
    bias_column: f32,
    /// Columns of the block before the joined vector.
    columns: f32,
}

/// One neuron of an expanded layer: `add = sum(mul(x, weights)) + bias`.
#[derive(Clone, Debug, PartialEq)]
pub struct Neuron {
    /// Parameter [n]: column j of the layer's weight matrix.
    pub weights: NodeId,
    /// Mul: x * weights, the products x_i w_ij.
    pub mul: NodeId,
    /// Sum: the weighted sum.
    pub sum: NodeId,
    /// Parameter []: the neuron's bias.
    pub bias: NodeId,
    /// Add: the neuron's output.
    pub add: NodeId,
}

/// What the graph remembers of an expanded layer, keyed by the layer's id (now its Concat).
#[derive(Clone, Debug, PartialEq)]
pub struct Expansion {
    /// The Dense op it came from (units and initializer).
    pub op: Op,
    /// The layer's input length n.
    pub inputs: usize,
    /// How far nodes to the right of the layer were moved aside (moved back on collapse).
    pub shift: f32,
    /// Where the layer's card was (it goes back there on collapse).
    pub pos: [f32; 2],
    pub neurons: Vec<Neuron>,
}

impl Expansion {
    /// Every node of the group but the layer's own (the Concat).
    pub fn members(&self) -> impl Iterator<Item = NodeId> + '_ {
        self.neurons
            .iter()
            .flat_map(|n| [n.weights, n.mul, n.sum, n.bias, n.add])
    }
}

/// Why the node `id` cannot be expanded, or `Ok` when it can; `input_shape` is the shape
/// analysis gave the layer's input (`None`: not known yet).
pub fn check_expand(g: &Graph, id: NodeId, input_shape: Option<&[usize]>) -> Result<(), String> {
    let node = g.node(id).ok_or_else(|| format!("no node {id}"))?;
    match &node.op {
        Op::Dense { units, .. } => {
            if g.input(id, 0).is_none() {
                return Err(format!(
                    "`{}` has no input yet: wire its input first",
                    node.name
                ));
            }
            let Some(shape) = input_shape else {
                return Err(format!(
                    "the input of `{}` has no shape yet: fix the errors before it first",
                    node.name
                ));
            };
            if shape.len() > 1 {
                return Err(format!(
                    "`{}` reads a {} input: only a vector input opens into neurons",
                    node.name,
                    fmt_shape(shape)
                ));
            }
            let n = numel(shape);
            if n > MAX_INPUTS || *units > MAX_UNITS {
                return Err(format!(
                    "`{}` is {n} inputs x {units} units: only layers up to {MAX_INPUTS} inputs \
                     x {MAX_UNITS} units open into neurons (more cards would not read)",
                    node.name
                ));
            }
            Ok(())
        }
        Op::Conv2d { .. } => Err(format!(
            "`{}` is a Conv2d: only Dense layers open into neurons for now (a convolution's \
             neurons each read a window of the image, which needs a window-picking node \
             nodegrad does not have yet)",
            node.name
        )),
        other => Err(format!(
            "`{}` is a {}: only Dense layers open into neurons",
            node.name,
            other.name()
        )),
    }
}

/// Adds a node named `name` (made unique) with `tensors` at `pos`.
fn add_named(g: &mut Graph, op: Op, name: &str, pos: [f32; 2], value: Option<Array>) -> NodeId {
    let id = g.add(op, pos);
    let name = g.unique_name(name);
    // The name is valid (built from a valid one) and free, so renaming cannot fail.
    let _ = g.rename(id, &name);
    if let Some(n) = g.node_mut(id) {
        n.tensors.clear();
        if let Some(v) = value {
            n.tensors.insert("value".to_string(), v);
        }
    }
    id
}

/// Replaces the Dense layer `id` by its neurons (see the module doc); returns the nodes it
/// created. The weights are the layer's stored ones, or the ones its initializer draws for
/// the evaluation when it has none stored, so the numbers do not change.
pub fn expand(g: &mut Graph, id: NodeId, input_shape: &[usize]) -> Result<Vec<NodeId>, String> {
    check_expand(g, id, Some(input_shape))?;
    let layer = g.node(id).cloned().ok_or_else(|| format!("no node {id}"))?;
    let (Op::Dense { units, init }, Some(x)) = (layer.op.clone(), g.input(id, 0)) else {
        return Err(format!("`{}` is not a wired Dense layer", layer.name));
    };
    let n = numel(input_shape);
    let specs = layer.op.owned_tensors(&[input_shape], None);
    let mut weight = None;
    let mut bias = None;
    for spec in &specs {
        let a = layer
            .try_tensor_or_init(spec, g.seed)
            .map_err(|e| format!("`{}` {}: {e}", layer.name, spec.key))?;
        match spec.key {
            "weight" => weight = Some(a),
            "bias" => bias = Some(a),
            _ => {}
        }
    }
    let (Some(weight), Some(bias)) = (weight, bias) else {
        return Err(format!("`{}` has no weight and bias", layer.name));
    };
    let (w, b) = (weight.data(), bias.data());

    let [x0, y0] = layer.pos;
    let l = if units <= COMPACT_UNITS {
        COMPACT
    } else {
        TALL
    };
    // At least a column of room on each side of the block: after the input's card, and
    // between the joined vector and the nearest card to its right.
    let input_x = g.node(x).map(|m| m.pos[0]).unwrap_or(x0 - l.column);
    let left = if input_x < x0 {
        (l.column - (x0 - input_x)).max(0.0)
    } else {
        0.0
    };
    let aside: Vec<NodeId> = g
        .nodes()
        .filter(|m| m.id != id && m.pos[0] >= x0 - 1.0)
        .map(|m| m.id)
        .collect();
    let nearest = aside
        .iter()
        .filter_map(|m| g.node(*m).map(|m| m.pos[0] - x0))
        .fold(f32::INFINITY, f32::min);
    let right = (l.column - nearest).max(0.0);
    let x_start = x0 + left;
    let concat_x = x_start + l.columns * l.column;
    let shift = concat_x - x0 + right;
    for m in aside {
        if let Some(node) = g.node_mut(m) {
            node.pos[0] += shift;
        }
    }
    let col = |k: f32| x_start + k * l.column;
    let top = y0 - l.row * (units as f32 - 1.0) / 2.0;
    let mut created = Vec::new();
    let mut neurons = Vec::new();
    for j in 0..units {
        let y = top + l.row * j as f32;
        let base = format!("{}_n{j}", layer.name);
        let column: Vec<f64> = (0..n).map(|i| w[i * units + j]).collect();
        let param = Op::Parameter { init: init.clone() };
        let weights = add_named(
            g,
            param.clone(),
            &format!("{base}_w"),
            [col(0.0), y],
            Some(Array::vector(column)),
        );
        let mul = add_named(g, Op::Mul, &format!("{base}_xw"), [col(1.0), y], None);
        let sum = add_named(
            g,
            Op::Sum { axis: None },
            &format!("{base}_sum"),
            [col(2.0), y],
            None,
        );
        let bias = add_named(
            g,
            param,
            &format!("{base}_b"),
            [col(l.bias_column), y + l.row * 0.5],
            Some(Array::scalar(b[j])),
        );
        let add = add_named(g, Op::Add, &base, [col(l.columns - 1.0), y], None);
        for (from, to, port) in [
            (x, mul, 0),
            (weights, mul, 1),
            (mul, sum, 0),
            (sum, add, 0),
            (bias, add, 1),
        ] {
            g.connect(from, to, port).map_err(|e| e.to_string())?;
        }
        created.extend([weights, mul, sum, bias, add]);
        neurons.push(Neuron {
            weights,
            mul,
            sum,
            bias,
            add,
        });
    }
    // The layer's node becomes the Concat of its neurons: same id and name, so its
    // consumers keep their wires.
    g.insert_node(Node {
        id,
        name: layer.name.clone(),
        op: Op::Concat {
            inputs: units,
            axis: -1,
        },
        pos: [concat_x, y0],
        tensors: Default::default(),
    })
    .map_err(|e| e.to_string())?;
    for (j, neuron) in neurons.iter().enumerate() {
        g.connect(neuron.add, id, j).map_err(|e| e.to_string())?;
    }
    g.set_expansion(
        id,
        Expansion {
            op: layer.op.clone(),
            inputs: n,
            shift,
            pos: layer.pos,
            neurons,
        },
    );
    Ok(created)
}

/// The expanded layer that `id` belongs to (its Concat or one of its neurons' nodes).
pub fn group_of(g: &Graph, id: NodeId) -> Option<NodeId> {
    g.expansions()
        .iter()
        .find(|(layer, e)| **layer == id || e.members().any(|m| m == id))
        .map(|(layer, _)| *layer)
}

/// The name of a node for messages (its id when it is gone).
fn name(g: &Graph, id: NodeId) -> String {
    g.node(id)
        .map(|n| format!("`{}`", n.name))
        .unwrap_or_else(|| format!("node {id}"))
}

/// The layer's weight [n, units] and bias [units] read back from the neurons, and its
/// input, or why the group is no longer a Dense layer (a node deleted, rewired, given
/// another op or another shape of weights).
fn read_back(g: &Graph, layer: NodeId) -> Result<(Array, Array, NodeId), String> {
    let e = g
        .expansions()
        .get(&layer)
        .ok_or_else(|| format!("{} is not an expanded layer", name(g, layer)))?;
    let units = e.neurons.len();
    let n = e.inputs;
    let broken = |what: String| {
        format!(
            "cannot collapse {} back into a Dense layer: {what}",
            name(g, layer)
        )
    };
    for id in std::iter::once(layer).chain(e.members()) {
        if g.node(id).is_none() {
            return Err(broken(format!(
                "one of its nodes ({id}) was deleted; undo the deletion first"
            )));
        }
    }
    let op_is = |id: NodeId, want: &dyn Fn(&Op) -> bool, what: &str| {
        if want(&g.node(id).expect("checked above").op) {
            Ok(())
        } else {
            Err(broken(format!("{} is no longer {what}", name(g, id))))
        }
    };
    op_is(
        layer,
        &|op| {
            *op == Op::Concat {
                inputs: units,
                axis: -1,
            }
        },
        &format!("a Concat of {units} inputs"),
    )?;
    let wired = |from: NodeId, to: NodeId, port: usize| {
        if g.input(to, port) == Some(from) {
            Ok(())
        } else {
            Err(broken(format!(
                "{} no longer reads {} at input {}",
                name(g, to),
                name(g, from),
                port + 1
            )))
        }
    };
    let x = e
        .neurons
        .first()
        .and_then(|nr| g.input(nr.mul, 0))
        .ok_or_else(|| broken("its first neuron has no input".into()))?;
    let members: Vec<NodeId> = e.members().chain([layer]).collect();
    let distinct: std::collections::BTreeSet<NodeId> = members.iter().copied().collect();
    if distinct.len() != members.len() || distinct.contains(&x) {
        return Err(broken(
            "its record lists a node twice or its own input as a member".into(),
        ));
    }
    let mut weight = vec![0.0; n * units];
    let mut bias = Vec::with_capacity(units);
    for (j, nr) in e.neurons.iter().enumerate() {
        let param = |op: &Op| matches!(op, Op::Parameter { .. });
        op_is(nr.weights, &param, "a Parameter")?;
        op_is(nr.bias, &param, "a Parameter")?;
        op_is(nr.mul, &|op| *op == Op::Mul, "a Mul")?;
        op_is(
            nr.sum,
            &|op| *op == Op::Sum { axis: None },
            "a Sum of all values",
        )?;
        op_is(nr.add, &|op| *op == Op::Add, "an Add")?;
        wired(x, nr.mul, 0)?;
        wired(nr.weights, nr.mul, 1)?;
        wired(nr.mul, nr.sum, 0)?;
        wired(nr.sum, nr.add, 0)?;
        wired(nr.bias, nr.add, 1)?;
        wired(nr.add, layer, j)?;
        let w = g.node(nr.weights).and_then(Node::value);
        match w {
            Some(a) if numel(a.shape()) == n && a.shape().len() <= 1 => {
                for (i, v) in a.data().iter().enumerate() {
                    weight[i * units + j] = *v;
                }
            }
            _ => {
                return Err(broken(format!(
                    "{} holds {} but the layer reads {n} inputs: give it {n} values",
                    name(g, nr.weights),
                    w.map(|a| fmt_shape(a.shape()))
                        .unwrap_or_else(|| "no value".into())
                )));
            }
        }
        match g.node(nr.bias).and_then(Node::value) {
            Some(a) if a.len() == 1 && a.shape().len() <= 1 => bias.push(a.data()[0]),
            other => {
                return Err(broken(format!(
                    "{} holds {} but a bias is one number",
                    name(g, nr.bias),
                    other
                        .map(|a| fmt_shape(a.shape()))
                        .unwrap_or_else(|| "no value".into())
                )));
            }
        }
    }
    for &m in &members {
        for edge in g.edges().filter(|edge| edge.from == m) {
            if !members.contains(&edge.to) {
                if m == layer {
                    continue;
                }
                return Err(broken(format!(
                    "{} also feeds {}, which the layer would not",
                    name(g, m),
                    name(g, edge.to)
                )));
            }
        }
    }
    let weight = Array::new(vec![n, units], weight).map_err(broken)?;
    Ok((weight, Array::vector(bias), x))
}

/// Why the expanded layer `layer` cannot collapse, or `Ok` when it can.
pub fn check_collapse(g: &Graph, layer: NodeId) -> Result<(), String> {
    read_back(g, layer).map(|_| ())
}

/// Turns the expanded layer `layer` back into its Dense, with the weights and biases its
/// neurons hold now; the nodes moved aside move back.
pub fn collapse(g: &mut Graph, layer: NodeId) -> Result<(), String> {
    let (weight, bias, x) = read_back(g, layer)?;
    let e = g.take_expansion(layer).expect("read_back found it");
    let concat = g.node(layer).cloned().expect("read_back found it");
    let members: Vec<NodeId> = e.members().collect();
    for m in &members {
        g.remove(*m);
    }
    let cx = concat.pos[0];
    let back: Vec<NodeId> = g
        .nodes()
        .filter(|m| m.id != layer && m.pos[0] >= cx - 1.0)
        .map(|m| m.id)
        .collect();
    for m in back {
        if let Some(node) = g.node_mut(m) {
            node.pos[0] -= e.shift;
        }
    }
    let mut tensors = std::collections::BTreeMap::new();
    tensors.insert("weight".to_string(), weight);
    tensors.insert("bias".to_string(), bias);
    g.insert_node(Node {
        id: layer,
        name: concat.name,
        op: e.op,
        pos: e.pos,
        tensors,
    })
    .map_err(|e| e.to_string())?;
    g.connect(x, layer, 0).map_err(|e| e.to_string())?;
    Ok(())
}
