//! int8 models in the cache: `ROOT/<name>.int8.onnx` next to the fp32 `<name>.onnx`,
//! with a manifest `ROOT/<name>.int8.json` naming what it was built from (the fp32
//! file's sha256, the calibration set, the QDQ writer's version) and its own sha256.
//! Building one (calibration) needs an engine and lives in the core
//! (`aiupscale_core::quantize`); this module stores, checks and supplies the
//! calibration photos.

use std::fs;
use std::io;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;

use serde::{Deserialize, Serialize};

use crate::cache::{check_file_name, sha256_file, sha256_hex, write_atomically};
use crate::catalog::{Package, Registry, SourceFile};
use crate::fetch::{extract_verified, FetchOptions};
use crate::quantize::QDQ_VERSION;
use crate::{ModelCache, ModelEntry, ModelError};

/// The calibration photos: real photos in a wheel that pip fetches like the model
/// packages, each under a licence that lets anyone use it (public domain or CC0, per
/// scikit-image's `skimage/data/_fetchers.py`), and none of which an evaluation uses
/// (quality-eval and its tuning split, the precision gate, parity, the tests). Their
/// content never leaves the user's cache: only activation ranges derived from them end
/// up in the int8 model. A platform wheel, pinned by file name (the fetch asks pip for
/// its tags): scikit-image ships no pure one.
pub fn calibration_package() -> Package {
    Package {
        name: "scikit-image".into(),
        registry: Registry::Pypi,
        version: "0.25.2".into(),
        archive: "scikit_image-0.25.2-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl".into(),
        archive_sha256: "24cc986e1f4187a12aa319f777b36008764e856e5013666a4a83f8df083c2641".into(),
        licence: "photos: public domain (rocket.jpg: SpaceX; clock_motion.png: Stefan van der Walt) and CC0 \
                  (brick.png, gravel.png: CC0Textures); package BSD-3-Clause"
            .into(),
        attribution: "sample photos of scikit-image (https://scikit-image.org): rocket, clock_motion, brick, gravel"
            .into(),
    }
}

/// The photos of [`calibration_package`] with their sha256: one colour photo (a launch
/// scene), one gray indoor photo and two gray texture photos (brick, gravel). Each
/// gives the same number of tiles.
pub fn calibration_files() -> Vec<SourceFile> {
    let file = |path: &str, sha256: &str| SourceFile { path: path.into(), sha256: sha256.into() };
    vec![
        file("skimage/data/rocket.jpg", "c2dd0de7c538df8d111e479619b129464d0269d0ae5fd18ca91d33a7fdfea95c"),
        file("skimage/data/clock_motion.png", "f029226b28b642e80113d86622e9b215ee067a0966feaf5e60604a1e05733955"),
        file("skimage/data/brick.png", "7966caf324f6ba843118d98f7a07746d22f6a343430add0233eca5f6eaaa8fcf"),
        file("skimage/data/gravel.png", "c48615b451bf1e606fbd72c0aa9f8cc0f068ab7111ef7d93bb9b0f2586440c12"),
    ]
}

/// How the calibration was done, recorded in the manifest (a change rebuilds).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    pub package: String,
    pub package_version: String,
    pub archive_sha256: String,
    pub files: Vec<crate::SourceRecord>,
    /// Tiles run, their side in input pixels, and the percentile kept of each tail.
    pub tiles: usize,
    pub tile_side: u32,
    pub percentile: f64,
    /// Conv nodes quantized, of all in the graph.
    pub quantized_convs: usize,
}

/// The manifest `ROOT/<name>.int8.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Int8Manifest {
    pub model: String,
    /// sha256 of the fp32 `.onnx` it was calibrated and written from.
    pub fp32_sha256: String,
    pub qdq_version: u32,
    pub calibration: Calibration,
    pub onnx_size: u64,
    pub onnx_sha256: String,
}

impl ModelCache {
    pub fn int8_path(&self, name: &str) -> PathBuf {
        self.root().join(format!("{name}.int8.onnx"))
    }

    fn int8_manifest_path(&self, name: &str) -> PathBuf {
        self.root().join(format!("{name}.int8.json"))
    }

