//! The `aiupscale` element under gst-check's `Harness`, with the tiny fixture models:
//! caps both ways, every format, alpha, renegotiation, flushing, timestamps, errors.

mod common;

use std::time::Duration;

use aiupscale_core::{
    color::{rgb_to_yuv, RGB_F32},
    ChromaSiting, Image, Matrix, Range, YuvColor, YuvLayout, YuvMut,
};
use common::{init, run_to_end, tiny};
use gst_check::Harness;
use gst_video::{VideoFormat, VideoFrame, VideoInfo};
use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_check as gst_check;
use gstreamer_video as gst_video;
use gstreamer_video::prelude::*;

fn element(model: &str, props: &[(&str, &dyn ToValue)]) -> gst::Element {
    init();
    let el = gst::ElementFactory::make("aiupscale").property("model", tiny(model)).build().unwrap();
    for (name, value) in props {
        el.set_property_from_value(name, &value.to_value());
    }
    el
}

fn harness(el: &gst::Element) -> Harness {
    Harness::with_element(el, Some("sink"), Some("src"))
}

fn info(format: VideoFormat, width: u32, height: u32) -> VideoInfo {
    VideoInfo::builder(format, width, height).fps(gst::Fraction::new(30, 1)).build().unwrap()
}

/// A buffer of `info` whose every plane byte is `fill(plane, byte column, row)`.
fn frame(info: &VideoInfo, fill: impl Fn(usize, usize, usize) -> u8) -> gst::Buffer {
    let buffer = gst::Buffer::with_size(info.size()).unwrap();
    let mut frame = VideoFrame::from_buffer_writable(buffer, info).unwrap();
    for plane in 0..frame.n_planes() as usize {
        let stride = frame.plane_stride()[plane] as usize;
        let data = frame.plane_data_mut(plane as u32).unwrap();
        for (i, byte) in data.iter_mut().enumerate() {
            *byte = fill(plane, i % stride, i / stride);
        }
    }
    frame.into_buffer()
}

fn out_size(h: &Harness) -> (i32, i32) {
    let caps = h.sinkpad().unwrap().current_caps().unwrap();
    let s = caps.structure(0).unwrap();
    (s.get("width").unwrap(), s.get("height").unwrap())
}

fn read(buffer: gst::Buffer, info: &VideoInfo) -> VideoFrame<gst_video::video_frame::Readable> {
    VideoFrame::from_buffer_readable(buffer, info).unwrap()
}

#[test]
fn properties_have_documented_defaults_and_ranges() {
    init();
    let el = gst::ElementFactory::make("aiupscale").build().unwrap();
    assert_eq!(el.property::<f64>("scale"), 2.0);
    assert_eq!(el.property::<Option<String>>("model"), None);
    assert_eq!(el.property::<u32>("tile-size"), 0);
    assert_eq!(el.property::<i32>("tile-overlap"), -1);
    assert_eq!(el.property::<u32>("threads"), 0);
    assert_eq!(el.property::<gstaiupscale::DeviceChoice>("device"), gstaiupscale::DeviceChoice::Cpu);
    assert_eq!(el.property::<gstaiupscale::ContentProp>("content"), gstaiupscale::ContentProp::Footage);
    assert_eq!(el.property::<f64>("grain"), 0.0);
    el.set_property_from_str("content", "realtime");
    assert_eq!(el.property::<gstaiupscale::ContentProp>("content"), gstaiupscale::ContentProp::Realtime);
    let scale = el.find_property("scale").unwrap();
    let scale = scale.downcast_ref::<gst::glib::ParamSpecDouble>().unwrap();
    assert_eq!((scale.minimum(), scale.maximum()), (1.0, 16.0));
    for name in
        ["scale", "model", "tile-size", "tile-overlap", "device", "threads", "denoise", "temporal", "content", "grain"]
    {
        let pspec = el.find_property(name).unwrap();
        assert!(!pspec.nick().is_empty() && pspec.blurb().is_some_and(|b| b.len() > 20), "{name}");
    }
    el.set_property_from_str("device", "cuda");
    assert_eq!(el.property::<gstaiupscale::DeviceChoice>("device"), gstaiupscale::DeviceChoice::Cuda);
    el.set_property("tile-size", 5u32);
    assert_eq!(el.property::<u32>("tile-size"), 16, "tile sides below 16 are raised to 16");
}

