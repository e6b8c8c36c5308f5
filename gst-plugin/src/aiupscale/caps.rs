//! Caps of the element: the formats it takes, how width and height map between the
//! pads, fixation, and the per-stream conversion picked from the negotiated info.

use aiupscale_core::{
    pixels::{MAX_PIXELS, MAX_SIDE},
    Channels, ChromaSiting, Matrix, PixelFormat, Range, SampleType, YuvColor, YuvLayout,
};
use gstreamer as gst;
use gstreamer_video as gst_video;

/// Every raw format the element takes; the output format is always the input format.
pub const FORMATS: &[gst_video::VideoFormat] = {
    use gst_video::VideoFormat as F;
    &[
        F::Rgb,
        F::Bgr,
        F::Rgba,
        F::Bgra,
        F::Argb,
        F::Abgr,
        F::Rgbx,
        F::Bgrx,
        F::Xrgb,
        F::Xbgr,
        F::Gray8,
        // The core reads 16-bit samples in native byte order.
        #[cfg(target_endian = "little")]
        F::Gray16Le,
        #[cfg(target_endian = "big")]
        F::Gray16Be,
        F::I420,
        F::Nv12,
        F::Y444,
        F::Yuy2,
        F::Uyvy,
        // DV's 4:1:1, and 10-bit masters: converted at their own depth (no 8-bit step).
        F::Y41b,
        F::I42010le,
        F::P01010le,
        F::Y44410le,
        F::V210,
    ]
};

/// How frames of one format reach the core.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameKind {
    /// A packed format the core reads and writes directly.
    Packed(PixelFormat),
    /// YUV, converted to float RGB and back.
    Yuv(YuvLayout),
}

pub fn frame_kind(format: gst_video::VideoFormat) -> Option<FrameKind> {
    use gst_video::VideoFormat as F;
    let packed = |channels, sample| Some(FrameKind::Packed(PixelFormat::new(channels, sample)));
    match format {
        F::Rgb => packed(Channels::Rgb, SampleType::U8),
        F::Bgr => packed(Channels::Bgr, SampleType::U8),
        F::Rgba => packed(Channels::Rgba, SampleType::U8),
        F::Bgra => packed(Channels::Bgra, SampleType::U8),
        F::Argb => packed(Channels::Argb, SampleType::U8),
        F::Abgr => packed(Channels::Abgr, SampleType::U8),
        F::Rgbx => packed(Channels::Rgbx, SampleType::U8),
        F::Bgrx => packed(Channels::Bgrx, SampleType::U8),
        F::Xrgb => packed(Channels::Xrgb, SampleType::U8),
        F::Xbgr => packed(Channels::Xbgr, SampleType::U8),
        F::Gray8 => packed(Channels::Gray, SampleType::U8),
        #[cfg(target_endian = "little")]
        F::Gray16Le => packed(Channels::Gray, SampleType::U16),
        #[cfg(target_endian = "big")]
        F::Gray16Be => packed(Channels::Gray, SampleType::U16),
        F::I420 => Some(FrameKind::Yuv(YuvLayout::I420)),
        F::Nv12 => Some(FrameKind::Yuv(YuvLayout::Nv12)),
        F::Y444 => Some(FrameKind::Yuv(YuvLayout::Y444)),
        F::Yuy2 => Some(FrameKind::Yuv(YuvLayout::Yuy2)),
        F::Uyvy => Some(FrameKind::Yuv(YuvLayout::Uyvy)),
        F::Y41b => Some(FrameKind::Yuv(YuvLayout::Y41b)),
        F::I42010le => Some(FrameKind::Yuv(YuvLayout::I420P10)),
        F::P01010le => Some(FrameKind::Yuv(YuvLayout::P010)),
        F::Y44410le => Some(FrameKind::Yuv(YuvLayout::Y444P10)),
        F::V210 => Some(FrameKind::Yuv(YuvLayout::V210)),
        _ => None,
    }
}

/// Pad template caps: system memory, progressive, any rate, the formats above, at most
/// `MAX_SIDE` pixels per side. Negotiation itself then refuses interlaced or oversized
/// video, as with stock elements (gst-launch-1.0 already fails to link such a line).
pub fn template_caps() -> gst::Caps {
    let side = 1..=MAX_SIDE as i32;
    gst_video::VideoCapsBuilder::new()
        .format_list(FORMATS.iter().copied())
        .width_range(side.clone())
        .height_range(side)
        .field("interlace-mode", "progressive")
        .build()
}

/// Whether a fixed output size stays within the core's pixel budget; the template
/// bounds each side, but caps cannot express their product. Unfixed sizes pass.
fn output_fits(output: &gst::StructureRef) -> bool {
    match (output.get::<i32>("width"), output.get::<i32>("height")) {
        (Ok(w), Ok(h)) => u64::from(w.unsigned_abs()) * u64::from(h.unsigned_abs()) <= MAX_PIXELS,
        _ => true,
    }
}

