//! Denoise and temporal stability: motion on a known shift, scene-cut reset, the
//! one-frame case (what the bridge runs) equal to the stream's first frame, and flicker
//! and trails on real-photo sequences through a tiny fixture model.

use aiupscale_core::{
    denoise::{estimate_motion, estimate_noise, RgbPlanes},
    Channels, Control, DenoiseSettings, FrameUpscaler, Image, ModelSource, PixelFormat, SampleType, Upscaler,
    UpscalerConfig,
};
use aiupscale_testkit::{add_noise, photo_crop, tiny_model};

const RGB8: PixelFormat = PixelFormat::new(Channels::Rgb, SampleType::U8);

fn model() -> Upscaler {
    Upscaler::new(&ModelSource::File(tiny_model("smooth_x2")), UpscalerConfig::default()).unwrap()
}

fn run(up: &mut FrameUpscaler, frame: &Image) -> Image {
    let mut out = Image::new(frame.width() * 2, frame.height() * 2, frame.format()).unwrap();
    up.process(&frame.as_ref(), &mut out.as_mut(), &mut Control::default()).unwrap();
    out
}

fn luma_of(img: &Image) -> Vec<f32> {
    RgbPlanes::from_image(&img.as_ref()).0.luma()
}

#[test]
fn motion_estimation_finds_a_known_shift() {
    let big = photo_crop("chelsea.png", 100, 60, 120, 100);
    let shifted = |dx: u32, dy: u32| {
        let mut data = Vec::new();
        for y in 0..80 {
            let start = (((y + dy) * 120 + dx) * 3) as usize;
            data.extend_from_slice(&big.data()[start..start + 3 * 96]);
        }
        Image::from_vec(96, 80, RGB8, data).unwrap()
    };
    // The scene moves by (-5, +3) between frames: current(x) = previous(x + (5, -3)).
    let previous = shifted(5, 10);
    let current = shifted(10, 7);
    let field = estimate_motion(&luma_of(&previous), &luma_of(&current), 96, 80);
    let interior: Vec<(i32, i32)> = (1..field.rows - 1)
        .flat_map(|r| (1..field.cols - 1).map(move |c| (r, c)))
        .map(|(r, c)| field.vectors[r * field.cols + c])
        .collect();
    let right = interior.iter().filter(|&&v| v == (5, -3)).count();
    assert!(
        right * 10 >= interior.len() * 9,
        "{right} of {} interior blocks found (5,-3): {:?}",
        interior.len(),
        field.vectors
    );
    let still = estimate_motion(&luma_of(&previous), &luma_of(&previous), 96, 80);
    assert!(still.vectors.iter().all(|&v| v == (0, 0)));
}

#[test]
fn noise_level_is_measured_from_the_frame() {
    let clean = photo_crop("coffee.png", 100, 100, 200, 150);
    for sigma in [5.0f32, 10.0, 20.0] {
        let noisy = add_noise(&clean, sigma, 7);
        let measured = estimate_noise(&luma_of(&noisy), 200, 150) * 255.0;
        // Luma mixes three independent channels: its noise std is ~0.67 sigma.
        let expected = sigma * (0.299f32.powi(2) + 0.587f32.powi(2) + 0.114f32.powi(2)).sqrt();
        assert!(
            (measured - expected).abs() < 0.3 * expected + 0.7,
            "sigma {sigma}: measured {measured:.2}, expected ~{expected:.2}"
        );
    }
}

#[test]
fn one_frame_is_the_same_with_or_without_the_temporal_path() {
    // The bridge runs one image through the same code: only its spatial part acts, and
    // it must equal the element's first frame.
    let frame = add_noise(&photo_crop("chelsea.png", 50, 50, 64, 48), 10.0, 1);
    let mut stream = FrameUpscaler::new(model(), DenoiseSettings { denoise: 0.7, temporal: 1.0 });
    let mut single = FrameUpscaler::new(model(), DenoiseSettings { denoise: 0.7, temporal: 0.0 });
    assert!(run(&mut stream, &frame) == run(&mut single, &frame), "first frame differs");
    let mut off = FrameUpscaler::new(model(), DenoiseSettings::default());
    assert!(run(&mut off, &frame) != run(&mut single, &frame), "denoise 0.7 changes a noisy frame");
}

