//! Spatial, edge-preserving denoise of one frame (before upscaling: denoising after it
//! would have the model sharpen noise into detail first).
//!
//! The noise level is measured from the frame itself (Immerkær's Laplacian-difference
//! estimator, made robust to texture by taking the median), so `strength` means the
//! same on clean scans and on grainy tape: 0 leaves the frame as it is, 1 applies the
//! full bilateral filter tuned to the measured noise.

use super::planes::RgbPlanes;

/// Estimated noise standard deviation (0..1 scale) of a luma plane.
pub fn estimate_noise(luma: &[f32], width: usize, height: usize) -> f32 {
    if width < 3 || height < 3 {
        return 0.0;
    }
    // Laplacian difference kernel [1 -2 1; -2 4 -2; 1 -2 1]: zero on planes and ramps;
    // its response to white noise of std s has std 6 s.
    let mut responses = Vec::with_capacity((width - 2) * (height - 2));
    for y in 1..height - 1 {
        let (up, row, down) = ((y - 1) * width, y * width, (y + 1) * width);
        for x in 1..width - 1 {
            let v = luma[up + x - 1] - 2.0 * luma[up + x] + luma[up + x + 1] - 2.0 * luma[row + x - 1]
                + 4.0 * luma[row + x]
                - 2.0 * luma[row + x + 1]
                + luma[down + x - 1]
                - 2.0 * luma[down + x]
                + luma[down + x + 1];
            responses.push(v.abs());
        }
    }
    let mid = responses.len() / 2;
    let (_, median, _) = responses.select_nth_unstable_by(mid, f32::total_cmp);
    // For a normal variable, median(|X|) = 0.6745 std(X).
    *median / (0.6745 * 6.0)
}

const RADIUS: isize = 2;
const SPATIAL_SIGMA: f32 = 1.5;

/// Bilateral filter of radius 2 whose range kernel is set by the noise level `sigma`,
/// blended with the input by `strength`.
pub fn denoise(frame: &RgbPlanes, sigma: f32, strength: f32) -> RgbPlanes {
    let strength = strength.clamp(0.0, 1.0);
    if strength == 0.0 || sigma <= 0.0 {
        return frame.clone();
    }
    let (w, h, n) = (frame.width as isize, frame.height as isize, frame.plane_len());
    let mut spatial = Vec::new();
    for dy in -RADIUS..=RADIUS {
        for dx in -RADIUS..=RADIUS {
            let d2 = (dx * dx + dy * dy) as f32;
            spatial.push((dx, dy, (-d2 / (2.0 * SPATIAL_SIGMA * SPATIAL_SIGMA)).exp()));
        }
    }
    // Same-surface neighbours differ by about 6 sigma^2 (3 channels, 2 noisy pixels):
    // they keep weight ~0.8; a step of 5 sigma in every channel drops to ~0.04.
    let inv_range = 1.0 / (2.0 * 3.0 * (2.0 * sigma).powi(2));
    let d = &frame.data;
    let mut out = RgbPlanes::new(frame.width, frame.height);
    for y in 0..h {
        for x in 0..w {
            let i = (y * w + x) as usize;
            let (r0, g0, b0) = (d[i], d[n + i], d[2 * n + i]);
            let (mut sr, mut sg, mut sb, mut sw) = (0.0f32, 0.0f32, 0.0f32, 0.0f32);
            for &(dx, dy, ws) in &spatial {
                let (xx, yy) = ((x + dx).clamp(0, w - 1), (y + dy).clamp(0, h - 1));
                let j = (yy * w + xx) as usize;
                let (r, g, b) = (d[j], d[n + j], d[2 * n + j]);
                let dist = (r - r0).powi(2) + (g - g0).powi(2) + (b - b0).powi(2);
                let weight = ws * (-dist * inv_range).exp();
                sr += weight * r;
                sg += weight * g;
                sb += weight * b;
                sw += weight;
            }
            let inv = 1.0 / sw;
            out.data[i] = r0 + strength * (sr * inv - r0);
            out.data[n + i] = g0 + strength * (sg * inv - g0);
            out.data[2 * n + i] = b0 + strength * (sb * inv - b0);
        }
    }
    out
}
