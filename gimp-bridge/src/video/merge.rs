//! `video merge PARTS OUT`: the verified segments' video, every other stream of the
//! source copied as it is (no re-encoding: bit-identical audio), into OUT's container,
//! written to a temp name and renamed when complete.

use std::{
    path::Path,
    sync::{atomic::AtomicBool, Arc, Mutex},
};

use anyhow::{bail, Context, Result};
use gstreamer as gst;
use gstreamer::prelude::*;

use super::{
    encode::Container,
    files,
    gst::{self as g, Running},
    plan::{Plan, Stream},
    segment::{demux, segment_path},
};
use crate::cli::usage;

/// Refuses to merge while a segment is missing, listing them.
pub fn check_complete(parts: &Path, plan: &Plan) -> Result<()> {
    let missing: Vec<String> =
        plan.segments.iter().filter(|s| !segment_path(parts, s.index).exists()).map(|s| s.index.to_string()).collect();
    if !missing.is_empty() {
        bail!(
            "cannot merge {}: {} of {} segments are missing ({}); run `aiupscale video segment {} N` for each",
            parts.display(),
            missing.len(),
            plan.segments.len(),
            missing.join(", "),
            parts.display()
        );
    }
    Ok(())
}

/// The MP4/QuickTime track timescale that holds every pts exactly (qtmux rounds to
/// units, qtdemux scales back down), else 0 (the muxer's choice).
fn exact_timescale(pts: &[u64]) -> u32 {
    let exact = |scale: u64| {
        pts.iter().all(|&p| {
            let units = (u128::from(p) * u128::from(scale) + 500_000_000) / 1_000_000_000;
            units * 1_000_000_000 / u128::from(scale) == u128::from(p)
        })
    };
    let common = [1000u64, 12800, 15360, 24000, 25000, 30000, 48000, 60000, 90000, 120000, 1_000_000];
    common.into_iter().chain(std::iter::once(1_000_000_000)).find(|&s| exact(s)).map_or(0, |s| s as u32)
}

/// The Matroska timestamp scale (ns per tick) that holds every pts exactly: the
/// default millisecond when it does.
fn matroska_scale(pts: &[u64]) -> i64 {
    fn gcd(a: u64, b: u64) -> u64 {
        if b == 0 {
            a
        } else {
            gcd(b, a % b)
        }
    }
    pts.iter().fold(1_000_000, |g, &p| gcd(g, p)).max(1) as i64
}

fn mux_pad_template(kind: &str) -> &'static str {
    match kind {
        "audio" => "audio_%u",
        "subtitle" => "subtitle_%u",
        _ => "video_%u",
    }
}

/// A stretch of the source's timeline merged on its own (a preview): the frames and
/// packets from `start` (the pts of its first frame, ns) to before `end`, shifted so
/// the file starts at 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Clip {
    pub start: u64,
    pub end: Option<u64>,
}

/// `video merge PARTS OUT`: checks, says what the container leaves out, writes OUT.
pub fn run(parts: &Path, output: &Path, cancel: &AtomicBool) -> Result<()> {
    g::init()?;
    let plan = Plan::load(parts)?;
    let container = Container::of(output)?;
    container.check(plan.settings.codec())?;
    check_complete(parts, &plan)?;
    let extras = super::extras::read(&plan.source.path, plan.streams.len() + 1)?;
    for warning in left_out(&plan, container, &extras)? {
        eprintln!("warning: {warning}");
    }
    write(parts, &plan, output, &extras, None, cancel)
}

/// Whether the container's muxer takes a copied stream (as merge relabels it).
fn holds(mux: &gst::Element, stream: &Stream) -> bool {
    let caps = stream.caps.parse::<gst::Caps>().unwrap_or_else(|_| gst::Caps::new_any());
    let caps = super::extras::mux_caps(&caps).unwrap_or(caps);
    mux.pad_template(mux_pad_template(&stream.kind)).is_some_and(|t| t.caps().can_intersect(&caps))
}

