//! `aiupscale models list|fetch|verify|quantize|path`: the model catalog and the local cache
//! (`AIUPSCALE_MODEL_DIR`, else `$XDG_CACHE_HOME/aiupscale/models`, else
//! `~/.cache/aiupscale/models`), through the models crate only.
//!
//! `fetch` honours SIGINT/SIGTERM like the rest of the binary ([`crate::cancel`]): the
//! registry client is killed, its staging folder removed, nothing is installed, and the
//! exit code is 130/143.

use std::{io::Write, process::ExitCode, time::Instant};

use aiupscale_core::{
    quantize::{build_int8, ensure_int8, Int8Event},
    CoreError, ModelLoadError,
};
use aiupscale_models::{ArchiveSource, Catalog, ContentChoice, FetchOptions, ModelCache, ModelEntry, ModelError};
use anyhow::{Context, Result};

use crate::{
    cancel::{self, Cancel},
    cli::ModelsCommand,
    progress::seconds,
};

pub fn run(command: &ModelsCommand) -> Result<ExitCode> {
    let cache = ModelCache::from_env().context("cannot find the model cache")?;
    match command {
        ModelsCommand::List { json: false } => list(&cache),
        ModelsCommand::List { json: true } => list_json(&cache),
        ModelsCommand::Fetch { names, all, force, archives } => {
            let entries = entries(&cache, names, *all)?;
            let options = FetchOptions { force: *force, offline_archive_dir: archives.clone() };
            fetch(&cache, &entries, &options, cancel::install())
        }
        ModelsCommand::Verify { names } => verify(&cache, names),
        ModelsCommand::Quantize { names, force, archives } => {
            let entries = entries(&cache, names, false)?;
            let options = FetchOptions { force: false, offline_archive_dir: archives.clone() };
            quantize(&cache, &entries, &options, *force, cancel::install())
        }
        ModelsCommand::Path { name } => {
            let entry = cache.catalog().require(name)?;
            let path = cache.locate(entry)?;
            println!("{}", path.display());
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn entries<'a>(cache: &'a ModelCache, names: &[String], all: bool) -> Result<Vec<&'a ModelEntry>> {
    let catalog = cache.catalog();
    if all {
        return Ok(catalog.models().iter().collect());
    }
    names.iter().map(|n| catalog.require(n).map_err(anyhow::Error::from)).collect()
}

/// Multiply-adds x2 per input pixel, short.
fn cost(flops_per_pixel: f64) -> String {
    match flops_per_pixel {
        f if f >= 1e9 => format!("{:.1} GFLOP/px", f / 1e9),
        f if f >= 1e6 => format!("{:.1} MFLOP/px", f / 1e6),
        f if f >= 1e3 => format!("{:.1} kFLOP/px", f / 1e3),
        f => format!("{f:.0} FLOP/px"),
    }
}

/// Where a model stands in the cache, for the table.
fn status(cache: &ModelCache, entry: &ModelEntry) -> String {
    match cache.locate(entry) {
        Ok(path) => path.display().to_string(),
        Err(ModelError::NotFetched { .. }) => "not fetched".into(),
        Err(ModelError::CorruptCacheEntry { .. }) => format!("damaged: run `aiupscale models fetch {}`", entry.name),
        Err(e) => format!("error: {e}"),
    }
}

fn list(cache: &ModelCache) -> Result<ExitCode> {
    let catalog: &Catalog = cache.catalog();
    let rows: Vec<[String; 5]> = catalog
        .models()
        .iter()
        .map(|m| {
            [
                m.name.clone(),
                format!("x{}", m.scale),
                m.content.name().into(),
                cost(m.flops_per_pixel),
                status(cache, m),
            ]
        })
        .collect();
    let header = ["NAME", "SCALE", "CONTENT", "COST", "FETCHED"].map(String::from);
    let mut widths = [0usize; 4];
    for row in std::iter::once(&header).chain(&rows) {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.len());
        }
    }
    for row in std::iter::once(&header).chain(&rows) {
        println!(
            "{:<w0$}  {:>w1$}  {:<w2$}  {:>w3$}  {}",
            row[0],
            row[1],
            row[2],
            row[3],
            row[4],
            w0 = widths[0],
            w1 = widths[1],
            w2 = widths[2],
            w3 = widths[3]
        );
    }
    println!();
    println!("model cache: {} (set AIUPSCALE_MODEL_DIR to move it)", cache.root().display());
    // The defaults per --content (and the element's `content`) at the usual factors.
    for content in ContentChoice::ALL {
        let at = |scale: f64| catalog.default_model(content, scale).map(|m| m.name.clone());
        let (x2, x4) = (at(2.0)?, at(4.0)?);
        if x2 == x4 {
            println!("default for --content {}: {x2}", content.name());
        } else {
            println!("default for --content {}: {x2} (x2), {x4} (x4)", content.name());
        }
    }
    println!("models missing from the cache are fetched on first use (--offline or AIUPSCALE_OFFLINE=1: never)");
    Ok(ExitCode::SUCCESS)
}

/// The version of the bridge contract (docs/BRIDGE.md): `models list --json` and the
/// `--progress-json` lines. Bump it only when a field changes meaning or goes away.
pub const CONTRACT_VERSION: u32 = 1;

