//! YUV <-> RGB for video fronts: 8-bit planar, semi-planar and packed YUV frames to a
//! float RGB [`Image`] (what models take) and back.
//!
//! The matrix (BT.601, BT.709, BT.2020) and the range (full, or limited 16-235/240)
//! always come from the caller (the stream's colorimetry): nothing is guessed from the
//! frame size. Float RGB is not clipped on the way in (super-whites and out-of-gamut
//! colours come through as values outside [0,1]); on the way out only the 8-bit code
//! range 0..=255 bounds the result, so a limited-range stream may use the footroom and
//! headroom codes as it did before.
//!
//! Chroma subsampling: chroma is upsampled bilinearly to the luma grid for the RGB
//! image, at the positions the chroma siting says (co-sited with the even luma sample,
//! or centred between two); on the way back it is averaged over each chroma block
//! (2x2 for 4:2:0, 2x1 for 4:2:2), with a [1 2 1]/4 filter along an axis where the
//! siting is co-sited, so that chroma does not drift by a quarter sample per pass.

use crate::{
    pixels::{Channels, Image, ImageRef, PixelFormat, SampleType},
    CoreError, ParameterError, Result,
};

/// The YUV matrix: how luma is weighted from R, G and B.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Matrix {
    /// ITU-R BT.601 (SD video, JPEG).
    Bt601,
    /// ITU-R BT.709 (HD video).
    Bt709,
    /// ITU-R BT.2020 non-constant luminance (UHD video).
    Bt2020,
}

impl Matrix {
    /// (Kr, Kb); Kg = 1 - Kr - Kb.
    pub fn coefficients(self) -> (f32, f32) {
        match self {
            Matrix::Bt601 => (0.299, 0.114),
            Matrix::Bt709 => (0.2126, 0.0722),
            Matrix::Bt2020 => (0.2627, 0.0593),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Matrix::Bt601 => "bt601",
            Matrix::Bt709 => "bt709",
            Matrix::Bt2020 => "bt2020",
        }
    }
}

/// The code range of 8-bit samples.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Range {
    /// Y 0..=255, chroma 128 +- 127.5.
    Full,
    /// "TV"/"studio" range: Y 16..=235, chroma 16..=240.
    Limited,
}

impl Range {
    /// (Y offset, Y scale, chroma scale) in 8-bit code values.
    fn codes(self) -> (f32, f32, f32) {
        match self {
            Range::Full => (0.0, 255.0, 255.0),
            Range::Limited => (16.0, 219.0, 224.0),
        }
    }
}

/// Matrix and range of a YUV stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct YuvColor {
    pub matrix: Matrix,
    pub range: Range,
}

/// Precomputed factors of one [`YuvColor`].
#[derive(Debug, Clone, Copy)]
struct Coefficients {
    kr: f32,
    kg: f32,
    kb: f32,
    y_offset: f32,
    y_scale: f32,
    c_scale: f32,
}

impl YuvColor {
    pub const fn new(matrix: Matrix, range: Range) -> Self {
        Self { matrix, range }
    }

    fn coefficients(self) -> Coefficients {
        let (kr, kb) = self.matrix.coefficients();
        let (y_offset, y_scale, c_scale) = self.range.codes();
        Coefficients { kr, kg: 1.0 - kr - kb, kb, y_offset, y_scale, c_scale }
    }

    /// RGB in [0,1] (not clipped) of one 8-bit YUV sample triple; `y`, `u` and `v` are
    /// code values, fractional ones allowed (interpolated chroma).
    pub fn to_rgb(self, y: f32, u: f32, v: f32) -> [f32; 3] {
        self.coefficients().to_rgb(y, u, v)
    }

    /// 8-bit code values (unrounded, not clipped) of an RGB triple in [0,1].
    pub fn to_yuv(self, rgb: [f32; 3]) -> [f32; 3] {
        self.coefficients().to_yuv(rgb)
    }
}

impl Coefficients {
    #[inline]
    fn to_rgb(self, y: f32, u: f32, v: f32) -> [f32; 3] {
        let luma = (y - self.y_offset) / self.y_scale;
        let cb = (u - 128.0) / self.c_scale;
        let cr = (v - 128.0) / self.c_scale;
        let r = luma + 2.0 * (1.0 - self.kr) * cr;
        let b = luma + 2.0 * (1.0 - self.kb) * cb;
        let g = (luma - self.kr * r - self.kb * b) / self.kg;
        [r, g, b]
    }

