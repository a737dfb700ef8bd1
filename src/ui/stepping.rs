//! Step-through mode: forward steps reveal values node by node, backward steps reveal
//! gradients from the output back, each with its computation written out.

use std::collections::BTreeSet;
use std::sync::Arc;

use egui::{Color32, RichText, Ui};

use crate::analysis::Analysis;
use crate::exec::Evaluation;
use crate::graph::{Array, Graph, NodeId, fmt_number};
use crate::project::QuizFile;
use crate::stepper::{Direction, Step, backward_steps, forward_steps};

/// What the cards may show while stepping.
#[derive(Clone, Debug, Default)]
pub struct Reveal {
    pub values: BTreeSet<NodeId>,
    pub grads: BTreeSet<NodeId>,
    pub current: Option<NodeId>,
    /// Wires the current step reads: its inputs, or the terms of its chain rule.
    pub edges: BTreeSet<crate::graph::Edge>,
    /// The backward steps and how many of them are taken (the canvas pulses the last one).
    pub backward: Option<(Arc<[Step]>, usize)>,
}

/// Quiz mode: before each asked step the student types the number they expect.
#[derive(Debug, Default)]
pub struct Quiz {
    pub on: bool,
    /// Nodes asked about; empty: all.
    pub ask: BTreeSet<NodeId>,
    pub tolerance: f64,
    pub answer: String,
    /// The verdict on the last answer.
    pub verdict: Option<Verdict>,
    pub right: usize,
    pub asked: usize,
    /// The step whose question last took the keyboard focus (each new question takes it once).
    focused: Option<usize>,
}

/// What the app says about an answer.
#[derive(Clone, Debug, PartialEq)]
pub struct Verdict {
    pub right: bool,
    /// "✔ right: 6.0" or "✘ not quite: it is 11.0".
    pub text: String,
    /// The step worked out with its numbers (`v = a + u = 5.0 + 6.0 = 11.0`).
    pub worked: String,
}

impl Quiz {
    fn asks(&self, node: NodeId) -> bool {
        self.on && (self.ask.is_empty() || self.ask.contains(&node))
    }
}

#[derive(Debug, Default)]
pub struct Stepping {
    pub active: bool,
    /// Steps taken so far (0 = nothing computed yet).
    pub pos: usize,
    steps: Vec<Step>,
    /// The backward part of `steps`, shared with the canvas's gradient flow.
    backward: Arc<[Step]>,
    /// The true number of each step: a value going forward, a gradient going back.
    truths: Vec<Option<Array>>,
    /// Steps nothing is asked about: inputs' own values, which the student already knows.
    given: BTreeSet<usize>,
    /// The graph changed since the steps were built.
    pub stale: bool,
    /// A step action waiting for the steps to be rebuilt.
    pending: Option<fn(&mut Self)>,
    pub quiz: Quiz,
}

impl Stepping {
    /// Rebuilds the steps after the graph or its values changed; keeps the position.
    pub fn refresh(&mut self, graph: &Graph, analysis: &Analysis, eval: Option<&Evaluation>) {
        self.steps = match eval {
            Some(e) => forward_steps(graph, analysis, e)
                .into_iter()
                .chain(backward_steps(graph, analysis, e))
                .collect(),
            None => Vec::new(),
        };
        self.backward = self
            .steps
            .iter()
            .filter(|s| s.direction == Direction::Backward)
            .cloned()
            .collect();
        self.truths = self
            .steps
            .iter()
            .map(|s| {
                let n = eval?.nodes.get(&s.node)?;
                match s.direction {
                    Direction::Forward => Some(n.value.clone()),
                    Direction::Backward => n.grad.clone(),
                }
            })
            .collect();
        self.given = self
            .steps
            .iter()
            .enumerate()
            .filter(|(_, s)| {
                s.direction == Direction::Forward
                    && graph.node(s.node).is_some_and(|n| n.op.is_source())
            })
            .map(|(i, _)| i)
            .collect();
        self.pos = self.pos.min(self.steps.len());
        self.stale = false;
        if let Some(action) = self.pending.take() {
            action(self);
        }
    }

