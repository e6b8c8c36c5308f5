//! Where the engines' run-time libraries are looked for. Nothing of the build machine
//! is compiled in: a checkout's `.deps` (made by `scripts/setup`) is found from where the
//! running program or library lies, the user's library folder from the environment, and
//! the system folders from the dynamic loader's own configuration.

use std::{
    ffi::{CStr, OsStr},
    os::unix::ffi::OsStrExt,
    path::{Path, PathBuf},
    sync::OnceLock,
};

/// The `.deps` folder of the checkout this code runs from: the first ancestor folder of
/// the running executable (the bridge, a test) or of the shared library holding this
/// code (the GStreamer plugin inside `gst-launch-1.0`) that has one. `None` for an
/// installed copy.
pub(crate) fn project_deps_dir() -> Option<&'static Path> {
    static DIR: OnceLock<Option<PathBuf>> = OnceLock::new();
    DIR.get_or_init(|| {
        let starts = [std::env::current_exe().ok(), this_library()];
        starts
            .into_iter()
            .flatten()
            .filter_map(|p| p.canonicalize().ok())
            .find_map(|p| p.ancestors().map(|a| a.join(".deps")).find(|d| d.is_dir()))
    })
    .as_deref()
}

/// The file of the executable or shared library this function was linked into.
fn this_library() -> Option<PathBuf> {
    // SAFETY: `Dl_info` is plain data (pointers and integers); all-zero is valid.
    let mut info: libc::Dl_info = unsafe { std::mem::zeroed() };
    let address = this_library as *const () as *const libc::c_void;
    // SAFETY: dladdr only reads `address` and fills `info`; the name it returns points
    // into the loader's own tables, valid while the object stays loaded (it is ours).
    let name = unsafe {
        if libc::dladdr(address, &mut info) == 0 || info.dli_fname.is_null() {
            return None;
        }
        CStr::from_ptr(info.dli_fname)
    };
    Some(PathBuf::from(OsStr::from_bytes(name.to_bytes())))
}

/// The user's folder for runtime libraries: `$XDG_DATA_HOME/aiupscale/lib`, else
/// `~/.local/share/aiupscale/lib` (ONNX Runtime there, OpenVINO in `openvino/`;
/// `scripts/install-gst-plugin` links a checkout's copies there).
pub(crate) fn user_library_dir() -> Option<PathBuf> {
    let data_home = std::env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))?;
    Some(data_home.join("aiupscale/lib"))
}

/// Whether the dynamic loader would find a bare library `name`: in `LD_LIBRARY_PATH`,
/// the folders of `/etc/ld.so.conf` (which name this machine's multiarch folders), or
/// the default `/lib` and `/usr/lib`.
pub(crate) fn loader_finds(name: &Path) -> bool {
    let mut dirs: Vec<PathBuf> =
        std::env::var_os("LD_LIBRARY_PATH").map(|v| std::env::split_paths(&v).collect()).unwrap_or_default();
    dirs.extend(loader_config_dirs(Path::new("/etc/ld.so.conf")));
    dirs.extend(["/lib", "/usr/lib"].map(PathBuf::from));
    dirs.iter().any(|d| d.join(name).is_file())
}

/// The folders an ld.so.conf file lists, following its `include` globs (only the
/// `*.conf` form Debian uses).
fn loader_config_dirs(file: &Path) -> Vec<PathBuf> {
    let Ok(text) = std::fs::read_to_string(file) else { return Vec::new() };
    let mut dirs = Vec::new();
    for line in text.lines().map(|l| l.split('#').next().unwrap_or("").trim()) {
        if let Some(pattern) = line.strip_prefix("include").map(str::trim) {
            let pattern = Path::new(pattern);
            let (Some(dir), Some(glob)) = (pattern.parent(), pattern.file_name().and_then(OsStr::to_str)) else {
                continue;
            };
            let suffix = glob.strip_prefix('*').unwrap_or(glob);
            let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
                .into_iter()
                .flatten()
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.to_str().is_some_and(|s| s.ends_with(suffix)))
                .collect();
            files.sort();
            for included in files {
                dirs.extend(loader_config_dirs(&included));
            }
        } else if line.starts_with('/') {
            dirs.push(PathBuf::from(line));
        }
    }
    dirs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loader_config_lists_folders_and_follows_includes() {
        let dir = tempfile::tempdir().unwrap();
        let conf_d = dir.path().join("conf.d");
        std::fs::create_dir(&conf_d).unwrap();
        std::fs::write(conf_d.join("b.conf"), "# multiarch\n/opt/b-lib\n").unwrap();
        std::fs::write(conf_d.join("a.conf"), "/opt/a-lib # trailing comment\n").unwrap();
        std::fs::write(conf_d.join("ignored.txt"), "/opt/no\n").unwrap();
        let main = dir.path().join("ld.so.conf");
        std::fs::write(&main, format!("/opt/first\ninclude {}/*.conf\n", conf_d.display())).unwrap();
        let dirs = loader_config_dirs(&main);
        assert_eq!(dirs, ["/opt/first", "/opt/a-lib", "/opt/b-lib"].map(PathBuf::from));
    }

    #[test]
    fn a_test_binary_finds_the_checkout_deps() {
        // Test binaries live in target/*/deps of the checkout that `scripts/setup` prepared.
        let deps = project_deps_dir().expect("no .deps above the test binary; run scripts/setup");
        assert!(deps.ends_with(".deps") && deps.join("ort").is_dir(), "{}", deps.display());
    }
}
