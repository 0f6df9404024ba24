//! RoPE and causal attention as one op, straight from the projections' output. Composed, the
//! queries and keys went through a reshape, a transpose, a contiguous copy and a RoPE node
//! each (the values through three): eleven nodes a layer, each keeping its output until the
//! backward ends and each summing its gradient into a fresh zero tensor there. This op reads
//! `q`, `k`, `v` in the `[batch, seq, heads · head_dim]` layout the projections write,
//! rotates and regroups them by head in scratch buffers it frees on return, and gives its
//! gradients back in that same layout, rotated back: one node, keeping only its inputs.

use candle_core::{bail, CpuStorage, CustomOp3, Layout, Shape, Tensor};

use super::attention::{Attention, Dims};
use super::kernels::{each_row, f32s, with_f32s};
use super::rotary::rotate_row;

/// Causal attention of `q` `[b, t, heads · d]` over `k`, `v` `[b, t, kv_heads · d]` (f32 on
/// the CPU, no cache), queries and keys rotated by `cos`/`sin` `[t, d / 2]` (the rows of the
/// tables for positions `0..t`); with a `window` `w`, query `i` sees keys `i − w < j ≤ i`.
/// Returns `[b, t, heads · d]`; differentiable in q, k and v.
#[allow(clippy::too_many_arguments)]
pub fn rotary_attention(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    heads: usize,
    kv_heads: usize,
    cos: &Tensor,
    sin: &Tensor,
    window: Option<usize>,
) -> candle_core::Result<Tensor> {
    let (b, t, q_width) = q.dims3()?;
    let fits = heads > 0
        && kv_heads > 0
        && heads.is_multiple_of(kv_heads)
        && q_width.is_multiple_of(heads)
        && k.dims3()? == (b, t, kv_heads * (q_width / heads))
        && v.dims() == k.dims();
    if !fits {
        bail!(
            "fused attention: q {:?}, k {:?} and v {:?} do not fit {heads} heads over {kv_heads} K/V heads",
            q.shape(),
            k.shape(),
            v.shape()
        );
    }
    if t == 0 {
        bail!("fused attention: no queries");
    }
    let d = q_width / heads;
    if !d.is_multiple_of(2) || cos.dims2()? != (t, d / 2) || sin.dims2()? != (t, d / 2) {
        bail!(
            "fused attention: {t} positions of head size {d} need cos/sin [{t}, {}], got {:?} and {:?}",
            d / 2,
            cos.shape(),
            sin.shape()
        );
    }
    let op = RotaryAttention {
        heads,
        kv_heads,
        cos: cos.detach().contiguous()?,
        sin: sin.detach().contiguous()?,
        window,
        grad_out: None,
    };
    q.contiguous()?
        .apply_op3(&k.contiguous()?, &v.contiguous()?, op)
}

struct RotaryAttention {
    heads: usize,
    kv_heads: usize,
    /// `[t, d / 2]`, contiguous.
    cos: Tensor,
    sin: Tensor,
    window: Option<usize>,
    /// Set on the backward op: the output's gradient, `[b, t, heads · d]`.
    grad_out: Option<Tensor>,
}

/// A rotation to apply while regrouping: the tables and the sign of the angle.
type Rotation<'a> = Option<(&'a [f32], &'a [f32], f32)>;

/// `[b, t, n, d]` (one projection's output) regrouped as `[b, n, t, d]`, each row rotated
/// by its position's angle when `rotation` is given.
fn by_head(x: &[f32], (b, t, n, d): (usize, usize, usize, usize), rotation: Rotation) -> Vec<f32> {
    let mut out = vec![0f32; b * t * n * d];
    each_row(&mut out, d, |i, row| {
        let (bn, ti) = (i / t, i % t);
        let (bi, head) = (bn / n, bn % n);
        let at = ((bi * t + ti) * n + head) * d;
        rotate_or_copy(&x[at..at + d], ti, rotation, row);
    });
    out
}

/// The inverse of [`by_head`]: `[b, n, t, d]` back to `[b, t, n, d]` into `out`, rotated back
/// when `rotation` is given (with the opposite sign).
fn by_token(
    x: &[f32],
    (b, t, n, d): (usize, usize, usize, usize),
    rotation: Rotation,
    out: &mut [f32],
) {
    debug_assert_eq!(out.len(), b * t * n * d);
    each_row(out, d, |i, row| {
        let (bt, head) = (i / n, i % n);
        let (bi, ti) = (bt / t, bt % t);
        let at = ((bi * n + head) * t + ti) * d;
        rotate_or_copy(&x[at..at + d], ti, rotation, row);
    });
}

fn rotate_or_copy(x: &[f32], position: usize, rotation: Rotation, out: &mut [f32]) {
    match rotation {
        Some((cos, sin, sign)) => {
            let half = x.len() / 2;
            let at = position * half;
            rotate_row(x, &cos[at..at + half], &sin[at..at + half], sign, out);
        }
        None => out.copy_from_slice(x),
    }
}

impl CustomOp3 for RotaryAttention {
    fn name(&self) -> &'static str {
        "hone-rotary-attention"
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
        let (b, t, q_width) = l1.shape().dims3()?;
        let (h, kvh) = (self.heads, self.kv_heads);
        let d = q_width / h;
        let dims = Dims {
            b,
            h,
            kvh,
            t,
            s: t,
            d,
        };
        let attention = Attention {
            window: self.window,
        };
        with_f32s(&self.cos, |cos| {
            with_f32s(&self.sin, |sin| {
                let rotation = |sign| Some((cos, sin, sign));
                let rq = by_head(q, (b, t, h, d), rotation(1.0));
                let rk = by_head(k, (b, t, kvh, d), rotation(1.0));
                let vh = by_head(v, (b, t, kvh, d), None);
                let Some(grad_out) = &self.grad_out else {
                    let out = attention.forward(dims, &rq, &rk, &vh);
                    return Ok((CpuStorage::F32(out), Shape::from((b, t, h * d))));
                };
                let heads = with_f32s(grad_out, |g| attention.backward(dims, &rq, &rk, &vh, g))?;
                drop((rq, rk, vh));
                // Back to the projections' layout, stacked `[dq | dk | dv]`.
                let (nq, nk) = (q.len(), k.len());
                let mut all = vec![0f32; heads.len()];
                let (dq, rest) = all.split_at_mut(nq);
                let (dk, dv) = rest.split_at_mut(nk);
                by_token(&heads[..nq], (b, t, h, d), rotation(-1.0), dq);
                by_token(&heads[nq..nq + nk], (b, t, kvh, d), rotation(-1.0), dk);
                by_token(&heads[nq + nk..], (b, t, kvh, d), None, dv);
                let n = all.len();
                Ok((CpuStorage::F32(all), Shape::from(n)))
            })
        })
    }

    fn bwd(
        &self,
        q: &Tensor,
        k: &Tensor,
        v: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let back = RotaryAttention {
            heads: self.heads,
            kv_heads: self.kv_heads,
            cos: self.cos.clone(),
            sin: self.sin.clone(),
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
