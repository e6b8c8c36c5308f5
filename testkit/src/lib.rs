//! Test helpers shared by the crates' tests, and only by them (a dev-dependency; nothing
//! here ships): the real media `scripts/setup` puts in `.deps/media`, PSNR, reproducible
//! noise, and the tiny fixture models written into a temporary folder that is removed
//! when the test drops it.

use std::path::{Path, PathBuf};

use aiupscale_core::{Channels, Image, PixelFormat, SampleType};

pub const RGB8: PixelFormat = PixelFormat::new(Channels::Rgb, SampleType::U8);

/// The root of this checkout.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A file under `.deps/media` (`photos/coffee.png`, `video/carphone_pristine.mp4`); a
/// missing one fails the test with the command that installs it.
pub fn media(relative: &str) -> PathBuf {
    let path = repo_root().join(".deps/media").join(relative);
    assert!(path.is_file(), "{} is missing; run scripts/setup", path.display());
    path
}

/// A real photo from skimage's data as RGB8.
pub fn photo(name: &str) -> Image {
    let path = media(&format!("photos/{name}"));
    let img = image::open(&path).unwrap_or_else(|e| panic!("{}: {e}; run scripts/setup", path.display())).to_rgb8();
    Image::from_vec(img.width(), img.height(), RGB8, img.into_raw()).unwrap()
}

/// The `w`x`h` rectangle at (`x`, `y`) of a packed image.
pub fn crop(img: &Image, x: u32, y: u32, w: u32, h: u32) -> Image {
    let bpp = img.format().bytes_per_pixel();
    let mut data = Vec::with_capacity(w as usize * h as usize * bpp);
    for row in y..y + h {
        let start = (row * img.width() + x) as usize * bpp;
        data.extend_from_slice(&img.data()[start..start + w as usize * bpp]);
    }
    Image::from_vec(w, h, img.format(), data).unwrap()
}

/// A crop of a real photo, as RGB8.
pub fn photo_crop(name: &str, x: u32, y: u32, w: u32, h: u32) -> Image {
    crop(&photo(name), x, y, w, h)
}

/// PSNR in dB of two equally long sample sequences with the given peak value
/// (infinite when they are equal).
pub fn psnr_peak(a: impl IntoIterator<Item = f64>, b: impl IntoIterator<Item = f64>, peak: f64) -> f64 {
    let (mut sum, mut count) = (0.0, 0usize);
    let mut b = b.into_iter();
    for x in a {
        let y = b.next().expect("compared images differ in size");
        sum += (x - y).powi(2);
        count += 1;
    }
    assert!(b.next().is_none() && count > 0, "compared images differ in size or are empty");
    let mse = sum / count as f64;
    if mse == 0.0 {
        f64::INFINITY
    } else {
        10.0 * (peak * peak / mse).log10()
    }
}

/// PSNR in dB of 8-bit samples.
pub fn psnr_u8(a: &[u8], b: &[u8]) -> f64 {
    psnr_peak(a.iter().map(|&v| f64::from(v)), b.iter().map(|&v| f64::from(v)), 255.0)
}

/// PSNR in dB of float samples in [0, 1].
pub fn psnr_f32(a: &[f32], b: &[f32]) -> f64 {
    psnr_peak(a.iter().map(|&v| f64::from(v)), b.iter().map(|&v| f64::from(v)), 1.0)
}

/// Gaussian noise of `sigma` (0..255 scale) added to 8-bit samples, reproducibly from
/// `seed` (an LCG and Box-Muller), rounded and clamped.
pub fn add_noise_u8(samples: &mut [u8], sigma: f32, seed: u64) {
    let mut state = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    let mut uniform = || {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((state >> 11) as f64 / (1u64 << 53) as f64).max(1e-12)
    };
    for v in samples {
        let g = (-2.0 * uniform().ln()).sqrt() * (2.0 * std::f64::consts::PI * uniform()).cos();
        *v = (f64::from(*v) + g * f64::from(sigma)).round().clamp(0.0, 255.0) as u8;
    }
}

/// An 8-bit image with [`add_noise_u8`] noise.
pub fn add_noise(img: &Image, sigma: f32, seed: u64) -> Image {
    let mut out = img.clone();
    add_noise_u8(out.data_mut(), sigma, seed);
    out
}

/// The tiny fixture models (`aiupscale_models::tiny`) in a fresh temporary folder,
/// removed when the returned value is dropped.
pub fn tiny_models() -> tempfile::TempDir {
    let dir = tempfile::Builder::new().prefix("aiupscale-tiny-").tempdir().unwrap();
    aiupscale_models::tiny::write_tiny_models(dir.path()).unwrap();
    dir
}

thread_local! {
    // Per test thread: written on first use, removed when the test's thread ends
    // (a process-wide static would never be dropped).
    static TINY: tempfile::TempDir = tiny_models();
}

/// The folder of the tiny fixture models for the calling test (see [`tiny_models`]).
pub fn tiny_dir() -> PathBuf {
    TINY.with(|dir| dir.path().to_owned())
}

/// The file of tiny fixture model `name` (`nearest_x2`, `smooth_x2` …).
pub fn tiny_model(name: &str) -> PathBuf {
    tiny_dir().join(format!("{name}.onnx"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn psnr_of_known_errors() {
        assert_eq!(psnr_u8(&[1, 2, 3], &[1, 2, 3]), f64::INFINITY);
        // One level off everywhere: 10 log10(255^2) = 48.13 dB.
        assert!((psnr_u8(&[10, 20], &[11, 21]) - 48.1308).abs() < 1e-3);
        assert!((psnr_f32(&[0.5, 0.5], &[0.6, 0.4]) - 20.0).abs() < 1e-4);
    }

    #[test]
    fn noise_is_reproducible_and_of_the_asked_strength() {
        let mut a = vec![128u8; 20_000];
        let mut b = a.clone();
        add_noise_u8(&mut a, 10.0, 7);
        add_noise_u8(&mut b, 10.0, 7);
        assert_eq!(a, b);
        let var = a.iter().map(|&v| (f64::from(v) - 128.0).powi(2)).sum::<f64>() / a.len() as f64;
        assert!((var.sqrt() - 10.0).abs() < 0.3, "sigma {}", var.sqrt());
    }
}
