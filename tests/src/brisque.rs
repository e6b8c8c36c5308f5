//! BRISQUE (Mittal, Moorthy, Bovik 2012, "No-reference image quality assessment in the
//! spatial domain") as OpenCV contrib's `quality::QualityBRISQUE` computes it, with the LIVE
//! model of Debian's `opencv-data` (`brisque_model_live.yml`, `brisque_range_live.yml`):
//! 8-bit gray, 36 AGGD features on two scales (the second by OpenCV's bicubic resize),
//! scaled to [-1, 1] and fed to the ε-SVR with an RBF kernel; clamped to 0..100.
//! Single precision where OpenCV works in it. Lower is better.

use std::path::{Path, PathBuf};

use aiupscale_core::Image;
use anyhow::{ensure, Context, Result};

use crate::nss;

const FEATURES: usize = 36;

/// The SVR and the feature ranges.
pub struct BrisqueModel {
    gamma: f64,
    rho: f64,
    alpha: Vec<f64>,
    support: Vec<f32>,
    min: Vec<f32>,
    max: Vec<f32>,
}

impl BrisqueModel {
    /// Where Debian's opencv-data installs the LIVE model.
    pub fn default_dir() -> PathBuf {
        PathBuf::from("/usr/share/opencv4/quality")
    }

    pub fn load(model_yml: &Path, range_yml: &Path) -> Result<Self> {
        let read = |p: &Path| {
            std::fs::read_to_string(p)
                .with_context(|| format!("reading {}; scripts/setup installs Debian's opencv-data", p.display()))
        };
        let (model, range) = (read(model_yml)?, read(range_yml)?);
        ensure!(
            model.contains("svmType: EPS_SVR") && model.contains("type: RBF"),
            "an EPS_SVR with an RBF kernel expected"
        );
        let total = nss::yaml_scalar(&model, "sv_total:")? as usize;
        let sv_text = model.split("support_vectors:").nth(1).context("no support_vectors")?;
        let sv_text = sv_text.split("decision_functions:").next().unwrap_or_default();
        let mut support = Vec::with_capacity(total * FEATURES);
        for item in sv_text.split('[').skip(1) {
            let body = item.split(']').next().unwrap_or_default();
            support.extend(nss::numbers(body)?.into_iter().map(|v| v as f32));
        }
        nss::expect_len("support vectors", &support, total * FEATURES)?;
        let decision = model.split("decision_functions:").nth(1).context("no decision_functions")?;
        let alpha = nss::yaml_list(decision, "alpha:")?;
        nss::expect_len("alpha", &alpha, total)?;
        let ranges = nss::yaml_list(&range, "data:")?;
        nss::expect_len("range", &ranges, 2 * FEATURES)?;
        Ok(Self {
            gamma: nss::yaml_scalar(&model, "gamma:")?,
            rho: nss::yaml_scalar(decision, "rho:")?,
            alpha,
            support,
            min: ranges[..FEATURES].iter().map(|&v| v as f32).collect(),
            max: ranges[FEATURES..].iter().map(|&v| v as f32).collect(),
        })
    }

    pub fn load_default() -> Result<Self> {
        let dir = Self::default_dir();
        Self::load(&dir.join("brisque_model_live.yml"), &dir.join("brisque_range_live.yml"))
    }

    /// The score of a feature vector: Σ αᵢ exp(−γ‖xᵢ − x‖²) − ρ on the scaled features.
    fn predict(&self, features: &[f32; FEATURES]) -> f64 {
        let x: Vec<f32> = features
            .iter()
            .enumerate()
            .map(|(i, &v)| {
                let (lo, hi) = (self.min[i], self.max[i]);
                if hi == lo {
                    0.0
                } else {
                    -1.0 + 2.0 * (v - lo) / (hi - lo)
                }
            })
            .collect();
        let mut sum = -self.rho;
        for (sv, a) in self.support.chunks_exact(FEATURES).zip(&self.alpha) {
            let d: f64 = sv.iter().zip(&x).map(|(s, v)| f64::from(s - v).powi(2)).sum();
            sum += a * f64::from(opencv_exp((-self.gamma * d) as f32));
        }
        f64::from((sum as f32).clamp(0.0, 100.0))
    }
}

/// OpenCV's own single-precision `cv::exp` (`hal::exp32f`, its SIMD path, which a support
/// vector count above 16 always takes): a 64-entry table of 2^(i/64) and a cubic in fused
/// multiply-adds. It differs from `f32::exp` in the last bit on most inputs, and the SVR's
/// sum of ~10^5-sized terms turns that into ~1e-3 of the score.
fn opencv_exp(x: f32) -> f32 {
    const A0: f64 = 0.967_037_113_957_233_8e-2;
    const PRESCALE: f64 = std::f64::consts::LOG2_E * 64.0;
    const MAX: f64 = 3000.0 * 64.0;
    let (a1, a2, a3, a4) = (
        (0.555_033_936_675_312_5e-1 / A0) as f32,
        (0.240_226_510_951_330_15 / A0) as f32,
        (0.693_147_180_552_144_8 / A0) as f32,
        (1.000_000_000_000_002_4 / A0) as f32,
    );
    let x = x.clamp((-MAX / PRESCALE) as f32, (MAX / PRESCALE) as f32) * PRESCALE as f32;
    let xi = x.round_ties_even() as i32;
    let xf = (x - xi as f32) * (1.0 / 64.0);
    let table = (2f64.powf(f64::from(xi & 63) / 64.0) * A0) as f32;
    let exponent = ((xi >> 6) + 127).clamp(0, 255) as u32;
    let scale = table * f32::from_bits(exponent << 23);
    let z = (xf + a1).mul_add(xf, a2).mul_add(xf, a3).mul_add(xf, a4);
    z * scale
}

