//! Mapped GStreamer frames to core images and back, per negotiated stream.

use aiupscale_core::{
    add_grain,
    color::{self, RGB_F32},
    ChromaSiting, Control, CoreError, ErrorKind, FrameUpscaler, Grain, Image, ImageMut, ImageRef, YuvColor, YuvMut,
    YuvRef,
};
use gstreamer as gst;
use gstreamer_video as gst_video;
use gstreamer_video::prelude::*;

use super::{
    caps::{frame_kind, yuv_color, FrameKind},
    errors::error_chain,
};

/// What one negotiated stream needs: how to read its frames, and scratch images for
/// YUV (reused while the sizes stay the same).
pub struct StreamConverter {
    kind: FrameKind,
    yuv: Option<(YuvColor, ChromaSiting)>,
    rgb_in: Option<Image>,
    rgb_out: Option<Image>,
}

/// A failure while upscaling one frame.
pub enum FrameError {
    /// Flushing or stopping cancelled the frame: not an error.
    Cancelled,
    /// Anything else: the text for the bus, and the full error chain.
    Failed { message: String, debug: String },
}

impl FrameError {
    fn failed(message: String) -> Self {
        FrameError::Failed { debug: message.clone(), message }
    }
}

impl From<CoreError> for FrameError {
    fn from(e: CoreError) -> Self {
        if e.kind() == ErrorKind::Cancelled {
            FrameError::Cancelled
        } else {
            FrameError::Failed { message: e.to_string(), debug: error_chain(&e) }
        }
    }
}

impl From<gst::glib::BoolError> for FrameError {
    fn from(e: gst::glib::BoolError) -> Self {
        FrameError::failed(format!("cannot access a mapped frame: {e}"))
    }
}

fn strides(frame_strides: &[i32]) -> Result<Vec<usize>, FrameError> {
    frame_strides
        .iter()
        .map(|&s| {
            usize::try_from(s).map_err(|_| FrameError::failed(format!("negative row stride {s} is not supported")))
        })
        .collect()
}

impl StreamConverter {
    pub fn new(info: &gst_video::VideoInfo) -> Result<Self, String> {
        let kind = frame_kind(info.format()).ok_or_else(|| format!("format {} is not supported", info.format()))?;
        let yuv = match kind {
            FrameKind::Yuv(_) => Some(yuv_color(info)?),
            FrameKind::Packed(_) => None,
        };
        Ok(Self { kind, yuv, rgb_in: None, rgb_out: None })
    }

    /// A one-line description for the debug log.
    pub fn describe(&self) -> String {
        match (self.kind, self.yuv) {
            (FrameKind::Yuv(layout), Some((color, siting))) => format!(
                "{} via float RGB ({} {:?} range, chroma {}-sited)",
                layout.name(),
                color.matrix.name(),
                color.range,
                if siting.h_cosited { "co" } else { "centre" }
            ),
            (kind, _) => format!("{kind:?} directly"),
        }
    }

    /// Upscales `inframe` into `outframe` (same format, the output's size), then adds
    /// `grain` if any.
    pub fn process(
        &mut self,
        upscaler: &mut FrameUpscaler,
        inframe: &gst_video::VideoFrameRef<&gst::BufferRef>,
        outframe: &mut gst_video::VideoFrameRef<&mut gst::BufferRef>,
        grain: Option<Grain>,
        control: &mut Control<'_>,
    ) -> Result<(), FrameError> {
        let (iw, ih) = (inframe.width(), inframe.height());
        let (ow, oh) = (outframe.width(), outframe.height());
        match self.kind {
            FrameKind::Packed(format) => {
                let in_stride = strides(inframe.plane_stride())?[0];
                let out_stride = strides(outframe.plane_stride())?[0];
                let src = ImageRef::new(inframe.plane_data(0)?, iw, ih, in_stride, format)?;
                let mut dst = ImageMut::new(outframe.plane_data_mut(0)?, ow, oh, out_stride, format)?;
                upscaler.process(&src, &mut dst, control)?;
                if let Some(grain) = grain {
                    add_grain(&mut dst, grain);
                }
            }
            FrameKind::Yuv(layout) => {
                let (color, siting) = self.yuv.expect("YUV streams carry their colorimetry");
                let rgb_in = scratch(&mut self.rgb_in, iw, ih)?;
                let in_strides = strides(inframe.plane_stride())?;
                let planes = inframe.planes_data();
                let src = YuvRef::new(layout, iw, ih, &planes[..layout.plane_count()], &in_strides)?;
                color::yuv_to_rgb(&src, color, siting, rgb_in)?;
                let rgb_out = scratch(&mut self.rgb_out, ow, oh)?;
                upscaler.process(&rgb_in.as_ref(), &mut rgb_out.as_mut(), control)?;
                if let Some(grain) = grain {
                    add_grain(&mut rgb_out.as_mut(), grain);
                }
                let out_strides = strides(outframe.plane_stride())?;
                let planes: Vec<&mut [u8]> =
                    outframe.planes_data_mut().into_iter().take(layout.plane_count()).collect();
                let mut dst = YuvMut::new(layout, ow, oh, planes, &out_strides)?;
                color::rgb_to_yuv(&rgb_out.as_ref(), color, siting, &mut dst)?;
            }
        }
        Ok(())
    }
}

/// The scratch float RGB image of `width` x `height`, reallocated when the size changes.
fn scratch(slot: &mut Option<Image>, width: u32, height: u32) -> Result<&mut Image, CoreError> {
    if slot.as_ref().is_none_or(|i| (i.width(), i.height()) != (width, height)) {
        *slot = Some(Image::new(width, height, RGB_F32)?);
    }
    Ok(slot.as_mut().expect("just filled"))
}
