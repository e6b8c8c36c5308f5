//! The local model cache: one converted `ROOT/<name>.onnx` per model plus a manifest
//! `ROOT/<name>.json` that records where it came from and what it must hash to.
//!
//! Writes are atomic (temp file in the same folder, fsync, rename) and the manifest is
//! written last and removed first, so an interrupted fetch never leaves an entry that
//! [`ModelCache::locate`] accepts. Fetching itself lives in [`crate::fetch`].

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::UNIX_EPOCH;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::{Catalog, ModelEntry, ModelError, Package};

/// Version of our converters' output. Bump it whenever a converter change alters the
/// ONNX it writes: every cached entry with another version then reads as damaged and
/// `aiupscale models fetch` rebuilds it.
pub const CONVERTER_VERSION: u32 = 6;

/// Environment variable naming the cache root (overrides the XDG location).
pub const MODEL_DIR_ENV: &str = "AIUPSCALE_MODEL_DIR";

/// One source file of a cached model, as it was verified when the model was built.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceRecord {
    pub path: String,
    pub sha256: String,
}

/// The manifest `ROOT/<name>.json` next to each cached `.onnx`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub model: String,
    pub package: String,
    pub package_version: String,
    pub archive_sha256: String,
    pub sources: Vec<SourceRecord>,
    pub onnx_size: u64,
    pub onnx_sha256: String,
    /// Modification time of the `.onnx` right after it was written, in nanoseconds
    /// since the Unix epoch; `None` where the file system reports none.
    pub onnx_mtime_ns: Option<u64>,
    pub converter_version: u32,
    pub flops_per_pixel: f64,
}

/// The result of a full [`ModelCache::verify`].
#[derive(Debug, Clone, PartialEq)]
pub struct VerifyReport {
    pub path: PathBuf,
    pub manifest: Manifest,
}

/// How thoroughly [`ModelCache::check`] looks at the `.onnx`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Depth {
    /// Size always; sha256 only when the mtime differs from the manifest's.
    Quick,
    /// Size always; sha256 unless this process already hashed the file as it is now.
    OncePerProcess,
    /// Size and sha256.
    Full,
}

/// The on-disk model cache. Cheap to construct; holds no open files.
#[derive(Debug, Clone)]
pub struct ModelCache {
    root: PathBuf,
    catalog: Catalog,
}

impl ModelCache {
    /// The cache at `AIUPSCALE_MODEL_DIR`, else `$XDG_CACHE_HOME/aiupscale/models`,
    /// else `~/.cache/aiupscale/models`, using the built-in catalog.
    pub fn from_env() -> Result<ModelCache, ModelError> {
        let home = std::env::var_os("HOME").or_else(|| std::env::var_os("USERPROFILE"));
        root_from(std::env::var_os(MODEL_DIR_ENV), std::env::var_os("XDG_CACHE_HOME"), home)
            .map(ModelCache::at)
            .ok_or(ModelError::NoCacheDir)
    }

    /// The cache rooted at `root` (created on the first fetch), with the built-in catalog.
    pub fn at(root: impl Into<PathBuf>) -> ModelCache {
        ModelCache { root: root.into(), catalog: Catalog::builtin().clone() }
    }

