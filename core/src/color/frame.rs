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

    getters!(layout: YuvLayout, width: u32, height: u32);

    /// Luma code value at (`x`, `y`) (8- or 10-bit, per the layout).
    pub(super) fn luma(&self, x: usize, y: usize) -> u16 {
        let (p, s) = (self.planes[0], self.strides[0]);
        match self.layout {
            YuvLayout::Yuy2 => u16::from(p[y * s + 2 * x]),
            YuvLayout::Uyvy => u16::from(p[y * s + 2 * x + 1]),
            YuvLayout::I420P10 | YuvLayout::Y444P10 => le16(p, y * s + 2 * x) & MASK10,
            YuvLayout::P010 => le16(p, y * s + 2 * x) >> 6,
            YuvLayout::V210 => v210_get(&p[y * s..], V210_LUMA[x % 6] + 12 * (x / 6)),
            _ => u16::from(p[y * s + x]),
        }
    }

    /// (U, V) code values of chroma sample (`cx`, `cy`).
    pub(super) fn chroma(&self, cx: usize, cy: usize) -> (u16, u16) {
        let (p, s) = (&self.planes, &self.strides);
        match self.layout {
            YuvLayout::I420 | YuvLayout::Y444 | YuvLayout::Y41b => {
                (u16::from(p[1][cy * s[1] + cx]), u16::from(p[2][cy * s[2] + cx]))
            }
            YuvLayout::Nv12 => {
                let i = cy * s[1] + 2 * cx;
                (u16::from(p[1][i]), u16::from(p[1][i + 1]))
            }
            YuvLayout::Yuy2 => {
                let i = cy * s[0] + 4 * cx;
                (u16::from(p[0][i + 1]), u16::from(p[0][i + 3]))
            }
            YuvLayout::Uyvy => {
                let i = cy * s[0] + 4 * cx;
                (u16::from(p[0][i]), u16::from(p[0][i + 2]))
            }
            YuvLayout::I420P10 | YuvLayout::Y444P10 => {
                (le16(p[1], cy * s[1] + 2 * cx) & MASK10, le16(p[2], cy * s[2] + 2 * cx) & MASK10)
            }
            YuvLayout::P010 => {
                let i = cy * s[1] + 4 * cx;
                (le16(p[1], i) >> 6, le16(p[1], i + 2) >> 6)
            }
            YuvLayout::V210 => {
                let (row, base) = (&p[0][cy * s[0]..], 12 * (cx / 3));
                (v210_get(row, base + V210_CB[cx % 3]), v210_get(row, base + V210_CR[cx % 3]))
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

    getters!(layout: YuvLayout, width: u32, height: u32);

    pub(super) fn set_luma(&mut self, x: usize, y: usize, value: u16) {
        let s = self.strides[0];
        let p = &mut *self.planes[0];
        match self.layout {
            YuvLayout::Yuy2 => p[y * s + 2 * x] = value as u8,
            YuvLayout::Uyvy => p[y * s + 2 * x + 1] = value as u8,
            YuvLayout::I420P10 | YuvLayout::Y444P10 => put_le16(p, y * s + 2 * x, value),
            YuvLayout::P010 => put_le16(p, y * s + 2 * x, value << 6),
            YuvLayout::V210 => v210_set(&mut p[y * s..], V210_LUMA[x % 6] + 12 * (x / 6), value),
            _ => p[y * s + x] = value as u8,
        }
    }

    /// Writes chroma sample (`cx`, `cy`); values are code values of the layout's depth.
    pub(super) fn set_chroma(&mut self, cx: usize, cy: usize, u: u16, v: u16) {
        let (p, s) = (&mut self.planes, &self.strides);
        match self.layout {
            YuvLayout::I420 | YuvLayout::Y444 | YuvLayout::Y41b => {
                p[1][cy * s[1] + cx] = u as u8;
                p[2][cy * s[2] + cx] = v as u8;
            }
            YuvLayout::Nv12 => {
                let i = cy * s[1] + 2 * cx;
                p[1][i] = u as u8;
                p[1][i + 1] = v as u8;
            }
            YuvLayout::Yuy2 => {
                let i = cy * s[0] + 4 * cx;
                p[0][i + 1] = u as u8;
                p[0][i + 3] = v as u8;
            }
            YuvLayout::Uyvy => {
                let i = cy * s[0] + 4 * cx;
                p[0][i] = u as u8;
                p[0][i + 2] = v as u8;
            }
            YuvLayout::I420P10 | YuvLayout::Y444P10 => {
                put_le16(p[1], cy * s[1] + 2 * cx, u);
                put_le16(p[2], cy * s[2] + 2 * cx, v);
            }
            YuvLayout::P010 => {
                let i = cy * s[1] + 4 * cx;
                put_le16(p[1], i, u << 6);
                put_le16(p[1], i + 2, v << 6);
            }
            YuvLayout::V210 => {
                let (row, base) = (&mut p[0][cy * s[0]..], 12 * (cx / 3));
                v210_set(row, base + V210_CB[cx % 3], u);
                v210_set(row, base + V210_CR[cx % 3], v);
            }
        }
    }
}

const MASK10: u16 = 0x3ff;

#[inline]
fn le16(plane: &[u8], i: usize) -> u16 {
    u16::from_le_bytes([plane[i], plane[i + 1]])
}

#[inline]
fn put_le16(plane: &mut [u8], i: usize, value: u16) {
    plane[i..i + 2].copy_from_slice(&value.to_le_bytes());
}

// v210 packs a group of 6 pixels as 12 ten-bit values in four little-endian 32-bit
// words, three a word from the low bits up: Cb0 Y0 Cr0 | Y1 Cb1 Y2 | Cr1 Y3 Cb2 |
// Y4 Cr2 Y5. These are the positions (0..12) of each pixel's and chroma pair's values.
const V210_LUMA: [usize; 6] = [1, 3, 5, 7, 9, 11];
const V210_CB: [usize; 3] = [0, 4, 8];
const V210_CR: [usize; 3] = [2, 6, 10];

/// Ten-bit value number `k` of a v210 row (12 a group).
#[inline]
fn v210_get(row: &[u8], k: usize) -> u16 {
    let (i, shift) = (16 * (k / 12) + 4 * (k % 12 / 3), 10 * (k % 3));
    let word = u32::from_le_bytes([row[i], row[i + 1], row[i + 2], row[i + 3]]);
    ((word >> shift) & 0x3ff) as u16
}

#[inline]
fn v210_set(row: &mut [u8], k: usize, value: u16) {
    let (i, shift) = (16 * (k / 12) + 4 * (k % 12 / 3), 10 * (k % 3));
    let word = u32::from_le_bytes([row[i], row[i + 1], row[i + 2], row[i + 3]]);
    let word = (word & !(0x3ff << shift)) | (u32::from(value & MASK10) << shift);
    row[i..i + 4].copy_from_slice(&word.to_le_bytes());
}
