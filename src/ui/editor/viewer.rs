//! The egui-snarl viewer: how each node card, pin, menu and wire looks and what the user's
//! actions on them become (`Edit`s). It reads the graph, analysis and evaluation; it never
//! changes the graph.

use std::collections::{BTreeMap, BTreeSet};

use egui::emath::TSTransform;
use egui::{Color32, Modifiers, Pos2, Rect, Stroke, Ui, Vec2};
use egui_snarl::ui::{AnyPins, PinInfo, PinPlacement, SnarlStyle, SnarlViewer};
use egui_snarl::{InPin, NodeId as SnarlId, OutPin, Snarl};

use crate::analysis::{Analysis, Severity};
use crate::exec::Evaluation;
use crate::graph::{Graph, NodeId};

use crate::ui::document::Edit;
use crate::ui::editor::card;
use crate::ui::editor::menus::{Filter, add_node_menu, layer_menu_ui};
use crate::ui::stepping::Reveal;

/// Below this zoom, cards drop their editors and show only their name, value and gradient
/// in large type (semantic zoom): editors drawn at 8 px cannot be read or used.
pub const SUMMARY_BELOW: f32 = 0.65;
/// Smallest on-screen size (px) of a card's value and gradient: below it the decimal point
/// of "7.0" vanishes into the digits.
pub const MIN_VALUE_PX: f32 = 11.0;
/// Smallest on-screen size (px) of the text of a card's editors (drag numbers, fields).
const MIN_EDITOR_PX: f32 = 10.0;
/// Smallest on-screen size (px) of the other text on a card (op name, shape, ports).
const MIN_LABEL_PX: f32 = 9.0;
/// Size (px) of the name, value and gradient of a card in its large-type summary.
const SUMMARY_PX: f32 = 11.0;
/// Zoom limits of the canvas.
pub const MIN_ZOOM: f32 = 0.1;
pub const MAX_ZOOM: f32 = 2.0;

/// A fit's moves across `SUMMARY_BELOW`, where cards change size: the fit ends on the same
/// zoom whatever zoom it starts from. Up into full cards is tried once; if the full cards then
/// do not fit above the threshold, the fit stays with the summaries below it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum FitCrossing {
    #[default]
    None,
    Up,
    SettledBelow,
}

/// How a card's value was drawn last frame.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CardText {
    /// On-screen size of the value and gradient text, in points.
    pub value_px: f32,
    /// The card showed its large-type summary (zoomed out), not its editors.
    pub summary: bool,
}

/// Where a pin was drawn last frame, in screen points (tests drag wires between them).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum PinRef {
    In(NodeId, usize),
    Out(NodeId),
}

/// Starts renaming a node in its title bar (F2 or a double click on the title); the title
/// shows a text field while egui's memory holds the name being typed.
pub fn start_rename(ctx: &egui::Context, graph: &Graph, id: NodeId) {
    if let Some(n) = graph.node(id) {
        ctx.data_mut(|d| d.insert_temp(rename_id(id), n.name.clone()));
    }
}

fn rename_id(id: NodeId) -> egui::Id {
    egui::Id::new(("rename-inline", id.0))
}

pub(super) fn style() -> SnarlStyle {
    let mut s = SnarlStyle::new();
    s.pin_placement = Some(PinPlacement::Edge);
    s.pin_size = Some(10.0);
    s.collapsible = Some(false);
    s.centering = Some(false);
    s.min_scale = Some(MIN_ZOOM);
    s.max_scale = Some(MAX_ZOOM);
    s
}

/// Colour of a pin by what flows through it: scalars, vectors, matrices, images.
fn rank_color(shape: Option<&Vec<usize>>) -> Color32 {
    match shape.map(|s| s.len()) {
        Some(0) => Color32::from_rgb(80, 180, 160),
        Some(1) => Color32::from_rgb(90, 140, 230),
        Some(2) => Color32::from_rgb(170, 110, 220),
        Some(_) => Color32::from_rgb(220, 130, 180),
        None => Color32::from_gray(130),
    }
}

