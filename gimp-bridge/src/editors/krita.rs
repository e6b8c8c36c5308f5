//! `aiupscale install|uninstall krita`: the Python plug-in of `plugins/krita/`, embedded
//! in this binary.
//!
//! Install writes, under `$XDG_DATA_HOME/krita/pykrita/` (default
//! `~/.local/share/krita/pykrita/`):
//! - `aiupscale.desktop` (Krita's plug-in descriptor);
//! - `aiupscale/` (the Python package with `aiupscale_bridge.py`, the contract's Python
//!   side shared with GIMP 3, and `bridge_path.txt`: the path of this program, which the
//!   plug-in runs as `aiupscale upscale-raw`);
//!
//! and enables it in `$XDG_CONFIG_HOME/kritarc` (default `~/.config/kritarc`): the line
//! `enable_aiupscale=true` in the `[python]` group, every other line kept as it was.
//! Uninstall removes the two and the line. Krita reads both at start-up: restart it.

use std::{
    env, fs,
    io::Write,
    path::{Path, PathBuf},
    process::ExitCode,
};

use anyhow::{bail, Context, Result};

use crate::cli::PluginHost;

/// The plug-in's name: the `.desktop` file, the package folder and the kritarc key.
const NAME: &str = "aiupscale";
const DESKTOP_FILE: &str = "aiupscale.desktop";
const DESKTOP: &str = include_str!("../../plugins/krita/aiupscale.desktop");
/// The package files, relative to `pykrita/aiupscale/`.
const PACKAGE: &[(&str, &str)] = &[
    ("__init__.py", include_str!("../../plugins/krita/aiupscale/__init__.py")),
    ("batch.py", include_str!("../../plugins/krita/aiupscale/batch.py")),
    ("core.py", include_str!("../../plugins/krita/aiupscale/core.py")),
    ("dialog.py", include_str!("../../plugins/krita/aiupscale/dialog.py")),
    ("extension.py", include_str!("../../plugins/krita/aiupscale/extension.py")),
    ("Manual.html", include_str!("../../plugins/krita/aiupscale/Manual.html")),
    (super::PYTHON_BRIDGE_FILE, super::PYTHON_BRIDGE),
];
/// Written at install time: the absolute path of the `aiupscale` the plug-in runs.
const BRIDGE_FILE: &str = "bridge_path.txt";
const GROUP: &str = "[python]";
const ENABLE_KEY: &str = "enable_aiupscale";

struct Paths {
    /// `…/krita/pykrita`
    pykrita: PathBuf,
    /// `…/kritarc`
    kritarc: PathBuf,
}

impl Paths {
    fn from_env() -> Result<Self> {
        let data = xdg_dir("XDG_DATA_HOME", ".local/share")?;
        let config = xdg_dir("XDG_CONFIG_HOME", ".config")?;
        Ok(Paths { pykrita: data.join("krita").join("pykrita"), kritarc: config.join("kritarc") })
    }

    fn package(&self) -> PathBuf {
        self.pykrita.join(NAME)
    }

    fn desktop(&self) -> PathBuf {
        self.pykrita.join(DESKTOP_FILE)
    }
}

/// `$VAR` when it is an absolute path (the XDG rule), else `$HOME/default`.
fn xdg_dir(var: &str, default: &str) -> Result<PathBuf> {
    if let Some(value) = env::var_os(var).filter(|v| !v.is_empty()) {
        let path = PathBuf::from(value);
        if path.is_absolute() {
            return Ok(path);
        }
    }
    match env::var_os("HOME").filter(|v| !v.is_empty()).map(PathBuf::from) {
        Some(home) if home.is_absolute() => Ok(home.join(default)),
        _ => bail!("cannot find Krita's folders: neither {var} nor HOME is set to an absolute path"),
    }
}

/// True when `dir` looks like this plug-in (so it may be replaced or removed).
fn is_ours(dir: &Path) -> bool {
    dir.join(BRIDGE_FILE).is_file() || dir.join("extension.py").is_file()
}

/// Writes `contents` to `path` through a temp file in the same folder (Krita never sees
/// half a kritarc), keeping the permissions of the file it replaces.
fn write_atomic(path: &Path, contents: &[u8]) -> Result<()> {
    // A kritarc that is a symbolic link (dotfile managers) is written where it points.
    let real = fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let path = real.as_path();
    let dir = path.parent().context("a file path without a folder")?;
    let mut tmp = tempfile::Builder::new()
        .prefix(".aiupscale-")
        .suffix(".tmp")
        .tempfile_in(dir)
        .with_context(|| format!("cannot create a temp file in {}", dir.display()))?;
    tmp.write_all(contents).with_context(|| format!("cannot write {}", tmp.path().display()))?;
    match fs::metadata(path) {
        Ok(meta) => fs::set_permissions(tmp.path(), meta.permissions()),
        Err(_) => set_new_file_mode(tmp.path()),
    }
    .with_context(|| format!("cannot set the permissions of {}", path.display()))?;
    tmp.persist(path).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

/// A new config file is readable by all, as Krita's own (temp files start as 0600).
#[cfg(unix)]
fn set_new_file_mode(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(0o644))
}

