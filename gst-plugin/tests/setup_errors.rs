//! Set-up errors reach the bus with the core's own instructions. A test binary of its
//! own: it changes the environment (model cache, ONNX Runtime path) for the process.

mod common;

use std::time::Duration;

use common::{init, run_to_end, tiny};
use gstreamer as gst;

#[test]
fn unfetched_model_and_missing_runtime_say_what_to_run() {
    let empty_cache = tempfile::tempdir().unwrap();
    // Before GStreamer or ONNX Runtime start any thread; nothing else runs in this process.
    std::env::set_var("AIUPSCALE_MODEL_DIR", empty_cache.path());
    // Offline: the element's start gives the error naming the fetch command, not a fetch.
    std::env::set_var("AIUPSCALE_OFFLINE", "1");
    std::env::set_var("AIUPSCALE_ORT_LIB", "/nonexistent/libonnxruntime.so.1.31.1");
    init();

    // A catalog model that is not in the cache: the fetch command, by name.
    let pipeline =
        gst::parse::launch("videotestsrc num-buffers=1 ! aiupscale model=anime4k-x2-s-rl ! fakesink").unwrap();
    let err = run_to_end(&pipeline, Duration::from_secs(20)).unwrap_err();
    assert!(err.contains("aiupscale models fetch anime4k-x2-s-rl"), "{err}");

    // No model named: the catalog's model for the content (footage by default) and scale.
    let pipeline = gst::parse::launch("videotestsrc num-buffers=1 ! aiupscale scale=3 ! fakesink").unwrap();
    let err = run_to_end(&pipeline, Duration::from_secs(20)).unwrap_err();
    assert!(err.contains("aiupscale models fetch span-footage-blend-x2"), "{err}");
    let pipeline =
        gst::parse::launch("videotestsrc num-buffers=1 ! aiupscale scale=3 content=animation ! fakesink").unwrap();
    let err = run_to_end(&pipeline, Duration::from_secs(20)).unwrap_err();
    assert!(err.contains("aiupscale models fetch realesr-animevideov3-x3"), "{err}");

    // An unknown name lists the known ones.
    let pipeline = gst::parse::launch("videotestsrc num-buffers=1 ! aiupscale model=no-such-model ! fakesink").unwrap();
    let err = run_to_end(&pipeline, Duration::from_secs(20)).unwrap_err();
    assert!(err.contains("no-such-model") && err.contains("realesrgan-x4plus"), "{err}");

    // ONNX Runtime missing (asked for by name; `auto` would run OpenVINO): the set-up script.
    let pipeline = gst::parse::launch(&format!(
        "videotestsrc num-buffers=1 ! aiupscale engine=ort model={} ! fakesink",
        tiny("nearest_x2")
    ))
    .unwrap();
    let err = run_to_end(&pipeline, Duration::from_secs(20)).unwrap_err();
    assert!(err.contains("scripts/setup") && err.contains("AIUPSCALE_ORT_LIB"), "{err}");
}
