//! The op catalogue: for every op, in one place, its ports, settings, shape rule, formula
//! and derivative. The UI, the docs and the tests read it from here; nothing about an op is
//! written twice. (Its burn forward lives in `exec::forward`, the only place that knows burn.)

use serde::{Deserialize, Serialize};

use super::array::{Shape, fmt_number, fmt_shape, numel};
use super::init::Init;
use super::shapes::{broadcast, concat_shape, matmul_shape, reshape_shape, resolve_axis};

/// An op with its settings. Its serde form (`Mul`, `Scale(factor: 3.0)`, ...) is part of
/// project format version 1: renaming a variant or a field breaks old files.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Op {
    // Inputs
    Input,
    Constant,
    Parameter {
        init: Init,
    },
    // Math
    Add,
    Sub,
    Mul,
    Div,
    Neg,
    Pow {
        exponent: f64,
    },
    Exp,
    Log,
    Sqrt,
    Abs,
    Scale {
        factor: f64,
    },
    MatMul,
    Transpose,
    Sum {
        axis: Option<i64>,
    },
    Mean {
        axis: Option<i64>,
    },
    Reshape {
        shape: Vec<i64>,
    },
    Flatten,
    Concat {
        inputs: usize,
        axis: i64,
    },
    // Layers
    Dense {
        units: usize,
        init: Init,
    },
    /// 2-D convolution over a [C, H, W] input (a [H, W] input is one channel).
    Conv2d {
        filters: usize,
        kernel: usize,
        stride: usize,
        padding: Padding,
        bias: bool,
        init: Init,
    },
    MaxPool2d {
        kernel: usize,
        stride: usize,
    },
    AvgPool2d {
        kernel: usize,
        stride: usize,
    },
    /// Zeroes each value with probability p while training (and scales the rest by
    /// 1/(1-p)); the identity otherwise.
    Dropout {
        p: f64,
    },
    /// Normalizes each channel (or feature) with the batch's mean and variance while
    /// training, with running averages otherwise; then scales by gamma and shifts by beta.
    BatchNorm {
        momentum: f64,
    },
    // Activations
    Identity,
    Step,
    Sigmoid,
    Tanh,
    ReLU,
    LeakyReLU {
        alpha: f64,
    },
    PReLU {
        init_alpha: f64,
    },
    Softmax,
    // Losses
    MSE,
    BCE,
    CrossEntropy,
    L1,
    /// Test-only: x^2 with a deliberately wrong derivative (x instead of 2x), so the tests
    /// can prove the gradient check catches a broken op. Never in menus or release builds.
    #[cfg(feature = "test-ops")]
    TestBrokenSquare,
}

/// Zero padding around a convolution's input.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Padding {
    /// None: the output shrinks by kernel - 1.
    Valid,
    /// (kernel - 1) / 2 on each side (odd kernels): stride 1 keeps the size.
    Same,
    /// This many zeros on each side.
    Explicit(usize),
}

impl Padding {
    /// Zeros on each side for `kernel`.
    pub fn amount(self, kernel: usize) -> usize {
        match self {
            Padding::Valid => 0,
            Padding::Same => kernel.saturating_sub(1) / 2,
            Padding::Explicit(p) => p,
        }
    }
}

/// The lecture's formula: floor((W - K + 2P) / S) + 1, or why it has no answer. Checked
/// arithmetic: a padding near `usize::MAX` is refused, never wrapped into a wrong size.
pub fn conv_out(w: usize, k: usize, p: usize, s: usize, what: &str) -> Result<usize, String> {
    if k == 0 || s == 0 {
        return Err(format!("{what}: kernel and stride must be at least 1"));
    }
    let padded = p
        .checked_mul(2)
        .and_then(|pp| w.checked_add(pp))
        .ok_or_else(|| format!("{what}: input {w} plus padding 2*{p} is too large to count"))?;
    if padded < k {
        return Err(format!(
            "kernel {k} is larger than the input {w} plus padding 2*{p}: use a smaller kernel, \
             more padding, or a bigger input"
        ));
    }
    Ok((padded - k) / s + 1)
}

/// The allowed values of every numeric setting, written once: analysis refuses anything
/// outside them (naming the node, the setting and the range) and the card's drag values
/// can use the same ranges. Sizes that only memory limits (Dense units, Conv2d filters) get
/// wide ranges: the memory budget is their real limit.
pub mod limits {
    use std::ops::RangeInclusive;

    /// Concat's number of input ports. `Op::ports` and `Op::arity` never go past the end of
    /// this range, whatever a file says, so nothing is allocated per port from an
    /// unchecked number.
    pub const CONCAT_INPUTS: RangeInclusive<usize> = 1..=64;
    pub const DENSE_UNITS: RangeInclusive<usize> = 1..=(1 << 40);
    pub const CONV_FILTERS: RangeInclusive<usize> = 1..=(1 << 40);
    /// Kernel size of Conv2d and the pools.
    pub const KERNEL: RangeInclusive<usize> = 1..=64;
    /// Stride of Conv2d and the pools.
    pub const STRIDE: RangeInclusive<usize> = 1..=64;
    /// Conv2d's explicit zero padding on each side.
    pub const PADDING: RangeInclusive<usize> = 0..=64;
    /// Pow's exponent: burn turns a whole exponent into an i64 and panics on infinity or
    /// beyond 2^63, so exponents stay finite and far inside that.
    pub const POW_EXPONENT: RangeInclusive<f64> = -1e6..=1e6;
    /// Scale's factor, LeakyReLU's alpha and PReLU's starting alpha.
    pub const FACTOR: RangeInclusive<f64> = -1e12..=1e12;
    /// Every number of an initializer (a constant, uniform bounds, a normal's mean and
    /// standard deviation): drawn values stay finite.
    pub const INIT_NUMBER: RangeInclusive<f64> = -1e12..=1e12;
    /// Dropout's p is in [0, 1): the end is excluded (p = 1 drops everything).
    pub const DROPOUT_P: std::ops::Range<f64> = 0.0..1.0;
    pub const MOMENTUM: RangeInclusive<f64> = 0.0..=1.0;
}