/// What of the source the container cannot hold, one line each (the merge leaves it
/// out); an audio stream it cannot hold is an error instead (usage, before any work):
/// sound is never lost for a file name.
pub fn left_out(plan: &Plan, container: Container, extras: &super::extras::Extras) -> Result<Vec<String>> {
    let mux = container.muxer()?;
    let ext = container.name();
    let mut lines = Vec::new();
    for (i, stream) in plan.streams.iter().enumerate().filter(|(_, s)| !holds(&mux, s)) {
        let what = format!("the source's {} stream {} ({})", stream.kind, i + 1, stream.caps);
        if stream.kind == "audio" {
            return Err(usage(format!("a .{ext} file cannot hold {what}; use .mkv")));
        }
        let hint = if container == Container::Matroska { "" } else { " (use .mkv to keep it)" };
        lines.push(format!("a .{ext} file cannot hold {what}: it is left out{hint}"));
    }
    // By name: the demuxer's container-format tag does not reliably arrive by preroll.
    let from_mp4 = Container::of(&plan.source.path).is_ok_and(|c| c != Container::Matroska);
    if from_mp4 && plan.streams.iter().any(|s| s.kind == "subtitle") {
        lines.push(
            "GStreamer 1.22's qtdemux hands on the source's MP4 (tx3g) subtitles as plain text: their style \
             records (bold, italic, colour) are not copied"
                .to_owned(),
        );
    }
    let chapters = extras.toc.as_ref().map_or(0, |toc| toc.entries().len());
    if chapters > 0 && mux.dynamic_cast_ref::<gst::TocSetter>().is_none() {
        lines.push(format!(
            "GStreamer's {} writes no chapters: the source's {chapters} chapters are left out (use .mkv to keep them)",
            mux.factory().map(|f| f.name().to_string()).unwrap_or_default()
        ));
    }
    Ok(lines)
}

