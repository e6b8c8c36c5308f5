//! Our int8 pipeline: calibration of a catalog model's fp32 ONNX on real
//! low-resolution photo tiles with ONNX Runtime (activation ranges per tensor, from
//! a histogram percentile), then the QDQ writer of `aiupscale_models::quantize`, and
//! the result stored in the model cache next to the fp32 file. OpenVINO runs it.

use std::{
    collections::BTreeMap,
    path::PathBuf,
    sync::atomic::{AtomicBool, Ordering},
    time::{Duration, Instant},
};

use aiupscale_models::{
    int8::{calibration_files, calibration_package, Calibration},
    quantize::{self, Plan, Range},
    FetchOptions, ModelCache, ModelEntry, ModelError, SourceRecord,
};
use ort::{session::Session, value::TensorRef};

pub use aiupscale_models::quantize::KeepFloat;

use crate::{
    engine::{auto_precision, Precision},
    runtime::{environment, SessionConfig},
    CoreError, ModelLoadError, Result,
};

/// The share of each tail of an activation's distribution left out of its range
/// (outliers would waste the 256 levels); 1e-5 as in ONNX Runtime's Percentile.
pub const TAIL: f64 = 1e-5;
const BINS: usize = 2048;

/// What [`ensure_int8`] does, for a progress line.
#[derive(Debug)]
pub enum Int8Event<'a> {
    /// No valid int8 model in the cache: calibration starts.
    Building { model: &'a str, tiles: usize, tile_side: u32 },
    /// Installed.
    Built { model: &'a str, path: &'a std::path::Path, elapsed: Duration },
}

/// Whether `config` makes `model` run its int8 file: int8 asked for, or `auto` where
/// the gate passed int8, on an engine that can run it (not ONNX Runtime).
pub fn wants_int8(model: &str, config: &SessionConfig) -> bool {
    let precision = match config.precision {
        Precision::Auto => auto_precision(model),
        p => p,
    };
    precision == Precision::Int8 && crate::engine::Backend::picks_openvino(config)
}

/// Which convs stay float, per model: measured in tests/precision_gate.rs.
fn keep_float(_entry: &ModelEntry) -> KeepFloat {
    KeepFloat::default()
}

/// Tiles per model: heavy models (x4plus) calibrate on fewer, smaller tiles.
fn tile_plan(entry: &ModelEntry) -> (usize, u32) {
    if entry.flops_per_pixel > 5e6 {
        (12, 64)
    } else {
        (24, 96)
    }
}

