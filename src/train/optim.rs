//! The optimizers, from burn-optim, applied tensor by tensor (the graph is not a burn
//! Module, so burn's per-tensor `Optimizer::step` is used directly, with its state kept here).

use burn::optim::decay::WeightDecayConfig;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{Adam, AdamConfig, Optimizer, RmsProp, RmsPropConfig, Sgd, SgdConfig};

use super::model::T;
use crate::project::training::OptimizerKind;

/// One optimizer with its state for every parameter.
struct Run<O: Optimizer> {
    opt: O,
    states: Vec<Option<O::State<4>>>,
}

impl<O: Optimizer> Run<O> {
    fn new(opt: O, n: usize) -> Self {
        Self {
            opt,
            states: (0..n).map(|_| None).collect(),
        }
    }

    fn step(&mut self, i: usize, lr: f64, param: T, grad: T) -> T {
        let state = self.states[i].take();
        let (next, state) = self.opt.step(lr, param.inner(), grad, state);
        self.states[i] = state;
        next.autodiff().require_grad()
    }
}

enum Any {
    Sgd(Run<Sgd>),
    RmsProp(Run<RmsProp>),
    Adam(Run<Adam>),
}

/// The optimizer a project asks for, over `n` parameters.
pub struct Optim {
    run: Any,
}

impl Optim {
    pub fn new(kind: OptimizerKind, weight_decay: f64, n: usize) -> Self {
        let wd = (weight_decay > 0.0).then(|| WeightDecayConfig {
            penalty: weight_decay as f32,
        });
        let run = match kind {
            OptimizerKind::Sgd => {
                Any::Sgd(Run::new(SgdConfig::new().with_weight_decay(wd).build(), n))
            }
            OptimizerKind::Momentum { momentum } => Any::Sgd(Run::new(
                SgdConfig::new()
                    .with_weight_decay(wd)
                    .with_momentum(Some(MomentumConfig {
                        momentum,
                        // As in PyTorch and the lecture: v <- m v + g.
                        dampening: 0.0,
                        nesterov: false,
                    }))
                    .build(),
                n,
            )),
            OptimizerKind::RmsProp => Any::RmsProp(Run::new(
                RmsPropConfig::new()
                    .with_momentum(0.0)
                    .with_epsilon(1e-8)
                    .with_weight_decay(wd)
                    .build(),
                n,
            )),
            OptimizerKind::Adam => Any::Adam(Run::new(
                AdamConfig::new()
                    .with_epsilon(1e-8)
                    .with_weight_decay(wd)
                    .build(),
                n,
            )),
        };
        Self { run }
    }

    /// Parameter `i` after one step with gradient `grad` (a tensor without autodiff).
    pub fn step(&mut self, i: usize, lr: f64, param: T, grad: T) -> T {
        match &mut self.run {
            Any::Sgd(r) => r.step(i, lr, param, grad),
            Any::RmsProp(r) => r.step(i, lr, param, grad),
            Any::Adam(r) => r.step(i, lr, param, grad),
        }
    }
}