/// Writes OUT from the verified segments of `plan` and the source's other streams
/// (all of them, or the part in `clip`).
pub fn write(
    parts: &Path,
    plan: &Plan,
    output: &Path,
    extras: &super::extras::Extras,
    clip: Option<Clip>,
    cancel: &AtomicBool,
) -> Result<()> {
    let container = Container::of(output)?;
    let shift = clip.map_or(0, |c| c.start);
    let times: Vec<u64> = plan.segments.iter().flat_map(|s| plan.segment_pts(s)).map(|p| p - shift).collect();
    let first = segment_path(parts, plan.segments[0].index);
    let mut video_caps = None;
    // The caps only: the first frame is enough.
    let _ = demux(&first, cancel, |sample| {
        video_caps = sample.caps_owned();
        bail!(FirstFrame)
    });
    let video_caps = video_caps.with_context(|| format!("cannot read {}", first.display()))?;
    let video_caps = as_muxer_wants(&container.muxer()?, &video_caps);

    let temp = files::TempGuard(files::temp_path(output));
    let pipeline = Running(gst::Pipeline::new());
    let mux = container.muxer()?;
    if container == Container::Matroska {
        mux.set_property("timecodescale", matroska_scale(&times));
    }
    // A clip's chapters would point outside it.
    super::extras::apply(&mux, extras, clip.is_none());
    tag(&mux, plan);
    let filesink = g::make("filesink")?;
    filesink.set_property("location", &temp.0);
    let appsrc = g::app_src(&video_caps)?;
    let video_queue = g::make("queue")?;
    pipeline.add_many([&mux, &filesink, &appsrc, &video_queue])?;
    gst::Element::link_many([&appsrc, &video_queue])?;
    mux.link(&filesink)?;
    let video_pad = link_request(&mux, &video_queue, "video", &video_caps, container)?;
    if container != Container::Matroska {
        // The video track only: the audio keeps its own (sample-rate) timescale.
        video_pad.set_property("trak-timescale", exact_timescale(&times));
    }

    // The source's other streams, each into a queue and a muxer pad requested now
    // (muxers take no new pads once data flows).
    let filesrc = g::make("filesrc")?;
    filesrc.set_property("location", &plan.source.path);
    let parsebin = g::make("parsebin")?;
    pipeline.add_many([&filesrc, &parsebin])?;
    filesrc.link(&parsebin)?;
    let mut queues = Vec::new();
    for stream in &plan.streams {
        if !holds(&mux, stream) {
            // Said by left_out before the job.
            queues.push((stream.clone(), None));
            continue;
        }
        let queue = g::make("queue")?;
        queue.set_property("max-size-buffers", 0u32);
        queue.set_property("max-size-time", 0u64);
        queue.set_property("max-size-bytes", 64u32 << 20);
        pipeline.add(&queue)?;
        if stream.kind == "subtitle" && container != Container::Matroska {
            lead_with_gap(&queue.static_pad("sink").expect("queue has a sink pad"));
        }
        let caps = stream.caps.parse::<gst::Caps>().unwrap_or_else(|_| gst::Caps::new_any());
        let entry = match super::extras::mux_caps(&caps) {
            Some(caps) => {
                let setter = g::make("capssetter")?;
                setter.set_property("caps", &caps);
                setter.set_property("replace", true);
                super::extras::unescape_subtitles(&setter.static_pad("sink").expect("capssetter has a sink pad"));
                pipeline.add(&setter)?;
                setter.link(&queue)?;
                link_request(&mux, &queue, &stream.kind, &caps, container)?;
                setter
            }
            None => {
                link_request(&mux, &queue, &stream.kind, &caps, container)?;
                queue
            }
        };
        queues.push((stream.clone(), Some(entry)));
    }
    let pending: Arc<Mutex<Vec<Entry>>> = Arc::new(Mutex::new(queues));
    let video_taken = Arc::new(AtomicBool::new(false));
    let weak = pipeline.0.downgrade();
    parsebin.connect_pad_added(move |_, pad| {
        let Some(pipeline) = weak.upgrade() else { return };
        if let Some(clip) = clip {
            clip_packets(pad, clip);
        }
        let caps = pad.current_caps().unwrap_or_else(|| pad.query_caps(None));
        let is_video =
            caps.structure(0).is_some_and(|s| s.name().starts_with("video/") || s.name().starts_with("image/"));
        // The source's own video is replaced by the upscaled segments.
        let entry = if is_video && !video_taken.swap(true, std::sync::atomic::Ordering::SeqCst) {
            None
        } else {
            let mut pending = pending.lock().unwrap_or_else(|e| e.into_inner());
            let caps_text = caps.to_string();
            let index = pending.iter().position(|(s, _)| s.caps == caps_text).unwrap_or(0);
            if index < pending.len() {
                pending.remove(index).1
            } else {
                None
            }
        };
        let entry = match entry {
            Some(entry) => entry,
            None => {
                let Ok(discard) = g::discard() else { return };
                let _ = pipeline.add(&discard);
                let _ = discard.sync_state_with_parent();
                discard
            }
        };
        let _ = pad.link(&entry.static_pad("sink").expect("a sink pad"));
    });

    if pipeline.set_state(gst::State::Playing).is_err() {
        g::bus_error(&pipeline)?;
        bail!("the merge pipeline did not start");
    }
    for segment in &plan.segments {
        let path = segment_path(parts, segment.index);
        let expected = plan.segment_pts(segment);
        let mut index = 0;
        let caps = demux(&path, cancel, |sample| {
            let buffer = sample.buffer_owned().context("a sample without a buffer")?;
            let pts = buffer.pts().map_or(u64::MAX, |t| t.nseconds());
            let Some(&want) = expected.get(index) else {
                bail!("{} holds more frames than planned ({})", path.display(), expected.len());
            };
            if pts != want {
                bail!("frame {index} of {} has pts {pts} ns; the plan says {want} ns", path.display());
            }
            let next = plan.pts.get(segment.first_frame + index + 1).copied();
            let mut buffer = buffer;
            {
                let buffer = buffer.make_mut();
                buffer.set_pts(gst::ClockTime::from_nseconds(pts - shift));
                // No B-frames: decode order is presentation order.
                buffer.set_dts(buffer.pts());
                buffer.set_duration(gst::ClockTime::from_nseconds(next.map_or(plan.last_duration, |n| n - pts)));
            }
            index += 1;
            g::push(&pipeline, &appsrc, buffer, cancel)
        })
        .with_context(|| format!("cannot merge {}", path.display()))?;
        if index != expected.len() {
            bail!("{} holds {index} frames; the plan has {}", path.display(), expected.len());
        }
        if as_muxer_wants(&mux, &caps) != video_caps {
            bail!("{} was encoded differently from segment 0 ({caps} vs {video_caps}); delete it and run its segment again", path.display());
        }
    }
    let _ = appsrc.emit_by_name::<gst::FlowReturn>("end-of-stream", &[]);
    g::wait_eos(&pipeline, cancel)?;
    drop(pipeline);
    // The guard then finds nothing to remove.
    files::commit(&temp.0, output)
}

/// The caps of a demuxed video stream narrowed to the muxer's video template: 1.22's
/// matroskamux wants `ffversion` on ffv1 where its demuxer (and avenc_ffv1) say
/// `ffvversion`, so ffv1 read back from a segment is refused as it is.
fn as_muxer_wants(mux: &gst::Element, caps: &gst::Caps) -> gst::Caps {
    let Some(template) = mux.pad_template(mux_pad_template("video")) else { return caps.clone() };
    let narrowed = caps.intersect(template.caps());
    if narrowed.is_empty() {
        caps.clone()
    } else {
        narrowed
    }
}

