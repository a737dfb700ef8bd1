//! Seeded generators for the 2-D toy datasets and the noisy sine. Points live in about
//! [-1, 1]^2; `noise` is the standard deviation of Gaussian noise added to each coordinate
//! (the spiral adds it to the angle, the sine to y).

use std::f64::consts::{PI, TAU};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::{DataError, Dataset, MAX_CLASSES, Task, over_budget};
use crate::graph::init::standard_normal;
use crate::project::training::DatasetSpec;

fn binary() -> Task {
    Task::Classification {
        classes: 2,
        names: vec!["0".into(), "1".into()],
    }
}

/// Refuses settings that cannot make a dataset, before anything is allocated: a sample
/// count whose features and targets pass `budget` bytes (or 64 bits), a noise that is not a
/// finite number >= 0, a spiral with fewer than 2 or more than `MAX_CLASSES` arms, or more
/// arms than samples.
pub fn check(spec: &DatasetSpec, budget: u64) -> Result<(), DataError> {
    let dataset = spec.kind();
    let setting = |setting: &'static str, message: String| DataError::Setting {
        dataset,
        setting,
        message,
    };
    let (samples, noise, features) = match *spec {
        DatasetSpec::Xor { samples, noise }
        | DatasetSpec::Circles { samples, noise }
        | DatasetSpec::Gaussians { samples, noise }
        | DatasetSpec::Spiral { samples, noise, .. }
        | DatasetSpec::Moons { samples, noise } => (samples, noise, 2),
        DatasetSpec::Sine { samples, noise } => (samples, noise, 1),
        DatasetSpec::Digits | DatasetSpec::Csv { .. } | DatasetSpec::Idx { .. } => return Ok(()),
    };
    if let Some(why) = over_budget(samples, features, budget) {
        return Err(setting("samples", format!("is {samples}: {why}")));
    }
    if !(noise.is_finite() && noise >= 0.0) {
        return Err(setting(
            "noise",
            format!("is {noise}: use a finite number >= 0, such as 0.1"),
        ));
    }
    if let DatasetSpec::Spiral { classes, .. } = *spec {
        if !(2..=MAX_CLASSES).contains(&classes) {
            return Err(setting(
                "classes",
                format!("is {classes}: a spiral has 2 to {MAX_CLASSES} arms"),
            ));
        }
        if classes > samples {
            return Err(setting(
                "classes",
                format!(
                    "is {classes}, more arms than its {samples} samples: every arm needs at \
                     least one sample"
                ),
            ));
        }
    }
    Ok(())
}

