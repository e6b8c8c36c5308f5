//! Image-quality metrics computed the way super-resolution papers do: PSNR and SSIM on
//! the luma of ITU-R BT.601 as MATLAB's `rgb2ycbcr` defines it (studio range, 16..235,
//! on the 0..255 scale, not rounded), with a border of `scale` pixels cropped; plus the
//! colour shift and the temporal consistency of a clip.

use aiupscale_core::{Channels, Image, PixelFormat, SampleType};

const RGB8: PixelFormat = PixelFormat::new(Channels::Rgb, SampleType::U8);

/// One channel of f64 samples on the 0..255 scale.
#[derive(Debug, Clone, PartialEq)]
pub struct Plane {
    pub width: usize,
    pub height: usize,
    pub data: Vec<f64>,
}

impl Plane {
    pub fn new(width: usize, height: usize, data: Vec<f64>) -> Self {
        assert_eq!(data.len(), width * height, "plane size");
        Self { width, height, data }
    }

    /// The plane without `border` pixels on each side.
    pub fn shave(&self, border: usize) -> Plane {
        assert!(
            2 * border < self.width && 2 * border < self.height,
            "border {border} too large for {}x{}",
            self.width,
            self.height
        );
        let (w, h) = (self.width - 2 * border, self.height - 2 * border);
        let mut data = Vec::with_capacity(w * h);
        for y in border..border + h {
            data.extend_from_slice(&self.data[y * self.width + border..y * self.width + border + w]);
        }
        Plane::new(w, h, data)
    }
}

/// Y of BT.601 as MATLAB `rgb2ycbcr`: Y = 16 + 65.481 R + 128.553 G + 24.966 B for R, G, B
/// in 0..1, i.e. on the 0..255 scale (16..235).
pub fn luma_601(img: &Image) -> Plane {
    assert_eq!(img.format(), RGB8, "metrics take RGB8 images");
    let data = img
        .data()
        .chunks_exact(3)
        .map(|p| 16.0 + (65.481 * f64::from(p[0]) + 128.553 * f64::from(p[1]) + 24.966 * f64::from(p[2])) / 255.0)
        .collect();
    Plane::new(img.width() as usize, img.height() as usize, data)
}

/// PSNR in dB with peak 255.
pub fn psnr(a: &Plane, b: &Plane) -> f64 {
    assert_eq!((a.width, a.height), (b.width, b.height), "compared planes differ in size");
    aiupscale_testkit::psnr_peak(a.data.iter().copied(), b.data.iter().copied(), 255.0)
}

/// The normalised 11-tap Gaussian (sigma 1.5) of Wang et al.'s SSIM.
fn gaussian_window() -> [f64; 11] {
    let mut w = [0.0; 11];
    for (i, v) in w.iter_mut().enumerate() {
        let x = i as f64 - 5.0;
        *v = (-x * x / (2.0 * 1.5 * 1.5)).exp();
    }
    let sum: f64 = w.iter().sum();
    w.map(|v| v / sum)
}

/// Separable 'valid' filtering of a plane with the Gaussian window: (w-10) x (h-10).
fn filter_valid(data: &[f64], width: usize, height: usize, window: &[f64; 11]) -> Vec<f64> {
    let (ow, oh) = (width - 10, height - 10);
    let mut rows = vec![0.0; ow * height];
    for y in 0..height {
        let src = &data[y * width..(y + 1) * width];
        for x in 0..ow {
            rows[y * ow + x] = window.iter().zip(&src[x..x + 11]).map(|(k, v)| k * v).sum();
        }
    }
    let mut out = vec![0.0; ow * oh];
    for y in 0..oh {
        for x in 0..ow {
            out[y * ow + x] = window.iter().enumerate().map(|(k, w)| w * rows[(y + k) * ow + x]).sum();
        }
    }
    out
}

/// Mean SSIM (Wang et al. 2004): 11x11 Gaussian window with sigma 1.5, K1 0.01,
/// K2 0.03, L 255, population (not sample) covariances, over the positions where the
/// window lies inside the image. Equals scikit-image's `structural_similarity(a, b,
/// gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=255)`.
pub fn ssim(a: &Plane, b: &Plane) -> f64 {
    ssim_parts(a, b).0
}

