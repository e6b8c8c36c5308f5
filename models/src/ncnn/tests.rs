//! Fast tests on hand-written models; parity with real ncnn lives in
//! models/reference/compare_onnx.py.

use prost::Message;

use super::bin::{f16_to_f32, WeightReader};
use super::{convert, param, Converted};
use crate::metadata::{self, PHASES};
use crate::onnx::{ModelProto, NodeProto, TensorProto};
use crate::ModelError;

pub(super) fn tagged_f32(values: &[f32]) -> Vec<u8> {
    let mut b = 0u32.to_le_bytes().to_vec();
    b.extend(values.iter().flat_map(|v| v.to_le_bytes()));
    b
}

pub(super) fn raw_f32(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

fn tagged_f16(bits: &[u16]) -> Vec<u8> {
    let mut b = 0x0130_6B47u32.to_le_bytes().to_vec();
    b.extend(bits.iter().flat_map(|v| v.to_le_bytes()));
    b.resize(b.len().div_ceil(4) * 4, 0);
    b
}

pub(super) fn ramp(n: usize) -> Vec<f32> {
    (0..n).map(|i| i as f32 * 0.01 - 0.5).collect()
}

/// Converts and round-trips through protobuf bytes, as ORT would read it.
pub(super) fn convert_ok(param: &str, bin: &[u8]) -> (ModelProto, f64) {
    let Converted { model, flops_per_pixel } = convert("tiny", param, bin).expect("converts");
    (ModelProto::decode(model.to_bytes().as_slice()).expect("decodes"), flops_per_pixel)
}

pub(super) fn convert_err(param: &str, bin: &[u8]) -> String {
    match convert("bad", param, bin) {
        Err(ModelError::Ncnn { model, reason }) => {
            assert_eq!(model, "bad");
            reason
        }
        other => panic!("expected ModelError::Ncnn, got {other:?}"),
    }
}

pub(super) fn ops(model: &ModelProto) -> Vec<&str> {
    model.graph.as_ref().unwrap().node.iter().map(|n| n.op_type.as_str()).collect()
}

pub(super) fn node<'m>(model: &'m ModelProto, op: &str) -> &'m NodeProto {
    model.graph.as_ref().unwrap().node.iter().find(|n| n.op_type == op).unwrap_or_else(|| panic!("no {op} node"))
}

pub(super) fn init<'m>(model: &'m ModelProto, name: &str) -> &'m TensorProto {
    model
        .graph
        .as_ref()
        .unwrap()
        .initializer
        .iter()
        .find(|t| t.name == name)
        .unwrap_or_else(|| panic!("no initializer {name}"))
}

pub(super) fn floats(t: &TensorProto) -> Vec<f32> {
    t.raw_data.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
}

pub(super) fn attr_ints(n: &NodeProto, name: &str) -> Vec<i64> {
    n.attribute.iter().find(|a| a.name == name).unwrap_or_else(|| panic!("no attribute {name}")).ints.clone()
}

pub(super) fn attr_s(n: &NodeProto, name: &str) -> String {
    String::from_utf8(n.attribute.iter().find(|a| a.name == name).unwrap().s.clone()).unwrap()
}

/// conv 3->12 (3x3, pad 1, bias, LeakyReLU 0.2) then PixelShuffle 2: a x2 upscaler.
const CONV_SHUFFLE: &str = "7767517
3 3
Input            in0    0 1 data
Convolution      conv0  1 1 data c0 0=12 1=3 4=1 5=1 6=324 9=2 -23310=1,2.000000e-01
PixelShuffle     ps     1 1 c0 output 0=2
";

fn conv_shuffle_bin() -> Vec<u8> {
    let mut bin = tagged_f32(&ramp(324));
    bin.extend(raw_f32(&[0.25; 12]));
    bin
}

