//! Comparing runs of the same graph: the settings a run is known by (optimizer, learning
//! rate, activation of the hidden layers, initializer, seed), which of them differ between
//! runs, a run's name made of those, and "run again with one setting changed" as a variant
//! of the graph and the training settings. Plain data: no burn, no egui.

use crate::graph::{Graph, Init, NodeId, Op, fmt_number};
use crate::project::training::{OptimizerKind, TrainingConfig};

/// The settings compared between runs, in the order the table shows them.
pub const KEYS: [&str; 5] = [
    "optimizer",
    "learning rate",
    "activation",
    "initializer",
    "seed",
];

/// What a run was trained with, as the compare table shows it (one text per `KEYS`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunSettings {
    pub values: [String; 5],
}

impl RunSettings {
    /// Reads the settings of a run of `graph` with `config`.
    pub fn of(graph: &Graph, config: &TrainingConfig) -> Self {
        let optimizer = match config.optimizer {
            OptimizerKind::Momentum { momentum } => {
                format!("SGD + momentum {}", fmt_number(momentum))
            }
            o => o.label().to_string(),
        };
        Self {
            values: [
                optimizer,
                fmt_number(config.learning_rate),
                summary(
                    hidden_activations(graph)
                        .iter()
                        .filter_map(|id| graph.node(*id))
                        .map(|n| activation_label(&n.op)),
                ),
                summary(graph.nodes().filter_map(|n| init_of(&n.op)).map(init_label)),
                // The project seed draws the weights, the training seed splits and shuffles.
                if graph.seed == config.seed {
                    graph.seed.to_string()
                } else {
                    format!("{} / {}", graph.seed, config.seed)
                },
            ],
        }
    }

    pub fn get(&self, key: &str) -> &str {
        KEYS.iter()
            .position(|k| *k == key)
            .map_or("", |i| self.values[i].as_str())
    }
}

/// One text for a list of labels: the label when all agree, else them joined by `+`.
fn summary(labels: impl Iterator<Item = String>) -> String {
    let mut seen: Vec<String> = Vec::new();
    for l in labels {
        if !seen.contains(&l) {
            seen.push(l);
        }
    }
    if seen.is_empty() {
        "none".into()
    } else {
        seen.join(" + ")
    }
}

/// The keys whose values are not the same in every run (in `KEYS` order).
pub fn differing(runs: &[&RunSettings]) -> Vec<&'static str> {
    KEYS.iter()
        .enumerate()
        .filter(|(i, _)| {
            runs.iter()
                .any(|r| r.values[*i] != runs.first().map_or("", |f| f.values[*i].as_str()))
        })
        .map(|(_, k)| *k)
        .collect()
}