#[test]
fn upstream_caps_give_scaled_src_caps() {
    let el = element("nearest_x2", &[]);
    let mut h = harness(&el);
    let caps = gst::Caps::builder("video/x-raw")
        .field("format", "RGB")
        .field("width", 8)
        .field("height", 6)
        .field("framerate", gst::Fraction::new(25, 1))
        .field("pixel-aspect-ratio", gst::Fraction::new(12, 11))
        .build();
    h.set_src_caps(caps);
    let input = info(VideoFormat::Rgb, 8, 6);
    h.push(frame(&input, |_, x, y| (x * 7 + y * 13) as u8)).unwrap();
    h.pull().unwrap();
    let caps = h.sinkpad().unwrap().current_caps().unwrap();
    let s = caps.structure(0).unwrap();
    assert_eq!((s.get::<i32>("width").unwrap(), s.get::<i32>("height").unwrap()), (16, 12));
    assert_eq!(s.get::<&str>("format").unwrap(), "RGB");
    assert_eq!(s.get::<gst::Fraction>("framerate").unwrap(), gst::Fraction::new(25, 1));
    assert_eq!(s.get::<gst::Fraction>("pixel-aspect-ratio").unwrap(), gst::Fraction::new(12, 11));
}

#[test]
fn downstream_size_drives_the_input_size() {
    let el = element("nearest_x2", &[]);
    let mut h = harness(&el);
    h.set_sink_caps_str("video/x-raw,width=64,height=48");
    // The caps query upstream already carries the halved size...
    let sink_caps = el.static_pad("sink").unwrap().query_caps(None);
    let s = sink_caps.structure(0).unwrap();
    assert_eq!((s.get::<i32>("width").unwrap(), s.get::<i32>("height").unwrap()), (32, 24), "{sink_caps}");
    drop(h);
    // ...and in a pipeline, a source that can do any size negotiates it.
    let pipeline = gst::parse::launch(&format!(
        "videotestsrc num-buffers=3 ! video/x-raw,format=RGBA,framerate=30/1 ! aiupscale name=up model={} \
         ! video/x-raw,width=64,height=48 ! fakesink name=sink",
        tiny("nearest_x2")
    ))
    .unwrap();
    let bin = pipeline.downcast_ref::<gst::Bin>().unwrap();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    for (element, pad) in [("up", "sink"), ("sink", "sink")] {
        let seen = seen.clone();
        let pad = bin.by_name(element).unwrap().static_pad(pad).unwrap();
        pad.add_probe(gst::PadProbeType::EVENT_DOWNSTREAM, move |_, info| {
            if let Some(gst::PadProbeData::Event(ev)) = &info.data {
                if let gst::EventView::Caps(c) = ev.view() {
                    let s = c.caps().structure(0).unwrap();
                    seen.lock().unwrap().push((s.get::<i32>("width").unwrap(), s.get::<i32>("height").unwrap()));
                }
            }
            gst::PadProbeReturn::Ok
        });
    }
    run_to_end(&pipeline, Duration::from_secs(20)).unwrap();
    assert_eq!(*seen.lock().unwrap(), [(32, 24), (64, 48)]);
}

/// Packed formats: with the exact nearest-neighbour model, every output pixel is the
/// input pixel it came from (alpha formats within 1 code, padding written opaque).
#[test]
fn every_packed_format_is_an_exact_nearest_upscale() {
    use VideoFormat as F;
    let formats =
        [F::Rgb, F::Bgr, F::Rgba, F::Bgra, F::Argb, F::Abgr, F::Rgbx, F::Bgrx, F::Xrgb, F::Xbgr, F::Gray8, F::Gray16Le];
    let (w, h) = (13u32, 7u32);
    for format in formats {
        let el = element("nearest_x2", &[]);
        let mut harness = harness(&el);
        let input = info(format, w, h);
        harness.set_src_caps(input.to_caps().unwrap());
        let finfo = input.format_info();
        let bpp = finfo.pixel_stride()[0] as usize;
        let alpha = finfo.has_alpha().then(|| finfo.poffset()[3] as usize);
        let color: Vec<usize> =
            finfo.poffset()[..finfo.n_components().min(3) as usize].iter().map(|&o| o as usize).collect();
        let padding = (bpp == 4 && alpha.is_none()).then(|| (0..4).find(|o| !color.contains(o)).unwrap());
        let content = move |_plane: usize, x: usize, y: usize| {
            let (px, c) = (x / bpp, x % bpp);
            if Some(c) == alpha {
                [0u8, 128, 255, 255, 255][(px + y) % 5]
            } else {
                ((37 * px + 91 * y + 53 * c) % 256) as u8
            }
        };
        harness.push(frame(&input, content)).unwrap();
        let out_info = info(format, 2 * w, 2 * h);
        let out = read(harness.pull().unwrap(), &out_info);
        assert_eq!(out_size(&harness), (26, 14), "{format}");
        let (data, stride) = (out.plane_data(0).unwrap(), out.plane_stride()[0] as usize);
        for y in 0..2 * h as usize {
            for x in 0..2 * w as usize {
                let (sx, sy) = (x / 2, y / 2);
                let a = alpha.map(|ao| content(0, sx * bpp + ao, sy));
                for c in 0..bpp {
                    let got = data[y * stride + x * bpp + c];
                    let want = content(0, sx * bpp + c, sy);
                    if Some(c) == padding {
                        assert_eq!(got, 255, "{format} padding at {x},{y}");
                    } else if Some(c) == alpha {
                        assert_eq!(got, want, "{format} alpha at {x},{y}");
                    } else if a != Some(0) {
                        let tol = if alpha.is_some() { 1 } else { 0 };
                        assert!(got.abs_diff(want) <= tol, "{format} byte {c} at {x},{y}: {got} vs {want}");
                    }
                }
            }
        }
    }
}

