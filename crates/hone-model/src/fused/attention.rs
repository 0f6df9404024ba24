//! The kernels of causal attention, `softmax(q·kᵀ/√d + mask)·v`, over all heads at once,
//! with grouped query heads sharing a K/V head. Composed from candle's ops, attention keeps
//! four `[batch, heads, seq, seq]` score tensors alive until the backward ends and runs its
//! products as many small batched matmuls, each split across threads (at SmolLM2's sizes
//! candle's gemm reaches a third of PyTorch's rate on them). These kernels hand whole heads to
//! threads, run each head's products single-threaded, keep no scores (the backward
//! recomputes them from q and k, as FlashAttention does) and write the output in the
//! `[batch, seq, heads · head_dim]` layout the output projection reads.

use candle_core::bail;
use std::sync::Mutex;

use super::gemm::{gemm_into, Mat};
use super::kernels::row_max;
use super::vector_math::exp_shifted_in_place;

/// The attention kernels over head-major buffers: `q` `[b, heads, t, d]`, `k` and `v`
/// `[b, kv_heads, t, d]`, query `i` seeing keys `j ≤ i` (and, with a window `w`, `j > i − w`).
/// [`super::rotary_attention`] is the op around them.
pub(super) struct Attention {
    pub(super) window: Option<usize>,
}

/// The sizes of one call (`s`, the keys, equals `t`: no cache).
#[derive(Clone, Copy)]
pub(super) struct Dims {
    pub(super) b: usize,
    pub(super) h: usize,
    pub(super) kvh: usize,
    pub(super) t: usize,
    pub(super) s: usize,
    pub(super) d: usize,
}

impl Dims {
    fn group(&self) -> usize {
        self.h / self.kvh
    }
}

impl Attention {
    /// The keys query `i` sees, as a range of key indices.
    fn visible(&self, i: usize, s: usize) -> std::ops::Range<usize> {
        let last = i.min(s - 1);
        let first = self.window.map_or(0, |w| (i + 1).saturating_sub(w));
        first..last + 1
    }

    /// `p = softmax(q_head · kᵀ / √d + mask)` into `p` `[t, s]`.
    fn probabilities(
        &self,
        dims: Dims,
        q: &[f32],
        q_at: usize,
        k: &[f32],
        k_at: usize,
        p: &mut [f32],
    ) {
        let Dims { t, s, d, .. } = dims;
        let scale = 1.0 / (d as f32).sqrt();
        // Safety: the destination is this task's own (a head's rows or its scratch).
        unsafe {
            gemm_into(
                p.as_mut_ptr(),
                p.len(),
                Mat::rows(0, t, s, s),
                q,
                Mat::rows(q_at, t, d, d),
                k,
                Mat::rows(k_at, s, d, d).t(),
                scale,
                false,
            );
        }
        for (i, row) in p.chunks_mut(s).enumerate() {
            let seen = self.visible(i, s);
            let max = row_max(&row[seen.clone()]);
            row[..seen.start].fill(0.0);
            row[seen.end..].fill(0.0);
            let seen = &mut row[seen];
            let inv = 1.0 / exp_shifted_in_place(seen, max);
            seen.iter_mut().for_each(|x| *x *= inv);
        }
    }
}

/// A raw pointer the forward's threads share; each writes only its own head's rows.
struct SharedOut(*mut f32);
// Safety: the threads write disjoint elements (one head each) and the buffer outlives them.
unsafe impl Sync for SharedOut {}

impl SharedOut {
    /// (A method, so that closures capture the `Sync` wrapper rather than the bare pointer.)
    fn ptr(&self) -> *mut f32 {
        self.0
    }
}

impl Attention {
    /// The output, `[b, t, heads · d]`: the layout the output projection reads.
    pub(super) fn forward(&self, dims: Dims, q: &[f32], k: &[f32], v: &[f32]) -> Vec<f32> {
        let Dims { b, h, t, s, d, .. } = dims;
        let mut out = vec![0f32; b * t * h * d];
        let (len, shared) = (out.len(), SharedOut(out.as_mut_ptr()));
        candle_core::utils::barrier_pool().execute_chunked(b * h, |tasks| {
            let mut p = vec![0f32; t * s];
            for task in tasks {
                let (bi, head) = (task / h, task % h);
                let kv = bi * dims.kvh + head / dims.group();
                self.probabilities(dims, q, task * t * d, k, kv * s * d, &mut p);
                // Row i of this head goes to out[bi, i, head, :].
                // Safety: the destination is this task's own (a head's rows or its scratch).
                unsafe {
                    gemm_into(
                        shared.ptr(),
                        len,
                        Mat::rows(bi * t * h * d + head * d, t, d, h * d),
                        &p,
                        Mat::rows(0, t, s, s),
                        v,
                        Mat::rows(kv * s * d, s, d, d),
                        1.0,
                        false,
                    );
                }
            }
        });
        out
    }
}

