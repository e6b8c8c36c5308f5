//! Folder mode of `aiupscale upscale IN/ OUT/`: every jpg/jpeg/png/tif/tiff/webp file
//! directly in IN (not recursive) is upscaled to OUT/<same name>.
//!
//! Outputs that exist are skipped (`--overwrite` redoes them), so an interrupted batch
//! resumes where it stopped: each output is written atomically, so an existing one is
//! complete. A failed image is listed at the end and the exit code is 1; a model that
//! cannot be loaded stops the whole batch. `--jobs N` runs N images at once, each with
//! 1/N of the cores (on 2 cores one job already keeps both busy: ONNX Runtime uses
//! every core for one image).

use std::{
    path::{Path, PathBuf},
    process::ExitCode,
    sync::{
        atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering},
        Mutex,
    },
    time::Instant,
};

use anyhow::{bail, Context, Result};
use indicatif::ProgressBar;
use serde_json::json;

use crate::{
    cancel::Cancel,
    cli::{usage, UpscaleArgs},
    io,
    progress::{self, json_line, round4, say, Throttle},
    upscale::{process, Done, Engines, Failure, Settings, Started},
};

struct Job {
    input: PathBuf,
    output: PathBuf,
}

/// The images of `dir`, sorted by name.
fn list_images(dir: &Path) -> Result<Vec<PathBuf>> {
    let entries = std::fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))?;
    let mut images = Vec::new();
    for entry in entries {
        let path = entry.with_context(|| format!("cannot list {}", dir.display()))?.path();
        if path.is_file() && io::has_image_extension(&path) {
            images.push(path);
        }
    }
    images.sort();
    Ok(images)
}

/// Shared state of the workers.
struct Shared<'a> {
    jobs: Vec<Job>,
    next: AtomicUsize,
    finished: AtomicUsize,
    /// Each worker's fraction of its current image (f32 bits).
    fractions: Vec<AtomicU32>,
    stop: AtomicBool,
    results: Mutex<Vec<(usize, Result<Done, Failure>)>>,
    throttle: Mutex<Throttle>,
    bar: Option<ProgressBar>,
    args: &'a UpscaleArgs,
    settings: Settings,
    cancel: &'a Cancel,
}

impl Shared<'_> {
    fn overall(&self) -> f32 {
        let partial: f32 = self.fractions.iter().map(|f| f32::from_bits(f.load(Ordering::Relaxed))).sum();
        ((self.finished.load(Ordering::Relaxed) as f32 + partial) / self.jobs.len() as f32).min(1.0)
    }

    fn report(&self) {
        let overall = self.overall();
        if let Some(bar) = &self.bar {
            bar.set_position((f64::from(overall) * (self.jobs.len() as u64 * progress::STEPS) as f64) as u64);
        }
        if self.args.engine.progress_json && self.throttle.lock().is_ok_and(|mut t| t.pass(overall)) {
            json_line(&json!({ "progress": round4(overall) }));
        }
    }

    fn worker(&self, slot: usize) {
        let mut engines = Engines::default();
        while !self.stop.load(Ordering::Relaxed) && !self.cancel.is_set() {
            let index = self.next.fetch_add(1, Ordering::Relaxed);
            let Some(job) = self.jobs.get(index) else { break };
            let mut on_progress = |fraction: f32| {
                self.fractions[slot].store(fraction.to_bits(), Ordering::Relaxed);
                self.report();
            };
            let mut on_start = |_: &Started<'_>| {};
            let result = process(
                &job.input,
                &job.output,
                &self.settings,
                &mut engines,
                self.cancel,
                &mut on_progress,
                &mut on_start,
            );
            self.fractions[slot].store(0f32.to_bits(), Ordering::Relaxed);
            self.finished.fetch_add(1, Ordering::Relaxed);
            self.report();
            if matches!(result, Err(Failure::Fatal(_) | Failure::Cancelled)) {
                self.stop.store(true, Ordering::Relaxed);
            }
            self.announce(job, &result);
            if let Ok(mut results) = self.results.lock() {
                results.push((index, result));
            }
        }
    }

    /// One line per finished image: plain (unless --quiet), or JSON.
    fn announce(&self, job: &Job, result: &Result<Done, Failure>) {
        let input = job.input.display().to_string();
        if self.args.engine.progress_json {
            let line = match result {
                Ok(done) => {
                    json!({ "file": input, "status": "ok", "output": job.output.display().to_string(), "width": done.width, "height": done.height })
                }
                Err(Failure::File(e)) => json!({ "file": input, "status": "failed", "error": format!("{e:#}") }),
                Err(_) => return,
            };
            json_line(&line);
            return;
        }
        if self.args.engine.quiet {
            return;
        }
        let line = match result {
            Ok(done) => {
                for warning in &done.warnings {
                    say(self.bar.as_ref(), &format!("warning: {}: {warning}", job.output.display()));
                }
                format!("{input} -> {} ({}x{}, {})", job.output.display(), done.width, done.height, done.engine)
            }
            Err(Failure::File(e)) => format!("failed: {input}: {e:#}"),
            Err(_) => return,
        };
        say(self.bar.as_ref(), &line);
    }
}