fn layout_of(format: VideoFormat) -> YuvLayout {
    match format {
        VideoFormat::I420 => YuvLayout::I420,
        VideoFormat::Nv12 => YuvLayout::Nv12,
        VideoFormat::Y444 => YuvLayout::Y444,
        VideoFormat::Yuy2 => YuvLayout::Yuy2,
        VideoFormat::Uyvy => YuvLayout::Uyvy,
        other => panic!("{other} is not YUV"),
    }
}

fn smooth_rgb(w: u32, h: u32, scale: u32) -> Image {
    let mut img = Image::new(w * scale, h * scale, RGB_F32).unwrap();
    for y in 0..h * scale {
        for x in 0..w * scale {
            let (sx, sy) = ((x / scale) as f32, (y / scale) as f32);
            let px = [0.25 + 0.02 * sx, 0.3 + 0.025 * sy, 0.6 - 0.01 * (sx + sy)];
            let i = 12 * (y * w * scale + x) as usize;
            for (c, v) in px.iter().enumerate() {
                img.data_mut()[i + 4 * c..i + 4 * c + 4].copy_from_slice(&v.to_ne_bytes());
            }
        }
    }
    img
}

/// `img` converted to a YUV buffer of `info` (matrix and range given).
fn yuv_buffer(info: &VideoInfo, img: &Image, color: YuvColor, siting: ChromaSiting) -> gst::Buffer {
    let buffer = gst::Buffer::with_size(info.size()).unwrap();
    let mut frame = VideoFrame::from_buffer_writable(buffer, info).unwrap();
    let layout = layout_of(info.format());
    let strides: Vec<usize> = frame.plane_stride().iter().map(|&s| s as usize).collect();
    let planes = frame.planes_data_mut().into_iter().take(layout.plane_count()).collect();
    let mut yuv = YuvMut::new(layout, info.width(), info.height(), planes, &strides).unwrap();
    rgb_to_yuv(&img.as_ref(), color, siting, &mut yuv).unwrap();
    frame.into_buffer()
}

