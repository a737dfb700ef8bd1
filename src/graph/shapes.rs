//! Shape rules shared by several ops (NumPy broadcasting, matmul, reshape, concat). The
//! per-op rule itself lives with the op in `ops.rs`.

use super::array::{Shape, fmt_shape, numel};

pub fn resolve_axis(axis: i64, rank: usize) -> Result<usize, String> {
    let r = rank as i64;
    let k = if axis < 0 { axis + r } else { axis };
    if k < 0 || k >= r {
        return Err(format!(
            "axis {axis} is out of range for an input with {rank} dimension(s)"
        ));
    }
    Ok(k as usize)
}

/// NumPy broadcasting, right-aligned.
pub fn broadcast(a: &[usize], b: &[usize]) -> Result<Shape, String> {
    let r = a.len().max(b.len());
    let mut out = vec![0; r];
    for i in 0..r {
        let da = if i + a.len() >= r {
            a[i + a.len() - r]
        } else {
            1
        };
        let db = if i + b.len() >= r {
            b[i + b.len() - r]
        } else {
            1
        };
        out[i] = match (da, db) {
            (x, y) if x == y => x,
            (1, y) => y,
            (x, 1) => x,
            _ => {
                return Err(format!(
                    "shapes {} and {} do not fit together element-wise: sizes must match or be 1",
                    fmt_shape(a),
                    fmt_shape(b)
                ));
            }
        };
    }
    Ok(out)
}

pub fn matmul_shape(a: &[usize], b: &[usize]) -> Result<Shape, String> {
    if a.is_empty() || b.is_empty() {
        return Err("MatMul needs vectors or matrices: use Mul to multiply by a scalar".into());
    }
    let inner_a = a[a.len() - 1];
    let inner_b = if b.len() == 1 { b[0] } else { b[b.len() - 2] };
    if inner_a != inner_b {
        return Err(format!(
            "inner sizes differ: {} x {} needs {} = {}",
            fmt_shape(a),
            fmt_shape(b),
            inner_a,
            inner_b
        ));
    }
    let lead_a = if a.len() > 2 {
        &a[..a.len() - 2]
    } else {
        &[][..]
    };
    let lead_b = if b.len() > 2 {
        &b[..b.len() - 2]
    } else {
        &[][..]
    };
    let mut out = broadcast(lead_a, lead_b)?;
    if a.len() >= 2 {
        out.push(a[a.len() - 2]);
    }
    if b.len() >= 2 {
        out.push(b[b.len() - 1]);
    }
    Ok(out)
}

pub fn reshape_shape(input: &[usize], target: &[i64]) -> Result<Shape, String> {
    let n = numel(input);
    let free: Vec<usize> = (0..target.len()).filter(|&i| target[i] == -1).collect();
    if free.len() > 1 {
        return Err("at most one dimension may be -1".into());
    }
    if let Some(bad) = target.iter().find(|&&d| d < -1 || d == 0) {
        return Err(format!(
            "dimension {bad} is not allowed: use sizes >= 1, or -1 once"
        ));
    }
    let known = target
        .iter()
        .filter(|&&d| d > 0)
        .fold(1usize, |acc, &d| acc.saturating_mul(d as usize));
    let mut out: Shape = target.iter().map(|&d| d.max(0) as usize).collect();
    if let Some(&i) = free.first() {
        if known == 0 || n % known != 0 {
            return Err(format!("cannot reshape {n} values into {target:?}"));
        }
        out[i] = n / known;
    } else if known != n {
        return Err(format!(
            "cannot reshape {} ({n} values) into {} ({known} values)",
            fmt_shape(input),
            fmt_shape(&out)
        ));
    }
    Ok(out)
}

pub fn concat_shape(inputs: &[&[usize]], axis: i64) -> Result<Shape, String> {
    if inputs.is_empty() {
        return Err("has no inputs: give it at least one".into());
    }
    if inputs.iter().all(|s| s.is_empty()) {
        return Ok(vec![inputs.len()]);
    }
    let first = inputs[0];
    let k = resolve_axis(axis, first.len())?;
    let mut out = first.to_vec();
    out[k] = 0;
    for s in inputs {
        if s.len() != first.len() || (0..s.len()).any(|i| i != k && s[i] != first[i]) {
            return Err(format!(
                "inputs {} and {} differ outside axis {axis}",
                fmt_shape(first),
                fmt_shape(s)
            ));
        }
        out[k] += s[k];
    }
    Ok(out)
}
