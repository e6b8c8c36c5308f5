//! Two converted models as one graph (catalog `blend`): the entry's own network on the
//! input, blended with a second catalog model that runs on the input halved.
//!
//! An x4 model on the halved input nets x2 at a quarter of its cost per input pixel, and
//! blending a faithful model with a crisper one trades fidelity against naturalness
//! (MODELS.md, "Footage paths"). As one ONNX graph the pair is an ordinary model to the
//! core, the element, the command line and the plug-ins: one session, the usual tiling
//! (`tile_multiple = 2` keeps every tile on the halving's grid), every engine.
//!
//! The halving is the core's bicubic (`Filter::Bicubic`, an antialiased Catmull-Rom, as
//! fast_image_resize computes it) written as a stride-2 depthwise convolution; at the
//! image's edges it repeats the edge pixel where the resampler renormalises its taps.

use serde::Deserialize;

use crate::metadata::{BLEND, FLOPS_PER_PIXEL, PHASES};
use crate::ncnn::Converted;
use crate::onnx::{image_dims, Attr, GraphBuilder, GraphProto, ModelProto};
use crate::ModelError;

/// A catalog entry's `blend = { with = "...", weight = ..., prescale = 2 }`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Blend {
    /// The catalog model blended in; its files follow the entry's own in `files`.
    pub with: String,
    /// Its share of the output (the entry's own network takes the rest).
    pub weight: f32,
    /// The factor the input is downscaled by before it (only 2 is supported).
    pub prescale: u32,
}

/// The halving's taps along one axis: Catmull-Rom at half the input's rate, centred
/// between the two input pixels each output pixel covers.
pub fn halving_taps() -> [f32; 8] {
    let cubic = |x: f64| {
        let x = x.abs();
        if x < 1.0 {
            1.5 * x * x * x - 2.5 * x * x + 1.0
        } else if x < 2.0 {
            -0.5 * x * x * x + 2.5 * x * x - 4.0 * x + 2.0
        } else {
            0.0
        }
    };
    let raw: Vec<f64> = (0..8).map(|t| cubic((f64::from(t) - 3.5) / 2.0)).collect();
    let sum: f64 = raw.iter().sum();
    std::array::from_fn(|t| (raw[t] / sum) as f32)
}

/// `graph` with `prefix` before every value name, except that its `input` reads `input`.
fn renamed(mut graph: GraphProto, prefix: &str, input: &str) -> GraphProto {
    let name = |n: &str| if n == "input" { input.to_owned() } else { format!("{prefix}{n}") };
    for node in &mut graph.node {
        node.name = format!("{prefix}{}", node.name);
        for v in node.input.iter_mut().chain(node.output.iter_mut()) {
            if !v.is_empty() {
                *v = name(v);
            }
        }
    }
    for t in &mut graph.initializer {
        t.name = name(&t.name);
    }
    for v in &mut graph.output {
        v.name = name(&v.name);
    }
    graph
}

/// The block size of a part whose output is in phase layout ([`PHASES`]), else None.
fn phases(model: &ModelProto, scale: u32) -> Option<u32> {
    model.metadata_props.iter().any(|p| (p.key.as_str(), p.value.as_str()) == PHASES).then_some(scale)
}

/// `value` as pixels: depth-to-space first if it is in phase layout of `block`.
fn pixels(g: &mut GraphBuilder, value: &str, block: Option<u32>) -> String {
    match block {
        Some(s) => g.node(
            "DepthToSpace",
            &[value],
            vec![Attr::Int("blocksize", i64::from(s)), Attr::Str("mode", "CRD".into())],
        ),
        None => value.to_owned(),
    }
}

fn graph_of(name: &str, model: ModelProto) -> Result<GraphProto, ModelError> {
    model.graph.ok_or_else(|| ModelError::Blend { model: name.to_owned(), reason: "a part has no graph".into() })
}

