//! MS-SSIM (Wang, Simoncelli, Bovik 2003, "Multi-scale structural similarity for image
//! quality assessment"): five scales with the paper's exponents 0.0448, 0.2856, 0.3001,
//! 0.2363, 0.1333; the contrast-structure term at the first four, the whole SSIM at the
//! coarsest; between scales a 2x2 mean and decimation by 2 (an odd last row or column is
//! dropped). SSIM as [`crate::metrics::ssim`] (11x11 Gaussian, σ 1.5, L 255). Negative
//! factors are clamped to 0 so the power stays real. Needs 176 pixels (11 · 2⁴) per side.

use anyhow::{ensure, Result};

use crate::metrics::{ssim_parts, Plane};

pub const WEIGHTS: [f64; 5] = [0.0448, 0.2856, 0.3001, 0.2363, 0.1333];

pub fn ms_ssim(a: &Plane, b: &Plane) -> Result<f64> {
    ensure!((a.width, a.height) == (b.width, b.height), "compared planes differ in size");
    ensure!(
        a.width >= 176 && a.height >= 176,
        "MS-SSIM needs at least 176x176 pixels (five scales of an 11-pixel window), got {}x{}",
        a.width,
        a.height
    );
    let (mut x, mut y) = (a.clone(), b.clone());
    let mut out = 1.0;
    for (i, w) in WEIGHTS.iter().enumerate() {
        let (s, cs) = ssim_parts(&x, &y);
        if i == WEIGHTS.len() - 1 {
            out *= s.max(0.0).powf(*w);
        } else {
            out *= cs.max(0.0).powf(*w);
            (x, y) = (half(&x), half(&y));
        }
    }
    Ok(out)
}

/// 2x2 mean, decimated by 2.
pub fn half(p: &Plane) -> Plane {
    let (w, h) = (p.width / 2, p.height / 2);
    let mut data = Vec::with_capacity(w * h);
    for y in 0..h {
        for x in 0..w {
            let at = |dy: usize, dx: usize| p.data[(2 * y + dy) * p.width + 2 * x + dx];
            data.push((at(0, 0) + at(0, 1) + at(1, 0) + at(1, 1)) / 4.0);
        }
    }
    Plane::new(w, h, data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identical_planes_score_one_and_noise_lowers_it() {
        let a = Plane::new(180, 180, (0..180 * 180).map(|i| f64::from((i * 7 % 251) as u32)).collect());
        assert!((ms_ssim(&a, &a).unwrap() - 1.0).abs() < 1e-12);
        let b = Plane::new(180, 180, a.data.iter().enumerate().map(|(i, v)| v + f64::from((i % 5) as u32)).collect());
        assert!(ms_ssim(&a, &b).unwrap() < 1.0);
        assert!(ms_ssim(&half(&a), &half(&a)).is_err(), "90x90 is too small");
    }
}
