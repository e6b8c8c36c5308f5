//! Pooling, InnerProduct, Scale, Crop and the nearest residual on hand-written models;
//! parity with real ncnn on the Real-CUGAN and waifu2x CUNet models is in tests/parity.rs.

use super::tests::{attr_ints, attr_s, convert_err, convert_ok, floats, init, node, ops, ramp, raw_f32, tagged_f32};
use super::{convert_with, Extras};
use crate::onnx::ModelProto;
use crate::ModelError;

fn i64s(model: &ModelProto, name: &str) -> Vec<i64> {
    init(model, name).raw_data.chunks_exact(8).map(|c| i64::from_le_bytes(c.try_into().unwrap())).collect()
}

/// A squeeze-and-excitation block as Real-CUGAN writes it: conv 3->4, channel means,
/// FC 4->2 (ReLU), FC 2->4 (sigmoid), the map times the factors, then a 1x1 conv to RGB.
const SE_BLOCK: &str = "7767517
8 9
Input            in0    0 1 data
Convolution      conv0  1 1 data c0 0=4 1=3 4=1 5=1 6=108
Split            split  1 2 c0 c1 c2
Pooling          gap    1 1 c2 g0 0=1 4=1
InnerProduct     fc0    1 1 g0 f0 0=2 1=1 2=8 9=1
InnerProduct     fc1    1 1 f0 f1 0=4 1=1 2=8 9=4
BinaryOp         mul    2 1 c1 f1 m0 0=2
Convolution      conv1  1 1 m0 output 0=3 1=1 5=0 6=12
";

fn se_bin() -> Vec<u8> {
    let mut bin = tagged_f32(&ramp(108));
    bin.extend(raw_f32(&[0.1; 4]));
    bin.extend(tagged_f32(&ramp(8)));
    bin.extend(raw_f32(&[0.5, -0.5]));
    bin.extend(tagged_f32(&ramp(8)));
    bin.extend(raw_f32(&[0.0; 4]));
    bin.extend(tagged_f32(&[1.0; 12]));
    bin
}

#[test]
fn squeeze_and_excitation_pools_globally_and_scales_per_channel() {
    let (model, flops) = convert_ok(SE_BLOCK, &se_bin());
    assert_eq!(ops(&model), ["Conv", "GlobalAveragePool", "Conv", "Relu", "Conv", "Sigmoid", "Mul", "Conv"]);
    let graph = model.graph.as_ref().unwrap();
    let fc0 = &graph.node[2];
    assert_eq!(fc0.input[0], node(&model, "GlobalAveragePool").output[0]);
    assert_eq!(attr_ints(fc0, "kernel_shape"), [1, 1]);
    let w = init(&model, &fc0.input[1]);
    assert_eq!(w.dims, [2, 4, 1, 1], "[out][in] weights as a 1x1 convolution");
    assert_eq!(floats(w), ramp(8));
    assert_eq!(floats(init(&model, &fc0.input[2])), [0.5, -0.5]);
    let mul = node(&model, "Mul");
    assert_eq!(mul.input[1], node(&model, "Sigmoid").output[0]);
    // Only the two per-pixel convolutions count; the FCs run once per image.
    assert_eq!(flops, 2.0 * 108.0 + 2.0 * 12.0);
}

#[test]
fn crops_by_arrays_by_reference_blob_and_by_offsets() {
    // Real-CUGAN: starts/ends/axes arrays over (h, w).
    let param = "7767517
2 2
Input    in0  0 1 data
Crop     pad  1 1 data output -23309=2,4,3 -23310=2,-4,-233 -23311=2,-2,-1
";
    let (model, _) = convert_ok(param, &[]);
    let slice = node(&model, "Slice");
    assert_eq!(i64s(&model, &slice.input[1]), [4, 3]);
    assert_eq!(i64s(&model, &slice.input[2]), [-4, i64::MAX], "-233 means to the end");
    assert_eq!(i64s(&model, &slice.input[3]), [2, 3]);

    // waifu2x CUNet: to the size of a second blob, at (h, w) offsets 5 and 4.
    let param = "7767517
4 5
Input          in0   0 1 data
Split          split 1 2 data a b
Convolution    conv  1 1 a small 0=3 1=3 5=0 6=81
Crop           crop  2 1 b small output 0=4 1=5
";
    let (model, _) = convert_ok(param, &tagged_f32(&ramp(81)));
    assert_eq!(ops(&model), ["Conv", "Shape", "Add", "Slice"]);
    let shape = node(&model, "Shape");
    assert_eq!(shape.input[0], node(&model, "Conv").output[0]);
    assert_eq!(shape.attribute.iter().find(|a| a.name == "start").unwrap().i, 2, "height and width only");
    let add = node(&model, "Add");
    assert_eq!(i64s(&model, &add.input[1]), [5, 4]);
    let slice = node(&model, "Slice");
    assert_eq!(slice.input[0], "input");
    assert_eq!(i64s(&model, &slice.input[1]), [5, 4]);
    assert_eq!(slice.input[2], add.output[0]);

    // Offsets and a far offset (params 0, 1, 6, 7) or a fixed size (3, 4).
    let param = "7767517
2 2
Input    in0  0 1 data
Crop     c    1 1 data output 0=1 1=2 6=3 4=10
";
    let (model, _) = convert_ok(param, &[]);
    let slice = node(&model, "Slice");
    assert_eq!(i64s(&model, &slice.input[1]), [2, 1]);
    assert_eq!(i64s(&model, &slice.input[2]), [12, -3]);
}

