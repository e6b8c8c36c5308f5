//! Lowers ncnn layers to ONNX nodes, reading each layer's weights from the `.bin` in
//! layer order and counting convolution FLOPs on the way.
//!
//! Semantics follow ncnn's reference (CPU) layers; the notes at each op say which ONNX
//! attributes reproduce them.

use std::collections::HashMap;

use super::bin::WeightReader;
use super::param::Layer;
use crate::onnx::{Attr, GraphBuilder};

/// The graph input's value name.
pub const INPUT: &str = "input";

const SUPPORTED: &str = "Input, Split, Noop, Dropout, Convolution, ConvolutionDepthWise, Deconvolution, \
DeconvolutionDepthWise, ReLU, PReLU, Sigmoid, TanH, Clip, Swish, Mish, HardSigmoid, HardSwish, Concat, \
Eltwise, BinaryOp, Interp, PixelShuffle, MemoryData (per-channel constants), Pooling (global, or windows without \
padding), InnerProduct (on pooled vectors), Scale, Crop (height and width)";

/// Channels a blob may have. Real SR networks stay under a few hundred (256 in waifu2x
/// CUNet); the bound keeps what the converter builds itself from the `.param` alone (a
/// bicubic downscale kernel is up to ~6000 floats per channel) to tens of MB, whatever a
/// malicious `.param` declares (Concat of a blob with itself doubles its channels).
const MAX_CHANNELS: i64 = 4096;

/// What we know about one ncnn blob.
#[derive(Debug, Clone)]
pub struct Blob {
    /// Name of the ONNX value holding it.
    pub value: String,
    pub channels: Option<i64>,
    /// Spatial size relative to the graph input, (height, width): drives the FLOP count.
    pub scale: (f64, f64),
}

pub struct Lowering<'a> {
    pub g: GraphBuilder,
    pub blobs: HashMap<String, Blob>,
    pub weights: WeightReader<'a>,
    pub flops: f64,
    pub has_input: bool,
    /// What lets a graph that ends in a depth-to-space return the phase layout
    /// (`metadata::PHASES`) instead: CRD DepthToSpace outputs (PixelShuffle, phase-conv
    /// deconvolutions) -> (their input, block size) ...
    pub shuffles: HashMap<String, (String, i64)>,
    /// ... nearest upscales of the graph input by a whole factor -> the factor ...
    pub nearest_inputs: HashMap<String, i64>,
    /// ... and two-input Adds -> their inputs (a residual over the nearest base).
    pub adds: HashMap<String, (String, String)>,
}

pub(super) type Res<T> = Result<T, String>;

pub(super) fn ctx(layer: &Layer) -> String {
    format!("layer {} ({})", layer.name, layer.kind)
}

fn arity(layer: &Layer, n_in: usize, n_out: usize) -> Res<()> {
    if layer.inputs.len() != n_in || layer.outputs.len() != n_out {
        return Err(format!(
            "{}: has {} inputs and {} outputs, expected {n_in} and {n_out}",
            ctx(layer),
            layer.inputs.len(),
            layer.outputs.len()
        ));
    }
    Ok(())
}

pub(super) fn at_least(layer: &Layer, value: i32, min: i32, what: &str) -> Res<i64> {
    if value < min {
        return Err(format!("{}: {what} is {value}, expected at least {min}", ctx(layer)));
    }
    Ok(i64::from(value))
}

impl<'a> Lowering<'a> {
    pub fn new(name: &str, bin: &'a [u8]) -> Self {
        Self {
            g: GraphBuilder::new(name),
            blobs: HashMap::new(),
            weights: WeightReader::new(bin),
            flops: 0.0,
            has_input: false,
            shuffles: HashMap::new(),
            nearest_inputs: HashMap::new(),
            adds: HashMap::new(),
        }
    }

