//! Real media and the degradations of the evaluations: photos from `.deps/media`, clips
//! decoded with ffmpeg, reproducible Gaussian noise, bicubic downscaling, blur and JPEG.

use std::{path::Path, process::Command};

use aiupscale_core::{resample::resample, Channels, Filter, Image, PixelFormat, SampleType};
use anyhow::{bail, ensure, Context, Result};

pub const RGB8: PixelFormat = PixelFormat::new(Channels::Rgb, SampleType::U8);

/// Any 8-bit photo (gray is replicated to RGB) as RGB8.
pub fn load_rgb8(path: &Path) -> Result<Image> {
    let img = image::open(path)
        .with_context(|| format!("reading {}; run scripts/setup (it fetches the sample media)", path.display()))?
        .to_rgb8();
    Ok(Image::from_vec(img.width(), img.height(), RGB8, img.into_raw()).unwrap())
}

/// The `w` x `h` crop at the centre of `img`.
pub fn centre_crop(img: &Image, w: u32, h: u32) -> Result<Image> {
    ensure!(
        w <= img.width() && h <= img.height(),
        "a {w}x{h} crop does not fit in a {}x{} image",
        img.width(),
        img.height()
    );
    Ok(crate::crop(img, (img.width() - w) / 2, (img.height() - h) / 2, w, h))
}

/// Resizes with one of the core's filters (fast_image_resize convolution: when
/// downscaling, the kernel is widened by the factor, i.e. antialiased like MATLAB's
/// `imresize`).
pub fn resize(img: &Image, w: u32, h: u32, filter: Filter) -> Result<Image> {
    let mut out = Image::new(w, h, img.format())?;
    resample(&img.as_ref(), &mut out.as_mut(), filter)?;
    Ok(out)
}

/// Decodes the first `frames` frames of a clip in `.deps/media/video` into RGB8 images.
pub fn video(name: &str, frames: usize) -> Result<Vec<Image>> {
    let path = crate::repo_root().join(".deps/media/video").join(name);
    ensure!(path.exists(), "{} is missing; run scripts/setup", path.display());
    let probe = Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "v:0", "-show_entries", "stream=width,height", "-of", "csv=p=0"])
        .arg(&path)
        .output()
        .context("running ffprobe (scripts/setup installs ffmpeg)")?;
    let dims = String::from_utf8_lossy(&probe.stdout);
    let mut parts = dims.trim().split(',').map(|v| v.parse::<u32>());
    let (Some(Ok(w)), Some(Ok(h))) = (parts.next(), parts.next()) else {
        bail!("ffprobe gave no size for {}: {dims:?}", path.display());
    };
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(&path)
        .args(["-frames:v", &frames.to_string(), "-f", "rawvideo", "-pix_fmt", "rgb24", "-"])
        .output()
        .context("running ffmpeg (scripts/setup installs it)")?;
    ensure!(out.status.success(), "ffmpeg failed on {}: {}", path.display(), String::from_utf8_lossy(&out.stderr));
    Ok(out
        .stdout
        .chunks_exact((w * h * 3) as usize)
        .map(|c| Image::from_vec(w, h, RGB8, c.to_vec()).unwrap())
        .collect())
}

pub use aiupscale_testkit::add_noise as noisy;

/// Separable Gaussian blur of an RGB8 image (radius ceil(3 sigma), mirrored edges).
pub fn gaussian_blur(img: &Image, sigma: f64) -> Image {
    let radius = (3.0 * sigma).ceil() as i64;
    let mut kernel: Vec<f64> = (-radius..=radius).map(|x| (-(x * x) as f64 / (2.0 * sigma * sigma)).exp()).collect();
    let sum: f64 = kernel.iter().sum();
    kernel.iter_mut().for_each(|k| *k /= sum);
    let (w, h) = (img.width() as i64, img.height() as i64);
    let mirror = |i: i64, n: i64| aiupscale_core::tiling::reflect(i, n as u32) as i64;
    let src: Vec<f64> = img.data().iter().map(|&v| f64::from(v)).collect();
    let mut rows = vec![0.0; src.len()];
    for y in 0..h {
        for x in 0..w {
            for c in 0..3 {
                rows[((y * w + x) * 3 + c) as usize] = kernel
                    .iter()
                    .enumerate()
                    .map(|(k, kv)| kv * src[((y * w + mirror(x + k as i64 - radius, w)) * 3 + c) as usize])
                    .sum();
            }
        }
    }
    let mut data = vec![0u8; src.len()];
    for y in 0..h {
        for x in 0..w {
            for c in 0..3 {
                let v: f64 = kernel
                    .iter()
                    .enumerate()
                    .map(|(k, kv)| kv * rows[((mirror(y + k as i64 - radius, h) * w + x) * 3 + c) as usize])
                    .sum();
                data[((y * w + x) * 3 + c) as usize] = v.round().clamp(0.0, 255.0) as u8;
            }
        }
    }
    Image::from_vec(img.clone().width(), img.clone().height(), img.clone().format(), data).unwrap()
}

/// Encodes with the `image` crate's baseline JPEG encoder at `quality` and decodes again.
pub fn jpeg_roundtrip(img: &Image, quality: u8) -> Result<Image> {
    let mut bytes = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, quality)
        .encode(img.data(), img.width(), img.height(), image::ExtendedColorType::Rgb8)
        .context("JPEG encoding")?;
    let decoded =
        image::load_from_memory_with_format(&bytes, image::ImageFormat::Jpeg).context("JPEG decoding")?.to_rgb8();
    Ok(Image::from_vec(decoded.width(), decoded.height(), RGB8, decoded.into_raw()).unwrap())
}

/// Camcorder-like degradation of a low-resolution image: Gaussian blur (sigma 1 px),
/// Gaussian noise (sigma 5/255, fixed seed), JPEG quality 60.
pub fn camcorder(lr: &Image, seed: u64) -> Result<Image> {
    jpeg_roundtrip(&noisy(&gaussian_blur(lr, 1.0), 5.0, seed), 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bicubic_downscale_is_antialiased() {
        // A one-pixel checkerboard halved: an antialiased filter gives a flat grey, a
        // point-sampled bicubic would keep the pattern.
        let data = (0..32 * 32).flat_map(|i| if (i % 32 + i / 32) % 2 == 0 { [0u8; 3] } else { [255u8; 3] }).collect();
        let img = Image::from_vec(32, 32, RGB8, data).unwrap();
        let small = resize(&img, 16, 16, Filter::Bicubic).unwrap();
        let inner = crate::crop(&small, 2, 2, 12, 12);
        assert!(inner.data().iter().all(|&v| (100..=155).contains(&v)), "{:?}", &inner.data()[..12]);
    }

    #[test]
    fn blur_keeps_flat_images_and_noise_is_reproducible() {
        let img = Image::from_vec(20, 10, RGB8, [90u8, 140, 200].repeat(20 * 10)).unwrap();
        assert_eq!(gaussian_blur(&img, 1.0), img);
        assert_eq!(noisy(&img, 5.0, 7), noisy(&img, 5.0, 7));
        assert_ne!(noisy(&img, 5.0, 7), noisy(&img, 5.0, 8));
        let jpeg = jpeg_roundtrip(&img, 60).unwrap();
        assert_eq!((jpeg.width(), jpeg.height()), (20, 10));
    }
}
