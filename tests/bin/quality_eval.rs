//! The image-quality report (issue 8).
//!
//!     cargo run --release -p aiupscale-tests --bin quality-eval              # full: docs/QUALITY.md, docs/quality/
//!     cargo run --release -p aiupscale-tests --bin quality-eval -- --check   # recompute, fail on a regression
//!     cargo run --release -p aiupscale-tests --bin quality-eval -- --quick [--check]
//!
//! The full run measures every catalog model, bicubic and Lanczos on real photos (bicubic
//! and camcorder-like degradations, x2 and x4), times them, scores real footage with the
//! video model, and writes the report with its crops, plot and recorded figures
//! (docs/quality/recorded.json). `--quick` is the small form the test suite runs (figures in
//! docs/quality/recorded-quick.json; no footage, no report). `--check` writes nothing: it
//! compares with the recorded figures and exits with failure when a method's mean PSNR fell
//! by more than 0.1 dB or its SSIM by more than 0.002.

use std::{process::ExitCode, time::Instant};

use aiupscale_core::{Filter, Image};
use aiupscale_models::{Catalog, ContentChoice};
use aiupscale_tests::{
    crop, defaults, footage, footage_paths, media,
    quality::{self, Config, Evaluation, ExtraModels, Margins, Recorded},
    realworld::{self, Kind},
    repo_root, report, report_footage,
    report_realworld::{self, FootageCandidate},
};
use anyhow::{bail, Context, Result};

fn main() -> ExitCode {
    match run() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("quality-eval: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<ExitCode> {
    let (mut quick, mut check) = (false, false);
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "--quick" => quick = true,
            "--check" => check = true,
            "-h" | "--help" => {
                println!("usage: quality-eval [--quick] [--check]\n  --quick  small form (2 photos, bicubic x2/x4, no footage, no report)\n  --check  recompute and compare with the recorded figures; write nothing");
                return Ok(ExitCode::SUCCESS);
            }
            other => bail!("unknown argument {other:?}; usage: quality-eval [--quick] [--check]"),
        }
    }
    let started = Instant::now();
    let machine = report::Machine::describe();
    let config = if quick { Config::quick() } else { Config::full() };
    let recorded_path = config.recorded_path();
    // Read the recorded figures first, so a missing file fails before the long run.
    let recorded = if check { Some(Recorded::load(&recorded_path)?) } else { None };
    let eval = quality::evaluate(&config)?;
    print_summary(&eval);
    if let Some(recorded) = recorded {
        let failures = quality::check(&recorded, &eval.recorded, Margins::default());
        if failures.is_empty() {
            println!("check passed against {} ({:.0} s)", shown(&recorded_path), started.elapsed().as_secs_f64());
            return Ok(ExitCode::SUCCESS);
        }
        eprintln!("quality regressions against {}:", shown(&recorded_path));
        for f in &failures {
            eprintln!("  {f}");
        }
        return Ok(ExitCode::FAILURE);
    }
    eval.recorded.save(&recorded_path)?;
    println!("recorded figures: {}", shown(&recorded_path));
    if !quick {
        write_report(&eval, &machine, started)?;
    }
    println!("done in {:.0} s", started.elapsed().as_secs_f64());
    Ok(ExitCode::SUCCESS)
}

/// A path as the repository-relative one when it is inside the repository.
fn shown(path: &std::path::Path) -> String {
    let root = repo_root().canonicalize().unwrap_or_else(|_| repo_root());
    let full = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
    full.strip_prefix(&root).unwrap_or(&full).display().to_string()
}

fn print_summary(eval: &Evaluation) {
    for task in &eval.recorded.tasks {
        println!("\n{}: mean PSNR dB / SSIM over {} photos", task.task, eval.recorded.photos.len());
        for m in &task.methods {
            println!("  {:<28} {:6.2} {:.4}", m.method, m.psnr, m.ssim);
        }
    }
    println!();
}

