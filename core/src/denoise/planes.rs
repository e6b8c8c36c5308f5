//! Planar float RGB frames, the working form of the denoisers, and their conversion
//! from and to packed images (alpha is carried aside, untouched).

use crate::{
    pixels::{read_tile, write_tile, Image, ImageMut, ImageRef, PixelFormat, PlaneRect},
    Channels, Result, SampleType,
};

/// Three planes of `width * height` samples in [0, 1], R then G then B.
#[derive(Debug, Clone, PartialEq)]
pub struct RgbPlanes {
    pub width: usize,
    pub height: usize,
    pub data: Vec<f32>,
}

impl RgbPlanes {
    pub fn new(width: usize, height: usize) -> Self {
        Self { width, height, data: vec![0.0; 3 * width * height] }
    }

    pub fn plane_len(&self) -> usize {
        self.width * self.height
    }

    pub fn plane(&self, c: usize) -> &[f32] {
        &self.data[c * self.plane_len()..(c + 1) * self.plane_len()]
    }

    /// Luma (BT.601 weights; only used to compare frames, never written out).
    pub fn luma(&self) -> Vec<f32> {
        let n = self.plane_len();
        (0..n).map(|i| 0.299 * self.data[i] + 0.587 * self.data[n + i] + 0.114 * self.data[2 * n + i]).collect()
    }

    /// Reads a packed image; with alpha, the colour is *not* premultiplied here (the
    /// upscaler premultiplies later) and alpha is returned aside.
    pub fn from_image(src: &ImageRef<'_>) -> (Self, Option<Vec<f32>>) {
        let (w, h) = (src.width() as usize, src.height() as usize);
        let mut planes = Self::new(w, h);
        let has_alpha = src.format().channels.alpha_offset().is_some();
        let mut alpha = has_alpha.then(|| vec![0.0; w * h]);
        read_tile(src, 0, 0, w, h, &mut planes.data, alpha.as_deref_mut());
        if let Some(alpha) = &alpha {
            // read_tile premultiplies; undo it so denoising sees the real colour.
            for (i, &a) in alpha.iter().enumerate() {
                if a > 1.0 / 4096.0 {
                    for c in 0..3 {
                        planes.data[c * w * h + i] /= a;
                    }
                }
            }
        }
        (planes, alpha)
    }

    /// Packs into a float image of `channels` (RGB or RGBA with `alpha`), the input the
    /// upscaler takes.
    pub fn to_float_image(&self, alpha: Option<&[f32]>) -> Result<Image> {
        let channels = if alpha.is_some() { Channels::Rgba } else { Channels::Rgb };
        let mut image = Image::new(self.width as u32, self.height as u32, PixelFormat::new(channels, SampleType::F32))?;
        self.write_into(&mut image.as_mut(), alpha);
        Ok(image)
    }

    /// Writes into a packed image of any format (converting depth and channel order).
    pub fn write_into(&self, dst: &mut ImageMut<'_>, alpha: Option<&[f32]>) {
        let premultiplied;
        let rgb = match alpha {
            // write_tile un-premultiplies when it has alpha.
            Some(alpha) => {
                let n = self.plane_len();
                premultiplied = (0..3 * n).map(|i| self.data[i] * alpha[i % n]).collect::<Vec<_>>();
                &premultiplied
            }
            None => &self.data,
        };
        let rect = PlaneRect { x: 0, y: 0, width: self.width, height: self.height };
        write_tile(dst, 0, 0, rgb, alpha, self.width, rect);
    }
}