/// `own` (the entry's network, native `scale`) and `other` (the blended model, native
/// `scale * prescale` as the catalog checked) as one graph computing
/// `(1 - w) * own(x) + w * other(halve(x))`.
pub fn compose(
    name: &str,
    scale: u32,
    own: Converted,
    other: Converted,
    blend: &Blend,
) -> Result<Converted, ModelError> {
    let err = |reason: String| ModelError::Blend { model: name.to_owned(), reason };
    if blend.prescale != 2 {
        return Err(err(format!("prescale {} is not supported, expected 2", blend.prescale)));
    }
    if !(blend.weight > 0.0 && blend.weight < 1.0) {
        return Err(err(format!("weight {} is outside (0, 1)", blend.weight)));
    }
    // The halving: 64 multiply-adds per channel per halved pixel; the blend: 3 operations
    // per channel per output pixel (scale 2: four per input pixel).
    let halving = 2.0 * 64.0 * 3.0 / 4.0;
    let mixing = 3.0 * 3.0 * 4.0;
    let flops_per_pixel = own.flops_per_pixel + other.flops_per_pixel / 4.0 + halving + mixing;
    let recipe = format!("{:.2} own + {:.2} {} on the input halved", 1.0 - blend.weight, blend.weight, blend.with);
    let mut metadata: Vec<(String, String)> = own
        .model
        .metadata_props
        .iter()
        .filter(|p| p.key != FLOPS_PER_PIXEL && p.key != PHASES.0)
        .map(|p| (p.key.clone(), p.value.clone()))
        .collect();
    metadata.push((FLOPS_PER_PIXEL.into(), flops_per_pixel.to_string()));
    metadata.push((BLEND.into(), recipe));
    let metadata: Vec<(&str, &str)> = metadata.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    // Parts in phase layout (SPAN's PixelShuffle) get their depth-to-space here: the blend
    // needs pixels.
    let own_phases = phases(&own.model, scale);
    let other_phases = phases(&other.model, scale * blend.prescale);
    let a = renamed(graph_of(name, own.model)?, "a/", "input");

    let mut g = GraphBuilder::new(name);
    g.input_f32("input", &image_dims(3));
    // Pads of 3 and an 8-tap stride-2 window: output pixel i reads 2i-3 ..= 2i+4.
    let pads = g.constant_i64("halve_pads", &[8], &[0, 0, 3, 3, 0, 0, 3, 3]);
    let padded = g.node("Pad", &["input", &pads], vec![Attr::Str("mode", "edge".into())]);
    let taps = halving_taps();
    let kernel: Vec<f32> = (0..3).flat_map(|_| taps.iter().flat_map(|&y| taps.iter().map(move |&x| x * y))).collect();
    let weights = g.constant_f32("halve_kernel", &[3, 1, 8, 8], &kernel);
    let half = g.node(
        "Conv",
        &[&padded, &weights],
        vec![Attr::Int("group", 3), Attr::Ints("kernel_shape", vec![8, 8]), Attr::Ints("strides", vec![2, 2])],
    );
    let b = renamed(graph_of(name, other.model)?, "b/", &half);
    let own_share = g.constant_f32("own_share", &[], &[1.0 - blend.weight]);
    let other_share = g.constant_f32("other_share", &[], &[blend.weight]);
    let a_out = pixels(&mut g, "a/output", own_phases);
    let b_out = pixels(&mut g, "b/output", other_phases);
    let x = g.node("Mul", &[&a_out, &own_share], vec![]);
    let y = g.node("Mul", &[&b_out, &other_share], vec![]);
    g.node_with_outputs("Add", &[&x, &y], &["output"], vec![]);
    g.output_f32("output", &image_dims(3));
    let mut model = g.finish(&format!("{name}: two models blended"), &metadata);
    // Nodes in topological order: the halving, both parts, the blend.
    let merged = model.graph.as_mut().expect("finish makes a graph");
    let blend_nodes = merged.node.split_off(2);
    for part in [a, b] {
        merged.node.extend(part.node);
        merged.initializer.extend(part.initializer);
    }
    merged.node.extend(blend_nodes);

    Ok(Converted { model, flops_per_pixel })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 1x1 convolution with `gain` (scale 1) followed by a nearest upscale by `scale`.
    fn tiny(gain: f32, scale: f32) -> Converted {
        let mut g = GraphBuilder::new("t");
        g.input_f32("input", &image_dims(3));
        let w = g.constant_f32("w", &[3, 1, 1, 1], &[gain; 3]);
        let c = g.node("Conv", &["input", &w], vec![Attr::Int("group", 3)]);
        let scales = g.constant_f32("scales", &[4], &[1.0, 1.0, scale, scale]);
        g.node_with_outputs("Resize", &[&c, "", &scales], &["output"], vec![]);
        g.output_f32("output", &image_dims(3));
        Converted { model: g.finish("t", &[("k", "v"), (FLOPS_PER_PIXEL, "10")]), flops_per_pixel: 10.0 }
    }

    #[test]
    fn the_halving_is_a_normalised_symmetric_catmull_rom() {
        let t = halving_taps();
        assert!((t.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        for i in 0..4 {
            assert_eq!(t[i], t[7 - i]);
        }
        // Catmull-Rom at distances 0.25, 0.75, 1.25, 1.75 (half rate), before normalising.
        let expected = [0.8671875, 0.2265625, -0.0703125, -0.0234375];
        let sum: f64 = 2.0 * expected.iter().sum::<f64>();
        for i in 0..4 {
            assert!((f64::from(t[4 + i]) - expected[i] / sum).abs() < 1e-7, "{t:?}");
        }
    }

    #[test]
    fn parts_are_renamed_apart_and_blended() {
        let m = compose("t", 2, tiny(1.0, 2.0), tiny(2.0, 4.0), &Blend { with: "o".into(), weight: 0.25, prescale: 2 })
            .unwrap();
        assert_eq!(m.flops_per_pixel, 10.0 + 2.5 + 96.0 + 36.0);
        let g = m.model.graph.as_ref().unwrap();
        let meta = |k: &str| m.model.metadata_props.iter().find(|p| p.key == k).map(|p| p.value.clone());
        assert_eq!(meta("k").as_deref(), Some("v"));
        assert_eq!(meta(FLOPS_PER_PIXEL), Some(m.flops_per_pixel.to_string()));
        assert_eq!(meta(BLEND).as_deref(), Some("0.75 own + 0.25 o on the input halved"));
        // Every value is produced once, and every input exists.
        let mut produced: Vec<&str> = g.node.iter().flat_map(|n| n.output.iter().map(String::as_str)).collect();
        produced.extend(g.initializer.iter().map(|t| t.name.as_str()));
        produced.push("input");
        let mut unique = produced.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), produced.len(), "{produced:?}");
        for n in &g.node {
            assert!(n.input.iter().all(|i| i.is_empty() || produced.contains(&i.as_str())), "{n:?}");
        }
        let reads = |prefix: &str| {
            g.node.iter().find(|n| n.name.starts_with(prefix) && n.op_type == "Conv").unwrap().input[0].clone()
        };
        assert_eq!(reads("a/"), "input");
        let halved = g.node.iter().find(|n| n.op_type == "Conv" && n.input[0].starts_with("Pad")).unwrap();
        assert_eq!(reads("b/"), halved.output[0]);
        assert_eq!(g.output.len(), 1);
        assert_eq!(g.output[0].name, "output");
    }

    #[test]
    fn parts_in_phase_layout_get_their_depth_to_space() {
        let mut phased = tiny(1.0, 1.0);
        phased
            .model
            .metadata_props
            .push(crate::onnx::StringStringEntryProto { key: PHASES.0.into(), value: PHASES.1.into() });
        let m = compose("t", 2, phased, tiny(1.0, 4.0), &Blend { with: "o".into(), weight: 0.5, prescale: 2 }).unwrap();
        let g = m.model.graph.as_ref().unwrap();
        let d2s: Vec<_> = g.node.iter().filter(|n| n.op_type == "DepthToSpace").collect();
        assert_eq!(d2s.len(), 1);
        assert_eq!(d2s[0].input[0], "a/output");
        assert!(!m.model.metadata_props.iter().any(|p| p.key == PHASES.0), "the blend's output is pixels");
    }

    #[test]
    fn unsupported_prescales_and_weights_are_refused() {
        for (weight, prescale) in [(0.5, 3), (0.0, 2), (1.0, 2), (f32::NAN, 2)] {
            let e = compose("t", 2, tiny(1.0, 2.0), tiny(1.0, 4.0), &Blend { with: "o".into(), weight, prescale })
                .unwrap_err();
            assert!(matches!(e, ModelError::Blend { .. }), "{e}");
        }
    }
}
