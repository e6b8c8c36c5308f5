//! Parser for ncnn's text `.param` format.
//!
//! Layout: the magic line `7767517`, then `layer_count blob_count`, then one line per
//! layer: `Type name n_in n_out in_blobs… out_blobs… key=value…`. A key of
//! `-23300 - k` marks an array for param id `k`, written `N,v1,…,vN`. Like ncnn, a value
//! is a float when its text contains `.`, `e` or `E`, else an integer.

use std::collections::HashMap;

const MAGIC: &str = "7767517";
/// Array params are stored under `ARRAY_KEY_BASE - id`.
const ARRAY_KEY_BASE: i32 = -23300;

/// One scalar of a param value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Num {
    Int(i32),
    Float(f32),
}

impl Num {
    fn as_f32(self) -> f32 {
        match self {
            Num::Int(i) => i as f32,
            Num::Float(f) => f,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Scalar(Num),
    Array(Vec<Num>),
    Str(String),
}

/// The `key=value` params of one layer, read with ncnn's defaults.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ParamDict {
    values: HashMap<i32, Value>,
}

impl ParamDict {
    /// An integer param. A float written where ncnn wants an integer is refused: ncnn
    /// would reinterpret its bits, which is never what the author meant.
    pub fn int(&self, id: i32, default: i32) -> Result<i32, String> {
        match self.values.get(&id) {
            None => Ok(default),
            Some(Value::Scalar(Num::Int(i))) => Ok(*i),
            Some(other) => Err(format!("param {id} must be an integer, got {}", describe(other))),
        }
    }

    /// A float param; an integer literal is accepted as its value.
    pub fn float(&self, id: i32, default: f32) -> Result<f32, String> {
        match self.values.get(&id) {
            None => Ok(default),
            Some(Value::Scalar(n)) => Ok(n.as_f32()),
            Some(other) => Err(format!("param {id} must be a number, got {}", describe(other))),
        }
    }

    /// An integer array param (empty when absent).
    pub fn ints(&self, id: i32) -> Result<Vec<i32>, String> {
        match self.values.get(&id) {
            None => Ok(Vec::new()),
            Some(Value::Array(a)) => a
                .iter()
                .map(|n| match n {
                    Num::Int(i) => Ok(*i),
                    Num::Float(f) => Err(format!("param {id} must be an integer array, has the float {f}")),
                })
                .collect(),
            Some(other) => Err(format!("param {id} must be an array, got {}", describe(other))),
        }
    }

