//! Training runs saved with a project (opt-in): each run's settings, its per-epoch curves
//! and its timeline's weights, so the timeline and the compared runs are there again when
//! the project is reopened. The dashboard's snapshots are not saved (they are recomputed
//! from data the file does not hold); the weights and curves are.
//!
//! A runs section is checked like the rest of the format: counts and sizes against limits,
//! every weight naming an existing node, a tensor that node owns and, where the node holds
//! that tensor, its shape; the same tensor has one shape in every frame of a run.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::format::ValueFile;
use super::training::TrainingConfig;
use super::{to_array, to_value_file};
use crate::graph::{Array, Graph, NodeId, Op};

/// At most this many runs in a file.
pub const MAX_RUNS: usize = 32;
/// At most this many frames in one run.
pub const MAX_FRAMES: usize = 10_000;
/// At most this many epochs of curves in one run.
pub const MAX_EPOCHS: usize = 1_000_000;
/// At most this many weight numbers over all runs and frames (512 MiB as f64).
pub const MAX_NUMBERS: usize = 1 << 26;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunFile {
    pub training: TrainingConfig,
    /// The project seed the run drew its weights with.
    #[serde(default)]
    pub seed: u64,
    /// Nodes whose op differed in this run (another activation or initializer), by name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub ops: BTreeMap<String, Op>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub epochs: Vec<EpochFile>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub frames: Vec<FrameFile>,
}

/// One epoch's numbers, as the curves draw them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EpochFile {
    pub epoch: usize,
    pub step: usize,
    pub loss: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub val_loss: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accuracy: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub val_accuracy: Option<f64>,
    pub lr: f64,
}

/// A timeline frame: node name -> tensor key -> value.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FrameFile {
    pub epoch: usize,
    pub step: usize,
    pub weights: BTreeMap<String, BTreeMap<String, ValueFile>>,
}

