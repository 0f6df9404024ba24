//! Causal attention, `softmax(q·kᵀ/√d + mask)·v`, as one op over all heads, with grouped
//! query heads sharing a K/V head. Composed from candle's ops, attention keeps four
//! `[batch, heads, seq, seq]` score tensors alive until the backward ends and runs its
//! products as many small batched matmuls, each split across threads (at SmolLM2's sizes
//! candle's gemm reaches a third of PyTorch's rate on them). This op hands whole heads to
//! threads, runs each head's products single-threaded, keeps no scores (the backward
//! recomputes them from q and k, as FlashAttention does) and writes its output in the
//! `[batch, seq, heads · head_dim]` layout the output projection reads.

use candle_core::{bail, CpuStorage, CustomOp3, Layout, Shape, Tensor};
use std::sync::Mutex;

use super::kernels::{f32s, row_max, with_f32s};

/// Attention of `q` `[b, heads, t, d]` over `k`, `v` `[b, kv_heads, s, d]` (f32 on the CPU),
/// query `i` seeing keys `j ≤ offset + i` (and, with a window `w`, `j > offset + i − w`).
/// Returns `[b, t, heads · d]`; differentiable in q, k and v.
pub fn causal_attention(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    offset: usize,
    window: Option<usize>,
) -> candle_core::Result<Tensor> {
    let (b, h, t, d) = q.dims4()?;
    let (b2, kvh, s, d2) = k.dims4()?;
    if b != b2 || d != d2 || v.dims() != k.dims() || kvh == 0 || h % kvh != 0 {
        bail!(
            "fused attention: q {:?}, k {:?} and v {:?} do not fit",
            q.shape(),
            k.shape(),
            v.shape()
        );
    }
    if t == 0 {
        bail!("fused attention: no queries");
    }
    if offset + t != s {
        bail!(
            "fused attention: {t} queries at offset {offset} need {} keys, got {s}",
            offset + t
        );
    }
    let op = Attention {
        offset,
        window,
        grad_out: None,
    };
    q.contiguous()?
        .apply_op3(&k.contiguous()?, &v.contiguous()?, op)
}

struct Attention {
    offset: usize,
    window: Option<usize>,
    /// Set on the backward op: the output's gradient, `[b, t, heads · d]`.
    grad_out: Option<Tensor>,
}

/// The sizes of one call.
#[derive(Clone, Copy)]
struct Dims {
    b: usize,
    h: usize,
    kvh: usize,
    t: usize,
    s: usize,
    d: usize,
}

impl Dims {
    fn of(q: &Layout, k: &Layout) -> candle_core::Result<Self> {
        let (b, h, t, d) = q.shape().dims4()?;
        let (_, kvh, s, _) = k.shape().dims4()?;
        Ok(Self { b, h, kvh, t, s, d })
    }

    fn group(&self) -> usize {
        self.h / self.kvh
    }
}

/// A strided matrix inside a slice: element `(r, c)` is at `offset + r·row + c·col`.
#[derive(Clone, Copy)]
struct Mat {
    offset: usize,
    rows: usize,
    cols: usize,
    row: usize,
    col: usize,
}

impl Mat {
    fn rows(offset: usize, rows: usize, cols: usize, row: usize) -> Self {
        Self {
            offset,
            rows,
            cols,
            row,
            col: 1,
        }
    }

    fn t(self) -> Self {
        Self {
            rows: self.cols,
            cols: self.rows,
            row: self.col,
            col: self.row,
            ..self
        }
    }

    /// One past the largest index the matrix touches.
    fn end(&self) -> usize {
        if self.rows == 0 || self.cols == 0 {
            return self.offset;
        }
        self.offset + (self.rows - 1) * self.row + (self.cols - 1) * self.col + 1
    }
}