/// Mean SSIM and the mean of its contrast-structure term alone (the per-scale factor of
/// MS-SSIM), over the same window positions as [`ssim`].
pub fn ssim_parts(a: &Plane, b: &Plane) -> (f64, f64) {
    assert_eq!((a.width, a.height), (b.width, b.height), "compared planes differ in size");
    assert!(a.width >= 11 && a.height >= 11, "SSIM needs at least 11x11 pixels");
    let window = gaussian_window();
    let (w, h) = (a.width, a.height);
    let filt = |f: &dyn Fn(f64, f64) -> f64| {
        let prod: Vec<f64> = a.data.iter().zip(&b.data).map(|(&x, &y)| f(x, y)).collect();
        filter_valid(&prod, w, h, &window)
    };
    let (mx, my) = (filter_valid(&a.data, w, h, &window), filter_valid(&b.data, w, h, &window));
    let (mxx, myy, mxy) = (filt(&|x, _| x * x), filt(&|_, y| y * y), filt(&|x, y| x * y));
    let (c1, c2) = ((0.01f64 * 255.0).powi(2), (0.03f64 * 255.0).powi(2));
    let (mut total, mut total_cs) = (0.0, 0.0);
    for i in 0..mx.len() {
        let (ux, uy) = (mx[i], my[i]);
        let (vx, vy, vxy) = (mxx[i] - ux * ux, myy[i] - uy * uy, mxy[i] - ux * uy);
        let cs = (2.0 * vxy + c2) / (vx + vy + c2);
        total += (2.0 * ux * uy + c1) / (ux * ux + uy * uy + c1) * cs;
        total_cs += cs;
    }
    (total / mx.len() as f64, total_cs / mx.len() as f64)
}

/// PSNR and SSIM on Y with `border` pixels cropped on each side.
pub fn psnr_ssim_y(output: &Image, reference: &Image, border: u32) -> (f64, f64) {
    let (a, b) = (luma_601(output).shave(border as usize), luma_601(reference).shave(border as usize));
    (psnr(&a, &b), ssim(&a, &b))
}

/// Mean of each RGB channel on the 0..255 scale.
pub fn channel_means(img: &Image) -> [f64; 3] {
    assert_eq!(img.format(), RGB8, "metrics take RGB8 images");
    let mut sum = [0.0; 3];
    for p in img.data().chunks_exact(3) {
        for c in 0..3 {
            sum[c] += f64::from(p[c]);
        }
    }
    let n = (img.data().len() / 3) as f64;
    sum.map(|s| s / n)
}

/// Mean of each RGB channel of the output minus that of the input, in 1/255 units.
pub fn color_shift(output: &Image, input: &Image) -> [f64; 3] {
    let (o, i) = (channel_means(output), channel_means(input));
    [o[0] - i[0], o[1] - i[1], o[2] - i[2]]
}

