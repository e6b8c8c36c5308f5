//! What the video tests share: the real clips, GStreamer readers of the outputs
//! (pts, audio packets, decoded frames), ffprobe, and `aiupscale video` runs.

use std::{
    path::{Path, PathBuf},
    process::{Command, Output},
};

use gstreamer as gst;

use super::{
    assert_ok,
    media::{data_hash, pull_all},
    Env,
};

pub fn media(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../.deps/media/video").join(name)
}

pub fn demuxer(path: &Path) -> &'static str {
    match path.extension().unwrap().to_str().unwrap() {
        "mkv" => "matroskademux",
        _ => "qtdemux",
    }
}

/// Sorted pts of the video stream, without decoding.
pub fn video_pts(path: &Path) -> Vec<u64> {
    let desc = format!("filesrc location={} ! {} name=d d.video_0 ! appsink name=sink", path.display(), demuxer(path));
    let mut pts: Vec<u64> = pull_all(&desc).iter().map(|s| s.buffer().unwrap().pts().unwrap().nseconds()).collect();
    pts.sort_unstable();
    pts
}

/// Checksums of the demuxed audio packets.
pub fn audio_hashes(path: &Path) -> Vec<u64> {
    let desc = format!("filesrc location={} ! {} name=d d.audio_0 ! appsink name=sink", path.display(), demuxer(path));
    pull_all(&desc).iter().map(data_hash).collect()
}

/// (pts, checksum) of every decoded frame, I420, and the caps.
pub fn decoded(path: &Path) -> (Vec<(u64, u64)>, gst::Caps) {
    let desc = format!(
        "filesrc location={} ! {} name=d d.video_0 ! decodebin ! videoconvert ! video/x-raw,format=I420 ! appsink name=sink",
        path.display(),
        demuxer(path)
    );
    let samples = pull_all(&desc);
    let caps = samples[0].caps().unwrap().to_owned();
    (samples.iter().map(|s| (s.buffer().unwrap().pts().unwrap().nseconds(), data_hash(s))).collect(), caps)
}

/// A work folder's plan.json.
pub fn read_plan(parts: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(parts.join("plan.json")).unwrap()).unwrap()
}

pub fn caps_int(caps: &gst::Caps, field: &str) -> i32 {
    caps.structure(0).unwrap().get::<i32>(field).unwrap()
}

pub fn par(caps: &gst::Caps) -> gst::Fraction {
    caps.structure(0).unwrap().get::<gst::Fraction>("pixel-aspect-ratio").unwrap_or(gst::Fraction::new(1, 1))
}

impl Env {
    pub fn video(&self, args: &[&str]) -> Output {
        let mut all = vec!["video"];
        all.extend_from_slice(args);
        self.run(&all)
    }

    /// `aiupscale video IN NAME` at scale 1 into ffv1 (lossless, so frame checksums compare),
    /// in segments of `segment_frames`, keeping the work folder for its plan.
    pub fn segmented(&self, input: &Path, name: &str, segment_frames: &str, extra: &[&str]) -> PathBuf {
        let out = self.path(name);
        let nearest = self.nearest();
        let mut args = vec![input.to_str().unwrap(), out.to_str().unwrap(), "--model", &nearest, "--scale", "1"];
        args.extend(["--codec", "ffv1", "--segment-frames", segment_frames, "--keep-parts"]);
        args.extend_from_slice(extra);
        assert_ok(&self.video(&args));
        out
    }

    /// The plan of a job kept with `--keep-parts`.
    pub fn plan(&self, name: &str) -> serde_json::Value {
        read_plan(&self.path(&format!("{name}.parts")))
    }

    /// A kept plan's segments as (first frame, starts at a scene change, preroll frames).
    pub fn segments(&self, name: &str) -> Vec<(u64, bool, u64)> {
        let plan = self.plan(name);
        let segment = |s: &serde_json::Value| {
            let first = s["first_frame"].as_u64().unwrap();
            (first, s["scene_cut"].as_bool().unwrap(), s["preroll_frames"].as_u64().unwrap())
        };
        plan["segments"].as_array().unwrap().iter().map(segment).collect()
    }

    /// `aiupscale video IN OUT` with the nearest-neighbour fixture at scale 1 and a fast
    /// encoder: the tests where the model is not the point.
    pub fn copy_video(&self, input: &Path, out: &Path) -> Output {
        let nearest = self.nearest();
        let (input, out) = (input.to_str().unwrap(), out.to_str().unwrap());
        self.video(&[input, out, "--model", &nearest, "--scale", "1", "--preset", "ultrafast"])
    }
}

/// ffprobe's JSON for `args` on `path`.
pub fn probe(path: &Path, args: &[&str]) -> serde_json::Value {
    let o = Command::new("ffprobe").args(["-v", "error", "-of", "json"]).args(args).arg(path).output().unwrap();
    assert_ok(&o);
    serde_json::from_slice(&o.stdout).unwrap()
}
