//! The panels around the canvas: menu bar, status bar, inspector, and modal dialogs.

use egui::{Color32, RichText, Ui};

use crate::analysis::Severity;
use crate::graph::fmt_shape;
use crate::project::list_projects;

use super::app::{AppCommand, NodegradApp, Pending};
use super::editor::card;

pub fn menu_bar(app: &mut NodegradApp, ui: &mut Ui) {
    egui::Panel::top("menu").show(ui, |ui| {
        egui::MenuBar::new().ui(ui, |ui| {
            ui.menu_button("File", |ui| {
                let mut cmd = |ui: &mut Ui, label: &str, shortcut: &str, c: AppCommand| {
                    if ui
                        .add(egui::Button::new(label).shortcut_text(shortcut))
                        .clicked()
                    {
                        app.commands.push(c);
                        ui.close();
                    }
                };
                cmd(ui, "New", "Ctrl+N", AppCommand::New);
                cmd(ui, "Open…", "Ctrl+O", AppCommand::Open(None));
                cmd(ui, "Save", "Ctrl+S", AppCommand::Save);
                cmd(ui, "Save As…", "Ctrl+Shift+S", AppCommand::SaveAs);
                cmd(ui, "Save as exercise…", "", AppCommand::SaveExercise);
                ui.menu_button("Open example", |ui| {
                    for path in list_projects(&super::examples_dir()) {
                        let name = path
                            .file_stem()
                            .map(|s| s.to_string_lossy().into_owned())
                            .unwrap_or_default();
                        if ui.button(name).clicked() {
                            app.commands.push(AppCommand::Open(Some(path)));
                            ui.close();
                        }
                    }
                });
                ui.menu_button("Recent files", |ui| {
                    if app.settings.recent.is_empty() {
                        ui.weak("none yet");
                    }
                    for path in app.settings.recent.clone() {
                        if ui.button(path.display().to_string()).clicked() {
                            app.commands.push(AppCommand::Open(Some(path)));
                            ui.close();
                        }
                    }
                });
                ui.separator();
                if ui.button("Quit").clicked() {
                    app.commands.push(AppCommand::Quit);
                    ui.close();
                }
            });
            ui.menu_button("Edit", |ui| {
                let items = [
                    ("Undo", "Ctrl+Z", AppCommand::Undo, app.doc.can_undo()),
                    ("Redo", "Ctrl+Shift+Z", AppCommand::Redo, app.doc.can_redo()),
                    (
                        "Copy",
                        "Ctrl+C",
                        AppCommand::Copy,
                        !app.canvas.selection.is_empty(),
                    ),
                    (
                        "Duplicate",
                        "Ctrl+D",
                        AppCommand::Duplicate,
                        !app.canvas.selection.is_empty(),
                    ),
                    (
                        "Delete",
                        "Del",
                        AppCommand::Delete,
                        !app.canvas.selection.is_empty(),
                    ),
                    ("Select all", "Ctrl+A", AppCommand::SelectAll, true),
                ];
                for (label, shortcut, c, enabled) in items {
                    if ui
                        .add_enabled(enabled, egui::Button::new(label).shortcut_text(shortcut))
                        .clicked()
                    {
                        app.commands.push(c);
                        ui.close();
                    }
                }
                ui.weak("Paste: Ctrl+V. Add a node: right-click, Space or Shift+A.");
            });
            ui.menu_button("View", |ui| {
                if ui
                    .add(egui::Button::new("Fit graph to view").shortcut_text("F"))
                    .clicked()
                {
                    app.commands.push(AppCommand::Fit);
                    ui.close();
                }
                ui.checkbox(&mut app.settings.show_wire_grads, "Show gradients on wires");
                ui.checkbox(&mut app.settings.show_inspector, "Inspector panel");
                ui.checkbox(&mut app.training.open, "Training panel");
                if ui
                    .button(if app.settings.dark {
                        "Light theme"
                    } else {
                        "Dark theme"
                    })
                    .clicked()
                {
                    app.commands.push(AppCommand::ToggleTheme);
                    ui.close();
                }
            });
            ui.separator();
            if ui
                .button("Fit")
                .on_hover_text("Fit the graph to the view (F)")
                .clicked()
            {
                app.commands.push(AppCommand::Fit);
            }
            if ui
                .add_enabled(app.doc.can_undo(), egui::Button::new("⟲ Undo"))
                .clicked()
            {
                app.commands.push(AppCommand::Undo);
            }
            if ui
                .add_enabled(app.doc.can_redo(), egui::Button::new("⟳ Redo"))
                .clicked()
            {
                app.commands.push(AppCommand::Redo);
            }
            ui.separator();
            if ui
                .button("✔ Gradient check")
                .on_hover_text("Compare every gradient of inputs and parameters with central finite differences")
                .clicked()
            {
                app.commands.push(AppCommand::GradientCheck);
            }
            if ui
                .selectable_label(app.training.open, "📈 Training")
                .on_hover_text("Bind a dataset, choose an optimizer and train (the Training panel)")
                .clicked()
            {
                app.commands.push(AppCommand::ToggleTraining);
            }
        });
    });
}

