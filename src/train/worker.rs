//! The training loop on a worker thread. The window sends `Command`s and receives `Event`s;
//! a `wake` callback asks the window to repaint when an event is waiting. The worker owns
//! every burn tensor; what crosses the channel is plain data.

use std::cell::Cell;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, TryRecvError, channel};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::remote::{self, Watch};
use super::stats::SnapshotClock;
use super::timeline::Frame;
use super::{EpochMetrics, Finish, Prepared, Snapshot, TrainDevice, Trainer, panic_text};
use crate::graph::{Array, Graph, NodeId};
use crate::project::training::TrainingConfig;

#[derive(Clone, Debug, PartialEq)]
pub enum Command {
    /// Run (or resume) until the epochs are done.
    Run,
    /// Stop running; report the weights.
    Pause,
    /// One mini-batch, then pause.
    Step,
    /// End the run; report the weights.
    Stop,
}

/// Trained weights: (node, tensor key, value).
pub type Weights = Vec<(NodeId, String, Array)>;

#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    /// The dataset is loaded and the model compiled.
    Ready {
        device: String,
        notice: Option<String>,
        train: usize,
        val: usize,
        steps_per_epoch: usize,
        classification: bool,
    },
    /// Mini-batches were trained: (step, mini-batch loss) for each, in order.
    Steps {
        /// 0-based epoch of the last one.
        epoch: usize,
        points: Vec<(usize, f64)>,
    },
    Epoch(EpochMetrics),
    /// What the dashboard draws (sent as often as `SNAPSHOT_SHARE` of the time allows, and at
    /// every pause and at the end).
    Snapshot(Box<Snapshot>),
    /// The weights and the snapshot before the first step (epoch 0) and at the end of
    /// every epoch, for the timeline (its snapshot is also the dashboard's latest).
    Frame(Box<Frame>),
    /// Paused (by Pause, or after Step) with the current weights.
    Paused {
        weights: Weights,
    },
    /// The run ended; the weights are final.
    Finished {
        why: FinishReason,
        weights: Weights,
    },
    /// Training could not start or failed; `weights` holds the last good ones when any.
    Failed {
        message: String,
        weights: Option<Weights>,
    },
}

#[derive(Clone, Debug, PartialEq)]
pub enum FinishReason {
    Done(Finish),
    Stopped,
}

/// The most of the training time dashboard snapshots may take.
pub const SNAPSHOT_SHARE: f64 = 0.05;
/// And never more often than this.
pub const SNAPSHOT_MIN_GAP: Duration = Duration::from_millis(50);

pub struct TrainJob {
    commands: Sender<Command>,
    events: Receiver<Event>,
    handle: Option<JoinHandle<()>>,
    /// Why the thread could not start, when it could not.
    spawn_error: Option<String>,
    /// Set once Finished or Failed arrived (or was made up for a worker that vanished), so
    /// a window never waits on a run that cannot end.
    ended: Cell<bool>,
    /// On a remote device: the watchdog that ends a run whose server stopped answering.
    watch: Option<Arc<Watch>>,
}

impl TrainJob {
    /// Starts a worker for `graph` (a copy) and `config`; `base` is the project's folder.
    /// It begins paused when `start_paused`, else running.
    pub fn start(
        graph: Graph,
        config: TrainingConfig,
        base: Option<PathBuf>,
        start_paused: bool,
        wake: impl Fn() + Send + 'static,
    ) -> Self {
        let watch = (config.device == crate::project::training::DeviceChoice::Remote).then(|| {
            let spec = remote::spec_of(&config);
            Watch::new(&spec.url, spec.timeout)
        });
        let w = watch.clone();
        let mut job = Self::spawn(
            move |commands, events, wake| {
                worker(graph, config, base, start_paused, commands, events, wake, w)
            },
            wake,
        );
        job.watch = watch;
        job
    }

    /// Test hook: a worker that runs `body` instead of training, to show what the window
    /// sees of one that panics or ends without a word.
    #[cfg(feature = "test-ops")]
    pub fn start_with(body: impl FnOnce(&Sender<Event>) + Send + 'static) -> Self {
        Self::spawn(move |_, events, _| body(&events), || {})
    }

