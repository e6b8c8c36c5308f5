//! Helpers for the CLI tests: the binary with an empty model cache, the tiny models,
//! the sample photos, and small image fixtures built here.

#![allow(dead_code)]

pub mod media;
pub mod video;

use std::{
    path::{Path, PathBuf},
    process::{Command, Output},
};

use image::{DynamicImage, ImageDecoder, ImageEncoder, ImageReader};

pub struct Env {
    pub dir: tempfile::TempDir,
    pub models: PathBuf,
    pub cache: PathBuf,
}

impl Env {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let models = dir.path().join("tiny");
        aiupscale_models::tiny::write_tiny_models(&models).unwrap();
        let cache = dir.path().join("cache");
        std::fs::create_dir(&cache).unwrap();
        Env { dir, models, cache }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn nearest(&self) -> String {
        self.models.join("nearest_x2.onnx").display().to_string()
    }

    /// The binary with `AIUPSCALE_MODEL_DIR` pointing at an empty cache, offline (no
    /// fetch on first use: a missing catalog model is the error naming the fetch command).
    pub fn cmd(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_aiupscale"));
        cmd.env("AIUPSCALE_MODEL_DIR", &self.cache).env("AIUPSCALE_OFFLINE", "1");
        cmd
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd().args(args).output().unwrap()
    }

    /// `upscale IN OUT --model nearest_x2 EXTRA...`
    pub fn upscale(&self, input: &Path, output: &Path, extra: &[&str]) -> Output {
        let mut args = vec!["upscale".to_owned(), input.display().to_string(), output.display().to_string()];
        args.extend(["--model".to_owned(), self.nearest()]);
        args.extend(extra.iter().map(|s| s.to_string()));
        self.cmd().args(&args).output().unwrap()
    }
}

pub fn photo(name: &str) -> PathBuf {
    aiupscale_testkit::media(&format!("photos/{name}"))
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[track_caller]
pub fn assert_ok(out: &Output) {
    assert!(out.status.success(), "exit {:?}\nstdout: {}\nstderr: {}", out.status.code(), stdout(out), stderr(out));
}

/// Files in `dir` whose names look like temp files.
pub fn temp_files(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".aiupscale-") || n.ends_with(".tmp"))
        .collect()
}

/// Decoded image plus its ICC profile and EXIF chunk.
pub struct Read {
    pub image: DynamicImage,
    pub icc: Option<Vec<u8>>,
    pub exif: Option<Vec<u8>>,
    pub orientation: image::metadata::Orientation,
}

pub fn read(path: &Path) -> Read {
    let mut decoder = ImageReader::open(path).unwrap().with_guessed_format().unwrap().into_decoder().unwrap();
    let icc = decoder.icc_profile().unwrap();
    let exif = decoder.exif_metadata().unwrap();
    let orientation = decoder.orientation().unwrap();
    let image = DynamicImage::from_decoder(decoder).unwrap();
    Read { image, icc, exif, orientation }
}

/// A minimal, well-formed ICC v4 display profile header with an empty tag table.
pub fn icc_profile() -> Vec<u8> {
    let mut p = vec![0u8; 132];
    p[0..4].copy_from_slice(&132u32.to_be_bytes());
    p[8..12].copy_from_slice(&[4, 0x30, 0, 0]);
    p[12..16].copy_from_slice(b"mntr");
    p[16..20].copy_from_slice(b"RGB ");
    p[20..24].copy_from_slice(b"XYZ ");
    p[36..40].copy_from_slice(b"acsp");
    // D50 illuminant (s15Fixed16): 0.9642, 1.0, 0.8249.
    p[68..80].copy_from_slice(&[0, 0, 0xf6, 0xd6, 0, 1, 0, 0, 0, 0, 0xd3, 0x2d]);
    p[80..84].copy_from_slice(b"aiup");
    p
}

/// EXIF (little-endian TIFF structure) with one tag: orientation.
pub fn exif_orientation(value: u16) -> Vec<u8> {
    let mut e = b"II\x2a\x00\x08\x00\x00\x00".to_vec();
    e.extend(1u16.to_le_bytes());
    e.extend(0x0112u16.to_le_bytes());
    e.extend(3u16.to_le_bytes());
    e.extend(1u32.to_le_bytes());
    e.extend(value.to_le_bytes());
    e.extend([0, 0]);
    e.extend(0u32.to_le_bytes());
    e
}