    #[inline]
    fn to_yuv(self, [r, g, b]: [f32; 3]) -> [f32; 3] {
        let luma = self.kr * r + self.kg * g + self.kb * b;
        let cb = (b - luma) / (2.0 * (1.0 - self.kb));
        let cr = (r - luma) / (2.0 * (1.0 - self.kr));
        [self.y_offset + self.y_scale * luma, 128.0 + self.c_scale * cb, 128.0 + self.c_scale * cr]
    }
}

/// Where chroma samples sit relative to luma (GStreamer's `chroma-site` flags).
/// Only matters for subsampled layouts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ChromaSiting {
    /// Chroma is at the even luma column (MPEG-2, H.264 default) rather than between
    /// two columns (JPEG).
    pub h_cosited: bool,
    /// Chroma is at the even luma row rather than between two rows.
    pub v_cosited: bool,
}

impl ChromaSiting {
    /// JPEG / MPEG-1: centred in both directions.
    pub const CENTER: Self = Self { h_cosited: false, v_cosited: false };
    /// MPEG-2 / H.264 default: co-sited horizontally, centred vertically.
    pub const MPEG2: Self = Self { h_cosited: true, v_cosited: false };
}

/// Memory layouts of 8-bit YUV frames (GStreamer format names).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum YuvLayout {
    /// 4:2:0, three planes Y, U, V.
    I420,
    /// 4:2:0, a Y plane and an interleaved UV plane.
    Nv12,
    /// 4:4:4, three planes Y, U, V.
    Y444,
    /// 4:2:2 packed Y0 U Y1 V.
    Yuy2,
    /// 4:2:2 packed U Y0 V Y1.
    Uyvy,
}

impl YuvLayout {
    pub fn name(self) -> &'static str {
        match self {
            YuvLayout::I420 => "I420",
            YuvLayout::Nv12 => "NV12",
            YuvLayout::Y444 => "Y444",
            YuvLayout::Yuy2 => "YUY2",
            YuvLayout::Uyvy => "UYVY",
        }
    }

    pub fn plane_count(self) -> usize {
        match self {
            YuvLayout::I420 | YuvLayout::Y444 => 3,
            YuvLayout::Nv12 => 2,
            YuvLayout::Yuy2 | YuvLayout::Uyvy => 1,
        }
    }

    /// Horizontal and vertical chroma subsampling factors.
    pub fn subsampling(self) -> (usize, usize) {
        match self {
            YuvLayout::I420 | YuvLayout::Nv12 => (2, 2),
            YuvLayout::Y444 => (1, 1),
            YuvLayout::Yuy2 | YuvLayout::Uyvy => (2, 1),
        }
    }

    /// Size of the chroma grid for a `width` x `height` frame.
    pub fn chroma_size(self, width: usize, height: usize) -> (usize, usize) {
        let (sx, sy) = self.subsampling();
        (width.div_ceil(sx), height.div_ceil(sy))
    }

    /// (bytes per row, rows) that plane `plane` needs.
    fn plane_extent(self, plane: usize, width: usize, height: usize) -> (usize, usize) {
        let (cw, ch) = self.chroma_size(width, height);
        match (self, plane) {
            (YuvLayout::Yuy2 | YuvLayout::Uyvy, _) => (4 * cw, height),
            (_, 0) => (width, height),
            (YuvLayout::Nv12, _) => (2 * cw, ch),
            _ => (cw, ch),
        }
    }

    fn check(self, width: u32, height: u32, lens: &[usize], strides: &[usize]) -> Result<()> {
        if width == 0 || height == 0 {
            return Err(CoreError::Parameter(ParameterError::EmptyImage { width, height }));
        }
        if lens.len() < self.plane_count() || strides.len() < self.plane_count() {
            return Err(CoreError::Parameter(ParameterError::PlaneCount {
                layout: self.name(),
                actual: lens.len().min(strides.len()),
                expected: self.plane_count(),
            }));
        }
        for plane in 0..self.plane_count() {
            let (row, rows) = self.plane_extent(plane, width as usize, height as usize);
            let stride = strides[plane];
            if stride < row {
                return Err(CoreError::Parameter(ParameterError::Stride { stride, row }));
            }
            let expected = stride * (rows - 1) + row;
            if lens[plane] < expected {
                return Err(CoreError::Parameter(ParameterError::BufferSize {
                    actual: lens[plane],
                    expected,
                    width,
                    height,
                    format: format!("{} plane {plane}", self.name()),
                    stride,
                }));
            }
        }
        Ok(())
    }
}

