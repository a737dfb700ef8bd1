//! Training with burn: the graph compiled into a model (`model`), burn-optim's optimizers
//! (`optim`), a mini-batch loop with validation, early stopping and divergence detection
//! (`Trainer`, synchronous, used by the CLI, the tests and the benchmark) and the same loop
//! on a worker thread that reports through a channel (`worker`, used by the window).
//!
//! **Architecture Invariant:** training never changes the graph. It reads a copy and hands
//! trained weights back as `(node, key, Array)` triples; the caller decides to write them.
//! A non-finite loss never reaches the weights: the update of that step is not applied and
//! the weights of the last finite step are kept.

pub mod compare;
pub mod model;
pub mod optim;
pub mod remote;
pub mod stats;
pub mod timeline;
pub mod worker;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::time::Instant;

use burn::tensor::{DType, Device};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use thiserror::Error;

use crate::analysis::{Analysis, Options, Severity, analyze, analyze_with};
use crate::data::{self, DataError, Dataset, Split, Standardization, Task};
use crate::exec::layout::Readback;
use crate::exec::{Engine, EngineKind};
use crate::graph::{Array, Graph, NodeId};
use crate::project::training::{DeviceChoice, TrainingConfig};
use model::{Model, T};
use optim::Optim;
use stats::{Boundary, Confusion, Grid, Histogram, predicted_class};

/// Bins of the dashboard's histograms.
pub const BINS: usize = 30;
/// Samples whose activations and gradients the dashboard shows (the first training rows,
/// the same ones every time, so histograms compare over time).
pub const PROBE: usize = 256;

/// One parameter tensor's values and gradient on the probe batch.
#[derive(Clone, Debug, PartialEq)]
pub struct ParamStats {
    /// `dense1.weight`.
    pub label: String,
    pub node: NodeId,
    pub values: Histogram,
    pub grads: Histogram,
    /// L2 norm of dL/dW on the probe batch.
    pub grad_norm: f64,
}

/// What the dashboard shows at one moment of training.
#[derive(Clone, Debug, PartialEq)]
pub struct Snapshot {
    pub step: usize,
    /// Epochs finished.
    pub epoch: usize,
    /// Every computed node's output over the probe batch.
    pub activations: Vec<(NodeId, String, Histogram)>,
    pub params: Vec<ParamStats>,
    /// For two features and classes: the predicted class over the input plane.
    pub boundary: Option<Boundary>,
    /// For one feature and a regression: (x, prediction) along the data's range.
    pub fit: Option<Vec<[f64; 2]>>,
    /// For classes: truth against prediction on the validation set (else training).
    pub confusion: Option<Confusion>,
}

#[derive(Debug, Error, Clone, PartialEq)]
pub enum TrainError {
    #[error("{0}")]
    Binding(String),
    #[error(transparent)]
    Data(#[from] DataError),
    #[error("training settings: {0}")]
    Settings(String),
    #[error("{0}")]
    Device(String),
    #[error(
        "training diverged at step {step} (epoch {epoch}): the loss became {loss}; the first \
         non-finite value is in node `{node}` ({op}). The weights of the last finite step are \
         kept: lower the learning rate or check the inputs"
    )]
    Diverged {
        step: usize,
        epoch: usize,
        loss: String,
        node: String,
        op: String,
    },
    #[error("the compute backend failed: {0}")]
    Backend(String),
}

/// Loss and accuracy over a set of samples.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Scores {
    pub loss: f64,
    /// For classification only.
    pub accuracy: Option<f64>,
}

/// What one finished epoch measured (at the weights after it).
#[derive(Clone, Debug, PartialEq)]
pub struct EpochMetrics {
    /// 1-based.
    pub epoch: usize,
    pub step: usize,
    pub train: Scores,
    pub val: Option<Scores>,
    pub lr: f64,
    /// Training samples per second in this epoch (forward, backward and optimizer step).
    pub samples_per_s: f64,
}

