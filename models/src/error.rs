use std::path::PathBuf;

/// Errors of the model catalog, cache, fetchers and converters.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ModelError {
    #[error("catalog.toml is not valid TOML for the catalog schema")]
    CatalogSyntax {
        #[source]
        source: toml::de::Error,
    },
    #[error("catalog is inconsistent: {reason}")]
    CatalogInvalid { reason: String },
    #[error("unknown model {name:?}; known models: {known}")]
    UnknownModel { name: String, known: String },
    #[error("unknown content {name:?}; expected one of: {known}")]
    UnknownContent { name: String, known: String },
    #[error("model {name} is not fetched yet (expected {}); run `aiupscale models fetch {name}`", path.display())]
    NotFetched { name: String, path: PathBuf },
    #[error(
        "model {name} in the cache is damaged ({reason}); run `aiupscale models fetch --force {name}` to rebuild it"
    )]
    CorruptCacheEntry { name: String, reason: String },
    #[error("{what}: sha256 is {actual}, expected {expected}")]
    ChecksumMismatch { what: String, actual: String, expected: String },
    #[error("{file} is missing from package {package}")]
    MissingSourceFile { package: String, file: String },
    #[error("`{command}` failed ({status}): {stderr}")]
    ClientFailed { command: String, status: String, stderr: String },
    #[error("could not run `{command}`; is it installed?")]
    ClientMissing {
        command: String,
        #[source]
        source: std::io::Error,
    },
    #[error("no model cache directory: none of AIUPSCALE_MODEL_DIR, XDG_CACHE_HOME (absolute) or HOME is set; set AIUPSCALE_MODEL_DIR to a writable folder")]
    NoCacheDir,
    #[error("`{command}` succeeded but did not write {expected} (it wrote: {found}); the registry may serve another file name than catalog.toml expects")]
    ClientOutputMissing { command: String, expected: String, found: String },
    #[error("offline archive {} is missing; download it with `{command}` into {}", path.display(), dir.display())]
    OfflineArchiveMissing { path: PathBuf, dir: PathBuf, command: String },
    #[error("ncnn model {model}: {reason}")]
    Ncnn { model: String, reason: String },
    #[error("Anime4K weights {model}: {reason}")]
    Anime4k { model: String, reason: String },
    #[error("fine-tuned weights of {model}: {reason}")]
    Finetune { model: String, reason: String },
    #[error("blended model {model}: {reason}")]
    Blend { model: String, reason: String },
    #[error("model {model} cannot be split at its global pools: {reason}")]
    Stages { model: String, reason: String },
    #[error("the model cache is not writable ({} could not be written); set AIUPSCALE_MODEL_DIR to a writable folder", path.display())]
    CacheNotWritable {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("int8 quantization of {model}: {reason}")]
    Quantize { model: String, reason: String },
    #[error("the int8 model of {name} is not built yet (expected {}); run `aiupscale models quantize {name}` or drop --offline", path.display())]
    NotQuantized { name: String, path: PathBuf },
    #[error("cancelled; nothing was installed")]
    Cancelled,
    #[error("I/O on {}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("archive {}", path.display())]
    Archive {
        path: PathBuf,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// The category of a [`ModelError`], for fronts that report or retry by category.
/// Not `non_exhaustive`: a new category must be handled where errors are mapped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ModelErrorKind {
    /// The catalog itself or a name not in it.
    Catalog,
    /// The local cache: not fetched, damaged, not writable, no folder.
    Cache,
    /// Getting a package: the registry client, checksums, offline archives.
    Fetch,
    /// Turning fetched weights into ONNX.
    Convert,
    Cancelled,
    /// Reading or writing files and archives.
    Io,
}

impl ModelError {
    pub fn kind(&self) -> ModelErrorKind {
        match self {
            ModelError::CatalogSyntax { .. }
            | ModelError::CatalogInvalid { .. }
            | ModelError::UnknownModel { .. }
            | ModelError::UnknownContent { .. } => ModelErrorKind::Catalog,
            ModelError::NotFetched { .. }
            | ModelError::NotQuantized { .. }
            | ModelError::CorruptCacheEntry { .. }
            | ModelError::NoCacheDir
            | ModelError::CacheNotWritable { .. } => ModelErrorKind::Cache,
            ModelError::ChecksumMismatch { .. }
            | ModelError::MissingSourceFile { .. }
            | ModelError::ClientFailed { .. }
            | ModelError::ClientMissing { .. }
            | ModelError::ClientOutputMissing { .. }
            | ModelError::OfflineArchiveMissing { .. } => ModelErrorKind::Fetch,
            ModelError::Ncnn { .. }
            | ModelError::Anime4k { .. }
            | ModelError::Stages { .. }
            | ModelError::Finetune { .. }
            | ModelError::Blend { .. }
            | ModelError::Quantize { .. } => ModelErrorKind::Convert,
            ModelError::Cancelled => ModelErrorKind::Cancelled,
            ModelError::Io { .. } | ModelError::Archive { .. } => ModelErrorKind::Io,
        }
    }
}
