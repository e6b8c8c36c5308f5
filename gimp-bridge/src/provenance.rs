//! Provenance metadata in written images: that the picture was AI-upscaled, by which
//! model and which aiupscale (the text of [`aiupscale_core::provenance`]).
//!
//! Added to the encoder's bytes, next to what they already hold (ICC, EXIF), so nothing
//! the input carried is lost:
//! - PNG: iTXt chunks `Software`, `Description` and `XML:com.adobe.xmp` (XMP) before the
//!   image data;
//! - JPEG: an APP1 XMP segment after the other APPn segments;
//! - TIFF: the tags Software (305), ImageDescription (270) and XMP (700);
//! - WebP: an `XMP ` chunk (the extended VP8X header is added when the file has none).
//!
//! The XMP packet says the same in `xmp:CreatorTool`, `dc:description`, the IPTC digital
//! source type for a picture edited by a trained model (where the method is AI), and
//! `aiupscale:Model` / `aiupscale:Version`.

use aiupscale_core::provenance::{describe, Method, IPTC_DIGITAL_SOURCE_TYPE, SOFTWARE};
use anyhow::{bail, ensure, Context, Result};

use crate::transform::FileFormat;

/// `bytes` (an encoded `format` file) with the provenance of `method` added.
pub fn stamp(format: FileFormat, bytes: Vec<u8>, method: Method<'_>) -> Result<Vec<u8>> {
    let description = describe(method);
    let xmp = xmp_packet(method, &description);
    match format {
        FileFormat::Png => {
            png_with_text(&bytes, &[("Software", SOFTWARE), ("Description", &description), ("XML:com.adobe.xmp", &xmp)])
        }
        FileFormat::Jpeg => jpeg_with_xmp(&bytes, &xmp),
        FileFormat::Tiff => tiff_with_tags(
            &bytes,
            &[
                (270, TiffValue::Ascii(&description)),
                (305, TiffValue::Ascii(SOFTWARE)),
                (700, TiffValue::Bytes(xmp.as_bytes())),
            ],
        ),
        FileFormat::WebP => webp_with_xmp(&bytes, &xmp),
    }
    .context("cannot add the provenance metadata (use --no-provenance to write none)")
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// An XMP packet stating `description` and the method.
pub fn xmp_packet(method: Method<'_>, description: &str) -> String {
    let (model, source_type) = match method {
        Method::Model(m) => (
            m,
            format!("\n   <Iptc4xmpExt:DigitalSourceType>{IPTC_DIGITAL_SOURCE_TYPE}</Iptc4xmpExt:DigitalSourceType>"),
        ),
        Method::Classic(f) => (f, String::new()),
    };
    format!(
        r#"<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/">
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <rdf:Description rdf:about=""
    xmlns:xmp="http://ns.adobe.com/xap/1.0/"
    xmlns:dc="http://purl.org/dc/elements/1.1/"
    xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/"
    xmlns:aiupscale="https://github.com/aiupscale/ns/1.0/">
   <xmp:CreatorTool>{software}</xmp:CreatorTool>
   <dc:description><rdf:Alt><rdf:li xml:lang="x-default">{description}</rdf:li></rdf:Alt></dc:description>{source_type}
   <aiupscale:Model>{model}</aiupscale:Model>
   <aiupscale:Version>{version}</aiupscale:Version>
  </rdf:Description>
 </rdf:RDF>
</x:xmpmeta>
<?xpacket end="w"?>"#,
        software = escape(SOFTWARE),
        description = escape(description),
        model = escape(model),
        version = env!("CARGO_PKG_VERSION"),
    )
}

/// PNG with uncompressed iTXt chunks (keyword, text) inserted before the first IDAT, so
/// readers that stop at the pixels (Pillow's `info`) see them too.
pub fn png_with_text(png: &[u8], entries: &[(&str, &str)]) -> Result<Vec<u8>> {
    const SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";
    ensure!(png.starts_with(SIGNATURE), "not a PNG file");
    let mut at = SIGNATURE.len();
    let idat = loop {
        ensure!(at + 12 <= png.len(), "the PNG ends before its image data");
        let len = u32::from_be_bytes(png[at..at + 4].try_into()?) as usize;
        if &png[at + 4..at + 8] == b"IDAT" {
            break at;
        }
        at = at.checked_add(12 + len).context("PNG chunk length overflows")?;
    };
    let mut out = Vec::with_capacity(png.len() + 4096);
    out.extend_from_slice(&png[..idat]);
    for (keyword, text) in entries {
        ensure!((1..=79).contains(&keyword.len()), "PNG keyword {keyword:?} must have 1 to 79 bytes");
        // keyword, 0, compression flag 0, method 0, no language tag, 0, no translated keyword, 0.
        let mut data = keyword.as_bytes().to_vec();
        data.extend_from_slice(&[0, 0, 0, 0, 0]);
        data.extend_from_slice(text.as_bytes());
        png_chunk(&mut out, b"iTXt", &data)?;
    }
    out.extend_from_slice(&png[idat..]);
    Ok(out)
}

fn png_chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) -> Result<()> {
    out.extend_from_slice(&u32::try_from(data.len())?.to_be_bytes());
    let mut crc = crc32fast::Hasher::new();
    crc.update(kind);
    crc.update(data);
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    out.extend_from_slice(&crc.finalize().to_be_bytes());
    Ok(())
}

