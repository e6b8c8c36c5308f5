//! Packed pixel buffers (8/16-bit integer or float, gray/RGB with or without alpha, in
//! the channel orders decoders and editors use) and the conversion of a tile to and
//! from the planar `[3][h][w]` float tensors models take.

use std::fmt;

use crate::{tiling::reflect, CoreError, LimitError, ParameterError, Result};

/// Storage type of one sample. The bit depth is always declared, never guessed
/// from pixel values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SampleType {
    U8,
    U16,
    F32,
}

impl SampleType {
    pub fn bytes(self) -> usize {
        match self {
            SampleType::U8 => 1,
            SampleType::U16 => 2,
            SampleType::F32 => 4,
        }
    }
}

/// Channel layout of a packed pixel. `X` is padding (written as opaque).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channels {
    Gray,
    GrayAlpha,
    Rgb,
    Bgr,
    Rgba,
    Bgra,
    Argb,
    Abgr,
    Rgbx,
    Bgrx,
    Xrgb,
    Xbgr,
}

impl Channels {
    pub fn count(self) -> usize {
        match self {
            Channels::Gray => 1,
            Channels::GrayAlpha => 2,
            Channels::Rgb | Channels::Bgr => 3,
            _ => 4,
        }
    }

    /// Offsets of R, G, B within a pixel; gray formats repeat the one channel.
    pub fn rgb_offsets(self) -> [usize; 3] {
        match self {
            Channels::Gray | Channels::GrayAlpha => [0, 0, 0],
            Channels::Rgb | Channels::Rgba | Channels::Rgbx => [0, 1, 2],
            Channels::Bgr | Channels::Bgra | Channels::Bgrx => [2, 1, 0],
            Channels::Argb | Channels::Xrgb => [1, 2, 3],
            Channels::Abgr | Channels::Xbgr => [3, 2, 1],
        }
    }

    /// Offset of a real alpha channel.
    pub fn alpha_offset(self) -> Option<usize> {
        match self {
            Channels::GrayAlpha => Some(1),
            Channels::Rgba | Channels::Bgra => Some(3),
            Channels::Argb | Channels::Abgr => Some(0),
            _ => None,
        }
    }

    /// Offset of a padding channel, filled with the maximum value on output.
    pub fn padding_offset(self) -> Option<usize> {
        match self {
            Channels::Rgbx | Channels::Bgrx => Some(3),
            Channels::Xrgb | Channels::Xbgr => Some(0),
            _ => None,
        }
    }

    pub fn is_gray(self) -> bool {
        matches!(self, Channels::Gray | Channels::GrayAlpha)
    }
}

/// Layout and sample type of a packed image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PixelFormat {
    pub channels: Channels,
    pub sample: SampleType,
}

impl PixelFormat {
    pub const fn new(channels: Channels, sample: SampleType) -> Self {
        Self { channels, sample }
    }

    pub fn bytes_per_pixel(&self) -> usize {
        self.channels.count() * self.sample.bytes()
    }
}

impl fmt::Display for PixelFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?} {:?}", self.channels, self.sample)
    }
}

/// Largest side and pixel count the core accepts (output included): beyond this,
/// buffers stop fitting in memory on the machines users have.
pub const MAX_SIDE: u32 = 65_535;
pub const MAX_PIXELS: u64 = 1 << 30;

pub(crate) fn check_dimensions(width: u64, height: u64) -> Result<()> {
    if width == 0 || height == 0 {
        return Err(CoreError::Parameter(ParameterError::EmptyImage { width: width as u32, height: height as u32 }));
    }
    if width > u64::from(MAX_SIDE) || height > u64::from(MAX_SIDE) || width * height > MAX_PIXELS {
        return Err(CoreError::Limits(LimitError::ImageTooLarge {
            width,
            height,
            max_side: MAX_SIDE,
            max_pixels: MAX_PIXELS,
        }));
    }
    Ok(())
}

