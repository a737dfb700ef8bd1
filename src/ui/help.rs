//! Help > Keyboard shortcuts and the guided tour of the lecture example, one window with
//! pages. The tour's "Open the lecture example" button returns a command like any menu.

use egui::{RichText, Ui};

use super::command::AppCommand;

/// Keys and what they do (also the README's list).
pub const SHORTCUTS: &[(&str, &str)] = &[
    (
        "Space / Shift+A / right-click",
        "add a node (type to search, Enter takes the first)",
    ),
    (
        "Drag from an output pin",
        "wire it to an input (drop on empty canvas: add a node)",
    ),
    (
        "Click / Ctrl-click / Shift-drag",
        "select / toggle / select a box",
    ),
    ("Delete", "delete the selected nodes"),
    ("Ctrl+D", "duplicate"),
    ("Ctrl+C / Ctrl+V", "copy / paste (as RON text)"),
    ("Ctrl+A", "select all"),
    ("F2 / double-click a title", "rename the selected node"),
    ("Ctrl+Z / Ctrl+Shift+Z, Ctrl+Y", "undo / redo"),
    ("F / Home", "fit the graph to the view"),
    ("Mouse wheel / drag the canvas", "zoom / pan"),
    (
        "Right / Left arrow",
        "step forward / back through the computation",
    ),
    ("End / Esc", "run to the end / leave step mode"),
    ("Ctrl+N / Ctrl+O", "new project / open"),
    ("Ctrl+S / Ctrl+Shift+S", "save / save as"),
    (
        "⛶ on a tab bar",
        "maximize that tile (Restore the tiles: back)",
    ),
    ("F1", "this help"),
];

/// The tour: (title, text). Page 1 offers to open the example.
pub const TOUR: &[(&str, &str)] = &[
    (
        "1. The lecture example",
        "J = 3(a + bc) with a = 5, b = 3, c = 2, as the lecture draws it: every box is a node \
         (a card), every arrow a wire carrying a number from left to right. The inputs a, b \
         and c feed u = b·c, then v = a + u, then J = 3v.",
    ),
    (
        "2. value and grad",
        "Each card shows two numbers. value is what the forward pass computes there \
         (u = 3 · 2 = 6, v = 11, J = 33). grad is dJ/d(node): how much J changes when this \
         node changes by a little, divided by that little. J = 3v gives dJ/dv = 3; v = a + u \
         passes it on, so dJ/da = dJ/du = 3; u = b·c multiplies by the other factor, so \
         dJ/db = 3 · 2 = 6 and dJ/dc = 3 · 3 = 9. Change b on its card and watch every \
         value and gradient follow.",
    ),
    (
        "3. Step through",
        "Press the Right arrow (or ▶ in the Step through bar). Forward steps reveal one \
         value at a time with its computation (u = b * c = 3.0 * 2.0 = 6.0); after J the \
         backward steps reveal each gradient with the chain rule \
         (dJ/db = dJ/du * ∂u/∂b = 3.0 * 2.0 = 6.0). The current node is outlined and the \
         wire carrying the term is highlighted. Left steps back, End runs to the end, Esc \
         leaves step mode.",
    ),
    (
        "4. Quiz yourself",
        "Tick Quiz in the Step through bar: every computed value and gradient stays hidden \
         (u = ?) until you type what you expect and press Enter. Within 1% counts as right; \
         a wrong answer shows the truth. The score counts along. File > Save as exercise… \
         saves a project that opens in quiz mode, asking about the nodes you selected.",
    ),
    (
        "5. Further",
        "✔ Gradient check compares every gradient with finite differences. The examples \
         under File > Open example go on to regression, XOR, a CNN and vanishing gradients; \
         📈 Training binds a dataset and trains the same graph. Tiles can be resized by \
         their borders, moved by their tabs and maximized with ⛶ (View > Reset layout puts \
         them back).",
    ),
];

#[derive(Debug, Default)]
pub struct Help {
    pub open: bool,
    /// 0: shortcuts; 1..: the tour's pages.
    pub page: usize,
}

impl Help {
    pub fn show_page(&mut self, page: usize) {
        self.open = true;
        self.page = page.min(TOUR.len());
    }

    /// The window; returns commands (the tour can open the example).
    pub fn ui(&mut self, ctx: &egui::Context) -> Vec<AppCommand> {
        let mut out = Vec::new();
        if !self.open {
            return out;
        }
        let mut open = true;
        egui::Window::new("Help")
            .open(&mut open)
            .default_width(460.0)
            .max_width(ctx.content_rect().width() * 0.8)
            .collapsible(false)
            .show(ctx, |ui| {
                ui.horizontal_wrapped(|ui| {
                    ui.selectable_value(&mut self.page, 0, "Shortcuts");
                    for (i, (title, _)) in TOUR.iter().enumerate() {
                        let short = title.split_once(". ").map(|(n, _)| n).unwrap_or(title);
                        ui.selectable_value(&mut self.page, i + 1, format!("Tour {short}"));
                    }
                });
                ui.separator();
                egui::ScrollArea::vertical()
                    .max_height(ctx.content_rect().height() * 0.6)
                    .show(ui, |ui| {
                        if self.page == 0 {
                            shortcuts_ui(ui);
                        } else {
                            self.tour_ui(ui, &mut out);
                        }
                    });
            });
        if !open {
            self.open = false;
        }
        out
    }

    fn tour_ui(&mut self, ui: &mut Ui, out: &mut Vec<AppCommand>) {
        let i = self.page.clamp(1, TOUR.len()) - 1;
        let (title, text) = TOUR[i];
        ui.heading(title);
        ui.add(egui::Label::new(text).wrap());
        ui.add_space(8.0);
        ui.horizontal(|ui| {
            if i == 0 && ui.button("Open the lecture example").clicked() {
                out.push(AppCommand::Open(Some(
                    super::examples_dir().join("computational-graph.ron"),
                )));
            }
            if i > 0 && ui.button("◀ Back").clicked() {
                self.page -= 1;
            }
            if i + 1 < TOUR.len() && ui.button("Next ▶").clicked() {
                self.page += 1;
            }
        });
    }
}

fn shortcuts_ui(ui: &mut Ui) {
    egui::Grid::new("shortcuts")
        .striped(true)
        .num_columns(2)
        .show(ui, |ui| {
            for (keys, what) in SHORTCUTS {
                ui.label(RichText::new(*keys).monospace());
                ui.add(egui::Label::new(*what).wrap());
                ui.end_row();
            }
        });
}
