//! Core errors at the element's boundary: the GStreamer error domain for each, and the
//! full source chain for the debug part of a message.

use aiupscale_core::CoreError;
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
/// configuration against it.
pub fn load_error(e: &CoreError) -> gst::ErrorMessage {
    let (text, debug) = (e.to_string(), error_chain(e));
    match e {
        CoreError::RuntimeNotFound { .. } | CoreError::RuntimeLoad { .. } => {
            gst::error_msg!(gst::LibraryError::Init, ("{}", text), ["{}", debug])
        }
        CoreError::DeviceUnavailable { .. } | CoreError::InvalidTiling { .. } => {
            gst::error_msg!(gst::ResourceError::Settings, ("{}", text), ["{}", debug])
        }
        CoreError::ModelFileMissing { .. } | CoreError::Model(_) => {
            gst::error_msg!(gst::ResourceError::NotFound, ("{}", text), ["{}", debug])
        }
        _ => gst::error_msg!(gst::ResourceError::OpenRead, ("{}", text), ["{}", debug]),
    }
}