/// A saved run in memory: names resolved to node ids.
#[derive(Clone, Debug, PartialEq)]
pub struct SavedRun {
    pub training: TrainingConfig,
    pub seed: u64,
    pub ops: Vec<(NodeId, Op)>,
    pub epochs: Vec<EpochFile>,
    pub frames: Vec<SavedFrame>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct SavedFrame {
    pub epoch: usize,
    pub step: usize,
    pub weights: Vec<(NodeId, String, Array)>,
}

impl SavedRun {
    /// The graph this run trained: `graph` with the run's ops and seed.
    pub fn graph(&self, graph: &Graph) -> Graph {
        let mut g = graph.clone();
        g.seed = self.seed;
        for (id, op) in &self.ops {
            let _ = g.set_op(*id, op.clone());
        }
        g
    }
}

/// Problems are (text to locate in the file, occurrence, message), like the rest of loading.
type Located = (String, usize, String);

/// Checks the runs section against `graph` and resolves names.
/// `trainings_before` is how many `training` fields come before the runs section (the
/// project's own), so a problem is located at its run.
pub fn from_files(
    files: &[RunFile],
    graph: &Graph,
    trainings_before: usize,
) -> Result<Vec<SavedRun>, Located> {
    let at_runs = |m: String| ("runs".to_string(), 0, m);
    if files.len() > MAX_RUNS {
        return Err(at_runs(format!(
            "{} runs are saved: at most {MAX_RUNS} are allowed",
            files.len()
        )));
    }
    let mut numbers = 0usize;
    let mut out = Vec::with_capacity(files.len());
    for (r, file) in files.iter().enumerate() {
        let run = r + 1;
        let here = |m: String| {
            (
                "training".to_string(),
                r + trainings_before,
                format!("run {run}: {m}"),
            )
        };
        if file.frames.len() > MAX_FRAMES {
            return Err(here(format!(
                "{} timeline frames: at most {MAX_FRAMES} are allowed",
                file.frames.len()
            )));
        }
        if file.epochs.len() > MAX_EPOCHS {
            return Err(here(format!(
                "{} epochs: at most {MAX_EPOCHS} are allowed",
                file.epochs.len()
            )));
        }
        if let Some(p) = file.training.problems().first() {
            return Err(here(format!("training: {p}")));
        }
        let mut ops = Vec::new();
        for (name, op) in &file.ops {
            let node = graph
                .find(name)
                .ok_or_else(|| here(format!("ops names `{name}`, but no node is called that")))?;
            if let Err(m) = op.check_settings() {
                return Err(here(format!("ops of `{name}`: {m}")));
            }
            ops.push((node.id, op.clone()));
        }
        let run_graph = {
            let mut g = graph.clone();
            for (id, op) in &ops {
                let _ = g.set_op(*id, op.clone());
            }
            g
        };
        let mut shapes: BTreeMap<(NodeId, String), Vec<usize>> = BTreeMap::new();
        let mut frames = Vec::with_capacity(file.frames.len());
        for (f, ff) in file.frames.iter().enumerate() {
            let frame_here = |m: String| here(format!("frame {} (epoch {}): {m}", f + 1, ff.epoch));
            let mut weights = Vec::new();
            for (name, tensors) in &ff.weights {
                let node = run_graph.find(name).ok_or_else(|| {
                    frame_here(format!("weights of `{name}`, but no node is called that"))
                })?;
                let owned: Vec<&str> = node
                    .op
                    .owned_tensors(&[], None)
                    .iter()
                    .map(|t| t.key)
                    .collect();
                for (key, v) in tensors {
                    if !owned.contains(&key.as_str()) {
                        return Err(frame_here(format!(
                            "`{name}` ({}) has no tensor `{key}`: it holds {}",
                            node.op.name(),
                            if owned.is_empty() {
                                "none".to_string()
                            } else {
                                owned.join(", ")
                            }
                        )));
                    }
                    let len = match v {
                        ValueFile::Scalar(_) => 1,
                        ValueFile::Vector(x) => x.len(),
                        ValueFile::Tensor { data, .. } => data.len(),
                    };
                    numbers = numbers
                        .checked_add(len)
                        .filter(|n| *n <= MAX_NUMBERS)
                        .ok_or_else(|| {
                            frame_here(format!(
                                "the runs hold more than {MAX_NUMBERS} weight numbers: save \
                                 fewer runs or a smaller timeline"
                            ))
                        })?;
                    let a =
                        to_array(v).map_err(|m| frame_here(format!("{key} of `{name}`: {m}")))?;
                    if let Some(now) = node.tensors.get(key) {
                        if now.shape() != a.shape() {
                            return Err(frame_here(format!(
                                "{key} of `{name}` has shape {:?}, but the node's is {:?}",
                                a.shape(),
                                now.shape()
                            )));
                        }
                    }
                    let first = shapes
                        .entry((node.id, key.clone()))
                        .or_insert_with(|| a.shape().to_vec());
                    if first.as_slice() != a.shape() {
                        return Err(frame_here(format!(
                            "{key} of `{name}` has shape {:?}, but {:?} in an earlier frame",
                            a.shape(),
                            first
                        )));
                    }
                    if a.data().iter().any(|x| !x.is_finite()) {
                        return Err(frame_here(format!(
                            "{key} of `{name}` holds a number that is not finite"
                        )));
                    }
                    weights.push((node.id, key.clone(), a));
                }
            }
            frames.push(SavedFrame {
                epoch: ff.epoch,
                step: ff.step,
                weights,
            });
        }
        out.push(SavedRun {
            training: file.training.clone(),
            seed: file.seed,
            ops,
            epochs: file.epochs.clone(),
            frames,
        });
    }
    Ok(out)
}

/// The runs section for `graph` (names from the graph; tensors of nodes that are gone are
/// left out).
pub fn to_files(runs: &[SavedRun], graph: &Graph) -> Vec<RunFile> {
    let name = |id: NodeId| graph.node(id).map(|n| n.name.clone());
    runs.iter()
        .map(|r| RunFile {
            training: r.training.clone(),
            seed: r.seed,
            ops: r
                .ops
                .iter()
                .filter_map(|(id, op)| name(*id).map(|n| (n, op.clone())))
                .collect(),
            epochs: r.epochs.clone(),
            frames: r
                .frames
                .iter()
                .map(|f| {
                    let mut weights: BTreeMap<String, BTreeMap<String, ValueFile>> =
                        BTreeMap::new();
                    for (id, key, a) in &f.weights {
                        if let Some(n) = name(*id) {
                            weights
                                .entry(n)
                                .or_default()
                                .insert(key.clone(), to_value_file(a));
                        }
                    }
                    FrameFile {
                        epoch: f.epoch,
                        step: f.step,
                        weights,
                    }
                })
                .collect(),
        })
        .collect()
}

/// About how many bytes the runs section adds to the saved file.
pub fn saved_len(runs: &[SavedRun], graph: &Graph) -> usize {
    if runs.is_empty() {
        return 0;
    }
    ron::to_string(&to_files(runs, graph)).map_or(0, |s| s.len())
}
