//! Chooses the blend weights of the footage paths (`aiupscale_tests::footage_paths`) on a
//! tuning split that shares no photo or frame with quality-eval: the camcorder-like x2
//! degradation of scikit-image's motorcycle_right, camera, coins, moon and ihc and of
//! bikes frames 70 and 170 (320x240 centre crops), and twenty real frames of
//! carphone_distorted and bikes (`footage_paths::REAL_FRAMES`, 176x144 centre crops),
//! each at least 15 frames from quality-eval's. quality-eval uses other photos
//! (astronaut, chelsea, coffee, motorcycle_left, aero) and frames (#10, #60, #110 and #20,
//! #120, #220).
//!
//!     cargo run --release -p aiupscale-tests --example footage_tune
//!
//! Per shape, every weight on a 0.1 grid; chosen: the most of the three quality targets
//! met, then the smallest summed shortfall (each as a fraction of its target), then the
//! largest smallest gain as a fraction of its target (where several meet every target). Then the
//! footage default's parts (span-footage-part-x2 and ClearReality on the halved input) with
//! one weight below a Gaussian and another above it (the catalog blend's `bands`), on a grid
//! of both weights and the Gaussian's sigma. Then the same rule at x4 (the x4 pairs of the split, the real frames upscaled x4) for the
//! candidates of the footage default above x2, each model as the core runs it (native
//! scale, then Lanczos to x4), without denoise.

use aiupscale_core::{Control, Filter, Image, ModelSource, Target, Upscaler, UpscalerConfig};
use aiupscale_models::{
    blend::{Bands, Blend},
    Catalog, ContentChoice,
};
use aiupscale_tests::{
    defaults::{COST_LIMIT, FOOTAGE_TARGET_DB, FOOTAGE_TARGET_SSIM, REAL_NIQE_TARGET},
    footage_paths::{blend_images, mix, path, split_scores, Outputs, TuningSplit, SHAPES},
    niqe, quality,
};
use anyhow::{Context, Result};

/// The footage default's candidates above x2: ClearReality x4 (the default there until
/// 2026-12-03) and the x2 models followed by Lanczos; realesrgan-x4fast (over the cost
/// class) for information.
const X4_CANDIDATES: [&str; 4] =
    ["span-clearreality-x4", "span-footage-blend-x2", "span-footage-x2", "realesrgan-x4fast"];
const TARGETS: [f64; 3] = [FOOTAGE_TARGET_DB, FOOTAGE_TARGET_SSIM, REAL_NIQE_TARGET];

/// Gains over Lanczos ([dB, SSIM, NIQE lower]) and the rule's key: the targets met, the
/// summed shortfall (negated) and the smallest gain as a fraction of its target; larger is
/// better.
fn judge(s: [f64; 3], lanczos: [f64; 3]) -> ([f64; 3], (usize, f64, f64)) {
    let gains = [s[0] - lanczos[0], s[1] - lanczos[1], lanczos[2] - s[2]];
    let fractions = gains.iter().zip(TARGETS).map(|(g, t)| g / t);
    let met = fractions.clone().filter(|f| *f >= 1.0).count();
    let shortfall: f64 = fractions.clone().map(|f| (1.0 - f).max(0.0)).sum();
    (gains, (met, -shortfall, fractions.fold(f64::INFINITY, f64::min)))
}

fn describe(gains: [f64; 3], (met, shortfall, surplus): (usize, f64, f64)) -> String {
    format!(
        "{:+.2} dB {:+.4} SSIM, real NIQE {:+.2} below Lanczos; {met}/3 met, shortfall {:.2}, smallest {surplus:.2} of a target",
        gains[0], gains[1], gains[2], -shortfall
    )
}

fn main() -> Result<()> {
    let split = TuningSplit::load()?;
    let model = niqe::NiqeModel::load_default()?;
    let methods = quality::methods();
    let score = |outs: &[Outputs], real_outs: &[Outputs], w: &[f32]| -> Result<[f64; 3]> {
        let mixed =
            |set: &[Outputs]| -> Result<Vec<Image>> { set.iter().map(|(lanczos, o)| mix(lanczos, o, w)).collect() };
        split_scores(&split.pairs, &mixed(outs)?, &mixed(real_outs)?, 2, &model)
    };
    let mut base = None;
    for shape in SHAPES {
        let p = path(&methods, shape, &vec![1.0; shape.len()], 1.0)?;
        let (outs, real_outs) = split.outputs(&p)?;
        let lanczos = *base.get_or_insert(score(&outs, &real_outs, &vec![0.0; shape.len()])?);
        let grid: Vec<Vec<f32>> = if shape.len() == 1 {
            (3..=10).map(|k| vec![k as f32 / 10.0]).collect()
        } else {
            (1..=9).flat_map(|a| (1..=10 - a).map(move |b| vec![a as f32 / 10.0, b as f32 / 10.0])).collect()
        };
        println!("\n{} (Lanczos {:.2} dB, SSIM {:.4}, real NIQE {:.2})", p.label(), lanczos[0], lanczos[1], lanczos[2]);
        let mut best: Option<((usize, f64, f64), Vec<f32>)> = None;
        for w in grid {
            let (gains, key) = judge(score(&outs, &real_outs, &w)?, lanczos);
            println!("  weights {w:?}: {}", describe(gains, key));
            if best.as_ref().is_none_or(|b| key > b.0) {
                best = Some((key, w));
            }
        }
        let ((met, shortfall, _), w) = best.expect("a non-empty grid");
        println!("  chosen: {w:?} ({met}/3 met, shortfall {:.2})", -shortfall);
    }
    bands(&split, &methods, &model, base.expect("a shape"))?;
    x4(&split.pairs_x4, &split.real, &model)
}