/// Output side for an input side: `round(side * scale)`, at least 1.
pub fn scale_up(side: i32, scale: f64) -> i32 {
    (f64::from(side) * scale).round().clamp(1.0, f64::from(i32::MAX)) as i32
}

/// Input side for an output side: the nearest side that scales to it.
pub fn scale_down(side: i32, scale: f64) -> i32 {
    (f64::from(side) / scale).round().clamp(1.0, f64::from(i32::MAX)) as i32
}

/// Maps one width/height value (fixed, range or list) through the scale; `None` if no
/// side can map (an empty range).
fn map_dimension(value: &gst::glib::SendValue, scale: f64, up: bool) -> Option<gst::glib::SendValue> {
    use gst::glib::prelude::*;
    if let Ok(v) = value.get::<i32>() {
        return Some(if up { scale_up(v, scale) } else { scale_down(v, scale) }.to_send_value());
    }
    if let Ok(range) = value.get::<gst::IntRange<i32>>() {
        let (lo, hi) = if up {
            (scale_up(range.min(), scale), scale_up(range.max(), scale))
        } else {
            // Every input side whose output lies in [min, max].
            let lo = ((f64::from(range.min()) - 0.5) / scale).ceil().max(1.0);
            let hi = ((f64::from(range.max()) + 0.5) / scale).floor().min(f64::from(i32::MAX));
            (lo as i32, hi as i32)
        };
        return match lo.cmp(&hi) {
            std::cmp::Ordering::Less => Some(gst::IntRange::new(lo, hi).to_send_value()),
            std::cmp::Ordering::Equal => Some(lo.to_send_value()),
            std::cmp::Ordering::Greater => None,
        };
    }
    if let Ok(list) = value.get::<gst::List>() {
        let mapped: Vec<gst::glib::SendValue> = list.iter().filter_map(|v| map_dimension(v, scale, up)).collect();
        return (!mapped.is_empty()).then(|| gst::List::from_values(mapped).to_send_value());
    }
    // Anything else (no constraint we understand) passes unchanged.
    Some(value.clone())
}

/// The caps on the other pad for `caps` on the pad of `direction`: width and height
/// multiplied by `scale` going downstream, divided going upstream; everything else
/// (format, rates, aspect ratio, colorimetry) is the same on both pads. A structure
/// whose fixed output size exceeds the pixel budget maps to nothing.
pub fn transform_caps(direction: gst::PadDirection, caps: &gst::Caps, scale: f64) -> gst::Caps {
    let up = direction == gst::PadDirection::Sink;
    let mut out = gst::Caps::new_empty();
    'structures: for (structure, features) in caps.iter_with_features() {
        let mut s = structure.to_owned();
        for field in ["width", "height"] {
            if let Ok(value) = structure.value(field) {
                match map_dimension(value, scale, up) {
                    Some(mapped) => s.set_value(field, mapped),
                    None => continue 'structures,
                }
            }
        }
        if !output_fits(if up { &s } else { structure }) {
            continue;
        }
        out.merge_structure_full(s, Some(features.to_owned()));
    }
    out
}

/// Fixes `othercaps` (the pad opposite `direction`) to the size `caps` implies,
/// keeping the pixel-aspect-ratio and framerate of `caps`.
pub fn fixate_caps(direction: gst::PadDirection, caps: &gst::Caps, mut othercaps: gst::Caps, scale: f64) -> gst::Caps {
    othercaps.truncate();
    let Some(from) = caps.structure(0) else {
        othercaps.fixate();
        return othercaps;
    };
    let map =
        |side: i32| if direction == gst::PadDirection::Sink { scale_up(side, scale) } else { scale_down(side, scale) };
    {
        let Some(to) = othercaps.make_mut().structure_mut(0) else {
            return othercaps;
        };
        for field in ["width", "height"] {
            if let Ok(side) = from.get::<i32>(field) {
                to.fixate_field_nearest_int(field, map(side));
            }
        }
        for field in ["pixel-aspect-ratio", "framerate"] {
            if let Ok(value) = from.get::<gst::Fraction>(field) {
                if to.has_field(field) {
                    to.fixate_field_nearest_fraction(field, value);
                } else if field == "pixel-aspect-ratio" {
                    to.set(field, value);
                }
            }
        }
    }
    othercaps.fixate();
    othercaps
}

