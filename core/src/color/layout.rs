//! Memory layouts of YUV frames and where their chroma samples sit.

use crate::{CoreError, ParameterError, Result};

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

/// Memory layouts of YUV frames (GStreamer format names). 10-bit samples are
/// little-endian 16-bit words (in the low bits, or the high bits for P010) or v210's
/// packed 32-bit words.
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
    /// 4:1:1, three planes Y, U, V (DV).
    Y41b,
    /// 10-bit 4:2:0, three planes (`I420_10LE`).
    I420P10,
    /// 10-bit 4:2:0, a Y plane and an interleaved UV plane, samples in the high bits
    /// (`P010_10LE`).
    P010,
    /// 10-bit 4:4:4, three planes (`Y444_10LE`).
    Y444P10,
    /// 10-bit 4:2:2 packed, 6 pixels in four 32-bit words (`v210`, capture cards).
    V210,
}

impl YuvLayout {
    pub fn name(self) -> &'static str {
        match self {
            YuvLayout::I420 => "I420",
            YuvLayout::Nv12 => "NV12",
            YuvLayout::Y444 => "Y444",
            YuvLayout::Yuy2 => "YUY2",
            YuvLayout::Uyvy => "UYVY",
            YuvLayout::Y41b => "Y41B",
            YuvLayout::I420P10 => "I420_10LE",
            YuvLayout::P010 => "P010_10LE",
            YuvLayout::Y444P10 => "Y444_10LE",
            YuvLayout::V210 => "v210",
        }
    }

    /// Bits per sample: 8 or 10.
    pub fn bits(self) -> u32 {
        match self {
            YuvLayout::I420P10 | YuvLayout::P010 | YuvLayout::Y444P10 | YuvLayout::V210 => 10,
            _ => 8,
        }
    }

    pub fn plane_count(self) -> usize {
        match self {
            YuvLayout::I420 | YuvLayout::Y444 | YuvLayout::Y41b | YuvLayout::I420P10 | YuvLayout::Y444P10 => 3,
            YuvLayout::Nv12 | YuvLayout::P010 => 2,
            YuvLayout::Yuy2 | YuvLayout::Uyvy | YuvLayout::V210 => 1,
        }
    }

    /// Horizontal and vertical chroma subsampling factors.
    pub fn subsampling(self) -> (usize, usize) {
        match self {
            YuvLayout::I420 | YuvLayout::Nv12 | YuvLayout::I420P10 | YuvLayout::P010 => (2, 2),
            YuvLayout::Y444 | YuvLayout::Y444P10 => (1, 1),
            YuvLayout::Yuy2 | YuvLayout::Uyvy | YuvLayout::V210 => (2, 1),
            YuvLayout::Y41b => (4, 1),
        }
    }

    /// Size of the chroma grid for a `width` x `height` frame.
    pub fn chroma_size(self, width: usize, height: usize) -> (usize, usize) {
        let (sx, sy) = self.subsampling();
        (width.div_ceil(sx), height.div_ceil(sy))
    }

    /// (bytes per row, rows) that plane `plane` needs.
    pub(super) fn plane_extent(self, plane: usize, width: usize, height: usize) -> (usize, usize) {
        let (cw, ch) = self.chroma_size(width, height);
        match (self, plane) {
            (YuvLayout::Yuy2 | YuvLayout::Uyvy, _) => (4 * cw, height),
            // Groups of 6 pixels in 16 bytes; a partial group takes a whole one.
            (YuvLayout::V210, _) => (16 * width.div_ceil(6), height),
            (YuvLayout::I420P10 | YuvLayout::P010 | YuvLayout::Y444P10, 0) => (2 * width, height),
            (_, 0) => (width, height),
            (YuvLayout::Nv12, _) => (2 * cw, ch),
            (YuvLayout::P010, _) => (4 * cw, ch),
            (YuvLayout::I420P10 | YuvLayout::Y444P10, _) => (2 * cw, ch),
            _ => (cw, ch),
        }
    }

    pub(super) fn check(self, width: u32, height: u32, lens: &[usize], strides: &[usize]) -> Result<()> {
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
