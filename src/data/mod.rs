//! Datasets for training: the 2-D generators (as TensorFlow Playground has them), a noisy
//! sine, the 8x8 digits shipped in `assets/`, CSV and MNIST-style IDX files. Plain data, no
//! burn: `train` uploads batches from here.
//!
//! **Architecture Invariant:** a `Dataset` always holds `len() * feature_len()` features and
//! `len()` targets, and every class index is below `classes`; loading checks this once, so
//! nothing downstream needs to.

pub mod files;
pub mod generate;

use std::path::Path;

use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use thiserror::Error;

use crate::project::training::DatasetSpec;

#[derive(Debug, Error, Clone, PartialEq)]
pub enum DataError {
    #[error("{path}: cannot read: {message}")]
    Read { path: String, message: String },
    #[error("{path}: {message}")]
    Invalid { path: String, message: String },
    #[error("the dataset is empty: {0}")]
    Empty(String),
    /// A generator's setting that cannot make a dataset (too many samples for the memory
    /// budget, a non-finite noise, more spiral arms than samples).
    #[error("the {dataset} dataset's `{setting}` {message}")]
    Setting {
        dataset: &'static str,
        setting: &'static str,
        message: String,
    },
}

/// The most classes a dataset may have (CSV labels that are whole numbers below this keep
/// their value; a spiral has at most this many arms).
pub const MAX_CLASSES: usize = 10_000;

/// The memory budget datasets share with the analysis (`NODEGRAD_MEMORY_MB`, default 2048).
pub fn memory_budget() -> u64 {
    crate::analysis::Options::default().memory_budget
}

/// Bytes a loaded dataset of `samples` samples of `feature_len` features takes: the f32
/// features and targets, and the split's two index lists (`usize` each). `None` when the
/// count does not even fit in 64 bits.
pub fn dataset_bytes(samples: usize, feature_len: usize) -> Option<u64> {
    let samples = samples as u64;
    let values = (feature_len as u64).checked_add(1)?.checked_mul(4)?;
    let per_sample = values.checked_add(2 * std::mem::size_of::<usize>() as u64)?;
    samples.checked_mul(per_sample)
}

/// The most samples of `feature_len` features that fit `budget` bytes.
pub fn max_samples(feature_len: usize, budget: u64) -> u64 {
    dataset_bytes(1, feature_len).map_or(0, |one| budget / one.max(1))
}

/// "1000000000 samples of 2 features need 22.4 GiB, but the memory budget is 2.0 GiB: use
/// at most 95443717 samples (or raise NODEGRAD_MEMORY_MB)", or `None` when they fit.
pub fn over_budget(samples: usize, feature_len: usize, budget: u64) -> Option<String> {
    let need = dataset_bytes(samples, feature_len);
    if need.is_some_and(|b| b <= budget) {
        return None;
    }
    let need = need.map_or_else(
        || "more than 16 EiB".to_string(),
        crate::analysis::human_bytes,
    );
    Some(format!(
        "{samples} samples of {feature_len} feature(s) need {need}, but the memory budget is \
         {}: use at most {} samples (or raise NODEGRAD_MEMORY_MB)",
        crate::analysis::human_bytes(budget),
        max_samples(feature_len, budget)
    ))
}

/// How many samples `spec` makes, when that is known without reading a file.
pub fn known_samples(spec: &DatasetSpec) -> Option<usize> {
    match *spec {
        DatasetSpec::Xor { samples, .. }
        | DatasetSpec::Circles { samples, .. }
        | DatasetSpec::Gaussians { samples, .. }
        | DatasetSpec::Moons { samples, .. }
        | DatasetSpec::Sine { samples, .. } => Some(samples),
        // Whole arms only.
        DatasetSpec::Spiral {
            samples, classes, ..
        } => Some(samples / classes.max(2) * classes.max(2)),
        DatasetSpec::Digits => Some(files::DIGITS),
        DatasetSpec::Csv { .. } | DatasetSpec::Idx { .. } => None,
    }
}

/// Where a sample's label sits in its file, so a label found wrong later (more classes
/// than the network scores) is named at its row.
#[derive(Clone, Debug, PartialEq)]
pub enum LabelPlace {
    /// Sample `i` is on row `first_row + i` (1-based, the header is row 1) in `column`.
    Csv {
        path: String,
        column: String,
        first_row: usize,
    },
    /// Sample `i` is item `i` of the labels file.
    Idx { path: String },
}

