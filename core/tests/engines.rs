//! Both engines behind the one seam: the same models give the same pixels on ONNX
//! Runtime and OpenVINO, `auto` picks OpenVINO on the CPU, and requests an engine cannot
//! meet are typed errors. OpenVINO is installed by `scripts/setup`.

use std::path::PathBuf;

use aiupscale_core::{
    openvino_available, Channels, Control, CoreError, Device, Engine, Image, ModelLoadError, ModelSource, PixelFormat,
    Precision, SampleType, SessionConfig, SetupError, Target, Upscaler, UpscalerConfig,
};

fn fixtures() -> &'static PathBuf {
    static DIR: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("aiupscale-engine-fixtures-{}", std::process::id()));
        aiupscale_models::tiny::write_tiny_models(&dir).unwrap();
        dir
    })
}

fn config(engine: Engine, precision: Precision) -> UpscalerConfig {
    UpscalerConfig {
        session: SessionConfig { engine, precision, ..SessionConfig::default() },
        ..UpscalerConfig::default()
    }
}

fn load(name: &str, config: UpscalerConfig) -> Result<Upscaler, CoreError> {
    Upscaler::new(&ModelSource::File(fixtures().join(format!("{name}.onnx"))), config)
}

/// A crop of a real photo from skimage's data (fetched by scripts/setup), as RGB8.
fn photo_crop(name: &str, w: u32, h: u32) -> Image {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.deps/media/photos").join(name);
    let img = image::open(&path).unwrap_or_else(|e| panic!("{}: {e}; run scripts/setup", path.display())).to_rgb8();
    let crop = image::imageops::crop_imm(&img, 100, 80, w, h).to_image();
    Image { width: w, height: h, data: crop.into_raw(), format: PixelFormat::new(Channels::Rgb, SampleType::U8) }
}

fn psnr_u8(a: &[u8], b: &[u8]) -> f64 {
    assert_eq!(a.len(), b.len());
    let mse = a.iter().zip(b).map(|(&x, &y)| (f64::from(x) - f64::from(y)).powi(2)).sum::<f64>() / a.len() as f64;
    10.0 * (255.0f64 * 255.0 / mse.max(1e-12)).log10()
}

fn upscale(up: &mut Upscaler, src: &Image) -> Vec<u8> {
    up.upscale_to(&src.as_ref(), Target::Factor(2.0), &mut Control::default()).unwrap().data
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
        let corrupt = fixtures().join("corrupt.onnx");
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