/// Temporal consistency: mean over frames t >= 1 and pixels of
/// |(out_t - out_{t-1}) - (ref_t - ref_{t-1})| on the 0..255 scale (0 = the output
/// changes from frame to frame exactly as the reference does).
pub fn temporal_error(output: &[Plane], reference: &[Plane]) -> f64 {
    assert_eq!(output.len(), reference.len(), "clips differ in length");
    let (mut sum, mut count) = (0.0, 0usize);
    for t in 1..output.len() {
        let (o0, o1, r0, r1) = (&output[t - 1].data, &output[t].data, &reference[t - 1].data, &reference[t].data);
        for i in 0..o1.len() {
            sum += ((o1[i] - o0[i]) - (r1[i] - r0[i])).abs();
        }
        count += o1.len();
    }
    if count == 0 {
        0.0
    } else {
        sum / count as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The synthetic pair of the reference computation below (integers, so numpy gets
    /// exactly the same planes).
    fn synthetic() -> (Plane, Plane) {
        let (w, h) = (40usize, 32usize);
        let mut a = Vec::new();
        let mut b = Vec::new();
        for y in 0..h {
            for x in 0..w {
                let v = (x * x + 3 * x * y + 5 * y) % 256;
                a.push(v as f64);
                b.push((v as i64 + ((x * 31 + y * 17) % 23) as i64 - 11).clamp(0, 255) as f64);
            }
        }
        (Plane::new(w, h, a), Plane::new(w, h, b))
    }

    #[test]
    fn identical_images_give_ssim_one_and_infinite_psnr() {
        let (a, _) = synthetic();
        assert!((ssim(&a, &a) - 1.0).abs() < 1e-12);
        assert_eq!(psnr(&a, &a), f64::INFINITY);
    }

    #[test]
    fn ssim_is_symmetric_and_below_one_for_different_images() {
        let (a, b) = synthetic();
        let (s1, s2) = (ssim(&a, &b), ssim(&b, &a));
        assert!((s1 - s2).abs() < 1e-12 && s1 < 1.0, "{s1} {s2}");
    }

    // Reference values from scikit-image 0.26.0 (an independent implementation), made in a
    // scratch venv (`python3 -m venv /tmp/skv && /tmp/skv/bin/pip install scikit-image`) with
    //   import numpy as np; from skimage.metrics import structural_similarity, peak_signal_noise_ratio
    //   y, x = np.mgrid[0:32, 0:40]
    //   a = ((x * x + 3 * x * y + 5 * y) % 256).astype(float)
    //   b = np.clip(a + (x * 31 + y * 17) % 23 - 11, 0, 255)
    //   structural_similarity(a, b, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=255)
    //   peak_signal_noise_ratio(a, b, data_range=255)
    const SKIMAGE_SYNTHETIC_SSIM: f64 = 0.9959681915930044;
    const SKIMAGE_SYNTHETIC_PSNR: f64 = 31.7802093698065;

    #[test]
    fn ssim_and_psnr_agree_with_scikit_image_on_a_synthetic_pair() {
        let (a, b) = synthetic();
        let (s, p) = (ssim(&a, &b), psnr(&a, &b));
        assert!((s - SKIMAGE_SYNTHETIC_SSIM).abs() < 1e-9, "SSIM {s} vs scikit-image {SKIMAGE_SYNTHETIC_SSIM}");
        assert!((p - SKIMAGE_SYNTHETIC_PSNR).abs() < 1e-9, "PSNR {p} vs scikit-image {SKIMAGE_SYNTHETIC_PSNR}");
    }

    // The same reference on a real photo: Y (the formula above, float64, not rounded) of
    // skimage's coffee.png, crop x 200..264, y 120..168, against the crop one pixel to the
    // right (x 201..265), computed with (pillow comes with scikit-image)
    //   im = np.asarray(PIL.Image.open(".deps/media/photos/coffee.png")).astype(float)
    //   Y = 16 + (65.481 * im[..., 0] + 128.553 * im[..., 1] + 24.966 * im[..., 2]) / 255
    //   structural_similarity(Y[120:168, 200:264], Y[120:168, 201:265], gaussian_weights=True,
    //                         sigma=1.5, use_sample_covariance=False, data_range=255)
    const SKIMAGE_COFFEE_SHIFT_SSIM: f64 = 0.8991650740928795;

    #[test]
    fn ssim_agrees_with_scikit_image_on_a_real_photo() {
        let coffee = crate::photo("coffee.png");
        let a = luma_601(&crate::crop(&coffee, 200, 120, 64, 48));
        let b = luma_601(&crate::crop(&coffee, 201, 120, 64, 48));
        let s = ssim(&a, &b);
        assert!((s - SKIMAGE_COFFEE_SHIFT_SSIM).abs() < 1e-9, "SSIM {s} vs scikit-image {SKIMAGE_COFFEE_SHIFT_SSIM}");
    }

    #[test]
    fn luma_is_studio_range() {
        let f = |r, g, b| luma_601(&Image::from_vec(1, 1, RGB8, vec![r, g, b]).unwrap()).data[0];
        assert!((f(0, 0, 0) - 16.0).abs() < 1e-9);
        assert!((f(255, 255, 255) - 235.0).abs() < 1e-9);
    }

    #[test]
    fn shave_and_temporal_error() {
        let p = Plane::new(4, 3, (0..12).map(f64::from).collect());
        assert_eq!(p.shave(1).data, vec![5.0, 6.0]);
        let clip: Vec<Plane> = (0..3).map(|t| Plane::new(2, 1, vec![f64::from(t); 2])).collect();
        assert_eq!(temporal_error(&clip, &clip), 0.0);
        let still: Vec<Plane> = (0..3).map(|_| Plane::new(2, 1, vec![0.0; 2])).collect();
        assert!((temporal_error(&still, &clip) - 1.0).abs() < 1e-12);
    }
}
