//! The footage default against issue 13's targets (rows of the Targets table) and the grain
//! table of docs/QUALITY.md.

use std::fmt::Write as _;

use crate::{
    defaults,
    footage_paths::{GrainRow, GRAIN},
    report_realworld::FootageCandidate,
};

fn verdict(ok: bool) -> &'static str {
    if ok {
        "**PASS**"
    } else {
        "**FAIL**"
    }
}

/// Rows of the Targets table for the footage default (`model` at the element's default
/// denoise), against Lanczos on x2-camcorder and on the real frames.
pub fn target_rows(model: &str, c: &FootageCandidate, lanczos: &defaults::CamcorderScore, lanczos_real: f64) -> String {
    let s = &c.camcorder;
    let (dp, ds, dn) = (s.psnr - lanczos.psnr, s.ssim - lanczos.ssim, lanczos_real - c.real_niqe);
    let shift = s.colour_shift.max(c.real_shift);
    let what = format!("the default footage model {model} (denoise {:.1}, the element's default)", s.denoise);
    let mut md = String::new();
    let _ = writeln!(
        md,
        "| {what} beats Lanczos by ≥ {} dB PSNR-Y on average (x2-camcorder) | {:.2} dB vs {:.2} dB: {dp:+.2} dB | {} |",
        defaults::FOOTAGE_TARGET_DB,
        s.psnr,
        lanczos.psnr,
        verdict(dp >= defaults::FOOTAGE_TARGET_DB)
    );
    let _ = writeln!(
        md,
        "| the same by ≥ {} SSIM (x2-camcorder) | {:.4} vs {:.4}: {ds:+.4} | {} |",
        defaults::FOOTAGE_TARGET_SSIM,
        s.ssim,
        lanczos.ssim,
        verdict(ds >= defaults::FOOTAGE_TARGET_SSIM)
    );
    let _ = writeln!(
        md,
        "| its mean NIQE on the real footage frames is ≥ {} below Lanczos's | {:.2} vs {lanczos_real:.2}: {dn:+.2} lower | {} |",
        defaults::REAL_NIQE_TARGET,
        c.real_niqe,
        verdict(dn >= defaults::REAL_NIQE_TARGET)
    );
    let _ = writeln!(
        md,
        "| its colour shift is within {}/255 (x2-camcorder and real frames) | largest |shift| {shift:.2}/255 | {} |",
        defaults::COLOUR_LIMIT,
        verdict(shift <= defaults::COLOUR_LIMIT)
    );
    md
}

/// The grain table: (strength, camcorder PSNR, SSIM, NIQE, real-frame NIQE) per strength.
pub fn grain_section(model: &str, rows: &[GrainRow]) -> String {
    let mut md = String::from("**Grain.** ");
    let _ = writeln!(
        md,
        "The footage default {model} x2 (no denoise), then the core's `grain` (luminance-weighted, seeded per image) at \
         strengths {GRAIN:?}: NIQE with and without it on the x2-camcorder set and on the real frames (PSNR/SSIM on \
         x2-camcorder for information: grain is noise to a full-reference metric).\n"
    );
    md += "| grain | x2-camcorder PSNR | SSIM | NIQE | real NIQE |\n|---|---|---|---|---|\n";
    for (strength, psnr, ssim, niqe, real) in rows {
        let _ = writeln!(md, "| {strength:.2} | {psnr:.2} | {ssim:.4} | {niqe:.2} | {real:.2} |");
    }
    md.push('\n');
    md
}
