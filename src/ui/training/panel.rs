//! The Training panel: dataset and binding, optimizer settings, Start/Pause/Step/Stop/Reset,
//! the loss and accuracy curves and a preview of the data. The run itself happens on the
//! worker thread of `train::worker`; this only sends commands and draws its events.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use egui::{Color32, Ui};
use egui_plot::{Plot, PlotPoints, Points};

use crate::analysis::Analysis;
use crate::data::Dataset;
use crate::graph::{Graph, NodeId, fmt_number};
use crate::project::training::{DatasetSpec, TrainingConfig};
use crate::train::worker::{Command, Event, FinishReason, TrainJob, Weights};
use crate::train::{Finish, Prepared};

use crate::ui::training::dashboard::{self, CurveOptions, Run, View};
use crate::ui::document::Edit;
pub use crate::ui::training::settings::guess_config;
use crate::ui::training::settings::settings_ui;

#[derive(Clone, Debug, PartialEq)]
pub enum RunState {
    Idle,
    Starting,
    Running,
    Paused,
    Finished(String),
    Failed(String),
}

pub struct TrainingPanel {
    pub open: bool,
    job: Option<TrainJob>,
    pub state: RunState,
    pub device: String,
    pub notice: Option<String>,
    /// This run's curves and dashboard snapshots.
    pub run: Run,
    /// The run before this one, drawn grey for comparison.
    pub previous: Option<Run>,
    /// The dashboard view on the right.
    pub view: View,
    pub curve_options: CurveOptions,
    pub norms_log: bool,
    pub norms_biases: bool,
    /// Set once the user picks a view; until then each run shows what fits its data.
    view_chosen: bool,
    /// A plot to save as PNG once the screenshot of this frame arrives.
    png_request: Option<(PathBuf, egui::Rect)>,
    pub steps_per_epoch: usize,
    pub train_count: usize,
    pub val_count: usize,
    pub classification: bool,
    pub epoch: usize,
    pub step: usize,
    started: Option<Instant>,
    /// The graph revision the weights were trained from (warn when it changed since).
    trained_revision: u64,
    /// The data as training sees it (split, standardized), keyed by what it depends on.
    preview: Option<(PreviewKey, Result<Arc<Prepared>, String>)>,
    /// The sample "Put into the inputs" copies.
    pub sample: usize,
}

type PreviewKey = (DatasetSpec, u64, bool, u64);

fn preview_key(cfg: &TrainingConfig) -> PreviewKey {
    (
        cfg.dataset.clone(),
        cfg.seed,
        cfg.standardize,
        cfg.validation.to_bits(),
    )
}

impl Default for TrainingPanel {
    fn default() -> Self {
        Self {
            open: false,
            job: None,
            state: RunState::Idle,
            device: String::new(),
            notice: None,
            run: Run::default(),
            previous: None,
            view: View::Boundary,
            curve_options: CurveOptions::default(),
            norms_log: true,
            norms_biases: false,
            view_chosen: false,
            png_request: None,
            steps_per_epoch: 0,
            train_count: 0,
            val_count: 0,
            classification: false,
            epoch: 0,
            step: 0,
            started: None,
            trained_revision: 0,
            preview: None,
            sample: 0,
        }
    }
}

/// What the panel asks the app to do.
#[derive(Debug, Default)]
pub struct PanelOutput {
    pub edits: Vec<Edit>,
    pub training: Option<Option<TrainingConfig>>,
    pub message: Option<String>,
}

impl TrainingPanel {
    pub fn is_active(&self) -> bool {
        matches!(
            self.state,
            RunState::Starting | RunState::Running | RunState::Paused
        )
    }

    pub fn is_running(&self) -> bool {
        matches!(self.state, RunState::Starting | RunState::Running)
    }