    /// A float array param (empty when absent).
    pub fn floats(&self, id: i32) -> Result<Vec<f32>, String> {
        match self.values.get(&id) {
            None => Ok(Vec::new()),
            Some(Value::Array(a)) => Ok(a.iter().map(|n| n.as_f32()).collect()),
            Some(other) => Err(format!("param {id} must be an array, got {}", describe(other))),
        }
    }
}

fn describe(v: &Value) -> String {
    match v {
        Value::Scalar(Num::Int(i)) => format!("integer {i}"),
        Value::Scalar(Num::Float(f)) => format!("float {f}"),
        Value::Array(a) => format!("an array of {} values", a.len()),
        Value::Str(s) => format!("string {s:?}"),
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Layer {
    pub kind: String,
    pub name: String,
    pub inputs: Vec<String>,
    pub outputs: Vec<String>,
    pub params: ParamDict,
    /// 1-based line in the .param text, for messages.
    pub line: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ParamFile {
    pub blob_count: usize,
    pub layers: Vec<Layer>,
}

/// Parses a whole `.param` text. Blank lines and `#` comment lines are skipped (ncnn
/// itself has no comments, but hand-edited files and our tests use them).
pub fn parse(text: &str) -> Result<ParamFile, String> {
    let mut lines =
        text.lines().enumerate().map(|(i, l)| (i + 1, l.trim())).filter(|(_, l)| !l.is_empty() && !l.starts_with('#'));

    let (_, magic) = lines.next().ok_or("the .param text is empty, expected the magic line 7767517")?;
    if magic != MAGIC {
        return Err(format!(
            "the .param magic line is {magic:?}, expected {MAGIC:?} (text format; binary .param.bin is not supported)"
        ));
    }
    let (line_no, counts) =
        lines.next().ok_or("the .param ends after the magic line, expected `layer_count blob_count`")?;
    let counts: Vec<&str> = counts.split_whitespace().collect();
    let parse_count = |s: &str| s.parse::<usize>().ok();
    let (layer_count, blob_count) = match counts.as_slice() {
        [l, b] => match (parse_count(l), parse_count(b)) {
            (Some(l), Some(b)) => (l, b),
            _ => return Err(format!("line {line_no}: counts are {counts:?}, expected two non-negative integers")),
        },
        _ => return Err(format!("line {line_no}: found {} fields, expected `layer_count blob_count`", counts.len())),
    };

    let layers = lines.map(|(n, l)| parse_layer(n, l)).collect::<Result<Vec<_>, _>>()?;
    if layers.len() != layer_count {
        return Err(format!("the .param declares {layer_count} layers, found {} layer lines", layers.len()));
    }
    Ok(ParamFile { blob_count, layers })
}

fn parse_layer(line: usize, text: &str) -> Result<Layer, String> {
    let tokens = tokenize(text).map_err(|e| format!("line {line}: {e}"))?;
    let at = |i: usize, what: &str| -> Result<&str, String> {
        tokens
            .get(i)
            .map(String::as_str)
            .ok_or_else(|| format!("line {line}: ends before {what} (have {} fields)", tokens.len()))
    };
    let kind = at(0, "the layer type")?.to_owned();
    let name = at(1, "the layer name")?.to_owned();
    let count = |i: usize, what: &str| -> Result<usize, String> {
        let s = at(i, what)?;
        // Bounded so a garbage count cannot make us index far past the line.
        s.parse::<usize>().ok().filter(|n| *n <= tokens.len()).ok_or_else(|| {
            format!("line {line} (layer {name}): {what} is {s:?}, expected a small non-negative integer")
        })
    };
    let n_in = count(2, "the input count")?;
    let n_out = count(3, "the output count")?;
    let blobs_end = 4 + n_in + n_out;
    if tokens.len() < blobs_end {
        return Err(format!(
            "line {line} (layer {name}): declares {n_in} inputs and {n_out} outputs, but only {} blob names follow",
            tokens.len().saturating_sub(4)
        ));
    }
    let inputs = tokens[4..4 + n_in].to_vec();
    let outputs = tokens[4 + n_in..blobs_end].to_vec();

    let mut params = ParamDict::default();
    for token in &tokens[blobs_end..] {
        let (key, value) = token
            .split_once('=')
            .ok_or_else(|| format!("line {line} (layer {name}): param {token:?} is not key=value"))?;
        let key: i32 =
            key.parse().map_err(|_| format!("line {line} (layer {name}): param key {key:?} is not an integer"))?;
        let (id, value) = if key <= ARRAY_KEY_BASE {
            (
                ARRAY_KEY_BASE - key,
                parse_array(value).map_err(|e| format!("line {line} (layer {name}): param {key}: {e}"))?,
            )
        } else {
            (key, parse_scalar_or_str(value).map_err(|e| format!("line {line} (layer {name}): param {key}: {e}"))?)
        };
        if params.values.insert(id, value).is_some() {
            return Err(format!("line {line} (layer {name}): param {id} is given twice"));
        }
    }
    Ok(Layer { kind, name, inputs, outputs, params, line })
}

/// Splits on whitespace, keeping a double-quoted value (newer ncnn string params) whole.
fn tokenize(text: &str) -> Result<Vec<String>, String> {
    let mut tokens = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    for c in text.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                current.push(c);
            }
            c if c.is_whitespace() && !quoted => {
                if !current.is_empty() {
                    tokens.push(std::mem::take(&mut current));
                }
            }
            c => current.push(c),
        }
    }
    if quoted {
        return Err("unterminated double quote".into());
    }
    if !current.is_empty() {
        tokens.push(current);
    }
    Ok(tokens)
}

fn parse_num(s: &str) -> Result<Num, String> {
    if s.contains(['.', 'e', 'E']) {
        s.parse::<f32>().map(Num::Float).map_err(|_| format!("{s:?} is not a number"))
    } else {
        s.parse::<i32>().map(Num::Int).map_err(|_| format!("{s:?} is not an integer"))
    }
}

fn parse_scalar_or_str(s: &str) -> Result<Value, String> {
    if let Some(inner) = s.strip_prefix('"') {
        let inner = inner.strip_suffix('"').ok_or_else(|| format!("{s:?} has an opening quote but no closing one"))?;
        return Ok(Value::Str(inner.to_owned()));
    }
    parse_num(s).map(Value::Scalar)
}

fn parse_array(s: &str) -> Result<Value, String> {
    let mut parts = s.split(',');
    let len_text = parts.next().unwrap_or_default();
    let len: usize =
        len_text.parse().map_err(|_| format!("array length {len_text:?} is not a non-negative integer"))?;
    let items = parts.map(parse_num).collect::<Result<Vec<_>, _>>()?;
    if items.len() != len {
        return Err(format!("array declares {len} values, has {}", items.len()));
    }
    Ok(Value::Array(items))
}
