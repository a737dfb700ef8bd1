//! `eval --json`: the document is serialized straight from the evaluation to a buffered
//! writer, node by node, in a layout people can read (objects indented, arrays of numbers
//! on one line).

use std::collections::BTreeMap;
use std::io::{self, BufWriter, Write};

use serde::Serialize;
use serde::ser::{SerializeStruct, Serializer};
use serde_json::ser::{CompactFormatter, Formatter};

use crate::analysis::{Analysis, Diagnostic};
use crate::exec::{Engine, Evaluation};
use crate::graph::{Array, Graph};

/// The `eval --json` document, serialized straight from the evaluation: nodes and edges
/// are written one by one to a buffered writer, never gathered into one `serde_json::Value`
/// (with ten million values that tree took ten times the evaluation's memory).
struct JsonDoc<'a> {
    graph: &'a Graph,
    analysis: &'a Analysis,
    eval: &'a Evaluation,
    diags: &'a [Diagnostic],
    device: String,
}

/// Serializes the items of an iterator as a JSON array, as they come.
struct Items<F>(F);

impl<F, I> Serialize for Items<F>
where
    F: Fn() -> I,
    I: Iterator,
    I::Item: Serialize,
{
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq((self.0)())
    }
}

#[derive(Serialize)]
struct JsonTensor<'a> {
    shape: &'a [usize],
    value: &'a [f64],
    grad: Option<&'a [f64]>,
}

#[derive(Serialize)]
struct JsonNode<'a> {
    name: &'a str,
    op: &'static str,
    shape: Option<&'a [usize]>,
    value: Option<&'a [f64]>,
    grad: Option<&'a [f64]>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    params: BTreeMap<&'a str, JsonTensor<'a>>,
}

#[derive(Serialize)]
struct JsonEdge<'a> {
    from: &'a str,
    to: &'a str,
    port: String,
    grad: &'a [f64],
}

#[derive(Serialize)]
struct JsonDiagnostic<'a> {
    severity: &'static str,
    node: Option<&'a str>,
    port: Option<String>,
    message: &'a str,
    text: String,
}

impl Serialize for JsonDoc<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let (graph, eval) = (self.graph, self.eval);
        let name = |id: crate::graph::NodeId| graph.node(id).map_or("", |n| n.name.as_str());
        let nodes = Items(|| {
            super::listing_order(graph, self.analysis)
                .into_iter()
                .filter_map(|id| graph.node(id))
                .map(|n| {
                    let ev = eval.nodes.get(&n.id);
                    JsonNode {
                        name: &n.name,
                        op: n.op.name(),
                        shape: self.analysis.shapes.get(&n.id).map(Vec::as_slice),
                        value: ev.map(|e| e.value.data()),
                        grad: ev.and_then(|e| e.grad.as_ref()).map(Array::data),
                        params: ev
                            .map(|e| {
                                e.tensors
                                    .iter()
                                    .filter(|(k, _)| k.as_str() != "value")
                                    .map(|(k, t)| {
                                        let tensor = JsonTensor {
                                            shape: t.value.shape(),
                                            value: t.value.data(),
                                            grad: t.grad.as_ref().map(Array::data),
                                        };
                                        (k.as_str(), tensor)
                                    })
                                    .collect()
                            })
                            .unwrap_or_default(),
                    }
                })
        });
        let edges = Items(|| {
            eval.edges.iter().map(|(e, g)| JsonEdge {
                from: name(e.from),
                to: name(e.to),
                port: graph
                    .node(e.to)
                    .and_then(|n| n.op.ports().get(e.port).cloned())
                    .unwrap_or_default(),
                grad: g.data(),
            })
        });
        let diagnostics = Items(|| {
            self.diags.iter().map(|d| JsonDiagnostic {
                severity: d.severity.label(),
                node: d.node.map(name),
                port: d.port.and_then(|p| {
                    d.node
                        .and_then(|id| graph.node(id))
                        .and_then(|n| n.op.ports().get(p).cloned())
                }),
                message: &d.message,
                text: d.to_string(),
            })
        });
        let mut doc = s.serialize_struct("Evaluation", 6)?;
        doc.serialize_field("output", &eval.output.map(name))?;
        doc.serialize_field("device", &self.device)?;
        doc.serialize_field("parameters", &self.analysis.total_params)?;
        doc.serialize_field("nodes", &nodes)?;
        doc.serialize_field("edges", &edges)?;
        doc.serialize_field("diagnostics", &diagnostics)?;
        doc.end()
    }
}

/// Writes the `eval --json` document to `out` as it is serialized (see `JsonDoc`).
pub fn write(
    graph: &Graph,
    analysis: &Analysis,
    eval: &Evaluation,
    diags: &[Diagnostic],
    engine: &Engine,
    out: &mut dyn Write,
) -> std::io::Result<()> {
    let doc = JsonDoc {
        graph,
        analysis,
        eval,
        diags,
        device: engine.describe(),
    };
    let mut w = BufWriter::with_capacity(1 << 16, out);
    let mut ser = serde_json::Serializer::with_formatter(&mut w, Layout::default());
    doc.serialize(&mut ser).map_err(io::Error::other)?;
    writeln!(w)?;
    w.flush()
}

