use super::*;
use crate::{CoreError, LimitError, ParameterError};

const ALL_CHANNELS: [Channels; 12] = [
    Channels::Gray,
    Channels::GrayAlpha,
    Channels::Rgb,
    Channels::Bgr,
    Channels::Rgba,
    Channels::Bgra,
    Channels::Argb,
    Channels::Abgr,
    Channels::Rgbx,
    Channels::Bgrx,
    Channels::Xrgb,
    Channels::Xbgr,
];

fn pattern(format: PixelFormat, width: u32, height: u32) -> Image {
    let mut img = Image::new(width, height, format).unwrap();
    let count = format.channels.count();
    let samples = img.data.len() / format.sample.bytes();
    let mut row = std::mem::take(&mut img.data);
    for i in 0..samples {
        let channel = i % count;
        let value = if Some(channel) == format.channels.alpha_offset() {
            if i % 7 == 0 {
                0.0
            } else {
                1.0
            }
        } else if Some(channel) == format.channels.padding_offset() {
            1.0
        } else {
            ((i * 37) % 256) as f32 / 255.0
        };
        write_sample(&mut row, i, format.sample, value);
    }
    img.data = row;
    img
}

/// Reading every pixel into planes and writing them back is lossless for every
/// layout and depth (fully transparent pixels keep alpha 0; their colour is moot).
#[test]
fn read_write_round_trip_every_format() {
    for channels in ALL_CHANNELS {
        for sample in [SampleType::U8, SampleType::U16, SampleType::F32] {
            let format = PixelFormat::new(channels, sample);
            let src = pattern(format, 7, 5);
            let has_alpha = channels.alpha_offset().is_some();
            let mut rgb = vec![0.0; 3 * 35];
            let mut alpha = [0.0; 35];
            read_tile(&src.as_ref(), 0, 0, 7, 5, &mut rgb, has_alpha.then_some(&mut alpha[..]));
            let mut dst = Image::new(7, 5, format).unwrap();
            let rect = PlaneRect { x: 0, y: 0, width: 7, height: 5 };
            write_tile(&mut dst.as_mut(), 0, 0, &rgb, has_alpha.then_some(&alpha[..]), 7, rect);
            if has_alpha {
                let (srcr, dstr) = (src.as_ref(), dst.as_ref());
                for i in 0..35usize {
                    let (x, y) = (i % 7, i / 7);
                    let ao = channels.alpha_offset().unwrap();
                    let base = x * channels.count();
                    let a = read_sample(srcr.row(y as u32), base + ao, sample);
                    assert_eq!(a, read_sample(dstr.row(y as u32), base + ao, sample));
                    if a > 0.0 {
                        for c in channels.rgb_offsets() {
                            let (s, d) = (
                                read_sample(srcr.row(y as u32), base + c, sample),
                                read_sample(dstr.row(y as u32), base + c, sample),
                            );
                            assert!((s - d).abs() < 1e-6, "{format}: {s} vs {d}");
                        }
                    }
                }
            } else {
                assert_eq!(src, dst, "{format}");
            }
        }
    }
}

#[test]
fn sixteen_bit_keeps_sixteen_bit_precision() {
    let format = PixelFormat::new(Channels::Rgb, SampleType::U16);
    let mut img = Image::new(1, 1, format).unwrap();
    for (i, v) in [1u16, 32769, 65534].iter().enumerate() {
        img.data[2 * i..2 * i + 2].copy_from_slice(&v.to_ne_bytes());
    }
    let mut rgb = [0.0; 3];
    read_tile(&img.as_ref(), 0, 0, 1, 1, &mut rgb, None);
    assert!((rgb[0] * 65535.0 - 1.0).abs() < 1e-3 && (rgb[1] * 65535.0 - 32769.0).abs() < 1e-2);
}

#[test]
fn tiles_beyond_the_edge_are_reflected() {
    let format = PixelFormat::new(Channels::Gray, SampleType::U8);
    let img = Image::from_vec(3, 1, format, vec![0, 51, 102]).unwrap();
    let mut rgb = [0.0; 3 * 5];
    read_tile(&img.as_ref(), -2, 0, 5, 1, &mut rgb, None);
    let got: Vec<u8> = rgb[..5].iter().map(|v| (v * 255.0).round() as u8).collect();
    assert_eq!(got, vec![102, 51, 0, 51, 102]);
}

