//! Footage paths beyond one plain model (issue 13): a model fed the input halved (an x4
//! model then nets x2 at a quarter of its cost per input pixel), the model's output blended
//! with Lanczos (GAN models over-sharpen), and two models blended. Each path runs the
//! element's spatial denoise first, at the input size, as `FrameUpscaler` does.
//!
//! The fixed weights of [`paths`] were chosen on a tuning split that shares no photo or
//! frame with quality-eval (`cargo run --release -p aiupscale-tests --example footage_tune`);
//! quality-eval then reports them on its own photos and frames.

use aiupscale_core::{Control, DenoiseSettings, Filter, FrameUpscaler, Grain, Image, Target, Upscaler};
use aiupscale_models::blend::{gaussian_taps, Blend};
use anyhow::{ensure, Context, Result};

use crate::{
    defaults::CamcorderScore,
    media, metrics,
    quality::{ExtraModels, Method, Prepared},
};

/// One model inside a path: its input is first downscaled by `prescale` (antialiased
/// bicubic), its output (at the path's output size) weighs `weight`.
#[derive(Debug, Clone)]
pub struct Part {
    pub method: Method,
    pub prescale: u32,
    pub weight: f32,
}

/// Models blended with Lanczos (which takes the weight the parts leave).
#[derive(Debug, Clone)]
pub struct Path {
    pub parts: Vec<Part>,
    pub denoise: f32,
}

impl Path {
    pub fn label(&self) -> String {
        let mut terms: Vec<String> = self
            .parts
            .iter()
            .map(|p| {
                let input = if p.prescale > 1 { format!(" on input ↓{}", p.prescale) } else { String::new() };
                format!("{:.1} {}{input}", p.weight, p.method.name)
            })
            .collect();
        let rest = 1.0 - self.parts.iter().map(|p| p.weight).sum::<f32>();
        if rest > 1e-3 {
            terms.push(format!("{rest:.1} Lanczos"));
        }
        terms.join(" + ")
    }

    /// FLOP per input pixel: a model on the input halved costs a quarter.
    pub fn flops(&self) -> f64 {
        self.parts.iter().map(|p| p.method.flops / f64::from(p.prescale * p.prescale)).sum()
    }

    pub fn upscalers(&self) -> Result<Vec<Upscaler>> {
        self.parts.iter().map(|p| p.method.upscaler()).collect()
    }

    /// `img` through the path to `width` x `height`.
    pub fn run(&self, ups: &mut [Upscaler], img: &Image, width: u32, height: u32) -> Result<Image> {
        let (lanczos, outputs) = self.outputs(ups, img, width, height)?;
        let weights: Vec<f32> = self.parts.iter().map(|p| p.weight).collect();
        mix(&lanczos, &outputs, &weights)
    }

    /// The denoised input through Lanczos and through each part's model, before blending.
    pub fn outputs(&self, ups: &mut [Upscaler], img: &Image, width: u32, height: u32) -> Result<(Image, Vec<Image>)> {
        let input = denoised(img, self.denoise)?;
        let target = Target::Size { width, height };
        let lanczos =
            Upscaler::classic(Filter::Lanczos3).upscale_to(&input.as_ref(), target, &mut Control::default())?;
        let mut outputs = Vec::new();
        for (part, up) in self.parts.iter().zip(ups.iter_mut()) {
            let small = if part.prescale > 1 {
                media::resize(&input, input.width() / part.prescale, input.height() / part.prescale, Filter::Bicubic)?
            } else {
                input.clone()
            };
            outputs.push(up.upscale_to(&small.as_ref(), target, &mut Control::default())?);
        }
        Ok((lanczos, outputs))
    }
}

/// Lanczos plus each output's difference to it times its weight, rounded to 8 bits.
pub fn mix(lanczos: &Image, outputs: &[Image], weights: &[f32]) -> Result<Image> {
    let mut sum: Vec<f32> = lanczos.data().iter().map(|&v| f32::from(v)).collect();
    for (out, &w) in outputs.iter().zip(weights) {
        for (s, (&o, &l)) in sum.iter_mut().zip(out.data().iter().zip(lanczos.data())) {
            *s += w * (f32::from(o) - f32::from(l));
        }
    }
    let data = sum.iter().map(|v| v.round().clamp(0.0, 255.0) as u8).collect();
    Image::from_vec(lanczos.width(), lanczos.height(), lanczos.format(), data).context("a path's output")
}

