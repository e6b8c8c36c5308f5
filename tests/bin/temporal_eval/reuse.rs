//! Issue 12's tile-reuse lever, measured (`AIUPSCALE_EVAL_ONLY=reuse`): per model and
//! clip, full processing (the default tiling, no reuse) and reuse at each threshold
//! (a fixed tile side), alternated frame by frame in one process, each arm a
//! `FrameUpscaler` with its own state and the same denoise settings. Per arm: frame
//! time, tiles reused, and PSNR of every frame against full processing. For each reuse
//! arm the worst frame's worst 64x64 block (output x4) is written as a crop next to
//! full processing and their difference (x8), to look for trails.
//!
//! Knobs (environment): AIUPSCALE_REUSE_MODELS (comma list), AIUPSCALE_REUSE_FRAMES,
//! AIUPSCALE_REUSE_START (first frame of the static clip), AIUPSCALE_REUSE_TILE,
//! AIUPSCALE_REUSE_THRESHOLDS (8-bit levels), AIUPSCALE_REUSE_DENOISE (temporal|off),
//! AIUPSCALE_REUSE_CLIPS (static,moving).

use std::{path::Path, time::Instant};

use aiupscale_core::{
    Control, DenoiseSettings, Engine, Filter, FrameUpscaler, Image, ModelSource, Precision, SessionConfig, Upscaler,
    UpscalerConfig,
};
use aiupscale_tests::{crop, ensure_model, media};

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

fn upscaler(model: &str, tile: Option<u32>, threshold: Option<f32>, denoise: DenoiseSettings) -> FrameUpscaler {
    let session =
        SessionConfig { engine: Engine::OpenVino, precision: Precision::Bf16, threads: 2, ..Default::default() };
    let config = UpscalerConfig { session, tile_size: tile, ..UpscalerConfig::default() };
    let mut up = Upscaler::new(&ModelSource::Catalog(model.into()), config).expect("model loads");
    up.set_reuse_threshold(threshold).expect("valid threshold");
    FrameUpscaler::new(up, denoise)
}

fn psnr(a: &Image, b: &Image) -> f64 {
    aiupscale_testkit::psnr_u8(a.data(), b.data())
}

/// The 64x64 block (x, y) with the largest squared error, and its MSE.
fn worst_block(a: &Image, b: &Image) -> (u32, u32, f64) {
    let (w, h) = (a.width(), a.height());
    let mut worst = (0, 0, -1.0);
    for by in (0..h.saturating_sub(63)).step_by(64) {
        for bx in (0..w.saturating_sub(63)).step_by(64) {
            let (ca, cb) = (crop(a, bx, by, 64, 64), crop(b, bx, by, 64, 64));
            let mse =
                ca.data().iter().zip(cb.data()).map(|(&x, &y)| (f64::from(x) - f64::from(y)).powi(2)).sum::<f64>()
                    / ca.data().len() as f64;
            if mse > worst.2 {
                worst = (bx, by, mse);
            }
        }
    }
    worst
}

/// Reuse | full | |difference| x 8, a 192x192 crop around (x, y), each shown x2.
fn save_crop(path: &Path, reused: &Image, full: &Image, (x, y): (u32, u32)) {
    let side = 192;
    let x0 = (x + 32).saturating_sub(side / 2).min(full.width() - side);
    let y0 = (y + 32).saturating_sub(side / 2).min(full.height() - side);
    let (a, b) = (crop(reused, x0, y0, side, side), crop(full, x0, y0, side, side));
    let mut canvas = image::RgbImage::new(3 * side * 2, side * 2);
    for yy in 0..side * 2 {
        for xx in 0..side * 2 {
            let i = (((yy / 2) * side + xx / 2) * 3) as usize;
            let pa = [a.data()[i], a.data()[i + 1], a.data()[i + 2]];
            let pb = [b.data()[i], b.data()[i + 1], b.data()[i + 2]];
            let pd = [0, 1, 2]
                .map(|c| (i16::from(pa[c]) - i16::from(pb[c])).unsigned_abs().saturating_mul(8).min(255) as u8);
            canvas.put_pixel(xx, yy, image::Rgb(pa));
            canvas.put_pixel(side * 2 + xx, yy, image::Rgb(pb));
            canvas.put_pixel(2 * side * 2 + xx, yy, image::Rgb(pd));
        }
    }
    canvas.save(path).unwrap();
}

struct Arm {
    label: String,
    up: FrameUpscaler,
    times: Vec<f64>,
    psnr: Vec<f64>,
    reused: usize,
    tiles: usize,
    worst: Option<(f64, usize, Image, (u32, u32))>,
}