    pub fn layer(&mut self, layer: &Layer) -> Res<()> {
        let inputs = layer
            .inputs
            .iter()
            .map(|b| {
                self.blobs
                    .get(b)
                    .cloned()
                    .ok_or_else(|| format!("{}: input blob {b:?} is not produced by any earlier layer", ctx(layer)))
            })
            .collect::<Res<Vec<_>>>()?;
        let p = &layer.params;
        let e = |m: String| format!("{}: {m}", ctx(layer));
        let outputs = match layer.kind.as_str() {
            "Input" => vec![self.input(layer)?],
            "MemoryData" => {
                arity(layer, 0, 1)?;
                vec![self.memory_data(layer)?]
            }
            "Split" => {
                if inputs.len() != 1 || layer.outputs.is_empty() {
                    return Err(format!(
                        "{}: has {} inputs, expected 1 (and at least 1 output)",
                        ctx(layer),
                        inputs.len()
                    ));
                }
                vec![inputs[0].clone(); layer.outputs.len()]
            }
            "Noop" => {
                arity(layer, 1, 1)?;
                inputs
            }
            "Dropout" => {
                arity(layer, 1, 1)?;
                let scale = p.float(0, 1.0).map_err(e)?;
                if scale == 1.0 {
                    inputs
                } else {
                    let k = self.g.constant_f32("dropout_scale", &[], &[scale]);
                    vec![self.unary_like(&inputs[0], "Mul", &[&k], vec![])]
                }
            }
            "Convolution" | "ConvolutionDepthWise" => {
                arity(layer, 1, 1)?;
                vec![self.convolution(layer, &inputs[0])?]
            }
            "Deconvolution" | "DeconvolutionDepthWise" => {
                arity(layer, 1, 1)?;
                vec![self.deconvolution(layer, &inputs[0])?]
            }
            "PReLU" => {
                arity(layer, 1, 1)?;
                vec![self.prelu(layer, &inputs[0])?]
            }
            "ReLU" | "Sigmoid" | "TanH" | "Clip" | "Swish" | "Mish" | "HardSigmoid" | "HardSwish" => {
                arity(layer, 1, 1)?;
                vec![self.unary(layer, &inputs[0])?]
            }
            "Concat" => vec![self.concat(layer, &inputs)?],
            "Eltwise" => vec![self.eltwise(layer, &inputs)?],
            "BinaryOp" => vec![self.binary(layer, &inputs)?],
            "Interp" => {
                arity(layer, 1, 1)?;
                vec![self.interp(layer, &inputs[0])?]
            }
            "PixelShuffle" => {
                arity(layer, 1, 1)?;
                vec![self.pixel_shuffle(layer, &inputs[0])?]
            }
            "Pooling" => {
                arity(layer, 1, 1)?;
                vec![self.pooling(layer, &inputs[0])?]
            }
            "InnerProduct" => {
                arity(layer, 1, 1)?;
                vec![self.inner_product(layer, &inputs[0])?]
            }
            "Scale" => vec![self.scale(layer, &inputs)?],
            "Crop" => vec![self.crop(layer, &inputs)?],
            other => {
                return Err(format!("{}: layer type {other:?} is not supported (supported: {SUPPORTED})", ctx(layer)))
            }
        };
        for (name, blob) in layer.outputs.iter().zip(outputs) {
            if let Some(c) = blob.channels.filter(|&c| c > MAX_CHANNELS) {
                return Err(format!(
                    "{}: output has {c} channels, more than the converter's limit of {MAX_CHANNELS}",
                    ctx(layer)
                ));
            }
            if self.blobs.insert(name.clone(), blob).is_some() {
                return Err(format!("{}: output blob {name:?} is already produced by an earlier layer", ctx(layer)));
            }
        }
        Ok(())
    }

    /// A node with one input blob whose channel count and scale it keeps.
    fn unary_like(&mut self, x: &Blob, op: &str, extra: &[&str], attrs: Vec<Attr>) -> Blob {
        let mut inputs = vec![x.value.as_str()];
        inputs.extend_from_slice(extra);
        Blob { value: self.g.node(op, &inputs, attrs), ..x.clone() }
    }

