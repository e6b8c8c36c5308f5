//! ncnn `.param` + `.bin` -> ONNX converter.
//!
//! Covers the ops of the Real-ESRGAN, SPAN, Real-CUGAN and waifu2x (upconv_7, CUNet)
//! ncnn models we ship, plus the common activations; anything else is refused with a
//! typed error rather than converted approximately. The graph keeps ncnn's tensor
//! convention: float32 NCHW RGB in [0,1], input `input` [1,3,H,W], output `output`
//! [1,3,H',W'].

mod bin;
mod conv;
mod lower;
mod param;
#[cfg(test)]
mod tests;
mod unet;
#[cfg(test)]
mod unet_tests;

use std::collections::HashSet;

use crate::{
    metadata::{self, PHASES},
    onnx::{image_dims, Attr, Dim, GraphBuilder, ModelProto},
    ModelError,
};
use lower::{Lowering, INPUT};

/// The graph output's value name.
const OUTPUT: &str = "output";

/// A converted model and its cost, counted while converting.
#[derive(Debug, Clone)]
pub struct Converted {
    pub model: ModelProto,
    /// Floating-point operations per input pixel (multiply-add = 2).
    pub flops_per_pixel: f64,
}

/// Steps the original program runs around its ncnn graph, appended to ours.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Extras {
    /// Add a nearest-neighbour upscale of the input, less this border on each side, to
    /// the output (realcugan-ncnn-vulkan does so for its x4 models).
    pub nearest_residual: Option<u32>,
}

/// Converts an ncnn model (the `.param` text and the `.bin` weights) to ONNX with
/// input `input` [1,3,H,W] and output `output`, both float32 RGB in [0,1].
pub fn convert(model_name: &str, param: &str, bin: &[u8]) -> Result<Converted, ModelError> {
    convert_with(model_name, param, bin, Extras::default())
}

/// [`convert`] with the original's extra steps.
pub fn convert_with(model_name: &str, param: &str, bin: &[u8], extras: Extras) -> Result<Converted, ModelError> {
    convert_inner(model_name, param, bin, extras)
        .map_err(|reason| ModelError::Ncnn { model: model_name.into(), reason })
}

fn convert_inner(model_name: &str, param: &str, bin: &[u8], extras: Extras) -> Result<Converted, String> {
    let file = param::parse(param)?;
    let output_blob = pick_output(&file)?;

    let mut lowering = Lowering::new(model_name, bin);
    for layer in &file.layers {
        lowering.layer(layer)?;
    }
    if !lowering.has_input {
        return Err("the .param has no Input layer".into());
    }
    // ncnn sizes its blob table from this count; more blobs would not load there.
    if lowering.blobs.len() > file.blob_count {
        return Err(format!(
            "the .param declares {} blobs, its layers produce {}",
            file.blob_count,
            lowering.blobs.len()
        ));
    }
    // Leftover weights mean the .param and .bin do not belong together.
    if lowering.weights.remaining() != 0 {
        return Err(format!(
            "the layers use {} bytes of weights, but the .bin has {} ({} left over); is it the .bin of this .param?",
            lowering.weights.position(),
            bin.len(),
            lowering.weights.remaining()
        ));
    }

    let mut out = lowering
        .blobs
        .get(&output_blob)
        .cloned()
        .ok_or_else(|| format!("output blob {output_blob:?} was never produced"))?;
    if let Some(border) = extras.nearest_residual {
        out.value = nearest_residual(&mut lowering.g, &out, border)?;
    }
    if let Some(c) = out.channels {
        if c != 3 {
            return Err(format!("output blob {output_blob:?} has {c} channels, expected 3 (RGB)"));
        }
    }
    let phased = match extras.nearest_residual {
        None if !lowering.g.consumes(&out.value) => phase_output(&mut lowering, &out.value),
        _ => None,
    };
    let flops = lowering.flops;
    let mut g = lowering.g;
    if out.value == INPUT {
        // A graph that passes its input through still needs a node to name the output.
        g.node_with_outputs("Identity", &[INPUT], &[OUTPUT], vec![]);
    }
    g.input_f32(INPUT, &image_dims(3));
    let out_channels = phased.as_ref().map_or(3, |(_, s)| 3 * s * s);
    g.output_f32(OUTPUT, &[Dim::Fixed(1), Dim::Fixed(out_channels), Dim::named("out_height"), Dim::named("out_width")]);

    let scale = if out.scale.0 == out.scale.1 {
        fmt_num(out.scale.0)
    } else {
        format!("{}x{}", fmt_num(out.scale.0), fmt_num(out.scale.1))
    };
    let flops_text = format!("{flops}");
    let mut metadata = vec![
        (metadata::SOURCE, model_name),
        (metadata::CONVERTER, "ncnn"),
        (metadata::SCALE, &scale),
        (metadata::FLOPS_PER_PIXEL, &flops_text),
    ];
    if phased.is_some() {
        metadata.push(PHASES);
    }
    let mut model = g.finish(&format!("{model_name}, converted from ncnn by aiupscale-models"), &metadata);
    let out_value = phased.as_ref().map_or(&out.value, |(phases, _)| phases);
    if out_value != INPUT {
        rename_value(&mut model, out_value, OUTPUT);
    }
    if phased.is_some() {
        // The depth-to-space (and the nearest base) now lead nowhere.
        prune(&mut model);
    }
    Ok(Converted { model, flops_per_pixel: flops })
}

