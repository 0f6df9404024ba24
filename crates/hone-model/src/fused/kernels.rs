//! What the fused ops share: rows handed to candle's CPU workers, f32 views of storages, and
//! vectorisable row reductions.

use std::sync::Mutex;

use candle_core::backend::BackendStorage;
use candle_core::{bail, CpuStorage, CustomOp2, Layout, Shape, Storage, Tensor};

/// Rows are handed to threads in chunks of about this many elements.
pub(super) const GRAIN: usize = 1 << 14;

/// Fills `out` row by row (`width` elements each) with `f(row_index, out_row)`, in chunks of
/// rows shared among candle's CPU worker threads (the pool its element-wise ops run on, so
/// these kernels neither wait for nor compete with a second pool).
pub(super) fn each_row(out: &mut [f32], width: usize, f: impl Fn(usize, &mut [f32]) + Sync) {
    each_row_weighted(out, width, width, f)
}

/// [`each_row`] where computing one row reads `work` elements (more than it writes: a row of
/// log-probs reads a whole row of logits), so that chunks hold about the same work.
pub(super) fn each_row_weighted(
    out: &mut [f32],
    width: usize,
    work: usize,
    f: impl Fn(usize, &mut [f32]) + Sync,
) {
    if width == 0 || out.is_empty() {
        return;
    }
    let rows_per_chunk = (GRAIN / work.max(width)).max(1);
    let chunk_len = rows_per_chunk * width;
    if out.len() <= chunk_len {
        out.chunks_mut(width)
            .enumerate()
            .for_each(|(i, row)| f(i, row));
        return;
    }
    // Each chunk is taken by exactly one thread: its lock is never contended.
    let chunks: Vec<Mutex<&mut [f32]>> = out.chunks_mut(chunk_len).map(Mutex::new).collect();
    candle_core::utils::barrier_pool().execute_chunked(chunks.len(), |range| {
        for c in range {
            let mut chunk = chunks[c].lock().unwrap_or_else(|e| e.into_inner());
            for (i, row) in chunk.chunks_mut(width).enumerate() {
                f(c * rows_per_chunk + i, row);
            }
        }
    });
}

/// The f32 elements of a contiguous tensor's storage, from its layout's start offset.
pub(super) fn f32s<'a>(storage: &'a CpuStorage, layout: &Layout) -> candle_core::Result<&'a [f32]> {
    let CpuStorage::F32(all) = storage else {
        bail!("fused op: expects f32, got {:?}", storage.dtype())
    };
    match layout.contiguous_offsets() {
        Some((start, end)) => Ok(&all[start..end]),
        None => bail!("fused op: expects a contiguous tensor"),
    }
}

/// Runs `f` on the f32 elements of a contiguous CPU tensor.
pub(super) fn with_f32s<R>(
    t: &Tensor,
    f: impl FnOnce(&[f32]) -> candle_core::Result<R>,
) -> candle_core::Result<R> {
    let (storage, layout) = t.storage_and_layout();
    let Storage::Cpu(cpu) = &*storage else {
        bail!("fused op: tensor is not on the CPU")
    };
    f(f32s(cpu, layout)?)
}

/// The last axis' size, or an error for a scalar.
pub(super) fn last_dim(layout: &Layout) -> candle_core::Result<usize> {
    match layout.dims().last() {
        Some(&d) => Ok(d),
        None => bail!("fused op: expects at least one dimension"),
    }
}

/// An element-wise kernel over two same-shaped contiguous f32 tensors (a saved forward value
/// and the incoming gradient), row by row: the backward passes, run with
/// `apply_op2_no_bwd`.
struct RowKernel2<F> {
    name: &'static str,
    row: F,
}

impl<F: Fn(&[f32], &[f32], &mut [f32]) + Sync> CustomOp2 for RowKernel2<F> {
    fn name(&self) -> &'static str {
        self.name
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        if l1.shape() != l2.shape() {
            bail!(
                "{}: shapes {:?} and {:?} differ",
                self.name,
                l1.shape(),
                l2.shape()
            );
        }
        let (a, b) = (f32s(s1, l1)?, f32s(s2, l2)?);
        let width = last_dim(l1)?;
        let mut out = vec![0f32; a.len()];
        each_row(&mut out, width, |i, o| {
            let span = i * width..(i + 1) * width;
            (self.row)(&a[span.clone()], &b[span], o)
        });
        Ok((CpuStorage::F32(out), l1.shape().clone()))
    }
}

/// `apply_op2_no_bwd` with a row kernel, after making both operands contiguous.
pub(super) fn row_kernel2(
    name: &'static str,
    a: &Tensor,
    b: &Tensor,
    row: impl Fn(&[f32], &[f32], &mut [f32]) + Sync,
) -> candle_core::Result<Tensor> {
    a.contiguous()?
        .apply_op2_no_bwd(&b.contiguous()?, &RowKernel2 { name, row })
}

/// Independent accumulators in the row reductions, so that the compiler can vectorise them.
const LANES: usize = 8;

/// The largest element of a row (−∞ for an empty one).
#[inline(always)]
pub(super) fn row_max(row: &[f32]) -> f32 {
    let mut acc = [f32::NEG_INFINITY; LANES];
    let chunks = row.chunks_exact(LANES);
    let rest = chunks.remainder();
    for c in chunks {
        for k in 0..LANES {
            acc[k] = if c[k] > acc[k] { c[k] } else { acc[k] };
        }
    }
    acc.iter()
        .chain(rest)
        .fold(f32::NEG_INFINITY, |m, &v| if v > m { v } else { m })
}

/// `Σ f(aᵢ, bᵢ)` over two rows of the same length.
#[inline(always)]
pub(super) fn sum_pairs(a: &[f32], b: &[f32], f: impl Fn(f32, f32) -> f32) -> f32 {
    let mut acc = [0f32; LANES];
    let (ca, cb) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let rest = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(&x, &y)| f(x, y))
        .sum::<f32>();
    for (x, y) in ca.zip(cb) {
        for k in 0..LANES {
            acc[k] += f(x[k], y[k]);
        }
    }
    acc.iter().sum::<f32>() + rest
}

/// `Σ f(aᵢ, bᵢ, cᵢ)` over three rows of the same length.
pub(super) fn sum_triples(
    a: &[f32],
    b: &[f32],
    c: &[f32],
    f: impl Fn(f32, f32, f32) -> f32,
) -> f32 {
    let mut acc = [0f32; LANES];
    let (ca, cb, cc) = (
        a.chunks_exact(LANES),
        b.chunks_exact(LANES),
        c.chunks_exact(LANES),
    );
    let rest = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .zip(cc.remainder())
        .map(|((&x, &y), &z)| f(x, y, z))
        .sum::<f32>();
    for ((x, y), z) in ca.zip(cb).zip(cc) {
        for k in 0..LANES {
            acc[k] += f(x[k], y[k], z[k]);
        }
    }
    acc.iter().sum::<f32>() + rest
}
