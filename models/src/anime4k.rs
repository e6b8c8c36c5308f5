//! WebSR Anime4K CNN x2 JSON weights -> ONNX converter.
//!
//! The JSON (`@websr/websr` `weights/anime4k/cnn-2x-{s,m,l}-*.json`) only lists flat
//! weight arrays; how they are used is fixed by WebSR's TypeScript
//! (`src/networks/anime4k/cnn-2x-*.ts` and the WGSL in `src/layers/anime4k/`):
//!
//! * The network sees the RGBA texture (A = 1). The first 3x3 conv has no activation;
//!   its alpha column is folded into the bias, which is exact because A is constant.
//! * Every later layer reads CReLU(x) = [max(x,0), max(-x,0)] of a "level" (one 4-channel
//!   buffer for S/M, two for L). Each 4x4 block of the flat array is a column-major WGSL
//!   `mat4x4f` (`flat[j*4+o]` = weight of input channel j for output o); 3x3 layers store
//!   block `g*9 + k`, CReLU block g (positives of all buffers, then negatives), kernel tap
//!   k = (dx+1)*3 + (dy+1) (x-major, like Anime4K's GLSL).
//! * S ends with a 3x3 conv to 4 channels: one residual for R, G and B alike. M and L end
//!   with three 1x1 convs (R, G, B) over the concat of every level's CReLU.
//! * The 4 channels become a 2x2 block (channel = dx + 2*dy: ONNX DepthToSpace CRD),
//!   added to the bilinear 2x upscale of the input; the unorm canvas clamps to [0,1].
//!
//! Borders: the graph zero-pads each 3x3 conv, which is only correct away from the
//! edges: the core feeds every tile with at least the receptive radius (4 or 7 input
//! pixels, the catalog's overlap) of reflected or real context and crops that band.
//! WebSR itself differs there too (its later layers read a flat buffer with row
//! wrap-around, its bilinear sampler uses `repeat`); neither is reproducible per tile.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::{
    metadata::{self, PHASES},
    ncnn::Converted,
    onnx::{image_dims, Attr, Dim, GraphBuilder},
    ModelError,
};

/// Name of the input texture in WebSR's JSON `inputs` lists.
const INPUT_IMAGE: &str = "input_image";

#[derive(Debug, Deserialize)]
struct WeightsFile {
    name: String,
    layers: BTreeMap<String, RawLayer>,
}

#[derive(Debug, Deserialize)]
struct RawLayer {
    #[serde(rename = "type")]
    kind: String,
    inputs: Vec<String>,
    #[serde(default)]
    weights: Option<Vec<f32>>,
    #[serde(default)]
    bias: Option<Vec<f32>>,
}

/// The three x2 networks of WebSR, as hard-coded in its TypeScript.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Size {
    S,
    M,
    L,
}

impl Size {
    fn from_network(name: &str) -> Option<Self> {
        match name {
            "anime4k/cnn-2x-s" => Some(Size::S),
            "anime4k/cnn-2x-m" => Some(Size::M),
            "anime4k/cnn-2x-l" => Some(Size::L),
            _ => None,
        }
    }

    /// Levels of 3x3 convs from the image (S: the last 3x3 conv is the head, not a level).
    fn levels(self) -> usize {
        match self {
            Size::S => 3,
            Size::M | Size::L => 7,
        }
    }

    /// 4-channel buffers per level (L splits each 8-channel conv into `_tf` and `_tf1`).
    fn parts(self) -> usize {
        if self == Size::L {
            2
        } else {
            1
        }
    }

    /// Names of the layers producing the residual, in R, G, B order.
    fn head(self) -> Vec<String> {
        match self {
            Size::S => vec!["conv2d_last_tf".into()],
            Size::M => vec!["conv2d_7_tf".into(), "conv2d_7_tf1".into(), "conv2d_7_tf2".into()],
            Size::L => vec!["conv2d_last_tf".into(), "conv2d_last_tf1".into(), "conv2d_last_tf2".into()],
        }
    }

    /// Input pixels on each side that influence an output pixel (one per 3x3 conv).
    fn receptive_radius(self) -> usize {
        match self {
            Size::S => 4,
            Size::M | Size::L => 7,
        }
    }
}

