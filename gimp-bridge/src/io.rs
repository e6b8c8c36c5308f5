//! Reading and writing image files with what photographers care about.
//!
//! Kept: bit depth (8/16-bit integer, 32-bit float TIFF), alpha, gray, the ICC profile
//! (read from and written to PNG, JPEG, TIFF and WebP), and EXIF for PNG, JPEG and WebP.
//! The EXIF orientation is applied to the pixels on reading, and the copied EXIF says
//! orientation 1, so viewers do not rotate the result a second time.
//!
//! Added (unless --no-provenance): that the image was AI-upscaled, the model and the
//! aiupscale version ([`crate::provenance`]).
//!
//! Dropped: EXIF of TIFF files (the `image` crate neither reads nor writes it; their
//! orientation tag is still applied), XMP, IPTC, PNG text chunks and resolution (DPI).
//! EXIF is copied as it is apart from the orientation: its pixel-dimension tags and
//! thumbnail, if any, still describe the original. When the output format cannot hold
//! the input's layout the image is converted and a warning says what was lost: JPEG
//! keeps 8-bit gray or RGB (no alpha), WebP 8 bits, TIFF has no gray+alpha (written as
//! RGBA). JPEG is written at `--quality` (95 by default), WebP lossless.

use std::{
    fs,
    io::{BufWriter, Cursor, Write},
    path::{Path, PathBuf},
    sync::Mutex,
    time::Duration,
};

use aiupscale_core::{pixels::MAX_SIDE, provenance::Method, Image, PixelFormat};
use anyhow::{bail, Context, Result};
use image::{
    codecs::{jpeg::JpegEncoder, png::PngEncoder, tiff::TiffEncoder, webp::WebPEncoder},
    metadata::Orientation,
    ImageDecoder, ImageEncoder, ImageFormat, ImageReader, Limits,
};
use tempfile::NamedTempFile;

use crate::{
    budget::Budget,
    jpeg,
    transform::{self, FileFormat},
};

/// Input extensions of folder mode.
pub const IMAGE_EXTENSIONS: [&str; 6] = ["jpg", "jpeg", "png", "tif", "tiff", "webp"];

pub fn has_image_extension(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| IMAGE_EXTENSIONS.iter().any(|x| x.eq_ignore_ascii_case(e)))
}

/// Metadata carried from input to output.
#[derive(Debug, Clone, Default)]
pub struct Metadata {
    pub icc: Option<Vec<u8>>,
    /// Raw EXIF (TIFF structure), orientation already reset to 1.
    pub exif: Option<Vec<u8>>,
}

/// A decoded image, upright.
pub struct Decoded {
    pub image: Image,
    pub metadata: Metadata,
}

/// An image file whose header has been read and whose pixels are not decoded yet, so
/// the caller can check what decoding and upscaling will cost first.
pub struct Opened {
    path: PathBuf,
    format: ImageFormat,
    decoder: Box<dyn ImageDecoder>,
    orientation: Orientation,
    metadata: Metadata,
    /// Pixel layout of the decoded image.
    pub pixel_format: PixelFormat,
    /// Size of the upright image (after the EXIF orientation).
    pub width: u32,
    pub height: u32,
}

/// Reads the header of a JPEG, PNG, TIFF or WebP file (by content, not by name). The
/// file itself must fit in `budget`, and the decoder's allocations are bounded by it.
pub fn open_image(path: &Path, budget: &Budget) -> Result<Opened> {
    let size = fs::metadata(path).with_context(|| format!("cannot open {}", path.display()))?.len();
    budget.check(size, &format!("reading {}", path.display()))?;
    let bytes = fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let format = match image::guess_format(&bytes).ok() {
        Some(f @ (ImageFormat::Png | ImageFormat::Jpeg | ImageFormat::Tiff | ImageFormat::WebP)) => f,
        Some(other) => bail!(
            "{} is a {} image; aiupscale reads JPEG, PNG, TIFF and WebP",
            path.display(),
            other.extensions_str().first().unwrap_or(&"unknown").to_uppercase()
        ),
        None => bail!("{} is not a JPEG, PNG, TIFF or WebP image (its content is not recognised)", path.display()),
    };
    if format == ImageFormat::Jpeg && !jpeg::reaches_end(&bytes) {
        bail!(
            "{} is truncated or damaged: the JPEG data ends before the end of the image (the missing part would \
             come out gray); copy or export the file again",
            path.display()
        );
    }
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    // The core's own limits (up to 2^30 pixels) and the budget, instead of the crate's
    // default (512 MiB), which would refuse large 16-bit scans.
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(budget.bytes());
    reader.limits(limits);
    let mut decoder =
        reader.into_decoder().with_context(|| format!("cannot decode {} as {format:?}", path.display()))?;
    let icc = decoder.icc_profile().ok().flatten().filter(|p| !p.is_empty());
    let mut exif = decoder.exif_metadata().ok().flatten().filter(|e| !e.is_empty());
    let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);
    if let Some(exif) = exif.as_mut() {
        let _ = Orientation::remove_from_exif_chunk(exif);
    }
    let color = decoder.color_type();
    let Some(pixel_format) = transform::pixel_format(color) else {
        bail!("{} has {color:?} pixels, which aiupscale cannot process", path.display());
    };
    let (width, height) = decoder.dimensions();
    let (width, height) = if transform::swaps_sides(orientation) { (height, width) } else { (width, height) };
    Ok(Opened {
        path: path.to_owned(),
        format,
        decoder: Box::new(decoder),
        orientation,
        metadata: Metadata { icc, exif },
        pixel_format,
        width,
        height,
    })
}