/// One (batch, K/V head)'s share of the gradients: its query heads' dQ, its dK and dV.
type HeadGradients<'a> = (&'a mut [f32], &'a mut [f32], &'a mut [f32]);

impl Attention {
    /// The three gradients, head-major like the inputs, flat and stacked `[dq | dk | dv]`.
    /// With `P` recomputed per head and `dO` the output's gradient (`[b, t, heads · d]`):
    /// `dV = Pᵀ·dO`, `dP = dO·Vᵀ`, `dS = P ⊙ (dP − rowsum(dP ⊙ P))`, `dQ = dS·K/√d`,
    /// `dK = dSᵀ·Q/√d` (K and V gradients summed over the query heads that share them).
    pub(super) fn backward(
        &self,
        dims: Dims,
        q: &[f32],
        k: &[f32],
        v: &[f32],
        grad_out: &[f32],
    ) -> candle_core::Result<Vec<f32>> {
        let Dims { b, h, kvh, t, s, d } = dims;
        let group = dims.group();
        if grad_out.len() != b * t * h * d {
            bail!(
                "fused attention backward: the gradient has {} elements, expected {}",
                grad_out.len(),
                b * t * h * d
            );
        }
        let scale = 1.0 / (d as f32).sqrt();
        let (nq, nk) = (q.len(), k.len());
        let mut all = vec![0f32; nq + 2 * nk];
        let (dq, rest) = all.split_at_mut(nq);
        let (dk, dv) = rest.split_at_mut(nk);
        // One task per (batch, K/V head): it owns that head's dK, dV and its query heads' dQ.
        let tasks: Vec<Mutex<HeadGradients>> = dq
            .chunks_mut(group * t * d)
            .zip(dk.chunks_mut(s * d))
            .zip(dv.chunks_mut(s * d))
            .map(|((a, b), c)| Mutex::new((a, b, c)))
            .collect();
        candle_core::utils::barrier_pool().execute_chunked(b * kvh, |range| {
            let (mut p, mut dp) = (vec![0f32; t * s], vec![0f32; t * s]);
            for task in range {
                let mut guard = tasks[task].lock().unwrap_or_else(|e| e.into_inner());
                let (dq, dk, dv) = &mut *guard;
                let (bi, kv) = (task / kvh, task % kvh);
                let kv_at = task * s * d;
                for g in 0..group {
                    let head = kv * group + g;
                    let q_at = (bi * h + head) * t * d;
                    self.probabilities(dims, q, q_at, k, kv_at, &mut p);
                    // dO of this head: rows of [b, t, h·d].
                    let d_out = Mat::rows(bi * t * h * d + head * d, t, d, h * d);
                    // Safety: the destination is this task's own (a head's rows or its scratch).
                    unsafe {
                        gemm_into(
                            dv.as_mut_ptr(),
                            dv.len(),
                            Mat::rows(0, s, d, d),
                            &p,
                            Mat::rows(0, t, s, s).t(),
                            grad_out,
                            d_out,
                            1.0,
                            g > 0,
                        );
                    }
                    // Safety: the destination is this task's own (a head's rows or its scratch).
                    unsafe {
                        gemm_into(
                            dp.as_mut_ptr(),
                            dp.len(),
                            Mat::rows(0, t, s, s),
                            grad_out,
                            d_out,
                            v,
                            Mat::rows(kv_at, s, d, d).t(),
                            1.0,
                            false,
                        );
                    }
                    for (prow, dprow) in p.chunks_mut(s).zip(dp.chunks(s)) {
                        let dot: f32 = prow.iter().zip(dprow).map(|(a, b)| a * b).sum();
                        for (x, &g) in prow.iter_mut().zip(dprow) {
                            *x *= g - dot;
                        }
                    }
                    // p now holds dS.
                    // Safety: the destination is this task's own (a head's rows or its scratch).
                    unsafe {
                        gemm_into(
                            dq.as_mut_ptr(),
                            dq.len(),
                            Mat::rows(g * t * d, t, d, d),
                            &p,
                            Mat::rows(0, t, s, s),
                            k,
                            Mat::rows(kv_at, s, d, d),
                            scale,
                            false,
                        );
                    }
                    // Safety: the destination is this task's own (a head's rows or its scratch).
                    unsafe {
                        gemm_into(
                            dk.as_mut_ptr(),
                            dk.len(),
                            Mat::rows(0, s, d, d),
                            &p,
                            Mat::rows(0, t, s, s).t(),
                            q,
                            Mat::rows(q_at, t, d, d),
                            scale,
                            g > 0,
                        );
                    }
                }
            }
        });
        Ok(all)
    }
}
