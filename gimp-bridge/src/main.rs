//! `aiupscale`: the command line for images, and what the GIMP/Krita plug-ins call.
//!
//! - `upscale IN OUT`: files and folders of JPEG/PNG/TIFF/WebP ([`upscale`], [`batch`],
//!   [`io`] for what metadata is kept);
//! - `upscale-raw`: packed pixels for plug-ins ([`raw`]);
//! - `models list|fetch|verify|path` ([`models_cmd`]);
//! - `install|uninstall gimp|krita`: the editor plug-ins ([`install`]).
//!
//! Exit codes: 0 success, 1 failure, 2 usage error or unavailable command, 130/143
//! cancelled by SIGINT/SIGTERM ([`cancel`]).

mod batch;
mod cancel;
mod cli;
mod install;
mod io;
mod models_cmd;
mod progress;
mod raw;
mod transform;
mod upscale;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, Command};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Upscale(args) => upscale::run(args),
        Command::UpscaleRaw(args) => return raw::run(args),
        Command::Models(command) => models_cmd::run(command),
        Command::Install(args) => install::install(args),
        Command::Uninstall(args) => install::uninstall(args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            match &cli.command {
                Command::Upscale(args) if args.engine.progress_json => {
                    progress::json_line(&serde_json::json!({ "error": format!("{e:#}") }))
                }
                _ => eprintln!("error: {e:#}"),
            }
            ExitCode::FAILURE
        }
    }
}
