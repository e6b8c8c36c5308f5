//! `--denoise`: the image is the core's one-frame path, the same computation as the
//! GStreamer element's first frame (gst-plugin/tests/denoise.rs checks that side).

mod common;

use aiupscale_core::{
    Channels, Control, DenoiseSettings, FrameUpscaler, Image, ModelSource, PixelFormat, SampleType, Upscaler,
    UpscalerConfig,
};
use common::*;

#[test]
fn denoise_is_the_cores_one_frame_path_and_cleans_noise() {
    let env = Env::new();
    // A real photo with Gaussian-ish noise added, saved as PNG.
    let (clean, noisy) = noisy_photo();
    let input = env.path("noisy.png");
    noisy.save(&input).unwrap();
    let smooth = env.models.join("smooth_x2.onnx");
    let out = env.path("out.png");
    let result = env.run(&[
        "upscale",
        input.to_str().unwrap(),
        out.to_str().unwrap(),
        "--model",
        smooth.to_str().unwrap(),
        "--denoise",
        "0.7",
        "--quiet",
    ]);
    assert_ok(&result);
    let bridge = image::open(&out).unwrap().to_rgb8();

    let format = PixelFormat::new(Channels::Rgb, SampleType::U8);
    let src = Image::from_vec(64, 48, format, noisy.into_raw()).unwrap();
    let mut upscaler = Upscaler::new(&ModelSource::File(smooth.clone()), UpscalerConfig::default()).unwrap();
    let mut core = Image::new(128, 96, format).unwrap();
    FrameUpscaler::new(&mut upscaler, DenoiseSettings { denoise: 0.7, temporal: 0.0 })
        .process(&src.as_ref(), &mut core.as_mut(), &mut Control::default())
        .unwrap();
    assert!(bridge.as_raw().as_slice() == core.data(), "the bridge's --denoise differs from the core's one-frame path");

    // And it does denoise: closer to the clean picture's upscale than without --denoise.
    let clean_png = env.path("clean.png");
    clean.save(&clean_png).unwrap();
    let (plain, target) = (env.path("plain.png"), env.path("target.png"));
    for (i, o) in [(&input, &plain), (&clean_png, &target)] {
        assert_ok(&env.run(&[
            "upscale",
            i.to_str().unwrap(),
            o.to_str().unwrap(),
            "--model",
            smooth.to_str().unwrap(),
            "--quiet",
        ]));
    }
    let mse = |a: &image::RgbImage| {
        let t = image::open(&target).unwrap().to_rgb8();
        a.iter().zip(t.iter()).map(|(&x, &y)| (f64::from(x) - f64::from(y)).powi(2)).sum::<f64>() / a.len() as f64
    };
    let (with, without) = (mse(&bridge), mse(&image::open(&plain).unwrap().to_rgb8()));
    assert!(with < 0.7 * without, "MSE with --denoise {with:.1}, without {without:.1}");

    let bad = env.run(&["upscale", input.to_str().unwrap(), out.to_str().unwrap(), "--denoise", "1.5"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(stderr(&bad).contains("outside 0..=1"), "{}", stderr(&bad));
}