    /// Uses `catalog` to resolve packages instead of the built-in one.
    pub fn with_catalog(mut self, catalog: Catalog) -> ModelCache {
        self.catalog = catalog;
        self
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// Where the converted model of `name` lives (whether or not it is fetched).
    pub fn onnx_path(&self, name: &str) -> PathBuf {
        self.root.join(format!("{name}.onnx"))
    }

    pub fn manifest_path(&self, name: &str) -> PathBuf {
        self.root.join(format!("{name}.json"))
    }

    /// The path of a fetched, intact model; call it every time a model is loaded.
    ///
    /// Checks the manifest against the catalog and [`CONVERTER_VERSION`], and the
    /// `.onnx` size against the manifest. The sha256 of the `.onnx` is recomputed only
    /// when its mtime differs from the one recorded at write time (the file was
    /// replaced, copied or touched), so the usual load costs two `stat`s and a small
    /// read instead of hashing tens of MB. In-place damage that keeps size and mtime
    /// (bit rot) is caught by [`ModelCache::verify`], which always hashes, and by
    /// [`ModelCache::locate_verified`], which hashes once per process: use that one
    /// before building a session from the file.
    pub fn locate(&self, entry: &ModelEntry) -> Result<PathBuf, ModelError> {
        self.check(entry, Depth::Quick).map(|(path, _)| path)
    }

    /// Like [`ModelCache::locate`], and the `.onnx` is hashed in full the first time this
    /// process asks for it (again if it changed since): call it right before building an
    /// inference session, so damage that keeps size and mtime (one flipped bit in a
    /// weight gives garbage output, not a load error) fails here instead. Hashing costs
    /// a fraction of what loading the model costs.
    pub fn locate_verified(&self, entry: &ModelEntry) -> Result<PathBuf, ModelError> {
        self.check(entry, Depth::OncePerProcess).map(|(path, _)| path)
    }

    /// Like [`ModelCache::locate`], also returning the manifest (e.g. for `flops_per_pixel`).
    pub fn locate_with_manifest(&self, entry: &ModelEntry) -> Result<(PathBuf, Manifest), ModelError> {
        self.check(entry, Depth::Quick)
    }

    /// Full check of one entry, hashing the whole `.onnx`.
    pub fn verify(&self, entry: &ModelEntry) -> Result<VerifyReport, ModelError> {
        let (path, manifest) = self.check(entry, Depth::Full)?;
        Ok(VerifyReport { path, manifest })
    }

    /// Removes a model from the cache (manifest first); `Ok(false)` if nothing was there.
    pub fn remove(&self, entry: &ModelEntry) -> Result<bool, ModelError> {
        check_file_name(&entry.name)?;
        if !self.root.is_dir() {
            return Ok(false);
        }
        self.with_lock(&entry.name, || {
            let manifest = remove_if_present(&self.manifest_path(&entry.name))?;
            let onnx = remove_if_present(&self.onnx_path(&entry.name))?;
            Ok(manifest || onnx)
        })
    }

    pub(crate) fn package(&self, entry: &ModelEntry) -> Result<&Package, ModelError> {
        self.catalog.package(&entry.package).ok_or_else(|| ModelError::CatalogInvalid {
            reason: format!("model {} names package {:?}, which this catalog does not list", entry.name, entry.package),
        })
    }

    pub(crate) fn check(&self, entry: &ModelEntry, depth: Depth) -> Result<(PathBuf, Manifest), ModelError> {
        check_file_name(&entry.name)?;
        let package = self.package(entry)?;
        let name = &entry.name;
        let path = self.onnx_path(name);
        let meta = match fs::metadata(&path) {
            Ok(meta) => meta,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(ModelError::NotFetched { name: name.clone(), path });
            }
            Err(source) => return Err(ModelError::Io { path, source }),
        };
        let corrupt = |reason: String| ModelError::CorruptCacheEntry { name: name.clone(), reason };
        let manifest_path = self.manifest_path(name);
        let text = match fs::read_to_string(&manifest_path) {
            Ok(text) => text,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(corrupt(format!("manifest {} is missing", manifest_path.display())));
            }
            // Damaged bytes, not a failing disk: the fix is a fetch, like any damage.
            Err(e) if e.kind() == io::ErrorKind::InvalidData => {
                return Err(corrupt(format!("manifest {} is not UTF-8 text", manifest_path.display())));
            }
            Err(source) => return Err(ModelError::Io { path: manifest_path, source }),
        };
        let manifest: Manifest = serde_json::from_str(&text)
            .map_err(|e| corrupt(format!("manifest {} is unreadable: {e}", manifest_path.display())))?;
        if let Some(reason) = manifest_mismatch(&manifest, entry, package) {
            return Err(corrupt(reason));
        }
        if meta.len() != manifest.onnx_size {
            return Err(corrupt(format!(
                "{} is {} bytes, the manifest expects {}",
                path.display(),
                meta.len(),
                manifest.onnx_size
            )));
        }
        let mtime = mtime_ns(&meta);
        let mtime_unchanged = mtime.is_some() && mtime == manifest.onnx_mtime_ns;
        let stamp = FileStamp::of(&meta);
        let hash = match depth {
            Depth::Full => true,
            Depth::Quick => !mtime_unchanged,
            Depth::OncePerProcess => !hashed_before(&path, &stamp, &manifest.onnx_sha256),
        };
        if hash {
            let actual = sha256_file(&path)?;
            if actual != manifest.onnx_sha256 {
                return Err(corrupt(format!(
                    "sha256 of {} is {actual}, the manifest expects {}",
                    path.display(),
                    manifest.onnx_sha256
                )));
            }
            if !mtime_unchanged && mtime.is_some() {
                // The content is right; record the new mtime so the next load skips the
                // hash. Best effort: a read-only cache still works, it just hashes.
                self.refresh_mtime(&manifest, &text, mtime);
            }
            remember_hashed(&path, stamp, &manifest.onnx_sha256);
        }
        Ok((path, manifest))
    }

    /// Installs converted bytes as the entry for `entry` (the sources were verified by
    /// the caller, who holds the model's lock). Manifest removed first, written last.
    pub(crate) fn install(
        &self,
        entry: &ModelEntry,
        onnx: &[u8],
        flops_per_pixel: f64,
    ) -> Result<Manifest, ModelError> {
        check_file_name(&entry.name)?;
        let package = self.package(entry)?;
        if !flops_per_pixel.is_finite() || flops_per_pixel < 0.0 {
            // JSON cannot hold NaN/inf; refusing here beats a manifest that never parses.
            return Err(ModelError::CatalogInvalid {
                reason: format!(
                    "converter reported flops_per_pixel {flops_per_pixel} for {}, expected a finite value >= 0",
                    entry.name
                ),
            });
        }
        self.create_root()?;
        remove_if_present(&self.manifest_path(&entry.name))?;
        let path = self.onnx_path(&entry.name);
        write_atomically(&self.root, &path, onnx)?;
        let meta = fs::metadata(&path).map_err(|source| ModelError::Io { path: path.clone(), source })?;
        let manifest = Manifest {
            model: entry.name.clone(),
            package: package.name.clone(),
            package_version: package.version.clone(),
            archive_sha256: package.archive_sha256.clone(),
            sources: source_records(entry),
            onnx_size: meta.len(),
            onnx_sha256: sha256_hex(onnx),
            onnx_mtime_ns: mtime_ns(&meta),
            converter_version: CONVERTER_VERSION,
            flops_per_pixel,
        };
        self.write_manifest(&manifest)?;
        Ok(manifest)
    }

    pub(crate) fn write_manifest(&self, manifest: &Manifest) -> Result<(), ModelError> {
        let path = self.manifest_path(&manifest.model);
        let json = serde_json::to_vec_pretty(manifest).map_err(|e| ModelError::Io {
            path: path.clone(),
            source: io::Error::new(io::ErrorKind::InvalidData, e),
        })?;
        write_atomically(&self.root, &path, &json)
    }

    pub(crate) fn create_root(&self) -> Result<(), ModelError> {
        fs::create_dir_all(&self.root).map_err(|source| write_err(&self.root, source))
    }

    /// Rewrites the manifest with the `.onnx`'s new mtime, unless a fetch holds the lock
    /// or changed the entry since `text` was read (it would be its manifest we clobber).
    fn refresh_mtime(&self, manifest: &Manifest, text: &str, mtime: Option<u64>) {
        let name = &manifest.model;
        let _ = self.try_with_lock(name, || {
            let unchanged = fs::read_to_string(self.manifest_path(name)).is_ok_and(|now| now == text)
                && fs::metadata(self.onnx_path(name)).is_ok_and(|m| mtime_ns(&m) == mtime);
            if unchanged {
                self.write_manifest(&Manifest { onnx_mtime_ns: mtime, ..manifest.clone() })?;
            }
            Ok(())
        });
    }

    /// Runs `f` holding an exclusive OS lock on `ROOT/locks/<key>.lock`. The OS drops
    /// the lock when a process dies, so a killed fetch never wedges the next one.
    pub(crate) fn with_lock<T>(&self, key: &str, f: impl FnOnce() -> Result<T, ModelError>) -> Result<T, ModelError> {
        let (path, mut lock) = self.lock_file(key)?;
        let _guard = lock.write().map_err(|source| ModelError::Io { path, source })?;
        f()
    }

    /// Like [`ModelCache::with_lock`] without waiting: `Ok(None)` if someone holds it.
    pub(crate) fn try_with_lock<T>(
        &self,
        key: &str,
        f: impl FnOnce() -> Result<T, ModelError>,
    ) -> Result<Option<T>, ModelError> {
        let (path, mut lock) = self.lock_file(key)?;
        let guard = match lock.try_write() {
            Ok(guard) => guard,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(None),
            Err(source) => return Err(ModelError::Io { path, source }),
        };
        let out = f();
        drop(guard);
        out.map(Some)
    }

    pub(crate) fn lock_file(&self, key: &str) -> Result<(PathBuf, fd_lock::RwLock<File>), ModelError> {
        let dir = self.root.join("locks");
        fs::create_dir_all(&dir).map_err(|source| write_err(&dir, source))?;
        let path = dir.join(format!("{key}.lock"));
        let file =
            OpenOptions::new().create(true).truncate(false).write(true).open(&path).map_err(|e| write_err(&path, e))?;
        Ok((path, fd_lock::RwLock::new(file)))
    }
}