#[test]
fn a_scene_cut_drops_the_history() {
    let settings = DenoiseSettings { denoise: 0.5, temporal: 1.0 };
    let scene_a = photo_crop("astronaut.png", 0, 0, 64, 48);
    let scene_b = photo_crop("coffee.png", 200, 200, 64, 48);
    let mut stream = FrameUpscaler::new(model(), settings);
    for seed in 0..4 {
        run(&mut stream, &add_noise(&scene_a, 8.0, seed));
        assert!(!stream.last_report().scene_cut);
    }
    let b = add_noise(&scene_b, 8.0, 99);
    let after_cut = run(&mut stream, &b);
    assert!(stream.last_report().scene_cut);
    let mut fresh = FrameUpscaler::new(model(), settings);
    assert!(after_cut == run(&mut fresh, &b), "nothing of scene A may remain");
}

fn stats(frames: &[Image], clean: &[Image]) -> (f64, f64) {
    let n = frames[0].data().len();
    let mut flicker = 0.0;
    for i in 0..n {
        let values: Vec<f64> = frames.iter().map(|f| f64::from(f.data()[i])).collect();
        let mean = values.iter().sum::<f64>() / values.len() as f64;
        flicker += (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / values.len() as f64).sqrt();
    }
    let mse = frames
        .iter()
        .zip(clean)
        .map(|(f, c)| f.data().iter().zip(c.data()).map(|(&a, &b)| (f64::from(a) - f64::from(b)).powi(2)).sum::<f64>())
        .sum::<f64>()
        / (n * frames.len()) as f64;
    (flicker / n as f64, 10.0 * (255.0f64.powi(2) / mse).log10())
}

#[test]
fn static_noisy_scene_flickers_far_less_and_is_cleaner() {
    let clean = photo_crop("coffee.png", 150, 120, 64, 48);
    let noisy: Vec<Image> = (0..24).map(|s| add_noise(&clean, 10.0, s)).collect();
    let mut reference = FrameUpscaler::new(model(), DenoiseSettings::default());
    let target = run(&mut reference, &clean);
    let targets = vec![target; noisy.len()];
    let outputs = |settings: DenoiseSettings| {
        let mut up = FrameUpscaler::new(model(), settings);
        noisy.iter().map(|f| run(&mut up, f)).collect::<Vec<_>>()
    };
    let skip = 8; // let the history fill
    let per_frame = outputs(DenoiseSettings::default());
    let temporal = outputs(DenoiseSettings { denoise: 0.5, temporal: 1.0 });
    let (flicker_pf, psnr_pf) = stats(&per_frame[skip..], &targets[skip..]);
    let (flicker_t, psnr_t) = stats(&temporal[skip..], &targets[skip..]);
    assert!(flicker_t * 5.0 <= flicker_pf, "flicker {flicker_t:.2} vs per-frame {flicker_pf:.2}");
    assert!(psnr_t >= psnr_pf + 3.0, "PSNR {psnr_t:.2} vs per-frame {psnr_pf:.2}");
}

#[test]
fn a_panning_sequence_leaves_no_trails() {
    // A real photo panned 2 px per frame with noise: the temporal path must not fall
    // below spatial-only denoise (ghosting would).
    let big = photo_crop("astronaut.png", 60, 60, 160, 80);
    let clean: Vec<Image> = (0..12u32)
        .map(|t| {
            let mut data = Vec::new();
            for y in 0..48 {
                let start = (((y + 16) * 160 + 2 * t) * 3) as usize;
                data.extend_from_slice(&big.data()[start..start + 3 * 64]);
            }
            Image::from_vec(64, 48, RGB8, data).unwrap()
        })
        .collect();
    let noisy: Vec<Image> = clean.iter().enumerate().map(|(s, f)| add_noise(f, 10.0, s as u64)).collect();
    let mut reference = FrameUpscaler::new(model(), DenoiseSettings::default());
    let targets: Vec<Image> = clean.iter().map(|f| run(&mut reference, f)).collect();
    let psnr_of = |settings: DenoiseSettings| {
        let mut up = FrameUpscaler::new(model(), settings);
        let out: Vec<Image> = noisy.iter().map(|f| run(&mut up, f)).collect();
        stats(&out, &targets).1
    };
    let spatial = psnr_of(DenoiseSettings { denoise: 0.5, temporal: 0.0 });
    let temporal = psnr_of(DenoiseSettings { denoise: 0.5, temporal: 1.0 });
    assert!(temporal >= spatial, "temporal {temporal:.2} dB < spatial {spatial:.2} dB on a pan");
}
