//! Convolution and Deconvolution (and their DepthWise variants) as ONNX Conv and
//! ConvTranspose, with ncnn's fused activation.

use super::lower::{at_least, ctx, Blob, Lowering, Res};
use super::param::Layer;
use crate::onnx::Attr;

/// Convolution-family params shared by Convolution and Deconvolution (ncnn ids).
struct ConvParams {
    out_ch: i64,
    kernel: [i64; 2],
    dilation: [i64; 2],
    stride: [i64; 2],
    /// top, left, bottom, right; -233 / -234 mean SAME_UPPER / SAME_LOWER.
    pads: [i64; 4],
    bias: bool,
    weight_size: i64,
    group: i64,
    activation: i32,
    activation_params: Vec<f32>,
}

impl ConvParams {
    /// The kernel, stride, dilation and group attributes Conv and ConvTranspose share,
    /// followed by `extra`.
    fn conv_attrs<const N: usize>(&self, extra: [Attr; N]) -> Vec<Attr> {
        let mut attrs = vec![
            Attr::Ints("kernel_shape", self.kernel.to_vec()),
            Attr::Ints("strides", self.stride.to_vec()),
            Attr::Ints("dilations", self.dilation.to_vec()),
            Attr::Int("group", self.group),
        ];
        attrs.extend(extra);
        attrs
    }

    fn read(layer: &Layer, grouped: bool) -> Res<Self> {
        let p = &layer.params;
        let e = |r: Res<i32>| r.map_err(|m| format!("{}: {m}", ctx(layer)));
        let out_ch = at_least(layer, e(p.int(0, 0))?, 1, "num_output (param 0)")?;
        let kw = e(p.int(1, 0))?;
        let kh = e(p.int(11, kw))?;
        let dw = e(p.int(2, 1))?;
        let dh = e(p.int(12, dw))?;
        let sw = e(p.int(3, 1))?;
        let sh = e(p.int(13, sw))?;
        let pad_left = e(p.int(4, 0))?;
        let pad_right = e(p.int(15, pad_left))?;
        let pad_top = e(p.int(14, pad_left))?;
        let pad_bottom = e(p.int(16, pad_top))?;
        let group = if grouped { at_least(layer, e(p.int(7, 1))?, 1, "group (param 7)")? } else { 1 };
        if e(p.int(8, 0))? != 0 {
            return Err(format!("{}: int8 quantized weights (param 8) are not supported", ctx(layer)));
        }
        // dynamic_weight is id 19 for Convolution and 28 for Deconvolution.
        let dynamic_id = if layer.kind.starts_with("Deconv") { 28 } else { 19 };
        if e(p.int(dynamic_id, 0))? != 0 {
            return Err(format!("{}: dynamic weights (weights as a second input) are not supported", ctx(layer)));
        }
        if out_ch % group != 0 {
            return Err(format!("{}: num_output {out_ch} is not a multiple of group {group}", ctx(layer)));
        }
        Ok(Self {
            out_ch,
            kernel: [at_least(layer, kh, 1, "kernel_h")?, at_least(layer, kw, 1, "kernel_w (param 1)")?],
            dilation: [at_least(layer, dh, 1, "dilation_h")?, at_least(layer, dw, 1, "dilation_w")?],
            stride: [at_least(layer, sh, 1, "stride_h")?, at_least(layer, sw, 1, "stride_w")?],
            pads: [pad_top, pad_left, pad_bottom, pad_right].map(i64::from),
            bias: e(p.int(5, 0))? != 0,
            weight_size: at_least(layer, e(p.int(6, 0))?, 1, "weight_data_size (param 6)")?,
            group,
            activation: e(p.int(9, 0))?,
            activation_params: p.floats(10).map_err(|m| format!("{}: {m}", ctx(layer)))?,
        })
    }

