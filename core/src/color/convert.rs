//! Whole-frame conversions between YUV frames and float RGB images, with chroma
//! resampled at its siting.

use super::{
    frame::{YuvMut, YuvRef},
    layout::ChromaSiting,
    matrix::YuvColor,
};
use crate::{
    pixels::{Channels, Image, ImageRef, PixelFormat, SampleType},
    CoreError, ParameterError, Result,
};

/// The float RGB format the conversions produce and take.
pub const RGB_F32: PixelFormat = PixelFormat::new(Channels::Rgb, SampleType::F32);

/// Two-tap linear interpolation weights from the chroma grid to each luma position
/// along one axis: (index0, index1, weight of index1).
fn upsample_taps(full: usize, chroma: usize, factor: usize, cosited: bool) -> Vec<(usize, usize, f32)> {
    let last = chroma - 1;
    let f = factor as f32;
    (0..full)
        .map(|i| {
            if factor == 1 {
                return (i.min(last), i.min(last), 0.0);
            }
            // Chroma sample c sits at luma position f*c (co-sited) or at the centre of its
            // block, f*c + (f-1)/2.
            let pos = if cosited { i as f32 / f } else { (i as f32 - (f - 1.0) / 2.0) / f };
            let pos = pos.clamp(0.0, last as f32);
            let i0 = pos.floor() as usize;
            let i1 = (i0 + 1).min(last);
            (i0, i1, pos - i0 as f32)
        })
        .collect()
}

/// Weights from the luma grid to each chroma sample along one axis (edges clamped): a
/// box over the block, or a tent around the co-sited sample ([1 2 1]/4 for 2:1).
fn downsample_taps(full: usize, chroma: usize, factor: usize, cosited: bool) -> Vec<Vec<(usize, f32)>> {
    let last = full - 1;
    (0..chroma)
        .map(|c| {
            let start = factor * c;
            if factor == 1 {
                return vec![(c.min(last), 1.0)];
            }
            if cosited {
                let reach = factor as i64 - 1;
                let weights: Vec<(usize, f32)> = (-reach..=reach)
                    .map(|d| {
                        let i = (start as i64 + d).clamp(0, last as i64) as usize;
                        (i, (factor as i64 - d.abs()) as f32)
                    })
                    .collect();
                let total: f32 = weights.iter().map(|w| w.1).sum();
                weights.into_iter().map(|(i, w)| (i, w / total)).collect()
            } else {
                (start..start + factor).map(|i| (i.min(last), 1.0 / factor as f32)).collect()
            }
        })
        .collect()
}

pub(super) fn rgb_f32_pixel(row: &[u8], x: usize) -> [f32; 3] {
    let mut px = [0.0f32; 3];
    for (c, v) in px.iter_mut().enumerate() {
        let b = &row[12 * x + 4 * c..12 * x + 4 * c + 4];
        *v = f32::from_ne_bytes([b[0], b[1], b[2], b[3]]);
    }
    px
}

/// A code value rounded and bounded to 0..=`max`.
#[inline]
pub(super) fn code(value: f32, max: u16) -> u16 {
    value.round().clamp(0.0, f32::from(max)) as u16
}

