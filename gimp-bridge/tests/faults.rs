//! Fault tests of the `aiupscale` binary: damaged and hostile inputs, kills, a full disk,
//! concurrent runs and bad arguments. Each asserts that no partial output appears, the
//! input is intact and the error says what to do (docs/RELIABILITY.md lists the promises).

mod common;

use std::{
    io::{Read, Write},
    path::Path,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use common::*;

/// A JPEG of a real photo crop.
fn real_jpeg(env: &Env, name: &str) -> std::path::PathBuf {
    let path = env.path(name);
    write_jpeg(&path, &crop("coffee.png", 0, 0, 320, 240), None);
    path
}

#[test]
fn a_truncated_jpeg_fails_and_a_batch_lists_it() {
    let env = Env::new();
    let whole = real_jpeg(&env, "whole.jpg");
    let bytes = std::fs::read(&whole).unwrap();
    let half = env.path("half.jpg");
    std::fs::write(&half, &bytes[..bytes.len() / 2]).unwrap();
    let out = env.path("half_x2.png");
    let result = env.upscale(&half, &out, &[]);
    assert_eq!(result.status.code(), Some(1), "{}", stderr(&result));
    assert!(stderr(&result).contains("is truncated or damaged"), "{}", stderr(&result));
    assert!(!out.exists());
    assert_eq!(std::fs::read(&half).unwrap(), &bytes[..bytes.len() / 2], "the input is untouched");
    // The whole file still goes through.
    assert_ok(&env.upscale(&whole, &env.path("whole_x2.png"), &[]));

    // In a folder: listed as failed, no output, so the next run tries it again.
    let (input, output) = (env.path("in"), env.path("out"));
    std::fs::create_dir(&input).unwrap();
    std::fs::copy(&half, input.join("half.jpg")).unwrap();
    std::fs::copy(&whole, input.join("whole.jpg")).unwrap();
    for _ in 0..2 {
        let batch = env.upscale(&input, &output, &[]);
        assert_eq!(batch.status.code(), Some(1), "{}", stderr(&batch));
        assert!(stderr(&batch).contains("half.jpg"), "{}", stderr(&batch));
        assert!(!output.join("half.jpg").exists());
        assert!(output.join("whole.jpg").exists());
    }
}

#[test]
fn truncated_png_tiff_and_webp_fail_too() {
    let env = Env::new();
    let image = crop("coffee.png", 0, 0, 160, 120);
    for ext in ["png", "tif", "webp"] {
        let whole = env.path(&format!("whole.{ext}"));
        image.save(&whole).unwrap();
        let bytes = std::fs::read(&whole).unwrap();
        let cut = env.path(&format!("cut.{ext}"));
        std::fs::write(&cut, &bytes[..bytes.len() * 2 / 3]).unwrap();
        let out = env.path(&format!("cut_x2.{ext}"));
        let result = env.upscale(&cut, &out, &[]);
        assert_eq!(result.status.code(), Some(1), "{ext}: {}", stderr(&result));
        assert!(stderr(&result).contains("cannot decode"), "{ext}: {}", stderr(&result));
        assert!(!out.exists(), "{ext}");
    }
}

/// A PNG that declares `side`x`side` gray pixels of zeros in a file of a few hundred KB.
fn png_bomb(path: &Path, side: u32) {
    fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
        out.extend((data.len() as u32).to_be_bytes());
        let mut crc = flate2::Crc::new();
        crc.update(kind);
        crc.update(data);
        out.extend(kind);
        out.extend(data);
        out.extend(crc.sum().to_be_bytes());
    }
    let mut ihdr = Vec::new();
    ihdr.extend(side.to_be_bytes());
    ihdr.extend(side.to_be_bytes());
    ihdr.extend([8, 0, 0, 0, 0]); // 8-bit gray, no interlace
    let mut zlib = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
    let row = vec![0u8; side as usize + 1]; // filter byte + pixels
    for _ in 0..side {
        zlib.write_all(&row).unwrap();
    }
    let idat = zlib.finish().unwrap();
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    chunk(&mut png, b"IHDR", &ihdr);
    chunk(&mut png, b"IDAT", &idat);
    chunk(&mut png, b"IEND", &[]);
    std::fs::write(path, png).unwrap();
}

