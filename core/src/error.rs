use std::path::PathBuf;

/// Errors of the inference core. Messages state the actual and the expected value,
/// and for set-up problems, what to run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CoreError {
    #[error("ONNX Runtime library not found (looked in: {searched}); run `scripts/setup` or set AIUPSCALE_ORT_LIB to libonnxruntime.so.1.31.1 (from `pip install onnxruntime==1.31.1`)")]
    RuntimeNotFound { searched: String },
    #[error("ONNX Runtime library {} could not be loaded: {reason}; it must be version 1.31 or newer (`pip install onnxruntime==1.31.1`)", path.display())]
    RuntimeLoad { path: PathBuf, reason: String },
    #[error("execution provider {requested} is not available: {reason}")]
    DeviceUnavailable { requested: &'static str, reason: String },
    #[error(transparent)]
    Model(#[from] aiupscale_models::ModelError),
    #[error("model file {} not found", path.display())]
    ModelFileMissing { path: PathBuf },
    #[error("model {model} could not be loaded by ONNX Runtime (corrupt or not an ONNX file?)")]
    ModelLoad {
        model: String,
        #[source]
        source: ort::Error,
    },
    #[error("model {model} has an unexpected signature: {actual}; expected {expected}")]
    ModelShape { model: String, actual: String, expected: String },
    #[error("inference failed in model {model}")]
    Inference {
        model: String,
        #[source]
        source: ort::Error,
    },
    #[error("image is empty ({width}x{height}); expected at least 1x1")]
    EmptyImage { width: u32, height: u32 },
    #[error(
        "image of {width}x{height} is too large; the limit is {max} pixels per side and {max_pixels} pixels in all"
    )]
    ImageTooLarge { width: u64, height: u64, max: u32, max_pixels: u64 },
    #[error("pixel buffer holds {actual} bytes; {expected} are needed for {width}x{height} {format} with a row stride of {stride} bytes")]
    BufferSize { actual: usize, expected: usize, width: u32, height: u32, format: String, stride: usize },
    #[error("row stride of {stride} bytes is smaller than one row ({row} bytes)")]
    Stride { stride: usize, row: usize },
    #[error("source is {src} and destination {dst}; both must have the same channel layout and sample type")]
    FormatMismatch { src: String, dst: String },
    #[error("invalid output size: {reason}")]
    InvalidTarget { reason: String },
    #[error("invalid tiling: {reason}")]
    InvalidTiling { reason: String },
    #[error("cancelled")]
    Cancelled,
    #[error("resampling failed: {reason}")]
    Resample { reason: String },
}

pub type Result<T, E = CoreError> = std::result::Result<T, E>;