fn check_buffer(len: usize, width: u32, height: u32, stride: usize, format: PixelFormat) -> Result<()> {
    check_dimensions(u64::from(width), u64::from(height))?;
    let row = width as usize * format.bytes_per_pixel();
    if stride < row {
        return Err(CoreError::Parameter(ParameterError::Stride { stride, row }));
    }
    let expected = stride * (height as usize - 1) + row;
    if len < expected {
        return Err(CoreError::Parameter(ParameterError::BufferSize {
            actual: len,
            expected,
            width,
            height,
            format: format.to_string(),
            stride,
        }));
    }
    Ok(())
}

/// A borrowed packed image. 16-bit and float samples are native-endian.
#[derive(Debug, Clone, Copy)]
pub struct ImageRef<'a> {
    data: &'a [u8],
    width: u32,
    height: u32,
    stride: usize,
    format: PixelFormat,
}

impl<'a> ImageRef<'a> {
    pub fn new(data: &'a [u8], width: u32, height: u32, stride: usize, format: PixelFormat) -> Result<Self> {
        check_buffer(data.len(), width, height, stride, format)?;
        Ok(Self { data, width, height, stride, format })
    }

    pub fn width(&self) -> u32 {
        self.width
    }
    pub fn height(&self) -> u32 {
        self.height
    }
    pub fn stride(&self) -> usize {
        self.stride
    }
    pub fn format(&self) -> PixelFormat {
        self.format
    }
    pub fn data(&self) -> &'a [u8] {
        self.data
    }

    fn row(&self, y: u32) -> &'a [u8] {
        let start = y as usize * self.stride;
        &self.data[start..start + self.width as usize * self.format.bytes_per_pixel()]
    }

    /// True when the image has an alpha channel that is not fully opaque.
    pub fn has_transparency(&self) -> bool {
        let Some(alpha) = self.format.channels.alpha_offset() else { return false };
        let count = self.format.channels.count();
        (0..self.height).any(|y| {
            let row = self.row(y);
            (0..self.width as usize).any(|x| read_sample(row, x * count + alpha, self.format.sample) < 1.0)
        })
    }
}

/// A mutable borrowed packed image.
#[derive(Debug)]
pub struct ImageMut<'a> {
    data: &'a mut [u8],
    width: u32,
    height: u32,
    stride: usize,
    format: PixelFormat,
}

impl<'a> ImageMut<'a> {
    pub fn new(data: &'a mut [u8], width: u32, height: u32, stride: usize, format: PixelFormat) -> Result<Self> {
        check_buffer(data.len(), width, height, stride, format)?;
        Ok(Self { data, width, height, stride, format })
    }

    pub fn width(&self) -> u32 {
        self.width
    }
    pub fn height(&self) -> u32 {
        self.height
    }
    pub fn stride(&self) -> usize {
        self.stride
    }
    pub fn format(&self) -> PixelFormat {
        self.format
    }
    pub fn as_ref(&self) -> ImageRef<'_> {
        ImageRef { data: self.data, width: self.width, height: self.height, stride: self.stride, format: self.format }
    }
    pub fn data_mut(&mut self) -> &mut [u8] {
        self.data
    }
}

/// An owned, tightly packed image.
#[derive(Debug, Clone, PartialEq)]
pub struct Image {
    pub data: Vec<u8>,
    pub width: u32,
    pub height: u32,
    pub format: PixelFormat,
}

impl Image {
    pub fn new(width: u32, height: u32, format: PixelFormat) -> Result<Self> {
        check_dimensions(u64::from(width), u64::from(height))?;
        let data = vec![0; width as usize * height as usize * format.bytes_per_pixel()];
        Ok(Self { data, width, height, format })
    }

    pub fn stride(&self) -> usize {
        self.width as usize * self.format.bytes_per_pixel()
    }

    pub fn as_ref(&self) -> ImageRef<'_> {
        ImageRef {
            data: &self.data,
            width: self.width,
            height: self.height,
            stride: self.stride(),
            format: self.format,
        }
    }

    pub fn as_mut(&mut self) -> ImageMut<'_> {
        let stride = self.stride();
        ImageMut { data: &mut self.data, width: self.width, height: self.height, stride, format: self.format }
    }
}

