//! Figures for the per-content defaults (issue 13): every footage candidate of at most
//! 1.5 MFLOP per input pixel (animevideov3's cost class, so video speed holds) on the
//! camcorder-like x2 set with and without the core's spatial denoise in front, and on the
//! real footage; the photo models on the x2 bicubic set.

use aiupscale_core::{Control, DenoiseSettings, FrameUpscaler, Image};
use anyhow::Result;

use crate::{
    metrics,
    quality::{Evaluation, ExtraModels, Method, Prepared},
};

/// The footage cost class, FLOP per input pixel.
pub const COST_LIMIT: f64 = 1.5e6;
/// Spatial denoise strengths tried in front of each footage candidate (0 = none).
pub const DENOISE: [f32; 3] = [0.0, 0.5, 1.0];
/// Issue 13's targets.
pub const PHOTO_TARGET_DB: f64 = 2.5;
pub const FOOTAGE_TARGET_DB: f64 = 1.0;
pub const FOOTAGE_TARGET_SSIM: f64 = 0.03;
pub const REAL_NIQE_TARGET: f64 = 1.0;
pub const COLOUR_LIMIT: f64 = 1.0;

/// Real-world (photo, footage, video) models within the cost class, and realesrgan-x4fast
/// for information (2.4 MFLOP per pixel).
pub fn footage_candidates(methods: &[Method]) -> Vec<Method> {
    methods
        .iter()
        .filter(|m| m.filter.is_none() && ["photo", "footage", "video"].contains(&m.content.as_str()))
        .filter(|m| m.flops <= COST_LIMIT || m.name == "realesrgan-x4fast")
        // Anime4K is a line-art model; animevideov3's x3 and x4 are the x2's network.
        .filter(|m| {
            !m.name.starts_with("anime4k")
                && !["realesr-animevideov3-x3", "realesr-animevideov3-x4"].contains(&m.name.as_str())
        })
        .cloned()
        .collect()
}

/// One candidate with one denoise strength on the camcorder-like set.
#[derive(Debug, Clone)]
pub struct CamcorderScore {
    pub method: String,
    pub denoise: f32,
    pub psnr: f64,
    pub ssim: f64,
    pub niqe: f64,
    /// Largest |colour shift| against the degraded input, 1/255.
    pub colour_shift: f64,
}

/// Upscales the camcorder-like x2 inputs through the element's frame path (spatial denoise,
/// then the model, then Lanczos to the exact size) and scores them.
pub fn camcorder(
    method: &Method,
    denoise: f32,
    inputs: &[Prepared],
    scale: u32,
    extra: &ExtraModels,
) -> Result<CamcorderScore> {
    let mut up = method.upscaler()?;
    let settings = DenoiseSettings { denoise, temporal: 0.0 };
    score_camcorder(method.name.clone(), denoise, inputs, scale, extra, |p| {
        let mut out = Image::new(p.hr.width(), p.hr.height(), p.hr.format())?;
        FrameUpscaler::new(&mut up, settings).process(&p.lr.as_ref(), &mut out.as_mut(), &mut Control::default())?;
        Ok(out)
    })
}

/// Scores what `upscale` makes of each camcorder-like input: mean PSNR/SSIM on Y against
/// the original, mean NIQE, and the largest colour shift against the input.
pub fn score_camcorder(
    method: String,
    denoise: f32,
    inputs: &[Prepared],
    scale: u32,
    extra: &ExtraModels,
    mut upscale: impl FnMut(&Prepared) -> Result<Image>,
) -> Result<CamcorderScore> {
    let (mut psnr, mut ssim, mut niqe, mut shift) = (0.0, 0.0, 0.0, 0.0f64);
    for p in inputs {
        let out = upscale(p)?;
        let (a, b) = metrics::psnr_ssim_y(&out, &p.hr, scale);
        psnr += a;
        ssim += b;
        niqe += crate::niqe::niqe_rgb(&out, &extra.niqe)?;
        for s in metrics::color_shift(&out, &p.lr) {
            shift = shift.max(s.abs());
        }
    }
    let n = inputs.len() as f64;
    Ok(CamcorderScore { method, denoise, psnr: psnr / n, ssim: ssim / n, niqe: niqe / n, colour_shift: shift })
}

/// The photo models ranked on a task by mean PSNR: (name, flops, PSNR, SSIM, NIQE).
pub fn photo_ranking(eval: &Evaluation, task: &str) -> Vec<(String, f64, f64, f64, f64)> {
    let Some(scores) = eval.recorded.tasks.iter().find(|t| t.task == task) else { return Vec::new() };
    let mut rows: Vec<_> = eval
        .methods
        .iter()
        .filter(|m| m.content == "photo")
        .filter_map(|m| {
            let s = scores.methods.iter().find(|s| s.method == m.name)?;
            Some((m.name.clone(), m.flops, s.psnr, s.ssim, s.extra.map_or(f64::NAN, |e| e.niqe)))
        })
        .collect();
    rows.sort_by(|a, b| b.2.total_cmp(&a.2));
    rows
}
