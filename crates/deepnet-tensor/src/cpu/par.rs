//! Parallel loops over slices on the kernel threads ([`crate::threads`]). Every helper numbers
//! its pieces from the shape alone, so what a piece computes never depends on the thread count.

pub(crate) use crate::threads::for_each;

/// A pointer that tasks writing disjoint parts of one buffer share.
struct SharedMut<T>(*mut T);
// SAFETY: the helpers below hand each task a disjoint part of the buffer behind the pointer.
unsafe impl<T: Send> Send for SharedMut<T> {}
// SAFETY: as above.
unsafe impl<T: Send> Sync for SharedMut<T> {}
impl<T> SharedMut<T> {
    /// Elements `start..start + len`; the caller guarantees they are in bounds and that no
    /// other task holds them.
    #[allow(clippy::mut_from_ref)]
    unsafe fn slice(&self, start: usize, len: usize) -> &mut [T] {
        std::slice::from_raw_parts_mut(self.0.add(start), len)
    }
}

/// `f(i, chunk)` for the chunks of `size` elements of `data` (the last may be shorter), in
/// parallel.
pub(crate) fn chunks_mut<T: Send>(data: &mut [T], size: usize, f: impl Fn(usize, &mut [T]) + Sync) {
    let (len, size) = (data.len(), size.max(1));
    let p = SharedMut(data.as_mut_ptr());
    for_each(len.div_ceil(size), |i| {
        let start = i * size;
        // SAFETY: chunk i is in bounds and only task i touches it; `data` is borrowed mutably
        // until every task has finished.
        f(i, unsafe { p.slice(start, size.min(len - start)) })
    });
}

/// `f(i, a_chunk, b_chunk)` for chunk `i` of `a` (chunks of `sa`) and of `b` (chunks of `sb`),
/// in parallel, over as many chunks as the shorter split has.
pub(crate) fn chunks_mut2<A: Send, B: Send>(
    a: &mut [A],
    sa: usize,
    b: &mut [B],
    sb: usize,
    f: impl Fn(usize, &mut [A], &mut [B]) + Sync,
) {
    let (la, lb, sa, sb) = (a.len(), b.len(), sa.max(1), sb.max(1));
    let (pa, pb) = (SharedMut(a.as_mut_ptr()), SharedMut(b.as_mut_ptr()));
    for_each(la.div_ceil(sa).min(lb.div_ceil(sb)), |i| {
        let (s, t) = (i * sa, i * sb);
        // SAFETY: as in `chunks_mut`, for each buffer.
        unsafe { f(i, pa.slice(s, sa.min(la - s)), pb.slice(t, sb.min(lb - t))) }
    });
}

/// A vector of `n` elements built in chunks of `size` in parallel: each task sets its chunk to
/// `T::default()` (zero for numbers) and then runs `f(i, chunk)`. The zeroing happens on the
/// threads, next to the writes that follow, instead of as one serial `memset` before the loop.
pub(crate) fn filled<T: Copy + Default + Send>(
    n: usize,
    size: usize,
    f: impl Fn(usize, &mut [T]) + Sync,
) -> Vec<T> {
    let mut v: Vec<T> = Vec::with_capacity(n);
    chunks_mut(&mut v.spare_capacity_mut()[..n], size, |i, c| {
        f(i, init_default(c))
    });
    // SAFETY: the chunks cover 0..n and every task initialized its own chunk first.
    unsafe { v.set_len(n) };
    v
}

/// [`filled`] for two vectors split into the same number of chunks (`sa` and `sb` elements).
pub(crate) fn filled2<A: Copy + Default + Send, B: Copy + Default + Send>(
    (na, sa): (usize, usize),
    (nb, sb): (usize, usize),
    f: impl Fn(usize, &mut [A], &mut [B]) + Sync,
) -> (Vec<A>, Vec<B>) {
    let (sa, sb) = (sa.max(1), sb.max(1));
    assert_eq!(
        na.div_ceil(sa),
        nb.div_ceil(sb),
        "filled2: chunk counts differ"
    );
    let mut a: Vec<A> = Vec::with_capacity(na);
    let mut b: Vec<B> = Vec::with_capacity(nb);
    let (ua, ub) = (
        &mut a.spare_capacity_mut()[..na],
        &mut b.spare_capacity_mut()[..nb],
    );
    chunks_mut2(ua, sa, ub, sb, |i, x, y| {
        f(i, init_default(x), init_default(y))
    });
    // SAFETY: as in `filled`, for each vector (equal chunk counts, asserted).
    unsafe {
        a.set_len(na);
        b.set_len(nb);
    }
    (a, b)
}

