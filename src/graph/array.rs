//! A small host-side n-dimensional array of f64: the values the model stores (inputs,
//! constants, parameters) and the numbers evaluation hands back. No burn here.

use std::fmt;
use std::sync::Arc;

/// Per-sample shape: `[]` is a scalar, `[3]` a vector, `[2, 3]` a matrix. The batch
/// dimension is never part of it (see ARCHITECTURE.md, "batch dimension").
pub type Shape = Vec<usize>;

/// Row-major values with their shape. Invariant: `data.len() == numel(&shape)`.
///
/// The values are shared (`Arc`): cloning an array, a node or a whole graph (every undo
/// snapshot does) copies a pointer, and only the array that is changed gets its own copy
/// (`data_mut` copies on write).
#[derive(Clone, Debug)]
pub struct Array {
    shape: Shape,
    data: Arc<[f64]>,
}

impl PartialEq for Array {
    /// Same shape and values; shared data is equal without reading it.
    fn eq(&self, other: &Self) -> bool {
        self.shape == other.shape
            && (Arc::ptr_eq(&self.data, &other.data) || self.data == other.data)
    }
}

/// Number of elements of a shape (1 for a scalar). Saturates instead of overflowing, so a
/// hostile shape gives a huge number that the memory budget refuses.
pub fn numel(shape: &[usize]) -> usize {
    shape.iter().fold(1usize, |acc, &d| acc.saturating_mul(d))
}

impl Array {
    /// Builds an array; fails when the data does not fill the shape.
    pub fn new(shape: Shape, data: Vec<f64>) -> Result<Self, String> {
        if shape.contains(&0) {
            return Err(format!(
                "shape {} has a dimension of size 0: every dimension needs at least 1 value",
                fmt_shape(&shape)
            ));
        }
        let want = numel(&shape);
        if want != data.len() {
            return Err(format!(
                "shape {} needs {want} values, got {}",
                fmt_shape(&shape),
                data.len()
            ));
        }
        Ok(Self {
            shape,
            data: data.into(),
        })
    }

    pub fn scalar(v: f64) -> Self {
        Self {
            shape: vec![],
            data: Arc::new([v]),
        }
    }

    /// A vector `[n]`. An empty one has shape `[0]`: analysis refuses it like any other
    /// zero-size value.
    pub fn vector(v: Vec<f64>) -> Self {
        Self {
            shape: vec![v.len()],
            data: v.into(),
        }
    }

    pub fn filled(shape: Shape, v: f64) -> Self {
        let n = numel(&shape);
        Self {
            shape,
            data: vec![v; n].into(),
        }
    }

    pub fn zeros(shape: Shape) -> Self {
        Self::filled(shape, 0.0)
    }

    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    pub fn data(&self) -> &[f64] {
        &self.data
    }

    /// The values to change in place (copied first when another array shares them).
    pub fn data_mut(&mut self) -> &mut [f64] {
        Arc::make_mut(&mut self.data)
    }

    /// Whether two arrays share their values (an unchanged tensor in two undo snapshots).
    pub fn shares_data(&self, other: &Array) -> bool {
        Arc::ptr_eq(&self.data, &other.data)
    }

    pub fn len(&self) -> usize {
        self.data.len()
    }

    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// The single value of a scalar (or one-element) array.
    pub fn as_scalar(&self) -> Option<f64> {
        (self.data.len() == 1).then(|| self.data[0])
    }

    /// Element-wise sum of two arrays of the same shape (used to add gradient contributions).
    pub fn add_assign(&mut self, other: &Array) {
        debug_assert_eq!(self.shape, other.shape);
        for (a, b) in self.data_mut().iter_mut().zip(other.data.iter()) {
            *a += b;
        }
    }

    /// Parses `5`, `1,2,3` (a vector) — the `--set NAME=VALUE` syntax.
    pub fn parse_list(text: &str) -> Result<Self, String> {
        let parts: Vec<&str> = text.split(',').map(str::trim).collect();
        let mut values = Vec::with_capacity(parts.len());
        for p in &parts {
            let v: f64 = p
                .parse()
                .map_err(|_| format!("`{p}` is not a number (write 5, -0.5 or 1,2,3)"))?;
            values.push(v);
        }
        Ok(if values.len() == 1 && !text.contains(',') {
            Self::scalar(values[0])
        } else {
            Self::vector(values)
        })
    }

    pub fn min_mean_max(&self) -> (f64, f64, f64) {
        let mut min = f64::INFINITY;
        let mut max = f64::NEG_INFINITY;
        let mut sum = 0.0;
        for &v in self.data.iter() {
            min = min.min(v);
            max = max.max(v);
            sum += v;
        }
        (min, sum / self.data.len().max(1) as f64, max)
    }

