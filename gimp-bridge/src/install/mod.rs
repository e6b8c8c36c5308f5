//! `aiupscale install|uninstall gimp|krita`: copies the editor plug-ins into the user's
//! config folders for the GIMP/Krita versions found, and removes them again.

mod gimp;
mod krita;

use std::process::ExitCode;

use anyhow::Result;

use crate::cli::{PluginArgs, PluginHost};

pub fn install(args: &PluginArgs) -> Result<ExitCode> {
    match args.host {
        PluginHost::Gimp => gimp::install(),
        PluginHost::Krita => krita::install(),
    }
}

pub fn uninstall(args: &PluginArgs) -> Result<ExitCode> {
    match args.host {
        PluginHost::Gimp => gimp::uninstall(),
        PluginHost::Krita => krita::uninstall(),
    }
}