#[test]
fn scale_takes_factors_from_a_blob_or_from_the_weights() {
    let param = "7767517
5 6
Input          in0   0 1 data
Split          split 1 2 data a b
Pooling        gap   1 1 b g 0=1 4=1
Scale          s0    2 1 a g s 0=-233
Scale          s1    1 1 s output 0=3 1=1
";
    let mut bin = raw_f32(&[2.0, 3.0, 4.0]);
    bin.extend(raw_f32(&[0.1, 0.2, 0.3]));
    let (model, _) = convert_ok(param, &bin);
    assert_eq!(ops(&model), ["GlobalAveragePool", "Mul", "Mul", "Add"]);
    let graph = model.graph.as_ref().unwrap();
    assert_eq!(graph.node[1].input[1], graph.node[0].output[0]);
    let factors = init(&model, &graph.node[2].input[1]);
    assert_eq!(factors.dims, [1, 3, 1, 1]);
    assert_eq!(floats(factors), [2.0, 3.0, 4.0]);
    assert_eq!(floats(init(&model, &graph.node[3].input[1])), [0.1, 0.2, 0.3]);
    assert_eq!(graph.node[3].output[0], "output");
}

#[test]
fn windowed_pooling_maps_pad_modes_and_max_pooling_rounds_up() {
    let param = "7767517
3 3
Input    in0  0 1 data
Pooling  p0   1 1 data p 0=0 1=2 2=2
Pooling  p1   1 1 p output 0=1 1=3 2=1 5=1
";
    let (model, _) = convert_ok(param, &[]);
    let max = node(&model, "MaxPool");
    assert_eq!(attr_ints(max, "kernel_shape"), [2, 2]);
    assert_eq!(attr_ints(max, "strides"), [2, 2]);
    assert_eq!(max.attribute.iter().find(|a| a.name == "ceil_mode").unwrap().i, 1);
    let avg = node(&model, "AveragePool");
    assert_eq!(attr_ints(avg, "kernel_shape"), [3, 3]);
    assert_eq!(avg.attribute.iter().find(|a| a.name == "ceil_mode").unwrap().i, 0);
}

#[test]
fn nearest_residual_adds_the_inner_input_upscaled() {
    // conv 3->12 (valid 3x3, border 1), then a x2 shuffle.
    let param = "7767517
3 3
Input         in0  0 1 data
Convolution   conv 1 1 data c0 0=12 1=3 5=0 6=324
PixelShuffle  ps   1 1 c0 output 0=2
";
    let bin = tagged_f32(&ramp(324));
    let extras = Extras { nearest_residual: Some(1) };
    let converted = convert_with("residual", param, &bin, extras).unwrap();
    let model = converted.model;
    assert_eq!(ops(&model), ["Conv", "DepthToSpace", "Slice", "Resize", "Add"]);
    let slice = node(&model, "Slice");
    assert_eq!(slice.input[0], "input");
    assert_eq!(i64s(&model, &slice.input[1]), [1, 1]);
    assert_eq!(i64s(&model, &slice.input[2]), [-1, -1]);
    let resize = node(&model, "Resize");
    assert_eq!(attr_s(resize, "mode"), "nearest");
    assert_eq!(attr_s(resize, "nearest_mode"), "floor");
    assert_eq!(floats(init(&model, &resize.input[2])), [1.0, 1.0, 2.0, 2.0]);
    let add = node(&model, "Add");
    assert_eq!(add.input[0], node(&model, "DepthToSpace").output[0]);
    assert_eq!(add.output[0], "output");
}

#[test]
fn refuses_what_the_unet_layers_cannot_reproduce() {
    let cases = [
        ("Pooling p 1 1 data output 0=1 4=1 7=1", "adaptive pooling (param 7) is not supported"),
        ("Pooling p 1 1 data output 0=1 1=2 2=2 5=0", "pad_mode 0 with pooling_type 1 is not supported"),
        ("Pooling p 1 1 data output 0=2 4=1", "pooling_type 2 is not 0 (max) or 1 (average)"),
        (
            "InnerProduct fc 1 1 data output 0=3 1=0 2=9",
            "input \"data\" is a feature map; only pooled vectors are supported",
        ),
        ("Crop c 1 1 data output -23309=1,1 -23310=1,2 -23311=1,0", "axis 0 is not height or width"),
        ("Crop c 1 1 data output 2=1", "channel crops (params 2, 5, 8) are not supported"),
        ("Scale s 1 1 data output 0=-233", "takes the factors from a second input (have 1 inputs)"),
        ("Scale s 1 1 data output 0=4", "scale_data_size 4, input has Some(3) channels"),
        // Found by the ncnn_convert fuzz target: a Scale with no input used to index past the end.
        ("Scale s 0 1 output", "has 0 inputs and 1 outputs, expected 1 or 2 and 1"),
    ];
    for (line, want) in cases {
        let param = format!("7767517\n2 2\nInput in0 0 1 data\n{line}\n");
        let err = convert_err(&param, &[0; 64]);
        assert!(err.contains(want), "{line:?}: {err:?} lacks {want:?}");
    }
    // A residual needs one integer scale.
    let param = "7767517\n2 2\nInput in0 0 1 data\nInterp up 1 1 data output 0=1 1=2.0 2=3.0\n";
    match convert_with("bad", param, &[], Extras { nearest_residual: Some(0) }) {
        Err(ModelError::Ncnn { reason, .. }) => assert!(reason.contains("one integer output scale"), "{reason}"),
        other => panic!("expected ModelError::Ncnn, got {other:?}"),
    }
}