    fn input(&mut self, layer: &Layer) -> Res<Blob> {
        arity(layer, 0, 1)?;
        if self.has_input {
            return Err(format!("{}: a second Input layer; the ONNX contract has exactly one input", ctx(layer)));
        }
        self.has_input = true;
        // Params 0/1 (w/h) are the size the model was exported at; ours is dynamic.
        let c = layer.params.int(2, 0).map_err(|m| format!("{}: {m}", ctx(layer)))?;
        if c != 0 && c != 3 {
            return Err(format!("{}: declares {c} channels, expected 3 (RGB)", ctx(layer)));
        }
        Ok(Blob { value: INPUT.into(), channels: Some(3), scale: (1.0, 1.0) })
    }

    /// A constant blob. Only per-channel constants (w = h = 1, SPAN's RGB mean): a
    /// constant with a fixed spatial size could not meet an image of any size.
    fn memory_data(&mut self, layer: &Layer) -> Res<Blob> {
        let e = |m: String| format!("{}: {m}", ctx(layer));
        let p = &layer.params;
        let (w, h, d, c) =
            (p.int(0, 0).map_err(e)?, p.int(1, 0).map_err(e)?, p.int(11, 0).map_err(e)?, p.int(2, 0).map_err(e)?);
        if (w, h, d) != (1, 1, 0) || c < 1 {
            return Err(format!(
                "{}: shape w={w} h={h} d={d} c={c}; only per-channel constants (w=1, h=1, d=0, c>=1) are supported",
                ctx(layer)
            ));
        }
        // ncnn loads MemoryData as raw float32 (no type tag), c planes of h x w.
        let values = self.weights.raw_f32(c as usize, &format!("{}: data", ctx(layer)))?;
        let c = i64::from(c);
        let value = self.g.constant_f32("memory_data", &[1, c, 1, 1], &values);
        Ok(Blob { value, channels: Some(c), scale: (1.0, 1.0) })
    }

    /// ncnn's fused activations (Convolution param 9, params in 10).
    pub(super) fn activation(&mut self, layer: &Layer, x: String, kind: i32, params: &[f32]) -> Res<String> {
        let need = |n: usize| {
            if params.len() < n {
                Err(format!("{}: activation type {kind} needs {n} params (param 10), got {}", ctx(layer), params.len()))
            } else {
                Ok(())
            }
        };
        Ok(match kind {
            0 => x,
            1 => self.g.node("Relu", &[&x], vec![]),
            2 => {
                need(1)?;
                self.g.node("LeakyRelu", &[&x], vec![Attr::Float("alpha", params[0])])
            }
            3 => {
                need(2)?;
                self.clip(&x, params[0], params[1])
            }
            4 => self.g.node("Sigmoid", &[&x], vec![]),
            5 => self.mish(&x),
            6 => {
                need(2)?;
                self.hard_swish(&x, params[0], params[1])
            }
            other => {
                return Err(format!("{}: activation type {other} (param 9) is not supported (0-6 are)", ctx(layer)))
            }
        })
    }

    fn clip(&mut self, x: &str, min: f32, max: f32) -> String {
        let lo = self.g.constant_f32("clip_min", &[], &[min]);
        let hi = self.g.constant_f32("clip_max", &[], &[max]);
        self.g.node("Clip", &[x, &lo, &hi], vec![])
    }

    /// x * tanh(softplus(x)); ONNX Mish needs opset 18.
    fn mish(&mut self, x: &str) -> String {
        let sp = self.g.node("Softplus", &[x], vec![]);
        let t = self.g.node("Tanh", &[&sp], vec![]);
        self.g.node("Mul", &[x, &t], vec![])
    }

    /// ncnn HardSwish: x * clamp(alpha * x + beta, 0, 1).
    fn hard_swish(&mut self, x: &str, alpha: f32, beta: f32) -> String {
        let hs = self.g.node("HardSigmoid", &[x], vec![Attr::Float("alpha", alpha), Attr::Float("beta", beta)]);
        self.g.node("Mul", &[x, &hs], vec![])
    }