    pub fn all_finite(&self) -> bool {
        self.data.iter().all(|v| v.is_finite())
    }
}

/// `[]`, `[3]`, `[2, 3]`.
pub fn fmt_shape(shape: &[usize]) -> String {
    let inner: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    format!("[{}]", inner.join(", "))
}

/// A number for people: whole numbers keep `.0`, others get 6 significant digits (so
/// 0.1 + 0.2 reads 0.3), tiny and huge ones use e-notation, and -0 reads 0.
pub fn fmt_number(v: f64) -> String {
    if !v.is_finite() {
        return format!("{v}");
    }
    let v = if v == 0.0 { 0.0 } else { v };
    if v == v.trunc() && v.abs() < 1e15 {
        return format!("{v:.1}");
    }
    let mag = v.abs().log10().floor() as i32;
    if !(-4..15).contains(&mag) {
        let s = format!("{v:.5e}");
        let (mantissa, exp) = s.split_once('e').unwrap_or((&s, "0"));
        let mantissa = mantissa.trim_end_matches('0').trim_end_matches('.');
        return format!("{mantissa}e{exp}");
    }
    let decimals = (5 - mag).max(1) as usize;
    let s = format!("{v:.decimals$}");
    let s = s.trim_end_matches('0');
    if s.ends_with('.') {
        format!("{s}0")
    } else {
        s.to_string()
    }
}

impl fmt::Display for Array {
    /// Scalars as a number, small tensors in full, large ones as a summary.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.shape.is_empty() {
            return write!(f, "{}", fmt_number(self.data[0]));
        }
        if self.data.len() <= 16 {
            let items: Vec<String> = self.data.iter().map(|v| fmt_number(*v)).collect();
            if self.shape.len() == 1 {
                return write!(f, "[{}]", items.join(", "));
            }
            return write!(f, "{} [{}]", fmt_shape(&self.shape), items.join(", "));
        }
        let (min, mean, max) = self.min_mean_max();
        write!(
            f,
            "{} min {} mean {} max {}",
            fmt_shape(&self.shape),
            fmt_number(min),
            fmt_number(mean),
            fmt_number(max)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clones_share_values_until_one_is_changed() {
        let a = Array::new(vec![2, 2], vec![1.0, 2.0, 3.0, 4.0]).unwrap();
        let mut b = a.clone();
        assert!(a.shares_data(&b));
        b.data_mut()[0] = 9.0;
        assert!(!a.shares_data(&b));
        assert_eq!(a.data(), &[1.0, 2.0, 3.0, 4.0]);
        assert_eq!(b.data(), &[9.0, 2.0, 3.0, 4.0]);
    }

    #[test]
    fn new_checks_size() {
        assert!(Array::new(vec![2, 2], vec![1.0; 3]).is_err());
        assert_eq!(Array::new(vec![2], vec![1.0, 2.0]).unwrap().len(), 2);
    }

    #[test]
    fn parse_list_cases() {
        assert_eq!(Array::parse_list("5").unwrap(), Array::scalar(5.0));
        assert_eq!(
            Array::parse_list("1, 2,3").unwrap(),
            Array::vector(vec![1.0, 2.0, 3.0])
        );
        assert_eq!(Array::parse_list("7,").is_err(), true);
        assert!(Array::parse_list("x").unwrap_err().contains("`x`"));
    }

    #[test]
    fn numel_saturates() {
        assert_eq!(numel(&[]), 1);
        assert_eq!(numel(&[usize::MAX, 4]), usize::MAX);
    }

    #[test]
    fn numbers_for_people() {
        assert_eq!(fmt_number(0.1 + 0.2), "0.3");
        assert_eq!(fmt_number(-0.0), "0.0");
        assert_eq!(fmt_number(2.6669696384025263), "2.66697");
        assert_eq!(fmt_number(0.00939852434142345), "0.00939852");
        assert_eq!(fmt_number(-1.0 / 3.0), "-0.333333");
        assert_eq!(fmt_number(6.125), "6.125");
        assert_eq!(fmt_number(1.5e-7), "1.5e-7");
        assert_eq!(fmt_number(f64::NAN), "NaN");
    }

    #[test]
    fn display() {
        assert_eq!(Array::scalar(33.0).to_string(), "33.0");
        assert_eq!(Array::vector(vec![1.0, 0.5]).to_string(), "[1.0, 0.5]");
        assert_eq!(
            Array::zeros(vec![20]).to_string(),
            "[20] min 0.0 mean 0.0 max 0.0"
        );
    }
}
