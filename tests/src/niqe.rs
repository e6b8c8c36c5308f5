//! NIQE (Mittal, Soundararajan, Bovik 2013, "Making a completely blind image quality
//! analyzer"), computed as basicsr 1.4.2's MATLAB-compatible `calculate_niqe`: Y of BT.601
//! (MATLAB `rgb2ycbcr`) rounded, 96x96 blocks without overlap, two scales (the second by
//! MATLAB's antialiased bicubic `imresize` at 0.5), 18 AGGD features per block and scale,
//! and the distance to the pristine multivariate Gaussian of the official release
//! (`niqe_pris_params.npz`, in basicsr's sdist; `scripts/setup` puts it in `.deps/metrics`).
//! Lower is more natural.

use std::path::{Path, PathBuf};

use aiupscale_core::Image;
use anyhow::{ensure, Result};

use crate::{metrics::Plane, nss};

const FEATURES: usize = 36;
const BLOCK: usize = 96;

/// The pristine model: mean and covariance of the 36 features, and the 7x7 window.
pub struct NiqeModel {
    mu: Vec<f64>,
    cov: Vec<f64>,
    window: Vec<f64>,
    /// The AGGD shape grid: α = 0.2, 0.201, … 10 and r(α) = Γ(2/α)² / (Γ(1/α) Γ(3/α)).
    grid: Vec<(f64, f64)>,
}

impl NiqeModel {
    /// Where `scripts/setup` puts the parameters.
    pub fn default_path() -> PathBuf {
        crate::repo_root().join(".deps/metrics/basicsr-1.4.2/basicsr/metrics/niqe_pris_params.npz")
    }

    pub fn load(path: &Path) -> Result<Self> {
        let arrays = nss::read_npz(path, &["mu_pris_param", "cov_pris_param", "gaussian_window"])?;
        let [(mu_shape, mu), (cov_shape, cov), (w_shape, window)] =
            <[_; 3]>::try_from(arrays).map_err(|_| anyhow::anyhow!("three arrays expected"))?;
        ensure!(mu.len() == FEATURES, "mu_pris_param has shape {mu_shape:?}, expected (1, {FEATURES})");
        ensure!(cov_shape == [FEATURES, FEATURES], "cov_pris_param has shape {cov_shape:?}, expected (36, 36)");
        ensure!(w_shape == [7, 7], "gaussian_window has shape {w_shape:?}, expected (7, 7)");
        // numpy's arange fills start + i * (second - first).
        let delta = (0.2f64 + 0.001) - 0.2;
        let grid = (0..9801)
            .map(|i| {
                let a = 0.2 + i as f64 * delta;
                (a, nss::gamma(2.0 / a).powi(2) / (nss::gamma(1.0 / a) * nss::gamma(3.0 / a)))
            })
            .collect();
        Ok(Self { mu, cov, window, grid })
    }

    pub fn load_default() -> Result<Self> {
        Self::load(&Self::default_path())
    }
}

/// NIQE of an RGB8 image on its Y (rounded, as basicsr does for MATLAB parity).
pub fn niqe_rgb(img: &Image, model: &NiqeModel) -> Result<f64> {
    let mut y = crate::metrics::luma_601(img);
    y.data.iter_mut().for_each(|v| *v = v.round_ties_even());
    niqe(&y, model)
}

