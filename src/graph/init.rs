//! Initializers for trainable tensors (Parameter values, Dense weights, PReLU alpha).
//! Seeded, so the same project gives the same numbers on every machine.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use super::array::{Array, Shape, numel};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Init {
    Zeros,
    Constant {
        value: f64,
    },
    Uniform {
        low: f64,
        high: f64,
    },
    Normal {
        mean: f64,
        std: f64,
    },
    /// Glorot: U(-a, a), a = sqrt(6 / (fan_in + fan_out)).
    XavierUniform,
    /// Glorot: N(0, 2 / (fan_in + fan_out)).
    XavierNormal,
    /// Kaiming: U(-a, a), a = sqrt(6 / fan_in).
    HeUniform,
    /// Kaiming: N(0, 2 / fan_in).
    HeNormal,
}

impl Init {
    /// Draws an array of `shape`. `seed` usually mixes the project seed and the node id.
    pub fn sample(&self, shape: Shape, fan_in: usize, fan_out: usize, seed: u64) -> Array {
        let n = numel(&shape);
        let mut rng = StdRng::seed_from_u64(seed);
        let fan_in = fan_in.max(1) as f64;
        let fan_out = fan_out.max(1) as f64;
        let data: Vec<f64> = match self {
            Init::Zeros => vec![0.0; n],
            Init::Constant { value } => vec![*value; n],
            Init::Uniform { low, high } => uniform(&mut rng, n, *low, *high),
            Init::Normal { mean, std } => normal(&mut rng, n, *mean, *std),
            Init::XavierUniform => {
                let a = (6.0 / (fan_in + fan_out)).sqrt();
                uniform(&mut rng, n, -a, a)
            }
            Init::XavierNormal => normal(&mut rng, n, 0.0, (2.0 / (fan_in + fan_out)).sqrt()),
            Init::HeUniform => {
                let a = (6.0 / fan_in).sqrt();
                uniform(&mut rng, n, -a, a)
            }
            Init::HeNormal => normal(&mut rng, n, 0.0, (2.0 / fan_in).sqrt()),
        };
        // Invariant: data has numel(shape) entries by construction.
        Array::new(shape, data).unwrap_or_else(|_| Array::scalar(0.0))
    }
}

fn uniform(rng: &mut StdRng, n: usize, low: f64, high: f64) -> Vec<f64> {
    if !(low < high) {
        return vec![low; n];
    }
    (0..n).map(|_| rng.random_range(low..high)).collect()
}

fn normal(rng: &mut StdRng, n: usize, mean: f64, std: f64) -> Vec<f64> {
    (0..n).map(|_| mean + std * standard_normal(rng)).collect()
}

/// One draw from N(0, 1) (Box-Muller; avoids a dependency for one formula).
pub fn standard_normal(rng: &mut StdRng) -> f64 {
    let u1: f64 = rng.random_range(f64::EPSILON..1.0);
    let u2: f64 = rng.random::<f64>();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_and_bounded() {
        let a = Init::XavierUniform.sample(vec![20, 30], 20, 30, 7);
        let b = Init::XavierUniform.sample(vec![20, 30], 20, 30, 7);
        assert_eq!(a, b);
        let bound = (6.0f64 / 50.0).sqrt();
        assert!(a.data().iter().all(|v| v.abs() <= bound));
        let (_, mean, _) = a.min_mean_max();
        assert!(mean.abs() < 0.05);
    }

    #[test]
    fn he_normal_std() {
        let a = Init::HeNormal.sample(vec![10_000], 50, 1, 1);
        let var = a.data().iter().map(|v| v * v).sum::<f64>() / 10_000.0;
        assert!((var - 2.0 / 50.0).abs() < 0.004, "variance {var}");
    }

    #[test]
    fn constant_and_zeros() {
        assert_eq!(
            Init::Constant { value: 0.25 }.sample(vec![], 1, 1, 0),
            Array::scalar(0.25)
        );
        assert_eq!(Init::Zeros.sample(vec![2], 1, 1, 0), Array::zeros(vec![2]));
    }
}
