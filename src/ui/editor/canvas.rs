//! The node canvas: egui-snarl shows the graph; this module keeps snarl's copy in step with
//! the document (an id map between snarl nodes and graph nodes) and turns what the user
//! does on it into `Edit`s. The graph is the truth; snarl is only a view of it.

use std::collections::{BTreeMap, BTreeSet};

use egui::emath::TSTransform;
use egui::{Modifiers, Pos2, Rect, Ui, Vec2};
use egui_snarl::ui::SnarlWidget;
use egui_snarl::{InPinId, NodeId as SnarlId, OutPinId, Snarl};

use crate::analysis::Analysis;
use crate::exec::Evaluation;
use crate::graph::{Graph, NodeId};

use crate::ui::document::{Document, Edit};
use crate::ui::editor::menus::{Filter, add_node_menu};

use crate::ui::stepping::Reveal;
pub use crate::ui::editor::viewer::start_rename;
use crate::ui::editor::viewer::{Viewer, style};

pub const CANVAS_ID: &str = "nodegrad-canvas";

/// Where a pin was drawn last frame, in screen points (tests drag wires between them).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum PinRef {
    In(NodeId, usize),
    Out(NodeId),
}

#[derive(Default)]
pub struct Canvas {
    snarl: Snarl<NodeId>,
    to_snarl: BTreeMap<NodeId, SnarlId>,
    synced_revision: u64,
    synced_semantic: u64,
    pub selection: BTreeSet<NodeId>,
    last_snarl_selection: Vec<SnarlId>,
    /// Fit the graph into the view on the next frame.
    pub fit_requested: bool,
    /// Frames left in which to keep fitting (new nodes are measured over a few frames).
    fit_frames: u8,
    /// Focus this node on the next frame (from the diagnostics list).
    pub focus_requested: Option<NodeId>,
    /// The add-node popup opened by Space / Shift+A: (screen pos, graph pos).
    pub add_popup: Option<(Pos2, Pos2)>,
    pub show_wire_grads: bool,
    /// Node rectangles in graph space, from the last frame.
    node_rects: BTreeMap<NodeId, Rect>,
    pin_rows: BTreeMap<PinRef, f32>,
    pub pin_screen: BTreeMap<PinRef, Pos2>,
    to_global: TSTransform,
}

impl Canvas {
    /// Makes snarl's nodes and wires match the graph (after any change to the document).
    /// `structure` is false when only positions changed (a drag): wires stay as they are.
    fn sync(&mut self, graph: &Graph, structure: bool) {
        let stale: Vec<NodeId> = self
            .to_snarl
            .keys()
            .filter(|id| graph.node(**id).is_none())
            .copied()
            .collect();
        for id in stale {
            if let Some(sid) = self.to_snarl.remove(&id) {
                self.snarl.remove_node(sid);
            }
        }
        for node in graph.nodes() {
            let pos = Pos2::new(node.pos[0], node.pos[1]);
            match self.to_snarl.get(&node.id) {
                Some(&sid) => {
                    if let Some(info) = self.snarl.get_node_info_mut(sid) {
                        info.pos = pos;
                    }
                }
                None => {
                    let sid = self.snarl.insert_node(pos, node.id);
                    self.to_snarl.insert(node.id, sid);
                }
            }
        }
        if !structure {
            return;
        }
        let wires: Vec<(OutPinId, InPinId)> = self.snarl.wires().collect();
        for (o, i) in wires {
            self.snarl.disconnect(o, i);
        }
        for e in graph.edges() {
            if let (Some(&f), Some(&t)) = (self.to_snarl.get(&e.from), self.to_snarl.get(&e.to)) {
                self.snarl.connect(
                    OutPinId { node: f, output: 0 },
                    InPinId {
                        node: t,
                        input: e.port,
                    },
                );
            }
        }
        self.selection.retain(|id| graph.node(*id).is_some());
        self.node_rects.retain(|id, _| graph.node(*id).is_some());
        self.pin_rows.retain(|pin, _| match pin {
            PinRef::In(id, port) => graph.node(*id).is_some_and(|n| *port < n.op.arity()),
            PinRef::Out(id) => graph.node(*id).is_some(),
        });
    }

    pub fn select_only(&mut self, ids: impl IntoIterator<Item = NodeId>) {
        self.selection = ids.into_iter().collect();
    }

    /// Where a node's card was drawn last frame, in screen points.
    pub fn node_screen_rect(&self, id: NodeId) -> Option<Rect> {
        self.node_rects.get(&id).map(|r| self.to_global * *r)
    }

    /// The graph position under a screen position.
    pub fn graph_pos(&self, screen: Pos2) -> Pos2 {
        self.to_global.inverse() * screen
    }

