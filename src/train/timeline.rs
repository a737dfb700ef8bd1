//! A run's history: the weights (and the dashboard's snapshot) at chosen epochs, within a
//! memory budget. Every epoch is kept until the budget is reached; then every other frame
//! goes (the first and the latest always stay) and from then on only every 2nd, 4th, ...
//! epoch is kept, so the frames stay evenly spread over the run.
//!
//! Plain data: the worker captures frames (`Frame::capture`) and sends them to the window.

use super::worker::Weights;
use super::{Snapshot, TrainError, Trainer};

/// The timeline's default budget: 64 MB per run.
pub const DEFAULT_BUDGET: usize = 64_000_000;

/// The network at the end of one epoch (epoch 0: before the first step).
#[derive(Clone, Debug, PartialEq)]
pub struct Frame {
    /// Epochs finished.
    pub epoch: usize,
    pub step: usize,
    /// Every trainable tensor and buffer: (node, key, value).
    pub weights: Weights,
    /// What the dashboard showed then (absent for a run reopened from a file).
    pub snapshot: Option<Snapshot>,
}

impl Frame {
    /// The trainer's weights and snapshot now.
    pub fn capture(trainer: &Trainer) -> Result<Self, TrainError> {
        Ok(Self {
            epoch: trainer.epoch(),
            step: trainer.steps_done(),
            weights: trainer.weights()?,
            snapshot: Some(trainer.snapshot()?),
        })
    }

    /// The bytes this frame holds (tensor data, names and the snapshot's numbers).
    pub fn bytes(&self) -> usize {
        let weights: usize = self
            .weights
            .iter()
            .map(|(_, key, a)| {
                (a.len() + a.shape().len()).saturating_mul(8) + key.len() + WEIGHT_OVERHEAD
            })
            .fold(0usize, usize::saturating_add);
        weights.saturating_add(self.snapshot.as_ref().map_or(0, snapshot_bytes))
    }
}

/// A tensor's bookkeeping besides its numbers (node id, key, shape, reference count).
const WEIGHT_OVERHEAD: usize = 64;

/// The bytes a snapshot's numbers take: histograms, the boundary grid, the fitted curve and
/// the confusion matrix.
pub fn snapshot_bytes(s: &Snapshot) -> usize {
    let hist = |h: &super::stats::Histogram| h.counts.len() * 4 + 24;
    let acts: usize = s
        .activations
        .iter()
        .map(|(_, name, h)| name.len() + hist(h) + 8)
        .sum();
    let params: usize = s
        .params
        .iter()
        .map(|p| p.label.len() + hist(&p.values) + hist(&p.grads) + 16)
        .sum();
    let boundary = s
        .boundary
        .as_ref()
        .map_or(0, |b| b.class.len() + b.confidence.len() * 4 + 40);
    let fit = s.fit.as_ref().map_or(0, |f| f.len() * 16);
    let confusion = s
        .confusion
        .as_ref()
        .map_or(0, |c| c.counts.len() * 4 + c.wrong.len() * 16);
    acts + params + boundary + fit + confusion + 64
}

/// The frames of one run, within `budget` bytes.
#[derive(Clone, Debug, PartialEq)]
pub struct Timeline {
    budget: usize,
    frames: Vec<Frame>,
    bytes: usize,
    /// Only epochs that are multiples of this are kept (besides the latest frame).
    stride: usize,
}

impl Default for Timeline {
    fn default() -> Self {
        Self::new(DEFAULT_BUDGET)
    }
}

impl Timeline {
    pub fn new(budget: usize) -> Self {
        Self {
            budget,
            frames: Vec::new(),
            bytes: 0,
            stride: 1,
        }
    }

    /// Records a frame. The latest frame is always kept; one between the kept epochs is
    /// replaced by the next. Past the budget the frames are thinned evenly.
    pub fn push(&mut self, frame: Frame) {
        if self
            .frames
            .last()
            .is_some_and(|f| f.epoch == frame.epoch && f.step == frame.step)
        {
            return; // the same moment twice (a pause right after an epoch's end)
        }
        let n = self.frames.len();
        if n >= 2 && self.frames[n - 1].epoch % self.stride != 0 {
            let gone = self.frames.pop().expect("n >= 2");
            self.bytes = self.bytes.saturating_sub(gone.bytes());
        }
        self.bytes = self.bytes.saturating_add(frame.bytes());
        self.frames.push(frame);
        // A single frame over the budget is still kept: it is the run's present.
        while self.bytes > self.budget && self.frames.len() > 2 {
            self.stride = self.stride.saturating_mul(2);
            let last = self.frames.len() - 1;
            let stride = self.stride;
            let mut k = 0;
            self.frames.retain(|f| {
                let keep = k == 0 || k == last || f.epoch % stride == 0;
                k += 1;
                keep
            });
            self.bytes = self
                .frames
                .iter()
                .map(Frame::bytes)
                .fold(0, usize::saturating_add);
            if self.stride > 1 << 40 {
                break;
            }
        }
    }

    pub fn frames(&self) -> &[Frame] {
        &self.frames
    }

    pub fn len(&self) -> usize {
        self.frames.len()
    }

    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }

    /// Bytes held by the frames.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    pub fn budget(&self) -> usize {
        self.budget
    }

    /// Every `stride`-th epoch is kept (1 until the budget was reached).
    pub fn stride(&self) -> usize {
        self.stride
    }

    /// The frame recorded at `epoch`, when it was kept.
    pub fn at_epoch(&self, epoch: usize) -> Option<&Frame> {
        self.frames.iter().find(|f| f.epoch == epoch)
    }
}

/// `1.2 MB`, `640 kB`, `12 bytes` (powers of 1000, as file managers show sizes).
pub fn fmt_bytes(b: usize) -> String {
    let b = b as f64;
    if b >= 1e9 {
        format!("{:.1} GB", b / 1e9)
    } else if b >= 1e6 {
        format!("{:.1} MB", b / 1e6)
    } else if b >= 1e3 {
        format!("{:.0} kB", b / 1e3)
    } else {
        format!("{b:.0} bytes")
    }
}
