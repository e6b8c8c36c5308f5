//! What the fuzz targets share: one process-wide scratch folder and one upscaler on a
//! tiny fixture model (built once; loading a session per input would dominate the run).

use std::{
    path::{Path, PathBuf},
    sync::{Mutex, OnceLock},
};

use aiupscale_core::{ModelSource, SessionConfig, Upscaler, UpscalerConfig};
use aiupscale_models::tiny::tiny_model;

/// Inputs whose header declares more pixels are skipped: the fuzzer should explore the
/// decoders and the pixel paths, not how long large images take.
pub const MAX_PIXELS: u64 = 128 * 128;

/// A folder for the whole process, removed by the OS's tmp cleaning (libFuzzer exits
/// with `_exit`, so no destructor would run anyway).
pub fn scratch_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| tempfile::Builder::new().prefix("aiupscale-fuzz-").tempdir().expect("a temporary folder").keep())
}

/// A new upscaler on the exact nearest-neighbour x2 fixture, one inference thread.
pub fn new_tiny_upscaler() -> Upscaler {
    let path = scratch_dir().join("nearest_x2.onnx");
    if !path.exists() {
        std::fs::write(&path, tiny_model("nearest_x2").expect("a listed fixture").to_bytes()).expect("model written");
    }
    let config = UpscalerConfig {
        session: SessionConfig { threads: 1, ..SessionConfig::default() },
        ..UpscalerConfig::default()
    };
    Upscaler::new(&ModelSource::File(path), config).expect("the tiny model loads")
}

/// The process's shared [`new_tiny_upscaler`].
pub fn tiny_upscaler() -> &'static Mutex<Upscaler> {
    static UPSCALER: OnceLock<Mutex<Upscaler>> = OnceLock::new();
    UPSCALER.get_or_init(|| Mutex::new(new_tiny_upscaler()))
}