/// serde_json's pretty layout, except that an array of plain values (numbers, strings,
/// null) stays on one line: `"value": [1.0, 2.0]`. An array shows it holds objects or
/// arrays at its first such element, so the separator before each element waits until the
/// element begins.
#[derive(Default)]
struct Layout {
    indent: usize,
    has_value: bool,
    /// `begin_array_value`'s `first`, until the element begins.
    pending: Option<bool>,
    /// Per open array: still on one line.
    inline: Vec<bool>,
}

impl Layout {
    fn newline<W: ?Sized + Write>(&self, w: &mut W) -> io::Result<()> {
        w.write_all(b"\n")?;
        for _ in 0..self.indent {
            w.write_all(b"  ")?;
        }
        Ok(())
    }

    /// Writes the separator a pending array element needs; `plain` for a value that is not
    /// an object or array.
    fn element<W: ?Sized + Write>(&mut self, w: &mut W, plain: bool) -> io::Result<()> {
        let Some(first) = self.pending.take() else {
            return Ok(());
        };
        match self.inline.last_mut() {
            Some(true) if plain => w.write_all(if first { b"" } else { b", " }),
            Some(inline) => {
                *inline = false;
                if !first {
                    w.write_all(b",")?;
                }
                self.newline(w)
            }
            None => Ok(()),
        }
    }
}

/// Every plain value first places itself, then writes as the compact formatter does.
macro_rules! plain {
    ($($name:ident($t:ty)),* $(,)?) => {$(
        fn $name<W: ?Sized + Write>(&mut self, w: &mut W, v: $t) -> io::Result<()> {
            self.element(w, true)?;
            CompactFormatter.$name(w, v)
        }
    )*};
}

impl Formatter for Layout {
    plain!(
        write_bool(bool),
        write_i8(i8),
        write_i16(i16),
        write_i32(i32),
        write_i64(i64),
        write_i128(i128),
        write_u8(u8),
        write_u16(u16),
        write_u32(u32),
        write_u64(u64),
        write_u128(u128),
        write_f32(f32),
        write_f64(f64),
        write_number_str(&str),
        write_byte_array(&[u8]),
        write_raw_fragment(&str),
    );

    fn write_null<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.element(w, true)?;
        w.write_all(b"null")
    }

    fn begin_string<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.element(w, true)?;
        w.write_all(b"\"")
    }

    fn begin_array<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.element(w, false)?;
        self.indent += 1;
        self.has_value = false;
        self.inline.push(true);
        w.write_all(b"[")
    }

    fn end_array<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.indent -= 1;
        if self.inline.pop() == Some(false) && self.has_value {
            self.newline(w)?;
        }
        w.write_all(b"]")
    }

    fn begin_array_value<W: ?Sized + Write>(&mut self, _: &mut W, first: bool) -> io::Result<()> {
        self.pending = Some(first);
        Ok(())
    }

    fn end_array_value<W: ?Sized + Write>(&mut self, _: &mut W) -> io::Result<()> {
        self.has_value = true;
        Ok(())
    }

    fn begin_object<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.element(w, false)?;
        self.indent += 1;
        self.has_value = false;
        w.write_all(b"{")
    }

    fn end_object<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.indent -= 1;
        if self.has_value {
            self.newline(w)?;
        }
        w.write_all(b"}")
    }

    fn begin_object_key<W: ?Sized + Write>(&mut self, w: &mut W, first: bool) -> io::Result<()> {
        if !first {
            w.write_all(b",")?;
        }
        self.newline(w)
    }

    fn begin_object_value<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        w.write_all(b": ")
    }

    fn end_object_value<W: ?Sized + Write>(&mut self, _: &mut W) -> io::Result<()> {
        self.has_value = true;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arrays_of_numbers_stay_on_one_line_and_objects_are_indented() {
        let doc = serde_json::json!({
            "nodes": [{"name": "a", "value": [1.0, 2.5], "shape": []}, {"grad": null}],
            "empty": {},
            "nested": [[1, 2], ["x"]],
        });
        let mut out = Vec::new();
        doc.serialize(&mut serde_json::Serializer::with_formatter(
            &mut out,
            Layout::default(),
        ))
        .unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(
            text,
            "{\n  \"nodes\": [\n    {\n      \"name\": \"a\",\n      \"value\": [1.0, 2.5],\n      \
             \"shape\": []\n    },\n    {\n      \"grad\": null\n    }\n  ],\n  \"empty\": {},\n  \
             \"nested\": [\n    [1, 2],\n    [\"x\"]\n  ]\n}"
        );
        let back: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(back, doc);
    }
}
