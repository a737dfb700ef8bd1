//! What the dashboard draws, computed from plain numbers (no burn): histograms, the
//! decision-boundary grid, the confusion matrix, and the clock that keeps snapshots cheap.

use std::time::{Duration, Instant};

/// Counts of values in equal-width bins over [min, max]; non-finite values apart.
#[derive(Clone, Debug, PartialEq)]
pub struct Histogram {
    pub min: f64,
    pub max: f64,
    pub counts: Vec<u32>,
    pub non_finite: u32,
}

impl Histogram {
    /// `bins` equal bins from the smallest to the largest finite value (a constant input
    /// gets a bin of width 1 around it). The largest value falls in the last bin.
    pub fn of(values: &[f64], bins: usize) -> Self {
        let bins = bins.max(1);
        let finite = values.iter().filter(|v| v.is_finite());
        let (mut min, mut max) = finite.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| {
            (a.min(v), b.max(v))
        });
        let non_finite = values.iter().filter(|v| !v.is_finite()).count() as u32;
        if min > max {
            return Self {
                min: 0.0,
                max: 1.0,
                counts: vec![0; bins],
                non_finite,
            };
        }
        if min == max {
            min -= 0.5;
            max += 0.5;
        }
        let width = (max - min) / bins as f64;
        let mut counts = vec![0u32; bins];
        for &v in values.iter().filter(|v| v.is_finite()) {
            let b = (((v - min) / width) as usize).min(bins - 1);
            counts[b] += 1;
        }
        Self {
            min,
            max,
            counts,
            non_finite,
        }
    }

    pub fn bin_width(&self) -> f64 {
        (self.max - self.min) / self.counts.len().max(1) as f64
    }

    pub fn total(&self) -> u32 {
        self.counts.iter().sum()
    }

    /// The share of values in the outer bins: near 1 for a saturated sigmoid or tanh.
    pub fn edge_share(&self) -> f64 {
        let n = self.counts.len();
        if n < 3 || self.total() == 0 {
            return 0.0;
        }
        (self.counts[0] + self.counts[n - 1]) as f64 / self.total() as f64
    }
}

/// A square grid over the input plane, row by row from the bottom (y0) up.
#[derive(Clone, Debug, PartialEq)]
pub struct Grid {
    pub x: (f64, f64),
    pub y: (f64, f64),
    pub n: usize,
}

impl Grid {
    /// Around 2-D points (`xy` interleaved) with a 10% margin.
    pub fn around(xy: &[f32], n: usize) -> Self {
        let mut b = [
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::INFINITY,
            f64::NEG_INFINITY,
        ];
        for p in xy.chunks_exact(2) {
            b[0] = b[0].min(p[0] as f64);
            b[1] = b[1].max(p[0] as f64);
            b[2] = b[2].min(p[1] as f64);
            b[3] = b[3].max(p[1] as f64);
        }
        if !(b[0] <= b[1] && b[2] <= b[3]) {
            b = [-1.0, 1.0, -1.0, 1.0];
        }
        let pad = |lo: f64, hi: f64| {
            let m = ((hi - lo) * 0.1).max(0.1);
            (lo - m, hi + m)
        };
        Self {
            x: pad(b[0], b[1]),
            y: pad(b[2], b[3]),
            n: n.max(2),
        }
    }

    /// The centre of cell (i, j): column i, row j.
    pub fn center(&self, i: usize, j: usize) -> (f64, f64) {
        let w = (self.x.1 - self.x.0) / self.n as f64;
        let h = (self.y.1 - self.y.0) / self.n as f64;
        (
            self.x.0 + (i as f64 + 0.5) * w,
            self.y.0 + (j as f64 + 0.5) * h,
        )
    }

    /// Every cell centre, row by row, as interleaved f32 features.
    pub fn points(&self) -> Vec<f32> {
        let mut out = Vec::with_capacity(self.n * self.n * 2);
        for j in 0..self.n {
            for i in 0..self.n {
                let (x, y) = self.center(i, j);
                out.push(x as f32);
                out.push(y as f32);
            }
        }
        out
    }
}

/// The model's answer on every grid cell: the predicted class and how sure it is.
#[derive(Clone, Debug, PartialEq)]
pub struct Boundary {
    pub grid: Grid,
    /// Row by row, like `Grid::points`.
    pub class: Vec<u8>,
    /// The probability of the predicted class (0.5..1 for two classes).
    pub confidence: Vec<f32>,
}

