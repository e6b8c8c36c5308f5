//! A model package's ncnn `.param` + `.bin` through the converter: any input must give
//! an ONNX model or a typed `ModelError::Ncnn`, never a panic or an allocation that the
//! files' own size does not pay for (libFuzzer's `-malloc_limit_mb` catches those).
//!
//! Input: the `.param` text, a NUL byte, then the `.bin` bytes (no NUL: `.bin` empty).
#![no_main]

use aiupscale_models::{ncnn, ModelError};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (param, bin) = match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    let Ok(param) = std::str::from_utf8(param) else { return };
    match ncnn::convert("fuzz", param, bin) {
        // Serialising walks every node and initializer the converter made.
        Ok(converted) => assert!(!converted.model.to_bytes().is_empty()),
        Err(ModelError::Ncnn { model, reason }) => assert!(model == "fuzz" && !reason.is_empty()),
        Err(other) => panic!("expected ModelError::Ncnn, got {other:?}"),
    }
});