/// The most input ports a Concat may have (`limits::CONCAT_INPUTS`).
pub const MAX_CONCAT_INPUTS: usize = *limits::CONCAT_INPUTS.end();

fn check_count(
    what: &str,
    v: usize,
    range: &std::ops::RangeInclusive<usize>,
) -> Result<(), String> {
    if range.contains(&v) {
        Ok(())
    } else {
        Err(format!(
            "{what} = {v} is outside the allowed {}..={}",
            range.start(),
            range.end()
        ))
    }
}

fn check_number(what: &str, v: f64, range: &std::ops::RangeInclusive<f64>) -> Result<(), String> {
    if range.contains(&v) {
        Ok(())
    } else {
        Err(format!(
            "{what} = {} is outside the allowed {:e}..={:e}: use a finite number in that range",
            fmt_number(v),
            range.start(),
            range.end()
        ))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Category {
    Inputs,
    Math,
    Layers,
    Activations,
    Losses,
}

impl Category {
    pub const ALL: [Category; 5] = [
        Category::Inputs,
        Category::Math,
        Category::Layers,
        Category::Activations,
        Category::Losses,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Category::Inputs => "Inputs",
            Category::Math => "Math",
            Category::Layers => "Layers",
            Category::Activations => "Activations",
            Category::Losses => "Losses",
        }
    }
}

/// The static documentation of one op.
#[derive(Debug)]
pub struct OpSpec {
    /// The variant name, as written in `.ron` files and menus.
    pub name: &'static str,
    pub category: Category,
    /// Prefix of default node names: `mul` gives `mul1`, `mul2`, ...
    pub default_name: &'static str,
    /// Input port names (Concat has `inputs` ports named `in1`, `in2`, ...).
    pub ports: &'static [&'static str],
    /// One line for menus and tooltips.
    pub summary: &'static str,
    /// The forward formula, f(x) in the lecture's notation.
    pub formula: &'static str,
    /// Its derivative(s), as the lecture's table writes them.
    pub derivative: &'static str,
    /// How the output shape follows from the input shapes.
    pub shape_rule: &'static str,
}

/// A tensor an op owns and stores in the node: an Input's value, a Dense's weight, ...
#[derive(Clone, Debug, PartialEq)]
pub struct OwnedTensor {
    pub key: &'static str,
    pub shape: Shape,
    pub trainable: bool,
    /// Fans for Xavier/He initialisation.
    pub fan_in: usize,
    pub fan_out: usize,
}

macro_rules! spec {
    ($name:literal, $cat:ident, $def:literal, [$($p:literal),*], $summary:literal, $f:literal, $d:literal, $s:expr) => {
        &OpSpec {
            name: $name,
            category: Category::$cat,
            default_name: $def,
            ports: &[$($p),*],
            summary: $summary,
            formula: $f,
            derivative: $d,
            shape_rule: $s,
        }
    };
}

/// BCE keeps probabilities in [eps, 1 - eps] so ln never sees 0 (f64 and f32 engines).
pub const BCE_EPS_F64: f64 = 1e-12;
pub const BCE_EPS_F32: f64 = 1e-7;

const SAME: &str = "output shape = input shape";
const BROADCAST: &str = "shapes broadcast as in NumPy (right-aligned; a dimension of 1 stretches)";
const CONV_SHAPE: &str = "[C, H, W] -> [filters, H', W'], H' = floor((H - K + 2P) / S) + 1 (the same for W); a [H, W] input is one channel";
const POOL_SHAPE: &str = "[C, H, W] -> [C, H', W'], H' = floor((H - K) / S) + 1";
const LOSS_SHAPE: &str =
    "pred and target hold the same number of values; output is a scalar per sample";

/// (channels, height, width) of an image input: [C, H, W], or [H, W] as one channel.
pub fn image_dims(s: &[usize]) -> Result<(usize, usize, usize), String> {
    match s {
        [h, w] => Ok((1, *h, *w)),
        [c, h, w] => Ok((*c, *h, *w)),
        _ => Err(format!(
            "expects an image [C, H, W] (or [H, W]), got {}: give the Input that shape or Reshape it",
            fmt_shape(s)
        )),
    }
}

