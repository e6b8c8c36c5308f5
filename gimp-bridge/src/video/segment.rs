//! `video segment PARTS N`: decode one segment of the source (from the keyframe it
//! starts at, or earlier for the temporal filter's history), upscale it with the
//! `aiupscale` element, encode it to a temp file, verify frame count and timestamps,
//! and only then rename it to `seg-NNNNN.mkv`. A segment already there and verified is
//! skipped, so the step is idempotent.

use std::{
    path::{Path, PathBuf},
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc,
    },
};

use anyhow::{bail, Context, Result};
use gstreamer as gst;
use gstreamer::prelude::*;

use super::{
    cli::Deinterlace,
    encode, files,
    gst::{self as g, Running},
    plan::{Plan, Segment},
};
use crate::cli::usage;

pub fn segment_path(parts: &Path, index: usize) -> PathBuf {
    parts.join(format!("seg-{index:05}.mkv"))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Already there and verified.
    Skipped,
    Done,
}

/// The segment of a plan by number, or a usage error naming the valid range.
pub fn get(plan: &Plan, index: usize) -> Result<&Segment> {
    plan.segments.get(index).ok_or_else(|| {
        usage(format!(
            "segment {index} does not exist: the plan has {} (0 to {})",
            plan.segments.len(),
            plan.segments.len() - 1
        ))
    })
}

/// Runs segment `index` unless it is done; `processed` counts the frames encoded.
pub fn run(
    parts: &Path,
    plan: &Plan,
    index: usize,
    threads: u32,
    processed: &Arc<AtomicU64>,
    cancel: &AtomicBool,
) -> Result<Outcome> {
    let segment = get(plan, index)?;
    let path = segment_path(parts, index);
    if path.exists() {
        match verify(&path, plan.segment_pts(segment), cancel) {
            Ok(_) => return Ok(Outcome::Skipped),
            Err(e) if e.is::<g::Cancelled>() => return Err(e),
            Err(e) => {
                eprintln!("warning: {} does not verify ({e:#}); encoding it again", path.display());
                std::fs::remove_file(&path).with_context(|| format!("cannot remove {}", path.display()))?;
            }
        }
    }
    let temp = files::TempGuard(files::temp_path(&path));
    encode(plan, segment, &temp.0, threads, processed, cancel).with_context(|| {
        format!("segment {index} (frames {} to {})", segment.first_frame, segment.first_frame + segment.frames - 1)
    })?;
    verify(&temp.0, plan.segment_pts(segment), cancel).context("the encoded segment does not verify")?;
    files::commit(&temp.0, &path)?;
    Ok(Outcome::Done)
}

/// Reads the video of a Matroska segment without decoding; `on_sample` sees every
/// frame. Returns the stream's caps.
pub fn demux(
    path: &Path,
    cancel: &AtomicBool,
    mut on_sample: impl FnMut(&gst::Sample) -> Result<()>,
) -> Result<gst::Caps> {
    g::init()?;
    let pipeline = Running(gst::Pipeline::new());
    let src = g::make("filesrc")?;
    src.set_property("location", path);
    let demux = g::make("matroskademux")?;
    let sink = g::app_sink(None)?;
    pipeline.add_many([&src, &demux, &sink])?;
    src.link(&demux)?;
    let sink_pad = sink.static_pad("sink").expect("appsink has a sink pad");
    demux.connect_pad_added(move |_, pad| {
        if !sink_pad.is_linked() {
            let _ = pad.link(&sink_pad);
        }
    });
    g::set_state(&pipeline, gst::State::Playing).with_context(|| format!("cannot read {}", path.display()))?;
    let mut caps = None;
    while let Some(sample) = g::pull(&pipeline, &sink, cancel)? {
        if caps.is_none() {
            caps = sample.caps_owned();
        }
        on_sample(&sample)?;
    }
    caps.with_context(|| format!("{} holds no video", path.display()))
}

/// Checks that a segment file holds exactly the planned frames (count and every pts).
pub fn verify(path: &Path, expected: &[u64], cancel: &AtomicBool) -> Result<gst::Caps> {
    let mut found = Vec::with_capacity(expected.len());
    let caps = demux(path, cancel, |sample| {
        found.push(sample.buffer().and_then(|b| b.pts()).map_or(u64::MAX, |t| t.nseconds()));
        Ok(())
    })?;
    found.sort_unstable();
    if found.len() != expected.len() {
        bail!("{} holds {} frames; the plan has {}", path.display(), found.len(), expected.len());
    }
    if let Some((i, (f, e))) = found.iter().zip(expected).enumerate().find(|(_, (f, e))| f != e) {
        bail!("frame {i} of {} has pts {f} ns; the plan says {e} ns", path.display());
    }
    Ok(caps)
}

/// Whether decodebin should decode a stream: video only; the rest is exposed as it is
/// (and discarded), so audio is never decoded for nothing.
fn decode_further(caps: &gst::Caps) -> bool {
    let name = caps.structure(0).map(|s| s.name().to_string()).unwrap_or_default();
    !["audio/", "text/", "subpicture/", "closedcaption/", "application/x-subtitle"].iter().any(|p| name.starts_with(p))
}

