//! Tiny ONNX models for fast tests of every front (core, element, bridge). They are
//! made here, by code, so tests need no downloads; `cargo run -p aiupscale-models
//! --example make_tiny_models -- DIR` writes them to a folder.

use std::path::{Path, PathBuf};

use crate::onnx::{image_dims, Attr, Dim, GraphBuilder, ModelProto};

/// The fixture models, by file stem.
pub const TINY_MODELS: [&str; 5] = ["nearest_x2", "smooth_x2", "valid_x2", "bad_channels", "bad_output"];

/// Deterministic small weights (an LCG), so fixtures are the same on every machine.
fn weights(count: usize, seed: u32, amplitude: f32) -> Vec<f32> {
    let mut state = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
    (0..count)
        .map(|_| {
            state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            ((state >> 8) as f32 / (1u32 << 24) as f32 - 0.5) * 2.0 * amplitude
        })
        .collect()
}

/// 1x1 conv that copies input channel c to output channels 4c..4c+3, then
/// DepthToSpace(2, CRD): an exact nearest-neighbour x2.
fn nearest_x2_into(g: &mut GraphBuilder, input: &str, output: &str) {
    let mut w = vec![0.0; 12 * 3];
    for c in 0..3 {
        for k in 0..4 {
            w[(4 * c + k) * 3 + c] = 1.0;
        }
    }
    let w = g.constant_f32("copy_w", &[12, 3, 1, 1], &w);
    let expanded = g.node("Conv", &[input, &w], vec![Attr::Ints("kernel_shape", vec![1, 1])]);
    g.node_with_outputs(
        "DepthToSpace",
        &[&expanded],
        &[output],
        vec![Attr::Int("blocksize", 2), Attr::Str("mode", "CRD".into())],
    );
}

fn conv3x3(g: &mut GraphBuilder, input: &str, cin: i64, cout: i64, pad: i64, seed: u32) -> String {
    let w = g.constant_f32("w", &[cout, cin, 3, 3], &weights((cout * cin * 9) as usize, seed, 0.1));
    let b = g.constant_f32("b", &[cout], &weights(cout as usize, seed + 1, 0.02));
    g.node("Conv", &[input, &w, &b], vec![Attr::Ints("kernel_shape", vec![3, 3]), Attr::Ints("pads", vec![pad; 4])])
}

/// Builds one fixture by name.
pub fn tiny_model(name: &str) -> Option<ModelProto> {
    let mut g = GraphBuilder::new(name);
    let out_dims = || vec![Dim::Fixed(1), Dim::Fixed(3), Dim::named("out_height"), Dim::named("out_width")];
    match name {
        // Exact nearest-neighbour x2: output pixel = input pixel, for precision tests.
        "nearest_x2" => {
            g.input_f32("input", &image_dims(3));
            g.output_f32("output", &out_dims());
            nearest_x2_into(&mut g, "input", "output");
        }
        // Two 3x3 convs (receptive radius 2) as a residual on nearest x2: behaves like
        // a real SR net at tile seams.
        "smooth_x2" => {
            g.input_f32("input", &image_dims(3));
            g.output_f32("output", &out_dims());
            let c1 = conv3x3(&mut g, "input", 3, 8, 1, 7);
            let r1 = g.node("Relu", &[&c1], vec![]);
            let c2 = conv3x3(&mut g, &r1, 8, 12, 1, 11);
            let detail =
                g.node("DepthToSpace", &[&c2], vec![Attr::Int("blocksize", 2), Attr::Str("mode", "CRD".into())]);
            let base = g.fresh("base");
            nearest_x2_into(&mut g, "input", &base);
            g.node_with_outputs("Add", &[&base, &detail], &["output"], vec![]);
        }
        // A valid (unpadded) 3x3 conv: the model consumes 1 pixel on each side, like waifu2x.
        "valid_x2" => {
            g.input_f32("input", &image_dims(3));
            g.output_f32("output", &out_dims());
            let c = conv3x3(&mut g, "input", 3, 12, 0, 3);
            g.node_with_outputs(
                "DepthToSpace",
                &[&c],
                &["output"],
                vec![Attr::Int("blocksize", 2), Attr::Str("mode", "CRD".into())],
            );
        }
        // Wrong signatures, for error paths.
        "bad_channels" => {
            g.input_f32("input", &image_dims(4));
            g.output_f32("output", &image_dims(4));
            g.node_with_outputs("Identity", &["input"], &["output"], vec![]);
        }
        "bad_output" => {
            g.input_f32("input", &image_dims(3));
            g.output_f32("output", &image_dims(1));
            let w = g.constant_f32("w", &[1, 3, 1, 1], &[0.3, 0.3, 0.4]);
            g.node_with_outputs("Conv", &["input", &w], &["output"], vec![Attr::Ints("kernel_shape", vec![1, 1])]);
        }
        _ => return None,
    }
    Some(g.finish(&format!("aiupscale test fixture {name}"), &[("aiupscale.fixture", name)]))
}

/// Writes every fixture as `DIR/<name>.onnx` and returns the paths.
pub fn write_tiny_models(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    TINY_MODELS
        .iter()
        .map(|name| {
            let path = dir.join(format!("{name}.onnx"));
            std::fs::write(&path, tiny_model(name).expect("listed fixture").to_bytes())?;
            Ok(path)
        })
        .collect()
}
