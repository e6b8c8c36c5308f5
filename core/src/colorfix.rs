//! Keeps an upscaled image's colours on its input's. GAN-trained models shift the local
//! mean colour (on real photos Real-ESRGAN x4plus came out up to 5/255 darker and
//! animevideov3 tinted a gray photo blue by 2/255: the "white turns off-white" complaint).
//! The output's low frequencies, block means of `BLOCK` input pixels, are moved onto the
//! input's: the difference of the two block-mean images, interpolated bilinearly to the
//! output size, is added to the output. Detail finer than a block is untouched.

use crate::{
    pixels::{read_tile, write_tile, ImageMut, ImageRef, PlaneRect},
    Result,
};

/// Block side in input pixels.
const BLOCK: u32 = 16;
/// Output rows corrected per pass (bounds the float working memory).
const STRIP_ROWS: usize = 64;

/// Planar float RGB block means, premultiplied by alpha like the model's input (so the
/// colour of transparent pixels, which the model does not keep, does not count). A pixel
/// belongs to the block of the input pixel it covers (`input` = the input's size), so an
/// output pixel and its source always share a block; rows are read in strips.
fn block_means(img: &ImageRef<'_>, input: (usize, usize), bw: usize, bh: usize) -> Vec<f32> {
    let (w, h) = (img.width() as usize, img.height() as usize);
    let block_of = |i: usize, len: usize, input_len: usize, blocks: usize| (i * input_len / len) * blocks / input_len;
    let has_alpha = img.format().channels.alpha_offset().is_some();
    let mut sums = vec![0.0f64; 3 * bw * bh];
    let mut counts = vec![0u32; bw * bh];
    let mut rgb = vec![0.0f32; 3 * w * STRIP_ROWS.min(h)];
    let mut alpha = vec![0.0f32; if has_alpha { w * STRIP_ROWS.min(h) } else { 0 }];
    let block_x: Vec<usize> = (0..w).map(|x| block_of(x, w, input.0, bw)).collect();
    for y0 in (0..h).step_by(STRIP_ROWS) {
        let rows = STRIP_ROWS.min(h - y0);
        let plane = w * rows;
        let alpha = if has_alpha { Some(&mut alpha[..plane]) } else { None };
        read_tile(img, 0, y0 as i64, w, rows, &mut rgb[..3 * plane], alpha);
        for r in 0..rows {
            let by = block_of(y0 + r, h, input.1, bh);
            for (x, &bx) in block_x.iter().enumerate() {
                counts[by * bw + bx] += 1;
                for c in 0..3 {
                    sums[(c * bh + by) * bw + bx] += f64::from(rgb[c * plane + r * w + x]);
                }
            }
        }
    }
    sums.iter().enumerate().map(|(i, &s)| (s / f64::from(counts[i % (bw * bh)].max(1))) as f32).collect()
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
pub fn match_colors(src: &ImageRef<'_>, dst: &mut ImageMut<'_>) -> Result<()> {
    let (bw, bh) = (src.width().div_ceil(BLOCK) as usize, src.height().div_ceil(BLOCK) as usize);
    let input = (src.width() as usize, src.height() as usize);
    let want = block_means(src, input, bw, bh);
    let have = block_means(&dst.as_ref(), input, bw, bh);
    let diff: Vec<f32> = want.iter().zip(&have).map(|(a, b)| a - b).collect();
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
    use crate::{Channels, Image, PixelFormat, SampleType};

    fn image(w: u32, h: u32, f: impl Fn(u32, u32, usize) -> u8) -> Image {
        let mut img = Image::new(w, h, PixelFormat::new(Channels::Rgb, SampleType::U8)).unwrap();
        for y in 0..h {
            for x in 0..w {
                for c in 0..3 {
                    img.data_mut()[((y * w + x) * 3) as usize + c] = f(x, y, c);
                }
            }
        }
        img
    }

    fn channel_means(img: &Image) -> [f64; 3] {
        let mut sums = [0.0; 3];
        for px in img.data().chunks_exact(3) {
            for c in 0..3 {
                sums[c] += f64::from(px[c]);
            }
        }
        sums.map(|s| s / f64::from(img.width() * img.height()))
    }

    #[test]
    fn a_shifted_output_gets_the_input_color_back_and_keeps_its_detail() {
        let src = image(64, 48, |x, y, c| (40 + x * 2 + y + 30 * c as u32) as u8);
        // A 2x "upscale" that is 12 levels too dark in red and carries fine detail.
        let mut dst = image(128, 96, |x, y, c| {
            let base = i32::from(src.data()[(((y / 2) * 64 + x / 2) * 3) as usize + c]);
            let detail = if (x + y) % 2 == 0 { 3 } else { -3 };
            (base + detail - if c == 0 { 12 } else { 0 }).clamp(0, 255) as u8
        });
        let before = dst.clone();
        match_colors(&src.as_ref(), &mut dst.as_mut()).unwrap();
        let (want, got) = (channel_means(&src), channel_means(&dst));
        for c in 0..3 {
            assert!((want[c] - got[c]).abs() < 0.5, "channel {c}: input mean {} output mean {}", want[c], got[c]);
        }
        // The checkerboard detail survives: neighbours still differ by ~6 levels.
        let step = |img: &Image| {
            i32::from(img.data()[(40 * 128 + 41) * 3 + 1]) - i32::from(img.data()[(40 * 128 + 40) * 3 + 1])
        };
        assert_eq!(step(&dst), step(&before));
    }

    #[test]
    fn colors_under_zero_alpha_do_not_count() {
        let format = PixelFormat::new(Channels::Rgba, SampleType::U8);
        // Input: half the pixels transparent with a bright colour the model does not keep.
        let mut src = Image::new(8, 8, format).unwrap();
        for (i, px) in src.data_mut().chunks_exact_mut(4).enumerate() {
            px.copy_from_slice(if i % 2 == 0 { &[100, 100, 100, 255] } else { &[250, 10, 10, 0] });
        }
        let mut dst = Image::new(16, 16, format).unwrap();
        for (i, px) in dst.data_mut().chunks_exact_mut(4).enumerate() {
            let (x, y) = (i % 16, i / 16);
            px.copy_from_slice(if (x / 2 + y / 2 * 8) % 2 == 0 { &[100, 100, 100, 255] } else { &[0, 0, 0, 0] });
        }
        let before = dst.clone();
        match_colors(&src.as_ref(), &mut dst.as_mut()).unwrap();
        assert_eq!(dst.data(), before.data());
    }

    #[test]
    fn an_exact_nearest_upscale_of_any_size_is_left_alone() {
        let src = image(37, 21, |x, y, c| ((37 * x + 91 * y + 53 * c as u32) % 256) as u8);
        let mut dst = image(74, 42, |x, y, c| src.data()[(((y / 2) * 37 + x / 2) * 3) as usize + c]);
        let before = dst.clone();
        match_colors(&src.as_ref(), &mut dst.as_mut()).unwrap();
        assert_eq!(dst.data(), before.data());
    }
}