/// Why training ended.
#[derive(Clone, Debug, PartialEq)]
pub enum Finish {
    Completed,
    /// Early stopping: no better validation loss for `patience` epochs; best weights kept.
    EarlyStopped {
        best_epoch: usize,
    },
}

/// The outcome of one step.
#[derive(Clone, Debug, PartialEq)]
pub struct StepReport {
    /// The mini-batch loss before the update.
    pub loss: f64,
    pub step: usize,
    /// 0-based epoch the step belonged to.
    pub epoch: usize,
    pub epoch_done: Option<EpochMetrics>,
    pub finished: Option<Finish>,
}

/// The chosen device, with what the user should be told about it.
#[derive(Clone, Debug)]
pub struct TrainDevice {
    pub device: Device,
    pub name: String,
    pub kind: EngineKind,
    /// A software adapter (lavapipe, llvmpipe): correct but slow.
    pub software: bool,
    /// Set when the choice fell back (no GPU adapter, say).
    pub notice: Option<String>,
    /// The server's address when the device is remote (`remote::connect`).
    pub remote: Option<String>,
}

impl TrainDevice {
    /// wgpu for `Auto` when a hardware adapter initializes, else the CPU with a notice (a
    /// software adapter such as lavapipe is slower than burn Flex on the same cores).
    pub fn choose(choice: DeviceChoice) -> Result<Self, TrainError> {
        let cpu = |notice: Option<String>| {
            // The same Flex device the editor evaluates on; training passes f32 explicitly.
            TrainDevice {
                device: Engine::cpu().device().clone(),
                name: "CPU (burn Flex, f32)".into(),
                kind: EngineKind::Cpu,
                software: false,
                notice,
                remote: None,
            }
        };
        match choice {
            DeviceChoice::Remote => Err(TrainError::Device(
                "the remote server needs its address: use TrainDevice::for_config".into(),
            )),
            DeviceChoice::Cpu => Ok(cpu(None)),
            DeviceChoice::Wgpu | DeviceChoice::Auto => match Engine::wgpu() {
                Ok(engine) => {
                    let device = engine.device().clone();
                    let ident = catch_unwind(AssertUnwindSafe(|| device.identity()))
                        .ok()
                        .flatten();
                    let (adapter, software) = match ident {
                        Some(id) => {
                            let lower = id.name.to_lowercase();
                            let soft = id.physical.is_none()
                                || lower.contains("llvmpipe")
                                || lower.contains("lavapipe")
                                || lower.contains("swiftshader");
                            (id.name, soft)
                        }
                        None => ("unknown adapter".to_string(), false),
                    };
                    if software && choice == DeviceChoice::Auto {
                        return Ok(cpu(Some(format!(
                            "The only GPU adapter is a software one ({adapter}): training on the \
                             CPU, which is faster; choose GPU (wgpu) to use it anyway"
                        ))));
                    }
                    Ok(TrainDevice {
                        device,
                        name: format!(
                            "GPU (burn wgpu, f32): {adapter}{}",
                            if software { " (software adapter)" } else { "" }
                        ),
                        kind: EngineKind::Wgpu,
                        software,
                        notice: None,
                        remote: None,
                    })
                }
                Err(e) if choice == DeviceChoice::Auto => Ok(cpu(Some(format!(
                    "No GPU: training on the CPU instead ({e})"
                )))),
                Err(e) => Err(TrainError::Device(format!(
                    "the GPU (wgpu) was asked for, but {e}: choose CPU or Auto"
                ))),
            },
        }
    }
}

impl TrainDevice {
    /// The device `config` asks for; a remote one connects (and blocks until it has).
    pub fn for_config(config: &TrainingConfig) -> Result<Self, TrainError> {
        match config.device {
            DeviceChoice::Remote => remote::connect(&remote::spec_of(config)),
            d => Self::choose(d),
        }
    }
}