    fn unary(&mut self, layer: &Layer, x: &Blob) -> Res<Blob> {
        let p = &layer.params;
        let e = |m: String| format!("{}: {m}", ctx(layer));
        let v = x.value.as_str();
        let value = match layer.kind.as_str() {
            "ReLU" => {
                let slope = p.float(0, 0.0).map_err(e)?;
                if slope == 0.0 {
                    self.g.node("Relu", &[v], vec![])
                } else {
                    self.g.node("LeakyRelu", &[v], vec![Attr::Float("alpha", slope)])
                }
            }
            "Sigmoid" => self.g.node("Sigmoid", &[v], vec![]),
            "TanH" => self.g.node("Tanh", &[v], vec![]),
            "Clip" => {
                let (lo, hi) = (p.float(0, -f32::MAX).map_err(e)?, p.float(1, f32::MAX).map_err(e)?);
                self.clip(v, lo, hi)
            }
            "Swish" => {
                let s = self.g.node("Sigmoid", &[v], vec![]);
                self.g.node("Mul", &[v, &s], vec![])
            }
            "Mish" => self.mish(v),
            "HardSigmoid" => {
                let (a, b) = (p.float(0, 0.2).map_err(e)?, p.float(1, 0.5).map_err(e)?);
                self.g.node("HardSigmoid", &[v], vec![Attr::Float("alpha", a), Attr::Float("beta", b)])
            }
            "HardSwish" => {
                let (a, b) = (p.float(0, 0.2).map_err(e)?, p.float(1, 0.5).map_err(e)?);
                self.hard_swish(v, a, b)
            }
            other => return Err(format!("{}: not a unary op: {other}", ctx(layer))),
        };
        Ok(Blob { value, ..x.clone() })
    }

    fn prelu(&mut self, layer: &Layer, x: &Blob) -> Res<Blob> {
        let n = layer.params.int(0, 0).map_err(|m| format!("{}: {m}", ctx(layer)))?;
        let n = at_least(layer, n, 1, "num_slope (param 0)")?;
        if let Some(c) = x.channels {
            if n != 1 && n != c {
                return Err(format!("{}: has {n} slopes, expected 1 or {c} (the input's channels)", ctx(layer)));
            }
        }
        let slopes = self.weights.raw_f32(n as usize, &format!("{}: slopes", ctx(layer)))?;
        if n == 1 {
            // One slope is LeakyRelu, which ONNX Runtime fuses into the convolution.
            return Ok(self.unary_like(x, "LeakyRelu", &[], vec![Attr::Float("alpha", slopes[0])]));
        }
        // ONNX Runtime's blocked (NCHWc) convolutions cannot take PRelu: every PRelu
        // costs a layout round trip and a slow broadcast (a third of the run time of
        // animevideov3). The same function as a*y + (1-a)*relu(y), with the per-channel
        // products as BatchNormalization, stays in the blocked layout; the BatchNorms
        // become 1x1 depthwise convolutions and the Add is fused into one of them.
        let ones = vec![1.0; slopes.len()];
        let zeros = vec![0.0; slopes.len()];
        let complement: Vec<f32> = slopes.iter().map(|a| 1.0 - a).collect();
        let [a, b, mean, var] = [&slopes, &complement, &zeros, &ones].map(|v| self.g.constant_f32("prelu_bn", &[n], v));
        let scaled = |g: &mut GraphBuilder, input: &str, scale: &str| {
            g.node(
                "BatchNormalization",
                &[input, scale, mean.as_str(), mean.as_str(), var.as_str()],
                vec![Attr::Float("epsilon", 0.0)],
            )
        };
        let relu = self.g.node("Relu", &[&x.value], vec![]);
        let linear = scaled(&mut self.g, &x.value, &a);
        let positive = scaled(&mut self.g, &relu, &b);
        Ok(Blob { value: self.g.node("Add", &[&linear, &positive], vec![]), ..x.clone() })
    }