pub(super) struct Viewer<'a> {
    pub(super) graph: &'a Graph,
    pub(super) analysis: &'a Analysis,
    pub(super) eval: Option<&'a Evaluation>,
    /// While stepping: which values and gradients have been computed so far.
    pub(super) reveal: Option<&'a Reveal>,
    pub(super) edits: &'a mut Vec<Edit>,
    pub(super) selection: &'a BTreeSet<NodeId>,
    pub(super) clicked: &'a mut Option<(NodeId, Modifiers)>,
    /// The pointer is over the canvas itself, not a menu, window or the zoom overlay above
    /// it: only then does a click select a card.
    pub(super) pointer_on_canvas: bool,
    pub(super) node_rects: &'a mut BTreeMap<NodeId, Rect>,
    pub(super) pin_rows: &'a mut BTreeMap<PinRef, f32>,
    pub(super) view: Rect,
    /// Fitting this frame, with what the fit has done at the semantic-zoom threshold.
    pub(super) fit: Option<&'a mut FitCrossing>,
    pub(super) focus: Option<NodeId>,
    pub(super) zoom: Option<(Pos2, f32)>,
    /// Last frame's transform, when there was one: snarl's own wheel zoom is undone
    /// (the canvas zooms by notches itself), a pinch is kept.
    pub(super) previous: Option<TSTransform>,
    pub(super) pinch: bool,
    pub(super) to_global: &'a mut TSTransform,
    pub(super) show_wire_grads: bool,
    /// How each card's value was drawn this frame (for tests and the zoom overlay).
    pub(super) cards: &'a mut BTreeMap<NodeId, CardText>,
    /// The cards' formulas with numbers (tooltips of the value and gradient).
    pub(super) formulas: &'a mut card::Formulas,
    /// An unscaled layer just above the cards: zoomed-out text is drawn there at its
    /// on-screen size, not drawn big and shrunk (which loses underscores and decimal points).
    pub(super) text_layer: egui::LayerId,
}

impl Viewer<'_> {
    fn scale(&self) -> f32 {
        self.to_global.scaling.max(1e-3)
    }

    /// Zoomed out below `SUMMARY_BELOW`: cards show their large-type summary.
    fn summary(&self) -> bool {
        self.scale() < SUMMARY_BELOW
    }

    /// A font size in graph units that is `base` at 100% and never under `min_px` on screen.
    fn size(&self, base: f32, min_px: f32) -> f32 {
        base.max(min_px / self.scale())
    }

    /// Text at `px` on screen, crisp whatever the zoom: the card reserves its size (in graph
    /// units) and the text is painted on the unscaled layer above the cards.
    fn crisp_label(
        &self,
        ui: &mut Ui,
        text: &str,
        font: egui::FontId,
        color: Color32,
    ) -> egui::Response {
        let galley = ui.painter().layout_no_wrap(text.to_owned(), font, color);
        let (rect, resp) =
            ui.allocate_exact_size(galley.size() / self.scale(), egui::Sense::hover());
        ui.ctx().set_sublayer(ui.layer_id(), self.text_layer);
        let screen = *self.to_global * rect;
        let clip = self.view.intersect(*self.to_global * ui.clip_rect());
        ui.ctx()
            .layer_painter(self.text_layer)
            .with_clip_rect(clip)
            .galley(screen.min, galley, color);
        resp
    }

    /// Whether step mode lets the cards (and tooltips) show this node's value and gradient.
    fn shown(&self, id: NodeId) -> (bool, bool) {
        match self.reveal {
            None => (true, true),
            Some(r) => (r.values.contains(&id), r.grads.contains(&id)),
        }
    }
}

