//! Tensor creation: constant fills, ranges and the identity matrix.

use crate::{DType, Device, Error, Result, Shape, Storage, Tensor};

impl Tensor {
    /// A tensor on the default device (the CPU) filled with `value` (converted to `dtype`), as
    /// `torch.full`.
    pub fn full(shape: impl Into<Shape>, value: f64, dtype: DType) -> Result<Tensor> {
        Self::full_on(shape, value, dtype, Device::default())
    }
    /// A tensor on `device` filled with `value` (converted to `dtype`).
    pub fn full_on(
        shape: impl Into<Shape>,
        value: f64,
        dtype: DType,
        device: Device,
    ) -> Result<Tensor> {
        let shape = shape.into();
        let s = Storage::full(device, dtype, shape.elem_count(), value);
        Ok(Tensor::from_storage(s, shape))
    }
    /// A tensor of zeros on the default device (the CPU).
    pub fn zeros(shape: impl Into<Shape>, dtype: DType) -> Result<Tensor> {
        Self::full(shape, 0.0, dtype)
    }
    /// A tensor of zeros on `device`.
    pub fn zeros_on(shape: impl Into<Shape>, dtype: DType, device: Device) -> Result<Tensor> {
        Self::full_on(shape, 0.0, dtype, device)
    }
    /// A tensor of ones on the default device (the CPU).
    pub fn ones(shape: impl Into<Shape>, dtype: DType) -> Result<Tensor> {
        Self::full(shape, 1.0, dtype)
    }
    /// A tensor of ones on `device`.
    pub fn ones_on(shape: impl Into<Shape>, dtype: DType, device: Device) -> Result<Tensor> {
        Self::full_on(shape, 1.0, dtype, device)
    }
    /// Zeros with this tensor's shape, dtype and device.
    pub fn zeros_like(&self) -> Result<Tensor> {
        self.full_like(0.0)
    }
    /// Ones with this tensor's shape, dtype and device.
    pub fn ones_like(&self) -> Result<Tensor> {
        self.full_like(1.0)
    }
    /// `value` with this tensor's shape, dtype and device.
    pub fn full_like(&self, value: f64) -> Result<Tensor> {
        Self::full_on(self.shape().clone(), value, self.dtype(), self.device())
    }

    /// `start, start + step, ...` up to but excluding `end`, as `torch.arange`.
    pub fn arange(start: f64, end: f64, step: f64, dtype: DType) -> Result<Tensor> {
        if step == 0.0 || !step.is_finite() || !start.is_finite() || !end.is_finite() {
            return Err(Error::invalid(
                "arange",
                format!("bad range {start}..{end} step {step}"),
            ));
        }
        if (end - start) * step < 0.0 {
            return Err(Error::invalid(
                "arange",
                format!("step {step} has the wrong sign for {start}..{end}"),
            ));
        }
        let n = ((end - start) / step).ceil().max(0.0) as usize;
        let v: Vec<f64> = (0..n).map(|i| start + i as f64 * step).collect();
        Tensor::from_vec(v, [n])?.to_dtype(dtype)
    }

    /// `steps` evenly spaced values from `start` to `end` inclusive, as `torch.linspace`.
    pub fn linspace(start: f64, end: f64, steps: usize, dtype: DType) -> Result<Tensor> {
        let v: Vec<f64> = match steps {
            0 => vec![],
            1 => vec![start],
            _ => {
                let step = (end - start) / (steps - 1) as f64;
                // symmetric evaluation (from both ends) as PyTorch does, so the end is exact
                (0..steps)
                    .map(|i| {
                        if i < steps / 2 {
                            start + step * i as f64
                        } else {
                            end - step * (steps - 1 - i) as f64
                        }
                    })
                    .collect()
            }
        };
        Tensor::from_vec(v, [steps])?.to_dtype(dtype)
    }

    /// The `n x n` identity matrix.
    pub fn eye(n: usize, dtype: DType) -> Result<Tensor> {
        let mut v = vec![0.0; n * n];
        for i in 0..n {
            v[i * n + i] = 1.0;
        }
        Tensor::from_vec(v, [n, n])?.to_dtype(dtype)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_match_pytorch() {
        let a = Tensor::arange(0.0, 1.0, 0.25, DType::F32).unwrap();
        assert_eq!(a.to_vec::<f32>().unwrap(), vec![0.0, 0.25, 0.5, 0.75]);
        let a = Tensor::arange(5.0, 0.0, -2.0, DType::I64).unwrap();
        assert_eq!(a.to_vec::<i64>().unwrap(), vec![5, 3, 1]);
        assert!(Tensor::arange(0.0, 1.0, -1.0, DType::F32).is_err());
        assert!(Tensor::arange(0.0, 1.0, 0.0, DType::F32).is_err());
        let l = Tensor::linspace(-1.0, 1.0, 5, DType::F64).unwrap();
        assert_eq!(l.to_vec::<f64>().unwrap(), vec![-1.0, -0.5, 0.0, 0.5, 1.0]);
        let e = Tensor::eye(3, DType::F32).unwrap();
        assert_eq!(
            e.to_vec::<f32>().unwrap(),
            vec![1., 0., 0., 0., 1., 0., 0., 0., 1.]
        );
        let f = Tensor::full([2, 2], 7.0, DType::I64).unwrap();
        assert_eq!(f.to_vec::<i64>().unwrap(), vec![7; 4]);
    }
}