#[test]
fn parses_scalars_arrays_and_skips_blank_and_comment_lines() {
    let text = "\n# a hand-edited model\n7767517\n\n2 2\nInput in 0 1 data 0=156 1=156 2=3\n  # the only real layer\n\
                Eltwise add 1 1 data out 0=1 -23301=2,2.000000e-01,1 1=7\n";
    // Param 1 is given both as an array (-23301) and a scalar: refused.
    let err = param::parse(text).unwrap_err();
    assert!(err.contains("param 1 is given twice"), "{err}");

    let text = text.replace(" 1=7", " 5=-3 7=1.5e1");
    let file = param::parse(&text).unwrap();
    assert_eq!(file.blob_count, 2);
    assert_eq!(file.layers.len(), 2);
    let add = &file.layers[1];
    assert_eq!((add.kind.as_str(), add.name.as_str()), ("Eltwise", "add"));
    assert_eq!((add.inputs.clone(), add.outputs.clone()), (vec!["data".to_owned()], vec!["out".to_owned()]));
    assert_eq!(add.line, 8);
    let p = &add.params;
    assert_eq!(p.int(0, 9).unwrap(), 1);
    assert_eq!(p.int(4, 9).unwrap(), 9, "absent params take ncnn's default");
    assert_eq!(p.int(5, 0).unwrap(), -3);
    assert_eq!(p.floats(1).unwrap(), vec![0.2, 1.0], "integers inside arrays read as floats");
    assert_eq!(p.float(7, 0.0).unwrap(), 15.0);
    assert_eq!(p.float(0, 0.0).unwrap(), 1.0, "an integer literal is a valid float param");
    assert!(p.int(7, 0).unwrap_err().contains("must be an integer, got float 15"));
    assert!(p.floats(0).unwrap_err().contains("must be an array"));
}

#[test]
fn refuses_malformed_param_text() {
    let cases = [
        ("7767518\n0 0\n", "magic line is \"7767518\", expected \"7767517\""),
        ("", "empty"),
        ("7767517\n1\n", "found 1 fields"),
        ("7767517\n2 1\nInput in 0 1 data\n", "declares 2 layers, found 1"),
        ("7767517\n1 1\nInput in 0 3 data\n", "declares 0 inputs and 3 outputs, but only 1 blob names follow"),
        ("7767517\n1 1\nInput in zero 1 data\n", "the input count is \"zero\""),
        ("7767517\n1 1\nInput in 0 1 data 0:3\n", "line 3 (layer in): param \"0:3\" is not key=value"),
        ("7767517\n1 1\nInput in 0 1 data x=3\n", "param key \"x\" is not an integer"),
        ("7767517\n1 1\nInput in 0 1 data 0=1.5.5\n", "\"1.5.5\" is not a number"),
        ("7767517\n1 1\nInput in 0 1 data -23310=3,1,2\n", "array declares 3 values, has 2"),
    ];
    for (text, want) in cases {
        let err = convert_err(text, &[]);
        assert!(err.contains(want), "{text:?}: {err:?} lacks {want:?}");
    }
}

#[test]
fn reads_fp16_and_fp32_weights() {
    // 1, -2, 0.5, the smallest subnormal; 4 values -> 8 bytes, then 3 values -> 6 + 2 pad.
    let mut bin = tagged_f16(&[0x3C00, 0xC000, 0x3800, 0x0001]);
    bin.extend(tagged_f16(&[0x7BFF, 0x3555, 0x8000]));
    bin.extend(tagged_f32(&[1.5, -0.25]));
    bin.extend(raw_f32(&[7.0]));
    let mut r = WeightReader::new(&bin);
    assert_eq!(r.tagged(4, "a").unwrap(), vec![1.0, -2.0, 0.5, 2f32.powi(-24)]);
    let b = r.tagged(3, "b").unwrap();
    assert_eq!(b[0], 65504.0);
    assert!((b[1] - 0.333_251_95).abs() < 1e-8);
    assert!(b[2] == 0.0 && b[2].is_sign_negative());
    assert_eq!(r.tagged(2, "c").unwrap(), vec![1.5, -0.25]);
    assert_eq!(r.raw_f32(1, "d").unwrap(), vec![7.0]);
    assert_eq!(r.remaining(), 0);
    let err = r.raw_f32(1, "layer x: bias").unwrap_err();
    assert_eq!(err, "layer x: bias needs 1 floats, .bin has 0 left");
}