/// BRISQUE of an RGB8 image.
pub fn brisque_rgb(img: &Image, model: &BrisqueModel) -> Result<f64> {
    ensure!(
        img.width() >= 8 && img.height() >= 8,
        "BRISQUE needs at least 8x8 pixels, got {}x{}",
        img.width(),
        img.height()
    );
    // OpenCV's 8-bit BGR2GRAY: 15-bit fixed point (0.299, 0.587, 0.114), rounded.
    let gray: Vec<f32> = img
        .data()
        .chunks_exact(3)
        .map(|p| {
            let v = (u32::from(p[0]) * 9798 + u32::from(p[1]) * 19235 + u32::from(p[2]) * 3735 + (1 << 14)) >> 15;
            v as f32 * (1.0f64 / 255.0) as f32
        })
        .collect();
    Ok(model.predict(&features(&gray, img.width() as usize, img.height() as usize)))
}

/// The 36 features of a gray image in 0..1.
pub fn features(gray: &[f32], w: usize, h: usize) -> [f32; FEATURES] {
    let mut out = [0.0f32; FEATURES];
    let mut k = 0;
    for scale in 0..2 {
        let (img, iw, ih) = if scale == 0 { (gray.to_vec(), w, h) } else { resize_cubic(gray, w, h, w / 2, h / 2) };
        let mu = blur(&img, iw, ih);
        let sq: Vec<f32> = img.iter().map(|v| v * v).collect();
        let sigma = blur(&sq, iw, ih);
        let structdis: Vec<f32> = (0..img.len())
            .map(|i| {
                // A slightly negative variance gives NaN, as in OpenCV (see `aggd_fit`).
                let s = (sigma[i] - mu[i] * mu[i]).sqrt() + (1.0f64 / 255.0) as f32;
                (img[i] - mu[i]) / s
            })
            .collect();
        let (l, r, g) = aggd_fit(&structdis);
        out[k] = g as f32;
        out[k + 1] = ((l * l + r * r) / 2.0) as f32;
        k += 2;
        for (di, dj) in [(0isize, 1isize), (1, 0), (1, 1), (-1, 1)] {
            let product: Vec<f32> = (0..ih)
                .flat_map(|i| (0..iw).map(move |j| (i, j)))
                .map(|(i, j)| {
                    let (si, sj) = (i as isize + di, j as isize + dj);
                    let shifted = if si >= 0 && si < ih as isize && sj >= 0 && sj < iw as isize {
                        structdis[si as usize * iw + sj as usize]
                    } else {
                        0.0
                    };
                    structdis[i * iw + j] * shifted
                })
                .collect();
            let (l, r, g) = aggd_fit(&product);
            let constant = nss::gamma(1.0 / g).sqrt() / nss::gamma(3.0 / g).sqrt();
            let mean = (r - l) * (nss::gamma(2.0 / g) / nss::gamma(1.0 / g)) * constant;
            out[k..k + 4].copy_from_slice(&[g as f32, mean as f32, (l * l) as f32, (r * r) as f32]);
            k += 4;
        }
    }
    out
}

/// OpenCV's `AGGDfit`: (σ_left, σ_right, γ), γ the first local minimum of the moment
/// mismatch on the grid 0.2, 0.201, …. NaN samples count in the total only (OpenCV's
/// vectorised max/min with 0 turn them into 0, and its `patchNaNs` zeroes them in |x|).
fn aggd_fit(v: &[f32]) -> (f64, f64, f64) {
    let (mut pos_sq, mut neg_sq, mut abs_sum, mut pos_n, mut neg_n) = (0.0f64, 0.0f64, 0.0f64, 0u64, 0u64);
    for &x in v {
        if x > 0.0 {
            pos_sq += f64::from(x * x);
            pos_n += 1;
        } else if x < 0.0 {
            neg_sq += f64::from(x * x);
            neg_n += 1;
        }
        if !x.is_nan() {
            abs_sum += f64::from(x.abs());
        }
    }
    let l = (neg_sq / neg_n as f64).sqrt();
    let r = (pos_sq / pos_n as f64).sqrt();
    let gammahat = l / r;
    let total = v.len() as f64;
    let rhat = (abs_sum / total).powi(2) / ((neg_sq + pos_sq) / total);
    let rhatnorm = rhat * (gammahat.powi(3) + 1.0) * (gammahat + 1.0) / (gammahat.powi(2) + 1.0).powi(2);
    let (mut prev_gamma, mut prev_diff) = (0.0, 1e10);
    let mut gam = 0.2f64;
    while gam < 10.0 {
        let r_gam = nss::gamma(2.0 / gam).powi(2) / (nss::gamma(1.0 / gam) * nss::gamma(3.0 / gam));
        let diff = (r_gam - rhatnorm).abs();
        if diff > prev_diff {
            break;
        }
        prev_diff = diff;
        prev_gamma = gam;
        gam += 0.001;
    }
    (l, r, prev_gamma)
}