/// Name of WebSR's buffer for `part` of `level` (`conv2d_tf`, `conv2d_3_tf1`, ...).
fn buffer_name(level: usize, part: usize) -> String {
    let base = if level == 0 { "conv2d_tf".to_string() } else { format!("conv2d_{level}_tf") };
    if part == 0 {
        base
    } else {
        format!("{base}{part}")
    }
}

fn level_names(level: usize, parts: usize) -> Vec<String> {
    (0..parts).map(|p| buffer_name(level, p)).collect()
}

/// A conv layer in ONNX layout: weights [cout][cin][k][k], bias [cout].
#[derive(Debug, Clone, PartialEq)]
struct OnnxConv {
    weights: Vec<f32>,
    bias: Vec<f32>,
    cout: usize,
    cin: usize,
    k: usize,
}

impl OnnxConv {
    /// Stacks convs with the same input along the output channels.
    fn stack(convs: Vec<OnnxConv>) -> OnnxConv {
        let mut out = OnnxConv { weights: Vec::new(), bias: Vec::new(), cout: 0, cin: convs[0].cin, k: convs[0].k };
        for c in convs {
            out.weights.extend(c.weights);
            out.bias.extend(c.bias);
            out.cout += c.cout;
        }
        out
    }

    /// Multiply-adds count 2; the elementwise ops (CReLU, bilinear, add) are left out:
    /// about 170 FLOPs for S (9% of its total), under 2% for L.
    fn flops_per_pixel(&self) -> f64 {
        2.0 * (self.cout * self.cin * self.k * self.k) as f64
    }
}

/// Reorders WebSR 3x3 mat4 blocks (`blocks` input blocks of 4 channels) to ONNX layout.
fn reorder_3x3(flat: &[f32], blocks: usize) -> Vec<f32> {
    let cin = blocks * 4;
    let mut w = vec![0.0; 4 * cin * 9];
    for g in 0..blocks {
        for k in 0..9 {
            let (kx, ky) = (k / 3, k % 3);
            for j in 0..4 {
                for o in 0..4 {
                    w[((o * cin + g * 4 + j) * 3 + ky) * 3 + kx] = flat[(g * 9 + k) * 16 + j * 4 + o];
                }
            }
        }
    }
    w
}

/// Reorders WebSR 1x1 mat4 blocks (block g = input channels 4g..4g+3) to ONNX layout.
fn reorder_1x1(flat: &[f32], blocks: usize) -> Vec<f32> {
    let cin = blocks * 4;
    let mut w = vec![0.0; 4 * cin];
    for g in 0..blocks {
        for j in 0..4 {
            for o in 0..4 {
                w[o * cin + g * 4 + j] = flat[g * 16 + j * 4 + o];
            }
        }
    }
    w
}

/// Checked access to the JSON, with errors naming the model.
struct Reader<'a> {
    model: &'a str,
    file: &'a WeightsFile,
}