#[test]
fn decodes_special_halves() {
    assert_eq!(f16_to_f32(0x7C00), f32::INFINITY);
    assert_eq!(f16_to_f32(0xFC00), f32::NEG_INFINITY);
    assert!(f16_to_f32(0x7E00).is_nan());
    assert_eq!(f16_to_f32(0x0400), 2f32.powi(-14), "smallest normal");
    assert_eq!(f16_to_f32(0x03FF), 1023.0 * 2f32.powi(-24), "largest subnormal");
}

#[test]
fn reads_quantized_tables_and_refuses_int8() {
    let mut bin = 0x0000_0001u32.to_le_bytes().to_vec();
    let table: Vec<f32> = (0..256).map(|i| i as f32 / 2.0).collect();
    bin.extend(raw_f32(&table));
    bin.extend([3u8, 0, 255, 0]); // 3 indices + 1 pad byte
    let mut r = WeightReader::new(&bin);
    assert_eq!(r.tagged(3, "q").unwrap(), vec![1.5, 0.0, 127.5]);
    assert_eq!(r.remaining(), 0);

    let mut bin = 0x000D_4B38u32.to_le_bytes().to_vec();
    bin.extend([0u8; 4]);
    let err = WeightReader::new(&bin).tagged(4, "w").unwrap_err();
    assert!(err.contains("int8"), "{err}");
}

#[test]
fn converts_conv_and_pixel_shuffle() {
    let (model, flops) = convert_ok(CONV_SHUFFLE, &conv_shuffle_bin());
    assert_eq!(model.opset_import[0].version, 17);
    // A final PixelShuffle is left to the core: the output is in phase layout.
    assert_eq!(ops(&model), ["Conv", "LeakyRelu"]);
    let graph = model.graph.as_ref().unwrap();
    assert_eq!(graph.input[0].name, "input");
    assert_eq!(graph.output[0].name, "output");
    let dims = &graph.output[0].r#type.as_ref().unwrap().tensor_type.as_ref().unwrap().shape.as_ref().unwrap().dim;
    assert_eq!(dims[1].dim_value, Some(12));
    assert_eq!(dims[2].dim_param.as_deref(), Some("out_height"));

    let conv = node(&model, "Conv");
    assert_eq!(conv.input[0], "input");
    assert_eq!(attr_ints(conv, "pads"), [1, 1, 1, 1]);
    assert_eq!(attr_ints(conv, "kernel_shape"), [3, 3]);
    let w = init(&model, &conv.input[1]);
    assert_eq!(w.dims, [12, 3, 3, 3]);
    assert_eq!(floats(w), ramp(324), "ncnn's [out][in][kh][kw] is ONNX's layout");
    assert_eq!(floats(init(&model, &conv.input[2])), vec![0.25; 12]);
    let leaky = node(&model, "LeakyRelu");
    assert_eq!(leaky.attribute[0].f, 0.2);
    assert_eq!(leaky.output[0], "output");
    // 324 multiply-adds per pixel at input resolution.
    assert_eq!(flops, 648.0);
    let meta: Vec<(&str, &str)> = model.metadata_props.iter().map(|e| (e.key.as_str(), e.value.as_str())).collect();
    assert!(meta.contains(&(metadata::SOURCE, "tiny")));
    assert!(meta.contains(&(metadata::SCALE, "2")));
    assert!(meta.contains(&PHASES));
}

#[test]
fn counts_flops_at_each_blob_scale() {
    // A 1x1 conv after the x2 shuffle runs on 4 pixels per input pixel.
    let param = "7767517
4 4
Input            in0    0 1 data
Convolution      conv0  1 1 data c0 0=12 1=3 4=1 5=1 6=324
PixelShuffle     ps     1 1 c0 s0 0=2
Convolution      conv1  1 1 s0 output 0=3 1=1 5=0 6=9
";
    let mut bin = conv_shuffle_bin();
    bin.extend(tagged_f32(&[1.0; 9]));
    let (_, flops) = convert_ok(param, &bin);
    assert_eq!(flops, 648.0 + 2.0 * 9.0 * 4.0);
}