impl Viewer<'_> {
    /// What an input pin takes: its producer, the shape and (when shown) the value that flows
    /// in and the gradient that flows back along the wire.
    fn input_pin_tooltip(
        &self,
        id: NodeId,
        port: usize,
        name: &str,
        src: Option<NodeId>,
        edge_grad: Option<&crate::graph::Array>,
    ) -> String {
        let here = self.graph.node(id).map_or("", |n| n.name.as_str());
        let Some(from) = src.and_then(|s| self.graph.node(s)) else {
            return format!(
                "{name} (input {}) of {here}: nothing is connected.\n\
                 Drag a wire here from an output pin (the right edge of a card).",
                port + 1
            );
        };
        let mut t = format!(
            "{name} of {here} ← {}\nshape {}",
            from.name,
            self.analysis
                .shapes
                .get(&from.id)
                .map_or("unknown (see the diagnostics)".into(), |s| {
                    card::shape_words(s)
                })
        );
        let value = self.eval.and_then(|e| e.nodes.get(&from.id));
        if let (Some(v), true) = (value, self.shown(from.id).0) {
            t += &format!("\nvalue in: {}", card::value_text(&v.value));
        }
        if let (Some(g), true) = (edge_grad, self.shown(from.id).1) {
            t += &format!("\ngradient back along this wire: {}", card::value_text(g));
        }
        t
    }

    /// What leaves a card: its shape, value and the inputs it feeds.
    fn output_pin_tooltip(&self, id: NodeId) -> String {
        let here = self.graph.node(id).map_or("", |n| n.name.as_str());
        let mut t = format!(
            "output of {here}\nshape {}",
            self.analysis
                .shapes
                .get(&id)
                .map_or("unknown (see the diagnostics)".into(), |s| {
                    card::shape_words(s)
                })
        );
        if let (Some(v), true) = (self.eval.and_then(|e| e.nodes.get(&id)), self.shown(id).0) {
            t += &format!("\nvalue: {}", card::value_text(&v.value));
        }
        let feeds: Vec<String> = self
            .graph
            .edges()
            .filter(|e| e.from == id)
            .filter_map(|e| {
                let n = self.graph.node(e.to)?;
                let port = n.op.ports().get(e.port).cloned().unwrap_or_default();
                Some(format!("{} ({port})", n.name))
            })
            .collect();
        if feeds.is_empty() {
            t += "\nfeeds nothing yet: drag from here to an input pin";
        } else {
            t += &format!("\nfeeds {}", feeds.join(", "));
        }
        t
    }
}

/// Body text size of `ui`'s style.
fn style_size(ui: &Ui, style: egui::TextStyle) -> f32 {
    ui.style().text_styles.get(&style).map_or(12.5, |f| f.size)
}

