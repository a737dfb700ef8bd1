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

use crate::ui::editor::canvas::PinRef;
use crate::ui::editor::card;
use crate::ui::document::Edit;
use crate::ui::editor::menus::{Filter, add_node_menu};
use crate::ui::stepping::Reveal;

/// Below this zoom, cards drop their editors and show only value and gradient.
const LOD_SCALE: f32 = 0.45;

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
    s.min_scale = Some(0.1);
    s.max_scale = Some(2.0);
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
    pub(super) node_rects: &'a mut BTreeMap<NodeId, Rect>,
    pub(super) pin_rows: &'a mut BTreeMap<PinRef, f32>,
    pub(super) view: Rect,
    pub(super) fit: bool,
    pub(super) focus: Option<NodeId>,
    pub(super) zoom: Option<(Pos2, f32)>,
    pub(super) to_global: &'a mut TSTransform,
    pub(super) show_wire_grads: bool,
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
        // Double-click the name to rename in place; Enter keeps it, Esc cancels.
        let rename_id = rename_id(n.id);
        if let Some(mut name) = ui.data_mut(|d| d.get_temp::<String>(rename_id)) {
            let r = ui.add(egui::TextEdit::singleline(&mut name).desired_width(90.0));
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
            ui.label(egui::RichText::new(title).strong())
                .on_hover_text(format!(
                    "{} ({})\n{}\nf: {}\nderivative: {}\nshape: {}{}\n\nDouble-click to rename.",
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
        ui.label(egui::RichText::new(s.name).small().weak());
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
        let ports = self
            .graph
            .node(id)
            .map(|n| n.op.ports())
            .unwrap_or_default();
        let pin_port = pin.id.input;
        let name = ports.get(pin_port).cloned().unwrap_or_default();
        let src = self.graph.input(id, pin.id.input);
        let mut text = name.clone();
        if self.show_wire_grads {
            if let (Some(src), Some(ev)) = (src, self.eval) {
                if let Some(g) = ev.edges.get(&crate::graph::Edge {
                    from: src,
                    to: id,
                    port: pin.id.input,
                }) {
                    text = format!("{name} ← {}", card::value_text(g));
                }
            }
        }
        let missing = src.is_none();
        let r = ui.label(if missing {
            egui::RichText::new(text).color(Color32::from_rgb(230, 90, 70))
        } else {
            egui::RichText::new(text)
        });
        self.pin_rows
            .insert(PinRef::In(id, pin.id.input), r.rect.center().y);
        let shape = src.and_then(|s| self.analysis.shapes.get(&s));
        let pin = PinInfo::circle().with_fill(rank_color(shape));
        // The wires the current step reads glow in the step colour.
        let stepped = src.is_some_and(|from| {
            self.reveal.is_some_and(|r| {
                r.edges.contains(&crate::graph::Edge {
                    from,
                    to: id,
                    port: pin_port,
                })
            })
        });
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
        let r = ui.label(
            egui::RichText::new(
                shape
                    .map(|s| card::shape_label(s))
                    .unwrap_or_else(|| "?".into()),
            )
            .small(),
        );
        self.pin_rows.insert(PinRef::Out(id), r.rect.center().y);
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
        let shown = match self.reveal {
            None => (true, true),
            Some(r) => (r.values.contains(&n.id), r.grads.contains(&n.id)),
        };
        ui.vertical(|ui| {
            ui.set_max_width(230.0);
            // Zoomed far out, editors are too small to use or read: show the numbers only.
            if self.to_global.scaling >= LOD_SCALE {
                card::settings_ui(ui, n, self.edits);
                card::results_ui(ui, n, self.analysis, self.eval, shown);
            } else {
                card::compact_results_ui(ui, n, self.eval, shown);
            }
        });
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
        if clicked && pointer.is_some_and(|p| on_screen.contains(p)) {
            *self.clicked = Some((id, ui.input(|i| i.modifiers)));
        }
        // A double click on the title bar renames in place (see `show_header`).
        let title_bar = Rect::from_min_size(
            on_screen.min,
            Vec2::new(on_screen.width(), 26.0 * self.to_global.scaling),
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
        if let Some((pointer, factor)) = self.zoom {
            let new_scale = (to_global.scaling * factor).clamp(0.1, 2.0);
            let f = new_scale / to_global.scaling;
            // Keep the graph point under the pointer where it is.
            *to_global = TSTransform::from_translation(pointer.to_vec2())
                * TSTransform::from_scaling(f)
                * TSTransform::from_translation(-pointer.to_vec2())
                * *to_global;
        }
        let target = match (self.fit, self.focus) {
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
            let s = (view.width() / bb.width())
                .min(view.height() / bb.height())
                .clamp(0.1, 1.5);
            *to_global = TSTransform::new(view.center().to_vec2() - bb.center().to_vec2() * s, s);
        }
        *self.to_global = *to_global;
    }
}
