//! Splitting a model with squeeze-and-excitation (SE) blocks at its global average
//! pools, so that tiled inference can average every pooled vector over the whole image
//! instead of over each tile (Real-CUGAN, waifu2x CUNet: catalog `global_pooling`).
//!
//! Design: from one converted graph with K `GlobalAveragePool` nodes we derive K + 1
//! graphs over the same weights. Prefix stage k (k < K) takes the image and the means
//! of SE points 0..k (inputs `se_mean_<i>`, [1,C,1,1], in place of those pools) and
//! outputs the feature map that pool k averages (`se_feature`, [1,C,h,w]). The last
//! stage takes the image and all K means and outputs the image. A tiled run executes
//! prefix k on every tile, sums the part of the feature map each tile owns, divides by
//! the number of pixels and feeds that mean to the later stages. Between stages only
//! the K vectors (a few hundred floats) are held, never a feature map of the whole
//! image; the price is recomputing each prefix once per stage (MODELS.md has the cost).
//! Cutting the graph into pieces that hand feature maps on would instead keep every
//! tile's U-Net skip connections until the next stage: gigabytes for a 1080p frame.
//!
//! The cached model stays the one-pass graph (an image that fits one tile runs it); the
//! stages are derived from it when the core first tiles such a model.

use std::collections::HashSet;

use crate::{
    metadata::{PHASES, SE_FEATURE, SE_MEAN_PREFIX},
    onnx::{value_info, Dim, ModelProto, NodeProto},
    ModelError,
};

const POOL: &str = "GlobalAveragePool";
const FLOAT: i32 = 1;

/// How many SE points (global average pools) a graph has.
pub fn global_pool_count(model: &ModelProto) -> usize {
    model.graph.as_ref().map_or(0, |g| g.node.iter().filter(|n| n.op_type == POOL).count())
}

/// The K + 1 stage graphs of `model` (see the module doc): K prefixes, then the last.
pub fn split_at_global_pools(name: &str, model: &ModelProto) -> Result<Vec<ModelProto>, ModelError> {
    let err = |reason: String| ModelError::Stages { model: name.to_owned(), reason };
    let graph = model.graph.as_ref().ok_or_else(|| err("the file has no graph".into()))?;
    let pools: Vec<usize> = graph.node.iter().enumerate().filter(|(_, n)| n.op_type == POOL).map(|(i, _)| i).collect();
    if pools.is_empty() {
        return Err(err(format!("it has no {POOL} node")));
    }
    let (Some(image), Some(output)) = (graph.input.first(), graph.output.first()) else {
        return Err(err(format!("{} inputs and {} outputs, expected 1 and 1", graph.input.len(), graph.output.len())));
    };
    if graph.input.len() != 1 || graph.output.len() != 1 {
        return Err(err(format!("{} inputs and {} outputs, expected 1 and 1", graph.input.len(), graph.output.len())));
    }
    for &p in &pools {
        let node = &graph.node[p];
        if node.input.len() != 1 || node.output.len() != 1 {
            return Err(err(format!(
                "{POOL} node {:?} has {} inputs and {} outputs",
                node.name,
                node.input.len(),
                node.output.len()
            )));
        }
    }
    let mut stages = Vec::with_capacity(pools.len() + 1);
    for k in 0..=pools.len() {
        // Nodes before pool k (all of them for the last stage), pools 0..k as inputs.
        let end = pools.get(k).copied().unwrap_or(graph.node.len());
        let mut nodes: Vec<NodeProto> = Vec::with_capacity(end);
        let mut means = Vec::new();
        for (index, node) in graph.node[..end].iter().enumerate() {
            match pools.iter().position(|&p| p == index) {
                Some(i) => means.push((node.output[0].clone(), format!("{SE_MEAN_PREFIX}{i}"))),
                None => nodes.push(node.clone()),
            }
        }
        for node in &mut nodes {
            for value in &mut node.input {
                if let Some((_, mean)) = means.iter().find(|(pooled, _)| pooled == value) {
                    *value = mean.clone();
                }
            }
        }
        let target = match pools.get(k) {
            Some(&p) => {
                let feature = graph.node[p].input[0].clone();
                nodes.push(NodeProto {
                    input: vec![feature],
                    output: vec![SE_FEATURE.into()],
                    name: "se_feature_out".into(),
                    op_type: "Identity".into(),
                    ..Default::default()
                });
                SE_FEATURE.to_owned()
            }
            None => output.name.clone(),
        };
        let nodes = prune(nodes, &target);
        let used: HashSet<&str> = nodes.iter().flat_map(|n| n.input.iter().map(String::as_str)).collect();
        if !used.contains(image.name.as_str()) {
            return Err(err(format!("stage {k} does not read the image input {:?}", image.name)));
        }
        let mut inputs = vec![image.clone()];
        for (i, (_, mean)) in means.iter().enumerate() {
            if used.contains(mean.as_str()) {
                let dims = [Dim::Fixed(1), Dim::Named(format!("se_channels_{i}")), Dim::Fixed(1), Dim::Fixed(1)];
                inputs.push(value_info(mean, FLOAT, &dims));
            }
        }
        let initializer = graph.initializer.iter().filter(|t| used.contains(t.name.as_str())).cloned().collect();
        let outputs = if k < pools.len() {
            let dims = [Dim::Fixed(1), Dim::named("se_channels"), Dim::named("se_height"), Dim::named("se_width")];
            vec![value_info(SE_FEATURE, FLOAT, &dims)]
        } else {
            vec![output.clone()]
        };
        let mut stage = model.clone();
        // A prefix's output is a feature map, whatever the image output's layout.
        if k < pools.len() {
            stage.metadata_props.retain(|m| m.key != PHASES.0);
        }
        let g = stage.graph.as_mut().expect("cloned from a model with a graph");
        g.name = format!("{}_stage{k}", graph.name);
        (g.node, g.initializer, g.input, g.output) = (nodes, initializer, inputs, outputs);
        stages.push(stage);
    }
    Ok(stages)
}

