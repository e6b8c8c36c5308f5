//! The GIMP plug-ins end to end, in a real GIMP: `aiupscale install gimp` into a
//! temporary HOME / XDG_CONFIG_HOME, then GIMP 2.10 headless (`gimp -i -b ...`) runs
//! `plug-in-aiupscale` through a Script-Fu helper on real photos, and the tests check
//! the files GIMP wrote (GIMP exits 0 even when a plug-in fails). The tiny exact
//! nearest-x2 model makes the expected pixels known; one test runs a real model. The
//! `denoise` parameter is checked against `aiupscale upscale --denoise` on a noisy photo.
//!
//! GIMP 3 runs in a Debian trixie chroot (scripts/setup-gimp3-chroot, root): that test
//! is `#[ignore]`d, and scripts/test runs it by name with `--ignored` after setting the
//! chroot up; it fails, naming the set-up command, when the chroot is missing.
//!
//! Every GIMP run goes through `timeout`, so a hanging GIMP fails the test instead of
//! hanging CI.

mod common;

use std::{
    os::unix::fs::PermissionsExt,
    path::{Path, PathBuf},
    process::{Command, Output, Stdio},
    time::{Duration, Instant},
};

use common::*;
use image::{ColorType, DynamicImage, GenericImageView, ImageBuffer, LumaA, Rgb, Rgba};

const BIN: &str = env!("CARGO_BIN_EXE_aiupscale");

/// Seconds a GIMP run may take before `timeout` stops it.
const GIMP_TIMEOUT: &str = "120";

/// The Script-Fu helper: a define in one `-b` is not visible to the next, so it lives
/// in the profile's scripts folder. It prints "aiupscale-test: saved OUT" on success.
const SCRIPT_FU: &str = r#"
(define (aiupscale-test-save image out)
  (gimp-file-save RUN-NONINTERACTIVE image (car (gimp-image-get-active-drawable image)) out out)
  (gimp-message (string-append "aiupscale-test: saved " out)))

(define (aiupscale-test-batch in out model scale new-image denoise)
  (let* ((image (car (gimp-file-load RUN-NONINTERACTIVE in in)))
         (drawable (car (gimp-image-get-active-drawable image)))
         (result (car (plug-in-aiupscale RUN-NONINTERACTIVE image drawable model scale new-image denoise "" 0.0
                                         "" "" 1))))
    (aiupscale-test-save (if (= new-image 1) result image) out)))

(define (aiupscale-test-full in out model scale new-image content engine precision provenance)
  (let* ((image (car (gimp-file-load RUN-NONINTERACTIVE in in)))
         (drawable (car (gimp-image-get-active-drawable image)))
         (result (car (plug-in-aiupscale RUN-NONINTERACTIVE image drawable model scale new-image 0.0 content 0.0
                                         engine precision provenance))))
    (aiupscale-test-save (if (= new-image 1) result image) out)))

(define (aiupscale-test-indexed in out model)
  (let* ((image (car (gimp-file-load RUN-NONINTERACTIVE in in))))
    (gimp-image-convert-indexed image CONVERT-DITHER-NONE CONVERT-PALETTE-GENERATE 16 FALSE FALSE "")
    (plug-in-aiupscale RUN-NONINTERACTIVE image (car (gimp-image-get-active-drawable image)) model 2.0 1 0.0 "" 0.0
                       "" "" 1)
    (aiupscale-test-save image out)))
"#;

/// A throw-away GIMP profile with the plug-in installed by `aiupscale install gimp`.
struct Gimp {
    env: Env,
    home: PathBuf,
    config: PathBuf,
}

impl Gimp {
    fn new() -> Gimp {
        assert!(
            Command::new("gimp").arg("--version").output().is_ok_and(|o| o.status.success()),
            "GIMP 2.10 is not installed: run scripts/setup (apt-get install gimp libgimp2.0-dev)"
        );
        let env = Env::new();
        let home = env.path("home");
        let config = env.path("config");
        std::fs::create_dir_all(config.join("GIMP/2.10/scripts")).unwrap();
        std::fs::create_dir_all(&home).unwrap();
        let gimp = Gimp { env, home, config };
        let install = gimp.aiupscale(&["install", "gimp"]);
        assert_ok(&install);
        assert!(stdout(&install).contains("GIMP 2.10"), "{}", stdout(&install));
        std::fs::write(gimp.config.join("GIMP/2.10/scripts/aiupscale-test.scm"), SCRIPT_FU).unwrap();
        // Folders GIMP wants to write to at exit (else it complains on stderr).
        for dir in ["gradients", "palettes", "brushes", "patterns"] {
            std::fs::create_dir_all(gimp.config.join("GIMP/2.10").join(dir)).unwrap();
        }
        gimp
    }

    /// The bridge binary with this profile's HOME and XDG_CONFIG_HOME.
    fn aiupscale(&self, args: &[&str]) -> Output {
        self.env.cmd().args(args).env("HOME", &self.home).env("XDG_CONFIG_HOME", &self.config).output().unwrap()
    }

