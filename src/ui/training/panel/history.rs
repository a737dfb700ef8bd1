//! The Training tile's history: the timeline slider (scrub through a run's epochs, restore
//! their weights), "Run again with…" (one setting changed), the compare view of the runs
//! (the settings that differ, the boundaries side by side) and the runs saved with the
//! project.

use egui::Ui;

use super::{TrainingContext, TrainingPanel, fitting_weights};
use crate::graph::{Graph, Op, fmt_number};
use crate::project::runs::{EpochFile, SavedFrame, SavedRun};
use crate::project::training::{OptimizerKind, TrainingConfig};
use crate::train::compare::{self, ACTIVATIONS, INITS, RunSettings, Variation};
use crate::train::timeline::{Frame, fmt_bytes};
use crate::train::{EpochMetrics, Scores};
use crate::ui::command::AppCommand;
use crate::ui::document::Edit;
use crate::ui::training::dashboard::{self, Run, run_color};

impl TrainingPanel {
    /// The timeline under the progress line: earlier/later, a slider over the kept epochs,
    /// back to the present, and "Restore these weights" (one undo step).
    pub(super) fn timeline_ui(
        &mut self,
        ui: &mut Ui,
        cx: &TrainingContext<'_>,
        out: &mut Vec<AppCommand>,
    ) {
        let n = self.run.timeline.len();
        if n == 0 {
            return;
        }
        let last = n - 1;
        let mut k = self.run.scrub.unwrap_or(last).min(last);
        ui.horizontal_wrapped(|ui| {
            ui.label("Timeline");
            if ui
                .add_enabled(k > 0, egui::Button::new("◀ Earlier"))
                .on_hover_text("Show the network as it was at the previous kept epoch")
                .clicked()
            {
                k -= 1;
                self.run.scrub = Some(k);
            }
            let frames = self.run.timeline.frames();
            let epochs: Vec<usize> = frames.iter().map(|f| f.epoch).collect();
            let mut pos = k;
            let slider = ui.add(
                egui::Slider::new(&mut pos, 0..=last)
                    .show_value(false)
                    .text(format!("epoch {}", epochs[k])),
            );
            if slider.changed() {
                k = pos;
                self.run.scrub = Some(k);
            }
            if ui
                .add_enabled(k < last, egui::Button::new("Later ▶"))
                .on_hover_text("Show the network as it was at the next kept epoch")
                .clicked()
            {
                k += 1;
                self.run.scrub = Some(k);
            }
            if ui
                .add_enabled(self.run.scrub.is_some(), egui::Button::new("Live"))
                .on_hover_text("Back to the present of the run (and the graph's own weights)")
                .clicked()
            {
                self.run.scrub = None;
            }
            let variant = self
                .run
                .graph
                .as_ref()
                .is_some_and(|g| !super::same_ops(g, cx.graph));
            let restore = ui
                .add_enabled(
                    self.run.scrub.is_some() && !self.is_running() && !variant,
                    egui::Button::new("Restore these weights"),
                )
                .on_hover_text(
                    "Put the weights of the shown epoch into the graph (one undo step: Ctrl+Z \
                     takes them out again)",
                )
                .on_disabled_hover_text(if variant {
                    "This run trained a variant of the graph (other activations or \
                     initializer): its weights belong to that variant, and in this graph they \
                     would compute other numbers. The cards show the variant's numbers."
                } else {
                    "Scrub back to an epoch first (and wait for the run to end)"
                });
            if restore.clicked() {
                if let Some(f) = self.run.scrubbed() {
                    let w = fitting_weights(cx.graph, cx.analysis, &f.weights);
                    if w.is_empty() {
                        out.push(AppCommand::Message(
                            "None of these weights fit the graph any more (it changed since)"
                                .into(),
                        ));
                    } else {
                        out.push(AppCommand::Message(format!(
                            "The weights of epoch {} are in the graph (Ctrl+Z undoes it)",
                            f.epoch
                        )));
                        out.push(AppCommand::Edit(Edit::SetTensors(w)));
                        self.run.scrub = None;
                    }
                }
            }
        });
        let t = &self.run.timeline;
        let shown = self.run.scrubbed();
        ui.add(
            egui::Label::new(
                egui::RichText::new(format!(
                    "{} · {} epochs kept ({}) · {} of the {} budget",
                    match shown {
                        Some(f) => format!("Showing epoch {} (step {})", f.epoch, f.step),
                        None => "Showing the present".into(),
                    },
                    t.len(),
                    if t.stride() == 1 {
                        "every epoch".to_string()
                    } else {
                        format!("every {}th epoch, thinned to fit", t.stride())
                    },
                    fmt_bytes(t.bytes()),
                    fmt_bytes(t.budget())
                ))
                .small(),
            )
            .wrap(),
        );
    }

