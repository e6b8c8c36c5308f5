//! Chooses the blend weights of the footage paths (`aiupscale_tests::footage_paths`) on a
//! tuning split that shares no photo or frame with quality-eval: the camcorder-like x2
//! degradation of scikit-image's motorcycle_right, camera, coins, moon and ihc and of
//! bikes frames 70 and 170 (320x240 centre crops), and the real frames carphone_distorted
//! #35, #85 and bikes #70, #170 (176x144 centre crops). quality-eval uses other photos
//! (astronaut, chelsea, coffee, motorcycle_left, aero) and frames (#10, #60, #110 and #20,
//! #120, #220).
//!
//!     cargo run --release -p aiupscale-tests --example footage_tune
//!
//! Per shape, every weight on a 0.1 grid; chosen: the most of the three quality targets
//! met, then the smallest summed shortfall (each as a fraction of its target).

use aiupscale_core::Image;
use aiupscale_tests::{
    defaults::{FOOTAGE_TARGET_DB, FOOTAGE_TARGET_SSIM, REAL_NIQE_TARGET},
    footage_paths::{mix, path, TuningSplit, SHAPES},
    metrics, niqe, quality,
};
use anyhow::Result;

fn main() -> Result<()> {
    let TuningSplit { pairs, real } = TuningSplit::load()?;
    let model = niqe::NiqeModel::load_default()?;
    let methods = quality::methods();
    let score = |outs: &[(Image, Vec<Image>)], real_outs: &[(Image, Vec<Image>)], w: &[f32]| -> Result<[f64; 3]> {
        let (mut psnr, mut ssim, mut n) = (0.0, 0.0, 0.0);
        for ((lanczos, o), (hr, _)) in outs.iter().zip(&pairs) {
            let (p, s) = metrics::psnr_ssim_y(&mix(lanczos, o, w)?, hr, 2);
            psnr += p / pairs.len() as f64;
            ssim += s / pairs.len() as f64;
        }
        for (lanczos, o) in real_outs {
            n += niqe::niqe_rgb(&mix(lanczos, o, w)?, &model)? / real_outs.len() as f64;
        }
        Ok([psnr, ssim, n])
    };
    let targets = [FOOTAGE_TARGET_DB, FOOTAGE_TARGET_SSIM, REAL_NIQE_TARGET];
    let mut base = None;
    for shape in SHAPES {
        let p = path(&methods, shape, &vec![1.0; shape.len()], 1.0)?;
        let mut ups = p.upscalers()?;
        let outs: Vec<_> =
            pairs.iter().map(|(hr, lr)| p.outputs(&mut ups, lr, hr.width(), hr.height())).collect::<Result<_>>()?;
        let real_outs: Vec<_> =
            real.iter().map(|f| p.outputs(&mut ups, f, f.width() * 2, f.height() * 2)).collect::<Result<_>>()?;
        let lanczos = *base.get_or_insert(score(&outs, &real_outs, &vec![0.0; shape.len()])?);
        let grid: Vec<Vec<f32>> = if shape.len() == 1 {
            (3..=10).map(|k| vec![k as f32 / 10.0]).collect()
        } else {
            (1..=9).flat_map(|a| (1..=10 - a).map(move |b| vec![a as f32 / 10.0, b as f32 / 10.0])).collect()
        };
        println!("\n{} (Lanczos {:.2} dB, SSIM {:.4}, real NIQE {:.2})", p.label(), lanczos[0], lanczos[1], lanczos[2]);
        let mut best: Option<(usize, f64, Vec<f32>)> = None;
        for w in grid {
            let s = score(&outs, &real_outs, &w)?;
            let gains = [s[0] - lanczos[0], s[1] - lanczos[1], lanczos[2] - s[2]];
            let met = gains.iter().zip(targets).filter(|(g, t)| **g >= *t).count();
            let shortfall: f64 = gains.iter().zip(targets).map(|(g, t)| (1.0 - g / t).max(0.0)).sum();
            println!(
                "  weights {w:?}: {:+.2} dB {:+.4} SSIM, real NIQE {:+.2} below Lanczos; {met}/3 met, shortfall {shortfall:.2}",
                gains[0], gains[1], gains[2]
            );
            if best.as_ref().is_none_or(|b| (met, -shortfall) > (b.0, -b.1)) {
                best = Some((met, shortfall, w));
            }
        }
        let (met, shortfall, w) = best.expect("a non-empty grid");
        println!("  chosen: {w:?} ({met}/3 met, shortfall {shortfall:.2})");
    }
    Ok(())
}