/// Writes `T::default()` into every element and returns the slice as initialized.
fn init_default<T: Copy + Default>(c: &mut [std::mem::MaybeUninit<T>]) -> &mut [T] {
    for x in c.iter_mut() {
        x.write(T::default());
    }
    // SAFETY: every element was just initialized, and MaybeUninit<T> has the layout of T.
    unsafe { &mut *(c as *mut [std::mem::MaybeUninit<T>] as *mut [T]) }
}

/// `[f(0), f(1), .., f(n - 1)]`, computed in parallel.
pub(crate) fn map<R: Send>(n: usize, f: impl Fn(usize) -> R + Sync) -> Vec<R> {
    let mut out: Vec<Option<R>> = (0..n).map(|_| None).collect();
    chunks_mut(&mut out, 1, |i, o| o[0] = Some(f(i)));
    out.into_iter()
        .map(|r| r.expect("every task wrote its result"))
        .collect()
}

/// `f(item)` for every item, in parallel.
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
pub(crate) fn items<T: Send>(items: Vec<T>, f: impl Fn(T) + Sync) {
    let mut slots: Vec<Option<T>> = items.into_iter().map(Some).collect();
    chunks_mut(&mut slots, 1, |_, s| {
        if let Some(x) = s[0].take() {
            f(x)
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helpers_cover_every_element_once() {
        crate::with_num_threads(2, || {
            let mut v = vec![0u32; 1001];
            chunks_mut(&mut v, 100, |i, c| {
                assert!(c.len() == 100 || (i == 10 && c.len() == 1));
                c.iter_mut().for_each(|x| *x += i as u32 + 1);
            });
            assert!(v
                .iter()
                .enumerate()
                .all(|(j, &x)| x == (j / 100) as u32 + 1));
            let (mut a, mut b) = (vec![0u8; 30], vec![0u16; 20]);
            chunks_mut2(&mut a, 3, &mut b, 2, |i, x, y| {
                x.fill(i as u8);
                y.fill(i as u16);
            });
            assert!(a.iter().enumerate().all(|(j, &x)| x as usize == j / 3));
            assert!(b.iter().enumerate().all(|(j, &x)| x as usize == j / 2));
            assert_eq!(map(5, |i| i * i), vec![0, 1, 4, 9, 16]);
            let sum = std::sync::atomic::AtomicUsize::new(0);
            items((1..=100).collect(), |x: usize| {
                sum.fetch_add(x, std::sync::atomic::Ordering::Relaxed);
            });
            assert_eq!(sum.into_inner(), 5050);
            // filled: every chunk starts zeroed, whatever the allocator handed out
            let v: Vec<f32> = filled(1001, 100, |i, c| {
                assert!(c.iter().all(|&x| x == 0.0));
                assert!(c.len() == 100 || (i == 10 && c.len() == 1));
                c[0] = i as f32 + 1.0;
            });
            assert!(v.iter().enumerate().all(|(j, &x)| x
                == if j % 100 == 0 {
                    (j / 100) as f32 + 1.0
                } else {
                    0.0
                }));
            let (a, b): (Vec<f64>, Vec<u32>) = filled2((30, 3), (20, 2), |i, x, y| {
                assert!(x.iter().all(|&v| v == 0.0) && y.iter().all(|&v| v == 0));
                x[1] = i as f64;
                y[0] = i as u32;
            });
            assert!(a
                .iter()
                .enumerate()
                .all(|(j, &x)| x == if j % 3 == 1 { (j / 3) as f64 } else { 0.0 }));
            assert!(b
                .iter()
                .enumerate()
                .all(|(j, &x)| x == if j % 2 == 0 { (j / 2) as u32 } else { 0 }));
            assert!(filled::<u8>(0, 4, |_, _| unreachable!()).is_empty());
        })
        .unwrap();
    }
}
