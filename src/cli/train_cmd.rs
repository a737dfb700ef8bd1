//! `nodegrad train FILE`: trains with a progress bar, prints one line per epoch and a
//! machine-readable summary last.

use std::io::Write;
use std::path::{Path, PathBuf};

use indicatif::{ProgressBar, ProgressStyle};

use crate::exec::EngineKind;
use crate::project::Project;
use crate::project::training::DeviceChoice;
use crate::train::{EpochMetrics, Finish, Prepared, Scores, TrainDevice, TrainError, Trainer};

pub struct Overrides {
    pub epochs: Option<usize>,
    pub device: Option<DeviceChoice>,
    pub seed: Option<u64>,
    pub out: Option<PathBuf>,
    pub metrics: Option<PathBuf>,
    /// `--remote URL`, `--token-file F`, `--remote-timeout S` (for `--device remote`).
    pub remote: Option<String>,
    pub token_file: Option<PathBuf>,
    pub remote_timeout: Option<f64>,
}

/// Exit code when the remote server stopped answering (the watchdog fired).
pub const REMOTE_TIMEOUT: i32 = 4;

/// Exit code when training diverges.
pub const DIVERGED: i32 = 3;

pub fn train(
    file: &Path,
    o: Overrides,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> std::io::Result<i32> {
    let mut project = match Project::load(file) {
        Ok(p) => p,
        Err(e) => {
            writeln!(err, "{e}")?;
            return Ok(1);
        }
    };
    let Some(mut config) = project.training.clone() else {
        writeln!(
            err,
            "{}: has no `training:` settings (dataset, features, target): add them, or open \
             it in the window and choose a dataset in the Training panel",
            file.display()
        )?;
        return Ok(1);
    };
    if let Some(e) = o.epochs {
        config.epochs = e;
    }
    if let Some(d) = o.device {
        config.device = d;
    }
    if let Some(s) = o.seed {
        config.seed = s;
    }
    if let Some(r) = &o.remote {
        config.remote_address = r.clone();
    }
    if let Some(f) = &o.token_file {
        match crate::train::remote::read_token(f) {
            Ok(t) => config.remote_token.0 = t,
            Err(e) => {
                writeln!(err, "{e}")?;
                return Ok(1);
            }
        }
    }
    if let Some(t) = o.remote_timeout {
        if !(t.is_finite() && t > 0.0) {
            writeln!(
                err,
                "--remote-timeout {t}: give a number of seconds above 0"
            )?;
            return Ok(1);
        }
        config.remote_timeout_s = Some(t);
    }
    let watch = (config.device == DeviceChoice::Remote).then(|| {
        let spec = crate::train::remote::spec_of(&config);
        let watch = crate::train::remote::Watch::new(&spec.url, spec.timeout);
        start_watchdog(watch.clone(), project.clone(), o.out.clone());
        watch
    });
    let fail = |err: &mut dyn Write, e: TrainError| -> std::io::Result<i32> {
        writeln!(err, "{}: {e}", file.display())?;
        Ok(1)
    };
    if config.device == DeviceChoice::Remote {
        writeln!(out, "connecting to {}...", config.remote_address)?;
    }
    let device = match TrainDevice::for_config(&config) {
        Ok(d) => d,
        Err(e) => return fail(err, e),
    };
    if let Some(n) = &device.notice {
        writeln!(err, "{n}")?;
    }
    let prepared = match Prepared::new(&config, file.parent()) {
        Ok(p) => p,
        Err(e) => return fail(err, e),
    };
    let mut trainer = match Trainer::new(&project.graph, &config, prepared, device) {
        Ok(t) => t,
        Err(e) => return fail(err, e),
    };
    writeln!(
        out,
        "training {} on {}: {} training and {} validation samples of {}, {} {}, batch {}, {} \
         epochs",
        file.display(),
        trainer.device.name,
        trainer.prepared.split.train.len(),
        trainer.prepared.split.val.len(),
        trainer.prepared.data.name,
        trainer.model.params.len(),
        if trainer.model.params.len() == 1 {
            "tensor"
        } else {
            "tensors"
        },
        config.batch_size,
        config.epochs
    )?;

    let total = (trainer.steps_per_epoch() as u64).saturating_mul(config.epochs as u64);
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} steps, eta {eta} {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let mut rows: Vec<EpochMetrics> = Vec::new();
    let mut io_error = None;
    let result = crate::train::train_to_end(&mut trainer, |t, r| {
        if let Some(w) = &watch {
            // A dead server cannot hand the weights back: keep each step's here.
            if let Ok(ws) = t.weights() {
                w.keep(r.step, ws);
            }
            w.tick();
        }
        bar.set_position(r.step as u64);
        bar.set_message(format!("loss {:.4}", r.loss));
        if let Some(m) = &r.epoch_done {
            let line = epoch_line(m);
            bar.suspend(|| {
                if let Err(e) = writeln!(out, "{line}") {
                    io_error.get_or_insert(e);
                }
            });
            rows.push(m.clone());
        }
    });
    bar.finish_and_clear();
    if let Some(e) = io_error {
        return Err(e);
    }
    if let Some(path) = &o.metrics {
        if let Err(e) = write_metrics(path, &rows) {
            writeln!(err, "{}: cannot write metrics: {e}", path.display())?;
            return Ok(1);
        }
    }
    let finish = match result {
        Ok(f) => f,
        Err(e @ TrainError::Diverged { .. }) => {
            writeln!(err, "{}: {e}", file.display())?;
            return Ok(DIVERGED);
        }
        Err(e @ TrainError::Backend(_)) if watch.is_some() => {
            let w = watch.as_ref().expect("checked");
            let kept = w.kept();
            writeln!(
                err,
                "{}: {}",
                file.display(),
                crate::train::remote::lost(&w.url, &e, kept.as_ref().map(|k| k.0))
            )?;
            if let (Some(path), Some((_, ws))) = (&o.out, kept) {
                save_weights(&mut project, ws, path, err)?;
            }
            return Ok(1);
        }
        Err(e) => return fail(err, e),
    };
    if let Some(w) = &watch {
        w.tick();
    }
    if let Finish::EarlyStopped { best_epoch } = finish {
        writeln!(
            out,
            "early stopping: no better validation loss since epoch {best_epoch}; its weights are kept"
        )?;
    }
    // Scores of the final weights (after early stopping, the best ones).
    let train = trainer.score(&trainer.prepared.split.train.clone());
    let val = if trainer.prepared.split.val.is_empty() {
        Ok(None)
    } else {
        trainer.score(&trainer.prepared.split.val.clone()).map(Some)
    };
    let (train, val) = match (train, val) {
        (Ok(t), Ok(v)) => (t, v),
        (Err(e), _) | (_, Err(e)) => return fail(err, e),
    };
    if let Some(path) = &o.out {
        match trainer.weights() {
            Ok(ws) => {
                for (id, key, a) in ws {
                    if let Some(n) = project.graph.node_mut(id) {
                        n.tensors.insert(key, a);
                    }
                }
                project.training = Some(config.clone());
                if let Err(e) = project.save(path) {
                    writeln!(err, "{e}")?;
                    return Ok(1);
                }
                writeln!(out, "saved the trained project to {}", path.display())?;
            }
            Err(e) => return fail(err, e),
        }
    }
    let device = match (trainer.device.kind, trainer.device.software) {
        _ if trainer.device.remote.is_some() => "remote",
        (EngineKind::Cpu, _) => "cpu",
        (EngineKind::Wgpu, false) => "wgpu",
        (EngineKind::Wgpu, true) => "wgpu-software",
    };
    writeln!(
        out,
        "done: {}",
        summary(trainer.epoch(), train, val, trainer.throughput(), device)
    )?;
    Ok(0)
}

/// Writes `weights` into the project and saves it at `path` (a message on `err` if not).
fn save_weights(
    project: &mut Project,
    weights: Vec<(crate::graph::NodeId, String, crate::graph::Array)>,
    path: &Path,
    err: &mut dyn Write,
) -> std::io::Result<()> {
    for (id, key, a) in weights {
        if let Some(n) = project.graph.node_mut(id) {
            n.tensors.insert(key, a);
        }
    }
    match project.save(path) {
        Ok(()) => writeln!(
            err,
            "saved the weights kept to {}: `nodegrad train {} --device cpu` goes on from them",
            path.display(),
            path.display()
        ),
        Err(e) => writeln!(err, "{e}"),
    }
}

/// The watchdog of a remote run: when no step finished within the timeout, it says so,
/// saves the weights kept (with --out) and ends the process, whose training thread is
/// blocked in a read that never returns.
fn start_watchdog(
    watch: std::sync::Arc<crate::train::remote::Watch>,
    mut project: Project,
    out: Option<PathBuf>,
) {
    let spawned = std::thread::Builder::new()
        .name("nodegrad-watchdog".into())
        .spawn(move || {
            loop {
                // The run is over once `train` dropped its handle.
                if std::sync::Arc::strong_count(&watch) == 1 {
                    return;
                }
                match watch.remaining() {
                    Some(r) if r.is_zero() => break,
                    Some(r) => std::thread::sleep(r.min(std::time::Duration::from_millis(200))),
                    None => std::thread::sleep(std::time::Duration::from_millis(200)),
                }
            }
            let mut err = std::io::stderr();
            let _ = writeln!(err, "\nnodegrad train: {}", watch.timeout_message());
            if let (Some(path), Some((_, ws))) = (&out, watch.kept()) {
                let _ = save_weights(&mut project, ws, path, &mut err);
            }
            std::process::exit(REMOTE_TIMEOUT);
        });
    if let Err(e) = spawned {
        eprintln!("nodegrad train: no watchdog for the remote run ({e})");
    }
}

fn num(v: f64) -> String {
    format!("{v:.6}")
}

fn epoch_line(m: &EpochMetrics) -> String {
    let mut s = format!("epoch {}: loss={}", m.epoch, num(m.train.loss));
    if let Some(v) = &m.val {
        s += &format!(" val_loss={}", num(v.loss));
    }
    if let Some(a) = m.train.accuracy {
        s += &format!(" accuracy={}", num(a));
    }
    if let Some(a) = m.val.and_then(|v| v.accuracy) {
        s += &format!(" val_accuracy={}", num(a));
    }
    s + &format!(" lr={} samples_per_s={:.0}", m.lr, m.samples_per_s)
}

/// `epochs=N loss=X val_loss=X accuracy=X val_accuracy=X samples_per_s=X device=NAME`;
/// validation fields only with a validation set, accuracy only for classification.
pub fn summary(
    epochs: usize,
    train: Scores,
    val: Option<Scores>,
    samples_per_s: f64,
    device: &str,
) -> String {
    let mut s = format!("epochs={epochs} loss={}", num(train.loss));
    if let Some(v) = &val {
        s += &format!(" val_loss={}", num(v.loss));
    }
    if let Some(a) = train.accuracy {
        s += &format!(" accuracy={}", num(a));
    }
    if let Some(a) = val.and_then(|v| v.accuracy) {
        s += &format!(" val_accuracy={}", num(a));
    }
    s + &format!(" samples_per_s={samples_per_s:.0} device={device}")
}

fn write_metrics(path: &Path, rows: &[EpochMetrics]) -> Result<(), String> {
    let bytes = crate::train::metrics_csv(rows)?;
    crate::project::write_atomic(path, &bytes).map_err(|e| e.to_string())
}
