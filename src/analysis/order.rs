//! Topological order (Kahn, iterative: a 10,000-node chain is fine) and cycle reports.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use super::diagnostic::Diagnostic;
use crate::graph::{Graph, NodeId};

/// Returns the nodes in dependency order (ties by id, so the order is stable) and one
/// diagnostic per node on a cycle. Nodes on or behind a cycle are left out of the order.
pub fn topological(graph: &Graph) -> (Vec<NodeId>, Vec<Diagnostic>) {
    let mut indegree: BTreeMap<NodeId, usize> = graph.node_ids().map(|id| (id, 0)).collect();
    let consumers = graph.consumers_map();
    for e in graph.edges() {
        if let Some(d) = indegree.get_mut(&e.to) {
            *d += 1;
        }
    }
    let mut ready: VecDeque<NodeId> = indegree
        .iter()
        .filter(|(_, d)| **d == 0)
        .map(|(id, _)| *id)
        .collect();
    let mut order = Vec::with_capacity(graph.len());
    while let Some(id) = ready.pop_front() {
        order.push(id);
        for e in consumers.get(&id).map(Vec::as_slice).unwrap_or(&[]) {
            if let Some(d) = indegree.get_mut(&e.to) {
                *d -= 1;
                if *d == 0 {
                    ready.push_back(e.to);
                }
            }
        }
    }
    let left: BTreeSet<NodeId> = indegree
        .iter()
        .filter(|(_, d)| **d > 0)
        .map(|(id, _)| *id)
        .collect();
    (order, cycle_diagnostics(graph, &left))
}

/// Walks producers inside the left-over set until a node repeats: that loop is a cycle.
fn cycle_diagnostics(graph: &Graph, left: &BTreeSet<NodeId>) -> Vec<Diagnostic> {
    let mut reported: BTreeSet<NodeId> = BTreeSet::new();
    let mut diags = Vec::new();
    for &start in left {
        if reported.contains(&start) {
            continue;
        }
        let mut path: Vec<NodeId> = vec![start];
        let mut pos: BTreeMap<NodeId, usize> = BTreeMap::from([(start, 0)]);
        let mut cur = start;
        let cycle = loop {
            let arity = graph.node(cur).map(|n| n.op.arity()).unwrap_or(0);
            let next = (0..arity)
                .filter_map(|p| graph.input(cur, p))
                .find(|p| left.contains(p));
            let Some(next) = next else { break None };
            if let Some(&i) = pos.get(&next) {
                break Some(path[i..].to_vec());
            }
            pos.insert(next, path.len());
            path.push(next);
            cur = next;
        };
        let Some(mut cycle) = cycle else { continue };
        if cycle.iter().any(|id| reported.contains(id)) {
            continue;
        }
        // Walked against the edges; print it along them.
        cycle.reverse();
        let names: Vec<&str> = cycle
            .iter()
            .filter_map(|id| graph.node(*id))
            .map(|n| n.name.as_str())
            .collect();
        let text = format!("{} -> {}", names.join(" -> "), names[0]);
        for id in &cycle {
            if let Some(node) = graph.node(*id) {
                diags.push(Diagnostic::error(
                    node,
                    None,
                    format!("is on a cycle ({text}): a value cannot depend on itself; remove one of these wires"),
                ));
            }
            reported.insert(*id);
        }
    }
    diags
}
