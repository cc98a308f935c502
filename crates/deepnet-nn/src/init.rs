//! Parameter initialization, with PyTorch's formulas (`torch.nn.init`).

use deepnet_tensor::{DType, Error, Generator, Result, Shape, Tensor};

/// Which fan Kaiming initialization preserves.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum FanMode {
    /// preserve the variance of the forward pass (PyTorch default)
    FanIn,
    /// preserve the variance of the backward pass
    FanOut,
}

/// The nonlinearity that follows, for the gain of Kaiming and Xavier initialization
/// (`torch.nn.init.calculate_gain`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Nonlinearity {
    /// gain 1
    Linear,
    /// gain 1
    Sigmoid,
    /// gain 5/3
    Tanh,
    /// gain sqrt(2)
    Relu,
    /// gain sqrt(2 / (1 + slope^2))
    LeakyRelu(f64),
}

impl Nonlinearity {
    /// The recommended gain.
    pub fn gain(self) -> f64 {
        match self {
            Nonlinearity::Linear | Nonlinearity::Sigmoid => 1.0,
            Nonlinearity::Tanh => 5.0 / 3.0,
            Nonlinearity::Relu => 2f64.sqrt(),
            Nonlinearity::LeakyRelu(s) => (2.0 / (1.0 + s * s)).sqrt(),
        }
    }
}

/// How a parameter is initialized.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Init {
    /// all zeros
    Zeros,
    /// all ones
    Ones,
    /// a constant
    Constant(f64),
    /// uniform in `[low, high)`
    Uniform {
        /// lower bound
        low: f64,
        /// upper bound
        high: f64,
    },
    /// normal with mean and standard deviation
    Normal {
        /// mean
        mean: f64,
        /// standard deviation
        std: f64,
    },
    /// He et al.: uniform in ±gain·sqrt(3 / fan)
    KaimingUniform {
        /// fan to preserve
        mode: FanMode,
        /// the following nonlinearity
        nonlinearity: Nonlinearity,
    },
    /// He et al.: normal with std gain / sqrt(fan)
    KaimingNormal {
        /// fan to preserve
        mode: FanMode,
        /// the following nonlinearity
        nonlinearity: Nonlinearity,
    },
    /// Glorot and Bengio: uniform in ±gain·sqrt(6 / (fan_in + fan_out))
    XavierUniform {
        /// gain
        gain: f64,
    },
    /// Glorot and Bengio: normal with std gain·sqrt(2 / (fan_in + fan_out))
    XavierNormal {
        /// gain
        gain: f64,
    },
}

impl Init {
    /// PyTorch's default for `Linear` and `Conv*` weights: `kaiming_uniform_(a=sqrt(5))`, which is
    /// uniform in ±1/sqrt(fan_in).
    pub const TORCH_DEFAULT_WEIGHT: Init = Init::KaimingUniform {
        mode: FanMode::FanIn,
        nonlinearity: Nonlinearity::LeakyRelu(2.236_067_977_499_79),
    };
}

/// `(fan_in, fan_out)` of a weight shape, as `torch.nn.init._calculate_fan_in_and_fan_out`:
/// dim 1 is the input, dim 0 the output, the rest is the receptive field.
pub fn fans(shape: &Shape) -> Result<(usize, usize)> {
    let d = shape.dims();
    if d.len() < 2 {
        return Err(Error::msg(format!(
            "init: fan in and fan out need at least 2 dims, got shape {shape}"
        )));
    }
    let receptive: usize = d[2..].iter().product();
    Ok((d[1] * receptive, d[0] * receptive))
}

/// A tensor of `shape` initialized by `init`, drawn from `g`.
pub fn init_tensor(shape: &Shape, init: Init, dtype: DType, g: &mut Generator) -> Result<Tensor> {
    let fan = |mode: FanMode| -> Result<f64> {
        let (fi, fo) = fans(shape)?;
        Ok(match mode {
            FanMode::FanIn => fi,
            FanMode::FanOut => fo,
        } as f64)
    };
    match init {
        Init::Zeros => Tensor::zeros(shape.clone(), dtype),
        Init::Ones => Tensor::ones(shape.clone(), dtype),
        Init::Constant(c) => Tensor::full(shape.clone(), c, dtype),
        Init::Uniform { low, high } => Tensor::rand_uniform(shape.clone(), low, high, dtype, g),
        Init::Normal { mean, std } => Tensor::rand_normal(shape.clone(), mean, std, dtype, g),
        Init::KaimingUniform { mode, nonlinearity } => {
            let bound = nonlinearity.gain() * (3.0 / fan(mode)?).sqrt();
            Tensor::rand_uniform(shape.clone(), -bound, bound, dtype, g)
        }
        Init::KaimingNormal { mode, nonlinearity } => {
            let std = nonlinearity.gain() / fan(mode)?.sqrt();
            Tensor::rand_normal(shape.clone(), 0.0, std, dtype, g)
        }
        Init::XavierUniform { gain } => {
            let (fi, fo) = fans(shape)?;
            let bound = gain * (6.0 / (fi + fo) as f64).sqrt();
            Tensor::rand_uniform(shape.clone(), -bound, bound, dtype, g)
        }
        Init::XavierNormal { gain } => {
            let (fi, fo) = fans(shape)?;
            let std = gain * (2.0 / (fi + fo) as f64).sqrt();
            Tensor::rand_normal(shape.clone(), 0.0, std, dtype, g)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bounds_and_std(init: Init, shape: [usize; 2]) -> (f64, f64) {
        let t = init_tensor(
            &Shape::from(shape),
            init,
            DType::F64,
            &mut Generator::new(1),
        )
        .unwrap();
        let v = t.to_vec::<f64>().unwrap();
        let max = v.iter().fold(0f64, |m, x| m.max(x.abs()));
        let mean = v.iter().sum::<f64>() / v.len() as f64;
        let std = (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / v.len() as f64).sqrt();
        (max, std)
    }

    #[test]
    fn formulas_match_pytorch() {
        // Linear(400, 300) default: uniform in ±1/sqrt(400) = ±0.05
        let (max, _) = bounds_and_std(Init::TORCH_DEFAULT_WEIGHT, [300, 400]);
        assert!(max <= 0.05 && max > 0.049, "{max}");
        let he = Init::KaimingNormal {
            mode: FanMode::FanIn,
            nonlinearity: Nonlinearity::Relu,
        };
        let (_, std) = bounds_and_std(he, [300, 400]);
        assert!((std - (2.0f64 / 400.0).sqrt()).abs() < 0.002, "{std}");
        let (max, _) = bounds_and_std(Init::XavierUniform { gain: 1.0 }, [300, 400]);
        let b = (6.0f64 / 700.0).sqrt();
        assert!(max <= b && max > 0.98 * b);
        let (_, std) = bounds_and_std(Init::XavierNormal { gain: 1.0 }, [300, 400]);
        assert!((std - (2.0f64 / 700.0).sqrt()).abs() < 0.002);
        assert_eq!(fans(&Shape::from([16, 6, 5, 5])).unwrap(), (150, 400));
        assert!(fans(&Shape::from([3])).is_err());
    }
}