/// Separable Gaussian of `taps` over interleaved RGB samples, edge pixels repeated (as the
/// catalog blend's band split pads).
pub fn blur_rgb(data: &[f32], width: usize, height: usize, taps: &[f32]) -> Vec<f32> {
    let r = (taps.len() / 2) as isize;
    let pass = |src: &[f32], across: bool| -> Vec<f32> {
        let mut out = vec![0.0; src.len()];
        for y in 0..height {
            for x in 0..width {
                for c in 0..3 {
                    out[(y * width + x) * 3 + c] = taps
                        .iter()
                        .enumerate()
                        .map(|(k, t)| {
                            let d = k as isize - r;
                            let (sx, sy) = if across {
                                ((x as isize + d).clamp(0, width as isize - 1) as usize, y)
                            } else {
                                (x, (y as isize + d).clamp(0, height as isize - 1) as usize)
                            };
                            t * src[(sy * width + sx) * 3 + c]
                        })
                        .sum();
                }
            }
        }
        out
    };
    pass(&pass(data, true), false)
}

/// What the catalog's `blend` computes from its two parts' outputs (interleaved RGB of
/// `width` x `height`): `(1 - weight) own + weight other`, and with bands `low_weight`
/// instead of `weight` below the Gaussian.
pub fn blend_outputs(own: &[f32], other: &[f32], width: usize, height: usize, blend: &Blend) -> Vec<f32> {
    let d: Vec<f32> = own.iter().zip(other).map(|(a, b)| a - b).collect();
    let low = match blend.bands {
        Some(b) => blur_rgb(&d, width, height, &gaussian_taps(b.sigma)),
        None => vec![0.0; d.len()],
    };
    let low_share = blend.bands.map_or(0.0, |b| blend.weight - b.low_weight);
    other.iter().zip(d.iter().zip(&low)).map(|(o, (d, l))| o + (1.0 - blend.weight) * d + low_share * l).collect()
}

/// [`blend_outputs`] of two 8-bit images, rounded to 8 bits.
pub fn blend_images(own: &Image, other: &Image, blend: &Blend) -> Result<Image> {
    let f = |img: &Image| img.data().iter().map(|&v| f32::from(v)).collect::<Vec<f32>>();
    let (w, h) = (own.width() as usize, own.height() as usize);
    let mixed = blend_outputs(&f(own), &f(other), w, h, blend);
    let data = mixed.iter().map(|v| v.round().clamp(0.0, 255.0) as u8).collect();
    Image::from_vec(own.width(), own.height(), own.format(), data).context("a blend's output")
}

/// The element's spatial denoise alone (a same-size resample is a copy).
fn denoised(img: &Image, denoise: f32) -> Result<Image> {
    if denoise <= 0.0 {
        return Ok(img.clone());
    }
    let mut copy = Upscaler::classic(Filter::Lanczos3);
    let mut out = Image::new(img.width(), img.height(), img.format())?;
    FrameUpscaler::new(&mut copy, DenoiseSettings { denoise, temporal: 0.0 }).process(
        &img.as_ref(),
        &mut out.as_mut(),
        &mut Control::default(),
    )?;
    Ok(out)
}

fn part(methods: &[Method], name: &str, prescale: u32, weight: f32) -> Result<Part> {
    let method = methods.iter().find(|m| m.name == name).with_context(|| format!("no method {name}"))?.clone();
    Ok(Part { method, prescale, weight })
}

/// The split's real frames of carphone_distorted and of bikes: each at least 15 frames
/// from every frame quality-eval uses (#10, #60, #110 and #20, #120, #220). Twenty, not
/// four: NIQE of one 352x288 output moves by more than a point from frame to frame.
pub const REAL_FRAMES: ([usize; 10], [usize; 10]) =
    ([25, 30, 35, 40, 45, 75, 80, 85, 90, 95], [40, 55, 70, 85, 100, 140, 155, 170, 185, 200]);

/// footage_tune's split, sharing no photo or frame with quality-eval: camcorder-like x2
/// and x4 pairs (original, degraded) of 320x240 centre crops of five scikit-image photos
/// and two bikes frames, and real frames (176x144 centre crops of [`REAL_FRAMES`]).
pub struct TuningSplit {
    pub pairs: Vec<(Image, Image)>,
    pub pairs_x4: Vec<(Image, Image)>,
    pub real: Vec<Image>,
}