impl Reader<'_> {
    fn err(&self, reason: String) -> ModelError {
        ModelError::Anime4k { model: self.model.into(), reason }
    }

    /// The layer `name`, checked to be of `kind` and to read exactly `inputs`.
    fn layer(&self, name: &str, kind: &str, inputs: &[String]) -> Result<&RawLayer, ModelError> {
        let layer = self.file.layers.get(name).ok_or_else(|| {
            let found: Vec<&str> = self.file.layers.keys().map(String::as_str).collect();
            self.err(format!("layer {name} is missing for {} (found {})", self.file.name, found.join(", ")))
        })?;
        if layer.kind != kind {
            return Err(self.err(format!("layer {name}: type is {:?}, expected {kind:?}", layer.kind)));
        }
        if layer.inputs != inputs {
            return Err(self.err(format!("layer {name}: inputs are {:?}, expected {inputs:?}", layer.inputs)));
        }
        Ok(layer)
    }

    /// `values` checked to hold `expected` finite numbers; `formula` explains `expected`.
    fn values<'l>(
        &self,
        name: &str,
        field: &str,
        values: &'l Option<Vec<f32>>,
        expected: usize,
        formula: &str,
    ) -> Result<&'l [f32], ModelError> {
        let values = values.as_deref().ok_or_else(|| self.err(format!("layer {name}: no {field} array")))?;
        if values.len() != expected {
            return Err(
                self.err(format!("layer {name}: {field} has {} values, expected {formula} = {expected}", values.len()))
            );
        }
        if let Some(i) = values.iter().position(|v| !v.is_finite()) {
            return Err(self.err(format!("layer {name}: {field}[{i}] = {} is not a finite float32", values[i])));
        }
        Ok(values)
    }

    fn bias(&self, name: &str, layer: &RawLayer) -> Result<Vec<f32>, ModelError> {
        Ok(self.values(name, "bias", &layer.bias, 4, "4 output channels")?.to_vec())
    }

    /// First layer: 3x3 over the RGBA image, alpha (always 1) folded into the bias.
    fn image_conv(&self, name: &str) -> Result<OnnxConv, ModelError> {
        let layer = self.layer(name, "conv", &[INPUT_IMAGE.to_string()])?;
        let flat = self.values(name, "weights", &layer.weights, 9 * 16, "9 taps * 4 inputs (RGBA) * 4 outputs")?;
        let rgba = reorder_3x3(flat, 1);
        let mut bias = self.bias(name, layer)?;
        let mut weights = Vec::with_capacity(4 * 3 * 9);
        for (o, b) in bias.iter_mut().enumerate() {
            let row = &rgba[o * 36..(o + 1) * 36];
            weights.extend_from_slice(&row[..27]);
            *b += row[27..].iter().sum::<f32>();
        }
        Ok(OnnxConv { weights, bias, cout: 4, cin: 3, k: 3 })
    }

    /// 3x3 layer over CReLU of the `parts` buffers of `level`.
    fn crelu_conv3x3(&self, name: &str, level: usize, parts: usize) -> Result<OnnxConv, ModelError> {
        let layer = self.layer(name, "conv", &level_names(level, parts))?;
        let blocks = 2 * parts;
        let formula = format!("9 taps * {blocks} CReLU blocks * 4 * 4");
        let flat = self.values(name, "weights", &layer.weights, 9 * blocks * 16, &formula)?;
        Ok(OnnxConv {
            weights: reorder_3x3(flat, blocks),
            bias: self.bias(name, layer)?,
            cout: 4,
            cin: blocks * 4,
            k: 3,
        })
    }

    /// 1x1 layer over the concat of CReLU of every level.
    fn concat_conv1x1(&self, name: &str, levels: usize, parts: usize) -> Result<OnnxConv, ModelError> {
        let inputs: Vec<String> = (0..levels).flat_map(|l| level_names(l, parts)).collect();
        let layer = self.layer(name, "conv", &inputs)?;
        let blocks = 2 * parts * levels;
        let formula = format!("{levels} levels * {} CReLU blocks * 4 * 4", 2 * parts);
        let flat = self.values(name, "weights", &layer.weights, blocks * 16, &formula)?;
        Ok(OnnxConv {
            weights: reorder_1x1(flat, blocks),
            bias: self.bias(name, layer)?,
            cout: 4,
            cin: blocks * 4,
            k: 1,
        })
    }
}

/// The whole network in ONNX layout, read and checked from the JSON.
#[derive(Debug)]
struct Network {
    size: Size,
    /// One conv per level (parts stacked along the output channels).
    levels: Vec<OnnxConv>,
    /// Produces 4 (S) or 12 (M, L: R, G, B) channels before depth-to-space.
    head: OnnxConv,
}

fn parse(model_name: &str, json: &str) -> Result<Network, ModelError> {
    let err = |reason: String| ModelError::Anime4k { model: model_name.into(), reason };
    let file: WeightsFile = serde_json::from_str(json).map_err(|e| err(format!("not WebSR Anime4K JSON: {e}")))?;
    let size = Size::from_network(&file.name).ok_or_else(|| {
        err(format!(
            "network {:?} is not one of WebSR's x2 CNNs (anime4k/cnn-2x-s, anime4k/cnn-2x-m, anime4k/cnn-2x-l)",
            file.name
        ))
    })?;
    let r = Reader { model: model_name, file: &file };
    let parts = size.parts();
    let mut levels = Vec::with_capacity(size.levels());
    for level in 0..size.levels() {
        let convs = level_names(level, parts)
            .iter()
            .map(|name| if level == 0 { r.image_conv(name) } else { r.crelu_conv3x3(name, level - 1, parts) })
            .collect::<Result<Vec<_>, _>>()?;
        levels.push(OnnxConv::stack(convs));
    }
    let head_names = size.head();
    let head = match size {
        Size::S => r.crelu_conv3x3(&head_names[0], size.levels() - 1, parts)?,
        Size::M | Size::L => OnnxConv::stack(
            head_names.iter().map(|n| r.concat_conv1x1(n, size.levels(), parts)).collect::<Result<Vec<_>, _>>()?,
        ),
    };
    // WebSR ignores this layer, but it states which buffers are shuffled: a mismatch
    // means the file was not made for the graph hard-coded above.
    r.layer("pixel_shuffle", "pixel_shuffle", &head_names)?;
    Ok(Network { size, levels, head })
}

