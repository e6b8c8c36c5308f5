//! `aiupscale`: the command line for images, and what the GIMP/Krita plug-ins call.
//!
//! - `upscale IN OUT`: files and folders of JPEG/PNG/TIFF/WebP ([`single`], [`batch`], both
//!   on [`upscale`]; [`io`] for what metadata is kept, [`provenance`] for what is added,
//!   [`budget`] for the memory check);
//! - `upscale-raw`: packed pixels for plug-ins ([`raw`]);
//! - `models list|fetch|verify|path` ([`models_cmd`]);
//! - `video IN OUT` and `video plan|segment|merge`: long, resumable video jobs on the
//!   GStreamer element ([`video`]);
//!
//! and the editor glue, kept apart in [`editors`]: `install|uninstall gimp|krita`, which
//! write the plug-ins of `plugins/` (they talk to this binary only through the
//! contract of docs/BRIDGE.md: `models list --json` and `upscale-raw --progress-json`).
//!
//! Exit codes: 0 success, 1 failure, 2 usage error ([`cli::UsageError`] and clap's),
//! 130/143 cancelled by SIGINT/SIGTERM ([`cancel`]).
//!
//! The modules are a library so that fuzz targets and tests reach the input path the
//! binary uses; `src/main.rs` is only the dispatch.

pub mod batch;
pub mod budget;
pub mod cancel;
pub mod cli;
pub mod editors;
pub mod io;
pub mod jpeg;
pub mod models_cmd;
pub mod progress;
pub mod provenance;
pub mod raw;
pub mod single;
pub mod transform;
pub mod upscale;
pub mod video;
