//! Our int8 pipeline on a tiny model: calibration with ONNX Runtime on real photo
//! tiles, the QDQ writer, and both engines running the result close to fp32.

use std::sync::atomic::AtomicBool;

use aiupscale_core::{
    quantize::{quantize_onnx, KeepFloat},
    Control, Engine, Image, ModelSource, Precision, SessionConfig, Target, Upscaler, UpscalerConfig,
};
use aiupscale_testkit::{psnr_u8, tiny_model};

fn run(path: &std::path::Path, engine: Engine, src: &Image) -> Vec<u8> {
    let session = SessionConfig { engine, precision: Precision::Fp32, ..SessionConfig::default() };
    let config = UpscalerConfig { session, ..UpscalerConfig::default() };
    let mut up = Upscaler::new(&ModelSource::File(path.to_owned()), config).unwrap();
    up.upscale_to(&src.as_ref(), Target::Factor(2.0), &mut Control::default()).unwrap().into_vec()
}

/// Planar 0..1 tiles cut from a real photo crop.
fn tiles(photo: &Image, side: u32) -> Vec<Vec<f32>> {
    let (w, px) = (photo.width(), photo.data());
    let mut out = Vec::new();
    for (x0, y0) in [(0, 0), (side, 0), (0, side), (side, side)] {
        let mut t = Vec::new();
        for c in 0..3 {
            for y in y0..y0 + side {
                for x in x0..x0 + side {
                    t.push(f32::from(px[((y * w + x) * 3 + c) as usize]) / 255.0);
                }
            }
        }
        out.push(t);
    }
    out
}

#[test]
fn the_qdq_model_runs_on_both_engines_close_to_fp32() {
    let fp32 = tiny_model("smooth_x2");
    let dir = tempfile::tempdir().unwrap();
    let calib = aiupscale_testkit::photo_crop("ihc.png", 0, 0, 64, 64);
    let bytes = std::fs::read(&fp32).unwrap();
    let never = AtomicBool::new(false);
    let keep = KeepFloat { first: false, last: 0 };
    let (qdq, convs) = quantize_onnx("smooth_x2", &bytes, keep, &tiles(&calib, 32), 1, &never).unwrap();
    assert_eq!(convs, 3);
    let qdq_path = dir.path().join("smooth_x2.int8.onnx");
    std::fs::write(&qdq_path, qdq).unwrap();
    let src = aiupscale_testkit::photo_crop("coffee.png", 100, 80, 48, 40);
    for engine in [Engine::Ort, Engine::OpenVino] {
        let reference = run(&fp32, engine, &src);
        let db = psnr_u8(&reference, &run(&qdq_path, engine, &src));
        // 8-bit steps on two convs of this random-weight net: about 40 dB; a wrong
        // scale, zero point or weight layout gives far less.
        assert!(db > 35.0, "{engine:?}: int8 {db:.1} dB from fp32");
    }
}
