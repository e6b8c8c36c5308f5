use super::{
    convert::{code, rgb_f32_pixel},
    *,
};
use crate::{
    pixels::{Channels, Image, PixelFormat, SampleType},
    CoreError, ParameterError,
};

const LAYOUTS: [YuvLayout; 5] = [YuvLayout::I420, YuvLayout::Nv12, YuvLayout::Y444, YuvLayout::Yuy2, YuvLayout::Uyvy];
const LIMITED_709: YuvColor = YuvColor::new(Matrix::Bt709, Range::Limited);

/// Tightly packed planes for a layout (with `pad` extra bytes per row).
fn planes(layout: YuvLayout, w: usize, h: usize, pad: usize) -> (Vec<Vec<u8>>, Vec<usize>) {
    (0..layout.plane_count())
        .map(|p| {
            let (row, rows) = layout.plane_extent(p, w, h);
            (vec![0u8; (row + pad) * rows], row + pad)
        })
        .unzip()
}

fn rgb_image(w: u32, h: u32, f: impl Fn(u32, u32) -> [f32; 3]) -> Image {
    let mut img = Image::new(w, h, RGB_F32).unwrap();
    for y in 0..h {
        for x in 0..w {
            let i = 12 * (y * w + x) as usize;
            for (c, v) in f(x, y).iter().enumerate() {
                img.data[i + 4 * c..i + 4 * c + 4].copy_from_slice(&v.to_ne_bytes());
            }
        }
    }
    img
}

fn pixel(img: &Image, x: u32, y: u32) -> [f32; 3] {
    rgb_f32_pixel(&img.data[(y * img.width) as usize * 12..], x as usize)
}

fn close(a: [f32; 3], b: [f32; 3], tol: f32) -> bool {
    a.iter().zip(b).all(|(x, y)| (x - y).abs() <= tol)
}

#[test]
fn limited_range_709_black_and_white() {
    assert!(close(LIMITED_709.to_rgb(16.0, 128.0, 128.0), [0.0; 3], 1e-6));
    assert!(close(LIMITED_709.to_rgb(235.0, 128.0, 128.0), [1.0; 3], 1e-6));
    let full = YuvColor::new(Matrix::Bt709, Range::Full);
    assert!(close(full.to_rgb(0.0, 128.0, 128.0), [0.0; 3], 1e-6));
    assert!(close(full.to_rgb(255.0, 128.0, 128.0), [1.0; 3], 1e-6));
}

#[test]
fn known_red_codes_per_matrix() {
    let red = [1.0, 0.0, 0.0];
    let codes = |c: YuvColor| c.to_yuv(red).map(code);
    assert_eq!(codes(YuvColor::new(Matrix::Bt601, Range::Limited)), [81, 90, 240]);
    assert_eq!(codes(LIMITED_709), [63, 102, 240]);
    assert_eq!(codes(YuvColor::new(Matrix::Bt2020, Range::Limited)), [74, 97, 240]);
    assert_eq!(codes(YuvColor::new(Matrix::Bt601, Range::Full)), [76, 85, 255]);
}

#[test]
fn bt601_and_bt709_differ_for_the_same_yuv() {
    let a = YuvColor::new(Matrix::Bt601, Range::Limited).to_rgb(100.0, 80.0, 200.0);
    let b = LIMITED_709.to_rgb(100.0, 80.0, 200.0);
    assert!(a.iter().zip(b).any(|(x, y)| (x - y).abs() > 0.03), "{a:?} vs {b:?}");
    // Gray is gray in every matrix.
    let g = YuvColor::new(Matrix::Bt2020, Range::Limited).to_rgb(126.0, 128.0, 128.0);
    assert!(close(g, [(126.0 - 16.0) / 219.0; 3], 1e-6));
}

#[test]
fn no_clipping_of_super_whites_or_footroom() {
    let rgb = LIMITED_709.to_rgb(250.0, 128.0, 128.0);
    assert!(rgb[0] > 1.0, "{rgb:?}");
    let rgb = LIMITED_709.to_rgb(5.0, 128.0, 128.0);
    assert!(rgb[0] < 0.0, "{rgb:?}");
    // And back: a value over 1 uses the headroom codes rather than stopping at 235.
    assert_eq!(code(LIMITED_709.to_yuv([1.05; 3])[0]), 246);
}