impl Opened {
    /// Decodes the pixels and turns them upright.
    pub fn decode(self) -> Result<Decoded> {
        let Opened { path, format, decoder, orientation, metadata, pixel_format, .. } = self;
        let decode_err = || format!("cannot decode {} as {format:?}", path.display());
        let (width, height) = decoder.dimensions();
        let mut image = Image::new(width, height, pixel_format).with_context(decode_err)?;
        if decoder.total_bytes() != image.data().len() as u64 {
            bail!("{}: the decoder reports {} bytes for {width}x{height}", path.display(), decoder.total_bytes());
        }
        decoder.read_image_boxed(image.data_mut()).with_context(decode_err)?;
        Ok(Decoded { image: transform::orient(image, orientation), metadata })
    }
}

/// Decodes a JPEG, PNG, TIFF or WebP file within `budget` ([`open_image`], then decode).
pub fn read_image(path: &Path, budget: &Budget) -> Result<Decoded> {
    open_image(path, budget)?.decode()
}

/// The file format for `path`'s extension.
pub fn file_format(path: &Path) -> Result<FileFormat> {
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    FileFormat::from_extension(ext).with_context(|| {
        format!(
            "cannot write {}: unsupported output format {}; use .png, .jpg, .tif or .webp",
            path.display(),
            if ext.is_empty() { "(no extension)".to_owned() } else { format!(".{ext}") }
        )
    })
}

/// The folder a temp file for `target` goes in (the same file system, for the rename).
pub fn parent_dir(target: &Path) -> PathBuf {
    match target.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => PathBuf::from("."),
    }
}

const TEMP_PREFIX: &str = ".aiupscale-";
const TEMP_SUFFIX: &str = ".tmp";
/// A temp file this old and unlocked belongs to a run that died (see [`temp_beside`]).
const STALE_AFTER: Duration = Duration::from_secs(2);

/// A temp file next to `target`, removed when dropped unless [`commit`]ted. It stays
/// locked while this process holds it; the first call for a folder removes the unlocked
/// temp files of runs that were killed (kill -9, power loss) there.
pub fn temp_beside(target: &Path) -> Result<NamedTempFile> {
    let dir = parent_dir(target);
    remove_stale_temps(&dir);
    let tmp = tempfile::Builder::new()
        .prefix(TEMP_PREFIX)
        .suffix(TEMP_SUFFIX)
        .tempfile_in(&dir)
        .with_context(|| format!("cannot create a temporary file in {}", dir.display()))?;
    tmp.as_file().lock().with_context(|| format!("cannot lock {}", tmp.path().display()))?;
    // tempfile creates 0600; an output image is no secret.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = tmp.as_file().set_permissions(fs::Permissions::from_mode(0o644));
    }
    Ok(tmp)
}

/// Removes our temp files in `dir` that no live process holds (once per folder and
/// process). A file is only taken when its lock is free and it is older than
/// [`STALE_AFTER`], which covers a run that has created its file but not locked it yet.
fn remove_stale_temps(dir: &Path) {
    static CLEANED: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());
    let dir = resolved(dir);
    match CLEANED.lock() {
        Ok(mut cleaned) if !cleaned.contains(&dir) => cleaned.push(dir.clone()),
        _ => return,
    }
    let Ok(entries) = fs::read_dir(&dir) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if !(name.starts_with(TEMP_PREFIX) && name.ends_with(TEMP_SUFFIX)) {
            continue;
        }
        let Ok(file) = fs::File::open(entry.path()) else { continue };
        let old =
            file.metadata().and_then(|m| m.modified()).is_ok_and(|t| t.elapsed().unwrap_or_default() > STALE_AFTER);
        if old && file.try_lock().is_ok() {
            let _ = fs::remove_file(entry.path());
        }
    }
}

