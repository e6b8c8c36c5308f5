//! The editor glue: `aiupscale install|uninstall gimp|krita` copies the plug-ins of
//! `plugins/` (embedded in this binary) into the user's config folders for the
//! GIMP/Krita versions found, and removes them again. The plug-ins call this binary only
//! through the contract of docs/BRIDGE.md; `plugins/python/aiupscale_bridge.py` is that
//! contract's Python side, installed beside the GIMP 3 and the Krita plug-in.

mod gimp;
mod krita;

use std::process::ExitCode;

use anyhow::Result;

use crate::cli::{PluginArgs, PluginHost};

/// The contract's Python side, installed beside the GIMP 3 and the Krita plug-in.
const PYTHON_BRIDGE_FILE: &str = "aiupscale_bridge.py";
const PYTHON_BRIDGE: &str = include_str!("../../plugins/python/aiupscale_bridge.py");

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
