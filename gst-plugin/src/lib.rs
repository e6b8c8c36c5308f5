//! GStreamer plugin `aiupscale`: AI super-resolution of raw video with the aiupscale
//! core (ONNX Runtime, tiling, any scale factor).
//!
//! Properties of the `aiupscale` element (`gst-inspect-1.0 aiupscale` lists them with
//! their ranges):
//! - `scale` (1..16, default 2): output size = input size x scale; can change while playing.
//! - `model`: catalog name or `.onnx` path; unset = the catalog's model for `content` and
//!   the scale. A catalog model missing from the cache is fetched at start (first use).
//! - `content` (footage, photo, animation, realtime; default footage): what the video is,
//!   for `model` unset.
//! - `tile-size` (0 = auto, else 16..4096) and `tile-overlap` (-1 = the model's default):
//!   the tiling; a tile too small for the model's context fails the start.
//! - `device` (cpu, cuda, tensorrt, auto) and `threads` (0 = one per core).
//! - `engine` (auto, ort, openvino) and `precision` (auto, fp32, bf16, int8): which inference
//!   engine runs and at which arithmetic precision; auto = OpenVINO on the CPU when its
//!   libraries load, at the precision the model passed the quality gate with.
//! - `denoise` (0..1): spatial denoise before upscaling; can change while playing.
//! - `temporal` (0..1): motion-compensated temporal stabilisation of the output; flushes
//!   and seeks reset it; can change while playing.
//! - `grain` (0..1): fine luminance grain after upscaling, seeded by each frame's
//!   timestamp; can change while playing.
//! - `qos` (from `GstBaseTransform`): on by default, so late frames are dropped in live playback.
//!
//! Input and output are the same raw format, progressive, at most 65535 pixels per side
//! (the pad templates say so, and negotiation refuses anything else).
//!
//! Install with `scripts/install-gst-plugin`, or point `GST_PLUGIN_PATH` at
//! `target/release` (or `target/debug`) of this workspace.

use gstreamer as gst;
use gstreamer::glib;

pub mod aiupscale;

pub use aiupscale::{AiUpscale, ContentProp, DeviceChoice, EngineChoice, PrecisionChoice};

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