    /// Starts a run (paused when `paused`), or resumes the current one.
    pub fn start(
        &mut self,
        graph: &Graph,
        config: &TrainingConfig,
        base: Option<PathBuf>,
        revision: u64,
        paused: bool,
        ctx: &egui::Context,
    ) {
        if let Some(job) = &self.job {
            if self.state == RunState::Paused {
                job.send(if paused { Command::Step } else { Command::Run });
                if !paused {
                    self.state = RunState::Running;
                }
                return;
            }
        }
        if !self.run.epochs.is_empty() || !self.run.batch_loss.is_empty() {
            self.previous = Some(std::mem::take(&mut self.run));
        }
        self.run = Run::default();
        self.epoch = 0;
        self.step = 0;
        self.notice = None;
        self.trained_revision = revision;
        self.started = Some(Instant::now());
        let wake_ctx = ctx.clone();
        let job = TrainJob::start(graph.clone(), config.clone(), base, paused, move || {
            wake_ctx.request_repaint()
        });
        if paused {
            job.send(Command::Step);
        }
        self.job = Some(job);
        self.state = RunState::Starting;
    }

    pub fn send(&mut self, cmd: Command) {
        if let Some(job) = &self.job {
            job.send(cmd);
        }
    }

    /// Handles waiting events; returns trained weights to write back, when some arrived.
    pub fn poll(&mut self, current_revision: u64) -> (Option<Weights>, Option<String>) {
        let Some(job) = &self.job else {
            return (None, None);
        };
        let mut weights = None;
        let mut message = None;
        for ev in job.drain() {
            match ev {
                Event::Ready {
                    device,
                    notice,
                    train,
                    val,
                    steps_per_epoch,
                    classification,
                } => {
                    self.device = device;
                    self.notice = notice;
                    self.train_count = train;
                    self.val_count = val;
                    self.steps_per_epoch = steps_per_epoch;
                    self.classification = classification;
                    if self.state == RunState::Starting {
                        self.state = RunState::Running;
                    }
                }
                Event::Steps { epoch, points } => {
                    self.epoch = epoch;
                    if let Some(&(s, _)) = points.last() {
                        self.step = s;
                    }
                    self.run
                        .batch_loss
                        .extend(points.into_iter().map(|(s, l)| [s as f64, l]));
                }
                Event::Epoch(m) => {
                    self.epoch = m.epoch;
                    self.run.epochs.push(m);
                }
                Event::Snapshot(s) => {
                    if !self.view_chosen {
                        self.view = if s.boundary.is_some() || s.fit.is_some() {
                            View::Boundary
                        } else if s.confusion.is_some() {
                            View::Confusion
                        } else {
                            View::GradNorms
                        };
                    }
                    self.run.push_snapshot(*s);
                }
                Event::Paused { weights: w } => {
                    self.state = RunState::Paused;
                    weights = Some(w);
                    message = Some("Training paused: the trained weights are in the graph".into());
                }
                Event::Finished { why, weights: w } => {
                    let text = match why {
                        FinishReason::Stopped => "stopped".to_string(),
                        FinishReason::Done(Finish::Completed) => "finished".to_string(),
                        FinishReason::Done(Finish::EarlyStopped { best_epoch }) => format!(
                            "stopped early: no better validation loss since epoch {best_epoch} \
                             (its weights are kept)"
                        ),
                    };
                    message = Some(format!(
                        "Training {text}: the trained weights are in the graph"
                    ));
                    self.state = RunState::Finished(text);
                    weights = Some(w);
                }
                Event::Failed {
                    message: m,
                    weights: w,
                } => {
                    message = Some(m.clone());
                    self.state = RunState::Failed(m);
                    weights = w;
                }
            }
        }
        if !self.is_active() && job.is_finished() {
            self.job = None;
        }
        if weights.is_some() && current_revision != self.trained_revision {
            message = Some(
                "The graph changed while training: the weights went into the nodes that still \
                 match"
                    .into(),
            );
        }
        (weights, message)
    }

    /// The trainable tensors of the graph, to forget on Reset.
    fn trainable(analysis: &Analysis) -> Vec<(NodeId, String)> {
        analysis
            .owned
            .iter()
            .flat_map(|(id, specs)| {
                specs
                    .iter()
                    .filter(|s| s.trainable)
                    .map(move |s| (*id, s.key.to_string()))
            })
            .collect()
    }

