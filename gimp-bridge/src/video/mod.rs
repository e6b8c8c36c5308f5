//! `aiupscale video`: long video jobs that survive (docs/VIDEO.md).
//!
//! A job is planned ([`plan`]: segments cut at keyframes, every frame's pts, a hash
//! of the settings), each segment upscaled on its own by the `aiupscale` element
//! registered in-process and verified before it counts ([`segment`]), and the segments
//! joined with the source's other streams copied as they are ([`merge`]). `video IN
//! OUT` runs the three here with PARTS = `OUT.parts/`; a cluster runs the steps.

pub mod cli;
pub mod encode;
pub mod extras;
pub mod files;
pub mod gst;
pub mod merge;
pub mod plan;
pub mod preview;
pub mod progress;
pub mod scenes;
pub mod segment;

use std::{
    path::{Path, PathBuf},
    process::ExitCode,
    sync::atomic::Ordering,
};

use anyhow::{Context, Result};
use serde_json::json;

use self::{
    cli::{JobArgs, ProgressMode, VideoCommand, VideoStep},
    encode::Container,
    plan::{Plan, Settings, Source},
    progress::Reporter,
    segment::Outcome,
};
use crate::{cancel, cli::usage, progress::json_line};

/// Runs `aiupscale video ...`; a cancelled run reports and exits 130/143.
pub fn run(command: &VideoCommand) -> Result<ExitCode> {
    let cancel = cancel::install();
    let json = command.progress_json();
    let result = match &command.step {
        None => run_local(command, cancel.flag()),
        Some(VideoStep::Plan(args)) => plan_step(&args.input, &args.parts, &args.job, cancel.flag()).map(|plan| {
            if args.json {
                println!("{}", summary(&plan, &args.parts));
            } else {
                eprintln!(
                    "planned {} frames in {} segments in {}",
                    plan.frames,
                    plan.segments.len(),
                    args.parts.display()
                );
            }
            ExitCode::SUCCESS
        }),
        Some(VideoStep::Segment(args)) => segment_step(args, cancel.flag()),
        Some(VideoStep::Merge(args)) => {
            merge::run(&args.parts, &args.output, cancel.flag()).map(|()| done(json, args.quiet, &args.output, None))
        }
    };
    match result {
        Err(e) if cancel.is_set() || e.is::<gst::Cancelled>() => Ok(cancel.report(json)),
        other => other,
    }
}

/// `{"version":1,"segments":N,"frames":F,"parts":"<abs path>"}`: the line `plan --json` prints.
fn summary(plan: &Plan, parts: &Path) -> serde_json::Value {
    let parts = std::fs::canonicalize(parts).unwrap_or_else(|_| parts.to_owned());
    json!({ "version": plan::VERSION, "segments": plan.segments.len(), "frames": plan.frames, "parts": parts })
}

/// Plans a job into PARTS, or reuses the plan there when it is for the same source and
/// settings (and refuses, naming the changes, when it is not).
fn plan_step(input: &Path, parts: &Path, job: &JobArgs, cancel: &std::sync::atomic::AtomicBool) -> Result<Plan> {
    let settings = Settings::new(job)?;
    if !input.exists() {
        return Err(usage(format!("{} does not exist", input.display())));
    }
    let source = Source::of(input)?;
    if Plan::path(parts).exists() {
        let plan = Plan::load(parts)?;
        plan.check_matches(parts, &source, &settings)?;
        return Ok(plan);
    }
    std::fs::create_dir_all(parts).with_context(|| format!("cannot create {}", parts.display()))?;
    let plan = plan::make(source, settings, job.engine.threads, cancel)?;
    plan.save(parts)?;
    Ok(plan)
}

fn segment_step(args: &cli::SegmentArgs, cancel: &std::sync::atomic::AtomicBool) -> Result<ExitCode> {
    let plan = Plan::load(&args.parts)?;
    let segment = segment::get(&plan, args.index)?;
    let reporter = Reporter::start(args.run.progress, args.quiet, segment.frames as u64);
    let threads = args.threads.unwrap_or(plan.threads);
    let outcome = segment::run(&args.parts, &plan, args.index, threads, &reporter.counters.processed, cancel);
    if let Ok(Outcome::Skipped) = outcome {
        reporter.counters.skipped.store(segment.frames as u64, Ordering::Relaxed);
    }
    let json = reporter.json;
    let processed = reporter.finish();
    let outcome = outcome?;
    if json {
        json_line(
            &json!({ "done": true, "segment": args.index, "skipped": outcome == Outcome::Skipped, "frames_processed": processed }),
        );
    } else if !args.quiet {
        let path = segment::segment_path(&args.parts, args.index);
        match outcome {
            Outcome::Skipped => eprintln!("{} is already done and verified", path.display()),
            Outcome::Done => eprintln!("wrote {} ({} frames)", path.display(), segment.frames),
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn done(json: bool, quiet: bool, output: &Path, processed: Option<u64>) -> ExitCode {
    if json {
        json_line(&json!({ "done": true, "output": output, "frames_processed": processed }));
    } else if !quiet {
        eprintln!("wrote {}", output.display());
    }
    ExitCode::SUCCESS
}

/// `OUT.parts/` next to OUT.
pub fn parts_of(output: &Path) -> PathBuf {
    let mut name = output.file_name().unwrap_or_default().to_os_string();
    name.push(".parts");
    output.with_file_name(name)
}

/// `video IN OUT`: plan (or resume), every segment, merge, then remove the parts.
fn run_local(command: &VideoCommand, cancel: &std::sync::atomic::AtomicBool) -> Result<ExitCode> {
    let (Some(input), Some(output)) = (&command.input, &command.output) else {
        return Err(usage("video needs IN and OUT (or a step: plan, segment, merge)"));
    };
    let container = Container::of(output)?;
    container.check(command.job.codec)?;
    if crate::io::same_file(input, output) {
        return Err(usage(format!("refusing to overwrite the input {}; choose another OUT", input.display())));
    }
    if let Some(preview) = command.preview {
        preview::run(command, input, output, preview, cancel)?;
        return Ok(ExitCode::SUCCESS);
    }
    let parts = parts_of(output);
    let plan = plan_step(input, &parts, &command.job, cancel)?;
    // Said before the work, not after it.
    let extras = extras::read(&plan.source.path, plan.streams.len() + 1)?;
    for warning in merge::left_out(&plan, container, &extras)? {
        eprintln!("warning: {warning}");
    }
    let quiet = command.job.engine.quiet;
    let mode = if command.job.engine.progress_json { ProgressMode::Json } else { command.run.progress };
    let reporter = Reporter::start(mode, quiet, plan.frames as u64);
    let threads = command.job.engine.threads;
    let mut result = Ok(());
    for segment in &plan.segments {
        match segment::run(&parts, &plan, segment.index, threads, &reporter.counters.processed, cancel) {
            Ok(Outcome::Skipped) => {
                reporter.counters.skipped.fetch_add(segment.frames as u64, Ordering::Relaxed);
            }
            Ok(Outcome::Done) => (),
            Err(e) => {
                result = Err(e);
                break;
            }
        }
    }
    let json = reporter.json;
    let processed = reporter.finish();
    result?;
    merge::write(&parts, &plan, output, &extras, None, cancel)?;
    if !command.keep_parts {
        std::fs::remove_dir_all(&parts).with_context(|| format!("cannot remove {}", parts.display()))?;
    }
    Ok(done(json, quiet, output, Some(processed)))
}