/// Generates `spec` (a generated kind; file kinds give an empty set, refused by the caller).
/// `check` it first: `data::load` does.
pub fn generate(spec: &DatasetSpec, seed: u64) -> Dataset {
    let mut rng = StdRng::seed_from_u64(seed ^ 0xDA7A);
    let mut features = Vec::new();
    let mut targets = Vec::new();
    let mut push = |x: f64, y: f64, label: f64| {
        features.push(x as f32);
        features.push(y as f32);
        targets.push(label as f32);
    };
    let (name, task) = match *spec {
        DatasetSpec::Xor { samples, noise } => {
            for _ in 0..samples {
                // Keep clear of the axes, as Playground does, so the label is unambiguous.
                let mut c = || {
                    let v: f64 = rng.random_range(0.05..1.0);
                    if rng.random::<bool>() { v } else { -v }
                };
                let (x, y) = (c(), c());
                let label = if x * y > 0.0 { 1.0 } else { 0.0 };
                let (nx, ny) = (standard_normal(&mut rng), standard_normal(&mut rng));
                push(x + noise * nx, y + noise * ny, label);
            }
            ("XOR", binary())
        }
        DatasetSpec::Circles { samples, noise } => {
            for i in 0..samples {
                let inner = i % 2 == 0;
                let r = if inner {
                    rng.random_range(0.0..0.45)
                } else {
                    rng.random_range(0.7..1.0)
                };
                let a = rng.random_range(0.0..TAU);
                let (nx, ny) = (standard_normal(&mut rng), standard_normal(&mut rng));
                push(
                    r * a.cos() + noise * nx,
                    r * a.sin() + noise * ny,
                    if inner { 1.0 } else { 0.0 },
                );
            }
            ("circles", binary())
        }
        DatasetSpec::Gaussians { samples, noise } => {
            for i in 0..samples {
                let label = (i % 2) as f64;
                let c = if label > 0.5 { 0.5 } else { -0.5 };
                let spread = 0.2 + noise;
                let (nx, ny) = (standard_normal(&mut rng), standard_normal(&mut rng));
                push(c + spread * nx, c + spread * ny, label);
            }
            ("two Gaussians", binary())
        }
        DatasetSpec::Spiral {
            samples,
            noise,
            classes,
        } => {
            // `check` keeps 2 <= classes <= samples.
            let k = classes.max(2);
            let per = samples / k;
            for class in 0..k {
                for j in 0..per {
                    // cs231n's spiral: radius grows along the arm, 4 radians per arm.
                    let t = j as f64 / per.max(2).saturating_sub(1) as f64;
                    let angle =
                        class as f64 * TAU / k as f64 + t * 4.0 + noise * standard_normal(&mut rng);
                    push(t * angle.cos(), t * angle.sin(), class as f64);
                }
            }
            (
                "spiral",
                Task::Classification {
                    classes: k,
                    names: (0..k).map(|c| format!("arm {c}")).collect(),
                },
            )
        }
        DatasetSpec::Moons { samples, noise } => {
            for i in 0..samples {
                let upper = i % 2 == 0;
                let t = rng.random_range(0.0..PI);
                let (x, y) = if upper {
                    (t.cos(), t.sin())
                } else {
                    (1.0 - t.cos(), 0.5 - t.sin())
                };
                let (nx, ny) = (standard_normal(&mut rng), standard_normal(&mut rng));
                // Centred and scaled into about [-1, 1].
                push(
                    (x - 0.5) * 0.66 + noise * nx,
                    (y - 0.25) * 0.66 + noise * ny,
                    if upper { 0.0 } else { 1.0 },
                );
            }
            ("moons", binary())
        }
        DatasetSpec::Sine { samples, noise } => {
            let mut xs = Vec::with_capacity(samples);
            let mut ys = Vec::with_capacity(samples);
            for _ in 0..samples {
                let x: f64 = rng.random_range(-PI..PI);
                xs.push(x as f32);
                ys.push((x.sin() + noise * standard_normal(&mut rng)) as f32);
            }
            return Dataset {
                name: "noisy sine".into(),
                features: xs,
                feature_shape: vec![1],
                targets: ys,
                task: Task::Regression,
                image: None,
                labels_from: None,
            };
        }
        DatasetSpec::Digits | DatasetSpec::Csv { .. } | DatasetSpec::Idx { .. } => {
            ("not generated", Task::Regression)
        }
    };
    Dataset {
        name: name.into(),
        features,
        feature_shape: vec![2],
        targets,
        task,
        image: None,
        labels_from: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(d: &Dataset, class: f32) -> usize {
        d.targets.iter().filter(|&&t| t == class).count()
    }

    #[test]
    fn xor_labels_follow_the_quadrant_without_noise() {
        let d = generate(
            &DatasetSpec::Xor {
                samples: 200,
                noise: 0.0,
            },
            1,
        );
        assert_eq!(d.len(), 200);
        for i in 0..d.len() {
            let p = d.sample(i);
            assert_eq!(d.targets[i], if p[0] * p[1] > 0.0 { 1.0 } else { 0.0 });
        }
        assert!(count(&d, 1.0) > 60 && count(&d, 0.0) > 60);
    }

    #[test]
    fn circles_put_class_one_inside() {
        let d = generate(
            &DatasetSpec::Circles {
                samples: 100,
                noise: 0.0,
            },
            2,
        );
        for i in 0..d.len() {
            let p = d.sample(i);
            let r = (p[0] * p[0] + p[1] * p[1]).sqrt();
            assert_eq!(d.targets[i] == 1.0, r < 0.5, "sample {i} at radius {r}");
        }
    }

    #[test]
    fn spiral_has_one_arm_per_class_and_is_seeded() {
        let spec = DatasetSpec::Spiral {
            samples: 300,
            noise: 0.1,
            classes: 3,
        };
        let d = generate(&spec, 3);
        assert_eq!(d.len(), 300);
        assert_eq!(d.classes(), Some(3));
        assert_eq!(
            (count(&d, 0.0), count(&d, 1.0), count(&d, 2.0)),
            (100, 100, 100)
        );
        assert_eq!(d, generate(&spec, 3));
        assert_ne!(d.features, generate(&spec, 4).features);
    }

    #[test]
    fn sine_targets_are_sine_of_the_feature_without_noise() {
        let d = generate(
            &DatasetSpec::Sine {
                samples: 50,
                noise: 0.0,
            },
            0,
        );
        assert_eq!(d.feature_shape, vec![1]);
        for i in 0..d.len() {
            assert!((d.targets[i] - d.sample(i)[0].sin()).abs() < 1e-6);
        }
    }

    #[test]
    fn settings_past_the_budget_or_out_of_range_are_refused_before_allocating() {
        let mib = 1 << 20;
        let cases = [
            (
                DatasetSpec::Xor {
                    samples: 1_000_000_000,
                    noise: 0.1,
                },
                "the Xor dataset's `samples` is 1000000000: 1000000000 samples of 2 feature(s) \
                 need 26.1 GiB, but the memory budget is 2.0 GiB: use at most 76695844 samples \
                 (or raise NODEGRAD_MEMORY_MB)",
            ),
            (
                DatasetSpec::Sine {
                    samples: usize::MAX,
                    noise: 0.1,
                },
                "the Sine dataset's `samples` is 18446744073709551615: 18446744073709551615 \
                 samples of 1 feature(s) need more than 16 EiB, but the memory budget is 2.0 \
                 GiB: use at most 89478485 samples (or raise NODEGRAD_MEMORY_MB)",
            ),
            (
                DatasetSpec::Spiral {
                    samples: 300,
                    noise: 0.1,
                    classes: usize::MAX,
                },
                "the Spiral dataset's `classes` is 18446744073709551615: a spiral has 2 to 10000 \
                 arms",
            ),
            (
                DatasetSpec::Spiral {
                    samples: 3,
                    noise: 0.1,
                    classes: 5,
                },
                "the Spiral dataset's `classes` is 5, more arms than its 3 samples: every arm \
                 needs at least one sample",
            ),
            (
                DatasetSpec::Moons {
                    samples: 10,
                    noise: f64::INFINITY,
                },
                "the Moons dataset's `noise` is inf: use a finite number >= 0, such as 0.1",
            ),
        ];
        for (spec, want) in cases {
            assert_eq!(check(&spec, 2048 * mib).unwrap_err().to_string(), want);
        }
        assert_eq!(
            check(
                &DatasetSpec::Xor {
                    samples: 400,
                    noise: 0.1
                },
                mib
            ),
            Ok(())
        );
    }

    #[test]
    fn moons_and_gaussians_are_balanced_binary_sets() {
        for spec in [
            DatasetSpec::Moons {
                samples: 100,
                noise: 0.1,
            },
            DatasetSpec::Gaussians {
                samples: 100,
                noise: 0.1,
            },
        ] {
            let d = generate(&spec, 5);
            assert_eq!((count(&d, 0.0), count(&d, 1.0)), (50, 50), "{spec:?}");
            assert!(d.features.iter().all(|v| v.abs() < 3.0));
        }
    }
}