    /// The state, epoch and step; while running or paused also speed, time and device.
    fn progress_text(&self, config: &TrainingConfig) -> String {
        let mut s = match &self.state {
            RunState::Idle => "Not trained yet".to_string(),
            RunState::Starting => "Loading the data…".to_string(),
            RunState::Running => "Training".to_string(),
            RunState::Paused => "Paused".to_string(),
            RunState::Finished(t) => format!("Training {t}"),
            RunState::Failed(_) => "Failed".to_string(),
        };
        if self.step > 0 {
            let total_steps = self.steps_per_epoch * config.epochs;
            s += &format!(
                " · epoch {}/{} · step {}/{}",
                (self.epoch + usize::from(self.is_running())).min(config.epochs),
                config.epochs,
                self.step,
                total_steps
            );
        }
        if let Some(&[_, l]) = self.run.batch_loss.last() {
            s += &format!(" · batch loss {}", fmt_number(l));
        }
        if let Some(a) = self
            .run
            .epochs
            .last()
            .and_then(|m| m.val.and_then(|v| v.accuracy).or(m.train.accuracy))
        {
            s += &format!(" · accuracy {:.1}%", 100.0 * a);
        }
        // Speed and time change from run to run: only while the run is live.
        if self.is_active() {
            if let Some(m) = self.run.epochs.last() {
                s += &format!(" · {:.0} samples/s", m.samples_per_s);
            }
            if let Some(t) = self.started {
                let elapsed = t.elapsed().as_secs_f64();
                s += &format!(" · {}", clock(elapsed));
                let total = (self.steps_per_epoch * config.epochs) as f64;
                if self.step > 0 && total > 0.0 && self.is_running() {
                    let left = elapsed / self.step as f64 * (total - self.step as f64);
                    s += &format!(" elapsed, {} left", clock(left.max(0.0)));
                }
            }
            if !self.device.is_empty() {
                s += &format!(" · {}", self.device);
            }
        }
        s
    }

    /// Fraction of the run done, for the progress bar.
    fn progress(&self, config: &TrainingConfig) -> f32 {
        let total = (self.steps_per_epoch * config.epochs).max(1);
        (self.step as f32 / total as f32).clamp(0.0, 1.0)
    }

    /// The panel. Settings changes and weight edits come back in the output.
    #[allow(clippy::too_many_arguments)]
    pub fn ui(
        &mut self,
        ui: &mut Ui,
        graph: &Graph,
        analysis: &Analysis,
        training: Option<&TrainingConfig>,
        base: Option<PathBuf>,
        revision: u64,
        selected: Option<NodeId>,
    ) -> PanelOutput {
        let mut out = PanelOutput::default();
        let Some(config) = training else {
            ui.horizontal(|ui| {
                ui.label("This project has no dataset yet.");
                if ui.button("Set up training").clicked() {
                    out.training = Some(Some(guess_config(graph)));
                }
            });
            return out;
        };
        let mut cfg = config.clone();
        ui.horizontal_wrapped(|ui| {
            self.controls(ui, graph, analysis, &cfg, base.clone(), revision, &mut out);
            ui.separator();
            if ui
                .button("Export CSV…")
                .on_hover_text("Save the per-epoch metrics of this run as CSV")
                .clicked()
            {
                out.message = Some(self.export_csv());
            }
        });
        ui.add(
            egui::ProgressBar::new(self.progress(&cfg))
                .text(self.progress_text(&cfg))
                .desired_height(18.0),
        );
        if let Some(n) = &self.notice {
            ui.colored_label(Color32::from_rgb(230, 160, 40), n);
        }
        if let RunState::Failed(m) = &self.state {
            ui.colored_label(Color32::from_rgb(230, 80, 80), m);
        }
        let data = self
            .preview
            .as_ref()
            .and_then(|(_, p)| p.as_ref().ok())
            .cloned();
        ui.horizontal_top(|ui| {
            let h = ui.available_height();
            ui.allocate_ui(egui::vec2(300.0, h), |ui| {
                ui.set_min_height(h);
                ui.add_enabled_ui(!self.is_active(), |ui| {
                    egui::ScrollArea::vertical()
                        .id_salt("training-settings-scroll")
                        .show(ui, |ui| settings_ui(ui, graph, &mut cfg));
                });
            });
            ui.separator();
            ui.columns(2, |cols| {
                let mut png = false;
                let r = cols[0]
                    .scope(|ui| {
                        png = dashboard::curves_ui(
                            ui,
                            &self.run,
                            self.previous.as_ref(),
                            &mut self.curve_options,
                        );
                    })
                    .response
                    .rect;
                if png {
                    self.request_png(cols[0].ctx(), r, "loss");
                }
                let ui = &mut cols[1];
                let mut png = false;
                ui.horizontal_wrapped(|ui| {
                    for v in View::ALL {
                        if ui.selectable_value(&mut self.view, v, v.label()).clicked() {
                            self.view_chosen = true;
                        }
                    }
                    png = ui
                        .small_button("PNG…")
                        .on_hover_text("Save this view as a PNG image")
                        .clicked();
                });
                if self.view != View::Data {
                    // Loads the data for the plots (cached).
                    self.ensure_preview(&cfg, base.as_deref());
                }
                let view_rect = ui.available_rect_before_wrap();
                match self.view {
                    View::Boundary => dashboard::boundary_ui(
                        ui,
                        &mut self.run,
                        data.as_ref().map(|p| &p.data),
                        data.as_ref().map(|p| p.split.val.as_slice()).unwrap_or(&[]),
                    ),
                    View::Activations => dashboard::activations_ui(ui, &self.run, selected),
                    View::Weights => dashboard::weights_ui(ui, &self.run),
                    View::GradNorms => dashboard::grad_norms_ui(
                        ui,
                        &self.run,
                        &mut self.norms_log,
                        &mut self.norms_biases,
                    ),
                    View::Confusion => {
                        dashboard::confusion_ui(ui, &self.run, data.as_ref().map(|p| &p.data))
                    }
                    View::Data => {
                        if let Some(e) = self.preview_ui(ui, graph, &cfg, base.as_deref()) {
                            out.edits.push(e);
                        }
                    }
                }
                if png {
                    let label = self
                        .view
                        .label()
                        .to_lowercase()
                        .replace([' ', '/', '&'], "-");
                    self.request_png(ui.ctx(), view_rect, &label);
                }
            });
        });
        self.save_png_if_ready(ui.ctx(), &mut out);
        if &cfg != config {
            out.training = Some(Some(cfg));
        }
        out
    }