/// The cache root from the three environment values; empty values count as unset and a
/// relative `XDG_CACHE_HOME` is ignored, as the XDG spec asks.
pub(crate) fn root_from(
    model_dir: Option<std::ffi::OsString>,
    xdg_cache: Option<std::ffi::OsString>,
    home: Option<std::ffi::OsString>,
) -> Option<PathBuf> {
    let set = |v: Option<std::ffi::OsString>| v.filter(|v| !v.is_empty()).map(PathBuf::from);
    if let Some(dir) = set(model_dir) {
        return Some(dir);
    }
    if let Some(xdg) = set(xdg_cache).filter(|p| p.is_absolute()) {
        return Some(xdg.join("aiupscale").join("models"));
    }
    set(home).map(|h| h.join(".cache").join("aiupscale").join("models"))
}

/// Why a manifest does not belong to this catalog entry, if it does not.
fn manifest_mismatch(m: &Manifest, entry: &ModelEntry, package: &Package) -> Option<String> {
    if m.model != entry.name {
        return Some(format!("manifest is for model {:?}, expected {:?}", m.model, entry.name));
    }
    if m.converter_version != CONVERTER_VERSION {
        return Some(format!(
            "converted by converter version {}, this build expects version {CONVERTER_VERSION}",
            m.converter_version
        ));
    }
    if m.package != package.name || m.package_version != package.version || m.archive_sha256 != package.archive_sha256 {
        return Some(format!(
            "built from {} {} (archive sha256 {}), the catalog pins {} {} (archive sha256 {})",
            m.package, m.package_version, m.archive_sha256, package.name, package.version, package.archive_sha256
        ));
    }
    let expected = source_records(entry);
    if m.sources != expected {
        let pairs = |r: &[SourceRecord]| r.iter().map(|s| (s.path.clone(), s.sha256.clone())).collect::<Vec<_>>();
        return Some(format!(
            "built from source files {:?}, the catalog lists {:?}",
            pairs(&m.sources),
            pairs(&expected)
        ));
    }
    None
}