/// NIQE of a plane on the 0..255 scale; needs at least two 96x96 blocks.
pub fn niqe(plane: &Plane, model: &NiqeModel) -> Result<f64> {
    let (bw, bh) = (plane.width / BLOCK, plane.height / BLOCK);
    ensure!(
        bw * bh >= 2,
        "NIQE needs at least two {BLOCK}x{BLOCK} blocks; the image is {}x{}",
        plane.width,
        plane.height
    );
    let (w, h) = (bw * BLOCK, bh * BLOCK);
    let mut img: Vec<f64> = (0..h).flat_map(|y| plane.data[y * plane.width..y * plane.width + w].to_vec()).collect();
    let (mut iw, mut ih) = (w, h);
    let mut rows = vec![Vec::with_capacity(FEATURES); bw * bh];
    for scale in [1usize, 2] {
        let norm = mscn(&img, iw, ih, &model.window);
        let side = BLOCK / scale;
        for bx in 0..bw {
            for by in 0..bh {
                let mut block = Vec::with_capacity(side * side);
                for y in by * side..(by + 1) * side {
                    block.extend_from_slice(&norm[y * iw + bx * side..y * iw + (bx + 1) * side]);
                }
                rows[bx * bh + by].extend(block_features(&block, side, &model.grid));
            }
        }
        if scale == 1 {
            // float32 like basicsr: I / 255, the resize, then x 255.
            let scaled: Vec<f64> = img.iter().map(|&v| f64::from(v as f32 / 255.0)).collect();
            let (half, hw, hh) = imresize_half(&scaled, iw, ih);
            img = half.into_iter().map(|v| f64::from(v as f32 * 255.0)).collect();
            (iw, ih) = (hw, hh);
        }
    }
    // Mean over blocks ignoring NaN per feature; covariance over the blocks without NaN.
    let mean: Vec<f64> = (0..FEATURES)
        .map(|k| {
            let vals: Vec<f64> = rows.iter().map(|r| r[k]).filter(|v| !v.is_nan()).collect();
            vals.iter().sum::<f64>() / vals.len() as f64
        })
        .collect();
    let clean: Vec<&Vec<f64>> = rows.iter().filter(|r| r.iter().all(|v| !v.is_nan())).collect();
    ensure!(clean.len() >= 2, "NIQE: {} blocks with finite features, at least 2 needed", clean.len());
    let n = clean.len() as f64;
    let cmean: Vec<f64> = (0..FEATURES).map(|k| clean.iter().map(|r| r[k]).sum::<f64>() / n).collect();
    let mut cov = vec![0.0; FEATURES * FEATURES];
    for i in 0..FEATURES {
        for j in 0..FEATURES {
            let s: f64 = clean.iter().map(|r| (r[i] - cmean[i]) * (r[j] - cmean[j])).sum();
            cov[i * FEATURES + j] = s / (n - 1.0);
        }
    }
    let avg: Vec<f64> = model.cov.iter().zip(&cov).map(|(a, b)| (a + b) / 2.0).collect();
    let inv = pinv_symmetric(&avg, FEATURES);
    let d: Vec<f64> = model.mu.iter().zip(&mean).map(|(a, b)| a - b).collect();
    let q: f64 = d
        .iter()
        .enumerate()
        .map(|(i, di)| d.iter().enumerate().map(|(j, dj)| di * inv[i * FEATURES + j] * dj).sum::<f64>())
        .sum();
    Ok(q.sqrt())
}

/// Mean-subtracted contrast-normalised coefficients: (I − μ) / (σ + 1), μ and σ from the
/// 7x7 window with the edge repeated (scipy `convolve(mode='nearest')`). basicsr runs this
/// on float32 arrays (scipy filters in double and stores float32): the same roundings here,
/// since σ² = E[I²] − μ² cancels and flat areas would differ by more than the tolerance.
fn mscn(img: &[f64], w: usize, h: usize, window: &[f64]) -> Vec<f64> {
    let mut out = vec![0.0; w * h];
    let clamp = |v: isize, n: usize| v.clamp(0, n as isize - 1) as usize;
    for y in 0..h {
        for x in 0..w {
            let (mut mu, mut sq) = (0.0, 0.0);
            for ky in 0..7 {
                let sy = clamp(y as isize + 3 - ky as isize, h);
                for kx in 0..7 {
                    let v = f64::from(img[sy * w + clamp(x as isize + 3 - kx as isize, w)] as f32);
                    let k = window[ky * 7 + kx];
                    mu += k * v;
                    sq += k * f64::from((v * v) as f32);
                }
            }
            let (mu, sq) = (mu as f32, sq as f32);
            let sigma = (sq - mu * mu).abs().sqrt();
            out[y * w + x] = f64::from((img[y * w + x] as f32 - mu) / (sigma + 1.0));
        }
    }
    out
}