/// The dataset as training sees it: split and, when asked, standardized.
#[derive(Clone, Debug)]
pub struct Prepared {
    pub data: Dataset,
    pub split: Split,
    pub standardization: Option<Standardization>,
}

impl Prepared {
    pub fn new(config: &TrainingConfig, base: Option<&Path>) -> Result<Self, TrainError> {
        let mut data = data::load(&config.dataset, base, config.seed)?;
        let split = data::split(data.len(), config.validation, config.seed);
        let standardization = config.standardize.then(|| {
            let s = Standardization::fit(&data, &split.train);
            s.apply(&mut data);
            s
        });
        Ok(Self {
            data,
            split,
            standardization,
        })
    }
}

/// The training loop, one mini-batch per `step`.
pub struct Trainer {
    pub config: TrainingConfig,
    pub model: Model,
    pub prepared: Prepared,
    pub device: TrainDevice,
    dtype: DType,
    params: Vec<T>,
    /// BatchNorm running statistics: updated by training, not by the optimizer.
    buffers: Vec<T>,
    fixed: Vec<Option<T>>,
    last_good: Vec<T>,
    optim: Optim,
    rng: StdRng,
    order: Vec<usize>,
    at: usize,
    epoch: usize,
    step: usize,
    epoch_busy: f64,
    epoch_samples: usize,
    busy_total: f64,
    samples_total: usize,
    best: Option<(f64, usize, Vec<T>)>,
    pub history: Vec<EpochMetrics>,
    finished: Option<Finish>,
}

const EVAL_CHUNK: usize = 256;

impl Trainer {
    /// Compiles `graph` for `config` on `device`. `base` resolves dataset file paths.
    pub fn new(
        graph: &Graph,
        config: &TrainingConfig,
        prepared: Prepared,
        device: TrainDevice,
    ) -> Result<Self, TrainError> {
        let problems = config.problems();
        if !problems.is_empty() {
            return Err(TrainError::Settings(problems.join("; ")));
        }
        let analysis = analyze(graph);
        let model = Model::compile(
            graph,
            &analysis,
            &prepared.data,
            &config.features,
            &config.target,
        )?;
        let batch = config.batch_size.min(prepared.split.train.len()).max(1);
        batch_fits(graph, config.batch_size, batch).map_err(TrainError::Settings)?;
        let dtype = DType::F32;
        // Dropout masks follow the run's seed.
        device.device.seed(config.seed);
        let (params, buffers, fixed) = guard(|| {
            (
                model.initial_params(&device.device, dtype),
                model.initial_buffers(&device.device, dtype),
                model.fixed_values(&device.device, dtype),
            )
        })?;
        let optim = Optim::new(config.optimizer, config.weight_decay, params.len());
        let mut t = Self {
            rng: StdRng::seed_from_u64(config.seed ^ 0x0005_4FF1),
            config: config.clone(),
            last_good: params.clone(),
            params,
            buffers,
            fixed,
            optim,
            model,
            prepared,
            device,
            dtype,
            order: Vec::new(),
            at: 0,
            epoch: 0,
            step: 0,
            epoch_busy: 0.0,
            epoch_samples: 0,
            busy_total: 0.0,
            samples_total: 0,
            best: None,
            history: Vec::new(),
            finished: None,
        };
        t.shuffle();
        Ok(t)
    }

    fn shuffle(&mut self) {
        self.order = self.prepared.split.train.clone();
        self.order.shuffle(&mut self.rng);
        self.at = 0;
    }

    pub fn epoch(&self) -> usize {
        self.epoch
    }

    pub fn steps_done(&self) -> usize {
        self.step
    }

    pub fn steps_per_epoch(&self) -> usize {
        self.prepared
            .split
            .train
            .len()
            .div_ceil(self.config.batch_size.max(1))
    }

    pub fn finished(&self) -> Option<&Finish> {
        self.finished.as_ref()
    }

