//! `aiupscale install|uninstall gimp`: the GIMP plug-ins, embedded in this binary.
//!
//! - GIMP 2.10: the native plug-in `plugins/gimp-2.10/aiupscale-gimp.c`, compiled by
//!   build.rs when libgimp2.0-dev is installed (without it this binary has no 2.10
//!   plug-in and `install gimp` says how to get one);
//! - GIMP 3.x: the Python plug-in `plugins/gimp-3/aiupscale.py`, with
//!   `plugins/python/aiupscale_bridge.py` (the contract's Python side) beside it.
//!
//! Versions are detected from `gimp --version` (also `gimp-2.10`, `gimp-3.0`, `gimp-3`)
//! and from the config folders `GIMP/<version>` that exist; each detected version gets
//! `<config>/GIMP/<version>/plug-ins/aiupscale/` with the plug-in (mode 0755) and
//! `bridge-path`, the absolute path of this binary, which the plug-ins run. `<config>`
//! is `$XDG_CONFIG_HOME`, else `~/.config`. `uninstall gimp` removes those files from
//! every version folder.

use std::{
    fs,
    io::{Read, Write},
    path::{Path, PathBuf},
    process::{Command, ExitCode, Stdio},
    time::{Duration, Instant},
};

use anyhow::{bail, Context, Result};

use super::{PYTHON_BRIDGE, PYTHON_BRIDGE_FILE};

/// The GIMP 2.10 plug-in executable, when build.rs could compile it.
#[cfg(gimp2_plugin)]
const GIMP2_PLUGIN: Option<&[u8]> = Some(include_bytes!(env!("AIUPSCALE_GIMP2_PLUGIN")));
#[cfg(not(gimp2_plugin))]
const GIMP2_PLUGIN: Option<&[u8]> = None;

/// The GIMP 3 Python plug-in.
const GIMP3_PLUGIN: &str = include_str!("../../plugins/gimp-3/aiupscale.py");

/// The plug-in folder in `plug-ins/` (GIMP wants the executable named like it).
const PLUGIN_DIR: &str = "aiupscale";
const GIMP2_FILE: &str = "aiupscale";
const GIMP3_FILE: &str = "aiupscale.py";
const BRIDGE_FILE: &str = "bridge-path";

/// GIMP programs asked for their version.
const PROGRAMS: [&str; 4] = ["gimp", "gimp-2.10", "gimp-3.0", "gimp-3"];

/// A GIMP version such as (2, 10) or (3, 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Version(u32, u32);

impl Version {
    fn parse(text: &str) -> Option<Version> {
        let mut parts = text.trim().split('.');
        let major = parts.next()?.parse().ok()?;
        let minor = parts.next()?.trim_end_matches(|c: char| !c.is_ascii_digit()).parse().ok()?;
        Some(Version(major, minor))
    }

    /// The config folder name, e.g. "2.10".
    fn folder(self) -> String {
        format!("{}.{}", self.0, self.1)
    }

    fn supported(self) -> bool {
        self == Version(2, 10) || self.0 == 3
    }
}

/// `$XDG_CONFIG_HOME/GIMP` (an absolute XDG_CONFIG_HOME only), else `~/.config/GIMP`.
fn gimp_config_root() -> Result<PathBuf> {
    if let Some(xdg) = std::env::var_os("XDG_CONFIG_HOME").map(PathBuf::from).filter(|p| p.is_absolute()) {
        return Ok(xdg.join("GIMP"));
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .context("cannot find the config folder: neither XDG_CONFIG_HOME nor HOME is set")?;
    Ok(home.join(".config").join("GIMP"))
}

/// Runs `program --version` (10 s at most) and reads "... version X.Y.Z".
fn program_version(program: &str) -> Option<Version> {
    let mut child = Command::new(program)
        .arg("--version")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
        }
    }
    let mut out = String::new();
    child.stdout.take()?.read_to_string(&mut out).ok()?;
    let words: Vec<&str> = out.split_whitespace().collect();
    let at = words.iter().position(|w| w.eq_ignore_ascii_case("version"))?;
    Version::parse(words.get(at + 1)?)
}

/// A detected version and how it was found.
struct Found {
    version: Version,
    how: Vec<String>,
}

fn detect(root: &Path) -> Vec<Found> {
    let mut found: Vec<Found> = Vec::new();
    let mut add = |version: Version, how: String| match found.iter_mut().find(|f| f.version == version) {
        Some(f) => f.how.push(how),
        None => found.push(Found { version, how: vec![how] }),
    };
    for program in PROGRAMS {
        if let Some(version) = program_version(program) {
            add(version, format!("`{program} --version`"));
        }
    }
    if let Ok(entries) = fs::read_dir(root) {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if let Some(version) = Version::parse(&name).filter(|v| v.folder() == name) {
                if entry.path().is_dir() {
                    add(version, format!("the folder {}", entry.path().display()));
                }
            }
        }
    }
    found.sort_by_key(|f| f.version);
    found
}

