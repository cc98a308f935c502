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

/// `[f(0), f(1), .., f(n - 1)]`, computed in parallel.
pub(crate) fn map<R: Send>(n: usize, f: impl Fn(usize) -> R + Sync) -> Vec<R> {
    let mut out: Vec<Option<R>> = (0..n).map(|_| None).collect();
    chunks_mut(&mut out, 1, |i, o| o[0] = Some(f(i)));
    out.into_iter()
        .map(|r| r.expect("every task wrote its result"))
        .collect()
}

/// `f(item)` for every item, in parallel.
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
        })
        .unwrap();
    }
}
