//! The app: one document, its analysis and evaluation, the canvas and the panels.
//! Menus and shortcuts produce `AppCommand`s; canvas and cards produce `Edit`s; both are
//! applied once per frame in `apply_pending`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use egui::{Key, KeyboardShortcut, Modifiers};

use crate::analysis::{Analysis, analyze};
use crate::exec::{Engine, Evaluation};
use crate::graph::NodeId;

pub use super::command::{AppCommand, Pending};
use super::document::{Document, Edit};
use super::editor::canvas::Canvas;
use super::files::Recovery;
use super::help::Help;
use super::layout::{Layout, Pane};
use super::panels::{DialogView, MenuView, StatusView};
use super::panes::Panes;
pub use super::settings::Settings;
use super::stepping::Stepping;
use super::training::TrainingPanel;
use super::training::dashboard::View;

/// The storage key of the tiles' layout (beside the settings under `eframe::APP_KEY`).
pub const LAYOUT_KEY: &str = "nodegrad-layout";

/// Said when Save found no file to write to.
pub const NOT_SAVED: &str = "Not saved: no file was chosen. No file dialog appeared? This \
                             system has none: start `nodegrad FILE.ron` and Ctrl+S saves there";

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
    /// The window's inner size in points (default 1440 x 900).
    pub window_size: Option<[f32; 2]>,
    /// Select this node at the start, as a click on it would.
    pub select: Option<String>,
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
    /// The cards' evaluation while the training timeline shows an earlier epoch.
    pub scrub: super::training::scrub::ScrubEval,
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
    /// The tiles: where each panel is, what is shown, what is maximized.
    pub layout: Layout,
    pub help: Help,
    /// The selection of the last frame (a new single selection opens the inspector's tab).
    last_selection: BTreeSet<NodeId>,
    /// The dashboard view whose tile was last opened for the training panel.
    synced_view: Option<View>,
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
        let layout = cc.storage.and_then(|s| s.get_string(LAYOUT_KEY));
        let mut app = Self::headless(settings, config);
        if let Some(text) = layout {
            match Layout::restore(&text) {
                Ok(layout) => app.layout = layout,
                Err(why) => {
                    app.message = format!(
                        "The saved window layout was not usable ({why}): the default is back"
                    )
                }
            }
        }
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
            scrub: Default::default(),
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
            layout: Layout::default(),
            help: Help::default(),
            last_selection: BTreeSet::new(),
            synced_view: None,
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
        if let Some(name) = config.select {
            app.select_by_name(&name);
        }
        app
    }

    /// Selects a node by its name, as a click on it would (`--select`).
    pub fn select_by_name(&mut self, name: &str) -> bool {
        match self.doc.graph().find(name) {
            Some(node) => {
                let id = node.id;
                self.canvas.select_only([id]);
                true
            }
            None => {
                self.message = format!("no node is named {name:?}");
                false
            }
        }
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
            // Expand and collapse move many cards: the view fits the new graph, and the
            // status says what happened and how to go back.
            let reshapes = match &edit {
                Edit::ExpandLayer { layer, .. } => self.doc.graph().node(*layer).map(|n| {
                    format!(
                        "{} opened into its neurons: right-click any of them > Collapse into \
                         layer to close it again (Ctrl+Z undoes it)",
                        n.name
                    )
                }),
                Edit::CollapseLayer(layer) => self
                    .doc
                    .graph()
                    .node(*layer)
                    .map(|n| format!("{} is one Dense layer again (Ctrl+Z undoes it)", n.name)),
                _ => None,
            };
            match self.doc.apply(edit) {
                Ok(()) if adds => self.canvas.select_only(self.doc.last_created.clone()),
                Ok(()) => {
                    if let Some(m) = reshapes {
                        self.message = m;
                        self.canvas.fit_requested = true;
                    }
                }
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
                let before = self.doc.set_quiz(Some(crate::project::QuizFile {
                    ask,
                    tolerance: 0.01,
                }));
                if !self.save(true) {
                    // Cancelled or failed: the open project stays as it was.
                    self.doc.set_quiz(before);
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
                if self.training.open && self.doc.project().training.is_none() {
                    self.message = "Choose a dataset in the Training tile".into();
                }
            }
            AppCommand::ShowInspector(on) => self.settings.show_inspector = on,
            AppCommand::ShowWireGrads(on) => self.settings.show_wire_grads = on,
            AppCommand::Focus(id) => {
                self.canvas.select_only([id]);
                self.canvas.focus_requested = Some(id);
            }
            AppCommand::Edit(edit) => self.edits.push(edit),
            AppCommand::SetTraining(t) => self.doc.set_training(t),
            AppCommand::Message(m) => self.message = m,
            AppCommand::ResetLayout => {
                self.layout.reset();
                self.synced_view = None;
                self.message = "The tiles are back in their first places".into();
            }
            AppCommand::Maximize(pane) => {
                self.layout.maximized = match pane {
                    Some(p) if self.layout.maximized == Some(p) => None,
                    other => other,
                };
            }
            AppCommand::Help(page) => self.help.show_page(page),
            AppCommand::ConfirmSave => {
                if let Some(pending) = self.confirm.clone() {
                    self.save(false);
                    if !self.doc.is_dirty() {
                        self.perform(pending);
                    }
                }
            }
            AppCommand::ConfirmDiscard => {
                if let Some(pending) = self.confirm.clone() {
                    self.recovery.discard();
                    self.perform(pending);
                }
            }
            AppCommand::ConfirmCancel => self.confirm = None,
            AppCommand::DismissLoadError => self.load_error = None,
            AppCommand::RestoreRecovery => self.restore_recovery(),
            AppCommand::DiscardRecovery => self.recovery.discard(),
            AppCommand::CloseGradientCheck => self.gradcheck = None,
            AppCommand::ImportOnnx(path) => self.guarded(Pending::ImportOnnx(path)),
            AppCommand::AnimateBackward => self.animate_backward(),
            AppCommand::ExportPytorch(path) => self.export(path, None),
            AppCommand::ExportOnnx { path, with_loss } => self.export(path, Some(with_loss)),
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
            Pending::Open(None) => match super::files::pick_project() {
                Some(path) => self.open_now(&path),
                None => {
                    self.message = "Nothing opened: no file was chosen (no file dialog here? \
                                    File > Open example, or start `nodegrad FILE.ron`)"
                        .into()
                }
            },
            Pending::Quit => {
                self.quit_confirmed = true;
                self.close_now = true;
            }
            Pending::ImportOnnx(Some(path)) => self.import_onnx_now(&path),
            Pending::ImportOnnx(None) => match super::files::pick_onnx() {
                Some(path) => self.import_onnx_now(&path),
                None => {
                    self.message = "Nothing imported: no file was chosen (no file dialog here? \
                                    `nodegrad import MODEL.onnx` does it from a terminal)"
                        .into()
                }
            },
        }
    }

    fn shortcuts(&mut self, ctx: &egui::Context) {
        // A question on screen (discard changes? a file that failed to load, a recovery)
        // takes the keys: Space must not open the add-node menu on top of it.
        if self.confirm.is_some() || self.load_error.is_some() || self.recovery.offer.is_some() {
            return;
        }
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
            if i.consume_key(Modifiers::NONE, Key::F1) {
                self.commands.push(AppCommand::Help(0));
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
        if let (Some(d), Some(cfg)) = (self.train_for, self.doc.project().training.clone()) {
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

    /// Starts the gradient flow on the canvas: the stepper's backward steps, played.
    pub fn animate_backward(&mut self) {
        let Some(eval) = &self.eval else {
            self.message = "Nothing is evaluated yet: fix the problems in the status bar".into();
            return;
        };
        let steps = crate::stepper::backward_steps(self.doc.graph(), &self.analysis, eval);
        let revision = self.doc.semantic_revision();
        if let Err(e) = self.canvas.flow.animate(&steps, eval, revision) {
            self.message = e;
        }
    }

    /// A new document: any run stops, the Training tiles show when the project trains.
    pub fn reset_training(&mut self) {
        self.training = TrainingPanel::for_project(self.doc.project().training.as_ref());
        self.training
            .load_runs(&self.doc.project().runs, self.doc.graph());
        self.synced_view = None;
    }

    /// Takes the worker's events: trained weights go into the graph as one undo step.
    fn poll_training(&mut self) {
        let (weights, message) = self
            .training
            .poll(self.doc.graph(), self.doc.semantic_revision());
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

    /// One frame of the whole UI (eframe calls it; tests call it through kittest).
    pub fn frame_ui(&mut self, ui: &mut egui::Ui) {
        let ctx = ui.ctx().clone();
        self.shortcuts(&ctx);
        self.window_events(&ctx);
        self.poll_training();
        let menu = super::panels::menu_bar(
            ui,
            &MenuView {
                settings: &self.settings,
                can_undo: self.doc.can_undo(),
                can_redo: self.doc.can_redo(),
                has_selection: !self.canvas.selection.is_empty(),
                training_open: self.training.open,
                maximized: self.layout.maximized,
            },
        );
        self.commands.extend(menu);
        let status = super::panels::status_bar(ui, &self.status_view());
        self.commands.extend(status);
        self.tiles_ui(ui);
        let dialogs = super::panels::dialogs(
            &ctx,
            &DialogView {
                confirm: self.confirm.as_ref(),
                display_name: self.doc.display_name(),
                load_error: self.load_error.as_deref(),
                recovery_offer: self.recovery.offer.as_deref(),
                gradcheck: self.gradcheck.as_ref(),
                graph: self.doc.graph(),
            },
        );
        self.commands.extend(dialogs);
        let help = self.help.ui(&ctx);
        self.commands.extend(help);
        if let Some(c) = self.training.save_png_if_ready(&ctx) {
            self.commands.push(c);
        }
        if let Some(m) = self.canvas.flow.message.take() {
            self.message = m;
        }
        self.apply_pending(&ctx);
        if self.refresh_steps() {
            ctx.request_repaint();
        }
        self.screenshot(&ctx);
        if self.close_now {
            ctx.send_viewport_cmd(egui::ViewportCommand::Close);
        }
    }

    fn status_view(&self) -> StatusView<'_> {
        let mut diagnostics: Vec<_> = self
            .doc
            .project()
            .load_diagnostics
            .iter()
            .chain(&self.analysis.diagnostics)
            .collect();
        if let Some(ev) = &self.eval {
            diagnostics.extend(&ev.diagnostics);
        }
        StatusView {
            device: self.engine.describe(),
            diagnostics,
            parameters: self.analysis.total_params,
            output: self
                .analysis
                .output
                .and_then(|id| self.doc.graph().node(id))
                .map(|n| n.name.as_str()),
            eval_error: self.eval_error.as_deref(),
            message: &self.message,
        }
    }

    /// The tiles between the menu bar and the status bar.
    fn tiles_ui(&mut self, ui: &mut egui::Ui) {
        self.layout
            .sync_visibility(self.training.open, self.settings.show_inspector);
        // The panel picked a view (the first snapshot of a run): open its tile.
        if self.training.open && self.synced_view != Some(self.training.view) {
            self.layout.activate(Pane::of_view(self.training.view));
            self.synced_view = Some(self.training.view);
        }
        self.canvas.show_wire_grads = self.settings.show_wire_grads;
        let views_before: Vec<Pane> = Pane::ALL
            .into_iter()
            .filter(|p| p.view().is_some() && self.layout.is_shown(*p))
            .collect();
        let selection = self.canvas.selection.clone();
        // The timeline shows an earlier epoch: the cards show the network as it was then.
        let scrubbed = self.scrub.update(
            &self.training,
            self.doc.graph(),
            &self.analysis,
            self.doc.semantic_revision(),
            &self.engine,
        );
        let mut panes = Panes {
            doc: &self.doc,
            analysis: &self.analysis,
            eval: scrubbed.or(self.eval.as_ref()),
            canvas: &mut self.canvas,
            stepping: &mut self.stepping,
            training: &mut self.training,
            selection,
            edits: &mut self.edits,
            commands: &mut self.commands,
            drawn: Default::default(),
            tab_selected: false,
        };
        let layout = &mut self.layout;
        egui::CentralPanel::default()
            .frame(egui::Frame::NONE.fill(ui.visuals().panel_fill))
            .show(ui, |ui| super::panes::layout_ui(ui, layout, &mut panes));
        // The student opened a view's tab: the panel follows (and keeps it for later runs).
        let tab_selected = panes.tab_selected;
        if tab_selected {
            let opened = Pane::ALL.into_iter().find(|p| {
                p.view().is_some() && self.layout.is_shown(*p) && !views_before.contains(p)
            });
            if let Some(v) = opened.and_then(Pane::view) {
                self.training.choose_view(v);
                self.synced_view = Some(v);
            }
        }
        // A new single selection (a click, `--select`) shows the inspector's tab, unless a
        // run is going on (its controls stay in view).
        if self.canvas.selection != self.last_selection {
            self.last_selection = self.canvas.selection.clone();
            if self.last_selection.len() == 1 && !self.training.is_active() {
                self.layout.activate(Pane::Inspector);
            }
        }
    }

    /// Opens a file now (the caller already asked about unsaved changes). A file that fails
    /// to load changes nothing: the error is shown and the current document stays.
    pub fn open_now(&mut self, path: &Path) {
        match Document::open(path) {
            Ok(doc) => {
                if self.recovery.offer.is_none() {
                    self.recovery.discard();
                }
                self.doc = doc;
                self.reset_training();
                self.canvas.fit_requested = true;
                self.canvas.selection.clear();
                self.settings.remember(path);
                self.recompute();
                match self.doc.project().quiz.clone() {
                    Some(quiz) => self.stepping.start_quiz(self.doc.graph(), &quiz),
                    None => self.stepping.reset(),
                }
                self.message = format!("opened {}", self.doc.display_name());
                let problems = self.doc.project().load_diagnostics.len();
                if problems > 0 {
                    self.message += &format!(" with {problems} problem(s): see the status bar");
                }
            }
            Err(e) => {
                self.message = format!("could not open {}", path.display());
                self.load_error = Some(e.to_string());
            }
        }
    }

    /// Saves to the document's file, or asks for one (always with `as_new`). Returns
    /// whether the file was written; says why not in the status bar.
    pub fn save(&mut self, as_new: bool) -> bool {
        let path = match (&self.doc.path, as_new) {
            (Some(p), false) => p.clone(),
            _ => match super::files::pick_save_path(&self.doc.display_name()) {
                Some(p) => p,
                None => {
                    self.message = NOT_SAVED.into();
                    return false;
                }
            },
        };
        self.save_to(&path)
    }

    pub fn save_to(&mut self, path: &Path) -> bool {
        // The runs go into the file only when the Training tile's checkbox says so.
        let runs = if self.training.save_runs {
            self.training.runs_to_save(self.doc.graph())
        } else {
            Vec::new()
        };
        self.doc.set_runs(runs);
        match self.doc.save_to(path) {
            Ok(()) => {
                self.recovery.discard();
                self.settings.remember(path);
                self.message = format!("saved {}", path.display());
                true
            }
            Err(e) => {
                self.message = e.to_string();
                self.load_error = Some(e.to_string());
                false
            }
        }
    }

    /// Imports an ONNX model as a new unsaved project titled after the file (the caller
    /// already asked about unsaved changes). A model that fails to import changes nothing:
    /// the error (every unsupported node) is shown and the current document stays.
    pub fn import_onnx_now(&mut self, path: &Path) {
        match crate::interop::onnx_import::import_file(path) {
            Ok(project) => {
                let nodes = project.graph.len();
                // Work recovered from a crash stays on offer until it is answered.
                if self.recovery.offer.is_none() {
                    self.recovery.discard();
                }
                self.doc = Document::new(project, None);
                self.doc.mark_dirty();
                self.reset_training();
                self.canvas.fit_requested = true;
                self.canvas.selection.clear();
                self.recompute();
                self.stepping.reset();
                let file = path.file_name().unwrap_or(path.as_os_str());
                self.message = format!(
                    "imported {} ({nodes} nodes): File > Save As… keeps it",
                    file.to_string_lossy()
                );
            }
            Err(e) => {
                self.message = format!("could not import {}", path.display());
                self.load_error = Some(e.to_string());
            }
        }
    }

    /// File > Export: PyTorch code (`onnx_with_loss` None) or an ONNX model of the open
    /// project, to `path` or where a save dialog says. The status bar says what was written,
    /// or why nothing was (a refused node by name).
    pub fn export(&mut self, path: Option<PathBuf>, onnx_with_loss: Option<bool>) {
        let (ext, filter) = match onnx_with_loss {
            Some(_) => ("onnx", "ONNX model"),
            None => ("py", "Python (PyTorch)"),
        };
        let stem = self.doc.display_name().trim_end_matches(".ron").to_string();
        let path = path.or_else(|| {
            rfd::FileDialog::new()
                .add_filter(filter, &[ext])
                .set_file_name(format!("{stem}.{ext}"))
                .save_file()
        });
        let Some(path) = path else {
            self.message = "Not exported: no file was chosen (no file dialog here? `nodegrad \
                            export FILE --to pytorch|onnx -o OUT` does it from a terminal)"
                .into();
            return;
        };
        let project = self.doc.project();
        let result = match onnx_with_loss {
            Some(with_loss) => crate::interop::onnx_export::write(&project.graph, with_loss, &path)
                .map(|s| {
                    format!(
                        "exported {} (ONNX: inputs {}, outputs {})",
                        path.display(),
                        s.inputs.join(", "),
                        s.outputs.join(", ")
                    )
                }),
            None => {
                let base = self.doc.path.as_deref().and_then(Path::parent);
                crate::interop::pytorch::write(project, base, &path)
                    .map(|w| format!("exported {}", w.describe()))
            }
        };
        self.message = match result {
            Ok(m) => m,
            Err(e) => format!("Not exported: {e}"),
        };
    }

    /// Restores the recovered work as an unsaved document.
    pub fn restore_recovery(&mut self) {
        match self.recovery.load() {
            Ok((project, source)) => {
                self.doc = Document::new(project, source);
                self.doc.mark_dirty();
                self.reset_training();
                self.canvas.fit_requested = true;
                self.message = "restored unsaved work".into();
            }
            Err(e) => self.load_error = Some(e),
        }
        self.recovery.offer = None;
    }
}

impl eframe::App for NodegradApp {
    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        self.frame_ui(ui);
    }

    fn save(&mut self, storage: &mut dyn eframe::Storage) {
        eframe::set_value(storage, eframe::APP_KEY, &self.settings);
        storage.set_string(LAYOUT_KEY, self.layout.store());
    }
}