/// `models list --json`: one document, `{"version":1,"models":[...]}`.
fn list_json(cache: &ModelCache) -> Result<ExitCode> {
    let catalog = cache.catalog();
    let models: Vec<serde_json::Value> = catalog
        .models()
        .iter()
        .map(|m| {
            serde_json::json!({
                "name": m.name,
                "description": m.description,
                "scale": m.scale,
                "content": m.content.name(),
                "cost": m.flops_per_pixel,
                "fetched": cache.locate(m).is_ok(),
                "licence": catalog.package_of(m).licence,
                "default_for": catalog.default_of(&m.name).iter().map(|c| c.name()).collect::<Vec<_>>(),
            })
        })
        .collect();
    let doc = serde_json::json!({ "version": CONTRACT_VERSION, "models": models });
    // Not println!: a reader that closes the pipe early gets an error, not a panic.
    writeln!(std::io::stdout().lock(), "{doc}").context("cannot write the model list to stdout")?;
    Ok(ExitCode::SUCCESS)
}

fn fetch(cache: &ModelCache, entries: &[&ModelEntry], options: &FetchOptions, cancel: &Cancel) -> Result<ExitCode> {
    let mut failed = Vec::new();
    for entry in entries {
        eprintln!("fetching {}...", entry.name);
        let start = Instant::now();
        match cache.fetch_cancellable(entry, options, cancel.flag()) {
            Ok(report) => {
                let how = match report.archive {
                    ArchiveSource::NotNeeded => "already in the cache",
                    ArchiveSource::Kept => "from the kept archive",
                    ArchiveSource::Offline => "from the offline archive",
                    ArchiveSource::Downloaded => "downloaded",
                };
                println!("{}: {} ({how}, {})", entry.name, report.path.display(), seconds(start.elapsed()));
            }
            Err(ModelError::Cancelled) => {
                eprintln!(
                    "fetch of {name} cancelled by {}; {name} was not installed and no download is left running",
                    cancel.signal_name(),
                    name = entry.name,
                );
                return Ok(ExitCode::from(cancel.exit_code()));
            }
            Err(e) => {
                eprintln!("error: {}: {:#}", entry.name, anyhow::Error::from(e));
                failed.push(entry.name.clone());
            }
        }
    }
    Ok(summary(&failed, entries.len()))
}

/// Builds int8 models (fetching the fp32 model first if needed); one failure does not
/// stop the others.
fn quantize(
    cache: &ModelCache,
    entries: &[&ModelEntry],
    options: &FetchOptions,
    force: bool,
    cancel: &Cancel,
) -> Result<ExitCode> {
    let mut failed = Vec::new();
    for entry in entries {
        let mut notify = |event: Int8Event<'_>| crate::upscale::report_int8(&event, false, false);
        let built = cache.fetch_cancellable(entry, options, cancel.flag()).map_err(CoreError::from).and_then(|_| {
            if force {
                build_int8(cache, entry, options, 0, cancel.flag(), &mut notify)
            } else {
                ensure_int8(cache, entry, Some(options), 0, cancel.flag(), &mut notify)
            }
        });
        match built {
            Ok(path) => println!("{}: {}", entry.name, path.display()),
            Err(CoreError::Cancelled | CoreError::Model(ModelLoadError::Catalog(ModelError::Cancelled))) => {
                eprintln!("int8 build of {} cancelled by {}; nothing was installed", entry.name, cancel.signal_name());
                return Ok(ExitCode::from(cancel.exit_code()));
            }
            Err(e) => {
                eprintln!("error: {}: {:#}", entry.name, anyhow::Error::from(e));
                failed.push(entry.name.clone());
            }
        }
    }
    Ok(summary(&failed, entries.len()))
}

fn verify(cache: &ModelCache, names: &[String]) -> Result<ExitCode> {
    let entries: Vec<&ModelEntry> = if names.is_empty() {
        let present = |m: &&ModelEntry| cache.onnx_path(&m.name).exists() || cache.manifest_path(&m.name).exists();
        cache.catalog().models().iter().filter(present).collect()
    } else {
        entries(cache, names, false)?
    };
    if entries.is_empty() {
        println!("no fetched models in {}", cache.root().display());
        return Ok(ExitCode::SUCCESS);
    }
    let mut failed = 0;
    for entry in &entries {
        match cache.verify(entry) {
            Ok(report) => {
                println!("ok      {}  {}  sha256 {}", entry.name, report.path.display(), report.manifest.onnx_sha256)
            }
            Err(e) => {
                failed += 1;
                println!("FAILED  {}: {e}", entry.name);
            }
        }
    }
    if failed == 0 {
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!("{failed} of {} models failed verification", entries.len());
        Ok(ExitCode::FAILURE)
    }
}

/// The exit status of a command over several models, naming those that failed.
fn summary(failed: &[String], total: usize) -> ExitCode {
    if failed.is_empty() {
        return ExitCode::SUCCESS;
    }
    eprintln!("{} of {total} models failed: {}", failed.len(), failed.join(", "));
    ExitCode::FAILURE
}