/// The decoding half: source -> decodebin (video only) -> [deinterlace] -> appsink.
fn decoder(plan: &Plan) -> Result<(Running, gst::Element)> {
    let pipeline = Running(gst::Pipeline::new());
    let filesrc = g::make("filesrc")?;
    filesrc.set_property("location", &plan.source.path);
    let decodebin = g::make("decodebin")?;
    let raw = gst::Caps::builder("video/x-raw").build();
    let sink = g::app_sink(Some(&raw))?;
    pipeline.add_many([&filesrc, &decodebin, &sink])?;
    filesrc.link(&decodebin)?;
    // The chain after the decoder: yadif (GStreamer's own, motion adaptive) where the
    // caps say interlaced; progressive frames pass through it untouched.
    let head = match plan.settings.deinterlace() {
        Deinterlace::Off => {
            // Weave: each frame as it is, labelled progressive for the element.
            let setter = g::make("capssetter")?;
            setter
                .set_property("caps", gst::Caps::builder("video/x-raw").field("interlace-mode", "progressive").build());
            setter
        }
        mode => {
            let deinterlace = g::make("deinterlace")?;
            deinterlace.set_property_from_str("method", "yadif");
            deinterlace.set_property_from_str("mode", "auto");
            deinterlace.set_property_from_str("fields", if mode == Deinterlace::FieldRate { "all" } else { "top" });
            restamp(&deinterlace, plan);
            deinterlace
        }
    };
    pipeline.add(&head)?;
    head.link(&sink)?;
    decodebin.connect("autoplug-continue", false, |values| {
        let caps = values.get(2).and_then(|v| v.get::<gst::Caps>().ok());
        Some(caps.is_none_or(|caps| decode_further(&caps)).to_value())
    });
    g::link_first_video(&pipeline, &decodebin, head.static_pad("sink").expect("the chain has a sink pad"));
    Ok((pipeline, sink))
}

/// Source frames decoded before a segment's first one when deinterlacing: yadif works
/// on a window of fields around the one it outputs, and the first frame after a flush
/// is made without the older ones, so a segment starts where its history is complete.
const DEINTERLACE_HISTORY: usize = 3;

/// Whether the plan makes two frames of each source frame (yadif at field rate).
fn field_rate(plan: &Plan) -> bool {
    plan.interlaced && plan.settings.deinterlace() == Deinterlace::FieldRate
}

/// Gives each frame leaving `deinterlace` its planned pts, in order: one per frame
/// entering it (frame rate) or two (field rate: the frame's pts, then the next entry of
/// the plan, the second field's). GStreamer 1.22 stamps the first field pair after a
/// flush from the next frame in its history and, at EOS, outputs the last field twice
/// more; its output frames themselves are the fields in order, so the frames beyond
/// the entries (those two) are dropped.
fn restamp(deinterlace: &gst::Element, plan: &Plan) {
    let fifo = Arc::new(std::sync::Mutex::new(std::collections::VecDeque::new()));
    let entering = fifo.clone();
    let pts: Option<Arc<[u64]>> = field_rate(plan).then(|| plan.pts.clone().into());
    let sink = deinterlace.static_pad("sink").expect("deinterlace has a sink pad");
    sink.add_probe(gst::PadProbeType::BUFFER | gst::PadProbeType::EVENT_FLUSH, move |_, info| {
        let mut fifo = entering.lock().unwrap_or_else(|e| e.into_inner());
        match &info.data {
            Some(gst::PadProbeData::Buffer(buffer)) => {
                let first = buffer.pts();
                fifo.push_back(first);
                if let Some(pts) = &pts {
                    let second = first.and_then(|p| pts.binary_search(&p.nseconds()).ok()).and_then(|i| pts.get(i + 1));
                    fifo.push_back(second.map(|&p| gst::ClockTime::from_nseconds(p)));
                }
            }
            Some(gst::PadProbeData::Event(event)) if event.type_() == gst::EventType::FlushStop => fifo.clear(),
            _ => (),
        }
        gst::PadProbeReturn::Ok
    });
    let src = deinterlace.static_pad("src").expect("deinterlace has a src pad");
    src.add_probe(gst::PadProbeType::BUFFER, move |_, info| {
        let Some(pts) = fifo.lock().unwrap_or_else(|e| e.into_inner()).pop_front() else {
            return gst::PadProbeReturn::Drop;
        };
        if let Some(buffer) = info.buffer_mut() {
            buffer.make_mut().set_pts(pts);
        }
        gst::PadProbeReturn::Ok
    });
}