/// A borrowed 8-bit YUV frame: one slice and row stride per plane.
#[derive(Debug, Clone)]
pub struct YuvRef<'a> {
    layout: YuvLayout,
    width: u32,
    height: u32,
    planes: Vec<&'a [u8]>,
    strides: Vec<usize>,
}

impl<'a> YuvRef<'a> {
    /// `planes` and `strides` hold at least [`YuvLayout::plane_count`] entries (extra
    /// ones are ignored); each plane must be large enough for its rows.
    pub fn new(layout: YuvLayout, width: u32, height: u32, planes: &[&'a [u8]], strides: &[usize]) -> Result<Self> {
        let lens: Vec<usize> = planes.iter().map(|p| p.len()).collect();
        layout.check(width, height, &lens, strides)?;
        let n = layout.plane_count();
        Ok(Self { layout, width, height, planes: planes[..n].to_vec(), strides: strides[..n].to_vec() })
    }

    pub fn layout(&self) -> YuvLayout {
        self.layout
    }
    pub fn width(&self) -> u32 {
        self.width
    }
    pub fn height(&self) -> u32 {
        self.height
    }

    fn luma(&self, x: usize, y: usize) -> u8 {
        let (p, s) = (self.planes[0], self.strides[0]);
        match self.layout {
            YuvLayout::Yuy2 => p[y * s + 2 * x],
            YuvLayout::Uyvy => p[y * s + 2 * x + 1],
            _ => p[y * s + x],
        }
    }

    /// (U, V) of chroma sample (`cx`, `cy`).
    fn chroma(&self, cx: usize, cy: usize) -> (u8, u8) {
        match self.layout {
            YuvLayout::I420 | YuvLayout::Y444 => {
                (self.planes[1][cy * self.strides[1] + cx], self.planes[2][cy * self.strides[2] + cx])
            }
            YuvLayout::Nv12 => {
                let i = cy * self.strides[1] + 2 * cx;
                (self.planes[1][i], self.planes[1][i + 1])
            }
            YuvLayout::Yuy2 => {
                let i = cy * self.strides[0] + 4 * cx;
                (self.planes[0][i + 1], self.planes[0][i + 3])
            }
            YuvLayout::Uyvy => {
                let i = cy * self.strides[0] + 4 * cx;
                (self.planes[0][i], self.planes[0][i + 2])
            }
        }
    }
}

/// A mutable borrowed 8-bit YUV frame.
#[derive(Debug)]
pub struct YuvMut<'a> {
    layout: YuvLayout,
    width: u32,
    height: u32,
    planes: Vec<&'a mut [u8]>,
    strides: Vec<usize>,
}

impl<'a> YuvMut<'a> {
    /// Takes the first [`YuvLayout::plane_count`] planes of `planes`.
    pub fn new(
        layout: YuvLayout,
        width: u32,
        height: u32,
        planes: Vec<&'a mut [u8]>,
        strides: &[usize],
    ) -> Result<Self> {
        let lens: Vec<usize> = planes.iter().map(|p| p.len()).collect();
        layout.check(width, height, &lens, strides)?;
        let n = layout.plane_count();
        let mut planes = planes;
        planes.truncate(n);
        Ok(Self { layout, width, height, planes, strides: strides[..n].to_vec() })
    }

    pub fn layout(&self) -> YuvLayout {
        self.layout
    }
    pub fn width(&self) -> u32 {
        self.width
    }
    pub fn height(&self) -> u32 {
        self.height
    }

    fn set_luma(&mut self, x: usize, y: usize, value: u8) {
        let s = self.strides[0];
        let i = match self.layout {
            YuvLayout::Yuy2 => y * s + 2 * x,
            YuvLayout::Uyvy => y * s + 2 * x + 1,
            _ => y * s + x,
        };
        self.planes[0][i] = value;
    }

