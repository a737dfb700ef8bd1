//! The burn forward of every op, on the layout of `layout.rs`. Shapes were checked by
//! analysis, so nothing here can meet a shape burn would panic on.

use burn::tensor::module::{avg_pool2d, conv2d, max_pool2d};
use burn::tensor::ops::{AvgPoolOptions, ConvOptions, MaxPoolOptions};
use burn::tensor::{Distribution, Tensor, activation};

use super::layout::{RANK, axis, canon, phys};
use crate::graph::{Op, numel};

type T = Tensor<RANK>;

/// Everything one op needs: its inputs (already carrying the edge leaves), their per-sample
/// shapes, its own tensors (by key) and its output shape.
pub struct OpInputs<'a> {
    pub xs: Vec<T>,
    pub shapes: Vec<&'a [usize]>,
    pub owned: Vec<(&'static str, T)>,
    pub out_shape: &'a [usize],
    /// Clamp for BCE: probabilities are kept in [eps, 1 - eps].
    pub eps: f64,
    /// Training: Dropout drops, BatchNorm uses the batch's statistics.
    pub training: bool,
}

impl OpInputs<'_> {
    fn owned(&self, key: &str) -> Option<T> {
        self.owned
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, t)| t.clone())
    }
}

/// Evaluates one non-source op. `None` only for source ops (their value is uploaded).
pub fn forward(op: &Op, mut inp: OpInputs<'_>) -> Option<T> {
    let out = inp.out_shape;
    let x = |i: usize, inp: &mut OpInputs<'_>| inp.xs[i].clone();
    let r0 = inp.shapes.first().map(|s| s.len()).unwrap_or(0);
    let t = match op {
        Op::Input | Op::Constant | Op::Parameter { .. } => return None,
        Op::Add => x(0, &mut inp) + x(1, &mut inp),
        Op::Sub => x(0, &mut inp) - x(1, &mut inp),
        Op::Mul => x(0, &mut inp) * x(1, &mut inp),
        Op::Div => x(0, &mut inp) / x(1, &mut inp),
        Op::Neg => x(0, &mut inp).neg(),
        Op::Pow { exponent } => x(0, &mut inp).powf_scalar(*exponent),
        Op::Exp => x(0, &mut inp).exp(),
        Op::Log => x(0, &mut inp).log(),
        Op::Sqrt => x(0, &mut inp).sqrt(),
        Op::Abs => x(0, &mut inp).abs(),
        Op::Scale { factor } => x(0, &mut inp).mul_scalar(*factor),
        Op::MatMul => matmul(x(0, &mut inp), x(1, &mut inp), inp.shapes[1]),
        Op::Transpose => {
            if r0 >= 2 {
                x(0, &mut inp).swap_dims(RANK - 1, RANK - 2)
            } else {
                x(0, &mut inp)
            }
        }
        Op::Sum { axis: None } => x(0, &mut inp).sum_dims(&[1, 2, 3]),
        Op::Mean { axis: None } => x(0, &mut inp).mean_dims(&[1, 2, 3]),
        Op::Sum { axis: Some(a) } => x(0, &mut inp).sum_dim(axis(r0, resolve(*a, r0))),
        Op::Mean { axis: Some(a) } => x(0, &mut inp).mean_dim(axis(r0, resolve(*a, r0))),
        Op::Reshape { .. } | Op::Flatten | Op::Identity => x(0, &mut inp),
        #[cfg(feature = "test-ops")]
        Op::TestBrokenSquare => {
            // x * x with one factor detached: the value is right, the gradient is x, not 2x.
            let v = x(0, &mut inp);
            v.clone().detach() * v
        }
        Op::Concat { axis: a, .. } => concat(std::mem::take(&mut inp.xs), &inp.shapes, *a),
        Op::Dense { .. } => {
            let w = inp.owned("weight")?; // [1, 1, n, units]
            let b = inp.owned("bias")?; // [1, 1, 1, units]
            let n = numel(inp.shapes[0]);
            let xv = canon(x(0, &mut inp), &[n]); // [B, 1, 1, n]
            let batch = xv.dims()[0];
            let units = w.dims()[3];
            // The batch as the rows of one matrix: one GEMM, not `batch` tiny ones.
            xv.reshape([1, 1, batch, n])
                .matmul(w)
                .reshape([batch, 1, 1, units])
                + b
        }
        Op::Conv2d {
            kernel,
            stride,
            padding,
            ..
        } => {
            let w = inp.owned("weight")?; // [F, C, K, K]
            let f = w.dims()[0];
            let b = inp.owned("bias").map(|b| b.reshape([f]));
            let p = padding.amount(*kernel);
            let xv = x(0, &mut inp); // [B, C, H, W] (a [H, W] input is [B, 1, H, W])
            conv2d(xv, w, b, ConvOptions::new([*stride; 2], [p; 2], [1; 2], 1))
        }
        Op::MaxPool2d { kernel, stride } => max_pool2d(
            x(0, &mut inp),
            MaxPoolOptions::new([*kernel; 2]).with_stride([*stride; 2]),
        ),
        Op::AvgPool2d { kernel, stride } => avg_pool2d(
            x(0, &mut inp),
            AvgPoolOptions::new([*kernel; 2]).with_stride([*stride; 2]),
        ),
        Op::Dropout { p } => {
            let v = x(0, &mut inp);
            if inp.training && *p > 0.0 {
                let keep = v.random_like(Distribution::Bernoulli(1.0 - p));
                v * keep / (1.0 - p)
            } else {
                v
            }
        }
        Op::BatchNorm { .. } => {
            let v = x(0, &mut inp);
            let per_channel = r0 == 3;
            let along = |t: T| {
                if per_channel {
                    let c = t.dims()[3];
                    t.reshape([1, c, 1, 1])
                } else {
                    t
                }
            };
            let (mean, var) = if inp.training {
                batch_stats(v.clone(), per_channel)
            } else {
                (
                    along(inp.owned("running_mean")?),
                    along(inp.owned("running_var")?),
                )
            };
            let gamma = along(inp.owned("gamma")?);
            let beta = along(inp.owned("beta")?);
            (v - mean) / (var + BN_EPS).sqrt() * gamma + beta
        }
        Op::Step => {
            let v = x(0, &mut inp);
            let dtype = v.dtype();
            v.greater_elem(0.0).float().cast(dtype)
        }
        Op::Sigmoid => activation::sigmoid(x(0, &mut inp)),
        Op::Tanh => activation::tanh(x(0, &mut inp)),
        Op::ReLU => activation::relu(x(0, &mut inp)),
        Op::LeakyReLU { alpha } => activation::leaky_relu(x(0, &mut inp), *alpha),
        Op::PReLU { .. } => {
            // relu(x) - alpha * relu(-x): alpha stays a [1,1,1,1] leaf and gets its gradient.
            let alpha = inp.owned("alpha")?;
            let v = x(0, &mut inp);
            activation::relu(v.clone()) - alpha * activation::relu(v.neg())
        }
        Op::Softmax => activation::softmax(x(0, &mut inp), RANK - 1),
        Op::MSE | Op::L1 | Op::BCE => {
            let p = x(0, &mut inp);
            let t = canon(x(1, &mut inp), inp.shapes[0]);
            let per = match op {
                Op::MSE => (p - t).powf_scalar(2.0),
                Op::L1 => (p - t).abs(),
                _ => {
                    let p = p.clamp(inp.eps, 1.0 - inp.eps);
                    let one_minus_t = t.clone().neg().add_scalar(1.0);
                    (t * p.clone().log() + one_minus_t * p.neg().add_scalar(1.0).log()).neg()
                }
            };
            per.mean_dims(&[1, 2, 3])
        }
        Op::CrossEntropy => {
            let z = x(0, &mut inp); // [B, 1, 1, C]
            let classes = inp.shapes[0][0];
            let t = x(1, &mut inp);
            let onehot = if inp.shapes[1].len() == 1 && classes > 1 && inp.shapes[1][0] == classes {
                t
            } else {
                // Class index -> one-hot: |iota - index| < 0.5 (no gradient to an index).
                let iota_data: Vec<f64> = (0..classes).map(|c| c as f64).collect();
                let dtype = z.dtype();
                let iota = Tensor::<RANK>::from_data(
                    burn::tensor::TensorData::new(iota_data, phys(1, &[classes]).to_vec())
                        .convert_dtype(dtype),
                    (&z.device(), dtype),
                );
                (iota - canon(t, &[]).detach())
                    .abs()
                    .lower_elem(0.5)
                    .float()
                    .cast(dtype)
            };
            (onehot * activation::log_softmax(z, RANK - 1))
                .sum_dim(RANK - 1)
                .neg()
        }
    };
    Some(canon(t, out))
}