/// Runs `cmd` to its end; returns its exit code, stderr and peak resident memory in MiB.
/// The child is reaped by `wait4` (for its resource usage), not by `Child::wait`.
#[allow(clippy::zombie_processes)]
fn run_measured(mut cmd: Command) -> (Option<i32>, String, u64) {
    let mut child = cmd.stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
    let mut err = String::new();
    child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
    let mut status = 0;
    // SAFETY: plain libc calls on our own child, with valid out-pointers.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        assert_eq!(libc::wait4(child.id() as libc::pid_t, &mut status, 0, &mut usage), child.id() as libc::pid_t);
        usage
    };
    let code = libc::WIFEXITED(status).then(|| libc::WEXITSTATUS(status));
    (code, err, usage.ru_maxrss as u64 / 1024)
}

#[test]
fn an_image_bomb_is_refused_from_its_header() {
    let env = Env::new();
    let bomb = env.path("bomb.png");
    png_bomb(&bomb, 20_000); // 400 MB of pixels in a small file
    assert!(std::fs::metadata(&bomb).unwrap().len() < 2 << 20);
    let out = env.path("bomb_out.png");
    let cases: [(&[&str], &str); 2] = [
        // x2: 40000x40000 is more than the core takes.
        (&[], "is too large"),
        // A quarter of the size fits the core, not the budget.
        (&["--scale", "0.25", "--max-memory", "64"], "more than the memory budget of 64 MiB (--max-memory)"),
    ];
    for (extra, expected) in cases {
        let mut cmd = env.cmd();
        cmd.args(["upscale", bomb.to_str().unwrap(), out.to_str().unwrap(), "--model", &env.nearest()]).args(extra);
        let (code, err, peak_mib) = run_measured(cmd);
        assert_eq!(code, Some(1), "{extra:?}: {err}");
        assert!(err.contains(expected), "{extra:?}: {err}");
        // Decoding would take 400 MiB; the model and runtime take well under 200.
        assert!(peak_mib < 200, "{extra:?}: peak {peak_mib} MiB");
        assert!(!out.exists());
    }
}

#[test]
fn too_many_threads_is_a_usage_error_before_any_session() {
    let env = Env::new();
    let input = real_jpeg(&env, "in.jpg");
    let start = Instant::now();
    let result = env.upscale(&input, &env.path("o.png"), &["--threads", "100000"]);
    assert_eq!(result.status.code(), Some(2), "{}", stderr(&result));
    assert!(stderr(&result).contains("100000 is not in 0..=1024"), "{}", stderr(&result));
    assert!(start.elapsed() < Duration::from_secs(5), "{:?}", start.elapsed());
}

#[test]
fn every_invalid_argument_exits_with_2() {
    let env = Env::new();
    let input = real_jpeg(&env, "in.jpg");
    let before = std::fs::read(&input).unwrap();
    let out = env.path("o.png");
    let bmp = env.path("o.bmp");
    let (i, o) = (input.to_str().unwrap(), out.to_str().unwrap());
    let cases: [&[&str]; 12] = [
        &["upscale", i, o, "--scale", "-1"],
        &["upscale", i, o, "--width", "0"],
        &["upscale", i, o, "--tile-size", "0"],
        &["upscale", i, o, "--denoise", "2"],
        &["upscale", i, o, "--quality", "0"],
        &["upscale", i, o, "--jobs", "0"],
        &["upscale", i, o, "--threads", "100000"],
        &["upscale", i, o, "--max-memory", "0"],
        &["upscale", i, i],
        &["upscale", i, bmp.to_str().unwrap()],
        &["upscale-raw", i, o, "--format", "rgb8", "--width", "0", "--height", "4"],
        &["no-such-command"],
    ];
    for args in cases {
        let result = env.run(args);
        assert_eq!(result.status.code(), Some(2), "{args:?}: {}", stderr(&result));
        assert!(!out.exists(), "{args:?}");
    }
    assert_eq!(std::fs::read(&input).unwrap(), before);
}

