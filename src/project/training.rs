//! The training part of a project file: which dataset feeds which Input nodes, and how to
//! train. Plain data (no burn): `data` builds the dataset, `train` runs it. Every field has
//! a default, so a teacher can write `training: (dataset: Spiral(), features: "x",
//! target: "y")` and get sensible settings.

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainingConfig {
    pub dataset: DatasetSpec,
    /// Name of the Input node that receives a sample's features.
    pub features: String,
    /// Name of the Input node that receives a sample's target (class index, one-hot or value).
    pub target: String,
    /// Fraction of the samples held out for validation (0 to 0.9).
    #[serde(default = "default_validation")]
    pub validation: f64,
    /// Shift and scale every feature to mean 0, standard deviation 1 (statistics of the
    /// training part only).
    #[serde(default)]
    pub standardize: bool,
    #[serde(default)]
    pub optimizer: OptimizerKind,
    #[serde(default = "default_lr")]
    pub learning_rate: f64,
    #[serde(default)]
    pub decay: Decay,
    /// L2 penalty added to every weight's gradient: grad + weight_decay * w.
    #[serde(default)]
    pub weight_decay: f64,
    #[serde(default = "default_batch")]
    pub batch_size: usize,
    #[serde(default = "default_epochs")]
    pub epochs: usize,
    /// Stop when the validation loss has not improved for this many epochs (0: never), and
    /// keep the best weights.
    #[serde(default)]
    pub patience: usize,
    /// Seeds the dataset, the split and the shuffling (weights use the project seed).
    #[serde(default)]
    pub seed: u64,
    #[serde(default)]
    pub device: DeviceChoice,
    /// The `nodegrad serve` address for the Remote device (`ws://host:3000`). Its token is
    /// never written to the project file.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub remote_address: String,
    /// The server's token: kept for this session only, never saved.
    #[serde(skip)]
    pub remote_token: Secret,
    /// The watchdog's limit for one remote step, in seconds (default 30); not saved.
    #[serde(skip)]
    pub remote_timeout_s: Option<f64>,
}

/// A secret kept in memory only: its `Debug` never shows it.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_empty() {
            "Secret(none)"
        } else {
            "Secret(..)"
        })
    }
}

fn default_validation() -> f64 {
    0.2
}
fn default_lr() -> f64 {
    0.01
}
fn default_batch() -> usize {
    32
}
fn default_epochs() -> usize {
    50
}

impl TrainingConfig {
    /// Settings a new project starts from: the given dataset, Adam, 0.01, batch 32.
    pub fn new(dataset: DatasetSpec, features: &str, target: &str) -> Self {
        Self {
            dataset,
            features: features.into(),
            target: target.into(),
            validation: default_validation(),
            standardize: false,
            optimizer: OptimizerKind::default(),
            learning_rate: default_lr(),
            decay: Decay::default(),
            weight_decay: 0.0,
            batch_size: default_batch(),
            epochs: default_epochs(),
            patience: 0,
            seed: 0,
            device: DeviceChoice::default(),
            remote_address: String::new(),
            remote_token: Secret::default(),
            remote_timeout_s: None,
        }
    }

    /// The learning rate in `epoch` (0-based) after decay.
    pub fn lr_at(&self, epoch: usize) -> f64 {
        match self.decay {
            Decay::None => self.learning_rate,
            Decay::Step { every, factor } => {
                self.learning_rate * factor.powi((epoch / every.max(1)) as i32)
            }
            Decay::Exponential { gamma } => self.learning_rate * gamma.powi(epoch as i32),
        }
    }

    /// Settings that cannot train, as messages naming the field.
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        if !(self.learning_rate.is_finite() && self.learning_rate > 0.0) {
            out.push(format!(
                "learning_rate is {}: use a positive number such as 0.01",
                self.learning_rate
            ));
        }
        if !(0.0..=0.9).contains(&self.validation) {
            out.push(format!(
                "validation is {}: use a fraction from 0 to 0.9",
                self.validation
            ));
        }
        if self.batch_size == 0 {
            out.push("batch_size is 0: use at least 1".into());
        }
        if self.epochs == 0 {
            out.push("epochs is 0: use at least 1".into());
        }
        if !(self.weight_decay.is_finite() && self.weight_decay >= 0.0) {
            out.push(format!(
                "weight_decay is {}: use 0 or a small positive number",
                self.weight_decay
            ));
        }
        match self.decay {
            Decay::Step { every, factor } if every == 0 || !(factor > 0.0 && factor <= 1.0) => {
                out.push("decay Step needs every >= 1 and 0 < factor <= 1".into())
            }
            Decay::Exponential { gamma } if !(gamma > 0.0 && gamma <= 1.0) => {
                out.push("decay Exponential needs 0 < gamma <= 1".into())
            }
            _ => {}
        }
        out
    }
}