/// Makes a finished temp file the output: fsync, then rename over `target`.
pub fn commit(tmp: NamedTempFile, target: &Path) -> Result<()> {
    tmp.as_file().sync_all().with_context(|| format!("cannot write {}", target.display()))?;
    tmp.persist(target).map_err(|e| e.error).with_context(|| format!("cannot write {}", target.display()))?;
    Ok(())
}

/// Encodes `image` for `target` (format from its extension) into a temp file beside it,
/// with the provenance of `method` unless it is `None` ([`crate::provenance`]); the caller
/// [`commit`]s it. Returns the warnings about what the format could not keep.
pub fn encode_to_temp(
    target: &Path,
    image: &Image,
    metadata: &Metadata,
    quality: u8,
    provenance: Option<Method<'_>>,
) -> Result<(NamedTempFile, Vec<String>)> {
    let file = file_format(target)?;
    let (format, mut notes) = transform::output_format(file, image.format());
    let converted;
    let image = if format == image.format() {
        image
    } else {
        converted = transform::convert(image, format);
        &converted
    };
    let color =
        transform::color_type(format).with_context(|| format!("no {} encoding for {format} pixels", file.name()))?;
    let mut tmp = temp_beside(target)?;
    let encode_err = || format!("cannot encode {} as {}", target.display(), file.name());
    // In memory first: the provenance is added to the encoder's bytes.
    let mut bytes = Cursor::new(Vec::new());
    match file {
        FileFormat::Png => encode(PngEncoder::new(&mut bytes), image, color, metadata, &mut notes),
        FileFormat::Jpeg => {
            encode(JpegEncoder::new_with_quality(&mut bytes, quality), image, color, metadata, &mut notes)
        }
        FileFormat::Tiff => encode(TiffEncoder::new(&mut bytes), image, color, metadata, &mut notes),
        FileFormat::WebP => encode(WebPEncoder::new_lossless(&mut bytes), image, color, metadata, &mut notes),
    }
    .with_context(encode_err)?;
    let mut bytes = bytes.into_inner();
    if let Some(method) = provenance {
        bytes = crate::provenance::stamp(file, bytes, method).with_context(encode_err)?;
    }
    {
        let mut writer = BufWriter::new(tmp.as_file_mut());
        writer.write_all(&bytes).with_context(encode_err)?;
        writer.flush().with_context(encode_err)?;
    }
    Ok((tmp, notes))
}

fn encode<E: ImageEncoder>(
    mut encoder: E,
    image: &Image,
    color: image::ExtendedColorType,
    metadata: &Metadata,
    notes: &mut Vec<String>,
) -> image::ImageResult<()> {
    if let Some(icc) = &metadata.icc {
        if let Err(e) = encoder.set_icc_profile(icc.clone()) {
            notes.push(format!("the ICC profile is dropped ({e})"));
        }
    }
    if let Some(exif) = &metadata.exif {
        if encoder.set_exif_metadata(exif.clone()).is_err() {
            notes.push("EXIF is dropped (the encoder of this format cannot write it)".into());
        }
    }
    encoder.write_image(image.data(), image.width(), image.height(), color)
}

/// Where `path` really is: canonical if it exists, else its folder's canonical path
/// joined with its name (so `a/../b.png` and `b.png` compare equal).
pub fn resolved(path: &Path) -> PathBuf {
    if let Ok(p) = fs::canonicalize(path) {
        return p;
    }
    match (fs::canonicalize(parent_dir(path)), path.file_name()) {
        (Ok(dir), Some(name)) => dir.join(name),
        _ => path.to_owned(),
    }
}

/// True when `a` and `b` name the same file (same canonical path, or the same inode:
/// a hard link).
pub fn same_file(a: &Path, b: &Path) -> bool {
    if resolved(a) == resolved(b) {
        return true;
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        if let (Ok(ma), Ok(mb)) = (fs::metadata(a), fs::metadata(b)) {
            return ma.dev() == mb.dev() && ma.ino() == mb.ino();
        }
    }
    false
}
