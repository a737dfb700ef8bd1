//! The panels around the tiles and inside them: menu bar, status bar, inspector, and modal
//! dialogs. Each draws from what it is given and returns `AppCommand`s; none of them sees
//! the app.

use std::collections::BTreeSet;

use egui::{Color32, RichText, Ui};

use crate::analysis::{Analysis, Diagnostic, Severity};
use crate::exec::Evaluation;
use crate::graph::{Graph, NodeId, fmt_shape};
use crate::project::list_projects;

use super::command::{AppCommand, Pending};
use super::editor::card;
use super::layout::Pane;
use super::settings::Settings;
use super::stepping::Reveal;

/// What the menu bar shows.
pub struct MenuView<'a> {
    pub settings: &'a Settings,
    pub can_undo: bool,
    pub can_redo: bool,
    pub has_selection: bool,
    pub training_open: bool,
    pub maximized: Option<Pane>,
}

pub fn menu_bar(ui: &mut Ui, v: &MenuView<'_>) -> Vec<AppCommand> {
    let mut out = Vec::new();
    egui::Panel::top("menu").show(ui, |ui| {
        egui::MenuBar::new().ui(ui, |ui| {
            ui.menu_button("File", |ui| {
                let mut cmd = |ui: &mut Ui, label: &str, shortcut: &str, c: AppCommand| {
                    if ui
                        .add(egui::Button::new(label).shortcut_text(shortcut))
                        .clicked()
                    {
                        out.push(c);
                        ui.close();
                    }
                };
                cmd(ui, "New", "Ctrl+N", AppCommand::New);
                cmd(ui, "Open…", "Ctrl+O", AppCommand::Open(None));
                cmd(ui, "Save", "Ctrl+S", AppCommand::Save);
                cmd(ui, "Save As…", "Ctrl+Shift+S", AppCommand::SaveAs);
                cmd(ui, "Save as exercise…", "", AppCommand::SaveExercise);
                cmd(ui, "Import ONNX…", "", AppCommand::ImportOnnx(None));
                ui.menu_button("Export", |ui| {
                    for (label, c) in [
                        ("PyTorch code…", AppCommand::ExportPytorch(None)),
                        (
                            "ONNX…",
                            AppCommand::ExportOnnx {
                                path: None,
                                with_loss: false,
                            },
                        ),
                        (
                            "ONNX with losses…",
                            AppCommand::ExportOnnx {
                                path: None,
                                with_loss: true,
                            },
                        ),
                    ] {
                        if ui.button(label).clicked() {
                            out.push(c);
                            ui.close();
                        }
                    }
                });
                ui.menu_button("Open example", |ui| {
                    for path in list_projects(&super::examples_dir()) {
                        let name = path
                            .file_stem()
                            .map(|s| s.to_string_lossy().into_owned())
                            .unwrap_or_default();
                        if ui.button(name).clicked() {
                            out.push(AppCommand::Open(Some(path)));
                            ui.close();
                        }
                    }
                });
                ui.menu_button("Recent files", |ui| {
                    if v.settings.recent.is_empty() {
                        ui.weak("none yet");
                    }
                    for path in &v.settings.recent {
                        if ui.button(path.display().to_string()).clicked() {
                            out.push(AppCommand::Open(Some(path.clone())));
                            ui.close();
                        }
                    }
                });
                ui.separator();
                if ui.button("Quit").clicked() {
                    out.push(AppCommand::Quit);
                    ui.close();
                }
            });
            ui.menu_button("Edit", |ui| {
                let items = [
                    ("Undo", "Ctrl+Z", AppCommand::Undo, v.can_undo),
                    ("Redo", "Ctrl+Shift+Z", AppCommand::Redo, v.can_redo),
                    ("Copy", "Ctrl+C", AppCommand::Copy, v.has_selection),
                    ("Duplicate", "Ctrl+D", AppCommand::Duplicate, v.has_selection),
                    ("Delete", "Del", AppCommand::Delete, v.has_selection),
                    ("Select all", "Ctrl+A", AppCommand::SelectAll, true),
                ];
                for (label, shortcut, c, enabled) in items {
                    if ui
                        .add_enabled(enabled, egui::Button::new(label).shortcut_text(shortcut))
                        .clicked()
                    {
                        out.push(c);
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
                    out.push(AppCommand::Fit);
                    ui.close();
                }
                let mut wire_grads = v.settings.show_wire_grads;
                if ui
                    .checkbox(&mut wire_grads, "Show gradients on wires")
                    .changed()
                {
                    out.push(AppCommand::ShowWireGrads(wire_grads));
                }
                let mut inspector = v.settings.show_inspector;
                if ui.checkbox(&mut inspector, "Inspector panel").changed() {
                    out.push(AppCommand::ShowInspector(inspector));
                }
                let mut training = v.training_open;
                if ui.checkbox(&mut training, "Training panel").changed() {
                    out.push(AppCommand::ToggleTraining);
                }
                ui.separator();
                if v.maximized.is_some() && ui.button("Restore the tiles").clicked() {
                    out.push(AppCommand::Maximize(None));
                    ui.close();
                }
                if ui
                    .button("Maximize the graph")
                    .on_hover_text("Show only the graph (the tab's ⛶ button does this for any tile)")
                    .clicked()
                {
                    out.push(AppCommand::Maximize(Some(Pane::Canvas)));
                    ui.close();
                }
                if ui
                    .button("Reset layout")
                    .on_hover_text("Put every tile back where it was at the first start")
                    .clicked()
                {
                    out.push(AppCommand::ResetLayout);
                    ui.close();
                }
                ui.separator();
                if ui
                    .button(if v.settings.dark {
                        "Light theme"
                    } else {
                        "Dark theme"
                    })
                    .clicked()
                {
                    out.push(AppCommand::ToggleTheme);
                    ui.close();
                }
                // Last, so the items above keep their places.
                ui.separator();
                if ui
                    .button("Animate backward pass")
                    .on_hover_text("Watch the gradient flow back from the output, wire by wire, \
                                    thick and bright where it is large")
                    .clicked()
                {
                    out.push(AppCommand::AnimateBackward);
                    ui.close();
                }
            });
            ui.menu_button("Help", |ui| {
                if ui
                    .add(egui::Button::new("Keyboard shortcuts").shortcut_text("F1"))
                    .clicked()
                {
                    out.push(AppCommand::Help(0));
                    ui.close();
                }
                if ui.button("Guided tour of the lecture example").clicked() {
                    out.push(AppCommand::Help(1));
                    ui.close();
                }
            });
            ui.separator();
            if ui
                .button("Fit")
                .on_hover_text("Fit the graph to the view (F)")
                .clicked()
            {
                out.push(AppCommand::Fit);
            }
            if ui
                .add_enabled(v.can_undo, egui::Button::new("⟲ Undo"))
                .clicked()
            {
                out.push(AppCommand::Undo);
            }
            if ui
                .add_enabled(v.can_redo, egui::Button::new("⟳ Redo"))
                .clicked()
            {
                out.push(AppCommand::Redo);
            }
            ui.separator();
            if ui
                .button("✔ Gradient check")
                .on_hover_text("Compare every gradient of inputs and parameters with central finite differences")
                .clicked()
            {
                out.push(AppCommand::GradientCheck);
            }
            if ui
                .selectable_label(v.training_open, "📈 Training")
                .on_hover_text("Bind a dataset, choose an optimizer and train (the Training tiles)")
                .clicked()
            {
                out.push(AppCommand::ToggleTraining);
            }
        });
    });
    out
}

/// What the status bar shows.
pub struct StatusView<'a> {
    pub device: String,
    pub diagnostics: Vec<&'a Diagnostic>,
    pub parameters: usize,
    pub output: Option<&'a str>,
    pub eval_error: Option<&'a str>,
    pub message: &'a str,
}

