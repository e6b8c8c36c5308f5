//! `aiupscale upscale-raw`: the plug-in fast path, with no image codec in the way.
//!
//! ```text
//! aiupscale upscale-raw --width W --height H --format rgba8 [--scale F | --out-width W2 [--out-height H2]]
//!                       [--model NAME|PATH.onnx] [--progress-json] IN.raw|- OUT.raw|-
//! ```
//!
//! - IN holds exactly `W * H * bytes-per-pixel` bytes: rows top to bottom, no padding,
//!   no header, channels in the order the format names them, 16-bit and f32 samples in
//!   native byte order (f32 in 0..=1). Formats: rgba8 rgba16 rgbaf32 rgb8 rgb16 rgbf32
//!   gray8 gray16 grayf32 graya8 graya16 grayaf32. `-` reads stdin to its end.
//! - OUT gets the upscaled pixels in the same format. The output size is `--scale`
//!   times the input (default: the model's native scale), or from `--out-width` /
//!   `--out-height` as with `upscale --width/--height`; it is known before the run
//!   starts (the `started` line of `--progress-json`).
//! - OUT a file: written atomically (temp file + rename), then one JSON line on stdout:
//!   `{"width":W2,"height":H2,"format":"rgba8","bytes":N,"output":"OUT"}`.
//!   OUT `-`: the pixels go to stdout, all at once after the run (never a partial
//!   image); take the size from the `started` line or compute it from the arguments.
//! - `--progress-json` puts JSON lines on stderr (see [`crate::progress`]):
//!   `{"fetching":"NAME",...}` and `{"fetched":"NAME",...}` when the model is fetched on
//!   first use, `{"started":true,"width":W2,"height":H2,"model":"...","device":"cpu","engine":"openvino",
//!   "precision":"bf16"}`,
//!   `{"progress":0.42}`…, then `{"done":true,"width":W2,"height":H2,"provenance":"...","xmp":"..."}` or
//!   `{"error":"..."}`. Without it, errors are plain `error: ...` lines.
//! - Cancel with SIGTERM (or SIGINT): the run stops before the next tile, writes
//!   nothing, removes its temp file and exits with 143 (SIGTERM) or 130 (SIGINT).
//! - Exit codes: 0 done, 1 error, 2 bad arguments (clap's or [`cli::UsageError`]), 130/143
//!   cancelled.

use std::{
    fs,
    io::{Read, Write},
    path::Path,
    process::ExitCode,
};

use aiupscale_core::{Control, CoreError, ImageRef};
use anyhow::{bail, Context, Result};
use serde_json::json;

use crate::{
    budget::Budget,
    cancel::{self, Cancel},
    cli::{self, usage, RawArgs},
    io,
    progress::{json_line, round4, Throttle},
    upscale::{engine_name, Engines, Settings},
};

fn is_std(path: &Path) -> bool {
    path.as_os_str() == "-"
}

enum Outcome {
    /// `provenance`: what the plug-ins record in the editor's metadata.
    Done {
        width: u32,
        height: u32,
        provenance: String,
        xmp: String,
    },
    Cancelled,
}

pub fn run(args: &RawArgs) -> ExitCode {
    let cancel = cancel::install();
    let json = args.engine.progress_json;
    match upscale_raw(args, cancel) {
        Ok(Outcome::Done { width, height, provenance, xmp }) => {
            if json {
                json_line(
                    &json!({ "done": true, "width": width, "height": height, "provenance": provenance, "xmp": xmp }),
                );
            }
            ExitCode::SUCCESS
        }
        Ok(Outcome::Cancelled) => cancel.report(json),
        Err(e) => {
            if json {
                json_line(&json!({ "error": format!("{e:#}") }));
            } else {
                eprintln!("error: {e:#}");
            }
            cli::exit_code(&e)
        }
    }
}

fn read_input(path: &Path, expected: usize) -> Result<Vec<u8>> {
    let mut data = Vec::with_capacity(expected);
    if is_std(path) {
        std::io::stdin().lock().read_to_end(&mut data).context("cannot read the pixels from stdin")?;
    } else {
        data = fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    }
    Ok(data)
}