    pub fn is_classification(&self) -> bool {
        matches!(self.prepared.data.task, Task::Classification { .. })
    }

    fn eps(&self) -> f64 {
        crate::graph::ops::BCE_EPS_F32
    }

    /// One mini-batch: forward, backward, optimizer step. At the end of an epoch it also
    /// scores the training and validation sets.
    pub fn step(&mut self) -> Result<StepReport, TrainError> {
        if let Some(f) = &self.finished {
            return Ok(StepReport {
                loss: f64::NAN,
                step: self.step,
                epoch: self.epoch,
                epoch_done: None,
                finished: Some(f.clone()),
            });
        }
        let started = Instant::now();
        let bs = self.config.batch_size.max(1);
        let end = self.at.saturating_add(bs).min(self.order.len());
        let rows: Vec<usize> = self.order[self.at..end].to_vec();
        let lr = self.config.lr_at(self.epoch);
        let loss = guard(|| self.train_batch(&rows, lr))??;
        self.step += 1;
        self.at = end;
        let busy = started.elapsed().as_secs_f64();
        self.epoch_busy += busy;
        self.busy_total += busy;
        self.epoch_samples += rows.len();
        self.samples_total += rows.len();
        let mut report = StepReport {
            loss,
            step: self.step,
            epoch: self.epoch,
            epoch_done: None,
            finished: None,
        };
        if self.at >= self.order.len() {
            let metrics = self.end_epoch(lr)?;
            report.epoch_done = Some(metrics);
            report.finished = self.finished.clone();
        }
        Ok(report)
    }

    fn train_batch(&mut self, rows: &[usize], lr: f64) -> Result<f64, TrainError> {
        let (x, y) = self
            .model
            .batch(&self.prepared.data, rows, &self.device.device, self.dtype);
        let vals = self.model.forward(
            x,
            y,
            &self.params,
            &self.buffers,
            &self.fixed,
            self.eps(),
            true,
        );
        let buffer_updates = self.model.buffer_updates(&vals, &self.buffers);
        let loss_t = self
            .model
            .loss_of(&vals, rows.len())
            .ok_or_else(|| TrainError::Backend("the loss could not be computed".into()))?;
        if !loss_t.is_tracked() {
            return Err(self.untrainable());
        }
        let grads = loss_t.clone().backward();
        // A failed read (a remote server gone) is an error, not a panic.
        let loss = loss_t
            .inner()
            .try_into_data()
            .map_err(|e| TrainError::Backend(e.to_string()))?
            .convert::<f64>()
            .try_to_vec::<f64>()
            .ok()
            .and_then(|v| v.first().copied())
            .unwrap_or(f64::NAN);
        if !loss.is_finite() {
            return Err(self.diagnose(rows, loss));
        }
        self.last_good = self.params.clone();
        for (i, t) in buffer_updates {
            self.buffers[i] = t;
        }
        for i in 0..self.params.len() {
            let p = self.params[i].clone();
            if let Some(g) = p.grad(&grads) {
                self.params[i] = self.optim.step(i, lr, p, g);
            }
        }
        Ok(loss)
    }

    /// The loss reaches no trainable tensor through a differentiable path.
    fn untrainable(&self) -> TrainError {
        TrainError::Binding(format!(
            "the loss `{}` does not depend on any weight through a path gradients can pass \
             (a Step has derivative 0, and a graph without Parameters, Dense, Conv2d or PReLU \
             nodes has nothing to train): nothing can learn",
            self.model.output_name()
        ))
    }