/// Adds a Conv (3x3 with one pixel of zero padding, or 1x1) and returns its output.
///
/// Zero padding instead of Anime4K's clamp-to-edge: the core always feeds tiles with
/// at least the receptive radius of context, so the padding only touches pixels that
/// are cropped away, and ONNX Runtime keeps padded convs in its blocked layout (a Pad
/// node between convs costs two layout conversions).
fn add_conv(g: &mut GraphBuilder, input: &str, conv: &OnnxConv) -> String {
    let dims = [conv.cout as i64, conv.cin as i64, conv.k as i64, conv.k as i64];
    let w = g.constant_f32("w", &dims, &conv.weights);
    let b = g.constant_f32("b", &[conv.cout as i64], &conv.bias);
    let (k, pad) = (conv.k as i64, conv.k as i64 / 2);
    g.node("Conv", &[input, &w, &b], vec![Attr::Ints("kernel_shape", vec![k, k]), Attr::Ints("pads", vec![pad; 4])])
}

/// CReLU(conv(x)) = [relu(conv(x)), relu(-conv(x))] as one conv with the negated
/// filters stacked under the originals, then Relu (fused into the conv by ONNX
/// Runtime): exact, since negation is exact, and no Neg/Concat passes over memory.
fn add_conv_crelu(g: &mut GraphBuilder, input: &str, conv: &OnnxConv) -> String {
    let negated = OnnxConv {
        weights: conv.weights.iter().map(|w| -w).collect(),
        bias: conv.bias.iter().map(|b| -b).collect(),
        ..conv.clone()
    };
    let both = OnnxConv::stack(vec![conv.clone(), negated]);
    let x = add_conv(g, input, &both);
    g.node("Relu", &[&x], vec![])
}

/// The head for R, G, B: M and L already give 12 channels (colour c, 2x2 phase p at
/// channel 4c + p); S's 4 channels are shared by R, G and B, so its filters repeat.
fn head_per_color(net: &Network) -> OnnxConv {
    match net.size {
        Size::S => OnnxConv::stack(vec![net.head.clone(), net.head.clone(), net.head.clone()]),
        Size::M | Size::L => net.head.clone(),
    }
}

/// Half-pixel bilinear x2 of each colour as a 3x3 conv to its four 2x2 phases (phase
/// dy*2+dx of colour c at channel 4c + dy*2 + dx, ready for DepthToSpace CRD).
fn bilinear_phases() -> OnnxConv {
    // Output 2i reads 0.25 x[i-1] + 0.75 x[i]; output 2i+1 reads 0.75 x[i] + 0.25 x[i+1].
    const TAPS: [[f32; 3]; 2] = [[0.25, 0.75, 0.0], [0.0, 0.75, 0.25]];
    let mut weights = vec![0.0; 12 * 3 * 9];
    for c in 0..3 {
        for (dy, wy) in TAPS.iter().enumerate() {
            for (dx, wx) in TAPS.iter().enumerate() {
                let o = 4 * c + 2 * dy + dx;
                for ky in 0..3 {
                    for kx in 0..3 {
                        weights[((o * 3 + c) * 3 + ky) * 3 + kx] = wy[ky] * wx[kx];
                    }
                }
            }
        }
    }
    OnnxConv { weights, bias: vec![0.0; 12], cout: 12, cin: 3, k: 3 }
}

