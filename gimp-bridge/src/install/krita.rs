//! Installing the krita plug-in. (Being written.)

use std::process::ExitCode;

use anyhow::Result;

pub fn install() -> Result<ExitCode> {
    eprintln!("aiupscale: installing the krita plug-in is not yet available");
    Ok(ExitCode::from(2))
}

pub fn uninstall() -> Result<ExitCode> {
    eprintln!("aiupscale: removing the krita plug-in is not yet available");
    Ok(ExitCode::from(2))
}