fn write_report(eval: &Evaluation, machine: &report::Machine, started: Instant) -> Result<()> {
    let docs = repo_root().join("docs");
    let quality_dir = docs.join("quality");
    std::fs::create_dir_all(&quality_dir).with_context(|| format!("creating {}", quality_dir.display()))?;
    let crops = quality_dir.join("crops");
    if crops.exists() {
        std::fs::remove_dir_all(&crops).with_context(|| format!("clearing {}", crops.display()))?;
    }
    let scenes = report::write_scenes(eval, &docs)?;
    report::write_plot(eval, 0, &quality_dir.join("quality_vs_speed.svg"))?;

    let clips = footage::clips(60, 30)?;
    let (rows, last_frames) = footage::evaluate(&clips)?;
    let mut frames = Vec::new();
    for (clip, outputs) in clips.iter().zip(&last_frames) {
        let (input, reference) =
            (clip.input.last().context("empty clip")?, clip.reference.last().context("empty clip")?);
        let file = report::write_footage_frame(&clip.name, input, outputs, reference, &docs)?;
        frames.push((clip.name.clone(), clip.note.clone(), file));
    }
    for r in &rows {
        println!(
            "{:<20} {:<36} PSNR {:.2} (worst {:.2}) SSIM {:.4} temporal error {:.3}",
            r.clip, r.method, r.mean_psnr, r.worst_psnr, r.mean_ssim, r.temporal_error
        );
    }
    let extra = ExtraModels::load()?;
    let (real_rows, real_md) = real_world(&extra, &docs)?;
    let (defaults_md, footage_targets) = default_figures(eval, &extra, &real_rows)?;
    let mut md =
        report::markdown(eval, machine, started.elapsed().as_secs_f64(), &scenes, &rows, &frames, &footage_targets);
    md += &real_md;
    md += &defaults_md;
    let path = docs.join("QUALITY.md");
    std::fs::write(&path, md).with_context(|| format!("writing {}", path.display()))?;
    println!("report: {}", shown(&path));
    Ok(())
}

/// The real degraded inputs (no ground truth) through Lanczos and every photo, footage and
/// video model: the rows and the report section with its crops.
fn real_world(extra: &ExtraModels, docs: &std::path::Path) -> Result<(Vec<realworld::Row>, String)> {
    let dir = docs.join("quality/realworld");
    if dir.exists() {
        std::fs::remove_dir_all(&dir).with_context(|| format!("clearing {}", dir.display()))?;
    }
    let inputs = realworld::inputs()?;
    // Side-by-side scenes: a carphone_distorted frame and a realesrgan photo.
    let picks = ["carphone_distorted #60", "0030.jpg"];
    let mut scenes: Vec<(String, Vec<(String, Image)>)> = Vec::new();
    let centre = |img: &Image| crop(img, (img.width() - 128) / 2, (img.height() - 128) / 2, 128, 128);
    for name in picks {
        let input = inputs.iter().find(|i| i.name == name).context("a scene's input is missing")?;
        let nearest = media::resize(&input.image, input.image.width() * 2, input.image.height() * 2, Filter::Nearest)?;
        scenes.push((name.to_string(), vec![("input (nearest)".into(), centre(&nearest))]));
    }
    let mut rows = Vec::new();
    for method in realworld::methods() {
        let t0 = Instant::now();
        let (row, outputs) = realworld::run(&method, 0.0, &inputs, extra)?;
        for (k, name) in picks.iter().enumerate() {
            let i = inputs.iter().position(|x| x.name == *name).context("a scene's input is missing")?;
            scenes[k].1.push((method.name.clone(), centre(&outputs[i])));
        }
        eprintln!(
            "[quality-eval] real {:<28} NIQE {:.2} / {:.2} {:6.1} s",
            method.name,
            row.niqe[0],
            row.niqe[1],
            t0.elapsed().as_secs_f64()
        );
        rows.push(row);
    }
    let mut files = Vec::new();
    for (name, crops) in &scenes {
        files.push((name.clone(), report_realworld::write_crops(name, crops, docs)?));
    }
    let md = report_realworld::realworld_section(&rows, &files);
    Ok((rows, md))
}

