//! The fully connected layer (`torch.nn.Linear`).

use super::in_module;
use crate::onnx::{param_name, Attr, OnnxGraph, OnnxValue};
use crate::{functional, Init, Module, ParamBuilder};
use deepnet_tensor::{Error, Result, Tensor};

/// `y = x @ W^T + b`, as `torch.nn.Linear`.
///
/// Parameters: `weight: (out_features, in_features)` initialized uniform in
/// `±1/sqrt(in_features)` (PyTorch's `kaiming_uniform_(a=sqrt(5))`), and, with `bias`,
/// `bias: (out_features,)` uniform in `±1/sqrt(in_features)`.
///
/// Shapes: `x: (*, in_features)` -> `(*, out_features)`.
pub struct Linear {
    weight: Tensor,
    bias: Option<Tensor>,
    in_features: usize,
    out_features: usize,
    path: String,
}

impl Linear {
    /// A new layer registering `weight` (and `bias`) under `pb`'s path, with PyTorch's default
    /// initialization.
    pub fn new(
        in_features: usize,
        out_features: usize,
        bias: bool,
        pb: &ParamBuilder,
    ) -> Result<Linear> {
        let bound = 1.0 / (in_features.max(1) as f64).sqrt();
        let bias_init = Init::Uniform {
            low: -bound,
            high: bound,
        };
        Self::with_init(
            in_features,
            out_features,
            bias,
            Init::TORCH_DEFAULT_WEIGHT,
            bias_init,
            pb,
        )
    }

    /// A new layer with explicit weight and bias initializations (e.g. Kaiming-normal weights
    /// and zero biases for a deep ReLU network).
    pub fn with_init(
        in_features: usize,
        out_features: usize,
        bias: bool,
        weight_init: Init,
        bias_init: Init,
        pb: &ParamBuilder,
    ) -> Result<Linear> {
        if in_features == 0 {
            return Err(in_module(
                Error::msg("linear: in_features must be at least 1"),
                pb.path(),
            ));
        }
        let weight = pb.param("weight", [out_features, in_features], weight_init)?;
        let bias = if bias {
            Some(pb.param("bias", [out_features], bias_init)?)
        } else {
            None
        };
        Ok(Linear {
            weight,
            bias,
            in_features,
            out_features,
            path: pb.path().to_string(),
        })
    }

    /// The weight, `(out_features, in_features)`.
    pub fn weight(&self) -> &Tensor {
        &self.weight
    }

    /// The bias, `(out_features,)`, if the layer has one.
    pub fn bias(&self) -> Option<&Tensor> {
        self.bias.as_ref()
    }

    /// The size of each input sample.
    pub fn in_features(&self) -> usize {
        self.in_features
    }

    /// The size of each output sample.
    pub fn out_features(&self) -> usize {
        self.out_features
    }
}

