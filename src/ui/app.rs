//! The app: one document, its analysis and evaluation, the canvas and the panels.
//! Menus and shortcuts produce `AppCommand`s; canvas and cards produce `Edit`s; both are
//! applied once per frame in `apply_pending`.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use egui::{Key, KeyboardShortcut, Modifiers};
use serde::{Deserialize, Serialize};

use crate::analysis::{Analysis, analyze};
use crate::exec::{Engine, Evaluation};
use crate::graph::NodeId;

use super::editor::canvas::Canvas;
use super::document::{Document, Edit};
use super::files::Recovery;
use super::stepping::Stepping;
use super::training::TrainingPanel;

/// How the app starts.
#[derive(Clone, Debug, Default)]
pub struct AppConfig {
    pub file: Option<PathBuf>,
    /// Save a screenshot of the settled window here, then quit.
    pub screenshot_to: Option<PathBuf>,
    /// With `screenshot_to`: train this long first (the project's dataset and settings).
    pub train_for: Option<Duration>,
    /// Where the recovery file lives (default: eframe's storage folder).
    pub storage_dir: Option<PathBuf>,
}

/// What persists between runs (through eframe's storage).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    pub recent: Vec<PathBuf>,
    pub dark: bool,
    pub show_wire_grads: bool,
    pub show_inspector: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            recent: Vec::new(),
            dark: true,
            show_wire_grads: false,
            show_inspector: true,
        }
    }
}

/// Commands from menus, shortcuts and dialogs.
#[derive(Clone, Debug, PartialEq)]
pub enum AppCommand {
    New,
    /// `None` asks with a file dialog.
    Open(Option<PathBuf>),
    Save,
    SaveAs,
    Undo,
    Redo,
    Copy,
    Paste(String),
    Duplicate,
    Delete,
    SelectAll,
    Fit,
    ToggleTheme,
    Quit,
    Focus(NodeId),
    GradientCheck,
    /// Show or hide the Training panel.
    ToggleTraining,
    /// Rename the selected node in place.
    Rename,
    /// Save As with quiz mode on, asking about the selected nodes (all when none).
    SaveExercise,
}

/// An action waiting for "discard unsaved changes?".
#[derive(Clone, Debug, PartialEq)]
pub enum Pending {
    New,
    Open(Option<PathBuf>),
    Quit,
}

pub struct NodegradApp {
    pub settings: Settings,
    pub doc: Document,
    pub analysis: Analysis,
    pub eval: Option<Evaluation>,
    pub eval_error: Option<String>,
    computed_revision: u64,
    pub engine: Engine,
    pub canvas: Canvas,
    pub stepping: Stepping,
    pub training: TrainingPanel,
    /// Results of the last gradient check, shown in a window until closed.
    pub gradcheck: Option<Result<Vec<crate::gradcheck::Check>, String>>,
    /// The last message for the status bar.
    pub message: String,
    /// A file that failed to open: shown in a window until dismissed.
    pub load_error: Option<String>,
    pub confirm: Option<Pending>,
    pub recovery: Recovery,
    pub commands: Vec<AppCommand>,
    pub edits: Vec<Edit>,
    quit_confirmed: bool,
    /// Close the window at the end of this frame (a confirmed quit).
    close_now: bool,
    screenshot_to: Option<PathBuf>,
    train_for: Option<Duration>,
    train_started: Option<Instant>,
    screenshot_requested: bool,
    frames: u64,
    last_title: String,
    last_autosave: Instant,
    /// The revision the recovery file holds (no rewrite while nothing changed).
    autosaved_revision: u64,
}

impl NodegradApp {
    pub fn new(cc: &eframe::CreationContext<'_>, config: AppConfig) -> Self {
        let settings: Settings = cc
            .storage
            .and_then(|s| eframe::get_value(s, eframe::APP_KEY))
            .unwrap_or_default();
        let app = Self::headless(settings, config);
        super::fonts::install(&cc.egui_ctx);
        app.apply_theme(&cc.egui_ctx);
        app
    }

