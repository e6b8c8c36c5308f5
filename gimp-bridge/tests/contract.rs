//! The bridge contract of docs/BRIDGE.md: the binary's `models list --json` and
//! `upscale-raw --progress-json` lines against the examples on that page (same keys,
//! same JSON types); the Python side the GIMP 3 and Krita plug-ins share
//! (`plugins/python/aiupscale_bridge.py`) run against the binary by `python3`; and the
//! GIMP 2.10 plug-in's C reader (`plugins/gimp-2.10/bridge.c`) through a small harness.

mod common;

use std::{
    collections::BTreeMap,
    os::unix::fs::PermissionsExt,
    path::{Path, PathBuf},
    process::{Command, Stdio},
};

use aiupscale_models::Catalog;
use common::*;
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_aiupscale");

fn bridge_md() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/BRIDGE.md");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The lines of the first fenced block of `kind` (```json, ```jsonl) in BRIDGE.md.
fn fenced(kind: &str) -> Vec<String> {
    let text = bridge_md();
    let start = text.find(&format!("```{kind}\n")).unwrap_or_else(|| panic!("BRIDGE.md has no ```{kind} block"));
    let body = &text[start + kind.len() + 4..];
    body[..body.find("```").unwrap()].lines().map(str::to_owned).collect()
}

/// A JSON value's shape: objects by key, arrays by their first element, scalars by
/// kind (integers and floats apart, as a C reader must tell them apart).
fn shape(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(map.iter().map(|(k, v)| (k.clone(), shape(v))).collect()),
        Value::Array(items) => Value::Array(items.first().map(shape).into_iter().collect()),
        Value::Number(n) if n.is_f64() => "float".into(),
        Value::Number(_) => "integer".into(),
        Value::String(_) => "string".into(),
        Value::Bool(_) => "boolean".into(),
        Value::Null => "null".into(),
    }
}

fn list_json(cache: &Path) -> Value {
    let out = Command::new(BIN).args(["models", "list", "--json"]).env("AIUPSCALE_MODEL_DIR", cache).output().unwrap();
    assert_ok(&out);
    assert_eq!(stdout(&out).lines().count(), 1, "one document on one line:\n{}", stdout(&out));
    serde_json::from_str(&stdout(&out)).unwrap()
}

#[test]
fn models_list_json_is_the_documented_document() {
    let documented: Value = serde_json::from_str(&fenced("json").join("\n")).unwrap();
    assert_eq!(documented["version"], 1, "BRIDGE.md documents version 1");
    let env = Env::new();
    let doc = list_json(&env.cache);
    assert_eq!(doc["version"], 1);
    let models = doc["models"].as_array().unwrap();
    let catalog = Catalog::builtin();
    assert_eq!(models.len(), catalog.models().len());
    // Arrays have the shape of their first element: `default_for` is checked apart.
    let without_defaults = |m: &Value| {
        let mut m = m.clone();
        m.as_object_mut().unwrap().remove("default_for");
        shape(&m)
    };
    for (model, entry) in models.iter().zip(catalog.models()) {
        // Every model has exactly the documented fields, with the documented types.
        assert_eq!(without_defaults(model), without_defaults(&documented["models"][0]), "{model}");
        let defaults: Vec<&str> = catalog.default_of(&entry.name).iter().map(|c| c.name()).collect();
        assert_eq!(model["default_for"], serde_json::json!(defaults), "{model}");
        assert_eq!(model["name"], entry.name.as_str());
        assert_eq!(model["scale"], entry.scale);
        assert_eq!(model["cost"].as_f64(), Some(entry.flops_per_pixel));
        assert_eq!(model["licence"], catalog.package_of(entry).licence.as_str());
        assert!(
            ["photo", "general", "animation", "footage", "video"].contains(&model["content"].as_str().unwrap()),
            "{model}"
        );
        assert_eq!(model["fetched"], false, "the cache is empty: {model}");
    }
    assert_eq!(shape(&doc), shape(&documented));

    // A fetched model says so (fetched here if missing, from its registry package).
    let fetch = Command::new(BIN).args(["models", "fetch", "anime4k-x2-s-rl"]).output().unwrap();
    assert_ok(&fetch);
    let path = Command::new(BIN).args(["models", "path", "anime4k-x2-s-rl"]).output().unwrap();
    assert_ok(&path);
    let cache = PathBuf::from(stdout(&path).trim()).parent().unwrap().to_path_buf();
    let doc = list_json(&cache);
    let fetched: BTreeMap<&str, bool> = doc["models"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["name"].as_str().unwrap(), m["fetched"].as_bool().unwrap()))
        .collect();
    assert_eq!(fetched.get("anime4k-x2-s-rl"), Some(&true), "{doc}");
}