/// YUV formats go through float RGB and back: the output matches the nearest-neighbour
/// upscale of the picture within a few codes, in the stream's own matrix and range.
#[test]
fn every_yuv_format_upscales_within_tolerance() {
    let (w, h) = (16u32, 10u32);
    let cases = [
        (VideoFormat::I420, "bt709", Matrix::Bt709, Range::Limited),
        (VideoFormat::Nv12, "bt601", Matrix::Bt601, Range::Limited),
        (VideoFormat::Y444, "bt2020", Matrix::Bt2020, Range::Limited),
        (VideoFormat::Yuy2, "1:3:5:1", Matrix::Bt709, Range::Full),
        (VideoFormat::Uyvy, "bt601", Matrix::Bt601, Range::Limited),
    ];
    for (format, colorimetry, matrix, range) in cases {
        let color = YuvColor::new(matrix, range);
        let el = element("nearest_x2", &[]);
        let mut harness = harness(&el);
        let colorimetry: gst_video::VideoColorimetry = colorimetry.parse().unwrap();
        let input = VideoInfo::builder(format, w, h)
            .fps(gst::Fraction::new(30, 1))
            .colorimetry(&colorimetry)
            .chroma_site(gst_video::VideoChromaSite::MPEG2)
            .build()
            .unwrap();
        harness.set_src_caps(input.to_caps().unwrap());
        harness.push(yuv_buffer(&input, &smooth_rgb(w, h, 1), color, ChromaSiting::MPEG2)).unwrap();
        let out_info = VideoInfo::builder(format, 2 * w, 2 * h)
            .fps(gst::Fraction::new(30, 1))
            .colorimetry(&colorimetry)
            .chroma_site(gst_video::VideoChromaSite::MPEG2)
            .build()
            .unwrap();
        let out = read(harness.pull().unwrap(), &out_info);
        let expected = read(yuv_buffer(&out_info, &smooth_rgb(w, h, 2), color, ChromaSiting::MPEG2), &out_info);
        let out_caps = harness.sinkpad().unwrap().current_caps().unwrap();
        let out_caps_info = VideoInfo::from_caps(&out_caps).unwrap();
        assert_eq!(out_caps_info.format(), format);
        assert_eq!(out_caps_info.colorimetry(), colorimetry, "colorimetry passes through");
        let mut worst = 0;
        for plane in 0..out.n_planes() {
            let (a, b) = (out.plane_data(plane).unwrap(), expected.plane_data(plane).unwrap());
            let stride = out.plane_stride()[plane as usize] as usize;
            let row = out_info.comp_width(plane as u8) as usize
                * out_info.format_info().pixel_stride()[plane as usize] as usize;
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                if i % stride < row.min(stride) {
                    worst = worst.max(x.abs_diff(*y));
                }
            }
        }
        assert!(worst <= 3, "{format} {colorimetry}: max difference {worst} codes");
    }
}

#[test]
fn transparent_areas_stay_transparent() {
    for model in ["nearest_x2", "smooth_x2"] {
        let el = element(model, &[]);
        let mut h = harness(&el);
        let (w, hh) = (16u32, 8u32);
        let input = info(VideoFormat::Rgba, w, hh);
        h.set_src_caps(input.to_caps().unwrap());
        // Left half fully transparent (with garbage color), right half opaque red.
        let content = |_p: usize, x: usize, _y: usize| {
            let (px, c) = (x / 4, x % 4);
            match (px < 8, c) {
                (true, 3) => 0,
                (true, _) => 200,
                (false, 0) | (false, 3) => 255,
                _ => 0,
            }
        };
        h.push(frame(&input, content)).unwrap();
        let out = read(h.pull().unwrap(), &info(VideoFormat::Rgba, 2 * w, 2 * hh));
        let (data, stride) = (out.plane_data(0).unwrap(), out.plane_stride()[0] as usize);
        for y in 0..2 * hh as usize {
            for x in 0..2 * w as usize {
                let px = &data[y * stride + 4 * x..y * stride + 4 * x + 4];
                // smooth_x2 has a 2-pixel receptive radius: judge away from the edge.
                if x < 12 {
                    assert!(px[3] <= 3, "{model}: alpha {} at {x},{y}", px[3]);
                } else if x >= 20 {
                    assert!(px[3] >= 230 && px[0] >= 200 && px[1] <= 40, "{model}: {px:?} at {x},{y}");
                }
            }
        }
    }
}

#[test]
fn renegotiation_to_a_new_input_size() {
    let el = element("nearest_x2", &[]);
    let mut h = harness(&el);
    let small = info(VideoFormat::Bgrx, 8, 6);
    h.set_src_caps(small.to_caps().unwrap());
    h.push(frame(&small, |_, x, y| (x + y) as u8)).unwrap();
    assert_eq!(h.pull().unwrap().size(), 16 * 12 * 4);
    assert_eq!(out_size(&h), (16, 12));
    let large = info(VideoFormat::Bgrx, 20, 14);
    h.set_src_caps(large.to_caps().unwrap());
    h.push(frame(&large, |_, x, y| (x * y) as u8)).unwrap();
    assert_eq!(h.pull().unwrap().size(), 40 * 28 * 4);
    assert_eq!(out_size(&h), (40, 28));
}

