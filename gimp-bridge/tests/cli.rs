//! The `aiupscale` binary end to end, on real photos, with the tiny exact nearest-x2
//! model (no downloads), an empty model cache, and fixtures built here.

mod common;

use std::{
    io::{BufRead, BufReader, Write},
    process::Stdio,
};

use common::*;
use image::{metadata::Orientation, ColorType, DynamicImage, GenericImageView, ImageBuffer, Rgb, Rgba};

#[test]
fn rgb_photo_doubles_with_the_model() {
    let env = Env::new();
    let out = env.path("astronaut_x2.png");
    let result = env.upscale(&photo("astronaut.png"), &out, &[]);
    assert_ok(&result);
    assert!(stderr(&result).contains("1024x1024"), "{}", stderr(&result));
    let (input, output) = (image::open(photo("astronaut.png")).unwrap(), read(&out).image);
    assert_eq!((output.dimensions(), output.color()), ((1024, 1024), ColorType::Rgb8));
    for (x, y) in [(0, 0), (100, 37), (511, 511), (300, 400)] {
        assert_eq!(output.get_pixel(2 * x + 1, 2 * y), input.get_pixel(x, y), "({x},{y})");
    }
}

#[test]
fn gray_stays_gray() {
    let env = Env::new();
    let out = env.path("camera.png");
    assert_ok(&env.upscale(&photo("camera.png"), &out, &["--quiet"]));
    let output = read(&out).image;
    assert_eq!((output.dimensions(), output.color()), ((1024, 1024), ColorType::L8));
    let input = image::open(photo("camera.png")).unwrap();
    assert_eq!(output.get_pixel(201, 100), input.get_pixel(100, 50));
    // OUT an existing folder: OUT/<IN's name>.
    std::fs::create_dir(env.path("into")).unwrap();
    assert_ok(&env.upscale(&photo("camera.png"), &env.path("into"), &["--quiet"]));
    assert_eq!(read(&env.path("into/camera.png")).image.color(), ColorType::L8);
}

#[test]
fn sixteen_bit_png_keeps_its_depth() {
    let env = Env::new();
    // Values that are not multiples of 257: an 8-bit round trip would change them.
    let crop = crop("astronaut.png", 100, 100, 96, 64).to_rgb8();
    let deep = ImageBuffer::from_fn(96, 64, |x, y| {
        let p = crop.get_pixel(x, y).0;
        Rgb(p.map(|v| u16::from(v) * 256 + ((x * 7 + y * 13) % 251) as u16))
    });
    write_png(&env.path("deep.png"), &DynamicImage::ImageRgb16(deep.clone()), None);
    DynamicImage::ImageRgb16(deep.clone()).save(env.path("deep.tif")).unwrap();
    for (input, output) in [("deep.png", "deep_x2.tif"), ("deep.tif", "deep_x2.png")] {
        let out = env.path(output);
        assert_ok(&env.upscale(&env.path(input), &out, &[]));
        let result = read(&out).image;
        assert_eq!((result.dimensions(), result.color()), ((192, 128), ColorType::Rgb16), "{output}");
        let result = result.to_rgb16();
        for (x, y) in [(0, 0), (95, 63), (40, 21), (7, 50)] {
            assert_eq!(result.get_pixel(2 * x, 2 * y + 1), deep.get_pixel(x, y), "{output} ({x},{y})");
        }
    }
}

