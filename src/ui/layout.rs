//! The window's tiles: which panes exist, the default arrangement, what is shown, and the
//! rules that keep the graph visible. The layout is data (an `egui_tiles::Tree` of `Pane`s):
//! it persists through eframe's storage, is checked when it comes back, and "Reset layout"
//! builds the default again. Drawing the panes lives in `panes.rs`.
//!
//! **Architecture Invariant:** the canvas always exists exactly once in the tree, and a
//! layout that would give it less than `MIN_CANVAS_SHARE` of the tiles' area (or none) is
//! never restored: the default takes its place (`tests/editor_layout.rs`,
//! `a_hostile_persisted_layout_never_hides_the_canvas`).
//! **Architecture Invariant:** tiles are sized by shares, never by their content; content
//! wraps or scrolls inside its tile (`tests/editor_layout.rs`, `every_example_at_laptop_and_
//! desktop_size_keeps_half_the_window_for_the_graph`).

use std::collections::{BTreeMap, BTreeSet};

use egui::Rect;
use egui_tiles::{Container, Linear, LinearDir, Tile, TileId, Tiles, Tree};
use serde::{Deserialize, Serialize};

use super::training::dashboard::View;

/// The least share of the tiles' area the canvas gets from a restored layout, or after a
/// panel is shown (the student can still make it smaller by dragging a divider).
pub const MIN_CANVAS_SHARE: f32 = 0.55;

/// A restored layout larger than this is not a layout.
const MAX_STORED_BYTES: usize = 64 * 1024;
const MAX_TILES: usize = 128;
const MAX_DEPTH: usize = 12;

/// One kind of tile. Each exists exactly once in the tree.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Pane {
    Canvas,
    Inspector,
    Steps,
    Training,
    Curves,
    Boundary,
    Activations,
    Weights,
    GradNorms,
    Confusion,
    Data,
}

impl Pane {
    pub const ALL: [Pane; 11] = [
        Pane::Canvas,
        Pane::Inspector,
        Pane::Steps,
        Pane::Training,
        Pane::Curves,
        Pane::Boundary,
        Pane::Activations,
        Pane::Weights,
        Pane::GradNorms,
        Pane::Confusion,
        Pane::Data,
    ];

    /// The tab's title (the dashboard views keep the names their buttons had).
    pub fn title(self) -> &'static str {
        match self {
            Pane::Canvas => "Graph",
            Pane::Inspector => "Inspector",
            Pane::Steps => "Step through",
            Pane::Training => "Training",
            Pane::Curves => "Loss & accuracy",
            p => p.view().map(View::label).unwrap_or(""),
        }
    }

    /// The dashboard view this pane shows, if it is one.
    pub fn view(self) -> Option<View> {
        Some(match self {
            Pane::Boundary => View::Boundary,
            Pane::Activations => View::Activations,
            Pane::Weights => View::Weights,
            Pane::GradNorms => View::GradNorms,
            Pane::Confusion => View::Confusion,
            Pane::Data => View::Data,
            _ => return None,
        })
    }

    pub fn of_view(view: View) -> Pane {
        match view {
            View::Boundary => Pane::Boundary,
            View::Activations => Pane::Activations,
            View::Weights => Pane::Weights,
            View::GradNorms => Pane::GradNorms,
            View::Confusion => Pane::Confusion,
            View::Data => Pane::Data,
        }
    }

    /// Shown only while the Training tiles are.
    pub fn is_training(self) -> bool {
        !matches!(self, Pane::Canvas | Pane::Inspector | Pane::Steps)
    }
}

/// Where a pane was drawn in the last frame: its tile, and the rectangle its content took
/// (wider or taller than the tile means content spilled out of it).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Drawn {
    pub tile: Rect,
    pub content: Rect,
}

pub struct Layout {
    pub tree: Tree<Pane>,
    /// One pane over the whole tiles' area (the tab's maximize button); not persisted.
    pub maximized: Option<Pane>,
    /// Filled while drawing, for tests and for the window's own checks.
    pub drawn: BTreeMap<Pane, Drawn>,
    /// What `sync_visibility` applied last (to notice a panel being shown).
    shown: Option<(bool, bool)>,
}

