//! ncnn `.param` + `.bin` -> ONNX converter. (Being written.)

use crate::{onnx::ModelProto, ModelError};

/// A converted model and its cost, counted while converting.
#[derive(Debug, Clone)]
pub struct Converted {
    pub model: ModelProto,
    /// Floating-point operations per input pixel (multiply-add = 2).
    pub flops_per_pixel: f64,
}

/// Converts an ncnn model (the `.param` text and the `.bin` weights) to ONNX with
/// input `input` [1,3,H,W] and output `output`, both float32 RGB in [0,1].
pub fn convert(model_name: &str, param: &str, bin: &[u8]) -> Result<Converted, ModelError> {
    let _ = (param, bin);
    Err(ModelError::Ncnn { model: model_name.into(), reason: "converter not written yet".into() })
}
