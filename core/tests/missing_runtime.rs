//! A missing ONNX Runtime library is a typed error that says how to install it, not a
//! panic. (Its own test binary: the runtime is loaded once per process.)

use aiupscale_core::{CoreError, Engine, ModelSource, SessionConfig, SetupError, Upscaler, UpscalerConfig};

#[test]
fn missing_runtime_library_is_a_clear_error() {
    std::env::set_var("AIUPSCALE_ORT_LIB", "/nonexistent/libonnxruntime.so.1.31.1");
    let dir = tempfile::tempdir().unwrap();
    let paths = aiupscale_models::tiny::write_tiny_models(dir.path()).unwrap();
    let ort = UpscalerConfig {
        session: SessionConfig { engine: Engine::Ort, ..SessionConfig::default() },
        ..UpscalerConfig::default()
    };
    let err = Upscaler::new(&ModelSource::File(paths[0].clone()), ort).err().expect("must fail");
    assert!(matches!(err, CoreError::Setup(SetupError::RuntimeNotFound { .. })), "{err:?}");
    let message = err.to_string();
    assert!(message.contains("AIUPSCALE_ORT_LIB=/nonexistent") && message.contains("scripts/setup"), "{message}");
    assert_eq!(message.matches("scripts/setup").count(), 1, "the instruction is said once: {message}");
    // Asking again gives the same error, not a panic or a retry storm.
    let again = Upscaler::new(&ModelSource::File(paths[0].clone()), ort).err().unwrap();
    assert!(matches!(again, CoreError::Setup(SetupError::RuntimeNotFound { .. })));
    // On the CPU, `engine auto` needs no ONNX Runtime when OpenVINO is installed.
    let auto = Upscaler::new(&ModelSource::File(paths[0].clone()), UpscalerConfig::default()).unwrap();
    assert_eq!(auto.inference_engine(), Some(Engine::OpenVino));
}