    /// Restores the last finite weights and names the first node with a non-finite value.
    fn diagnose(&mut self, rows: &[usize], loss: f64) -> TrainError {
        let vals = self.forward_plain(&self.prepared.data, rows);
        let mut rb = Readback::default();
        let slots: Vec<Option<usize>> = vals.into_iter().map(|v| v.map(|t| rb.push(t))).collect();
        let (node, op) = match rb.fetch() {
            Ok(data) => {
                let values: Vec<Option<Vec<f64>>> = slots
                    .into_iter()
                    .map(|s| s.map(|i| data[i].clone()))
                    .collect();
                self.model
                    .first_non_finite(&values)
                    .map(|(n, op)| (n, op.to_string()))
                    .unwrap_or_else(|| ("(a parameter)".into(), "weights".into()))
            }
            Err(e) => (format!("(unknown: {e})"), "?".into()),
        };
        self.params = self.last_good.clone();
        TrainError::Diverged {
            step: self.step + 1,
            epoch: self.epoch + 1,
            loss: format!("{loss}"),
            node,
            op,
        }
    }

    fn end_epoch(&mut self, lr: f64) -> Result<EpochMetrics, TrainError> {
        let samples_per_s = self.epoch_samples as f64 / self.epoch_busy.max(1e-9);
        let train = self.score(&self.prepared.split.train.clone())?;
        let val = if self.prepared.split.val.is_empty() {
            None
        } else {
            Some(self.score(&self.prepared.split.val.clone())?)
        };
        if !train.loss.is_finite() {
            // The last update broke the weights: name where, and go back to the last finite.
            let rows: Vec<usize> = self
                .prepared
                .split
                .train
                .iter()
                .take(4096)
                .copied()
                .collect();
            self.step -= 1;
            return Err(self.diagnose(&rows, train.loss));
        }
        self.epoch += 1;
        let metrics = EpochMetrics {
            epoch: self.epoch,
            step: self.step,
            train,
            val,
            lr,
            samples_per_s,
        };
        self.history.push(metrics.clone());
        self.epoch_busy = 0.0;
        self.epoch_samples = 0;
        if let Some(v) = val {
            let better = self.best.as_ref().is_none_or(|(b, _, _)| v.loss < *b);
            if better {
                self.best = Some((v.loss, self.epoch, self.params.clone()));
            } else if let Some((_, best_epoch, best)) = &self.best {
                if self.config.patience > 0 && self.epoch - best_epoch >= self.config.patience {
                    self.params = best.clone();
                    self.finished = Some(Finish::EarlyStopped {
                        best_epoch: *best_epoch,
                    });
                }
            }
        }
        if self.finished.is_none() && self.epoch >= self.config.epochs {
            self.finished = Some(Finish::Completed);
        }
        self.shuffle();
        Ok(metrics)
    }

    /// Loss (mean per sample) and accuracy over `rows`, without autodiff.
    pub fn score(&self, rows: &[usize]) -> Result<Scores, TrainError> {
        guard(|| self.score_inner(rows))?
    }

    fn score_inner(&self, rows: &[usize]) -> Result<Scores, TrainError> {
        let mut loss_sum = 0.0;
        let mut correct = 0usize;
        let pred_len = self.model.pred_len().unwrap_or(1);
        let classify = self.is_classification() && self.model.pred_len().is_some();
        for chunk in rows.chunks(EVAL_CHUNK) {
            let vals = self.forward_plain(&self.prepared.data, chunk);
            let (per, pred) = self.model.per_sample(&vals);
            let mut rb = Readback::default();
            let ls = per.map(|t| rb.push(t));
            let ps = if classify {
                pred.map(|t| rb.push(t))
            } else {
                None
            };
            let data = rb.fetch().map_err(TrainError::Backend)?;
            if let Some(ls) = ls {
                loss_sum += data[ls].iter().sum::<f64>();
            }
            if let Some(ps) = ps {
                for (k, &r) in chunk.iter().enumerate() {
                    let p = &data[ps][k * pred_len..(k + 1) * pred_len];
                    if predicted_class(p) == self.prepared.data.targets[r] as usize {
                        correct += 1;
                    }
                }
            }
        }
        let n = rows.len().max(1) as f64;
        Ok(Scores {
            loss: loss_sum / n,
            accuracy: classify.then(|| correct as f64 / n),
        })
    }