#[test]
fn rgb_round_trip_through_every_layout() {
    // Smooth content: colour changes slowly, so chroma subsampling loses little.
    let (w, h) = (33u32, 17u32);
    let src = rgb_image(w, h, |x, y| {
        [0.2 + 0.6 * x as f32 / w as f32, 0.3 + 0.4 * y as f32 / h as f32, 0.5 + 0.3 * ((x + y) as f32 / 50.0).sin()]
    });
    for layout in LAYOUTS {
        for color in
            [LIMITED_709, YuvColor::new(Matrix::Bt601, Range::Full), YuvColor::new(Matrix::Bt2020, Range::Limited)]
        {
            for siting in [ChromaSiting::CENTER, ChromaSiting::MPEG2] {
                let (mut bufs, strides) = planes(layout, w as usize, h as usize, 3);
                let mut yuv =
                    YuvMut::new(layout, w, h, bufs.iter_mut().map(|b| &mut b[..]).collect(), &strides).unwrap();
                rgb_to_yuv(&src.as_ref(), color, siting, &mut yuv).unwrap();
                let refs: Vec<&[u8]> = bufs.iter().map(|b| &b[..]).collect();
                let yuv = YuvRef::new(layout, w, h, &refs, &strides).unwrap();
                let mut back = Image::new(w, h, RGB_F32).unwrap();
                yuv_to_rgb(&yuv, color, siting, &mut back).unwrap();
                let mut worst = 0.0f32;
                for y in 0..h {
                    for x in 0..w {
                        let (a, b) = (pixel(&src, x, y), pixel(&back, x, y));
                        worst = a.iter().zip(b).map(|(p, q)| (p - q).abs()).fold(worst, f32::max);
                    }
                }
                // 8-bit quantisation (limited range: 1/219 per luma code) plus a little
                // chroma smoothing for the subsampled layouts.
                let tol = if layout == YuvLayout::Y444 { 0.012 } else { 0.03 };
                assert!(worst < tol, "{layout:?} {color:?} {siting:?}: max error {worst}");
            }
        }
    }
}

#[test]
fn yuv_round_trip_is_exact_for_444_and_flat_chroma() {
    let (w, h) = (9u32, 7u32);
    for layout in LAYOUTS {
        let (mut bufs, strides) = planes(layout, w as usize, h as usize, 0);
        {
            let mut yuv = YuvMut::new(layout, w, h, bufs.iter_mut().map(|b| &mut b[..]).collect(), &strides).unwrap();
            let (cw, ch) = layout.chroma_size(w as usize, h as usize);
            for y in 0..h as usize {
                for x in 0..w as usize {
                    yuv.set_luma(x, y, (60 + 10 * x + 7 * y) as u8);
                }
            }
            for cy in 0..ch {
                for cx in 0..cw {
                    let (u, v) = if layout == YuvLayout::Y444 {
                        ((110 + 3 * cx) as u8, (140 - 2 * cy) as u8)
                    } else {
                        (118, 135)
                    };
                    yuv.set_chroma(cx, cy, u, v);
                }
            }
        }
        let original = bufs.clone();
        let refs: Vec<&[u8]> = original.iter().map(|b| &b[..]).collect();
        let yuv = YuvRef::new(layout, w, h, &refs, &strides).unwrap();
        let mut rgb = Image::new(w, h, RGB_F32).unwrap();
        yuv_to_rgb(&yuv, LIMITED_709, ChromaSiting::MPEG2, &mut rgb).unwrap();
        let mut out = YuvMut::new(layout, w, h, bufs.iter_mut().map(|b| &mut b[..]).collect(), &strides).unwrap();
        rgb_to_yuv(&rgb.as_ref(), LIMITED_709, ChromaSiting::MPEG2, &mut out).unwrap();
        assert_eq!(bufs, original, "{layout:?}");
    }
}

