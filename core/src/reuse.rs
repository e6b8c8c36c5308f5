//! Tile reuse for video (issue 12's second speed lever, a prototype behind an option
//! that is off by default): a tile whose model input, context included, has not
//! changed beyond a threshold since the model last ran on it gets that run's output
//! again instead of a new run.
//!
//! The decision is a pure function of two tile inputs ([`tile_change`]); the state (the
//! input each tile's output was computed from, and the last native-size output) lives
//! in [`ReuseState`], owned by the `Upscaler` and reset with the stream.

use crate::{
    pixels::{Image, ImageMut, PixelFormat},
    CoreError, ParameterError, Result,
};

/// Side of the blocks whose mean difference [`tile_change`] takes.
pub const BLOCK: usize = 8;

/// How much a tile's input changed: the largest mean absolute difference over
/// `BLOCK`x`BLOCK` blocks (all planes averaged), in 8-bit levels (inputs are 0..1).
///
/// A block mean, not the largest single difference: on the repository's clips the
/// codec's noise alone moved some pixel of every 128-256 px tile by more than 8 levels
/// between frames, so a per-pixel maximum never reuses anything; an 8x8 mean averages
/// that noise down while a moving object of a few pixels still moves its block's mean.
/// `planes` tensors are `[planes, height, width]`.
pub fn tile_change(previous: &[f32], current: &[f32], width: usize, height: usize) -> f32 {
    debug_assert_eq!(previous.len(), current.len());
    let plane = width * height;
    let planes = current.len() / plane.max(1);
    let mut worst = 0.0f32;
    for by in (0..height).step_by(BLOCK) {
        for bx in (0..width).step_by(BLOCK) {
            let (y1, x1) = ((by + BLOCK).min(height), (bx + BLOCK).min(width));
            let mut sum = 0.0f32;
            for p in 0..planes {
                for y in by..y1 {
                    let row = p * plane + y * width;
                    sum += previous[row + bx..row + x1]
                        .iter()
                        .zip(&current[row + bx..row + x1])
                        .map(|(a, b)| (a - b).abs())
                        .sum::<f32>();
                }
            }
            let count = (planes * (y1 - by) * (x1 - bx)) as f32;
            worst = worst.max(sum / count);
        }
    }
    worst * 255.0
}

/// Checks a reuse threshold (8-bit levels; `None` = off).
pub fn check_threshold(threshold: Option<f32>) -> Result<Option<f32>> {
    match threshold {
        Some(t) if !(t.is_finite() && t >= 0.0) => {
            Err(CoreError::Parameter(ParameterError::ReuseThreshold { threshold: t }))
        }
        other => Ok(other),
    }
}

/// Model runs and reuses of the last frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReuseStats {
    pub tiles_run: usize,
    pub tiles_reused: usize,
}

/// What a frame's tiles are compared against: valid while the stream keeps its shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Shape {
    pub src: (u32, u32),
    pub native: (u32, u32),
    pub format: PixelFormat,
    pub tile: (usize, usize),
    pub tiles: usize,
}

pub(crate) struct ReuseState {
    pub threshold: f32,
    shape: Option<Shape>,
    /// Per tile, the model input its output in `output` was computed from: compared
    /// against that, not the previous frame, so slow drift cannot accumulate unseen.
    inputs: Vec<Option<Vec<f32>>>,
    /// The last frame's native-size model output.
    output: Option<Image>,
    pub stats: ReuseStats,
}

impl ReuseState {
    pub fn new(threshold: f32) -> Self {
        Self { threshold, shape: None, inputs: Vec::new(), output: None, stats: ReuseStats::default() }
    }

    pub fn reset(&mut self) {
        self.shape = None;
        self.inputs.clear();
        self.output = None;
    }

    /// Starts a frame of `shape`; forgets everything when the shape changed.
    pub fn begin(&mut self, shape: Shape) {
        if self.shape != Some(shape) {
            self.reset();
            self.inputs = vec![None; shape.tiles];
            self.shape = Some(shape);
        }
        self.stats = ReuseStats::default();
    }

