//! The measurement behind the `footage` default (MODELS.md, "Defaults per content"):
//! the candidates of at most ~2.5 MFLOP per input pixel on quality-eval's camcorder-like
//! degradation (same photos, 320x240 crops, seeds and metrics as `quality-eval`), with and
//! without the spatial denoise, against Lanczos; and the time per input megapixel.
//!
//!     cargo run --release -p aiupscale-tests --example footage_default

use std::time::Instant;

use aiupscale_core::{
    Control, DenoiseSettings, Filter, FrameUpscaler, Image, ModelSource, Target, Upscaler, UpscalerConfig,
};
use aiupscale_models::Catalog;
use aiupscale_tests::{media, metrics, repo_root, try_ensure_model};
use anyhow::Result;

const PHOTOS: [(&str, &str); 5] = [
    ("astronaut", ".deps/media/photos/astronaut.png"),
    ("chelsea", ".deps/media/photos/chelsea.png"),
    ("coffee", ".deps/media/photos/coffee.png"),
    ("motorcycle_left", ".deps/media/photos/motorcycle_left.png"),
    ("aero", ".deps/media/pywt/aero.png"),
];
const CANDIDATES: [&str; 8] = [
    "span-footage-blend-x2",
    "span-footage-x2",
    "realesr-animevideov3-x2",
    "span-clearreality-x4",
    "realesrgan-x4fast",
    "span-x2-ch48",
    "span-x4-ch48",
    "span-x2-ch52",
];
const CROP: (u32, u32) = (320, 240);

fn main() -> Result<()> {
    let root = repo_root();
    for scale in [2u32, 4] {
        let mut pairs = Vec::new();
        for (i, (_, path)) in PHOTOS.iter().enumerate() {
            let hr = media::centre_crop(&media::load_rgb8(&root.join(path))?, CROP.0, CROP.1)?;
            let lr = media::resize(&hr, CROP.0 / scale, CROP.1 / scale, Filter::Bicubic)?;
            // quality-eval's seed for this task and photo.
            let lr = media::camcorder(&lr, 1000 * u64::from(scale) + i as u64)?;
            pairs.push((hr, lr));
        }
        println!("## x{scale}-camcorder ({} photos, {}x{} crops)", PHOTOS.len(), CROP.0, CROP.1);
        println!("| method | MFLOP/px | denoise | PSNR-Y | SSIM | vs Lanczos | s per input MP |");
        println!("|---|---|---|---|---|---|---|");
        let lanczos = score(&mut Upscaler::classic(Filter::Lanczos3), &pairs, scale, 0.0)?;
        println!("| lanczos | - | 0 | {:.2} | {:.4} | - | - |", lanczos.0, lanczos.1);
        for name in CANDIDATES {
            try_ensure_model(name)?;
            let flops = Catalog::builtin().require(name)?.flops_per_pixel / 1e6;
            let mut up = Upscaler::new(&ModelSource::Catalog(name.into()), UpscalerConfig::default())?;
            for denoise in [0.0, 0.5] {
                let started = Instant::now();
                let (psnr, ssim) = score(&mut up, &pairs, scale, denoise)?;
                let pixels: u32 = pairs.iter().map(|(_, lr)| lr.width() * lr.height()).sum();
                let per_mp = started.elapsed().as_secs_f64() / (f64::from(pixels) / 1e6);
                println!(
                    "| {name} | {flops:.2} | {denoise} | {psnr:.2} | {ssim:.4} | {:+.2} dB, {:+.4} | {per_mp:.1} |",
                    psnr - lanczos.0,
                    ssim - lanczos.1
                );
            }
        }
        println!();
    }
    Ok(())
}

/// Mean PSNR-Y and SSIM over the photos, each upscaled back to the crop's size.
fn score(up: &mut Upscaler, pairs: &[(Image, Image)], scale: u32, denoise: f32) -> Result<(f64, f64)> {
    let (mut psnr, mut ssim) = (0.0, 0.0);
    for (hr, lr) in pairs {
        let out = if denoise > 0.0 {
            let mut out = Image::new(CROP.0, CROP.1, lr.format())?;
            let settings = DenoiseSettings { denoise, temporal: 0.0 };
            FrameUpscaler::new(&mut *up, settings).process(&lr.as_ref(), &mut out.as_mut(), &mut Control::default())?;
            out
        } else {
            up.upscale_to(&lr.as_ref(), Target::Size { width: CROP.0, height: CROP.1 }, &mut Control::default())?
        };
        let (p, s) = metrics::psnr_ssim_y(&out, hr, scale);
        psnr += p;
        ssim += s;
    }
    let n = pairs.len() as f64;
    Ok((psnr / n, ssim / n))
}