pub fn write_png(path: &Path, image: &DynamicImage, icc: Option<Vec<u8>>) {
    let file = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let mut encoder = image::codecs::png::PngEncoder::new(file);
    if let Some(icc) = icc {
        encoder.set_icc_profile(icc).unwrap();
    }
    encoder.write_image(image.as_bytes(), image.width(), image.height(), image.color().into()).unwrap();
}

pub fn write_jpeg(path: &Path, image: &DynamicImage, exif: Option<Vec<u8>>) {
    let file = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let mut encoder = image::codecs::jpeg::JpegEncoder::new_with_quality(file, 95);
    if let Some(exif) = exif {
        encoder.set_exif_metadata(exif).unwrap();
    }
    encoder.write_image(image.as_bytes(), image.width(), image.height(), image.color().into()).unwrap();
}

/// A crop of a sample photo.
pub fn crop(name: &str, x: u32, y: u32, w: u32, h: u32) -> DynamicImage {
    image::open(photo(name)).unwrap().crop_imm(x, y, w, h)
}

/// A crop of a real photo (coffee.png, 64x48) and the same with Gaussian noise (sigma 9,
/// fixed seed) added: the denoise fixtures of the bridge and plug-in tests.
pub fn noisy_photo() -> (image::RgbImage, image::RgbImage) {
    let clean = crop("coffee.png", 100, 100, 64, 48).to_rgb8();
    let mut noisy = clean.clone();
    aiupscale_testkit::add_noise_u8(&mut noisy, 9.0, 12345);
    (clean, noisy)
}

/// The text chunks of a PNG file (tEXt, zTXt, iTXt; compressed ones inflated), keyword
/// to text, in file order: what an editor's export wrote.
pub fn png_texts(path: &Path) -> Vec<(String, String)> {
    use std::io::Read as _;
    let png = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "{} is not a PNG", path.display());
    let inflate = |data: &[u8]| {
        let mut text = String::new();
        flate2::read::ZlibDecoder::new(data).read_to_string(&mut text).expect("a zlib stream of UTF-8");
        text
    };
    let mut texts = Vec::new();
    let mut at = 8;
    while at + 12 <= png.len() {
        let len = u32::from_be_bytes(png[at..at + 4].try_into().unwrap()) as usize;
        let (kind, data) = (&png[at + 4..at + 8], &png[at + 8..at + 8 + len]);
        let split = |d: &[u8]| {
            let nul = d.iter().position(|&b| b == 0).expect("a keyword ends with NUL");
            (String::from_utf8_lossy(&d[..nul]).into_owned(), d[nul + 1..].to_vec())
        };
        match kind {
            b"tEXt" => {
                let (key, rest) = split(data);
                texts.push((key, rest.iter().map(|&b| char::from(b)).collect()));
                // Latin-1
            }
            b"zTXt" => {
                let (key, rest) = split(data);
                texts.push((key, inflate(&rest[1..])));
            }
            b"iTXt" => {
                let (key, rest) = split(data);
                let (compressed, rest) = (rest[0] == 1, &rest[2..]);
                let (_language, rest) = split(rest);
                let (_translated, text) = split(&rest);
                texts.push((key, if compressed { inflate(&text) } else { String::from_utf8(text).unwrap() }));
            }
            _ => {}
        }
        at += 12 + len;
    }
    texts
}

/// A PNG's texts under `keyword`, joined by newlines ("" when there is none).
pub fn png_text(path: &Path, keyword: &str) -> String {
    png_texts(path).into_iter().filter(|(k, _)| k == keyword).map(|(_, t)| t).collect::<Vec<_>>().join("\n")
}

/// Writes `image` as a PNG with a tEXt chunk (keyword, Latin-1 text) after IHDR: an
/// input that carries a comment of its own.
pub fn write_png_with_text(path: &Path, image: &DynamicImage, keyword: &str, text: &str) {
    write_png(path, image, None);
    let png = std::fs::read(path).unwrap();
    let ihdr_end = 8 + 4 + 4 + 13 + 4;
    let mut body = b"tEXt".to_vec();
    body.extend(keyword.as_bytes());
    body.push(0);
    body.extend(text.as_bytes());
    let mut crc = flate2::Crc::new();
    crc.update(&body);
    let mut out = png[..ihdr_end].to_vec();
    out.extend(((body.len() - 4) as u32).to_be_bytes());
    out.extend(&body);
    out.extend(crc.sum().to_be_bytes());
    out.extend(&png[ihdr_end..]);
    std::fs::write(path, out).unwrap();
}