    /// `timeout 120 gimp -i -b BATCH... -b '(gimp-quit 0)'` in this profile.
    fn command(&self, batches: &[String], env: &[(&str, &Path)]) -> Command {
        let mut cmd = Command::new("timeout");
        cmd.args(["-k", "10", GIMP_TIMEOUT, "gimp", "-i", "-d", "-f"]);
        for batch in batches {
            cmd.args(["-b", batch]);
        }
        cmd.args(["-b", "(gimp-quit 0)"])
            .env("HOME", &self.home)
            .env("XDG_CONFIG_HOME", &self.config)
            .env("XDG_CACHE_HOME", self.env.path("xdg-cache"))
            .env("AIUPSCALE_MODEL_DIR", &self.env.cache)
            // The empty cache must give the error naming the fetch command, not a fetch.
            .env("AIUPSCALE_OFFLINE", "1")
            .env_remove("DISPLAY")
            .env_remove("AIUPSCALE_BRIDGE")
            .stdin(Stdio::null());
        for (key, value) in env {
            cmd.env(key, value);
        }
        cmd
    }

    fn run(&self, batches: &[String], env: &[(&str, &Path)]) -> GimpRun {
        let start = Instant::now();
        let output = self.command(batches, env).output().unwrap();
        let log = format!("{}{}", stdout(&output), stderr(&output));
        assert!(
            !matches!(output.status.code(), Some(124) | Some(137)),
            "GIMP ran past {GIMP_TIMEOUT} s and was stopped:\n{log}"
        );
        GimpRun { log, seconds: start.elapsed().as_secs_f64() }
    }
}

struct GimpRun {
    log: String,
    seconds: f64,
}

/// A Scheme string literal.
fn scheme(text: &str) -> String {
    format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
}

fn batch(input: &Path, output: &Path, model: &str, scale: f64, new_image: bool) -> String {
    batch_denoise(input, output, model, scale, new_image, 0.0)
}

/// `batch` with the plug-in's last parameter, `denoise` (0..1).
fn batch_denoise(input: &Path, output: &Path, model: &str, scale: f64, new_image: bool, denoise: f64) -> String {
    format!(
        "(aiupscale-test-batch {} {} {} {scale:.2} {} {denoise:.2})",
        scheme(&input.display().to_string()),
        scheme(&output.display().to_string()),
        scheme(model),
        u8::from(new_image)
    )
}

/// `common::noisy_photo`, as DynamicImages.
fn noisy_photo() -> (DynamicImage, DynamicImage) {
    let (clean, noisy) = common::noisy_photo();
    (clean.into(), noisy.into())
}

/// `aiupscale upscale --model MODEL --scale 2 --denoise STRENGTH IN OUT` on the host.
fn cli_denoise(input: &Path, output: &Path, model: &str, denoise: &str) {
    let out = Command::new(BIN)
        .args(["upscale", "--quiet", "--model", model, "--scale", "2", "--denoise", denoise])
        .arg(input)
        .arg(output)
        .output()
        .unwrap();
    assert_ok(&out);
}

/// Mean squared sample difference of two 8-bit RGB images of the same size.
fn mse(a: &DynamicImage, b: &DynamicImage) -> f64 {
    let (a, b) = (a.to_rgb8(), b.to_rgb8());
    assert_eq!(a.dimensions(), b.dimensions());
    a.iter().zip(b.iter()).map(|(&x, &y)| (f64::from(x) - f64::from(y)).powi(2)).sum::<f64>() / a.len() as f64
}

/// GIMP's denoised output: the command line's `--denoise` pixels (within 1 level),
/// not the plain upscale, and closer to the clean photo's upscale than the plain one.
fn check_denoised(denoised: &Path, plain: &DynamicImage, cli: &Path, clean: &DynamicImage, log: &str) {
    assert!(denoised.is_file(), "GIMP wrote no {}:\n{log}", denoised.display());
    let denoised = read(denoised).image;
    assert_eq!(denoised.color(), ColorType::Rgb8);
    let diff = max_diff(&denoised, &read(cli).image);
    assert!(diff <= 1, "the plug-in's denoise differs from `aiupscale upscale --denoise` by {diff}");
    assert!(max_diff(&denoised, plain) > 8, "denoise changed nothing");
    let target = nearest_x2(clean);
    let (with, without) = (mse(&denoised, &target), mse(plain, &target));
    assert!(with < 0.7 * without, "MSE to the clean upscale with denoise {with:.1}, without {without:.1}");
}

/// Nearest-neighbour x2 of `input`, the exact answer of the nearest_x2 model.
fn nearest_x2(input: &DynamicImage) -> DynamicImage {
    input.resize_exact(input.width() * 2, input.height() * 2, image::imageops::FilterType::Nearest)
}

/// Largest sample difference between two images of the same layout; with alpha,
/// colour is compared only where alpha > 0 (fully transparent colour is moot).
fn max_diff(a: &DynamicImage, b: &DynamicImage) -> u32 {
    assert_eq!((a.dimensions(), a.color()), (b.dimensions(), b.color()));
    let channels = usize::from(a.color().channel_count());
    let has_alpha = a.color().has_alpha();
    let to16 = |img: &DynamicImage| -> Vec<u16> {
        match img.color().bytes_per_pixel() / img.color().channel_count() {
            1 => img.as_bytes().iter().map(|&v| u16::from(v)).collect(),
            _ => img.as_bytes().chunks_exact(2).map(|c| u16::from_ne_bytes([c[0], c[1]])).collect(),
        }
    };
    let (a, b) = (to16(a), to16(b));
    let mut worst = 0;
    for (pa, pb) in a.chunks_exact(channels).zip(b.chunks_exact(channels)) {
        let transparent = has_alpha && pa[channels - 1] == 0 && pb[channels - 1] == 0;
        for c in 0..channels {
            if transparent && c + 1 < channels {
                continue;
            }
            worst = worst.max(u32::from(pa[c].abs_diff(pb[c])));
        }
    }
    worst
}