impl Default for Layout {
    fn default() -> Self {
        Self {
            tree: default_tree(),
            maximized: None,
            drawn: BTreeMap::new(),
            shown: None,
        }
    }
}

/// The default arrangement: the graph on the left over the step bar; on the right the
/// inspector (tabbed with the training settings), the views over time (loss curves,
/// activations, weights, gradient norms) and the views of data and predictions.
///
/// ```text
/// +----------------------+------------------------+
/// |                      | Inspector | Training   |
/// |        Graph         +------------------------+
/// |                      | Loss | Activations | … |
/// |                      +------------------------+
/// +----------------------+ Boundary | Confusion | |
/// | Step through         |                        |
/// +----------------------+------------------------+
/// ```
pub fn default_tree() -> Tree<Pane> {
    let mut tiles = Tiles::default();
    let mut tabs = |panes: &[Pane]| {
        let ids = panes.iter().map(|p| tiles.insert_pane(*p)).collect();
        tiles.insert_tab_tile(ids)
    };
    let canvas = tabs(&[Pane::Canvas]);
    let steps = tabs(&[Pane::Steps]);
    let side = tabs(&[Pane::Inspector, Pane::Training]);
    // Over time (the run's curves and the network's insides), then data and predictions.
    let curves = tabs(&[
        Pane::Curves,
        Pane::Activations,
        Pane::Weights,
        Pane::GradNorms,
    ]);
    let views = tabs(&[Pane::Boundary, Pane::Confusion, Pane::Data]);
    let left = tiles.insert_container(Linear::new_binary(
        LinearDir::Vertical,
        [canvas, steps],
        0.86,
    ));
    let mut right = Linear::new(LinearDir::Vertical, vec![side, curves, views]);
    right.shares.set_share(side, 0.36);
    right.shares.set_share(curves, 0.30);
    right.shares.set_share(views, 0.34);
    let right = tiles.insert_container(right);
    let root = tiles.insert_container(Linear::new_binary(
        LinearDir::Horizontal,
        [left, right],
        0.68,
    ));
    Tree::new("nodegrad-layout", root, tiles)
}

/// How tiles are tidied after a drag: every pane keeps a tab (its handle for dragging and
/// maximizing), empty containers go.
pub fn simplification() -> egui_tiles::SimplificationOptions {
    egui_tiles::SimplificationOptions {
        prune_empty_tabs: true,
        prune_single_child_tabs: false,
        prune_empty_containers: true,
        prune_single_child_containers: true,
        all_panes_must_have_tabs: true,
        join_nested_linear_containers: true,
        flatten_tabs_in_tabs: true,
    }
}

fn children(tiles: &Tiles<Pane>, id: TileId) -> Vec<TileId> {
    match tiles.get(id) {
        Some(Tile::Container(c)) => c.children_vec(),
        _ => Vec::new(),
    }
}

/// Checks a layout that came from outside (storage): a proper tree (no cycles, no shared or
/// missing tiles, bounded size), every pane exactly once, finite positive shares, and the
/// canvas given at least `MIN_CANVAS_SHARE` of the area with every pane shown.
pub fn check(tree: &Tree<Pane>) -> Result<(), String> {
    let root = tree.root.ok_or("it has no tiles")?;
    if tree.tiles.len() > MAX_TILES {
        return Err(format!(
            "it has {} tiles (at most {MAX_TILES})",
            tree.tiles.len()
        ));
    }
    let mut seen = BTreeSet::new();
    let mut panes: BTreeMap<Pane, usize> = BTreeMap::new();
    let mut stack = vec![(root, 0usize)];
    while let Some((id, depth)) = stack.pop() {
        if depth > MAX_DEPTH {
            return Err(format!("it nests deeper than {MAX_DEPTH} levels"));
        }
        if !seen.insert(id.0) {
            return Err(format!("tile {} appears twice (or in a cycle)", id.0));
        }
        match tree.tiles.get(id) {
            None => return Err(format!("tile {} is missing", id.0)),
            Some(Tile::Pane(p)) => *panes.entry(*p).or_default() += 1,
            Some(Tile::Container(c)) => {
                if let Container::Linear(l) = c {
                    for child in &l.children {
                        let s = l.shares[*child];
                        if !(s.is_finite() && s > 0.0) {
                            return Err(format!("tile {} has the share {s}", child.0));
                        }
                    }
                }
                stack.extend(c.children().map(|c| (*c, depth + 1)));
            }
        }
    }
    if seen.len() != tree.tiles.len() {
        return Err(format!(
            "it holds {} tile(s) outside the tree",
            tree.tiles.len() - seen.len().min(tree.tiles.len())
        ));
    }
    for p in Pane::ALL {
        match panes.get(&p).copied().unwrap_or(0) {
            1 => {}
            0 => return Err(format!("the {} tile is missing", p.title())),
            n => return Err(format!("the {} tile appears {n} times", p.title())),
        }
    }
    let share = canvas_share(tree);
    if share < MIN_CANVAS_SHARE {
        return Err(format!(
            "it gives the graph {:.0}% of the area (at least {:.0}%)",
            share * 100.0,
            MIN_CANVAS_SHARE * 100.0
        ));
    }
    Ok(())
}

