//! The upscaler end to end on the tiny fixture models (made by
//! `aiupscale_models::tiny`): scale read from the model, tiling equal to one pass,
//! formats, alpha, any output size, progress, cancellation and error paths.

use std::sync::atomic::AtomicBool;

use aiupscale_core::{
    Channels, Control, CoreError, ErrorKind, Filter, Image, ImageRef, LimitError, ModelLoadError, ModelSource,
    ParameterError, PixelFormat, SampleType, Target, Upscaler, UpscalerConfig,
};
use aiupscale_testkit::{crop, photo, psnr_u8, tiny_dir, tiny_model};

fn load(name: &str, config: UpscalerConfig) -> Result<Upscaler, CoreError> {
    Upscaler::new(&ModelSource::File(tiny_model(name)), config)
}

fn run(up: &mut Upscaler, src: &Image, target: Target) -> Image {
    up.upscale_to(&src.as_ref(), target, &mut Control::default()).unwrap()
}

#[test]
fn scale_and_border_are_read_from_the_model() {
    let up = load("smooth_x2", UpscalerConfig::default()).unwrap();
    let info = up.info().unwrap();
    assert_eq!((info.scale, info.border), (2, 0));
    let up = load("valid_x2", UpscalerConfig::default()).unwrap();
    assert_eq!((up.info().unwrap().scale, up.info().unwrap().border), (2, 1));
}

#[test]
fn tiled_output_equals_one_pass_on_a_real_photo() {
    let src = crop(&photo("astronaut.png"), 100, 50, 203, 157);
    for model in ["smooth_x2", "valid_x2"] {
        let mut whole = load(model, UpscalerConfig { tile_size: Some(512), ..Default::default() }).unwrap();
        let reference = run(&mut whole, &src, Target::Factor(2.0));
        for tile in [24, 40, 64, 100] {
            let mut tiled =
                load(model, UpscalerConfig { tile_size: Some(tile), overlap: Some(4), ..Default::default() }).unwrap();
            let out = run(&mut tiled, &src, Target::Factor(2.0));
            let psnr = psnr_u8(out.data(), reference.data());
            assert!(psnr >= 50.0, "{model} tile {tile}: PSNR {psnr:.1} dB");
        }
    }
}

#[test]
fn nearest_model_preserves_sixteen_bit_values_exactly() {
    let format = PixelFormat::new(Channels::Gray, SampleType::U16);
    let values: Vec<u16> = (0..6 * 5).map(|i| (i * 2179 + 1) as u16).collect();
    let src = Image::from_vec(6, 5, format, values.iter().flat_map(|v| v.to_ne_bytes()).collect()).unwrap();
    let mut up = load("nearest_x2", UpscalerConfig::default()).unwrap();
    let out = run(&mut up, &src, Target::Factor(2.0));
    assert_eq!((out.width(), out.height()), (12, 10));
    for y in 0..10 {
        for x in 0..12 {
            let i = 2 * (y * 12 + x);
            let got = u16::from_ne_bytes([out.data()[i], out.data()[i + 1]]);
            assert_eq!(got, values[(y / 2) * 6 + x / 2], "pixel {x},{y}");
        }
    }
}

#[test]
fn any_output_size_goes_through_model_then_resample() {
    let src = crop(&photo("coffee.png"), 0, 0, 64, 48);
    let mut up = load("smooth_x2", UpscalerConfig::default()).unwrap();
    assert_eq!(
        (run(&mut up, &src, Target::Factor(3.5)).width(), run(&mut up, &src, Target::Factor(3.5)).height()),
        (224, 168)
    );
    let fit = run(&mut up, &src, Target::Fit { width: 300, height: 100 });
    assert_eq!((fit.width(), fit.height()), (133, 100));
    let exact = run(&mut up, &src, Target::Size { width: 101, height: 77 });
    assert_eq!((exact.width(), exact.height()), (101, 77));
    assert!(matches!(
        Target::Factor(f64::NAN).output_size(4, 4),
        Err(CoreError::Parameter(ParameterError::ScaleFactor { .. }))
    ));
    assert!(matches!(
        Target::Factor(5000.0).output_size(100, 100),
        Err(CoreError::Limits(LimitError::ImageTooLarge { .. }))
    ));
    let kinds = [Target::Factor(-1.0), Target::Fit { width: 0, height: 5 }, Target::Factor(5000.0)]
        .map(|t| t.output_size(100, 100).unwrap_err().kind());
    assert_eq!(kinds, [ErrorKind::Parameter, ErrorKind::Parameter, ErrorKind::Limits]);
}

