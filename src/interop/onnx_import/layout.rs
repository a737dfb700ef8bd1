//! Positions for an imported graph: layers left to right by depth, cards in a column stacked
//! without overlap, long chains wrapped into bands below each other (as the lenet example
//! is laid out), so the graph reads at 1280x720 after Fit.

use std::collections::BTreeMap;

use crate::graph::{Graph, NodeId, Op};

/// Horizontal distance between columns: a card is at most about 270 px wide.
pub const COLUMN_STEP: f32 = 320.0;
/// Columns per band before the chain wraps to a new band below.
pub const COLUMNS_PER_BAND: usize = 6;
/// Space between cards in a column and between bands.
pub const GAP: f32 = 40.0;

/// A safe estimate of a card's height on the canvas: title, settings rows, value and
/// gradient lines (value editors for sources).
pub fn card_height(op: &Op) -> f32 {
    match op {
        Op::Conv2d { .. } => 330.0,
        Op::Dense { .. } => 230.0,
        Op::Input | Op::Constant | Op::Parameter { .. } => 230.0,
        Op::BatchNorm { .. }
        | Op::MaxPool2d { .. }
        | Op::AvgPool2d { .. }
        | Op::Concat { .. }
        | Op::Reshape { .. }
        | Op::Sum { .. }
        | Op::Mean { .. }
        | Op::Pow { .. }
        | Op::Dropout { .. }
        | Op::LeakyReLU { .. }
        | Op::PReLU { .. } => 200.0,
        _ => 160.0,
    }
}

/// Each node's column: the longest path from an Input; a constant sits one column before
/// its first consumer.
fn depths(g: &Graph) -> BTreeMap<NodeId, usize> {
    let mut depth: BTreeMap<NodeId, usize> = BTreeMap::new();
    // Node ids were handed out in dependency order by the importer, so one pass suffices.
    let ids: Vec<NodeId> = g.node_ids().collect();
    for &id in &ids {
        let Some(node) = g.node(id) else { continue };
        let d = (0..node.op.arity())
            .filter_map(|p| g.input(id, p))
            .filter(|from| !is_constant(g, *from))
            .filter_map(|from| depth.get(&from).map(|d| d + 1))
            .max()
            .unwrap_or(0);
        depth.insert(id, d);
    }
    for &id in &ids {
        if !is_constant(g, id) {
            continue;
        }
        let first_consumer = g
            .edges()
            .filter(|e| e.from == id)
            .filter_map(|e| depth.get(&e.to).copied())
            .min();
        if let Some(c) = first_consumer {
            depth.insert(id, c.saturating_sub(1));
        }
    }
    depth
}

fn is_constant(g: &Graph, id: NodeId) -> bool {
    g.node(id)
        .is_some_and(|n| matches!(n.op, Op::Constant | Op::Parameter { .. }))
}

/// Sets every node's position.
pub fn arrange(g: &mut Graph) {
    let depth = depths(g);
    let mut columns: BTreeMap<usize, Vec<NodeId>> = BTreeMap::new();
    for (&id, &d) in &depth {
        columns.entry(d).or_default().push(id);
    }
    // Column heights, then band heights.
    let height = |g: &Graph, ids: &[NodeId]| -> f32 {
        ids.iter()
            .filter_map(|id| g.node(*id))
            .map(|n| card_height(&n.op) + GAP)
            .sum()
    };
    let mut band_height: BTreeMap<usize, f32> = BTreeMap::new();
    for (&d, ids) in &columns {
        let h = height(g, ids);
        let e = band_height.entry(d / COLUMNS_PER_BAND).or_insert(0.0);
        *e = e.max(h);
    }
    let mut band_top: BTreeMap<usize, f32> = BTreeMap::new();
    let mut top = 0.0;
    for (&band, &h) in &band_height {
        band_top.insert(band, top);
        top += h + 2.0 * GAP;
    }
    for (&d, ids) in &columns {
        let x = (d % COLUMNS_PER_BAND) as f32 * COLUMN_STEP;
        let mut y = band_top[&(d / COLUMNS_PER_BAND)];
        for &id in ids {
            let h = g.node(id).map_or(0.0, |n| card_height(&n.op));
            if let Some(n) = g.node_mut(id) {
                *n.pos = [x, y];
            }
            y += h + GAP;
        }
    }
}