/// What the targets mean.
#[derive(Clone, Debug, PartialEq)]
pub enum Task {
    /// Targets are class indices 0..classes.
    Classification { classes: usize, names: Vec<String> },
    /// Targets are real values.
    Regression,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Dataset {
    pub name: String,
    /// Row-major, `len() * feature_len()` values.
    pub features: Vec<f32>,
    /// The shape of one sample's features: `[2]`, `[64]`, ...
    pub feature_shape: Vec<usize>,
    /// One per sample: a class index or a value.
    pub targets: Vec<f32>,
    pub task: Task,
    /// Height and width when the features are a grey image (for previews).
    pub image: Option<(usize, usize)>,
    /// Where the labels come from in a file (`None` for generated sets).
    pub labels_from: Option<LabelPlace>,
}

impl Dataset {
    pub fn len(&self) -> usize {
        self.targets.len()
    }

    pub fn is_empty(&self) -> bool {
        self.targets.is_empty()
    }

    pub fn feature_len(&self) -> usize {
        self.feature_shape.iter().product()
    }

    pub fn sample(&self, i: usize) -> &[f32] {
        let d = self.feature_len();
        &self.features[i * d..(i + 1) * d]
    }

    pub fn classes(&self) -> Option<usize> {
        match &self.task {
            Task::Classification { classes, .. } => Some(*classes),
            Task::Regression => None,
        }
    }

    /// Where sample `i`'s label is, for messages: `data.csv: row 7, column `label``,
    /// `labels.idx: item 6`, or `spiral: sample 6`.
    pub fn label_place(&self, i: usize) -> String {
        match &self.labels_from {
            Some(LabelPlace::Csv {
                path,
                column,
                first_row,
            }) => format!("{path}: row {}, column `{column}`", first_row + i),
            Some(LabelPlace::Idx { path }) => format!("{path}: item {i}"),
            None => format!("{}: sample {i}", self.name),
        }
    }

    /// Checks the invariant above; every constructor ends with it.
    fn checked(self, path: &str) -> Result<Self, DataError> {
        let invalid = |message: String| DataError::Invalid {
            path: path.to_string(),
            message,
        };
        if self.is_empty() {
            return Err(DataError::Empty(format!("{path} has no samples")));
        }
        if self.features.len() != self.len() * self.feature_len() {
            return Err(invalid(format!(
                "{} feature values for {} samples of {} features",
                self.features.len(),
                self.len(),
                self.feature_len()
            )));
        }
        if let Some(i) = self.features.iter().position(|v| !v.is_finite()) {
            return Err(invalid(format!(
                "sample {} has a NaN or infinite feature",
                i / self.feature_len().max(1)
            )));
        }
        if let Some(i) = self.targets.iter().position(|v| !v.is_finite()) {
            return Err(invalid(format!("sample {i} has a NaN or infinite target")));
        }
        if let Task::Classification { classes, .. } = &self.task {
            if let Some(i) = self
                .targets
                .iter()
                .position(|&t| t < 0.0 || t.fract() != 0.0 || t as usize >= *classes)
            {
                return Err(invalid(format!(
                    "sample {i} has label {}, not a class in 0..{}",
                    self.targets[i],
                    classes - 1
                )));
            }
        }
        Ok(self)
    }
}

/// Builds the dataset a project names. `base` is the project file's folder (for CSV and IDX
/// paths); `seed` seeds the generators. Refused, before anything large is allocated, when
/// it would not fit the memory budget (`memory_budget`).
pub fn load(spec: &DatasetSpec, base: Option<&Path>, seed: u64) -> Result<Dataset, DataError> {
    load_within(spec, base, seed, memory_budget())
}

/// `load` with an explicit memory budget in bytes.
pub fn load_within(
    spec: &DatasetSpec,
    base: Option<&Path>,
    seed: u64,
    budget: u64,
) -> Result<Dataset, DataError> {
    let resolve = |p: &str| match base {
        Some(b) if Path::new(p).is_relative() => b.join(p),
        _ => Path::new(p).to_path_buf(),
    };
    match spec {
        DatasetSpec::Digits => files::digits(),
        DatasetSpec::Csv {
            path,
            features,
            label,
            header,
            classification,
        } => files::csv(
            &resolve(path),
            features,
            label,
            *header,
            *classification,
            budget,
        ),
        DatasetSpec::Idx { images, labels } => {
            files::idx(&resolve(images), &resolve(labels), budget)
        }
        generated => {
            generate::check(generated, budget).map(|()| generate::generate(generated, seed))
        }
    }
    .and_then(|d| {
        let name = d.name.clone();
        d.checked(&name)
    })
}

/// Which samples train and which validate.
#[derive(Clone, Debug, PartialEq)]
pub struct Split {
    pub train: Vec<usize>,
    pub val: Vec<usize>,
}

/// A seeded shuffle, then the first `validation` fraction validates. At least one sample
/// always trains.
pub fn split(n: usize, validation: f64, seed: u64) -> Split {
    let mut idx: Vec<usize> = (0..n).collect();
    idx.shuffle(&mut StdRng::seed_from_u64(seed ^ 0x5eed_5911));
    let n_val = ((n as f64 * validation.clamp(0.0, 0.9)).round() as usize).min(n.saturating_sub(1));
    let train = idx.split_off(n_val);
    Split { train, val: idx }
}

/// Per-feature mean and standard deviation (of the training samples).
#[derive(Clone, Debug, PartialEq)]
pub struct Standardization {
    pub mean: Vec<f32>,
    pub std: Vec<f32>,
}

impl Standardization {
    /// Statistics of `rows`; a constant feature gets std 1 (it is only shifted).
    pub fn fit(data: &Dataset, rows: &[usize]) -> Self {
        let d = data.feature_len();
        let n = rows.len().max(1) as f64;
        let mut mean = vec![0f64; d];
        let mut sq = vec![0f64; d];
        for &r in rows {
            for (j, &v) in data.sample(r).iter().enumerate() {
                mean[j] += v as f64;
                sq[j] += (v as f64) * (v as f64);
            }
        }
        let mean: Vec<f64> = mean.iter().map(|m| m / n).collect();
        let std = sq
            .iter()
            .zip(&mean)
            .map(|(s, m)| {
                let var = (s / n - m * m).max(0.0);
                if var > 1e-12 { var.sqrt() as f32 } else { 1.0 }
            })
            .collect();
        Self {
            mean: mean.into_iter().map(|m| m as f32).collect(),
            std,
        }
    }

