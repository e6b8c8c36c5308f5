//! Fetches catalog models into the cache (`AIUPSCALE_MODEL_DIR` or the XDG cache) and
//! prints what each step cost.
//!
//! cargo run -p aiupscale-models --example fetch -- NAME... [--all] [--force] [--verify]

use std::process::ExitCode;
use std::time::Instant;

use aiupscale_models::{Catalog, FetchOptions, ModelCache};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let flag = |f: &str| args.iter().any(|a| a == f);
    let catalog = Catalog::builtin();
    let names: Vec<String> = if flag("--all") {
        catalog.models().iter().map(|m| m.name.clone()).collect()
    } else {
        args.iter().filter(|a| !a.starts_with("--")).cloned().collect()
    };
    if names.is_empty() {
        eprintln!("usage: fetch NAME... [--all] [--force] [--verify]");
        return ExitCode::from(2);
    }
    let cache = match ModelCache::from_env() {
        Ok(cache) => cache,
        Err(e) => return fail(&e),
    };
    println!("cache: {}", cache.root().display());
    let options = FetchOptions { force: flag("--force"), offline_archive_dir: None };
    let mut failed = false;
    for name in &names {
        let entry = match catalog.require(name) {
            Ok(entry) => entry,
            Err(e) => return fail(&e),
        };
        let start = Instant::now();
        match cache.fetch_with_report(entry, &options) {
            Ok(r) => println!(
                "{name}: {:.2}s total (archive {:?} {:.2}s, extract {:.2}s, convert {:.2}s, write {:.2}s) -> {} ({} bytes, {:.3} MFLOP/px)",
                start.elapsed().as_secs_f64(),
                r.archive,
                r.archive_time.as_secs_f64(),
                r.extract_time.as_secs_f64(),
                r.convert_time.as_secs_f64(),
                r.write_time.as_secs_f64(),
                r.path.display(),
                r.manifest.onnx_size,
                r.manifest.flops_per_pixel / 1e6,
            ),
            Err(e) => {
                failed = true;
                print_error(&format!("{name}: "), &e);
                continue;
            }
        }
        let start = Instant::now();
        let located = cache.locate(entry).map(|_| start.elapsed());
        if flag("--verify") {
            let start = Instant::now();
            match cache.verify(entry) {
                Ok(_) => println!("  locate {:?}, verify {:.3}s", located.ok(), start.elapsed().as_secs_f64()),
                Err(e) => {
                    failed = true;
                    print_error("  verify: ", &e);
                }
            }
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

fn fail(e: &dyn std::error::Error) -> ExitCode {
    print_error("error: ", e);
    ExitCode::FAILURE
}

fn print_error(prefix: &str, e: &dyn std::error::Error) {
    eprintln!("{prefix}{e}");
    let mut source = e.source();
    while let Some(s) = source {
        eprintln!("  caused by: {s}");
        source = s.source();
    }
}
