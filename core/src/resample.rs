//! Classic resamplers (the baseline every comparison uses, and the step from a
//! model's native scale to the exact requested size), via `fast_image_resize`.

use fast_image_resize as fr;

use crate::{
    pixels::{Channels, Image, ImageMut, ImageRef, SampleType},
    CoreError, InferenceError, ParameterError, Result,
};

/// A classic interpolation filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Filter {
    Nearest,
    Bilinear,
    /// Catmull-Rom bicubic.
    Bicubic,
    #[default]
    Lanczos3,
    /// Box filter / area averaging: the right choice for large downscales.
    Area,
}

impl Filter {
    fn algorithm(self) -> fr::ResizeAlg {
        match self {
            Filter::Nearest => fr::ResizeAlg::Nearest,
            Filter::Bilinear => fr::ResizeAlg::Convolution(fr::FilterType::Bilinear),
            Filter::Bicubic => fr::ResizeAlg::Convolution(fr::FilterType::CatmullRom),
            Filter::Lanczos3 => fr::ResizeAlg::Convolution(fr::FilterType::Lanczos3),
            Filter::Area => fr::ResizeAlg::Convolution(fr::FilterType::Box),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Filter::Nearest => "nearest",
            Filter::Bilinear => "bilinear",
            Filter::Bicubic => "bicubic",
            Filter::Lanczos3 => "lanczos",
            Filter::Area => "area",
        }
    }
}

impl std::str::FromStr for Filter {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "nearest" => Ok(Filter::Nearest),
            "bilinear" => Ok(Filter::Bilinear),
            "bicubic" => Ok(Filter::Bicubic),
            "lanczos" | "lanczos3" => Ok(Filter::Lanczos3),
            "area" | "box" => Ok(Filter::Area),
            other => Err(format!("unknown filter {other:?}; expected nearest, bilinear, bicubic, lanczos or area")),
        }
    }
}

fn pixel_type(channels: Channels, sample: SampleType) -> fr::PixelType {
    use fr::PixelType as P;
    match (channels.count(), sample) {
        (1, SampleType::U8) => P::U8,
        (2, SampleType::U8) => P::U8x2,
        (3, SampleType::U8) => P::U8x3,
        (4, SampleType::U8) => P::U8x4,
        (1, SampleType::U16) => P::U16,
        (2, SampleType::U16) => P::U16x2,
        (3, SampleType::U16) => P::U16x3,
        (4, SampleType::U16) => P::U16x4,
        (1, SampleType::F32) => P::F32,
        (2, SampleType::F32) => P::F32x2,
        (3, SampleType::F32) => P::F32x3,
        _ => P::F32x4,
    }
}

/// Packs a strided image into contiguous rows (borrowed when already contiguous).
fn contiguous<'a>(image: &ImageRef<'a>) -> std::borrow::Cow<'a, [u8]> {
    let row = image.width() as usize * image.format().bytes_per_pixel();
    let data = image.data();
    if image.stride() == row {
        return std::borrow::Cow::Borrowed(&data[..row * image.height() as usize]);
    }
    let mut packed = Vec::with_capacity(row * image.height() as usize);
    for y in 0..image.height() as usize {
        packed.extend_from_slice(&data[y * image.stride()..y * image.stride() + row]);
    }
    std::borrow::Cow::Owned(packed)
}

/// Resizes `src` into `dst` (any sizes, same format). Alpha-last formats are
/// resampled premultiplied, so transparent colour does not bleed into edges.
pub fn resample(src: &ImageRef<'_>, dst: &mut ImageMut<'_>, filter: Filter) -> Result<()> {
    if src.format() != dst.format() {
        return Err(CoreError::Parameter(ParameterError::FormatMismatch {
            src: src.format().to_string(),
            dst: dst.format().to_string(),
        }));
    }
    let sizes = ((src.width(), src.height()), (dst.width(), dst.height()));
    let failed = |e: &dyn std::fmt::Display| {
        CoreError::Inference(InferenceError::Resample { src: sizes.0, dst: sizes.1, reason: e.to_string() })
    };
    let format = src.format();
    let ptype = pixel_type(format.channels, format.sample);
    let packed_src = contiguous(src);
    let src_image = fr::images::ImageRef::new(src.width(), src.height(), &packed_src, ptype).map_err(|e| failed(&e))?;
    let mut packed_dst = Image::new(dst.width(), dst.height(), format)?;
    let mut dst_image = fr::images::Image::from_slice_u8(dst.width(), dst.height(), packed_dst.data_mut(), ptype)
        .map_err(|e| failed(&e))?;
    let alpha_last = matches!(format.channels, Channels::Rgba | Channels::Bgra | Channels::GrayAlpha);
    let options = fr::ResizeOptions::new().resize_alg(filter.algorithm()).use_alpha(alpha_last);
    fr::Resizer::new().resize(&src_image, &mut dst_image, &options).map_err(|e| failed(&e))?;
    let row = dst.width() as usize * format.bytes_per_pixel();
    let stride = dst.stride();
    let out = dst.data_mut();
    for (y, chunk) in packed_dst.data().chunks_exact(row).enumerate() {
        out[y * stride..y * stride + row].copy_from_slice(chunk);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pixels::PixelFormat;

    #[test]
    fn every_filter_keeps_a_flat_color_flat() {
        let format = PixelFormat::new(Channels::Rgb, SampleType::U8);
        let src = Image::from_vec(4, 4, format, [200u8, 100, 50].repeat(16)).unwrap();
        for filter in [Filter::Nearest, Filter::Bilinear, Filter::Bicubic, Filter::Lanczos3, Filter::Area] {
            let mut dst = Image::new(7, 9, format).unwrap();
            resample(&src.as_ref(), &mut dst.as_mut(), filter).unwrap();
            assert!(dst.data().chunks(3).all(|p| p == [200, 100, 50]), "{filter:?}");
        }
    }

    #[test]
    fn strided_destinations_are_filled_row_by_row() {
        let format = PixelFormat::new(Channels::Gray, SampleType::U16);
        let src = Image::from_vec(2, 2, format, 1000u16.to_ne_bytes().repeat(4)).unwrap();
        let mut buf = vec![0u8; 3 * 16];
        let mut dst = ImageMut::new(&mut buf, 4, 3, 16, format).unwrap();
        resample(&src.as_ref(), &mut dst, Filter::Lanczos3).unwrap();
        for y in 0..3 {
            let row = &buf[y * 16..y * 16 + 8];
            assert!(row.chunks(2).all(|c| u16::from_ne_bytes([c[0], c[1]]) == 1000));
            assert!(buf[y * 16 + 8..y * 16 + 16].iter().all(|&b| b == 0), "padding untouched");
        }
    }
}
