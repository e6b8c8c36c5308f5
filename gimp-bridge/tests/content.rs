//! Issue 13 on the command line: provenance metadata read back by an independent reader
//! (Python Pillow from .deps/venv), grain that is reproducible, `--content` picking the
//! catalog's model, and fetching on first use (and refusing to when offline).

mod common;

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use common::{assert_ok, crop, exif_orientation, icc_profile, read, stderr, Env};
use image::ImageEncoder;
use serde_json::Value;

/// A JPEG input with an ICC profile and EXIF, as cameras write them.
fn tagged_jpeg(path: &Path) {
    let image = crop("coffee.png", 200, 100, 48, 40).to_rgb8();
    let file = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let mut encoder = image::codecs::jpeg::JpegEncoder::new_with_quality(file, 95);
    encoder.set_icc_profile(icc_profile()).unwrap();
    encoder.set_exif_metadata(exif_orientation(1)).unwrap();
    encoder.write_image(image.as_raw(), 48, 40, image::ExtendedColorType::Rgb8).unwrap();
}

fn venv_python() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../.deps/venv/bin/python")
}

/// What Pillow finds in `path`: the provenance texts, whether XMP names the model, the
/// ICC profile's size and whether EXIF is there.
fn pillow_metadata(path: &Path) -> Value {
    const SCRIPT: &str = r#"
import json, sys
from PIL import Image
im = Image.open(sys.argv[1])
info, fmt = im.info, im.format
if fmt == "PNG":
    desc, soft, xmp = info.get("Description"), info.get("Software"), info.get("XML:com.adobe.xmp")
elif fmt == "TIFF":
    tags = im.tag_v2
    desc, soft, xmp = tags.get(270), tags.get(305), tags.get(700)
else:  # JPEG, WEBP: XMP only
    desc, soft, xmp = None, None, info.get("xmp")
if isinstance(xmp, (bytes, bytearray)):
    xmp = bytes(xmp).decode("utf-8")
exif = im.getexif()
print(json.dumps({"format": fmt, "description": desc, "software": soft, "xmp": xmp,
                  "icc": len(info.get("icc_profile") or b""), "exif_orientation": exif.get(0x0112)}))
"#;
    let out = Command::new(venv_python()).args(["-c", SCRIPT]).arg(path).output().expect("the venv's python runs");
    assert_ok(&out);
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn outputs_record_ai_upscaling_and_keep_what_the_input_carried() {
    let env = Env::new();
    let input = env.path("camera.jpg");
    tagged_jpeg(&input);
    let model = Path::new(&env.nearest()).file_stem().unwrap().to_string_lossy().into_owned();
    for ext in ["png", "jpg", "tif", "webp"] {
        let out = env.path(&format!("camera_x2.{ext}"));
        assert_ok(&env.upscale(&input, &out, &["--quiet"]));
        let found = pillow_metadata(&out);
        let xmp = found["xmp"].as_str().unwrap_or_else(|| panic!("{ext}: no XMP: {found}"));
        for needle in ["AI-upscaled by aiupscale ", env!("CARGO_PKG_VERSION"), model.as_str(), "DigitalSourceType"] {
            assert!(xmp.contains(needle), "{ext}: XMP lacks {needle:?}: {xmp}");
        }
        if ext == "png" || ext == "tif" {
            let description = found["description"].as_str().unwrap();
            assert!(description.starts_with("AI-upscaled by aiupscale") && description.contains(&model), "{found}");
            assert_eq!(found["software"], format!("aiupscale {}", env!("CARGO_PKG_VERSION")), "{found}");
        }
        // Nothing the input carried is lost (TIFF drops EXIF, as documented in io.rs).
        assert_eq!(found["icc"], icc_profile().len(), "{ext}: {found}");
        assert_eq!(read(&out).icc, Some(icc_profile()), "{ext}: the image crate reads the ICC profile back");
        if ext != "tif" {
            assert_eq!(found["exif_orientation"], 1, "{ext}: {found}");
        }
        assert_eq!(read(&out).image.to_rgb8().dimensions(), (96, 80), "{ext}");
    }
}

#[test]
fn no_provenance_writes_none_and_classic_filters_do_not_claim_ai() {
    let env = Env::new();
    let input = env.path("camera.jpg");
    tagged_jpeg(&input);
    for ext in ["png", "jpg", "tif", "webp"] {
        let out = env.path(&format!("plain_x2.{ext}"));
        assert_ok(&env.upscale(&input, &out, &["--quiet", "--no-provenance"]));
        let found = pillow_metadata(&out);
        assert!(found["xmp"].is_null() && found["description"].is_null(), "{ext}: {found}");
        assert_eq!(found["icc"], icc_profile().len(), "{ext}: {found}");
    }
    let out = env.path("classic.png");
    assert_ok(&env.run(&[
        "upscale",
        "--quiet",
        "--classic",
        "lanczos",
        "--scale",
        "2",
        input.to_str().unwrap(),
        out.to_str().unwrap(),
    ]));
    let found = pillow_metadata(&out);
    let description = found["description"].as_str().unwrap();
    assert!(description.contains("lanczos") && description.contains("no AI"), "{found}");
    assert!(!found["xmp"].as_str().unwrap().contains("DigitalSourceType"), "{found}");
}

#[test]
fn grain_is_reproducible_per_seed_and_off_by_default() {
    let env = Env::new();
    let input = env.path("in.png");
    common::write_png(&input, &crop("coffee.png", 100, 80, 64, 48), None);
    let pixels = |name: &str, extra: &[&str]| {
        let out = env.path(name);
        assert_ok(&env.upscale(&input, &out, &[&["--quiet"], extra].concat()));
        read(&out).image.to_rgb8().into_raw()
    };
    let plain = pixels("plain.png", &[]);
    assert_eq!(pixels("zero.png", &["--grain", "0"]), plain, "grain 0 is off");
    let a = pixels("a.png", &["--grain", "0.5", "--grain-seed", "7"]);
    let b = pixels("b.png", &["--grain", "0.5", "--grain-seed", "7"]);
    let c = pixels("c.png", &["--grain", "0.5", "--grain-seed", "8"]);
    assert_eq!(a, b, "the same input and seed give the same output");
    assert_ne!(a, c, "another seed, another pattern");
    let changed = a.iter().zip(&plain).filter(|(x, y)| x != y).count();
    assert!(changed > a.len() / 2, "grain 0.5 changed only {changed} of {} samples", a.len());
    let mean_shift = a.iter().zip(&plain).map(|(&x, &y)| f64::from(x) - f64::from(y)).sum::<f64>() / a.len() as f64;
    assert!(mean_shift.abs() < 0.5, "grain must not shift the brightness: {mean_shift}");
}

#[test]
fn content_picks_the_catalog_model_and_offline_names_the_fetch_command() {
    let env = Env::new(); // offline, empty cache
    let input = env.path("in.png");
    common::write_png(&input, &crop("coffee.png", 100, 80, 32, 24), None);
    let out = env.path("out.png");
    for (content, model) in [
        ("footage", "span-footage-blend-x2"),
        ("photo", "span-x2-ch48"),
        ("animation", "realesr-animevideov3-x2"),
        ("realtime", "anime4k-x2-s-rl"),
    ] {
        let run =
            env.run(&["upscale", input.to_str().unwrap(), out.to_str().unwrap(), "--content", content, "--scale", "2"]);
        assert_eq!(run.status.code(), Some(1), "{}", stderr(&run));
        assert!(stderr(&run).contains(&format!("aiupscale models fetch {model}")), "{content}: {}", stderr(&run));
    }
    // --offline does the same without the environment variable.
    let run = env
        .cmd()
        .env_remove("AIUPSCALE_OFFLINE")
        .args(["upscale", input.to_str().unwrap(), out.to_str().unwrap(), "--offline", "--content", "realtime"])
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(1), "{}", stderr(&run));
    assert!(stderr(&run).contains("aiupscale models fetch anime4k-x2-s-rl"), "{}", stderr(&run));
    assert!(!out.exists());
}