/// JPEG with an APP1 XMP segment after the APPn segments that follow SOI.
pub fn jpeg_with_xmp(jpeg: &[u8], xmp: &str) -> Result<Vec<u8>> {
    const XMP_NS: &[u8] = b"http://ns.adobe.com/xap/1.0/\0";
    ensure!(jpeg.starts_with(&[0xFF, 0xD8]), "not a JPEG file");
    let mut at = 2;
    while at + 4 <= jpeg.len() && jpeg[at] == 0xFF && (0xE0..=0xEF).contains(&jpeg[at + 1]) {
        at += 2 + usize::from(u16::from_be_bytes([jpeg[at + 2], jpeg[at + 3]]));
    }
    ensure!(at <= jpeg.len(), "a JPEG APP segment runs past the end of the file");
    let length =
        u16::try_from(2 + XMP_NS.len() + xmp.len()).context("the XMP packet is too long for one JPEG segment")?;
    let mut out = Vec::with_capacity(jpeg.len() + xmp.len() + 64);
    out.extend_from_slice(&jpeg[..at]);
    out.extend_from_slice(&[0xFF, 0xE1]);
    out.extend_from_slice(&length.to_be_bytes());
    out.extend_from_slice(XMP_NS);
    out.extend_from_slice(xmp.as_bytes());
    out.extend_from_slice(&jpeg[at..]);
    Ok(out)
}