    fn concat(&mut self, layer: &Layer, inputs: &[Blob]) -> Res<Blob> {
        if inputs.is_empty() || layer.outputs.len() != 1 {
            return Err(format!(
                "{}: has {} inputs and {} outputs, expected at least 1 and 1",
                ctx(layer),
                inputs.len(),
                layer.outputs.len()
            ));
        }
        let axis = layer.params.int(0, 0).map_err(|m| format!("{}: {m}", ctx(layer)))?;
        // ncnn axes count over (c, h, w); ONNX adds the batch axis in front.
        let positive = if axis < 0 { axis + 3 } else { axis };
        if !(0..3).contains(&positive) {
            return Err(format!("{}: axis {axis} is out of range for a (c, h, w) blob, expected -3..=2", ctx(layer)));
        }
        let names: Vec<&str> = inputs.iter().map(|b| b.value.as_str()).collect();
        let value = self.g.node("Concat", &names, vec![Attr::Int("axis", i64::from(positive) + 1)]);
        let channels = if positive == 0 { inputs.iter().map(|b| b.channels).sum() } else { inputs[0].channels };
        Ok(Blob { value, channels, scale: inputs[0].scale })
    }

    fn eltwise(&mut self, layer: &Layer, inputs: &[Blob]) -> Res<Blob> {
        if inputs.len() < 2 || layer.outputs.len() != 1 {
            return Err(format!(
                "{}: has {} inputs and {} outputs, expected at least 2 and 1",
                ctx(layer),
                inputs.len(),
                layer.outputs.len()
            ));
        }
        let e = |m: String| format!("{}: {m}", ctx(layer));
        let op = layer.params.int(0, 0).map_err(e)?;
        let coeffs = layer.params.floats(1).map_err(e)?;
        let mut names: Vec<String> = inputs.iter().map(|b| b.value.clone()).collect();
        let onnx_op = match op {
            0 => "Mul",
            1 => {
                if !coeffs.is_empty() {
                    if coeffs.len() != inputs.len() {
                        return Err(format!(
                            "{}: has {} coefficients for {} inputs",
                            ctx(layer),
                            coeffs.len(),
                            inputs.len()
                        ));
                    }
                    for (name, c) in names.iter_mut().zip(&coeffs) {
                        if *c != 1.0 {
                            let k = self.g.constant_f32("eltwise_coeff", &[], &[*c]);
                            *name = self.g.node("Mul", &[name.as_str(), &k], vec![]);
                        }
                    }
                }
                "Sum"
            }
            2 => "Max",
            other => return Err(format!("{}: op_type {other} is not one of 0 (prod), 1 (sum), 2 (max)", ctx(layer))),
        };
        // Mul is binary in ONNX; fold left like ncnn does.
        let mut acc = names[0].clone();
        if onnx_op == "Mul" {
            for n in &names[1..] {
                acc = self.g.node("Mul", &[&acc, n], vec![]);
            }
        } else {
            let refs: Vec<&str> = names.iter().map(String::as_str).collect();
            acc = self.g.node(onnx_op, &refs, vec![]);
        }
        Ok(Blob { value: acc, ..inputs[0].clone() })
    }

    fn binary(&mut self, layer: &Layer, inputs: &[Blob]) -> Res<Blob> {
        let p = &layer.params;
        let e = |m: String| format!("{}: {m}", ctx(layer));
        let op = p.int(0, 0).map_err(e)?;
        let with_scalar = p.int(1, 0).map_err(e)? != 0;
        arity(layer, if with_scalar { 1 } else { 2 }, 1)?;
        let a = inputs[0].value.clone();
        let b = if with_scalar {
            let v = p.float(2, 0.0).map_err(e)?;
            self.g.constant_f32("binary_scalar", &[], &[v])
        } else {
            inputs[1].value.clone()
        };
        let (onnx_op, swap) = match op {
            0 => ("Add", false),
            1 => ("Sub", false),
            2 => ("Mul", false),
            3 => ("Div", false),
            4 => ("Max", false),
            5 => ("Min", false),
            6 => ("Pow", false),
            7 => ("Sub", true),
            8 => ("Div", true),
            9 => ("Pow", true),
            other => return Err(format!("{}: op_type {other} is not supported (0-9 are)", ctx(layer))),
        };
        let (l, r) = if swap { (&b, &a) } else { (&a, &b) };
        let value = self.g.node(onnx_op, &[l, r], vec![]);
        if onnx_op == "Add" && !with_scalar {
            self.adds.insert(value.clone(), (a.clone(), b.clone()));
        }
        // A feature map times a pooled vector (scale (0, 0)) is a feature map.
        let pooled = |b: &Blob| b.scale == (0.0, 0.0);
        let mut out = if !with_scalar && pooled(&inputs[0]) { inputs[1].clone() } else { inputs[0].clone() };
        if out.channels.is_none() && !with_scalar {
            out.channels = inputs[1].channels;
        }
        Ok(Blob { value, ..out })
    }