    #[allow(clippy::too_many_arguments)]
    fn controls(
        &mut self,
        ui: &mut Ui,
        graph: &Graph,
        analysis: &Analysis,
        cfg: &TrainingConfig,
        base: Option<PathBuf>,
        revision: u64,
        out: &mut PanelOutput,
    ) {
        let ctx = ui.ctx().clone();
        let running = self.is_running();
        if ui
            .add_enabled(!running, egui::Button::new("▶ Train"))
            .on_hover_text("Train (or resume) until the epochs are done")
            .clicked()
        {
            self.start(graph, cfg, base.clone(), revision, false, &ctx);
        }
        if ui
            .add_enabled(running, egui::Button::new("⏸ Pause"))
            .on_hover_text("Pause and put the current weights into the graph")
            .clicked()
        {
            self.send(Command::Pause);
        }
        if ui
            .add_enabled(!running, egui::Button::new("⏭ Step"))
            .on_hover_text("Train on one mini-batch, then pause")
            .clicked()
        {
            self.start(graph, cfg, base, revision, true, &ctx);
        }
        if ui
            .add_enabled(self.is_active(), egui::Button::new("⏹ Stop"))
            .on_hover_text("End this run and keep its weights")
            .clicked()
        {
            self.send(Command::Stop);
        }
        if ui
            .add_enabled(!running, egui::Button::new("↺ Reset"))
            .on_hover_text("Draw every weight again from its initializer (undo brings them back)")
            .clicked()
        {
            self.send(Command::Stop);
            self.job = None;
            self.state = RunState::Idle;
            if !self.run.epochs.is_empty() {
                self.previous = Some(std::mem::take(&mut self.run));
            }
            self.run = Run::default();
            self.step = 0;
            self.epoch = 0;
            out.edits
                .push(Edit::ResetTensors(Self::trainable(analysis)));
            out.message = Some("Weights reset to their initial values".into());
        }
    }

    /// Loads the data as training sees it, once per dataset setting.
    fn ensure_preview(&mut self, cfg: &TrainingConfig, base: Option<&std::path::Path>) {
        let key = preview_key(cfg);
        if self.preview.as_ref().is_none_or(|(k, _)| k != &key) {
            // The worker loads its own copy when training starts; this one is for drawing.
            let loaded = Prepared::new(cfg, base)
                .map(Arc::new)
                .map_err(|e| e.to_string());
            self.preview = Some((key, loaded));
        }
    }

