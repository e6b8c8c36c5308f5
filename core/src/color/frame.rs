//! Borrowed YUV frames: one slice and row stride per plane, checked once when made.

use super::layout::YuvLayout;
use crate::Result;

/// A borrowed 8-bit YUV frame: one slice and row stride per plane.
#[derive(Debug, Clone)]
pub struct YuvRef<'a> {
    pub(super) layout: YuvLayout,
    pub(super) width: u32,
    pub(super) height: u32,
    pub(super) planes: Vec<&'a [u8]>,
    pub(super) strides: Vec<usize>,
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

    pub(super) fn luma(&self, x: usize, y: usize) -> u8 {
        let (p, s) = (self.planes[0], self.strides[0]);
        match self.layout {
            YuvLayout::Yuy2 => p[y * s + 2 * x],
            YuvLayout::Uyvy => p[y * s + 2 * x + 1],
            _ => p[y * s + x],
        }
    }

    /// (U, V) of chroma sample (`cx`, `cy`).
    pub(super) fn chroma(&self, cx: usize, cy: usize) -> (u8, u8) {
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
    pub(super) layout: YuvLayout,
    pub(super) width: u32,
    pub(super) height: u32,
    pub(super) planes: Vec<&'a mut [u8]>,
    pub(super) strides: Vec<usize>,
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

    pub(super) fn set_luma(&mut self, x: usize, y: usize, value: u8) {
        let s = self.strides[0];
        let i = match self.layout {
            YuvLayout::Yuy2 => y * s + 2 * x,
            YuvLayout::Uyvy => y * s + 2 * x + 1,
            _ => y * s + x,
        };
        self.planes[0][i] = value;
    }

    pub(super) fn set_chroma(&mut self, cx: usize, cy: usize, u: u8, v: u8) {
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
