//! Training in the window: the Training tile (run controls, progress, settings), the loss
//! curves tile and the dashboard view tiles. The run itself happens on the worker thread of
//! `train::worker`; this only sends commands, keeps its events and draws them. What the app
//! should do (weights into the graph, new settings, a message) comes back as `AppCommand`s.

use std::path::PathBuf;
use std::sync::Arc;

use egui::{Color32, Ui};
use egui_plot::{Plot, PlotPoints, Points};

use crate::analysis::Analysis;
use crate::data::Dataset;
use crate::graph::{Graph, NodeId};
use crate::project::training::{DatasetSpec, TrainingConfig};
use crate::train::compare::{RunSettings, Variation};
use crate::train::worker::{Command, Event, FinishReason, TrainJob, Weights};
use crate::train::{Finish, Prepared};

mod history;

/// Runs kept for comparison besides the current one (the oldest goes first).
pub const MAX_RUNS: usize = 8;

use crate::ui::command::AppCommand;
use crate::ui::document::Edit;
use crate::ui::plot::classes::{class_color, image_cell};
use crate::ui::training::dashboard::{self, CurveOptions, Run, View};
use crate::ui::training::run_state::{Latest, Progress, RunState};

/// What the status bar says when training hands its weights to the graph. The cards show
/// the one sample in the Input nodes, not the dataset the curves average over, so their loss
/// can differ a lot from the curves: say so where the student reads it.
const WEIGHTS_IN_THE_GRAPH: &str =
    "the trained weights are in the graph (the cards show the one sample in the inputs)";

pub use crate::ui::training::settings::guess_config;
use crate::ui::training::settings::settings_ui;

/// What the training tiles read from the document.
pub struct TrainingContext<'a> {
    pub graph: &'a Graph,
    pub analysis: &'a Analysis,
    pub config: Option<&'a TrainingConfig>,
    /// The project's folder (dataset paths are relative to it).
    pub base: Option<PathBuf>,
    pub revision: u64,
    /// The one selected node (the activations view follows it).
    pub selected: Option<NodeId>,
}

pub struct TrainingPanel {
    /// The Training tiles are shown.
    pub open: bool,
    job: Option<TrainJob>,
    pub state: RunState,
    pub progress: Progress,
    /// This run's curves and dashboard snapshots.
    pub run: Run,
    /// Earlier runs of this session (or reopened from the file), oldest first: their
    /// curves are overlaid and their settings compared.
    pub runs: Vec<Run>,
    /// Runs waiting to start when the current one ends ("Sigmoid vs ReLU").
    queue: Vec<(Graph, TrainingConfig)>,
    /// Save the runs with the project (opt-in).
    pub save_runs: bool,
    /// The size of the runs section when saved, keyed by what it depends on.
    saved_size: Option<((usize, usize, u64), usize)>,
    next_run_id: u64,
    /// What a run needs to start later (a queued run), from the last start.
    start_cx: Option<(Option<PathBuf>, u64, egui::Context)>,
    /// The dashboard view of data and predictions to show (the app opens its tile).
    pub view: View,
    pub curve_options: CurveOptions,
    pub norms_log: bool,
    pub norms_biases: bool,
    /// Set once the user picks a view; until then each run shows what fits its data.
    view_chosen: bool,
    /// A plot to save as PNG once the screenshot of this frame arrives.
    png_request: Option<(PathBuf, egui::Rect)>,
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
            progress: Progress::default(),
            run: Run::default(),
            runs: Vec::new(),
            queue: Vec::new(),
            save_runs: false,
            saved_size: None,
            next_run_id: 1,
            start_cx: None,
            view: View::Boundary,
            curve_options: CurveOptions::default(),
            norms_log: true,
            norms_biases: false,
            view_chosen: false,
            png_request: None,
            trained_revision: 0,
            preview: None,
            sample: 0,
        }
    }
}

/// The view of data and predictions a project opens with: the plane for the 2-D and 1-D
/// datasets (boundary or fit), the images or table otherwise.
pub fn first_view(dataset: &DatasetSpec) -> View {
    match dataset {
        DatasetSpec::Digits | DatasetSpec::Idx { .. } | DatasetSpec::Csv { .. } => View::Data,
        _ => View::Boundary,
    }
}