/// The int8 model of `entry`, built on first use when `fetch` allows it (the
/// calibration photos may need a download; `None` = offline: the cache's
/// `NotQuantized` error, which names `aiupscale models quantize`). The fp32 model
/// must be in the cache. Stops with `Cancelled` soon after `cancel` is set.
pub fn ensure_int8(
    cache: &ModelCache,
    entry: &ModelEntry,
    fetch: Option<&FetchOptions>,
    threads: usize,
    cancel: &AtomicBool,
    notify: &mut dyn FnMut(Int8Event<'_>),
) -> Result<PathBuf> {
    match (cache.locate_int8(entry), fetch) {
        (Ok((path, _)), _) => Ok(path),
        (Err(ModelError::NotQuantized { .. } | ModelError::CorruptCacheEntry { .. }), Some(options)) => {
            build_int8(cache, entry, options, threads, cancel, notify)
        }
        (Err(e), _) => Err(e.into()),
    }
}

/// Calibrates and writes the int8 model of `entry` (replacing any), and installs it.
pub fn build_int8(
    cache: &ModelCache,
    entry: &ModelEntry,
    options: &FetchOptions,
    threads: usize,
    cancel: &AtomicBool,
    notify: &mut dyn FnMut(Int8Event<'_>),
) -> Result<PathBuf> {
    let start = Instant::now();
    let fp32_path = cache.locate_verified(entry)?;
    let (count, side) = tile_plan(entry);
    notify(Int8Event::Building { model: &entry.name, tiles: count, tile_side: side });
    let photos = cache.calibration_photos(options, cancel)?;
    let tiles = calibration_tiles(&photos, count, side)?;
    let name = &entry.name;
    let bytes = std::fs::read(&fp32_path).map_err(|source| ModelError::Io { path: fp32_path.clone(), source })?;
    let (qdq, quantized_convs) = quantize_onnx(name, &bytes, keep_float(entry), &tiles, threads, cancel)?;
    if cancel.load(Ordering::Relaxed) {
        return Err(CoreError::Cancelled);
    }
    let package = calibration_package();
    let calibration = Calibration {
        package: package.name,
        package_version: package.version,
        archive_sha256: package.archive_sha256,
        files: calibration_files().into_iter().map(|f| SourceRecord { path: f.path, sha256: f.sha256 }).collect(),
        tiles: tiles.len(),
        tile_side: side,
        percentile: 100.0 * (1.0 - TAIL),
        quantized_convs,
    };
    let (path, _) = cache.install_int8(entry, &qdq, calibration)?;
    notify(Int8Event::Built { model: name, path: &path, elapsed: start.elapsed() });
    Ok(path)
}

/// The QDQ model of an fp32 ONNX file's bytes, calibrated on `tiles` (planar RGB,
/// square), and how many convs it quantized.
pub fn quantize_onnx(
    name: &str,
    fp32: &[u8],
    keep: KeepFloat,
    tiles: &[Vec<f32>],
    threads: usize,
    cancel: &AtomicBool,
) -> Result<(Vec<u8>, usize)> {
    let model = quantize::decode(name, fp32)?;
    let plan = quantize::plan(name, &model, keep)?;
    let observed = quantize::with_observed_outputs(&model, &plan).to_bytes();
    let ranges = calibrate(name, &observed, &plan, tiles, threads, cancel)?;
    Ok((quantize::write_qdq(name, &model, &plan, &ranges)?.to_bytes(), plan.convs.len()))
}

/// Planar RGB tiles in 0..1 of `side`x`side`, `count` in all, spread over the photos
/// at half their size (a 2x2 box: closer to the low-resolution inputs an upscaler
/// gets than the photos' own sharp, JPEG-blocked pixels).
pub fn calibration_tiles(photos: &[(String, Vec<u8>)], count: usize, side: u32) -> Result<Vec<Vec<f32>>> {
    let mut tiles = Vec::with_capacity(count);
    let per_photo = count.div_ceil(photos.len().max(1));
    for (path, bytes) in photos {
        let rgb = image::load_from_memory(bytes)
            .map_err(|e| ModelError::Quantize { model: "calibration".into(), reason: format!("{path}: {e}") })?
            .to_rgb8();
        let (w, h) = (rgb.width() / 2, rgb.height() / 2);
        if w < side || h < side {
            return Err(ModelError::Quantize {
                model: "calibration".into(),
                reason: format!("{path} is {w}x{h} at half size, smaller than a {side}x{side} tile"),
            }
            .into());
        }
        let half = |x: u32, y: u32, c: usize| {
            let p = |dx, dy| f32::from(rgb.get_pixel(2 * x + dx, 2 * y + dy)[c]);
            (p(0, 0) + p(1, 0) + p(0, 1) + p(1, 1)) / (4.0 * 255.0)
        };
        // A grid of positions (columns x rows close to the photo's aspect).
        let cols = ((per_photo as f64 * f64::from(w) / f64::from(h)).sqrt().ceil() as usize).max(1);
        let rows = per_photo.div_ceil(cols);
        for k in 0..per_photo {
            let (i, j) = (k % cols, k / cols);
            let x0 = ((w - side) as usize * (2 * i + 1) / (2 * cols)) as u32;
            let y0 = ((h - side) as usize * (2 * j + 1) / (2 * rows)) as u32;
            let mut tile = Vec::with_capacity(3 * (side * side) as usize);
            for c in 0..3 {
                for y in y0..y0 + side {
                    for x in x0..x0 + side {
                        tile.push(half(x, y, c));
                    }
                }
            }
            tiles.push(tile);
        }
    }
    tiles.truncate(count);
    Ok(tiles)
}

/// Per observed tensor: min/max over all tiles (first pass), then a histogram over
/// that span (second pass) whose [`TAIL`] quantiles are the range.
fn calibrate(
    name: &str,
    onnx: &[u8],
    plan: &Plan,
    tiles: &[Vec<f32>],
    threads: usize,
    cancel: &AtomicBool,
) -> Result<BTreeMap<String, Range>> {
    let load_err = |e: ort::Error| {
        CoreError::Model(ModelLoadError::Load { model: name.to_owned(), engine: "ONNX Runtime", source: e.into() })
    };
    let mut builder = Session::builder(environment()?).map_err(load_err)?;
    if threads > 0 {
        builder = builder.with_intra_threads(threads).map_err(ort::Error::from).map_err(load_err)?;
    }
    let mut session = builder.commit_from_memory(onnx).map_err(load_err)?;
    let n = plan.observed.len();
    let mut span = vec![(f32::INFINITY, f32::NEG_INFINITY); n];
    let mut hist = vec![vec![0u64; BINS]; n];
    for pass in 0..2 {
        for tile in tiles {
            if cancel.load(Ordering::Relaxed) {
                return Err(CoreError::Cancelled);
            }
            let side = ((tile.len() / 3) as f64).sqrt() as usize;
            let input = TensorRef::from_array_view(([1usize, 3, side, side], tile.as_slice())).map_err(load_err)?;
            let outputs = session.run(ort::inputs!["input" => input]).map_err(load_err)?;
            for (k, tensor) in plan.observed.iter().enumerate() {
                let (_, data) = outputs[tensor.as_str()].try_extract_tensor::<f32>().map_err(load_err)?;
                if pass == 0 {
                    let (lo, hi) = &mut span[k];
                    for &v in data {
                        *lo = lo.min(v);
                        *hi = hi.max(v);
                    }
                } else {
                    let (lo, hi) = span[k];
                    let step = (hi - lo).max(f32::MIN_POSITIVE) / BINS as f32;
                    for &v in data {
                        hist[k][(((v - lo) / step) as usize).min(BINS - 1)] += 1;
                    }
                }
            }
        }
    }
    Ok(plan
        .observed
        .iter()
        .enumerate()
        .map(|(k, tensor)| (tensor.clone(), percentile_range(&hist[k], span[k])))
        .collect())
}

/// The [`TAIL`] and 1 - [`TAIL`] quantiles of a histogram over `lo..hi`.
fn percentile_range(hist: &[u64], (lo, hi): (f32, f32)) -> Range {
    let total: u64 = hist.iter().sum();
    let step = (hi - lo) / hist.len() as f32;
    let cut = (total as f64 * TAIL) as u64;
    let (mut below, mut first) = (0u64, 0usize);
    while first + 1 < hist.len() && below + hist[first] <= cut {
        below += hist[first];
        first += 1;
    }
    let (mut above, mut last) = (0u64, hist.len() - 1);
    while last > first && above + hist[last] <= cut {
        above += hist[last];
        last -= 1;
    }
    Range { min: lo + step * first as f32, max: lo + step * (last + 1) as f32 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentile_drops_only_the_thin_tails() {
        let mut hist = vec![0u64; 100];
        hist[0] = 1; // one outlier low
        hist[10..90].iter_mut().for_each(|h| *h = 10_000);
        hist[99] = 2; // two outliers high
        let r = percentile_range(&hist, (0.0, 100.0));
        assert_eq!((r.min, r.max), (10.0, 90.0));
        let r = percentile_range(&[5; 4], (-2.0, 2.0));
        assert_eq!((r.min, r.max), (-2.0, 2.0));
    }
}