#[inline]
fn read_sample(row: &[u8], index: usize, sample: SampleType) -> f32 {
    match sample {
        SampleType::U8 => f32::from(row[index]) * (1.0 / 255.0),
        SampleType::U16 => f32::from(u16::from_ne_bytes([row[2 * index], row[2 * index + 1]])) * (1.0 / 65535.0),
        SampleType::F32 => {
            let b = &row[4 * index..4 * index + 4];
            f32::from_ne_bytes([b[0], b[1], b[2], b[3]])
        }
    }
}

/// 0..1 to 8 bits, rounded: `x + 0.5` truncated is `round()` for x >= 0 (and `as`
/// saturates, NaN -> 0), without a libm call per sample on baseline x86-64 (no SSE4.1
/// rounding instruction).
#[inline]
fn quantise_u8(value: f32) -> u8 {
    (value.clamp(0.0, 1.0) * 255.0 + 0.5) as u8
}

#[inline]
fn write_sample(row: &mut [u8], index: usize, sample: SampleType, value: f32) {
    match sample {
        SampleType::U8 => row[index] = quantise_u8(value),
        SampleType::U16 => {
            let v = (value.clamp(0.0, 1.0) * 65535.0 + 0.5) as u16;
            row[2 * index..2 * index + 2].copy_from_slice(&v.to_ne_bytes());
        }
        SampleType::F32 => row[4 * index..4 * index + 4].copy_from_slice(&value.to_ne_bytes()),
    }
}

/// A rectangle of a planar tensor `[planes][height][width]` (row-major).
#[derive(Debug, Clone, Copy)]
pub struct PlaneRect {
    pub x: usize,
    pub y: usize,
    pub width: usize,
    pub height: usize,
}

/// Reads a `width`x`height` tile whose top-left input pixel is (`x0`, `y0`) (may lie
/// outside the image: reflected) into planar RGB `rgb` (3 planes) in [0,1]. With
/// `alpha`, the alpha plane goes there and RGB is premultiplied by it, so that colour
/// under transparent pixels cannot bleed into visible edges.
pub fn read_tile(
    src: &ImageRef<'_>,
    x0: i64,
    y0: i64,
    width: usize,
    height: usize,
    rgb: &mut [f32],
    mut alpha: Option<&mut [f32]>,
) {
    let plane = width * height;
    debug_assert!(rgb.len() >= 3 * plane);
    let format = src.format;
    let count = format.channels.count();
    let [ro, go, bo] = format.channels.rgb_offsets();
    let alpha_offset = format.channels.alpha_offset();
    let columns: Vec<usize> = (0..width as i64).map(|dx| reflect(x0 + dx, src.width) as usize * count).collect();
    for dy in 0..height {
        let row = src.row(reflect(y0 + dy as i64, src.height));
        let out = dy * width;
        for (dx, &base) in columns.iter().enumerate() {
            let mut r = read_sample(row, base + ro, format.sample);
            let mut g = read_sample(row, base + go, format.sample);
            let mut b = read_sample(row, base + bo, format.sample);
            if let (Some(alpha), Some(ao)) = (alpha.as_deref_mut(), alpha_offset) {
                let a = read_sample(row, base + ao, format.sample);
                alpha[out + dx] = a;
                r *= a;
                g *= a;
                b *= a;
            }
            rgb[out + dx] = r;
            rgb[plane + out + dx] = g;
            rgb[2 * plane + out + dx] = b;
        }
    }
}

