//! `to_dtype` and `to_device`: conversion between element types and moves between devices.
//! Differentiable between float types and across devices; the gradient is converted back to the
//! input's dtype and moved back to the input's device.

use crate::autograd::Backward;
use crate::{DType, Device, Result, Tensor};

/// Backward of [`Tensor::to_device`]: the gradient moves back to the input's device.
struct ToDeviceBackward;

impl Backward for ToDeviceBackward {
    fn name(&self) -> &'static str {
        "to_device"
    }
    fn backward(
        &self,
        inputs: &[Tensor],
        _out: &Tensor,
        g: &Tensor,
    ) -> Result<Vec<Option<Tensor>>> {
        Ok(vec![Some(g.to_device(inputs[0].device())?)])
    }
}

struct CastBackward;

impl Backward for CastBackward {
    fn name(&self) -> &'static str {
        "to_dtype"
    }
    fn backward(
        &self,
        inputs: &[Tensor],
        _out: &Tensor,
        g: &Tensor,
    ) -> Result<Vec<Option<Tensor>>> {
        let x = &inputs[0];
        Ok(vec![x
            .dtype()
            .is_float()
            .then(|| g.to_dtype(x.dtype()))
            .transpose()?])
    }
}

impl Tensor {
    /// The tensor converted to `dtype` (a cheap clone when it already has it). Float to integer
    /// rounds toward zero, as in PyTorch.
    pub fn to_dtype(&self, dtype: DType) -> Result<Tensor> {
        if dtype == self.dtype() {
            return Ok(self.clone());
        }
        let s = self.storage().cast(self.layout(), dtype);
        let t = Tensor::from_op(s, self.shape().clone(), CastBackward, &[self]);
        // integer results carry no graph
        Ok(if dtype.is_float() { t } else { t.detach() })
    }

    /// The tensor on `device` (a cheap clone when it is already there), as PyTorch `to(device)`:
    /// a contiguous copy through host memory, differentiable (the gradient moves back).
    pub fn to_device(&self, device: Device) -> Result<Tensor> {
        if device == self.device() {
            return Ok(self.clone());
        }
        let s = self.storage().to_device(self.layout(), device);
        Ok(Tensor::from_op(
            s,
            self.shape().clone(),
            ToDeviceBackward,
            &[self],
        ))
    }

    /// The tensor as f32.
    pub fn to_f32(&self) -> Result<Tensor> {
        self.to_dtype(DType::F32)
    }
    /// The tensor as f64.
    pub fn to_f64(&self) -> Result<Tensor> {
        self.to_dtype(DType::F64)
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::{gradcheck_with, Tol};
    use crate::{DType, Tensor};

    #[test]
    fn casts_round_toward_zero_and_differentiate() {
        let x = Tensor::from_vec(vec![-1.7f32, 0.2, 2.9], [3]).unwrap();
        assert_eq!(
            x.to_dtype(DType::I64).unwrap().to_vec::<i64>().unwrap(),
            vec![-1, 0, 2]
        );
        assert_eq!(
            x.to_dtype(DType::U8).unwrap().to_vec::<u8>().unwrap(),
            vec![0, 0, 2]
        );
        let back = x
            .to_dtype(DType::F64)
            .unwrap()
            .to_dtype(DType::F32)
            .unwrap();
        assert_eq!(back.to_vec::<f32>().unwrap(), x.to_vec::<f32>().unwrap());
        // the round trip through f32 is the identity up to f32 rounding: a large step keeps the
        // finite difference above that rounding
        let tol = Tol {
            eps: 1e-2,
            atol: 1e-4,
            rtol: 1e-4,
        };
        gradcheck_with(
            "to_dtype",
            |t| t[0].to_dtype(DType::F32)?.to_dtype(DType::F64),
            &[x],
            tol,
        )
        .unwrap();
    }
}