#[test]
fn scale_property_change_renegotiates_mid_stream() {
    let el = element("nearest_x2", &[]);
    let mut h = harness(&el);
    let input = info(VideoFormat::Rgb, 10, 8);
    h.set_src_caps(input.to_caps().unwrap());
    h.push(frame(&input, |_, x, _| x as u8)).unwrap();
    h.pull().unwrap();
    assert_eq!(out_size(&h), (20, 16));
    el.set_property("scale", 3.0f64);
    h.push(frame(&input, |_, x, _| x as u8)).unwrap();
    h.pull().unwrap();
    assert_eq!(out_size(&h), (30, 24));
}

#[test]
fn flushing_then_streaming_again() {
    let el = element("smooth_x2", &[]);
    let mut h = harness(&el);
    let input = info(VideoFormat::I420, 16, 16);
    h.set_src_caps(input.to_caps().unwrap());
    h.push(frame(&input, |p, x, y| if p == 0 { (16 + x + y) as u8 } else { 128 })).unwrap();
    h.pull().unwrap();
    assert!(h.push_event(gst::event::FlushStart::new()));
    assert!(h.push_event(gst::event::FlushStop::new(true)));
    assert!(h.push_event(gst::event::Segment::new(&gst::FormattedSegment::<gst::ClockTime>::new())));
    for _ in 0..3 {
        h.push(frame(&input, |p, x, _| if p == 0 { (50 + x) as u8 } else { 120 })).unwrap();
        assert_eq!(h.pull().unwrap().size(), VideoInfo::builder(VideoFormat::I420, 32, 32).build().unwrap().size());
    }
}

#[test]
fn one_output_per_input_with_timestamps_and_eos() {
    let el = element("nearest_x2", &[]);
    let mut h = harness(&el);
    let input = info(VideoFormat::Rgbx, 8, 8);
    h.set_src_caps(input.to_caps().unwrap());
    let duration = gst::ClockTime::from_nseconds(33_366_667);
    for i in 0..10u64 {
        let mut buffer = frame(&input, |_, x, y| (x + y + i as usize) as u8);
        {
            let b = buffer.get_mut().unwrap();
            b.set_pts(duration * i);
            b.set_dts(duration * i);
            b.set_duration(duration);
        }
        h.push(buffer).unwrap();
    }
    assert!(h.push_event(gst::event::Eos::new()));
    for i in 0..10u64 {
        let out = h.pull().unwrap();
        assert_eq!(out.pts(), Some(duration * i), "frame {i}");
        assert_eq!(out.dts(), Some(duration * i), "frame {i}");
        assert_eq!(out.duration(), Some(duration), "frame {i}");
    }
    assert!(h.try_pull().is_none(), "exactly one output per input");
    let eos = std::iter::from_fn(|| h.try_pull_event()).any(|e| e.type_() == gst::EventType::Eos);
    assert!(eos, "EOS passes through after the frames");
}

#[test]
fn non_integer_scale_resamples_to_the_exact_size() {
    let el = element("smooth_x2", &[("scale", &1.5f64)]);
    let mut h = harness(&el);
    let input = info(VideoFormat::Rgb, 10, 8);
    h.set_src_caps(input.to_caps().unwrap());
    h.push(frame(&input, |_, x, _| [200u8, 100, 50][x % 3])).unwrap();
    let out_info = info(VideoFormat::Rgb, 15, 12);
    let out = read(h.pull().unwrap(), &out_info);
    assert_eq!(out_size(&h), (15, 12));
    // A flat color stays (close to) flat through model and resampling.
    let (data, stride) = (out.plane_data(0).unwrap(), out.plane_stride()[0] as usize);
    for y in 0..12 {
        for x in 0..15 {
            let px = &data[y * stride + 3 * x..y * stride + 3 * x + 3];
            for (got, want) in px.iter().zip([200u8, 100, 50]) {
                assert!(got.abs_diff(want) <= 12, "{px:?} at {x},{y}");
            }
        }
    }
}

#[test]
fn missing_model_file_is_an_error_naming_the_path() {
    init();
    let missing = std::env::temp_dir().join("aiupscale-no-such-dir/missing_model.onnx");
    let pipeline =
        gst::parse::launch(&format!("videotestsrc num-buffers=2 ! aiupscale model={} ! fakesink", missing.display()))
            .unwrap();
    let err = run_to_end(&pipeline, Duration::from_secs(20)).unwrap_err();
    assert!(err.contains(&missing.display().to_string()) && err.contains("not found"), "{err}");
}