    /// Shows the canvas; pushes the user's edits into `edits` and returns a status message
    /// when something was refused.
    pub fn ui(
        &mut self,
        ui: &mut Ui,
        doc: &Document,
        analysis: &Analysis,
        eval: Option<&Evaluation>,
        reveal: Option<&Reveal>,
        edits: &mut Vec<Edit>,
    ) {
        if self.synced_revision != doc.revision() {
            self.sync(doc.graph(), self.synced_semantic != doc.semantic_revision());
            self.synced_revision = doc.revision();
            self.synced_semantic = doc.semantic_revision();
        }
        let view_rect = ui.available_rect_before_wrap();
        if self.fit_requested {
            self.fit_frames = 3;
            self.fit_requested = false;
        }
        // The mouse wheel zooms about the pointer (as in Blender); dragging the canvas pans.
        let mut zoom = None;
        if ui.rect_contains_pointer(view_rect) && self.add_popup.is_none() {
            let (scroll, pointer) = ui.input_mut(|i| {
                let d = i.smooth_scroll_delta.y;
                i.smooth_scroll_delta = Vec2::ZERO;
                (d, i.pointer.hover_pos())
            });
            if scroll != 0.0 {
                zoom = pointer.map(|p| (p, (scroll / 200.0).exp()));
            }
        }
        let mut clicked: Option<(NodeId, Modifiers)> = None;
        let mut viewer = Viewer {
            graph: doc.graph(),
            analysis,
            eval,
            reveal,
            edits,
            selection: &self.selection,
            clicked: &mut clicked,
            node_rects: &mut self.node_rects,
            pin_rows: &mut self.pin_rows,
            view: view_rect,
            fit: self.fit_frames > 0,
            focus: self.focus_requested.take(),
            zoom,
            to_global: &mut self.to_global,
            show_wire_grads: self.show_wire_grads,
        };
        if self.fit_frames > 0 {
            self.fit_frames -= 1;
            ui.ctx().request_repaint();
        }
        let widget = SnarlWidget::new()
            .id(egui::Id::new(CANVAS_ID))
            .style(style());
        let resp = widget.show(&mut self.snarl, &mut viewer, ui);

        // Selection: click selects one, Ctrl-click toggles, a click on empty canvas clears,
        // Shift-drag draws a box (snarl's own selection, adopted when it changes).
        if let Some((id, mods)) = clicked {
            if mods.command {
                if !self.selection.remove(&id) {
                    self.selection.insert(id);
                }
            } else if !mods.shift {
                self.select_only([id]);
            }
        } else if resp.clicked() && !resp.ctx.input(|i| i.modifiers.shift) {
            self.selection.clear();
        }
        let snarl_sel = egui_snarl::ui::get_selected_nodes(egui::Id::new(CANVAS_ID), ui.ctx());
        if snarl_sel != self.last_snarl_selection {
            if !snarl_sel.is_empty() {
                self.selection = snarl_sel
                    .iter()
                    .filter_map(|sid| self.snarl.get_node(*sid).copied())
                    .collect();
            }
            self.last_snarl_selection = snarl_sel;
        }

        // Node drags: snarl moved its copy; record the new positions as one edit.
        let moved: Vec<(NodeId, [f32; 2])> = self
            .snarl
            .nodes_pos_ids()
            .filter_map(|(_, pos, id)| {
                let node = doc.graph().node(*id)?;
                ((node.pos[0] - pos.x).abs() > 0.01 || (node.pos[1] - pos.y).abs() > 0.01)
                    .then_some((*id, [pos.x, pos.y]))
            })
            .collect();
        if !moved.is_empty() {
            edits.push(Edit::Move(moved));
        }

        // Pin positions in screen space (for tests and for dropping wires precisely).
        self.pin_screen.clear();
        for (pin, y) in &self.pin_rows {
            let (id, left) = match pin {
                PinRef::In(id, _) => (id, true),
                PinRef::Out(id) => (id, false),
            };
            if let Some(r) = self.node_rects.get(id) {
                let x = if left { r.left() } else { r.right() };
                self.pin_screen
                    .insert(*pin, self.to_global * Pos2::new(x, *y));
            }
        }

        self.add_popup_ui(ui, edits);
    }

    fn add_popup_ui(&mut self, ui: &mut Ui, edits: &mut Vec<Edit>) {
        let Some((screen, graph_pos)) = self.add_popup else {
            return;
        };
        let area = egui::Area::new(egui::Id::new("add-node-popup"))
            .fixed_pos(screen)
            .order(egui::Order::Foreground)
            .show(ui.ctx(), |ui| {
                egui::Frame::popup(ui.style())
                    .show(ui, |ui| {
                        ui.label(egui::RichText::new("Add node").strong());
                        add_node_menu(ui, egui::Id::new("add-popup-search"), &Filter::All)
                    })
                    .inner
            });
        let escape = ui.input(|i| i.key_pressed(egui::Key::Escape));
        let clicked_outside = area.response.clicked_elsewhere();
        if let Some(pick) = area.inner {
            edits.extend(pick.edit([graph_pos.x, graph_pos.y], None, None));
            self.add_popup = None;
        } else if escape || clicked_outside {
            self.add_popup = None;
        }
    }
}
