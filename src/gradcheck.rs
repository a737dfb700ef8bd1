//! Gradient check: every Input's, Parameter's and layer tensor's autodiff gradient against
//! central finite differences of the output (f64), with the relative error per tensor.

use crate::analysis::{Analysis, analyze};
use crate::exec::{Engine, Evaluation};
use crate::graph::{Graph, NodeId};

/// Relative errors above this are marked as failures.
pub const THRESHOLD: f64 = 1e-5;
/// Checks stop after this many perturbed values (each costs two evaluations).
pub const MAX_VALUES: usize = 2000;

#[derive(Clone, Debug, PartialEq)]
pub struct Check {
    pub node: NodeId,
    /// `value`, `weight`, `bias`, `alpha`.
    pub key: String,
    /// Largest relative error |autodiff - numeric| / max(|autodiff| + |numeric|, 1e-8), where
    /// a difference within the finite differences' own rounding noise (10 eps |J| / h)
    /// counts as none: a gradient of 1e-9 (a vanishing one) cannot be judged more closely.
    pub max_rel_error: f64,
    pub values_checked: usize,
    /// Values sitting on a kink (ReLU at 0, a max-pool tie): the left and right slopes
    /// differ, there is no derivative to compare, and they are left out of the error.
    pub kinks: usize,
}

impl Check {
    pub fn passed(&self) -> bool {
        self.max_rel_error <= THRESHOLD
    }
}

/// The differentiated number of an evaluation.
fn objective(engine: &Engine, graph: &Graph) -> Option<f64> {
    let analysis = analyze(graph);
    engine.evaluate(graph, &analysis).ok()?.objective
}

/// Compares `eval`'s gradients with central differences. `eval` must come from `graph`;
/// passing another evaluation (a broken one, in tests) is exactly what the check detects.
pub fn check(graph: &Graph, analysis: &Analysis, eval: &Evaluation) -> Result<Vec<Check>, String> {
    if eval.output.is_none() {
        return Err("the graph has no single output to differentiate".into());
    }
    let engine = Engine::cpu();
    let base_objective = objective(&engine, graph)
        .ok_or_else(|| "the graph could not be re-evaluated".to_string())?;
    let mut out = Vec::new();
    let mut budget = MAX_VALUES;
    for &id in &analysis.order {
        let (Some(node), Some(ev)) = (graph.node(id), eval.nodes.get(&id)) else {
            continue;
        };
        for (key, t) in &ev.tensors {
            let Some(analytic) = &t.grad else { continue };
            let base = t.value.clone();
            let n = base.len().min(budget);
            if n == 0 {
                continue;
            }
            budget -= n;
            let mut worst: f64 = 0.0;
            let mut kinks = 0;
            for i in 0..n {
                let h = 1e-6 * base.data()[i].abs().max(1.0);
                let at = |delta: f64| {
                    let mut g = graph.clone();
                    let mut v = base.clone();
                    v.data_mut()[i] += delta;
                    g.set_tensor(id, key, v).ok()?;
                    objective(&engine, &g)
                };
                let (Some(plus), Some(minus)) = (at(h), at(-h)) else {
                    return Err(format!("`{}` could not be re-evaluated", node.name));
                };
                let numeric = (plus - minus) / (2.0 * h);
                let (left, right) = ((base_objective - minus) / h, (plus - base_objective) / h);
                if (left - right).abs() > 1e-3 * left.abs().max(right.abs()).max(1.0) {
                    kinks += 1;
                    continue;
                }
                let a = analytic.data()[i];
                let noise = 10.0 * f64::EPSILON * plus.abs().max(minus.abs()).max(1.0) / h;
                let rel =
                    ((a - numeric).abs() - noise).max(0.0) / (a.abs() + numeric.abs()).max(1e-8);
                worst = worst.max(rel);
            }
            out.push(Check {
                node: id,
                key: key.clone(),
                max_rel_error: worst,
                values_checked: n,
                kinks,
            });
        }
    }
    Ok(out)
}