/// OpenCV's 7x7 Gaussian blur (σ = 7/6, edge replicated), single precision, separable,
/// with OpenCV's rounding on an AVX2 machine: the row pass accumulates with fused
/// multiply-adds; the column pass adds symmetric pairs to the centre tap, fused in blocks of
/// 8 columns and unfused in the remainder. Variances near 0 change sign with one rounding
/// (and give NaN), so this matters for the 1e-3 agreement.
fn blur(img: &[f32], w: usize, h: usize) -> Vec<f32> {
    let sigma = 7.0f64 / 6.0;
    let raw: Vec<f64> = (0..7).map(|i| (-0.5 / (sigma * sigma) * ((i as f64 - 3.0).powi(2))).exp()).collect();
    let sum: f64 = raw.iter().sum();
    let k: Vec<f32> = raw.iter().map(|v| (v / sum) as f32).collect();
    let clamp = |v: isize, n: usize| v.clamp(0, n as isize - 1) as usize;
    let mut rows = vec![0.0f32; w * h];
    for y in 0..h {
        for x in 0..w {
            let at = |t: usize| img[y * w + clamp(x as isize + t as isize - 3, w)];
            rows[y * w + x] = (1..7).fold(k[0] * at(0), |s, t| at(t).mul_add(k[t], s));
        }
    }
    let vector_end = w / 8 * 8;
    let mut out = vec![0.0f32; w * h];
    for y in 0..h {
        for x in 0..w {
            let at = |d: isize| rows[clamp(y as isize + d, h) * w + x];
            let mut s = k[3] * at(0);
            for t in 1..4 {
                let pair = at(t as isize) + at(-(t as isize));
                s = if x < vector_end { pair.mul_add(k[3 + t], s) } else { s + k[3 + t] * pair };
            }
            out[y * w + x] = s;
        }
    }
    out
}

/// OpenCV's `resize(…, INTER_CUBIC)` (A = −0.75, edge replicated, not antialiased), rounded
/// as OpenCV's portable code rounds it (IPP's resize, when OpenCV uses it, rounds otherwise).
fn resize_cubic(img: &[f32], w: usize, h: usize, ow: usize, oh: usize) -> (Vec<f32>, usize, usize) {
    let coeffs = |n: usize, on: usize| -> Vec<(isize, [f32; 4])> {
        let scale = n as f64 / on as f64;
        (0..on)
            .map(|d| {
                let f = ((d as f64 + 0.5) * scale - 0.5) as f32;
                let s = f.floor();
                let x = f - s;
                const A: f32 = -0.75;
                let c0 = ((A * (x + 1.0) - 5.0 * A) * (x + 1.0) + 8.0 * A) * (x + 1.0) - 4.0 * A;
                let c1 = ((A + 2.0) * x - (A + 3.0)) * x * x + 1.0;
                let c2 = ((A + 2.0) * (1.0 - x) - (A + 3.0)) * (1.0 - x) * (1.0 - x) + 1.0;
                (s as isize, [c0, c1, c2, 1.0 - c0 - c1 - c2])
            })
            .collect()
    };
    let clamp = |v: isize, n: usize| v.clamp(0, n as isize - 1) as usize;
    let (cx, cy) = (coeffs(w, ow), coeffs(h, oh));
    let mut rows = vec![0.0f32; ow * h];
    for y in 0..h {
        for (x, (s, c)) in cx.iter().enumerate() {
            rows[y * ow + x] = (0..4).map(|t| c[t] * img[y * w + clamp(s + t as isize - 1, w)]).sum();
        }
    }
    // The column pass as OpenCV's own code runs it (the reference turns IPP off): blocks of
    // 4 columns in SSE, S0·b0 + (S1·b1 + (S2·b2 + S3·b3)) unfused; the rest left to right.
    let vector_end = ow / 4 * 4;
    let mut out = vec![0.0f32; ow * oh];
    for (y, (s, c)) in cy.iter().enumerate() {
        for x in 0..ow {
            let p: [f32; 4] = std::array::from_fn(|t| c[t] * rows[clamp(s + t as isize - 1, h) * ow + x]);
            out[y * ow + x] = if x < vector_end { p[0] + (p[1] + (p[2] + p[3])) } else { p[0] + p[1] + p[2] + p[3] };
        }
    }
    (out, ow, oh)
}
