//! Our own fine-tuned weights for a converted model (catalog `finetune`).
//!
//! A fine-tuned entry names the same registry files as its base model; the fetch
//! converts them as usual and then adds our changes to every convolution's weights and
//! bias, so the graph, its tiling and its engines stay the base model's. Only the
//! changes are built into the crate (made by `models/train/footage.py`, see MODELS.md):
//! useless without the base weights, which each user's machine fetches from the
//! registry as for any other model, so no upstream weights are redistributed.
//!
//! File format: for the convolution initializers in graph order (each `Conv` node's
//! weight, then its bias), tuned minus original as little-endian f32, nothing else. The
//! catalog pins its sha256.

use serde::Deserialize;

use crate::cache::sha256_hex;
use crate::onnx::ModelProto;
use crate::ModelError;

/// A catalog entry's `finetune = { weights = "...", sha256 = "..." }`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Finetune {
    /// File name under `models/weights/`.
    pub weights: String,
    pub sha256: String,
}

impl Finetune {
    /// What the cache manifest records for the weights, next to the registry files.
    pub fn record_path(&self) -> String {
        format!("aiupscale:models/weights/{}", self.weights)
    }
}

/// The weight files built into this crate, by file name.
const EMBEDDED: &[(&str, &[u8])] = &[
    ("span-footage-x2.f32", include_bytes!("../weights/span-footage-x2.f32")),
    ("span-footage-part-x2.f32", include_bytes!("../weights/span-footage-part-x2.f32")),
];

/// The bytes of a built-in weight file, checked against `finetune.sha256`.
pub fn embedded(model: &str, finetune: &Finetune) -> Result<&'static [u8], ModelError> {
    let err = |reason: String| ModelError::Finetune { model: model.to_owned(), reason };
    let (_, bytes) = EMBEDDED.iter().find(|(name, _)| *name == finetune.weights).ok_or_else(|| {
        let known: Vec<&str> = EMBEDDED.iter().map(|(n, _)| *n).collect();
        err(format!("no built-in weight file {:?}; built in: {}", finetune.weights, known.join(", ")))
    })?;
    let actual = sha256_hex(bytes);
    if actual != finetune.sha256 {
        return Err(ModelError::ChecksumMismatch {
            what: format!("built-in weights {} of {model}", finetune.weights),
            actual,
            expected: finetune.sha256.clone(),
        });
    }
    Ok(bytes)
}

/// Adds `delta` (the format in the module doc) to the convolution weights and biases of
/// `onnx`; every byte must be used and every tensor keep its size.
pub fn apply(model: &str, onnx: &mut ModelProto, delta: &[u8]) -> Result<(), ModelError> {
    let err = |reason: String| ModelError::Finetune { model: model.to_owned(), reason };
    let graph = onnx.graph.as_mut().ok_or_else(|| err("the converted model has no graph".into()))?;
    let names: Vec<String> =
        graph.node.iter().filter(|n| n.op_type == "Conv").flat_map(|n| n.input.iter().skip(1).cloned()).collect();
    let mut offset = 0;
    for name in &names {
        let tensor = graph
            .initializer
            .iter_mut()
            .find(|t| &t.name == name)
            .ok_or_else(|| err(format!("convolution input {name} is not an initializer")))?;
        let len = tensor.raw_data.len();
        if tensor.data_type != 1 {
            return Err(err(format!("{name} has element type {}, expected 1 (float)", tensor.data_type)));
        }
        let Some(change) = delta.get(offset..offset + len) else {
            return Err(err(format!(
                "the weights end at byte {} inside {name}, expected at least {} bytes",
                delta.len(),
                offset + len
            )));
        };
        for (w, d) in tensor.raw_data.chunks_exact_mut(4).zip(change.chunks_exact(4)) {
            let sum = f32::from_le_bytes(w.try_into().unwrap()) + f32::from_le_bytes(d.try_into().unwrap());
            w.copy_from_slice(&sum.to_le_bytes());
        }
        offset += len;
    }
    if offset != delta.len() {
        return Err(err(format!(
            "the weights have {} bytes, the {} convolution tensors of the graph take {offset}",
            delta.len(),
            names.len()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::onnx::{Attr, GraphBuilder};

    fn two_convs() -> ModelProto {
        let mut g = GraphBuilder::new("t");
        g.input_f32("input", &crate::onnx::image_dims(3));
        let w = g.constant_f32("w", &[3, 3, 1, 1], &[0.5; 9]);
        let b = g.constant_f32("b", &[3], &[0.0; 3]);
        let c = g.node("Conv", &["input", &w, &b], vec![]);
        let w2 = g.constant_f32("w", &[3, 3, 1, 1], &[-1.0; 9]);
        let out = g.node("Conv", &[&c, &w2], vec![Attr::Ints("pads", vec![0, 0, 0, 0])]);
        g.node_with_outputs("Identity", &[&out], &["output"], vec![]);
        g.output_f32("output", &crate::onnx::image_dims(3));
        g.finish("t", &[])
    }

    fn floats(n: usize) -> Vec<u8> {
        (0..n).flat_map(|i| (i as f32).to_le_bytes()).collect()
    }

    #[test]
    fn the_changes_add_to_the_convolutions_in_graph_order() {
        let mut m = two_convs();
        apply("t", &mut m, &floats(21)).unwrap();
        let g = m.graph.unwrap();
        let value =
            |i: usize, k: usize| f32::from_le_bytes(g.initializer[i].raw_data[4 * k..4 * k + 4].try_into().unwrap());
        assert_eq!((value(0, 0), value(0, 8)), (0.5, 8.5));
        assert_eq!((value(1, 0), value(1, 2)), (9.0, 11.0));
        assert_eq!((value(2, 0), value(2, 8)), (11.0, 19.0));
    }

    #[test]
    fn a_weight_file_of_the_wrong_size_is_refused() {
        for n in [20, 22] {
            let e = apply("t", &mut two_convs(), &floats(n)).unwrap_err();
            assert!(matches!(e, ModelError::Finetune { .. }), "{e}");
            assert!(e.to_string().contains(&(n * 4).to_string()), "{e}");
        }
    }

    #[test]
    fn every_catalog_finetune_is_built_in_with_its_sha256() {
        let tuned: Vec<_> =
            crate::Catalog::builtin().models().iter().filter_map(|m| m.finetune.as_ref().map(|f| (m, f))).collect();
        assert!(!tuned.is_empty());
        for (entry, finetune) in tuned {
            embedded(&entry.name, finetune).unwrap();
        }
        let wrong = Finetune { weights: "span-footage-x2.f32".into(), sha256: "0".repeat(64) };
        assert!(matches!(embedded("t", &wrong), Err(ModelError::ChecksumMismatch { .. })));
    }
}
