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

use aiupscale_tests::{
    footage,
    quality::{self, Config, Evaluation, Margins, Recorded},
    repo_root, report,
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
    let md = report::markdown(eval, machine, started.elapsed().as_secs_f64(), &scenes, &rows, &frames);
    let path = docs.join("QUALITY.md");
    std::fs::write(&path, md).with_context(|| format!("writing {}", path.display()))?;
    println!("report: {}", shown(&path));
    Ok(())
}