    fn set_chroma(&mut self, cx: usize, cy: usize, u: u8, v: u8) {
        match self.layout {
            YuvLayout::I420 | YuvLayout::Y444 => {
                let (su, sv) = (self.strides[1], self.strides[2]);
                self.planes[1][cy * su + cx] = u;
                self.planes[2][cy * sv + cx] = v;
            }
            YuvLayout::Nv12 => {
                let i = cy * self.strides[1] + 2 * cx;
                self.planes[1][i] = u;
                self.planes[1][i + 1] = v;
            }
            YuvLayout::Yuy2 => {
                let i = cy * self.strides[0] + 4 * cx;
                self.planes[0][i + 1] = u;
                self.planes[0][i + 3] = v;
            }
            YuvLayout::Uyvy => {
                let i = cy * self.strides[0] + 4 * cx;
                self.planes[0][i] = u;
                self.planes[0][i + 2] = v;
            }
        }
    }
}

/// The float RGB format the conversions produce and take.
pub const RGB_F32: PixelFormat = PixelFormat::new(Channels::Rgb, SampleType::F32);

/// Two-tap linear interpolation weights from the chroma grid to each luma position
/// along one axis: (index0, index1, weight of index1).
fn upsample_taps(full: usize, chroma: usize, factor: usize, cosited: bool) -> Vec<(usize, usize, f32)> {
    let last = chroma - 1;
    (0..full)
        .map(|i| {
            if factor == 1 {
                return (i.min(last), i.min(last), 0.0);
            }
            // Chroma sample c sits at luma position 2c (co-sited) or 2c + 0.5 (centred).
            let pos = if cosited { i as f32 / 2.0 } else { (i as f32 - 0.5) / 2.0 };
            let pos = pos.clamp(0.0, last as f32);
            let i0 = pos.floor() as usize;
            let i1 = (i0 + 1).min(last);
            (i0, i1, pos - i0 as f32)
        })
        .collect()
}

/// Weights from the luma grid to each chroma sample along one axis (edges clamped):
/// a box over the block, or [1 2 1]/4 around the co-sited sample.
fn downsample_taps(full: usize, chroma: usize, factor: usize, cosited: bool) -> Vec<Vec<(usize, f32)>> {
    let last = full - 1;
    (0..chroma)
        .map(|c| {
            if factor == 1 {
                return vec![(c.min(last), 1.0)];
            }
            let centre = 2 * c;
            if cosited {
                vec![(centre.saturating_sub(1), 0.25), (centre.min(last), 0.5), ((centre + 1).min(last), 0.25)]
            } else {
                vec![(centre.min(last), 0.5), ((centre + 1).min(last), 0.5)]
            }
        })
        .collect()
}

fn rgb_f32_pixel(row: &[u8], x: usize) -> [f32; 3] {
    let mut px = [0.0f32; 3];
    for (c, v) in px.iter_mut().enumerate() {
        let b = &row[12 * x + 4 * c..12 * x + 4 * c + 4];
        *v = f32::from_ne_bytes([b[0], b[1], b[2], b[3]]);
    }
    px
}

#[inline]
fn code(value: f32) -> u8 {
    value.round().clamp(0.0, 255.0) as u8
}