/// The encoding half: appsrc -> videoconvert -> aiupscale -> videoconvert -> encoder -> matroskamux -> file.
fn encoder(
    plan: &Plan,
    caps: &gst::Caps,
    out: &Path,
    threads: u32,
    first_pts: u64,
    processed: &Arc<AtomicU64>,
) -> Result<(Running, gst::Element)> {
    let s = &plan.settings;
    let pipeline = Running(gst::Pipeline::new());
    let src = g::app_src(caps)?;
    let upscale = g::make("aiupscale")?;
    upscale.set_property("scale", s.scale);
    upscale.set_property("model", &s.model);
    upscale.set_property("tile-size", s.tile_size);
    upscale.set_property_from_str("device", &s.device);
    upscale.set_property_from_str("engine", &s.engine);
    upscale.set_property_from_str("precision", &s.precision);
    upscale.set_property("threads", threads);
    upscale.set_property("denoise", f64::from(s.denoise));
    upscale.set_property("temporal", f64::from(s.temporal));
    let mut chain = vec![src.clone(), g::make("videoconvert")?, upscale.clone(), g::make("videoconvert")?];
    chain.extend(encode::encoder(s)?);
    chain.push(encode::segment_muxer()?);
    let sink = g::make("filesink")?;
    sink.set_property("location", out);
    chain.push(sink);
    pipeline.add_many(&chain)?;
    gst::Element::link_many(&chain)?;
    // Frames of the temporal history end here; the rest are counted.
    let processed = processed.clone();
    upscale.static_pad("src").expect("aiupscale has a src pad").add_probe(gst::PadProbeType::BUFFER, move |_, info| {
        let pts = info.buffer().and_then(|b| b.pts()).map_or(0, |t| t.nseconds());
        if pts < first_pts {
            gst::PadProbeReturn::Drop
        } else {
            processed.fetch_add(1, Ordering::Relaxed);
            gst::PadProbeReturn::Ok
        }
    });
    Ok((pipeline, src))
}

fn encode(
    plan: &Plan,
    segment: &Segment,
    out: &Path,
    threads: u32,
    processed: &Arc<AtomicU64>,
    cancel: &AtomicBool,
) -> Result<()> {
    g::init()?;
    let first_in = segment.first_frame - segment.preroll_frames;
    let expected = &plan.pts[first_in..segment.first_frame + segment.frames];
    let first_pts = plan.pts[segment.first_frame];
    let end = plan.end_pts(segment);
    let (decoder, sink) = decoder(plan)?;
    g::set_state(&decoder, gst::State::Paused)
        .with_context(|| format!("cannot decode {}", plan.source.path.display()))?;
    let history = match (plan.interlaced, plan.settings.deinterlace()) {
        (false, _) | (true, Deinterlace::Off) => 0,
        (true, _) => DEINTERLACE_HISTORY * if field_rate(plan) { 2 } else { 1 },
    };
    let decode_from = first_in.saturating_sub(history);
    if decode_from > 0 {
        // From the keyframe at or before the first frame needed; earlier frames are skipped below.
        g::seek_key_before(&decoder, plan.pts[decode_from])?;
    }
    g::set_state(&decoder, gst::State::Playing)?;
    let mut encoder: Option<(Running, gst::Element)> = None;
    let mut pushed = 0;
    while let Some(sample) = g::pull(&decoder, &sink, cancel)? {
        let Some(buffer) = sample.buffer_owned() else { continue };
        let pts = buffer.pts().map_or(0, |t| t.nseconds());
        if pts < expected[0] {
            continue;
        }
        if end.is_some_and(|end| pts >= end) {
            break;
        }
        let Some(&want) = expected.get(pushed) else {
            bail!(
                "the decoder gave more frames than planned (pts {pts} ns after the last, {} ns)",
                expected[expected.len() - 1]
            );
        };
        if pts != want {
            bail!("decoded frame {} has pts {pts} ns; the plan says {want} ns", first_in + pushed);
        }
        let caps = sample.caps().context("a frame without caps")?;
        let (pipeline, src) = match &encoder {
            Some((pipeline, src)) => {
                if src.property::<Option<gst::Caps>>("caps").as_ref() != Some(&caps.to_owned()) {
                    bail!("the video format changed at {pts} ns ({caps}); such sources are not supported");
                }
                (pipeline, src)
            }
            None => {
                let (pipeline, src) = self::encoder(plan, &caps.to_owned(), out, threads, first_pts, processed)?;
                if pipeline.set_state(gst::State::Playing).is_err() {
                    g::bus_error(&pipeline)?;
                    bail!("the encoding pipeline did not start");
                }
                let (p, s) = encoder.insert((pipeline, src));
                (&*p, &*s)
            }
        };
        let mut buffer = buffer;
        {
            let buffer = buffer.make_mut();
            let next = plan.pts.get(first_in + pushed + 1).copied();
            buffer.set_dts(gst::ClockTime::NONE);
            buffer.set_duration(gst::ClockTime::from_nseconds(next.map_or(plan.last_duration, |n| n - pts)));
        }
        g::push(pipeline, src, buffer, cancel)?;
        pushed += 1;
    }
    drop(decoder);
    if pushed != expected.len() {
        bail!("the source ended after {pushed} of the {} planned frames", expected.len());
    }
    let (pipeline, src) = encoder.context("no frames")?;
    let _ = src.emit_by_name::<gst::FlowReturn>("end-of-stream", &[]);
    g::wait_eos(&pipeline, cancel)
}
