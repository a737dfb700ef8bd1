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

/// One entry of the menu.
#[derive(Clone, Debug)]
pub struct Match {
    pub name: &'static str,
    pub pick: Pick,
    /// `None` for a template.
    pub category: Option<Category>,
    pub hover: String,
}

/// How well `needle` (lowercase) matches a name and its description: 0 the name itself,
/// 1 the start of the name, 2 inside the name, 3 the description; `None`: no match.
fn rank(needle: &str, name: &str, description: &str) -> Option<u8> {
    let name = name.to_lowercase();
    if needle.is_empty() || name == needle {
        Some(0)
    } else if name.starts_with(needle) {
        Some(1)
    } else if name.contains(needle) {
        Some(2)
    } else if description.to_lowercase().contains(needle) {
        Some(3)
    } else {
        None
    }
}

/// The ops and templates matching `search`, best first: the exact name, then names that
/// start with it, names that contain it, descriptions that mention it (catalogue order
/// within each). Empty search: everything in catalogue order.
pub fn search_matches(search: &str, filter: &Filter) -> Vec<Match> {
    let needle = search.trim().to_lowercase();
    let ops = Op::catalogue()
        .into_iter()
        .filter(|op| filter.admits(op))
        .filter_map(|op| {
            let s = op.spec();
            let r = rank(&needle, s.name, s.summary)?;
            Some((
                r,
                Match {
                    name: s.name,
                    category: Some(s.category),
                    hover: format!("{}\n{}\nderivative: {}", s.summary, s.formula, s.derivative),
                    pick: Pick::Op(op),
                },
            ))
        });
    let templates = crate::graph::templates::TEMPLATES
        .into_iter()
        .filter(|_| *filter == Filter::All)
        .filter_map(|(name, what)| {
            Some((
                rank(&needle, name, what)?,
                Match {
                    name,
                    category: None,
                    hover: what.to_string(),
                    pick: Pick::Template(name),
                },
            ))
        });
    let mut all: Vec<(u8, Match)> = ops.chain(templates).collect();
    // A stable sort keeps the catalogue order within a rank.
    all.sort_by_key(|(r, _)| *r);
    all.into_iter().map(|(_, m)| m).collect()
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
    let found = search_matches(&search, filter);
    let mut picked = None;
    // Enter takes the first match, so typing "sig" + Enter adds a Sigmoid.
    if resp.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter)) {
        picked = found.first().map(|m| m.pick.clone());
    }
    egui::ScrollArea::vertical()
        .max_height(360.0)
        .show(ui, |ui| {
            let mut button = |ui: &mut Ui, m: &Match| {
                if ui.button(m.name).on_hover_text(&m.hover).clicked() {
                    picked = Some(m.pick.clone());
                }
            };
            if search.trim().is_empty() {
                // Nothing typed: every node by category, then the templates.
                for cat in Category::ALL {
                    let in_cat: Vec<&Match> =
                        found.iter().filter(|m| m.category == Some(cat)).collect();
                    if in_cat.is_empty() {
                        continue;
                    }
                    ui.label(egui::RichText::new(cat.label()).strong().small());
                    for m in in_cat {
                        button(ui, m);
                    }
                }
                let templates: Vec<&Match> =
                    found.iter().filter(|m| m.category.is_none()).collect();
                if !templates.is_empty() {
                    ui.label(egui::RichText::new("Templates").strong().small());
                    for m in templates {
                        button(ui, m);
                    }
                }
            } else {
                // Typed: best matches first, in the order Enter would take them.
                for m in &found {
                    button(ui, m);
                }
            }
            if found.is_empty() {
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

/// The node menu's "Expand into neurons" (a Dense or Conv2d layer) or "Collapse into
/// layer" (any node of an expanded layer). The item is disabled, with the reason on hover,
/// when the layer cannot open (too big, no input yet, a Conv2d) or no longer collapses.
pub fn layer_menu_ui(
    ui: &mut Ui,
    graph: &crate::graph::Graph,
    analysis: &crate::analysis::Analysis,
    id: crate::graph::NodeId,
) -> Option<crate::ui::document::Edit> {
    use crate::graph::expand;
    use crate::ui::document::Edit;
    let node = graph.node(id)?;
    if let Some(layer) = expand::group_of(graph, id) {
        let name = graph.node(layer).map(|n| n.name.as_str()).unwrap_or("?");
        let check = expand::check_collapse(graph, layer);
        let button = ui.add_enabled(check.is_ok(), egui::Button::new("Collapse into layer"));
        let button = match &check {
            Ok(()) => button.on_hover_text(format!(
                "Turn these neurons back into the Dense layer `{name}`, with the weights they hold now"
            )),
            Err(why) => button.on_disabled_hover_text(why),
        };
        return button.clicked().then_some(Edit::CollapseLayer(layer));
    }
    if !matches!(node.op, Op::Dense { .. } | Op::Conv2d { .. }) {
        return None;
    }
    let input_shape = graph.input(id, 0).and_then(|x| analysis.shapes.get(&x));
    let check = expand::check_expand(graph, id, input_shape.map(Vec::as_slice));
    let button = ui.add_enabled(check.is_ok(), egui::Button::new("Expand into neurons"));
    let button = match &check {
        Ok(()) => button.on_hover_text(
            "Show this layer as its neurons: one weighted sum plus bias per unit, with the same weights",
        ),
        Err(why) => button.on_disabled_hover_text(why),
    };
    if button.clicked() {
        return Some(Edit::ExpandLayer {
            layer: id,
            input_shape: input_shape.cloned()?,
        });
    }
    None
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

    fn names(search: &str) -> Vec<&'static str> {
        search_matches(search, &Filter::All)
            .iter()
            .map(|m| m.name)
            .collect()
    }

    #[test]
    fn search_ranks_the_name_before_the_description() {
        // "inp" is in Concat's, Conv2d's, Step's and LeakyReLU's summaries ("inputs").
        let inp = names("inp");
        assert_eq!(inp[0], "Input", "{inp:?}");
        assert!(inp.contains(&"Concat") && inp.contains(&"Step"), "{inp:?}");
        // An exact name first, then the names starting with it.
        let relu = names("relu");
        assert_eq!(relu[0], "ReLU", "{relu:?}");
        assert_eq!(relu[1], "LeakyReLU", "{relu:?}");
        assert_eq!(names("Sig")[0], "Sigmoid");
        assert_eq!(names("conv")[0], "Conv2d");
        assert_eq!(names("  mse ")[0], "MSE");
        assert!(names("zzz").is_empty());
        // Nothing typed: the catalogue order, templates last.
        let all = names("");
        assert_eq!(all[0], "Input");
        assert_eq!(
            all.len(),
            Op::catalogue().len() + crate::graph::templates::TEMPLATES.len()
        );
    }
}