/// What a progress line is: `started`, `progress`, `done`, `error` or `cancelled`.
fn kind(line: &Value) -> &'static str {
    let kinds = ["cancelled", "error", "fetching", "fetched", "started", "progress", "done"];
    kinds.into_iter().find(|k| line.get(k).is_some()).unwrap_or_else(|| panic!("an unknown line: {line}"))
}

/// The JSON lines of a run's stderr, with their kind.
fn events(stderr: &str) -> Vec<(&'static str, Value)> {
    stderr.lines().filter_map(|l| serde_json::from_str::<Value>(l).ok()).map(|v| (kind(&v), v)).collect()
}

#[test]
fn upscale_raw_progress_lines_are_the_documented_lines() {
    let documented: BTreeMap<String, Value> = fenced("jsonl")
        .iter()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .map(|v| (kind(&v).to_owned(), shape(&v)))
        .collect();
    assert_eq!(
        documented.len(),
        7,
        "BRIDGE.md shows fetching, fetched, started, progress, done, error and cancelled lines"
    );
    let env = Env::new();
    let (w, h) = (128u32, 96u32);
    let pixels = crop("astronaut.png", 40, 40, w, h).to_rgba8().into_raw();
    let run = |model: &str| {
        let mut child = env
            .cmd()
            .args(["upscale-raw", "--progress-json", "--format", "rgba8", "--tile-size", "40", "--model", model])
            .args(["--width", &w.to_string(), "--height", &h.to_string(), "-", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        std::io::Write::write_all(&mut child.stdin.take().unwrap(), &pixels).unwrap();
        child.wait_with_output().unwrap()
    };

    let ok = run(&env.nearest());
    assert_ok(&ok);
    assert_eq!(ok.stdout.len(), (w * h * 4 * 4) as usize);
    let lines = events(&stderr(&ok));
    let kinds: Vec<&str> = lines.iter().map(|(k, _)| *k).collect();
    assert_eq!(kinds.first(), Some(&"started"), "{kinds:?}");
    assert_eq!(kinds.last(), Some(&"done"), "{kinds:?}");
    assert!(kinds.contains(&"progress"), "{kinds:?}");
    for (kind, line) in &lines {
        assert_eq!(Some(&shape(line)), documented.get(*kind), "{kind} line {line} differs from BRIDGE.md");
    }
    assert_eq!((lines[0].1["width"].as_u64(), lines[0].1["height"].as_u64()), (Some(256), Some(192)));

    let failed = run("realesrgan-x4plus"); // not in the empty cache
    assert_eq!(failed.status.code(), Some(1));
    let lines = events(&stderr(&failed));
    let (kind, line) = lines.last().unwrap();
    assert_eq!(*kind, "error");
    assert_eq!(Some(&shape(line)), documented.get("error"), "{line}");
    assert!(line["error"].as_str().unwrap().contains("aiupscale models fetch realesrgan-x4plus"), "{line}");
    assert!(failed.stdout.is_empty());
}

/// `plugins/python/aiupscale_bridge.py` under plain python3, against this binary: the
/// catalog, an upscale, a missing model, a cancel, a missing program and a foreign
/// contract version. The script prints one JSON line of findings.
#[test]
fn the_python_bridge_module_speaks_the_contract() {
    let env = Env::new();
    let script = r#"
import json, os, sys
import aiupscale_bridge as b
bridge, nearest = sys.argv[1], sys.argv[2]
found = {}
models = b.list_models(bridge)
found["models"] = len(models)
found["keys"] = sorted(models[0])
found["native_scale"] = b.native_scale(models, "realesrgan-x4plus", 0.0)
pixels = bytes(range(256)) * (16 * 12 * 4 // 256)
seen = []
data, w, h = b.upscale_raw(bridge, pixels, 16, 12, "rgba8", nearest, None, progress=lambda f: seen.append(f) or True,
                           started=lambda e: seen.append(e["model"]))
found["size"] = [w, h, len(data)]
found["nearest"] = all(data[(y * 32 + x) * 4 + c] == pixels[((y // 2) * 16 + x // 2) * 4 + c]
                       for y in range(24) for x in range(32) for c in range(4))
found["progress"] = any(isinstance(f, float) for f in seen)
try:
    b.upscale_raw(bridge, pixels, 16, 12, "rgba8", "realesrgan-x4plus")
except b.BridgeError as e:
    found["missing_model"] = str(e)
big = bytes(512 * 512 * 4)
try:
    b.upscale_raw(bridge, big, 512, 512, "rgba8", nearest, extra_args=["--tile-size", "40"],
                  progress=lambda f: f is None)
    found["cancel"] = "finished"
except b.Cancelled:
    found["cancel"] = "cancelled"
found["argv"] = b.upscale_argv("x", 4, 4, "rgba8", "auto", 2.0, content="footage", engine="ort", precision="int8")
found["argv_named"] = b.upscale_argv("x", 4, 4, "rgba8", "m", None, content="photo", engine="auto", precision="auto")
try:
    b.upscale_argv("x", 4, 4, "rgba8", engine="cuda")
except b.BridgeError as e:
    found["bad_engine"] = str(e)
events = []
b.upscale_raw(bridge, pixels, 16, 12, "rgba8", nearest, None, engine="ort", precision="fp32", started=events.append,
              done=events.append)
found["started"] = [events[0].get("engine"), events[0].get("precision")]
found["xmp"] = events[-1].get("xmp", "")
try:
    b.upscale_raw(bridge, pixels, 16, 12, "rgba8", nearest, None, engine="ort", precision="bf16")
except b.BridgeError as e:
    found["bf16"] = str(e)
os.environ["AIUPSCALE_BRIDGE"] = "/nonexistent/aiupscale"
try:
    b.find_bridge([], "aiupscale install krita")
except b.BridgeError as e:
    found["no_bridge"] = str(e)
try:
    b.parse_models('{"version":2,"models":[]}')
except b.BridgeError as e:
    found["version_2"] = str(e)
print(json.dumps(found))
"#;
    let module_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("plugins/python");
    let out = Command::new("python3")
        .args(["-c", script])
        .arg(BIN)
        .arg(env.nearest())
        .env("AIUPSCALE_MODEL_DIR", &env.cache)
        .env("AIUPSCALE_OFFLINE", "1")
        .env("PYTHONPATH", &module_dir)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env_remove("AIUPSCALE_BRIDGE")
        .output()
        .expect("python3 runs (apt-get install python3)");
    assert_ok(&out);
    let found: Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    assert_eq!(found["models"], Catalog::builtin().models().len(), "{found}");
    assert_eq!(
        found["keys"],
        serde_json::json!(["content", "cost", "default_for", "description", "fetched", "licence", "name", "scale"]),
        "{found}"
    );
    assert_eq!(found["native_scale"], 4.0, "{found}");
    assert_eq!(found["size"], serde_json::json!([32, 24, 32 * 24 * 4]), "{found}");
    assert_eq!(found["nearest"], true, "{found}");
    assert_eq!(found["progress"], true, "{found}");
    assert!(found["missing_model"].as_str().unwrap().contains("aiupscale models fetch realesrgan-x4plus"), "{found}");
    assert_eq!(found["cancel"], "cancelled", "{found}");
    let no_bridge = found["no_bridge"].as_str().unwrap();
    assert!(no_bridge.contains("/nonexistent/aiupscale") && no_bridge.contains("aiupscale install krita"), "{found}");
    assert!(found["version_2"].as_str().unwrap().contains("version 2"), "{found}");
    // The dialogs' choices on the command line: auto left out, --content only for auto.
    let argv = |key: &str| found[key].as_array().unwrap().iter().map(|a| a.as_str().unwrap().to_owned()).collect();
    let named: Vec<String> = argv("argv_named");
    assert!(!named.iter().any(|a| a == "--engine" || a == "--precision" || a == "--content"), "{named:?}");
    let full: Vec<String> = argv("argv");
    for pair in [["--content", "footage"], ["--engine", "ort"], ["--precision", "int8"], ["--scale", "2.0"]] {
        assert!(full.windows(2).any(|w| w == pair), "{pair:?} in {full:?}");
    }
    assert!(found["bad_engine"].as_str().unwrap().contains("expected one of auto, ort, openvino"), "{found}");
    // They reach the binary: its started line says what ran, and a refusal is its message.
    assert_eq!(found["started"], serde_json::json!(["ort", "fp32"]), "{found}");
    let xmp = found["xmp"].as_str().unwrap();
    assert!(xmp.contains("nearest_x2.onnx</aiupscale:Model>"), "{xmp}");
    let bf16 = found["bf16"].as_str().unwrap();
    assert!(bf16.contains("precision bf16 is not available on engine ort") && !bf16.contains('{'), "{bf16}");
}

/// The GIMP 2.10 plug-in's C side (`plugins/gimp-2.10/bridge.c`, json-glib) reads the
/// binary's `models list --json`: built here with a small harness (never installed),
/// run against the binary and against documents it must refuse.
#[test]
fn the_gimp210_bridge_c_reads_models_list_json() {
    let env = Env::new();
    let plugin = Path::new(env!("CARGO_MANIFEST_DIR")).join("plugins/gimp-2.10");
    let harness = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/gimp-harness/list_models.c");
    let flags = Command::new("pkg-config")
        .args(["--cflags", "--libs", "gimpui-2.0", "json-glib-1.0"])
        .output()
        .expect("pkg-config runs (apt-get install pkg-config)");
    assert_ok(&flags);
    let exe = env.path("list_models");
    let cc = Command::new("cc")
        .args(["-std=gnu11", "-Wall", "-Werror", "-Wno-deprecated-declarations", "-o"])
        .arg(&exe)
        .arg("-I")
        .arg(&plugin)
        .arg(&harness)
        .arg(plugin.join("bridge.c"))
        .args(stdout(&flags).split_whitespace())
        .output()
        .expect("cc runs (apt-get install gcc libgimp2.0-dev libjson-glib-dev)");
    assert_ok(&cc);

    let out = Command::new(&exe).arg(BIN).env("AIUPSCALE_MODEL_DIR", &env.cache).output().unwrap();
    assert_ok(&out);
    let want: Vec<String> = Catalog::builtin()
        .models()
        .iter()
        .zip(list_json(&env.cache)["models"].as_array().unwrap())
        .map(|(m, j)| format!("{} {} {} false", m.name, m.scale, j["content"].as_str().unwrap()))
        .collect();
    assert_eq!(stdout(&out).lines().collect::<Vec<_>>(), want);

    // Another contract version, a model without its fields, a failing program.
    for (doc, expected) in [
        (r#"{"version":2,"models":[]}"#, "speaks contract version 2"),
        (r#"{"version":1,"models":[{"name":"a","scale":2.5}]}"#, "model 0 lacks a field of docs/BRIDGE.md"),
        ("not json", "did not print JSON"),
    ] {
        let fake = env.path("fake-aiupscale");
        std::fs::write(&fake, format!("#!/bin/sh\ncat <<'END'\n{doc}\nEND\n")).unwrap();
        std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
        let out = Command::new(&exe).arg(&fake).output().unwrap();
        assert_eq!(out.status.code(), Some(1), "{doc}: {}", stdout(&out));
        assert!(stdout(&out).contains(expected), "{doc}: {}", stdout(&out));
    }
}

/// The names in `const gchar *const NAME[N] = { "a", "b" };` of a C file.
fn c_choices(source: &str, name: &str) -> Vec<String> {
    let start = source.find(&format!("{name}[")).unwrap_or_else(|| panic!("no {name} in the C source"));
    let body = &source[start..];
    let body = &body[body.find('{').unwrap() + 1..body.find('}').unwrap()];
    body.split(',').map(|s| s.trim().trim_matches('"').to_owned()).collect()
}

/// The three dialogs offer the command line's names: the content, engine and precision
/// choices of the C plug-in (GIMP 2.10) and of the Python module (GIMP 3, Krita) are the
/// catalog's content choices and names that `--engine`/`--precision` accept as they are.
#[test]
fn the_dialogs_offer_the_command_line_s_choices() {
    let plugin = Path::new(env!("CARGO_MANIFEST_DIR")).join("plugins");
    let c = std::fs::read_to_string(plugin.join("gimp-2.10/plugin.c")).unwrap();
    let script = "import json, aiupscale_bridge as b\n\
                  print(json.dumps([b.CONTENT_CHOICES, b.ENGINE_CHOICES, b.PRECISION_CHOICES, \
                  sorted(b.ENGINE_LABELS), sorted(b.PRECISION_LABELS)]))";
    let out = Command::new("python3")
        .args(["-c", script])
        .env("PYTHONPATH", plugin.join("python"))
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
        .unwrap();
    assert_ok(&out);
    let python: Vec<Vec<String>> = serde_json::from_str(stdout(&out).trim()).unwrap();
    let content: Vec<String> = aiupscale_models::ContentChoice::ALL.iter().map(|c| c.name().to_owned()).collect();
    assert_eq!(python[0], content);
    assert_eq!(c_choices(&c, "CONTENT_CHOICES"), content);
    for (i, name, parse) in [
        (1, "ENGINE_CHOICES", (|s: &str| s.parse::<aiupscale_core::Engine>().map(|e| e.name())) as fn(&str) -> _),
        (2, "PRECISION_CHOICES", |s: &str| s.parse::<aiupscale_core::Precision>().map(|p| p.name())),
    ] {
        assert_eq!(c_choices(&c, name), python[i], "{name}: C and Python differ");
        assert_eq!(python[i][0], "auto", "{name}: auto first, the default");
        for choice in &python[i] {
            assert_eq!(parse(choice).as_deref(), Ok(choice.as_str()), "{name}: the command line's own name");
        }
        let mut sorted = python[i].clone();
        sorted.sort();
        assert_eq!(python[i + 2], sorted, "{name}: every choice has a label");
    }
}