#[test]
fn transparency_is_kept() {
    let env = Env::new();
    let rgb = crop("chelsea.png", 150, 50, 64, 48).to_rgb8();
    let rgba = ImageBuffer::from_fn(64, 48, |x, y| {
        let [r, g, b] = rgb.get_pixel(x, y).0;
        Rgba([r, g, b, if x < 24 { 0 } else { 255 }])
    });
    let input = env.path("cat.png");
    write_png(&input, &DynamicImage::ImageRgba8(rgba.clone()), None);
    let out = env.path("cat_x2.png");
    assert_ok(&env.upscale(&input, &out, &[]));
    let output = read(&out).image;
    assert_eq!((output.dimensions(), output.color()), ((128, 96), ColorType::Rgba8));
    assert_eq!(output.get_pixel(10, 50).0[3], 0, "transparent stays transparent");
    assert_eq!(output.get_pixel(100, 50), image::Rgba(rgba.get_pixel(50, 25).0), "opaque pixels are exact");

    let gray = crop("camera.png", 0, 0, 32, 16).to_luma8();
    let la =
        ImageBuffer::from_fn(32, 16, |x, y| image::LumaA([gray.get_pixel(x, y).0[0], if y < 8 { 0 } else { 255 }]));
    write_png(&env.path("la.png"), &DynamicImage::ImageLumaA8(la), None);
    let out = env.path("la_x2.png");
    assert_ok(&env.upscale(&env.path("la.png"), &out, &[]));
    let output = read(&out).image;
    assert_eq!((output.color(), output.get_pixel(5, 5).0[3], output.get_pixel(5, 30).0[3]), (ColorType::La8, 0, 255));
}

#[test]
fn exif_orientation_is_applied_and_reset() {
    let env = Env::new();
    // 64x32 stored; quadrants red, blue / green, white. Orientation 6: rotate 90° clockwise.
    let colors = [[220u8, 20, 20], [20, 20, 220], [20, 200, 20], [240, 240, 240]];
    let stored = ImageBuffer::from_fn(64, 32, |x, y| Rgb(colors[(usize::from(y >= 16) * 2) + usize::from(x >= 32)]));
    let input = env.path("rotated.jpg");
    write_jpeg(&input, &DynamicImage::ImageRgb8(stored), Some(exif_orientation(6)));
    assert_eq!(read(&input).orientation, Orientation::Rotate90, "fixture");
    let out = env.path("upright.jpg");
    assert_ok(&env.upscale(&input, &out, &[]));
    let result = read(&out);
    assert_eq!(result.image.dimensions(), (64, 128), "upright 32x64, doubled");
    assert_eq!(result.orientation, Orientation::NoTransforms, "orientation reset to 1");
    assert!(result.exif.is_some(), "EXIF copied into the JPEG");
    let near = |(x, y): (u32, u32), c: [u8; 3]| {
        let p = result.image.get_pixel(x, y).0;
        (0..3).all(|i| p[i].abs_diff(c[i]) < 40)
    };
    // Clockwise: the stored top-left (red) is now top-right, bottom-left (green) top-left.
    assert!(near((48, 32), colors[0]), "red top-right");
    assert!(near((16, 32), colors[2]), "green top-left");
    assert!(near((48, 96), colors[1]), "blue bottom-right");
    assert!(near((16, 96), colors[3]), "white bottom-left");
}

#[test]
fn icc_profile_is_preserved() {
    let env = Env::new();
    let input = env.path("tagged.png");
    write_png(&input, &crop("coffee.png", 200, 100, 48, 40), Some(icc_profile()));
    assert_eq!(read(&input).icc, Some(icc_profile()), "fixture");
    for ext in ["png", "tif", "jpg", "webp"] {
        let out = env.path(&format!("tagged_x2.{ext}"));
        assert_ok(&env.upscale(&input, &out, &[]));
        let result = read(&out);
        assert_eq!(result.image.dimensions(), (96, 80), "{ext}");
        assert_eq!(result.icc, Some(icc_profile()), "{ext}");
    }
}

