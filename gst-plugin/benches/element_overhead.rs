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
//! `cargo bench -p gst-plugin-aiupscale --bench element_overhead`
//! Environment: AIUPSCALE_BENCH_ROUNDS (default 3), AIUPSCALE_BENCH_FRAMES (frames for
//! anime4k, default 40), AIUPSCALE_BENCH_HEAVY_FRAMES (frames for realesr, default 3).

use std::{path::Path, process::Command, time::Instant};

use aiupscale_core::{
    Channels, Control, DenoiseSettings, FrameUpscaler, Image, ModelSource, PixelFormat, SampleType, Upscaler,
    UpscalerConfig,
};
use gstreamer as gst;
use gstreamer::prelude::*;

const RGB8: PixelFormat = PixelFormat::new(Channels::Rgb, SampleType::U8);
const VIDEO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../.deps/media/video/bikes.mp4");

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
    fn new(model: &str, width: u32, height: u32) -> Self {
        let upscaler = Upscaler::new(&ModelSource::Catalog(model.to_owned()), UpscalerConfig::default()).unwrap();
        let upscaler = FrameUpscaler::new(upscaler, DenoiseSettings::default());
        let out = Image::new(width * 2, height * 2, RGB8).unwrap();
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
    fn new(model: &str, width: u32, height: u32) -> Self {
        let description = format!(
            "appsrc name=src format=time is-live=false block=false \
               caps=video/x-raw,format=RGB,width={width},height={height},framerate=25/1 \
             ! aiupscale model={model} \
             ! appsink name=sink sync=false"
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

struct Row {
    model: &'static str,
    size: (u32, u32),
    frames: usize,
    a: Vec<f64>,
    b: Vec<f64>,
}

fn bench(model: &'static str, frames: &[Vec<u8>], (width, height): (u32, u32), rounds: usize) -> Row {
    eprintln!("== {model} {width}x{height} x2, {} frames, {rounds} rounds", frames.len());
    let mut core = Core::new(model, width, height);
    let mut element = Element::new(model, width, height);
    // Warm-up: one frame each (first inference, pipeline negotiation, buffer pool).
    core.process(&frames[0]);
    element.run(&frames[..1]);
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        let fa = core.run(frames);
        let fb = element.run(frames);
        eprintln!(
            "   round {round}: A core {fa:8.2} fps   B element {fb:8.2} fps   A/B-1 {:+.1}%",
            (fa / fb - 1.0) * 100.0
        );
        a.push(fa);
        b.push(fb);
    }
    Row { model, size: (width, height), frames: frames.len(), a, b }
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
    let mut cases: Vec<(&'static str, (u32, u32), usize)> =
        vec![(light, (640, 272), light_n), (light, (720, 480), light_n), (heavy, (640, 272), heavy_n)];
    if std::env::var_os("AIUPSCALE_BENCH_HEAVY_720").is_some() {
        cases.push((heavy, (720, 480), heavy_n));
    }
    cases.retain(|(m, ..)| filter.as_deref().is_none_or(|f| m.contains(f)));

    let mut rows = Vec::new();
    for (model, size, n) in cases {
        ensure_model(model);
        let frames = decode(VIDEO, size.0, size.1, n);
        rows.push(bench(model, &frames, size, rounds));
    }

    println!();
    println!("| model | input -> output | frames x rounds | A: core fps (median) | B: element fps (median) | overhead fps_A/fps_B - 1 | per-round A/B - 1 |");
    println!("|---|---|---|---|---|---|---|");
    for row in &mut rows {
        let per_round: Vec<String> =
            row.a.iter().zip(&row.b).map(|(a, b)| format!("{:+.1}%", (a / b - 1.0) * 100.0)).collect();
        let (ma, mb) = (median(&mut row.a.clone()), median(&mut row.b.clone()));
        println!(
            "| {} | {}x{} -> {}x{} | {} x {} | {:.2} | {:.2} | {:+.1}% | {} |",
            row.model,
            row.size.0,
            row.size.1,
            row.size.0 * 2,
            row.size.1 * 2,
            row.frames,
            row.a.len(),
            ma,
            mb,
            (ma / mb - 1.0) * 100.0,
            per_round.join(", ")
        );
    }
}