/// A run's name in the legend: the settings that differ (`activation ReLU, seed 3 / 0`),
/// or `run N` when none does.
pub fn run_name(settings: &RunSettings, differing: &[&str], number: usize) -> String {
    if differing.is_empty() {
        return format!("run {number}");
    }
    differing
        .iter()
        .map(|k| format!("{k} {}", settings.get(k)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The activations "run again with" offers for the hidden layers.
pub const ACTIVATIONS: [Op; 4] = [
    Op::Sigmoid,
    Op::Tanh,
    Op::ReLU,
    Op::LeakyReLU { alpha: 0.01 },
];

/// The initializers "run again with" offers for every layer.
pub const INITS: [Init; 4] = [
    Init::XavierUniform,
    Init::XavierNormal,
    Init::HeUniform,
    Init::HeNormal,
];

/// One setting changed for the next run.
#[derive(Clone, Debug, PartialEq)]
pub enum Variation {
    Optimizer(OptimizerKind),
    LearningRate(f64),
    /// The activation of every hidden layer.
    Activation(Op),
    /// The initializer of every Dense, Conv2d and Parameter (their weights are drawn anew).
    Initializer(Init),
    /// The project seed (initial weights) and the training seed (split and shuffling).
    Seed(u64),
}

impl Variation {
    pub fn label(&self) -> String {
        match self {
            Variation::Optimizer(o) => format!("optimizer {}", o.label()),
            Variation::LearningRate(lr) => format!("learning rate {}", fmt_number(*lr)),
            Variation::Activation(op) => format!("activation {}", activation_label(op)),
            Variation::Initializer(i) => format!("initializer {}", init_label(i)),
            Variation::Seed(s) => format!("seed {s}"),
        }
    }

    /// The graph and settings of the next run: `graph` (holding the weights the run starts
    /// from) and `config` with this one change.
    pub fn apply(&self, graph: &Graph, config: &TrainingConfig) -> (Graph, TrainingConfig) {
        let mut g = graph.clone();
        let mut c = config.clone();
        match self {
            Variation::Optimizer(o) => c.optimizer = *o,
            Variation::LearningRate(lr) => c.learning_rate = *lr,
            Variation::Activation(op) => {
                for id in hidden_activations(&g) {
                    // An activation has one input and the same output shape, so every
                    // wire stays (set_op keeps the ports that still exist).
                    let _ = g.set_op(id, op.clone());
                }
            }
            Variation::Initializer(init) => {
                let ids: Vec<NodeId> = g.node_ids().collect();
                for id in ids {
                    let Some(op) = g.node(id).map(|n| n.op.clone()) else {
                        continue;
                    };
                    let new = match op {
                        Op::Dense { units, .. } => Op::Dense {
                            units,
                            init: init.clone(),
                        },
                        Op::Conv2d {
                            filters,
                            kernel,
                            stride,
                            padding,
                            bias,
                            ..
                        } => Op::Conv2d {
                            filters,
                            kernel,
                            stride,
                            padding,
                            bias,
                            init: init.clone(),
                        },
                        Op::Parameter { .. } => Op::Parameter { init: init.clone() },
                        _ => continue,
                    };
                    let _ = g.set_op(id, new);
                    forget_weights(&mut g, id);
                }
            }
            Variation::Seed(s) => {
                g.seed = *s;
                c.seed = *s;
                let ids: Vec<NodeId> = g.node_ids().collect();
                for id in ids {
                    if g.node(id).is_some_and(|n| init_of(&n.op).is_some()) {
                        forget_weights(&mut g, id);
                    }
                }
            }
        }
        (g, c)
    }
}

/// Removes a layer's stored weights, so training draws them from its initializer.
fn forget_weights(g: &mut Graph, id: NodeId) {
    if let Some(n) = g.node_mut(id) {
        let keys: Vec<String> = n.tensors.keys().cloned().collect();
        for k in keys {
            if k == "weight" || k == "value" {
                n.tensors.remove(&k);
            }
        }
    }
}

fn init_of(op: &Op) -> Option<&Init> {
    match op {
        Op::Dense { init, .. } | Op::Conv2d { init, .. } | Op::Parameter { init } => Some(init),
        _ => None,
    }
}

pub fn init_label(init: &Init) -> String {
    match init {
        Init::Zeros => "zeros".into(),
        Init::Constant { value } => format!("constant {}", fmt_number(*value)),
        Init::Uniform { low, high } => format!("U({}, {})", fmt_number(*low), fmt_number(*high)),
        Init::Normal { mean, std } => format!("N({}, {})", fmt_number(*mean), fmt_number(*std)),
        Init::XavierUniform => "Xavier uniform".into(),
        Init::XavierNormal => "Xavier normal".into(),
        Init::HeUniform => "He uniform".into(),
        Init::HeNormal => "He normal".into(),
    }
}

pub fn activation_label(op: &Op) -> String {
    match op {
        Op::LeakyReLU { alpha } => format!("LeakyReLU {}", fmt_number(*alpha)),
        op => op.name().to_string(),
    }
}

fn is_activation(op: &Op) -> bool {
    matches!(op, Op::Sigmoid | Op::Tanh | Op::ReLU | Op::LeakyReLU { .. })
}

/// The hidden layers' activations: activation nodes with a Dense or Conv2d after them (the
/// output's own sigmoid or softmax stays as it is). One backward sweep from the layers.
pub fn hidden_activations(g: &Graph) -> Vec<NodeId> {
    let mut producers: std::collections::BTreeMap<NodeId, Vec<NodeId>> = Default::default();
    for e in g.edges() {
        producers.entry(e.to).or_default().push(e.from);
    }
    // Every node a layer depends on (the layers themselves only through another layer).
    let mut before_a_layer = std::collections::BTreeSet::new();
    let mut stack: Vec<NodeId> = g
        .nodes()
        .filter(|n| matches!(n.op, Op::Dense { .. } | Op::Conv2d { .. }))
        .flat_map(|n| producers.get(&n.id).cloned().unwrap_or_default())
        .collect();
    while let Some(id) = stack.pop() {
        if before_a_layer.insert(id) {
            stack.extend(producers.get(&id).cloned().unwrap_or_default());
        }
    }
    g.nodes()
        .filter(|n| is_activation(&n.op) && before_a_layer.contains(&n.id))
        .map(|n| n.id)
        .collect()
}