#[test]
fn folder_mode_lists_failures_and_skips_existing_outputs() {
    let env = Env::new();
    let (input, output) = (env.path("in"), env.path("out"));
    std::fs::create_dir(&input).unwrap();
    write_png(&input.join("a.png"), &crop("astronaut.png", 0, 0, 64, 64), None);
    write_jpeg(&input.join("b.jpg"), &crop("camera.png", 0, 0, 48, 32), None);
    std::fs::write(input.join("broken.png"), b"this is not a PNG").unwrap();
    std::fs::write(input.join("notes.txt"), b"ignored").unwrap();

    let first = env.upscale(&input, &output, &["--jobs", "2"]);
    assert_eq!(first.status.code(), Some(1), "{}", stderr(&first));
    let err = stderr(&first);
    assert!(err.contains("2 upscaled, 0 skipped, 1 failed of 3 images"), "{err}");
    assert!(err.contains("failed:") && err.contains("broken.png"), "{err}");
    assert_eq!(read(&output.join("a.png")).image.dimensions(), (128, 128));
    assert_eq!(read(&output.join("b.jpg")).image.color(), ColorType::L8);
    assert!(!output.join("broken.png").exists() && !output.join("notes.txt").exists());
    assert!(temp_files(&output).is_empty(), "{:?}", temp_files(&output));

    let modified = std::fs::metadata(output.join("a.png")).unwrap().modified().unwrap();
    let second = env.upscale(&input, &output, &[]);
    assert_eq!(second.status.code(), Some(1));
    assert!(stderr(&second).contains("0 upscaled, 2 skipped, 1 failed"), "{}", stderr(&second));
    assert_eq!(std::fs::metadata(output.join("a.png")).unwrap().modified().unwrap(), modified);

    std::fs::remove_file(input.join("broken.png")).unwrap();
    let third = env.upscale(&input, &output, &["--overwrite", "--quiet"]);
    assert_ok(&third);
    assert!(stderr(&third).is_empty(), "{}", stderr(&third));
}

#[test]
fn the_input_is_never_overwritten() {
    let env = Env::new();
    let input = env.path("a.png");
    write_png(&input, &crop("astronaut.png", 0, 0, 32, 32), None);
    let before = std::fs::read(&input).unwrap();
    let sneaky = env.dir.path().join("x/../a.png");
    std::fs::create_dir(env.path("x")).unwrap();
    // A usage error: exit 2.
    for output in [input.clone(), sneaky] {
        let result = env.upscale(&input, &output, &[]);
        assert_eq!(result.status.code(), Some(2));
        assert!(stderr(&result).contains("refusing to overwrite the input"), "{}", stderr(&result));
    }
    let folder = env.upscale(env.dir.path(), env.dir.path(), &[]);
    assert_eq!(folder.status.code(), Some(2));
    assert!(stderr(&folder).contains("refusing to write into the input folder"), "{}", stderr(&folder));
    assert_eq!(std::fs::read(&input).unwrap(), before);
}

#[test]
fn a_failed_write_leaves_no_temp_file() {
    let env = Env::new();
    let input = env.path("strip.png");
    write_png(&input, &crop("astronaut.png", 0, 0, 64, 1), None);
    // 17000 pixels wide: more than WebP can hold, so the encoder fails mid-write.
    let out = env.path("wide.webp");
    let result = env.upscale(&input, &out, &["--width", "17000"]);
    assert_eq!(result.status.code(), Some(1));
    assert!(stderr(&result).contains("cannot encode"), "{}", stderr(&result));
    assert!(!out.exists());
    assert!(temp_files(env.dir.path()).is_empty(), "{:?}", temp_files(env.dir.path()));
}

#[test]
fn clear_errors_for_bad_inputs_outputs_and_missing_models() {
    let env = Env::new();
    let fake = env.path("fake.png");
    std::fs::write(&fake, b"GIF89a not really").unwrap();
    // Exit 1, except the output format: a usage error (2).
    let cases: [(Vec<String>, &str); 5] = [
        (
            vec![fake.display().to_string(), env.path("o.png").display().to_string()],
            "aiupscale reads JPEG, PNG, TIFF and WebP",
        ),
        (
            vec![env.path("missing.png").display().to_string(), env.path("o.png").display().to_string()],
            "does not exist",
        ),
        (
            vec![photo("camera.png").display().to_string(), env.path("o.bmp").display().to_string()],
            "unsupported output format .bmp; use .png, .jpg, .tif or .webp",
        ),
        // No --model: the default photo x4 model, which the empty cache lacks.
        (
            vec![photo("camera.png").display().to_string(), env.path("o.png").display().to_string()],
            "aiupscale models fetch realesrgan-x4plus",
        ),
        // An output folder that does not exist is reported before any model loads.
        (
            vec![photo("camera.png").display().to_string(), env.path("no/such/dir/o.png").display().to_string()],
            "cannot create a temporary file in",
        ),
    ];
    for (args, expected) in cases {
        let result = env.cmd().arg("upscale").args(&args).output().unwrap();
        let code = if expected.starts_with("unsupported output format") { 2 } else { 1 };
        assert_eq!(result.status.code(), Some(code), "{args:?}");
        assert!(stderr(&result).contains(expected), "{args:?}: {}", stderr(&result));
    }
}

