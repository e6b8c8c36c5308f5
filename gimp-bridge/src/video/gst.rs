//! GStreamer plumbing shared by the steps: initialisation with the `aiupscale` element
//! registered in-process, element creation with the package to install, and the
//! appsink/appsrc ends driven through their action signals (no extra crates).

use std::{
    sync::{atomic::AtomicBool, atomic::Ordering, OnceLock},
    time::Duration,
};

use anyhow::{anyhow, bail, Context, Result};
use gstreamer as gst;
use gstreamer::prelude::*;

/// Initialises GStreamer and registers the `aiupscale` element of this build (so the
/// binary never picks up another version from GST_PLUGIN_PATH).
pub fn init() -> Result<()> {
    static INIT: OnceLock<Result<(), String>> = OnceLock::new();
    INIT.get_or_init(|| {
        gst::init().map_err(|e| format!("cannot initialise GStreamer: {e}"))?;
        gstaiupscale::plugin_register_static().map_err(|e| format!("cannot register the aiupscale element: {e}"))
    })
    .clone()
    .map_err(|e| anyhow!(e))
}

/// The Debian package that holds an element, for the error message.
fn package_of(factory: &str) -> &'static str {
    match factory {
        "x264enc" => "gstreamer1.0-plugins-ugly",
        "x265enc" | "h265parse" | "h264parse" => "gstreamer1.0-plugins-bad",
        "avenc_ffv1" | "avenc_prores_ks" => "gstreamer1.0-libav",
        "matroskamux" | "matroskademux" | "qtmux" | "mp4mux" | "deinterlace" => "gstreamer1.0-plugins-good",
        _ => "gstreamer1.0-plugins-base",
    }
}

/// Creates an element, naming the package to install when the factory is missing.
pub fn make(factory: &str) -> Result<gst::Element> {
    gst::ElementFactory::make(factory).build().with_context(|| {
        format!("GStreamer element {factory} is not installed (Debian package {})", package_of(factory))
    })
}

/// A sink that takes and drops a stream without holding up preroll.
pub fn discard() -> Result<gst::Element> {
    let sink = make("fakesink")?;
    sink.set_property("sync", false);
    sink.set_property("async", false);
    Ok(sink)
}

/// Links decodebin's first raw video pad to `head` and every other pad to a discarding
/// sink, so that a file with sound or subtitles still prerolls.
pub fn link_first_video(pipeline: &gst::Pipeline, decodebin: &gst::Element, head: gst::Pad) {
    let weak = pipeline.downgrade();
    // A flag, not `head.is_linked()`: two pads may be added at once from streaming threads.
    let linked = AtomicBool::new(false);
    decodebin.connect_pad_added(move |_, pad| {
        let Some(pipeline) = weak.upgrade() else { return };
        let caps = pad.current_caps().unwrap_or_else(|| pad.query_caps(None));
        let is_raw_video = caps.structure(0).is_some_and(|s| s.name() == "video/x-raw");
        if is_raw_video && !linked.swap(true, Ordering::SeqCst) {
            let _ = pad.link(&head);
            return;
        }
        let Ok(discard) = discard() else { return };
        let _ = pipeline.add(&discard);
        let _ = discard.sync_state_with_parent();
        let _ = pad.link(&discard.static_pad("sink").expect("a sink pad"));
    });
}

/// Seeks a paused pipeline to the keyframe at or before `pts` (nanoseconds).
pub fn seek_key_before(pipeline: &gst::Pipeline, pts: u64) -> Result<()> {
    pipeline
        .seek_simple(
            gst::SeekFlags::FLUSH | gst::SeekFlags::KEY_UNIT | gst::SeekFlags::SNAP_BEFORE,
            gst::ClockTime::from_nseconds(pts),
        )
        .context("the source cannot seek")
}

/// An appsink for pulling every buffer as fast as upstream produces them.
pub fn app_sink(caps: Option<&gst::Caps>) -> Result<gst::Element> {
    let sink = make("appsink")?;
    sink.set_property("sync", false);
    sink.set_property("max-buffers", 8u32);
    if let Some(caps) = caps {
        sink.set_property("caps", caps);
    }
    Ok(sink)
}

/// The first error (or warning-free EOS) waiting on a pipeline's bus, without blocking.
pub fn bus_error(pipeline: &gst::Pipeline) -> Result<()> {
    let Some(bus) = pipeline.bus() else { return Ok(()) };
    while let Some(message) = bus.pop_filtered(&[gst::MessageType::Error]) {
        if let gst::MessageView::Error(e) = message.view() {
            return Err(message_error(e));
        }
    }
    Ok(())
}