#[test]
fn every_channel_layout_comes_out_in_its_own_order() {
    // Same picture in RGB and BGRA: the upscaled colours must agree channel for channel.
    let rgb = crop(&photo("astronaut.png"), 200, 200, 32, 24);
    let bgra_data: Vec<u8> = rgb.data().chunks(3).flat_map(|p| [p[2], p[1], p[0], 255]).collect();
    let bgra = Image::from_vec(32, 24, PixelFormat::new(Channels::Bgra, SampleType::U8), bgra_data).unwrap();
    let mut up = load("smooth_x2", UpscalerConfig::default()).unwrap();
    let a = run(&mut up, &rgb, Target::Factor(2.0));
    let b = run(&mut up, &bgra, Target::Factor(2.0));
    let b_as_rgb: Vec<u8> = b.data().chunks(4).flat_map(|p| [p[2], p[1], p[0]]).collect();
    assert_eq!(a.data(), b_as_rgb);
    assert!(b.data().chunks(4).all(|p| p[3] == 255), "opaque alpha stays opaque");
}

#[test]
fn transparent_edges_get_no_dark_halo() {
    // A red disc on fully transparent *black*: premultiplied processing keeps the
    // visible edge pixels red instead of blending towards black.
    let (w, h) = (40u32, 40u32);
    let mut data = Vec::new();
    for y in 0..h {
        for x in 0..w {
            let d = ((x as f32 - 20.0).powi(2) + (y as f32 - 20.0).powi(2)).sqrt();
            data.extend_from_slice(&if d < 12.0 { [230, 20, 20, 255] } else { [0, 0, 0, 0] });
        }
    }
    let src = Image::from_vec(w, h, PixelFormat::new(Channels::Rgba, SampleType::U8), data).unwrap();
    {
        let mut up = load("smooth_x2", UpscalerConfig::default()).unwrap();
        let out = run(&mut up, &src, Target::Factor(2.0));
        let visible: Vec<&[u8]> = out.data().chunks(4).filter(|p| p[3] >= 64).collect();
        assert!(visible.len() > 1500);
        let darkest = visible.iter().map(|p| p[0]).min().unwrap();
        assert!(darkest >= 200, "a visible edge pixel darkened to red={darkest}");
        assert!(out.data().chunks(4).any(|p| p[3] == 0), "the background stays transparent");
    }
}

#[test]
fn progress_reaches_one_and_cancel_stops_between_tiles() {
    let src = crop(&photo("astronaut.png"), 0, 0, 120, 120);
    let mut up = load("smooth_x2", UpscalerConfig { tile_size: Some(40), ..Default::default() }).unwrap();
    let mut seen = Vec::new();
    let mut progress = |f: f32| seen.push(f);
    up.upscale_to(&src.as_ref(), Target::Factor(2.0), &mut Control { progress: Some(&mut progress), cancel: None })
        .unwrap();
    assert!(seen.len() > 4 && seen.windows(2).all(|w| w[0] < w[1]) && *seen.last().unwrap() == 1.0, "{seen:?}");

    let cancel = AtomicBool::new(false);
    let mut calls = 0;
    let mut stop_after_two = |_: f32| {
        calls += 1;
        if calls == 2 {
            cancel.store(true, std::sync::atomic::Ordering::Relaxed);
        }
    };
    let result = up.upscale_to(
        &src.as_ref(),
        Target::Factor(2.0),
        &mut Control { progress: Some(&mut stop_after_two), cancel: Some(&cancel) },
    );
    assert!(matches!(result, Err(CoreError::Cancelled)));
    assert_eq!(calls, 2);
}