#[test]
fn gimp210_upscales_rgb_rgba_gray_and_16_bit_with_the_plugin() {
    let gimp = Gimp::new();
    let env = &gimp.env;
    let model = env.nearest();

    // A real photo (RGB 8-bit), into a new image.
    let photo_in = env.path("astronaut.png");
    write_png(&photo_in, &crop("astronaut.png", 96, 32, 160, 120), None);
    // RGBA with a transparent band, a ramp and opaque pixels: the image is resized in place.
    let rgb = crop("chelsea.png", 150, 50, 64, 48).to_rgb8();
    let rgba = ImageBuffer::from_fn(64, 48, |x, y| {
        let [r, g, b] = rgb.get_pixel(x, y).0;
        Rgba([
            r,
            g,
            b,
            if x < 16 {
                0
            } else if x < 40 {
                (x * 10) as u8
            } else {
                255
            },
        ])
    });
    let rgba_in = env.path("cat_rgba.png");
    write_png(&rgba_in, &DynamicImage::ImageRgba8(rgba), None);
    // Gray (the camera photo), and gray with alpha.
    let gray_in = env.path("camera.png");
    write_png(&gray_in, &crop("camera.png", 200, 100, 80, 64).to_luma8().into(), None);
    let gray = crop("camera.png", 0, 0, 40, 24).to_luma8();
    let la = ImageBuffer::from_fn(40, 24, |x, y| LumaA([gray.get_pixel(x, y).0[0], if y < 8 { 0 } else { 200 }]));
    let la_in = env.path("camera_la.png");
    write_png(&la_in, &DynamicImage::ImageLumaA8(la), None);
    // 16-bit RGB whose values are not multiples of 257 (an 8-bit trip would show).
    let crop16 = crop("coffee.png", 100, 100, 48, 32).to_rgb8();
    let deep = ImageBuffer::from_fn(48, 32, |x, y| {
        Rgb(crop16.get_pixel(x, y).0.map(|v| u16::from(v) * 256 + ((x * 7 + y * 13) % 251) as u16))
    });
    let deep_in = env.path("deep16.png");
    write_png(&deep_in, &DynamicImage::ImageRgb16(deep), None);

    let jobs = [
        (&photo_in, "astronaut_x2.png", true, ColorType::Rgb8),
        (&rgba_in, "cat_rgba_x2.png", false, ColorType::Rgba8),
        (&gray_in, "camera_x2.png", true, ColorType::L8),
        (&la_in, "camera_la_x2.png", false, ColorType::La8),
        (&deep_in, "deep16_x2.png", true, ColorType::Rgb16),
    ];
    // A noisy photo, upscaled with denoise 0.8 (in place) and without.
    let (clean, noisy) = noisy_photo();
    let noisy_in = env.path("noisy.png");
    write_png(&noisy_in, &noisy, None);
    let (denoised_out, plain_out) = (env.path("noisy_denoised_x2.png"), env.path("noisy_plain_x2.png"));

    let mut batches: Vec<String> =
        jobs.iter().map(|(input, out, new_image, _)| batch(input, &env.path(out), &model, 2.0, *new_image)).collect();
    batches.push(batch_denoise(&noisy_in, &denoised_out, &model, 2.0, false, 0.8));
    batches.push(batch(&noisy_in, &plain_out, &model, 2.0, true));
    let run = gimp.run(&batches, &[]);
    eprintln!("GIMP 2.10: {} images in {:.1} s", batches.len(), run.seconds);

    for (input, out, _, color) in jobs {
        let out = env.path(out);
        assert!(out.is_file(), "GIMP wrote no {}:\n{}", out.display(), run.log);
        let input = read(input).image;
        let output = read(&out).image;
        assert_eq!(
            (output.dimensions(), output.color()),
            ((input.width() * 2, input.height() * 2), color),
            "{}",
            out.display()
        );
        let diff = max_diff(&output, &nearest_x2(&input));
        assert!(diff <= if color == ColorType::Rgb16 { 2 } else { 1 }, "{}: off by {diff}", out.display());
    }
    // Alpha is kept exactly: transparent stays transparent, the ramp survives.
    let cat = read(&env.path("cat_rgba_x2.png")).image;
    assert_eq!(cat.get_pixel(5, 50).0[3], 0);
    assert_eq!(cat.get_pixel(2 * 20, 2 * 30).0[3], 200);
    assert_eq!(cat.get_pixel(100, 50).0[3], 255);

    // denoise 0 is the plain nearest upscale; 0.8 is what the command line gives.
    assert!(plain_out.is_file(), "GIMP wrote no {}:\n{}", plain_out.display(), run.log);
    let plain = read(&plain_out).image;
    assert!(max_diff(&plain, &nearest_x2(&noisy)) <= 1);
    let cli_out = env.path("noisy_cli_x2.png");
    cli_denoise(&noisy_in, &cli_out, &model, "0.8");
    check_denoised(&denoised_out, &plain, &cli_out, &clean, &run.log);
}