    /// Asks for a file name, then for a screenshot of this frame, cropped to `rect` later.
    fn request_png(&mut self, ctx: &egui::Context, rect: egui::Rect, name: &str) {
        if let Some(path) = rfd::FileDialog::new()
            .add_filter("PNG image", &["png"])
            .set_file_name(format!("{name}.png"))
            .save_file()
        {
            self.png_request = Some((path, rect));
            ctx.send_viewport_cmd(egui::ViewportCommand::Screenshot(egui::UserData::default()));
        }
    }

    /// Crops the arrived screenshot to the requested plot and saves it.
    fn save_png_if_ready(&mut self, ctx: &egui::Context, out: &mut PanelOutput) {
        if self.png_request.is_none() {
            return;
        }
        let shot = ctx.input(|i| {
            i.raw.events.iter().find_map(|e| match e {
                egui::Event::Screenshot { image, .. } => Some(image.clone()),
                _ => None,
            })
        });
        if let (Some(image), Some((path, rect))) = (shot, self.png_request.take()) {
            let region = image.region(&rect, Some(ctx.pixels_per_point()));
            out.message = Some(match crate::ui::files::save_png(&path, &region) {
                Ok(()) => format!("saved {}", path.display()),
                Err(e) => e,
            });
        } else {
            ctx.request_repaint();
        }
    }

    /// Writes the per-epoch metrics to a CSV file the user picks; returns the message.
    fn export_csv(&self) -> String {
        if self.run.epochs.is_empty() {
            return "Nothing to export yet: train first".into();
        }
        let Some(path) = rfd::FileDialog::new()
            .add_filter("CSV", &["csv"])
            .set_file_name("metrics.csv")
            .save_file()
        else {
            return String::new();
        };
        match crate::train::metrics_csv(&self.run.epochs)
            .and_then(|b| crate::project::write_atomic(&path, &b).map_err(|e| e.to_string()))
        {
            Ok(()) => format!("saved the metrics to {}", path.display()),
            Err(e) => format!("could not save {}: {e}", path.display()),
        }
    }

    /// The data preview; "Put into the inputs" gives an edit.
    fn preview_ui(
        &mut self,
        ui: &mut Ui,
        graph: &Graph,
        cfg: &TrainingConfig,
        base: Option<&std::path::Path>,
    ) -> Option<Edit> {
        self.ensure_preview(cfg, base);
        let Some((_, loaded)) = &self.preview else {
            return None;
        };
        let mut edit = None;
        match loaded {
            Err(e) => {
                ui.colored_label(Color32::from_rgb(230, 80, 80), e);
            }
            Ok(prepared) => {
                let d = &prepared.data;
                ui.horizontal(|ui| {
                    ui.label("Sample");
                    ui.add(
                        egui::DragValue::new(&mut self.sample).range(0..=d.len().saturating_sub(1)),
                    );
                    if ui
                        .button("Put into the inputs")
                        .on_hover_text(
                            "Copy this sample's features and target into the bound Input nodes, \
                             so the cards and the stepper show the network on it",
                        )
                        .clicked()
                    {
                        edit =
                            sample_edit(graph, cfg, d, self.sample.min(d.len().saturating_sub(1)));
                    }
                });
                ui.label(format!(
                    "{}: {} samples, {} feature(s){}",
                    d.name,
                    d.len(),
                    d.feature_len(),
                    match d.classes() {
                        Some(c) => format!(", {c} classes"),
                        None => ", regression".into(),
                    }
                ));
                if let Some((h, w)) = d.image {
                    image_grid(ui, d, h, w);
                } else {
                    scatter(ui, d);
                }
            }
        }
        edit
    }
}

