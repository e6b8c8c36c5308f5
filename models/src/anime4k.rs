//! WebSR Anime4K CNN JSON weights -> ONNX converter. (Being written.)

use crate::{ncnn::Converted, ModelError};

/// Converts WebSR's Anime4K JSON weights to ONNX with input `input` [1,3,H,W] and
/// output `output` [1,3,2H,2W], float32 RGB in [0,1].
pub fn convert(model_name: &str, json: &str) -> Result<Converted, ModelError> {
    let _ = json;
    Err(ModelError::Anime4k { model: model_name.into(), reason: "converter not written yet".into() })
}