/// The 18 features of one block: the AGGD fit of the coefficients, then of the products
/// with the neighbour in four directions (numpy `roll`, i.e. wrapping at the block edge).
fn block_features(block: &[f64], side: usize, grid: &[(f64, f64)]) -> Vec<f64> {
    let mut feat = Vec::with_capacity(18);
    let (alpha, bl, br) = aggd(block, grid);
    feat.extend([alpha, (bl + br) / 2.0]);
    for (dy, dx) in [(0isize, 1isize), (1, 0), (1, 1), (1, -1)] {
        let n = side as isize;
        let product: Vec<f64> = (0..side)
            .flat_map(|y| (0..side).map(move |x| (y, x)))
            .map(|(y, x)| {
                let (sy, sx) = ((y as isize - dy).rem_euclid(n) as usize, (x as isize - dx).rem_euclid(n) as usize);
                block[y * side + x] * block[sy * side + sx]
            })
            .collect();
        let (alpha, bl, br) = aggd(&product, grid);
        let mean = (br - bl) * (nss::gamma(2.0 / alpha) / nss::gamma(1.0 / alpha));
        feat.extend([alpha, mean, bl, br]);
    }
    feat
}

/// Asymmetric generalised Gaussian fit by moment matching on the grid (first minimum, as
/// numpy's `argmin`): (α, β_left, β_right).
fn aggd(v: &[f64], grid: &[(f64, f64)]) -> (f64, f64, f64) {
    let left = mean_square(v.iter().copied().filter(|&x| x < 0.0)).sqrt();
    let right = mean_square(v.iter().copied().filter(|&x| x > 0.0)).sqrt();
    let gammahat = left / right;
    let n = v.len() as f64;
    let mean_abs = v.iter().map(|x| x.abs()).sum::<f64>() / n;
    let rhat = mean_abs * mean_abs / (v.iter().map(|x| x * x).sum::<f64>() / n);
    let rhatnorm = rhat * (gammahat.powi(3) + 1.0) * (gammahat + 1.0) / (gammahat.powi(2) + 1.0).powi(2);
    let mut best = 0;
    if !rhatnorm.is_nan() {
        let mut best_err = f64::INFINITY;
        for (i, &(_, r)) in grid.iter().enumerate() {
            let err = (r - rhatnorm).powi(2);
            if err < best_err {
                best_err = err;
                best = i;
            }
        }
    }
    let alpha = grid[best].0;
    let f = (nss::gamma(1.0 / alpha) / nss::gamma(3.0 / alpha)).sqrt();
    (alpha, left * f, right * f)
}

/// The mean of the squares; NaN when empty (numpy's mean of an empty selection).
fn mean_square(it: impl Iterator<Item = f64>) -> f64 {
    let (s, n) = it.fold((0.0, 0usize), |(s, n), x| (s + x * x, n + 1));
    if n == 0 {
        f64::NAN
    } else {
        s / n as f64
    }
}

/// MATLAB's `imresize(img, 0.5)` (bicubic, antialiased: the cubic kernel stretched by 2,
/// symmetric padding), separable, rows first then columns.
pub fn imresize_half(img: &[f64], w: usize, h: usize) -> (Vec<f64>, usize, usize) {
    let taps = |n: usize| -> Vec<Vec<(usize, f64)>> {
        let m = n.div_ceil(2);
        let cubic = |x: f64| {
            let a = x.abs();
            if a <= 1.0 {
                1.5 * a.powi(3) - 2.5 * a * a + 1.0
            } else if a <= 2.0 {
                -0.5 * a.powi(3) + 2.5 * a * a - 4.0 * a + 2.0
            } else {
                0.0
            }
        };
        (1..=m)
            .map(|x| {
                let u = x as f64 / 0.5 + 0.5 * (1.0 - 2.0);
                let left = (u - 4.0).floor() as isize;
                let raw: Vec<(isize, f64)> =
                    (0..10).map(|k| (left + k, 0.5 * cubic((u - (left + k) as f64) * 0.5))).collect();
                let sum: f64 = raw.iter().map(|t| t.1).sum();
                raw.into_iter()
                    .map(|(i, wt)| {
                        // 1-based MATLAB index i; symmetric padding repeats the edge sample.
                        let i0 = i - 1;
                        let idx = if i0 < 0 {
                            -i0 - 1
                        } else if i0 >= n as isize {
                            2 * n as isize - 1 - i0
                        } else {
                            i0
                        };
                        (idx.clamp(0, n as isize - 1) as usize, wt / sum)
                    })
                    .collect()
            })
            .collect()
    };
    let (th, tw) = (taps(h), taps(w));
    let (oh, ow) = (th.len(), tw.len());
    let mut rows = vec![0.0; oh * w];
    for (oy, t) in th.iter().enumerate() {
        for x in 0..w {
            rows[oy * w + x] = t.iter().map(|&(i, wt)| wt * img[i * w + x]).sum();
        }
    }
    let mut out = vec![0.0; oh * ow];
    for y in 0..oh {
        for (ox, t) in tw.iter().enumerate() {
            out[y * ow + ox] = t.iter().map(|&(i, wt)| wt * rows[y * w + i]).sum();
        }
    }
    (out, ow, oh)
}