/// Added to the variance before the square root in BatchNorm.
pub const BN_EPS: f64 = 1e-5;

/// A batch's mean and (biased) variance per channel ([1, C, 1, 1]) or per feature
/// ([1, 1, 1, n]).
pub fn batch_stats(v: T, per_channel: bool) -> (T, T) {
    let dims: &[usize] = if per_channel { &[0, 2, 3] } else { &[0, 1, 2] };
    let mean = v.clone().mean_dims(dims);
    let var = (v - mean.clone()).powf_scalar(2.0).mean_dims(dims);
    (mean, var)
}

/// Per-sample axis `a` (negative counts from the end); analysis has checked it is in range.
fn resolve(a: i64, r: usize) -> usize {
    crate::graph::shapes::resolve_axis(a, r).unwrap_or(0)
}

/// NumPy matmul on per-sample shapes: a vector on the left is a row, on the right a column.
fn matmul(a: T, b: T, sb: &[usize]) -> T {
    let b = if sb.len() == 1 {
        let batch = b.dims()[0];
        b.reshape([batch, 1, sb[0], 1])
    } else {
        b
    };
    a.matmul(b)
}

fn concat(xs: Vec<T>, shapes: &[&[usize]], a: i64) -> T {
    let batch = xs.iter().map(|t| t.dims()[0]).max().unwrap_or(1);
    let scalars = shapes.iter().all(|s| s.is_empty());
    let r = if scalars { 1 } else { shapes[0].len() };
    let dim = if scalars {
        RANK - 1
    } else {
        axis(r, resolve(a, r))
    };
    let parts: Vec<T> = xs
        .into_iter()
        .zip(shapes)
        .map(|(t, s)| {
            let own = if scalars { vec![1] } else { s.to_vec() };
            let t = canon(t, &own);
            if t.dims()[0] == batch {
                t
            } else {
                t.expand(phys(batch, &own))
            }
        })
        .collect();
    Tensor::cat(parts, dim)
}
