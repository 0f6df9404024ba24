//! Half-rotation RoPE of one row (`x·cos + rotate_half(x)·sin`, the layout Hugging Face's
//! Llama uses). The rotation is orthogonal: its backward is the rotation by the opposite angle.

/// Rotates `x` (one head's `head_dim` values at one position) into `out` by `cos`/`sin`
/// (`head_dim / 2` each, that position's row of the tables); `sign` −1 rotates back.
#[inline]
pub(super) fn rotate_row(x: &[f32], cos: &[f32], sin: &[f32], sign: f32, out: &mut [f32]) {
    let half = x.len() / 2;
    let (x1, x2) = x.split_at(half);
    let (y1, y2) = out.split_at_mut(half);
    for j in 0..half {
        let (c, s) = (cos[j], sign * sin[j]);
        y1[j] = x1[j] * c - x2[j] * s;
        y2[j] = x2[j] * c + x1[j] * s;
    }
}
