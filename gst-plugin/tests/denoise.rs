//! The element's `denoise` and `temporal` properties on the core's frame path: the
//! first frame equals the core's one-frame result (what the bridge's `--denoise`
//! computes), a static noisy stream settles, and a flush forgets the history.

mod common;

use aiupscale_core::{
    Channels, Control, DenoiseSettings, FrameUpscaler, Image, ModelSource, PixelFormat, SampleType, Upscaler,
    UpscalerConfig,
};
use common::{init, tiny};
use gst_check::Harness;
use gst_video::{VideoFormat, VideoFrame, VideoInfo};
use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_check as gst_check;
use gstreamer_video as gst_video;
use gstreamer_video::prelude::*;

const W: u32 = 48;
const H: u32 = 32;

/// A textured RGB picture with deterministic noise `seed` (0 = clean).
fn picture(seed: u32) -> Vec<u8> {
    let mut state = seed.wrapping_mul(747_796_405).wrapping_add(1);
    let mut noise = || {
        state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        if seed == 0 {
            0
        } else {
            ((state >> 24) as i32 % 25) - 12
        }
    };
    (0..W * H)
        .flat_map(|i| {
            let (x, y) = ((i % W) as i32, (i / W) as i32);
            let base =
                [(x * 5 + y * 3) % 200 + 20, if (x / 6 + y / 6) % 2 == 0 { 60 } else { 190 }, (x * y) % 160 + 40];
            base.map(|v| (v + noise()).clamp(0, 255) as u8)
        })
        .collect()
}

fn harness(props: &[(&str, f64)]) -> Harness {
    init();
    let el = gst::ElementFactory::make("aiupscale").property("model", tiny("smooth_x2")).build().unwrap();
    for (name, value) in props {
        el.set_property(name, value);
    }
    let mut h = Harness::with_element(&el, Some("sink"), Some("src"));
    let info = VideoInfo::builder(VideoFormat::Rgb, W, H).fps(gst::Fraction::new(25, 1)).build().unwrap();
    h.set_src_caps(info.to_caps().unwrap());
    h
}

/// Pushes one RGB frame and returns the tightly packed 2x output.
fn push(h: &mut Harness, rgb: &[u8]) -> Vec<u8> {
    let info = VideoInfo::builder(VideoFormat::Rgb, W, H).build().unwrap();
    let mut frame = VideoFrame::from_buffer_writable(gst::Buffer::with_size(info.size()).unwrap(), &info).unwrap();
    let stride = frame.plane_stride()[0] as usize;
    let data = frame.plane_data_mut(0).unwrap();
    for y in 0..H as usize {
        data[y * stride..y * stride + 3 * W as usize]
            .copy_from_slice(&rgb[y * 3 * W as usize..(y + 1) * 3 * W as usize]);
    }
    h.push(frame.into_buffer()).unwrap();
    let out_info = VideoInfo::builder(VideoFormat::Rgb, 2 * W, 2 * H).build().unwrap();
    let out = VideoFrame::from_buffer_readable(h.pull().unwrap(), &out_info).unwrap();
    let stride = out.plane_stride()[0] as usize;
    let data = out.plane_data(0).unwrap();
    (0..2 * H as usize).flat_map(|y| data[y * stride..y * stride + 6 * W as usize].to_vec()).collect()
}

#[test]
fn properties_default_to_off_with_unit_ranges() {
    init();
    let el = gst::ElementFactory::make("aiupscale").build().unwrap();
    for name in ["denoise", "temporal"] {
        assert_eq!(el.property::<f64>(name), 0.0);
        let spec = el.find_property(name).unwrap();
        let spec = spec.downcast_ref::<gst::glib::ParamSpecDouble>().unwrap();
        assert_eq!((spec.minimum(), spec.maximum()), (0.0, 1.0));
        assert!(spec.blurb().unwrap().len() > 40);
    }
}

#[test]
fn first_frame_equals_the_one_image_path_of_the_bridge() {
    let noisy = picture(3);
    let mut h = harness(&[("denoise", 0.7), ("temporal", 1.0)]);
    let element_out = push(&mut h, &noisy);

    // The bridge's `--denoise 0.7`: one frame through the core's frame path.
    let format = PixelFormat::new(Channels::Rgb, SampleType::U8);
    let src = Image::from_vec(W, H, format, noisy).unwrap();
    let mut upscaler = Upscaler::new(&ModelSource::File(tiny("smooth_x2").into()), UpscalerConfig::default()).unwrap();
    let mut out = Image::new(2 * W, 2 * H, format).unwrap();
    FrameUpscaler::new(&mut upscaler, DenoiseSettings { denoise: 0.7, temporal: 0.0 })
        .process(&src.as_ref(), &mut out.as_mut(), &mut Control::default())
        .unwrap();
    assert!(element_out == out.data(), "the element's first frame differs from the one-image path");
}

fn mean_abs_change(a: &[u8], b: &[u8]) -> f64 {
    a.iter().zip(b).map(|(&x, &y)| (f64::from(x) - f64::from(y)).abs()).sum::<f64>() / a.len() as f64
}

#[test]
fn a_static_noisy_stream_settles_and_a_flush_forgets_it() {
    let frames: Vec<Vec<u8>> = (1..=12).map(picture).collect();
    let mut plain = harness(&[]);
    let plain_out: Vec<Vec<u8>> = frames.iter().map(|f| push(&mut plain, f)).collect();
    let mut stable = harness(&[("denoise", 0.5), ("temporal", 1.0)]);
    let stable_out: Vec<Vec<u8>> = frames.iter().map(|f| push(&mut stable, f)).collect();
    let change = |outs: &[Vec<u8>]| (8..12).map(|t| mean_abs_change(&outs[t], &outs[t - 1])).sum::<f64>() / 4.0;
    let (plain_change, stable_change) = (change(&plain_out), change(&stable_out));
    assert!(
        stable_change * 4.0 < plain_change,
        "frame-to-frame change {stable_change:.2} vs {plain_change:.2} without"
    );

    // After a flush (what a seek does) the next frame gets no history.
    assert!(stable.push_event(gst::event::FlushStart::new()));
    assert!(stable.push_event(gst::event::FlushStop::new(true)));
    stable.push_event(gst::event::Segment::new(&gst::FormattedSegment::<gst::ClockTime>::new()));
    let after_flush = push(&mut stable, &frames[5]);
    let mut fresh = harness(&[("denoise", 0.5), ("temporal", 1.0)]);
    assert!(after_flush == push(&mut fresh, &frames[5]), "history survived the flush");
}