/// What an entry is built from: its registry files, then its fine-tuned weights and its
/// blend recipe (a new weight file or recipe rebuilds the entry like a new source file).
fn source_records(entry: &ModelEntry) -> Vec<SourceRecord> {
    let files = entry.files.iter().map(|f| SourceRecord { path: f.path.clone(), sha256: f.sha256.clone() });
    let tuned = entry.finetune.iter().map(|t| SourceRecord { path: t.record_path(), sha256: t.sha256.clone() });
    let blend = entry.blend.iter().map(|b| {
        let recipe = b.recipe();
        let sha256 = hex(&Sha256::digest(recipe.as_bytes()));
        SourceRecord { path: format!("aiupscale:blend {recipe}"), sha256 }
    });
    files.chain(tuned).chain(blend).collect()
}

/// Refuses names that would escape the cache folder or collide with our own files.
pub(crate) fn check_file_name(name: &str) -> Result<(), ModelError> {
    let ok = !name.is_empty()
        && !name.starts_with('.')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '+'));
    if ok {
        Ok(())
    } else {
        Err(ModelError::CatalogInvalid {
            reason: format!("{name:?} cannot be used as a file name in the model cache; expected ASCII letters, digits, '-', '_', '.', '+'"),
        })
    }
}

fn mtime_ns(meta: &fs::Metadata) -> Option<u64> {
    let since = meta.modified().ok()?.duration_since(UNIX_EPOCH).ok()?;
    u64::try_from(since.as_nanos()).ok()
}