/// Why a negotiated stream cannot be processed (the sizes are the core's to check); the
/// text goes to the debug log. The template caps already exclude these.
pub fn check_stream(in_info: &gst_video::VideoInfo, out_info: &gst_video::VideoInfo) -> Result<(), String> {
    if in_info.interlace_mode() != gst_video::VideoInterlaceMode::Progressive {
        return Err(format!(
            "interlaced video (interlace-mode={}) is not supported; put `deinterlace` in front of aiupscale \
             (e.g. `... ! deinterlace ! aiupscale ! ...`)",
            in_info.interlace_mode().to_str()
        ));
    }
    if in_info.format() != out_info.format() {
        return Err(format!(
            "input is {} but output {}; both must be the same format",
            in_info.format(),
            out_info.format()
        ));
    }
    if frame_kind(in_info.format()).is_none() {
        return Err(format!("format {} is not supported", in_info.format()));
    }
    Ok(())
}

/// Matrix, range and chroma siting of a YUV stream, from its caps' colorimetry.
pub fn yuv_color(info: &gst_video::VideoInfo) -> Result<(YuvColor, ChromaSiting), String> {
    use gst_video::{VideoChromaSite, VideoColorMatrix, VideoColorRange};
    let colorimetry = info.colorimetry();
    let matrix = match colorimetry.matrix() {
        VideoColorMatrix::Bt601 => Matrix::Bt601,
        VideoColorMatrix::Bt709 => Matrix::Bt709,
        VideoColorMatrix::Bt2020 => Matrix::Bt2020,
        // GStreamer's own default for YUV without a declared matrix.
        VideoColorMatrix::Unknown if info.height() > 576 => Matrix::Bt709,
        VideoColorMatrix::Unknown => Matrix::Bt601,
        other => {
            return Err(format!(
                "YUV colour matrix {other:?} is not supported (bt601, bt709, bt2020 are); put `videoconvert` in front"
            ))
        }
    };
    let range = match colorimetry.range() {
        VideoColorRange::Range0_255 => Range::Full,
        _ => Range::Limited,
    };
    let site = info.chroma_site();
    let siting = ChromaSiting {
        h_cosited: site.contains(VideoChromaSite::H_COSITED),
        v_cosited: site.contains(VideoChromaSite::V_COSITED),
    };
    Ok((YuvColor::new(matrix, range), siting))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn init() {
        gst::init().unwrap();
    }

    #[test]
    fn fixed_sizes_scale_both_ways() {
        init();
        let caps =
            gst::Caps::builder("video/x-raw").field("format", "RGB").field("width", 176).field("height", 144).build();
        let out = transform_caps(gst::PadDirection::Sink, &caps, 2.0);
        let s = out.structure(0).unwrap();
        assert_eq!((s.get::<i32>("width").unwrap(), s.get::<i32>("height").unwrap()), (352, 288));
        assert_eq!(s.get::<&str>("format").unwrap(), "RGB");
        let back = transform_caps(gst::PadDirection::Src, &out, 2.0);
        assert_eq!(back, caps);
        let odd = transform_caps(gst::PadDirection::Sink, &caps, 1.5);
        assert_eq!(odd.structure(0).unwrap().get::<i32>("width").unwrap(), 264);
    }

    #[test]
    fn ranges_and_lists_scale() {
        init();
        let caps = gst::Caps::builder("video/x-raw")
            .field("width", gst::IntRange::new(1, i32::MAX))
            .field("height", gst::List::new([10i32, 20]))
            .build();
        let out = transform_caps(gst::PadDirection::Sink, &caps, 2.0);
        let s = out.structure(0).unwrap();
        assert_eq!(s.get::<gst::IntRange<i32>>("width").unwrap(), gst::IntRange::new(2, i32::MAX));
        let heights: Vec<i32> = s.get::<gst::List>("height").unwrap().iter().map(|v| v.get().unwrap()).collect();
        assert_eq!(heights, [20, 40]);
        let down = transform_caps(gst::PadDirection::Src, &caps, 2.0);
        let w = down.structure(0).unwrap().get::<gst::IntRange<i32>>("width").unwrap();
        assert_eq!((w.min(), w.max()), (1, i32::MAX / 2));
    }

    fn yuv_info(caps: &str) -> gst_video::VideoInfo {
        gst_video::VideoInfo::from_caps(&caps.parse::<gst::Caps>().unwrap()).unwrap()
    }

    #[test]
    fn matrix_and_range_come_from_the_caps_colorimetry() {
        init();
        let base = "video/x-raw,format=I420,width=64,height=48,framerate=30/1";
        let cases = [
            ("colorimetry=bt709", Matrix::Bt709, Range::Limited),
            ("colorimetry=bt601", Matrix::Bt601, Range::Limited),
            ("colorimetry=bt2020", Matrix::Bt2020, Range::Limited),
            ("colorimetry=1:4:0:0", Matrix::Bt601, Range::Full),
            ("colorimetry=1:3:5:1", Matrix::Bt709, Range::Full),
        ];
        for (field, matrix, range) in cases {
            let (color, _) = yuv_color(&yuv_info(&format!("{base},{field}"))).unwrap();
            assert_eq!((color.matrix, color.range), (matrix, range), "{field}");
        }
        // Without colorimetry, GStreamer's own defaults (SD: 601, HD: 709), never a swap.
        let (sd, _) = yuv_color(&yuv_info("video/x-raw,format=I420,width=720,height=576")).unwrap();
        let (hd, _) = yuv_color(&yuv_info("video/x-raw,format=I420,width=1280,height=720")).unwrap();
        assert_eq!((sd.matrix, hd.matrix), (Matrix::Bt601, Matrix::Bt709));
        let err = yuv_color(&yuv_info(&format!("{base},colorimetry=smpte240m"))).unwrap_err();
        assert!(err.contains("not supported"), "{err}");
    }

    #[test]
    fn chroma_siting_comes_from_the_caps() {
        init();
        let base = "video/x-raw,format=I420,width=64,height=48,colorimetry=bt709";
        let (_, mpeg2) = yuv_color(&yuv_info(&format!("{base},chroma-site=mpeg2"))).unwrap();
        let (_, jpeg) = yuv_color(&yuv_info(&format!("{base},chroma-site=jpeg"))).unwrap();
        assert_eq!(mpeg2, ChromaSiting::MPEG2);
        assert_eq!(jpeg, ChromaSiting::CENTER);
    }

    #[test]
    fn interlaced_streams_are_refused() {
        init();
        let progressive = yuv_info("video/x-raw,format=RGB,width=64,height=48");
        let interlaced = yuv_info("video/x-raw,format=RGB,width=64,height=48,interlace-mode=mixed");
        assert!(check_stream(&progressive, &progressive).is_ok());
        assert!(check_stream(&interlaced, &interlaced).unwrap_err().contains("deinterlace"));
    }

    #[test]
    fn template_caps_exclude_interlaced_and_oversized_video() {
        init();
        let template = template_caps();
        let accepts = |caps: &str| caps.parse::<gst::Caps>().unwrap().can_intersect(&template);
        assert!(accepts("video/x-raw,format=RGB,width=64,height=48"));
        assert!(accepts("video/x-raw,format=RGB,width=65535,height=2,interlace-mode=progressive"));
        assert!(!accepts("video/x-raw,format=RGB,width=64,height=48,interlace-mode=interleaved"));
        assert!(!accepts("video/x-raw,format=RGB,width=65536,height=2"));
        assert!(!accepts("video/x-raw,format=RGB,width=2,height=70000"));
    }

    #[test]
    fn fixed_sizes_over_the_pixel_budget_map_to_nothing() {
        init();
        let caps = |w: i32, h: i32| {
            gst::Caps::builder("video/x-raw").field("format", "GRAY8").field("width", w).field("height", h).build()
        };
        // 2100x2100 x16 = 33600x33600, 1.13e9 pixels > 2^30; both sides fit.
        assert!(transform_caps(gst::PadDirection::Sink, &caps(2100, 2100), 16.0).is_empty());
        assert!(!transform_caps(gst::PadDirection::Sink, &caps(2000, 2000), 16.0).is_empty());
        assert!(transform_caps(gst::PadDirection::Src, &caps(33_600, 33_600), 16.0).is_empty());
        assert!(!transform_caps(gst::PadDirection::Src, &caps(32_000, 32_000), 16.0).is_empty());
    }

    #[test]
    fn fixate_picks_the_scaled_size_and_keeps_par() {
        init();
        let caps = gst::Caps::builder("video/x-raw")
            .field("width", 100)
            .field("height", 50)
            .field("pixel-aspect-ratio", gst::Fraction::new(4, 3))
            .field("framerate", gst::Fraction::new(25, 1))
            .build();
        let other = gst::Caps::builder("video/x-raw")
            .field("width", gst::IntRange::new(1, 10000))
            .field("height", gst::IntRange::new(1, 10000))
            .field("framerate", gst::FractionRange::new(gst::Fraction::new(0, 1), gst::Fraction::new(1000, 1)))
            .build();
        let fixed = fixate_caps(gst::PadDirection::Sink, &caps, other, 3.0);
        let s = fixed.structure(0).unwrap();
        assert!(fixed.is_fixed());
        assert_eq!((s.get::<i32>("width").unwrap(), s.get::<i32>("height").unwrap()), (300, 150));
        assert_eq!(s.get::<gst::Fraction>("pixel-aspect-ratio").unwrap(), gst::Fraction::new(4, 3));
        assert_eq!(s.get::<gst::Fraction>("framerate").unwrap(), gst::Fraction::new(25, 1));
    }
}