#[test]
fn converts_waifu2x_style_valid_conv_and_deconvolution() {
    // Sink blob not named "output" (as in waifu2x): it becomes the graph output.
    let param = "7767517
3 3
Input            input  0 1 Input1 0=156 1=156 2=3
Convolution      conv1  1 1 Input1 c1 0=2 1=3 5=1 6=54 9=2 -23310=1,0.100000
Deconvolution    conv7  1 1 c1 Eltwise4 0=3 1=4 3=2 4=3 5=1 6=96
";
    let mut bin = tagged_f32(&ramp(54));
    bin.extend(raw_f32(&[0.0, 0.1]));
    let deconv: Vec<f32> = (0..96).map(|i| i as f32).collect(); // [out 3][in 2][4][4]
    bin.extend(tagged_f16(&deconv.iter().map(|v| f32_to_f16_exact(*v)).collect::<Vec<_>>()));
    bin.extend(raw_f32(&[0.5, 0.5, 0.5]));
    let (model, flops) = convert_ok(param, &bin);
    // The deconvolution becomes a conv to its 2x2 output phases; as the last layer it
    // leaves them to the core (phase layout), with no DepthToSpace.
    assert_eq!(ops(&model), ["Conv", "LeakyRelu", "Conv"]);
    let convs: Vec<&NodeProto> = model.graph.as_ref().unwrap().node.iter().filter(|n| n.op_type == "Conv").collect();
    assert_eq!(attr_ints(convs[0], "pads"), [0, 0, 0, 0], "waifu2x convs are valid (unpadded)");
    // Transposed conv pads 3 crop the full output: output row 2m + r reads inputs
    // m..m+2, so a valid 3x3 conv (2m + r = m + d with kernel row r + 3 - 2d).
    assert_eq!(attr_ints(convs[1], "pads"), [0, 0, 0, 0]);
    assert_eq!(convs[1].output[0], "output");
    let meta = &model.metadata_props;
    assert!(meta.iter().any(|m| (m.key.as_str(), m.value.as_str()) == PHASES), "{meta:?}");
    let out = &model.graph.as_ref().unwrap().output[0];
    assert_eq!(out_channels(out), 12, "[1, 3 x 2x2 phases, h, w]");
    let w = init(&model, &convs[1].input[1]);
    assert_eq!(w.dims, [12, 2, 3, 3], "[colour x 2x2 phases][in][3][3]");
    let w = floats(w);
    // Phase (o, ry, rx) tap (dy, dx) <- ncnn [o][i][ry + 3 - 2dy][rx + 3 - 2dx]; values are
    // indices; taps outside the 4x4 kernel are zero.
    for (o, ry, rx, i, dy, dx) in [(2, 0, 1, 1, 0, 1), (0, 1, 1, 0, 2, 2), (1, 0, 0, 1, 1, 0)] {
        let (ky, kx) = (ry + 3 - 2 * dy, rx + 3 - 2 * dx);
        let phase = (o * 2 + ry) * 2 + rx;
        assert_eq!(w[((phase * 2 + i) * 3 + dy) * 3 + dx], (((o * 2 + i) * 4 + ky) * 4 + kx) as f32);
    }
    let (phase, i, dy, dx) = (0, 1, 2, 0);
    assert_eq!(w[((phase * 2 + i) * 3 + dy) * 3 + dx], 0.0, "phase row 0 has no tap at dy 2");
    assert_eq!(floats(init(&model, &convs[1].input[2])), [0.5; 12]);
    assert_eq!(flops, 2.0 * 54.0 + 2.0 * 96.0);
}