fn remove_if_present(path: &Path) -> Result<bool, ModelError> {
    match fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(source) => Err(write_err(path, source)),
    }
}

/// The error for a failed write to the cache: a read-only or foreign cache gets the
/// fix (another `AIUPSCALE_MODEL_DIR`) instead of a bare "Read-only file system".
pub(crate) fn write_err(path: &Path, source: io::Error) -> ModelError {
    // `ErrorKind::ReadOnlyFilesystem` needs Rust 1.83; the workspace supports 1.80.
    #[cfg(unix)]
    let read_only = source.raw_os_error() == Some(libc::EROFS);
    #[cfg(not(unix))]
    let read_only = false;
    if read_only || source.kind() == io::ErrorKind::PermissionDenied {
        ModelError::CacheNotWritable { path: path.to_owned(), source }
    } else {
        ModelError::Io { path: path.to_owned(), source }
    }
}

/// What identifies one version of a file without reading it. The change time cannot
/// be set back by a writer (unlike the mtime), so in-place damage always changes it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct FileStamp {
    len: u64,
    mtime_ns: Option<u64>,
    #[cfg(unix)]
    ctime: (i64, i64),
    #[cfg(unix)]
    inode: (u64, u64),
}

impl FileStamp {
    fn of(meta: &fs::Metadata) -> FileStamp {
        #[cfg(unix)]
        use std::os::unix::fs::MetadataExt;
        FileStamp {
            len: meta.len(),
            mtime_ns: mtime_ns(meta),
            #[cfg(unix)]
            ctime: (meta.ctime(), meta.ctime_nsec()),
            #[cfg(unix)]
            inode: (meta.dev(), meta.ino()),
        }
    }
}

/// Files this process hashed and found intact: path, stamp then, sha256. A handful of
/// models per process at most, so a list.
static HASHED: Mutex<Vec<(PathBuf, FileStamp, String)>> = Mutex::new(Vec::new());

fn hashed_before(path: &Path, stamp: &FileStamp, sha256: &str) -> bool {
    // A poisoned list is still a valid list (entries are pushed whole).
    let hashed = HASHED.lock().unwrap_or_else(|e| e.into_inner());
    hashed.iter().any(|(p, s, h)| p == path && s == stamp && h == sha256)
}

fn remember_hashed(path: &Path, stamp: FileStamp, sha256: &str) {
    let mut hashed = HASHED.lock().unwrap_or_else(|e| e.into_inner());
    hashed.retain(|(p, _, _)| p != path);
    hashed.push((path.to_owned(), stamp, sha256.to_owned()));
}

/// Writes `bytes` to `target` through a temp file in `dir` (same file system), fsynced
/// before the rename, so readers see the old file or the whole new one, never a part.
pub(crate) fn write_atomically(dir: &Path, target: &Path, bytes: &[u8]) -> Result<(), ModelError> {
    let io_err = |source| write_err(target, source);
    let mut tmp = tempfile::Builder::new().prefix(".tmp-").tempfile_in(dir).map_err(io_err)?;
    // tempfile creates 0600; models and manifests are not secret and a shared cache
    // must be readable by every user of it.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        tmp.as_file().set_permissions(fs::Permissions::from_mode(0o644)).map_err(io_err)?;
    }
    tmp.write_all(bytes).map_err(io_err)?;
    tmp.as_file().sync_all().map_err(io_err)?;
    tmp.persist(target).map_err(|e| io_err(e.error))?;
    sync_dir(dir);
    Ok(())
}

/// Makes a rename durable. Best effort: not every platform can open a folder.
pub(crate) fn sync_dir(dir: &Path) {
    #[cfg(unix)]
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    #[cfg(not(unix))]
    let _ = dir;
}

pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

pub(crate) fn sha256_file(path: &Path) -> Result<String, ModelError> {
    let io_err = |source| ModelError::Io { path: path.to_owned(), source };
    let mut file = File::open(path).map_err(io_err)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf).map_err(io_err)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex(&hasher.finalize()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
#[path = "cache_tests.rs"]
mod tests;