fn build(model_name: &str, net: &Network) -> Converted {
    let mut g = GraphBuilder::new(model_name);
    g.input_f32("input", &image_dims(3));
    let out_dims = [Dim::Fixed(1), Dim::Fixed(12), Dim::named("height"), Dim::named("width")];
    g.output_f32("output", &out_dims);
    let mut flops = 0.0;

    let mut crelus: Vec<String> = Vec::with_capacity(net.levels.len());
    for conv in &net.levels {
        let input = crelus.last().cloned().unwrap_or_else(|| "input".to_string());
        crelus.push(add_conv_crelu(&mut g, &input, conv));
        // The network's own work; the negated half of each conv is an implementation detail.
        flops += conv.flops_per_pixel();
    }
    let head_input = match net.size {
        Size::S => crelus.last().cloned().unwrap_or_default(),
        Size::M | Size::L => {
            let refs: Vec<&str> = crelus.iter().map(String::as_str).collect();
            g.node("Concat", &refs, vec![Attr::Int("axis", 1)])
        }
    };
    // residual + bilinear 2x of the input, both in the 12-channel phase layout; ONNX
    // Runtime fuses the Add into the second conv, and the sum goes to depth-to-space once.
    let residual = add_conv(&mut g, &head_input, &head_per_color(net));
    flops += net.head.flops_per_pixel();
    let upscaled = add_conv(&mut g, "input", &bilinear_phases());
    // The output stays in phase layout (see `PHASES`): depth-to-space and the clamp to
    // [0,1] are a fifth of ONNX Runtime's time at 720x480, and the core does both
    // anyway while it writes the pixels.
    g.node_with_outputs("Add", &[&residual, &upscaled], &["output"], vec![]);

    let radius = net.size.receptive_radius().to_string();
    let doc = "Anime4K CNN x2 (WebSR weights): CReLU conv stack, residual over bilinear 2x, in 2x2 phase layout";
    let metadata = [(metadata::SOURCE, model_name), (metadata::RECEPTIVE_RADIUS, &radius), PHASES];
    let model = g.finish(doc, &metadata);
    Converted { model, flops_per_pixel: flops }
}