/// The first use of a model fetches it, with progress on stderr; the package archive is
/// taken from the user's cache when it is there (no network), else downloaded.
#[test]
fn a_missing_model_is_fetched_on_first_use() {
    const MODEL: &str = "anime4k-x2-s-rl";
    let env = Env::new();
    let catalog = aiupscale_models::Catalog::builtin();
    let package = catalog.package_of(catalog.require(MODEL).unwrap());
    if let Ok(user) = aiupscale_models::ModelCache::from_env() {
        let kept = user.archive_path(package);
        if kept.is_file() {
            std::fs::create_dir_all(env.cache.join("downloads")).unwrap();
            std::fs::copy(&kept, env.cache.join("downloads").join(&package.archive)).unwrap();
        }
    }
    let input = env.path("in.png");
    common::write_png(&input, &crop("coffee.png", 100, 80, 32, 24), None);
    let out = env.path("out.png");
    let run = env
        .cmd()
        .env_remove("AIUPSCALE_OFFLINE")
        .args(["upscale", input.to_str().unwrap(), out.to_str().unwrap(), "--content", "realtime", "--scale", "2"])
        .output()
        .unwrap();
    assert_ok(&run);
    let text = stderr(&run);
    assert!(text.contains(&format!("model {MODEL} is not in the cache")), "{text}");
    assert!(text.contains(&format!("npm package {} {}", package.name, package.version)), "{text}");
    assert!(text.contains(&format!("fetched {MODEL} into")), "{text}");
    assert_eq!(read(&out).image.to_rgb8().dimensions(), (64, 48));
    // In the cache now: offline works, and says nothing about fetching.
    let again = env.run(&["upscale", input.to_str().unwrap(), out.to_str().unwrap(), "--content", "realtime"]);
    assert_ok(&again);
    assert!(!stderr(&again).contains("fetch"), "{}", stderr(&again));
}
