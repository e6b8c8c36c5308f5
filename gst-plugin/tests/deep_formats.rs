//! 10-bit video (I420_10LE, P010_10LE, Y444_10LE, v210) and DV's 4:1:1 (Y41B) through
//! the element: converted at their own depth, so 10-bit in stays 10-bit out, with the
//! precision 8 bits cannot hold.

mod common;

use aiupscale_core::{
    color::{rgb_to_yuv, yuv_to_rgb, RGB_F32},
    ChromaSiting, Image, Matrix, Range, YuvColor, YuvLayout, YuvMut, YuvRef,
};
use common::{init, tiny};
use gst_check::Harness;
use gst_video::{VideoFormat, VideoFrame, VideoInfo};
use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_check as gst_check;
use gstreamer_video as gst_video;
use gstreamer_video::prelude::*;

const COLOR: YuvColor = YuvColor::new(Matrix::Bt709, Range::Limited);

fn layout_of(format: VideoFormat) -> YuvLayout {
    match format {
        VideoFormat::I420 => YuvLayout::I420,
        VideoFormat::Y41b => YuvLayout::Y41b,
        VideoFormat::I42010le => YuvLayout::I420P10,
        VideoFormat::P01010le => YuvLayout::P010,
        VideoFormat::Y44410le => YuvLayout::Y444P10,
        VideoFormat::V210 => YuvLayout::V210,
        other => panic!("{other} is not covered here"),
    }
}

fn info(format: VideoFormat, width: u32, height: u32) -> VideoInfo {
    let colorimetry: gst_video::VideoColorimetry = "bt709".parse().unwrap();
    VideoInfo::builder(format, width, height)
        .fps(gst::Fraction::new(30, 1))
        .colorimetry(&colorimetry)
        .chroma_site(gst_video::VideoChromaSite::MPEG2)
        .build()
        .unwrap()
}

/// A harness around `aiupscale` with the exact nearest-neighbour x2 model.
fn nearest_x2(input: &VideoInfo) -> Harness {
    init();
    let el = gst::ElementFactory::make("aiupscale").property("model", tiny("nearest_x2")).build().unwrap();
    let mut harness = Harness::with_element(&el, Some("sink"), Some("src"));
    harness.set_src_caps(input.to_caps().unwrap());
    harness
}

fn strides(plane_strides: &[i32]) -> Vec<usize> {
    plane_strides.iter().map(|&s| s as usize).collect()
}

/// A YUV buffer of `info` holding the float RGB picture `rgb`.
fn yuv_buffer(info: &VideoInfo, rgb: &Image) -> gst::Buffer {
    let mut frame = VideoFrame::from_buffer_writable(gst::Buffer::with_size(info.size()).unwrap(), info).unwrap();
    let layout = layout_of(info.format());
    let strides = strides(frame.plane_stride());
    let planes = frame.planes_data_mut().into_iter().take(layout.plane_count()).collect();
    let mut yuv = YuvMut::new(layout, info.width(), info.height(), planes, &strides).unwrap();
    rgb_to_yuv(&rgb.as_ref(), COLOR, ChromaSiting::MPEG2, &mut yuv).unwrap();
    frame.into_buffer()
}

/// The float RGB picture a YUV buffer of `info` holds.
fn rgb_of(buffer: gst::Buffer, info: &VideoInfo) -> Image {
    let frame = VideoFrame::from_buffer_readable(buffer, info).unwrap();
    let layout = layout_of(info.format());
    let planes = frame.planes_data();
    let yuv = YuvRef::new(
        layout,
        info.width(),
        info.height(),
        &planes[..layout.plane_count()],
        &strides(frame.plane_stride()),
    )
    .unwrap();
    let mut rgb = Image::new(info.width(), info.height(), RGB_F32).unwrap();
    yuv_to_rgb(&yuv, COLOR, ChromaSiting::MPEG2, &mut rgb).unwrap();
    rgb
}

fn smooth_rgb(w: u32, h: u32, scale: u32) -> Image {
    let mut data = Vec::new();
    for y in 0..h * scale {
        for x in 0..w * scale {
            let (sx, sy) = ((x / scale) as f32, (y / scale) as f32);
            for v in [0.25 + 0.02 * sx, 0.3 + 0.025 * sy, 0.6 - 0.01 * (sx + sy)] {
                data.extend_from_slice(&f32::to_ne_bytes(v));
            }
        }
    }
    Image::from_vec(w * scale, h * scale, RGB_F32, data).unwrap()
}

fn floats(img: &Image) -> Vec<f32> {
    img.data().chunks_exact(4).map(|b| f32::from_ne_bytes([b[0], b[1], b[2], b[3]])).collect()
}