impl TrainingPanel {
    /// The panel for a newly opened project: open when it trains, on its first view.
    pub fn for_project(config: Option<&TrainingConfig>) -> Self {
        Self {
            open: config.is_some(),
            view: config
                .map(|c| first_view(&c.dataset))
                .unwrap_or(View::Boundary),
            ..Self::default()
        }
    }

    pub fn is_active(&self) -> bool {
        self.state.is_active()
    }

    pub fn is_running(&self) -> bool {
        self.state.is_running()
    }

    /// The student opened a view's tab: later runs keep it.
    pub fn choose_view(&mut self, view: View) {
        self.view = view;
        self.view_chosen = true;
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
        self.start_cx = Some((base.clone(), revision, ctx.clone()));
        self.launch(graph.clone(), config.clone(), paused);
    }

    /// Starts a new run of `graph` with `config` (the current one joins the compared runs).
    fn launch(&mut self, graph: Graph, config: TrainingConfig, paused: bool) {
        let Some((base, revision, ctx)) = self.start_cx.clone() else {
            return;
        };
        self.send(Command::Stop);
        if self.run.has_data() {
            self.runs.push(std::mem::take(&mut self.run));
            if self.runs.len() > MAX_RUNS {
                self.runs.remove(0);
            }
        }
        self.run = Run::default();
        self.run.id = self.next_run_id;
        self.run.settings = Some(RunSettings::of(&graph, &config));
        self.run.graph = Some(graph.clone());
        self.run.config = Some(config.clone());
        self.next_run_id += 1;
        self.progress = Progress {
            started: Some(std::time::Instant::now()),
            ..Progress::default()
        };
        self.trained_revision = revision;
        let wake_ctx = ctx.clone();
        let job = TrainJob::start(graph, config, base, paused, move || {
            wake_ctx.request_repaint()
        });
        if paused {
            job.send(Command::Step);
        }
        self.job = Some(job);
        self.state = RunState::Starting;
    }

    /// Starts a run with one setting changed from the current run (from its first weights,
    /// so both start alike), or from the graph as it is when nothing ran yet.
    pub fn run_again(
        &mut self,
        variations: &[Variation],
        graph: &Graph,
        config: &TrainingConfig,
        base: Option<PathBuf>,
        revision: u64,
        ctx: &egui::Context,
    ) {
        if self.start_cx.is_none() {
            self.start_cx = Some((base, revision, ctx.clone()));
        }
        let (from_graph, from_config) = self.base_of_next_run(graph, config);
        let mut runs: Vec<(Graph, TrainingConfig)> = variations
            .iter()
            .map(|v| v.apply(&from_graph, &from_config))
            .collect();
        if runs.is_empty() {
            return;
        }
        let (g, c) = runs.remove(0);
        self.queue = runs;
        self.launch(g, c, false);
    }

    /// The graph (with the first weights of the current run) and settings a "run again"
    /// starts from.
    fn base_of_next_run(&self, graph: &Graph, config: &TrainingConfig) -> (Graph, TrainingConfig) {
        let (Some(g), Some(c)) = (&self.run.graph, &self.run.config) else {
            return (graph.clone(), config.clone());
        };
        let mut g = g.clone();
        if let Some(first) = self.run.timeline.frames().first() {
            for (id, key, a) in &first.weights {
                let _ = g.set_tensor(*id, key, a.clone());
            }
        }
        (g, c.clone())
    }

    pub fn send(&mut self, cmd: Command) {
        if let Some(job) = &self.job {
            job.send(cmd);
        }
    }