    pub fn apply(&self, data: &mut Dataset) {
        let d = data.feature_len();
        for (i, v) in data.features.iter_mut().enumerate() {
            let j = i % d;
            *v = (*v - self.mean[j]) / self.std[j];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_is_seeded_disjoint_and_complete() {
        let s = split(100, 0.2, 7);
        assert_eq!(s.val.len(), 20);
        assert_eq!(s.train.len(), 80);
        let mut all: Vec<usize> = s.train.iter().chain(&s.val).copied().collect();
        all.sort();
        assert_eq!(all, (0..100).collect::<Vec<_>>());
        assert_eq!(s, split(100, 0.2, 7));
        assert_ne!(s, split(100, 0.2, 8));
        assert_eq!(split(1, 0.5, 0).train.len(), 1);
    }

    #[test]
    fn standardization_gives_mean_zero_and_unit_spread() {
        let mut d = Dataset {
            name: "t".into(),
            features: vec![1.0, 5.0, 3.0, 5.0, 5.0, 5.0],
            feature_shape: vec![2],
            targets: vec![0.0, 0.0, 0.0],
            task: Task::Regression,
            image: None,
            labels_from: None,
        };
        let s = Standardization::fit(&d, &[0, 1, 2]);
        assert_eq!(s.mean, vec![3.0, 5.0]);
        assert!((s.std[0] - (8.0f32 / 3.0).sqrt()).abs() < 1e-6);
        assert_eq!(s.std[1], 1.0, "a constant feature is only shifted");
        s.apply(&mut d);
        let col0: f32 = [0, 1, 2].iter().map(|&i| d.sample(i)[0]).sum();
        assert!(col0.abs() < 1e-6);
        assert_eq!(d.sample(0)[1], 0.0);
    }

    #[test]
    fn a_label_outside_the_classes_is_refused_with_its_sample() {
        let d = Dataset {
            name: "t".into(),
            features: vec![0.0, 0.0],
            feature_shape: vec![1],
            targets: vec![0.0, 3.0],
            task: Task::Classification {
                classes: 2,
                names: vec![],
            },
            image: None,
            labels_from: None,
        };
        let e = d.checked("labels.csv").unwrap_err().to_string();
        assert!(e.contains("labels.csv") && e.contains("sample 1"), "{e}");
    }
}