    /// The app without a window (tests and benchmarks drive it through egui directly).
    pub fn headless(settings: Settings, config: AppConfig) -> Self {
        let storage = config
            .storage_dir
            .clone()
            .or_else(|| eframe::storage_dir(super::APP_NAME));
        let mut canvas = Canvas::default();
        canvas.show_wire_grads = settings.show_wire_grads;
        let mut app = Self {
            canvas,
            stepping: Stepping::default(),
            training: TrainingPanel::default(),
            gradcheck: None,
            settings,
            doc: Document::default(),
            analysis: Analysis::default(),
            eval: None,
            eval_error: None,
            computed_revision: 0,
            engine: Engine::cpu(),
            message: String::new(),
            load_error: None,
            confirm: None,
            recovery: Recovery::new(storage),
            commands: Vec::new(),
            edits: Vec::new(),
            quit_confirmed: false,
            close_now: false,
            screenshot_to: config.screenshot_to,
            train_for: config.train_for,
            train_started: None,
            screenshot_requested: false,
            frames: 0,
            last_title: String::new(),
            last_autosave: Instant::now(),
            autosaved_revision: 0,
        };
        // Look for unsaved work first: opening a file must not delete it before it is offered.
        app.recovery.check_on_start();
        if let Some(path) = config.file {
            app.open_now(&path);
        }
        app.recompute();
        app
    }

    fn apply_theme(&self, ctx: &egui::Context) {
        ctx.set_theme(if self.settings.dark {
            egui::Theme::Dark
        } else {
            egui::Theme::Light
        });
    }

    /// Re-analyses and re-evaluates after a change (fast for lecture-sized graphs).
    pub fn recompute(&mut self) {
        if self.computed_revision == self.doc.semantic_revision() {
            return;
        }
        self.analysis = analyze(self.doc.graph());
        match self.engine.evaluate(self.doc.graph(), &self.analysis) {
            Ok(e) => {
                self.eval = Some(e);
                self.eval_error = None;
            }
            Err(e) => {
                self.eval = None;
                self.eval_error = Some(e.to_string());
            }
        }
        self.computed_revision = self.doc.semantic_revision();
        self.gradcheck = None;
        self.stepping.stale = true;
        let _ = self.refresh_steps();
    }

    /// Rebuilds the step texts when step mode needs them and they are out of date.
    fn refresh_steps(&mut self) -> bool {
        let due = self.stepping.active && self.stepping.stale;
        if due {
            self.stepping
                .refresh(self.doc.graph(), &self.analysis, self.eval.as_ref());
        }
        due
    }

    pub fn title(&self) -> String {
        format!(
            "{}{} — nodegrad",
            self.doc.display_name(),
            if self.doc.is_dirty() { " *" } else { "" }
        )
    }

    /// Applies queued edits and commands (once per frame, after layout).
    pub fn apply_pending(&mut self, ctx: &egui::Context) {
        if !self.edits.is_empty() || !self.commands.is_empty() {
            // Show the result right away, not at the next mouse move.
            ctx.request_repaint();
        }
        self.apply_edits();
        for cmd in std::mem::take(&mut self.commands) {
            self.run_command(cmd, ctx);
        }
        // Edits queued by commands (duplicate, delete) apply in the same frame.
        self.apply_edits();
        self.recompute();
    }

    fn apply_edits(&mut self) {
        for edit in std::mem::take(&mut self.edits) {
            let adds = matches!(
                edit,
                Edit::AddNode { .. } | Edit::Paste { .. } | Edit::Duplicate(_)
            );
            match self.doc.apply(edit) {
                Ok(()) if adds => self.canvas.select_only(self.doc.last_created.clone()),
                Ok(()) => {}
                Err(e) => self.message = e,
            }
        }
    }