pub fn status_bar(app: &mut NodegradApp, ui: &mut Ui) {
    egui::Panel::bottom("status").show(ui, |ui| {
        ui.horizontal(|ui| {
            ui.label(app.engine.describe());
            ui.separator();
            let mut diags: Vec<_> = app
                .doc
                .project()
                .load_diagnostics
                .iter()
                .chain(&app.analysis.diagnostics)
                .collect();
            if let Some(ev) = &app.eval {
                diags.extend(&ev.diagnostics);
            }
            let errors = diags
                .iter()
                .filter(|d| d.severity == Severity::Error)
                .count();
            let warnings = diags
                .iter()
                .filter(|d| d.severity == Severity::Warning)
                .count();
            let label = RichText::new(format!("{errors} error(s), {warnings} warning(s)")).color(
                if errors > 0 {
                    Color32::from_rgb(230, 80, 60)
                } else {
                    ui.visuals().text_color()
                },
            );
            ui.menu_button(label, |ui| {
                if diags.is_empty() {
                    ui.weak("no diagnostics");
                }
                for d in &diags {
                    if ui.button(d.to_string()).clicked() {
                        if let Some(id) = d.node {
                            app.commands.push(AppCommand::Focus(id));
                        }
                        ui.close();
                    }
                }
            });
            ui.separator();
            ui.label(format!("{} parameter(s)", app.analysis.total_params));
            ui.separator();
            let output = app
                .analysis
                .output
                .and_then(|id| app.doc.graph().node(id))
                .map(|n| n.name.clone());
            ui.label(format!("output: {}", output.as_deref().unwrap_or("none")));
            if let Some(e) = &app.eval_error {
                ui.separator();
                ui.colored_label(Color32::from_rgb(230, 80, 60), e);
            }
            ui.separator();
            ui.label(&app.message);
        });
    });
}

/// The selected node in full: its documentation and every number.
pub fn inspector(app: &mut NodegradApp, ui: &mut Ui) {
    egui::Panel::right("inspector")
        .resizable(true)
        .default_size(260.0)
        .show(ui, |ui| {
            ui.heading("Inspector");
            let selected: Vec<_> = app
                .canvas
                .selection
                .iter()
                .filter_map(|id| app.doc.graph().node(*id))
                .collect();
            let [node] = selected.as_slice() else {
                ui.weak(if selected.is_empty() {
                    "Click a node to see its formula, derivative and values."
                } else {
                    "Several nodes selected."
                });
                ui.separator();
                ui.label(format!(
                    "{} node(s), {} wire(s)",
                    app.doc.graph().len(),
                    app.doc.graph().edge_count()
                ));
                if !app.doc.project().description.is_empty() {
                    ui.separator();
                    ui.label(&app.doc.project().description);
                }
                return;
            };
            let s = node.op.spec();
            ui.label(RichText::new(format!("{}  ({})", node.name, s.name)).strong());
            ui.label(s.summary);
            // Rows that wrap (a grid sizes its columns to the longest text and would widen
            // the panel past the window with Conv2d's derivative).
            let row = |ui: &mut Ui, key: &str, text: String, mono: bool| {
                ui.horizontal_wrapped(|ui| {
                    ui.label(RichText::new(key).weak());
                    let t = if mono {
                        RichText::new(text).monospace()
                    } else {
                        RichText::new(text)
                    };
                    ui.add(egui::Label::new(t).wrap());
                });
            };
            row(ui, "f", s.formula.to_string(), true);
            row(ui, "f'", s.derivative.to_string(), true);
            row(ui, "shape", s.shape_rule.to_string(), false);
            let shape_of = |id| {
                app.analysis
                    .shapes
                    .get(&id)
                    .map(|s| card::shape_label(s))
                    .unwrap_or_else(|| "?".into())
            };
            for (port, name) in node.op.ports().iter().enumerate() {
                let text = app
                    .doc
                    .graph()
                    .input(node.id, port)
                    .map(shape_of)
                    .unwrap_or_else(|| "not connected".into());
                row(ui, &format!("in {name}"), text, false);
            }
            row(ui, "out", shape_of(node.id), false);
            let params = app
                .analysis
                .param_counts
                .get(&node.id)
                .copied()
                .unwrap_or(0);
            row(ui, "params", params.to_string(), false);
            ui.separator();
            // In step and quiz mode, show only what has been computed so far.
            let (show_value, show_grad) = app
                .stepping
                .reveal()
                .map(|r| (r.values.contains(&node.id), r.grads.contains(&node.id)))
                .unwrap_or((true, true));
            if let Some(ev) = app.eval.as_ref().and_then(|e| e.nodes.get(&node.id)) {
                egui::ScrollArea::vertical().show(ui, |ui| {
                    if show_value {
                        array_ui(ui, "value", &ev.value);
                    }
                    if let (Some(g), true) = (&ev.grad, show_grad) {
                        array_ui(ui, "gradient", g);
                    }
                    for (k, t) in ev.tensors.iter().filter(|(k, _)| k.as_str() != "value") {
                        array_ui(ui, k, &t.value);
                        if let (Some(g), true) = (&t.grad, show_grad) {
                            array_ui(ui, &format!("d/d{k}"), g);
                        }
                    }
                });
            }
        });
}