pub fn status_bar(ui: &mut Ui, v: &StatusView<'_>) -> Vec<AppCommand> {
    let mut out = Vec::new();
    egui::Panel::bottom("status").show(ui, |ui| {
        ui.horizontal(|ui| {
            ui.label(&v.device);
            ui.separator();
            let diags = &v.diagnostics;
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
                for d in diags {
                    if ui.button(d.to_string()).clicked() {
                        if let Some(id) = d.node {
                            out.push(AppCommand::Focus(id));
                        }
                        ui.close();
                    }
                }
            });
            ui.separator();
            ui.label(format!("{} parameter(s)", v.parameters));
            ui.separator();
            ui.label(format!("output: {}", v.output.unwrap_or("none")));
            if let Some(e) = v.eval_error {
                ui.separator();
                ui.colored_label(Color32::from_rgb(230, 80, 60), e);
            }
            ui.separator();
            // The last message can be long (why nothing was saved): it wraps in the bar
            // rather than widen the window.
            ui.add(egui::Label::new(v.message).wrap());
        });
    });
    out
}

/// What the inspector shows.
pub struct InspectorView<'a> {
    pub graph: &'a Graph,
    pub description: &'a str,
    pub analysis: &'a Analysis,
    pub eval: Option<&'a Evaluation>,
    pub selection: &'a BTreeSet<NodeId>,
    pub reveal: Option<&'a Reveal>,
}

