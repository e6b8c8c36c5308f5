//! GMSD (Xue, Zhang, Mou, Bovik 2014, "Gradient magnitude similarity deviation"): both
//! planes (0..255) averaged 2x2 and decimated by 2, Prewitt gradients (kernels / 3, zero
//! padding outside the image, as MATLAB's `conv2(…, 'same')` of the authors' code), the
//! gradient-magnitude similarity (2 m₁ m₂ + c) / (m₁² + m₂² + c) with c = 170, and its
//! standard deviation over the pixels (N − 1, MATLAB's `std2`). 0 = identical; higher is worse.

use anyhow::{ensure, Result};

use crate::{metrics::Plane, msssim::half};

pub const C: f64 = 170.0;

pub fn gmsd(a: &Plane, b: &Plane) -> Result<f64> {
    ensure!((a.width, a.height) == (b.width, b.height), "compared planes differ in size");
    ensure!(a.width >= 6 && a.height >= 6, "GMSD needs at least 6x6 pixels, got {}x{}", a.width, a.height);
    let (ma, mb) = (magnitude(&half(a)), magnitude(&half(b)));
    let gms: Vec<f64> = ma.iter().zip(&mb).map(|(x, y)| (2.0 * x * y + C) / (x * x + y * y + C)).collect();
    let n = gms.len() as f64;
    let mean = gms.iter().sum::<f64>() / n;
    Ok((gms.iter().map(|g| (g - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt())
}

fn magnitude(p: &Plane) -> Vec<f64> {
    let at = |x: isize, y: isize| {
        if x < 0 || y < 0 || x >= p.width as isize || y >= p.height as isize {
            0.0
        } else {
            p.data[y as usize * p.width + x as usize]
        }
    };
    let mut out = Vec::with_capacity(p.data.len());
    for y in 0..p.height as isize {
        for x in 0..p.width as isize {
            let gx: f64 = (-1..=1).map(|d| at(x + 1, y + d) - at(x - 1, y + d)).sum::<f64>() / 3.0;
            let gy: f64 = (-1..=1).map(|d| at(x + d, y + 1) - at(x + d, y - 1)).sum::<f64>() / 3.0;
            out.push((gx * gx + gy * gy).sqrt());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identical_planes_score_zero_and_blur_raises_it() {
        let a = Plane::new(40, 30, (0..1200).map(|i| f64::from(((i * 37) % 256) as u32)).collect());
        assert_eq!(gmsd(&a, &a).unwrap(), 0.0);
        let b = Plane::new(40, 30, a.data.iter().map(|v| v * 0.5 + 60.0).collect());
        assert!(gmsd(&a, &b).unwrap() > 0.01);
    }
}
