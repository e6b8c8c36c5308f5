//! Pixel work outside the model: EXIF orientation (rotate/flip) and converting an image
//! to a layout and depth an output format can hold.

use aiupscale_core::{
    pixels::{read_sample, write_sample},
    Channels, Image, PixelFormat, SampleType,
};
use image::metadata::Orientation;

/// Maps an output pixel (x, y) to its source pixel.
type PixelMap = Box<dyn Fn(usize, usize) -> (usize, usize)>;

/// Whether `orientation` turns the image by a quarter (width and height trade places).
pub fn swaps_sides(orientation: Orientation) -> bool {
    matches!(
        orientation,
        Orientation::Rotate90 | Orientation::Rotate270 | Orientation::Rotate90FlipH | Orientation::Rotate270FlipH
    )
}

/// Applies `orientation` to the pixels: the result looks upright with orientation 1.
pub fn orient(image: Image, orientation: Orientation) -> Image {
    let (w, h) = (image.width() as usize, image.height() as usize);
    let (out_w, out_h, map): (usize, usize, PixelMap) = match orientation {
        Orientation::NoTransforms => return image,
        Orientation::FlipHorizontal => (w, h, Box::new(move |x, y| (w - 1 - x, y))),
        Orientation::FlipVertical => (w, h, Box::new(move |x, y| (x, h - 1 - y))),
        Orientation::Rotate180 => (w, h, Box::new(move |x, y| (w - 1 - x, h - 1 - y))),
        // Clockwise: source (x, y) lands on (h - 1 - y, x).
        Orientation::Rotate90 => (h, w, Box::new(move |x, y| (y, h - 1 - x))),
        Orientation::Rotate270 => (h, w, Box::new(move |x, y| (w - 1 - y, x))),
        // EXIF 5 (transpose) and 7 (transverse).
        Orientation::Rotate90FlipH => (h, w, Box::new(|x, y| (y, x))),
        Orientation::Rotate270FlipH => (h, w, Box::new(move |x, y| (w - 1 - y, h - 1 - x))),
    };
    let bpp = image.format().bytes_per_pixel();
    let mut data = vec![0u8; image.data().len()];
    for y in 0..out_h {
        for x in 0..out_w {
            let (sx, sy) = map(x, y);
            let src = (sy * w + sx) * bpp;
            let dst = (y * out_w + x) * bpp;
            data[dst..dst + bpp].copy_from_slice(&image.data()[src..src + bpp]);
        }
    }
    Image::from_vec(out_w as u32, out_h as u32, image.format(), data).expect("a turned image holds as many pixels")
}

/// Converts `image` to `format`. Channels map as: alpha dropped (RGBA -> RGB, gray+alpha
/// -> gray) or gray widened (gray+alpha -> RGBA); depth rounded to the nearest level.
/// Only the conversions [`output_format`] asks for are supported.
pub fn convert(image: &Image, format: PixelFormat) -> Image {
    let from = image.format();
    let map: Vec<usize> = match (from.channels, format.channels) {
        (a, b) if a == b => (0..a.count()).collect(),
        (Channels::Rgba, Channels::Rgb) => vec![0, 1, 2],
        (Channels::GrayAlpha, Channels::Gray) => vec![0],
        (Channels::GrayAlpha, Channels::Rgba) => vec![0, 0, 0, 1],
        (Channels::Gray, Channels::Rgb) => vec![0, 0, 0],
        (a, b) => unreachable!("no conversion from {a:?} to {b:?} is planned"),
    };
    let (src_count, dst_count) = (from.channels.count(), format.channels.count());
    let pixels = image.width() as usize * image.height() as usize;
    let mut data = vec![0u8; pixels * format.bytes_per_pixel()];
    for p in 0..pixels {
        for (c, &s) in map.iter().enumerate() {
            let value = read_sample(image.data(), p * src_count + s, from.sample);
            write_sample(&mut data, p * dst_count + c, format.sample, value);
        }
    }
    Image::from_vec(image.width(), image.height(), format, data).expect("one pixel in for one pixel out")
}

/// The output file formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileFormat {
    Png,
    Jpeg,
    Tiff,
    WebP,
}

impl FileFormat {
    /// By extension (case-insensitive): png, jpg/jpeg, tif/tiff, webp.
    pub fn from_extension(ext: &str) -> Option<Self> {
        match ext.to_ascii_lowercase().as_str() {
            "png" => Some(FileFormat::Png),
            "jpg" | "jpeg" => Some(FileFormat::Jpeg),
            "tif" | "tiff" => Some(FileFormat::Tiff),
            "webp" => Some(FileFormat::WebP),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            FileFormat::Png => "PNG",
            FileFormat::Jpeg => "JPEG",
            FileFormat::Tiff => "TIFF",
            FileFormat::WebP => "WebP",
        }
    }
}

