//! Initializers for trainable tensors (Parameter values, Dense weights, PReLU alpha).
//! Seeded, so the same project gives the same numbers on every machine.

use rand::distr::uniform::SampleRange;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use super::array::{Array, Shape, fmt_number, numel};
use super::ops::limits::INIT_NUMBER;

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
    /// Numbers outside `limits::INIT_NUMBER` (or not finite, or a uniform range the wrong
    /// way round, or a negative standard deviation), as a message with the allowed range.
    pub fn check(&self) -> Result<(), String> {
        let within = |what: &str, v: f64| {
            if INIT_NUMBER.contains(&v) {
                Ok(())
            } else {
                Err(format!(
                    "initializer {what} = {} is outside the allowed {:e}..={:e}: use a finite \
                     number in that range",
                    fmt_number(v),
                    INIT_NUMBER.start(),
                    INIT_NUMBER.end()
                ))
            }
        };
        match self {
            Init::Constant { value } => within("value", *value),
            Init::Uniform { low, high } => {
                within("low", *low)?;
                within("high", *high)?;
                if low > high {
                    return Err(format!(
                        "initializer Uniform has low = {low} above high = {high}: swap them"
                    ));
                }
                Ok(())
            }
            Init::Normal { mean, std } => {
                within("mean", *mean)?;
                within("std", *std)?;
                if *std < 0.0 {
                    return Err(format!(
                        "initializer Normal has std = {std}: a standard deviation is at least 0"
                    ));
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// Draws an array of `shape`. `seed` usually mixes the project seed and the node id.
    /// Settings that `check` refuses come back as that error, never as a panic.
    pub fn sample(
        &self,
        shape: Shape,
        fan_in: usize,
        fan_out: usize,
        seed: u64,
    ) -> Result<Array, String> {
        self.check()?;
        let n = numel(&shape);
        let mut rng = StdRng::seed_from_u64(seed);
        let fan_in = fan_in.max(1) as f64;
        let fan_out = fan_out.max(1) as f64;
        let data: Vec<f64> = match self {
            Init::Zeros => vec![0.0; n],
            Init::Constant { value } => vec![*value; n],
            Init::Uniform { low, high } => uniform(&mut rng, n, *low, *high)?,
            Init::Normal { mean, std } => normal(&mut rng, n, *mean, *std),
            Init::XavierUniform => {
                let a = (6.0 / (fan_in + fan_out)).sqrt();
                uniform(&mut rng, n, -a, a)?
            }
            Init::XavierNormal => normal(&mut rng, n, 0.0, (2.0 / (fan_in + fan_out)).sqrt()),
            Init::HeUniform => {
                let a = (6.0 / fan_in).sqrt();
                uniform(&mut rng, n, -a, a)?
            }
            Init::HeNormal => normal(&mut rng, n, 0.0, (2.0 / fan_in).sqrt()),
        };
        Array::new(shape, data)
    }
}

fn uniform(rng: &mut StdRng, n: usize, low: f64, high: f64) -> Result<Vec<f64>, String> {
    if low >= high {
        return Ok(vec![low; n]);
    }
    // The same draws as `rng.random_range(low..high)`, with its error returned, not unwrapped.
    (0..n)
        .map(|_| {
            (low..high)
                .sample_single(rng)
                .map_err(|e| format!("initializer Uniform({low}, {high}) cannot be drawn: {e}"))
        })
        .collect()
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
        let a = Init::XavierUniform.sample(vec![20, 30], 20, 30, 7).unwrap();
        let b = Init::XavierUniform.sample(vec![20, 30], 20, 30, 7).unwrap();
        assert_eq!(a, b);
        let bound = (6.0f64 / 50.0).sqrt();
        assert!(a.data().iter().all(|v| v.abs() <= bound));
        let (_, mean, _) = a.min_mean_max();
        assert!(mean.abs() < 0.05);
    }

    #[test]
    fn he_normal_std() {
        let a = Init::HeNormal.sample(vec![10_000], 50, 1, 1).unwrap();
        let var = a.data().iter().map(|v| v * v).sum::<f64>() / 10_000.0;
        assert!((var - 2.0 / 50.0).abs() < 0.004, "variance {var}");
    }

    #[test]
    fn constant_and_zeros() {
        assert_eq!(
            Init::Constant { value: 0.25 }.sample(vec![], 1, 1, 0),
            Ok(Array::scalar(0.25))
        );
        assert_eq!(
            Init::Zeros.sample(vec![2], 1, 1, 0),
            Ok(Array::zeros(vec![2]))
        );
    }

    #[test]
    fn non_finite_and_overflowing_ranges_are_errors_not_panics() {
        let bad = [
            Init::Uniform {
                low: -1e308,
                high: 1e308,
            },
            Init::Uniform {
                low: f64::NEG_INFINITY,
                high: 0.0,
            },
            Init::Uniform {
                low: 0.0,
                high: f64::NAN,
            },
            Init::Normal {
                mean: 0.0,
                std: f64::INFINITY,
            },
            Init::Normal {
                mean: 0.0,
                std: -1.0,
            },
            Init::Constant { value: f64::NAN },
        ];
        for init in bad {
            let err = init.sample(vec![3], 1, 1, 0).unwrap_err();
            assert!(err.starts_with("initializer"), "{init:?}: {err}");
        }
        let wide = Init::Uniform {
            low: -1e12,
            high: 1e12,
        };
        assert!(wide.sample(vec![4], 1, 1, 0).unwrap().all_finite());
    }
}