#[test]
fn gimp210_errors_leave_no_output_and_name_the_fix() {
    let gimp = Gimp::new();
    let env = &gimp.env;
    let input = env.path("in.png");
    write_png(&input, &crop("astronaut.png", 0, 0, 32, 24), None);

    // A catalog model that is not fetched (empty model cache), and an indexed image.
    let missing = env.path("missing.png");
    let indexed = env.path("indexed.png");
    let indexed_batch = format!(
        "(aiupscale-test-indexed {} {} {})",
        scheme(&input.display().to_string()),
        scheme(&indexed.display().to_string()),
        scheme(&env.nearest())
    );
    let run = gimp.run(&[batch(&input, &missing, "realesrgan-x4plus", 4.0, true), indexed_batch], &[]);
    assert!(!missing.exists(), "{}", run.log);
    assert!(run.log.contains("aiupscale models fetch realesrgan-x4plus"), "{}", run.log);
    assert!(!indexed.exists(), "{}", run.log);
    assert!(run.log.contains("indexed images are not supported"), "{}", run.log);

    // No bridge where the plug-in looks.
    let nowhere = env.path("no-such-aiupscale");
    let out = env.path("nobridge.png");
    let run = gimp.run(&[batch(&input, &out, &env.nearest(), 2.0, true)], &[("AIUPSCALE_BRIDGE", &nowhere)]);
    assert!(!out.exists(), "{}", run.log);
    assert!(run.log.contains("no-such-aiupscale") && run.log.contains("does not exist"), "{}", run.log);

    // A bridge that gets killed.
    let killed = fake_bridge(env, "killed", "kill -9 $$\n");
    let out = env.path("killed.png");
    let run = gimp.run(&[batch(&input, &out, &env.nearest(), 2.0, true)], &[("AIUPSCALE_BRIDGE", &killed)]);
    assert!(!out.exists(), "{}", run.log);
    assert!(run.log.contains("was killed by signal 9 (SIGKILL)"), "{}", run.log);
}

/// The plug-in's last parameters, all 12 (content, engine, precision, provenance).
#[allow(clippy::too_many_arguments)]
fn batch_full(
    input: &Path,
    output: &Path,
    model: &str,
    new_image: bool,
    content: &str,
    engine: &str,
    precision: &str,
    provenance: bool,
) -> String {
    format!(
        "(aiupscale-test-full {} {} {} 2.0 {} {} {} {} {})",
        scheme(&input.display().to_string()),
        scheme(&output.display().to_string()),
        scheme(model),
        u8::from(new_image),
        scheme(content),
        scheme(engine),
        scheme(precision),
        u8::from(provenance)
    )
}

/// The bridge behind a wrapper that appends its arguments to `log`, one run a line.
fn logging_bridge(env: &Env, log: &Path) -> PathBuf {
    fake_bridge(env, "logging-bridge", &format!("echo \"$*\" >> '{}'\nexec '{BIN}' \"$@\"\n", log.display()))
}

/// Engine, precision, content and provenance from GIMP 2.10's procedure reach the
/// binary (its command lines, logged by a wrapper); an unavailable precision comes back
/// as the binary's readable message; what GIMP saves records the provenance next to the
/// input's own comment (PNG: XMP and the Comment text), and nothing with provenance 0.
#[test]
fn gimp210_engine_precision_content_and_provenance_reach_the_binary_and_the_file() {
    let gimp = Gimp::new();
    let env = &gimp.env;
    let model = env.nearest();
    let input = env.path("archive.png");
    let photo = crop("astronaut.png", 96, 32, 64, 48);
    write_png_with_text(&input, &photo, "Comment", "Scanned at the archive");
    let (log, in_place, plain, unavailable, auto) = (
        env.path("argv.log"),
        env.path("in_place.png"),
        env.path("plain.png"),
        env.path("bf16.png"),
        env.path("auto.png"),
    );
    let bridge = logging_bridge(env, &log);
    let batches = [
        batch_full(&input, &in_place, &model, false, "", "ort", "fp32", true),
        batch_full(&input, &plain, &model, true, "photo", "", "auto", false),
        batch_full(&input, &unavailable, &model, true, "", "ort", "bf16", true),
        batch_full(&input, &auto, "", true, "animation", "auto", "", true),
        batch_full(&input, &auto, &model, true, "", "cuda", "", true),
    ];
    let run = gimp.run(&batches, &[("AIUPSCALE_BRIDGE", &bridge)]);
    eprintln!("GIMP 2.10: {} runs in {:.1} s", batches.len(), run.seconds);

    let argv = std::fs::read_to_string(&log).unwrap_or_default();
    let argv: Vec<&str> = argv.lines().collect();
    assert_eq!(argv.len(), 4, "one bridge run per valid call:\n{argv:#?}\n{}", run.log);
    assert!(argv[0].contains("--engine ort") && argv[0].contains("--precision fp32"), "{}", argv[0]);
    // auto (or "") is the bridge's default and is left out; --content only for the model auto.
    assert!(!argv[1].contains("--engine") && !argv[1].contains("--precision"), "{}", argv[1]);
    assert!(!argv[1].contains("--content"), "{}", argv[1]);
    assert!(argv[2].contains("--engine ort") && argv[2].contains("--precision bf16"), "{}", argv[2]);
    assert!(argv[3].contains("--content animation") && argv[3].contains("--scale 2"), "{}", argv[3]);
    assert!(!argv[3].contains("--model"), "{}", argv[3]);

    // The unavailable precision: the binary's message, no output.
    assert!(!unavailable.exists());
    assert!(run.log.contains("precision bf16 is not available on engine ort"), "{}", run.log);
    // The model for "animation" is not in the empty cache (offline): the fetch command.
    assert!(!auto.exists());
    assert!(run.log.contains("aiupscale models fetch"), "{}", run.log);
    assert!(run.log.contains("engine must be one of auto, ort, openvino, not \"cuda\""), "{}", run.log);

    // In place, provenance on: the pixels, the XMP packet and the comment, the input's kept.
    assert!(in_place.is_file(), "{}", run.log);
    assert!(max_diff(&read(&in_place).image, &nearest_x2(&read(&input).image)) <= 1);
    let xmp = png_text(&in_place, "XML:com.adobe.xmp");
    for needle in ["nearest_x2", "compositeWithTrainedAlgorithmicMedia", "AI-upscaled by aiupscale"] {
        assert!(xmp.contains(needle), "the saved XMP lacks {needle:?}:\n{xmp}");
    }
    let comment = png_text(&in_place, "Comment");
    assert!(comment.contains("Scanned at the archive"), "the input's comment is kept: {comment:?}");
    assert!(comment.contains("AI-upscaled by aiupscale") && comment.contains("nearest_x2"), "{comment:?}");
    // Provenance off: nothing claims it.
    assert!(plain.is_file(), "{}", run.log);
    let texts = png_texts(&plain);
    assert!(texts.iter().all(|(_, t)| !t.contains("AI-upscaled")), "{texts:?}");
}

