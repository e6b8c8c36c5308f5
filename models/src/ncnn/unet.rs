//! The layers of the U-Nets with squeeze-and-excitation blocks (Real-CUGAN, waifu2x
//! CUNet): Pooling, InnerProduct, Scale and Crop.
//!
//! A globally pooled blob is ncnn's 1-D vector of C values; here it stays [1,C,1,1] so
//! that multiplying a feature map by it broadcasts per channel, as ncnn's BinaryOp and
//! Scale do. Its `scale` is (0, 0): one value per image, not per pixel, so the layers
//! that read it add nothing to the per-pixel FLOP count.

use super::lower::{at_least, ctx, Blob, Lowering, Res};
use super::param::Layer;
use crate::onnx::Attr;

/// ncnn's "unset" marker in Crop's starts/ends arrays and Scale's size.
const UNSET: i32 = -233;

/// Scale and Crop take their second operand from a blob or from their params.
fn one_or_two_inputs(layer: &Layer, inputs: &[Blob]) -> Res<()> {
    if inputs.is_empty() || inputs.len() > 2 || layer.outputs.len() != 1 {
        return Err(format!(
            "{}: has {} inputs and {} outputs, expected 1 or 2 and 1",
            ctx(layer),
            inputs.len(),
            layer.outputs.len()
        ));
    }
    Ok(())
}

fn is_vector(b: &Blob) -> bool {
    b.scale == (0.0, 0.0)
}