    fn run_command(&mut self, cmd: AppCommand, ctx: &egui::Context) {
        match cmd {
            AppCommand::New => self.guarded(Pending::New),
            AppCommand::Open(path) => self.guarded(Pending::Open(path)),
            AppCommand::Quit => self.guarded(Pending::Quit),
            AppCommand::Save => {
                self.save(false);
            }
            AppCommand::SaveAs => {
                self.save(true);
            }
            AppCommand::Undo => {
                if !self.doc.undo() {
                    self.message = "nothing to undo".into();
                }
            }
            AppCommand::Redo => {
                if !self.doc.redo() {
                    self.message = "nothing to redo".into();
                }
            }
            AppCommand::Copy => {
                if let Some(text) = self.doc.copy_text(&self.canvas.selection) {
                    ctx.copy_text(text);
                    self.message = format!("copied {} node(s)", self.canvas.selection.len());
                }
            }
            AppCommand::Paste(text) => {
                let before = self.doc.graph().len();
                if let Err(e) = self.doc.apply(Edit::Paste {
                    text,
                    offset: [40.0, 40.0],
                }) {
                    self.message = e;
                } else {
                    self.canvas.select_only(self.doc.last_created.clone());
                    self.message = format!("pasted {} node(s)", self.doc.graph().len() - before);
                }
            }
            AppCommand::Duplicate => {
                let ids: Vec<NodeId> = self.canvas.selection.iter().copied().collect();
                if !ids.is_empty() {
                    self.edits.push(Edit::Duplicate(ids));
                }
            }
            AppCommand::Delete => {
                let ids: Vec<NodeId> = self.canvas.selection.iter().copied().collect();
                if !ids.is_empty() {
                    self.edits.push(Edit::Remove(ids));
                }
            }
            AppCommand::SelectAll => self.canvas.select_only(self.doc.graph().node_ids()),
            AppCommand::Fit => self.canvas.fit_requested = true,
            AppCommand::ToggleTheme => {
                self.settings.dark = !self.settings.dark;
                self.apply_theme(ctx);
            }
            AppCommand::Rename => {
                if let [id] = self.canvas.selection.iter().copied().collect::<Vec<_>>()[..] {
                    super::editor::canvas::start_rename(ctx, self.doc.graph(), id);
                }
            }
            AppCommand::SaveExercise => {
                let ask = self
                    .canvas
                    .selection
                    .iter()
                    .filter_map(|id| self.doc.graph().node(*id))
                    .map(|n| n.name.clone())
                    .collect();
                let before = self.doc.project.quiz.replace(crate::project::QuizFile {
                    ask,
                    tolerance: 0.01,
                });
                if !self.save(true) {
                    // Cancelled or failed: the open project stays as it was.
                    self.doc.project.quiz = before;
                }
            }
            AppCommand::GradientCheck => {
                self.gradcheck = Some(match &self.eval {
                    Some(eval) => crate::gradcheck::check(self.doc.graph(), &self.analysis, eval),
                    None => Err("nothing is evaluated yet".into()),
                });
            }
            AppCommand::ToggleTraining => {
                self.training.open = !self.training.open;
                if self.training.open && self.doc.project.training.is_none() {
                    self.message = "Choose a dataset in the Training panel".into();
                }
            }
            AppCommand::Focus(id) => {
                self.canvas.select_only([id]);
                self.canvas.focus_requested = Some(id);
            }
        }
    }

    /// Runs `action` now if nothing is unsaved, else asks first.
    fn guarded(&mut self, action: Pending) {
        if self.doc.is_dirty() {
            self.confirm = Some(action);
        } else {
            self.perform(action);
        }
    }

    /// Carries out a confirmed action.
    pub fn perform(&mut self, action: Pending) {
        self.confirm = None;
        match action {
            Pending::New => {
                self.recovery.discard();
                self.doc = Document::default();
                self.reset_training();
                self.message = "new project".into();
            }
            Pending::Open(Some(path)) => self.open_now(&path),
            Pending::Open(None) => {
                let dialog = rfd::FileDialog::new()
                    .add_filter("nodegrad project", &["ron"])
                    .set_directory(super::examples_dir());
                if let Some(path) = dialog.pick_file() {
                    self.open_now(&path);
                }
            }
            Pending::Quit => {
                self.quit_confirmed = true;
                self.close_now = true;
            }
        }
    }

