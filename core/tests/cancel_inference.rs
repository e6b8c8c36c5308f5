//! A cancel raised while a tile runs stops the engine inside that tile: Real-ESRGAN
//! x4plus on one ~200x200 tile takes 10-40 s here; the run must return
//! `CoreError::Cancelled` within a second of the flag, on each engine.

use std::{
    sync::atomic::{AtomicBool, AtomicUsize, Ordering},
    time::{Duration, Instant},
};

use aiupscale_core::{
    models::{Catalog, FetchOptions, ModelCache},
    Control, CoreError, Engine, Image, ModelSource, Precision, SessionConfig, Target, Upscaler, UpscalerConfig,
};

const MODEL: &str = "realesrgan-x4plus";

fn photo_crop(w: u32, h: u32) -> Image {
    aiupscale_testkit::photo_crop("astronaut.png", 150, 60, w, h)
}

/// Seconds from raising the flag to the run's return, with the run's result.
fn cancel_latency(engine: Engine) -> (Duration, Result<Image, CoreError>, usize) {
    let entry = Catalog::builtin().require(MODEL).unwrap().clone();
    ModelCache::from_env().unwrap().fetch(&entry, &FetchOptions::default()).unwrap();
    let config = UpscalerConfig {
        session: SessionConfig { engine, precision: Precision::Fp32, threads: 2, ..SessionConfig::default() },
        ..UpscalerConfig::default()
    };
    let mut up = Upscaler::new(&ModelSource::Catalog(MODEL.into()), config).unwrap();
    assert_eq!(up.inference_engine(), Some(engine));
    let src = photo_crop(200, 200);
    let cancel = AtomicBool::new(false);
    let tiles_done = AtomicUsize::new(0);
    let mut progress = |_: f32| {
        tiles_done.fetch_add(1, Ordering::Relaxed);
    };
    let raised = std::sync::Mutex::new(None);
    let result = std::thread::scope(|scope| {
        scope.spawn(|| {
            std::thread::sleep(Duration::from_millis(1500));
            *raised.lock().unwrap() = Some(Instant::now());
            cancel.store(true, Ordering::Relaxed);
        });
        up.upscale_to(
            &src.as_ref(),
            Target::Factor(4.0),
            &mut Control { progress: Some(&mut progress), cancel: Some(&cancel) },
        )
    });
    let returned = Instant::now();
    let raised = raised.into_inner().unwrap().expect("the flag was raised");
    (returned.saturating_duration_since(raised), result, tiles_done.into_inner())
}

fn check(engine: Engine) {
    let (latency, result, tiles) = cancel_latency(engine);
    println!("{engine:?}: cancelled after {latency:?}, {tiles} tiles done");
    assert!(matches!(result, Err(CoreError::Cancelled)), "{engine:?}: {:?}", result.map(|_| "finished"));
    assert_eq!(tiles, 0, "{engine:?}: the cancel must land inside the first tile");
    assert!(latency < Duration::from_secs(1), "{engine:?}: stopped {latency:?} after the cancel");
}

/// One test for both engines: run side by side, each would slow the other's reaction.
#[test]
fn cancel_stops_each_engine_inside_a_tile() {
    check(Engine::Ort);
    check(Engine::OpenVino);
}