#[cfg(not(unix))]
fn set_new_file_mode(_path: &Path) -> std::io::Result<()> {
    Ok(())
}

/// Sets `enable_aiupscale=true` in the `[python]` group of a kritarc text. Every other
/// line stays as it was; the group is appended when there is none.
pub fn enable_in_kritarc(text: &str) -> String {
    let line = format!("{ENABLE_KEY}=true\n");
    let mut out = String::with_capacity(text.len() + line.len() + GROUP.len() + 2);
    let mut in_group = false;
    let mut done = false;
    // Where the key goes when the group lacks it: after the group's last non-blank line.
    let mut insert_at: Option<usize> = None;
    for raw in text.split_inclusive('\n') {
        let trimmed = raw.trim();
        if trimmed.starts_with('[') {
            in_group = trimmed == GROUP;
            if in_group && insert_at.is_none() {
                out.push_str(raw);
                if !raw.ends_with('\n') {
                    out.push('\n');
                }
                insert_at = Some(out.len());
                continue;
            }
        } else if in_group && is_key_line(trimmed, ENABLE_KEY) {
            if !done {
                out.push_str(&line);
                done = true;
            }
            continue;
        }
        out.push_str(raw);
        if in_group && !trimmed.is_empty() && !done && insert_at.is_some() {
            if !raw.ends_with('\n') {
                out.push('\n');
            }
            insert_at = Some(out.len());
        }
    }
    if done {
        return out;
    }
    match insert_at {
        Some(at) => out.insert_str(at, &line),
        None => {
            if !out.is_empty() && !out.ends_with('\n') {
                out.push('\n');
            }
            if !out.is_empty() && !out.ends_with("\n\n") {
                out.push('\n');
            }
            out.push_str(GROUP);
            out.push('\n');
            out.push_str(&line);
        }
    }
    out
}

/// Removes `enable_aiupscale=…` from the `[python]` group(s); `None` when it was not there.
pub fn disable_in_kritarc(text: &str) -> Option<String> {
    let mut out = String::with_capacity(text.len());
    let mut in_group = false;
    let mut removed = false;
    for raw in text.split_inclusive('\n') {
        let trimmed = raw.trim();
        if trimmed.starts_with('[') {
            in_group = trimmed == GROUP;
        } else if in_group && is_key_line(trimmed, ENABLE_KEY) {
            removed = true;
            continue;
        }
        out.push_str(raw);
    }
    removed.then_some(out)
}

/// `key=value` (KConfig allows spaces around `=` and `[$…]` options after the key).
fn is_key_line(trimmed: &str, key: &str) -> bool {
    let Some((name, _)) = trimmed.split_once('=') else { return false };
    let name = name.trim();
    let name = name.split_once('[').map_or(name, |(n, _)| n).trim_end();
    name == key
}