    fn shortcuts(&mut self, ctx: &egui::Context) {
        let typing = ctx.egui_wants_keyboard_input();
        let cmd = |m: Modifiers, k: Key| KeyboardShortcut::new(m, k);
        let shift_cmd = Modifiers::COMMAND | Modifiers::SHIFT;
        ctx.input_mut(|i| {
            // Shift+Ctrl first: egui lets Ctrl+S match Ctrl+Shift+S too.
            if i.consume_shortcut(&cmd(shift_cmd, Key::S)) {
                self.commands.push(AppCommand::SaveAs);
            }
            if i.consume_shortcut(&cmd(Modifiers::COMMAND, Key::S)) {
                self.commands.push(AppCommand::Save);
            }
            if i.consume_shortcut(&cmd(Modifiers::COMMAND, Key::O)) {
                self.commands.push(AppCommand::Open(None));
            }
            if i.consume_shortcut(&cmd(Modifiers::COMMAND, Key::N)) {
                self.commands.push(AppCommand::New);
            }
            if typing {
                return;
            }
            if i.consume_shortcut(&cmd(shift_cmd, Key::Z))
                || i.consume_shortcut(&cmd(Modifiers::COMMAND, Key::Y))
            {
                self.commands.push(AppCommand::Redo);
            }
            if i.consume_shortcut(&cmd(Modifiers::COMMAND, Key::Z)) {
                self.commands.push(AppCommand::Undo);
            }
            if i.consume_shortcut(&cmd(Modifiers::COMMAND, Key::D)) {
                self.commands.push(AppCommand::Duplicate);
            }
            if i.consume_shortcut(&cmd(Modifiers::COMMAND, Key::A)) {
                self.commands.push(AppCommand::SelectAll);
            }
            if i.consume_key(Modifiers::NONE, Key::Delete)
                || i.consume_key(Modifiers::NONE, Key::Backspace)
            {
                self.commands.push(AppCommand::Delete);
            }
            if i.consume_key(Modifiers::NONE, Key::ArrowRight) {
                self.stepping.forward();
            }
            if i.consume_key(Modifiers::NONE, Key::ArrowLeft) {
                self.stepping.backward();
            }
            if i.consume_key(Modifiers::NONE, Key::End) {
                self.stepping.to_end();
            }
            if self.stepping.active && i.consume_key(Modifiers::NONE, Key::Escape) {
                self.stepping.reset();
            }
            if i.consume_key(Modifiers::NONE, Key::F2) {
                self.commands.push(AppCommand::Rename);
            }
            if i.consume_key(Modifiers::NONE, Key::F) || i.consume_key(Modifiers::NONE, Key::Home) {
                self.commands.push(AppCommand::Fit);
            }
            let space = i.consume_key(Modifiers::NONE, Key::Space)
                || i.consume_key(Modifiers::SHIFT, Key::A);
            if space {
                let screen = i.pointer.hover_pos().unwrap_or(egui::pos2(300.0, 200.0));
                self.canvas.add_popup = Some((screen, self.canvas.graph_pos(screen)));
            }
            for ev in &i.events {
                match ev {
                    egui::Event::Copy => self.commands.push(AppCommand::Copy),
                    egui::Event::Cut => {
                        self.commands.push(AppCommand::Copy);
                        self.commands.push(AppCommand::Delete);
                    }
                    egui::Event::Paste(text) => self.commands.push(AppCommand::Paste(text.clone())),
                    _ => {}
                }
            }
        });
    }

    fn window_events(&mut self, ctx: &egui::Context) {
        let dropped: Vec<PathBuf> = ctx.input(|i| {
            i.raw
                .dropped_files
                .iter()
                .map(|f| f.path().to_path_buf())
                .filter(|p| !p.as_os_str().is_empty())
                .collect()
        });
        if let Some(path) = dropped
            .into_iter()
            .find(|p| p.extension().is_some_and(|e| e == "ron"))
        {
            self.commands.push(AppCommand::Open(Some(path)));
        }
        if ctx.input(|i| i.viewport().close_requested())
            && self.doc.is_dirty()
            && !self.quit_confirmed
        {
            ctx.send_viewport_cmd(egui::ViewportCommand::CancelClose);
            self.confirm = Some(Pending::Quit);
        }
        let title = self.title();
        if title != self.last_title {
            ctx.send_viewport_cmd(egui::ViewportCommand::Title(title.clone()));
            self.last_title = title;
        }
        let unsaved = self.doc.is_dirty() && self.autosaved_revision != self.doc.revision();
        if unsaved && self.last_autosave.elapsed() > Duration::from_secs(5) {
            self.last_autosave = Instant::now();
            self.autosaved_revision = self.doc.revision();
            self.recovery.autosave(&self.doc);
        }
        if self.doc.is_dirty() {
            ctx.request_repaint_after(Duration::from_secs(5));
        }
    }

    fn screenshot(&mut self, ctx: &egui::Context) {
        let Some(path) = self.screenshot_to.clone() else {
            return;
        };
        self.frames += 1;
        if self.frames == 2 {
            self.canvas.fit_requested = true;
        }
        if let (Some(d), Some(cfg)) = (self.train_for, self.doc.project.training.clone()) {
            if self.frames < 3 {
                ctx.request_repaint();
                return;
            }
            let started = *self.train_started.get_or_insert_with(|| {
                self.training.open = true;
                let base = self.doc.folder();
                let rev = self.doc.semantic_revision();
                self.training
                    .start(self.doc.graph(), &cfg, base, rev, false, ctx);
                Instant::now()
            });
            if self.training.is_running() {
                if started.elapsed() >= d {
                    self.training.send(crate::train::worker::Command::Pause);
                }
                ctx.request_repaint_after(Duration::from_millis(30));
                return;
            }
            if self.frames < 8 {
                ctx.request_repaint();
                return;
            }
        }
        if self.frames >= 8 && !self.screenshot_requested {
            ctx.send_viewport_cmd(egui::ViewportCommand::Screenshot(egui::UserData::default()));
            self.screenshot_requested = true;
        }
        ctx.request_repaint();
        let shot = ctx.input(|i| {
            i.raw.events.iter().find_map(|e| match e {
                egui::Event::Screenshot { image, .. } => Some(image.clone()),
                _ => None,
            })
        });
        if let Some(image) = shot {
            let result = super::files::save_png(&path, &image);
            match result {
                Ok(()) => println!("screenshot saved to {}", path.display()),
                Err(e) => eprintln!("nodegrad: {e}"),
            }
            self.quit_confirmed = true;
            ctx.send_viewport_cmd(egui::ViewportCommand::Close);
        }
    }

