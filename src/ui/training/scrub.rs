//! The cards while the timeline shows an earlier epoch: the graph evaluated with the weights
//! recorded then (a copy: the document keeps its own weights until "Restore these weights").

use crate::analysis::{Analysis, analyze};
use crate::exec::{Engine, Evaluation};
use crate::graph::Graph;

use super::TrainingPanel;
use super::panel::fitting_weights;

/// The evaluation of the scrubbed frame, kept while the frame and the graph stay the same.
#[derive(Default)]
pub struct ScrubEval {
    /// (run, frame, graph revision) it was computed for.
    key: Option<(u64, usize, u64)>,
    eval: Option<Evaluation>,
}

impl ScrubEval {
    /// The evaluation the cards show: `None` when the timeline shows the present (the
    /// document's own evaluation applies) or the frame cannot be evaluated.
    pub fn update(
        &mut self,
        panel: &TrainingPanel,
        graph: &Graph,
        analysis: &Analysis,
        revision: u64,
        engine: &Engine,
    ) -> Option<&Evaluation> {
        let Some((k, frame)) = panel.run.scrub.zip(panel.run.scrubbed()) else {
            self.key = None;
            self.eval = None;
            return None;
        };
        let key = (panel.run.id, k, revision);
        if self.key != Some(key) {
            // A run of a variant (other activations, another initializer) is shown through
            // the variant it trained: its weights in this graph's ops would be other numbers.
            let variant = panel
                .run
                .graph
                .as_ref()
                .filter(|g| !super::panel::same_ops(g, graph));
            let variant_analysis = variant.map(analyze);
            let (graph, analysis) = match (variant, &variant_analysis) {
                (Some(g), Some(a)) => (g, a),
                _ => (graph, analysis),
            };
            let weights = fitting_weights(graph, analysis, &frame.weights);
            let mut g = graph.clone();
            for (id, name, a) in weights {
                let _ = g.set_tensor(id, &name, a);
            }
            let a = analyze(&g);
            self.eval = engine.evaluate(&g, &a).ok();
            self.key = Some(key);
        }
        self.eval.as_ref()
    }
}