#[test]
fn short_buffers_and_bad_strides_are_typed_errors() {
    let format = PixelFormat::new(Channels::Rgba, SampleType::U8);
    let err = ImageRef::new(&[0; 10], 2, 2, 8, format).unwrap_err().to_string();
    assert!(err.contains("holds 10 bytes") && err.contains("16 are needed"), "{err}");
    assert!(matches!(
        ImageRef::new(&[0; 64], 4, 2, 8, format),
        Err(CoreError::Parameter(ParameterError::Stride { stride: 8, row: 16 }))
    ));
    assert!(matches!(
        ImageRef::new(&[], 0, 2, 0, format),
        Err(CoreError::Parameter(ParameterError::EmptyImage { .. }))
    ));
    assert!(matches!(Image::new(70_000, 1, format), Err(CoreError::Limits(LimitError::ImageTooLarge { .. }))));
}

#[test]
fn premultiplied_transparent_pixels_carry_no_color() {
    let format = PixelFormat::new(Channels::Rgba, SampleType::U8);
    let img = Image::from_vec(2, 1, format, vec![255, 0, 0, 0, 0, 255, 0, 255]).unwrap();
    let (mut rgb, mut alpha) = ([0.0; 6], [0.0; 2]);
    read_tile(&img.as_ref(), 0, 0, 2, 1, &mut rgb, Some(&mut alpha));
    assert_eq!(rgb, [0.0, 0.0, 0.0, 1.0, 0.0, 0.0]);
    assert_eq!(alpha, [0.0, 1.0]);
    assert!(img.as_ref().has_transparency());
}

#[test]
fn phase_layout_matches_planar_depth_to_space() {
    // 2x2 low-res positions, scale 2: phase (c, dy, dx) holds 100*c + 10*dy + dx + position.
    let (w, h, s) = (2usize, 2usize, 2usize);
    let phases: Vec<f32> = (0..3 * s * s)
        .flat_map(|ch| (0..w * h).map(move |p| (100 * (ch / 4) + 10 * (ch % 4 / 2) + ch % 2 + p) as f32 / 400.0))
        .collect();
    let planar = phases_to_planar(&phases, s, w, h);
    // Output (row 3, col 1) = low-res (1, 0) = position 2, phase dy 1, dx 1.
    assert_eq!(planar[2 * 16 + 3 * 4 + 1], (200 + 10 + 1 + 2) as f32 / 400.0);
    for format in [PixelFormat::new(Channels::Rgb, SampleType::U8), PixelFormat::new(Channels::Bgrx, SampleType::U8)] {
        let mut a = Image::new(4, 4, format).unwrap();
        let mut b = Image::new(4, 4, format).unwrap();
        let rect = PlaneRect { x: 1, y: 1, width: 3, height: 3 };
        write_tile(&mut a.as_mut(), 0, 0, &planar, None, 4, rect);
        write_tile_phases_u8(&mut b.as_mut(), 0, 0, &phases, s, w, rect, 1);
        assert_eq!(a.data, b.data, "{format:?}");
    }
}

#[test]
fn the_phase_writer_splits_rows_over_threads_without_changing_a_pixel() {
    // Large enough to be split; an offset rect and destination as in a tile at an edge.
    let (w, h, s) = (160usize, 120usize, 4usize);
    let phases: Vec<f32> = (0..3 * s * s * w * h).map(|i| (i * 7919 % 1000) as f32 / 999.0).collect();
    let planar = phases_to_planar(&phases, s, w, h);
    let format = PixelFormat::new(Channels::Rgb, SampleType::U8);
    let rect = PlaneRect { x: 3, y: 5, width: 600, height: 450 };
    let mut reference = Image::new(610, 470, format).unwrap();
    write_tile(&mut reference.as_mut(), 7, 9, &planar, None, s * w, rect);
    for threads in [1, 2, 3] {
        let mut img = Image::new(610, 470, format).unwrap();
        write_tile_phases_u8(&mut img.as_mut(), 7, 9, &phases, s, w, rect, threads);
        assert!(img.data == reference.data, "{threads} threads");
    }
}