/// Converts WebSR's Anime4K JSON weights to ONNX with input `input` [1,3,H,W] and
/// output `output` [1,12,H,W] in phase layout ([`PHASES`]), float32 RGB.
pub fn convert(model_name: &str, json: &str) -> Result<Converted, ModelError> {
    let net = parse(model_name, json)?;
    Ok(build(model_name, &net))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::onnx::ModelProto;
    use prost::Message;
    use serde_json::{json, Value};

    /// Deterministic small weights so that reordering mistakes cannot hide behind zeros.
    fn ramp(n: usize, seed: usize) -> Vec<f32> {
        (0..n).map(|i| (((i * 7 + seed * 13) % 23) as f32 - 11.0) / 64.0).collect()
    }

    fn conv(name: &str, inputs: &[String], n: usize, seed: usize) -> (String, Value) {
        let layer = json!({"name": name, "type": "conv", "inputs": inputs, "output": name,
                           "weights": ramp(n, seed), "bias": ramp(4, seed + 1)});
        (name.to_string(), layer)
    }

    /// A JSON file in WebSR's schema for `size`, built the way `parse` expects it.
    fn network_json(size: Size) -> Value {
        let parts = size.parts();
        let mut layers = serde_json::Map::new();
        for level in 0..size.levels() {
            for name in level_names(level, parts) {
                let (inputs, n) = if level == 0 {
                    (vec![INPUT_IMAGE.to_string()], 144)
                } else {
                    (level_names(level - 1, parts), 9 * 2 * parts * 16)
                };
                let (k, v) = conv(&name, &inputs, n, layers.len());
                layers.insert(k, v);
            }
        }
        for name in size.head() {
            let (inputs, n) = match size {
                Size::S => (level_names(size.levels() - 1, parts), 9 * 2 * 16),
                _ => ((0..size.levels()).flat_map(|l| level_names(l, parts)).collect(), size.levels() * 2 * parts * 16),
            };
            let (k, v) = conv(&name, &inputs, n, layers.len());
            layers.insert(k, v);
        }
        layers.insert(
            "pixel_shuffle".into(),
            json!({"name": "pixel_shuffle", "type": "pixel_shuffle", "inputs": size.head(), "output": "canvas"}),
        );
        let name = match size {
            Size::S => "anime4k/cnn-2x-s",
            Size::M => "anime4k/cnn-2x-m",
            Size::L => "anime4k/cnn-2x-l",
        };
        json!({"name": name, "layers": layers})
    }

    fn decode(converted: &Converted) -> ModelProto {
        ModelProto::decode(converted.model.to_bytes().as_slice()).unwrap()
    }

    fn count(model: &ModelProto, op: &str) -> usize {
        model.graph.as_ref().unwrap().node.iter().filter(|n| n.op_type == op).count()
    }

    /// Float counts of the Conv weight initializers, in graph order.
    fn conv_weight_sizes(model: &ModelProto) -> Vec<usize> {
        let graph = model.graph.as_ref().unwrap();
        graph
            .node
            .iter()
            .filter(|n| n.op_type == "Conv")
            .map(|n| {
                let init = graph.initializer.iter().find(|t| t.name == n.input[1]).unwrap();
                init.raw_data.len() / 4
            })
            .collect()
    }

    fn reason(result: Result<Converted, ModelError>) -> String {
        match result {
            Err(ModelError::Anime4k { model, reason }) => {
                assert_eq!(model, "m");
                reason
            }
            other => panic!("expected an Anime4k error, got {other:?}"),
        }
    }

    #[test]
    fn small_network_graph() {
        let converted = convert("anime4k-x2-s-test", &network_json(Size::S).to_string()).unwrap();
        let model = decode(&converted);
        // Levels carry their negated filters (CReLU); the head repeats for R, G, B; the
        // last conv is the bilinear 2x of the input.
        assert_eq!(conv_weight_sizes(&model), vec![8 * 3 * 9, 8 * 8 * 9, 8 * 8 * 9, 12 * 8 * 9, 12 * 3 * 9]);
        assert_eq!((count(&model, "Pad"), count(&model, "Relu"), count(&model, "Neg")), (0, 3, 0));
        assert_eq!((count(&model, "DepthToSpace"), count(&model, "Resize"), count(&model, "Clip")), (0, 0, 0));
        let graph = model.graph.as_ref().unwrap();
        assert_eq!(graph.input[0].name, "input");
        assert_eq!(graph.output[0].name, "output");
        assert_eq!(graph.node.last().unwrap().output, vec!["output".to_string()]);
        assert_eq!(model.opset_import[0].version, 17);
        let source = model.metadata_props.iter().find(|p| p.key == metadata::SOURCE).unwrap();
        assert_eq!(source.value, "anime4k-x2-s-test");
        assert_eq!(converted.flops_per_pixel, 216.0 + 3.0 * 576.0);
    }

    #[test]
    fn medium_and_large_heads_are_one_1x1_conv_over_all_levels() {
        let m = convert("m", &network_json(Size::M).to_string()).unwrap();
        let sizes = conv_weight_sizes(&decode(&m));
        assert_eq!(sizes.len(), 9);
        assert_eq!(sizes[7], 12 * 56);
        assert_eq!(count(&decode(&m), "Pad"), 0);
        assert_eq!(m.flops_per_pixel, 216.0 + 6.0 * 576.0 + 2.0 * 56.0 * 12.0);

        let l = convert("l", &network_json(Size::L).to_string()).unwrap();
        let sizes = conv_weight_sizes(&decode(&l));
        assert_eq!(sizes, [vec![16 * 3 * 9], vec![16 * 16 * 9; 6], vec![12 * 112, 12 * 3 * 9]].concat());
        assert_eq!(l.flops_per_pixel, 432.0 + 6.0 * 2304.0 + 2.0 * 112.0 * 12.0);
    }

    #[test]
    fn reorders_mat4_columns_and_x_major_taps() {
        // Block g=1 (negatives), tap k=5 = (dx 0, dy +1), input j=2, output o=3.
        let mut flat = vec![0.0; 9 * 2 * 16];
        flat[(9 + 5) * 16 + 2 * 4 + 3] = 1.0;
        let w = reorder_3x3(&flat, 2);
        let (cin, ky, kx) = (8, 2, 1);
        assert_eq!(w[((3 * cin + 4 + 2) * 3 + ky) * 3 + kx], 1.0);
        assert_eq!(w.iter().sum::<f32>(), 1.0);

        let mut flat = vec![0.0; 3 * 16];
        flat[2 * 16 + 4 + 2] = 1.0; // block 2, input 1, output 2
        let w = reorder_1x1(&flat, 3);
        assert_eq!(w[2 * 12 + 8 + 1], 1.0);
    }

    #[test]
    fn alpha_column_folds_into_bias() {
        let mut file = network_json(Size::S);
        let first = &mut file["layers"]["conv2d_tf"];
        let mut w = vec![0.0f32; 144];
        for k in 0..9 {
            w[k * 16 + 12 + 1] = 0.5; // alpha -> output 1, every tap
        }
        first["weights"] = json!(w);
        first["bias"] = json!([0.0, 0.25, 0.0, 0.0]);
        let net = parse("m", &file.to_string()).unwrap();
        assert_eq!(net.levels[0].bias, vec![0.0, 4.75, 0.0, 0.0]);
        assert!(net.levels[0].weights.iter().all(|&v| v == 0.0));
    }

    #[test]
    fn wrong_weight_count_names_layer_and_expectation() {
        let mut file = network_json(Size::M);
        file["layers"]["conv2d_3_tf"]["weights"] = json!(ramp(287, 0));
        let r = reason(convert("m", &file.to_string()));
        assert!(r.contains("conv2d_3_tf") && r.contains("287") && r.contains("= 288"), "{r}");

        let mut file = network_json(Size::L);
        file["layers"]["conv2d_last_tf2"]["bias"] = json!([1.0, 2.0]);
        let r = reason(convert("m", &file.to_string()));
        assert!(r.contains("conv2d_last_tf2: bias has 2 values, expected"), "{r}");
    }

    #[test]
    fn structural_errors_are_typed() {
        let mut file = network_json(Size::S);
        file["layers"].as_object_mut().unwrap().remove("conv2d_2_tf");
        assert!(reason(convert("m", &file.to_string())).contains("layer conv2d_2_tf is missing"));

        let mut file = network_json(Size::S);
        file["layers"]["conv2d_1_tf"]["inputs"] = json!(["input_image"]);
        let r = reason(convert("m", &file.to_string()));
        assert!(r.contains("conv2d_1_tf: inputs are [\"input_image\"], expected [\"conv2d_tf\"]"), "{r}");

        let mut file = network_json(Size::S);
        file["name"] = json!("anime4k/cnn-restore-s");
        assert!(reason(convert("m", &file.to_string())).contains("not one of WebSR's x2 CNNs"));

        let mut file = network_json(Size::S);
        file["layers"]["pixel_shuffle"]["inputs"] = json!(["conv2d_2_tf"]);
        assert!(reason(convert("m", &file.to_string())).contains("pixel_shuffle"));

        let mut file = network_json(Size::S);
        file["layers"]["conv2d_tf"]["weights"][7] = json!(1e300);
        assert!(reason(convert("m", &file.to_string())).contains("not a finite float32"));

        assert!(reason(convert("m", "{\"name\": 3}")).contains("not WebSR Anime4K JSON"));
        assert!(reason(convert("m", "")).contains("not WebSR Anime4K JSON"));
    }

    /// Start of the real `cnn-2x-s-rl.json` (weights cut after one mat4) and its last layer.
    const REAL_EXCERPT: &str = r#"{"name": "anime4k/cnn-2x-s", "layers": {"conv2d_tf": {"name": "conv2d_tf", "type": "conv", "inputs": ["input_image"], "output": "conv2d_tf", "weights": [-0.25782192, 0.15356855, -0.07591801, 0.025576258, 0.15639038, -0.003467518, 0.12388964, -0.074463956, 0.1363419, 0.10602972, -0.08083917, -0.0098574, 0.0, 0.0, 0.0, 0.0], "bias": [-0.09206034, 0.14355598, 0.10932139, 0.0016021392]}, "pixel_shuffle": {"name": "pixel_shuffle", "type": "pixel_shuffle", "inputs": ["conv2d_last_tf"], "output": "canvas"}}}"#;

    #[test]
    fn real_schema_excerpt_parses() {
        let file: WeightsFile = serde_json::from_str(REAL_EXCERPT).unwrap();
        assert_eq!(Size::from_network(&file.name), Some(Size::S));
        assert_eq!(file.layers["conv2d_tf"].inputs, vec![INPUT_IMAGE.to_string()]);
        assert_eq!(file.layers["pixel_shuffle"].kind, "pixel_shuffle");
        assert!(file.layers["pixel_shuffle"].weights.is_none());
        let r = reason(convert("m", REAL_EXCERPT));
        assert!(
            r.contains("conv2d_tf: weights has 16 values, expected 9 taps * 4 inputs (RGBA) * 4 outputs = 144"),
            "{r}"
        );
    }
}
