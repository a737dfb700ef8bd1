//! Project file format, version 1: the project's own serialization structs, separate from
//! the runtime graph (never burn's, snarl's or any widget's types). Edges are written as
//! each node's `inputs: {"port": "producer"}`, so a teacher can read and write them by name.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::graph::Op;

pub const FORMAT_VERSION: u32 = 1;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProjectFile {
    pub version: u32,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub title: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// Name of the node to differentiate; absent: the loss node, else the single sink.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub seed: u64,
    /// An exercise: open in quiz mode, asking for the listed nodes (all when empty).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quiz: Option<QuizFile>,
    /// The dataset binding and training settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub training: Option<super::training::TrainingConfig>,
    pub nodes: Vec<NodeFile>,
    /// Dense layers opened into their neurons (`graph::expand`), so they still collapse
    /// after the file is reopened. Older files have none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub expanded: Vec<ExpandedFile>,
    /// Training runs saved with the project (opt-in): settings, curves, timeline weights.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub runs: Vec<super::runs::RunFile>,
}

/// An expanded Dense layer: the layer's node (now the Concat of its neurons) and each
/// neuron's nodes, by name.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpandedFile {
    pub layer: String,
    /// The Dense op it collapses back into.
    pub op: Op,
    /// The layer's input length.
    pub inputs: usize,
    /// How far the nodes right of the layer were moved aside.
    #[serde(default)]
    pub shift: f32,
    /// Where the layer's card goes back on collapse.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pos: Option<(f32, f32)>,
    pub neurons: Vec<NeuronFile>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NeuronFile {
    pub weights: String,
    pub mul: String,
    pub sum: String,
    pub bias: String,
    pub add: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuizFile {
    /// Names of the nodes whose values and gradients are asked; empty: every node.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ask: Vec<String>,
    /// An answer is right when |answer - truth| <= tolerance * max(1, |truth|).
    #[serde(default = "default_tolerance")]
    pub tolerance: f64,
}

fn default_tolerance() -> f64 {
    0.01
}

fn is_zero(v: &u64) -> bool {
    *v == 0
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeFile {
    /// Stable id; hand-written files may leave it out and get one on load.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<u64>,
    pub name: String,
    pub op: Op,
    /// The value of an Input, Constant or Parameter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<ValueFile>,
    /// Other stored tensors: a Dense's `weight` and `bias`, a PReLU's `alpha`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub params: BTreeMap<String, ValueFile>,
    /// Input port name -> name of the node that feeds it.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub inputs: BTreeMap<String, String>,
    /// Canvas position.
    #[serde(default)]
    pub pos: (f32, f32),
}

/// A value as a person writes it: `Scalar(5.0)`, `Vector([1.0, 2.0])`,
/// `Tensor(shape: [2, 2], data: [1.0, 0.0, 0.0, 1.0])` (row-major).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum ValueFile {
    Scalar(f64),
    Vector(Vec<f64>),
    Tensor { shape: Vec<usize>, data: Vec<f64> },
}

/// Only the version, read first so a newer file is refused with a clear message.
#[derive(Deserialize)]
pub struct VersionProbe {
    pub version: u32,
}