    /// The dashboard's snapshot: activations, weights and gradients on the probe batch, the
    /// decision boundary or fitted curve, the confusion matrix.
    pub fn snapshot(&self) -> Result<Snapshot, TrainError> {
        guard(|| self.snapshot_inner())?
    }

    fn snapshot_inner(&self) -> Result<Snapshot, TrainError> {
        let data = &self.prepared.data;
        let probe: Vec<usize> = self
            .prepared
            .split
            .train
            .iter()
            .take(PROBE)
            .copied()
            .collect();
        let (x, y) = self
            .model
            .batch(data, &probe, &self.device.device, self.dtype);
        let vals = self.model.forward(
            x,
            y,
            &self.params,
            &self.buffers,
            &self.fixed,
            self.eps(),
            false,
        );
        let loss = self
            .model
            .loss_of(&vals, probe.len())
            .ok_or_else(|| TrainError::Backend("the loss could not be computed".into()))?;
        if !loss.is_tracked() {
            return Err(self.untrainable());
        }
        let grads = loss.backward();
        let mut rb = Readback::default();
        let acts: Vec<(NodeId, String, usize)> = self
            .model
            .activation_nodes()
            .into_iter()
            .filter_map(|(pos, id, name)| vals[pos].clone().map(|t| (id, name, rb.push(t))))
            .collect();
        let params: Vec<(usize, Option<usize>)> = self
            .params
            .iter()
            .map(|p| (rb.push(p.clone()), p.grad(&grads).map(|g| rb.push(g))))
            .collect();
        let got = rb.fetch().map_err(TrainError::Backend)?;
        let activations = acts
            .into_iter()
            .map(|(id, name, slot)| (id, name, Histogram::of(&got[slot], BINS)))
            .collect();
        let params = self
            .model
            .params
            .iter()
            .zip(params)
            .map(|(info, (v, g))| {
                let grad = g.map(|g| got[g].as_slice()).unwrap_or(&[]);
                ParamStats {
                    label: format!("{}.{}", info.node_name, info.key),
                    node: info.node,
                    values: Histogram::of(&got[v], BINS),
                    grads: Histogram::of(grad, BINS),
                    grad_norm: grad.iter().map(|v| v * v).sum::<f64>().sqrt(),
                }
            })
            .collect();
        let pred_len = self.model.pred_len();
        let classes = data.classes();
        let boundary = match (data.feature_len(), classes, pred_len) {
            (2, Some(_), Some(pl)) => {
                let grid = Grid::around(&data.features, 48);
                let pred = self.predict(&grid.points())?;
                Some(Boundary::from_predictions(grid, &pred, pl))
            }
            _ => None,
        };
        let fit = match (data.feature_len(), classes, pred_len) {
            (1, None, Some(1)) => {
                let (lo, hi) = data
                    .features
                    .iter()
                    .fold((f32::MAX, f32::MIN), |(a, b), &v| (a.min(v), b.max(v)));
                let xs: Vec<f32> = (0..200)
                    .map(|i| lo + (hi - lo) * i as f32 / 199.0)
                    .collect();
                let pred = self.predict(&xs)?;
                Some(xs.iter().zip(pred).map(|(&x, p)| [x as f64, p]).collect())
            }
            _ => None,
        };
        let confusion = match (classes, pred_len) {
            (Some(c), Some(pl)) => {
                let (rows, on) = if self.prepared.split.val.is_empty() {
                    (&self.prepared.split.train, "training")
                } else {
                    (&self.prepared.split.val, "validation")
                };
                let rows: Vec<usize> = rows.iter().take(5000).copied().collect();
                let pred = self.predict_rows(data, &rows)?;
                let mut m = Confusion::new(c, on);
                for (k, &r) in rows.iter().enumerate() {
                    let p = predicted_class(&pred[k * pl..(k + 1) * pl]);
                    m.add(r, data.targets[r] as usize, p);
                }
                Some(m)
            }
            _ => None,
        };
        Ok(Snapshot {
            step: self.step,
            epoch: self.epoch,
            activations,
            params,
            boundary,
            fit,
            confusion,
        })
    }

