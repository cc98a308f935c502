//! `Display` prints values the way PyTorch does (`tensor([[1.0000, 2.0000], ...])`), summarizing
//! large tensors with `...`; `Debug` adds shape, dtype, device and the grad_fn.

use crate::{DType, Tensor};
use std::fmt;

/// Tensors with more elements are summarized (first and last `EDGE` entries per dim).
const THRESHOLD: usize = 1000;
const EDGE: usize = 3;

fn fmt_value(v: f64, dtype: DType) -> String {
    match dtype {
        DType::F32 | DType::F64 => {
            if v.is_nan() {
                "nan".into()
            } else if v.is_infinite() {
                if v > 0.0 {
                    "inf".into()
                } else {
                    "-inf".into()
                }
            } else if v != 0.0 && (v.abs() >= 1e8 || v.abs() < 1e-4) {
                format!("{v:.4e}")
            } else {
                format!("{v:.4}")
            }
        }
        _ => format!("{}", v as i64),
    }
}

/// How every element is printed: summarized or not, the dtype, the column width.
struct Style {
    summarize: bool,
    dtype: DType,
    width: usize,
}

fn write_dim(
    out: &mut String,
    vals: &[f64],
    dims: &[usize],
    strides: &[usize],
    base: usize,
    depth: usize,
    st: &Style,
) {
    if dims.is_empty() {
        let width = st.width;
        out.push_str(&format!("{:>width$}", fmt_value(vals[base], st.dtype)));
        return;
    }
    out.push('[');
    let n = dims[0];
    let idx: Vec<Option<usize>> = if st.summarize && n > 2 * EDGE {
        (0..EDGE)
            .map(Some)
            .chain([None])
            .chain((n - EDGE..n).map(Some))
            .collect()
    } else {
        (0..n).map(Some).collect()
    };
    for (k, i) in idx.iter().enumerate() {
        if k > 0 {
            if dims.len() == 1 {
                out.push_str(", ");
            } else {
                out.push(',');
                out.push_str(&"\n".repeat(dims.len() - 1));
                out.push_str(&" ".repeat(depth + 8));
            }
        }
        match i {
            Some(i) => write_dim(
                out,
                vals,
                &dims[1..],
                &strides[1..],
                base + i * strides[0],
                depth + 1,
                st,
            ),
            None => out.push_str("..."),
        }
    }
    out.push(']');
}

impl fmt::Display for Tensor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let vals = self.to_vec_f64();
        let style = Style {
            summarize: self.numel() > THRESHOLD,
            dtype: self.dtype(),
            width: vals
                .iter()
                .map(|&v| fmt_value(v, self.dtype()).len())
                .max()
                .unwrap_or(1),
        };
        let strides = crate::Shape::from(self.dims()).contiguous_strides();
        let mut s = String::from("tensor(");
        write_dim(&mut s, &vals, self.dims(), &strides, 0, 0, &style);
        if self.numel() == 0 {
            s = format!("tensor([], size={})", self.shape());
        }
        if self.dtype() != DType::F32 {
            s.push_str(&format!(", dtype={}", self.dtype()));
        }
        if let Some(g) = self.grad_fn() {
            s.push_str(&format!(", grad_fn={g}"));
        } else if self.requires_grad() {
            s.push_str(", requires_grad=True");
        }
        s.push(')');
        f.write_str(&s)
    }
}

impl fmt::Debug for Tensor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Tensor(shape={}, dtype={}, device={}",
            self.shape(),
            self.dtype(),
            self.device()
        )?;
        if let Some(g) = self.grad_fn() {
            write!(f, ", grad_fn={g}")?;
        }
        write!(f, ")\n{self}")
    }
}

#[cfg(test)]
mod tests {
    use crate::{DType, Tensor};

    #[test]
    fn prints_like_pytorch() {
        let t = Tensor::from_vec(vec![1.0f32, -2.5, 3.0, 4.0], [2, 2]).unwrap();
        assert_eq!(
            format!("{t}"),
            "tensor([[ 1.0000, -2.5000],\n        [ 3.0000,  4.0000]])"
        );
        let i = Tensor::from_vec(vec![1i64, 2, 3], [3]).unwrap();
        assert_eq!(format!("{i}"), "tensor([1, 2, 3], dtype=int64)");
        let big = Tensor::zeros([2000], DType::F32).unwrap();
        let s = format!("{big}");
        assert!(s.contains("...") && s.len() < 200, "{s}");
        let d = format!("{:?}", t.requires_grad_(true).unwrap().exp().unwrap());
        assert!(
            d.starts_with("Tensor(shape=[2, 2], dtype=float32, device=cpu, grad_fn=exp)"),
            "{d}"
        );
        assert_eq!(
            format!("{}", Tensor::scalar(2.0f64)),
            "tensor(2.0000, dtype=float64)"
        );
    }
}
