//! The footage paths (`aiupscale_tests::footage_paths`) on quality-eval's own sets, without
//! the rest of quality-eval (which takes most of an hour; footage_default scores the plain
//! models): its camcorder-like x2 set (PSNR/SSIM on Y, colour shift) and its six real frames
//! (NIQE), against Lanczos. The same functions quality-eval's "Defaults per content" uses;
//! last the catalog's span-footage-blend-x2, which runs the blend path as one model.
//!
//!     cargo run --release -p aiupscale-tests --example footage_paths_eval

use aiupscale_tests::{
    defaults, footage_paths,
    quality::{self, Config, ExtraModels},
    realworld::{self, Kind},
};
use anyhow::{Context, Result};

fn main() -> Result<()> {
    let config = Config::full();
    let prepared = quality::prepare(&config)?;
    let task = config.tasks.iter().position(|t| t.key() == "x2-camcorder").context("no x2-camcorder task")?;
    let camcorder = &prepared[task];
    let extra = ExtraModels::load()?;
    let frames: Vec<_> =
        realworld::inputs()?.into_iter().filter(|i| i.kind == Kind::Footage).map(|i| i.image).collect();
    let methods = quality::methods();
    let lanczos = methods.iter().find(|m| m.name == "lanczos").context("no lanczos")?;
    let base = defaults::camcorder(lanczos, 0.0, camcorder, 2, &extra)?;
    let base_niqe = footage_paths::real(&footage_paths::path(&methods, &[], &[], 0.0)?, &frames, &extra)?.0;
    println!("| path | MFLOP/px | x2-camcorder PSNR | Δ dB | SSIM | Δ SSIM | real NIQE | lower by | colour shift |");
    println!("|---|---|---|---|---|---|---|---|---|");
    println!("| lanczos | - | {:.2} | - | {:.4} | - | {base_niqe:.2} | - | - |", base.psnr, base.ssim);
    // The catalog's one-graph blend as the element runs it by default (no denoise).
    let blend = footage_paths::path(&methods, footage_paths::SHAPES[6], &[1.0], 0.0)?;
    for path in footage_paths::paths(&methods)?.into_iter().chain([blend]) {
        let s = footage_paths::camcorder(&path, camcorder, &extra)?;
        let (niqe, shift) = footage_paths::real(&path, &frames, &extra)?;
        println!(
            "| {} | {:.2} | {:.2} | {:+.2} | {:.4} | {:+.4} | {niqe:.2} | {:+.2} | {:.2} |",
            path.label(),
            path.flops() / 1e6,
            s.psnr,
            s.psnr - base.psnr,
            s.ssim,
            s.ssim - base.ssim,
            base_niqe - niqe,
            s.colour_shift.max(shift)
        );
    }
    Ok(())
}