    /// The int8 model of `entry` if the cache holds one built from the current fp32
    /// model by this writer version, and intact (hashed: these files are small).
    /// `Err(NotQuantized)` when missing or stale.
    pub fn locate_int8(&self, entry: &ModelEntry) -> Result<(PathBuf, Int8Manifest), ModelError> {
        check_file_name(&entry.name)?;
        let (_, fp32) = self.locate_with_manifest(entry)?;
        let path = self.int8_path(&entry.name);
        let missing = || ModelError::NotQuantized { name: entry.name.clone(), path: path.clone() };
        let manifest_path = self.int8_manifest_path(&entry.name);
        let text = match fs::read_to_string(&manifest_path) {
            Ok(text) => text,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(missing()),
            Err(source) => return Err(ModelError::Io { path: manifest_path, source }),
        };
        let Ok(manifest) = serde_json::from_str::<Int8Manifest>(&text) else { return Err(missing()) };
        let stale = manifest.model != entry.name
            || manifest.fp32_sha256 != fp32.onnx_sha256
            || manifest.qdq_version != QDQ_VERSION
            || !same_calibration_set(&manifest.calibration);
        if stale || !path.is_file() {
            return Err(missing());
        }
        let actual = sha256_file(&path)?;
        if actual != manifest.onnx_sha256 {
            return Err(ModelError::CorruptCacheEntry {
                name: format!("{} (int8)", entry.name),
                reason: format!(
                    "sha256 of {} is {actual}, the manifest expects {}",
                    path.display(),
                    manifest.onnx_sha256
                ),
            });
        }
        Ok((path, manifest))
    }

    /// Installs a built int8 model (manifest removed first, written last).
    pub fn install_int8(
        &self,
        entry: &ModelEntry,
        onnx: &[u8],
        calibration: Calibration,
    ) -> Result<(PathBuf, Int8Manifest), ModelError> {
        check_file_name(&entry.name)?;
        let (_, fp32) = self.locate_with_manifest(entry)?;
        self.with_lock(&format!("{}.int8", entry.name), || {
            let manifest_path = self.int8_manifest_path(&entry.name);
            match fs::remove_file(&manifest_path) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => {
                    return Err(crate::cache::write_err(&manifest_path, e));
                }
                _ => {}
            }
            let path = self.int8_path(&entry.name);
            write_atomically(self.root(), &path, onnx)?;
            let manifest = Int8Manifest {
                model: entry.name.clone(),
                fp32_sha256: fp32.onnx_sha256.clone(),
                qdq_version: QDQ_VERSION,
                calibration,
                onnx_size: onnx.len() as u64,
                onnx_sha256: sha256_hex(onnx),
            };
            let json = serde_json::to_vec_pretty(&manifest)
                .map_err(|e| ModelError::Io { path: manifest_path.clone(), source: io::Error::other(e) })?;
            write_atomically(self.root(), &manifest_path, &json)?;
            Ok((path, manifest))
        })
    }

    /// The calibration photos' bytes (path in the archive, content), each checked
    /// against its sha256; the wheel is fetched into `ROOT/downloads/` like a model
    /// package (or taken from `options.offline_archive_dir`).
    pub fn calibration_photos(
        &self,
        options: &FetchOptions,
        cancel: &AtomicBool,
    ) -> Result<Vec<(String, Vec<u8>)>, ModelError> {
        let package = calibration_package();
        self.create_root()?;
        let (archive, _) = self.obtain_archive(&package, options, cancel)?;
        let files = calibration_files();
        let bytes = extract_verified(&archive, &package, &files)?;
        Ok(files.into_iter().map(|f| f.path).zip(bytes).collect())
    }
}

/// The calibration set a manifest names is the one this build uses.
fn same_calibration_set(c: &Calibration) -> bool {
    let package = calibration_package();
    let files: Vec<(&str, &str)> = c.files.iter().map(|f| (f.path.as_str(), f.sha256.as_str())).collect();
    let expected = calibration_files();
    c.package == package.name
        && c.package_version == package.version
        && c.archive_sha256 == package.archive_sha256
        && files == expected.iter().map(|f| (f.path.as_str(), f.sha256.as_str())).collect::<Vec<_>>()
}