impl Boundary {
    /// From predictions of `pred_len` values per cell: one value is a probability of class
    /// 1; several are scores (logits or probabilities) whose argmax is the class.
    pub fn from_predictions(grid: Grid, pred: &[f64], pred_len: usize) -> Self {
        let cells = grid.n * grid.n;
        let mut class = Vec::with_capacity(cells);
        let mut confidence = Vec::with_capacity(cells);
        for c in 0..cells {
            let p = &pred[c * pred_len..(c + 1) * pred_len];
            if pred_len == 1 {
                let v = p[0].clamp(0.0, 1.0);
                class.push(u8::from(v > 0.5));
                confidence.push(v.max(1.0 - v) as f32);
            } else {
                let (k, _) =
                    p.iter()
                        .enumerate()
                        .fold((0, f64::NEG_INFINITY), |(bk, bv), (k, &v)| {
                            if v > bv { (k, v) } else { (bk, bv) }
                        });
                // Softmax of the scores, so logits and probabilities read alike.
                let m = p[k];
                let z: f64 = p.iter().map(|v| (v - m).exp()).sum();
                class.push(k.min(255) as u8);
                confidence.push((1.0 / z) as f32);
            }
        }
        Self {
            grid,
            class,
            confidence,
        }
    }
}

/// Counts of (true class, predicted class).
#[derive(Clone, Debug, PartialEq)]
pub struct Confusion {
    pub classes: usize,
    /// Row-major: `counts[truth * classes + predicted]`.
    pub counts: Vec<u32>,
    /// Which rows were scored ("validation" or "training").
    pub on: &'static str,
    /// Misclassified dataset rows with their predicted class (at most 32).
    pub wrong: Vec<(usize, usize)>,
}

impl Confusion {
    pub fn new(classes: usize, on: &'static str) -> Self {
        Self {
            classes,
            counts: vec![0; classes * classes],
            on,
            wrong: Vec::new(),
        }
    }

    pub fn add(&mut self, row: usize, truth: usize, predicted: usize) {
        if truth < self.classes && predicted < self.classes {
            self.counts[truth * self.classes + predicted] += 1;
        }
        if truth != predicted && self.wrong.len() < 32 {
            self.wrong.push((row, predicted));
        }
    }

    pub fn get(&self, truth: usize, predicted: usize) -> u32 {
        self.counts[truth * self.classes + predicted]
    }

    pub fn accuracy(&self) -> f64 {
        let right: u32 = (0..self.classes).map(|c| self.get(c, c)).sum();
        right as f64 / self.counts.iter().sum::<u32>().max(1) as f64
    }
}

/// The predicted class from `pred_len` values (a probability, or scores).
pub fn predicted_class(p: &[f64]) -> usize {
    if p.len() == 1 {
        return usize::from(p[0] > 0.5);
    }
    let mut best = 0;
    for (i, v) in p.iter().enumerate() {
        if *v > p[best] {
            best = i;
        }
    }
    best
}

/// Decides when the next dashboard snapshot is due, so that snapshots cost at most
/// `share` of the time (and come at most every `min_gap`).
#[derive(Clone, Debug)]
pub struct SnapshotClock {
    share: f64,
    min_gap: Duration,
    next: Option<Instant>,
}

impl SnapshotClock {
    pub fn new(share: f64, min_gap: Duration) -> Self {
        Self {
            share: share.clamp(0.001, 1.0),
            min_gap,
            next: None,
        }
    }

    pub fn due(&self, now: Instant) -> bool {
        self.next.is_none_or(|t| now >= t)
    }

