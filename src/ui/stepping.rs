//! Step-through mode: forward steps reveal values node by node, backward steps reveal
//! gradients from the output back, each with its computation written out.

use std::collections::BTreeSet;

use egui::{Color32, RichText, Ui};

use crate::analysis::Analysis;
use crate::exec::Evaluation;
use crate::graph::{Graph, NodeId};
use crate::stepper::{Direction, Step, backward_steps, forward_steps};

/// What the cards may show while stepping.
#[derive(Clone, Debug, Default)]
pub struct Reveal {
    pub values: BTreeSet<NodeId>,
    pub grads: BTreeSet<NodeId>,
    pub current: Option<NodeId>,
}

#[derive(Debug, Default)]
pub struct Stepping {
    pub active: bool,
    /// Steps taken so far (0 = nothing computed yet).
    pub pos: usize,
    steps: Vec<Step>,
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
        self.pos = self.pos.min(self.steps.len());
    }

    pub fn len(&self) -> usize {
        self.steps.len()
    }

    pub fn forward(&mut self) {
        self.active = true;
        self.pos = (self.pos + 1).min(self.steps.len());
    }

    pub fn backward(&mut self) {
        self.active = true;
        self.pos = self.pos.saturating_sub(1);
    }

    pub fn to_end(&mut self) {
        self.active = true;
        self.pos = self.steps.len();
    }

    pub fn reset(&mut self) {
        self.active = false;
        self.pos = 0;
    }

    pub fn current(&self) -> Option<&Step> {
        self.pos.checked_sub(1).and_then(|i| self.steps.get(i))
    }

    /// `None` when not stepping: cards show everything.
    pub fn reveal(&self) -> Option<Reveal> {
        if !self.active {
            return None;
        }
        let mut r = Reveal {
            current: self.current().map(|s| s.node),
            ..Reveal::default()
        };
        for s in &self.steps[..self.pos] {
            match s.direction {
                Direction::Forward => r.values.insert(s.node),
                Direction::Backward => r.grads.insert(s.node),
            };
        }
        Some(r)
    }

    /// The bar above the status bar: controls and the current step's text.
    pub fn panel_ui(&mut self, ui: &mut Ui) {
        ui.horizontal(|ui| {
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
            ui.separator();
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
                    ui.label(RichText::new(&step.text).monospace().color(color));
                }
            }
        });
    }
}
