//! GStreamer helpers for the tests that check real video files (video, cluster, slurm):
//! pull every buffer of a pipeline, run a fixture pipeline to EOS, checksum buffers.

use gstreamer as gst;
use gstreamer::prelude::*;

/// Every sample of the appsink named `sink` in a gst-launch style description; an error
/// on the bus fails the test.
pub fn pull_all(desc: &str) -> Vec<gst::Sample> {
    gst::init().unwrap();
    let pipeline = gst::parse::launch(desc).unwrap().downcast::<gst::Pipeline>().unwrap();
    let sink = pipeline.by_name("sink").unwrap();
    sink.set_property("sync", false);
    pipeline.set_state(gst::State::Playing).unwrap();
    let mut samples = Vec::new();
    while let Some(sample) = sink.emit_by_name::<Option<gst::Sample>>("pull-sample", &[]) {
        samples.push(sample);
    }
    let error = pipeline.bus().unwrap().pop_filtered(&[gst::MessageType::Error]);
    pipeline.set_state(gst::State::Null).unwrap();
    assert!(error.is_none(), "{desc}: {error:?}");
    samples
}

/// Runs a pipeline that ends in a filesink to EOS (fixtures), within 60 s.
pub fn run_to_eos(desc: &str) {
    gst::init().unwrap();
    let pipeline = gst::parse::launch(desc).unwrap().downcast::<gst::Pipeline>().unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    let msg = pipeline
        .bus()
        .unwrap()
        .timed_pop_filtered(gst::ClockTime::from_seconds(60), &[gst::MessageType::Eos, gst::MessageType::Error]);
    pipeline.set_state(gst::State::Null).unwrap();
    assert!(matches!(msg.as_ref().map(|m| m.view()), Some(gst::MessageView::Eos(_))), "{desc}: {msg:?}");
}

/// FNV-1a: enough to tell buffers apart.
pub fn hash(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3))
}

/// FNV-1a of a sample's data.
pub fn data_hash(sample: &gst::Sample) -> u64 {
    hash(&sample.buffer().unwrap().map_readable().unwrap())
}

/// (pts, FNV-1a of the data) of every buffer at the appsink named `sink` of `desc`.
pub fn checksums(desc: &str) -> Vec<(u64, u64)> {
    pull_all(desc).iter().map(|s| (s.buffer().unwrap().pts().unwrap().nseconds(), data_hash(s))).collect()
}
