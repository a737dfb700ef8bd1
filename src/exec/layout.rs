//! How per-sample values of any rank (0..=3) live in burn tensors of one fixed rank.
//!
//! Every value is a `Tensor<4>` laid out `[batch, 1.., d1, .., dr]`: the batch first, the
//! per-sample dimensions right-aligned, ones in between. Right alignment makes burn's
//! broadcasting agree with NumPy's on the per-sample shapes; a batch of 1 (parameters,
//! constants) broadcasts against any batch.

use burn::tensor::{DType, Device, Tensor, TensorData};

use crate::graph::Array;

pub const RANK: usize = 4;

/// Physical dims for a per-sample shape (rank <= 3, guaranteed by analysis).
pub fn phys(batch: usize, shape: &[usize]) -> [usize; RANK] {
    let mut d = [1; RANK];
    d[0] = batch;
    let r = shape.len().min(RANK - 1);
    d[RANK - r..].copy_from_slice(&shape[shape.len() - r..]);
    d
}

/// The axis of `t` holding per-sample axis `k` of a rank-`r` value.
pub fn axis(r: usize, k: usize) -> usize {
    RANK - r + k
}

/// Reshapes any result back to the canonical layout of its per-sample shape.
pub fn canon(t: Tensor<RANK>, shape: &[usize]) -> Tensor<RANK> {
    let batch = t.dims()[0];
    let want = phys(batch, shape);
    if t.dims() == want { t } else { t.reshape(want) }
}

/// Uploads an array as a batch of one; a rank-4 array (a Conv2d kernel [F, C, K, K]) keeps
/// its own dimensions.
pub fn upload(a: &Array, device: &Device, dtype: DType) -> Tensor<RANK> {
    let dims = if a.shape().len() == RANK {
        a.shape().to_vec()
    } else {
        phys(1, a.shape()).to_vec()
    };
    let data = TensorData::new(a.data().to_vec(), dims).convert_dtype(dtype);
    Tensor::from_data(data, (device, dtype))
}

/// Collects tensors to read back and reads them all in one transfer.
#[derive(Default)]
pub struct Readback {
    parts: Vec<Tensor<1>>,
    sizes: Vec<usize>,
}

impl Readback {
    /// Queues a tensor; returns its slot in `fetch`'s result.
    pub fn push(&mut self, t: Tensor<RANK>) -> usize {
        let n: usize = t.dims().iter().product();
        self.parts.push(t.without_autodiff().reshape([n]));
        self.sizes.push(n);
        self.sizes.len() - 1
    }

    /// Every queued tensor's values, row-major, as f64.
    pub fn fetch(self) -> Result<Vec<Vec<f64>>, String> {
        if self.parts.is_empty() {
            return Ok(Vec::new());
        }
        let all = Tensor::cat(self.parts, 0)
            .into_data()
            .convert::<f64>()
            .try_into_vec::<f64>()
            .map_err(|e| format!("cannot read results back from the device: {e:?}"))?;
        let mut out = Vec::with_capacity(self.sizes.len());
        let mut at = 0;
        for n in self.sizes {
            out.push(all[at..at + n].to_vec());
            at += n;
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phys_right_aligns() {
        assert_eq!(phys(1, &[]), [1, 1, 1, 1]);
        assert_eq!(phys(8, &[3]), [8, 1, 1, 3]);
        assert_eq!(phys(2, &[4, 5]), [2, 1, 4, 5]);
        assert_eq!(phys(2, &[3, 4, 5]), [2, 3, 4, 5]);
        assert_eq!(axis(1, 0), 3);
        assert_eq!(axis(3, 0), 1);
    }
}
