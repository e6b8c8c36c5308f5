//! The int8 QDQ writer: rewrites one of our fp32 ONNX graphs so that chosen `Conv`
//! nodes read their input through QuantizeLinear/DequantizeLinear (u8, per-tensor,
//! asymmetric, from calibrated ranges) and their weights through DequantizeLinear
//! (s8, per output channel, symmetric). OpenVINO's CPU plugin turns each such pair
//! into FakeQuantize and runs those convolutions on int8 kernels; everything else
//! (activations, residual adds, depth-to-space, the output stage) stays float.
//!
//! Calibration (running the model on real tiles) needs an engine and lives in the
//! core; this module only decides what to observe and writes the result.

use std::collections::{BTreeMap, HashMap};

use prost::Message;

use crate::onnx::{
    AttributeProto, ModelProto, NodeProto, TensorProto, TensorTypeProto, TypeProto, ValueInfoProto, OPSET,
};
use crate::ModelError;

const ELEM_FLOAT: i32 = 1;
const ELEM_UINT8: i32 = 2;
const ELEM_INT8: i32 = 3;

/// Version of this writer's output; part of a cached int8 model's identity.
pub const QDQ_VERSION: u32 = 1;

/// Which convolutions stay float.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeepFloat {
    /// Convs that read the graph input (the 3-channel image: too few channels for
    /// int8 kernels to pay, and the input's exact values matter).
    pub first: bool,
    /// The last N convs before the output stage (they write the output's detail).
    pub last: usize,
}

impl Default for KeepFloat {
    fn default() -> Self {
        KeepFloat { first: true, last: 1 }
    }
}

/// An activation range observed in calibration; it always contains 0 so that zero
/// padding is exact.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Range {
    pub min: f32,
    pub max: f32,
}

/// What the quantizer will do to a model: the conv nodes it quantizes and the
/// activation tensors whose ranges calibration must measure.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// Indices into the graph's node list.
    pub convs: Vec<usize>,
    /// Distinct input tensors of those convs, in node order.
    pub observed: Vec<String>,
}

fn err(model: &str, reason: impl Into<String>) -> ModelError {
    ModelError::Quantize { model: model.to_owned(), reason: reason.into() }
}

/// Reads an ONNX file our converters wrote (the subset in [`crate::onnx`]).
pub fn decode(model: &str, bytes: &[u8]) -> Result<ModelProto, ModelError> {
    ModelProto::decode(bytes).map_err(|e| err(model, format!("not an ONNX model: {e}")))
}

/// The convs to quantize: every plain `Conv` with a constant 4-D weight, except those
/// `keep` holds float and those of the output stage (after the last DepthToSpace:
/// the fixed bicubic downscale of the x2/x3 models).
pub fn plan(name: &str, model: &ModelProto, keep: KeepFloat) -> Result<Plan, ModelError> {
    let graph = model.graph.as_ref().ok_or_else(|| err(name, "the model has no graph"))?;
    let input = graph.input.first().map(|i| i.name.as_str()).ok_or_else(|| err(name, "the graph has no input"))?;
    let initializers: HashMap<&str, &TensorProto> = graph.initializer.iter().map(|t| (t.name.as_str(), t)).collect();
    let stage_start = graph.node.iter().rposition(|n| n.op_type == "DepthToSpace").unwrap_or(graph.node.len());
    let mut convs: Vec<usize> = graph.node[..stage_start]
        .iter()
        .enumerate()
        .filter(|(_, n)| {
            n.op_type == "Conv"
                && n.input.len() >= 2
                && initializers.get(n.input[1].as_str()).is_some_and(|w| w.dims.len() == 4 && w.data_type == ELEM_FLOAT)
        })
        .map(|(i, _)| i)
        .collect();
    convs.truncate(convs.len().saturating_sub(keep.last));
    if keep.first {
        convs.retain(|&i| graph.node[i].input[0] != input);
    }
    if convs.is_empty() {
        return Err(err(name, "no convolution is left to quantize"));
    }
    let mut observed: Vec<String> = Vec::new();
    for &i in &convs {
        let x = &graph.node[i].input[0];
        if !observed.contains(x) {
            observed.push(x.clone());
        }
    }
    Ok(Plan { convs, observed })
}