fn measure(model: &str, clip: &str, frames: &[Image], out_dir: &Path) {
    let tile: u32 = env_or("AIUPSCALE_REUSE_TILE", "160").parse().expect("AIUPSCALE_REUSE_TILE: a number");
    let denoise = match env_or("AIUPSCALE_REUSE_DENOISE", "temporal").as_str() {
        "off" => DenoiseSettings::default(),
        _ => DenoiseSettings { denoise: 0.8, temporal: 1.0 },
    };
    let mut arms = vec![Arm {
        label: "full (default tiling)".into(),
        up: upscaler(model, None, None, denoise),
        times: vec![],
        psnr: vec![],
        reused: 0,
        tiles: 0,
        worst: None,
    }];
    for t in env_or("AIUPSCALE_REUSE_THRESHOLDS", "1,2").split(',') {
        let threshold: f32 = t.trim().parse().expect("AIUPSCALE_REUSE_THRESHOLDS: numbers");
        arms.push(Arm {
            label: format!("reuse <= {threshold} (tile {tile})"),
            up: upscaler(model, Some(tile), Some(threshold), denoise),
            times: vec![],
            psnr: vec![],
            reused: 0,
            tiles: 0,
            worst: None,
        });
    }
    let (w, h) = (frames[0].width() * 4, frames[0].height() * 4);
    // One warm-up frame per arm (first-run allocations), then a fresh stream.
    for arm in &mut arms {
        let mut out = Image::new(w, h, frames[0].format()).unwrap();
        arm.up.process(&frames[frames.len() - 1].as_ref(), &mut out.as_mut(), &mut Control::default()).unwrap();
        arm.up.reset();
    }
    for (t, frame) in frames.iter().enumerate() {
        let mut outputs = Vec::new();
        for arm in &mut arms {
            let mut out = Image::new(w, h, frame.format()).unwrap();
            let start = Instant::now();
            arm.up.process(&frame.as_ref(), &mut out.as_mut(), &mut Control::default()).unwrap();
            arm.times.push(start.elapsed().as_secs_f64());
            if let Some(stats) = arm.up.upscaler().reuse_stats() {
                arm.reused += stats.tiles_reused;
                arm.tiles += stats.tiles_run + stats.tiles_reused;
            }
            outputs.push(out);
        }
        for (arm, out) in arms.iter_mut().zip(&outputs).skip(1) {
            let p = psnr(out, &outputs[0]);
            arm.psnr.push(p);
            if arm.worst.as_ref().is_none_or(|(worst, ..)| p < *worst) {
                let (bx, by, _) = worst_block(out, &outputs[0]);
                arm.worst = Some((p, t, out.clone(), (bx, by)));
                save_crop(
                    &out_dir.join(format!("reuse-{model}-{clip}-{}.png", arm.label.split(' ').nth(2).unwrap_or("x"))),
                    out,
                    &outputs[0],
                    (bx, by),
                );
            }
        }
        let times: Vec<f64> = arms.iter().map(|a| a.times[t]).collect();
        let psnrs: Vec<f64> = arms.iter().skip(1).map(|a| a.psnr[t]).collect();
        eprintln!("{model} {clip} frame {t}: s {times:.2?}, PSNR {psnrs:.2?}");
    }
    let total = |a: &Arm| a.times.iter().sum::<f64>();
    let full = total(&arms[0]);
    for arm in &arms {
        let median_ratio = {
            let mut r: Vec<f64> = arm.times.iter().zip(&arms[0].times).map(|(a, b)| a / b).collect();
            r.sort_by(f64::total_cmp);
            r[r.len() / 2]
        };
        let (min_p, mean_p) = if arm.psnr.is_empty() {
            ("-".to_owned(), "-".to_owned())
        } else {
            let min = arm.psnr.iter().copied().fold(f64::INFINITY, f64::min);
            // Over the mean squared error: a frame identical to full processing is +inf dB.
            let mse =
                arm.psnr.iter().map(|p| 255.0f64.powi(2) / 10f64.powf(p / 10.0)).sum::<f64>() / arm.psnr.len() as f64;
            let mean = 10.0 * (255.0f64.powi(2) / mse).log10();
            (format!("{min:.2}"), format!("{mean:.2}"))
        };
        let worst = arm.worst.as_ref().map_or("-".into(), |(_, t, _, (x, y))| format!("frame {t} at ({x},{y})"));
        let reused =
            if arm.tiles > 0 { format!("{:.0}%", 100.0 * arm.reused as f64 / arm.tiles as f64) } else { "-".into() };
        println!(
            "| {model} | {clip} | {} | {:.2} | {:.0}% | {:.2} | {reused} | {min_p} | {mean_p} | {worst} |",
            arm.label,
            total(arm) / arm.times.len() as f64,
            100.0 * (1.0 - total(arm) / full),
            median_ratio,
        );
    }
}

pub fn run(out_dir: &Path) {
    let n: usize = env_or("AIUPSCALE_REUSE_FRAMES", "16").parse().expect("AIUPSCALE_REUSE_FRAMES: a number");
    let start: usize = env_or("AIUPSCALE_REUSE_START", "0").parse().expect("AIUPSCALE_REUSE_START: a number");
    // Big Buck Bunny's only shot is a locked-off camera (the rabbit moves, the set does
    // not); halved to 640x360 (antialiased) so that a frame costs what the element's
    // 640x360 target costs.
    let bunny: Vec<Image> = media::video("bigbuckbunny.mp4", start + n)
        .unwrap_or_else(|e| panic!("{e:#}"))
        .into_iter()
        .skip(start)
        .map(|f| media::resize(&f, 640, 360, Filter::Bicubic).unwrap())
        .collect();
    let bikes = media::video("bikes.mp4", n).unwrap_or_else(|e| panic!("{e:#}"));
    println!(
        "### Tile reuse (OpenVINO bf16, 2 threads, x4; denoise {}; {n} frames)\n",
        env_or("AIUPSCALE_REUSE_DENOISE", "temporal")
    );
    println!("| model | clip | arm | s per frame (mean) | saved (total time) | per-frame time ratio (median) | tiles reused | min PSNR dB vs full | PSNR of mean MSE dB | worst frame, block |");
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for model in env_or("AIUPSCALE_REUSE_MODELS", "realesr-animevideov3-x4,span-clearreality-x4").split(',') {
        ensure_model(model);
        let clips = env_or("AIUPSCALE_REUSE_CLIPS", "static,moving");
        if clips.contains("static") {
            measure(model, &format!("bigbuckbunny-static-from-{start}"), &bunny, out_dir);
        }
        if clips.contains("moving") {
            measure(model, "bikes-moving", &bikes, out_dir);
        }
    }
}
