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
    #[error("OpenVINO library not found (looked in: {searched}); run `scripts/setup` or set AIUPSCALE_OPENVINO_LIB to libopenvino_c.so.2641 or its folder (from the PyPI wheel openvino==2026.4.1), or use engine ort")]
    OpenVinoNotFound { searched: String },
    #[error("OpenVINO library {} could not be loaded: {reason}; it must be 2025.1 or newer with the CPU plugin, ONNX frontend and TBB next to it (`scripts/setup`)", path.display())]
    OpenVinoLoad { path: PathBuf, reason: String },
    #[error("precision {precision} is not available on engine {engine}: {reason}")]
    PrecisionUnavailable { engine: &'static str, precision: &'static str, reason: String },
    #[error("execution provider {requested} is not available: {reason}")]
    DeviceUnavailable { requested: &'static str, reason: String },
    #[error(transparent)]
    Model(#[from] aiupscale_models::ModelError),
    #[error("model file {} not found", path.display())]
    ModelFileMissing { path: PathBuf },
    #[error("model {model} could not be loaded by {engine} (corrupt or not an ONNX file?)")]
    ModelLoad {
        model: String,
        /// The engine's name: "ONNX Runtime" or "OpenVINO".
        engine: &'static str,
        #[source]
        source: EngineError,
    },
    #[error("model {model} has an unexpected signature: {actual}; expected {expected}")]
    ModelShape { model: String, actual: String, expected: String },
    #[error("inference failed in model {model} on {engine}")]
    Inference {
        model: String,
        engine: &'static str,
        #[source]
        source: EngineError,
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
    #[error("grain strength {strength} is outside 0..=1")]
    InvalidGrain { strength: f32 },
    #[error("cancelled")]
    Cancelled,
    #[error("resampling failed: {reason}")]
    Resample { reason: String },
}

/// An engine's own error (ONNX Runtime's or OpenVINO's), kept as the source.
pub type EngineError = Box<dyn std::error::Error + Send + Sync>;

pub type Result<T, E = CoreError> = std::result::Result<T, E>;
