//! A missing ONNX Runtime library is a typed error that says how to install it, not a
//! panic. (Its own test binary: the runtime is loaded once per process.)

use aiupscale_core::{CoreError, ModelSource, Upscaler, UpscalerConfig};

#[test]
fn missing_runtime_library_is_a_clear_error() {
    std::env::set_var("AIUPSCALE_ORT_LIB", "/nonexistent/libonnxruntime.so.1.31.1");
    let dir = tempfile::tempdir().unwrap();
    let paths = aiupscale_models::tiny::write_tiny_models(dir.path()).unwrap();
    let err = Upscaler::new(&ModelSource::File(paths[0].clone()), UpscalerConfig::default()).err().expect("must fail");
    assert!(matches!(err, CoreError::RuntimeNotFound { .. }), "{err:?}");
    let message = err.to_string();
    assert!(message.contains("AIUPSCALE_ORT_LIB=/nonexistent") && message.contains("scripts/setup"), "{message}");
    assert_eq!(message.matches("scripts/setup").count(), 1, "the instruction is said once: {message}");
    // Asking again gives the same error, not a panic or a retry storm.
    let again = Upscaler::new(&ModelSource::File(paths[0].clone()), UpscalerConfig::default()).err().unwrap();
    assert!(matches!(again, CoreError::RuntimeNotFound { .. }));
}