impl TuningSplit {
    pub fn load() -> Result<Self> {
        let root = crate::repo_root();
        let mut originals = Vec::new();
        for (i, name) in ["motorcycle_right", "camera", "coins", "moon", "ihc"].iter().enumerate() {
            let photo = media::load_rgb8(&root.join(format!(".deps/media/photos/{name}.png")))?;
            originals.push((media::centre_crop(&photo, 320, 240)?, 7000 + i as u64));
        }
        const BIKES_PAIRS: [usize; 2] = [70, 170];
        // Decode only as far as the last frame used.
        let last = |frames: &[usize]| frames.iter().max().map_or(0, |&f| f + 1);
        let bikes = media::video("bikes.mp4", last(&REAL_FRAMES.1).max(last(&BIKES_PAIRS)))?;
        for (i, f) in BIKES_PAIRS.into_iter().enumerate() {
            originals.push((media::centre_crop(&bikes[f], 320, 240)?, 7100 + i as u64));
        }
        let degraded = |factor: u32| -> Result<Vec<(Image, Image)>> {
            originals
                .iter()
                .map(|(hr, seed)| {
                    let lr = media::resize(hr, hr.width() / factor, hr.height() / factor, Filter::Bicubic)?;
                    Ok((hr.clone(), media::camcorder(&lr, *seed)?))
                })
                .collect()
        };
        let (pairs, pairs_x4) = (degraded(2)?, degraded(4)?);
        let carphone = media::video("carphone_distorted.mp4", last(&REAL_FRAMES.0))?;
        let real = REAL_FRAMES
            .0
            .iter()
            .map(|&f| &carphone[f])
            .chain(REAL_FRAMES.1.iter().map(|&f| &bikes[f]))
            .map(|f| media::centre_crop(f, 176, 144))
            .collect::<Result<_>>()?;
        Ok(Self { pairs, pairs_x4, real })
    }

    /// Lanczos and each of `path`'s models for every x2 pair and every real frame (x2),
    /// before blending.
    pub fn outputs(&self, path: &Path) -> Result<(Vec<Outputs>, Vec<Outputs>)> {
        let mut ups = path.upscalers()?;
        let pairs = self
            .pairs
            .iter()
            .map(|(hr, lr)| path.outputs(&mut ups, lr, hr.width(), hr.height()))
            .collect::<Result<_>>()?;
        let real = self
            .real
            .iter()
            .map(|f| path.outputs(&mut ups, f, f.width() * 2, f.height() * 2))
            .collect::<Result<_>>()?;
        Ok((pairs, real))
    }
}

/// A path's Lanczos output and its models' outputs, before blending.
pub type Outputs = (Image, Vec<Image>);

/// Models with the factor their input is halved by.
pub type Shape = &'static [(&'static str, u32)];
/// (grain strength, camcorder PSNR, SSIM, NIQE, real-frame NIQE).
pub type GrainRow = (f32, f64, f64, f64, f64);

/// The shapes footage_tune searches.
pub const SHAPES: [Shape; 7] = [
    &[("span-clearreality-x4", 1)],
    &[("span-clearreality-x4", 2)],
    &[("realesrgan-x4fast", 2)],
    &[("span-clearreality-x4", 1), ("realesrgan-x4fast", 2)],
    &[("span-footage-x2", 1)],
    &[("span-footage-x2", 1), ("span-clearreality-x4", 2)],
    // The catalog's one-graph form of the previous path, mixed per band (footage_tune).
    &[("span-footage-blend-x2", 1)],
];

/// A path of `shape` with `weights` (one per model).
pub fn path(methods: &[Method], shape: &[(&str, u32)], weights: &[f32], denoise: f32) -> Result<Path> {
    ensure!(shape.len() == weights.len(), "{} weights for {} models", weights.len(), shape.len());
    let parts = shape.iter().zip(weights).map(|(&(n, s), &w)| part(methods, n, s, w)).collect::<Result<_>>()?;
    Ok(Path { parts, denoise })
}

/// The paths quality-eval reports: per shape the weights footage_tune chose on its split
/// (the most targets met, then the smallest shortfall), and x4fast on the halved input
/// unblended for information. (For the first shape, one model on the full input, it chose
/// weight 1: the plain model, which quality-eval measures anyway; span-footage-x2 alone is
/// a footage candidate like it.)
pub fn paths(methods: &[Method]) -> Result<Vec<Path>> {
    let chosen: [(Shape, &[f32]); 5] = [
        (SHAPES[1], &[0.7]),
        (SHAPES[2], &[1.0]),
        (SHAPES[2], &[0.4]),
        (SHAPES[3], &[0.8, 0.2]),
        (SHAPES[5], &[0.2, 0.6]),
    ];
    chosen.iter().map(|(shape, weights)| path(methods, shape, weights, 1.0)).collect()
}