    /// Handles waiting events; returns trained weights to write back, when some arrived.
    pub fn poll(
        &mut self,
        graph: &Graph,
        current_revision: u64,
    ) -> (Option<Weights>, Option<String>) {
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
                    let p = &mut self.progress;
                    p.device = device;
                    p.notice = notice;
                    p.train_count = train;
                    p.val_count = val;
                    p.steps_per_epoch = steps_per_epoch;
                    p.classification = classification;
                    if self.state == RunState::Starting {
                        self.state = RunState::Running;
                    }
                }
                Event::Steps { epoch, points } => {
                    self.progress.epoch = epoch;
                    if let Some(&(s, _)) = points.last() {
                        self.progress.step = s;
                    }
                    self.run
                        .batch_loss
                        .extend(points.into_iter().map(|(s, l)| [s as f64, l]));
                }
                Event::Epoch(m) => {
                    self.progress.epoch = m.epoch;
                    self.run.epochs.push(m);
                }
                Event::Snapshot(s) => {
                    // The first snapshot shows what the data allows: the boundary or fit,
                    // else the confusion matrix (the curves stay in their own tile).
                    if !self.view_chosen {
                        if s.boundary.is_some() || s.fit.is_some() {
                            self.view = View::Boundary;
                        } else if s.confusion.is_some() {
                            self.view = View::Confusion;
                        }
                    }
                    self.run.push_snapshot(*s);
                }
                Event::Frame(f) => {
                    if let Some(s) = &f.snapshot {
                        if !self.view_chosen {
                            if s.boundary.is_some() || s.fit.is_some() {
                                self.view = View::Boundary;
                            } else if s.confusion.is_some() {
                                self.view = View::Confusion;
                            }
                        }
                        self.run.push_snapshot(s.clone());
                    }
                    self.run.timeline.push(*f);
                }
                Event::Paused { weights: w } => {
                    self.state = RunState::Paused;
                    weights = Some(w);
                    message = Some(format!("Training paused: {WEIGHTS_IN_THE_GRAPH}"));
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
                    message = Some(format!("Training {text}: {WEIGHTS_IN_THE_GRAPH}"));
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
        // A variant of the graph (another activation or initializer) was trained: its
        // weights stay in its timeline, the graph keeps its own.
        if weights.is_some() && self.run.graph.as_ref().is_some_and(|g| !same_ops(g, graph)) {
            weights = None;
            let doc = self.run.config.as_ref().map(|c| RunSettings::of(graph, c));
            let what: Vec<String> = match (&self.run.settings, &doc) {
                (Some(run), Some(doc)) => crate::train::compare::differing(&[run, doc])
                    .into_iter()
                    .map(|k| format!("{k} {}", run.get(k)))
                    .collect(),
                _ => Vec::new(),
            };
            message = Some(format!(
                "Run {} trained a variant of the graph ({}): the graph keeps its own; the \
                 run's weights are in its timeline",
                self.run.id,
                what.join(", ")
            ));
        } else if weights.is_some() && current_revision != self.trained_revision {
            message = Some(
                "The graph changed while training: the weights went into the nodes that still \
                 match"
                    .into(),
            );
        }
        // The next queued run starts when this one finished on its own.
        if matches!(self.state, RunState::Finished(_))
            && self.job.is_none()
            && !self.queue.is_empty()
        {
            let (g, c) = self.queue.remove(0);
            self.launch(g, c, false);
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

    fn latest(&self) -> Latest {
        Latest {
            batch_loss: self.run.batch_loss.last().map(|&[_, l]| l),
            accuracy: self
                .run
                .epochs
                .last()
                .and_then(|m| m.val.and_then(|v| v.accuracy).or(m.train.accuracy)),
            samples_per_s: self.run.epochs.last().map(|m| m.samples_per_s),
        }
    }

    /// The Training tile: run controls, progress, then the settings (scrolling inside the
    /// tile). Settings changes and weight edits come back as commands.
    pub fn settings_pane(&mut self, ui: &mut Ui, cx: &TrainingContext<'_>) -> Vec<AppCommand> {
        let mut out = Vec::new();
        let Some(config) = cx.config else {
            ui.add(egui::Label::new("This project has no dataset yet.").wrap());
            if ui.button("Set up training").clicked() {
                out.push(AppCommand::SetTraining(Some(guess_config(cx.graph))));
            }
            return out;
        };
        let mut cfg = config.clone();
        ui.horizontal_wrapped(|ui| {
            self.controls(ui, cx, &cfg, &mut out);
            if ui
                .button("Export CSV…")
                .on_hover_text("Save the per-epoch metrics of this run as CSV")
                .clicked()
            {
                out.push(AppCommand::Message(self.export_csv()));
            }
            // Once there is a run to start from (before, the tile is as it always was).
            if self.run.has_data() || !self.runs.is_empty() {
                self.run_again_ui(ui, cx, &cfg);
            }
        });
        ui.add(egui::ProgressBar::new(self.progress.fraction(cfg.epochs)).desired_height(6.0));
        // The line wraps in a narrow tile (a progress bar's own text would be cut off).
        ui.add(egui::Label::new(self.progress.text(&self.state, cfg.epochs, self.latest())).wrap());
        if let Some(n) = &self.progress.notice {
            ui.colored_label(Color32::from_rgb(230, 160, 40), n);
        }
        if let RunState::Failed(m) = &self.state {
            ui.colored_label(Color32::from_rgb(230, 80, 80), m);
        }
        self.timeline_ui(ui, cx, &mut out);
        if self.run.has_data() || !self.runs.is_empty() {
            let size = self.saved_size(cx.graph, cx.revision);
            ui.checkbox(
                &mut self.save_runs,
                format!(
                    "Save the runs with the project ({} run(s), about {})",
                    self.runs.len() + usize::from(self.run.has_data()),
                    crate::train::timeline::fmt_bytes(size)
                ),
            )
            .on_hover_text(
                "Keep the runs' settings, curves and timeline weights in the project file, so \
                 they are there again when it is reopened",
            );
        }
        ui.separator();
        let active = self.is_active();
        egui::ScrollArea::both()
            .id_salt("training-settings-scroll")
            .auto_shrink([false, false])
            .min_scrolled_height(0.0)
            .min_scrolled_width(0.0)
            .show(ui, |ui| {
                ui.add_enabled_ui(!active, |ui| settings_ui(ui, cx.graph, &mut cfg));
            });
        if &cfg != config {
            out.push(AppCommand::SetTraining(Some(cfg)));
        }
        out
    }

    /// The loss and accuracy curves tile.
    pub fn curves_pane(&mut self, ui: &mut Ui) {
        let mut png = false;
        let r = ui
            .scope(|ui| {
                png = dashboard::curves_ui(ui, &self.run, &self.runs, &mut self.curve_options);
            })
            .response
            .rect;
        if png {
            self.request_png(ui.ctx(), r, "loss");
        }
        // The table may be wider than the tile: it scrolls on its own, the plots keep the
        // tile's width.
        // In a child of exactly the tile's width, so the table never widens the plots above
        // (the space it used is taken from the parent afterwards, by height only).
        let rect = ui.available_rect_before_wrap();
        let mut child = ui.new_child(egui::UiBuilder::new().max_rect(rect).id_salt("compare"));
        child.set_clip_rect(rect.intersect(ui.clip_rect()));
        egui::ScrollArea::horizontal()
            .id_salt("compare-scroll")
            .auto_shrink([false, true])
            .show(&mut child, |ui| self.compare_ui(ui));
        let used = child.min_rect().height();
        ui.allocate_space(egui::vec2(rect.width(), used));
    }

    /// One dashboard view's tile.
    pub fn view_pane(
        &mut self,
        ui: &mut Ui,
        view: View,
        cx: &TrainingContext<'_>,
    ) -> Vec<AppCommand> {
        let mut out = Vec::new();
        let Some(cfg) = cx.config else {
            ui.weak("Choose a dataset in the Training tile first.");
            return out;
        };
        let png = ui
            .horizontal(|ui| {
                ui.small_button("PNG…")
                    .on_hover_text("Save this view as a PNG image")
                    .clicked()
            })
            .inner;
        self.ensure_preview(cfg, cx.base.as_deref());
        let data = self
            .preview
            .as_ref()
            .and_then(|(_, p)| p.as_ref().ok())
            .cloned();
        let view_rect = ui.available_rect_before_wrap();
        match view {
            View::Boundary => dashboard::boundary_ui(
                ui,
                &mut self.run,
                data.as_ref().map(|p| &p.data),
                data.as_ref().map(|p| p.split.val.as_slice()).unwrap_or(&[]),
            ),
            View::Activations => dashboard::activations_ui(ui, &self.run, cx.selected),
            View::Weights => dashboard::weights_ui(ui, &self.run),
            View::GradNorms => {
                dashboard::grad_norms_ui(ui, &self.run, &mut self.norms_log, &mut self.norms_biases)
            }
            View::Confusion => {
                dashboard::confusion_ui(ui, &self.run, data.as_ref().map(|p| &p.data))
            }
            View::Data => {
                if let Some(e) = self.preview_ui(ui, cx.graph, cfg) {
                    out.push(AppCommand::Edit(e));
                }
            }
        }
        if png {
            let label = view.label().to_lowercase().replace([' ', '/', '&'], "-");
            self.request_png(ui.ctx(), view_rect, &label);
        }
        out
    }

    fn controls(
        &mut self,
        ui: &mut Ui,
        cx: &TrainingContext<'_>,
        cfg: &TrainingConfig,
        out: &mut Vec<AppCommand>,
    ) {
        let ctx = ui.ctx().clone();
        let running = self.is_running();
        if ui
            .add_enabled(!running, egui::Button::new("▶ Train"))
            .on_hover_text("Train (or resume) until the epochs are done")
            .clicked()
        {
            self.start(cx.graph, cfg, cx.base.clone(), cx.revision, false, &ctx);
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
            self.start(cx.graph, cfg, cx.base.clone(), cx.revision, true, &ctx);
        }
        if ui
            .add_enabled(self.is_active(), egui::Button::new("⏹ Stop"))
            .on_hover_text("End this run and keep its weights")
            .clicked()
        {
            self.queue.clear();
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
            self.queue.clear();
            if self.run.has_data() {
                self.runs.push(std::mem::take(&mut self.run));
                if self.runs.len() > MAX_RUNS {
                    self.runs.remove(0);
                }
            }
            self.run = Run::default();
            self.progress = Progress::default();
            out.push(AppCommand::Edit(Edit::ResetTensors(Self::trainable(
                cx.analysis,
            ))));
            out.push(AppCommand::Message(
                "Weights reset to their initial values".into(),
            ));
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

    /// Crops the arrived screenshot to the requested plot and saves it (once per frame).
    pub fn save_png_if_ready(&mut self, ctx: &egui::Context) -> Option<AppCommand> {
        self.png_request.as_ref()?;
        let shot = ctx.input(|i| {
            i.raw.events.iter().find_map(|e| match e {
                egui::Event::Screenshot { image, .. } => Some(image.clone()),
                _ => None,
            })
        });
        if let (Some(image), Some((path, rect))) = (shot, self.png_request.take()) {
            let region = image.region(&rect, Some(ctx.pixels_per_point()));
            Some(AppCommand::Message(
                match crate::ui::files::save_png(&path, &region) {
                    Ok(()) => format!("saved {}", path.display()),
                    Err(e) => e,
                },
            ))
        } else {
            ctx.request_repaint();
            None
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
            return "Not exported: no file was chosen (or no file dialog is available here)".into();
        };
        match crate::train::metrics_csv(&self.run.epochs)
            .and_then(|b| crate::project::write_atomic(&path, &b).map_err(|e| e.to_string()))
        {
            Ok(()) => format!("saved the metrics to {}", path.display()),
            Err(e) => format!("could not save {}: {e}", path.display()),
        }
    }

    /// The data preview; "Put into the inputs" gives an edit.
    fn preview_ui(&mut self, ui: &mut Ui, graph: &Graph, cfg: &TrainingConfig) -> Option<Edit> {
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
                ui.horizontal_wrapped(|ui| {
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
                ui.add(
                    egui::Label::new(format!(
                        "{}: {} samples, {} feature(s){}",
                        d.name,
                        d.len(),
                        d.feature_len(),
                        match d.classes() {
                            Some(c) => format!(", {c} classes"),
                            None => ", regression".into(),
                        }
                    ))
                    .wrap(),
                );
                if let Some((h, w)) = d.image {
                    egui::ScrollArea::vertical()
                        .id_salt("image-preview-scroll")
                        .show(ui, |ui| image_grid(ui, d, h, w));
                } else {
                    scatter(ui, d);
                }
            }
        }
        edit
    }
}

/// Whether two graphs have the same nodes with the same ops (weights aside).
/// Whether two graphs have the same nodes with the same ops (weights aside).
pub(super) fn same_ops(a: &Graph, b: &Graph) -> bool {
    a.len() == b.len()
        && a.nodes()
            .all(|n| b.node(n.id).is_some_and(|m| m.op == n.op))
}

/// The weights that fit `graph` now: nodes that exist and own a tensor of that key and
/// shape (the graph may have changed since they were recorded).
pub fn fitting_weights(graph: &Graph, analysis: &Analysis, weights: &Weights) -> Weights {
    weights
        .iter()
        .filter(|(id, key, a)| {
            graph.node(*id).is_some()
                && analysis
                    .owned
                    .get(id)
                    .is_some_and(|specs| specs.iter().any(|s| s.key == key && s.shape == a.shape()))
        })
        .cloned()
        .collect()
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
