//! The searchable add-node menu, grouped as Inputs, Math, Layers, Activations, Losses.

use egui::Ui;

use crate::graph::{Category, Op, Shape};

/// Which ops the menu offers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Filter {
    All,
    /// A wire dragged out of an output: only ops with an input that takes a value of this
    /// shape (any shape when the producer has none yet).
    Accepts(Option<Shape>),
}

impl Filter {
    fn admits(&self, op: &Op) -> bool {
        match self {
            Filter::All => true,
            Filter::Accepts(_) if op.arity() == 0 => false,
            Filter::Accepts(None) => true,
            // The other inputs are assumed to match, as a student would wire them.
            Filter::Accepts(Some(shape)) => op
                .infer_shape(&vec![shape.as_slice(); op.arity()], None)
                .is_ok(),
        }
    }
}

/// What the add-node menu gives back.
#[derive(Clone, Debug, PartialEq)]
pub enum Pick {
    Op(Op),
    /// A block of wired nodes (`graph::templates`).
    Template(&'static str),
}

impl Pick {
    /// The edit that adds it at `pos` (canvas coordinates).
    pub fn edit(
        self,
        pos: [f32; 2],
        from: Option<crate::graph::NodeId>,
        to: Option<(crate::graph::NodeId, usize)>,
    ) -> Option<crate::ui::document::Edit> {
        match self {
            Pick::Op(op) => Some(crate::ui::document::Edit::AddNode { op, pos, from, to }),
            Pick::Template(name) => {
                let graph = crate::graph::templates::build(name)?;
                let text = crate::project::Project::from_graph(graph).to_ron().ok()?;
                Some(crate::ui::document::Edit::Paste { text, offset: pos })
            }
        }
    }
}

/// Shows the menu; returns what the user picked. `search_id` keeps the typed text.
pub fn add_node_menu(ui: &mut Ui, search_id: egui::Id, filter: &Filter) -> Option<Pick> {
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
        .filter(|op| filter.admits(op))
        .filter(|op| {
            let s = op.spec();
            needle.is_empty()
                || s.name.to_lowercase().contains(&needle)
                || s.summary.to_lowercase().contains(&needle)
        })
        .collect();
    let templates: Vec<(&'static str, &'static str)> = if *filter == Filter::All {
        crate::graph::templates::TEMPLATES
            .into_iter()
            .filter(|(name, what)| {
                needle.is_empty()
                    || name.to_lowercase().contains(&needle)
                    || what.to_lowercase().contains(&needle)
            })
            .collect()
    } else {
        Vec::new()
    };
    let mut picked = None;
    // Enter takes the first match, so typing "sig" + Enter adds a Sigmoid.
    if resp.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter)) {
        picked = ops
            .first()
            .cloned()
            .map(Pick::Op)
            .or_else(|| templates.first().map(|(n, _)| Pick::Template(n)));
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
                        picked = Some(Pick::Op(op.clone()));
                    }
                }
            }
            if !templates.is_empty() {
                ui.label(egui::RichText::new("Templates").strong().small());
                for (name, what) in &templates {
                    if ui.button(*name).on_hover_text(*what).clicked() {
                        picked = Some(Pick::Template(name));
                    }
                }
            }
            if ops.is_empty() && templates.is_empty() {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dropped_wire_offers_only_ops_that_take_the_value() {
        let scalar = Filter::Accepts(Some(vec![]));
        assert!(scalar.admits(&Op::Sigmoid));
        assert!(
            !scalar.admits(&Op::Softmax),
            "softmax of a scalar is refused"
        );
        assert!(!scalar.admits(&Op::MatMul));
        assert!(!scalar.admits(&Op::Input));
        let matrix = Filter::Accepts(Some(vec![2, 3]));
        assert!(
            !matrix.admits(&Op::Dense {
                units: 4,
                init: crate::graph::Init::Zeros
            }),
            "Dense needs a vector"
        );
        assert!(matrix.admits(&Op::Flatten));
        assert!(Filter::All.admits(&Op::Input));
    }
}