/// `dst = [dst +] alpha · lhs · rhs` on one thread (the callers parallelise over heads).
/// `dst` is a raw pointer because the forward's heads write interleaved rows of one buffer;
/// every matrix is checked to lie inside its buffer.
#[allow(clippy::too_many_arguments)]
fn gemm_into(
    dst: *mut f32,
    dst_len: usize,
    d: Mat,
    lhs: &[f32],
    l: Mat,
    rhs: &[f32],
    r: Mat,
    alpha: f32,
    accumulate: bool,
) {
    assert!(
        l.rows == d.rows && r.cols == d.cols && l.cols == r.rows,
        "fused attention: matrix sizes do not chain"
    );
    assert!(d.end() <= dst_len && l.end() <= lhs.len() && r.end() <= rhs.len());
    // Safety: the three matrices lie inside their buffers (checked above); the caller
    // guarantees that no other thread writes the destination's elements meanwhile.
    unsafe {
        gemm::gemm(
            d.rows,
            d.cols,
            l.cols,
            dst.add(d.offset),
            d.col as isize,
            d.row as isize,
            accumulate,
            lhs.as_ptr().add(l.offset),
            l.col as isize,
            l.row as isize,
            rhs.as_ptr().add(r.offset),
            r.col as isize,
            r.row as isize,
            1.0,
            alpha,
            false,
            false,
            false,
            gemm::Parallelism::None,
        )
    }
}

impl Attention {
    /// The keys query `i` sees, as a range of key indices.
    fn visible(&self, i: usize, s: usize) -> std::ops::Range<usize> {
        let last = (self.offset + i).min(s - 1);
        let first = self
            .window
            .map_or(0, |w| (self.offset + i + 1).saturating_sub(w));
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
        for (i, row) in p.chunks_mut(s).enumerate() {
            let seen = self.visible(i, s);
            let max = row_max(&row[seen.clone()]);
            let mut sum = 0.0;
            for (j, x) in row.iter_mut().enumerate() {
                *x = if seen.contains(&j) {
                    (*x - max).exp()
                } else {
                    0.0
                };
                sum += *x;
            }
            let inv = 1.0 / sum;
            row[seen].iter_mut().for_each(|x| *x *= inv);
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

impl CustomOp3 for Attention {
    fn name(&self) -> &'static str {
        "hone-causal-attention"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (q, k, v) = (f32s(s1, l1)?, f32s(s2, l2)?, f32s(s3, l3)?);
        let dims = Dims::of(l1, l2)?;
        if let Some(grad_out) = &self.grad_out {
            return with_f32s(grad_out, |g| self.backward(dims, q, k, v, g));
        }
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
        });
        Ok((CpuStorage::F32(out), Shape::from((b, t, h * d))))
    }

    /// With `P` recomputed per head and `dO` the output's gradient:
    /// `dV = Pᵀ·dO`, `dP = dO·Vᵀ`, `dS = P ⊙ (dP − rowsum(dP ⊙ P))`, `dQ = dS·K/√d`,
    /// `dK = dSᵀ·Q/√d` (K and V gradients summed over the query heads that share them).
    fn bwd(
        &self,
        q: &Tensor,
        k: &Tensor,
        v: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let back = Attention {
            offset: self.offset,
            window: self.window,
            grad_out: Some(grad.contiguous()?),
        };
        let all = q.apply_op3_no_bwd(k, v, &back)?;
        let (nq, nk) = (q.elem_count(), k.elem_count());
        let dq = all.narrow(0, 0, nq)?.reshape(q.shape())?;
        let dk = all.narrow(0, nq, nk)?.reshape(k.shape())?;
        let dv = all.narrow(0, nq + nk, nk)?.reshape(v.shape())?;
        Ok((Some(dq), Some(dk), Some(dv)))
    }
}

/// One (batch, K/V head)'s share of the gradients: its query heads' dQ, its dK and dV.
type HeadGradients<'a> = (&'a mut [f32], &'a mut [f32], &'a mut [f32]);

impl Attention {
    /// The three gradients, flat and stacked `[dq | dk | dv]`.
    fn backward(
        &self,
        dims: Dims,
        q: &[f32],
        k: &[f32],
        v: &[f32],
        grad_out: &[f32],
    ) -> candle_core::Result<(CpuStorage, Shape)> {
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
                    for (prow, dprow) in p.chunks_mut(s).zip(dp.chunks(s)) {
                        let dot: f32 = prow.iter().zip(dprow).map(|(a, b)| a * b).sum();
                        for (x, &g) in prow.iter_mut().zip(dprow) {
                            *x *= g - dot;
                        }
                    }
                    // p now holds dS.
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
        });
        let n = all.len();
        Ok((CpuStorage::F32(all), Shape::from(n)))
    }
}