    /// Starts an exercise from a project's quiz settings.
    pub fn start_quiz(&mut self, graph: &Graph, quiz: &QuizFile) {
        self.quiz = Quiz {
            on: true,
            ask: quiz
                .ask
                .iter()
                .filter_map(|n| graph.find(n))
                .map(|n| n.id)
                .collect(),
            tolerance: quiz.tolerance,
            ..Quiz::default()
        };
        self.active = true;
        self.pos = 0;
    }

    /// The step the student must answer before it is revealed, if any.
    pub fn pending_question(&self) -> Option<&Step> {
        let next = self.steps.get(self.pos)?;
        (self.quiz.asks(next.node) && !self.given.contains(&self.pos)).then_some(next)
    }

    /// Checks the typed answer against the next step, then reveals it.
    pub fn submit(&mut self) {
        let Some(truth) = self.truths.get(self.pos).cloned().flatten() else {
            self.pos = (self.pos + 1).min(self.steps.len());
            return;
        };
        let typed = super::editor::card::parse_value(&self.quiz.answer);
        let tol = self.quiz.tolerance;
        let right = typed.as_ref().is_ok_and(|a| {
            a.len() == truth.len()
                && a.data()
                    .iter()
                    .zip(truth.data())
                    .all(|(x, t)| (x - t).abs() <= tol * t.abs().max(1.0))
        });
        self.quiz.asked += 1;
        if right {
            self.quiz.right += 1;
        }
        let shown = super::editor::card::value_text(&truth);
        self.quiz.verdict = Some(Verdict {
            right,
            text: if right {
                format!("✔ right: {shown}")
            } else {
                format!("✘ not quite: it is {shown}")
            },
            worked: self
                .steps
                .get(self.pos)
                .map(|s| s.text.clone())
                .unwrap_or_default(),
        });
        self.quiz.answer.clear();
        self.pos += 1;
    }

    /// Runs a step action now, or right after the steps are rebuilt when they are stale
    /// (steps are only rebuilt while step mode is on: they cost an evaluation per wire).
    fn act(&mut self, action: fn(&mut Self)) {
        self.active = true;
        if self.stale {
            self.pending = Some(action);
        } else {
            action(self);
        }
    }

    /// One step forward; in quiz mode an asked step waits for an answer instead.
    pub fn forward(&mut self) {
        self.act(|s| {
            if s.pending_question().is_none() {
                s.pos = (s.pos + 1).min(s.steps.len());
            }
        });
    }

    pub fn backward(&mut self) {
        self.act(|s| {
            s.pos = s.pos.saturating_sub(1);
            s.quiz.focused = None;
        });
    }

    pub fn to_end(&mut self) {
        self.act(|s| {
            if !s.quiz.on {
                s.pos = s.steps.len();
            }
        });
    }

    pub fn reset(&mut self) {
        self.active = false;
        self.pos = 0;
        self.quiz.on = false;
        self.quiz.verdict = None;
    }

    pub fn current(&self) -> Option<&Step> {
        self.pos.checked_sub(1).and_then(|i| self.steps.get(i))
    }

    /// `None` when not stepping: cards show everything. The outlined node is the one being
    /// asked about while a question waits, else the last computed one.
    pub fn reveal(&self) -> Option<Reveal> {
        if !self.active {
            return None;
        }
        let outlined = self.pending_question().or_else(|| self.current());
        let mut r = Reveal {
            current: outlined.map(|s| s.node),
            edges: outlined
                .map(|s| s.edges.iter().copied().collect())
                .unwrap_or_default(),
            ..Reveal::default()
        };
        let mut taken = 0;
        for s in &self.steps[..self.pos] {
            match s.direction {
                Direction::Forward => r.values.insert(s.node),
                Direction::Backward => {
                    taken += 1;
                    r.grads.insert(s.node)
                }
            };
        }
        r.backward = (taken > 0).then(|| (Arc::clone(&self.backward), taken));
        Some(r)
    }