    /// Input channels implied by the weight size, checked against the input blob.
    fn in_channels(&self, layer: &Layer, x: &Blob) -> Res<i64> {
        // Saturating: absurd kernel sizes in a bad .param must error, not overflow.
        let per_in = self.out_ch.saturating_mul(self.kernel[0]).saturating_mul(self.kernel[1]);
        if self.weight_size % per_in != 0 {
            return Err(format!(
                "{}: weight_data_size {} is not a multiple of num_output x kernel area ({per_in})",
                ctx(layer),
                self.weight_size
            ));
        }
        let in_ch = self.weight_size / per_in * self.group;
        if let Some(c) = x.channels {
            if c != in_ch {
                return Err(format!(
                    "{}: weight_data_size {} implies {in_ch} input channels, input blob {} has {c}",
                    ctx(layer),
                    self.weight_size,
                    layer.inputs[0]
                ));
            }
        }
        Ok(in_ch)
    }

    fn pad_attr(&self, layer: &Layer) -> Res<Attr> {
        let p = self.pads;
        if p.iter().all(|v| *v >= 0) {
            Ok(Attr::Ints("pads", vec![p[0], p[1], p[2], p[3]]))
        } else if p.iter().all(|v| *v == -233) {
            Ok(Attr::Str("auto_pad", "SAME_UPPER".into()))
        } else if p.iter().all(|v| *v == -234) {
            Ok(Attr::Str("auto_pad", "SAME_LOWER".into()))
        } else {
            Err(format!("{}: pads (top, left, bottom, right) {p:?} mix explicit and automatic padding", ctx(layer)))
        }
    }
}

