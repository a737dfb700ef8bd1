//! The searchable add-node menu, grouped as Inputs, Math, Layers, Activations, Losses.

use egui::Ui;

use crate::graph::{Category, Op};

/// Which ops the menu offers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Filter {
    All,
    /// A wire dragged out of an output: only ops with an input to receive it.
    WithInput,
}

/// Shows the menu; returns the op the user picked. `search_id` keeps the typed text.
pub fn add_node_menu(ui: &mut Ui, search_id: egui::Id, filter: Filter) -> Option<Op> {
    let mut search: String = ui.data_mut(|d| d.get_temp(search_id)).unwrap_or_default();
    let resp = ui.add(
        egui::TextEdit::singleline(&mut search)
            .hint_text("search nodes")
            .desired_width(180.0)
            .id(search_id.with("field")),
    );
    if !resp.has_focus()
        && search.is_empty()
        && !ui.data(|d| {
            d.get_temp::<bool>(search_id.with("focused"))
                .unwrap_or(false)
        })
    {
        resp.request_focus();
        ui.data_mut(|d| d.insert_temp(search_id.with("focused"), true));
    }
    ui.data_mut(|d| d.insert_temp(search_id, search.clone()));
    let needle = search.to_lowercase();
    let ops: Vec<Op> = Op::catalogue()
        .into_iter()
        .filter(|op| filter == Filter::All || op.arity() > 0)
        .filter(|op| {
            let s = op.spec();
            needle.is_empty()
                || s.name.to_lowercase().contains(&needle)
                || s.summary.to_lowercase().contains(&needle)
        })
        .collect();
    let mut picked = None;
    // Enter takes the first match, so typing "sig" + Enter adds a Sigmoid.
    if resp.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter)) {
        picked = ops.first().cloned();
    }
    egui::ScrollArea::vertical()
        .max_height(360.0)
        .show(ui, |ui| {
            for cat in Category::ALL {
                let in_cat: Vec<&Op> = ops.iter().filter(|op| op.spec().category == cat).collect();
                if in_cat.is_empty() {
                    continue;
                }
                ui.label(egui::RichText::new(cat.label()).strong().small());
                for op in in_cat {
                    let s = op.spec();
                    if ui
                        .button(s.name)
                        .on_hover_text(format!(
                            "{}\n{}\nderivative: {}",
                            s.summary, s.formula, s.derivative
                        ))
                        .clicked()
                    {
                        picked = Some(op.clone());
                    }
                }
            }
            if ops.is_empty() {
                ui.weak("no node matches");
            }
        });
    if picked.is_some() {
        ui.data_mut(|d| {
            d.remove::<String>(search_id);
            d.remove::<bool>(search_id.with("focused"));
        });
    }
    picked
}