    /// "Run again with…": a new run with one setting changed, and the sigmoid-vs-ReLU pair.
    pub(super) fn run_again_ui(
        &mut self,
        ui: &mut Ui,
        cx: &TrainingContext<'_>,
        cfg: &TrainingConfig,
    ) {
        let enabled = !self.is_running();
        let mut chosen: Vec<Variation> = Vec::new();
        ui.menu_button("Run again with…", |ui| {
            if !enabled {
                ui.weak("Pause or stop the run first.");
                return;
            }
            // Worked out only while the menu is open (a sweep over the graph).
            let (g, c) = self.base_of_next_run(cx.graph, cfg);
            let hidden = compare::hidden_activations(&g);
            ui.menu_button("Optimizer…", |ui| {
                for o in OptimizerKind::ALL {
                    if o != c.optimizer && ui.button(o.label()).clicked() {
                        chosen.push(Variation::Optimizer(o));
                    }
                }
            });
            ui.menu_button("Learning rate…", |ui| {
                for f in [0.1, 0.3, 3.0, 10.0] {
                    let lr = c.learning_rate * f;
                    if ui
                        .button(format!("{} (×{})", fmt_number(lr), fmt_number(f)))
                        .clicked()
                    {
                        chosen.push(Variation::LearningRate(lr));
                    }
                }
            });
            ui.menu_button("Activation of the hidden layers…", |ui| {
                if hidden.is_empty() {
                    ui.weak("No hidden layer has an activation to change.");
                    return;
                }
                for op in ACTIVATIONS {
                    if ui.button(compare::activation_label(&op)).clicked() {
                        chosen.push(Variation::Activation(op.clone()));
                    }
                }
            });
            ui.menu_button("Initializer…", |ui| {
                for init in INITS {
                    if ui.button(compare::init_label(&init)).clicked() {
                        chosen.push(Variation::Initializer(init.clone()));
                    }
                }
            });
            let seed = g.seed.wrapping_add(1);
            if ui.button(format!("Seed {seed}")).clicked() {
                chosen.push(Variation::Seed(seed));
            }
            ui.separator();
            if ui
                .add_enabled(
                    !hidden.is_empty(),
                    egui::Button::new("Sigmoid vs ReLU (two runs)"),
                )
                .on_hover_text(
                    "The vanishing-gradients lesson: the same net with sigmoid, then with \
                     ReLU in every hidden layer, from the same first weights",
                )
                .clicked()
            {
                chosen.push(Variation::Activation(Op::Sigmoid));
                chosen.push(Variation::Activation(Op::ReLU));
            }
        });
        if !chosen.is_empty() {
            let ctx = ui.ctx().clone();
            self.run_again(&chosen, cx.graph, cfg, cx.base.clone(), cx.revision, &ctx);
        }
    }

    /// The compared runs: a row each with the settings that differ and where it ended, then
    /// their decision boundaries side by side.
    pub(super) fn compare_ui(&mut self, ui: &mut Ui) {
        if self.runs.is_empty() {
            return;
        }
        ui.separator();
        ui.strong("Runs");
        let (keys, names) = dashboard::run_names(&self.run, &self.runs);
        if keys.is_empty() {
            ui.weak("These runs have the same settings (optimizer, learning rate, activation, initializer, seed).");
        }
        let mut remove = None;
        egui::Grid::new("compare-runs")
            .striped(true)
            .spacing([12.0, 4.0])
            .show(ui, |ui| {
                ui.label("");
                ui.strong("run");
                for k in &keys {
                    ui.strong(*k);
                }
                ui.strong("final loss");
                ui.strong("accuracy");
                ui.label("");
                ui.end_row();
                let count = self.runs.len();
                for i in 0..=count {
                    let r = if i < count { &self.runs[i] } else { &self.run };
                    let color = if i < count {
                        run_color(i)
                    } else {
                        dashboard::THIS_RUN
                    };
                    let (rect, _) =
                        ui.allocate_exact_size(egui::vec2(12.0, 12.0), egui::Sense::hover());
                    ui.painter().rect_filled(rect, 2.0, color);
                    ui.label(if i < count {
                        names[i].clone()
                    } else {
                        format!("{} (this run)", names[i])
                    });
                    for k in &keys {
                        ui.label(r.settings.as_ref().map_or("", |s| s.get(k)));
                    }
                    let last = r.epochs.last();
                    ui.label(last.map_or("—".into(), |m| {
                        fmt_number(m.val.map_or(m.train.loss, |v| v.loss))
                    }));
                    ui.label(
                        last.and_then(|m| m.val.and_then(|v| v.accuracy).or(m.train.accuracy))
                            .map_or("—".into(), |a| format!("{:.1}%", 100.0 * a)),
                    );
                    if i < count {
                        if ui
                            .small_button("✕")
                            .on_hover_text("Forget this run")
                            .clicked()
                        {
                            remove = Some(i);
                        }
                    } else {
                        ui.label("");
                    }
                    ui.end_row();
                }
            });
        if let Some(i) = remove {
            self.runs.remove(i);
        }
        let any_boundary = self
            .runs
            .iter()
            .chain(std::iter::once(&self.run))
            .any(|r| r.latest.as_ref().is_some_and(|s| s.boundary.is_some()));
        if any_boundary {
            ui.label("Decision boundaries (latest of each run):");
            // As wide as the tile allows, as tall as the room the plots left (no taller
            // than `THUMB_MAX`): a square the clip would cut reads as a thin line.
            let side = ((ui.available_width() - 8.0) / (self.runs.len() + 1) as f32 - 8.0)
                .min(ui.available_height() - 20.0)
                .clamp(40.0, dashboard::THUMB_MAX);
            ui.horizontal_wrapped(|ui| {
                let count = self.runs.len();
                for i in 0..=count {
                    let name = names.get(i).cloned().unwrap_or_default();
                    let r = if i < count {
                        &mut self.runs[i]
                    } else {
                        &mut self.run
                    };
                    ui.vertical(|ui| {
                        ui.set_width(side);
                        ui.add(egui::Label::new(egui::RichText::new(name).small()).truncate());
                        dashboard::boundary_thumb(ui, r, side);
                    });
                }
            });
        }
    }

