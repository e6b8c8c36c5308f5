//! Upscales a video file into an MP4 (H.264, plus AAC when the input has audio) with a
//! pipeline built in code around the `aiupscale` element:
//!
//! ```text
//! filesrc ! decodebin ─┬─ queue ! videoconvert ! deinterlace ! aiupscale ! videoconvert ! x264enc ! queue ─┬─ mp4mux ! filesink
//!                      └─ queue ! audioconvert ! audioresample ! avenc_aac ! queue ───────────────────────┘
//! ```
//!
//! Run it (the element is registered in-process, no installation needed):
//!
//! ```text
//! cargo run --release -p gst-plugin-aiupscale --example upscale_file -- IN OUT [SCALE] [MODEL]
//! cargo run --release -p gst-plugin-aiupscale --example upscale_file -- \
//!     .deps/media/video/carphone_pristine.mp4 out/carphone_x2.mp4 2 anime4k-x2-s-rl
//! ```
//!
//! SCALE defaults to 2; MODEL (catalog name or .onnx path) to the catalog's video model
//! for SCALE.

use std::{
    process::ExitCode,
    sync::{Arc, Mutex},
    time::Instant,
};

use gstreamer as gst;
use gstreamer::prelude::*;

fn make(factory: &str) -> Result<gst::Element, String> {
    gst::ElementFactory::make(factory)
        .build()
        .map_err(|_| format!("element {factory} is missing; install the GStreamer plugins"))
}

/// Adds `chain` to `pipeline`, links it in order, starts it and links `pad` to its head
/// and its tail to `mux`.
fn attach(pipeline: &gst::Pipeline, pad: &gst::Pad, chain: &[gst::Element], mux: &gst::Element) -> Result<(), String> {
    pipeline.add_many(chain).map_err(|e| e.to_string())?;
    gst::Element::link_many(chain).map_err(|e| e.to_string())?;
    chain.last().unwrap().link(mux).map_err(|e| format!("cannot link to the muxer: {e}"))?;
    for element in chain {
        element.sync_state_with_parent().map_err(|e| e.to_string())?;
    }
    let head = chain[0].static_pad("sink").unwrap();
    pad.link(&head).map(|_| ()).map_err(|e| format!("cannot link the decoder: {e}"))
}

fn run(input: &str, output: &str, scale: f64, model: Option<&str>) -> Result<(), String> {
    gst::init().map_err(|e| e.to_string())?;
    gstaiupscale::plugin_register_static().map_err(|e| e.to_string())?;

    let pipeline = gst::Pipeline::new();
    let src = gst::ElementFactory::make("filesrc").property("location", input).build().map_err(|e| e.to_string())?;
    let decode = make("decodebin")?;
    let mux = make("mp4mux")?;
    let sink = gst::ElementFactory::make("filesink").property("location", output).build().map_err(|e| e.to_string())?;
    pipeline.add_many([&src, &decode, &mux, &sink]).map_err(|e| e.to_string())?;
    src.link(&decode).map_err(|e| e.to_string())?;
    mux.link(&sink).map_err(|e| e.to_string())?;

    // Where the upscaler is, to read its output size once negotiated.
    let upscaler: Arc<Mutex<Option<gst::Element>>> = Arc::default();
    let model = model.map(str::to_owned);
    let weak = pipeline.downgrade();
    let (mux_for_pads, upscaler_slot) = (mux.clone(), upscaler.clone());
    decode.connect_pad_added(move |_, pad| {
        let Some(pipeline) = weak.upgrade() else { return };
        let caps = pad.current_caps().unwrap_or_else(|| pad.query_caps(None));
        let kind = caps.structure(0).map(|s| s.name().to_string()).unwrap_or_default();
        let result = if kind.starts_with("video/x-raw") {
            (|| {
                let aiupscale = gst::ElementFactory::make("aiupscale")
                    .property("scale", scale)
                    .property("model", model.clone())
                    .build()
                    .map_err(|e| e.to_string())?;
                let encoder = gst::ElementFactory::make("x264enc").property_from_str("speed-preset", "medium").build();
                let chain = [
                    make("queue")?,
                    make("videoconvert")?,
                    make("deinterlace")?,
                    aiupscale.clone(),
                    make("videoconvert")?,
                    encoder.map_err(|_| "element x264enc is missing (gstreamer1.0-plugins-ugly)".to_string())?,
                    make("queue")?,
                ];
                *upscaler_slot.lock().unwrap() = Some(aiupscale);
                attach(&pipeline, pad, &chain, &mux_for_pads)
            })()
        } else if kind.starts_with("audio/x-raw") {
            (|| {
                let chain =
                    [make("queue")?, make("audioconvert")?, make("audioresample")?, make("avenc_aac")?, make("queue")?];
                attach(&pipeline, pad, &chain, &mux_for_pads)
            })()
        } else {
            eprintln!("ignoring a {kind} stream");
            Ok(())
        };
        if let Err(e) = result {
            gst::element_error!(pipeline, gst::CoreError::Negotiation, ("{}", e));
        }
    });

    let started = Instant::now();
    pipeline.set_state(gst::State::Playing).map_err(|_| {
        let bus = pipeline.bus().unwrap();
        let reason = std::iter::from_fn(|| bus.pop()).find_map(|m| match m.view() {
            gst::MessageView::Error(e) => Some(e.error().to_string()),
            _ => None,
        });
        reason.unwrap_or_else(|| "the pipeline did not start".into())
    })?;
    let bus = pipeline.bus().unwrap();
    let result = loop {
        match bus.timed_pop_filtered(gst::ClockTime::SECOND, &[gst::MessageType::Eos, gst::MessageType::Error]) {
            Some(msg) => match msg.view() {
                gst::MessageView::Eos(_) => break Ok(()),
                gst::MessageView::Error(e) => break Err(format!("{} ({})", e.error(), e.debug().unwrap_or_default())),
                _ => (),
            },
            None => {
                let position = pipeline.query_position::<gst::ClockTime>();
                let duration = pipeline.query_duration::<gst::ClockTime>();
                if let (Some(p), Some(d)) = (position, duration) {
                    eprint!("\r{:.1} / {:.1} s", p.seconds_f64(), d.seconds_f64());
                }
            }
        }
    };
    let elapsed = started.elapsed();
    let size =
        upscaler.lock().unwrap().as_ref().and_then(|u| u.static_pad("src").and_then(|p| p.current_caps())).and_then(
            |c| c.structure(0).map(|s| (s.get::<i32>("width").unwrap_or(0), s.get::<i32>("height").unwrap_or(0))),
        );
    pipeline.set_state(gst::State::Null).map_err(|e| e.to_string())?;
    result?;
    let duration = gst::ClockTime::from_nseconds(elapsed.as_nanos() as u64);
    match size {
        Some((w, h)) => eprintln!("\nwrote {output} ({w}x{h}) in {duration:.1}"),
        None => eprintln!("\nwrote {output} in {duration:.1}"),
    }
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 3 || args.len() > 5 {
        eprintln!("usage: {} IN OUT [SCALE] [MODEL]", args[0]);
        return ExitCode::from(2);
    }
    let scale = match args.get(3).map(|s| s.parse::<f64>()) {
        None => 2.0,
        Some(Ok(s)) if (1.0..=16.0).contains(&s) => s,
        _ => {
            eprintln!("SCALE must be a number from 1 to 16");
            return ExitCode::from(2);
        }
    };
    match run(&args[1], &args[2], scale, args.get(4).map(String::as_str)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
