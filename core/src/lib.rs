//! The aiupscale inference core, shared by the GStreamer element and the image bridge:
//! ONNX Runtime sessions, tiling with overlap, pixel formats and alpha, resampling to
//! any size, and cancellation/progress between tiles.

/// Copy getters of plain fields, `getters!(width: u32, height: u32)`, for the views
/// that share a shape (borrowed and mutable images, YUV frames).
macro_rules! getters {
    ($($field:ident: $ty:ty),*) => {
        $(pub fn $field(&self) -> $ty {
            self.$field
        })*
    };
}

mod bands;
pub mod color;
pub mod colorfix;
pub mod denoise;
mod engine;
mod error;
pub mod grain;
mod libraries;
pub mod pixels;
mod pooled;
pub mod provenance;
pub mod quantize;
pub mod resample;
pub mod runtime;
pub mod stream;
pub mod tiling;
mod upscaler;

pub use aiupscale_models as models;

/// The most CPU inference threads a front lets a user ask for: far above any core count,
/// and low enough that creating them cannot exhaust memory.
pub const MAX_THREADS: u32 = 1024;
pub use color::{ChromaSiting, Matrix, Range, YuvColor, YuvLayout, YuvMut, YuvRef};
pub use denoise::DenoiseSettings;
pub use engine::{auto_precision, openvino::available as openvino_available, Engine, Precision};
pub use error::{
    CoreError, EngineError, ErrorKind, InferenceError, LimitError, ModelLoadError, ParameterError, Result, SetupError,
};
pub use grain::{add_grain, Grain};
pub use pixels::{Channels, Image, ImageMut, ImageRef, PixelFormat, SampleType};
pub use resample::Filter;
pub use runtime::{Device, SessionConfig};
pub use stream::{FrameReport, FrameUpscaler};
pub use upscaler::{fixes_colors, Control, ModelInfo, ModelSource, Target, Upscaler, UpscalerConfig};
