//! ONNX metadata the converters write and the core reads: the whole contract between
//! them, so that the core needs nothing of a converter's internals.

/// The catalog name a graph was converted for.
pub const SOURCE: &str = "aiupscale.source";

/// Which converter wrote the graph (`ncnn`, ...).
pub const CONVERTER: &str = "aiupscale.converter";

/// The upscaling factor, `2` or `WxH` where the axes differ.
pub const SCALE: &str = "aiupscale.scale";

/// Multiply-adds per input pixel: what the catalog's cost classes compare.
pub const FLOPS_PER_PIXEL: &str = "aiupscale.flops_per_pixel";

/// How far (in input pixels) an output pixel sees, for graphs without a catalog overlap.
pub const RECEPTIVE_RADIUS: &str = "aiupscale.receptive_radius";

/// The recipe of a blended model, for people reading the graph.
pub const BLEND: &str = "aiupscale.blend";

/// Model metadata marking an output in phase layout: `[1, 3*s*s, H, W]` where channel
/// `c*s*s + dy*s + dx` holds output pixel `(s*y + dy, s*x + dx)` of colour c (ONNX
/// DepthToSpace "CRD" order), not clamped; consumers apply depth-to-space and the clamp.
pub const PHASES: (&str, &str) = ("aiupscale.output", "phases");

/// Graph inputs of a stage of a model split at its global average pools
/// ([`crate::stages`]): `se_mean_<k>`, the `[1, C, 1, 1]` mean of SE point k over the whole image.
pub const SE_MEAN_PREFIX: &str = "se_mean_";

/// The output of a prefix stage: the `[1, C, h, w]` feature map SE point k averages.
pub const SE_FEATURE: &str = "se_feature";
