//! Both engines behind the one seam: the same models give the same pixels on ONNX
//! Runtime and OpenVINO, `auto` picks OpenVINO on the CPU, and requests an engine cannot
//! meet are typed errors. OpenVINO is installed by `scripts/setup`.

use aiupscale_core::{
    openvino_available, Control, CoreError, Device, Engine, Image, ModelLoadError, ModelSource, Precision,
    SessionConfig, SetupError, Target, Upscaler, UpscalerConfig,
};
use aiupscale_testkit::{psnr_u8, tiny_dir, tiny_model};

fn config(engine: Engine, precision: Precision) -> UpscalerConfig {
    UpscalerConfig {
        session: SessionConfig { engine, precision, ..SessionConfig::default() },
        ..UpscalerConfig::default()
    }
}

fn load(name: &str, config: UpscalerConfig) -> Result<Upscaler, CoreError> {
    Upscaler::new(&ModelSource::File(tiny_model(name)), config)
}

/// A crop of a real photo from skimage's data (fetched by scripts/setup), as RGB8.
fn photo_crop(name: &str, w: u32, h: u32) -> Image {
    aiupscale_testkit::photo_crop(name, 100, 80, w, h)
}

fn upscale(up: &mut Upscaler, src: &Image) -> Vec<u8> {
    up.upscale_to(&src.as_ref(), Target::Factor(2.0), &mut Control::default()).unwrap().into_vec()
}

fn cpu_has_bf16() -> bool {
    let info = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    info.split_whitespace().any(|flag| flag == "avx512_bf16" || flag == "amx_bf16")
}

#[test]
fn auto_picks_openvino_on_the_cpu_and_reports_it() {
    assert!(openvino_available(), "OpenVINO libraries missing: run `scripts/setup --openvino-only`");
    let up = load("smooth_x2", UpscalerConfig::default()).unwrap();
    assert_eq!(
        (up.inference_engine(), up.precision(), up.device()),
        (Some(Engine::OpenVino), Some(Precision::Fp32), Device::Cpu)
    );
    let up = load("smooth_x2", config(Engine::Ort, Precision::Auto)).unwrap();
    assert_eq!((up.inference_engine(), up.precision()), (Some(Engine::Ort), Some(Precision::Fp32)));
}

#[test]
fn both_engines_give_the_same_pixels_in_fp32() {
    let src = photo_crop("astronaut.png", 96, 72);
    for model in ["nearest_x2", "smooth_x2", "valid_x2"] {
        let mut ort = load(model, config(Engine::Ort, Precision::Fp32)).unwrap();
        let mut ov = load(model, config(Engine::OpenVino, Precision::Fp32)).unwrap();
        assert_eq!(ov.info(), ort.info(), "{model}: scale and border probed the same way");
        let (a, b) = (upscale(&mut ort, &src), upscale(&mut ov, &src));
        let max_diff = a.iter().zip(&b).map(|(&x, &y)| x.abs_diff(y)).max().unwrap();
        assert!(max_diff <= 1, "{model}: largest difference {max_diff} levels between the engines");
    }
}

#[test]
fn bf16_runs_where_the_cpu_has_it_and_stays_close_to_fp32() {
    let src = photo_crop("coffee.png", 96, 72);
    let mut fp32 = load("smooth_x2", config(Engine::OpenVino, Precision::Fp32)).unwrap();
    let mut bf16 = load("smooth_x2", config(Engine::OpenVino, Precision::Bf16)).unwrap();
    let expected = if cpu_has_bf16() { Precision::Bf16 } else { Precision::Fp32 };
    assert_eq!(bf16.precision(), Some(expected));
    let db = psnr_u8(&upscale(&mut fp32, &src), &upscale(&mut bf16, &src));
    assert!(db >= 40.0, "bf16 against fp32: {db:.1} dB");
}

#[test]
fn requests_an_engine_cannot_meet_are_typed_errors() {
    let err = |r: Result<Upscaler, CoreError>| r.err().expect("expected an error");
    for precision in [Precision::Bf16, Precision::Int8] {
        let e = err(load("smooth_x2", config(Engine::Ort, precision)));
        assert!(matches!(e, CoreError::Setup(SetupError::PrecisionUnavailable { engine: "ort", .. })), "{e}");
    }
    let e = err(load("smooth_x2", config(Engine::OpenVino, Precision::Int8)));
    assert!(
        matches!(e, CoreError::Setup(SetupError::PrecisionUnavailable { engine: "openvino", precision: "int8", .. })),
        "{e}"
    );
    let gpu = UpscalerConfig {
        session: SessionConfig { engine: Engine::OpenVino, device: Device::Cuda, ..SessionConfig::default() },
        ..UpscalerConfig::default()
    };
    let e = err(load("smooth_x2", gpu));
    assert!(matches!(e, CoreError::Setup(SetupError::DeviceUnavailable { requested: "cuda", .. })), "{e}");
    // Signature checks and unreadable files are the same errors on OpenVINO as on ONNX Runtime.
    for engine in [Engine::Ort, Engine::OpenVino] {
        let e = err(load("bad_channels", config(engine, Precision::Fp32)));
        assert!(matches!(e, CoreError::Model(ModelLoadError::Shape { .. })), "{engine:?}: {e}");
        let e = err(load("bad_output", config(engine, Precision::Fp32)));
        assert!(matches!(e, CoreError::Model(ModelLoadError::Shape { .. })), "{engine:?}: {e}");
        let corrupt = tiny_dir().join("corrupt.onnx");
        std::fs::write(&corrupt, b"this is not a protobuf").unwrap();
        let e = err(Upscaler::new(&ModelSource::File(corrupt), config(engine, Precision::Fp32)));
        assert!(matches!(e, CoreError::Model(ModelLoadError::Load { .. })), "{engine:?}: {e}");
    }
}

#[test]
fn names_parse_to_the_same_choices_everywhere() {
    for (text, engine) in [("ort", Engine::Ort), ("openvino", Engine::OpenVino), ("auto", Engine::Auto)] {
        assert_eq!(text.parse::<Engine>(), Ok(engine));
        assert_eq!(engine.name(), text);
    }
    for precision in [Precision::Auto, Precision::Fp32, Precision::Bf16, Precision::Int8] {
        assert_eq!(precision.name().parse::<Precision>(), Ok(precision));
    }
    assert!("fp16".parse::<Precision>().unwrap_err().contains("auto, fp32, bf16 or int8"));
}
