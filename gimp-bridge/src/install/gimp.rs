//! Installing the gimp plug-in. (Being written.)

use std::process::ExitCode;

use anyhow::Result;

pub fn install() -> Result<ExitCode> {
    eprintln!("aiupscale: installing the gimp plug-in is not yet available");
    Ok(ExitCode::from(2))
}

pub fn uninstall() -> Result<ExitCode> {
    eprintln!("aiupscale: removing the gimp plug-in is not yet available");
    Ok(ExitCode::from(2))
}
