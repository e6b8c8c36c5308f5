//! Codecs and containers of `aiupscale video`.
//!
//! - x264 (default, CRF 16) and x265 (CRF 18): without B-frames, so every segment's
//!   decode timestamps equal its presentation timestamps and segments join with exact
//!   timing; x264 is deterministic, so a resumed job decodes to the same frames.
//! - ffv1 (lossless, Matroska only) and ProRes (prores_ks, Matroska and QuickTime).
//!
//! Segments are Matroska files with a 1 ns timestamp scale (exact pts); OUT's container
//! follows its extension: .mkv (Matroska), .mp4 (MP4: x264, x265), .mov (QuickTime:
//! x264, x265, ProRes).

use std::path::Path;

use anyhow::Result;
use gstreamer as gst;
use gstreamer::prelude::*;

use super::{
    cli::{value_name, Codec},
    gst::make,
    plan::Settings,
};
use crate::cli::usage;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Container {
    Matroska,
    Mp4,
    QuickTime,
}

impl Container {
    /// The container of OUT from its extension; anything else is a usage error.
    pub fn of(path: &Path) -> Result<Self> {
        let ext = path.extension().map(|e| e.to_string_lossy().to_ascii_lowercase()).unwrap_or_default();
        match ext.as_str() {
            "mkv" => Ok(Container::Matroska),
            "mp4" | "m4v" => Ok(Container::Mp4),
            "mov" => Ok(Container::QuickTime),
            _ => Err(usage(format!(
                "cannot tell the container of {} from its extension {ext:?}: use .mkv, .mp4 or .mov",
                path.display()
            ))),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Container::Matroska => "mkv",
            Container::Mp4 => "mp4",
            Container::QuickTime => "mov",
        }
    }

    /// Refuses a codec the container cannot hold (a usage error, before any work).
    pub fn check(self, codec: Codec) -> Result<()> {
        let ok = match self {
            Container::Matroska => true,
            Container::Mp4 => matches!(codec, Codec::X264 | Codec::X265),
            Container::QuickTime => matches!(codec, Codec::X264 | Codec::X265 | Codec::Prores),
        };
        if ok {
            Ok(())
        } else {
            Err(usage(format!(
                "a .{} file cannot hold {}; use .mkv{}",
                self.name(),
                value_name(&codec),
                if codec == Codec::Prores { " or .mov" } else { "" }
            )))
        }
    }

    pub fn muxer(self) -> Result<gst::Element> {
        make(match self {
            Container::Matroska => "matroskamux",
            Container::Mp4 => "mp4mux",
            Container::QuickTime => "qtmux",
        })
    }
}

/// x264 encoder threads on every machine (encoding is ~1% of a frame's time beside the model).
const X264_THREADS: u32 = 4;

/// The encoder chain (encoder, then a parser where the muxer wants one) for the
/// settings, with `threads` encoder threads (0 = automatic).
pub fn encoder(settings: &Settings) -> Result<Vec<gst::Element>> {
    Ok(match settings.codec() {
        Codec::X264 => {
            let enc = make("x264enc")?;
            enc.set_property_from_str("pass", "qual");
            enc.set_property("quantizer", u32::from(settings.crf.unwrap_or(16)));
            enc.set_property_from_str("speed-preset", &settings.preset);
            enc.set_property("bframes", 0u32);
            enc.set_property("b-adapt", false);
            // x264's bitstream depends on its thread count, which defaults to the machine's
            // CPU count: fixed, a segment is the same bytes on every node of a cluster.
            enc.set_property("threads", X264_THREADS);
            vec![enc, make("h264parse")?]
        }
        Codec::X265 => {
            let enc = make("x265enc")?;
            enc.set_property_from_str("speed-preset", &settings.preset);
            enc.set_property("option-string", format!("crf={}:bframes=0", settings.crf.unwrap_or(18)));
            vec![enc, make("h265parse")?]
        }
        // ffv1 protects its slices with CRCs by default: damage in an archive shows.
        Codec::Ffv1 => vec![make("avenc_ffv1")?],
        Codec::Prores => vec![make("avenc_prores_ks")?],
    })
}

/// A muxer for segments: Matroska with nanosecond timestamps.
pub fn segment_muxer() -> Result<gst::Element> {
    let mux = make("matroskamux")?;
    mux.set_property("timecodescale", 1i64);
    Ok(mux)
}
