//! Keeps an upscaled image's colours on its input's. GAN-trained models shift the local
//! mean colour (on real photos Real-ESRGAN x4plus came out up to 5/255 darker and
//! animevideov3 tinted a gray photo blue by 2/255: the "white turns off-white" complaint).
//! The output's low frequencies, block means of `BLOCK` input pixels, are moved onto the
//! input's: the difference of the two block-mean images, interpolated bilinearly to the
//! output size, is added to the output. Detail finer than a block is untouched.

use crate::{
    pixels::{read_tile, write_tile, Image, ImageMut, ImageRef, PlaneRect},
    resample::{resample, Filter},
    Result,
};

/// Block side in input pixels.
const BLOCK: u32 = 16;
/// Output rows corrected per pass (bounds the float working memory).
const STRIP_ROWS: usize = 64;

/// Planar float RGB block means (premultiplied by alpha like the model's input).
fn block_means(img: &ImageRef<'_>, width: u32, height: u32) -> Result<Vec<f32>> {
    let mut small = Image::new(width, height, img.format())?;
    resample(img, &mut small.as_mut(), Filter::Area)?;
    let (w, h) = (width as usize, height as usize);
    let mut rgb = vec![0.0; 3 * w * h];
    let mut alpha = vec![0.0; if img.format().channels.alpha_offset().is_some() { w * h } else { 0 }];
    let alpha = (!alpha.is_empty()).then_some(&mut alpha[..]);
    read_tile(&small.as_ref(), 0, 0, w, h, &mut rgb, alpha);
    Ok(rgb)
}

/// Bilinear sample positions along one axis: for each output index, the two block
/// indices and the weight of the second (block centres at (i + 0.5) * len / blocks).
fn axis_weights(out_len: usize, blocks: usize) -> Vec<(usize, usize, f32)> {
    (0..out_len)
        .map(|o| {
            let f = ((o as f64 + 0.5) * blocks as f64 / out_len as f64 - 0.5).clamp(0.0, (blocks - 1) as f64);
            let i = f.floor() as usize;
            (i, (i + 1).min(blocks - 1), (f - i as f64) as f32)
        })
        .collect()
}

/// Moves the block means of `dst` (the upscaled image) onto those of `src`.
pub fn match_colours(src: &ImageRef<'_>, dst: &mut ImageMut<'_>) -> Result<()> {
    let (bw, bh) = (src.width().div_ceil(BLOCK), src.height().div_ceil(BLOCK));
    let want = block_means(src, bw, bh)?;
    let have = block_means(&dst.as_ref(), bw, bh)?;
    let diff: Vec<f32> = want.iter().zip(&have).map(|(a, b)| a - b).collect();
    let (bw, bh) = (bw as usize, bh as usize);
    let (w, h) = (dst.width() as usize, dst.height() as usize);
    let xs = axis_weights(w, bw);
    let ys = axis_weights(h, bh);
    let has_alpha = dst.format().channels.alpha_offset().is_some();
    let mut rgb = vec![0.0f32; 3 * w * STRIP_ROWS.min(h)];
    let mut alpha = vec![0.0f32; if has_alpha { w * STRIP_ROWS.min(h) } else { 0 }];
    for y0 in (0..h).step_by(STRIP_ROWS) {
        let rows = STRIP_ROWS.min(h - y0);
        let plane = w * rows;
        let (rgb, alpha) = (&mut rgb[..3 * plane], &mut alpha[..if has_alpha { plane } else { 0 }]);
        read_tile(&dst.as_ref(), 0, y0 as i64, w, rows, rgb, has_alpha.then_some(&mut alpha[..]));
        for (c, channel) in rgb.chunks_exact_mut(plane).enumerate() {
            let d = &diff[c * bw * bh..(c + 1) * bw * bh];
            for (r, row) in channel.chunks_exact_mut(w).enumerate() {
                let (y_a, y_b, wy) = ys[y0 + r];
                let (row_a, row_b) = (&d[y_a * bw..(y_a + 1) * bw], &d[y_b * bw..(y_b + 1) * bw]);
                for (v, &(x_a, x_b, wx)) in row.iter_mut().zip(&xs) {
                    let top = row_a[x_a] + wx * (row_a[x_b] - row_a[x_a]);
                    let bottom = row_b[x_a] + wx * (row_b[x_b] - row_b[x_a]);
                    *v += top + wy * (bottom - top);
                }
            }
        }
        let rect = PlaneRect { x: 0, y: 0, width: w, height: rows };
        write_tile(dst, 0, y0 as u32, rgb, has_alpha.then_some(&alpha[..]), w, rect);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Channels, PixelFormat, SampleType};

    fn image(w: u32, h: u32, f: impl Fn(u32, u32, usize) -> u8) -> Image {
        let mut img = Image::new(w, h, PixelFormat::new(Channels::Rgb, SampleType::U8)).unwrap();
        for y in 0..h {
            for x in 0..w {
                for c in 0..3 {
                    img.data[((y * w + x) * 3) as usize + c] = f(x, y, c);
                }
            }
        }
        img
    }

    fn channel_means(img: &Image) -> [f64; 3] {
        let mut sums = [0.0; 3];
        for px in img.data.chunks_exact(3) {
            for c in 0..3 {
                sums[c] += f64::from(px[c]);
            }
        }
        sums.map(|s| s / f64::from(img.width * img.height))
    }

    #[test]
    fn a_shifted_output_gets_the_input_colour_back_and_keeps_its_detail() {
        let src = image(64, 48, |x, y, c| (40 + x * 2 + y + 30 * c as u32) as u8);
        // A 2x "upscale" that is 12 levels too dark in red and carries fine detail.
        let mut dst = image(128, 96, |x, y, c| {
            let base = i32::from(src.data[(((y / 2) * 64 + x / 2) * 3) as usize + c]);
            let detail = if (x + y) % 2 == 0 { 3 } else { -3 };
            (base + detail - if c == 0 { 12 } else { 0 }).clamp(0, 255) as u8
        });
        let before = dst.clone();
        match_colours(&src.as_ref(), &mut dst.as_mut()).unwrap();
        let (want, got) = (channel_means(&src), channel_means(&dst));
        for c in 0..3 {
            assert!((want[c] - got[c]).abs() < 0.5, "channel {c}: input mean {} output mean {}", want[c], got[c]);
        }
        // The checkerboard detail survives: neighbours still differ by ~6 levels.
        let step = |img: &Image| i32::from(img.data[(40 * 128 + 41) * 3 + 1]) - i32::from(img.data[(40 * 128 + 40) * 3 + 1]);
        assert_eq!(step(&dst), step(&before));
    }
}