#[test]
fn packed_and_planar_layouts_put_samples_where_gstreamer_does() {
    // YUY2: Y0 U Y1 V; UYVY: U Y0 V Y1; NV12: UV interleaved.
    let src = rgb_image(2, 2, |_, _| [1.0, 0.0, 0.0]);
    let expect = LIMITED_709.to_yuv([1.0, 0.0, 0.0]).map(code);
    let mut yuy2 = [0u8; 8];
    let mut out = YuvMut::new(YuvLayout::Yuy2, 2, 2, vec![&mut yuy2[..]], &[4]).unwrap();
    rgb_to_yuv(&src.as_ref(), LIMITED_709, ChromaSiting::CENTER, &mut out).unwrap();
    assert_eq!(&yuy2[..4], &[expect[0], expect[1], expect[0], expect[2]]);
    let mut uyvy = [0u8; 8];
    let mut out = YuvMut::new(YuvLayout::Uyvy, 2, 2, vec![&mut uyvy[..]], &[4]).unwrap();
    rgb_to_yuv(&src.as_ref(), LIMITED_709, ChromaSiting::CENTER, &mut out).unwrap();
    assert_eq!(&uyvy[..4], &[expect[1], expect[0], expect[2], expect[0]]);
    let (mut y, mut uv) = (vec![0u8; 4], vec![0u8; 2]);
    let mut out = YuvMut::new(YuvLayout::Nv12, 2, 2, vec![&mut y[..], &mut uv[..]], &[2, 2]).unwrap();
    rgb_to_yuv(&src.as_ref(), LIMITED_709, ChromaSiting::CENTER, &mut out).unwrap();
    assert_eq!((y, uv), (vec![expect[0]; 4], vec![expect[1], expect[2]]));
}

#[test]
fn chroma_is_interpolated_at_its_siting() {
    // I420 4x2: chroma columns U=100 then U=200. Centred siting puts them at luma
    // x=0.5 and 2.5, co-sited at x=0 and 2.
    let y = [128u8; 8];
    let u = [100u8, 200];
    let v = [128u8, 128];
    let frame = YuvRef::new(YuvLayout::I420, 4, 2, &[&y[..], &u[..], &v[..]], &[4, 2, 2]).unwrap();
    let blue_of = |siting| {
        let mut rgb = Image::new(4, 2, RGB_F32).unwrap();
        yuv_to_rgb(&frame, LIMITED_709, siting, &mut rgb).unwrap();
        (0..4).map(|x| pixel(&rgb, x, 0)[2]).collect::<Vec<_>>()
    };
    let u_at = |b: f32| 128.0 + (b - (128.0 - 16.0) / 219.0) * 224.0 / (2.0 * (1.0 - 0.0722));
    let centred: Vec<f32> = blue_of(ChromaSiting::CENTER).into_iter().map(u_at).collect();
    let cosited: Vec<f32> = blue_of(ChromaSiting::MPEG2).into_iter().map(u_at).collect();
    let expect_c = [100.0, 125.0, 175.0, 200.0];
    let expect_s = [100.0, 150.0, 200.0, 200.0];
    assert!(centred.iter().zip(expect_c).all(|(a, b)| (a - b).abs() < 0.01), "{centred:?}");
    assert!(cosited.iter().zip(expect_s).all(|(a, b)| (a - b).abs() < 0.01), "{cosited:?}");
}

#[test]
fn short_planes_and_wrong_formats_are_errors() {
    let y = [0u8; 15];
    let c = [0u8; 4];
    let err = YuvRef::new(YuvLayout::I420, 4, 4, &[&y[..], &c[..], &c[..]], &[4, 2, 2]).unwrap_err().to_string();
    assert!(err.contains("I420 plane 0") && err.contains("16"), "{err}");
    assert!(YuvRef::new(YuvLayout::Yuy2, 3, 1, &[&[0u8; 7][..]], &[7]).is_err(), "odd widths round up to whole pairs");
    let y = [0u8; 16];
    let frame = YuvRef::new(YuvLayout::I420, 4, 4, &[&y[..], &c[..], &c[..]], &[4, 2, 2]).unwrap();
    let mut wrong = Image::new(4, 4, PixelFormat::new(Channels::Rgb, SampleType::U8)).unwrap();
    assert!(matches!(
        yuv_to_rgb(&frame, LIMITED_709, ChromaSiting::CENTER, &mut wrong),
        Err(CoreError::Parameter(ParameterError::FormatMismatch { .. }))
    ));
    let mut small = Image::new(2, 2, RGB_F32).unwrap();
    assert!(matches!(
        yuv_to_rgb(&frame, LIMITED_709, ChromaSiting::CENTER, &mut small),
        Err(CoreError::Parameter(ParameterError::SizeMismatch { src: (4, 4), dst: (2, 2) }))
    ));
    let err = YuvRef::new(YuvLayout::I420, 4, 4, &[&y[..]], &[4]).unwrap_err();
    assert!(matches!(err, CoreError::Parameter(ParameterError::PlaneCount { actual: 1, expected: 3, .. })), "{err}");
}
