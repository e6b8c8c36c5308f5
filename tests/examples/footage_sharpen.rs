//! Whether an unsharp mask after the footage model helps issue 13's footage targets, on
//! footage_tune's tuning split (no photo or frame of quality-eval): PSNR/SSIM on Y of the
//! camcorder-like x2 set and mean NIQE of the real frames, per path, sigma and amount.
//!
//!     cargo run --release -p aiupscale-tests --example footage_sharpen

use aiupscale_core::Image;
use aiupscale_tests::{
    footage_paths::{path, split_scores, Shape, TuningSplit},
    media, niqe, quality,
};
use anyhow::Result;

/// `img + amount * (img - blur(img))`, per channel, rounded to 8 bits.
fn unsharp(img: &Image, amount: f32, sigma: f64) -> Result<Image> {
    let blur = media::gaussian_blur(img, sigma);
    let data = img
        .data()
        .iter()
        .zip(blur.data())
        .map(|(&x, &b)| (f32::from(x) + amount * (f32::from(x) - f32::from(b))).round().clamp(0.0, 255.0) as u8)
        .collect();
    Ok(Image::from_vec(img.width(), img.height(), img.format(), data)?)
}

fn main() -> Result<()> {
    let TuningSplit { pairs, real, .. } = TuningSplit::load()?;
    let model = niqe::NiqeModel::load_default()?;
    let methods = quality::methods();
    let score = |outs: &[Image], real_outs: &[Image], amount: f32, sigma: f64| -> Result<[f64; 3]> {
        let sharpened =
            |set: &[Image]| -> Result<Vec<Image>> { set.iter().map(|o| unsharp(o, amount, sigma)).collect() };
        split_scores(&pairs, &sharpened(outs)?, &sharpened(real_outs)?, 2, &model)
    };
    // (models with their input's reduction, weight, denoise); weight 0 is Lanczos alone.
    let shapes: [(Shape, f32, f32); 5] = [
        (&[("span-clearreality-x4", 1)], 0.0, 0.0),
        (&[("span-clearreality-x4", 1)], 1.0, 0.0),
        (&[("span-clearreality-x4", 1)], 1.0, 1.0),
        (&[("span-clearreality-x4", 2)], 0.7, 1.0),
        (&[("span-clearreality-x4", 2)], 1.0, 1.0),
    ];
    for (shape, weight, denoise) in shapes {
        let p = path(&methods, shape, &[weight], denoise)?;
        let mut ups = p.upscalers()?;
        let outs: Vec<Image> =
            pairs.iter().map(|(hr, lr)| p.run(&mut ups, lr, hr.width(), hr.height())).collect::<Result<_>>()?;
        let real_outs: Vec<Image> =
            real.iter().map(|f| p.run(&mut ups, f, f.width() * 2, f.height() * 2)).collect::<Result<_>>()?;
        println!("{}, denoise {denoise}", p.label());
        let [psnr, ssim, n] = score(&outs, &real_outs, 0.0, 1.0)?;
        println!("  no sharpening: {psnr:.3} dB, SSIM {ssim:.4}, real NIQE {n:.3}");
        if weight == 0.0 {
            continue;
        }
        for sigma in [0.7, 1.0, 1.5, 2.0] {
            for amount in [0.25f32, 0.5, 0.75, 1.0, 1.5] {
                let [psnr, ssim, n] = score(&outs, &real_outs, amount, sigma)?;
                println!("  sigma {sigma} amount {amount}: {psnr:.3} dB, SSIM {ssim:.4}, real NIQE {n:.3}");
            }
        }
    }
    Ok(())
}