    /// Runs `body` on the training thread. A panic in it is caught and sent as `Failed`
    /// with its text; a thread that cannot start, or ends without Finished or Failed, is
    /// reported as `Failed` by `drain` and `wait` once the channel disconnects.
    fn spawn(
        body: impl FnOnce(Receiver<Command>, Sender<Event>, &dyn Fn()) + Send + 'static,
        wake: impl Fn() + Send + 'static,
    ) -> Self {
        let (ctx, crx) = channel();
        let (etx, erx) = channel();
        let spawned = std::thread::Builder::new()
            .name("nodegrad-train".into())
            .spawn(move || {
                let report = etx.clone();
                let run = catch_unwind(AssertUnwindSafe(|| body(crx, etx, &wake)));
                if let Err(p) = run {
                    let _ = report.send(Event::Failed {
                        message: format!(
                            "training stopped: the worker failed ({}); the graph is unchanged",
                            panic_text(p.as_ref())
                        ),
                        weights: None,
                    });
                }
                wake();
            });
        let (handle, spawn_error) = match spawned {
            Ok(h) => (Some(h), None),
            Err(e) => (None, Some(e.to_string())),
        };
        Self {
            commands: ctx,
            events: erx,
            handle,
            spawn_error,
            ended: Cell::new(false),
            watch: None,
        }
    }

    pub fn send(&self, cmd: Command) {
        // A finished worker no longer listens; nothing to do then.
        let _ = self.commands.send(cmd);
    }

    /// Every event waiting now; a worker gone without Finished or Failed ends in `Failed`.
    pub fn drain(&self) -> Vec<Event> {
        let mut out = Vec::new();
        loop {
            match self.events.try_recv() {
                Ok(e) => out.push(self.note(e)),
                Err(TryRecvError::Empty) => {
                    out.extend(self.watchdog());
                    break;
                }
                Err(TryRecvError::Disconnected) => {
                    out.extend(self.vanished());
                    break;
                }
            }
        }
        out
    }

    /// The `Failed` of a remote run whose server did not answer within the timeout (once);
    /// the worker thread, blocked in a read, is left behind.
    fn watchdog(&self) -> Option<Event> {
        let w = self.watch.as_ref()?;
        if self.ended.get() || !w.expired() {
            return None;
        }
        self.ended.set(true);
        Some(Event::Failed {
            message: w.timeout_message(),
            weights: w.kept().map(|(_, ws)| ws),
        })
    }

    pub fn is_finished(&self) -> bool {
        self.handle.as_ref().is_none_or(|h| h.is_finished())
    }

    /// Blocks until the next event (tests and the CLI's window flag), or `None` on timeout
    /// or after the last event.
    pub fn wait(&self, timeout: Duration) -> Option<Event> {
        let deadline = Instant::now() + timeout;
        loop {
            // A remote run wakes up when its watchdog is due, too.
            let left = deadline.saturating_duration_since(Instant::now());
            let slice = match self.watch.as_ref().and_then(|w| w.remaining()) {
                Some(r) if !self.ended.get() => left.min(r + Duration::from_millis(10)),
                _ => left,
            };
            match self.events.recv_timeout(slice) {
                Ok(e) => return Some(self.note(e)),
                Err(RecvTimeoutError::Disconnected) => return self.vanished(),
                Err(RecvTimeoutError::Timeout) => {
                    if let Some(e) = self.watchdog() {
                        return Some(e);
                    }
                    if Instant::now() >= deadline {
                        return None;
                    }
                }
            }
        }
    }

    fn note(&self, e: Event) -> Event {
        if matches!(e, Event::Finished { .. } | Event::Failed { .. }) {
            self.ended.set(true);
        }
        e
    }

    /// The `Failed` a window needs when the worker is gone without a last word (once).
    fn vanished(&self) -> Option<Event> {
        if self.ended.replace(true) {
            return None;
        }
        let why = match &self.spawn_error {
            Some(e) => format!("the training thread could not start ({e})"),
            None => "the training thread ended without a result".into(),
        };
        Some(Event::Failed {
            message: format!("training stopped: {why}; the graph is unchanged"),
            weights: None,
        })
    }
}

impl Drop for TrainJob {
    fn drop(&mut self) {
        let _ = self.commands.send(Command::Stop);
    }
}

