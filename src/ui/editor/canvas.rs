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

pub use crate::ui::editor::card::Formulas;
use crate::ui::editor::flow::{Flow, FlowMode};
pub use crate::ui::editor::viewer::{CardText, FitCrossing, PinRef};
use crate::ui::editor::viewer::{MAX_ZOOM, MIN_ZOOM, Viewer, style};
pub use crate::ui::editor::viewer::{MIN_VALUE_PX, SUMMARY_BELOW, start_rename};
use crate::ui::stepping::Reveal;

pub const CANVAS_ID: &str = "nodegrad-canvas";

/// Frames a fit runs: cards are measured at the zoom they are drawn at (text keeps a minimum
/// on-screen size), so the fit is a fixed point reached over a few frames.
const FIT_FRAMES: u8 = 8;

/// Zoom per mouse-wheel notch (and per 50 points of smooth scrolling).
pub const WHEEL_STEP: f32 = 1.15;
/// Zoom per click on the overlay's + and − buttons.
const BUTTON_STEP: f32 = 1.25;

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
    /// How this fit has crossed the semantic-zoom threshold (cards change size there).
    fit_crossing: FitCrossing,
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
    /// Frames shown so far (the first takes snarl's own initial view).
    frames: u64,
    /// The zoom the view is gliding to and the screen point that stays put.
    zoom_target: Option<(f32, Pos2)>,
    /// The student zoomed or panned by hand: no more fitting on resize until Fit.
    pub manual_view: bool,
    last_view_size: Vec2,
    /// How each card's value was drawn last frame.
    pub cards: BTreeMap<NodeId, CardText>,
    /// The backward pass played on the wires (step mode, or View > Animate backward pass).
    pub flow: Flow,
    /// The formulas with numbers the cards' tooltips show, worked out when first hovered.
    formulas: Formulas,
    /// The canvas's area on screen, last frame.
    view_rect: Option<Rect>,
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

    /// A rectangle in the canvas's own (graph) coordinates on screen.
    pub fn to_screen(&self, r: Rect) -> Rect {
        self.to_global * r
    }

    /// The canvas's area on screen, last frame (a saved frame has its size).
    pub fn view_rect(&self) -> Rect {
        self.view_rect.unwrap_or(Rect::NOTHING)
    }

    /// The current zoom (1 = 100%).
    pub fn zoom(&self) -> f32 {
        self.to_global.scaling
    }

    /// Zooms by `factor` about `anchor` (screen), gliding there over a few frames; repeated
    /// requests add up.
    pub fn zoom_by(&mut self, factor: f32, anchor: Pos2) {
        let from = self.zoom_target.map_or(self.to_global.scaling, |(t, _)| t);
        self.zoom_to(from * factor, anchor);
    }

    /// Zooms to `scale` about `anchor` (screen), gliding there over a few frames.
    pub fn zoom_to(&mut self, scale: f32, anchor: Pos2) {
        self.zoom_target = Some((scale.clamp(MIN_ZOOM, MAX_ZOOM), anchor));
        self.manual_view = true;
    }

    /// Wheel notches this frame from the raw wheel events (a line is a notch; smooth
    /// scrolling counts 50 points as one), whatever the modifiers.
    fn wheel_notches(ui: &Ui) -> f32 {
        ui.input(|i| {
            i.events
                .iter()
                .map(|e| match e {
                    egui::Event::MouseWheel { unit, delta, .. } => {
                        let d = delta.y + delta.x;
                        match unit {
                            egui::MouseWheelUnit::Line => d,
                            egui::MouseWheelUnit::Point => d / 50.0,
                            egui::MouseWheelUnit::Page => 3.0 * d,
                        }
                    }
                    _ => 0.0,
                })
                .sum()
        })
    }

    /// This frame's step towards the zoom target: (anchor, factor).
    fn zoom_step(&mut self, ui: &Ui) -> Option<(Pos2, f32)> {
        let (target, anchor) = self.zoom_target?;
        let current = self.to_global.scaling.max(1e-3);
        let ratio = target / current;
        if (ratio - 1.0).abs() < 2e-3 {
            self.zoom_target = None;
            return Some((anchor, ratio));
        }
        // About 90% of the way in 0.12 s, whatever the frame rate.
        let dt = ui.input(|i| i.stable_dt).clamp(1.0 / 240.0, 0.1);
        let t = egui::emath::exponential_smooth_factor(0.9, 0.12, dt);
        ui.ctx().request_repaint();
        Some((anchor, ratio.powf(t)))
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
        self.view_rect = Some(view_rect);
        // The flow belongs to the evaluation it was built from; step mode drives its own.
        match (reveal.and_then(|r| r.backward.as_ref()), eval) {
            (Some((steps, taken)), Some(eval)) => self.flow.follow(steps, *taken, eval),
            _ if self.flow.mode == FlowMode::Stepping => self.flow.stop(),
            _ => {}
        }
        if self.flow.mode == FlowMode::Demand && !self.flow.built_for(doc.semantic_revision()) {
            self.flow.stop();
        }
        self.flow.tick(ui);
        self.formulas.keep_for(doc.semantic_revision());
        if self.fit_requested {
            self.fit_frames = FIT_FRAMES;
            self.fit_crossing = FitCrossing::None;
            self.fit_requested = false;
            self.manual_view = false;
            self.zoom_target = None;
        }
        // A new window size (or a resized panel) re-fits until the student zooms or pans.
        if view_rect.size() != self.last_view_size {
            if !self.manual_view && self.frames > 0 && !doc.graph().is_empty() {
                self.fit_frames = FIT_FRAMES;
                self.fit_crossing = FitCrossing::None;
            }
            self.last_view_size = view_rect.size();
        }
        // The mouse wheel zooms about the pointer (as in Blender), WHEEL_STEP a notch, gliding;
        // dragging the canvas pans.
        // Not over a menu, window or the overlay above the canvas.
        let on_top = ui
            .input(|i| i.pointer.hover_pos())
            .and_then(|p| ui.ctx().layer_id_at(p))
            .is_none_or(|layer| layer == ui.layer_id());
        let over_canvas = ui.rect_contains_pointer(view_rect) && self.add_popup.is_none() && on_top;
        let mut pinch = false;
        if over_canvas {
            let notches = Self::wheel_notches(ui);
            let pointer = ui.input_mut(|i| {
                i.smooth_scroll_delta = Vec2::ZERO;
                pinch = i.multi_touch().is_some()
                    || i.events.iter().any(|e| matches!(e, egui::Event::Zoom(_)));
                i.pointer.hover_pos()
            });
            if let (true, Some(p)) = (notches != 0.0, pointer) {
                self.zoom_by(WHEEL_STEP.powf(notches.clamp(-10.0, 10.0)), p);
            }
        }
        let zoom = self.zoom_step(ui);
        let mut clicked: Option<(NodeId, Modifiers)> = None;
        let mut viewer = Viewer {
            graph: doc.graph(),
            analysis,
            eval,
            reveal,
            edits,
            selection: &self.selection,
            clicked: &mut clicked,
            pointer_on_canvas: on_top,
            node_rects: &mut self.node_rects,
            pin_rows: &mut self.pin_rows,
            view: view_rect,
            fit: (self.fit_frames > 0).then_some(&mut self.fit_crossing),
            focus: self.focus_requested.take(),
            zoom,
            previous: (self.frames > 0).then_some(self.to_global),
            pinch,
            to_global: &mut self.to_global,
            show_wire_grads: self.show_wire_grads,
            cards: &mut self.cards,
            formulas: &mut self.formulas,
            text_layer: egui::LayerId::new(ui.layer_id().order, egui::Id::new("canvas-crisp-text")),
        };
        viewer.cards.clear();
        if self.fit_frames > 0 {
            self.fit_frames -= 1;
            ui.ctx().request_repaint();
        }
        let widget = SnarlWidget::new()
            .id(egui::Id::new(CANVAS_ID))
            .style(style());
        let resp = widget.show(&mut self.snarl, &mut viewer, ui);
        self.frames += 1;
        if resp.dragged() && !resp.ctx.input(|i| i.modifiers.shift) {
            self.manual_view = true;
        }
        if pinch {
            self.manual_view = true;
        }

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

        // The gradient flow on snarl's layer (graph space, above the cards' frames).
        let layer = egui::LayerId::new(ui.layer_id().order, egui::Id::new(CANVAS_ID));
        let clip = self.to_global.inverse() * view_rect;
        self.flow.paint(
            ui,
            layer,
            self.to_global.scaling,
            &self.node_rects,
            &self.pin_rows,
            clip,
        );
        self.flow.overlay_ui(ui, view_rect);
        self.flow.png_ui(ui, view_rect);

        self.overlay_ui(ui, view_rect);
        if doc.graph().is_empty() {
            empty_hint_ui(ui, view_rect);
        }
        self.add_popup_ui(ui, edits);
    }

    /// The zoom level and buttons in the canvas's top-right corner.
    fn overlay_ui(&mut self, ui: &mut Ui, view: Rect) {
        let center = view.center();
        egui::Area::new(egui::Id::new("canvas-zoom-overlay"))
            .fixed_pos(view.right_top() + Vec2::new(-8.0, 8.0))
            .pivot(egui::Align2::RIGHT_TOP)
            .order(egui::Order::Middle)
            .constrain_to(view)
            .show(ui.ctx(), |ui| {
                egui::Frame::popup(ui.style())
                    .inner_margin(egui::Margin::symmetric(4, 2))
                    .show(ui, |ui| {
                        ui.horizontal(|ui| {
                            if ui
                                .small_button("−")
                                .on_hover_text("Zoom out (mouse wheel)")
                                .clicked()
                            {
                                self.zoom_by(1.0 / BUTTON_STEP, center);
                            }
                            let percent = format!("{:.0}%", 100.0 * self.zoom());
                            if ui
                                .small_button(percent)
                                .on_hover_text("Zoom to 100%")
                                .clicked()
                            {
                                self.zoom_to(1.0, center);
                            }
                            if ui
                                .small_button("+")
                                .on_hover_text("Zoom in (mouse wheel)")
                                .clicked()
                            {
                                self.zoom_by(BUTTON_STEP, center);
                            }
                            if ui
                                .small_button("Fit")
                                .on_hover_text("Show the whole graph (F)")
                                .clicked()
                            {
                                self.fit_requested = true;
                            }
                        });
                    });
            });
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

/// What an empty canvas says: how to add a node, where the examples are.
fn empty_hint_ui(ui: &Ui, view: Rect) {
    egui::Area::new(egui::Id::new("canvas-empty-hint"))
        .fixed_pos(view.center())
        .pivot(egui::Align2::CENTER_CENTER)
        .order(egui::Order::Middle)
        // Clicks go through to the canvas, so right-click still opens the add-node menu.
        .interactable(false)
        .show(ui.ctx(), |ui| {
            ui.style_mut().interaction.selectable_labels = false;
            ui.vertical_centered(|ui| {
                ui.label(egui::RichText::new("The graph is empty").heading().weak());
                ui.label(
                    egui::RichText::new(
                        "Right-click the canvas, or press Space or Shift+A, to add a node.",
                    )
                    .weak(),
                );
                ui.label(
                    egui::RichText::new("Or open a ready-made graph: File > Open example").weak(),
                );
                ui.label(
                    egui::RichText::new(
                        "(computational-graph.ron \u{2192} the lecture's J = 3(a + bc))",
                    )
                    .weak(),
                );
            });
        });
}
