//! `aiupscale upscale IN OUT`: one file here, a folder in [`crate::batch`].

use std::{path::PathBuf, process::ExitCode, time::Instant};

use anyhow::{bail, Context, Result};
use serde_json::json;

use crate::{
    cancel,
    cli::{usage, UpscaleArgs},
    io,
    progress::{self, json_line, round4, Throttle},
    upscale::{process, Engines, Failure, Settings, Started},
};

/// `aiupscale upscale`: IN a file, or a folder ([`crate::batch::run`]).
pub fn run(args: &UpscaleArgs) -> Result<ExitCode> {
    let cancel = cancel::install();
    let settings = Settings {
        quality: args.quality,
        provenance: !args.no_provenance,
        ..Settings::new(&args.engine, args.width, args.height)
    };
    if args.input.is_dir() {
        return crate::batch::run(args, &settings, cancel);
    }
    if !args.input.exists() {
        bail!("{} does not exist", args.input.display());
    }
    let output: PathBuf = if args.output.is_dir() {
        let name = args.input.file_name().context("IN has no file name")?;
        args.output.join(name)
    } else {
        args.output.clone()
    };
    if io::same_file(&args.input, &output) {
        return Err(usage(format!("refusing to overwrite the input {}; choose another OUT", args.input.display())));
    }
    io::file_format(&output).map_err(|e| usage(format!("{e:#}")))?;
    let (json, quiet) = (args.engine.progress_json, args.engine.quiet);
    let bar = if json { None } else { progress::bar(1, quiet) };
    if let Some(bar) = &bar {
        bar.set_message(args.input.display().to_string());
    }
    let mut throttle = Throttle::default();
    let mut on_progress = |fraction: f32| {
        if let Some(bar) = &bar {
            bar.set_position((f64::from(fraction) * progress::STEPS as f64) as u64);
        }
        if json && throttle.pass(fraction) {
            json_line(&json!({ "progress": round4(fraction) }));
        }
    };
    let mut on_start = |s: &Started<'_>| {
        if json {
            json_line(&json!({
                "started": true, "width": s.width, "height": s.height, "model": s.engine, "device": s.device.name(),
                "input": args.input.display().to_string(), "output": output.display().to_string(),
            }));
        }
    };
    let start = Instant::now();
    let mut engines = Engines::default();
    let result = process(&args.input, &output, &settings, &mut engines, cancel, &mut on_progress, &mut on_start);
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    match result {
        Ok(done) => {
            if json {
                json_line(
                    &json!({ "done": true, "width": done.width, "height": done.height, "output": output.display().to_string(), "warnings": done.warnings }),
                );
            } else if !quiet {
                for warning in &done.warnings {
                    eprintln!("warning: {}: {warning}", output.display());
                }
                eprintln!(
                    "wrote {} ({}x{}, {} on {}, {})",
                    output.display(),
                    done.width,
                    done.height,
                    done.engine,
                    done.runs_on,
                    progress::seconds(start.elapsed())
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(Failure::Cancelled) => Ok(cancel.report(json)),
        Err(Failure::File(e) | Failure::Fatal(e)) if json => {
            json_line(&json!({ "error": format!("{e:#}") }));
            Ok(ExitCode::FAILURE)
        }
        Err(Failure::File(e) | Failure::Fatal(e)) => Err(e),
    }
}