    /// The bar above the status bar: controls and the current step's text, wrapped at the
    /// bar's width (a conv layer's step is long).
    pub fn panel_ui(&mut self, ui: &mut Ui) {
        ui.horizontal_wrapped(|ui| {
            ui.label(RichText::new("Step").strong());
            if ui
                .button("⏮")
                .on_hover_text("Reset: leave step mode (Esc)")
                .clicked()
            {
                self.reset();
            }
            if ui
                .button("◀")
                .on_hover_text("Step back (Left arrow)")
                .clicked()
            {
                self.backward();
            }
            if ui
                .button("▶")
                .on_hover_text("Step forward (Right arrow)")
                .clicked()
            {
                self.forward();
            }
            if ui
                .button("⏭")
                .on_hover_text("Run to the end (End)")
                .clicked()
            {
                self.to_end();
            }
            let mut quiz = self.quiz.on;
            if ui
                .checkbox(&mut quiz, "Quiz")
                .on_hover_text("Predict each value and gradient before it is revealed")
                .changed()
            {
                self.quiz = Quiz {
                    on: quiz,
                    tolerance: if self.quiz.tolerance > 0.0 {
                        self.quiz.tolerance
                    } else {
                        0.01
                    },
                    ask: std::mem::take(&mut self.quiz.ask),
                    ..Quiz::default()
                };
                self.active = quiz;
                self.pos = 0;
            }
            if self.quiz.on {
                ui.label(format!(
                    "score {}/{} (tolerance {}%)",
                    self.quiz.right,
                    self.quiz.asked,
                    fmt_number(self.quiz.tolerance * 100.0)
                ));
            }
            ui.separator();
            if self.quiz.on {
                if let Some(v) = &self.quiz.verdict {
                    let color = if v.right {
                        Color32::from_rgb(90, 190, 90)
                    } else {
                        Color32::from_rgb(230, 80, 60)
                    };
                    ui.label(RichText::new(&v.text).color(color));
                    // A wrong answer shows how the number comes about.
                    if !v.right && !v.worked.is_empty() {
                        step_text(ui, &v.worked, color);
                        ui.separator();
                    }
                }
            }
            if let Some(pos) = self.pending_question().map(|_| self.pos) {
                self.question_ui(ui, pos);
                return;
            }
            match (self.active, self.current()) {
                (false, _) => {
                    ui.weak("Press ▶ or the Right arrow to compute the graph one node at a time.");
                }
                (true, None) => {
                    ui.weak(format!("0/{}: nothing computed yet", self.steps.len()));
                }
                (true, Some(step)) => {
                    let phase = if step.direction == Direction::Forward {
                        "forward"
                    } else {
                        "backward"
                    };
                    ui.label(format!("{}/{} {phase}", self.pos, self.steps.len()));
                    let color = if step.direction == Direction::Forward {
                        Color32::from_rgb(90, 170, 255)
                    } else {
                        Color32::from_rgb(230, 140, 50)
                    };
                    step_text(ui, &step.text, color);
                }
            }
        });
    }

    /// "u = ?" and the answer box, which takes the keyboard focus once per new question
    /// (the first one too, whatever had the focus before).
    fn question_ui(&mut self, ui: &mut Ui, pos: usize) {
        let Some(step) = self.steps.get(pos) else {
            return;
        };
        // "u = ?" or "dJ/du = ?": the left side of the step's text.
        let lhs = step.text.split(" = ").next().unwrap_or("?").to_string();
        ui.label(RichText::new(format!("{lhs} = ?")).monospace().strong());
        let r = ui.add(
            egui::TextEdit::singleline(&mut self.quiz.answer)
                .id(egui::Id::new("quiz-answer"))
                .desired_width(120.0)
                .hint_text("type, then Enter"),
        );
        r.widget_info(|| {
            egui::WidgetInfo::labeled(egui::WidgetType::TextEdit, true, "quiz answer")
        });
        if r.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter)) {
            self.submit();
        } else if self.quiz.focused != Some(pos) {
            // Asked until it has it (a key that moves egui's focus may win a frame).
            if r.has_focus() {
                self.quiz.focused = Some(pos);
            } else {
                r.request_focus();
                ui.ctx().request_repaint();
            }
        }
    }
}

/// A step's text in monospace, wrapped at the bar's width.
fn step_text(ui: &mut Ui, text: &str, color: Color32) {
    ui.add(egui::Label::new(RichText::new(text).monospace().color(color)).wrap());
}