impl Lowering<'_> {
    /// Pooling: global (the SE blocks' channel means) or a window with no padding.
    pub(super) fn pooling(&mut self, layer: &Layer, x: &Blob) -> Res<Blob> {
        let p = &layer.params;
        let e = |m: String| format!("{}: {m}", ctx(layer));
        let kind = p.int(0, 0).map_err(e)?;
        let op = match kind {
            0 => "Max",
            1 => "Average",
            other => return Err(format!("{}: pooling_type {other} is not 0 (max) or 1 (average)", ctx(layer))),
        };
        if p.int(7, 0).map_err(e)? != 0 {
            return Err(format!("{}: adaptive pooling (param 7) is not supported", ctx(layer)));
        }
        if is_vector(x) {
            return Err(format!("{}: pooling an already pooled vector is not supported", ctx(layer)));
        }
        if p.int(4, 0).map_err(e)? != 0 {
            let value = self.g.node(&format!("Global{op}Pool"), &[&x.value], vec![]);
            return Ok(Blob { value, channels: x.channels, scale: (0.0, 0.0) });
        }
        let kw = at_least(layer, p.int(1, 0).map_err(e)?, 1, "kernel_w (param 1)")?;
        let kh = at_least(layer, p.int(11, kw as i32).map_err(e)?, 1, "kernel_h (param 11)")?;
        let sw = at_least(layer, p.int(2, 1).map_err(e)?, 1, "stride_w (param 2)")?;
        let sh = at_least(layer, p.int(12, sw as i32).map_err(e)?, 1, "stride_h (param 12)")?;
        let left = p.int(3, 0).map_err(e)?;
        let top = p.int(13, left).map_err(e)?;
        // ONNX order: top, left, bottom, right.
        let pads = [top, left, p.int(15, top).map_err(e)?, p.int(14, left).map_err(e)?];
        let pad_mode = p.int(5, 0).map_err(e)?;
        // ncnn's pad modes 0 (full: the last window may hang over the edge) and 1
        // (valid) agree with ONNX's floor rounding only without padding when every
        // window fits; with max pooling, hanging windows read -inf in both, so ceil
        // rounding reproduces mode 0. Average pooling divides differently there.
        let ceil = match (pad_mode, kind) {
            (1, _) => 0,
            (0, 0) => 1,
            _ => {
                return Err(format!(
                    "{}: pad_mode {pad_mode} with pooling_type {kind} is not supported (valid windows, or max pooling)",
                    ctx(layer)
                ))
            }
        };
        if (pad_mode == 1 && pads.iter().any(|v| *v != 0)) || pads.iter().any(|v| *v < 0) {
            return Err(format!("{}: pads {pads:?} are not supported with pad_mode {pad_mode}", ctx(layer)));
        }
        let value = self.g.node(
            &format!("{op}Pool"),
            &[&x.value],
            vec![
                Attr::Ints("kernel_shape", vec![kh, kw]),
                Attr::Ints("strides", vec![sh, sw]),
                Attr::Ints("pads", pads.iter().map(|v| i64::from(*v)).collect()),
                Attr::Int("ceil_mode", ceil),
            ],
        );
        Ok(Blob { value, channels: x.channels, scale: (x.scale.0 / sh as f64, x.scale.1 / sw as f64) })
    }

    /// InnerProduct on a pooled vector, as a 1x1 convolution ([out][in] weights are
    /// the same bytes as [out][in][1][1]) so the result stays [1,C,1,1].
    pub(super) fn inner_product(&mut self, layer: &Layer, x: &Blob) -> Res<Blob> {
        let p = &layer.params;
        let e = |m: String| format!("{}: {m}", ctx(layer));
        if !is_vector(x) {
            return Err(format!(
                "{}: input {:?} is a feature map; only pooled vectors are supported (flattening an image of unknown size is not)",
                ctx(layer),
                layer.inputs[0]
            ));
        }
        let out = at_least(layer, p.int(0, 0).map_err(e)?, 1, "num_output (param 0)")?;
        let size = at_least(layer, p.int(2, 0).map_err(e)?, 1, "weight_data_size (param 2)")?;
        if p.int(8, 0).map_err(e)? != 0 {
            return Err(format!("{}: int8 quantized weights (param 8) are not supported", ctx(layer)));
        }
        if size % out != 0 {
            return Err(format!("{}: weight_data_size {size} is not a multiple of num_output {out}", ctx(layer)));
        }
        let inputs = size / out;
        if let Some(c) = x.channels.filter(|&c| c != inputs) {
            return Err(format!(
                "{}: weight_data_size {size} implies {inputs} inputs, input blob has {c} channels",
                ctx(layer)
            ));
        }
        let weights = self.weights.tagged(size as usize, &format!("{}: weight data", ctx(layer)))?;
        let w = self.g.constant_f32("fc_w", &[out, inputs, 1, 1], &weights);
        let mut args = vec![x.value.clone(), w];
        if p.int(1, 0).map_err(e)? != 0 {
            let b = self.weights.raw_f32(out as usize, &format!("{}: bias", ctx(layer)))?;
            args.push(self.g.constant_f32("fc_b", &[out], &b));
        }
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        let y = self.g.node("Conv", &refs, vec![Attr::Ints("kernel_shape", vec![1, 1])]);
        let activation_params = p.floats(10).map_err(e)?;
        let value = self.activation(layer, y, p.int(9, 0).map_err(e)?, &activation_params)?;
        Ok(Blob { value, channels: Some(out), scale: (0.0, 0.0) })
    }

    /// Scale: per-channel factors from a second blob (size -233, waifu2x CUNet's SE) or
    /// from the weights, plus an optional per-channel bias from the weights.
    pub(super) fn scale(&mut self, layer: &Layer, inputs: &[Blob]) -> Res<Blob> {
        let p = &layer.params;
        let e = |m: String| format!("{}: {m}", ctx(layer));
        let size = p.int(0, 0).map_err(e)?;
        let bias = p.int(1, 0).map_err(e)? != 0;
        one_or_two_inputs(layer, inputs)?;
        let x = &inputs[0];
        let factors = if size == UNSET {
            if inputs.len() != 2 || bias {
                return Err(format!(
                    "{}: scale_data_size -233 takes the factors from a second input (have {} inputs) and no bias (bias_term {})",
                    ctx(layer),
                    inputs.len(),
                    u8::from(bias)
                ));
            }
            if let (Some(a), Some(b)) = (x.channels, inputs[1].channels) {
                if a != b {
                    return Err(format!("{}: {b} factors for a blob of {a} channels", ctx(layer)));
                }
            }
            inputs[1].value.clone()
        } else {
            if inputs.len() != 1 {
                return Err(format!("{}: has {} inputs, expected 1 with weights", ctx(layer), inputs.len()));
            }
            let n = i64::from(size);
            if x.channels.is_some_and(|c| c != n) || n < 1 {
                return Err(format!("{}: scale_data_size {size}, input has {:?} channels", ctx(layer), x.channels));
            }
            let values = self.weights.raw_f32(size as usize, &format!("{}: scale data", ctx(layer)))?;
            self.g.constant_f32("scale", &[1, n, 1, 1], &values)
        };
        let mut value = self.g.node("Mul", &[&x.value, &factors], vec![]);
        if bias {
            let n = i64::from(size);
            let values = self.weights.raw_f32(size as usize, &format!("{}: bias data", ctx(layer)))?;
            let b = self.g.constant_f32("scale_bias", &[1, n, 1, 1], &values);
            value = self.g.node("Add", &[&value, &b], vec![]);
        }
        Ok(Blob { value, ..x.clone() })
    }

    /// Crop of height and width: to a reference blob's size at fixed offsets (two
    /// inputs, waifu2x CUNet), by starts/ends/axes arrays (Real-CUGAN), or by offsets
    /// and an optional fixed size.
    pub(super) fn crop(&mut self, layer: &Layer, inputs: &[Blob]) -> Res<Blob> {
        let p = &layer.params;
        let e = |m: String| format!("{}: {m}", ctx(layer));
        one_or_two_inputs(layer, inputs)?;
        let x = &inputs[0];
        if is_vector(x) {
            return Err(format!("{}: cropping a pooled vector is not supported", ctx(layer)));
        }
        let (starts, ends) = if inputs.len() == 2 {
            let (w0, h0) = (i64::from(p.int(0, 0).map_err(e)?), i64::from(p.int(1, 0).map_err(e)?));
            if p.int(2, 0).map_err(e)? != 0 || p.int(13, 0).map_err(e)? != 0 {
                return Err(format!("{}: channel or depth offsets are not supported", ctx(layer)));
            }
            if let (Some(a), Some(b)) = (x.channels, inputs[1].channels) {
                if a != b {
                    return Err(format!(
                        "{}: reference has {b} channels, input {a}; only height and width are cropped",
                        ctx(layer)
                    ));
                }
            }
            let starts = self.g.constant_i64("crop_starts", &[2], &[h0, w0]);
            let size = self.g.node("Shape", &[&inputs[1].value], vec![Attr::Int("start", 2), Attr::Int("end", 4)]);
            let offsets = self.g.constant_i64("crop_offsets", &[2], &[h0, w0]);
            (starts, self.g.node("Add", &[&size, &offsets], vec![]))
        } else if !p.ints(9).map_err(e)?.is_empty() || !p.ints(11).map_err(e)?.is_empty() {
            let (s, en) = self.crop_arrays(layer)?;
            (self.g.constant_i64("crop_starts", &[2], &s), self.g.constant_i64("crop_ends", &[2], &en))
        } else {
            let int = |id: i32| p.int(id, 0).map(i64::from).map_err(e);
            let (w0, h0, ow, oh, w1, h1) = (int(0)?, int(1)?, int(3)?, int(4)?, int(6)?, int(7)?);
            if int(2)? != 0 || int(5)? != 0 || int(8)? != 0 {
                return Err(format!("{}: channel crops (params 2, 5, 8) are not supported", ctx(layer)));
            }
            if [w0, h0, ow, oh, w1, h1].iter().any(|v| *v < 0) {
                return Err(format!("{}: negative offsets or sizes are not supported", ctx(layer)));
            }
            // A size of 0 means "to the end, less the far offset".
            let end = |start: i64, size: i64, far: i64| {
                if size > 0 {
                    start + size
                } else if far > 0 {
                    -far
                } else {
                    i64::MAX
                }
            };
            let ends = [end(h0, oh, h1), end(w0, ow, w1)];
            (self.g.constant_i64("crop_starts", &[2], &[h0, w0]), self.g.constant_i64("crop_ends", &[2], &ends))
        };
        let axes = self.g.constant_i64("crop_axes", &[2], &[2, 3]);
        let value = self.g.node("Slice", &[&x.value, &starts, &ends, &axes], vec![]);
        Ok(Blob { value, ..x.clone() })
    }

    /// Starts and ends for (h, w) from Crop's arrays (params -23309/-23310/-23311).
    fn crop_arrays(&mut self, layer: &Layer) -> Res<([i64; 2], [i64; 2])> {
        let p = &layer.params;
        let e = |m: String| format!("{}: {m}", ctx(layer));
        let (starts, ends, axes) = (p.ints(9).map_err(e)?, p.ints(10).map_err(e)?, p.ints(11).map_err(e)?);
        // Without axes the arrays list (c, h, w) in order.
        let axes = if axes.is_empty() { (0..starts.len() as i32).collect() } else { axes };
        if starts.len() != axes.len() || (!ends.is_empty() && ends.len() != axes.len()) {
            return Err(format!(
                "{}: {} starts, {} ends and {} axes; expected one each per axis",
                ctx(layer),
                starts.len(),
                ends.len(),
                axes.len()
            ));
        }
        let mut s = [0i64, 0];
        let mut en = [i64::MAX, i64::MAX];
        for (i, &axis) in axes.iter().enumerate() {
            // Axes count over a (c, h, w) blob.
            let slot = match if axis < 0 { axis + 3 } else { axis } {
                1 => 0,
                2 => 1,
                _ => {
                    return Err(format!(
                        "{}: axis {axis} is not height or width (-2/1, -1/2); channel crops are not supported",
                        ctx(layer)
                    ))
                }
            };
            let start = starts[i];
            let end = ends.get(i).copied().unwrap_or(UNSET);
            s[slot] = if start == UNSET { 0 } else { i64::from(start) };
            // ncnn reads a non-negative `end` as an index and a negative one from the
            // back, like ONNX Slice.
            en[slot] = if end == UNSET || end == i32::MAX { i64::MAX } else { i64::from(end) };
            if s[slot] < 0 {
                return Err(format!("{}: negative start {start} is not supported", ctx(layer)));
            }
        }
        Ok((s, en))
    }
}