    /// A new document: any run stops, the panel opens when the project trains.
    pub fn reset_training(&mut self) {
        self.training = TrainingPanel::default();
        self.training.open = self.doc.project.training.is_some();
    }

    /// Takes the worker's events: trained weights go into the graph as one undo step.
    fn poll_training(&mut self) {
        let (weights, message) = self.training.poll(self.doc.semantic_revision());
        if let Some(w) = weights {
            let g = self.doc.graph();
            let fitting: Vec<_> = w
                .into_iter()
                .filter(|(id, key, a)| {
                    g.node(*id).is_some_and(|n| {
                        self.analysis.owned.get(id).is_some_and(|specs| {
                            specs.iter().any(|s| s.key == key && s.shape == a.shape())
                        }) && !n.name.is_empty()
                    })
                })
                .collect();
            if !fitting.is_empty() {
                self.edits.push(Edit::SetTensors(fitting));
            }
        }
        if let Some(m) = message {
            self.message = m;
        }
    }

    fn training_panel(&mut self, ui: &mut egui::Ui) {
        if !self.training.open {
            return;
        }
        egui::Panel::bottom("training")
            .resizable(true)
            .default_size(380.0)
            .show(ui, |ui| {
                ui.horizontal(|ui| {
                    ui.heading("Training");
                    if ui
                        .small_button("Hide")
                        .on_hover_text("Hide the Training panel (View > Training panel)")
                        .clicked()
                    {
                        self.training.open = false;
                    }
                });
                let base = self.doc.folder();
                let out = self.training.ui(
                    ui,
                    self.doc.graph(),
                    &self.analysis,
                    self.doc.project.training.as_ref(),
                    base,
                    self.doc.semantic_revision(),
                    (self.canvas.selection.len() == 1)
                        .then(|| self.canvas.selection.first().copied())
                        .flatten(),
                );
                self.edits.extend(out.edits);
                if let Some(t) = out.training {
                    self.doc.set_training(t);
                }
                if let Some(m) = out.message {
                    self.message = m;
                }
            });
    }

    /// One frame of the whole UI (eframe calls it; tests call it through kittest).
    pub fn frame_ui(&mut self, ui: &mut egui::Ui) {
        let ctx = ui.ctx().clone();
        self.shortcuts(&ctx);
        self.window_events(&ctx);
        self.poll_training();
        super::panels::menu_bar(self, ui);
        super::panels::status_bar(self, ui);
        self.training_panel(ui);
        egui::Panel::bottom("stepper").show(ui, |ui| self.stepping.panel_ui(ui));
        if self.settings.show_inspector {
            super::panels::inspector(self, ui);
        }
        egui::CentralPanel::default()
            .frame(egui::Frame::NONE)
            .show(ui, |ui| {
                self.canvas.show_wire_grads = self.settings.show_wire_grads;
                let reveal = self.stepping.reveal();
                self.canvas.ui(
                    ui,
                    &self.doc,
                    &self.analysis,
                    self.eval.as_ref(),
                    reveal.as_ref(),
                    &mut self.edits,
                );
            });
        super::panels::dialogs(self, &ctx);
        self.apply_pending(&ctx);
        if self.refresh_steps() {
            ctx.request_repaint();
        }
        self.screenshot(&ctx);
        if self.close_now {
            ctx.send_viewport_cmd(egui::ViewportCommand::Close);
        }
    }
}

impl eframe::App for NodegradApp {
    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        self.frame_ui(ui);
    }

    fn save(&mut self, storage: &mut dyn eframe::Storage) {
        eframe::set_value(storage, eframe::APP_KEY, &self.settings);
    }
}