/// Pseudo-inverse of a symmetric matrix by Jacobi eigen-decomposition (eigenvalues below
/// n · ε · the largest are dropped, as numpy's `pinv`).
fn pinv_symmetric(a: &[f64], n: usize) -> Vec<f64> {
    let mut m = a.to_vec();
    let mut v = vec![0.0; n * n];
    for i in 0..n {
        v[i * n + i] = 1.0;
    }
    for _sweep in 0..100 {
        let off: f64 = (0..n)
            .flat_map(|i| (0..n).filter(move |&j| j != i).map(move |j| (i, j)))
            .map(|(i, j)| m[i * n + j].powi(2))
            .sum();
        if off < 1e-30 {
            break;
        }
        for p in 0..n {
            for q in p + 1..n {
                let apq = m[p * n + q];
                if apq.abs() < 1e-300 {
                    continue;
                }
                let theta = (m[q * n + q] - m[p * n + p]) / (2.0 * apq);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let t = if theta == 0.0 { 1.0 } else { t };
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                for k in 0..n {
                    let (mkp, mkq) = (m[k * n + p], m[k * n + q]);
                    m[k * n + p] = c * mkp - s * mkq;
                    m[k * n + q] = s * mkp + c * mkq;
                }
                for k in 0..n {
                    let (mpk, mqk) = (m[p * n + k], m[q * n + k]);
                    m[p * n + k] = c * mpk - s * mqk;
                    m[q * n + k] = s * mpk + c * mqk;
                }
                for k in 0..n {
                    let (vkp, vkq) = (v[k * n + p], v[k * n + q]);
                    v[k * n + p] = c * vkp - s * vkq;
                    v[k * n + q] = s * vkp + c * vkq;
                }
            }
        }
    }
    let eig: Vec<f64> = (0..n).map(|i| m[i * n + i]).collect();
    let cutoff = n as f64 * f64::EPSILON * eig.iter().fold(0.0f64, |a, e| a.max(e.abs()));
    let mut inv = vec![0.0; n * n];
    for (k, &e) in eig.iter().enumerate() {
        if e.abs() <= cutoff {
            continue;
        }
        for i in 0..n {
            for j in 0..n {
                inv[i * n + j] += v[i * n + k] * v[j * n + k] / e;
            }
        }
    }
    inv
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pinv_inverts_a_symmetric_matrix() {
        let a = [4.0, 1.0, 0.5, 1.0, 3.0, 0.2, 0.5, 0.2, 2.0];
        let inv = pinv_symmetric(&a, 3);
        for i in 0..3 {
            for j in 0..3 {
                let v: f64 = (0..3).map(|k| a[i * 3 + k] * inv[k * 3 + j]).sum();
                assert!((v - f64::from(u8::from(i == j))).abs() < 1e-12, "({i},{j}) {v}");
            }
        }
    }

    #[test]
    fn imresize_half_keeps_a_flat_image_and_halves_the_size() {
        let (out, w, h) = imresize_half(&vec![7.0; 9 * 6], 9, 6);
        assert_eq!((w, h), (5, 3));
        assert!(out.iter().all(|v| (v - 7.0).abs() < 1e-12));
    }
}