/// An executable shell script standing in for the bridge.
fn fake_bridge(env: &Env, name: &str, body: &str) -> PathBuf {
    let path = env.path(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

/// GIMP's progress "cancel" closes the plug-in with SIGKILL; the bridge must then get
/// SIGTERM (so that it stops and writes nothing), not run on as an orphan.
#[test]
fn gimp210_cancel_sends_sigterm_to_the_bridge() {
    let gimp = Gimp::new();
    let env = &gimp.env;
    let input = env.path("in.png");
    write_png(&input, &crop("astronaut.png", 0, 0, 32, 24), None);
    let (pids, term) = (env.path("bridge.pids"), env.path("bridge.term"));
    let slow = fake_bridge(
        env,
        "slow-bridge",
        &format!(
            "trap 'echo TERM > {term}; exit 143' TERM\necho \"$$ $PPID\" > {pids}.tmp && mv {pids}.tmp {pids}\n\
             while :; do sleep 0.1; done\n",
            term = term.display(),
            pids = pids.display()
        ),
    );
    let out = env.path("cancelled.png");
    let mut child = gimp
        .command(&[batch(&input, &out, &env.nearest(), 2.0, true)], &[("AIUPSCALE_BRIDGE", &slow)])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(90);
    while !pids.exists() {
        assert!(Instant::now() < deadline, "the plug-in never started the bridge");
        assert!(child.try_wait().unwrap().is_none(), "GIMP ended before the bridge started");
        std::thread::sleep(Duration::from_millis(50));
    }
    let text = std::fs::read_to_string(&pids).unwrap();
    let plugin: i32 = text.split_whitespace().nth(1).unwrap().parse().unwrap();
    let comm = std::fs::read_to_string(format!("/proc/{plugin}/comm")).unwrap();
    assert_eq!(comm.trim(), "aiupscale", "the bridge's parent should be the plug-in");
    // What GIMP does on cancel (gimp_plug_in_close with kill_it).
    assert_eq!(unsafe { libc::kill(plugin, libc::SIGKILL) }, 0);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !term.exists() {
        assert!(Instant::now() < deadline, "the bridge did not get SIGTERM when the plug-in died");
        std::thread::sleep(Duration::from_millis(50));
    }
    let output = child.wait_with_output().unwrap();
    assert!(!matches!(output.status.code(), Some(124) | Some(137)), "GIMP hung after the plug-in died");
    assert!(!out.exists());
}

/// One real model (anime4k-x2-s-rl, cheap) by catalog name through GIMP: the same
/// pixels as the command line gives for the same file.
#[test]
fn gimp210_real_model_matches_the_command_line() {
    let fetch = Command::new(BIN).args(["models", "fetch", "anime4k-x2-s-rl"]).output().unwrap();
    assert_ok(&fetch);
    let path = Command::new(BIN).args(["models", "path", "anime4k-x2-s-rl"]).output().unwrap();
    assert_ok(&path);
    let models = PathBuf::from(stdout(&path).trim()).parent().unwrap().to_path_buf();

    let gimp = Gimp::new();
    let env = &gimp.env;
    let input = env.path("astronaut.png");
    write_png(&input, &crop("astronaut.png", 128, 64, 192, 144), None);
    let out = env.path("gimp_x2.png");
    let run = gimp.run(&[batch(&input, &out, "anime4k-x2-s-rl", 0.0, true)], &[("AIUPSCALE_MODEL_DIR", &models)]);
    assert!(out.is_file(), "{}", run.log);

    let cli_out = env.path("cli_x2.png");
    let cli = Command::new(BIN)
        .args(["upscale", "--quiet", "--model", "anime4k-x2-s-rl"])
        .arg(&input)
        .arg(&cli_out)
        .env("AIUPSCALE_MODEL_DIR", &models)
        .output()
        .unwrap();
    assert_ok(&cli);
    let (from_gimp, from_cli) = (read(&out).image, read(&cli_out).image);
    assert_eq!(from_gimp.dimensions(), (384, 288));
    assert!(max_diff(&from_gimp, &from_cli) <= 1, "GIMP and the command line disagree");
    // A real model, not a plain resize.
    assert!(max_diff(&from_gimp, &nearest_x2(&read(&input).image)) > 8);
}

#[test]
fn install_and_uninstall_gimp() {
    let env = Env::new();
    let home = env.path("home");
    // No XDG_CONFIG_HOME: ~/.config; a GIMP 3.0 folder gets the Python plug-in too.
    std::fs::create_dir_all(home.join(".config/GIMP/3.0")).unwrap();
    let run = |args: &[&str]| env.cmd().args(args).env("HOME", &home).env_remove("XDG_CONFIG_HOME").output().unwrap();
    let install = run(&["install", "gimp"]);
    assert_ok(&install);
    let root = home.join(".config/GIMP");
    let bridge = std::fs::canonicalize(BIN).unwrap();
    for (version, file) in [("2.10", "aiupscale"), ("3.0", "aiupscale.py")] {
        let dir = root.join(version).join("plug-ins/aiupscale");
        let meta = std::fs::metadata(dir.join(file)).unwrap_or_else(|e| panic!("{version}: {e}\n{}", stdout(&install)));
        assert_eq!(meta.permissions().mode() & 0o777, 0o755, "{version}");
        assert_eq!(std::fs::read_to_string(dir.join("bridge-path")).unwrap().trim(), bridge.to_str().unwrap());
        assert!(stdout(&install).contains(&dir.join(file).display().to_string()), "{}", stdout(&install));
    }
    // The GIMP 2.10 plug-in is a native executable; the GIMP 3 one is the Python script.
    assert!(std::fs::read(root.join("2.10/plug-ins/aiupscale/aiupscale")).unwrap().starts_with(b"\x7fELF"));
    let py = std::fs::read_to_string(root.join("3.0/plug-ins/aiupscale/aiupscale.py")).unwrap();
    assert!(py.contains("class AIUpscale(Gimp.PlugIn)"));
    // The contract's Python side sits beside the GIMP 3 plug-in only.
    let module = std::fs::read_to_string(root.join("3.0/plug-ins/aiupscale/aiupscale_bridge.py")).unwrap();
    assert!(module.contains("def list_models(bridge"));
    assert!(!root.join("2.10/plug-ins/aiupscale/aiupscale_bridge.py").exists());
    // Again: replaces in place.
    assert_ok(&run(&["install", "gimp"]));

    let uninstall = run(&["uninstall", "gimp"]);
    assert_ok(&uninstall);
    assert!(!root.join("2.10/plug-ins/aiupscale").exists() && !root.join("3.0/plug-ins/aiupscale").exists());
    assert!(root.join("3.0").is_dir(), "GIMP's own folders stay");
    let again = run(&["uninstall", "gimp"]);
    assert_ok(&again);
    assert!(stdout(&again).contains("no aiupscale GIMP plug-in found"), "{}", stdout(&again));

    // XDG_CONFIG_HOME wins over HOME.
    let xdg = env.path("xdg");
    let install = env.cmd().args(["install", "gimp"]).env("HOME", &home).env("XDG_CONFIG_HOME", &xdg).output().unwrap();
    assert_ok(&install);
    assert!(xdg.join("GIMP/2.10/plug-ins/aiupscale/aiupscale").is_file());
    assert!(!root.join("2.10/plug-ins/aiupscale").exists());
}

// ------------------------------------------------------------------ GIMP 3 (chroot)

fn trixie_dir() -> PathBuf {
    std::env::var_os("AIUPSCALE_TRIXIE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../.deps/trixie"))
}

/// GIMP 3.0 in the Debian trixie chroot runs the Python plug-in (installed by
/// `aiupscale install gimp`) through the same bridge binary, copied in.
#[test]
#[ignore = "needs root and the trixie chroot of scripts/setup-gimp3-chroot; scripts/test runs it: \
            cargo test -p aiupscale-bridge --test gimp -- --ignored gimp3_python_plugin_in_a_trixie_chroot"]
fn gimp3_python_plugin_in_a_trixie_chroot() {
    let root = trixie_dir();
    assert!(
        root.join("usr/bin/gimp-console-3.0").is_file(),
        "{} has no GIMP 3: run scripts/setup-gimp3-chroot (as root)",
        root.display()
    );
    assert_eq!(unsafe { libc::geteuid() }, 0, "the GIMP 3 chroot test needs root (chroot, mount)");

    // A work folder inside the chroot: /aiupscale-test-XXXX.
    let work = tempfile::Builder::new().prefix("aiupscale-test-").tempdir_in(&root).unwrap();
    let inside = |p: &Path| Path::new("/").join(p.strip_prefix(&root).unwrap());
    let env = Env::new();
    let (home, config, models) = (work.path().join("home"), work.path().join("config"), work.path().join("models"));
    for dir in [&home, &config.join("GIMP/3.0"), &models] {
        std::fs::create_dir_all(dir).unwrap();
    }
    // The binary (dynamically linked against glibc; trixie's is newer), ONNX Runtime, a model.
    let bin = work.path().join("aiupscale");
    std::fs::copy(BIN, &bin).unwrap();
    let ort = Path::new(env!("CARGO_MANIFEST_DIR")).join("../.deps/ort/onnxruntime/capi/libonnxruntime.so.1.31.1");
    std::fs::copy(&ort, work.path().join("libonnxruntime.so.1.31.1"))
        .unwrap_or_else(|e| panic!("{}: {e} (run scripts/setup)", ort.display()));
    std::fs::copy(env.models.join("nearest_x2.onnx"), models.join("nearest_x2.onnx")).unwrap();

    // Inputs: a real photo (RGB) and RGBA with transparency.
    let photo_in = work.path().join("astronaut.png");
    write_png(&photo_in, &crop("astronaut.png", 96, 32, 160, 120), None);
    let rgb = crop("chelsea.png", 150, 50, 64, 48).to_rgb8();
    let rgba = ImageBuffer::from_fn(64, 48, |x, y| {
        let [r, g, b] = rgb.get_pixel(x, y).0;
        Rgba([
            r,
            g,
            b,
            if x < 16 {
                0
            } else if x < 40 {
                (x * 10) as u8
            } else {
                255
            },
        ])
    });
    let rgba_in = work.path().join("cat.png");
    write_png(&rgba_in, &DynamicImage::ImageRgba8(rgba), None);

    // `aiupscale install gimp` inside the chroot, so bridge-path is the chroot's path.
    let chroot_sh = |script: &str, timeout: &str| -> Output {
        let started = Instant::now();
        let out = Command::new("unshare")
            .args(["--mount", "--propagation", "private", "--fork", "sh", "-c"])
            .arg(
                "mount -t proc proc \"$1/proc\" && mount --rbind /dev \"$1/dev\" && \
                 exec timeout -k 10 \"$2\" chroot \"$1\" /usr/bin/env -i PATH=/usr/bin:/bin \"HOME=$3\" \
                 \"XDG_CONFIG_HOME=$4\" \"AIUPSCALE_MODEL_DIR=$5\" \"AIUPSCALE_ORT_LIB=$6\" AIUPSCALE_OFFLINE=1 sh -c \"$7\"",
            )
            .arg("sh")
            .args([root.as_os_str(), timeout.as_ref()])
            .args([
                inside(&home),
                inside(&config),
                inside(&models),
                inside(&work.path().join("libonnxruntime.so.1.31.1")),
            ])
            .arg(script)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        eprintln!("chroot: {:.1} s for {script:.60}", started.elapsed().as_secs_f64());
        out
    };
    let install = chroot_sh(&format!("{} install gimp", inside(&bin).display()), "60");
    assert_ok(&install);
    assert!(stdout(&install).contains("GIMP 3.0"), "{}", stdout(&install));
    assert!(config.join("GIMP/3.0/plug-ins/aiupscale/aiupscale.py").is_file());

    let photo_out = work.path().join("astronaut_x2.png");
    let rgba_out = work.path().join("cat_x2.png");
    let missing_out = work.path().join("missing.png");
    // A noisy photo, upscaled with denoise 0.8 and without.
    let (clean, noisy) = noisy_photo();
    let noisy_in = work.path().join("noisy.png");
    write_png(&noisy_in, &noisy, None);
    let (denoised_out, plain_out) = (work.path().join("noisy_denoised_x2.png"), work.path().join("noisy_plain_x2.png"));
    let job_denoise = |input: &Path, output: &Path, model: &str, new_image: bool, denoise: f64| {
        format!(
            "job({:?}, {:?}, {:?}, {}, {denoise:.2})",
            inside(input).display().to_string(),
            inside(output).display().to_string(),
            model,
            if new_image { "True" } else { "False" }
        )
    };
    let job =
        |input: &Path, output: &Path, model: &str, new_image: bool| job_denoise(input, output, model, new_image, 0.0);
    let nearest = inside(&models.join("nearest_x2.onnx")).display().to_string();
    let script = format!(
        r#"
import sys
import gi
gi.require_version('Gimp', '3.0')
from gi.repository import Gimp, Gio
def job(src, dst, model, new_image, denoise, export_metadata=False, **options):
    image = Gimp.file_load(Gimp.RunMode.NONINTERACTIVE, Gio.File.new_for_path(src))
    proc = Gimp.get_pdb().lookup_procedure('plug-in-aiupscale')
    config = proc.create_config()
    config.set_property('run-mode', Gimp.RunMode.NONINTERACTIVE)
    config.set_property('image', image)
    config.set_core_object_array('drawables', [image.get_layers()[0]])
    config.set_property('model', model)
    config.set_property('scale', 2.0)
    config.set_property('new-image', new_image)
    if denoise > 0:
        config.set_property('denoise', denoise)
    for key, value in options.items():
        config.set_property(key, value)
    result = proc.run(config)
    status = result.index(0)
    if status != Gimp.PDBStatusType.SUCCESS:
        print('aiupscale-test: FAILED', dst, status, flush=True)
        return
    target = result.index(1) if new_image else image
    if export_metadata:
        # What a user's export with its Exif, XMP and comment boxes ticked writes (the
        # non-interactive defaults write none of them).
        export = Gimp.get_pdb().lookup_procedure('file-png-export')
        settings = export.create_config()
        settings.set_property('image', target)
        settings.set_property('file', Gio.File.new_for_path(dst))
        for key in ('include-exif', 'include-xmp', 'include-comment'):
            settings.set_property(key, True)
        export.run(settings)
    else:
        Gimp.file_save(Gimp.RunMode.NONINTERACTIVE, target, Gio.File.new_for_path(dst), None)
    print('aiupscale-test: saved', dst, flush=True)
{}
{}
{}
{}
{}
"#,
        job(&photo_in, &photo_out, &nearest, true),
        job(&rgba_in, &rgba_out, &nearest, false),
        job(&photo_in, &missing_out, "realesrgan-x4plus", true),
        job_denoise(&noisy_in, &denoised_out, &nearest, true, 0.8),
        job(&noisy_in, &plain_out, &nearest, false),
    );
    // Engine, precision and provenance (the Advanced fold's arguments).
    let (advanced_out, refused_out, unmarked_out) =
        (work.path().join("ort_fp32.png"), work.path().join("ort_bf16.png"), work.path().join("unmarked.png"));
    let with = |output: &Path, options: &str| {
        format!(
            "job({:?}, {:?}, {:?}, True, 0.0, {options})",
            inside(&photo_in).display().to_string(),
            inside(output).display().to_string(),
            nearest
        )
    };
    let script = format!(
        "{script}{}\n{}\n{}\n",
        with(&advanced_out, "engine='ort', precision='fp32', export_metadata=True"),
        with(&refused_out, "engine='ort', precision='bf16'"),
        with(&unmarked_out, "provenance=False, export_metadata=True"),
    );
    let script_path = work.path().join("test.py");
    std::fs::write(&script_path, script).unwrap();
    let gimp = chroot_sh(
        &format!(
            "gimp-console-3.0 -i --batch-interpreter python-fu-eval -b \"exec(open('{}').read())\" --quit",
            inside(&script_path).display()
        ),
        GIMP_TIMEOUT,
    );
    let log = format!("{}{}", stdout(&gimp), stderr(&gimp));
    assert!(!matches!(gimp.status.code(), Some(124) | Some(137)), "GIMP 3 ran past {GIMP_TIMEOUT} s:\n{log}");

    for (input, output, color) in [(&photo_in, &photo_out, ColorType::Rgb8), (&rgba_in, &rgba_out, ColorType::Rgba8)] {
        assert!(output.is_file(), "GIMP 3 wrote no {}:\n{log}", output.display());
        let (input, output) = (read(input).image, read(output).image);
        assert_eq!((output.dimensions(), output.color()), ((input.width() * 2, input.height() * 2), color));
        assert!(max_diff(&output, &nearest_x2(&input)) <= 1);
    }
    assert_eq!(read(&rgba_out).image.get_pixel(5, 50).0[3], 0);
    assert!(!missing_out.exists(), "{log}");
    assert!(log.contains("aiupscale models fetch realesrgan-x4plus"), "{log}");

    // denoise left at its default (0) is the plain upscale; 0.8 is the command line's.
    assert!(plain_out.is_file(), "GIMP 3 wrote no {}:\n{log}", plain_out.display());
    let plain = read(&plain_out).image;
    assert!(max_diff(&plain, &nearest_x2(&noisy)) <= 1);
    let cli_out = work.path().join("noisy_cli_x2.png");
    cli_denoise(&noisy_in, &cli_out, &models.join("nearest_x2.onnx").display().to_string(), "0.8");
    check_denoised(&denoised_out, &plain, &cli_out, &clean, &log);

    // ort/fp32 runs; bf16 on ort is refused with the binary's message; what GIMP 3 saves
    // records the provenance unless it was turned off.
    assert!(advanced_out.is_file(), "GIMP 3 wrote no {}:\n{log}", advanced_out.display());
    assert!(max_diff(&read(&advanced_out).image, &nearest_x2(&read(&photo_in).image)) <= 1);
    assert!(!refused_out.exists(), "{log}");
    assert!(log.contains("precision bf16 is not available on engine ort"), "{log}");
    let xmp = png_text(&advanced_out, "XML:com.adobe.xmp");
    assert!(xmp.contains("nearest_x2") && xmp.contains("compositeWithTrainedAlgorithmicMedia"), "{xmp}");
    let comment = png_text(&advanced_out, "Comment");
    assert!(comment.contains("AI-upscaled by aiupscale"), "{comment:?}");
    assert!(unmarked_out.is_file(), "GIMP 3 wrote no {}:\n{log}", unmarked_out.display());
    let unmarked = png_texts(&unmarked_out);
    assert!(unmarked.iter().all(|(_, t)| !t.contains("AI-upscaled")), "{unmarked:?}");
}
