//! The `aiupscale` element.
//!
//! ```text
//! gst-launch-1.0 filesrc location=in.mp4 ! decodebin ! aiupscale scale=2 ! videoconvert ! autovideosink
//! ```

use gstreamer as gst;
use gstreamer::{glib, prelude::*};

mod caps;
mod errors;
mod frames;
mod imp;

/// The element's caps functions and frame mapping, for the fuzz targets (fuzz/) only.
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing {
    pub use super::caps::{check_stream, fixate_caps, template_caps, transform_caps};
    pub use super::frames::{FrameError, StreamConverter};
}

glib::wrapper! {
    /// AI super-resolution of raw video (see the crate docs for the properties).
    pub struct AiUpscale(ObjectSubclass<imp::AiUpscale>)
        @extends gstreamer_video::VideoFilter, gstreamer_base::BaseTransform, gst::Element, gst::Object;
}

/// The `device` property: where inference runs.
#[derive(Debug, Default, Eq, PartialEq, Ord, PartialOrd, Hash, Clone, Copy, glib::Enum)]
#[repr(u32)]
#[enum_type(name = "GstAiUpscaleDevice")]
pub enum DeviceChoice {
    #[default]
    #[enum_value(name = "CPU (engine: see the engine property)", nick = "cpu")]
    Cpu = 0,
    #[enum_value(name = "CUDA (NVIDIA GPU; needs onnxruntime-gpu)", nick = "cuda")]
    Cuda = 1,
    #[enum_value(name = "TensorRT, fp16 (NVIDIA GPU; needs onnxruntime-gpu and TensorRT)", nick = "tensorrt")]
    TensorRt = 2,
    #[enum_value(name = "Auto: TensorRT, then CUDA, then CPU", nick = "auto")]
    Auto = 3,
}

/// The `engine` property: which inference engine runs the model.
#[derive(Debug, Default, Eq, PartialEq, Ord, PartialOrd, Hash, Clone, Copy, glib::Enum)]
#[repr(u32)]
#[enum_type(name = "GstAiUpscaleEngine")]
pub enum EngineChoice {
    #[default]
    #[enum_value(name = "Auto: OpenVINO on the CPU when its libraries load, else ONNX Runtime", nick = "auto")]
    Auto = 0,
    #[enum_value(name = "ONNX Runtime (CPU, CUDA, TensorRT)", nick = "ort")]
    Ort = 1,
    #[enum_value(name = "OpenVINO (CPU; libraries from scripts/setup)", nick = "openvino")]
    OpenVino = 2,
}

/// The `precision` property: arithmetic precision of inference.
#[derive(Debug, Default, Eq, PartialEq, Ord, PartialOrd, Hash, Clone, Copy, glib::Enum)]
#[repr(u32)]
#[enum_type(name = "GstAiUpscalePrecision")]
pub enum PrecisionChoice {
    #[default]
    #[enum_value(name = "Auto: per model, the fastest that passed the quality gate", nick = "auto")]
    Auto = 0,
    #[enum_value(name = "fp32", nick = "fp32")]
    Fp32 = 1,
    #[enum_value(name = "bf16 (OpenVINO on CPUs with bf16 arithmetic)", nick = "bf16")]
    Bf16 = 2,
    #[enum_value(name = "int8 (OpenVINO; built from the model on first use)", nick = "int8")]
    Int8 = 3,
}

/// The `content` property: what the video is, to choose the model when `model` is
/// unset (the catalog's defaults; the same names as the command line's `--content`).
#[derive(Debug, Default, Eq, PartialEq, Ord, PartialOrd, Hash, Clone, Copy, glib::Enum)]
#[repr(u32)]
#[enum_type(name = "GstAiUpscaleContent")]
pub enum ContentProp {
    #[enum_value(name = "Photo: the best measured photo model", nick = "photo")]
    Photo = 0,
    #[default]
    #[enum_value(name = "Footage: real camera video, a real-world model fast enough for video", nick = "footage")]
    Footage = 1,
    #[enum_value(name = "Animation: the anime video models", nick = "animation")]
    Animation = 2,
    #[enum_value(name = "Real-time: the cheapest models (Anime4K)", nick = "realtime")]
    Realtime = 3,
}

impl ContentProp {
    pub fn choice(self) -> aiupscale_core::models::ContentChoice {
        use aiupscale_core::models::ContentChoice;
        match self {
            ContentProp::Photo => ContentChoice::Photo,
            ContentProp::Footage => ContentChoice::Footage,
            ContentProp::Animation => ContentChoice::Animation,
            ContentProp::Realtime => ContentChoice::Realtime,
        }
    }
}

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    // Create the debug category now, so `--gst-debug-help` lists it.
    std::sync::LazyLock::force(&imp::CAT);
    DeviceChoice::static_type().mark_as_plugin_api(gst::PluginAPIFlags::empty());
    EngineChoice::static_type().mark_as_plugin_api(gst::PluginAPIFlags::empty());
    PrecisionChoice::static_type().mark_as_plugin_api(gst::PluginAPIFlags::empty());
    ContentProp::static_type().mark_as_plugin_api(gst::PluginAPIFlags::empty());
    gst::Element::register(Some(plugin), "aiupscale", gst::Rank::NONE, AiUpscale::static_type())
}