fn upscale_raw(args: &RawArgs, cancel: &Cancel) -> Result<Outcome> {
    let format = args.format.pixel_format();
    let (width, height) = (args.width, args.height);
    let row = width as usize * format.bytes_per_pixel();
    let expected = row.checked_mul(height as usize).context("the image is too large")?;
    if !is_std(&args.input) && !is_std(&args.output) && io::same_file(&args.input, &args.output) {
        return Err(usage(format!("refusing to overwrite the input {}; choose another OUT", args.input.display())));
    }
    let settings = Settings::new(&args.engine, args.out_width, args.out_height);
    settings.budget.check(expected as u64, "reading the input pixels")?;
    let data = read_input(&args.input, expected)?;
    if data.len() != expected {
        bail!(
            "{} holds {} bytes; {width}x{height} {} needs exactly {expected}",
            if is_std(&args.input) { "stdin".to_owned() } else { args.input.display().to_string() },
            data.len(),
            args.format.name()
        );
    }
    let src = ImageRef::new(&data, width, height, row, format)?;
    let mut engines = Engines::default();
    let upscaler = match engines.get(&settings, width, height, cancel.flag()) {
        Ok(upscaler) => upscaler,
        // A signal during a fetch on first use.
        Err(_) if cancel.is_set() => return Ok(Outcome::Cancelled),
        Err(e) => return Err(e),
    };
    let target = settings.target(width, height, upscaler.info().map(|i| i.scale));
    let (out_w, out_h) = target.output_size(width, height)?;
    settings.budget.check(
        Budget::needed(width, height, out_w, out_h, format.bytes_per_pixel()),
        &format!("upscaling {width}x{height} to {out_w}x{out_h}"),
    )?;
    let json = args.engine.progress_json;
    if json {
        let mut started = json!({
            "started": true, "width": out_w, "height": out_h, "format": args.format.name(),
            "model": engine_name(upscaler), "device": upscaler.device().name(),
        });
        // What runs, after `auto` was resolved (a classic filter has neither).
        if let (Some(engine), Some(precision)) = (upscaler.inference_engine(), upscaler.precision()) {
            started["engine"] = engine.name().into();
            started["precision"] = precision.name().into();
        }
        json_line(&started);
    }
    let mut throttle = Throttle::default();
    let mut on_progress = |fraction: f32| {
        if json && throttle.pass(fraction) {
            json_line(&json!({ "progress": round4(fraction) }));
        }
    };
    let mut control = Control { progress: Some(&mut on_progress), cancel: Some(cancel.flag()) };
    let out =
        match crate::upscale::upscale_image(upscaler, settings.denoise, settings.grain, &src, target, &mut control) {
            Ok(out) => out,
            Err(CoreError::Cancelled) => return Ok(Outcome::Cancelled),
            Err(e) => return Err(e).context("upscaling failed"),
        };
    drop(data);
    if cancel.is_set() {
        return Ok(Outcome::Cancelled);
    }
    // Raw pixels hold no metadata: the plug-ins put these in the editor's.
    let method = crate::upscale::method(upscaler);
    let provenance = aiupscale_core::provenance::describe(method);
    let xmp = crate::provenance::xmp_packet(method, &provenance);
    if is_std(&args.output) {
        let mut stdout = std::io::stdout().lock();
        stdout.write_all(out.data()).and_then(|_| stdout.flush()).context("cannot write the pixels to stdout")?;
    } else {
        let mut tmp = io::temp_beside(&args.output)?;
        tmp.write_all(out.data()).with_context(|| format!("cannot write {}", args.output.display()))?;
        if cancel.is_set() {
            return Ok(Outcome::Cancelled);
        }
        io::commit(tmp, &args.output)?;
        println!(
            "{}",
            json!({ "width": out.width(), "height": out.height(), "format": args.format.name(), "bytes": out.data().len(), "output": args.output.display().to_string() })
        );
    }
    Ok(Outcome::Done { width: out.width(), height: out.height(), provenance, xmp })
}