    /// Records that a snapshot took `cost`, ending at `now`.
    pub fn took(&mut self, cost: Duration, now: Instant) {
        let gap = cost.mul_f64(1.0 / self.share).max(self.min_gap);
        self.next = Some(now + gap);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_counts_values_into_equal_bins() {
        let h = Histogram::of(&[0.0, 0.1, 0.5, 0.9, 1.0, f64::NAN], 4);
        assert_eq!((h.min, h.max), (0.0, 1.0));
        assert_eq!(h.counts, vec![2, 0, 1, 2], "1.0 goes into the last bin");
        assert_eq!(h.non_finite, 1);
        assert_eq!(h.total(), 5);
        assert_eq!(h.bin_width(), 0.25);
        let c = Histogram::of(&[3.0, 3.0], 3);
        assert_eq!((c.min, c.max), (2.5, 3.5));
        assert_eq!(c.counts, vec![0, 2, 0]);
        assert_eq!(Histogram::of(&[], 2).counts, vec![0, 0]);
    }

    #[test]
    fn a_saturated_layer_has_its_values_at_the_edges() {
        let saturated: Vec<f64> = (0..100)
            .map(|i| if i % 2 == 0 { 0.001 } else { 0.999 })
            .collect();
        assert_eq!(Histogram::of(&saturated, 10).edge_share(), 1.0);
        let spread: Vec<f64> = (0..100).map(|i| i as f64 / 99.0).collect();
        assert!((Histogram::of(&spread, 10).edge_share() - 0.2).abs() < 1e-9);
    }

    #[test]
    fn grid_cells_cover_the_points_with_a_margin() {
        let g = Grid::around(&[0.0, 0.0, 1.0, 2.0], 4);
        assert_eq!(g.x, (-0.1, 1.1));
        assert!((g.y.0 + 0.2).abs() < 1e-9 && (g.y.1 - 2.2).abs() < 1e-9);
        let p = g.points();
        assert_eq!(p.len(), 32);
        let (x, y) = g.center(0, 0);
        assert!((x - (-0.1 + 0.15)).abs() < 1e-9 && (y - (-0.2 + 0.3)).abs() < 1e-9);
        // Row by row from the bottom: the second point is one column to the right.
        assert!((p[2] as f64 - g.center(1, 0).0).abs() < 1e-6);
        assert!((p[9] as f64 - g.center(0, 1).1).abs() < 1e-6);
    }

    #[test]
    fn boundary_classes_and_confidence_from_probabilities_and_scores() {
        let g = Grid {
            x: (0.0, 1.0),
            y: (0.0, 1.0),
            n: 2,
        };
        let b = Boundary::from_predictions(g.clone(), &[0.9, 0.2, 0.5, 0.6], 1);
        assert_eq!(b.class, vec![1, 0, 0, 1]);
        assert_eq!(b.confidence, vec![0.9, 0.8, 0.5, 0.6]);
        let scores = [0.0, 0.0, 2.0, 5.0, 0.0, 0.0, 1.0, 1.0, 1.0, 0.0, 3.0, 0.0];
        let b = Boundary::from_predictions(g, &scores, 3);
        assert_eq!(b.class, vec![2, 0, 0, 1]);
        let e2 = 2f64.exp();
        assert!((b.confidence[0] as f64 - e2 / (2.0 + e2)).abs() < 1e-6);
        assert!((b.confidence[2] as f64 - 1.0 / 3.0).abs() < 1e-6);
    }

    #[test]
    fn confusion_counts_truth_against_prediction() {
        let mut c = Confusion::new(3, "validation");
        for (row, (t, p)) in [(0, 0), (0, 1), (1, 1), (2, 2), (2, 0)]
            .into_iter()
            .enumerate()
        {
            c.add(row, t, p);
        }
        assert_eq!(c.get(0, 0), 1);
        assert_eq!(c.get(0, 1), 1);
        assert_eq!(c.get(2, 0), 1);
        assert_eq!(c.wrong, vec![(1, 1), (4, 0)]);
        assert!((c.accuracy() - 0.6).abs() < 1e-12);
        assert_eq!(predicted_class(&[0.7]), 1);
        assert_eq!(predicted_class(&[0.1, 3.0, 2.0]), 1);
    }

    #[test]
    fn the_snapshot_clock_keeps_snapshots_to_their_share() {
        let t0 = Instant::now();
        let mut c = SnapshotClock::new(0.05, Duration::from_millis(100));
        assert!(c.due(t0));
        c.took(Duration::from_millis(20), t0);
        // 20 ms at a 5% share: the next one 400 ms later.
        assert!(!c.due(t0 + Duration::from_millis(399)));
        assert!(c.due(t0 + Duration::from_millis(400)));
        c.took(Duration::from_millis(1), t0);
        assert!(
            c.due(t0 + Duration::from_millis(100)),
            "at least the minimum gap"
        );
        assert!(!c.due(t0 + Duration::from_millis(99)));
    }
}
