//! Which vector instruction set the CPU kernels use, chosen once per process: the widest the CPU
//! has, or a lower one named by the environment variable `DEEPNET_CPU` (`avx512`, `avx2` or
//! `scalar`), so that any machine can test and benchmark every path it supports. A name the CPU
//! cannot run, or an unknown name, is ignored with a warning on stderr: the kernels never run
//! instructions the CPU lacks.

use std::sync::OnceLock;

/// An instruction set, ordered from the narrowest.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Isa {
    /// Plain Rust, whatever the compiler makes of it for the baseline target.
    Scalar,
    /// x86-64 AVX2 with FMA.
    Avx2,
    /// x86-64 AVX-512F.
    Avx512,
}

impl Isa {
    /// The lower-case name `DEEPNET_CPU` takes.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Isa::Scalar => "scalar",
            Isa::Avx2 => "avx2",
            Isa::Avx512 => "avx512",
        }
    }

    /// Every instruction set this CPU can run, narrowest first (tests run each path).
    #[allow(dead_code)] // used by the kernel tests
    pub(crate) fn available() -> Vec<Isa> {
        [Isa::Scalar, Isa::Avx2, Isa::Avx512]
            .into_iter()
            .filter(|&i| i <= detected())
            .collect()
    }
}

/// The widest instruction set the CPU has.
fn detected() -> Isa {
    #[cfg(target_arch = "x86_64")]
    {
        if is_x86_feature_detected!("avx512f") {
            return Isa::Avx512;
        }
        if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
            return Isa::Avx2;
        }
    }
    Isa::Scalar
}

/// The instruction set the kernels use: [`detected`], lowered by `DEEPNET_CPU`.
pub(crate) fn isa() -> Isa {
    static ISA: OnceLock<Isa> = OnceLock::new();
    *ISA.get_or_init(|| {
        let best = detected();
        let Ok(want) = std::env::var("DEEPNET_CPU") else {
            return best;
        };
        let asked = [Isa::Scalar, Isa::Avx2, Isa::Avx512]
            .into_iter()
            .find(|i| i.name() == want.trim().to_ascii_lowercase());
        match asked {
            Some(i) if i <= best => i,
            Some(i) => {
                eprintln!(
                    "deepnet: DEEPNET_CPU={} but this CPU has at most {}; using {}",
                    i.name(),
                    best.name(),
                    best.name()
                );
                best
            }
            None => {
                eprintln!(
                    "deepnet: DEEPNET_CPU={want:?} is not one of avx512, avx2, scalar; using {}",
                    best.name()
                );
                best
            }
        }
    })
}

/// Whether the AVX-512 kernels may run (the CPU has them and `DEEPNET_CPU` does not forbid them).
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
pub(crate) fn has_avx512() -> bool {
    isa() >= Isa::Avx512
}

/// Whether the AVX2+FMA kernels may run.
#[allow(dead_code)] // not every target uses it
pub(crate) fn has_avx2() -> bool {
    isa() >= Isa::Avx2
}

/// The name of the instruction set in use (for `deepnet bench`).
pub fn isa_name() -> &'static str {
    isa().name()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_chosen_set_is_one_the_cpu_has() {
        assert!(isa() <= detected());
        let all = Isa::available();
        assert_eq!(all[0], Isa::Scalar);
        assert_eq!(*all.last().unwrap(), detected());
    }
}