/// The edit that puts sample `i` into the features and target Input nodes, in their shapes
/// (a class index becomes one-hot where the target holds one value per class).
fn sample_edit(graph: &Graph, cfg: &TrainingConfig, d: &Dataset, i: usize) -> Option<Edit> {
    let features = graph.find(&cfg.features)?;
    let target = graph.find(&cfg.target)?;
    let fshape = match features.value() {
        Some(v) if v.len() == d.feature_len() => v.shape().to_vec(),
        _ => d.feature_shape.clone(),
    };
    let x =
        crate::graph::Array::new(fshape, d.sample(i).iter().map(|&v| v as f64).collect()).ok()?;
    let t = d.targets[i] as f64;
    let y = match target.value() {
        Some(v) if v.len() > 1 && Some(v.len()) == d.classes() => {
            let mut one_hot = vec![0.0; v.len()];
            one_hot[t as usize] = 1.0;
            crate::graph::Array::new(v.shape().to_vec(), one_hot).ok()?
        }
        Some(v) if v.len() == 1 => crate::graph::Array::new(v.shape().to_vec(), vec![t]).ok()?,
        _ => crate::graph::Array::scalar(t),
    };
    Some(Edit::SetTensors(vec![
        (features.id, "value".into(), x),
        (target.id, "value".into(), y),
    ]))
}

/// A class's colour in plots.
pub fn class_color(c: usize) -> Color32 {
    const C: [Color32; 10] = [
        Color32::from_rgb(66, 133, 244),
        Color32::from_rgb(244, 160, 0),
        Color32::from_rgb(52, 168, 83),
        Color32::from_rgb(234, 67, 53),
        Color32::from_rgb(155, 89, 182),
        Color32::from_rgb(26, 188, 156),
        Color32::from_rgb(241, 196, 15),
        Color32::from_rgb(149, 165, 166),
        Color32::from_rgb(230, 126, 34),
        Color32::from_rgb(52, 73, 94),
    ];
    C[c % C.len()]
}

fn scatter(ui: &mut Ui, d: &Dataset) {
    let mut plot = Plot::new("data-preview");
    if d.feature_len() == 2 {
        plot = plot.data_aspect(1.0);
    }
    plot.show(ui, |p| {
        if d.feature_len() == 1 {
            let pts: Vec<[f64; 2]> = (0..d.len())
                .map(|i| [d.sample(i)[0] as f64, d.targets[i] as f64])
                .collect();
            p.points(Points::new("samples", PlotPoints::new(pts)).radius(2.0));
            return;
        }
        let classes = d.classes().unwrap_or(1);
        for c in 0..classes {
            let pts: Vec<[f64; 2]> = (0..d.len())
                .filter(|&i| d.targets[i] as usize == c)
                .map(|i| [d.sample(i)[0] as f64, d.sample(i)[1] as f64])
                .collect();
            p.points(
                Points::new(format!("class {c}"), PlotPoints::new(pts))
                    .radius(2.5)
                    .color(class_color(c)),
            );
        }
    });
}

/// One grey image of `h` x `w` values, scaled to its own range, `size` points wide.
pub fn image_cell(ui: &mut Ui, s: &[f32], h: usize, w: usize, size: f32) -> egui::Response {
    let (rect, resp) = ui.allocate_exact_size(egui::vec2(size, size), egui::Sense::hover());
    let painter = ui.painter_at(rect);
    let px = size / w.max(h) as f32;
    let (lo, hi) = s
        .iter()
        .fold((f32::MAX, f32::MIN), |(a, b), &v| (a.min(v), b.max(v)));
    for y in 0..h {
        for x in 0..w {
            let v = ((s[y * w + x] - lo) / (hi - lo).max(1e-6)).clamp(0.0, 1.0);
            let r = egui::Rect::from_min_size(
                rect.min + egui::vec2(x as f32 * px, y as f32 * px),
                egui::vec2(px, px),
            );
            painter.rect_filled(r, 0.0, Color32::from_gray((v * 255.0) as u8));
        }
    }
    resp
}

fn image_grid(ui: &mut Ui, d: &Dataset, h: usize, w: usize) {
    let cols = 8;
    let cell = ((ui.available_width() / cols as f32) - 4.0).clamp(12.0, 48.0);
    egui::Grid::new("image-preview")
        .spacing([4.0, 4.0])
        .show(ui, |ui| {
            for i in 0..d.len().min(32) {
                image_cell(ui, d.sample(i), h, w, cell)
                    .on_hover_text(format!("sample {i}, label {}", d.targets[i]));
                if (i + 1) % cols == 0 {
                    ui.end_row();
                }
            }
        });
}

/// `m:ss` or `h:mm:ss`.
fn clock(secs: f64) -> String {
    let s = secs.round() as u64;
    if s >= 3600 {
        format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
    } else {
        format!("{}:{:02}", s / 60, s % 60)
    }
}