    fn interp(&mut self, layer: &Layer, x: &Blob) -> Res<Blob> {
        let p = &layer.params;
        let e = |m: String| format!("{}: {m}", ctx(layer));
        let resize_type = p.int(0, 0).map_err(e)?;
        let (hs, ws) = (p.float(1, 1.0).map_err(e)?, p.float(2, 1.0).map_err(e)?);
        let (oh, ow) = (p.int(3, 0).map_err(e)?, p.int(4, 0).map_err(e)?);
        if p.int(5, 0).map_err(e)? != 0 {
            return Err(format!("{}: dynamic target size (param 5) is not supported", ctx(layer)));
        }
        let align_corner = p.int(6, 0).map_err(e)? != 0;
        let fixed = oh > 0 && ow > 0;
        let positive = |s: f32| s > 0.0 && s.is_finite();
        let scales_ok = positive(hs) && positive(ws);
        if !fixed && !scales_ok {
            return Err(format!("{}: scales {hs} x {ws} must be positive", ctx(layer)));
        }
        // ncnn nearest: src = floor(dst / scale) ("asymmetric" + floor). Bilinear and
        // bicubic map pixel centres ("half_pixel") and clamp at the edges, like ORT;
        // ncnn's bicubic kernel is Keys with A = -0.75.
        let mut attrs = match resize_type {
            1 => vec![
                Attr::Str("mode", "nearest".into()),
                Attr::Str("coordinate_transformation_mode", "asymmetric".into()),
                Attr::Str("nearest_mode", "floor".into()),
            ],
            2 | 3 => vec![
                Attr::Str("mode", if resize_type == 2 { "linear" } else { "cubic" }.into()),
                Attr::Str(
                    "coordinate_transformation_mode",
                    if align_corner { "align_corners" } else { "half_pixel" }.into(),
                ),
            ],
            other => {
                return Err(format!(
                    "{}: resize_type {other} is not one of 1 (nearest), 2 (bilinear), 3 (bicubic)",
                    ctx(layer)
                ))
            }
        };
        if resize_type == 3 {
            attrs.push(Attr::Float("cubic_coeff_a", -0.75));
        }
        let whole = |s: f32| s >= 1.0 && s.fract() == 0.0;
        let ratio = (hs == ws).then(|| downscale_ratio(hs)).flatten();
        let divisible = |d: u32| [x.scale.0, x.scale.1].iter().all(|&s| s >= f64::from(d) && s % f64::from(d) == 0.0);
        let value = if let Some((n, d)) =
            ratio.filter(|&(_, d)| resize_type == 3 && !fixed && !align_corner && divisible(d))
        {
            // The input's sides are a multiple of d (a multiple of the model input's), so
            // this is an exact bicubic n/d downscale: a fixed polyphase filter, much
            // cheaper in ONNX Runtime as a convolution than as Resize (a fifth of
            // animevideov3-x2's time).
            let channels = x.channels.ok_or_else(|| e("bicubic downscale of a blob with unknown channels".into()))?;
            self.bicubic_downscale(&x.value, channels, n, d)
        } else if fixed {
            let nc = self.g.node("Shape", &[&x.value], vec![Attr::Int("start", 0), Attr::Int("end", 2)]);
            let hw = self.g.constant_i64("interp_size", &[2], &[i64::from(oh), i64::from(ow)]);
            let sizes = self.g.node("Concat", &[&nc, &hw], vec![Attr::Int("axis", 0)]);
            self.g.node("Resize", &[&x.value, "", "", &sizes], attrs)
        } else if resize_type == 1 || (whole(hs) && whole(ws)) {
            let scales = self.g.constant_f32("interp_scales", &[4], &[1.0, 1.0, hs, ws]);
            let value = self.g.node("Resize", &[&x.value, "", &scales], attrs);
            if resize_type == 1 && x.value == INPUT && hs == ws && whole(hs) {
                self.nearest_inputs.insert(value.clone(), hs as i64);
            }
            value
        } else {
            // ncnn sizes the output as int(float(h) * scale) and then maps coordinates
            // with in/out, not with `scale`; feeding Resize `sizes` reproduces both.
            let sizes = self.scaled_sizes(&x.value, hs, ws);
            self.g.node("Resize", &[&x.value, "", "", &sizes], attrs)
        };
        // A fixed output size has no scale relative to the input; keep the input's for
        // the FLOP count (no shipped model does this).
        let scale = if fixed { x.scale } else { (x.scale.0 * f64::from(hs), x.scale.1 * f64::from(ws)) };
        Ok(Blob { value, channels: x.channels, scale })
    }

