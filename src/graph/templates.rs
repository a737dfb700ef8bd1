//! Blocks of wired nodes the add-node menu inserts in one go: the lecture's CNN building
//! blocks.

use super::ops::Padding;
use super::{Graph, Init, NodeId, Op};

/// (name, what it is), in menu order.
pub const TEMPLATES: [(&str, &str); 3] = [
    (
        "conv-relu-pool",
        "Conv2d 3x3 (same) -> ReLU -> MaxPool2d 2x2",
    ),
    (
        "VGG block",
        "Conv2d 3x3 -> ReLU -> Conv2d 3x3 -> ReLU -> MaxPool2d 2x2",
    ),
    (
        "residual block",
        "x -> Conv2d 3x3 -> ReLU -> Conv2d 3x3, plus the skip x, -> ReLU (filters must equal the input's channels)",
    ),
];

fn conv(filters: usize) -> Op {
    Op::Conv2d {
        filters,
        kernel: 3,
        stride: 1,
        padding: Padding::Same,
        bias: true,
        init: Init::HeUniform,
    }
}

/// Adds `ops` left to right, each wired into the next; returns their ids.
fn chain(g: &mut Graph, ops: Vec<Op>, x0: f32) -> Option<Vec<NodeId>> {
    let mut ids: Vec<NodeId> = Vec::new();
    for (i, op) in ops.into_iter().enumerate() {
        let id = g.add(op, [x0 + 380.0 * i as f32, 0.0]);
        if let Some(&prev) = ids.last() {
            g.connect(prev, id, 0).ok()?;
        }
        ids.push(id);
    }
    Some(ids)
}

/// The template's nodes, positioned from (0, 0); `None` for an unknown name.
pub fn build(name: &str) -> Option<Graph> {
    let mut g = Graph::new();
    let pool = Op::MaxPool2d {
        kernel: 2,
        stride: 2,
    };
    match name {
        "conv-relu-pool" => {
            chain(&mut g, vec![conv(8), Op::ReLU, pool], 0.0)?;
        }
        "VGG block" => {
            chain(
                &mut g,
                vec![conv(16), Op::ReLU, conv(16), Op::ReLU, pool],
                0.0,
            )?;
        }
        "residual block" => {
            let ids = chain(&mut g, vec![Op::Identity, conv(8), Op::ReLU, conv(8)], 0.0)?;
            let add = g.add(Op::Add, [1520.0, 0.0]);
            g.connect(ids[3], add, 0).ok()?;
            g.connect(ids[0], add, 1).ok()?;
            let out = g.add(Op::ReLU, [1900.0, 0.0]);
            g.connect(add, out, 0).ok()?;
        }
        _ => return None,
    }
    Some(g)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::analyze;

    #[test]
    fn every_template_is_a_wired_block_that_shapes_an_image() {
        for (name, _) in TEMPLATES {
            let mut g = build(name).unwrap();
            // Feed the first node an 8-channel 8x8 image: everything downstream gets a shape.
            let first = g.node_ids().next().unwrap();
            let x = g.add(Op::Input, [-300.0, 0.0]);
            g.set_tensor(x, "value", crate::graph::Array::zeros(vec![8, 8, 8]))
                .unwrap();
            g.connect(x, first, 0).unwrap();
            let a = analyze(&g);
            assert!(!a.has_errors(), "{name}: {:?}", a.diagnostics);
            assert_eq!(a.shapes.len(), g.len(), "{name}: every node shaped");
        }
        assert_eq!(build("residual block").unwrap().edge_count(), 6);
        assert!(build("nope").is_none());
    }
}
