//! Two converted models as one graph (catalog `blend`): the entry's own network on the
//! input, blended with a second catalog model that runs on the input halved.
//!
//! An x4 model on the halved input nets x2 at a quarter of its cost per input pixel, and
//! blending a faithful model with a crisper one trades fidelity against naturalness
//! (MODELS.md, "Footage paths"). As one ONNX graph the pair is an ordinary model to the
//! core, the element, the command line and the plug-ins: one session, the usual tiling
//! (`tile_multiple = 2` keeps every tile on the halving's grid), every engine.
//!
//! With `bands` the two are mixed with one weight below a Gaussian and another above it:
//! most of the coarse structure from the faithful network, most of the fine detail from
//! the crisp one (MODELS.md, "span-footage-blend-x2").
//!
//! The halving is the core's bicubic (`Filter::Bicubic`, an antialiased Catmull-Rom, as
//! fast_image_resize computes it) written as a stride-2 depthwise convolution; at the
//! image's edges it repeats the edge pixel where the resampler renormalises its taps.

use serde::Deserialize;

use crate::metadata::{BLEND, FLOPS_PER_PIXEL, PHASES};
use crate::ncnn::Converted;
use crate::onnx::{image_dims, Attr, GraphBuilder, GraphProto, ModelProto};
use crate::ModelError;

/// A catalog entry's `blend = { with = "...", weight = ..., prescale = 2 }`, optionally
/// with `bands = { sigma = ..., low_weight = ... }`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Blend {
    /// The catalog model blended in; its files follow the entry's own in `files`.
    pub with: String,
    /// Its share of the output (the entry's own network takes the rest); with `bands`,
    /// its share of the detail above the Gaussian.
    pub weight: f32,
    /// The factor the input is downscaled by before it (only 2 is supported).
    pub prescale: u32,
    #[serde(default)]
    pub bands: Option<Bands>,
}

/// A second weight for the low band: the output's Gaussian of `sigma` (output pixels,
/// edges repeated) gets `low_weight` of the blended model, the rest keeps `weight`.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bands {
    pub sigma: f32,
    pub low_weight: f32,
}

/// The largest Gaussian the split accepts (11 taps): with sigma 2.5 (17 taps) OpenVINO's bf16
/// CPU kernels did not finish a small frame of the blend graph in minutes (BENCHMARKS.md).
const MAX_SIGMA: f32 = 1.5;

impl Blend {
    /// Why the catalog cannot build this blend, if it cannot.
    pub fn check(&self) -> Result<(), String> {
        if self.prescale != 2 {
            return Err(format!("prescale {} is not supported, expected 2", self.prescale));
        }
        if !(self.weight > 0.0 && self.weight < 1.0) {
            return Err(format!("weight {} is outside (0, 1)", self.weight));
        }
        if let Some(b) = self.bands {
            if !(b.sigma > 0.0 && b.sigma <= MAX_SIGMA) {
                return Err(format!("bands sigma {} is outside (0, {MAX_SIGMA}]", b.sigma));
            }
            if !(0.0..1.0).contains(&b.low_weight) {
                return Err(format!("bands low_weight {} is outside [0, 1)", b.low_weight));
            }
        }
        Ok(())
    }

    /// What the graph computes, in words: its metadata and the cache manifest record it,
    /// so a changed recipe rebuilds a cached entry.
    pub fn recipe(&self) -> String {
        let mut r = format!("{:.2} own + {:.2} {} on the input halved", 1.0 - self.weight, self.weight, self.with);
        if let Some(b) = self.bands {
            r += &format!(
                "; below a Gaussian of sigma {}: {:.2} own + {:.2} {}",
                b.sigma,
                1.0 - b.low_weight,
                b.low_weight,
                self.with
            );
        }
        // Part of the recipe so that entries built before the clipping are rebuilt.
        r + "; each part clipped to [0, 1]"
    }
}