/// The footage candidates with and without denoise, and the footage paths (footage_paths),
/// on the camcorder-like set and the real frames; grain on the footage default; the photo
/// ranking: the defaults section, and the footage default's rows of the Targets table.
fn default_figures(eval: &Evaluation, extra: &ExtraModels, real_rows: &[realworld::Row]) -> Result<(String, String)> {
    let prepared = quality::prepare(&eval.config)?;
    let task = eval.config.tasks.iter().position(|t| t.key() == "x2-camcorder").context("no x2-camcorder task")?;
    let camcorder = &prepared[task];
    let methods = quality::methods();
    let lanczos = methods.iter().find(|m| m.name == "lanczos").context("no lanczos")?;
    let lanczos_camcorder = defaults::camcorder(lanczos, 0.0, camcorder, 2, extra)?;
    let lanczos_real = real_rows.iter().find(|r| r.method == "lanczos").context("no lanczos row")?.niqe[0];
    let frames: Vec<realworld::Input> = realworld::inputs()?.into_iter().filter(|i| i.kind == Kind::Footage).collect();
    let default_model = Catalog::builtin().default_model(ContentChoice::Footage, 2.0)?.name.clone();
    let mut candidates = Vec::new();
    let mut default_row = None;
    for method in defaults::footage_candidates(&methods) {
        for denoise in defaults::DENOISE {
            let t0 = Instant::now();
            let score = defaults::camcorder(&method, denoise, camcorder, 2, extra)?;
            let (real_niqe, real_shift) = if denoise == 0.0 {
                let row = real_rows.iter().find(|r| r.method == method.name).context("no real-world row")?;
                (row.niqe[0], row.colour_shift)
            } else {
                let (row, _) = realworld::run(&method, denoise, &frames, extra)?;
                (row.niqe[0], row.colour_shift)
            };
            eprintln!(
                "[quality-eval] default {:<28} denoise {denoise:.1}: {:.2} dB, real NIQE {real_niqe:.2} {:5.1} s",
                method.name,
                score.psnr,
                t0.elapsed().as_secs_f64()
            );
            let candidate = FootageCandidate { flops: method.flops, camcorder: score, real_niqe, real_shift };
            // The element's default denoise is 0.
            if method.name == default_model && denoise == 0.0 {
                default_row = Some(candidate.clone());
            }
            candidates.push(candidate);
        }
    }
    let real_images: Vec<Image> = frames.iter().map(|f| f.image.clone()).collect();
    for path in footage_paths::paths(&methods)? {
        let t0 = Instant::now();
        let score = footage_paths::camcorder(&path, camcorder, extra)?;
        let (real_niqe, real_shift) = footage_paths::real(&path, &real_images, extra)?;
        eprintln!(
            "[quality-eval] path {}: {:.2} dB, real NIQE {real_niqe:.2} {:5.1} s",
            path.label(),
            score.psnr,
            t0.elapsed().as_secs_f64()
        );
        candidates.push(FootageCandidate { flops: path.flops(), camcorder: score, real_niqe, real_shift });
    }
    let default_row = default_row.with_context(|| format!("the footage default {default_model} was not measured"))?;
    let default_method = methods.iter().find(|m| m.name == default_model).context("no footage default method")?;
    let grain = footage_paths::grain(default_method, camcorder, &real_images, extra)?;
    let mut md = report_realworld::defaults_section(eval, &candidates, lanczos_camcorder.clone(), lanczos_real);
    md += &report_footage::grain_section(&default_model, &grain);
    let targets = report_footage::target_rows(&default_model, &default_row, &lanczos_camcorder, lanczos_real);
    Ok((md, targets))
}