/// Converts a YUV frame to float RGB (`Channels::Rgb`, `SampleType::F32`) in `dst`,
/// which must have the frame's size; values are not clipped to [0,1].
pub fn yuv_to_rgb(src: &YuvRef<'_>, color: YuvColor, siting: ChromaSiting, dst: &mut Image) -> Result<()> {
    if dst.format() != RGB_F32 {
        return Err(CoreError::Parameter(ParameterError::FormatMismatch {
            src: format!("{} YUV", src.layout.name()),
            dst: dst.format().to_string(),
        }));
    }
    if (dst.width(), dst.height()) != (src.width, src.height) {
        return Err(CoreError::Parameter(ParameterError::SizeMismatch {
            src: (src.width, src.height),
            dst: (dst.width(), dst.height()),
        }));
    }
    let k = color.coefficients(src.layout.bits());
    let (w, h) = (src.width as usize, src.height as usize);
    let (cw, ch) = src.layout.chroma_size(w, h);
    let (sx, sy) = src.layout.subsampling();
    let xt = upsample_taps(w, cw, sx, siting.h_cosited);
    let yt = upsample_taps(h, ch, sy, siting.v_cosited);
    // Chroma rows upsampled horizontally, cached per chroma row.
    let upsample_row = |cy: usize, u: &mut Vec<f32>, v: &mut Vec<f32>| {
        let row: Vec<(u16, u16)> = (0..cw).map(|cx| src.chroma(cx, cy)).collect();
        u.clear();
        v.clear();
        for &(i0, i1, t) in &xt {
            let (a, b) = (row[i0], row[i1]);
            u.push(f32::from(a.0) + (f32::from(b.0) - f32::from(a.0)) * t);
            v.push(f32::from(a.1) + (f32::from(b.1) - f32::from(a.1)) * t);
        }
    };
    let (mut u0, mut v0, mut u1, mut v1) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut cached = (usize::MAX, usize::MAX);
    let stride = dst.stride();
    for (y, &(r0, r1, t)) in yt.iter().enumerate() {
        if cached != (r0, r1) {
            upsample_row(r0, &mut u0, &mut v0);
            upsample_row(r1, &mut u1, &mut v1);
            cached = (r0, r1);
        }
        let out = &mut dst.data_mut()[y * stride..(y + 1) * stride];
        for x in 0..w {
            let u = u0[x] + (u1[x] - u0[x]) * t;
            let v = v0[x] + (v1[x] - v0[x]) * t;
            let rgb = k.to_rgb(f32::from(src.luma(x, y)), u, v);
            for (c, value) in rgb.iter().enumerate() {
                out[12 * x + 4 * c..12 * x + 4 * c + 4].copy_from_slice(&value.to_ne_bytes());
            }
        }
    }
    Ok(())
}

/// Converts float RGB (`Channels::Rgb`, `SampleType::F32`, the frame's size) to the
/// YUV frame `dst`; chroma is filtered down to the layout's chroma grid.
pub fn rgb_to_yuv(src: &ImageRef<'_>, color: YuvColor, siting: ChromaSiting, dst: &mut YuvMut<'_>) -> Result<()> {
    if src.format() != RGB_F32 {
        return Err(CoreError::Parameter(ParameterError::FormatMismatch {
            src: src.format().to_string(),
            dst: format!("{} YUV", dst.layout.name()),
        }));
    }
    if (src.width(), src.height()) != (dst.width, dst.height) {
        return Err(CoreError::Parameter(ParameterError::SizeMismatch {
            src: (src.width(), src.height()),
            dst: (dst.width, dst.height),
        }));
    }
    let k = color.coefficients(dst.layout.bits());
    let max = ((1u32 << dst.layout.bits()) - 1) as u16;
    let (w, h) = (dst.width as usize, dst.height as usize);
    let (cw, ch) = dst.layout.chroma_size(w, h);
    let (sx, sy) = dst.layout.subsampling();
    // Full-resolution chroma (unrounded) for the filter; luma goes straight out.
    let mut u_full = vec![0.0f32; w * h];
    let mut v_full = vec![0.0f32; w * h];
    let data = src.data();
    for y in 0..h {
        let row = &data[y * src.stride()..];
        for x in 0..w {
            let [yy, u, v] = k.to_yuv(rgb_f32_pixel(row, x));
            dst.set_luma(x, y, code(yy, max));
            u_full[y * w + x] = u;
            v_full[y * w + x] = v;
        }
    }
    let xt = downsample_taps(w, cw, sx, siting.h_cosited);
    let yt = downsample_taps(h, ch, sy, siting.v_cosited);
    for (cy, ytaps) in yt.iter().enumerate() {
        for (cx, xtaps) in xt.iter().enumerate() {
            let (mut u, mut v) = (0.0f32, 0.0f32);
            for &(yy, wy) in ytaps {
                for &(xx, wx) in xtaps {
                    let i = yy * w + xx;
                    u += u_full[i] * wx * wy;
                    v += v_full[i] * wx * wy;
                }
            }
            dst.set_chroma(cx, cy, code(u, max), code(v, max));
        }
    }
    Ok(())
}