impl Op {
    #[rustfmt::skip]
    pub fn spec(&self) -> &'static OpSpec {
        match self {
            Op::Input => spec!("Input", Inputs, "x", [], "A named input value (a number, vector or matrix) fed from outside", "x", "dJ/dx is what flows back from its consumers", "the shape of its value"),
            Op::Constant => spec!("Constant", Inputs, "const", [], "A fixed value that never trains", "c", "none needed: constants receive a gradient but never change", "the shape of its value"),
            Op::Parameter { .. } => spec!("Parameter", Inputs, "w", [], "A trainable value (weight or bias) with an initializer", "w", "dJ/dw is used by gradient descent: w <- w - lr * dJ/dw", "the shape of its value"),
            Op::Add => spec!("Add", Math, "add", ["lhs", "rhs"], "Element-wise sum", "f(x, y) = x + y", "df/dx = 1, df/dy = 1", BROADCAST),
            Op::Sub => spec!("Sub", Math, "sub", ["lhs", "rhs"], "Element-wise difference", "f(x, y) = x - y", "df/dx = 1, df/dy = -1", BROADCAST),
            Op::Mul => spec!("Mul", Math, "mul", ["lhs", "rhs"], "Element-wise product", "f(x, y) = x * y", "df/dx = y, df/dy = x", BROADCAST),
            Op::Div => spec!("Div", Math, "div", ["lhs", "rhs"], "Element-wise quotient", "f(x, y) = x / y", "df/dx = 1/y, df/dy = -x/y^2", BROADCAST),
            Op::Neg => spec!("Neg", Math, "neg", ["x"], "Negation", "f(x) = -x", "f'(x) = -1", SAME),
            Op::Pow { .. } => spec!("Pow", Math, "pow", ["x"], "Power with a constant exponent p", "f(x) = x^p", "f'(x) = p * x^(p-1)", SAME),
            Op::Exp => spec!("Exp", Math, "exp", ["x"], "Exponential", "f(x) = e^x", "f'(x) = e^x", SAME),
            Op::Log => spec!("Log", Math, "log", ["x"], "Natural logarithm", "f(x) = ln x", "f'(x) = 1/x (undefined for x <= 0)", SAME),
            Op::Sqrt => spec!("Sqrt", Math, "sqrt", ["x"], "Square root", "f(x) = sqrt(x)", "f'(x) = 1 / (2 sqrt(x)) (undefined at 0)", SAME),
            Op::Abs => spec!("Abs", Math, "abs", ["x"], "Absolute value", "f(x) = |x|", "f'(x) = sign(x) (undefined at 0)", SAME),
            Op::Scale { .. } => spec!("Scale", Math, "scale", ["x"], "Multiply by a constant factor k", "f(x) = k * x", "f'(x) = k", SAME),
            Op::MatMul => spec!("MatMul", Math, "matmul", ["lhs", "rhs"], "Matrix product (vector . matrix, matrix . vector, dot product)", "f(A, B) = A B", "dJ/dA = dJ/df B^T, dJ/dB = A^T dJ/df", "[k, n] x [n, m] -> [k, m]; a vector on the left is a row, on the right a column; [n] x [n] -> [] (dot product)"),
            Op::Transpose => spec!("Transpose", Math, "transpose", ["x"], "Swap the last two axes", "f(A) = A^T", "dJ/dA = (dJ/df)^T", "[k, m] -> [m, k]; scalars and vectors are unchanged (as in NumPy)"),
            Op::Sum { .. } => spec!("Sum", Math, "sum", ["x"], "Sum of all elements, or along one axis", "f(x) = sum_i x_i", "df/dx_i = 1", "all: -> []; axis k: that axis is removed"),
            Op::Mean { .. } => spec!("Mean", Math, "mean", ["x"], "Mean of all elements, or along one axis", "f(x) = (1/n) sum_i x_i", "df/dx_i = 1/n", "all: -> []; axis k: that axis is removed"),
            Op::Reshape { .. } => spec!("Reshape", Math, "reshape", ["x"], "Same values, new shape (one dimension may be -1)", "f(x) = x", "the gradient is reshaped back", "the given shape; it must hold the same number of values"),
            Op::Flatten => spec!("Flatten", Math, "flatten", ["x"], "All values in one vector", "f(x) = x", "the gradient is reshaped back", "[d1, d2, ...] -> [d1 * d2 * ...]"),
            Op::Concat { .. } => spec!("Concat", Math, "concat", [], "Join inputs along an axis (scalars join into a vector)", "f(x, y) = [x, y]", "each input receives its slice of the gradient", "sizes add along the axis; other dimensions must agree"),
            Op::Dense { .. } => spec!("Dense", Layers, "dense", ["x"], "Fully connected layer with its own weight W [n, units] and bias b [units]", "f(x) = x W + b", "dJ/dx = dJ/df W^T, dJ/dW = x^T dJ/df, dJ/db = dJ/df", "[n] -> [units]; parameters (n + 1) * units"),
            Op::Conv2d { .. } => spec!("Conv2d", Layers, "conv", ["x"], "2-D convolution: filters slide a K x K kernel over every input channel", "f(x)[f, i, j] = b[f] + sum_c sum_u sum_v W[f, c, u, v] x[c, S i + u - P, S j + v - P]", "dJ/dW = correlation of x with dJ/df; dJ/dx = full convolution of dJ/df with the flipped kernels; dJ/db[f] = sum over positions of dJ/df[f]", CONV_SHAPE),
            Op::MaxPool2d { .. } => spec!("MaxPool2d", Layers, "maxpool", ["x"], "Largest value of each K x K window, channel by channel", "f(x)[c, i, j] = max over the window at (S i, S j) of x[c]", "the gradient goes to the window's largest input only", POOL_SHAPE),
            Op::AvgPool2d { .. } => spec!("AvgPool2d", Layers, "avgpool", ["x"], "Mean of each K x K window, channel by channel", "f(x)[c, i, j] = (1/K^2) sum over the window of x[c]", "each input of a window gets 1/K^2 of the window's gradient", POOL_SHAPE),
            Op::Dropout { .. } => spec!("Dropout", Layers, "dropout", ["x"], "While training, zeroes each value with probability p and scales the rest by 1/(1-p); otherwise passes values through", "f(x) = m * x / (1 - p), m ~ Bernoulli(1 - p) (training); f(x) = x (otherwise)", "df/dx = m / (1 - p) (training); 1 (otherwise)", SAME),
            Op::BatchNorm { .. } => spec!("BatchNorm", Layers, "batchnorm", ["x"], "Normalizes each channel by the batch's mean and variance (training) or running averages (otherwise), then scales by gamma and shifts by beta", "f(x) = gamma (x - mean) / sqrt(var + 1e-5) + beta", "through gamma, beta, and (training) the batch mean and variance", "same shape; one gamma and beta per channel (the first axis of [C, H, W]) or per feature of a vector"),
            Op::Identity => spec!("Identity", Activations, "identity", ["x"], "Linear activation: passes values through", "f(x) = x", "f'(x) = 1", SAME),
            Op::Step => spec!("Step", Activations, "step", ["x"], "Binary step: 1 for positive inputs, else 0", "f(x) = 1 if x > 0, else 0", "f'(x) = 0 (undefined at 0): no gradient flows back", SAME),
            Op::Sigmoid => spec!("Sigmoid", Activations, "sigmoid", ["x"], "Logistic sigmoid, squashes to (0, 1)", "f(x) = 1 / (1 + e^-x)", "f'(x) = f(x)(1 - f(x))", SAME),
            Op::Tanh => spec!("Tanh", Activations, "tanh", ["x"], "Hyperbolic tangent, squashes to (-1, 1)", "f(x) = (e^x - e^-x) / (e^x + e^-x)", "f'(x) = 1 - f(x)^2", SAME),
            Op::ReLU => spec!("ReLU", Activations, "relu", ["x"], "Rectified linear unit", "f(x) = max(0, x)", "f'(x) = 1 if x > 0, else 0 (undefined at 0)", SAME),
            Op::LeakyReLU { .. } => spec!("LeakyReLU", Activations, "leakyrelu", ["x"], "ReLU with a small fixed slope alpha for negative inputs", "f(x) = x if x > 0, else alpha x", "f'(x) = 1 if x > 0, else alpha", SAME),
            Op::PReLU { .. } => spec!("PReLU", Activations, "prelu", ["x"], "Leaky ReLU whose slope alpha is learned", "f(x) = x if x > 0, else alpha x", "f'(x) = 1 if x > 0, else alpha; df/dalpha = x if x <= 0, else 0", SAME),
            Op::Softmax => spec!("Softmax", Activations, "softmax", ["x"], "Turns scores into probabilities over the last axis", "f(x)_i = e^x_i / sum_j e^x_j", "df_i/dx_j = f_i (delta_ij - f_j)", "same shape; sums to 1 along the last axis"),
            Op::MSE => spec!("MSE", Losses, "mse", ["pred", "target"], "Mean squared error", "L = (1/n) sum_i (pred_i - target_i)^2", "dL/dpred_i = (2/n)(pred_i - target_i)", LOSS_SHAPE),
            Op::BCE => spec!("BCE", Losses, "bce", ["pred", "target"], "Binary cross-entropy of probabilities", "L = -(1/n) sum_i [y_i ln p_i + (1 - y_i) ln(1 - p_i)]", "dL/dp_i = (1/n)(p_i - y_i) / (p_i (1 - p_i)); p is clamped to [eps, 1 - eps], eps = 1e-12 in f64, 1e-7 in f32", LOSS_SHAPE),
            Op::CrossEntropy => spec!("CrossEntropy", Losses, "ce", ["logits", "target"], "Softmax + categorical cross-entropy; target is a class index or one-hot", "L = -sum_i y_i ln softmax(z)_i", "dL/dz = softmax(z) - y", "logits [C]; target [] (class index) or [C] (one-hot); output []"),
            #[cfg(feature = "test-ops")]
            Op::TestBrokenSquare => spec!("TestBrokenSquare", Math, "broken", ["x"], "Test only: x^2 whose derivative is wrong on purpose", "f(x) = x^2", "claims f'(x) = 2x but computes x", SAME),
            Op::L1 => spec!("L1", Losses, "l1", ["pred", "target"], "Mean absolute error", "L = (1/n) sum_i |pred_i - target_i|", "dL/dpred_i = sign(pred_i - target_i) / n", LOSS_SHAPE),
        }
    }

    /// Every op with default settings, in menu order.
    pub fn catalogue() -> Vec<Op> {
        vec![
            Op::Input,
            Op::Constant,
            Op::Parameter {
                init: Init::XavierUniform,
            },
            Op::Add,
            Op::Sub,
            Op::Mul,
            Op::Div,
            Op::Neg,
            Op::Pow { exponent: 2.0 },
            Op::Exp,
            Op::Log,
            Op::Sqrt,
            Op::Abs,
            Op::Scale { factor: 2.0 },
            Op::MatMul,
            Op::Transpose,
            Op::Sum { axis: None },
            Op::Mean { axis: None },
            Op::Reshape { shape: vec![-1] },
            Op::Flatten,
            Op::Concat {
                inputs: 2,
                axis: -1,
            },
            Op::Dense {
                units: 4,
                init: Init::XavierUniform,
            },
            Op::Conv2d {
                filters: 8,
                kernel: 3,
                stride: 1,
                padding: Padding::Same,
                bias: true,
                init: Init::HeUniform,
            },
            Op::MaxPool2d {
                kernel: 2,
                stride: 2,
            },
            Op::AvgPool2d {
                kernel: 2,
                stride: 2,
            },
            Op::Dropout { p: 0.5 },
            Op::BatchNorm { momentum: 0.1 },
            Op::Identity,
            Op::Step,
            Op::Sigmoid,
            Op::Tanh,
            Op::ReLU,
            Op::LeakyReLU { alpha: 0.01 },
            Op::PReLU { init_alpha: 0.25 },
            Op::Softmax,
            Op::MSE,
            Op::BCE,
            Op::CrossEntropy,
            Op::L1,
        ]
    }

    pub fn name(&self) -> &'static str {
        self.spec().name
    }

    /// Input port names, in order. A Concat asking for more than `MAX_CONCAT_INPUTS` gets
    /// that many (analysis reports the setting), so a file cannot make this allocate.
    pub fn ports(&self) -> Vec<String> {
        match self {
            Op::Concat { .. } => (1..=self.arity()).map(|i| format!("in{i}")).collect(),
            _ => self.spec().ports.iter().map(|p| p.to_string()).collect(),
        }
    }

    /// Number of input ports (at most `MAX_CONCAT_INPUTS` for a Concat, see `ports`).
    pub fn arity(&self) -> usize {
        match self {
            Op::Concat { inputs, .. } => (*inputs).min(MAX_CONCAT_INPUTS),
            _ => self.spec().ports.len(),
        }
    }

    /// Loss ops (MSE, BCE, CrossEntropy, L1): their category in the catalogue, so a new loss
    /// needs no list updated elsewhere (training and the UI ask this).
    pub fn is_loss(&self) -> bool {
        self.spec().category == Category::Losses
    }

    /// Settings outside `limits`, as a message naming the setting and the allowed range.
    /// Analysis asks this before anything else about a node.
    pub fn check_settings(&self) -> Result<(), String> {
        use limits::*;
        match self {
            Op::Parameter { init } => init.check(),
            Op::Pow { exponent } => check_number("exponent", *exponent, &POW_EXPONENT),
            Op::Scale { factor } => check_number("factor k", *factor, &FACTOR),
            Op::LeakyReLU { alpha } => check_number("alpha", *alpha, &FACTOR),
            Op::PReLU { init_alpha } => check_number("starting alpha", *init_alpha, &FACTOR),
            Op::Concat { inputs, .. } => check_count("inputs", *inputs, &CONCAT_INPUTS),
            Op::Dense { units, init } => {
                check_count("units", *units, &DENSE_UNITS)?;
                init.check()
            }
            Op::Conv2d {
                filters,
                kernel,
                stride,
                padding,
                init,
                ..
            } => {
                check_count("filters", *filters, &CONV_FILTERS)?;
                check_count("kernel", *kernel, &KERNEL)?;
                check_count("stride", *stride, &STRIDE)?;
                if let Padding::Explicit(p) = padding {
                    check_count("padding", *p, &PADDING)?;
                }
                init.check()
            }
            Op::MaxPool2d { kernel, stride } | Op::AvgPool2d { kernel, stride } => {
                check_count("kernel", *kernel, &KERNEL)?;
                check_count("stride", *stride, &STRIDE)
            }
            Op::Dropout { p } => {
                if DROPOUT_P.contains(p) {
                    Ok(())
                } else {
                    Err(format!(
                        "p = {p}: use a probability from 0 up to (not including) 1"
                    ))
                }
            }
            Op::BatchNorm { momentum } => {
                if MOMENTUM.contains(momentum) {
                    Ok(())
                } else {
                    Err(format!("momentum = {momentum}: use a number from 0 to 1"))
                }
            }
            _ => Ok(()),
        }
    }

    /// Elements a sample's evaluation allocates beyond the values and gradients of the
    /// node's output and owned tensors (saturating, so a hostile size is a huge number the
    /// memory budget refuses). Convolutions and pools unfold their input (im2col:
    /// C * K * K values per output position). burn's Conv2d weight gradient is a
    /// convolution of the input with the output gradient that produces a
    /// [C, F, H + 2P - S (H' - 1), W + 2P - S (W' - 1)] buffer and then keeps its K x K
    /// corner: with a big stride and padding that buffer is the whole padded input per
    /// filter.
    pub fn scratch_elements(&self, inputs: &[&[usize]], out: &[usize]) -> u64 {
        let (filters, kernel, stride, padding) = match self {
            Op::Conv2d {
                filters,
                kernel,
                stride,
                padding,
                ..
            } => (Some(*filters), *kernel, *stride, padding.amount(*kernel)),
            Op::MaxPool2d { kernel, stride } | Op::AvgPool2d { kernel, stride } => {
                (None, *kernel, *stride, 0)
            }
            _ => return 0,
        };
        let Some(Ok((c, h, w))) = inputs.first().map(|x| image_dims(x)) else {
            return 0;
        };
        let (oh, ow) = match out {
            [_, oh, ow] => (*oh, *ow),
            [oh, ow] => (*oh, *ow),
            _ => return 0,
        };
        let k2 = (kernel as u64).saturating_mul(kernel as u64);
        let unfolded = (c as u64)
            .saturating_mul(k2)
            .saturating_mul(oh as u64)
            .saturating_mul(ow as u64);
        let Some(filters) = filters else {
            return unfolded;
        };
        let span = |size: usize, o: usize| -> u64 {
            let padded = (size as u64).saturating_add((padding as u64).saturating_mul(2));
            padded.saturating_sub((stride as u64).saturating_mul(o.saturating_sub(1) as u64))
        };
        let weight_grad_buffer = (c as u64)
            .saturating_mul(filters as u64)
            .saturating_mul(span(h, oh))
            .saturating_mul(span(w, ow));
        unfolded.saturating_add(weight_grad_buffer)
    }

    /// The infix symbol of a binary arithmetic op (`u = b * c`), for step texts.
    pub fn infix_symbol(&self) -> Option<&'static str> {
        match self {
            Op::Add => Some("+"),
            Op::Sub => Some("-"),
            Op::Mul => Some("*"),
            Op::Div => Some("/"),
            _ => None,
        }
    }

    /// Ops whose node carries a value instead of computing one.
    pub fn is_source(&self) -> bool {
        matches!(self, Op::Input | Op::Constant | Op::Parameter { .. })
    }

    /// The shape rule. `value` is the node's stored value for source ops. Errors say what
    /// is wrong in words a student can act on (the caller adds the node's name).
    pub fn infer_shape(
        &self,
        inputs: &[&[usize]],
        value: Option<&[usize]>,
    ) -> Result<Shape, String> {
        self.check_settings()?;
        let one = || inputs[0].to_vec();
        match self {
            Op::Input | Op::Constant | Op::Parameter { .. } => value
                .map(<[usize]>::to_vec)
                .ok_or_else(|| "has no value: set one in its card or the .ron file".to_string()),
            Op::Add | Op::Sub | Op::Mul | Op::Div => broadcast(inputs[0], inputs[1]),
            Op::Neg
            | Op::Pow { .. }
            | Op::Exp
            | Op::Log
            | Op::Sqrt
            | Op::Abs
            | Op::Scale { .. }
            | Op::Identity
            | Op::Step
            | Op::Sigmoid
            | Op::Tanh
            | Op::ReLU
            | Op::LeakyReLU { .. }
            | Op::PReLU { .. } => Ok(one()),
            Op::Dropout { .. } => Ok(one()),
            Op::BatchNorm { .. } => match inputs[0].len() {
                1 | 3 => Ok(one()),
                _ => Err(format!(
                    "normalizes a vector [n] or channels [C, H, W], got {}",
                    fmt_shape(inputs[0])
                )),
            },
            Op::Conv2d {
                filters,
                kernel,
                stride,
                padding,
                ..
            } => {
                if *padding == Padding::Same && kernel % 2 == 0 {
                    return Err(format!(
                        "same padding needs an odd kernel (got {kernel}): use 3, 5, ... or explicit padding"
                    ));
                }
                let (_, h, w) = image_dims(inputs[0])?;
                let p = padding.amount(*kernel);
                Ok(vec![
                    *filters,
                    conv_out(h, *kernel, p, *stride, "Conv2d")?,
                    conv_out(w, *kernel, p, *stride, "Conv2d")?,
                ])
            }
            Op::MaxPool2d { kernel, stride } | Op::AvgPool2d { kernel, stride } => {
                let (c, h, w) = image_dims(inputs[0])?;
                let out_h = conv_out(h, *kernel, 0, *stride, "pooling")?;
                let out_w = conv_out(w, *kernel, 0, *stride, "pooling")?;
                Ok(if inputs[0].len() == 2 {
                    vec![out_h, out_w]
                } else {
                    vec![c, out_h, out_w]
                })
            }
            #[cfg(feature = "test-ops")]
            Op::TestBrokenSquare => Ok(one()),
            Op::Softmax => {
                if inputs[0].is_empty() {
                    Err("softmax of a single number is always 1: feed it a vector of scores".into())
                } else {
                    Ok(one())
                }
            }
            Op::MatMul => matmul_shape(inputs[0], inputs[1]),
            Op::Transpose => {
                let mut s = one();
                let r = s.len();
                if r >= 2 {
                    s.swap(r - 1, r - 2);
                }
                Ok(s)
            }
            Op::Sum { axis } | Op::Mean { axis } => match axis {
                None => Ok(vec![]),
                Some(a) => {
                    let k = resolve_axis(*a, inputs[0].len())?;
                    let mut s = one();
                    s.remove(k);
                    Ok(s)
                }
            },
            Op::Reshape { shape } => reshape_shape(inputs[0], shape),
            Op::Flatten => Ok(vec![numel(inputs[0])]),
            Op::Concat { axis, .. } => concat_shape(inputs, *axis),
            Op::Dense { units, .. } => match inputs[0].len() {
                0 | 1 => Ok(vec![*units]),
                _ => Err(format!(
                    "expects a vector but gets {}: put a Flatten before it",
                    fmt_shape(inputs[0])
                )),
            },
            Op::MSE | Op::BCE | Op::L1 => {
                let (p, t) = (numel(inputs[0]), numel(inputs[1]));
                if p != t {
                    return Err(format!(
                        "pred {} has {p} values but target {} has {t}: they must match",
                        fmt_shape(inputs[0]),
                        fmt_shape(inputs[1])
                    ));
                }
                Ok(vec![])
            }
            Op::CrossEntropy => {
                let (z, t) = (inputs[0], inputs[1]);
                if z.len() != 1 {
                    return Err(format!(
                        "logits must be a vector of class scores [C], got {}",
                        fmt_shape(z)
                    ));
                }
                if !(t.is_empty() || t == z || t == [1]) {
                    return Err(format!(
                        "target must be a class index [] or one-hot {}, got {}",
                        fmt_shape(z),
                        fmt_shape(t)
                    ));
                }
                Ok(vec![])
            }
        }
    }

    /// Tensors the node owns, given its input shapes (known once shapes are inferred).
    pub fn owned_tensors(&self, inputs: &[&[usize]], value: Option<&[usize]>) -> Vec<OwnedTensor> {
        let fans = |s: &[usize]| match s {
            [] => (1, 1),
            [n] => (*n, 1),
            _ => (s[s.len() - 2], s[s.len() - 1]),
        };
        match self {
            Op::Input | Op::Constant | Op::Parameter { .. } => {
                let shape = value.map(<[usize]>::to_vec).unwrap_or_default();
                let (fan_in, fan_out) = fans(&shape);
                vec![OwnedTensor {
                    key: "value",
                    shape,
                    trainable: matches!(self, Op::Parameter { .. }),
                    fan_in,
                    fan_out,
                }]
            }
            Op::Dense { units, .. } => {
                let n = inputs.first().map(|s| numel(s)).unwrap_or(1);
                vec![
                    OwnedTensor {
                        key: "weight",
                        shape: vec![n, *units],
                        trainable: true,
                        fan_in: n,
                        fan_out: *units,
                    },
                    OwnedTensor {
                        key: "bias",
                        shape: vec![*units],
                        trainable: true,
                        fan_in: n,
                        fan_out: *units,
                    },
                ]
            }
            Op::Conv2d {
                filters,
                kernel,
                bias,
                ..
            } => {
                let c = inputs
                    .first()
                    .and_then(|s| image_dims(s).ok())
                    .map_or(1, |(c, _, _)| c);
                let k2 = kernel.saturating_mul(*kernel);
                let (fan_in, fan_out) = (c.saturating_mul(k2), filters.saturating_mul(k2));
                let mut v = vec![OwnedTensor {
                    key: "weight",
                    shape: vec![*filters, c, *kernel, *kernel],
                    trainable: true,
                    fan_in,
                    fan_out,
                }];
                if *bias {
                    v.push(OwnedTensor {
                        key: "bias",
                        shape: vec![*filters],
                        trainable: true,
                        fan_in,
                        fan_out,
                    });
                }
                v
            }
            Op::BatchNorm { .. } => {
                let c = inputs.first().and_then(|s| s.first().copied()).unwrap_or(1);
                ["gamma", "beta", "running_mean", "running_var"]
                    .into_iter()
                    .enumerate()
                    .map(|(i, key)| OwnedTensor {
                        key,
                        shape: vec![c],
                        trainable: i < 2,
                        fan_in: c,
                        fan_out: c,
                    })
                    .collect()
            }
            Op::PReLU { .. } => {
                vec![OwnedTensor {
                    key: "alpha",
                    shape: vec![],
                    trainable: true,
                    fan_in: 1,
                    fan_out: 1,
                }]
            }
            _ => vec![],
        }
    }

    /// How an owned tensor starts when the node does not store one (or the stored one no
    /// longer fits).
    pub fn initializer(&self, key: &str) -> Init {
        match (self, key) {
            (Op::Parameter { init }, _) => init.clone(),
            (Op::Dense { init, .. }, "weight") => init.clone(),
            (Op::Conv2d { init, .. }, "weight") => init.clone(),
            (Op::BatchNorm { .. }, "gamma" | "running_var") => Init::Constant { value: 1.0 },
            (Op::PReLU { init_alpha }, _) => Init::Constant { value: *init_alpha },
            _ => Init::Zeros,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(op: Op, inputs: &[&[usize]], expected: Result<&[usize], &str>) {
        let got = op.infer_shape(inputs, None);
        match expected {
            Ok(s) => assert_eq!(got, Ok(s.to_vec()), "{op:?} {inputs:?}"),
            Err(fragment) => {
                let msg = got.expect_err("expected a shape error");
                assert!(
                    msg.contains(fragment),
                    "{msg:?} should contain {fragment:?}"
                );
            }
        }
    }

    #[test]
    fn convolution_and_pooling_follow_the_lecture_formula() {
        let conv = |k, s, padding| Op::Conv2d {
            filters: 6,
            kernel: k,
            stride: s,
            padding,
            bias: true,
            init: Init::HeUniform,
        };
        // floor((W - K + 2P) / S) + 1
        check(
            conv(5, 1, Padding::Valid),
            &[&[1, 32, 32]],
            Ok(&[6, 28, 28]),
        );
        check(conv(3, 1, Padding::Same), &[&[3, 8, 8]], Ok(&[6, 8, 8]));
        check(conv(3, 2, Padding::Same), &[&[3, 7, 7]], Ok(&[6, 4, 4]));
        check(
            conv(3, 2, Padding::Explicit(0)),
            &[&[1, 7, 8]],
            Ok(&[6, 3, 3]),
        );
        check(conv(2, 1, Padding::Explicit(1)), &[&[5, 5]], Ok(&[6, 6, 6]));
        check(
            conv(5, 1, Padding::Valid),
            &[&[1, 3, 3]],
            Err("kernel 5 is larger than the input 3"),
        );
        check(conv(4, 1, Padding::Same), &[&[1, 8, 8]], Err("odd kernel"));
        check(
            conv(3, 1, Padding::Valid),
            &[&[64]],
            Err("expects an image [C, H, W]"),
        );
        let pool = Op::MaxPool2d {
            kernel: 2,
            stride: 2,
        };
        check(pool.clone(), &[&[16, 8, 8]], Ok(&[16, 4, 4]));
        check(pool.clone(), &[&[16, 5, 5]], Ok(&[16, 2, 2]));
        check(
            pool,
            &[&[1, 1, 4]],
            Err("kernel 2 is larger than the input 1"),
        );
        check(
            Op::AvgPool2d {
                kernel: 3,
                stride: 1,
            },
            &[&[4, 4]],
            Ok(&[2, 2]),
        );
        check(
            Op::BatchNorm { momentum: 0.1 },
            &[&[2, 3]],
            Err("normalizes a vector"),
        );
        check(Op::Dropout { p: 1.0 }, &[&[3]], Err("probability"));
        // Conv kernels are [filters, channels, K, K]; the count is the lecture's N_F.
        let owned = conv(5, 1, Padding::Valid).owned_tensors(&[&[3, 32, 32]], None);
        assert_eq!(owned[0].shape, vec![6, 3, 5, 5]);
        assert_eq!(owned[1].shape, vec![6]);
    }

    #[test]
    fn shape_rules() {
        check(Op::Add, &[&[], &[3]], Ok(&[3]));
        check(Op::Mul, &[&[2, 1], &[3]], Ok(&[2, 3]));
        check(Op::Sub, &[&[2], &[3]], Err("do not fit"));
        check(Op::MatMul, &[&[2, 3], &[3, 4]], Ok(&[2, 4]));
        check(Op::MatMul, &[&[3], &[3, 4]], Ok(&[4]));
        check(Op::MatMul, &[&[2, 3], &[3]], Ok(&[2]));
        check(Op::MatMul, &[&[3], &[3]], Ok(&[]));
        check(Op::MatMul, &[&[2, 3], &[2, 3]], Err("inner sizes"));
        check(Op::MatMul, &[&[], &[3]], Err("use Mul"));
        check(Op::Transpose, &[&[2, 3]], Ok(&[3, 2]));
        check(Op::Transpose, &[&[3]], Ok(&[3]));
        check(Op::Sum { axis: None }, &[&[2, 3]], Ok(&[]));
        check(Op::Mean { axis: Some(0) }, &[&[2, 3]], Ok(&[3]));
        check(Op::Sum { axis: Some(-1) }, &[&[2, 3]], Ok(&[2]));
        check(Op::Sum { axis: Some(2) }, &[&[2, 3]], Err("out of range"));
        check(Op::Reshape { shape: vec![3, -1] }, &[&[2, 3]], Ok(&[3, 2]));
        check(
            Op::Reshape { shape: vec![4] },
            &[&[2, 3]],
            Err("cannot reshape"),
        );
        check(
            Op::Reshape {
                shape: vec![-1, -1],
            },
            &[&[2, 3]],
            Err("at most one"),
        );
        check(Op::Flatten, &[&[2, 3, 4]], Ok(&[24]));
        check(
            Op::Concat {
                inputs: 2,
                axis: -1,
            },
            &[&[], &[]],
            Ok(&[2]),
        );
        check(
            Op::Concat { inputs: 2, axis: 0 },
            &[&[2, 3], &[1, 3]],
            Ok(&[3, 3]),
        );
        check(
            Op::Concat { inputs: 2, axis: 0 },
            &[&[2, 3], &[1, 2]],
            Err("differ"),
        );
        check(
            Op::Dense {
                units: 5,
                init: Init::Zeros,
            },
            &[&[3]],
            Ok(&[5]),
        );
        check(
            Op::Dense {
                units: 5,
                init: Init::Zeros,
            },
            &[&[2, 3]],
            Err("Flatten"),
        );
        check(Op::Softmax, &[&[]], Err("vector"));
        check(Op::MSE, &[&[1], &[]], Ok(&[]));
        check(Op::BCE, &[&[2], &[3]], Err("must match"));
        check(Op::CrossEntropy, &[&[4], &[]], Ok(&[]));
        check(Op::CrossEntropy, &[&[4], &[4]], Ok(&[]));
        check(Op::CrossEntropy, &[&[4], &[3]], Err("one-hot"));
    }

    /// A deserializer that only records the variant names serde's derive lists for an
    /// enum: a list generated by the compiler, so it cannot miss a variant.
    mod variant_names {
        use serde::de::{self, Visitor};

        #[derive(Debug)]
        pub struct Found(pub Vec<&'static str>);

        impl std::fmt::Display for Found {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "{:?}", self.0)
            }
        }

        impl std::error::Error for Found {}

        impl de::Error for Found {
            fn custom<T: std::fmt::Display>(_: T) -> Self {
                Found(Vec::new())
            }
        }

        pub struct Probe;

        impl<'de> de::Deserializer<'de> for Probe {
            type Error = Found;

            fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Found> {
                Err(Found(Vec::new()))
            }

            fn deserialize_enum<V: Visitor<'de>>(
                self,
                _name: &'static str,
                variants: &'static [&'static str],
                _: V,
            ) -> Result<V::Value, Found> {
                Err(Found(variants.to_vec()))
            }

            serde::forward_to_deserialize_any! {
                bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes
                byte_buf option unit unit_struct newtype_struct seq tuple tuple_struct map
                struct identifier ignored_any
            }
        }
    }

    #[test]
    fn catalogue_lists_every_variant_once() {
        let Err(variant_names::Found(all)) = Op::deserialize(variant_names::Probe) else {
            panic!("the probe never deserializes");
        };
        let mut expected: Vec<&str> = all
            .into_iter()
            .filter(|n| *n != "TestBrokenSquare")
            .collect();
        assert!(expected.len() >= 38, "{expected:?}");
        let mut listed: Vec<&str> = Op::catalogue().iter().map(Op::name).collect();
        // The catalogue is in menu order and a spec's name is its serde name.
        expected.sort_unstable();
        listed.sort_unstable();
        assert_eq!(listed, expected);
    }

    #[test]
    fn settings_outside_their_ranges_are_refused_with_the_range() {
        let concat = Op::Concat {
            inputs: usize::MAX,
            axis: 0,
        };
        assert_eq!(concat.arity(), MAX_CONCAT_INPUTS);
        assert_eq!(concat.ports().len(), MAX_CONCAT_INPUTS);
        let err = concat.check_settings().unwrap_err();
        assert!(
            err.contains("inputs = 18446744073709551615") && err.contains("1..=64"),
            "{err}"
        );
        for exponent in [f64::INFINITY, f64::NAN, 9.3e18, -2e6] {
            let err = Op::Pow { exponent }.check_settings().unwrap_err();
            assert!(err.contains("exponent") && err.contains("1e6"), "{err}");
        }
        assert!(Op::Pow { exponent: -0.5 }.check_settings().is_ok());
        let conv = |stride, padding| Op::Conv2d {
            filters: 1,
            kernel: 3,
            stride,
            padding,
            bias: false,
            init: Init::Zeros,
        };
        let err = conv(1 << 40, Padding::Valid).check_settings().unwrap_err();
        assert!(err.contains("stride") && err.contains("1..=64"), "{err}");
        let err = conv(1, Padding::Explicit(usize::MAX - 1))
            .check_settings()
            .unwrap_err();
        assert!(err.contains("padding") && err.contains("0..=64"), "{err}");
        // The formula itself never wraps, whatever the caller passes.
        let err = conv_out(28, 3, usize::MAX / 2, 1, "Conv2d").unwrap_err();
        assert!(err.contains("too large"), "{err}");
        // A big stride's weight gradient holds the padded input once per filter (plus the
        // unfolded input, C * K * K per output position).
        let op = conv(64, Padding::Explicit(64));
        let out = op.infer_shape(&[&[2, 100, 100]], None).unwrap();
        assert_eq!(out, vec![1, 4, 4]);
        assert_eq!(
            op.scratch_elements(&[&[2, 100, 100]], &out),
            2 * 9 * 16 + 2 * (228 - 64 * 3) * (228 - 64 * 3)
        );
        let pool = Op::MaxPool2d {
            kernel: 2,
            stride: 2,
        };
        assert_eq!(pool.scratch_elements(&[&[4, 4]], &[2, 2]), 4 * 4);
    }

    #[test]
    fn every_op_is_documented() {
        for op in Op::catalogue() {
            let s = op.spec();
            assert!(!s.formula.is_empty() && !s.derivative.is_empty() && !s.summary.is_empty());
            assert_eq!(op.ports().len(), op.arity());
        }
        assert!(Op::Step.spec().derivative.contains("undefined at 0"));
        assert!(Op::Sigmoid.spec().derivative.contains("f(x)(1 - f(x))"));
    }
}
