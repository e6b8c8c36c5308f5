//! Tiling models whose squeeze-and-excitation (SE) blocks average feature maps over the
//! whole input (catalog `global_pooling`: Real-CUGAN, waifu2x CUNet). Per-tile pooling
//! would make every tile's output depend on the tile; instead the model runs in the
//! stages of `aiupscale_models::stages`: for each SE point k, prefix k runs on every
//! tile, the sums of the feature map over the part each tile owns are added up, and
//! their mean feeds every later stage. So tiled output equals one pass over the image.
//!
//! Held between stages: the K mean vectors (and their f64 sums), a few hundred floats;
//! per tile, what a plain run holds. The cost is K extra passes over the tiles, each
//! running the network up to its SE point.

use std::{
    path::{Path, PathBuf},
    sync::atomic::{AtomicBool, AtomicU64, Ordering},
};

use aiupscale_models::{
    metadata::SE_MEAN_PREFIX,
    onnx::ModelProto,
    stages::{global_pool_count, split_at_global_pools},
    ModelError,
};

use crate::{
    engine::Backend,
    runtime::SessionConfig,
    tiling::{FeatureAxis, TilePlan},
    CoreError, ModelLoadError, Result,
};

/// One stage graph on an engine, with the SE means it reads (their indices).
struct Stage {
    backend: Backend,
    means: Vec<usize>,
}

/// A prefix stage and where its feature map lies relative to the tile (square maps:
/// one axis serves both).
struct Prefix {
    stage: Stage,
    axis: FeatureAxis,
    channels: usize,
}

/// The stages of one model, loaded on the model's engine.
pub(crate) struct PooledStages {
    prefixes: Vec<Prefix>,
    last: Stage,
}

/// The mean of each SE point over one image.
pub(crate) type Means = Vec<Vec<f32>>;

impl PooledStages {
    /// Derives the stages from the model file and loads each (the engines read files, so
    /// they pass through a private temporary folder, removed once loaded). `probe_sides`
    /// are two tile sides the model accepts, used to measure each feature map's geometry.
    pub fn load(path: &Path, model: &str, config: &SessionConfig, probe_sides: [u32; 2]) -> Result<Self> {
        use prost::Message;
        let io = |path: &Path| {
            let path = path.to_owned();
            move |source| CoreError::from(ModelError::Io { path, source })
        };
        let bytes = std::fs::read(path).map_err(io(path))?;
        let proto = ModelProto::decode(bytes.as_slice()).map_err(|e| {
            CoreError::from(ModelError::Stages {
                model: model.to_owned(),
                reason: format!("not a readable ONNX file: {e}"),
            })
        })?;
        let graphs = split_at_global_pools(model, &proto)?;
        // The K + 1 stages run in turn on the same tiles: with ONNX Runtime's arena each
        // would keep its own peak allocated (5.0 GB for realcugan-se-x2 at 1920x1080,
        // BENCHMARKS.md); without it a stage's activations are freed after each run.
        let config = &SessionConfig { memory_arena: false, ..*config };
        let dir = private_dir();
        std::fs::create_dir_all(&dir).map_err(io(&dir))?;
        let loaded = (|| {
            let mut stages = Vec::with_capacity(graphs.len());
            for (k, graph) in graphs.iter().enumerate() {
                let file = dir.join(format!("stage{k}.onnx"));
                std::fs::write(&file, graph.to_bytes()).map_err(io(&file))?;
                let backend = Backend::open(&file, model, config)?.backend;
                stages.push(Stage { backend, means: mean_inputs(graph) });
            }
            Ok::<_, CoreError>(stages)
        })();
        // Nothing in it is needed once the engines have read it.
        let _ = std::fs::remove_dir_all(&dir);
        let mut stages = loaded?;
        let last = stages.pop().expect("split_at_global_pools returns K + 1 stages");
        let mut prefixes: Vec<Prefix> = Vec::with_capacity(stages.len());
        for stage in stages {
            let probe = probe_prefix(model, stage, &prefixes, probe_sides)?;
            prefixes.push(probe);
        }
        debug_assert_eq!(prefixes.len(), global_pool_count(&proto));
        Ok(Self { prefixes, last })
    }

    /// Number of SE points, i.e. of extra passes over the tiles.
    pub fn points(&self) -> usize {
        self.prefixes.len()
    }

