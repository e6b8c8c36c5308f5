//! Whether a JPEG file is complete. The decoder fills what a cut-off file lacks with
//! flat gray and reports no error, so a half-copied photo would be upscaled silently.

/// True when the stream's markers lead to the end-of-image marker: segments are skipped
/// by their length (an EXIF thumbnail's own end marker does not count) and each scan's
/// entropy-coded data up to the next marker.
pub fn reaches_end(data: &[u8]) -> bool {
    if !data.starts_with(&[0xFF, 0xD8]) {
        return false;
    }
    let mut i = 2;
    while i + 1 < data.len() {
        if data[i] != 0xFF {
            i += 1; // Stray bytes between segments: decoders skip them too.
            continue;
        }
        match data[i + 1] {
            0xD9 => return true,
            // Fill byte, standalone markers (TEM, RST) without a length.
            0xFF => i += 1,
            0x01 | 0xD0..=0xD7 => i += 2,
            marker => {
                let Some(length) = data.get(i + 2..i + 4) else { return false };
                let length = usize::from(u16::from_be_bytes([length[0], length[1]]));
                if length < 2 {
                    return false;
                }
                i += 2 + length;
                if marker == 0xDA {
                    i = end_of_scan(data, i);
                }
            }
        }
    }
    false
}

/// The index of the marker after a scan's entropy-coded data (`data.len()` if none):
/// `FF 00` is a stuffed byte and `FF D0..D7` a restart, both part of the scan.
fn end_of_scan(data: &[u8], mut i: usize) -> usize {
    while i + 1 < data.len() {
        if data[i] == 0xFF && data[i + 1] != 0x00 && !(0xD0..=0xD7).contains(&data[i + 1]) {
            return i;
        }
        i += 1;
    }
    data.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(width: u32, height: u32, exif: Option<Vec<u8>>) -> Vec<u8> {
        use image::ImageEncoder;
        let pixels: Vec<u8> = (0..width * height * 3).map(|i| (i * 7 % 251) as u8).collect();
        let mut out = Vec::new();
        let mut encoder = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 90);
        if let Some(exif) = exif {
            encoder.set_exif_metadata(exif).unwrap();
        }
        encoder.write_image(&pixels, width, height, image::ExtendedColorType::Rgb8).unwrap();
        out
    }

    #[test]
    fn a_whole_file_reaches_its_end_and_a_cut_one_does_not() {
        let jpeg = encode(64, 48, None);
        assert!(reaches_end(&jpeg));
        for cut in [jpeg.len() - 1, jpeg.len() - 2, jpeg.len() / 2, 20, 2, 0] {
            assert!(!reaches_end(&jpeg[..cut]), "cut at {cut} of {}", jpeg.len());
        }
    }

    #[test]
    fn trailing_data_after_the_end_is_accepted() {
        let mut jpeg = encode(16, 16, None);
        jpeg.extend_from_slice(b"camera maker's trailer");
        assert!(reaches_end(&jpeg));
    }

    #[test]
    fn an_end_marker_inside_a_metadata_segment_does_not_count() {
        // An APP1 segment whose payload holds FF D9, as an EXIF thumbnail does.
        let mut exif = b"II\x2a\x00\x08\x00\x00\x00\x00\x00\x00\x00\x00\x00".to_vec();
        exif.extend_from_slice(&[0xFF, 0xD8, 0xFF, 0xD9]);
        let jpeg = encode(32, 32, Some(exif));
        assert!(reaches_end(&jpeg));
        let thumbnail_end = jpeg.windows(2).position(|w| w == [0xFF, 0xD9]).unwrap();
        assert!(thumbnail_end + 2 < jpeg.len() / 2, "the test's thumbnail marker sits early in the file");
        assert!(!reaches_end(&jpeg[..jpeg.len() / 2]));
    }

    #[test]
    fn not_a_jpeg_is_not_complete() {
        assert!(!reaches_end(b"\x89PNG\r\n\x1a\n"));
    }
}