pub fn run(args: &UpscaleArgs, settings: &Settings, cancel: &Cancel) -> Result<ExitCode> {
    let (input, output) = (&args.input, &args.output);
    if output.exists() && !output.is_dir() {
        return Err(usage(format!(
            "IN {} is a folder, so OUT must be a folder too; {} is a file",
            input.display(),
            output.display()
        )));
    }
    if io::same_file(input, output) {
        return Err(usage(format!(
            "refusing to write into the input folder {}: outputs would replace the inputs; choose another OUT",
            input.display()
        )));
    }
    let images = list_images(input)?;
    if images.is_empty() {
        bail!("no images ({}) in {}", io::IMAGE_EXTENSIONS.join(", "), input.display());
    }
    std::fs::create_dir_all(output).with_context(|| format!("cannot create {}", output.display()))?;
    let (json, quiet) = (args.engine.progress_json, args.engine.quiet);

    let mut jobs = Vec::new();
    let mut skipped = Vec::new();
    let mut refused = Vec::new();
    for image in images {
        let target = output.join(image.file_name().context("a listed file has no name")?);
        if io::same_file(&image, &target) {
            refused.push(image);
        } else if target.exists() && !args.overwrite {
            skipped.push(image);
        } else {
            jobs.push(Job { input: image, output: target });
        }
    }
    for image in &skipped {
        if json {
            json_line(&json!({ "file": image.display().to_string(), "status": "skipped" }));
        }
    }
    if !skipped.is_empty() && !json && !quiet {
        eprintln!("skipping {} image(s) whose output exists (--overwrite redoes them)", skipped.len());
    }

    let workers = (args.jobs as usize).min(jobs.len()).max(1);
    let mut settings = settings.clone();
    if workers > 1 && settings.config.session.threads == 0 {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        settings.config.session.threads = (cores / workers).max(1);
    }
    let total = jobs.len();
    let listed = total + skipped.len() + refused.len();
    let shared = Shared {
        jobs,
        next: AtomicUsize::new(0),
        finished: AtomicUsize::new(0),
        fractions: (0..workers).map(|_| AtomicU32::new(0)).collect(),
        stop: AtomicBool::new(false),
        results: Mutex::new(Vec::new()),
        throttle: Mutex::new(Throttle::default()),
        bar: if json || total == 0 { None } else { progress::bar(total as u64, quiet) },
        args,
        settings,
        cancel,
    };
    let start = Instant::now();
    std::thread::scope(|scope| {
        for slot in 0..workers {
            let shared = &shared;
            scope.spawn(move || shared.worker(slot));
        }
    });
    if let Some(bar) = &shared.bar {
        bar.finish_and_clear();
    }

    let mut results = shared.results.into_inner().unwrap_or_default();
    results.sort_by_key(|(i, _)| *i);
    let ok = results.iter().filter(|(_, r)| r.is_ok()).count();
    let mut failures: Vec<(String, String)> =
        refused.iter().map(|p| (p.display().to_string(), "refusing to overwrite the input".to_owned())).collect();
    let mut fatal = None;
    for (i, result) in results {
        match result {
            Err(Failure::File(e)) => failures.push((shared.jobs[i].input.display().to_string(), format!("{e:#}"))),
            Err(Failure::Fatal(e)) if fatal.is_none() => fatal = Some(e),
            _ => {}
        }
    }
    let cancelled = cancel.is_set();
    if json {
        let list: Vec<_> = failures.iter().map(|(f, e)| json!({ "file": f, "error": e })).collect();
        let mut line = json!({ "done": !cancelled && fatal.is_none(), "ok": ok, "skipped": skipped.len(), "failed": failures.len(), "failures": list });
        if let Some(e) = &fatal {
            line["error"] = json!(format!("{e:#}"));
        }
        if cancelled {
            line["error"] = json!(format!("cancelled by {}", cancel.signal_name()));
            line["cancelled"] = json!(true);
            line["signal"] = json!(cancel.signal_name());
        }
        json_line(&line);
    } else {
        if !quiet || !failures.is_empty() {
            eprintln!(
                "{ok} upscaled, {} skipped, {} failed of {} images in {}",
                skipped.len(),
                failures.len(),
                listed,
                progress::seconds(start.elapsed())
            );
        }
        if !failures.is_empty() {
            eprintln!("failed:");
            for (file, error) in &failures {
                eprintln!("  {file}: {error}");
            }
        }
        if cancelled {
            eprintln!("aiupscale: cancelled by {}; the image in progress was not written", cancel.signal_name());
        }
    }
    if cancelled {
        return Ok(ExitCode::from(cancel.exit_code()));
    }
    if let Some(e) = fatal {
        if json {
            return Ok(ExitCode::FAILURE);
        }
        return Err(e.context("batch stopped"));
    }
    Ok(if failures.is_empty() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}