/// Writes `bytes` to `path` with `mode` through a temp file and a rename, so a running
/// GIMP that has the old plug-in open is not disturbed ("text file busy").
fn write_file(path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let dir = path.parent().context("a plug-in file has no folder")?;
    let mut tmp = tempfile::Builder::new()
        .prefix(".aiupscale-")
        .suffix(".tmp")
        .tempfile_in(dir)
        .with_context(|| format!("cannot create a file in {}", dir.display()))?;
    tmp.write_all(bytes).and_then(|_| tmp.flush()).with_context(|| format!("cannot write {}", path.display()))?;
    fs::set_permissions(tmp.path(), fs::Permissions::from_mode(mode))
        .with_context(|| format!("cannot set the mode of {}", path.display()))?;
    tmp.persist(path).map_err(|e| e.error).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

fn install_version(root: &Path, version: Version, bridge: &Path) -> Result<PathBuf> {
    let (file, bytes): (&str, &[u8]) = if version.0 == 2 {
        match GIMP2_PLUGIN {
            Some(bytes) => (GIMP2_FILE, bytes),
            None => bail!(
                "this aiupscale was built without the GIMP 2.10 plug-in (libgimp2.0-dev or libjson-glib-dev was \
                 missing): install both (scripts/setup does) and rebuild aiupscale"
            ),
        }
    } else {
        (GIMP3_FILE, GIMP3_PLUGIN.as_bytes())
    };
    let dir = root.join(version.folder()).join("plug-ins").join(PLUGIN_DIR);
    fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let path = dir.join(file);
    if version.0 != 2 {
        write_file(&dir.join(PYTHON_BRIDGE_FILE), PYTHON_BRIDGE.as_bytes(), 0o644)?;
    }
    write_file(&path, bytes, 0o755)?;
    write_file(&dir.join(BRIDGE_FILE), format!("{}\n", bridge.display()).as_bytes(), 0o644)?;
    Ok(path)
}

/// This binary, as the plug-ins should run it.
fn bridge_path() -> Result<PathBuf> {
    let exe = std::env::current_exe().context("cannot find the path of this aiupscale binary")?;
    Ok(exe.canonicalize().unwrap_or(exe))
}

pub fn install() -> Result<ExitCode> {
    let root = gimp_config_root()?;
    let bridge = bridge_path()?;
    let found = detect(&root);
    if found.is_empty() {
        bail!(
            "no GIMP found: none of {} answers --version and {} holds no version folder; install GIMP \
             (or start it once so that it creates its folder) and run `aiupscale install gimp` again",
            PROGRAMS.join(", "),
            root.display()
        );
    }
    let mut installed = 0;
    let mut failed = 0;
    for f in &found {
        let what = format!("GIMP {} (found by {})", f.version.folder(), f.how.join(", "));
        if !f.version.supported() {
            eprintln!("skipped {what}: only GIMP 2.10 and 3.x are supported");
            failed += 1;
            continue;
        }
        match install_version(&root, f.version, &bridge) {
            Ok(path) => {
                println!("installed the plug-in for {what}:\n  {}", path.display());
                installed += 1;
            }
            Err(e) => {
                eprintln!("error: cannot install the plug-in for {what}: {e:#}");
                failed += 1;
            }
        }
    }
    if installed > 0 {
        println!("the plug-ins run {}", bridge.display());
        println!("restart GIMP, then use Filters > Enhance > AI Upscale...");
    }
    Ok(if failed > 0 { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}

pub fn uninstall() -> Result<ExitCode> {
    let root = gimp_config_root()?;
    let mut removed = 0;
    let entries = match fs::read_dir(&root) {
        Ok(entries) => entries.flatten().collect::<Vec<_>>(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", root.display())),
    };
    for entry in entries {
        let dir = entry.path().join("plug-ins").join(PLUGIN_DIR);
        if !dir.is_dir() {
            continue;
        }
        for file in [GIMP2_FILE, GIMP3_FILE, PYTHON_BRIDGE_FILE, BRIDGE_FILE] {
            let path = dir.join(file);
            match fs::remove_file(&path) {
                Ok(()) => {
                    if file == GIMP2_FILE || file == GIMP3_FILE {
                        println!("removed {}", path.display());
                    }
                    removed += 1;
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e).with_context(|| format!("cannot remove {}", path.display())),
            }
        }
        // Left-overs of an interrupted install, then the folder if it is empty now.
        if let Ok(files) = fs::read_dir(&dir) {
            for file in files.flatten() {
                let name = file.file_name().to_string_lossy().into_owned();
                if name.starts_with(".aiupscale-") && name.ends_with(".tmp") {
                    let _ = fs::remove_file(file.path());
                }
            }
        }
        match fs::remove_dir(&dir) {
            Ok(()) => {}
            Err(_) => eprintln!("kept {}: it holds files that aiupscale did not install", dir.display()),
        }
    }
    if removed == 0 {
        println!("no aiupscale GIMP plug-in found under {}", root.display());
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_parse() {
        assert_eq!(Version::parse("2.10.34"), Some(Version(2, 10)));
        assert_eq!(Version::parse("3.0.4"), Some(Version(3, 0)));
        assert_eq!(Version::parse("3.0"), Some(Version(3, 0)));
        assert_eq!(Version::parse("3.1.2-RC1"), Some(Version(3, 1)));
        assert_eq!(Version::parse("2.99"), Some(Version(2, 99)));
        assert_eq!(Version::parse("sessionrc"), None);
        assert!(Version(2, 10).supported() && Version(3, 2).supported() && !Version(2, 8).supported());
        assert_eq!(Version(2, 10).folder(), "2.10");
    }

    #[test]
    fn the_gimp3_plugin_is_embedded() {
        assert!(GIMP3_PLUGIN.starts_with("#!/usr/bin/env python3"));
        assert!(GIMP3_PLUGIN.contains("plug-in-aiupscale"));
    }
}