fn read_kritarc(path: &Path) -> Result<Option<String>> {
    match fs::read(path) {
        Ok(bytes) => String::from_utf8(bytes)
            .map(Some)
            .map_err(|_| anyhow::anyhow!("{} is not UTF-8 text; not touching it", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

pub fn install() -> Result<ExitCode> {
    let paths = Paths::from_env()?;
    let exe = env::current_exe().context("cannot find the path of this aiupscale program")?;
    let exe_text = exe.to_str().with_context(|| format!("the path {} is not UTF-8", exe.display()))?;
    let package = paths.package();

    if package.exists() {
        if !is_ours(&package) {
            bail!("{} exists and is not the aiupscale plug-in; move it away first", package.display());
        }
        // Fresh copy: no module of an older version may stay behind.
        fs::remove_dir_all(&package).with_context(|| format!("cannot replace {}", package.display()))?;
    }
    fs::create_dir_all(&package).with_context(|| format!("cannot create {}", package.display()))?;
    for (name, text) in PACKAGE {
        let path = package.join(name);
        fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
    }
    let bridge_file = package.join(BRIDGE_FILE);
    fs::write(&bridge_file, format!("{exe_text}\n"))
        .with_context(|| format!("cannot write {}", bridge_file.display()))?;
    let desktop = paths.desktop();
    fs::write(&desktop, DESKTOP).with_context(|| format!("cannot write {}", desktop.display()))?;

    let config_dir = paths.kritarc.parent().context("kritarc has no folder")?;
    fs::create_dir_all(config_dir).with_context(|| format!("cannot create {}", config_dir.display()))?;
    let old = read_kritarc(&paths.kritarc)?;
    let new = enable_in_kritarc(old.as_deref().unwrap_or(""));
    if old.as_deref() != Some(new.as_str()) {
        write_atomic(&paths.kritarc, new.as_bytes())?;
    }

    println!("Installed the {} plug-in \"AI Upscale\":", PluginHost::Krita.name());
    println!("  {}", desktop.display());
    println!("  {}/ ({} files)", package.display(), PACKAGE.len() + 1);
    println!("  it runs {exe_text} (recorded in {})", bridge_file.display());
    println!("  enabled in {} ([python] {ENABLE_KEY}=true)", paths.kritarc.display());
    println!("Restart Krita, then use Tools > Scripts > AI Upscale…");
    if which("krita").is_none() {
        println!("(krita is not on PATH here; the plug-in is ready for when it is installed)");
    }
    Ok(ExitCode::SUCCESS)
}

pub fn uninstall() -> Result<ExitCode> {
    let paths = Paths::from_env()?;
    let mut removed = Vec::new();
    let package = paths.package();
    if package.exists() {
        if !is_ours(&package) {
            bail!("{} is not the aiupscale plug-in; not removing it", package.display());
        }
        fs::remove_dir_all(&package).with_context(|| format!("cannot remove {}", package.display()))?;
        removed.push(format!("{}/", package.display()));
    }
    let desktop = paths.desktop();
    if desktop.exists() {
        fs::remove_file(&desktop).with_context(|| format!("cannot remove {}", desktop.display()))?;
        removed.push(desktop.display().to_string());
    }
    if let Some(old) = read_kritarc(&paths.kritarc)? {
        if let Some(new) = disable_in_kritarc(&old) {
            write_atomic(&paths.kritarc, new.as_bytes())?;
            removed.push(format!("{ENABLE_KEY} from {}", paths.kritarc.display()));
        }
    }
    if removed.is_empty() {
        println!("The Krita plug-in was not installed (nothing under {}); nothing to remove.", paths.pykrita.display());
    } else {
        println!("Removed the {} plug-in \"AI Upscale\":", PluginHost::Krita.name());
        for item in &removed {
            println!("  {item}");
        }
        println!("Restart Krita for the menu entry to go away.");
    }
    Ok(ExitCode::SUCCESS)
}

/// `name` on PATH, if any.
fn which(name: &str) -> Option<PathBuf> {
    env::split_paths(&env::var_os("PATH")?).map(|dir| dir.join(name)).find(|p| p.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enabling_adds_the_group_to_an_empty_or_missing_kritarc() {
        assert_eq!(enable_in_kritarc(""), "[python]\nenable_aiupscale=true\n");
        assert_eq!(enable_in_kritarc("[General]\na=1"), "[General]\na=1\n\n[python]\nenable_aiupscale=true\n");
    }

    #[test]
    fn enabling_keeps_every_other_line() {
        let text = "[General]\nx=1\n\n[python]\nenable_scripter=true\n\n[Other]\ny = 2\n";
        let want = "[General]\nx=1\n\n[python]\nenable_scripter=true\nenable_aiupscale=true\n\n[Other]\ny = 2\n";
        assert_eq!(enable_in_kritarc(text), want);
        // Idempotent, and a `false` is turned into `true` where it stands.
        assert_eq!(enable_in_kritarc(want), want);
        let off = want.replace("enable_aiupscale=true", "enable_aiupscale = false");
        assert_eq!(enable_in_kritarc(&off), want);
        // The same key in another group is not ours.
        let other = "[Other]\nenable_aiupscale=false\n";
        assert_eq!(enable_in_kritarc(other), "[Other]\nenable_aiupscale=false\n\n[python]\nenable_aiupscale=true\n");
    }

    #[test]
    fn enabling_an_empty_python_group_and_a_last_line_without_newline() {
        assert_eq!(enable_in_kritarc("[python]"), "[python]\nenable_aiupscale=true\n");
        assert_eq!(enable_in_kritarc("[python]\na=1"), "[python]\na=1\nenable_aiupscale=true\n");
    }

    #[test]
    fn disabling_removes_only_our_line() {
        let text = "[python]\nenable_scripter=true\nenable_aiupscale=true\n\n[Other]\nenable_aiupscale=true\n";
        assert_eq!(
            disable_in_kritarc(text).as_deref(),
            Some("[python]\nenable_scripter=true\n\n[Other]\nenable_aiupscale=true\n")
        );
        assert_eq!(disable_in_kritarc("[python]\nenable_scripter=true\n"), None);
    }

    #[test]
    fn every_embedded_module_is_listed() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("plugins/krita/aiupscale");
        let mut on_disk: Vec<String> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".py") || n.ends_with(".html"))
            .collect();
        on_disk.sort();
        on_disk.push(super::super::PYTHON_BRIDGE_FILE.to_owned());
        on_disk.sort();
        let mut embedded: Vec<String> = PACKAGE.iter().map(|(n, _)| n.to_string()).collect();
        embedded.sort();
        assert_eq!(on_disk, embedded);
    }
}
