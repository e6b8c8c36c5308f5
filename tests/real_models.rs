//! Every catalog model on a real photo: tiled output equals one untiled pass
//! (PSNR >= 50 dB at default overlap) — seams are the most common complaint about
//! upscalers. Missing models are fetched first.

use aiupscale_core::{Control, Engine, ModelSource, SessionConfig, Target, Upscaler, UpscalerConfig};
use aiupscale_models::{Catalog, ModelEntry};
use aiupscale_tests::*;

/// Tiled vs untiled for one model on a crop; the tile is small enough to force a
/// grid of at least 2x2 tiles, with the model's default overlap.
fn tiled_vs_untiled(name: &str, crop_size: (u32, u32), tile: u32) -> f64 {
    tiled_vs_untiled_on(name, crop_size, tile, Engine::Auto)
}

fn tiled_vs_untiled_on(name: &str, crop_size: (u32, u32), tile: u32, engine: Engine) -> f64 {
    ensure_model(name);
    // Timed so each model's share of the suite's run time is visible.
    let started = std::time::Instant::now();
    let entry = Catalog::builtin().require(name).unwrap();
    let input = to_f32(&crop(&photo("astronaut.png"), 120, 40, crop_size.0, crop_size.1));
    let target = Target::Factor(f64::from(entry.scale));
    let run = |tile_size: u32| {
        let session = SessionConfig { engine, ..Default::default() };
        let config = UpscalerConfig { tile_size: Some(tile_size), session, ..Default::default() };
        let mut up = Upscaler::new(&ModelSource::Catalog(name.into()), config).unwrap();
        f32_samples(&up.upscale_to(&input.as_ref(), target, &mut Control::default()).unwrap())
    };
    let whole = run(4096);
    let tiled = run(tile);
    let context = entry.overlap + entry.border;
    assert!(
        crop_size.0 > 2 * (tile - 2 * context) && crop_size.1 > tile - 2 * context,
        "{name}: the crop must need several tiles"
    );
    let db = psnr(&whole, &tiled);
    println!(
        "tiling {name} (engine {}): tiled ({tile} px tiles) vs untiled PSNR {db:.1} dB ({:.1} s)",
        engine.name(),
        started.elapsed().as_secs_f64()
    );
    db
}

/// Crop and tile side for the seam check of one model.
fn seam_setup(entry: &ModelEntry) -> ((u32, u32), u32) {
    // Heavy models (RRDB) on the smallest crop that still needs a 3x2 grid of tiles.
    if entry.flops_per_pixel > 5e6 {
        ((104, 56), 2 * (entry.overlap + entry.border) + 48)
    } else {
        ((200, 140), 2 * (entry.overlap + entry.border) + 64)
    }
}

#[test]
fn every_catalog_model_tiles_without_seams() {
    // The U-Nets with whole-input pooling have their own checks below.
    for entry in Catalog::builtin().models().iter().filter(|m| !m.global_pooling) {
        let (size, tile) = seam_setup(entry);
        let db = tiled_vs_untiled(&entry.name, size, tile);
        assert!(db >= 50.0, "{}: tiled vs untiled {db:.1} dB", entry.name);
    }
}

/// The U-Nets whose SE blocks average over the whole input (Real-CUGAN x2, x3, x4 and
/// waifu2x CUNet): tiled, the core runs them in stages and shares every SE point's mean
/// across tiles, so tiles equal one pass. A small crop (several tiles per axis) keeps
/// the staged runs short; its sides keep the tiles' stride phase (side + 2 x border is
/// a multiple of the tile multiple).
#[test]
fn global_pooling_models_tile_without_seams() {
    // Auto takes OpenVINO where its libraries load; the stages' extra inputs go through
    // ONNX Runtime's side of the seam too.
    let runs = [
        ("realcugan-se-x2", Engine::Auto),
        ("realcugan-se-x2", Engine::Ort),
        ("realcugan-pro-x3", Engine::Auto),
        ("realcugan-se-x4", Engine::Auto),
        ("waifu2x-cunet-x2", Engine::Auto),
        ("waifu2x-cunet-x1-denoise2", Engine::Auto),
    ];
    for (name, engine) in runs {
        let entry = Catalog::builtin().require(name).unwrap();
        assert!(entry.global_pooling, "{name}");
        let tile = 2 * (entry.overlap + entry.border) + 48;
        let db = tiled_vs_untiled_on(name, (120, 88), tile, engine);
        assert!(db >= 50.0, "{name} ({}): tiled vs untiled {db:.1} dB", engine.name());
    }
}