fn message_error(e: &gst::message::Error) -> anyhow::Error {
    let source = e.src().map(|s| s.path_string().to_string()).unwrap_or_default();
    match e.debug() {
        Some(debug) => anyhow!("{} ({source}; {debug})", e.error()),
        None => anyhow!("{} ({source})", e.error()),
    }
}

/// Waits for EOS, failing on an error message or when `cancel` is set.
pub fn wait_eos(pipeline: &gst::Pipeline, cancel: &AtomicBool) -> Result<()> {
    let bus = pipeline.bus().context("pipeline without a bus")?;
    loop {
        if cancel.load(Ordering::Relaxed) {
            bail!(Cancelled);
        }
        let Some(message) = bus
            .timed_pop_filtered(gst::ClockTime::from_mseconds(100), &[gst::MessageType::Error, gst::MessageType::Eos])
        else {
            continue;
        };
        match message.view() {
            gst::MessageView::Eos(_) => return Ok(()),
            gst::MessageView::Error(e) => return Err(message_error(e)),
            _ => (),
        }
    }
}

/// The run was stopped by SIGINT/SIGTERM (see [`crate::cancel`]).
#[derive(Debug, thiserror::Error)]
#[error("cancelled")]
pub struct Cancelled;

/// Sets a pipeline's state, waiting for it (preroll included), with the bus error as
/// the reason when it fails.
pub fn set_state(pipeline: &gst::Pipeline, state: gst::State) -> Result<()> {
    let failed = |pipeline: &gst::Pipeline| {
        bus_error(pipeline).err().unwrap_or_else(|| anyhow!("the pipeline did not reach {state:?}"))
    };
    if pipeline.set_state(state).is_err() {
        return Err(failed(pipeline));
    }
    let (result, _, _) = pipeline.state(gst::ClockTime::from_seconds(60));
    if result.is_err() {
        return Err(failed(pipeline));
    }
    Ok(())
}

/// Pulls the next sample of an appsink; `None` at EOS. Errors of the pipeline, and
/// `cancel`, end the wait.
pub fn pull(pipeline: &gst::Pipeline, sink: &gst::Element, cancel: &AtomicBool) -> Result<Option<gst::Sample>> {
    loop {
        if cancel.load(Ordering::Relaxed) {
            bail!(Cancelled);
        }
        let sample =
            sink.emit_by_name::<Option<gst::Sample>>("try-pull-sample", &[&gst::ClockTime::from_mseconds(100)]);
        if sample.is_some() {
            return Ok(sample);
        }
        bus_error(pipeline)?;
        if sink.property::<bool>("eos") {
            return Ok(None);
        }
    }
}

/// Pushes a buffer into an appsrc, waiting while its queue is full; errors of the
/// pipeline, and `cancel`, end the wait (a plain blocking push would hang when a
/// downstream error stopped the streaming thread).
pub fn push(pipeline: &gst::Pipeline, src: &gst::Element, buffer: gst::Buffer, cancel: &AtomicBool) -> Result<()> {
    const MAX_QUEUED: u64 = 4;
    while src.property::<u64>("current-level-buffers") >= MAX_QUEUED {
        if cancel.load(Ordering::Relaxed) {
            bail!(Cancelled);
        }
        bus_error(pipeline)?;
        std::thread::sleep(Duration::from_millis(2));
    }
    let flow = src.emit_by_name::<gst::FlowReturn>("push-buffer", &[&buffer]);
    if flow != gst::FlowReturn::Ok {
        bus_error(pipeline)?;
        bail!("the pipeline stopped taking frames ({flow:?})");
    }
    Ok(())
}

/// An appsrc of timestamped buffers with these caps.
pub fn app_src(caps: &gst::Caps) -> Result<gst::Element> {
    let src = make("appsrc")?;
    src.set_property("caps", caps);
    src.set_property_from_str("format", "time");
    src.set_property("block", false);
    Ok(src)
}

/// Stops a pipeline; the error of a pipeline already failing is of no interest here.
pub fn shut(pipeline: &gst::Pipeline) {
    let _ = pipeline.set_state(gst::State::Null);
}

/// A pipeline that is set to NULL when dropped, on every path out.
pub struct Running(pub gst::Pipeline);

impl Drop for Running {
    fn drop(&mut self) {
        shut(&self.0);
    }
}

impl std::ops::Deref for Running {
    type Target = gst::Pipeline;
    fn deref(&self) -> &gst::Pipeline {
        &self.0
    }
}
