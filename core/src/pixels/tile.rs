//! Tiles of packed images to and from the planar float tensors models take.

use super::{
    samples::{quantise_u8, read_sample, write_sample},
    ImageMut, ImageRef, SampleType,
};
use crate::tiling::reflect;

/// A rectangle of a planar tensor `[planes][height][width]` (row-major).
#[derive(Debug, Clone, Copy)]
pub struct PlaneRect {
    pub x: usize,
    pub y: usize,
    pub width: usize,
    pub height: usize,
}

/// Reads a `width`x`height` tile whose top-left input pixel is (`x0`, `y0`) (may lie
/// outside the image: reflected) into planar RGB `rgb` (3 planes) in [0,1]. With
/// `alpha`, the alpha plane goes there and RGB is premultiplied by it, so that colour
/// under transparent pixels cannot bleed into visible edges.
pub fn read_tile(
    src: &ImageRef<'_>,
    x0: i64,
    y0: i64,
    width: usize,
    height: usize,
    rgb: &mut [f32],
    mut alpha: Option<&mut [f32]>,
) {
    let plane = width * height;
    debug_assert!(rgb.len() >= 3 * plane);
    let format = src.format;
    let count = format.channels.count();
    let [ro, go, bo] = format.channels.rgb_offsets();
    let alpha_offset = format.channels.alpha_offset();
    let columns: Vec<usize> = (0..width as i64).map(|dx| reflect(x0 + dx, src.width) as usize * count).collect();
    for dy in 0..height {
        let row = src.row(reflect(y0 + dy as i64, src.height));
        let out = dy * width;
        for (dx, &base) in columns.iter().enumerate() {
            let mut r = read_sample(row, base + ro, format.sample);
            let mut g = read_sample(row, base + go, format.sample);
            let mut b = read_sample(row, base + bo, format.sample);
            if let (Some(alpha), Some(ao)) = (alpha.as_deref_mut(), alpha_offset) {
                let a = read_sample(row, base + ao, format.sample);
                alpha[out + dx] = a;
                r *= a;
                g *= a;
                b *= a;
            }
            rgb[out + dx] = r;
            rgb[plane + out + dx] = g;
            rgb[2 * plane + out + dx] = b;
        }
    }
}

/// Writes `rect` of the planar model output `rgb` (3 planes of `plane_width` columns,
/// `rgb.len() / 3` samples each) to `dst` at (`dx`, `dy`). With `alpha` (same plane shape), RGB is
/// un-premultiplied and alpha written; gray outputs take the mean of R, G and B.
pub fn write_tile(
    dst: &mut ImageMut<'_>,
    dx: u32,
    dy: u32,
    rgb: &[f32],
    alpha: Option<&[f32]>,
    plane_width: usize,
    rect: PlaneRect,
) {
    let plane = rgb.len() / 3;
    let format = dst.format;
    let count = format.channels.count();
    let [ro, go, bo] = format.channels.rgb_offsets();
    let alpha_offset = format.channels.alpha_offset();
    let padding = format.channels.padding_offset();
    let gray = format.channels.is_gray();
    let stride = dst.stride;
    if alpha.is_none() && !gray && format.sample == SampleType::U8 {
        // Video frames: 8-bit colour without alpha, one tight loop per row.
        for y in 0..rect.height {
            let src_row = (rect.y + y) * plane_width + rect.x;
            let [r_row, g_row, b_row] = [0, plane, 2 * plane].map(|p| &rgb[p + src_row..p + src_row + rect.width]);
            let start = (dy as usize + y) * stride + dx as usize * count;
            let out = &mut dst.data[start..start + rect.width * count];
            for (((px, &r), &g), &b) in out.chunks_exact_mut(count).zip(r_row).zip(g_row).zip(b_row) {
                px[ro] = quantise_u8(r);
                px[go] = quantise_u8(g);
                px[bo] = quantise_u8(b);
                if let Some(po) = padding {
                    px[po] = 255;
                }
            }
        }
        return;
    }
    for y in 0..rect.height {
        let src_row = (rect.y + y) * plane_width + rect.x;
        let start = (dy as usize + y) * stride;
        let row = &mut dst.data[start..start + dst.width as usize * format.bytes_per_pixel()];
        for x in 0..rect.width {
            let i = src_row + x;
            let (mut r, mut g, mut b) = (rgb[i], rgb[plane + i], rgb[2 * plane + i]);
            let base = (dx as usize + x) * count;
            if let (Some(alpha), Some(ao)) = (alpha, alpha_offset) {
                let a = alpha[i].clamp(0.0, 1.0);
                // Below 1/4096 the colour is invisible and dividing only amplifies noise.
                if a > 1.0 / 4096.0 {
                    r /= a;
                    g /= a;
                    b /= a;
                }
                write_sample(row, base + ao, format.sample, a);
            }
            let (r, g, b) = (r.clamp(0.0, 1.0), g.clamp(0.0, 1.0), b.clamp(0.0, 1.0));
            if gray {
                let y = if r == g && g == b { r } else { (r + g + b) * (1.0 / 3.0) };
                write_sample(row, base, format.sample, y);
            } else {
                write_sample(row, base + ro, format.sample, r);
                write_sample(row, base + go, format.sample, g);
                write_sample(row, base + bo, format.sample, b);
            }
            if let Some(po) = padding {
                write_sample(row, base + po, format.sample, 1.0);
            }
        }
    }
}