#[test]
fn classic_filters_and_output_sizes() {
    let env = Env::new();
    let out = env.path("classic.png");
    assert_ok(&env.run(&[
        "upscale",
        &photo("camera.png").display().to_string(),
        &out.display().to_string(),
        "--classic",
        "bicubic",
        "--scale",
        "1.5",
    ]));
    assert_eq!((read(&out).image.dimensions(), read(&out).image.color()), ((768, 768), ColorType::L8));
    // coffee is 600x400: one side keeps the aspect ratio, both fit the box.
    for (extra, size) in
        [(vec!["--width", "900"], (900, 600)), (vec!["--width", "2000", "--height", "1000"], (1500, 1000))]
    {
        let out = env.path("sized.png");
        assert_ok(&env.upscale(&photo("coffee.png"), &out, &extra));
        assert_eq!(read(&out).image.dimensions(), size, "{extra:?}");
    }
}

fn json_lines(text: &str) -> Vec<serde_json::Value> {
    text.lines().filter_map(|l| serde_json::from_str(l).ok()).collect()
}

#[test]
fn raw_round_trip_with_progress_json() {
    let env = Env::new();
    let rgba = crop("chelsea.png", 100, 80, 40, 30).to_rgba8();
    let (input, out) = (env.path("in.raw"), env.path("out.raw"));
    std::fs::write(&input, rgba.as_raw()).unwrap();
    let args = [
        "upscale-raw",
        "--width",
        "40",
        "--height",
        "30",
        "--format",
        "rgba8",
        "--progress-json",
        "--tile-size",
        "36",
        "--model",
    ];
    let result = env.cmd().args(args).arg(env.nearest()).arg(&input).arg(&out).output().unwrap();
    assert_ok(&result);
    let report: serde_json::Value = serde_json::from_str(stdout(&result).trim()).unwrap();
    assert_eq!(
        (report["width"].as_u64(), report["height"].as_u64(), report["bytes"].as_u64()),
        (Some(80), Some(60), Some(80 * 60 * 4))
    );
    let events = json_lines(&stderr(&result));
    assert_eq!(events[0]["started"], true, "{events:?}");
    assert!(events.iter().any(|e| e["progress"].is_number()), "{events:?}");
    let last = events.last().unwrap();
    assert_eq!((last["done"].as_bool(), last["width"].as_u64()), (Some(true), Some(80)));
    let pixels = std::fs::read(&out).unwrap();
    let output = ImageBuffer::<Rgba<u8>, _>::from_raw(80, 60, pixels).unwrap();
    assert_eq!(output.get_pixel(2 * 17 + 1, 2 * 9), rgba.get_pixel(17, 9));

    // stdin to stdout, 16-bit gray.
    let gray: Vec<u8> = (0..20 * 10).flat_map(|i: u16| (i * 300).to_ne_bytes()).collect();
    let mut child = env
        .cmd()
        .args([
            "upscale-raw",
            "--width",
            "20",
            "--height",
            "10",
            "--format",
            "gray16",
            "--model",
            &env.nearest(),
            "-",
            "-",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&gray).unwrap();
    let result = child.wait_with_output().unwrap();
    assert_ok(&result);
    assert_eq!(result.stdout.len(), 40 * 20 * 2);
    let sized = env
        .cmd()
        .args([
            "upscale-raw",
            "--width",
            "20",
            "--height",
            "10",
            "--format",
            "gray16",
            "--out-width",
            "30",
            "--model",
            &env.nearest(),
        ])
        .arg(input_gray(&env, &gray))
        .arg(env.path("g.raw"))
        .output()
        .unwrap();
    assert_ok(&sized);
    assert!(stdout(&sized).contains("\"height\":15") && stdout(&sized).contains("\"width\":30"), "{}", stdout(&sized));
    let sample = |b: &[u8], i: usize| u16::from_ne_bytes([b[2 * i], b[2 * i + 1]]);
    assert_eq!(sample(&result.stdout, 2 * 40 * 3 + 2 * 5), sample(&gray, 3 * 20 + 5));

    let short = env
        .cmd()
        .args(["upscale-raw", "--width", "41", "--height", "30", "--format", "rgba8", "--model", &env.nearest()])
        .arg(&input)
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(short.status.code(), Some(1));
    assert!(stderr(&short).contains("4800 bytes; 41x30 rgba8 needs exactly 4920"), "{}", stderr(&short));
}

fn input_gray(env: &Env, bytes: &[u8]) -> std::path::PathBuf {
    let path = env.path("gray.raw");
    std::fs::write(&path, bytes).unwrap();
    path
}

#[test]
fn sigterm_cancels_between_tiles() {
    let env = Env::new();
    let rgb = image::open(photo("astronaut.png")).unwrap().to_rgb8();
    let (input, out) = (env.path("big.raw"), env.path("big_x2.raw"));
    std::fs::write(&input, rgb.as_raw()).unwrap();
    // Tiles of 34 with the default 16-pixel overlap own 2x2 pixels each: 65536 tiles.
    let mut child = env
        .cmd()
        .args([
            "upscale-raw",
            "--width",
            "512",
            "--height",
            "512",
            "--format",
            "rgb8",
            "--tile-size",
            "34",
            "--progress-json",
            "--model",
            &env.nearest(),
        ])
        .arg(&input)
        .arg(&out)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut seen = Vec::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        seen.push(line.clone());
        if line.contains("\"progress\"") {
            break;
        }
    }
    // SAFETY: signalling our own child process.
    assert_eq!(unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) }, 0);
    let rest: Vec<String> = lines.map(|l| l.unwrap()).collect();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(143), "{seen:?} {rest:?}");
    let last: serde_json::Value = serde_json::from_str(rest.last().expect("a final line")).unwrap();
    assert_eq!((last["cancelled"].as_bool(), last["signal"].as_str()), (Some(true), Some("SIGTERM")), "{rest:?}");
    assert!(!out.exists(), "no output after a cancel");
    assert!(temp_files(env.dir.path()).is_empty(), "{:?}", temp_files(env.dir.path()));
}

