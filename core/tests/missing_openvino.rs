//! Without the OpenVINO libraries: `engine openvino` is a typed error that says how to
//! install them, `engine auto` falls back to ONNX Runtime and still upscales. (Its own
//! test binary: the library is looked up once per process.)

use aiupscale_core::{
    openvino_available, Channels, Control, CoreError, Engine, Image, ModelSource, PixelFormat, SampleType,
    SessionConfig, SetupError, Target, Upscaler, UpscalerConfig,
};

fn config(engine: Engine) -> UpscalerConfig {
    UpscalerConfig { session: SessionConfig { engine, ..SessionConfig::default() }, ..UpscalerConfig::default() }
}

#[test]
fn missing_openvino_is_a_clear_error_or_the_onnx_runtime_fallback() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-dir");
    std::env::set_var("AIUPSCALE_OPENVINO_LIB", &missing);
    let paths = aiupscale_models::tiny::write_tiny_models(dir.path()).unwrap();
    let nearest = ModelSource::File(paths[0].clone());

    let err = Upscaler::new(&nearest, config(Engine::OpenVino)).err().expect("engine openvino must fail");
    assert!(matches!(err, CoreError::Setup(SetupError::OpenVinoNotFound { .. })), "{err:?}");
    let message = err.to_string();
    let expected = format!("AIUPSCALE_OPENVINO_LIB={}", missing.display());
    assert!(message.contains(&expected) && message.contains("scripts/setup"), "{message}");
    assert!(!openvino_available());

    let mut up = Upscaler::new(&nearest, config(Engine::Auto)).expect("engine auto falls back to ONNX Runtime");
    assert_eq!(up.inference_engine(), Some(Engine::Ort));
    let format = PixelFormat::new(Channels::Rgb, SampleType::U8);
    let src = Image::from_vec(3, 2, format, (0..18).map(|v| v * 13).collect()).unwrap();
    let out = up.upscale_to(&src.as_ref(), Target::Factor(2.0), &mut Control::default()).unwrap();
    for (i, px) in out.data().chunks(3).enumerate() {
        let (x, y) = (i % 6 / 2, i / 6 / 2);
        let start = (y * 3 + x) * 3;
        assert_eq!(px, &src.data()[start..start + 3], "output pixel {i}");
    }
    // Asking again gives the same error, not a panic or a retry.
    let again = Upscaler::new(&nearest, config(Engine::OpenVino)).err().unwrap();
    assert!(matches!(again, CoreError::Setup(SetupError::OpenVinoNotFound { .. })));
}
