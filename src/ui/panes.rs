//! Drawing the tiles: `Panes` is the `egui_tiles::Behavior` that puts each pane's panel
//! into its tile (and over the whole area when one is maximized). It borrows what the panels
//! need for one frame and collects their `Edit`s and `AppCommand`s.

use std::collections::{BTreeMap, BTreeSet};

use egui::Ui;
use egui_tiles::{Behavior, TileId, Tiles, UiResponse};

use crate::analysis::Analysis;
use crate::exec::Evaluation;
use crate::graph::NodeId;

use super::command::AppCommand;
use super::document::{Document, Edit};
use super::editor::canvas::Canvas;
use super::layout::{Drawn, Layout, Pane};
use super::panels::{InspectorView, inspector_ui};
use super::stepping::Stepping;
use super::training::{TrainingContext, TrainingPanel};

/// One frame's borrow of everything the panes draw.
pub struct Panes<'a> {
    pub doc: &'a Document,
    pub analysis: &'a Analysis,
    pub eval: Option<&'a Evaluation>,
    pub canvas: &'a mut Canvas,
    pub stepping: &'a mut Stepping,
    pub training: &'a mut TrainingPanel,
    pub selection: BTreeSet<NodeId>,
    pub edits: &'a mut Vec<Edit>,
    pub commands: &'a mut Vec<AppCommand>,
    pub drawn: BTreeMap<Pane, Drawn>,
    /// A tab was clicked this frame.
    pub tab_selected: bool,
}

fn training_context<'b>(
    doc: &'b Document,
    analysis: &'b Analysis,
    selection: &BTreeSet<NodeId>,
) -> TrainingContext<'b> {
    TrainingContext {
        graph: doc.graph(),
        analysis,
        config: doc.project().training.as_ref(),
        base: doc.folder(),
        revision: doc.semantic_revision(),
        selected: (selection.len() == 1)
            .then(|| selection.first().copied())
            .flatten(),
    }
}

impl Panes<'_> {
    /// One pane's content in `ui` (its tile). Everything but the canvas gets a margin and
    /// scrolls inside the tile, so nothing can widen it.
    pub fn pane_content(&mut self, ui: &mut Ui, pane: Pane) {
        let tile = ui.max_rect();
        if pane == Pane::Canvas {
            let reveal = self.stepping.reveal();
            self.canvas.ui(
                ui,
                self.doc,
                self.analysis,
                self.eval,
                reveal.as_ref(),
                self.edits,
            );
        } else {
            egui::Frame::NONE
                .inner_margin(egui::Margin::symmetric(8, 6))
                .show(ui, |ui| self.panel_ui(ui, pane));
        }
        let content = ui.min_rect();
        self.drawn.insert(pane, Drawn { tile, content });
    }

    fn panel_ui(&mut self, ui: &mut Ui, pane: Pane) {
        ui.set_min_size(ui.available_size());
        match pane {
            Pane::Canvas => {}
            Pane::Inspector => {
                let reveal = self.stepping.reveal();
                let view = InspectorView {
                    graph: self.doc.graph(),
                    description: &self.doc.project().description,
                    analysis: self.analysis,
                    eval: self.eval,
                    selection: &self.selection,
                    reveal: reveal.as_ref(),
                };
                scrolled(ui, "inspector-scroll", |ui| inspector_ui(ui, &view));
            }
            Pane::Steps => {
                scrolled(ui, "steps-scroll", |ui| self.stepping.panel_ui(ui));
            }
            Pane::Training => {
                let cx = training_context(self.doc, self.analysis, &self.selection);
                self.commands.extend(self.training.settings_pane(ui, &cx));
            }
            Pane::Curves => {
                if self.doc.project().training.is_none() {
                    ui.weak("Choose a dataset in the Training tile first.");
                } else {
                    // Vertically only: the plots take the tile's width.
                    egui::ScrollArea::vertical()
                        .id_salt("curves-scroll")
                        .auto_shrink([false, false])
                        .min_scrolled_height(0.0)
                        .show(ui, |ui| self.training.curves_pane(ui));
                }
            }
            p => {
                let Some(view) = p.view() else { return };
                let cx = training_context(self.doc, self.analysis, &self.selection);
                let out = scrolled(ui, "view-scroll", |ui| {
                    self.training.view_pane(ui, view, &cx)
                });
                self.commands.extend(out);
            }
        }
    }
}

/// Content that may be larger than its tile scrolls inside it (both ways).
fn scrolled<R>(ui: &mut Ui, id: &str, add: impl FnOnce(&mut Ui) -> R) -> R {
    egui::ScrollArea::both()
        .id_salt(id)
        .auto_shrink([false, false])
        .min_scrolled_height(0.0)
        .min_scrolled_width(0.0)
        .show(ui, add)
        .inner
}

impl Behavior<Pane> for Panes<'_> {
    fn pane_ui(&mut self, ui: &mut Ui, _tile_id: TileId, pane: &mut Pane) -> UiResponse {
        self.pane_content(ui, *pane);
        UiResponse::None
    }

    fn tab_title_for_pane(&mut self, pane: &Pane) -> egui::WidgetText {
        pane.title().into()
    }

    fn top_bar_right_ui(
        &mut self,
        tiles: &Tiles<Pane>,
        ui: &mut Ui,
        _tile_id: TileId,
        tabs: &egui_tiles::Tabs,
        _scroll_offset: &mut f32,
    ) {
        let Some(pane) = tabs.active.and_then(|id| tiles.get_pane(&id)).copied() else {
            return;
        };
        let label = format!("Maximize {}", pane.title());
        let r = ui.small_button("⛶").on_hover_text(format!(
            "{label}: show only it (Restore the tiles brings the rest back)"
        ));
        r.widget_info(|| egui::WidgetInfo::labeled(egui::WidgetType::Button, true, &label));
        if r.clicked() {
            self.commands.push(AppCommand::Maximize(Some(pane)));
        }
    }

    fn tab_title_spacing(&self, _visuals: &egui::Visuals) -> f32 {
        6.0
    }

    fn gap_width(&self, _style: &egui::Style) -> f32 {
        2.0
    }

    /// No tile shrinks below this by dragging a divider.
    fn min_size(&self) -> f32 {
        60.0
    }

    fn simplification_options(&self) -> egui_tiles::SimplificationOptions {
        super::layout::simplification()
    }

    fn on_edit(&mut self, edit_action: egui_tiles::EditAction) {
        if edit_action == egui_tiles::EditAction::TabSelected {
            self.tab_selected = true;
        }
    }
}

/// Draws the layout into `ui` (all of its space): the tiles, or the maximized pane with a
/// bar to restore the tiles.
pub fn layout_ui(ui: &mut Ui, layout: &mut Layout, panes: &mut Panes<'_>) {
    panes.drawn.clear();
    if let Some(pane) = layout.maximized {
        ui.horizontal(|ui| {
            ui.strong(pane.title());
            if ui
                .small_button("Restore the tiles")
                .on_hover_text("Show every tile again")
                .clicked()
            {
                panes.commands.push(AppCommand::Maximize(None));
            }
        });
        let rect = ui.available_rect_before_wrap();
        let mut child = ui.new_child(egui::UiBuilder::new().max_rect(rect).id_salt(pane));
        child.set_clip_rect(rect);
        panes.pane_content(&mut child, pane);
    } else {
        layout.tree.ui(panes, ui);
    }
    layout.drawn = std::mem::take(&mut panes.drawn);
}