    /// The runs to save with the project (the current one last).
    pub fn runs_to_save(&self, graph: &Graph) -> Vec<SavedRun> {
        self.runs
            .iter()
            .chain(std::iter::once(&self.run))
            .filter(|r| r.has_data())
            .filter_map(|r| saved(r, graph))
            .collect()
    }

    /// The runs a project was saved with: the last becomes the current run (its timeline
    /// under the dashboard), the others are compared with it.
    pub fn load_runs(&mut self, runs: &[SavedRun], graph: &Graph) {
        let mut loaded: Vec<Run> = runs
            .iter()
            .map(|r| {
                let id = self.next_run_id;
                self.next_run_id += 1;
                reopened(r, graph, id)
            })
            .collect();
        self.save_runs = !loaded.is_empty();
        if let Some(last) = loaded.pop() {
            self.run = last;
        }
        self.runs = loaded;
    }

    /// The saved size of the runs section (computed again when the runs change).
    pub(super) fn saved_size(&mut self, graph: &Graph, revision: u64) -> usize {
        let frames: usize = self
            .runs
            .iter()
            .chain(std::iter::once(&self.run))
            .map(|r| r.timeline.len() + r.epochs.len())
            .sum();
        let key = (self.runs.len(), frames, revision);
        if let Some((k, size)) = self.saved_size {
            if k == key {
                return size;
            }
        }
        let size = crate::project::runs::saved_len(&self.runs_to_save(graph), graph);
        self.saved_size = Some((key, size));
        size
    }
}

/// A run as the project file keeps it.
fn saved(r: &Run, graph: &Graph) -> Option<SavedRun> {
    let config = r.config.clone()?;
    let run_graph = r.graph.as_ref()?;
    Some(SavedRun {
        training: config,
        seed: run_graph.seed,
        ops: run_graph
            .nodes()
            .filter(|n| graph.node(n.id).is_some_and(|m| m.op != n.op))
            .map(|n| (n.id, n.op.clone()))
            .collect(),
        epochs: r
            .epochs
            .iter()
            .map(|m| EpochFile {
                epoch: m.epoch,
                step: m.step,
                loss: m.train.loss,
                val_loss: m.val.map(|v| v.loss),
                accuracy: m.train.accuracy,
                val_accuracy: m.val.and_then(|v| v.accuracy),
                lr: m.lr,
            })
            .collect(),
        frames: r
            .timeline
            .frames()
            .iter()
            .map(|f| SavedFrame {
                epoch: f.epoch,
                step: f.step,
                weights: f.weights.clone(),
            })
            .collect(),
    })
}

/// A saved run back in the window: curves, settings and a timeline without snapshots.
fn reopened(r: &SavedRun, graph: &Graph, id: u64) -> Run {
    let run_graph = r.graph(graph);
    let mut run = Run::default();
    run.id = id;
    run.settings = Some(RunSettings::of(&run_graph, &r.training));
    run.graph = Some(run_graph);
    run.config = Some(r.training.clone());
    run.reopened = true;
    run.epochs = r
        .epochs
        .iter()
        .map(|e| EpochMetrics {
            epoch: e.epoch,
            step: e.step,
            train: Scores {
                loss: e.loss,
                accuracy: e.accuracy,
            },
            val: e.val_loss.map(|loss| Scores {
                loss,
                accuracy: e.val_accuracy,
            }),
            lr: e.lr,
            samples_per_s: 0.0,
        })
        .collect();
    for f in &r.frames {
        run.timeline.push(Frame {
            epoch: f.epoch,
            step: f.step,
            weights: f.weights.clone(),
            snapshot: None,
        });
    }
    run
}
