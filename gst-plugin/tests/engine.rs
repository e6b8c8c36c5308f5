//! The `engine` and `precision` properties: documented enums, and a stream that runs on
//! the chosen engine (OpenVINO from `scripts/setup`, or ONNX Runtime).

mod common;

use common::{init, tiny};
use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_check::Harness;
use gstreamer_video::{VideoFormat, VideoInfo};

#[test]
fn engine_and_precision_are_documented_enums_that_stream() {
    init();
    let el = gst::ElementFactory::make("aiupscale").property("model", tiny("nearest_x2")).build().unwrap();
    assert_eq!(el.property::<gstaiupscale::EngineChoice>("engine"), gstaiupscale::EngineChoice::Auto);
    assert_eq!(el.property::<gstaiupscale::PrecisionChoice>("precision"), gstaiupscale::PrecisionChoice::Auto);
    for name in ["engine", "precision"] {
        let pspec = el.find_property(name).unwrap();
        assert!(!pspec.nick().is_empty() && pspec.blurb().is_some_and(|b| b.len() > 20), "{name}");
    }
    for engine in ["ort", "openvino"] {
        let el = gst::ElementFactory::make("aiupscale").property("model", tiny("nearest_x2")).build().unwrap();
        el.set_property_from_str("engine", engine);
        el.set_property_from_str("precision", "fp32");
        let mut h = Harness::with_element(&el, Some("sink"), Some("src"));
        let info = VideoInfo::builder(VideoFormat::Rgb, 4, 2).fps(gst::Fraction::new(30, 1)).build().unwrap();
        h.set_src_caps(info.to_caps().unwrap());
        let pixels: Vec<u8> = (0..info.size()).map(|i| (i * 7) as u8).collect();
        h.push(gst::Buffer::from_slice(pixels.clone())).unwrap();
        let out = h.pull().unwrap();
        let map = out.map_readable().unwrap();
        // Nearest x2: output pixel (x, y) is input pixel (x/2, y/2) on either engine.
        assert_eq!(map.len(), 8 * 4 * 3, "{engine}: 8x4 RGB out");
        assert_eq!((&map[..3], &map[6..9]), (&pixels[..3], &pixels[3..6]), "{engine}");
    }
}