#[test]
fn a_deconvolution_inside_the_network_keeps_its_depth_to_space() {
    let param = "7767517
3 3
Input            input  0 1 Input1 0=156 1=156 2=3
Deconvolution    up     1 1 Input1 d 0=3 1=4 3=2 4=1 5=0 6=144
Convolution      conv1  1 1 d output 0=3 1=1 5=0 6=9
";
    let mut bin = tagged_f32(&ramp(144));
    bin.extend(tagged_f32(&[1.0; 9]));
    let (model, _) = convert_ok(param, &bin);
    assert_eq!(ops(&model), ["Conv", "DepthToSpace", "Conv"]);
    assert_eq!(attr_s(node(&model, "DepthToSpace"), "mode"), "CRD");
    assert!(model.metadata_props.iter().all(|m| m.key != PHASES.0));
    assert_eq!(out_channels(&model.graph.as_ref().unwrap().output[0]), 3);
}

#[test]
fn a_pixel_shuffle_plus_nearest_input_output_stays_in_phase_layout() {
    // SRVGGNet's tail (animevideov3): conv -> PixelShuffle 2 + nearest x2 of the input.
    let param = "7767517
6 7
Input            input  0 1 data
Split            sp     1 2 data d0 d1
Convolution      conv   1 1 d0 c 0=12 1=1 5=0 6=36
PixelShuffle     ps     1 1 c s 0=2
Interp           up     1 1 d1 u 0=1 1=2.000000e+00 2=2.000000e+00
BinaryOp         add    2 1 s u output 0=0
";
    let (model, _) = convert_ok(param, &tagged_f32(&ramp(36)));
    // The base, the input as [1, 3, 1, H*W], is added to each colour's 4 phases.
    assert_eq!(ops(&model), ["Conv", "Reshape", "Reshape", "Add", "Shape", "Reshape"]);
    let graph = model.graph.as_ref().unwrap();
    let add = node(&model, "Add");
    let reshapes: Vec<&NodeProto> = graph.node.iter().filter(|n| n.op_type == "Reshape").collect();
    assert_eq!(reshapes[0].input[0], graph.node[0].output[0], "the phase conv's output");
    assert_eq!(reshapes[1].input[0], "input");
    assert_eq!(add.input, [reshapes[0].output[0].clone(), reshapes[1].output[0].clone()]);
    let ints = |name: &str| -> Vec<i64> {
        init(&model, name).raw_data.chunks_exact(8).map(|b| i64::from_le_bytes(b.try_into().unwrap())).collect()
    };
    assert_eq!(ints(&reshapes[0].input[1]), [0, 3, 4, -1]);
    assert_eq!(ints(&reshapes[1].input[1]), [0, 3, 1, -1]);
    assert_eq!(reshapes[2].output[0], "output");
    assert!(model.metadata_props.iter().any(|m| (m.key.as_str(), m.value.as_str()) == PHASES));
    assert_eq!(out_channels(&graph.output[0]), 12);
    // Nothing of the pruned depth-to-space and Resize is left, constants included.
    assert!(graph.initializer.iter().all(|t| !t.name.starts_with("interp")), "{:?}", graph.initializer);
}

#[test]
fn a_shuffle_by_more_than_8_stays_planar() {
    // The core reads phase layouts up to scale 8 only.
    let param = "7767517
3 3
Input            input  0 1 data
Convolution      conv   1 1 data c 0=243 1=1 5=0 6=729
PixelShuffle     ps     1 1 c output 0=9
";
    let (model, _) = convert_ok(param, &tagged_f32(&ramp(729)));
    assert_eq!(ops(&model), ["Conv", "DepthToSpace"]);
    assert!(model.metadata_props.iter().all(|m| m.key != PHASES.0));
}

/// The fixed channel count of a declared `[1, C, H, W]` graph output.
fn out_channels(value: &crate::onnx::ValueInfoProto) -> i64 {
    let tensor = value.r#type.as_ref().and_then(|t| t.tensor_type.as_ref()).expect("a tensor output");
    tensor.shape.as_ref().expect("a shape").dim[1].dim_value.expect("a fixed channel count")
}

