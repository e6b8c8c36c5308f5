//! A minimal ONNX writer: the subset of `onnx.proto3` our converters emit, as prost
//! messages (field numbers from the ONNX spec), plus a small graph builder.
//!
//! We only ever *write* ONNX; ONNX Runtime parses it. Keeping the protobuf subset here
//! avoids a protoc build step and a Python dependency for conversion.

use prost::Message;

/// ONNX IR version 8 pairs with opset 17, both well inside what ORT 1.31 accepts.
pub const IR_VERSION: i64 = 8;
pub const OPSET: i64 = 17;

const ELEM_FLOAT: i32 = 1;
const ELEM_INT64: i32 = 7;

#[derive(Clone, PartialEq, Message)]
pub struct ModelProto {
    #[prost(int64, tag = "1")]
    pub ir_version: i64,
    #[prost(string, tag = "2")]
    pub producer_name: String,
    #[prost(string, tag = "3")]
    pub producer_version: String,
    #[prost(string, tag = "6")]
    pub doc_string: String,
    #[prost(message, optional, tag = "7")]
    pub graph: Option<GraphProto>,
    #[prost(message, repeated, tag = "8")]
    pub opset_import: Vec<OperatorSetIdProto>,
    #[prost(message, repeated, tag = "14")]
    pub metadata_props: Vec<StringStringEntryProto>,
}

#[derive(Clone, PartialEq, Message)]
pub struct OperatorSetIdProto {
    #[prost(string, tag = "1")]
    pub domain: String,
    #[prost(int64, tag = "2")]
    pub version: i64,
}

#[derive(Clone, PartialEq, Message)]
pub struct StringStringEntryProto {
    #[prost(string, tag = "1")]
    pub key: String,
    #[prost(string, tag = "2")]
    pub value: String,
}

#[derive(Clone, PartialEq, Message)]
pub struct GraphProto {
    #[prost(message, repeated, tag = "1")]
    pub node: Vec<NodeProto>,
    #[prost(string, tag = "2")]
    pub name: String,
    #[prost(message, repeated, tag = "5")]
    pub initializer: Vec<TensorProto>,
    #[prost(message, repeated, tag = "11")]
    pub input: Vec<ValueInfoProto>,
    #[prost(message, repeated, tag = "12")]
    pub output: Vec<ValueInfoProto>,
}

#[derive(Clone, PartialEq, Message)]
pub struct NodeProto {
    #[prost(string, repeated, tag = "1")]
    pub input: Vec<String>,
    #[prost(string, repeated, tag = "2")]
    pub output: Vec<String>,
    #[prost(string, tag = "3")]
    pub name: String,
    #[prost(string, tag = "4")]
    pub op_type: String,
    #[prost(message, repeated, tag = "5")]
    pub attribute: Vec<AttributeProto>,
    #[prost(string, tag = "7")]
    pub domain: String,
}

#[derive(Clone, PartialEq, Message)]
pub struct AttributeProto {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(float, tag = "2")]
    pub f: f32,
    #[prost(int64, tag = "3")]
    pub i: i64,
    #[prost(bytes = "vec", tag = "4")]
    pub s: Vec<u8>,
    #[prost(float, repeated, tag = "7")]
    pub floats: Vec<f32>,
    #[prost(int64, repeated, tag = "8")]
    pub ints: Vec<i64>,
    /// AttributeType: FLOAT=1, INT=2, STRING=3, FLOATS=6, INTS=7.
    #[prost(int32, tag = "20")]
    pub r#type: i32,
}

#[derive(Clone, PartialEq, Message)]
pub struct TensorProto {
    #[prost(int64, repeated, tag = "1")]
    pub dims: Vec<i64>,
    #[prost(int32, tag = "2")]
    pub data_type: i32,
    #[prost(string, tag = "8")]
    pub name: String,
    #[prost(bytes = "vec", tag = "9")]
    pub raw_data: Vec<u8>,
}

#[derive(Clone, PartialEq, Message)]
pub struct ValueInfoProto {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(message, optional, tag = "2")]
    pub r#type: Option<TypeProto>,
}