    /// Predictions for arbitrary feature rows (the decision boundary, the fitted curve).
    pub fn predict(&self, features: &[f32]) -> Result<Vec<f64>, TrainError> {
        let d = self.prepared.data.feature_len();
        let n = features.len() / d.max(1);
        let probe = Dataset {
            name: String::new(),
            features: features[..n * d].to_vec(),
            feature_shape: self.prepared.data.feature_shape.clone(),
            targets: vec![0.0; n],
            task: crate::data::Task::Regression,
            image: None,
            labels_from: None,
        };
        let rows: Vec<usize> = (0..n).collect();
        self.predict_rows(&probe, &rows)
    }

    /// The prediction (the loss's first input) for `rows` of `data`, row after row.
    fn predict_rows(&self, data: &Dataset, rows: &[usize]) -> Result<Vec<f64>, TrainError> {
        guard(|| {
            let mut out = Vec::with_capacity(rows.len() * self.model.pred_len().unwrap_or(1));
            for chunk in rows.chunks(EVAL_CHUNK) {
                let vals = self.forward_plain(data, chunk);
                let (_, pred) = self.model.per_sample(&vals);
                let mut rb = Readback::default();
                if let Some(p) = pred {
                    rb.push(p);
                }
                let got = rb.fetch().map_err(TrainError::Backend)?;
                if let Some(v) = got.into_iter().next() {
                    out.extend(v);
                }
            }
            Ok(out)
        })?
    }

    /// The forward pass over `rows` of `data` without autodiff and in inference mode
    /// (scoring, predictions, the divergence diagnosis).
    fn forward_plain(&self, data: &Dataset, rows: &[usize]) -> Vec<Option<T>> {
        let inner = |ts: &[T]| ts.iter().map(|t| t.clone().inner()).collect::<Vec<T>>();
        let fixed: Vec<Option<T>> = self.fixed.iter().map(|f| f.clone().map(T::inner)).collect();
        let (x, y) = self
            .model
            .batch(data, rows, &self.device.device, self.dtype);
        self.model.forward(
            x.inner(),
            y.inner(),
            &inner(&self.params),
            &inner(&self.buffers),
            &fixed,
            self.eps(),
            false,
        )
    }

    /// The current weights, for writing back into the graph.
    pub fn weights(&self) -> Result<Vec<(NodeId, String, Array)>, TrainError> {
        guard(|| {
            let mut rb = Readback::default();
            for p in self.params.iter().chain(&self.buffers) {
                rb.push(p.clone());
            }
            let data = rb.fetch().map_err(TrainError::Backend)?;
            self.model
                .params
                .iter()
                .chain(&self.model.buffers)
                .zip(data)
                .map(|(info, v)| {
                    Array::new(info.shape.clone(), v)
                        .map(|a| (info.node, info.key.to_string(), a))
                        .map_err(TrainError::Backend)
                })
                .collect()
        })?
    }

    /// Training samples per second over the whole run (forward, backward and optimizer
    /// step; scoring at the end of each epoch is not counted).
    pub fn throughput(&self) -> f64 {
        self.samples_total as f64 / self.busy_total.max(1e-9)
    }

    /// Stops at the current weights (the caller's Stop).
    pub fn stop(&mut self) {
        self.finished.get_or_insert(Finish::Completed);
    }
}