#[test]
fn a_run_killed_while_writing_leaves_nothing_the_next_run_keeps() {
    let env = Env::new();
    let input = env.path("big.png");
    write_png(&input, &crop("coffee.png", 0, 0, 600, 400), None);
    let out_dir = env.path("out");
    std::fs::create_dir(&out_dir).unwrap();
    let out = out_dir.join("big.tif");
    // Kill -9 once the same temp file has been there for two polls: the writable-folder
    // check's file lives for microseconds, the encode's for the whole encode. A kill that
    // still lands between the two (a loaded machine) leaves nothing; then run again.
    let mut left = Vec::new();
    for _ in 0..5 {
        let mut child = env
            .cmd()
            .args([
                "upscale",
                input.to_str().unwrap(),
                out.to_str().unwrap(),
                "--model",
                &env.nearest(),
                "--scale",
                "6",
            ])
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut seen = Vec::new();
        loop {
            let now = temp_files(&out_dir);
            if !now.is_empty() && now == seen {
                break;
            }
            seen = now;
            assert!(Instant::now() < deadline, "no temp file appeared");
            assert!(child.try_wait().unwrap().is_none(), "finished before it could be killed");
            std::thread::sleep(Duration::from_millis(2));
        }
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(!out.exists(), "a killed run presents no output");
        left = temp_files(&out_dir);
        if !left.is_empty() {
            break;
        }
    }
    assert!(!left.is_empty(), "no kill left its temp file in 5 runs (else this test tests nothing)");
    // A live run's temp file is locked and must survive the clean-up.
    let live = out_dir.join(".aiupscale-live.tmp");
    let held = std::fs::File::create(&live).unwrap();
    held.set_modified(std::time::SystemTime::now() - Duration::from_secs(60)).unwrap();
    held.lock().unwrap();
    std::thread::sleep(Duration::from_millis(2100)); // older than the stale age
    let small = env.path("small.png");
    write_png(&small, &crop("coffee.png", 0, 0, 32, 32), None);
    assert_ok(&env.upscale(&small, &out_dir.join("small.png"), &[]));
    assert_eq!(temp_files(&out_dir), vec![".aiupscale-live.tmp".to_owned()]);
    drop(held);
}

#[test]
fn a_full_disk_gives_a_clear_error_and_no_partial_output() {
    let env = Env::new();
    let input = env.path("in.png");
    write_png(&input, &crop("coffee.png", 0, 0, 200, 200), None);
    let before = std::fs::read(&input).unwrap();
    let mount = env.path("small");
    std::fs::create_dir(&mount).unwrap();
    // A 64 KiB tmpfs in a private mount namespace (the tests run as root).
    let script = r#"mount -t tmpfs -o size=64k tmpfs "$1" || exit 99
"$2" upscale "$3" "$1/out.png" --model "$4"; code=$?
ls -A "$1"; exit $code"#;
    let result = Command::new("unshare")
        .args(["-m", "sh", "-c", script, "sh"])
        .arg(&mount)
        .arg(env!("CARGO_BIN_EXE_aiupscale"))
        .arg(&input)
        .arg(env.nearest())
        .env("AIUPSCALE_MODEL_DIR", &env.cache)
        .output()
        .unwrap();
    assert_eq!(result.status.code(), Some(1), "{}", stderr(&result));
    assert!(stderr(&result).contains("No space left on device"), "{}", stderr(&result));
    assert_eq!(stdout(&result).trim(), "", "files left on the full disk: {}", stdout(&result));
    assert_eq!(std::fs::read(&input).unwrap(), before);
}