/// Converts a YUV frame to float RGB (`Channels::Rgb`, `SampleType::F32`) in `dst`,
/// which must have the frame's size; values are not clipped to [0,1].
pub fn yuv_to_rgb(src: &YuvRef<'_>, color: YuvColor, siting: ChromaSiting, dst: &mut Image) -> Result<()> {
    if dst.format != RGB_F32 {
        return Err(CoreError::Parameter(ParameterError::FormatMismatch {
            src: format!("{} YUV", src.layout.name()),
            dst: dst.format.to_string(),
        }));
    }
    if (dst.width, dst.height) != (src.width, src.height) {
        return Err(CoreError::Parameter(ParameterError::SizeMismatch {
            src: (src.width, src.height),
            dst: (dst.width, dst.height),
        }));
    }
    let k = color.coefficients();
    let (w, h) = (src.width as usize, src.height as usize);
    let (cw, ch) = src.layout.chroma_size(w, h);
    let (sx, sy) = src.layout.subsampling();
    let xt = upsample_taps(w, cw, sx, siting.h_cosited);
    let yt = upsample_taps(h, ch, sy, siting.v_cosited);
    // Chroma rows upsampled horizontally, cached per chroma row.
    let upsample_row = |cy: usize, u: &mut Vec<f32>, v: &mut Vec<f32>| {
        let row: Vec<(u8, u8)> = (0..cw).map(|cx| src.chroma(cx, cy)).collect();
        u.clear();
        v.clear();
        for &(i0, i1, t) in &xt {
            let (a, b) = (row[i0], row[i1]);
            u.push(f32::from(a.0) + (f32::from(b.0) - f32::from(a.0)) * t);
            v.push(f32::from(a.1) + (f32::from(b.1) - f32::from(a.1)) * t);
        }
    };
    let (mut u0, mut v0, mut u1, mut v1) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut cached = (usize::MAX, usize::MAX);
    let stride = dst.stride();
    for (y, &(r0, r1, t)) in yt.iter().enumerate() {
        if cached != (r0, r1) {
            upsample_row(r0, &mut u0, &mut v0);
            upsample_row(r1, &mut u1, &mut v1);
            cached = (r0, r1);
        }
        let out = &mut dst.data[y * stride..(y + 1) * stride];
        for x in 0..w {
            let u = u0[x] + (u1[x] - u0[x]) * t;
            let v = v0[x] + (v1[x] - v0[x]) * t;
            let rgb = k.to_rgb(f32::from(src.luma(x, y)), u, v);
            for (c, value) in rgb.iter().enumerate() {
                out[12 * x + 4 * c..12 * x + 4 * c + 4].copy_from_slice(&value.to_ne_bytes());
            }
        }
    }
    Ok(())
}