impl SnarlViewer<NodeId> for Viewer<'_> {
    fn title(&mut self, node: &NodeId) -> String {
        self.graph
            .node(*node)
            .map(|n| n.name.clone())
            .unwrap_or_default()
    }

    fn show_header(
        &mut self,
        node: SnarlId,
        _inputs: &[InPin],
        _outputs: &[OutPin],
        ui: &mut Ui,
        snarl: &mut Snarl<NodeId>,
    ) {
        let Some(n) = self.graph.node(snarl[node]) else {
            return;
        };
        let s = n.op.spec();
        let output = self.analysis.output == Some(n.id);
        let title = if output {
            format!("{}  ◎", n.name)
        } else {
            n.name.clone()
        };
        // Labels pass right-clicks through to the card, which opens the node's menu.
        ui.style_mut().interaction.selectable_labels = false;
        let summary = self.summary();
        // Double-click the name to rename in place; Enter keeps it, Esc cancels.
        let rename_id = rename_id(n.id);
        if let Some(mut name) = ui.data_mut(|d| d.get_temp::<String>(rename_id)) {
            let r = ui.add(egui::TextEdit::singleline(&mut name).desired_width(90.0));
            card::select_all_on_focus(ui, &r, &name);
            r.widget_info(|| {
                egui::WidgetInfo::labeled(
                    egui::WidgetType::TextEdit,
                    true,
                    format!("name of {}", n.name),
                )
            });
            if r.lost_focus() {
                if ui.input(|i| i.key_pressed(egui::Key::Enter)) && name != n.name {
                    self.edits.push(Edit::Rename(n.id, name.clone()));
                }
                ui.data_mut(|d| d.remove::<String>(rename_id));
            } else {
                if !r.has_focus() {
                    r.request_focus();
                }
                ui.data_mut(|d| d.insert_temp(rename_id, name));
            }
        } else {
            let body = style_size(ui, egui::TextStyle::Body);
            let r = if summary {
                let color = ui.visuals().strong_text_color();
                self.crisp_label(ui, &title, egui::FontId::proportional(SUMMARY_PX), color)
            } else {
                let size = self.size(body, MIN_VALUE_PX);
                ui.add(egui::Label::new(egui::RichText::new(title).strong().size(size)).extend())
            };
            r.on_hover_text(format!(
                    "{} ({})\n{}\nf: {}\nderivative: {}\nshape: {}{}\n\nDouble-click to rename; right-click for the node's menu.",
                    s.name,
                    s.category.label(),
                    s.summary,
                    s.formula,
                    s.derivative,
                    s.shape_rule,
                    if output {
                        "\n◎ the output: gradients are d(this)/d(node)"
                    } else {
                        ""
                    }
                ));
        }
        if !summary {
            let small = style_size(ui, egui::TextStyle::Small);
            ui.label(
                egui::RichText::new(s.name)
                    .size(self.size(small, MIN_LABEL_PX))
                    .weak(),
            );
        }
    }

    fn inputs(&mut self, node: &NodeId) -> usize {
        self.graph.node(*node).map(|n| n.op.arity()).unwrap_or(0)
    }

    fn outputs(&mut self, _node: &NodeId) -> usize {
        1
    }

    fn show_input(
        &mut self,
        pin: &InPin,
        ui: &mut Ui,
        snarl: &mut Snarl<NodeId>,
    ) -> impl egui_snarl::ui::SnarlPin + 'static {
        let id = snarl[pin.id.node];
        let port = pin.id.input;
        let node = self.graph.node(id);
        let name = node
            .and_then(|n| n.op.ports().get(port).cloned())
            .unwrap_or_default();
        let src = self.graph.input(id, port);
        let edge = src.map(|from| crate::graph::Edge { from, to: id, port });
        let edge_grad = edge.and_then(|e| self.eval.and_then(|ev| ev.edges.get(&e)));
        let summary = self.summary();
        let mut text = name.clone();
        if self.show_wire_grads && !summary && self.shown(id).1 {
            if let Some(g) = edge_grad {
                text = format!("{name} ← {}", card::value_text(g));
            }
        }
        if summary {
            text.clear();
        }
        let body = style_size(ui, egui::TextStyle::Body);
        let rich = egui::RichText::new(text).size(self.size(body, MIN_LABEL_PX));
        ui.style_mut().interaction.selectable_labels = false;
        let r = ui.label(if src.is_none() {
            rich.color(Color32::from_rgb(230, 90, 70))
        } else {
            rich
        });
        let shape = src.and_then(|s| self.analysis.shapes.get(&s));
        let y = r.rect.center().y;
        // Built only while hovered: a big graph has thousands of pins.
        r.on_hover_ui(|ui| {
            ui.label(self.input_pin_tooltip(id, port, &name, src, edge_grad));
        });
        self.pin_rows.insert(PinRef::In(id, port), y);
        let pin = PinInfo::circle().with_fill(rank_color(shape));
        // The wires the current step reads glow in the step colour.
        let stepped = edge.is_some_and(|e| self.reveal.is_some_and(|r| r.edges.contains(&e)));
        if stepped {
            pin.with_wire_color(Color32::from_rgb(255, 170, 30))
        } else {
            pin
        }
    }

    fn show_output(
        &mut self,
        pin: &OutPin,
        ui: &mut Ui,
        snarl: &mut Snarl<NodeId>,
    ) -> impl egui_snarl::ui::SnarlPin + 'static {
        let id = snarl[pin.id.node];
        let shape = self.analysis.shapes.get(&id);
        let text = match (self.summary(), shape) {
            (true, _) => String::new(),
            (false, Some(s)) => card::shape_label(s),
            (false, None) => "?".into(),
        };
        let small = style_size(ui, egui::TextStyle::Small);
        ui.style_mut().interaction.selectable_labels = false;
        let r = ui.label(egui::RichText::new(text).size(self.size(small, MIN_LABEL_PX)));
        let y = r.rect.center().y;
        r.on_hover_ui(|ui| {
            ui.label(self.output_pin_tooltip(id));
        });
        self.pin_rows.insert(PinRef::Out(id), y);
        PinInfo::circle().with_fill(rank_color(shape))
    }

    fn has_body(&mut self, _node: &NodeId) -> bool {
        true
    }

    fn show_body(
        &mut self,
        node: SnarlId,
        _inputs: &[InPin],
        _outputs: &[OutPin],
        ui: &mut Ui,
        snarl: &mut Snarl<NodeId>,
    ) {
        let Some(n) = self.graph.node(snarl[node]) else {
            return;
        };
        let shown = self.shown(n.id);
        let scale = self.scale();
        ui.style_mut().interaction.selectable_labels = false;
        let text = ui
            .vertical(|ui| {
                // Zoomed far out, editors are too small to use or read: the name, value and
                // gradient in type that stays legible.
                if self.summary() {
                    let (value, grad, hover) = card::summary_texts(n, self.eval, shown);
                    let font = egui::FontId::monospace(SUMMARY_PX);
                    let text = ui.visuals().text_color();
                    // The whole numbers, and the formula of the one hovered (when computed).
                    let rows = [
                        (value, text, crate::stepper::Direction::Forward, shown.0),
                        (
                            grad,
                            card::GRAD_COLOR,
                            crate::stepper::Direction::Backward,
                            shown.1,
                        ),
                    ];
                    for (label, color, dir, computed) in rows {
                        let r = self.crisp_label(ui, &label, font.clone(), color);
                        let (graph, analysis, eval) = (self.graph, self.analysis, self.eval);
                        let formulas = &mut *self.formulas;
                        r.on_hover_ui(|ui| {
                            ui.label(&hover);
                            if computed && eval.is_some() {
                                ui.separator();
                                let f = formulas.get(graph, analysis, eval, n.id, dir);
                                let backward = dir == crate::stepper::Direction::Backward;
                                card::formula_ui(ui, f, backward);
                            }
                        });
                    }
                    CardText {
                        value_px: SUMMARY_PX,
                        summary: true,
                    }
                } else {
                    ui.set_max_width(230.0);
                    // Editors grow as the view shrinks, so their numbers stay >= 10 px.
                    let k =
                        (MIN_EDITOR_PX / (style_size(ui, egui::TextStyle::Body) * scale)).max(1.0);
                    for font in ui.style_mut().text_styles.values_mut() {
                        font.size *= k;
                    }
                    card::settings_ui(ui, n, self.edits);
                    let sizes = card::TextSizes {
                        value: self.size(style_size(ui, egui::TextStyle::Monospace), MIN_VALUE_PX),
                        small: self.size(style_size(ui, egui::TextStyle::Small), MIN_LABEL_PX),
                    };
                    let (graph, analysis, eval) = (self.graph, self.analysis, self.eval);
                    let formulas = &mut *self.formulas;
                    card::results_ui(ui, n, analysis, eval, shown, &sizes, &mut |dir| {
                        formulas.get(graph, analysis, eval, n.id, dir).cloned()
                    });
                    CardText {
                        value_px: sizes.value * scale,
                        summary: false,
                    }
                }
            })
            .inner;
        self.cards.insert(n.id, text);
    }

    fn node_frame(
        &mut self,
        default: egui::Frame,
        node: SnarlId,
        _inputs: &[InPin],
        _outputs: &[OutPin],
        snarl: &Snarl<NodeId>,
    ) -> egui::Frame {
        let id = snarl[node];
        let error = self
            .analysis
            .diagnostics_for(id)
            .any(|d| d.severity == Severity::Error);
        let mut frame = default;
        if error {
            frame.stroke = Stroke::new(2.0, Color32::from_rgb(230, 70, 60));
        }
        if self.selection.contains(&id) {
            frame.stroke = Stroke::new(2.5, Color32::from_rgb(90, 170, 255));
        }
        if self.reveal.is_some_and(|r| r.current == Some(id)) {
            frame.stroke = Stroke::new(3.5, Color32::from_rgb(240, 170, 40));
        }
        frame
    }

    fn final_node_rect(
        &mut self,
        node: SnarlId,
        rect: Rect,
        ui: &mut Ui,
        snarl: &mut Snarl<NodeId>,
    ) {
        let id = snarl[node];
        self.node_rects.insert(id, rect);
        let (clicked, pointer) =
            ui.input(|i| (i.pointer.primary_clicked(), i.pointer.interact_pos()));
        let on_screen = *self.to_global * rect;
        if clicked && self.pointer_on_canvas && pointer.is_some_and(|p| on_screen.contains(p)) {
            *self.clicked = Some((id, ui.input(|i| i.modifiers)));
        }
        // A double click on the title bar renames in place (see `show_header`).
        let title_bar = Rect::from_min_size(
            on_screen.min,
            Vec2::new(on_screen.width(), (26.0 * self.scale()).max(20.0)),
        );
        let double = ui.input(|i| {
            i.pointer
                .button_double_clicked(egui::PointerButton::Primary)
        });
        if double && pointer.is_some_and(|p| title_bar.contains(p)) {
            start_rename(ui.ctx(), self.graph, id);
        }
    }

    fn has_graph_menu(&mut self, _pos: Pos2, _snarl: &mut Snarl<NodeId>) -> bool {
        true
    }

    fn show_graph_menu(&mut self, pos: Pos2, ui: &mut Ui, _snarl: &mut Snarl<NodeId>) {
        ui.label(egui::RichText::new("Add node").strong());
        if let Some(pick) = add_node_menu(ui, egui::Id::new("graph-menu-search"), &Filter::All) {
            self.edits.extend(pick.edit([pos.x, pos.y], None, None));
            ui.close();
        }
    }

    fn has_dropped_wire_menu(&mut self, _src: AnyPins, _snarl: &mut Snarl<NodeId>) -> bool {
        true
    }

    fn show_dropped_wire_menu(
        &mut self,
        pos: Pos2,
        ui: &mut Ui,
        src: AnyPins,
        snarl: &mut Snarl<NodeId>,
    ) {
        ui.label(egui::RichText::new("Add and connect").strong());
        let (filter, from, to) = match src {
            AnyPins::Out(pins) => {
                let from = pins.first().map(|p| snarl[p.node]);
                let shape = from.and_then(|id| self.analysis.shapes.get(&id).cloned());
                (Filter::Accepts(shape), from, None)
            }
            AnyPins::In(pins) => (
                Filter::All,
                None,
                pins.first().map(|p| (snarl[p.node], p.input)),
            ),
        };
        if let Some(pick) = add_node_menu(ui, egui::Id::new("wire-menu-search"), &filter) {
            self.edits.extend(pick.edit([pos.x, pos.y], from, to));
            ui.close();
        }
    }

    fn has_node_menu(&mut self, _node: &NodeId) -> bool {
        true
    }

    fn show_node_menu(
        &mut self,
        node: SnarlId,
        _inputs: &[InPin],
        _outputs: &[OutPin],
        ui: &mut Ui,
        snarl: &mut Snarl<NodeId>,
    ) {
        let id = snarl[node];
        let Some(n) = self.graph.node(id) else { return };
        let rename_id = egui::Id::new(("rename", id.0));
        let mut name: String = ui
            .data_mut(|d| d.get_temp(rename_id))
            .unwrap_or_else(|| n.name.clone());
        ui.horizontal(|ui| {
            ui.label("name");
            let r = ui.text_edit_singleline(&mut name);
            ui.data_mut(|d| d.insert_temp(rename_id, name.clone()));
            if r.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter)) && name != n.name {
                self.edits.push(Edit::Rename(id, name.clone()));
                ui.data_mut(|d| d.remove::<String>(rename_id));
                ui.close();
            }
        });
        let is_output = self.graph.output == Some(id);
        if ui
            .button(if is_output {
                "Unset as output"
            } else {
                "Set as output"
            })
            .clicked()
        {
            self.edits
                .push(Edit::SetOutput(if is_output { None } else { Some(id) }));
            ui.close();
        }
        if let Some(edit) = layer_menu_ui(ui, self.graph, self.analysis, id) {
            self.edits.push(edit);
            ui.close();
        }
        if ui.button("Duplicate  (Ctrl+D)").clicked() {
            self.edits.push(Edit::Duplicate(vec![id]));
            ui.close();
        }
        if ui.button("Delete  (Del)").clicked() {
            self.edits.push(Edit::Remove(vec![id]));
            ui.close();
        }
    }

    fn connect(&mut self, from: &OutPin, to: &InPin, snarl: &mut Snarl<NodeId>) {
        self.edits.push(Edit::Connect {
            from: snarl[from.id.node],
            to: snarl[to.id.node],
            port: to.id.input,
        });
    }

    fn disconnect(&mut self, _from: &OutPin, to: &InPin, snarl: &mut Snarl<NodeId>) {
        self.edits.push(Edit::Disconnect {
            to: snarl[to.id.node],
            port: to.id.input,
        });
    }

    fn drop_inputs(&mut self, pin: &InPin, snarl: &mut Snarl<NodeId>) {
        self.edits.push(Edit::Disconnect {
            to: snarl[pin.id.node],
            port: pin.id.input,
        });
    }

    fn drop_outputs(&mut self, pin: &OutPin, snarl: &mut Snarl<NodeId>) {
        for remote in &pin.remotes {
            self.edits.push(Edit::Disconnect {
                to: snarl[remote.node],
                port: remote.input,
            });
        }
    }

    fn current_transform(&mut self, to_global: &mut TSTransform, _snarl: &mut Snarl<NodeId>) {
        // Snarl zooms on Ctrl+wheel by itself, ~1.2x to 1.6x a notch: undone here, the canvas
        // zooms by notches (`Canvas::ui`). A pinch on a touchpad is kept.
        if let Some(prev) = self.previous {
            if !self.pinch && (to_global.scaling - prev.scaling).abs() > 1e-6 {
                *to_global = prev;
            }
        }
        if let Some((pointer, factor)) = self.zoom {
            let new_scale = (to_global.scaling * factor).clamp(MIN_ZOOM, MAX_ZOOM);
            let f = new_scale / to_global.scaling;
            // Keep the graph point under the pointer where it is.
            *to_global = TSTransform::from_translation(pointer.to_vec2())
                * TSTransform::from_scaling(f)
                * TSTransform::from_translation(-pointer.to_vec2())
                * *to_global;
        }
        let fitting = self.fit.is_some();
        let target = match (fitting, self.focus) {
            (true, _) => {
                let bb = self
                    .node_rects
                    .values()
                    .fold(Rect::NOTHING, |a, r| a.union(*r));
                bb.is_positive().then(|| bb.expand(40.0))
            }
            (false, Some(id)) => self.node_rects.get(&id).map(|r| r.expand(300.0)),
            _ => None,
        };
        if let Some(bb) = target {
            let view = self.view;
            let mut s = (view.width() / bb.width())
                .min(view.height() / bb.height())
                .clamp(MIN_ZOOM, 1.5);
            if let Some(crossing) = self.fit.as_deref_mut() {
                let now = to_global.scaling;
                match *crossing {
                    FitCrossing::SettledBelow => s = s.min(SUMMARY_BELOW * 0.99),
                    FitCrossing::Up if s < SUMMARY_BELOW && now >= SUMMARY_BELOW => {
                        *crossing = FitCrossing::SettledBelow;
                    }
                    FitCrossing::None if s >= SUMMARY_BELOW && now < SUMMARY_BELOW => {
                        *crossing = FitCrossing::Up;
                    }
                    _ => {}
                }
            }
            if fitting {
                // Whole percents and whole pixels: a fit lands on the same view however the
                // last frames of measuring rounded (the zoom shown is that percent).
                s = ((s * 100.0).floor() / 100.0).max(MIN_ZOOM);
            }
            let pan = view.center().to_vec2() - bb.center().to_vec2() * s;
            let pan = if fitting { pan.round() } else { pan };
            *to_global = TSTransform::new(pan, s);
        }
        *self.to_global = *to_global;
    }
}