impl Module for Linear {
    /// `x: (*, in_features)` -> `(*, out_features)`.
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        functional::linear(x, &self.weight, self.bias.as_ref())
            .map_err(|e| in_module(e, &self.path))
    }

    fn describe(&self) -> String {
        format!(
            "Linear(in_features={}, out_features={}, bias={})",
            self.in_features,
            self.out_features,
            if self.bias.is_some() { "True" } else { "False" }
        )
    }

    /// `Gemm(x, W, b, transB=1)` on `x: (N, in_features)`.
    fn to_onnx(&self, g: &mut OnnxGraph, x: &OnnxValue) -> Result<OnnxValue> {
        let y = self.forward(&x.example)?;
        if x.example.rank() != 2 {
            return Err(in_module(
                crate::onnx::unsupported(
                    &self.describe(),
                    &format!(
                        "exported as Gemm, which takes (N, in_features), not {:?}",
                        x.example.dims()
                    ),
                ),
                &self.path,
            ));
        }
        let w = g.weight(&param_name(&self.path, "weight"), &self.weight)?;
        let mut inputs = vec![x.name.clone(), w];
        if let Some(b) = &self.bias {
            inputs.push(g.weight(&param_name(&self.path, "bias"), b)?);
        }
        let inputs: Vec<&str> = inputs.iter().map(String::as_str).collect();
        Ok(g.node("Gemm", &inputs, &[Attr::Int("transB", 1)], y))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ParamStore;
    use deepnet_tensor::testing::{gradcheck, seeded};
    use deepnet_tensor::DType;

    #[test]
    fn parameters_names_shapes_and_init_bounds() {
        let store = ParamStore::new(0);
        let l = Linear::new(400, 30, true, &store.root().push("fc")).unwrap();
        assert_eq!(store.keys(), vec!["fc.weight", "fc.bias"]);
        assert_eq!(l.weight().dims(), [30, 400]);
        assert_eq!(l.bias().unwrap().dims(), [30]);
        assert_eq!(store.num_params(), 400 * 30 + 30);
        // both uniform in ±1/sqrt(400) = ±0.05
        for t in [l.weight(), l.bias().unwrap()] {
            let max = t.to_vec_f64().iter().fold(0f64, |m, v| m.max(v.abs()));
            assert!(max <= 0.05, "{max}");
        }
        let wmax = l
            .weight()
            .to_vec_f64()
            .iter()
            .fold(0f64, |m, v| m.max(v.abs()));
        assert!(wmax > 0.049, "{wmax}");
        assert_eq!(
            l.describe(),
            "Linear(in_features=400, out_features=30, bias=True)"
        );
        let nb = Linear::new(3, 2, false, &store.root().push("nb")).unwrap();
        assert!(nb.bias().is_none());
        assert_eq!(
            nb.describe(),
            "Linear(in_features=3, out_features=2, bias=False)"
        );
        assert_eq!(store.num_params(), 400 * 30 + 30 + 6);
        assert!(Linear::new(0, 2, true, &store.root().push("zero")).is_err());
    }

    #[test]
    fn forward_uses_the_store_tensors() {
        let store = ParamStore::with_dtype(1, DType::F64);
        let l = Linear::new(2, 1, true, &store.root()).unwrap();
        let sd = vec![
            (
                "weight".to_string(),
                Tensor::from_vec(vec![2.0f64, -1.0], [1, 2]).unwrap(),
            ),
            (
                "bias".to_string(),
                Tensor::from_vec(vec![0.5f64], [1]).unwrap(),
            ),
        ];
        store.load_state_dict(&sd, true).unwrap();
        // [3, 4] -> 2*3 - 4 + 0.5 = 2.5
        let x = Tensor::from_vec(vec![3.0f64, 4.0], [1, 2]).unwrap();
        assert_eq!(l.forward(&x).unwrap().to_vec::<f64>().unwrap(), vec![2.5]);
        assert_eq!(l.forward(&seeded([7, 3, 2], 1)).unwrap().dims(), [7, 3, 1]);
    }

    #[test]
    fn shape_errors_name_the_layer_and_both_shapes() {
        let store = ParamStore::new(0);
        let l = Linear::new(784, 10, true, &store.root().push("layers").push(0)).unwrap();
        let x = Tensor::zeros([32, 100], DType::F32).unwrap();
        let e = l.forward(&x).unwrap_err().to_string();
        assert_eq!(
            e,
            "in module \"layers.0\": linear: expected input (*, 784), got [32, 100]"
        );
    }

    #[test]
    fn gradcheck_input_weight_and_bias() {
        let store = ParamStore::with_dtype(3, DType::F64);
        let l = Linear::new(4, 3, true, &store.root()).unwrap();
        let (w, b) = (l.weight().clone(), l.bias().unwrap().clone());
        // through the module: gradient with respect to the input
        gradcheck("Linear(x)", |t| l.forward(&t[0]), &[seeded([5, 4], 1)]).unwrap();
        // the same computation with the parameters as inputs
        gradcheck(
            "Linear(w, b)",
            |t| functional::linear(&t[0], &t[1], Some(&t[2])),
            &[seeded([5, 4], 1), w, b],
        )
        .unwrap();
        // and the parameters get gradients through the module
        let y = l.forward(&seeded([5, 4], 2)).unwrap().sum_all().unwrap();
        let g = y.backward().unwrap();
        assert_eq!(g.get(l.weight()).unwrap().dims(), [3, 4]);
        // d(sum y)/db = number of rows
        assert_eq!(
            g.get(l.bias().unwrap()).unwrap().to_vec::<f64>().unwrap(),
            vec![5.0; 3]
        );
    }
}
