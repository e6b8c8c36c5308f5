use super::{
    convert::{code, rgb_f32_pixel},
    *,
};
use crate::{
    pixels::{Channels, Image, PixelFormat, SampleType},
    CoreError, ParameterError,
};

const LAYOUTS: [YuvLayout; 10] = [
    YuvLayout::I420,
    YuvLayout::Nv12,
    YuvLayout::Y444,
    YuvLayout::Yuy2,
    YuvLayout::Uyvy,
    YuvLayout::Y41b,
    YuvLayout::I420P10,
    YuvLayout::P010,
    YuvLayout::Y444P10,
    YuvLayout::V210,
];

fn code8(value: f32) -> u8 {
    code(value, 255) as u8
}
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
                img.data_mut()[i + 4 * c..i + 4 * c + 4].copy_from_slice(&v.to_ne_bytes());
            }
        }
    }
    img
}

fn pixel(img: &Image, x: u32, y: u32) -> [f32; 3] {
    rgb_f32_pixel(&img.data()[(y * img.width()) as usize * 12..], x as usize)
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
    let codes = |c: YuvColor| c.to_yuv(red).map(code8);
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
    assert_eq!(code8(LIMITED_709.to_yuv([1.05; 3])[0]), 246);
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
                let full_chroma = matches!(layout, YuvLayout::Y444 | YuvLayout::Y444P10);
                let tol = match (full_chroma, layout.bits()) {
                    (true, 8) => 0.012,
                    (true, _) => 0.004,
                    (false, _) => 0.03,
                };
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
            // 10-bit codes that are not multiples of 4: they need all ten bits.
            let at_depth = |v: usize| if layout.bits() == 10 { (4 * v + 1) as u16 } else { v as u16 };
            for y in 0..h as usize {
                for x in 0..w as usize {
                    yuv.set_luma(x, y, at_depth(60 + 10 * x + 7 * y));
                }
            }
            for cy in 0..ch {
                for cx in 0..cw {
                    let (u, v) = if layout.subsampling() == (1, 1) { (110 + 3 * cx, 140 - 2 * cy) } else { (118, 135) };
                    yuv.set_chroma(cx, cy, at_depth(u), at_depth(v));
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
    let expect = LIMITED_709.to_yuv([1.0, 0.0, 0.0]).map(code8);
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

#[test]
fn ten_bit_limited_range_spans_64_to_940() {
    let k = LIMITED_709.coefficients(10);
    assert!(close(k.to_rgb(64.0, 512.0, 512.0), [0.0; 3], 1e-6));
    assert!(close(k.to_rgb(940.0, 512.0, 512.0), [1.0; 3], 1e-6));
    assert_eq!(k.to_yuv([1.0, 0.0, 0.0]).map(|v| code(v, 1023)), [250, 409, 960]);
    let full = YuvColor::new(Matrix::Bt709, Range::Full).coefficients(10);
    assert!(close(full.to_rgb(1023.0, 512.0, 512.0), [1.0; 3], 1e-6));
}

#[test]
fn ten_bit_layouts_put_samples_where_gstreamer_does() {
    // P010: 10 bits in the high bits of little-endian words; I420_10LE: in the low bits.
    let (mut y, mut uv) = (vec![0u8; 8], vec![0u8; 4]);
    let mut p010 = YuvMut::new(YuvLayout::P010, 2, 2, vec![&mut y[..], &mut uv[..]], &[4, 4]).unwrap();
    p010.set_luma(1, 0, 0x2a5);
    p010.set_chroma(0, 0, 0x155, 0x3ff);
    assert_eq!(&y[2..4], &(0x2a5u16 << 6).to_le_bytes());
    assert_eq!(uv, [(0x155u16 << 6).to_le_bytes(), (0x3ffu16 << 6).to_le_bytes()].concat());
    let (mut y, mut u, mut v) = (vec![0u8; 8], vec![0u8; 2], vec![0u8; 2]);
    let mut i420 = YuvMut::new(YuvLayout::I420P10, 2, 2, vec![&mut y[..], &mut u[..], &mut v[..]], &[4, 2, 2]).unwrap();
    i420.set_luma(1, 1, 0x2a5);
    assert_eq!(&y[6..8], &0x2a5u16.to_le_bytes());
    // v210: Cb0 Y0 Cr0 | Y1 Cb1 Y2 | Cr1 Y3 Cb2 | Y4 Cr2 Y5, ten bits each from the
    // low bits of four little-endian words.
    let mut row = [0u8; 16];
    {
        let mut v210 = YuvMut::new(YuvLayout::V210, 6, 1, vec![&mut row[..]], &[16]).unwrap();
        for x in 0..6 {
            v210.set_luma(x, 0, 100 + x as u16);
        }
        for c in 0..3 {
            v210.set_chroma(c, 0, 200 + c as u16, 300 + c as u16);
        }
    }
    let words: Vec<u32> = row.chunks_exact(4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
    let pack = |a: u32, b: u32, c: u32| a | b << 10 | c << 20;
    assert_eq!(words, [pack(200, 100, 300), pack(101, 201, 102), pack(301, 103, 202), pack(104, 302, 105)]);
    let frame = YuvRef::new(YuvLayout::V210, 6, 1, &[&row[..]], &[16]).unwrap();
    assert_eq!((frame.luma(3, 0), frame.chroma(2, 0)), (103, (202, 302)));
}

#[test]
fn y41b_chroma_covers_four_columns() {
    // 8x1 Y41B: two chroma samples, U=100 and U=200, co-sited at luma x=0 and x=4.
    let y = [128u8; 8];
    let (u, v) = ([100u8, 200], [128u8, 128]);
    let frame = YuvRef::new(YuvLayout::Y41b, 8, 1, &[&y[..], &u[..], &v[..]], &[8, 2, 2]).unwrap();
    let mut rgb = Image::new(8, 1, RGB_F32).unwrap();
    yuv_to_rgb(&frame, LIMITED_709, ChromaSiting { h_cosited: true, v_cosited: true }, &mut rgb).unwrap();
    let u_at = |b: f32| 128.0 + (b - (128.0 - 16.0) / 219.0) * 224.0 / (2.0 * (1.0 - 0.0722));
    let us: Vec<f32> = (0..8).map(|x| u_at(pixel(&rgb, x, 0)[2])).collect();
    let expect = [100.0, 125.0, 150.0, 175.0, 200.0, 200.0, 200.0, 200.0];
    assert!(us.iter().zip(expect).all(|(a, b)| (a - b).abs() < 0.01), "{us:?}");
}
