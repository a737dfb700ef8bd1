//! ONNX tensors (initializers, `Constant` values) as f64 arrays, with every size checked
//! before anything is allocated from it.

use onnx_ir::TensorProto;

use crate::graph::fmt_shape;

use super::limits::{MAX_RANK, MAX_TENSOR_ELEMENTS};

/// A constant tensor: its ONNX dims (batch axis included, if it has one) and values.
#[derive(Clone, Debug, PartialEq)]
pub struct Tensor {
    pub dims: Vec<usize>,
    pub data: Vec<f64>,
}

// TensorProto.DataType values (onnx.proto).
const FLOAT: i32 = 1;
const INT32: i32 = 6;
const INT64: i32 = 7;
const DOUBLE: i32 = 11;

fn type_name(t: i32) -> String {
    let name = match t {
        0 => "UNDEFINED",
        1 => "FLOAT",
        2 => "UINT8",
        3 => "INT8",
        4 => "UINT16",
        5 => "INT16",
        6 => "INT32",
        7 => "INT64",
        8 => "STRING",
        9 => "BOOL",
        10 => "FLOAT16",
        11 => "DOUBLE",
        12 => "UINT32",
        13 => "UINT64",
        16 => "BFLOAT16",
        _ => return format!("type {t}"),
    };
    name.to_string()
}

/// The element type's name for messages (`FLOAT`, `INT64`, ...).
pub fn elem_type_name(t: i32) -> String {
    type_name(t)
}

/// Dims as sizes, refusing negative ones, more than `MAX_RANK` axes, and more than
/// `MAX_TENSOR_ELEMENTS` elements (checked multiplication). Returns (dims, element count).
pub fn checked_dims(raw: &[i64], what: &str) -> Result<(Vec<usize>, usize), String> {
    if raw.len() > MAX_RANK {
        return Err(format!(
            "{what} has {} dimensions; the limit is {MAX_RANK}",
            raw.len()
        ));
    }
    let mut dims = Vec::with_capacity(raw.len());
    let mut count: usize = 1;
    for &d in raw {
        let d = usize::try_from(d)
            .map_err(|_| format!("{what} has a negative dimension {d} in {raw:?}"))?;
        dims.push(d);
        count = count
            .checked_mul(d)
            .filter(|&c| c <= MAX_TENSOR_ELEMENTS)
            .ok_or_else(|| {
                format!(
                    "{what} with dims {raw:?} has more than {MAX_TENSOR_ELEMENTS} elements, \
                     the most nodegrad imports per tensor"
                )
            })?;
    }
    Ok((dims, count))
}

/// Decodes a tensor (FLOAT, DOUBLE, INT32 or INT64; raw or typed data) into f64 values.
/// `what` names it in messages, e.g. `initializer 'fc1.weight'`.
pub fn decode(t: &TensorProto, what: &str) -> Result<Tensor, String> {
    let (dims, count) = checked_dims(&t.dims, what)?;
    if t.data_location.value() == 1 || !t.external_data.is_empty() {
        return Err(format!(
            "{what} keeps its data in an external file: nodegrad imports self-contained .onnx \
             files (save the model with all tensors inside it)"
        ));
    }
    let size = match t.data_type {
        FLOAT | INT32 => 4,
        INT64 | DOUBLE => 8,
        other => {
            return Err(format!(
                "{what} has element type {}: nodegrad reads FLOAT, DOUBLE, INT32 and INT64 tensors",
                type_name(other)
            ));
        }
    };
    let shown = fmt_shape(&dims);
    let data: Vec<f64> = if !t.raw_data.is_empty() {
        let need = count
            .checked_mul(size)
            .ok_or_else(|| format!("{what} is too large"))?;
        if t.raw_data.len() != need {
            return Err(format!(
                "{what} holds {} bytes of data but its dims {shown} need {need} ({count} \
                 values of {size} bytes): the file is damaged or was cut short",
                t.raw_data.len()
            ));
        }
        let chunks = t.raw_data.chunks_exact(size);
        match t.data_type {
            FLOAT => chunks
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]) as f64)
                .collect(),
            INT32 => chunks
                .map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]]) as f64)
                .collect(),
            INT64 => chunks
                .map(|c| {
                    i64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]) as f64
                })
                .collect(),
            _ => chunks
                .map(|c| f64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
                .collect(),
        }
    } else {
        let (len, values): (usize, Box<dyn Fn() -> Vec<f64>>) = match t.data_type {
            FLOAT => (
                t.float_data.len(),
                Box::new(|| t.float_data.iter().map(|&v| v as f64).collect()),
            ),
            INT32 => (
                t.int32_data.len(),
                Box::new(|| t.int32_data.iter().map(|&v| v as f64).collect()),
            ),
            INT64 => (
                t.int64_data.len(),
                Box::new(|| t.int64_data.iter().map(|&v| v as f64).collect()),
            ),
            _ => (t.double_data.len(), Box::new(|| t.double_data.clone())),
        };
        if len != count {
            return Err(format!(
                "{what} holds {len} values but its dims {shown} need {count}: the file is \
                 damaged or was cut short"
            ));
        }
        values()
    };
    if let Some(i) = data.iter().position(|v| !v.is_finite()) {
        return Err(format!(
            "{what} holds {} at index {i}: nodegrad imports finite numbers only",
            data[i]
        ));
    }
    Ok(Tensor { dims, data })
}

impl Tensor {
    pub fn len(&self) -> usize {
        self.data.len()
    }

    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// The values as integers (shapes, axes), refusing fractions.
    pub fn as_ints(&self, what: &str) -> Result<Vec<i64>, String> {
        self.data
            .iter()
            .map(|&v| {
                if v.fract() == 0.0 && v.abs() < 9.0e15 {
                    Ok(v as i64)
                } else {
                    Err(format!("{what} holds {v}, which is not a whole number"))
                }
            })
            .collect()
    }

    /// The single value of a one-element tensor.
    pub fn single(&self, what: &str) -> Result<f64, String> {
        match self.data.as_slice() {
            [v] => Ok(*v),
            _ => Err(format!(
                "{what} must be one number, got {} values (dims {})",
                self.data.len(),
                fmt_shape(&self.dims)
            )),
        }
    }

    /// The 2-D transpose of a [r, c] tensor.
    pub fn transposed(&self) -> Tensor {
        let (r, c) = (self.dims[0], self.dims[1]);
        let mut data = vec![0.0; self.data.len()];
        for i in 0..r {
            for j in 0..c {
                data[j * r + i] = self.data[i * c + j];
            }
        }
        Tensor {
            dims: vec![c, r],
            data,
        }
    }
}
