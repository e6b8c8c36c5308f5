//! Shared set-up for the element tests: GStreamer with the plugin registered
//! statically, and the tiny fixture models written once per test process.
#![allow(dead_code)]

use std::{path::PathBuf, sync::OnceLock, time::Duration};

use gstreamer as gst;
use gstreamer::prelude::*;

/// Initialises GStreamer and registers `aiupscale` (once per process), and returns the
/// folder of the tiny models (one per test thread, removed when the test ends).
pub fn init() -> PathBuf {
    static INIT: OnceLock<()> = OnceLock::new();
    INIT.get_or_init(|| {
        gst::init().unwrap();
        gstaiupscale::plugin_register_static().expect("register the aiupscale plugin");
        // The element under test is this build's, not an installed copy of the plugin.
        let factory = gst::ElementFactory::find("aiupscale").unwrap();
        let file = factory.plugin().and_then(|p| p.filename());
        assert!(file.is_none(), "aiupscale comes from {file:?}, not from this test build");
    });
    aiupscale_testkit::tiny_dir()
}

/// Path of a tiny fixture model (e.g. `nearest_x2`) as the `model` property wants it.
pub fn tiny(name: &str) -> String {
    init();
    aiupscale_testkit::tiny_model(name).to_str().unwrap().to_owned()
}

/// Real video shipped by `scripts/setup`.
pub fn media(name: &str) -> PathBuf {
    aiupscale_testkit::media(&format!("video/{name}"))
}

/// Runs `pipeline` to EOS (or the first error) within `timeout`; returns the error
/// messages (text and debug) posted on the bus.
pub fn run_to_end(pipeline: &gst::Element, timeout: Duration) -> Result<(), String> {
    let bus = pipeline.bus().unwrap();
    if let Err(e) = pipeline.set_state(gst::State::Playing) {
        let found = first_error(&bus).unwrap_or_default();
        pipeline.set_state(gst::State::Null).unwrap();
        return Err(format!("{e}: {found}"));
    }
    let msg = bus.timed_pop_filtered(
        gst::ClockTime::from_nseconds(timeout.as_nanos() as u64),
        &[gst::MessageType::Eos, gst::MessageType::Error],
    );
    let result = match msg.as_ref().map(|m| m.view()) {
        Some(gst::MessageView::Eos(_)) => Ok(()),
        Some(gst::MessageView::Error(err)) => Err(format!("{} ({:?})", err.error(), err.debug())),
        _ => Err(format!("no EOS within {timeout:?}")),
    };
    pipeline.set_state(gst::State::Null).unwrap();
    result
}

/// The first error message waiting on `bus`, as "text (debug)".
pub fn first_error(bus: &gst::Bus) -> Option<String> {
    while let Some(msg) = bus.pop() {
        if let gst::MessageView::Error(err) = msg.view() {
            return Some(format!("{} ({:?})", err.error(), err.debug()));
        }
    }
    None
}