/// A normalised Gaussian of `sigma` over -r ..= r, r = ceil(3 sigma).
pub fn gaussian_taps(sigma: f32) -> Vec<f32> {
    let r = (3.0 * sigma).ceil() as i32;
    let raw: Vec<f64> =
        (-r..=r).map(|i| (-f64::from(i * i) / (2.0 * f64::from(sigma) * f64::from(sigma))).exp()).collect();
    let sum: f64 = raw.iter().sum();
    raw.iter().map(|v| (v / sum) as f32).collect()
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

/// `value` as pixels clipped to [0, 1]: depth-to-space first if it is in phase layout of
/// `block`.
fn pixels(g: &mut GraphBuilder, value: &str, block: Option<u32>) -> String {
    let value = match block {
        Some(s) => g.node(
            "DepthToSpace",
            &[value],
            vec![Attr::Int("blocksize", i64::from(s)), Attr::Str("mode", "CRD".into())],
        ),
        None => value.to_owned(),
    };
    // Each part clipped to [0, 1] as the core clips a model run alone, so the graph is
    // its parts blended as they run one by one (a part trained inside the blend can
    // overshoot where the other one makes up for it).
    let (lo, hi) = (g.constant_f32("clip_min", &[], &[0.0]), g.constant_f32("clip_max", &[], &[1.0]));
    g.node("Clip", &[&value, &lo, &hi], vec![])
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
    blend.check().map_err(err)?;
    let gauss = blend.bands.map(|b| gaussian_taps(b.sigma));
    // The halving: 64 multiply-adds per channel per halved pixel; the blend: 3 operations
    // per channel per output pixel (scale 2: four per input pixel), with bands 5 more and
    // the separable Gaussian's two passes.
    let halving = 2.0 * 64.0 * 3.0 / 4.0;
    let per_output = gauss.as_ref().map_or(3.0, |t| 8.0 + 4.0 * t.len() as f64);
    let mixing = per_output * 3.0 * 4.0;
    let flops_per_pixel = own.flops_per_pixel + other.flops_per_pixel / 4.0 + halving + mixing;
    let recipe = blend.recipe();
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
    let a_out = pixels(&mut g, "a/output", own_phases);
    let b_out = pixels(&mut g, "b/output", other_phases);
    match (blend.bands, gauss) {
        (Some(bands), Some(gauss)) => {
            // other + (1 - w) d + (w - w_low) gauss(d), d = own - other: the low band
            // mixes by w_low, the rest by w.
            let d = g.node("Sub", &[&a_out, &b_out], vec![]);
            let low = gaussian(&mut g, &d, &gauss);
            let low_share = g.constant_f32("low_share", &[], &[blend.weight - bands.low_weight]);
            let x = g.node("Mul", &[&d, &own_share], vec![]);
            let y = g.node("Mul", &[&low, &low_share], vec![]);
            let z = g.node("Add", &[&b_out, &x], vec![]);
            g.node_with_outputs("Add", &[&z, &y], &["output"], vec![]);
        }
        _ => {
            let other_share = g.constant_f32("other_share", &[], &[blend.weight]);
            let x = g.node("Mul", &[&a_out, &own_share], vec![]);
            let y = g.node("Mul", &[&b_out, &other_share], vec![]);
            g.node_with_outputs("Add", &[&x, &y], &["output"], vec![]);
        }
    }
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

/// `value` (3 channels) through a separable Gaussian of `taps`, edge pixels repeated.
fn gaussian(g: &mut GraphBuilder, value: &str, taps: &[f32]) -> String {
    let (k, r) = (taps.len() as i64, (taps.len() / 2) as i64);
    let pads = g.constant_i64("gauss_pads", &[8], &[0, 0, r, r, 0, 0, r, r]);
    let padded = g.node("Pad", &[value, &pads], vec![Attr::Str("mode", "edge".into())]);
    let kernel: Vec<f32> = (0..3).flat_map(|_| taps.iter().copied()).collect();
    let across = g.constant_f32("gauss_x", &[3, 1, 1, k], &kernel);
    let down = g.constant_f32("gauss_y", &[3, 1, k, 1], &kernel);
    let conv = |g: &mut GraphBuilder, x: &str, w: &str, shape: [i64; 2]| {
        g.node("Conv", &[x, w], vec![Attr::Int("group", 3), Attr::Ints("kernel_shape", shape.to_vec())])
    };
    let x = conv(g, &padded, &across, [1, k]);
    conv(g, &x, &down, [k, 1])
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
        let m = compose(
            "t",
            2,
            tiny(1.0, 2.0),
            tiny(2.0, 4.0),
            &Blend { with: "o".into(), weight: 0.25, prescale: 2, bands: None },
        )
        .unwrap();
        assert_eq!(m.flops_per_pixel, 10.0 + 2.5 + 96.0 + 36.0);
        let g = m.model.graph.as_ref().unwrap();
        let meta = |k: &str| m.model.metadata_props.iter().find(|p| p.key == k).map(|p| p.value.clone());
        assert_eq!(meta("k").as_deref(), Some("v"));
        assert_eq!(meta(FLOPS_PER_PIXEL), Some(m.flops_per_pixel.to_string()));
        assert_eq!(meta(BLEND).as_deref(), Some("0.75 own + 0.25 o on the input halved; each part clipped to [0, 1]"));
        well_formed(g);
        let reads = |prefix: &str| {
            g.node.iter().find(|n| n.name.starts_with(prefix) && n.op_type == "Conv").unwrap().input[0].clone()
        };
        assert_eq!(reads("a/"), "input");
        let halved = g.node.iter().find(|n| n.op_type == "Conv" && n.input[0].starts_with("Pad")).unwrap();
        assert_eq!(reads("b/"), halved.output[0]);
    }

    /// Every value is produced once, every input exists, and the one output is "output".
    fn well_formed(g: &GraphProto) {
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
        let m =
            compose("t", 2, phased, tiny(1.0, 4.0), &Blend { with: "o".into(), weight: 0.5, prescale: 2, bands: None })
                .unwrap();
        let g = m.model.graph.as_ref().unwrap();
        let d2s: Vec<_> = g.node.iter().filter(|n| n.op_type == "DepthToSpace").collect();
        assert_eq!(d2s.len(), 1);
        assert_eq!(d2s[0].input[0], "a/output");
        assert!(!m.model.metadata_props.iter().any(|p| p.key == PHASES.0), "the blend's output is pixels");
    }

    #[test]
    fn each_part_is_clipped_to_the_unit_range_before_the_mix() {
        let blend =
            Blend { with: "o".into(), weight: 0.7, prescale: 2, bands: Some(Bands { sigma: 1.0, low_weight: 0.2 }) };
        let m = compose("t", 2, tiny(1.0, 2.0), tiny(2.0, 4.0), &blend).unwrap();
        let g = m.model.graph.as_ref().unwrap();
        let clips: Vec<_> = g.node.iter().filter(|n| n.op_type == "Clip").collect();
        assert_eq!(clips.iter().map(|n| n.input[0].as_str()).collect::<Vec<_>>(), ["a/output", "b/output"]);
        let value = |name: &str| {
            let t = g.initializer.iter().find(|t| t.name == name).unwrap();
            f32::from_le_bytes(t.raw_data[..4].try_into().unwrap())
        };
        for n in &clips {
            assert_eq!((value(&n.input[1]), value(&n.input[2])), (0.0, 1.0));
        }
        let sub = g.node.iter().find(|n| n.op_type == "Sub").unwrap();
        assert_eq!(sub.input, [clips[0].output[0].clone(), clips[1].output[0].clone()]);
    }

    #[test]
    fn the_band_split_is_a_normalised_symmetric_gaussian() {
        let t = gaussian_taps(1.5);
        assert_eq!(t.len(), 11);
        assert!((t.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        for i in 0..5 {
            assert_eq!(t[i], t[10 - i]);
            assert!(t[i] < t[i + 1]);
        }
        assert!((t[6] / t[5] - (-1.0f32 / 4.5).exp()).abs() < 1e-6);
    }

    #[test]
    fn bands_add_a_gaussian_of_the_difference() {
        let bands = Some(Bands { sigma: 1.5, low_weight: 0.2 });
        let blend = Blend { with: "o".into(), weight: 0.7, prescale: 2, bands };
        let m = compose("t", 2, tiny(1.0, 2.0), tiny(2.0, 4.0), &blend).unwrap();
        let g = m.model.graph.as_ref().unwrap();
        well_formed(g);
        assert_eq!(m.flops_per_pixel, 10.0 + 2.5 + 96.0 + (8.0 + 44.0) * 12.0);
        let meta = m.model.metadata_props.iter().find(|p| p.key == BLEND).unwrap();
        assert_eq!(
            meta.value,
            "0.30 own + 0.70 o on the input halved; below a Gaussian of sigma 1.5: 0.80 own + 0.20 o; each part clipped to [0, 1]"
        );
        let convs: Vec<_> = g.node.iter().filter(|n| n.op_type == "Conv" && n.name.starts_with("Conv")).collect();
        let kernel = |n: &crate::onnx::NodeProto| -> Vec<i64> {
            n.attribute.iter().find(|a| a.name == "kernel_shape").unwrap().ints.clone()
        };
        // The halving, then the Gaussian across and down.
        assert_eq!(convs.iter().map(|n| kernel(n)).collect::<Vec<_>>(), [vec![8, 8], vec![1, 11], vec![11, 1]]);
        let shares: Vec<f32> = g
            .initializer
            .iter()
            .filter(|t| t.name.starts_with("own_share") || t.name.starts_with("low_share"))
            .map(|t| f32::from_le_bytes(t.raw_data[..4].try_into().unwrap()))
            .collect();
        assert_eq!(shares.len(), 2);
        assert!((shares[0] - 0.3).abs() < 1e-6 && (shares[1] - 0.5).abs() < 1e-6, "{shares:?}");
    }

    #[test]
    fn unsupported_bands_are_refused() {
        for (sigma, low_weight) in [(0.0, 0.2), (2.5, 0.2), (f32::NAN, 0.2), (1.5, 1.0), (1.5, -0.1)] {
            let blend = Blend { with: "o".into(), weight: 0.7, prescale: 2, bands: Some(Bands { sigma, low_weight }) };
            let e = compose("t", 2, tiny(1.0, 2.0), tiny(1.0, 4.0), &blend).unwrap_err();
            assert!(matches!(e, ModelError::Blend { .. }), "{e}");
        }
    }

    #[test]
    fn unsupported_prescales_and_weights_are_refused() {
        for (weight, prescale) in [(0.5, 3), (0.0, 2), (1.0, 2), (f32::NAN, 2)] {
            let e = compose(
                "t",
                2,
                tiny(1.0, 2.0),
                tiny(1.0, 4.0),
                &Blend { with: "o".into(), weight, prescale, bands: None },
            )
            .unwrap_err();
            assert!(matches!(e, ModelError::Blend { .. }), "{e}");
        }
    }
}
