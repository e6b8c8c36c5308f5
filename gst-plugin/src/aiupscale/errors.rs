//! Core errors at the element's boundary: the GStreamer error domain for each, and the
//! full source chain for the debug part of a message.

use aiupscale_core::{CoreError, ErrorKind};
use gstreamer as gst;

/// An error and its sources, for the debug part of an error message (the message
/// itself is the core's own text).
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// The GStreamer error domain for a core error from loading a model or checking the
/// configuration against it, by category: a new category must be placed here.
pub fn load_error(e: &CoreError) -> gst::ErrorMessage {
    let (text, debug) = (e.to_string(), error_chain(e));
    match e.kind() {
        // The engine library, device or precision this machine cannot provide.
        ErrorKind::Setup => gst::error_msg!(gst::LibraryError::Init, ("{}", text), ["{}", debug]),
        // Not in the catalog or cache, missing, corrupt, or not an image model.
        ErrorKind::Model => gst::error_msg!(gst::ResourceError::OpenRead, ("{}", text), ["{}", debug]),
        // A property (tile-size …) that does not suit the model or the stream.
        ErrorKind::Parameter | ErrorKind::Limits => {
            gst::error_msg!(gst::ResourceError::Settings, ("{}", text), ["{}", debug])
        }
        ErrorKind::Cancelled => gst::error_msg!(gst::CoreError::StateChange, ("{}", text), ["{}", debug]),
        // The first runs that measure the model's scale failed.
        ErrorKind::Inference => gst::error_msg!(gst::ResourceError::Failed, ("{}", text), ["{}", debug]),
    }
}