/// Each format comes out as itself, twice the size, and holds the nearest-neighbour
/// upscale of the picture (within chroma subsampling).
#[test]
fn deep_and_dv_formats_upscale_as_themselves() {
    init();
    let (w, h) = (24u32, 10u32);
    for format in
        [VideoFormat::I42010le, VideoFormat::P01010le, VideoFormat::Y44410le, VideoFormat::V210, VideoFormat::Y41b]
    {
        let input = info(format, w, h);
        let mut harness = nearest_x2(&input);
        harness.push(yuv_buffer(&input, &smooth_rgb(w, h, 1))).unwrap();
        let out_caps = harness.sinkpad().unwrap().current_caps().unwrap();
        let out_info = VideoInfo::from_caps(&out_caps).unwrap();
        assert_eq!((out_info.format(), out_info.width(), out_info.height()), (format, 2 * w, 2 * h));
        let out = rgb_of(harness.pull().unwrap(), &out_info);
        let expected = rgb_of(yuv_buffer(&out_info, &smooth_rgb(w, h, 2)), &out_info);
        let worst = floats(&out).iter().zip(floats(&expected)).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
        // Chroma subsampled on both sides, at different sizes, differs most at edges (as in
        // the core's own round trip); full chroma only by rounding.
        let tolerance = match format {
            VideoFormat::Y44410le => 0.004,
            VideoFormat::Y41b => 0.045,
            _ => 0.03,
        };
        assert!(worst <= tolerance, "{format}: max difference {worst}");
    }
}

/// Luma of the first row of an I420 or I420_10LE buffer, as code values.
fn first_luma_row(buffer: gst::Buffer, info: &VideoInfo) -> Vec<u16> {
    let frame = VideoFrame::from_buffer_readable(buffer, info).unwrap();
    let row = &frame.plane_data(0).unwrap()[..info.width() as usize * info.format_info().pixel_stride()[0] as usize];
    match info.format() {
        VideoFormat::I420 => row.iter().map(|&v| u16::from(v)).collect(),
        _ => row.chunks_exact(2).map(|b| u16::from_le_bytes([b[0], b[1]])).collect(),
    }
}

/// A gray ramp in quarter steps of an 8-bit code: through I420_10LE every step
/// survives, exactly; the same ramp through I420 keeps a quarter of them.
#[test]
fn ten_bit_steps_survive_the_element_and_eight_bit_loses_them() {
    init();
    let (w, h) = (64u32, 4u32);
    // Y = 400 + x (10-bit codes 400..463), gray (chroma at the midpoint).
    let ramp = |deep: bool| {
        let format = if deep { VideoFormat::I42010le } else { VideoFormat::I420 };
        let input = info(format, w, h);
        let mut frame =
            VideoFrame::from_buffer_writable(gst::Buffer::with_size(input.size()).unwrap(), &input).unwrap();
        let strides = strides(frame.plane_stride());
        for plane in 0..3u32 {
            let stride = strides[plane as usize];
            let data = frame.plane_data_mut(plane).unwrap();
            let (pw, ph) = if plane == 0 { (w, h) } else { (w / 2, h / 2) };
            for y in 0..ph as usize {
                for x in 0..pw as usize {
                    let code = if plane == 0 { 400 + x as u16 } else { 512 };
                    if deep {
                        data[y * stride + 2 * x..][..2].copy_from_slice(&code.to_le_bytes());
                    } else {
                        // The best 8 bits can do: the nearest 8-bit code.
                        data[y * stride + x] = ((f32::from(code) / 4.0).round()) as u8;
                    }
                }
            }
        }
        let mut harness = nearest_x2(&input);
        harness.push(frame.into_buffer()).unwrap();
        let out_info = info(format, 2 * w, 2 * h);
        first_luma_row(harness.pull().unwrap(), &out_info)
    };
    let deep = ramp(true);
    let expected: Vec<u16> = (0..2 * w as u16).map(|x| 400 + x / 2).collect();
    assert_eq!(deep, expected, "10-bit codes come out as they went in, each twice");
    let mut levels = deep.clone();
    levels.dedup();
    assert_eq!(levels.len(), 64, "64 distinct 10-bit levels");
    let mut eight = ramp(false);
    eight.dedup();
    assert!(eight.len() <= 17, "8 bits hold only {} of the 64 levels", eight.len());
}

#[test]
fn template_caps_list_the_deep_and_dv_formats() {
    init();
    let factory = gst::ElementFactory::find("aiupscale").unwrap();
    let templates: Vec<_> = factory.static_pad_templates().into_iter().collect();
    assert_eq!(templates.len(), 2);
    for template in templates {
        let caps = template.caps().to_string();
        for format in ["I420_10LE", "P010_10LE", "Y444_10LE", "v210", "Y41B"] {
            assert!(caps.contains(format), "{} lacks {format}: {caps}", template.name_template());
        }
    }
}
