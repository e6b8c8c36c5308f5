//! Motion between consecutive low-resolution frames: hierarchical block matching on
//! luma (half resolution first, then a refinement at full resolution), with a bias to
//! the zero vector so that noise alone does not invent motion in static areas.

use super::planes::RgbPlanes;

pub const BLOCK: usize = 8;
/// Search range at half resolution: +-8 there is +-16 pixels at full resolution.
const COARSE_RANGE: isize = 8;
const FINE_RANGE: isize = 2;

/// One integer vector per `BLOCK`x`BLOCK` block: `current(x) ~ previous(x + v)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MotionField {
    pub cols: usize,
    pub rows: usize,
    pub vectors: Vec<(i32, i32)>,
}

impl MotionField {
    pub fn vector_at(&self, x: usize, y: usize) -> (i32, i32) {
        self.vectors[(y / BLOCK).min(self.rows - 1) * self.cols + (x / BLOCK).min(self.cols - 1)]
    }
}

fn half(plane: &[f32], w: usize, h: usize) -> (Vec<f32>, usize, usize) {
    let (hw, hh) = (w.div_ceil(2), h.div_ceil(2));
    let mut out = vec![0.0; hw * hh];
    for y in 0..hh {
        for x in 0..hw {
            let (x0, y0) = (2 * x, 2 * y);
            let (x1, y1) = ((x0 + 1).min(w - 1), (y0 + 1).min(h - 1));
            out[y * hw + x] =
                0.25 * (plane[y0 * w + x0] + plane[y0 * w + x1] + plane[y1 * w + x0] + plane[y1 * w + x1]);
        }
    }
    (out, hw, hh)
}

/// Sum of absolute differences between the block at (bx, by) of `cur` and the block
/// displaced by (dx, dy) in `prev` (clamped at the edges).
#[allow(clippy::too_many_arguments)]
fn sad(cur: &[f32], prev: &[f32], w: usize, h: usize, bx: usize, by: usize, size: usize, dx: isize, dy: isize) -> f32 {
    let mut total = 0.0;
    for y in by..(by + size).min(h) {
        let py = (y as isize + dy).clamp(0, h as isize - 1) as usize;
        for x in bx..(bx + size).min(w) {
            let px = (x as isize + dx).clamp(0, w as isize - 1) as usize;
            total += (cur[y * w + x] - prev[py * w + px]).abs();
        }
    }
    total
}

#[allow(clippy::too_many_arguments)]
fn best_vector(
    cur: &[f32],
    prev: &[f32],
    w: usize,
    h: usize,
    bx: usize,
    by: usize,
    size: usize,
    center: (isize, isize),
    range: isize,
) -> (isize, isize) {
    let zero = sad(cur, prev, w, h, bx, by, size, 0, 0);
    let (mut best, mut best_sad) = ((0, 0), zero);
    for dy in center.1 - range..=center.1 + range {
        for dx in center.0 - range..=center.0 + range {
            let s = sad(cur, prev, w, h, bx, by, size, dx, dy);
            if s < best_sad {
                best = (dx, dy);
                best_sad = s;
            }
        }
    }
    // Keep the zero vector unless motion explains the block clearly better.
    if best_sad > 0.97 * zero {
        (0, 0)
    } else {
        best
    }
}

/// Estimates block motion from `previous` to `current` (both luma, same size).
pub fn estimate(previous: &[f32], current: &[f32], width: usize, height: usize) -> MotionField {
    let (cols, rows) = (width.div_ceil(BLOCK), height.div_ceil(BLOCK));
    let (prev_half, hw, hh) = half(previous, width, height);
    let (cur_half, _, _) = half(current, width, height);
    let mut vectors: Vec<(i32, i32)> = Vec::with_capacity(cols * rows);
    for row in 0..rows {
        for col in 0..cols {
            let (bx, by) = (col * BLOCK, row * BLOCK);
            let coarse = best_vector(&cur_half, &prev_half, hw, hh, bx / 2, by / 2, BLOCK / 2, (0, 0), COARSE_RANGE);
            // Candidates: the coarse match and the left and upper neighbours' vectors
            // (motion is smooth; this settles blocks with little texture).
            let mut candidates = vec![(2 * coarse.0, 2 * coarse.1)];
            if col > 0 {
                let v = vectors[row * cols + col - 1];
                candidates.push((v.0 as isize, v.1 as isize));
            }
            if row > 0 {
                let v = vectors[(row - 1) * cols + col];
                candidates.push((v.0 as isize, v.1 as isize));
            }
            // Departing from the neighbours' vector costs a little: in flat, noisy areas
            // every vector fits about as well, and a smooth field avoids block seams.
            let predicted = candidates[1..].first().copied().unwrap_or((0, 0));
            let cost = |v: (isize, isize)| {
                let s = sad(current, previous, width, height, bx, by, BLOCK, v.0, v.1);
                s * (1.0 + 0.02 * ((v.0 - predicted.0).abs() + (v.1 - predicted.1).abs()) as f32)
            };
            let (mut best, mut best_cost) = ((0, 0), cost((0, 0)));
            for center in candidates {
                let v = best_vector(current, previous, width, height, bx, by, BLOCK, center, FINE_RANGE);
                let c = cost(v);
                if c < best_cost {
                    (best, best_cost) = (v, c);
                }
            }
            vectors.push((best.0 as i32, best.1 as i32));
        }
    }
    MotionField { cols, rows, vectors: median_filtered(&vectors, cols, rows) }
}

/// Moves `previous` along the field so that it lines up with the current frame.
pub fn compensate(previous: &RgbPlanes, field: &MotionField) -> RgbPlanes {
    let (w, h) = (previous.width, previous.height);
    let data = (0..3).flat_map(|c| compensate_plane(previous.plane(c), w, h, field)).collect();
    RgbPlanes { width: w, height: h, data }
}

/// Moves a single plane (e.g. a per-pixel count) along the field.
pub fn compensate_plane(previous: &[f32], width: usize, height: usize, field: &MotionField) -> Vec<f32> {
    let mut out = vec![0.0; width * height];
    for y in 0..height {
        for x in 0..width {
            let (dx, dy) = field.vector_at(x, y);
            let px = (x as isize + dx as isize).clamp(0, width as isize - 1) as usize;
            let py = (y as isize + dy as isize).clamp(0, height as isize - 1) as usize;
            out[y * width + x] = previous[py * width + px];
        }
    }
    out
}

/// 3x3 component-wise median of the vector field: removes isolated outliers that
/// noise produces in flat areas, keeps motion boundaries.
fn median_filtered(vectors: &[(i32, i32)], cols: usize, rows: usize) -> Vec<(i32, i32)> {
    let mut out = Vec::with_capacity(vectors.len());
    for r in 0..rows {
        for c in 0..cols {
            let (mut xs, mut ys) = (Vec::with_capacity(9), Vec::with_capacity(9));
            for rr in r.saturating_sub(1)..(r + 2).min(rows) {
                for cc in c.saturating_sub(1)..(c + 2).min(cols) {
                    let v = vectors[rr * cols + cc];
                    xs.push(v.0);
                    ys.push(v.1);
                }
            }
            xs.sort_unstable();
            ys.sort_unstable();
            out.push((xs[xs.len() / 2], ys[ys.len() / 2]));
        }
    }
    out
}