fn float_value(name: &str) -> ValueInfoProto {
    ValueInfoProto {
        name: name.to_owned(),
        r#type: Some(TypeProto { tensor_type: Some(TensorTypeProto { elem_type: ELEM_FLOAT, shape: None }) }),
    }
}

/// The model with `plan.observed` as extra graph outputs (after the real ones), for
/// calibration runs.
pub fn with_observed_outputs(model: &ModelProto, plan: &Plan) -> ModelProto {
    let mut out = model.clone();
    if let Some(graph) = out.graph.as_mut() {
        graph.output.extend(plan.observed.iter().map(|n| float_value(n)));
    }
    out
}

/// Per-output-channel symmetric int8 weights: values and one scale per channel.
pub fn quantize_weights(values: &[f32], channels: usize) -> (Vec<i8>, Vec<f32>) {
    let per = values.len() / channels.max(1);
    let mut q = Vec::with_capacity(values.len());
    let mut scales = Vec::with_capacity(channels);
    for c in values.chunks(per.max(1)) {
        let max = c.iter().fold(0f32, |m, v| m.max(v.abs()));
        // An all-zero channel keeps a harmless positive scale (0 would be invalid ONNX).
        let scale = if max > 0.0 { max / 127.0 } else { 1.0 };
        scales.push(scale);
        q.extend(c.iter().map(|v| (v / scale).round().clamp(-127.0, 127.0) as i8));
    }
    (q, scales)
}

/// u8 scale and zero point covering `range` (which is widened to contain 0).
pub fn activation_params(range: Range) -> (f32, u8) {
    let (min, max) = (range.min.min(0.0), range.max.max(0.0));
    let scale = if max > min { (max - min) / 255.0 } else { 1.0 };
    let zero = (-min / scale).round().clamp(0.0, 255.0) as u8;
    (scale, zero)
}

fn tensor(name: String, data_type: i32, dims: Vec<i64>, raw_data: Vec<u8>) -> TensorProto {
    TensorProto { dims, data_type, name, raw_data }
}

