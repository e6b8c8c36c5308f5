//! GStreamer plugin `aiupscale`: AI super-resolution of raw video with the aiupscale
//! core (ONNX Runtime, tiling, any scale factor).
//!
//! Properties of the `aiupscale` element: `scale` (1..16, default 2), `model` (catalog
//! name or `.onnx` path; unset = the catalog's video model for the scale),
//! `tile-size`, `tile-overlap`, `device` (cpu, cuda, tensorrt, auto), `engine` (auto, ort,
//! openvino), `precision` (auto, fp32, bf16, int8) and `threads`.
//! `gst-inspect-1.0 aiupscale` lists them with their ranges.
//!
//! Install with `scripts/install-gst-plugin`, or point `GST_PLUGIN_PATH` at
//! `target/release` (or `target/debug`) of this workspace.

use gstreamer as gst;
use gstreamer::glib;

pub mod aiupscale;

pub use aiupscale::{AiUpscale, DeviceChoice, EngineChoice, PrecisionChoice};

fn plugin_init(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    aiupscale::register(plugin)
}

gst::plugin_define!(
    aiupscale,
    env!("CARGO_PKG_DESCRIPTION"),
    plugin_init,
    concat!(env!("CARGO_PKG_VERSION"), "-", env!("COMMIT_ID")),
    // GStreamer accepts a fixed list of licence strings; the code is MIT OR Apache-2.0.
    "MIT/X11",
    env!("CARGO_PKG_NAME"),
    env!("CARGO_PKG_NAME"),
    env!("CARGO_PKG_REPOSITORY"),
    env!("BUILD_REL_DATE")
);