#[test]
fn bad_models_and_bad_images_are_typed_errors() {
    let err = |r: Result<Upscaler, CoreError>| r.err().expect("expected an error");
    assert!(matches!(
        err(load("bad_channels", UpscalerConfig::default())),
        CoreError::Model(ModelLoadError::Shape { .. })
    ));
    let e = err(load("bad_output", UpscalerConfig::default()));
    assert!(matches!(e, CoreError::Model(ModelLoadError::Shape { .. })), "{e}");

    let corrupt = tiny_dir().join("corrupt.onnx");
    std::fs::write(&corrupt, b"this is not a protobuf").unwrap();
    assert!(matches!(
        err(Upscaler::new(&ModelSource::File(corrupt), UpscalerConfig::default())),
        CoreError::Model(ModelLoadError::Load { .. })
    ));
    let missing = err(Upscaler::new(&ModelSource::File("/nonexistent/model.onnx".into()), UpscalerConfig::default()));
    assert!(matches!(missing, CoreError::Model(ModelLoadError::FileMissing { .. })), "{missing}");
    assert_eq!(missing.kind(), ErrorKind::Model);

    let format = PixelFormat::new(Channels::Rgb, SampleType::U8);
    assert!(matches!(
        ImageRef::new(&[], 0, 0, 0, format),
        Err(CoreError::Parameter(ParameterError::EmptyImage { .. }))
    ));
    let mut up = load("smooth_x2", UpscalerConfig::default()).unwrap();
    let src = Image::new(4, 4, format).unwrap();
    let mut wrong = Image::new(8, 8, PixelFormat::new(Channels::Rgba, SampleType::U8)).unwrap();
    assert!(matches!(
        up.upscale(&src.as_ref(), &mut wrong.as_mut(), &mut Control::default()),
        Err(CoreError::Parameter(ParameterError::FormatMismatch { .. }))
    ));
    let tiny_tile = UpscalerConfig { tile_size: Some(8), overlap: Some(8), ..Default::default() };
    let mut up = load("smooth_x2", tiny_tile).unwrap();
    let big = Image::new(64, 64, format).unwrap();
    assert!(matches!(
        up.upscale_to(&big.as_ref(), Target::Factor(2.0), &mut Control::default()),
        Err(CoreError::Parameter(ParameterError::TileTooSmall { .. }))
    ));
    // The same refusals before any frame, from the sizes alone.
    assert!(matches!(
        up.check_sizes((64, 64), (128, 128)),
        Err(CoreError::Parameter(ParameterError::TileTooSmall { .. }))
    ));
    let up = load("smooth_x2", UpscalerConfig::default()).unwrap();
    assert!(up.check_sizes((64, 64), (96, 96)).is_ok());
    // x1.5 of 40000x2 fits, but the model's native x2 (80000 wide) does not.
    assert!(matches!(
        up.check_sizes((40_000, 2), (60_000, 3)),
        Err(CoreError::Limits(LimitError::ImageTooLarge { width: 80_000, .. }))
    ));
    assert!(matches!(up.check_sizes((0, 2), (0, 4)), Err(CoreError::Parameter(ParameterError::EmptyImage { .. }))));
}

#[test]
fn unknown_catalog_model_and_unfetched_model_say_what_to_do() {
    let e = Upscaler::new(&ModelSource::Catalog("no-such-model".into()), UpscalerConfig::default())
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("no-such-model") && e.contains("realesrgan-x4plus"), "{e}");
    let empty = tempfile::tempdir().unwrap();
    let cache = aiupscale_models::ModelCache::at(empty.path());
    let e = Upscaler::with_cache(
        &ModelSource::Catalog("realesr-animevideov3-x2".into()),
        UpscalerConfig::default(),
        &cache,
    )
    .err()
    .unwrap()
    .to_string();
    assert!(e.contains("aiupscale models fetch realesr-animevideov3-x2"), "{e}");
}

#[test]
fn classic_filters_share_the_api() {
    let src = crop(&photo("coffee.png"), 10, 10, 30, 20);
    for filter in [Filter::Nearest, Filter::Bilinear, Filter::Bicubic, Filter::Lanczos3, Filter::Area] {
        let mut up = Upscaler::classic(filter);
        let out = run(&mut up, &src, Target::Factor(3.0));
        assert_eq!((out.width(), out.height(), up.native_scale()), (90, 60, 1));
    }
}
