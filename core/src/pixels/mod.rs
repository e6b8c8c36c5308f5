//! Packed pixel buffers (8/16-bit integer or float, gray/RGB with or without alpha, in
//! the channel orders decoders and editors use); `samples` reads and writes one sample,
//! `tile` converts a tile to and from the planar `[3][h][w]` float tensors models take.

mod samples;
#[cfg(test)]
mod tests;
mod tile;

pub(crate) use samples::quantise_u8;
pub use samples::{read_sample, write_sample};
pub use tile::{phases_to_planar, read_tile, write_tile, write_tile_phases_u8, PlaneRect};

use std::fmt;

use crate::{CoreError, LimitError, ParameterError, Result};

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

    /// 8-bit colour without alpha (video frames): the formats the fast 8-bit paths take.
    pub fn is_opaque_rgb8(&self) -> bool {
        self.sample == SampleType::U8 && self.channels.alpha_offset().is_none() && !self.channels.is_gray()
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

    getters!(width: u32, height: u32, stride: usize, format: PixelFormat);

    pub fn data(&self) -> &'a [u8] {
        self.data
    }

    pub(crate) fn row(&self, y: u32) -> &'a [u8] {
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

    getters!(width: u32, height: u32, stride: usize, format: PixelFormat);

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
    // Private: the buffer always holds exactly `width * height` pixels of `format`,
    // within the size limits, so every view of it is valid without a check.
    data: Vec<u8>,
    width: u32,
    height: u32,
    format: PixelFormat,
}

impl Image {
    /// A zeroed image.
    pub fn new(width: u32, height: u32, format: PixelFormat) -> Result<Self> {
        check_dimensions(u64::from(width), u64::from(height))?;
        let data = vec![0; width as usize * height as usize * format.bytes_per_pixel()];
        Ok(Self { data, width, height, format })
    }

    /// Takes tightly packed pixels (rows without padding); `data` must hold exactly
    /// `width * height` pixels of `format`.
    pub fn from_vec(width: u32, height: u32, format: PixelFormat, data: Vec<u8>) -> Result<Self> {
        check_dimensions(u64::from(width), u64::from(height))?;
        let expected = width as usize * height as usize * format.bytes_per_pixel();
        if data.len() != expected {
            return Err(CoreError::Parameter(ParameterError::BufferSize {
                actual: data.len(),
                expected,
                width,
                height,
                format: format.to_string(),
                stride: width as usize * format.bytes_per_pixel(),
            }));
        }
        Ok(Self { data, width, height, format })
    }

    getters!(width: u32, height: u32, format: PixelFormat);

    /// The pixels, row after row without padding.
    pub fn data(&self) -> &[u8] {
        &self.data
    }

    /// The pixels, writable in place (the length is fixed).
    pub fn data_mut(&mut self) -> &mut [u8] {
        &mut self.data
    }

    pub fn into_vec(self) -> Vec<u8> {
        self.data
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