fn find(tree: &Tree<Pane>, pane: Pane) -> Option<TileId> {
    tree.tiles.find_pane(&pane)
}

/// The canvas's part of the tiles' area with every pane shown (tab bars not counted):
/// the product of its share in each horizontal or vertical container above it; 0 when it
/// is an inactive tab.
pub fn canvas_share(tree: &Tree<Pane>) -> f32 {
    let Some(mut child) = find(tree, Pane::Canvas) else {
        return 0.0;
    };
    let mut share = 1.0;
    let mut steps = 0;
    while let Some(parent) = tree.tiles.parent_of(child) {
        steps += 1;
        if steps > MAX_DEPTH * 2 {
            return 0.0;
        }
        match tree.tiles.get(parent) {
            Some(Tile::Container(Container::Linear(l))) => {
                let total: f32 = l.children.iter().map(|c| l.shares[*c]).sum();
                share *= l.shares[child] / total;
            }
            Some(Tile::Container(Container::Tabs(t))) => {
                let active = t.active.or_else(|| t.children.first().copied());
                if t.children.len() > 1 && active != Some(child) {
                    return 0.0;
                }
            }
            Some(Tile::Container(Container::Grid(g))) => {
                share /= g.children().count().max(1) as f32;
            }
            _ => return 0.0,
        }
        child = parent;
    }
    if share.is_finite() { share } else { 0.0 }
}

/// Grows the canvas's shares until it has at least `min` of the area (when it is not an
/// inactive tab: that the student chose). Used when a panel is shown.
pub fn ensure_canvas_share(tree: &mut Tree<Pane>, min: f32) {
    // Each round grows every level a little; levels capped at 90% leave the rest to the
    // others, so a few rounds are needed.
    for _ in 0..32 {
        let share = canvas_share(tree);
        if share >= min || share <= 0.0 {
            return;
        }
        let Some(mut child) = find(tree, Pane::Canvas) else {
            return;
        };
        let mut linear = Vec::new();
        while let Some(parent) = tree.tiles.parent_of(child) {
            if matches!(
                tree.tiles.get(parent),
                Some(Tile::Container(Container::Linear(_)))
            ) {
                linear.push((parent, child));
            }
            child = parent;
            if linear.len() > MAX_DEPTH {
                break;
            }
        }
        let grow = (min / share).powf(1.0 / linear.len().max(1) as f32) * 1.01;
        for (parent, child) in linear {
            if let Some(Tile::Container(Container::Linear(l))) = tree.tiles.get_mut(parent) {
                let own = l.shares[child];
                let others: f32 = l
                    .children
                    .iter()
                    .filter(|c| **c != child)
                    .map(|c| l.shares[*c])
                    .sum();
                let f = (own / (own + others) * grow).min(0.9);
                if others > 0.0 {
                    l.shares.set_share(child, f * others / (1.0 - f));
                }
            }
        }
    }
}

