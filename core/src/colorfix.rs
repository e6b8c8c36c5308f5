//! Keeps an upscaled image's colours on its input's. GAN-trained models shift the local
//! mean colour (on real photos Real-ESRGAN x4plus came out up to 5/255 darker and
//! animevideov3 tinted a gray photo blue by 2/255: the "white turns off-white" complaint).
//! The output's low frequencies, block means of `BLOCK` input pixels, are moved onto the
//! input's: the difference of the two block-mean images, interpolated bilinearly to the
//! output size, is added to the output. Detail finer than a block is untouched.

use crate::{
    pixels::{quantise_u8, read_tile, write_tile, ImageMut, ImageRef, PlaneRect},
    Result,
};

/// Block side in input pixels.
const BLOCK: u32 = 16;
/// Output rows corrected per pass (bounds the float working memory).
const STRIP_ROWS: usize = 64;

/// The block (of `blocks` along an axis of `input_len` input pixels) that pixel `i` of an
/// axis of `len` pixels belongs to: that of the input pixel it covers.
fn block_of(i: usize, len: usize, input_len: usize, blocks: usize) -> usize {
    (i * input_len / len) * blocks / input_len
}

/// Planar float RGB block means, premultiplied by alpha like the model's input (so the
/// colour of transparent pixels, which the model does not keep, does not count). A pixel
/// belongs to the block of the input pixel it covers (`input` = the input's size), so an
/// output pixel and its source always share a block; rows are read in strips.
fn block_means(img: &ImageRef<'_>, input: (usize, usize), (bw, bh): (usize, usize), threads: usize) -> Vec<f32> {
    let (w, h) = (img.width() as usize, img.height() as usize);
    if img.format().is_opaque_rgb8() {
        return block_means_rgb8(img, input, (bw, bh), threads);
    }
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

/// [`block_means`] of a packed 8-bit RGB image, summed as integers (bands of rows on
/// `threads` threads).
fn block_means_rgb8(img: &ImageRef<'_>, input: (usize, usize), (bw, bh): (usize, usize), threads: usize) -> Vec<f32> {
    let (w, h) = (img.width() as usize, img.height() as usize);
    let count = img.format().channels.count();
    let offsets = img.format().channels.rgb_offsets();
    let block_x: Vec<usize> = (0..w).map(|x| block_of(x, w, input.0, bw)).collect();
    // Sums of 3 * bw * bh channel blocks, then bw * bh pixel counts.
    let band_sums = |rows: std::ops::Range<usize>| {
        let mut sums = vec![0u64; 4 * bw * bh];
        let mut row_sums = vec![0u32; 3 * bw];
        for y in rows {
            let by = block_of(y, h, input.1, bh);
            row_sums.fill(0);
            for (px, &bx) in img.row(y as u32).chunks_exact(count).zip(&block_x) {
                for (c, &o) in offsets.iter().enumerate() {
                    row_sums[c * bw + bx] += u32::from(px[o]);
                }
            }
            for c in 0..3 {
                for bx in 0..bw {
                    sums[(c * bh + by) * bw + bx] += u64::from(row_sums[c * bw + bx]);
                }
            }
            for &bx in &block_x {
                sums[(3 * bh + by) * bw + bx] += 1;
            }
        }
        sums
    };
    let bands = crate::bands::ranges(h, crate::bands::workers(threads, w * h, h));
    let sums = std::thread::scope(|scope| {
        let handles: Vec<_> = bands[1..].iter().map(|rows| scope.spawn(|| band_sums(rows.clone()))).collect();
        let mut sums = band_sums(bands.first().cloned().unwrap_or(0..0));
        for handle in handles {
            match handle.join() {
                Ok(band) => sums.iter_mut().zip(band).for_each(|(s, b)| *s += b),
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
        sums
    });
    let (sums, counts) = sums.split_at(3 * bw * bh);
    sums.iter().enumerate().map(|(i, &s)| (s as f64 / (255.0 * counts[i % (bw * bh)].max(1) as f64)) as f32).collect()
}

/// Per output index along one axis: the two block indices and the weight of the second.
type AxisWeights = Vec<(usize, usize, f32)>;

/// Bilinear sample positions along one axis: for each output index, the two block
/// indices and the weight of the second (block centres at (i + 0.5) * len / blocks).
fn axis_weights(out_len: usize, blocks: usize) -> AxisWeights {
    (0..out_len)
        .map(|o| {
            let f = ((o as f64 + 0.5) * blocks as f64 / out_len as f64 - 0.5).clamp(0.0, (blocks - 1) as f64);
            let i = f.floor() as usize;
            (i, (i + 1).min(blocks - 1), (f - i as f64) as f32)
        })
        .collect()
}

/// Moves the block means of `dst` (the upscaled image) onto those of `src`; 8-bit
/// colour images are split over `threads` (0 = one per core).
pub fn match_colors(src: &ImageRef<'_>, dst: &mut ImageMut<'_>, threads: usize) -> Result<()> {
    let (bw, bh) = (src.width().div_ceil(BLOCK) as usize, src.height().div_ceil(BLOCK) as usize);
    let input = (src.width() as usize, src.height() as usize);
    let want = block_means(src, input, (bw, bh), threads);
    let have = block_means(&dst.as_ref(), input, (bw, bh), threads);
    let diff: Vec<f32> = want.iter().zip(&have).map(|(a, b)| a - b).collect();
    let (w, h) = (dst.width() as usize, dst.height() as usize);
    let xs = axis_weights(w, bw);
    let ys = axis_weights(h, bh);
    // 8-bit colour without alpha (video frames): corrected in place, without the planar
    // float round trip.
    if dst.format().is_opaque_rgb8() {
        correct_rgb8(dst, &diff, (bw, bh), (&xs, &ys), threads);
        return Ok(());
    }
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

/// Adds the interpolated `diff` to a packed 8-bit RGB image in place: per row, the
/// block rows are blended once, then each sample takes its horizontal blend.
fn correct_rgb8(
    dst: &mut ImageMut<'_>,
    diff: &[f32],
    (bw, bh): (usize, usize),
    (xs, ys): (&AxisWeights, &AxisWeights),
    threads: usize,
) {
    let w = dst.width() as usize;
    let count = dst.format().channels.count();
    let offsets = dst.format().channels.rgb_offsets();
    let stride = dst.stride();
    let workers = crate::bands::workers(threads, w * ys.len(), ys.len());
    crate::bands::for_row_bands(dst.data_mut(), stride, ys.len(), workers, |first, band| {
        let mut row_diff = vec![0.0f32; 3 * bw];
        for (line, &(y_a, y_b, wy)) in band.chunks_mut(stride).zip(&ys[first..]) {
            for c in 0..3 {
                let d = &diff[c * bw * bh..(c + 1) * bw * bh];
                let (row_a, row_b) = (&d[y_a * bw..(y_a + 1) * bw], &d[y_b * bw..(y_b + 1) * bw]);
                for (out, (&a, &b)) in row_diff[c * bw..(c + 1) * bw].iter_mut().zip(row_a.iter().zip(row_b)) {
                    *out = a + wy * (b - a);
                }
            }
            for (px, &(x_a, x_b, wx)) in line[..w * count].chunks_exact_mut(count).zip(xs) {
                for (c, &o) in offsets.iter().enumerate() {
                    let d = &row_diff[c * bw..(c + 1) * bw];
                    let shift = d[x_a] + wx * (d[x_b] - d[x_a]);
                    px[o] = quantise_u8(f32::from(px[o]) * (1.0 / 255.0) + shift);
                }
            }
        }
    });
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
        match_colors(&src.as_ref(), &mut dst.as_mut(), 1).unwrap();
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
        match_colors(&src.as_ref(), &mut dst.as_mut(), 1).unwrap();
        assert_eq!(dst.data(), before.data());
    }

    #[test]
    fn an_exact_nearest_upscale_of_any_size_is_left_alone() {
        let src = image(37, 21, |x, y, c| ((37 * x + 91 * y + 53 * c as u32) % 256) as u8);
        let mut dst = image(74, 42, |x, y, c| src.data()[(((y / 2) * 37 + x / 2) * 3) as usize + c]);
        let before = dst.clone();
        match_colors(&src.as_ref(), &mut dst.as_mut(), 1).unwrap();
        assert_eq!(dst.data(), before.data());
    }

    #[test]
    fn the_8_bit_path_matches_the_float_path() {
        // Odd sizes (partial blocks), a smooth colour shift and detail; RGBA with full
        // alpha takes the float path, RGB the 8-bit one.
        let src = image(45, 29, |x, y, c| ((3 * x + 5 * y + 70 * c as u32) % 200 + 20) as u8);
        let dst = image(90, 58, |x, y, c| {
            let base = u32::from(src.data()[(((y / 2) * 45 + x / 2) * 3) as usize + c]);
            (base + (x * y) % 7 + x / 9) as u8
        });
        let rgba = |img: &Image| {
            let data = img.data().chunks_exact(3).flat_map(|p| [p[0], p[1], p[2], 255]).collect();
            Image::from_vec(img.width(), img.height(), PixelFormat::new(Channels::Rgba, SampleType::U8), data).unwrap()
        };
        let mut fast = dst.clone();
        match_colors(&src.as_ref(), &mut fast.as_mut(), 1).unwrap();
        let mut float = rgba(&dst);
        match_colors(&rgba(&src).as_ref(), &mut float.as_mut(), 1).unwrap();
        let float: Vec<u8> = float.data().chunks_exact(4).flat_map(|p| [p[0], p[1], p[2]]).collect();
        assert_ne!(fast.data(), dst.data(), "the shift was corrected");
        let differ = fast.data().iter().zip(&float).filter(|(a, b)| a != b).count();
        let largest = fast.data().iter().zip(&float).map(|(&a, &b)| a.abs_diff(b)).max().unwrap();
        assert!(largest <= 1 && differ * 1000 <= float.len(), "{differ} samples differ, by up to {largest}");
    }

    #[test]
    fn threads_change_nothing() {
        let src = image(200, 150, |x, y, c| ((7 * x + 3 * y + 50 * c as u32) % 180 + 30) as u8);
        let dst = image(400, 300, |x, y, c| {
            (u32::from(src.data()[(((y / 2) * 200 + x / 2) * 3) as usize + c]) + (x + 2 * y) % 11) as u8
        });
        let mut one = dst.clone();
        match_colors(&src.as_ref(), &mut one.as_mut(), 1).unwrap();
        let mut three = dst.clone();
        match_colors(&src.as_ref(), &mut three.as_mut(), 3).unwrap();
        assert_ne!(one.data(), dst.data());
        assert_eq!(one.data(), three.data());
    }
}
