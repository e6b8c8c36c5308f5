//! The element's caps and frame path: caps (text, as upstream elements send them)
//! through `transform_caps` both ways and `fixate_caps`, the negotiated pair through
//! `check_stream`, then buffers with fuzzed row strides and plane offsets (a `VideoMeta`,
//! as an upstream pool would attach) mapped and upscaled by the element's
//! `StreamConverter` with the tiny nearest-x2 model.
//!
//! Input: 8 parameter bytes (scale, denoise flags, stride padding, plane gaps), then the
//! sink caps, optionally a newline and the caps downstream accepts (default: the
//! template). Property: whatever `check_stream` accepts, every frame of it upscales.
#![no_main]

use std::sync::{Mutex, OnceLock};

use aiupscale_core::{Control, DenoiseSettings, FrameUpscaler};
use aiupscale_fuzz::{new_tiny_upscaler, MAX_PIXELS};
use gstaiupscale::aiupscale::fuzzing::{
    check_stream, fixate_caps, template_caps, transform_caps, FrameError, StreamConverter,
};
use gstreamer as gst;
use gstreamer_video as gst_video;
use libfuzzer_sys::fuzz_target;

const PARAMS: usize = 8;

fn frame_upscaler() -> &'static Mutex<FrameUpscaler> {
    static UPSCALER: OnceLock<Mutex<FrameUpscaler>> = OnceLock::new();
    UPSCALER.get_or_init(|| {
        gst::init().expect("GStreamer initialises");
        Mutex::new(FrameUpscaler::new(new_tiny_upscaler(), DenoiseSettings::default()))
    })
}

/// A buffer for `info` whose planes have `pad` extra bytes per row and `gap` bytes
/// between them (after `gap` leading bytes), described by a `VideoMeta`, filled from `fill`.
fn buffer(info: &gst_video::VideoInfo, pad: &[u8], gap: usize, fill: &[u8]) -> gst::Buffer {
    let finfo = info.format_info();
    let mut offsets = Vec::new();
    let mut strides = Vec::new();
    let mut end = gap;
    for plane in 0..info.n_planes() as usize {
        let component = finfo.plane().iter().position(|&p| p as usize == plane).unwrap_or(0);
        let rows = finfo.scale_height(component as u8, info.height()) as usize;
        let stride = info.stride()[plane] + i32::from(pad[plane % pad.len()]);
        offsets.push(end);
        strides.push(stride);
        end += stride as usize * rows + gap;
    }
    let bytes: Vec<u8> = (0..end).map(|i| fill.get(i % fill.len().max(1)).copied().unwrap_or(0x80)).collect();
    let mut buffer = gst::Buffer::from_mut_slice(bytes);
    gst_video::VideoMeta::add_full(
        buffer.get_mut().expect("new buffer"),
        gst_video::VideoFrameFlags::empty(),
        info.format(),
        info.width(),
        info.height(),
        &offsets,
        &strides,
    )
    .expect("a video meta for a valid info");
    buffer
}

fuzz_target!(|data: &[u8]| {
    let upscaler = frame_upscaler();
    if data.len() < PARAMS {
        return;
    }
    let (params, text) = data.split_at(PARAMS);
    let Ok(text) = std::str::from_utf8(text) else { return };
    // The `scale` property's range, 1..=16.
    let scale = 1.0 + 15.0 * f64::from(u16::from_le_bytes([params[0], params[1]])) / f64::from(u16::MAX);
    let (caps_text, peer_text) = text.split_once('\n').unwrap_or((text, ""));
    let Ok(caps) = caps_text.parse::<gst::Caps>() else { return };
    if caps.is_any() {
        return;
    }
    // What the sink pad accepts at all.
    let caps = caps.intersect(&template_caps());
    if caps.is_empty() {
        return;
    }
    let peer =
        if peer_text.is_empty() { template_caps() } else { peer_text.parse().unwrap_or_else(|_| template_caps()) };
    for direction in [gst::PadDirection::Sink, gst::PadDirection::Src] {
        let other = transform_caps(direction, &caps, scale);
        assert!(other.size() <= caps.size(), "{caps} -> {other}: more structures than it started with");
        if !caps.is_fixed() || peer.is_any() {
            continue;
        }
        // Base transform fixates only a non-empty intersection with what the peer takes.
        let other = other.intersect(&peer);
        if !other.is_empty() {
            let fixed = fixate_caps(direction, &caps, other.clone(), scale);
            assert!(fixed.is_fixed(), "fixating {other} for {caps} gave {fixed}");
        }
    }
    if !caps.is_fixed() {
        return;
    }
    let out_caps = transform_caps(gst::PadDirection::Sink, &caps, scale).intersect(&template_caps());
    if out_caps.is_empty() {
        return;
    }
    let out_caps = fixate_caps(gst::PadDirection::Sink, &caps, out_caps, scale);
    let (Ok(in_info), Ok(out_info)) =
        (gst_video::VideoInfo::from_caps(&caps), gst_video::VideoInfo::from_caps(&out_caps))
    else {
        return;
    };
    let pixels = |i: &gst_video::VideoInfo| u64::from(i.width()) * u64::from(i.height());
    if pixels(&out_info) > MAX_PIXELS || check_stream(&in_info, &out_info).is_err() {
        return;
    }
    let Ok(mut converter) = StreamConverter::new(&in_info) else { return };

    let inbuf = buffer(&in_info, &params[3..6], usize::from(params[7] & 15), data);
    let mut outbuf = buffer(&out_info, &params[6..7], usize::from(params[7] >> 4), &[]);
    let inframe = gst_video::VideoFrameRef::from_buffer_ref_readable(inbuf.as_ref(), &in_info)
        .expect("a buffer laid out by its VideoMeta maps");
    let mut outframe = gst_video::VideoFrameRef::from_buffer_ref_writable(outbuf.make_mut(), &out_info)
        .expect("a buffer laid out by its VideoMeta maps");

    let mut upscaler = upscaler.lock().expect("not poisoned");
    upscaler.reset();
    let flags = params[2];
    let strength = |bits: u8| f32::from(bits & 7) / 7.0;
    upscaler.set_settings(DenoiseSettings { denoise: strength(flags), temporal: strength(flags >> 3) });
    // Twice when temporal is on: the second frame meets a history.
    let runs = if flags & (7 << 3) != 0 { 2 } else { 1 };
    for _ in 0..runs {
        match converter.process(&mut upscaler, &inframe, &mut outframe, None, &mut Control::default()) {
            Ok(()) => {}
            Err(FrameError::Cancelled) => panic!("nothing cancelled this frame"),
            Err(FrameError::Failed { message, .. }) => {
                panic!("{caps} -> {out_caps} passed check_stream, but a frame failed: {message}")
            }
        }
    }
});