/// Converts float RGB (`Channels::Rgb`, `SampleType::F32`, the frame's size) to the
/// YUV frame `dst`; chroma is filtered down to the layout's chroma grid.
pub fn rgb_to_yuv(src: &ImageRef<'_>, color: YuvColor, siting: ChromaSiting, dst: &mut YuvMut<'_>) -> Result<()> {
    if src.format() != RGB_F32 {
        return Err(CoreError::Parameter(ParameterError::FormatMismatch {
            src: src.format().to_string(),
            dst: format!("{} YUV", dst.layout.name()),
        }));
    }
    if (src.width(), src.height()) != (dst.width, dst.height) {
        return Err(CoreError::Parameter(ParameterError::SizeMismatch {
            src: (src.width(), src.height()),
            dst: (dst.width, dst.height),
        }));
    }
    let k = color.coefficients();
    let (w, h) = (dst.width as usize, dst.height as usize);
    let (cw, ch) = dst.layout.chroma_size(w, h);
    let (sx, sy) = dst.layout.subsampling();
    // Full-resolution chroma (unrounded) for the filter; luma goes straight out.
    let mut u_full = vec![0.0f32; w * h];
    let mut v_full = vec![0.0f32; w * h];
    let data = src.data();
    for y in 0..h {
        let row = &data[y * src.stride()..];
        for x in 0..w {
            let [yy, u, v] = k.to_yuv(rgb_f32_pixel(row, x));
            dst.set_luma(x, y, code(yy));
            u_full[y * w + x] = u;
            v_full[y * w + x] = v;
        }
    }
    let xt = downsample_taps(w, cw, sx, siting.h_cosited);
    let yt = downsample_taps(h, ch, sy, siting.v_cosited);
    for (cy, ytaps) in yt.iter().enumerate() {
        for (cx, xtaps) in xt.iter().enumerate() {
            let (mut u, mut v) = (0.0f32, 0.0f32);
            for &(yy, wy) in ytaps {
                for &(xx, wx) in xtaps {
                    let i = yy * w + xx;
                    u += u_full[i] * wx * wy;
                    v += v_full[i] * wx * wy;
                }
            }
            dst.set_chroma(cx, cy, code(u), code(v));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const LAYOUTS: [YuvLayout; 5] =
        [YuvLayout::I420, YuvLayout::Nv12, YuvLayout::Y444, YuvLayout::Yuy2, YuvLayout::Uyvy];
    const LIMITED_709: YuvColor = YuvColor::new(Matrix::Bt709, Range::Limited);

    /// Tightly packed planes for a layout (with `pad` extra bytes per row).
    fn planes(layout: YuvLayout, w: usize, h: usize, pad: usize) -> (Vec<Vec<u8>>, Vec<usize>) {
        (0..layout.plane_count())
            .map(|p| {
                let (row, rows) = layout.plane_extent(p, w, h);
                (vec![0u8; (row + pad) * rows], row + pad)
            })
            .unzip()
    }

    fn rgb_image(w: u32, h: u32, f: impl Fn(u32, u32) -> [f32; 3]) -> Image {
        let mut img = Image::new(w, h, RGB_F32).unwrap();
        for y in 0..h {
            for x in 0..w {
                let i = 12 * (y * w + x) as usize;
                for (c, v) in f(x, y).iter().enumerate() {
                    img.data[i + 4 * c..i + 4 * c + 4].copy_from_slice(&v.to_ne_bytes());
                }
            }
        }
        img
    }

    fn pixel(img: &Image, x: u32, y: u32) -> [f32; 3] {
        rgb_f32_pixel(&img.data[(y * img.width) as usize * 12..], x as usize)
    }

    fn close(a: [f32; 3], b: [f32; 3], tol: f32) -> bool {
        a.iter().zip(b).all(|(x, y)| (x - y).abs() <= tol)
    }

    #[test]
    fn limited_range_709_black_and_white() {
        assert!(close(LIMITED_709.to_rgb(16.0, 128.0, 128.0), [0.0; 3], 1e-6));
        assert!(close(LIMITED_709.to_rgb(235.0, 128.0, 128.0), [1.0; 3], 1e-6));
        let full = YuvColor::new(Matrix::Bt709, Range::Full);
        assert!(close(full.to_rgb(0.0, 128.0, 128.0), [0.0; 3], 1e-6));
        assert!(close(full.to_rgb(255.0, 128.0, 128.0), [1.0; 3], 1e-6));
    }

    #[test]
    fn known_red_codes_per_matrix() {
        let red = [1.0, 0.0, 0.0];
        let codes = |c: YuvColor| c.to_yuv(red).map(code);
        assert_eq!(codes(YuvColor::new(Matrix::Bt601, Range::Limited)), [81, 90, 240]);
        assert_eq!(codes(LIMITED_709), [63, 102, 240]);
        assert_eq!(codes(YuvColor::new(Matrix::Bt2020, Range::Limited)), [74, 97, 240]);
        assert_eq!(codes(YuvColor::new(Matrix::Bt601, Range::Full)), [76, 85, 255]);
    }

    #[test]
    fn bt601_and_bt709_differ_for_the_same_yuv() {
        let a = YuvColor::new(Matrix::Bt601, Range::Limited).to_rgb(100.0, 80.0, 200.0);
        let b = LIMITED_709.to_rgb(100.0, 80.0, 200.0);
        assert!(a.iter().zip(b).any(|(x, y)| (x - y).abs() > 0.03), "{a:?} vs {b:?}");
        // Gray is gray in every matrix.
        let g = YuvColor::new(Matrix::Bt2020, Range::Limited).to_rgb(126.0, 128.0, 128.0);
        assert!(close(g, [(126.0 - 16.0) / 219.0; 3], 1e-6));
    }

    #[test]
    fn no_clipping_of_super_whites_or_footroom() {
        let rgb = LIMITED_709.to_rgb(250.0, 128.0, 128.0);
        assert!(rgb[0] > 1.0, "{rgb:?}");
        let rgb = LIMITED_709.to_rgb(5.0, 128.0, 128.0);
        assert!(rgb[0] < 0.0, "{rgb:?}");
        // And back: a value over 1 uses the headroom codes rather than stopping at 235.
        assert_eq!(code(LIMITED_709.to_yuv([1.05; 3])[0]), 246);
    }

    #[test]
    fn rgb_round_trip_through_every_layout() {
        // Smooth content: colour changes slowly, so chroma subsampling loses little.
        let (w, h) = (33u32, 17u32);
        let src = rgb_image(w, h, |x, y| {
            [
                0.2 + 0.6 * x as f32 / w as f32,
                0.3 + 0.4 * y as f32 / h as f32,
                0.5 + 0.3 * ((x + y) as f32 / 50.0).sin(),
            ]
        });
        for layout in LAYOUTS {
            for color in
                [LIMITED_709, YuvColor::new(Matrix::Bt601, Range::Full), YuvColor::new(Matrix::Bt2020, Range::Limited)]
            {
                for siting in [ChromaSiting::CENTER, ChromaSiting::MPEG2] {
                    let (mut bufs, strides) = planes(layout, w as usize, h as usize, 3);
                    let mut yuv =
                        YuvMut::new(layout, w, h, bufs.iter_mut().map(|b| &mut b[..]).collect(), &strides).unwrap();
                    rgb_to_yuv(&src.as_ref(), color, siting, &mut yuv).unwrap();
                    let refs: Vec<&[u8]> = bufs.iter().map(|b| &b[..]).collect();
                    let yuv = YuvRef::new(layout, w, h, &refs, &strides).unwrap();
                    let mut back = Image::new(w, h, RGB_F32).unwrap();
                    yuv_to_rgb(&yuv, color, siting, &mut back).unwrap();
                    let mut worst = 0.0f32;
                    for y in 0..h {
                        for x in 0..w {
                            let (a, b) = (pixel(&src, x, y), pixel(&back, x, y));
                            worst = a.iter().zip(b).map(|(p, q)| (p - q).abs()).fold(worst, f32::max);
                        }
                    }
                    // 8-bit quantisation (limited range: 1/219 per luma code) plus a little
                    // chroma smoothing for the subsampled layouts.
                    let tol = if layout == YuvLayout::Y444 { 0.012 } else { 0.03 };
                    assert!(worst < tol, "{layout:?} {color:?} {siting:?}: max error {worst}");
                }
            }
        }
    }

    #[test]
    fn yuv_round_trip_is_exact_for_444_and_flat_chroma() {
        let (w, h) = (9u32, 7u32);
        for layout in LAYOUTS {
            let (mut bufs, strides) = planes(layout, w as usize, h as usize, 0);
            {
                let mut yuv =
                    YuvMut::new(layout, w, h, bufs.iter_mut().map(|b| &mut b[..]).collect(), &strides).unwrap();
                let (cw, ch) = layout.chroma_size(w as usize, h as usize);
                for y in 0..h as usize {
                    for x in 0..w as usize {
                        yuv.set_luma(x, y, (60 + 10 * x + 7 * y) as u8);
                    }
                }
                for cy in 0..ch {
                    for cx in 0..cw {
                        let (u, v) = if layout == YuvLayout::Y444 {
                            ((110 + 3 * cx) as u8, (140 - 2 * cy) as u8)
                        } else {
                            (118, 135)
                        };
                        yuv.set_chroma(cx, cy, u, v);
                    }
                }
            }
            let original = bufs.clone();
            let refs: Vec<&[u8]> = original.iter().map(|b| &b[..]).collect();
            let yuv = YuvRef::new(layout, w, h, &refs, &strides).unwrap();
            let mut rgb = Image::new(w, h, RGB_F32).unwrap();
            yuv_to_rgb(&yuv, LIMITED_709, ChromaSiting::MPEG2, &mut rgb).unwrap();
            let mut out = YuvMut::new(layout, w, h, bufs.iter_mut().map(|b| &mut b[..]).collect(), &strides).unwrap();
            rgb_to_yuv(&rgb.as_ref(), LIMITED_709, ChromaSiting::MPEG2, &mut out).unwrap();
            assert_eq!(bufs, original, "{layout:?}");
        }
    }

    #[test]
    fn packed_and_planar_layouts_put_samples_where_gstreamer_does() {
        // YUY2: Y0 U Y1 V; UYVY: U Y0 V Y1; NV12: UV interleaved.
        let src = rgb_image(2, 2, |_, _| [1.0, 0.0, 0.0]);
        let expect = LIMITED_709.to_yuv([1.0, 0.0, 0.0]).map(code);
        let mut yuy2 = [0u8; 8];
        let mut out = YuvMut::new(YuvLayout::Yuy2, 2, 2, vec![&mut yuy2[..]], &[4]).unwrap();
        rgb_to_yuv(&src.as_ref(), LIMITED_709, ChromaSiting::CENTER, &mut out).unwrap();
        assert_eq!(&yuy2[..4], &[expect[0], expect[1], expect[0], expect[2]]);
        let mut uyvy = [0u8; 8];
        let mut out = YuvMut::new(YuvLayout::Uyvy, 2, 2, vec![&mut uyvy[..]], &[4]).unwrap();
        rgb_to_yuv(&src.as_ref(), LIMITED_709, ChromaSiting::CENTER, &mut out).unwrap();
        assert_eq!(&uyvy[..4], &[expect[1], expect[0], expect[2], expect[0]]);
        let (mut y, mut uv) = (vec![0u8; 4], vec![0u8; 2]);
        let mut out = YuvMut::new(YuvLayout::Nv12, 2, 2, vec![&mut y[..], &mut uv[..]], &[2, 2]).unwrap();
        rgb_to_yuv(&src.as_ref(), LIMITED_709, ChromaSiting::CENTER, &mut out).unwrap();
        assert_eq!((y, uv), (vec![expect[0]; 4], vec![expect[1], expect[2]]));
    }

    #[test]
    fn chroma_is_interpolated_at_its_siting() {
        // I420 4x2: chroma columns U=100 then U=200. Centred siting puts them at luma
        // x=0.5 and 2.5, co-sited at x=0 and 2.
        let y = [128u8; 8];
        let u = [100u8, 200];
        let v = [128u8, 128];
        let frame = YuvRef::new(YuvLayout::I420, 4, 2, &[&y[..], &u[..], &v[..]], &[4, 2, 2]).unwrap();
        let blue_of = |siting| {
            let mut rgb = Image::new(4, 2, RGB_F32).unwrap();
            yuv_to_rgb(&frame, LIMITED_709, siting, &mut rgb).unwrap();
            (0..4).map(|x| pixel(&rgb, x, 0)[2]).collect::<Vec<_>>()
        };
        let u_at = |b: f32| 128.0 + (b - (128.0 - 16.0) / 219.0) * 224.0 / (2.0 * (1.0 - 0.0722));
        let centred: Vec<f32> = blue_of(ChromaSiting::CENTER).into_iter().map(u_at).collect();
        let cosited: Vec<f32> = blue_of(ChromaSiting::MPEG2).into_iter().map(u_at).collect();
        let expect_c = [100.0, 125.0, 175.0, 200.0];
        let expect_s = [100.0, 150.0, 200.0, 200.0];
        assert!(centred.iter().zip(expect_c).all(|(a, b)| (a - b).abs() < 0.01), "{centred:?}");
        assert!(cosited.iter().zip(expect_s).all(|(a, b)| (a - b).abs() < 0.01), "{cosited:?}");
    }

    #[test]
    fn short_planes_and_wrong_formats_are_errors() {
        let y = [0u8; 15];
        let c = [0u8; 4];
        let err = YuvRef::new(YuvLayout::I420, 4, 4, &[&y[..], &c[..], &c[..]], &[4, 2, 2]).unwrap_err().to_string();
        assert!(err.contains("I420 plane 0") && err.contains("16"), "{err}");
        assert!(
            YuvRef::new(YuvLayout::Yuy2, 3, 1, &[&[0u8; 7][..]], &[7]).is_err(),
            "odd widths round up to whole pairs"
        );
        let y = [0u8; 16];
        let frame = YuvRef::new(YuvLayout::I420, 4, 4, &[&y[..], &c[..], &c[..]], &[4, 2, 2]).unwrap();
        let mut wrong = Image::new(4, 4, PixelFormat::new(Channels::Rgb, SampleType::U8)).unwrap();
        assert!(matches!(
            yuv_to_rgb(&frame, LIMITED_709, ChromaSiting::CENTER, &mut wrong),
            Err(CoreError::Parameter(ParameterError::FormatMismatch { .. }))
        ));
        let mut small = Image::new(2, 2, RGB_F32).unwrap();
        assert!(matches!(
            yuv_to_rgb(&frame, LIMITED_709, ChromaSiting::CENTER, &mut small),
            Err(CoreError::Parameter(ParameterError::SizeMismatch { src: (4, 4), dst: (2, 2) }))
        ));
        let err = YuvRef::new(YuvLayout::I420, 4, 4, &[&y[..]], &[4]).unwrap_err();
        assert!(
            matches!(err, CoreError::Parameter(ParameterError::PlaneCount { actual: 1, expected: 3, .. })),
            "{err}"
        );
    }
}