    /// Whether tile `index` with model input `input` can take its previous output.
    pub fn reusable(&self, index: usize, input: &[f32], (width, height): (usize, usize)) -> bool {
        self.output.is_some()
            && self.inputs[index]
                .as_ref()
                .is_some_and(|previous| tile_change(previous, input, width, height) <= self.threshold)
    }

    /// Records the input tile `index` is about to be computed from.
    pub fn computed(&mut self, index: usize, input: &[f32]) {
        let slot = self.inputs[index].get_or_insert_with(Vec::new);
        slot.clear();
        slot.extend_from_slice(input);
        self.stats.tiles_run += 1;
    }

    /// Copies the `width`x`height` region at (x, y) of the previous output into `dst`.
    pub fn copy_previous(&mut self, dst: &mut ImageMut<'_>, (x, y, width, height): (u32, u32, u32, u32)) {
        let Some(previous) = &self.output else { return };
        let (stride, format) = (dst.stride(), dst.format());
        copy_rect(previous.data(), previous.stride(), stride, dst.data_mut(), format, (x, y, width, height));
        self.stats.tiles_reused += 1;
    }

    /// Keeps this frame's native output for the next frame.
    pub fn finish(&mut self, native: &ImageMut<'_>) -> Result<()> {
        let keep = self.output.as_ref().is_some_and(|o| (o.width(), o.height()) == (native.width(), native.height()));
        if !keep {
            self.output = Some(Image::new(native.width(), native.height(), native.format())?);
        }
        let output = self.output.as_mut().expect("set above");
        let stride = output.stride();
        let rect = (0, 0, native.width(), native.height());
        copy_rect(native.as_ref().data(), native.stride(), stride, output.data_mut(), native.format(), rect);
        Ok(())
    }
}

fn copy_rect(
    src: &[u8],
    src_stride: usize,
    dst_stride: usize,
    dst: &mut [u8],
    format: PixelFormat,
    (x, y, width, height): (u32, u32, u32, u32),
) {
    let bpp = format.bytes_per_pixel();
    let (start, len) = (x as usize * bpp, width as usize * bpp);
    for row in y as usize..(y + height) as usize {
        let (s, d) = (row * src_stride + start, row * dst_stride + start);
        dst[d..d + len].copy_from_slice(&src[s..s + len]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_small_moving_object_counts_where_spread_noise_does_not() {
        let (w, h) = (32, 24);
        let base: Vec<f32> = (0..3 * w * h).map(|i| (i % 97) as f32 / 97.0).collect();
        // +-6 levels of alternating "noise" on every sample: block means cancel it.
        let noisy: Vec<f32> =
            base.iter().enumerate().map(|(i, v)| v + if i % 2 == 0 { 6.0 } else { -6.0 } / 255.0).collect();
        assert!(tile_change(&base, &noisy, w, h) < 0.5, "{}", tile_change(&base, &noisy, w, h));
        // A 3x3 object 100 levels brighter, in one plane only: 100 * 9 / 192 levels.
        let mut moved = base.clone();
        for y in 10..13 {
            for x in 20..23 {
                moved[y * w + x] += 100.0 / 255.0;
            }
        }
        let change = tile_change(&base, &moved, w, h);
        assert!((change - 100.0 * 9.0 / 192.0).abs() < 0.01, "{change}");
        assert_eq!(tile_change(&base, &base, w, h), 0.0);
    }

    #[test]
    fn partial_edge_blocks_average_over_what_they_hold() {
        // A 9x9 single plane: the last column and row are blocks of 8 and 1 pixels.
        let a = vec![0.0f32; 81];
        let mut b = a.clone();
        b[80] = 10.0 / 255.0;
        assert!((tile_change(&a, &b, 9, 9) - 10.0).abs() < 1e-3);
    }

    #[test]
    fn thresholds_must_be_finite_and_not_negative() {
        assert_eq!(check_threshold(None).unwrap(), None);
        assert_eq!(check_threshold(Some(0.0)).unwrap(), Some(0.0));
        let err = check_threshold(Some(-1.0)).unwrap_err().to_string();
        assert!(err.contains("-1"), "{err}");
        assert!(check_threshold(Some(f32::NAN)).is_err());
    }
}