/// Writes `rect` of the planar model output `rgb` (3 planes of `plane_width` columns,
/// `rgb.len() / 3` samples each) to `dst` at (`dx`, `dy`). With `alpha` (same plane shape), RGB is
/// un-premultiplied and alpha written; gray outputs take the mean of R, G and B.
pub fn write_tile(
    dst: &mut ImageMut<'_>,
    dx: u32,
    dy: u32,
    rgb: &[f32],
    alpha: Option<&[f32]>,
    plane_width: usize,
    rect: PlaneRect,
) {
    let plane = rgb.len() / 3;
    let format = dst.format;
    let count = format.channels.count();
    let [ro, go, bo] = format.channels.rgb_offsets();
    let alpha_offset = format.channels.alpha_offset();
    let padding = format.channels.padding_offset();
    let gray = format.channels.is_gray();
    let stride = dst.stride;
    if alpha.is_none() && !gray && format.sample == SampleType::U8 {
        // Video frames: 8-bit colour without alpha, one tight loop per row.
        for y in 0..rect.height {
            let src_row = (rect.y + y) * plane_width + rect.x;
            let [r_row, g_row, b_row] = [0, plane, 2 * plane].map(|p| &rgb[p + src_row..p + src_row + rect.width]);
            let start = (dy as usize + y) * stride + dx as usize * count;
            let out = &mut dst.data[start..start + rect.width * count];
            for (((px, &r), &g), &b) in out.chunks_exact_mut(count).zip(r_row).zip(g_row).zip(b_row) {
                px[ro] = quantise_u8(r);
                px[go] = quantise_u8(g);
                px[bo] = quantise_u8(b);
                if let Some(po) = padding {
                    px[po] = 255;
                }
            }
        }
        return;
    }
    for y in 0..rect.height {
        let src_row = (rect.y + y) * plane_width + rect.x;
        let start = (dy as usize + y) * stride;
        let row = &mut dst.data[start..start + dst.width as usize * format.bytes_per_pixel()];
        for x in 0..rect.width {
            let i = src_row + x;
            let (mut r, mut g, mut b) = (rgb[i], rgb[plane + i], rgb[2 * plane + i]);
            let base = (dx as usize + x) * count;
            if let (Some(alpha), Some(ao)) = (alpha, alpha_offset) {
                let a = alpha[i].clamp(0.0, 1.0);
                // Below 1/4096 the colour is invisible and dividing only amplifies noise.
                if a > 1.0 / 4096.0 {
                    r /= a;
                    g /= a;
                    b /= a;
                }
                write_sample(row, base + ao, format.sample, a);
            }
            let (r, g, b) = (r.clamp(0.0, 1.0), g.clamp(0.0, 1.0), b.clamp(0.0, 1.0));
            if gray {
                let y = if r == g && g == b { r } else { (r + g + b) * (1.0 / 3.0) };
                write_sample(row, base, format.sample, y);
            } else {
                write_sample(row, base + ro, format.sample, r);
                write_sample(row, base + go, format.sample, g);
                write_sample(row, base + bo, format.sample, b);
            }
            if let Some(po) = padding {
                write_sample(row, base + po, format.sample, 1.0);
            }
        }
    }
}

/// Planar RGB `[3][s*h][s*w]` from a phase-layout model output `[3*s*s][h][w]` (channel
/// `c*s*s + dy*s + dx` holds pixel `(s*y + dy, s*x + dx)` of colour c: DepthToSpace CRD).
pub fn phases_to_planar(phases: &[f32], scale: usize, width: usize, height: usize) -> Vec<f32> {
    let (plane, out_w) = (width * height, scale * width);
    let mut out = vec![0.0; 3 * plane * scale * scale];
    for (ch, src) in phases.chunks_exact(plane).enumerate() {
        let (c, dy, dx) = (ch / (scale * scale), ch % (scale * scale) / scale, ch % scale);
        let dst = &mut out[c * plane * scale * scale..(c + 1) * plane * scale * scale];
        for (y, row) in src.chunks_exact(width).enumerate() {
            let out_row = &mut dst[(scale * y + dy) * out_w..(scale * y + dy + 1) * out_w];
            for (x, &v) in row.iter().enumerate() {
                out_row[scale * x + dx] = v;
            }
        }
    }
    out
}