#[derive(Clone, PartialEq, Message)]
pub struct TypeProto {
    #[prost(message, optional, tag = "1")]
    pub tensor_type: Option<TensorTypeProto>,
}

#[derive(Clone, PartialEq, Message)]
pub struct TensorTypeProto {
    #[prost(int32, tag = "1")]
    pub elem_type: i32,
    #[prost(message, optional, tag = "2")]
    pub shape: Option<TensorShapeProto>,
}

#[derive(Clone, PartialEq, Message)]
pub struct TensorShapeProto {
    #[prost(message, repeated, tag = "1")]
    pub dim: Vec<DimensionProto>,
}

#[derive(Clone, PartialEq, Message)]
pub struct DimensionProto {
    #[prost(int64, optional, tag = "1")]
    pub dim_value: Option<i64>,
    #[prost(string, optional, tag = "2")]
    pub dim_param: Option<String>,
}

/// One tensor dimension of a graph input or output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dim {
    Fixed(i64),
    Named(String),
}

impl Dim {
    pub fn named(name: &str) -> Self {
        Dim::Named(name.to_owned())
    }
}

/// A node attribute.
#[derive(Debug, Clone, PartialEq)]
pub enum Attr {
    Int(&'static str, i64),
    Ints(&'static str, Vec<i64>),
    Float(&'static str, f32),
    Floats(&'static str, Vec<f32>),
    Str(&'static str, String),
}

impl Attr {
    fn into_proto(self) -> AttributeProto {
        let mut proto = AttributeProto::default();
        match self {
            Attr::Float(name, f) => {
                proto.name = name.into();
                proto.f = f;
                proto.r#type = 1;
            }
            Attr::Int(name, i) => {
                proto.name = name.into();
                proto.i = i;
                proto.r#type = 2;
            }
            Attr::Str(name, s) => {
                proto.name = name.into();
                proto.s = s.into_bytes();
                proto.r#type = 3;
            }
            Attr::Floats(name, floats) => {
                proto.name = name.into();
                proto.floats = floats;
                proto.r#type = 6;
            }
            Attr::Ints(name, ints) => {
                proto.name = name.into();
                proto.ints = ints;
                proto.r#type = 7;
            }
        }
        proto
    }
}

/// Builds a single-graph ONNX model (default domain, float tensors).
#[derive(Debug, Default)]
pub struct GraphBuilder {
    graph: GraphProto,
    counter: usize,
}

impl GraphBuilder {
    pub fn new(name: &str) -> Self {
        Self { graph: GraphProto { name: name.into(), ..Default::default() }, counter: 0 }
    }

    /// A unique value name with the given prefix.
    pub fn fresh(&mut self, prefix: &str) -> String {
        self.counter += 1;
        format!("{prefix}_{}", self.counter)
    }

    pub fn input_f32(&mut self, name: &str, dims: &[Dim]) {
        self.graph.input.push(value_info(name, ELEM_FLOAT, dims));
    }

    /// Whether any node so far reads `value`.
    pub fn consumes(&self, value: &str) -> bool {
        self.graph.node.iter().any(|n| n.input.iter().any(|i| i == value))
    }

    pub fn output_f32(&mut self, name: &str, dims: &[Dim]) {
        self.graph.output.push(value_info(name, ELEM_FLOAT, dims));
    }

    /// Adds a float initializer and returns its name.
    pub fn constant_f32(&mut self, prefix: &str, dims: &[i64], values: &[f32]) -> String {
        let expected: i64 = dims.iter().product();
        assert_eq!(
            expected as usize,
            values.len(),
            "initializer {prefix}: dims {dims:?} do not match {} values",
            values.len()
        );
        let name = self.fresh(prefix);
        let raw_data = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        self.graph.initializer.push(TensorProto {
            dims: dims.to_vec(),
            data_type: ELEM_FLOAT,
            name: name.clone(),
            raw_data,
        });
        name
    }

    /// Adds an int64 initializer (shapes, axes, pads) and returns its name.
    pub fn constant_i64(&mut self, prefix: &str, dims: &[i64], values: &[i64]) -> String {
        let expected: i64 = dims.iter().product();
        assert_eq!(
            expected as usize,
            values.len(),
            "initializer {prefix}: dims {dims:?} do not match {} values",
            values.len()
        );
        let name = self.fresh(prefix);
        let raw_data = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        self.graph.initializer.push(TensorProto {
            dims: dims.to_vec(),
            data_type: ELEM_INT64,
            name: name.clone(),
            raw_data,
        });
        name
    }

    /// Adds a node with one fresh output and returns that output's name.
    pub fn node(&mut self, op_type: &str, inputs: &[&str], attrs: Vec<Attr>) -> String {
        let output = self.fresh(op_type);
        self.node_with_outputs(op_type, inputs, &[output.as_str()], attrs);
        output
    }

    /// Adds a node whose outputs are named by the caller (e.g. the graph output).
    pub fn node_with_outputs(&mut self, op_type: &str, inputs: &[&str], outputs: &[&str], attrs: Vec<Attr>) {
        let name = self.fresh(&format!("{op_type}_node"));
        self.graph.node.push(NodeProto {
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: outputs.iter().map(|s| s.to_string()).collect(),
            name,
            op_type: op_type.into(),
            attribute: attrs.into_iter().map(Attr::into_proto).collect(),
            domain: String::new(),
        });
    }

    /// Finishes the model; `metadata` lands in `metadata_props` (readable through ORT).
    pub fn finish(self, doc: &str, metadata: &[(&str, &str)]) -> ModelProto {
        ModelProto {
            ir_version: IR_VERSION,
            producer_name: "aiupscale-models".into(),
            producer_version: env!("CARGO_PKG_VERSION").into(),
            doc_string: doc.into(),
            graph: Some(self.graph),
            opset_import: vec![OperatorSetIdProto { domain: String::new(), version: OPSET }],
            metadata_props: metadata
                .iter()
                .map(|(k, v)| StringStringEntryProto { key: (*k).into(), value: (*v).into() })
                .collect(),
        }
    }
}

impl ModelProto {
    pub fn to_bytes(&self) -> Vec<u8> {
        self.encode_to_vec()
    }
}

pub(crate) fn value_info(name: &str, elem_type: i32, dims: &[Dim]) -> ValueInfoProto {
    let dim = dims
        .iter()
        .map(|d| match d {
            Dim::Fixed(v) => DimensionProto { dim_value: Some(*v), dim_param: None },
            Dim::Named(p) => DimensionProto { dim_value: None, dim_param: Some(p.clone()) },
        })
        .collect();
    ValueInfoProto {
        name: name.into(),
        r#type: Some(TypeProto {
            tensor_type: Some(TensorTypeProto { elem_type, shape: Some(TensorShapeProto { dim }) }),
        }),
    }
}

/// The standard dynamic image signature: `[1, channels, height, width]`.
pub fn image_dims(channels: i64) -> Vec<Dim> {
    vec![Dim::Fixed(1), Dim::Fixed(channels), Dim::named("height"), Dim::named("width")]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_and_decodes_a_graph() {
        let mut g = GraphBuilder::new("t");
        g.input_f32("input", &image_dims(3));
        g.output_f32("output", &image_dims(3));
        let w = g.constant_f32("w", &[3, 3, 1, 1], &[1., 0., 0., 0., 1., 0., 0., 0., 1.]);
        g.node_with_outputs("Conv", &["input", &w], &["output"], vec![Attr::Ints("kernel_shape", vec![1, 1])]);
        let bytes = g.finish("identity", &[("scale", "1")]).to_bytes();
        let back = ModelProto::decode(bytes.as_slice()).unwrap();
        let graph = back.graph.unwrap();
        assert_eq!(graph.node[0].op_type, "Conv");
        assert_eq!(graph.initializer[0].raw_data.len(), 9 * 4);
        assert_eq!(back.metadata_props[0].key, "scale");
    }
}