impl Layout {
    /// A layout from storage, or why it cannot be used.
    pub fn restore(text: &str) -> Result<Self, String> {
        if text.len() > MAX_STORED_BYTES {
            return Err(format!(
                "it is {} bytes (at most {MAX_STORED_BYTES})",
                text.len()
            ));
        }
        let mut tree: Tree<Pane> = ron::from_str(text).map_err(|e| e.to_string())?;
        check(&tree)?;
        // A stored fixed size would pin the tiles to it whatever the window's size.
        tree.set_width(f32::INFINITY);
        tree.set_height(f32::INFINITY);
        tree.tiles.recompute_next_tile_id();
        Ok(Self {
            tree,
            ..Self::default()
        })
    }

    /// The layout as stored text.
    pub fn store(&self) -> String {
        ron::to_string(&self.tree).unwrap_or_default()
    }

    pub fn reset(&mut self) {
        *self = Self::default();
    }

    /// Shows and hides panes (Training tiles, inspector); a container is shown while one of
    /// its tiles is. Showing a panel never squeezes the canvas below `MIN_CANVAS_SHARE`.
    pub fn sync_visibility(&mut self, training: bool, inspector: bool) {
        // Every frame: a tile dragged into a hidden group must not vanish with it.
        if let Some(root) = self.tree.root {
            self.set_visible(root, training, inspector, 0);
        }
        let before = self.shown.replace((training, inspector));
        if before == Some((training, inspector)) {
            return;
        }
        let (was_training, was_inspector) = before.unwrap_or((false, false));
        if (training && !was_training) || (inspector && !was_inspector) {
            ensure_canvas_share(&mut self.tree, MIN_CANVAS_SHARE);
        }
        if training && !was_training {
            self.activate(Pane::Training);
        }
        if let Some(p) = self.maximized
            && !self
                .tree
                .is_visible(find(&self.tree, p).unwrap_or(TileId(0)))
        {
            self.maximized = None;
        }
    }

    fn set_visible(&mut self, id: TileId, training: bool, inspector: bool, depth: usize) -> bool {
        let visible = match self.tree.tiles.get(id) {
            Some(Tile::Pane(Pane::Inspector)) => inspector,
            Some(Tile::Pane(p)) => !p.is_training() || training,
            Some(Tile::Container(_)) if depth <= MAX_DEPTH * 2 => {
                let mut any = false;
                for c in children(&self.tree.tiles, id) {
                    any |= self.set_visible(c, training, inspector, depth + 1);
                }
                any
            }
            _ => false,
        };
        self.tree.set_visible(id, visible);
        visible
    }

    /// Makes a pane the open tab of its tab group (and of the groups above it).
    pub fn activate(&mut self, pane: Pane) {
        self.tree
            .make_active(|_, tile| matches!(tile, Tile::Pane(p) if *p == pane));
    }

    /// Whether a pane is drawn now (shown, and the open tab of its group).
    pub fn is_shown(&self, pane: Pane) -> bool {
        match self.maximized {
            Some(p) => p == pane,
            None => find(&self.tree, pane).is_some_and(|id| self.tree.active_tiles().contains(&id)),
        }
    }

