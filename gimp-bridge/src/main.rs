//! `aiupscale`: dispatches the command line to the library's commands ([`aiupscale_bridge`]).

use std::process::ExitCode;

use aiupscale_bridge::{
    cli::{self, Cli, Command},
    editors, models_cmd, progress, raw, single, video,
};
use clap::Parser;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Upscale(args) => single::run(args),
        Command::UpscaleRaw(args) => return raw::run(args),
        Command::Models(command) => models_cmd::run(command),
        Command::Install(args) => editors::install(args),
        Command::Uninstall(args) => editors::uninstall(args),
        Command::Video(command) => video::run(command),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            match &cli.command {
                Command::Video(command) if command.progress_json() => {
                    progress::json_line(&serde_json::json!({ "error": format!("{e:#}") }))
                }
                Command::Upscale(args) if args.engine.progress_json => {
                    progress::json_line(&serde_json::json!({ "error": format!("{e:#}") }))
                }
                _ => eprintln!("error: {e:#}"),
            }
            cli::exit_code(&e)
        }
    }
}