/// fp16 bits of a small integer value (exact), for building test weights.
fn f32_to_f16_exact(v: f32) -> u16 {
    assert!(v.fract() == 0.0 && (0.0..2048.0).contains(&v));
    if v == 0.0 {
        return 0;
    }
    let e = v.log2().floor() as i32;
    let man = ((v / 2f32.powi(e) - 1.0) * 1024.0) as u16;
    (((e + 15) as u16) << 10) | man
}

#[test]
fn lowers_interp_prelu_eltwise_and_binaryop() {
    let param = "7767517
8 9
Input            in0   0 1 data
Split            sp    1 2 data d0 d1
Convolution      conv  1 1 d0 c 0=3 1=1 5=0 6=9
PReLU            pr    1 1 c p 0=3
Eltwise          el    2 1 p d1 e 0=1 -23301=2,2.000000e-01,1.000000e+00
Interp           up    1 1 e u 0=1 1=4.000000e+00 2=4.000000e+00
BinaryOp         add   1 1 u b 0=0 1=1 2=1.000000e+00
Interp           down  1 1 b output 0=3 1=5.000000e-01 2=5.000000e-01
";
    let mut bin = tagged_f32(&[1.0; 9]);
    bin.extend(raw_f32(&[0.1, 0.2, 0.3]));
    let (model, flops) = convert_ok(param, &bin);
    let resizes: Vec<&NodeProto> =
        model.graph.as_ref().unwrap().node.iter().filter(|n| n.op_type == "Resize").collect();
    assert_eq!(resizes.len(), 1);
    // Integer nearest upscale: constant scales.
    assert_eq!(resizes[0].input.len(), 3);
    assert_eq!(attr_s(resizes[0], "coordinate_transformation_mode"), "asymmetric");
    assert_eq!(attr_s(resizes[0], "nearest_mode"), "floor");
    // Bicubic 0.5 of a 4x blob (even sides): edge pad + 4x4 stride-2 depthwise conv
    // with Keys (A = -0.75) taps at distances 1.5, 0.5, 0.5, 1.5.
    let down = model.graph.as_ref().unwrap().node.iter().find(|n| n.output[0] == "output").unwrap();
    assert_eq!(down.op_type, "Conv");
    assert_eq!(down.attribute.iter().find(|a| a.name == "strides").unwrap().ints, [2, 2]);
    assert_eq!(down.attribute.iter().find(|a| a.name == "group").unwrap().i, 3);
    let kernel = init(&model, &down.input[1]);
    assert_eq!(kernel.dims, [3, 1, 4, 4]);
    let taps: Vec<f32> = kernel.raw_data.chunks(4).map(|b| f32::from_le_bytes(b.try_into().unwrap())).collect();
    assert_eq!(taps[..4], [0.09375 * 0.09375, -0.09375 * 0.59375, -0.09375 * 0.59375, 0.09375 * 0.09375]);
    assert!((taps[..16].iter().sum::<f32>() - 1.0).abs() < 1e-6);
    let pad = node(&model, "Pad");
    assert_eq!(attr_s(pad, "mode"), "edge");
    // Per-channel PReLU: a*y + (1-a)*relu(y) with BatchNormalization scales.
    assert!(!ops(&model).contains(&"PRelu"));
    let scales: Vec<Vec<f32>> = model
        .graph
        .as_ref()
        .unwrap()
        .node
        .iter()
        .filter(|n| n.op_type == "BatchNormalization")
        .map(|n| {
            init(&model, &n.input[1]).raw_data.chunks(4).map(|b| f32::from_le_bytes(b.try_into().unwrap())).collect()
        })
        .collect();
    assert_eq!(scales, [vec![0.1, 0.2, 0.3], vec![0.9, 0.8, 0.7]]);
    assert!(ops(&model).contains(&"Sum"));
    assert_eq!(flops, 18.0);
    let meta = model.metadata_props.iter().find(|e| e.key == metadata::SCALE).unwrap();
    assert_eq!(meta.value, "2");
}