impl Lowering<'_> {
    pub(super) fn convolution(&mut self, layer: &Layer, x: &Blob) -> Res<Blob> {
        let c = ConvParams::read(layer, layer.kind == "ConvolutionDepthWise")?;
        let in_ch = c.in_channels(layer, x)?;
        let pad_value = layer.params.float(18, 0.0).map_err(|m| format!("{}: {m}", ctx(layer)))?;
        let weights = self.weights.tagged(c.weight_size as usize, &format!("{}: weight data", ctx(layer)))?;
        let w = self.g.constant_f32("conv_w", &[c.out_ch, in_ch / c.group, c.kernel[0], c.kernel[1]], &weights);
        let mut inputs = vec![x.value.clone(), w];
        if c.bias {
            let b = self.weights.raw_f32(c.out_ch as usize, &format!("{}: bias", ctx(layer)))?;
            inputs.push(self.g.constant_f32("conv_b", &[c.out_ch], &b));
        }
        let mut pads = c.pad_attr(layer)?;
        if pad_value != 0.0 {
            // ncnn pads with pad_value; ONNX Conv pads with zeros, so pad explicitly first.
            let Attr::Ints(_, p) = &pads else {
                return Err(format!("{}: pad_value {pad_value} with automatic padding is not supported", ctx(layer)));
            };
            let pads_c = self.g.constant_i64("pads", &[8], &[0, 0, p[0], p[1], 0, 0, p[2], p[3]]);
            let value = self.g.constant_f32("pad_value", &[], &[pad_value]);
            inputs[0] = self.g.node("Pad", &[&inputs[0], &pads_c, &value], vec![]);
            pads = Attr::Ints("pads", vec![0, 0, 0, 0]);
        }
        let refs: Vec<&str> = inputs.iter().map(String::as_str).collect();
        let y = self.g.node("Conv", &refs, c.conv_attrs([pads]));
        let value = self.activation(layer, y, c.activation, &c.activation_params)?;
        let scale = (x.scale.0 / c.stride[0] as f64, x.scale.1 / c.stride[1] as f64);
        // One multiply-add per weight per output pixel.
        self.flops += 2.0 * c.weight_size as f64 * scale.0 * scale.1;
        Ok(Blob { value, channels: Some(c.out_ch), scale })
    }

    pub(super) fn deconvolution(&mut self, layer: &Layer, x: &Blob) -> Res<Blob> {
        let c = ConvParams::read(layer, layer.kind == "DeconvolutionDepthWise")?;
        let in_ch = c.in_channels(layer, x)?;
        let p = &layer.params;
        let e = |m: String| format!("{}: {m}", ctx(layer));
        let out_pad_right = p.int(18, 0).map_err(e)?;
        let out_pad_bottom = p.int(19, out_pad_right).map_err(e)?;
        let output_size = (p.int(21, 0).map_err(e)?, p.int(20, 0).map_err(e)?);
        if c.pads.iter().any(|v| *v < 0) && output_size != (0, 0) {
            return Err(format!(
                "{}: automatic padding to a fixed output size {output_size:?} is not supported",
                ctx(layer)
            ));
        }
        // ncnn crops negative (automatic) pads only together with a fixed output size.
        let pads: Vec<i64> = c.pads.iter().map(|v| (*v).max(0)).collect();
        let weights = self.weights.tagged(c.weight_size as usize, &format!("{}: weight data", ctx(layer)))?;
        // ncnn stores [group][out/g][in/g][kh][kw]; ConvTranspose wants [in][out/g][kh][kw].
        let (g, opg, ipg, k) = (
            c.group as usize,
            (c.out_ch / c.group) as usize,
            (in_ch / c.group) as usize,
            (c.kernel[0] * c.kernel[1]) as usize,
        );
        let mut transposed = vec![0f32; weights.len()];
        for gi in 0..g {
            for o in 0..opg {
                for i in 0..ipg {
                    let src = ((gi * opg + o) * ipg + i) * k;
                    let dst = ((gi * ipg + i) * opg + o) * k;
                    transposed[dst..dst + k].copy_from_slice(&weights[src..src + k]);
                }
            }
        }
        let bias = match c.bias {
            true => Some(self.weights.raw_f32(c.out_ch as usize, &format!("{}: bias", ctx(layer)))?),
            false => None,
        };
        let phases = (c.group == 1 && c.dilation == [1, 1] && (out_pad_bottom, out_pad_right) == (0, 0))
            .then(|| PhasePlan::new(c.stride, c.kernel, &pads))
            .flatten();
        let y = match phases {
            Some(plan) => self.phase_deconvolution(&plan, x, in_ch, c.out_ch, &transposed, bias.as_deref()),
            None => {
                let w = self.g.constant_f32(
                    "deconv_w",
                    &[in_ch, c.out_ch / c.group, c.kernel[0], c.kernel[1]],
                    &transposed,
                );
                let mut inputs = vec![x.value.clone(), w];
                if let Some(b) = &bias {
                    inputs.push(self.g.constant_f32("deconv_b", &[c.out_ch], b));
                }
                let refs: Vec<&str> = inputs.iter().map(String::as_str).collect();
                // ncnn computes the full transposed conv, then crops the pads: ONNX `pads`
                // on ConvTranspose mean exactly that.
                self.g.node(
                    "ConvTranspose",
                    &refs,
                    c.conv_attrs([
                        Attr::Ints("pads", pads),
                        Attr::Ints("output_padding", vec![i64::from(out_pad_bottom), i64::from(out_pad_right)]),
                    ]),
                )
            }
        };
        let value = self.activation(layer, y, c.activation, &c.activation_params)?;
        // Each input pixel meets every weight once.
        self.flops += 2.0 * c.weight_size as f64 * x.scale.0 * x.scale.1;
        let scale = (x.scale.0 * c.stride[0] as f64, x.scale.1 * c.stride[1] as f64);
        Ok(Blob { value, channels: Some(c.out_ch), scale })
    }
}

/// A stride-s transposed convolution as an ordinary convolution to its s x s output
/// phases followed by DepthToSpace. OpenVINO's CPU plugin runs ConvTranspose in fp32
/// whatever the precision hint, and slowly for few output channels (waifu2x-photo's last
/// layer, 256 -> 3: a fifth of the model's bf16 time for 2% of its FLOPs).
struct PhasePlan {
    stride: [i64; 2],
    /// Per axis: the first input offset a phase reads, and how many offsets in all.
    first: [i64; 2],
    taps: [i64; 2],
    /// Zero padding (top, left, bottom, right) of the phase convolution.
    pads: [i64; 4],
    /// The transposed conv's kernel size and begin pads.
    kernel: [i64; 2],
    begin: [i64; 2],
}