#[test]
fn models_list_shows_the_catalog() {
    let env = Env::new();
    let result = env.run(&["models", "list"]);
    assert_ok(&result);
    let text = stdout(&result);
    let row = text.lines().find(|l| l.starts_with("realesrgan-x4plus ")).unwrap_or_else(|| panic!("{text}"));
    for cell in ["x4", "photo", "MFLOP/px", "not fetched"] {
        assert!(row.contains(cell), "{row}");
    }
    assert!(text.contains("waifu2x-photo-x2") && text.contains(&env.cache.display().to_string()), "{text}");
}

#[test]
fn models_path_verify_and_fetch_without_models() {
    let env = Env::new();
    let path = env.run(&["models", "path", "realesrgan-x4plus"]);
    assert_eq!(path.status.code(), Some(1));
    assert!(stderr(&path).contains("run `aiupscale models fetch realesrgan-x4plus`"), "{}", stderr(&path));
    let unknown = env.run(&["models", "path", "nope"]);
    assert!(stderr(&unknown).contains("known models:"), "{}", stderr(&unknown));
    let verify_all = env.run(&["models", "verify"]);
    assert_ok(&verify_all);
    assert!(stdout(&verify_all).contains("no fetched models"));
    let verify_one = env.run(&["models", "verify", "realesrgan-x4plus"]);
    assert_eq!(verify_one.status.code(), Some(1));
    assert!(stdout(&verify_one).contains("FAILED  realesrgan-x4plus"), "{}", stdout(&verify_one));
    let fetch = env.run(&["models", "fetch", "nope"]);
    assert_eq!(fetch.status.code(), Some(1));
}