/// The nodes `target` depends on, in their order.
fn prune(nodes: Vec<NodeProto>, target: &str) -> Vec<NodeProto> {
    let mut needed: HashSet<String> = HashSet::from([target.to_owned()]);
    let mut keep = vec![false; nodes.len()];
    for (i, node) in nodes.iter().enumerate().rev() {
        if node.output.iter().any(|o| needed.contains(o)) {
            keep[i] = true;
            needed.extend(node.input.iter().filter(|v| !v.is_empty()).cloned());
        }
    }
    nodes.into_iter().zip(keep).filter_map(|(n, k)| k.then_some(n)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::onnx::{image_dims, Attr, GraphBuilder};

    /// input -> conv a -> SE (pool 0) -> conv b -> SE (pool 1) -> output, with a skip
    /// from conv a to the end that stage 1 must not need.
    fn two_se_points() -> ModelProto {
        let mut g = GraphBuilder::new("se");
        g.input_f32("input", &image_dims(3));
        let k = Attr::Ints("kernel_shape", vec![1, 1]);
        let w = g.constant_f32("w", &[3, 3, 1, 1], &[1., 0., 0., 0., 1., 0., 0., 0., 1.]);
        let a = g.node("Conv", &["input", &w], vec![k.clone()]);
        let p0 = g.node(POOL, &[&a], vec![]);
        let s0 = g.node("Mul", &[&a, &p0], vec![]);
        let w2 = g.constant_f32("w2", &[3, 3, 1, 1], &[0., 1., 0., 1., 0., 0., 0., 0., 1.]);
        let b = g.node("Conv", &[&s0, &w2], vec![k]);
        let p1 = g.node(POOL, &[&b], vec![]);
        let s1 = g.node("Mul", &[&b, &p1], vec![]);
        g.node_with_outputs("Add", &[&s1, &a], &["output"], vec![]);
        g.output_f32("output", &image_dims(3));
        g.finish("se", &[(PHASES.0, PHASES.1)])
    }

    fn input_names(m: &ModelProto) -> Vec<String> {
        m.graph.as_ref().unwrap().input.iter().map(|i| i.name.clone()).collect()
    }

    fn ops(m: &ModelProto) -> Vec<String> {
        m.graph.as_ref().unwrap().node.iter().map(|n| n.op_type.clone()).collect()
    }

    #[test]
    fn each_stage_replaces_the_earlier_pools_by_mean_inputs() {
        let model = two_se_points();
        assert_eq!(global_pool_count(&model), 2);
        let stages = split_at_global_pools("se", &model).unwrap();
        assert_eq!(stages.len(), 3);
        assert_eq!(input_names(&stages[0]), ["input"]);
        assert_eq!(ops(&stages[0]), ["Conv", "Identity"]);
        assert_eq!(input_names(&stages[1]), ["input", "se_mean_0"]);
        assert_eq!(ops(&stages[1]), ["Conv", "Mul", "Conv", "Identity"]);
        assert_eq!(input_names(&stages[2]), ["input", "se_mean_0", "se_mean_1"]);
        assert_eq!(ops(&stages[2]), ["Conv", "Mul", "Conv", "Mul", "Add"]);
        for (k, stage) in stages.iter().enumerate() {
            let g = stage.graph.as_ref().unwrap();
            assert!(g.node.iter().all(|n| n.op_type != POOL), "stage {k}");
            let out = &g.output[0].name;
            assert_eq!(out, if k < 2 { SE_FEATURE } else { "output" });
            // Only the weights the stage reads, and the image layout only on the image.
            let weights: Vec<&str> = g.initializer.iter().map(|t| t.name.as_str()).collect();
            assert_eq!(weights.len(), if k == 0 { 1 } else { 2 }, "stage {k}: {weights:?}");
            assert_eq!(stage.metadata_props.iter().any(|m| m.key == PHASES.0), k == 2);
        }
    }

    #[test]
    fn a_graph_without_pools_is_refused() {
        let mut g = GraphBuilder::new("plain");
        g.input_f32("input", &image_dims(3));
        g.node_with_outputs("Identity", &["input"], &["output"], vec![]);
        g.output_f32("output", &image_dims(3));
        let err = split_at_global_pools("plain", &g.finish("plain", &[])).unwrap_err().to_string();
        assert!(err.contains("no GlobalAveragePool"), "{err}");
    }
}