/// Where the samples come from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum DatasetSpec {
    /// Four clusters, label = x * y < 0 (TensorFlow Playground's XOR).
    Xor {
        #[serde(default = "default_samples")]
        samples: usize,
        #[serde(default = "default_noise")]
        noise: f64,
    },
    /// A disc inside a ring.
    Circles {
        #[serde(default = "default_samples")]
        samples: usize,
        #[serde(default = "default_noise")]
        noise: f64,
    },
    /// Two Gaussian blobs.
    Gaussians {
        #[serde(default = "default_samples")]
        samples: usize,
        #[serde(default = "default_noise")]
        noise: f64,
    },
    /// Interleaved spiral arms, one class per arm.
    Spiral {
        #[serde(default = "default_samples")]
        samples: usize,
        #[serde(default = "default_noise")]
        noise: f64,
        #[serde(default = "default_arms")]
        classes: usize,
    },
    /// Two interleaved half circles.
    Moons {
        #[serde(default = "default_samples")]
        samples: usize,
        #[serde(default = "default_noise")]
        noise: f64,
    },
    /// Regression: y = sin(x) + noise for x in [-pi, pi].
    Sine {
        #[serde(default = "default_samples")]
        samples: usize,
        #[serde(default = "default_noise")]
        noise: f64,
    },
    /// The 8x8 handwritten digits shipped in assets/ (1,797 images, 10 classes).
    Digits,
    /// A CSV file (path relative to the project file).
    Csv {
        path: String,
        /// Feature columns (header names, or 0-based numbers when there is no header);
        /// empty: every column but the label.
        #[serde(default)]
        features: Vec<String>,
        /// The label column.
        label: String,
        #[serde(default = "default_true")]
        header: bool,
        /// Labels are class names or numbers (classification) or values (regression).
        #[serde(default = "default_true")]
        classification: bool,
    },
    /// MNIST-style IDX files (images and labels), paths relative to the project file.
    Idx { images: String, labels: String },
}

fn default_samples() -> usize {
    400
}
fn default_noise() -> f64 {
    0.1
}
fn default_arms() -> usize {
    3
}
fn default_true() -> bool {
    true
}

impl DatasetSpec {
    /// Names of the kinds, as in menus and files.
    pub const GENERATED: [&'static str; 6] =
        ["Xor", "Circles", "Gaussians", "Spiral", "Moons", "Sine"];

    pub fn kind(&self) -> &'static str {
        match self {
            DatasetSpec::Xor { .. } => "Xor",
            DatasetSpec::Circles { .. } => "Circles",
            DatasetSpec::Gaussians { .. } => "Gaussians",
            DatasetSpec::Spiral { .. } => "Spiral",
            DatasetSpec::Moons { .. } => "Moons",
            DatasetSpec::Sine { .. } => "Sine",
            DatasetSpec::Digits => "Digits",
            DatasetSpec::Csv { .. } => "Csv",
            DatasetSpec::Idx { .. } => "Idx",
        }
    }

    /// A generated dataset of the given kind with default settings.
    pub fn generated(kind: &str) -> Option<Self> {
        let (samples, noise) = (default_samples(), default_noise());
        Some(match kind {
            "Xor" => DatasetSpec::Xor { samples, noise },
            "Circles" => DatasetSpec::Circles { samples, noise },
            "Gaussians" => DatasetSpec::Gaussians { samples, noise },
            "Spiral" => DatasetSpec::Spiral {
                samples,
                noise,
                classes: default_arms(),
            },
            "Moons" => DatasetSpec::Moons { samples, noise },
            "Sine" => DatasetSpec::Sine { samples, noise },
            "Digits" => DatasetSpec::Digits,
            _ => return None,
        })
    }

    /// Sample count and noise of a generated dataset, for editing.
    pub fn samples_noise_mut(&mut self) -> Option<(&mut usize, &mut f64)> {
        match self {
            DatasetSpec::Xor { samples, noise }
            | DatasetSpec::Circles { samples, noise }
            | DatasetSpec::Gaussians { samples, noise }
            | DatasetSpec::Spiral { samples, noise, .. }
            | DatasetSpec::Moons { samples, noise }
            | DatasetSpec::Sine { samples, noise } => Some((samples, noise)),
            _ => None,
        }
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub enum OptimizerKind {
    /// Plain gradient descent: w <- w - lr * g.
    Sgd,
    /// Gradient descent with momentum: v <- m v + g, w <- w - lr * v.
    Momentum { momentum: f64 },
    /// Divides by a running RMS of the gradient.
    RmsProp,
    /// Adaptive moments (beta1 0.9, beta2 0.999).
    #[default]
    Adam,
}

impl OptimizerKind {
    pub const ALL: [OptimizerKind; 4] = [
        OptimizerKind::Sgd,
        OptimizerKind::Momentum { momentum: 0.9 },
        OptimizerKind::RmsProp,
        OptimizerKind::Adam,
    ];

    pub fn label(&self) -> &'static str {
        match self {
            OptimizerKind::Sgd => "SGD",
            OptimizerKind::Momentum { .. } => "SGD + momentum",
            OptimizerKind::RmsProp => "RMSprop",
            OptimizerKind::Adam => "Adam",
        }
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub enum Decay {
    #[default]
    None,
    /// lr * factor^(epoch / every).
    Step { every: usize, factor: f64 },
    /// lr * gamma^epoch.
    Exponential { gamma: f64 },
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum DeviceChoice {
    /// wgpu when a hardware adapter initializes, else the CPU.
    #[default]
    Auto,
    Cpu,
    Wgpu,
    /// Another machine's device through `nodegrad serve` (`remote_address`).
    Remote,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn learning_rate_decays_by_step_and_exponentially() {
        let mut c = TrainingConfig::new(DatasetSpec::Digits, "x", "y");
        c.learning_rate = 0.1;
        c.decay = Decay::Step {
            every: 10,
            factor: 0.5,
        };
        assert_eq!(c.lr_at(9), 0.1);
        assert_eq!(c.lr_at(10), 0.05);
        assert_eq!(c.lr_at(25), 0.025);
        c.decay = Decay::Exponential { gamma: 0.9 };
        assert!((c.lr_at(2) - 0.081).abs() < 1e-12);
    }

    #[test]
    fn bad_settings_are_named() {
        let mut c = TrainingConfig::new(DatasetSpec::Digits, "x", "y");
        assert!(c.problems().is_empty());
        c.learning_rate = -1.0;
        c.batch_size = 0;
        let p = c.problems();
        assert_eq!(p.len(), 2);
        assert!(p[0].contains("learning_rate"));
        assert!(p[1].contains("batch_size"));
    }
}