/// The selected node in full: its documentation and every number. Drawn inside its tile's
/// scroll area: text wraps at the tile's width, feature-map grids wrap their maps.
pub fn inspector_ui(ui: &mut Ui, v: &InspectorView<'_>) {
    let selected: Vec<_> = v
        .selection
        .iter()
        .filter_map(|id| v.graph.node(*id))
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
            v.graph.len(),
            v.graph.edge_count()
        ));
        if !v.description.is_empty() {
            ui.separator();
            ui.add(egui::Label::new(v.description).wrap());
        }
        return;
    };
    let s = node.op.spec();
    ui.add(egui::Label::new(RichText::new(format!("{}  ({})", node.name, s.name)).strong()).wrap());
    ui.add(egui::Label::new(s.summary).wrap());
    // Rows that wrap (a grid sizes its columns to the longest text).
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
    // For a big tensor (a conv layer's feature maps) the numbers come first: the formulas
    // start folded, one click away.
    let big = v
        .eval
        .and_then(|e| e.nodes.get(&node.id))
        .is_some_and(|ev| ev.value.len() > 64);
    egui::CollapsingHeader::new("formula, derivative, shapes")
        .id_salt(("inspector-docs", node.id.0, big))
        .default_open(!big)
        .show(ui, |ui| {
            row(ui, "f", s.formula.to_string(), true);
            row(ui, "f'", s.derivative.to_string(), true);
            row(ui, "shape", s.shape_rule.to_string(), false);
        });
    let shape_of = |id| {
        v.analysis
            .shapes
            .get(&id)
            .map(|s| card::shape_label(s))
            .unwrap_or_else(|| "?".into())
    };
    for (port, name) in node.op.ports().iter().enumerate() {
        let text = v
            .graph
            .input(node.id, port)
            .map(shape_of)
            .unwrap_or_else(|| "not connected".into());
        row(ui, &format!("in {name}"), text, false);
    }
    row(ui, "out", shape_of(node.id), false);
    let params = v.analysis.param_counts.get(&node.id).copied().unwrap_or(0);
    row(ui, "params", params.to_string(), false);
    ui.separator();
    // In step and quiz mode, show only what has been computed so far.
    let (show_value, show_grad) = v
        .reveal
        .map(|r| (r.values.contains(&node.id), r.grads.contains(&node.id)))
        .unwrap_or((true, true));
    if let Some(ev) = v.eval.and_then(|e| e.nodes.get(&node.id)) {
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
    }
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

/// What the dialogs need.
pub struct DialogView<'a> {
    pub confirm: Option<&'a Pending>,
    pub display_name: String,
    pub load_error: Option<&'a str>,
    pub recovery_offer: Option<&'a str>,
    pub gradcheck: Option<&'a Result<Vec<crate::gradcheck::Check>, String>>,
    pub graph: &'a Graph,
}

/// Modal questions: discard unsaved changes, a file that failed to load, recovered work;
/// and the gradient check's window.
pub fn dialogs(ctx: &egui::Context, v: &DialogView<'_>) -> Vec<AppCommand> {
    let mut out = Vec::new();
    if let Some(result) = v.gradcheck {
        if !gradcheck_window(ctx, result, v.graph) {
            out.push(AppCommand::CloseGradientCheck);
        }
    }
    if let Some(pending) = v.confirm {
        let what = match pending {
            Pending::New => "starting a new project",
            Pending::Open(_) => "opening another project",
            Pending::Quit => "quitting",
            Pending::ImportOnnx(_) => "importing an ONNX model",
        };
        egui::Modal::new(egui::Id::new("confirm-discard")).show(ctx, |ui| {
            ui.heading("Unsaved changes");
            ui.label(format!(
                "{} has unsaved changes. Save them before {what}?",
                v.display_name
            ));
            ui.horizontal(|ui| {
                if ui.button("Save").clicked() {
                    out.push(AppCommand::ConfirmSave);
                }
                if ui.button("Discard").clicked() {
                    out.push(AppCommand::ConfirmDiscard);
                }
                if ui.button("Cancel").clicked() {
                    out.push(AppCommand::ConfirmCancel);
                }
            });
        });
    }
    if let Some(err) = v.load_error {
        egui::Modal::new(egui::Id::new("load-error")).show(ctx, |ui| {
            ui.heading("Could not open the file");
            ui.label(RichText::new(err).monospace());
            ui.label("Nothing was changed on disk.");
            if ui.button("OK").clicked() {
                out.push(AppCommand::DismissLoadError);
            }
        });
    }
    if let Some(offer) = v.recovery_offer {
        egui::Modal::new(egui::Id::new("recovery")).show(ctx, |ui| {
            ui.heading("Restore unsaved work?");
            ui.label(format!(
                "nodegrad was closed with unsaved changes to {offer}."
            ));
            ui.horizontal(|ui| {
                if ui.button("Restore").clicked() {
                    out.push(AppCommand::RestoreRecovery);
                }
                if ui.button("Discard").clicked() {
                    out.push(AppCommand::DiscardRecovery);
                }
            });
        });
    }
    out
}

/// The gradient check's table; returns false once closed.
fn gradcheck_window(
    ctx: &egui::Context,
    result: &Result<Vec<crate::gradcheck::Check>, String>,
    graph: &Graph,
) -> bool {
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
                // A big graph has many tensors: the table scrolls inside the window, which
                // never runs past the app's bottom edge.
                egui::ScrollArea::vertical()
                    .max_height(360.0)
                    .show(ui, |ui| {
                        egui::Grid::new("gradcheck").striped(true).show(ui, |ui| {
                            ui.strong("node");
                            ui.strong("tensor");
                            ui.strong("values");
                            ui.strong("max relative error");
                            ui.end_row();
                            for c in checks {
                                let name = graph
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
                                let error = if c.max_rel_error == 0.0 {
                                    "0 (exact)".to_string()
                                } else {
                                    format!("{:.2e}", c.max_rel_error)
                                };
                                ui.colored_label(color, error);
                                ui.end_row();
                            }
                        });
                    });
            }
        });
    open
}