#[test]
fn bicubic_halving_of_a_possibly_odd_blob_stays_a_resize_and_one_slope_is_leaky_relu() {
    let param = "7767517
4 4
Input            in0   0 1 data
Convolution      conv  1 1 data c 0=3 1=1 5=0 6=9
PReLU            pr    1 1 c p 0=1
Interp           down  1 1 p output 0=3 1=5.000000e-01 2=5.000000e-01
";
    let mut bin = tagged_f32(&[1.0; 9]);
    bin.extend(raw_f32(&[0.25]));
    let (model, _) = convert_ok(param, &bin);
    let down = node(&model, "Resize");
    assert_eq!(down.input.len(), 4, "sizes computed in the graph (floor(H/2) for odd H)");
    assert_eq!(attr_s(down, "mode"), "cubic");
    assert_eq!(attr_s(down, "coordinate_transformation_mode"), "half_pixel");
    assert_eq!(down.attribute.iter().find(|a| a.name == "cubic_coeff_a").unwrap().f, -0.75);
    let leaky = node(&model, "LeakyRelu");
    assert_eq!(leaky.attribute.iter().find(|a| a.name == "alpha").unwrap().f, 0.25);
    assert!(!ops(&model).contains(&"PRelu"));
}

#[test]
fn reports_truncated_weights_with_sizes() {
    let mut bin = conv_shuffle_bin();
    bin.truncate(1200);
    let err = convert_err(CONV_SHUFFLE, &bin);
    assert_eq!(err, "layer conv0 (Convolution): weight data needs 324 floats, .bin has 299 left");

    let bin = conv_shuffle_bin();
    let err = convert_err(CONV_SHUFFLE, &bin[..bin.len() - 4]);
    assert_eq!(err, "layer conv0 (Convolution): bias needs 12 floats, .bin has 11 left");

    let err = convert_err(CONV_SHUFFLE, &[]);
    assert!(err.contains("storage tag) needs 4 bytes at offset 0, .bin has 0 left"), "{err}");

    let mut bin = conv_shuffle_bin();
    bin.extend([0; 8]);
    let err = convert_err(CONV_SHUFFLE, &bin);
    assert!(err.contains("use 1348 bytes of weights, but the .bin has 1356 (8 left over)"), "{err}");
}

#[test]
fn refuses_unknown_layers_and_bad_graphs() {
    let unknown = CONV_SHUFFLE.replace("PixelShuffle     ps", "LSTM     lstm");
    let err = convert_err(&unknown, &conv_shuffle_bin());
    assert!(err.starts_with("layer lstm (LSTM): layer type \"LSTM\" is not supported"), "{err}");

    let early = CONV_SHUFFLE.replace("1 1 data c0", "1 1 later c0");
    let err = convert_err(&early, &conv_shuffle_bin());
    assert_eq!(err, "layer conv0 (Convolution): input blob \"later\" is not produced by any earlier layer");

    let twice = "7767517\n4 4\nInput in 0 1 data\nNoop a 1 1 data x\nNoop b 1 1 data x\nNoop c 1 1 x output\n";
    let err = convert_err(twice, &[]);
    assert_eq!(err, "layer b (Noop): output blob \"x\" is already produced by an earlier layer");

    let wrong_in = CONV_SHUFFLE.replace("6=324", "6=432");
    let err = convert_err(&wrong_in, &conv_shuffle_bin());
    assert_eq!(err, "layer conv0 (Convolution): weight_data_size 432 implies 4 input channels, input blob data has 3");

    let no_rgb = CONV_SHUFFLE.replace("0=12 1=3", "0=16 1=3").replace("6=324", "6=432");
    let mut bin = tagged_f32(&ramp(432));
    bin.extend(raw_f32(&[0.0; 16]));
    let err = convert_err(&no_rgb, &bin);
    assert_eq!(err, "output blob \"output\" has 4 channels, expected 3 (RGB)");

    let bad_act = CONV_SHUFFLE.replace("9=2 -23310=1,2.000000e-01", "9=2");
    let err = convert_err(&bad_act, &conv_shuffle_bin());
    assert!(err.contains("activation type 2 needs 1 params (param 10), got 0"), "{err}");

    let huge = CONV_SHUFFLE.replace("1=3 4=1", "1=2000000000 11=2000000000 4=1");
    let err = convert_err(&huge, &conv_shuffle_bin());
    assert!(err.contains("is not a multiple of num_output x kernel area"), "{err}");

    let two_sinks = "7767517\n3 3\nInput in 0 1 data\nSplit sp 1 2 data a b\nNoop n 1 1 a c\n";
    let err = convert_err(two_sinks, &[]);
    assert!(err.contains("2 blobs are unused"), "{err}");
}