/// A path on the camcorder-like x2 set (PSNR/SSIM on Y, NIQE, colour shift), as
/// [`crate::defaults::camcorder`] scores a plain model.
pub fn camcorder(path: &Path, inputs: &[Prepared], extra: &ExtraModels) -> Result<CamcorderScore> {
    let mut ups = path.upscalers()?;
    crate::defaults::score_camcorder(path.label(), path.denoise, inputs, 2, extra, |p| {
        path.run(&mut ups, &p.lr, p.hr.width(), p.hr.height())
    })
}

/// A path on real frames (x2): mean NIQE and the largest colour shift against the input.
pub fn real(path: &Path, frames: &[Image], extra: &ExtraModels) -> Result<(f64, f64)> {
    let mut ups = path.upscalers()?;
    let (mut niqe, mut shift) = (0.0, 0.0f64);
    for f in frames {
        let out = path.run(&mut ups, f, f.width() * 2, f.height() * 2)?;
        niqe += crate::niqe::niqe_rgb(&out, &extra.niqe)?;
        for s in metrics::color_shift(&out, f) {
            shift = shift.max(s.abs());
        }
    }
    Ok((niqe / frames.len() as f64, shift))
}

/// Grain strengths measured on the footage default's output (0 = none).
pub const GRAIN: [f32; 4] = [0.0, 0.1, 0.25, 0.5];

/// NIQE (and PSNR/SSIM on the camcorder set) of `method`'s x2 outputs with grain of each
/// [`GRAIN`] strength added (fixed seed per image): rows of (strength, camcorder PSNR,
/// SSIM, NIQE, real-frame NIQE).
pub fn grain(method: &Method, inputs: &[Prepared], frames: &[Image], extra: &ExtraModels) -> Result<Vec<GrainRow>> {
    let mut up = method.upscaler()?;
    let camcorder: Vec<Image> = inputs
        .iter()
        .map(|p| {
            Ok(up.upscale_to(
                &p.lr.as_ref(),
                Target::Size { width: p.hr.width(), height: p.hr.height() },
                &mut Control::default(),
            )?)
        })
        .collect::<Result<_>>()?;
    let real: Vec<Image> = frames
        .iter()
        .map(|f| Ok(up.upscale_to(&f.as_ref(), Target::Factor(2.0), &mut Control::default())?))
        .collect::<Result<_>>()?;
    let mut rows = Vec::new();
    for strength in GRAIN {
        let with = |img: &Image, seed: u64| -> Result<Image> {
            let mut img = img.clone();
            aiupscale_core::add_grain(&mut img.as_mut(), Grain::new(strength, seed)?);
            Ok(img)
        };
        let (mut psnr, mut ssim, mut niqe, mut real_niqe) = (0.0, 0.0, 0.0, 0.0);
        for (i, (out, p)) in camcorder.iter().zip(inputs).enumerate() {
            let out = with(out, i as u64)?;
            let (a, b) = metrics::psnr_ssim_y(&out, &p.hr, 2);
            psnr += a / inputs.len() as f64;
            ssim += b / inputs.len() as f64;
            niqe += crate::niqe::niqe_rgb(&out, &extra.niqe)? / inputs.len() as f64;
        }
        for (i, out) in real.iter().enumerate() {
            real_niqe += crate::niqe::niqe_rgb(&with(out, 100 + i as u64)?, &extra.niqe)? / real.len() as f64;
        }
        rows.push((strength, psnr, ssim, niqe, real_niqe));
    }
    Ok(rows)
}

/// What footage_tune scores: mean PSNR and SSIM (Y, `border` pixels cropped) of `outputs`
/// against the originals of `pairs`, and mean NIQE of `real_outputs`.
pub fn split_scores(
    pairs: &[(Image, Image)],
    outputs: &[Image],
    real_outputs: &[Image],
    border: u32,
    model: &crate::niqe::NiqeModel,
) -> Result<[f64; 3]> {
    ensure!(outputs.len() == pairs.len(), "{} outputs for {} pairs", outputs.len(), pairs.len());
    let (mut psnr, mut ssim) = (0.0, 0.0);
    for (out, (hr, _)) in outputs.iter().zip(pairs) {
        let (p, s) = metrics::psnr_ssim_y(out, hr, border);
        psnr += p / pairs.len() as f64;
        ssim += s / pairs.len() as f64;
    }
    let mut niqe = 0.0;
    for out in real_outputs {
        niqe += crate::niqe::niqe_rgb(out, model)? / real_outputs.len() as f64;
    }
    Ok([psnr, ssim, niqe])
}