/// Planar RGB `[3][s*h][s*w]` from a phase-layout model output `[3*s*s][h][w]` (channel
/// `c*s*s + dy*s + dx` holds pixel `(s*y + dy, s*x + dx)` of colour c: DepthToSpace CRD).
pub fn phases_to_planar(phases: &[f32], scale: usize, width: usize, height: usize) -> Vec<f32> {
    let (plane, out_w) = (width * height, scale * width);
    let mut out = vec![0.0; 3 * plane * scale * scale];
    for (ch, src) in phases.chunks_exact(plane).enumerate() {
        let (c, dy, dx) = (ch / (scale * scale), ch % (scale * scale) / scale, ch % scale);
        let dst = &mut out[c * plane * scale * scale..(c + 1) * plane * scale * scale];
        for (y, row) in src.chunks_exact(width).enumerate() {
            let out_row = &mut dst[(scale * y + dy) * out_w..(scale * y + dy + 1) * out_w];
            for (x, &v) in row.iter().enumerate() {
                out_row[scale * x + dx] = v;
            }
        }
    }
    out
}

/// [`write_tile`]'s 8-bit colour case (no alpha, not gray) for a phase-layout output
/// (see [`phases_to_planar`]) with rows of `width` low-resolution positions; `rect` is in
/// output pixels of the tile. Rows are split over `threads` (0 = one per core).
#[allow(clippy::too_many_arguments)]
pub fn write_tile_phases_u8(
    dst: &mut ImageMut<'_>,
    dx: u32,
    dy: u32,
    phases: &[f32],
    scale: usize,
    width: usize,
    rect: PlaneRect,
    threads: usize,
) {
    let format = dst.format;
    debug_assert!(format.is_opaque_rgb8());
    let plane = phases.len() / (3 * scale * scale);
    let count = format.channels.count();
    let offsets = format.channels.rgb_offsets();
    let padding = format.channels.padding_offset();
    let stride = dst.stride;
    let region = &mut dst.data[dy as usize * stride..];
    let workers = crate::bands::workers(threads, rect.width * rect.height, rect.height);
    crate::bands::for_row_bands(region, stride, rect.height, workers, |first, band| {
        let mut rows: Vec<&[f32]> = Vec::with_capacity(scale);
        // The last band runs on to the end of the image: only rect's rows are written.
        for (y, line) in (first..rect.height).zip(band.chunks_mut(stride)) {
            let (ly, sy) = ((rect.y + y) / scale, (rect.y + y) % scale);
            let out = &mut line[dx as usize * count..(dx as usize + rect.width) * count];
            for (c, &offset) in offsets.iter().enumerate() {
                // The `scale` phase planes of this colour and output row, one per dx.
                rows.clear();
                rows.extend(
                    (0..scale).map(|sx| &phases[(c * scale * scale + sy * scale + sx) * plane + ly * width..][..width]),
                );
                // Output column rect.x + i is phase sx of low-resolution column lx; counted,
                // not divided, per sample.
                let (mut lx, mut sx) = (rect.x / scale, rect.x % scale);
                for px in out.chunks_exact_mut(count) {
                    px[offset] = quantise_u8(rows[sx][lx]);
                    sx += 1;
                    if sx == scale {
                        sx = 0;
                        lx += 1;
                    }
                }
            }
            if let Some(po) = padding {
                out.chunks_exact_mut(count).for_each(|px| px[po] = 255);
            }
        }
    });
}