/// The footage default's two parts (the catalog's) mixed per band: its own part's share
/// below the Gaussian (`own low`) and above it (`own high`).
fn bands(split: &TuningSplit, methods: &[quality::Method], model: &niqe::NiqeModel, lanczos: [f64; 3]) -> Result<()> {
    let catalog = Catalog::builtin();
    let default = catalog.default_model(ContentChoice::Footage, 2.0)?;
    let (own, recipe) =
        catalog.own_part(default).zip(default.blend.as_ref()).context("the footage default is not a blend")?;
    let p = path(methods, &[(&own.name, 1), (&recipe.with, recipe.prescale)], &[1.0, 1.0], 1.0)?;
    let (outs, real_outs) = split.outputs(&p)?;
    println!("\n{} per band (denoise 1.0)", p.label());
    let mut best: Option<((usize, f64, f64), String)> = None;
    // Up to the largest Gaussian the catalog accepts (models/src/blend.rs).
    for sigma in [0.7f32, 1.0, 1.5] {
        for low in [3u8, 5, 6, 7, 8, 9, 10] {
            for high in 1u8..=4 {
                let bands = Bands { sigma, low_weight: 1.0 - f32::from(low) / 10.0 };
                let blend = Blend { weight: 1.0 - f32::from(high) / 10.0, bands: Some(bands), ..recipe.clone() };
                let mixed = |set: &[Outputs]| -> Result<Vec<Image>> {
                    set.iter().map(|(_, o)| blend_images(&o[0], &o[1], &blend)).collect()
                };
                let (gains, key) =
                    judge(split_scores(&split.pairs, &mixed(&outs)?, &mixed(&real_outs)?, 2, model)?, lanczos);
                let label = format!("sigma {sigma}, own low 0.{low}, own high 0.{high}").replace("0.10", "1.0");
                println!("  {label}: {}", describe(gains, key));
                if best.as_ref().is_none_or(|b| key > b.0) {
                    best = Some((key, label));
                }
            }
        }
    }
    let ((met, shortfall, _), label) = best.expect("a non-empty grid");
    println!("  chosen: {label} ({met}/3 met, shortfall {:.2})", -shortfall);
    Ok(())
}

/// The x4 candidates by the same rule.
fn x4(pairs: &[(Image, Image)], real: &[Image], model: &niqe::NiqeModel) -> Result<()> {
    let score = |up: &mut Upscaler| -> Result<[f64; 3]> {
        let mut run = |img: &Image, width: u32, height: u32| {
            Ok(up.upscale_to(&img.as_ref(), Target::Size { width, height }, &mut Control::default())?)
        };
        let outs: Vec<Image> = pairs.iter().map(|(hr, lr)| run(lr, hr.width(), hr.height())).collect::<Result<_>>()?;
        let real_outs: Vec<Image> =
            real.iter().map(|f| run(f, f.width() * 4, f.height() * 4)).collect::<Result<_>>()?;
        split_scores(pairs, &outs, &real_outs, 4, model)
    };
    let lanczos = score(&mut Upscaler::classic(Filter::Lanczos3))?;
    println!("\nx4 (Lanczos {:.2} dB, SSIM {:.4}, real NIQE {:.2})", lanczos[0], lanczos[1], lanczos[2]);
    let catalog = Catalog::builtin();
    let mut best: Option<((usize, f64, f64), &str)> = None;
    for name in X4_CANDIDATES {
        aiupscale_tests::try_ensure_model(name)?;
        let mut up = Upscaler::new(&ModelSource::Catalog(name.into()), UpscalerConfig::default())?;
        let (gains, key) = judge(score(&mut up)?, lanczos);
        println!("  {name}: {}", describe(gains, key));
        if catalog.get(name).is_some_and(|m| m.flops_per_pixel <= COST_LIMIT) && best.is_none_or(|b| key > b.0) {
            best = Some((key, name));
        }
    }
    let ((met, shortfall, _), name) = best.expect("candidates");
    println!("  chosen: {name} ({met}/3 met, shortfall {:.2})", -shortfall);
    Ok(())
}
