//! Atomic files: written under a temp name in the same folder, synced, renamed, and
//! the folder synced, so a crash leaves either the old state or the complete file.

use std::{
    fs::File,
    path::{Path, PathBuf},
};

use anyhow::{Context, Result};

/// The temp name of `path`: hidden, in the same folder (a rename stays on one file system).
pub fn temp_path(path: &Path) -> PathBuf {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    path.with_file_name(format!(".aiupscale-{name}.tmp"))
}

/// Makes a finished temp file the real one: fsync, rename, fsync of the folder.
pub fn commit(temp: &Path, path: &Path) -> Result<()> {
    File::open(temp).and_then(|f| f.sync_all()).with_context(|| format!("cannot sync {}", temp.display()))?;
    std::fs::rename(temp, path).with_context(|| format!("cannot rename {} to {}", temp.display(), path.display()))?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        // Not every file system can sync a directory; the rename itself has happened.
        let _ = File::open(dir).and_then(|d| d.sync_all());
    }
    Ok(())
}

pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let temp = temp_path(path);
    std::fs::write(&temp, bytes).with_context(|| format!("cannot write {}", temp.display()))?;
    commit(&temp, path)
}

/// Removes a temp file when dropped unless it was committed.
pub struct TempGuard(pub PathBuf);

impl Drop for TempGuard {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}