#[allow(clippy::too_many_arguments)]
fn worker(
    graph: Graph,
    config: TrainingConfig,
    base: Option<PathBuf>,
    start_paused: bool,
    commands: Receiver<Command>,
    events: Sender<Event>,
    wake: &dyn Fn(),
    watch: Option<Arc<Watch>>,
) {
    let send = |e: Event| {
        let _ = events.send(e);
        wake();
    };
    let built = TrainDevice::for_config(&config).and_then(|device| {
        let prepared = Prepared::new(&config, base.as_deref())?;
        Trainer::new(&graph, &config, prepared, device)
    });
    let mut trainer = match built {
        Ok(t) => t,
        Err(e) => {
            send(Event::Failed {
                message: e.to_string(),
                weights: None,
            });
            return;
        }
    };
    send(Event::Ready {
        device: trainer.device.name.clone(),
        notice: trainer.device.notice.clone(),
        train: trainer.prepared.split.train.len(),
        val: trainer.prepared.split.val.len(),
        steps_per_epoch: trainer.steps_per_epoch(),
        classification: trainer.is_classification(),
    });
    let weights_or_empty = |t: &Trainer| t.weights().unwrap_or_default();
    let mut clock = SnapshotClock::new(SNAPSHOT_SHARE, SNAPSHOT_MIN_GAP);
    let snapshot = |t: &Trainer, clock: &mut SnapshotClock| {
        let started = Instant::now();
        // A failing snapshot only costs the dashboard a frame; training goes on.
        if let Ok(s) = t.snapshot() {
            send(Event::Snapshot(Box::new(s)));
        }
        let now = Instant::now();
        clock.took(now - started, now);
    };
    let frame = |t: &Trainer, clock: &mut SnapshotClock| {
        let started = Instant::now();
        match Frame::capture(t) {
            Ok(f) => send(Event::Frame(Box::new(f))),
            // Without weights no frame: the dashboard still gets its snapshot when it can.
            Err(_) => {
                if let Ok(s) = t.snapshot() {
                    send(Event::Snapshot(Box::new(s)));
                }
            }
        }
        let now = Instant::now();
        clock.took(now - started, now);
    };
    // The untrained network, before the first step: the timeline's epoch 0.
    frame(&trainer, &mut clock);
    let mut running = !start_paused;
    let mut steps_left: usize = 0;
    let mut last_flush = Instant::now();
    let mut points: Vec<(usize, f64)> = Vec::new();
    let flush = |points: &mut Vec<(usize, f64)>, epoch: usize| {
        if !points.is_empty() {
            send(Event::Steps {
                epoch,
                points: std::mem::take(points),
            });
        }
    };
    loop {
        let cmd = if running || steps_left > 0 {
            match commands.try_recv() {
                Ok(c) => Some(c),
                Err(TryRecvError::Empty) => None,
                Err(TryRecvError::Disconnected) => return,
            }
        } else {
            if let Some(w) = &watch {
                w.idle();
            }
            let c = commands.recv();
            if let Some(w) = &watch {
                w.tick();
            }
            match c {
                Ok(c) => Some(c),
                Err(_) => return,
            }
        };
        match cmd {
            Some(Command::Run) => running = true,
            Some(Command::Pause) => {
                if running {
                    running = false;
                    flush(&mut points, trainer.epoch());
                    snapshot(&trainer, &mut clock);
                    send(Event::Paused {
                        weights: weights_or_empty(&trainer),
                    });
                }
                continue;
            }
            Some(Command::Step) => {
                running = false;
                steps_left += 1;
            }
            Some(Command::Stop) => {
                trainer.stop();
                flush(&mut points, trainer.epoch());
                snapshot(&trainer, &mut clock);
                send(Event::Finished {
                    why: FinishReason::Stopped,
                    weights: weights_or_empty(&trainer),
                });
                return;
            }
            None => {}
        }
        if !running && steps_left == 0 {
            continue;
        }
        match trainer.step() {
            Ok(r) => {
                if let Some(w) = &watch {
                    // A dead server cannot hand the weights back: keep each step's here.
                    if let Ok(ws) = trainer.weights() {
                        w.keep(r.step, ws);
                    }
                    w.tick();
                }
                // Step losses go out in bundles about 60 times a second (and at once for a
                // step by hand): the window cannot show more, and each event costs a repaint.
                points.push((r.step, r.loss));
                let by_hand = steps_left > 0;
                if by_hand
                    || r.epoch_done.is_some()
                    || last_flush.elapsed() >= Duration::from_millis(16)
                {
                    last_flush = Instant::now();
                    flush(&mut points, r.epoch);
                }
                let epoch_end = r.epoch_done.is_some();
                if let Some(m) = r.epoch_done {
                    send(Event::Epoch(m));
                    frame(&trainer, &mut clock);
                } else if running && clock.due(Instant::now()) {
                    snapshot(&trainer, &mut clock);
                }
                if let Some(f) = r.finished {
                    if !epoch_end {
                        snapshot(&trainer, &mut clock);
                    }
                    send(Event::Finished {
                        why: FinishReason::Done(f),
                        weights: weights_or_empty(&trainer),
                    });
                    return;
                }
                if steps_left > 0 {
                    steps_left -= 1;
                    if steps_left == 0 {
                        if !epoch_end {
                            snapshot(&trainer, &mut clock);
                        }
                        send(Event::Paused {
                            weights: weights_or_empty(&trainer),
                        });
                    }
                }
            }
            Err(e) => {
                flush(&mut points, trainer.epoch());
                if let (Some(w), super::TrainError::Backend(_)) = (&watch, &e) {
                    let kept = w.kept();
                    send(Event::Failed {
                        message: remote::lost(&w.url, &e, kept.as_ref().map(|k| k.0)),
                        weights: kept.map(|k| k.1),
                    });
                    return;
                }
                send(Event::Failed {
                    message: e.to_string(),
                    weights: trainer.weights().ok(),
                });
                return;
            }
        }
    }
}