    /// Bicubic (Keys, A = -0.75, half-pixel centres, clamped edges) downscale by n/d of
    /// a blob whose sides are multiples of d: every d input pixels give n outputs, whose
    /// taps sit at fixed offsets. So it is a grouped conv with stride d producing the n x n
    /// phases of each channel, then depth-to-space; edge padding reproduces the clamping.
    fn bicubic_downscale(&mut self, x: &str, channels: i64, n: u32, d: u32) -> String {
        let phases = phase_taps(n, d);
        let lo = phases.iter().flatten().map(|&(o, _)| o).min().unwrap_or(0);
        let hi = phases.iter().flatten().map(|&(o, _)| o).max().unwrap_or(0);
        let k = (hi - lo + 1) as usize;
        // 1D weights per phase over the kernel window.
        let rows: Vec<Vec<f32>> = phases
            .iter()
            .map(|taps| {
                let mut w = vec![0.0f32; k];
                for &(o, v) in taps {
                    w[(o - lo) as usize] += v as f32;
                }
                w
            })
            .collect();
        let mut kernel = Vec::with_capacity(channels as usize * rows.len() * rows.len() * k * k);
        for _ in 0..channels {
            for wy in &rows {
                for wx in &rows {
                    kernel.extend(wy.iter().flat_map(|&v| wx.iter().map(move |&h| v * h)));
                }
            }
        }
        let (n, d, k) = (i64::from(n), i64::from(d), k as i64);
        let w = self.g.constant_f32("downscale_kernel", &[channels * n * n, 1, k, k], &kernel);
        // Left pad reaches the lowest tap; the right pad makes side/d outputs: pl + pr = k - d.
        let (pl, pr) = (-lo, k - d + lo);
        let pads = self.g.constant_i64("downscale_pads", &[8], &[0, 0, pl, pl, 0, 0, pr, pr]);
        let padded = self.g.node("Pad", &[x, &pads], vec![Attr::Str("mode", "edge".into())]);
        let attrs = vec![
            Attr::Int("group", channels),
            Attr::Ints("kernel_shape", vec![k, k]),
            Attr::Ints("strides", vec![d, d]),
        ];
        let phased = self.g.node("Conv", &[&padded, &w], attrs);
        if n == 1 {
            return phased;
        }
        self.g.node("DepthToSpace", &[&phased], vec![Attr::Int("blocksize", n), Attr::Str("mode", "CRD".into())])
    }

    /// `[N, C, floor(H * hs), floor(W * ws)]` computed in float32 like ncnn.
    fn scaled_sizes(&mut self, x: &str, hs: f32, ws: f32) -> String {
        let nc = self.g.node("Shape", &[x], vec![Attr::Int("start", 0), Attr::Int("end", 2)]);
        let hw = self.g.node("Shape", &[x], vec![Attr::Int("start", 2)]);
        let hw_f = self.g.node("Cast", &[&hw], vec![Attr::Int("to", 1)]);
        let k = self.g.constant_f32("interp_scale", &[2], &[hs, ws]);
        let scaled = self.g.node("Mul", &[&hw_f, &k], vec![]);
        let floored = self.g.node("Floor", &[&scaled], vec![]);
        let hw_i = self.g.node("Cast", &[&floored], vec![Attr::Int("to", 7)]);
        self.g.node("Concat", &[&nc, &hw_i], vec![Attr::Int("axis", 0)])
    }