#[test]
fn broken_model_is_an_error_not_a_panic() {
    init();
    let pipeline =
        gst::parse::launch(&format!("videotestsrc num-buffers=2 ! aiupscale model={} ! fakesink", tiny("bad_output")))
            .unwrap();
    let err = run_to_end(&pipeline, Duration::from_secs(20)).unwrap_err();
    assert!(err.contains("unexpected signature"), "{err}");
}

#[test]
fn cuda_without_cuda_is_a_clear_error() {
    init();
    let pipeline = gst::parse::launch(&format!(
        "videotestsrc num-buffers=2 ! aiupscale device=cuda model={} ! fakesink",
        tiny("nearest_x2")
    ))
    .unwrap();
    match run_to_end(&pipeline, Duration::from_secs(30)) {
        Err(err) => assert!(err.contains("execution provider cuda is not available"), "{err}"),
        // A machine with onnxruntime-gpu and a GPU: then it simply works.
        Ok(()) => eprintln!("CUDA is available here; the error path was not exercised"),
    }
}

/// The element's own properties (not those of its base classes).
fn own_properties() -> Vec<gst::glib::ParamSpec> {
    init();
    let el = gst::ElementFactory::make("aiupscale").build().unwrap();
    let own = el.type_();
    el.list_properties().iter().filter(|p| p.owner_type() == own).cloned().collect()
}

/// gst-inspect shows the blurbs as written: a string literal broken without a `\`
/// continuation carries the next line's indentation into the text.
#[test]
fn blurbs_read_as_single_spaced_sentences() {
    let properties = own_properties();
    assert_eq!(properties.len(), 12, "{:?}", properties.iter().map(|p| p.name()).collect::<Vec<_>>());
    for pspec in properties {
        let blurb = pspec.blurb().unwrap_or_default();
        for bad in ["  ", "\n", "\t"] {
            assert!(!blurb.contains(bad), "{}: {bad:?} in {blurb:?}", pspec.name());
        }
        assert_eq!(blurb.trim(), blurb, "{}", pspec.name());
    }
}

#[test]
fn plugin_doc_lists_every_property() {
    let doc = include_str!("../src/lib.rs");
    for pspec in own_properties() {
        assert!(doc.contains(&format!("`{}`", pspec.name())), "the plugin doc in src/lib.rs lacks `{}`", pspec.name());
    }
}

/// The video records that it was AI-upscaled: a global tag event (description and
/// application name) goes downstream before the first frame, for muxers to write.
#[test]
fn provenance_goes_downstream_as_global_tags() {
    let el = element("nearest_x2", &[]);
    let mut h = harness(&el);
    let input = info(VideoFormat::Rgb, 8, 6);
    h.set_src_caps(input.to_caps().unwrap());
    h.push(frame(&input, |_, x, y| (x * 7 + y * 13) as u8)).unwrap();
    h.pull().unwrap();
    let mut found = None;
    while let Some(event) = h.try_pull_event() {
        if let gst::EventView::Tag(tag) = event.view() {
            let tags = tag.tag_owned();
            if let Some(text) = tags.get::<gst::tags::Description>() {
                found = Some((text.get().to_owned(), tags.scope()));
            }
        }
    }
    let (text, scope) = found.expect("a tag event with a description");
    assert!(text.starts_with("AI-upscaled by aiupscale ") && text.contains("nearest_x2"), "{text}");
    assert_eq!(scope, gst::TagScope::Global);
}

/// Grain: off by default, seeded by the frame's timestamp, so the same frame comes out
/// the same in two runs and another timestamp gives another pattern.
#[test]
fn grain_is_seeded_by_the_timestamp() {
    let input = info(VideoFormat::Rgb, 16, 12);
    let run = |grain: f64, pts: u64| {
        let el = element("nearest_x2", &[("grain", &grain)]);
        let mut h = harness(&el);
        h.set_src_caps(input.to_caps().unwrap());
        let mut buffer = frame(&input, |_, _, _| 128);
        buffer.get_mut().unwrap().set_pts(gst::ClockTime::from_mseconds(pts));
        h.push(buffer).unwrap();
        h.pull().unwrap().map_readable().unwrap().to_vec()
    };
    let plain = run(0.0, 0);
    assert!(plain.iter().all(|&v| v == 128), "grain is off by default");
    let (a, b, c) = (run(0.8, 40), run(0.8, 40), run(0.8, 80));
    assert_eq!(a, b, "the same frame and timestamp give the same grain");
    assert_ne!(a, c, "another timestamp, another pattern");
    assert!(a.iter().filter(|&&v| v != 128).count() > a.len() / 2);
}