impl PhasePlan {
    /// `None` when the output length is not a whole number of phases per input pixel
    /// or the phases would need cropping (then ConvTranspose stays).
    fn new(stride: [i64; 2], kernel: [i64; 2], pads: &[i64]) -> Option<Self> {
        // DepthToSpace takes one block size.
        if stride[0] != stride[1] {
            return None;
        }
        let (mut first, mut taps, mut conv_pads) = ([0; 2], [0; 2], [0; 4]);
        for axis in 0..2 {
            let (s, k, begin, end) = (stride[axis], kernel[axis], pads[axis], pads[axis + 2]);
            // Output o = s*m + r reads input m + d with kernel index r + begin - s*d.
            let offsets = (0..s).flat_map(|r| (-k..=k).filter(move |d| (0..k).contains(&(r + begin - s * d))));
            let (lo, hi) = (offsets.clone().min()?, offsets.max()?);
            // Output length s*(n-1) + k - begin - end = s*(n + extra).
            let total = k - begin - end - s;
            if total % s != 0 {
                return None;
            }
            let extra = total / s;
            // The phase conv gives n + pad_begin + pad_end - taps + 1 outputs: n + extra.
            let (pad_begin, pad_end) = (-lo, extra + (hi - lo) + lo);
            if pad_begin < 0 || pad_end < 0 {
                return None;
            }
            first[axis] = lo;
            taps[axis] = hi - lo + 1;
            conv_pads[axis] = pad_begin;
            conv_pads[axis + 2] = pad_end;
        }
        Some(Self { stride, first, taps, pads: conv_pads, kernel, begin: [pads[0], pads[1]] })
    }
}

impl Lowering<'_> {
    /// `weights` in ConvTranspose layout [in][out][kh][kw] (one group).
    fn phase_deconvolution(
        &mut self,
        plan: &PhasePlan,
        x: &Blob,
        in_ch: i64,
        out_ch: i64,
        weights: &[f32],
        bias: Option<&[f32]>,
    ) -> String {
        let ([sy, sx], [ty, tx], [kh, kw]) = (plan.stride, plan.taps, plan.kernel);
        let phases = out_ch * sy * sx;
        let mut w = vec![0f32; (phases * in_ch * ty * tx) as usize];
        for (o, (ry, rx)) in (0..out_ch).flat_map(|o| (0..sy).flat_map(move |ry| (0..sx).map(move |rx| (o, (ry, rx)))))
        {
            let phase = (o * sy + ry) * sx + rx; // DepthToSpace "CRD" order
            for (dy, dx) in (0..ty).flat_map(|dy| (0..tx).map(move |dx| (dy, dx))) {
                let ky = ry + plan.begin[0] - sy * (plan.first[0] + dy);
                let kx = rx + plan.begin[1] - sx * (plan.first[1] + dx);
                if !((0..kh).contains(&ky) && (0..kw).contains(&kx)) {
                    continue;
                }
                for i in 0..in_ch {
                    w[(((phase * in_ch + i) * ty + dy) * tx + dx) as usize] =
                        weights[(((i * out_ch + o) * kh + ky) * kw + kx) as usize];
                }
            }
        }
        let w = self.g.constant_f32("phase_w", &[phases, in_ch, ty, tx], &w);
        let mut inputs = vec![x.value.clone(), w];
        if let Some(b) = bias {
            let per_phase: Vec<f32> = b.iter().flat_map(|&v| std::iter::repeat_n(v, (sy * sx) as usize)).collect();
            inputs.push(self.g.constant_f32("phase_b", &[phases], &per_phase));
        }
        let refs: Vec<&str> = inputs.iter().map(String::as_str).collect();
        let y = self.g.node(
            "Conv",
            &refs,
            vec![
                Attr::Ints("kernel_shape", vec![ty, tx]),
                Attr::Ints("strides", vec![1, 1]),
                Attr::Ints("dilations", vec![1, 1]),
                Attr::Int("group", 1),
                Attr::Ints("pads", plan.pads.to_vec()),
            ],
        );
        if (sy, sx) == (1, 1) {
            return y;
        }
        let d2s = self.g.node("DepthToSpace", &[&y], vec![Attr::Int("blocksize", sy), Attr::Str("mode", "CRD".into())]);
        self.shuffles.insert(d2s.clone(), (y, sy));
        d2s
    }
}
