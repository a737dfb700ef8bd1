//! Where a training run stands, in numbers and words, without egui: the state, the counters
//! the worker reports, and the line under the progress bar.

use std::time::Instant;

use crate::graph::fmt_number;

#[derive(Clone, Debug, PartialEq)]
pub enum RunState {
    Idle,
    Starting,
    Running,
    Paused,
    Finished(String),
    Failed(String),
}

impl RunState {
    /// A run exists (it may be paused).
    pub fn is_active(&self) -> bool {
        matches!(
            self,
            RunState::Starting | RunState::Running | RunState::Paused
        )
    }

    /// The worker is computing.
    pub fn is_running(&self) -> bool {
        matches!(self, RunState::Starting | RunState::Running)
    }
}

/// The counters of the current run.
#[derive(Clone, Debug, Default)]
pub struct Progress {
    pub steps_per_epoch: usize,
    pub train_count: usize,
    pub val_count: usize,
    pub classification: bool,
    pub epoch: usize,
    pub step: usize,
    pub started: Option<Instant>,
    pub device: String,
    pub notice: Option<String>,
}

/// The latest numbers of the run, for the progress line.
#[derive(Clone, Copy, Debug, Default)]
pub struct Latest {
    pub batch_loss: Option<f64>,
    pub accuracy: Option<f64>,
    pub samples_per_s: Option<f64>,
}

impl Progress {
    /// Fraction of the run done.
    pub fn fraction(&self, epochs: usize) -> f32 {
        let total = self.steps_per_epoch.saturating_mul(epochs).max(1);
        (self.step as f32 / total as f32).clamp(0.0, 1.0)
    }

    /// The state, epoch and step; while running or paused also speed, time and device.
    pub fn text(&self, state: &RunState, epochs: usize, latest: Latest) -> String {
        let mut s = match state {
            RunState::Idle => "Not trained yet".to_string(),
            RunState::Starting => "Loading the data…".to_string(),
            RunState::Running => "Training".to_string(),
            RunState::Paused => "Paused".to_string(),
            RunState::Finished(t) => format!("Training {t}"),
            RunState::Failed(_) => "Failed".to_string(),
        };
        let total_steps = self.steps_per_epoch.saturating_mul(epochs);
        if self.step > 0 {
            s += &format!(
                " · epoch {}/{} · step {}/{}",
                (self.epoch + usize::from(state.is_running())).min(epochs),
                epochs,
                self.step,
                total_steps
            );
        }
        if let Some(l) = latest.batch_loss {
            s += &format!(" · batch loss {}", fmt_number(l));
        }
        if let Some(a) = latest.accuracy {
            s += &format!(" · accuracy {:.1}%", 100.0 * a);
        }
        // Speed and time change from run to run: only while the run is live.
        if state.is_active() {
            if let Some(v) = latest.samples_per_s {
                s += &format!(" · {v:.0} samples/s");
            }
            if let Some(t) = self.started {
                let elapsed = t.elapsed().as_secs_f64();
                s += &format!(" · {}", clock(elapsed));
                if self.step > 0 && total_steps > 0 && state.is_running() {
                    let left = elapsed / self.step as f64 * (total_steps as f64 - self.step as f64);
                    s += &format!(" elapsed, {} left", clock(left.max(0.0)));
                }
            }
            if !self.device.is_empty() {
                s += &format!(" · {}", self.device);
            }
        }
        s
    }
}

/// `m:ss` or `h:mm:ss`.
pub fn clock(secs: f64) -> String {
    let s = secs.round() as u64;
    if s >= 3600 {
        format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
    } else {
        format!("{}:{:02}", s / 60, s % 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_progress_line_counts_epochs_and_steps() {
        let p = Progress {
            steps_per_epoch: 15,
            epoch: 2,
            step: 30,
            ..Progress::default()
        };
        assert_eq!(p.fraction(10), 0.2);
        let latest = Latest {
            batch_loss: Some(0.5),
            accuracy: Some(0.875),
            samples_per_s: Some(1000.0),
        };
        assert_eq!(
            p.text(&RunState::Paused, 10, latest),
            "Paused · epoch 2/10 · step 30/150 · batch loss 0.5 · accuracy 87.5% · 1000 samples/s"
        );
        assert_eq!(
            Progress::default().text(&RunState::Idle, 10, Latest::default()),
            "Not trained yet"
        );
        assert_eq!(clock(61.0), "1:01");
        assert_eq!(clock(3725.0), "1:02:05");
        // No steps per epoch yet: no division by zero.
        assert_eq!(Progress::default().fraction(0), 0.0);
    }
}