/// The closest pixel format `file` can store for `format`, and what is lost on the way.
pub fn output_format(file: FileFormat, format: PixelFormat) -> (PixelFormat, Vec<String>) {
    let (mut channels, mut sample) = (format.channels, format.sample);
    let mut notes = Vec::new();
    let name = file.name();
    match file {
        FileFormat::Png => {
            if sample == SampleType::F32 {
                sample = SampleType::U16;
            }
        }
        FileFormat::Jpeg | FileFormat::WebP => {
            sample = SampleType::U8;
            if file == FileFormat::Jpeg && channels.alpha_offset().is_some() {
                channels = if channels.is_gray() { Channels::Gray } else { Channels::Rgb };
                notes.push(format!("{name} has no alpha channel: transparency is dropped"));
            }
        }
        FileFormat::Tiff => {
            if channels == Channels::GrayAlpha {
                channels = Channels::Rgba;
                notes.push("gray with alpha is written as RGBA (the TIFF encoder has no gray+alpha)".into());
            }
            if sample == SampleType::F32 && channels == Channels::Gray {
                sample = SampleType::U16;
            }
        }
    }
    if sample.bytes() < format.sample.bytes() {
        let bits = |s: SampleType| {
            if s == SampleType::F32 {
                "32-bit float".to_owned()
            } else {
                format!("{}-bit", 8 * s.bytes())
            }
        };
        notes.push(format!("{name} holds {} samples: {} samples are reduced", bits(sample), bits(format.sample)));
    }
    (PixelFormat::new(channels, sample), notes)
}

/// The `image` crate's name for a layout the encoders accept.
pub fn color_type(format: PixelFormat) -> Option<image::ExtendedColorType> {
    use image::ExtendedColorType as E;
    use Channels as C;
    use SampleType as S;
    Some(match (format.channels, format.sample) {
        (C::Gray, S::U8) => E::L8,
        (C::GrayAlpha, S::U8) => E::La8,
        (C::Rgb, S::U8) => E::Rgb8,
        (C::Rgba, S::U8) => E::Rgba8,
        (C::Gray, S::U16) => E::L16,
        (C::GrayAlpha, S::U16) => E::La16,
        (C::Rgb, S::U16) => E::Rgb16,
        (C::Rgba, S::U16) => E::Rgba16,
        (C::Rgb, S::F32) => E::Rgb32F,
        (C::Rgba, S::F32) => E::Rgba32F,
        _ => return None,
    })
}

/// The core's layout for a decoded colour type.
pub fn pixel_format(color: image::ColorType) -> Option<PixelFormat> {
    use image::ColorType as T;
    use Channels as C;
    use SampleType as S;
    let (channels, sample) = match color {
        T::L8 => (C::Gray, S::U8),
        T::La8 => (C::GrayAlpha, S::U8),
        T::Rgb8 => (C::Rgb, S::U8),
        T::Rgba8 => (C::Rgba, S::U8),
        T::L16 => (C::Gray, S::U16),
        T::La16 => (C::GrayAlpha, S::U16),
        T::Rgb16 => (C::Rgb, S::U16),
        T::Rgba16 => (C::Rgba, S::U16),
        T::Rgb32F => (C::Rgb, S::F32),
        T::Rgba32F => (C::Rgba, S::F32),
        _ => return None,
    };
    Some(PixelFormat::new(channels, sample))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn numbered(width: u32, height: u32) -> Image {
        let format = PixelFormat::new(Channels::Gray, SampleType::U8);
        Image::from_vec(width, height, format, (0..(width * height) as u8).collect()).unwrap()
    }

    #[test]
    fn orientations_match_their_exif_meaning() {
        // 3x2:  0 1 2
        //       3 4 5
        let img = numbered(3, 2);
        let cases = [
            (Orientation::FlipHorizontal, 3, vec![2, 1, 0, 5, 4, 3]),
            (Orientation::FlipVertical, 3, vec![3, 4, 5, 0, 1, 2]),
            (Orientation::Rotate180, 3, vec![5, 4, 3, 2, 1, 0]),
            (Orientation::Rotate90, 2, vec![3, 0, 4, 1, 5, 2]),
            (Orientation::Rotate270, 2, vec![2, 5, 1, 4, 0, 3]),
            (Orientation::Rotate90FlipH, 2, vec![0, 3, 1, 4, 2, 5]),
            (Orientation::Rotate270FlipH, 2, vec![5, 2, 4, 1, 3, 0]),
        ];
        for (orientation, width, expected) in cases {
            let out = orient(img.clone(), orientation);
            assert_eq!((out.width(), out.data()), (width, &expected[..]), "{orientation:?}");
        }
    }

    #[test]
    fn conversions_round_and_drop_alpha() {
        let format = PixelFormat::new(Channels::Rgba, SampleType::U16);
        let data = [65535u16, 32768, 0, 1000].iter().flat_map(|v| v.to_ne_bytes()).collect();
        let img = Image::from_vec(1, 1, format, data).unwrap();
        let (target, notes) = output_format(FileFormat::Jpeg, format);
        assert_eq!(target, PixelFormat::new(Channels::Rgb, SampleType::U8));
        assert_eq!(notes.len(), 2, "{notes:?}");
        assert_eq!(convert(&img, target).data(), vec![255, 128, 0]);
    }
}
