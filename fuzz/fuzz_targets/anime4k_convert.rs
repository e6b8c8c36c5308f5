//! WebSR Anime4K JSON weights through the converter: any input must give an ONNX model
//! or a typed `ModelError::Anime4k`, never a panic or a huge allocation.
#![no_main]

use aiupscale_models::{anime4k, ModelError};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(json) = std::str::from_utf8(data) else { return };
    match anime4k::convert("fuzz", json) {
        Ok(converted) => {
            assert!(!converted.model.to_bytes().is_empty());
            assert!(converted.flops_per_pixel > 0.0);
        }
        Err(ModelError::Anime4k { model, reason }) => assert!(model == "fuzz" && !reason.is_empty()),
        Err(other) => panic!("expected ModelError::Anime4k, got {other:?}"),
    }
});