/// A TIFF tag value to add.
pub enum TiffValue<'a> {
    /// ASCII (type 2), NUL-terminated when written.
    Ascii(&'a str),
    /// BYTE (type 1), as the XMP tag wants it.
    Bytes(&'a [u8]),
}

/// TIFF (classic, either byte order) whose first IFD gains `tags` (replacing the same
/// tags if present). The new IFD and values are appended and the header points at it;
/// every offset of the old entries stays valid since nothing before them moves.
pub fn tiff_with_tags(tiff: &[u8], tags: &[(u16, TiffValue<'_>)]) -> Result<Vec<u8>> {
    ensure!(tiff.len() >= 8, "not a TIFF file (too short)");
    let little = match &tiff[..2] {
        b"II" => true,
        b"MM" => false,
        _ => bail!("not a TIFF file"),
    };
    let u16_at = |at: usize| -> Result<u16> {
        let b: [u8; 2] = tiff.get(at..at + 2).context("TIFF offset past the end")?.try_into()?;
        Ok(if little { u16::from_le_bytes(b) } else { u16::from_be_bytes(b) })
    };
    let u32_at = |at: usize| -> Result<u32> {
        let b: [u8; 4] = tiff.get(at..at + 4).context("TIFF offset past the end")?.try_into()?;
        Ok(if little { u32::from_le_bytes(b) } else { u32::from_be_bytes(b) })
    };
    let p16 = |v: u16| if little { v.to_le_bytes() } else { v.to_be_bytes() };
    let p32 = |v: u32| if little { v.to_le_bytes() } else { v.to_be_bytes() };
    ensure!(u16_at(2)? == 42, "not a classic TIFF file (BigTIFF is not supported for provenance)");
    let ifd = u32_at(4)? as usize;
    let count = usize::from(u16_at(ifd)?);
    let mut entries: Vec<(u16, [u8; 12])> = Vec::with_capacity(count + tags.len());
    for i in 0..count {
        let at = ifd + 2 + 12 * i;
        let raw: [u8; 12] = tiff.get(at..at + 12).context("TIFF IFD past the end")?.try_into()?;
        let tag = u16_at(at)?;
        if !tags.iter().any(|(t, _)| *t == tag) {
            entries.push((tag, raw));
        }
    }
    let next_ifd = u32_at(ifd + 2 + 12 * count)?;
    let mut out = tiff.to_vec();
    for (tag, value) in tags {
        let (kind, mut data) = match value {
            TiffValue::Ascii(text) => (2u16, [text.as_bytes(), &[0]].concat()),
            TiffValue::Bytes(bytes) => (1u16, bytes.to_vec()),
        };
        let mut raw = [0u8; 12];
        raw[..2].copy_from_slice(&p16(*tag));
        raw[2..4].copy_from_slice(&p16(kind));
        raw[4..8].copy_from_slice(&p32(u32::try_from(data.len())?));
        if data.len() <= 4 {
            data.resize(4, 0);
            raw[8..12].copy_from_slice(&data);
        } else {
            if out.len() % 2 == 1 {
                out.push(0); // values start on a word boundary
            }
            raw[8..12].copy_from_slice(&p32(u32::try_from(out.len()).context("TIFF larger than 4 GiB")?));
            out.extend_from_slice(&data);
        }
        entries.push((*tag, raw));
    }
    entries.sort_by_key(|(tag, _)| *tag);
    if out.len() % 2 == 1 {
        out.push(0);
    }
    let new_ifd = u32::try_from(out.len()).context("TIFF larger than 4 GiB")?;
    out.extend_from_slice(&p16(u16::try_from(entries.len())?));
    for (_, raw) in &entries {
        out.extend_from_slice(raw);
    }
    out.extend_from_slice(&p32(next_ifd));
    out[4..8].copy_from_slice(&p32(new_ifd));
    Ok(out)
}

/// WebP with an `XMP ` chunk: the VP8X header gets its XMP flag (one is added, with
/// the canvas size and alpha flag from the image chunk, when the file is a simple one).
pub fn webp_with_xmp(webp: &[u8], xmp: &str) -> Result<Vec<u8>> {
    ensure!(webp.len() >= 20 && &webp[..4] == b"RIFF" && &webp[8..12] == b"WEBP", "not a WebP file");
    let first = &webp[12..16];
    let mut out = Vec::with_capacity(webp.len() + xmp.len() + 32);
    out.extend_from_slice(&webp[..12]);
    if first == b"VP8X" {
        out.extend_from_slice(&webp[12..]);
        out[20] |= 0x04; // XMP metadata present
    } else {
        let (width, height, alpha) = simple_webp_size(&webp[12..])?;
        let mut vp8x = [0u8; 10];
        vp8x[0] = 0x04 | if alpha { 0x10 } else { 0 };
        vp8x[4..7].copy_from_slice(&(width - 1).to_le_bytes()[..3]);
        vp8x[7..10].copy_from_slice(&(height - 1).to_le_bytes()[..3]);
        out.extend_from_slice(b"VP8X");
        out.extend_from_slice(&10u32.to_le_bytes());
        out.extend_from_slice(&vp8x);
        out.extend_from_slice(&webp[12..]);
    }
    out.extend_from_slice(b"XMP ");
    out.extend_from_slice(&u32::try_from(xmp.len())?.to_le_bytes());
    out.extend_from_slice(xmp.as_bytes());
    if xmp.len() % 2 == 1 {
        out.push(0);
    }
    let riff = u32::try_from(out.len() - 8).context("WebP larger than 4 GiB")?;
    out[4..8].copy_from_slice(&riff.to_le_bytes());
    Ok(out)
}

/// (width, height, has alpha) of a simple WebP's image chunk (VP8L or VP8).
fn simple_webp_size(chunk: &[u8]) -> Result<(u32, u32, bool)> {
    ensure!(chunk.len() >= 18, "WebP image chunk too short");
    match &chunk[..4] {
        b"VP8L" => {
            ensure!(chunk[8] == 0x2F, "bad VP8L signature");
            let bits = u32::from_le_bytes(chunk[9..13].try_into()?);
            Ok(((bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1, (bits >> 28) & 1 == 1))
        }
        b"VP8 " => {
            ensure!(chunk.len() >= 20 && chunk[11..14] == [0x9D, 0x01, 0x2A], "bad VP8 start code");
            let w = u32::from(u16::from_le_bytes([chunk[14], chunk[15]]) & 0x3FFF);
            let h = u32::from(u16::from_le_bytes([chunk[16], chunk[17]]) & 0x3FFF);
            Ok((w, h, false))
        }
        other => bail!("unexpected WebP chunk {:?}", String::from_utf8_lossy(other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_xmp_packet_escapes_and_marks_ai_only_for_models() {
        let ai = xmp_packet(Method::Model("a<b"), "x & y");
        assert!(ai.contains("a&lt;b") && ai.contains("x &amp; y") && ai.contains(IPTC_DIGITAL_SOURCE_TYPE), "{ai}");
        let classic = xmp_packet(Method::Classic("lanczos"), "z");
        assert!(!classic.contains("DigitalSourceType"), "{classic}");
    }

    #[test]
    fn malformed_files_are_errors_not_panics() {
        for format in [FileFormat::Png, FileFormat::Jpeg, FileFormat::Tiff, FileFormat::WebP] {
            for bytes in
                [vec![], vec![0u8; 3], b"II*\0\xff\xff\xff\xff".to_vec(), b"\x89PNG\r\n\x1a\n\0\0\0\xff".to_vec()]
            {
                assert!(stamp(format, bytes, Method::Model("m")).is_err(), "{format:?}");
            }
        }
    }
}