/// A copied stream and where its packets go (None: left out, to a discard).
type Entry = (Stream, Option<gst::Element>);

/// Keeps a clip's packets of a copied stream, shifted to the clip's start; after its
/// end the stream ends (EOS), so the source is read no further than needed.
fn clip_packets(pad: &gst::Pad, clip: Clip) {
    pad.add_probe(gst::PadProbeType::BUFFER, move |pad, info| {
        let Some(buffer) = info.buffer_mut() else { return gst::PadProbeReturn::Ok };
        let Some(pts) = buffer.pts().or(buffer.dts()).map(|t| t.nseconds()) else {
            return gst::PadProbeReturn::Drop;
        };
        if pts < clip.start {
            return gst::PadProbeReturn::Drop;
        }
        if clip.end.is_some_and(|end| pts >= end) {
            if !pad.pad_flags().contains(gst::PadFlags::EOS) {
                pad.push_event(gst::event::Eos::new());
            }
            return gst::PadProbeReturn::Drop;
        }
        let buffer = buffer.make_mut();
        let shift = |t: Option<gst::ClockTime>| {
            t.map(|t| gst::ClockTime::from_nseconds(t.nseconds().saturating_sub(clip.start)))
        };
        buffer.set_pts(shift(buffer.pts()));
        buffer.set_dts(shift(buffer.dts()));
        gst::PadProbeReturn::Ok
    });
}

/// Puts an empty sample before a subtitle stream's first one when it starts after 0:
/// 1.22's qtmux otherwise starts the track with an edit at that time and shortens its
/// last sample by as much (measured: 1.0-1.8 s written as 1.0-1.6 s). Empty samples
/// are how MP4 subtitle tracks show nothing; qtmux itself puts one after every sample
/// that has a successor (zero-length where they touch, as here).
fn lead_with_gap(pad: &gst::Pad) {
    let started = std::sync::atomic::AtomicBool::new(false);
    pad.add_probe(gst::PadProbeType::BUFFER, move |pad, info| {
        if started.swap(true, std::sync::atomic::Ordering::SeqCst) {
            return gst::PadProbeReturn::Ok;
        }
        let pts = info.buffer().and_then(|b| b.pts()).map_or(0, |t| t.nseconds());
        if pts > 0 {
            let mut gap = gst::Buffer::new();
            {
                let gap = gap.get_mut().expect("a new buffer is writable");
                gap.set_pts(gst::ClockTime::ZERO);
                gap.set_dts(gst::ClockTime::ZERO);
                gap.set_duration(gst::ClockTime::from_nseconds(pts));
            }
            // The stream lock is recursive: this runs the pad's chain now, before the
            // buffer this probe holds.
            let _ = pad.chain(gap);
        }
        gst::PadProbeReturn::Ok
    });
}

#[derive(Debug, thiserror::Error)]
#[error("first frame read")]
struct FirstFrame;

/// Requests a muxer pad for a stream and links `from` to it, refusing (before any
/// work) a stream the container cannot hold.
fn link_request(
    mux: &gst::Element,
    from: &gst::Element,
    kind: &str,
    caps: &gst::Caps,
    container: Container,
) -> Result<gst::Pad> {
    let cannot =
        || anyhow::anyhow!("a .{} file cannot hold the source's {kind} stream ({caps}); use .mkv", container.name());
    let template = mux.pad_template(mux_pad_template(kind)).ok_or_else(cannot)?;
    if !template.caps().can_intersect(caps) {
        return Err(cannot());
    }
    let pad = mux.request_pad(&template, None, None).ok_or_else(cannot)?;
    from.static_pad("src")
        .expect("queue has a src pad")
        .link(&pad)
        .map_err(|e| anyhow::anyhow!("{e:?}: {}", cannot()))?;
    Ok(pad)
}

/// Container tags that say the video was upscaled, and with what.
fn tag(mux: &gst::Element, plan: &Plan) {
    let Some(setter) = mux.dynamic_cast_ref::<gst::TagSetter>() else { return };
    let s = &plan.settings;
    let comment = format!(
        "AI-upscaled x{} by aiupscale {} with model {}{}",
        s.scale,
        env!("CARGO_PKG_VERSION"),
        s.model_name(),
        if s.temporal > 0.0 { format!(", temporal {}", s.temporal) } else { String::new() }
    );
    setter.add_tag::<gst::tags::Comment>(&comment.as_str(), gst::TagMergeMode::Replace);
    setter.add_tag::<gst::tags::Encoder>(&"aiupscale", gst::TagMergeMode::Replace);
}
