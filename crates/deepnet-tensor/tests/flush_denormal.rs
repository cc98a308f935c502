//! `set_flush_denormal`: kernels on every thread of the pool flush subnormals once it is on, and
//! compute exact IEEE results otherwise. Its own test binary, because the mode is process-wide.

#[cfg(target_arch = "x86_64")]
use deepnet_tensor::{flush_denormal, set_flush_denormal, with_num_threads, DType, Tensor};

#[test]
#[cfg(target_arch = "x86_64")]
fn flush_denormal_reaches_every_kernel_thread() {
    with_num_threads(2, || {
        // 4M elements: split into many tasks, so both threads compute some of the product
        let n = 1 << 22;
        let tiny = Tensor::full([n], 1e-39, DType::F32).unwrap();
        let count_zeros = || {
            let y = tiny.mul_scalar(0.5).unwrap().to_vec::<f32>().unwrap();
            y.iter().filter(|&&v| v == 0.0).count()
        };
        assert!(!flush_denormal());
        assert_eq!(count_zeros(), 0, "IEEE by default: 5e-40 is representable");
        assert!(set_flush_denormal(true));
        assert!(flush_denormal());
        assert_eq!(count_zeros(), n, "every task flushed");
        assert!(set_flush_denormal(false));
        assert_eq!(count_zeros(), 0);
    })
    .unwrap();
}