/// [`write_tile`]'s 8-bit colour case (no alpha, not gray) for a phase-layout output
/// (see [`phases_to_planar`]) with rows of `width` low-resolution positions; `rect` is in
/// output pixels of the tile.
pub fn write_tile_phases_u8(
    dst: &mut ImageMut<'_>,
    dx: u32,
    dy: u32,
    phases: &[f32],
    scale: usize,
    width: usize,
    rect: PlaneRect,
) {
    let format = dst.format;
    debug_assert!(
        format.sample == SampleType::U8 && format.channels.alpha_offset().is_none() && !format.channels.is_gray()
    );
    let plane = phases.len() / (3 * scale * scale);
    let count = format.channels.count();
    let offsets = format.channels.rgb_offsets();
    let padding = format.channels.padding_offset();
    for y in 0..rect.height {
        let (ly, sy) = ((rect.y + y) / scale, (rect.y + y) % scale);
        let start = (dy as usize + y) * dst.stride + dx as usize * count;
        let out = &mut dst.data[start..start + rect.width * count];
        for (c, &offset) in offsets.iter().enumerate() {
            // The `scale` phase planes of this colour and output row, one per dx.
            let rows: Vec<&[f32]> = (0..scale)
                .map(|sx| &phases[(c * scale * scale + sy * scale + sx) * plane + ly * width..][..width])
                .collect();
            for (i, px) in out.chunks_exact_mut(count).enumerate() {
                let ox = rect.x + i;
                px[offset] = quantise_u8(rows[ox % scale][ox / scale]);
            }
        }
        if let Some(po) = padding {
            out.chunks_exact_mut(count).for_each(|px| px[po] = 255);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL_CHANNELS: [Channels; 12] = [
        Channels::Gray,
        Channels::GrayAlpha,
        Channels::Rgb,
        Channels::Bgr,
        Channels::Rgba,
        Channels::Bgra,
        Channels::Argb,
        Channels::Abgr,
        Channels::Rgbx,
        Channels::Bgrx,
        Channels::Xrgb,
        Channels::Xbgr,
    ];

    fn pattern(format: PixelFormat, width: u32, height: u32) -> Image {
        let mut img = Image::new(width, height, format).unwrap();
        let count = format.channels.count();
        let samples = img.data.len() / format.sample.bytes();
        let mut row = std::mem::take(&mut img.data);
        for i in 0..samples {
            let channel = i % count;
            let value = if Some(channel) == format.channels.alpha_offset() {
                if i % 7 == 0 {
                    0.0
                } else {
                    1.0
                }
            } else if Some(channel) == format.channels.padding_offset() {
                1.0
            } else {
                ((i * 37) % 256) as f32 / 255.0
            };
            write_sample(&mut row, i, format.sample, value);
        }
        img.data = row;
        img
    }

    /// Reading every pixel into planes and writing them back is lossless for every
    /// layout and depth (fully transparent pixels keep alpha 0; their colour is moot).
    #[test]
    fn read_write_round_trip_every_format() {
        for channels in ALL_CHANNELS {
            for sample in [SampleType::U8, SampleType::U16, SampleType::F32] {
                let format = PixelFormat::new(channels, sample);
                let src = pattern(format, 7, 5);
                let has_alpha = channels.alpha_offset().is_some();
                let mut rgb = vec![0.0; 3 * 35];
                let mut alpha = [0.0; 35];
                read_tile(&src.as_ref(), 0, 0, 7, 5, &mut rgb, has_alpha.then_some(&mut alpha[..]));
                let mut dst = Image::new(7, 5, format).unwrap();
                let rect = PlaneRect { x: 0, y: 0, width: 7, height: 5 };
                write_tile(&mut dst.as_mut(), 0, 0, &rgb, has_alpha.then_some(&alpha[..]), 7, rect);
                if has_alpha {
                    let (srcr, dstr) = (src.as_ref(), dst.as_ref());
                    for i in 0..35usize {
                        let (x, y) = (i % 7, i / 7);
                        let ao = channels.alpha_offset().unwrap();
                        let base = x * channels.count();
                        let a = read_sample(srcr.row(y as u32), base + ao, sample);
                        assert_eq!(a, read_sample(dstr.row(y as u32), base + ao, sample));
                        if a > 0.0 {
                            for c in channels.rgb_offsets() {
                                let (s, d) = (
                                    read_sample(srcr.row(y as u32), base + c, sample),
                                    read_sample(dstr.row(y as u32), base + c, sample),
                                );
                                assert!((s - d).abs() < 1e-6, "{format}: {s} vs {d}");
                            }
                        }
                    }
                } else {
                    assert_eq!(src, dst, "{format}");
                }
            }
        }
    }

    #[test]
    fn sixteen_bit_keeps_sixteen_bit_precision() {
        let format = PixelFormat::new(Channels::Rgb, SampleType::U16);
        let mut img = Image::new(1, 1, format).unwrap();
        for (i, v) in [1u16, 32769, 65534].iter().enumerate() {
            img.data[2 * i..2 * i + 2].copy_from_slice(&v.to_ne_bytes());
        }
        let mut rgb = [0.0; 3];
        read_tile(&img.as_ref(), 0, 0, 1, 1, &mut rgb, None);
        assert!((rgb[0] * 65535.0 - 1.0).abs() < 1e-3 && (rgb[1] * 65535.0 - 32769.0).abs() < 1e-2);
    }

    #[test]
    fn tiles_beyond_the_edge_are_reflected() {
        let format = PixelFormat::new(Channels::Gray, SampleType::U8);
        let img = Image { data: vec![0, 51, 102], width: 3, height: 1, format };
        let mut rgb = [0.0; 3 * 5];
        read_tile(&img.as_ref(), -2, 0, 5, 1, &mut rgb, None);
        let got: Vec<u8> = rgb[..5].iter().map(|v| (v * 255.0).round() as u8).collect();
        assert_eq!(got, vec![102, 51, 0, 51, 102]);
    }

    #[test]
    fn short_buffers_and_bad_strides_are_typed_errors() {
        let format = PixelFormat::new(Channels::Rgba, SampleType::U8);
        let err = ImageRef::new(&[0; 10], 2, 2, 8, format).unwrap_err().to_string();
        assert!(err.contains("holds 10 bytes") && err.contains("16 are needed"), "{err}");
        assert!(matches!(
            ImageRef::new(&[0; 64], 4, 2, 8, format),
            Err(CoreError::Parameter(ParameterError::Stride { stride: 8, row: 16 }))
        ));
        assert!(matches!(
            ImageRef::new(&[], 0, 2, 0, format),
            Err(CoreError::Parameter(ParameterError::EmptyImage { .. }))
        ));
        assert!(matches!(Image::new(70_000, 1, format), Err(CoreError::Limits(LimitError::ImageTooLarge { .. }))));
    }

    #[test]
    fn premultiplied_transparent_pixels_carry_no_colour() {
        let format = PixelFormat::new(Channels::Rgba, SampleType::U8);
        let img = Image { data: vec![255, 0, 0, 0, 0, 255, 0, 255], width: 2, height: 1, format };
        let (mut rgb, mut alpha) = ([0.0; 6], [0.0; 2]);
        read_tile(&img.as_ref(), 0, 0, 2, 1, &mut rgb, Some(&mut alpha));
        assert_eq!(rgb, [0.0, 0.0, 0.0, 1.0, 0.0, 0.0]);
        assert_eq!(alpha, [0.0, 1.0]);
        assert!(img.as_ref().has_transparency());
    }

    #[test]
    fn phase_layout_matches_planar_depth_to_space() {
        // 2x2 low-res positions, scale 2: phase (c, dy, dx) holds 100*c + 10*dy + dx + position.
        let (w, h, s) = (2usize, 2usize, 2usize);
        let phases: Vec<f32> = (0..3 * s * s)
            .flat_map(|ch| (0..w * h).map(move |p| (100 * (ch / 4) + 10 * (ch % 4 / 2) + ch % 2 + p) as f32 / 400.0))
            .collect();
        let planar = phases_to_planar(&phases, s, w, h);
        // Output (row 3, col 1) = low-res (1, 0) = position 2, phase dy 1, dx 1.
        assert_eq!(planar[2 * 16 + 3 * 4 + 1], (200 + 10 + 1 + 2) as f32 / 400.0);
        for format in
            [PixelFormat::new(Channels::Rgb, SampleType::U8), PixelFormat::new(Channels::Bgrx, SampleType::U8)]
        {
            let mut a = Image::new(4, 4, format).unwrap();
            let mut b = Image::new(4, 4, format).unwrap();
            let rect = PlaneRect { x: 1, y: 1, width: 3, height: 3 };
            write_tile(&mut a.as_mut(), 0, 0, &planar, None, 4, rect);
            write_tile_phases_u8(&mut b.as_mut(), 0, 0, &phases, s, w, rect);
            assert_eq!(a.data, b.data, "{format:?}");
        }
    }
}