#[test]
fn concurrent_batches_into_one_folder_write_every_image_once_and_whole() {
    let env = Env::new();
    let (input, output) = (env.path("in"), env.path("out"));
    std::fs::create_dir(&input).unwrap();
    for i in 0..6 {
        write_png(&input.join(format!("p{i}.png")), &crop("coffee.png", i * 40, 0, 96, 96), None);
    }
    let spawn = || {
        env.cmd()
            .args(["upscale", input.to_str().unwrap(), output.to_str().unwrap(), "--model", &env.nearest(), "--quiet"])
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let runs: Vec<_> = (0..3).map(|_| spawn()).collect();
    for run in runs {
        let result = run.wait_with_output().unwrap();
        assert_ok(&result);
    }
    for i in 0..6 {
        let name = format!("p{i}.png");
        let got = image::open(output.join(&name)).unwrap().to_rgb8();
        let source = image::open(input.join(&name)).unwrap().to_rgb8();
        assert_eq!(got.dimensions(), (192, 192), "{name}");
        // nearest x2: every output pixel is its source pixel.
        assert_eq!(got.get_pixel(191, 191), source.get_pixel(95, 95), "{name}");
        assert_eq!(got.get_pixel(0, 0), source.get_pixel(0, 0), "{name}");
    }
    assert!(temp_files(&output).is_empty(), "{:?}", temp_files(&output));
}

#[test]
fn sigterm_stops_inside_a_heavy_tile_within_a_second() {
    // Real-ESRGAN x4plus: one 200x200 tile takes 10-40 s on 2 cores, so only a cancel
    // inside the engine's run can meet the second. The user's cache, fetched if missing.
    const MODEL: &str = "realesrgan-x4plus";
    let fetch = Command::new(env!("CARGO_BIN_EXE_aiupscale")).args(["models", "fetch", MODEL]).output().unwrap();
    assert_ok(&fetch);
    let env = Env::new();
    let rgb = crop("astronaut.png", 150, 60, 200, 200).to_rgb8();
    let (input, out) = (env.path("tile.raw"), env.path("tile_x4.raw"));
    std::fs::write(&input, rgb.as_raw()).unwrap();
    for engine in ["ort", "openvino"] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_aiupscale"))
            .args(["upscale-raw", "--width", "200", "--height", "200", "--format", "rgb8", "--model", MODEL])
            .args(["--engine", engine, "--precision", "fp32", "--progress-json"])
            .arg(&input)
            .arg(&out)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = std::io::BufRead::lines(std::io::BufReader::new(child.stderr.take().unwrap()));
        let started = lines.next().expect("a started line").unwrap();
        assert!(started.contains("\"started\":true"), "{engine}: {started}");
        std::thread::sleep(Duration::from_millis(1500)); // well inside the first tile
        assert!(child.try_wait().unwrap().is_none(), "{engine}: finished before the signal");
        let signalled = Instant::now();
        // SAFETY: signalling our own child process.
        assert_eq!(unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) }, 0);
        let status = child.wait().unwrap();
        let latency = signalled.elapsed();
        let rest: Vec<String> = lines.map(|l| l.unwrap()).collect();
        assert_eq!(status.code(), Some(143), "{engine}: {rest:?}");
        assert!(latency < Duration::from_secs(1), "{engine}: stopped {latency:?} after SIGTERM");
        assert!(rest.last().is_some_and(|l| l.contains("\"cancelled\":true")), "{engine}: {rest:?}");
        assert!(!out.exists(), "{engine}");
        assert!(temp_files(env.dir.path()).is_empty(), "{engine}: {:?}", temp_files(env.dir.path()));
    }
}

#[test]
fn a_run_killed_during_inference_writes_nothing() {
    let env = Env::new();
    let input = env.path("big.png");
    write_png(&input, &crop("coffee.png", 0, 0, 400, 300), None);
    let before = std::fs::read(&input).unwrap();
    let out_dir = env.path("out");
    std::fs::create_dir(&out_dir).unwrap();
    let out = out_dir.join("big.png");
    // 10-pixel tiles with the default overlap: thousands of tiles, seconds of inference.
    let mut child = env
        .cmd()
        .args(["upscale", input.to_str().unwrap(), out.to_str().unwrap(), "--model", &env.nearest()])
        .args(["--tile-size", "34", "--progress-json"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let lines = std::io::BufRead::lines(std::io::BufReader::new(child.stderr.take().unwrap()));
    let mut seen = Vec::new();
    for line in lines {
        let line = line.unwrap();
        let inferring = line.contains("\"progress\"");
        seen.push(line);
        if inferring {
            break;
        }
    }
    assert!(seen.last().is_some_and(|l| l.contains("\"progress\"")), "{seen:?}");
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(!out.exists());
    assert!(temp_files(&out_dir).is_empty(), "no temp file exists during inference: {:?}", temp_files(&out_dir));
    assert_eq!(std::fs::read(&input).unwrap(), before);
}