    /// Where a pane was drawn in the last frame (tab bar excluded).
    pub fn pane_rect(&self, pane: Pane) -> Option<Rect> {
        self.drawn.get(&pane).map(|d| d.tile)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_layout_passes_its_own_check_and_gives_the_canvas_most_of_the_area() {
        let tree = default_tree();
        assert_eq!(check(&tree), Ok(()));
        assert!((canvas_share(&tree) - 0.68 * 0.86).abs() < 1e-4);
        let back = Layout::restore(&Layout::default().store()).unwrap();
        assert_eq!(back.tree.root, tree.root);
        assert!((canvas_share(&back.tree) - canvas_share(&tree)).abs() < 1e-6);
    }

    fn root_linear(tree: &mut Tree<Pane>) -> &mut Linear {
        let root = tree.root.unwrap();
        match tree.tiles.get_mut(root) {
            Some(Tile::Container(Container::Linear(l))) => l,
            _ => panic!("the root is a row"),
        }
    }

    #[test]
    fn a_layout_that_squeezes_or_loses_the_canvas_is_refused_with_a_reason() {
        let mut tree = default_tree();
        let l = root_linear(&mut tree);
        let right = l.children[1];
        l.shares.set_share(right, 1000.0);
        assert!(check(&tree).unwrap_err().contains("gives the graph 0%"));

        let mut tree = default_tree();
        let canvas = find(&tree, Pane::Canvas).unwrap();
        let parent = tree.tiles.parent_of(canvas).unwrap();
        if let Some(Tile::Container(c)) = tree.tiles.get_mut(parent) {
            c.remove_child(canvas);
        }
        tree.tiles.remove(canvas);
        assert_eq!(check(&tree), Err("the Graph tile is missing".into()));

        let mut tree = default_tree();
        let l = root_linear(&mut tree);
        let left = l.children[0];
        l.shares.set_share(left, f32::NAN);
        assert!(check(&tree).unwrap_err().contains("share NaN"));

        // The canvas as a tab behind the inspector.
        let mut tree = default_tree();
        let canvas = find(&tree, Pane::Canvas).unwrap();
        let own = tree.tiles.parent_of(canvas).unwrap();
        let side = tree
            .tiles
            .parent_of(find(&tree, Pane::Inspector).unwrap())
            .unwrap();
        if let Some(Tile::Container(c)) = tree.tiles.get_mut(own) {
            c.remove_child(canvas);
        }
        if let Some(Tile::Container(c)) = tree.tiles.get_mut(side) {
            c.add_child(canvas);
        }
        assert!(check(&tree).unwrap_err().contains("gives the graph 0%"));

        // A container inside itself.
        let mut tree = default_tree();
        let root = tree.root.unwrap();
        root_linear(&mut tree).children.push(root);
        assert!(check(&tree).unwrap_err().contains("appears twice"));

        // A second canvas outside the tree (it could stand in for the squeezed one).
        let mut tree = default_tree();
        let l = root_linear(&mut tree);
        let right = l.children[1];
        l.shares.set_share(right, 1000.0);
        let _orphan = tree.tiles.insert_pane(Pane::Canvas);
        assert!(check(&tree).unwrap_err().contains("outside the tree"));

        assert!(Layout::restore("(nonsense").is_err());
        assert!(Layout::restore(&"x".repeat(MAX_STORED_BYTES + 1)).is_err());
    }

    #[test]
    fn showing_a_panel_grows_a_squeezed_canvas_back_to_its_minimum() {
        let mut layout = Layout::default();
        let l = root_linear(&mut layout.tree);
        let right = l.children[1];
        l.shares.set_share(right, 4.0);
        assert!(canvas_share(&layout.tree) < 0.3);
        layout.sync_visibility(true, true);
        let share = canvas_share(&layout.tree);
        assert!(
            (MIN_CANVAS_SHARE..0.7).contains(&share),
            "canvas share {share}"
        );
    }

    #[test]
    fn hiding_training_hides_its_tiles_and_the_groups_left_empty() {
        let mut layout = Layout::default();
        layout.sync_visibility(false, true);
        let ids: BTreeMap<Pane, TileId> = Pane::ALL
            .into_iter()
            .map(|p| (p, find(&layout.tree, p).unwrap()))
            .collect();
        let id = |p| ids[&p];
        assert!(!layout.tree.is_visible(id(Pane::Curves)));
        let curves_group = layout.tree.tiles.parent_of(id(Pane::Curves)).unwrap();
        assert!(!layout.tree.is_visible(curves_group));
        assert!(layout.tree.is_visible(id(Pane::Inspector)));
        layout.sync_visibility(true, false);
        assert!(layout.tree.is_visible(id(Pane::Curves)));
        assert!(!layout.tree.is_visible(id(Pane::Inspector)));
        // Showing training opens its settings tab.
        let side = layout.tree.tiles.parent_of(id(Pane::Training)).unwrap();
        match layout.tree.tiles.get(side) {
            Some(Tile::Container(Container::Tabs(t))) => {
                assert_eq!(t.active, Some(id(Pane::Training)))
            }
            _ => panic!("the settings are a tab"),
        }
    }
}