/// A labelled tensor: its shape, whether it is finite, a heatmap and the numbers.
fn array_ui(ui: &mut Ui, label: &str, a: &crate::graph::Array) {
    let finite = if a.all_finite() {
        "finite"
    } else {
        "has NaN or infinite values"
    };
    ui.label(format!("{label} {} ({finite})", fmt_shape(a.shape())));
    if !a.shape().is_empty() {
        super::plot::heatmap::heatmap_ui(ui, a);
    }
    if a.len() <= 64 {
        // Wrapped, so a long row of numbers never widens the panel.
        ui.add(egui::Label::new(RichText::new(card::editable_text(a)).monospace()).wrap());
    }
}

/// Modal questions: discard unsaved changes, a file that failed to load, recovered work.
pub fn dialogs(app: &mut NodegradApp, ctx: &egui::Context) {
    gradcheck_window(app, ctx);
    if let Some(pending) = app.confirm.clone() {
        let what = match &pending {
            Pending::New => "starting a new project",
            Pending::Open(_) => "opening another project",
            Pending::Quit => "quitting",
        };
        egui::Modal::new(egui::Id::new("confirm-discard")).show(ctx, |ui| {
            ui.heading("Unsaved changes");
            ui.label(format!(
                "{} has unsaved changes. Save them before {what}?",
                app.doc.display_name()
            ));
            ui.horizontal(|ui| {
                if ui.button("Save").clicked() {
                    app.save(false);
                    if !app.doc.is_dirty() {
                        app.perform(pending.clone());
                    }
                }
                if ui.button("Discard").clicked() {
                    app.recovery.discard();
                    app.perform(pending.clone());
                }
                if ui.button("Cancel").clicked() {
                    app.confirm = None;
                }
            });
        });
    }
    if let Some(err) = app.load_error.clone() {
        egui::Modal::new(egui::Id::new("load-error")).show(ctx, |ui| {
            ui.heading("Could not open the file");
            ui.label(RichText::new(&err).monospace());
            ui.label("Nothing was changed on disk.");
            if ui.button("OK").clicked() {
                app.load_error = None;
            }
        });
    }
    if let Some(offer) = app.recovery.offer.clone() {
        egui::Modal::new(egui::Id::new("recovery")).show(ctx, |ui| {
            ui.heading("Restore unsaved work?");
            ui.label(format!(
                "nodegrad was closed with unsaved changes to {offer}."
            ));
            ui.horizontal(|ui| {
                if ui.button("Restore").clicked() {
                    app.restore_recovery();
                }
                if ui.button("Discard").clicked() {
                    app.recovery.discard();
                }
            });
        });
    }
}

fn gradcheck_window(app: &mut NodegradApp, ctx: &egui::Context) {
    let Some(result) = &app.gradcheck else { return };
    let mut open = true;
    egui::Window::new("Gradient check")
        .open(&mut open)
        .show(ctx, |ui| match result {
            Err(e) => {
                ui.colored_label(Color32::from_rgb(230, 80, 60), e);
            }
            Ok(checks) => {
                let failed = checks.iter().filter(|c| !c.passed()).count();
                ui.label(format!(
                    "autodiff vs central differences (f64), threshold {:e}: {}",
                    crate::gradcheck::THRESHOLD,
                    if failed == 0 {
                        "all passed".to_string()
                    } else {
                        format!("{failed} failed")
                    }
                ));
                egui::Grid::new("gradcheck").striped(true).show(ui, |ui| {
                    ui.strong("node");
                    ui.strong("tensor");
                    ui.strong("values");
                    ui.strong("max relative error");
                    ui.end_row();
                    for c in checks {
                        let name = app
                            .doc
                            .graph()
                            .node(c.node)
                            .map(|n| n.name.clone())
                            .unwrap_or_default();
                        ui.label(name);
                        ui.label(&c.key);
                        ui.label(if c.kinks > 0 {
                            format!("{} ({} at a kink)", c.values_checked, c.kinks)
                        } else {
                            c.values_checked.to_string()
                        })
                        .on_hover_text(
                            "A value at a kink (ReLU at 0, a max-pool tie) has different left and \
                             right slopes: no derivative to compare, so it is left out",
                        );
                        let color = if c.passed() {
                            Color32::from_rgb(90, 180, 90)
                        } else {
                            Color32::from_rgb(230, 70, 60)
                        };
                        ui.colored_label(color, format!("{:.2e}", c.max_rel_error));
                        ui.end_row();
                    }
                });
            }
        });
    if !open {
        app.gradcheck = None;
    }
}