/// Whether training batches of `batch` samples (the project asks for `batch_size`) fit the
/// memory budget. It runs the analysis's own memory rule at that batch: every node's values
/// and gradients for the whole batch, forward and backward, plus the owned tensors once.
/// The message names the first node that no longer fits and the largest batch that does.
/// Call it on a graph without errors at batch 1 (`Model::compile` refuses the others).
pub fn batch_fits(graph: &Graph, batch_size: usize, batch: usize) -> Result<(), String> {
    let at = |b: usize| {
        analyze_with(
            graph,
            &Options {
                batch: b,
                ..Options::default()
            },
        )
    };
    let first_error = |a: &Analysis| {
        a.diagnostics
            .iter()
            .find(|d| d.severity == Severity::Error)
            .cloned()
    };
    let Some(d) = first_error(&at(batch)) else {
        return Ok(());
    };
    if batch <= 1 || first_error(&at(1)).is_some() {
        return Ok(()); // not a matter of the batch: the graph's own diagnostics say it
    }
    // Memory grows with the batch, so the largest batch that fits is a binary search.
    let (mut fits, mut fails) = (1usize, batch);
    while fails - fits > 1 {
        let mid = fits + (fails - fits) / 2;
        if first_error(&at(mid)).is_none() {
            fits = mid;
        } else {
            fails = mid;
        }
    }
    Err(format!(
        "batch_size is {batch_size}: with {batch} samples in a batch, {}: {}. Training holds \
         every node's values and gradients for the whole batch: use a batch_size of at most \
         {fits}",
        d.place, d.message
    ))
}

/// What `nodegrad check` says about a project's training settings without loading the
/// dataset: settings that cannot train, generator settings past the memory budget, and a
/// batch too large for the budget (for a generated set, at most its sample count).
pub fn check_training(graph: &Graph, config: &TrainingConfig) -> Vec<String> {
    let mut out = config.problems();
    if let Err(e) = data::generate::check(&config.dataset, data::memory_budget()) {
        out.push(e.to_string());
        return out;
    }
    if config.batch_size > 0 {
        let batch = data::known_samples(&config.dataset)
            .map_or(config.batch_size, |n| n.min(config.batch_size));
        if let Err(e) = batch_fits(graph, config.batch_size, batch.max(1)) {
            out.push(e);
        }
    }
    out
}

/// Per-epoch metrics as CSV: `epoch,step,loss,val_loss,accuracy,val_accuracy,lr,samples_per_s`
/// (empty cells where a value does not apply).
pub fn metrics_csv(rows: &[EpochMetrics]) -> Result<Vec<u8>, String> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record([
        "epoch",
        "step",
        "loss",
        "val_loss",
        "accuracy",
        "val_accuracy",
        "lr",
        "samples_per_s",
    ])
    .map_err(|e| e.to_string())?;
    let opt = |v: Option<f64>| v.map(|x| x.to_string()).unwrap_or_default();
    for m in rows {
        w.write_record([
            m.epoch.to_string(),
            m.step.to_string(),
            m.train.loss.to_string(),
            opt(m.val.map(|v| v.loss)),
            opt(m.train.accuracy),
            opt(m.val.and_then(|v| v.accuracy)),
            m.lr.to_string(),
            format!("{:.0}", m.samples_per_s),
        ])
        .map_err(|e| e.to_string())?;
    }
    w.into_inner().map_err(|e| e.to_string())
}

/// Runs burn code; a panic inside burn becomes an error, never a crash.
fn guard<R>(f: impl FnOnce() -> R) -> Result<R, TrainError> {
    catch_unwind(AssertUnwindSafe(f)).map_err(|p| TrainError::Backend(panic_text(p.as_ref())))
}

/// The message a panic carried.
fn panic_text(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<String>()
        .cloned()
        .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "unknown panic".into())
}

/// Trains until done (the CLI and the tests). `on_step` sees every step's report.
pub fn train_to_end(
    trainer: &mut Trainer,
    mut on_step: impl FnMut(&Trainer, &StepReport),
) -> Result<Finish, TrainError> {
    loop {
        let r = trainer.step()?;
        on_step(trainer, &r);
        if let Some(f) = r.finished {
            return Ok(f);
        }
    }
}