#[test]
fn passes_through_an_input_only_graph() {
    let (model, flops) = convert_ok("7767517\n2 2\nInput in 0 1 data\nNoop n 1 1 data output\n", &[]);
    assert_eq!(ops(&model), ["Identity"]);
    assert_eq!(flops, 0.0);
}

#[test]
fn bicubic_three_quarters_of_a_4x_blob_is_a_phase_conv_and_depth_to_space() {
    let param = "7767517
3 3
Input            in0   0 1 data
Interp           up    1 1 data u 0=1 1=4.000000e+00 2=4.000000e+00
Interp           down  1 1 u output 0=3 1=7.500000e-01 2=7.500000e-01
";
    let (model, _) = convert_ok(param, &[]);
    // Only the nearest upscale stays a Resize.
    assert_eq!(ops(&model).iter().filter(|&&op| op == "Resize").count(), 1);
    let conv = node(&model, "Conv");
    assert_eq!(conv.attribute.iter().find(|a| a.name == "strides").unwrap().ints, [4, 4]);
    assert_eq!(init(&model, &conv.input[1]).dims, [27, 1, 6, 6]);
    let d2s = model.graph.as_ref().unwrap().node.iter().find(|n| n.output[0] == "output").unwrap();
    assert_eq!(d2s.op_type, "DepthToSpace");
    assert_eq!(d2s.attribute.iter().find(|a| a.name == "blocksize").unwrap().i, 3);
}

#[test]
fn memory_data_is_a_per_channel_constant_that_broadcasts() {
    // SPAN's front: (x - mean) * 255, the mean a MemoryData blob read as raw fp32.
    let param = "7767517
4 4
Input            in0   0 1 data
MemoryData       mean  0 1 m 0=1 1=1 2=3
BinaryOp         sub   2 1 data m s 0=1
BinaryOp         mul   1 1 s output 0=2 1=1 2=2.550000e+02
";
    let (model, _) = convert_ok(param, &raw_f32(&[0.4, 0.5, 0.6]));
    let sub = node(&model, "Sub");
    let mean = init(&model, &sub.input[1]);
    assert_eq!(mean.dims, [1, 3, 1, 1]);
    assert_eq!(floats(mean), [0.4, 0.5, 0.6]);

    let spatial = param.replace("0=1 1=1 2=3", "0=4 1=4 2=3");
    let reason = convert_err(&spatial, &raw_f32(&[0.0; 48]));
    assert!(reason.contains("w=4 h=4 d=0 c=3") && reason.contains("per-channel"), "{reason}");
    // Too short a .bin is refused, not read past.
    let reason = convert_err(param, &raw_f32(&[0.4, 0.5]));
    assert!(reason.contains("needs 3 floats"), "{reason}");
}

#[test]
fn channel_counts_from_the_param_are_bounded() {
    // Found by the ncnn_convert fuzz target: each Concat of a blob with itself doubles
    // its channels, so 40 lines declare 3 * 2^40 channels, and the bicubic downscale
    // after them built a kernel of that many filters (an abort on allocation failure;
    // 62 lines overflowed the channel sum instead).
    let mut param = String::from("7767517\n43 43\nInput in 0 1 b0\n");
    for i in 0..40 {
        param += &format!("Concat c{i} 2 1 b{i} b{i} b{}\n", i + 1);
    }
    param += "Interp up 1 1 b40 u 0=1 1=2.0 2=2.0\nInterp down 1 1 u output 0=3 1=0.5 2=0.5\n";
    let err = convert_err(&param, &[]);
    assert_eq!(err, "layer c10 (Concat): output has 6144 channels, more than the converter's limit of 4096");
}