/// `out` plus the input, less `border` on each side, upscaled by nearest neighbour to
/// the output's size.
fn nearest_residual(g: &mut GraphBuilder, out: &lower::Blob, border: u32) -> Result<String, String> {
    let s = out.scale.0;
    if s != out.scale.1 || s < 1.0 || s.fract() != 0.0 {
        return Err(format!("a nearest residual needs one integer output scale, the graph has {:?}", out.scale));
    }
    let b = i64::from(border);
    let starts = g.constant_i64("residual_starts", &[2], &[b, b]);
    let end = if b > 0 { -b } else { i64::MAX };
    let ends = g.constant_i64("residual_ends", &[2], &[end, end]);
    let axes = g.constant_i64("residual_axes", &[2], &[2, 3]);
    let inner = g.node("Slice", &[INPUT, &starts, &ends, &axes], vec![]);
    let scales = g.constant_f32("residual_scales", &[4], &[1.0, 1.0, s as f32, s as f32]);
    let attrs = vec![
        Attr::Str("mode", "nearest".into()),
        Attr::Str("coordinate_transformation_mode", "asymmetric".into()),
        Attr::Str("nearest_mode", "floor".into()),
    ];
    let up = g.node("Resize", &[&inner, "", &scales], attrs);
    Ok(g.node("Add", &[&out.value, &up], vec![]))
}

/// The blob that becomes the graph output: the one named `output` (Real-ESRGAN), else
/// the only blob that no layer consumes (waifu2x names it e.g. `Eltwise4`).
fn pick_output(file: &param::ParamFile) -> Result<String, String> {
    let produced: Vec<&String> = file.layers.iter().flat_map(|l| &l.outputs).collect();
    if produced.iter().any(|b| *b == OUTPUT) {
        return Ok(OUTPUT.into());
    }
    let consumed: HashSet<&String> = file.layers.iter().flat_map(|l| &l.inputs).collect();
    let sinks: Vec<&String> = produced.into_iter().filter(|b| !consumed.contains(b)).collect();
    match sinks.as_slice() {
        [one] => Ok((*one).clone()),
        [] => Err("no blob is named \"output\" and every blob is consumed, so the output is unknown".into()),
        many => Err(format!(
            "no blob is named \"output\" and {} blobs are unused ({many:?}); expected exactly one",
            many.len()
        )),
    }
}

/// The output in phase layout (`PHASES`) when the graph ends in a CRD depth-to-space,
/// alone (waifu2x upconv_7's deconvolution, SPAN) or plus a nearest upscale of the input
/// by the same factor (SRVGGNet: animevideov3 x4): (the phase value, block size). The
/// core does the depth-to-space and the clamp while it writes pixels, which saves
/// passes over the largest tensors; a nearest base in phase layout is the input itself,
/// added to each colour's phases by broadcasting.
fn phase_output(lowering: &mut Lowering, out: &str) -> Option<(String, i64)> {
    // The core reads phase layouts of scale 2..=8 (`upscaler::phase_scale`).
    let shuffle = |value: &str| lowering.shuffles.get(value).filter(|(_, s)| (2..=8).contains(s)).cloned();
    if let Some(direct) = shuffle(out) {
        return Some(direct);
    }
    let (a, b) = lowering.adds.get(out)?.clone();
    let (phases, s) = [(&a, &b), (&b, &a)].into_iter().find_map(|(shuffled, base)| {
        let found = shuffle(shuffled)?;
        (lowering.nearest_inputs.get(base) == Some(&found.1)).then_some(found)
    })?;
    let g = &mut lowering.g;
    // [1, 3*s*s, H, W] as [1, 3, s*s, H*W] plus the input as [1, 3, 1, H*W].
    let split = g.constant_i64("phase_split", &[4], &[0, 3, s * s, -1]);
    let grouped = g.node("Reshape", &[&phases, &split], vec![]);
    let flat = g.constant_i64("base_split", &[4], &[0, 3, 1, -1]);
    let base = g.node("Reshape", &[INPUT, &flat], vec![]);
    let sum = g.node("Add", &[&grouped, &base], vec![]);
    let shape = g.node("Shape", &[&phases], vec![]);
    Some((g.node("Reshape", &[&sum, &shape], vec![]), s))
}

/// Removes nodes whose outputs nothing reads and initializers no node reads.
fn prune(model: &mut ModelProto) {
    let Some(graph) = model.graph.as_mut() else { return };
    let mut live: HashSet<String> = graph.output.iter().map(|o| o.name.clone()).collect();
    let mut keep = vec![false; graph.node.len()];
    for (i, node) in graph.node.iter().enumerate().rev() {
        if node.output.iter().any(|o| live.contains(o)) {
            keep[i] = true;
            live.extend(node.input.iter().cloned());
        }
    }
    let mut flags = keep.into_iter();
    graph.node.retain(|_| flags.next().unwrap_or(false));
    graph.initializer.retain(|t| live.contains(&t.name));
}

/// Renames an internal value everywhere it occurs (we learn the output's value name
/// only after lowering).
fn rename_value(model: &mut ModelProto, from: &str, to: &str) {
    let Some(graph) = model.graph.as_mut() else { return };
    for node in &mut graph.node {
        for v in node.input.iter_mut().chain(node.output.iter_mut()) {
            if v == from {
                *v = to.into();
            }
        }
    }
}

fn fmt_num(v: f64) -> String {
    if v.fract() == 0.0 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}
