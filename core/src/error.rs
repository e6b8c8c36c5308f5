//! Errors of the inference core, by category (as image-rs does): what went wrong is a
//! typed variant of its category, and [`CoreError::kind`] gives the category alone for
//! fronts that map errors onto their own domains. Messages state the actual and the
//! expected value, and for set-up problems, what to run.

use std::path::PathBuf;

/// An engine's own error (ONNX Runtime's or OpenVINO's), kept as the source.
pub type EngineError = Box<dyn std::error::Error + Send + Sync>;

pub type Result<T, E = CoreError> = std::result::Result<T, E>;

/// Any failure of the core. Match on [`CoreError::kind`] to handle every category;
/// the categories' own enums say exactly what happened.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CoreError {
    /// The machine cannot run what was asked: a missing or unloadable engine library,
    /// an unavailable device or precision.
    #[error(transparent)]
    Setup(#[from] SetupError),
    /// The model cannot be found, fetched, loaded, or does not have an image signature.
    #[error(transparent)]
    Model(#[from] ModelLoadError),
    /// A caller's value is invalid: buffers, formats, sizes, tiling.
    #[error(transparent)]
    Parameter(#[from] ParameterError),
    /// A value is valid but beyond what the core accepts (memory bounds).
    #[error(transparent)]
    Limits(#[from] LimitError),
    /// The caller's cancel flag stopped the run.
    #[error("cancelled")]
    Cancelled,
    /// Running the model or resampling failed.
    #[error(transparent)]
    Inference(#[from] InferenceError),
}

/// The category of a [`CoreError`]. Not `non_exhaustive`: a new category must be
/// handled by every front that maps errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    Setup,
    Model,
    Parameter,
    Limits,
    Cancelled,
    Inference,
}

impl CoreError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            CoreError::Setup(_) => ErrorKind::Setup,
            CoreError::Model(_) => ErrorKind::Model,
            CoreError::Parameter(_) => ErrorKind::Parameter,
            CoreError::Limits(_) => ErrorKind::Limits,
            CoreError::Cancelled => ErrorKind::Cancelled,
            CoreError::Inference(_) => ErrorKind::Inference,
        }
    }
}

impl From<aiupscale_models::ModelError> for CoreError {
    fn from(e: aiupscale_models::ModelError) -> Self {
        CoreError::Model(ModelLoadError::Catalog(e))
    }
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SetupError {
    #[error("ONNX Runtime library not found (looked in: {searched}); run `scripts/setup` or set AIUPSCALE_ORT_LIB to libonnxruntime.so.1.31.1 (from `pip install onnxruntime==1.31.1`)")]
    RuntimeNotFound { searched: String },
    #[error("ONNX Runtime library {} could not be loaded: {reason}; it must be version 1.31 or newer (`pip install onnxruntime==1.31.1`)", path.display())]
    RuntimeLoad { path: PathBuf, reason: String },
    #[error("OpenVINO library not found (looked in: {searched}); run `scripts/setup` or set AIUPSCALE_OPENVINO_LIB to libopenvino_c.so.2641 or its folder (from the PyPI wheel openvino==2026.4.1), or use engine ort")]
    OpenVinoNotFound { searched: String },
    #[error("OpenVINO library {} could not be loaded: {reason}; it must be 2025.1 or newer with the CPU plugin, ONNX frontend and TBB next to it (`scripts/setup`)", path.display())]
    OpenVinoLoad { path: PathBuf, reason: String },
    #[error("precision {precision} is not available on engine {engine}: {reason}")]
    PrecisionUnavailable { engine: &'static str, precision: &'static str, reason: String },
    #[error("execution provider {requested} is not available: {reason}")]
    DeviceUnavailable { requested: &'static str, reason: String },
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ModelLoadError {
    /// The catalog or the model cache refused (unknown name, not fetched, bad checksum).
    #[error(transparent)]
    Catalog(aiupscale_models::ModelError),
    #[error("model file {} not found", path.display())]
    FileMissing { path: PathBuf },
    #[error("model {model} could not be loaded by {engine} (corrupt or not an ONNX file?)")]
    Load {
        model: String,
        /// The engine's name: "ONNX Runtime" or "OpenVINO".
        engine: &'static str,
        #[source]
        source: EngineError,
    },
    #[error("model {model} has an unexpected signature: {actual}; expected {expected}")]
    Shape { model: String, actual: String, expected: String },
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ParameterError {
    #[error("image is empty ({width}x{height}); expected at least 1x1")]
    EmptyImage { width: u32, height: u32 },
    #[error("pixel buffer holds {actual} bytes; {expected} are needed for {width}x{height} {format} with a row stride of {stride} bytes")]
    BufferSize { actual: usize, expected: usize, width: u32, height: u32, format: String, stride: usize },
    #[error("{layout} frame was given {actual} planes (or strides); it has {expected}")]
    PlaneCount { layout: &'static str, actual: usize, expected: usize },
    #[error("row stride of {stride} bytes is smaller than one row ({row} bytes)")]
    Stride { stride: usize, row: usize },
    #[error("source is {src} and destination {dst}; both must have the same channel layout and sample type")]
    FormatMismatch { src: String, dst: String },
    #[error("source is {}x{} and destination {}x{}; both must have the same size", src.0, src.1, dst.0, dst.1)]
    SizeMismatch { src: (u32, u32), dst: (u32, u32) },
    #[error("scale factor {factor} must be a positive number")]
    ScaleFactor { factor: f64 },
    #[error("fit box {width}x{height} must not be empty")]
    EmptyFitBox { width: u32, height: u32 },
    #[error("tile multiple is {multiple}; expected >= 1")]
    TileMultiple { multiple: u32 },
    #[error("tile side {tile_side} (rounded to a multiple of {multiple}: {rounded}) leaves no pixels after {context} context pixels on each side (overlap {overlap} + model border {border}); use a tile side of at least {minimum}")]
    TileTooSmall { tile_side: u32, multiple: u32, rounded: u32, context: u32, overlap: u32, border: u32, minimum: u32 },
    #[error("grain strength {strength} is outside 0..=1")]
    Grain { strength: f32 },
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LimitError {
    #[error("image of {width}x{height} is too large; the limit is {max_side} pixels per side and {max_pixels} pixels in all")]
    ImageTooLarge { width: u64, height: u64, max_side: u32, max_pixels: u64 },
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InferenceError {
    #[error("inference failed in model {model} on {engine}")]
    Run {
        model: String,
        engine: &'static str,
        #[source]
        source: EngineError,
    },
    #[error("resampling {}x{} to {}x{} failed: {reason}", src.0, src.1, dst.0, dst.1)]
    Resample { src: (u32, u32), dst: (u32, u32), reason: String },
}