fn node(op: &str, inputs: Vec<String>, output: String, axis: Option<i64>) -> NodeProto {
    NodeProto {
        input: inputs,
        output: vec![output.clone()],
        name: format!("{output}_node"),
        op_type: op.to_owned(),
        attribute: axis
            .map(|a| AttributeProto { name: "axis".into(), i: a, r#type: 2, ..Default::default() })
            .into_iter()
            .collect(),
        domain: String::new(),
    }
}

/// Writes the QDQ model: `plan.convs` read `Q -> DQ` of their input (ranges from
/// `ranges`, keyed by tensor name) and `DQ` of int8 weights. The node order stays
/// topological: each activation pair is inserted right before its first consumer.
pub fn write_qdq(
    name: &str,
    model: &ModelProto,
    plan: &Plan,
    ranges: &BTreeMap<String, Range>,
) -> Result<ModelProto, ModelError> {
    if model.opset_import.iter().any(|o| o.domain.is_empty() && o.version < 13) {
        return Err(err(name, format!("opset below 13; per-channel DequantizeLinear needs 13, we write {OPSET}")));
    }
    let mut out = model.clone();
    let graph = out.graph.as_mut().ok_or_else(|| err(name, "the model has no graph"))?;
    let mut weights: HashMap<String, TensorProto> =
        graph.initializer.iter().map(|t| (t.name.clone(), t.clone())).collect();
    let mut replaced: HashMap<String, String> = HashMap::new();
    let mut new_inits: Vec<TensorProto> = Vec::new();
    let mut inserted: Vec<(usize, NodeProto)> = Vec::new();
    for (k, x) in plan.observed.iter().enumerate() {
        let range = ranges.get(x).ok_or_else(|| err(name, format!("no calibrated range for tensor {x}")))?;
        if !(range.min.is_finite() && range.max.is_finite()) {
            return Err(err(name, format!("range of {x} is {}..{}, expected finite values", range.min, range.max)));
        }
        let (scale, zero) = activation_params(*range);
        let (s, z) = (format!("qdq_act{k}_scale"), format!("qdq_act{k}_zero"));
        new_inits.push(tensor(s.clone(), ELEM_FLOAT, vec![], scale.to_le_bytes().to_vec()));
        new_inits.push(tensor(z.clone(), ELEM_UINT8, vec![], vec![zero]));
        let (q, dq) = (format!("qdq_act{k}_q"), format!("qdq_act{k}"));
        let first = *plan.convs.iter().find(|&&i| graph.node[i].input[0] == *x).expect("observed comes from convs");
        inserted.push((first, node("QuantizeLinear", vec![x.clone(), s.clone(), z.clone()], q.clone(), None)));
        inserted.push((first, node("DequantizeLinear", vec![q, s, z], dq.clone(), None)));
        replaced.insert(x.clone(), dq);
    }
    for (k, &i) in plan.convs.iter().enumerate() {
        let conv = &mut graph.node[i];
        let w_name = conv.input[1].clone();
        let w = weights.remove(&w_name).ok_or_else(|| err(name, format!("weight {w_name} is shared or missing")))?;
        let values: Vec<f32> =
            w.raw_data.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
        let channels = w.dims[0] as usize;
        let expected: i64 = w.dims.iter().product();
        if values.len() as i64 != expected || channels == 0 {
            return Err(err(
                name,
                format!("weight {w_name} holds {} floats, dims {:?} need {expected}", values.len(), w.dims),
            ));
        }
        let (q, scales) = quantize_weights(&values, channels);
        let (wq, ws, wz, wd) =
            (format!("qdq_w{k}_q"), format!("qdq_w{k}_scale"), format!("qdq_w{k}_zero"), format!("qdq_w{k}"));
        new_inits.push(tensor(wq.clone(), ELEM_INT8, w.dims.clone(), q.iter().map(|v| *v as u8).collect()));
        new_inits.push(tensor(
            ws.clone(),
            ELEM_FLOAT,
            vec![channels as i64],
            scales.iter().flat_map(|s| s.to_le_bytes()).collect(),
        ));
        new_inits.push(tensor(wz.clone(), ELEM_INT8, vec![channels as i64], vec![0; channels]));
        inserted.push((i, node("DequantizeLinear", vec![wq, ws, wz], wd.clone(), Some(0))));
        conv.input[1] = wd;
        conv.input[0] = replaced[&conv.input[0]].clone();
    }
    // The float weights now unused go; every other initializer stays as it was.
    let quantized: Vec<String> = plan.convs.iter().map(|&i| model_weight(model, i)).collect();
    graph.initializer.retain(|t| !quantized.contains(&t.name));
    graph.initializer.extend(new_inits);
    inserted.sort_by_key(|(i, _)| *i);
    let mut nodes = Vec::with_capacity(graph.node.len() + inserted.len());
    let mut pending = inserted.into_iter().peekable();
    for (i, n) in std::mem::take(&mut graph.node).into_iter().enumerate() {
        while let Some((_, q)) = pending.next_if(|(at, _)| *at == i) {
            nodes.push(q);
        }
        nodes.push(n);
    }
    graph.node = nodes;
    out.doc_string = format!("{} (int8 QDQ, writer version {QDQ_VERSION})", out.doc_string);
    Ok(out)
}

fn model_weight(model: &ModelProto, node: usize) -> String {
    model.graph.as_ref().map(|g| g.node[node].input[1].clone()).unwrap_or_default()
}

#[cfg(all(test, feature = "tiny"))]
mod tests {
    use super::*;
    use crate::tiny::tiny_model;

    fn ranges_for(plan: &Plan) -> BTreeMap<String, Range> {
        plan.observed.iter().map(|n| (n.clone(), Range { min: -0.5, max: 1.5 })).collect()
    }

    #[test]
    fn plan_keeps_the_first_and_last_convs_float() {
        let m = tiny_model("smooth_x2").unwrap();
        // smooth_x2: conv(input) -> relu -> conv -> d2s, then the 1x1 copy conv on the
        // input -> d2s (the last DepthToSpace: nothing after it is quantized).
        let all = plan("t", &m, KeepFloat { first: false, last: 0 }).unwrap();
        assert_eq!(all.convs.len(), 3, "{all:?}");
        assert_eq!(all.observed.len(), 2, "{all:?}");
        let kept = plan("t", &m, KeepFloat { first: true, last: 1 }).unwrap();
        assert_eq!(kept.convs.len(), 1);
        assert!(kept.observed[0].starts_with("Relu"), "{kept:?}");
        assert!(plan("t", &m, KeepFloat { first: true, last: 2 }).is_err());
    }

    #[test]
    fn writes_quantize_pairs_and_int8_weights() {
        let m = tiny_model("smooth_x2").unwrap();
        let p = plan("t", &m, KeepFloat { first: false, last: 0 }).unwrap();
        let q = write_qdq("t", &m, &p, &ranges_for(&p)).unwrap();
        let back = decode("t", &q.to_bytes()).unwrap();
        let g = back.graph.unwrap();
        let count = |op: &str| g.node.iter().filter(|n| n.op_type == op).count();
        assert_eq!(count("QuantizeLinear"), 2);
        assert_eq!(count("DequantizeLinear"), 5); // 2 activations + 3 weights
                                                  // Every node's inputs are produced earlier (or are inputs/initializers).
        let mut known: Vec<String> = g.initializer.iter().map(|t| t.name.clone()).collect();
        known.extend(g.input.iter().map(|i| i.name.clone()));
        for n in &g.node {
            for i in n.input.iter().filter(|i| !i.is_empty()) {
                assert!(known.contains(i), "{} reads {i} before it is written", n.name);
            }
            known.extend(n.output.iter().cloned());
        }
        for n in g.node.iter().filter(|n| n.op_type == "Conv") {
            assert!(n.input[1].starts_with("qdq_w"), "{n:?}");
        }
        let w = g.initializer.iter().find(|t| t.name == "qdq_w0_q").unwrap();
        assert_eq!((w.data_type, w.dims.clone()), (ELEM_INT8, vec![8, 3, 3, 3]));
    }

    #[test]
    fn weights_round_trip_within_half_a_step() {
        let values: Vec<f32> = (0..54).map(|i| ((i * 37 % 19) as f32 - 9.0) * 0.013).collect();
        let (q, scales) = quantize_weights(&values, 2);
        for (i, v) in values.iter().enumerate() {
            let s = scales[i / 27];
            assert!((f32::from(q[i]) * s - v).abs() <= s / 2.0 + 1e-7, "{i}: {v}");
        }
        assert_eq!(q.iter().map(|v| v.unsigned_abs()).max(), Some(127));
    }

    #[test]
    fn activation_range_always_holds_zero_exactly() {
        let (scale, zero) = activation_params(Range { min: 0.2, max: 2.0 });
        assert_eq!(zero, 0);
        assert!((scale - 2.0 / 255.0).abs() < 1e-7);
        let (scale, zero) = activation_params(Range { min: -1.0, max: 3.0 });
        assert_eq!(zero, 64);
        assert!((scale * f32::from(zero) - 1.0).abs() < scale);
    }

    #[test]
    fn a_missing_range_is_an_error_naming_the_tensor() {
        let m = tiny_model("smooth_x2").unwrap();
        let p = plan("t", &m, KeepFloat { first: false, last: 0 }).unwrap();
        let e = write_qdq("t", &m, &p, &BTreeMap::new()).unwrap_err().to_string();
        assert!(e.contains(&p.observed[0]), "{e}");
    }
}
