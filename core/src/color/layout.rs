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
    pub(super) fn plane_extent(self, plane: usize, width: usize, height: usize) -> (usize, usize) {
        let (cw, ch) = self.chroma_size(width, height);
        match (self, plane) {
            (YuvLayout::Yuy2 | YuvLayout::Uyvy, _) => (4 * cw, height),
            (_, 0) => (width, height),
            (YuvLayout::Nv12, _) => (2 * cw, ch),
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