    /// The mean of every SE point over the whole image whose tiles `read` fills
    /// (`[1, 3, th, tw]` planes), stage after stage. `tile_done` is called after each
    /// tile of each stage.
    pub fn means(
        &mut self,
        model: &str,
        plan: &TilePlan,
        mut read: impl FnMut(usize, usize, &mut [f32]),
        cancel: Option<&AtomicBool>,
        mut tile_done: impl FnMut() -> Result<()>,
    ) -> Result<Means> {
        let (tw, th) = plan.tile_shape();
        let (tw, th) = (tw as usize, th as usize);
        let mut tensor = vec![0.0f32; 3 * tw * th];
        let mut means: Means = Vec::with_capacity(self.prefixes.len());
        for prefix in &mut self.prefixes {
            let mut sums = vec![0.0f64; prefix.channels];
            let mut count = 0u64;
            for (yi, yt) in plan.ys.iter().enumerate() {
                for (xi, xt) in plan.xs.iter().enumerate() {
                    read(xi, yi, &mut tensor);
                    let vectors = named(&prefix.stage.means, &means);
                    let refs: Vec<(&str, &[f32])> = vectors.iter().map(|(n, v)| (n.as_str(), *v)).collect();
                    let axis = prefix.axis;
                    let (first_x, last_x) = (xi == 0, xi + 1 == plan.xs.len());
                    let (first_y, last_y) = (yi == 0, yi + 1 == plan.ys.len());
                    let added =
                        prefix.stage.backend.infer_with(model, &tensor, (tw, th), &refs, cancel, |shape, data| {
                            let [1, c, h, w] = *shape else { return Err(shape.to_vec()) };
                            let (c, h, w) = (c as usize, h as usize, w as usize);
                            if c != sums.len() || data.len() != c * h * w {
                                return Err(shape.to_vec());
                            }
                            let rows = axis.owned(yt, first_y, last_y, h);
                            let cols = axis.owned(xt, first_x, last_x, w);
                            for (channel, sum) in sums.iter_mut().enumerate() {
                                let plane = &data[channel * h * w..(channel + 1) * h * w];
                                *sum += rows
                                    .clone()
                                    .map(|y| {
                                        plane[y * w + cols.start..y * w + cols.end]
                                            .iter()
                                            .map(|&v| f64::from(v))
                                            .sum::<f64>()
                                    })
                                    .sum::<f64>();
                            }
                            Ok((rows.len() * cols.len()) as u64)
                        })?;
                    count += added.map_err(|shape| shape_error(model, &shape, prefix.channels))?;
                    tile_done()?;
                }
            }
            let count = count.max(1) as f64;
            means.push(sums.iter().map(|s| (s / count) as f32).collect());
        }
        Ok(means)
    }

    /// Runs the last stage on one tile with the image's means.
    pub fn infer_last_with<R>(
        &mut self,
        model: &str,
        tensor: &[f32],
        size: (usize, usize),
        means: &Means,
        cancel: Option<&AtomicBool>,
        use_output: impl FnOnce(&[i64], &[f32]) -> R,
    ) -> Result<R> {
        let vectors = named(&self.last.means, means);
        let refs: Vec<(&str, &[f32])> = vectors.iter().map(|(n, v)| (n.as_str(), *v)).collect();
        self.last.backend.infer_with(model, tensor, size, &refs, cancel, use_output)
    }
}

/// The SE means a stage graph reads, by index, in input order.
fn mean_inputs(graph: &ModelProto) -> Vec<usize> {
    let inputs = graph.graph.as_ref().map_or(&[][..], |g| &g.input[..]);
    inputs.iter().filter_map(|i| i.name.strip_prefix(SE_MEAN_PREFIX)?.parse().ok()).collect()
}

fn named<'a>(indices: &[usize], means: &'a Means) -> Vec<(String, &'a [f32])> {
    indices.iter().map(|&i| (format!("{SE_MEAN_PREFIX}{i}"), means[i].as_slice())).collect()
}

/// Runs a prefix on two square sides to learn its feature map's channels, resolution
/// ratio and consumed pixels (`side' = ratio * (side - consumed)`).
fn probe_prefix(model: &str, mut stage: Stage, earlier: &[Prefix], sides: [u32; 2]) -> Result<Prefix> {
    let means: Means = earlier.iter().map(|p| vec![0.5; p.channels]).collect();
    let vectors = named(&stage.means, &means);
    let refs: Vec<(&str, &[f32])> = vectors.iter().map(|(n, v)| (n.as_str(), *v)).collect();
    let mut outs = Vec::with_capacity(2);
    for side in sides {
        let n = side as usize;
        let shape = stage.backend.infer_with(model, &vec![0.5; 3 * n * n], (n, n), &refs, None, |s, _| s.to_vec())?;
        match shape[..] {
            [1, c, h, w] if c > 0 && h == w && h > 0 => outs.push((c as usize, h as f64)),
            _ => return Err(shape_error(model, &shape, 0)),
        }
    }
    let ((c, n1), (c2, n2)) = (outs[0], outs[1]);
    let ratio = (n2 - n1) / f64::from(sides[1] - sides[0]);
    if c != c2 || ratio <= 0.0 {
        return Err(shape_error(model, &[c2 as i64, n2 as i64], c));
    }
    let consumed = f64::from(sides[0]) - n1 / ratio;
    Ok(Prefix { stage, axis: FeatureAxis { ratio, consumed }, channels: c })
}

fn shape_error(model: &str, shape: &[i64], channels: usize) -> CoreError {
    CoreError::Model(ModelLoadError::Shape {
        model: model.to_owned(),
        actual: format!("SE feature map {shape:?}"),
        expected: format!("[1, {channels}, h, w] with h = w for a square tile (the channels of the first probe)"),
    })
}

/// A folder of this process that no other load uses.
fn private_dir() -> PathBuf {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    std::env::temp_dir().join(format!("aiupscale-stages-{}-{n}", std::process::id()))
}
