//! What a container holds besides its streams' packets: global tags (title, ...) and
//! chapters (a TOC), read from the source before a merge so they reach OUT even when
//! no stream of the source but its video (which is replaced) would carry them.

use std::{
    path::Path,
    sync::{Arc, Mutex},
};

use anyhow::{Context, Result};
use gstreamer as gst;
use gstreamer::prelude::*;

use super::gst::{self as g, Running};

#[derive(Debug, Default)]
pub struct Extras {
    /// The source's global tags.
    pub tags: Option<gst::TagList>,
    pub toc: Option<gst::Toc>,
}

/// Prerolls the source's demuxer and keeps the global tag and TOC events it sends
/// (demuxers send them before the first packet); `streams`: how many the source has
/// (the plan's, video included).
pub fn read(source: &Path, streams: usize) -> Result<Extras> {
    g::init()?;
    let pipeline = Running(gst::Pipeline::new());
    let filesrc = g::make("filesrc")?;
    filesrc.set_property("location", source);
    let parsebin = g::make("parsebin")?;
    pipeline.add_many([&filesrc, &parsebin])?;
    filesrc.link(&parsebin)?;
    let found = Arc::new(Mutex::new(Extras::default()));
    let sinks = Arc::new(Mutex::new(Vec::new()));
    let weak = pipeline.0.downgrade();
    let (seen, added) = (found.clone(), sinks.clone());
    parsebin.connect_pad_added(move |_, pad| {
        let Some(pipeline) = weak.upgrade() else { return };
        let seen = seen.clone();
        pad.add_probe(gst::PadProbeType::EVENT_DOWNSTREAM, move |_, info| {
            if let Some(event) = info.event() {
                note(&mut seen.lock().unwrap_or_else(|e| e.into_inner()), event);
            }
            gst::PadProbeReturn::Ok
        });
        // A sink that prerolls, so waiting for its state waits for the first packet.
        let Ok(sink) = g::make("fakesink") else { return };
        let _ = pipeline.add(&sink);
        let _ = sink.sync_state_with_parent();
        let _ = pad.link(&sink.static_pad("sink").expect("fakesink has a sink pad"));
        added.lock().unwrap_or_else(|e| e.into_inner()).push(sink);
    });
    // Playing, not Paused: without a sink the pipeline counts as prerolled at once and
    // parsebin (1.22) then never typefinds. The sinks sync to the clock, so little
    // beyond the first packets is read before the pipeline is dropped.
    g::set_state(&pipeline, gst::State::Playing).with_context(|| format!("cannot read {}", source.display()))?;
    // parsebin exposes the streams from its own thread (and emits no no-more-pads):
    // wait for all of them, then for each one's preroll.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while sinks.lock().unwrap_or_else(|e| e.into_inner()).len() < streams {
        g::bus_error(&pipeline).with_context(|| format!("cannot read {}", source.display()))?;
        if std::time::Instant::now() > deadline {
            // Tags and chapters only: the job goes on without them, saying so.
            eprintln!(
                "warning: {} exposed fewer than {streams} streams within 60 s: its tags and chapters are not read",
                source.display()
            );
            return Ok(Extras::default());
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let sinks = std::mem::take(&mut *sinks.lock().unwrap_or_else(|e| e.into_inner()));
    for sink in &sinks {
        let _ = sink.state(gst::ClockTime::from_seconds(60));
    }
    let mut found = std::mem::take(&mut *found.lock().unwrap_or_else(|e| e.into_inner()));
    // Events already on a pad when parsebin exposed it (sticky) never pass the probe;
    // after preroll each sink holds them.
    for pad in sinks.iter().filter_map(|s| s.static_pad("sink")) {
        pad.sticky_events_foreach(|event| {
            note(&mut found, event);
            std::ops::ControlFlow::Continue(gst::EventForeachAction::Keep)
        });
    }
    drop(pipeline);
    Ok(found)
}

/// Keeps a TOC (the first) and global tags from an event.
fn note(seen: &mut Extras, event: &gst::Event) {
    match event.view() {
        gst::EventView::Toc(toc) if seen.toc.is_none() => seen.toc = Some(toc.toc_owned().0),
        gst::EventView::Tag(tag) if tag.tag().scope() == gst::TagScope::Global => {
            let tags = seen.tags.get_or_insert_with(gst::TagList::new);
            tags.make_mut().insert(tag.tag(), gst::TagMergeMode::Keep);
        }
        _ => (),
    }
}

/// Puts the source's tags and (with `chapters`) its chapters on a muxer (before it
/// writes its header).
pub fn apply(mux: &gst::Element, extras: &Extras, chapters: bool) {
    if let (Some(setter), Some(tags)) = (mux.dynamic_cast_ref::<gst::TagSetter>(), &extras.tags) {
        setter.merge_tags(tags, gst::TagMergeMode::Replace);
    }
    if let (Some(setter), Some(toc), true) = (mux.dynamic_cast_ref::<gst::TocSetter>(), &extras.toc, chapters) {
        setter.set_toc(Some(toc));
    }
}

/// The caps a copied stream is muxed with: 1.22's matroskademux labels SRT/UTF-8 text
/// `pango-markup` (escaping `&<>` of text without markup tags) where matroskamux takes
/// `utf8`; the packets are the same.
pub fn mux_caps(caps: &gst::Caps) -> Option<gst::Caps> {
    let s = caps.structure(0)?;
    (s.name() == "text/x-raw" && s.get::<&str>("format").ok() == Some("pango-markup"))
        .then(|| gst::Caps::builder("text/x-raw").field("format", "utf8").build())
}

/// Undoes what 1.22's matroskademux does to `pango-markup` subtitle text, so the
/// packets reach OUT as the source holds them: until a chunk has a markup tag (then
/// never again) it escapes each chunk with `g_markup_escape_text`.
pub fn unescape_subtitles(pad: &gst::Pad) {
    let seen_tag = std::sync::atomic::AtomicBool::new(false);
    pad.add_probe(gst::PadProbeType::BUFFER, move |_, info| {
        if seen_tag.load(std::sync::atomic::Ordering::Relaxed) {
            return gst::PadProbeReturn::Ok;
        }
        let Some(buffer) = info.buffer_mut() else { return gst::PadProbeReturn::Ok };
        let Some(text) = buffer.map_readable().ok().and_then(|m| std::str::from_utf8(&m).ok().map(unescape)) else {
            return gst::PadProbeReturn::Ok;
        };
        if has_tag(&text) {
            // The demuxer saw a tag here and passed the chunk (and all after it) as it was.
            seen_tag.store(true, std::sync::atomic::Ordering::Relaxed);
            return gst::PadProbeReturn::Ok;
        }
        let mut original = gst::Buffer::from_mut_slice(text.into_bytes());
        {
            let original = original.get_mut().expect("a new buffer is writable");
            let _ = buffer.copy_into(original, gst::BufferCopyFlags::TIMESTAMPS | gst::BufferCopyFlags::FLAGS, ..);
        }
        *buffer = original;
        gst::PadProbeReturn::Ok
    });
}

/// The demuxer's test for markup (`gst_matroska_demux_subtitle_chunk_has_tag`): the
/// first `<X>` decides (b, i, u, s: markup), else `<span` anywhere.
fn has_tag(text: &str) -> bool {
    let bytes = text.as_bytes();
    for (i, _) in text.match_indices('<') {
        if let (Some(&tag), Some(b'>')) = (bytes.get(i + 1), bytes.get(i + 2)) {
            return matches!(tag, b'b' | b'i' | b'u' | b's');
        }
    }
    text.contains("<span")
}

/// The inverse of `g_markup_escape_text`: the five entities and `&#xNN;`.
fn unescape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        let Some(end) = rest.find(';') else { break };
        let entity = &rest[1..end];
        let c = match entity {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            _ => entity.strip_prefix("#x").and_then(|h| u32::from_str_radix(h, 16).ok()).and_then(char::from_u32),
        };
        match c {
            Some(c) => {
                out.push(c);
                rest = &rest[end + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unescape_inverts_glib_escaping() {
        assert_eq!(
            unescape("Tom &amp; Jerry &lt;3 &gt; &quot;a&quot; &apos;b&apos; &#x1;"),
            "Tom & Jerry <3 > \"a\" 'b' \u{1}"
        );
        assert_eq!(unescape("a & b; &zz; c"), "a & b; &zz; c");
        assert!(has_tag("<i>Second</i> line") && !has_tag("Tom & Jerry <3") && !has_tag("<x> <i>"));
    }
}