    fn pixel_shuffle(&mut self, layer: &Layer, x: &Blob) -> Res<Blob> {
        let e = |m: String| format!("{}: {m}", ctx(layer));
        let r = at_least(layer, layer.params.int(0, 1).map_err(e)?, 1, "upscale_factor (param 0)")?;
        // ncnn mode 0 takes channel p*r*r + sh*r + sw (ONNX "CRD"); mode 1 is "DCR".
        let mode = match layer.params.int(1, 0).map_err(e)? {
            0 => "CRD",
            1 => "DCR",
            other => return Err(format!("{}: mode {other} is not 0 (CRD) or 1 (DCR)", ctx(layer))),
        };
        let channels = match x.channels {
            Some(c) if c % (r * r) != 0 => {
                return Err(format!("{}: input has {c} channels, not a multiple of {r}x{r}", ctx(layer)));
            }
            c => c.map(|c| c / (r * r)),
        };
        let value =
            self.g.node("DepthToSpace", &[&x.value], vec![Attr::Int("blocksize", r), Attr::Str("mode", mode.into())]);
        if mode == "CRD" {
            self.shuffles.insert(value.clone(), (x.value.clone(), r));
        }
        Ok(Blob { value, channels, scale: (x.scale.0 * r as f64, x.scale.1 * r as f64) })
    }
}

/// `scale` as n/d with n < d <= 8, when it is exactly that in float32 (0.5, 0.75, ...).
fn downscale_ratio(scale: f32) -> Option<(u32, u32)> {
    (2..=8u32).find_map(|d| {
        let n = (scale * d as f32).round() as u32;
        (n >= 1 && n < d && n as f32 / d as f32 == scale).then_some((n, d))
    })
}

/// Keys' cubic convolution kernel with A = -0.75 (ncnn's and ONNX Runtime's bicubic).
fn keys(t: f64) -> f64 {
    const A: f64 = -0.75;
    let t = t.abs();
    if t <= 1.0 {
        ((A + 2.0) * t - (A + 3.0)) * t * t + 1.0
    } else if t < 2.0 {
        ((A * t - 5.0 * A) * t + 8.0 * A) * t - 4.0 * A
    } else {
        0.0
    }
}

/// For each of the n output phases of an n/d downscale: the 4 taps as (input offset
/// from the period's first pixel, weight), with half-pixel centres.
fn phase_taps(n: u32, d: u32) -> Vec<Vec<(i64, f64)>> {
    (0..n)
        .map(|r| {
            let x = (f64::from(r) + 0.5) * f64::from(d) / f64::from(n) - 0.5;
            let floor = x.floor();
            (-1..=2).map(|j| (floor as i64 + j, keys(x - (floor + j as f64)))).collect()
        })
        .collect()
}

#[cfg(test)]
mod downscale_tests {
    use super::*;

    #[test]
    fn halving_taps_are_keys_at_one_and_a_half_and_a_half() {
        assert_eq!(downscale_ratio(0.5), Some((1, 2)));
        assert_eq!(downscale_ratio(0.75), Some((3, 4)));
        assert_eq!(downscale_ratio(0.3), None);
        let taps = phase_taps(1, 2);
        assert_eq!(taps, vec![vec![(-1, -0.09375), (0, 0.59375), (1, 0.59375), (2, -0.09375)]]);
    }

    #[test]
    fn three_quarter_phases_sit_where_half_pixel_centres_map() {
        let taps = phase_taps(3, 4);
        // Output 3k + r maps to input 4k + (r + 0.5) * 4/3 - 0.5: 1/6, 3/2, 17/6.
        let firsts: Vec<i64> = taps.iter().map(|t| t[0].0).collect();
        assert_eq!(firsts, vec![-1, 0, 1]);
        for phase in &taps {
            let sum: f64 = phase.iter().map(|&(_, w)| w).sum();
            assert!((sum - 1.0).abs() < 1e-12, "{phase:?}");
        }
        assert_eq!(taps[1][1].1, keys(0.5));
    }
}
