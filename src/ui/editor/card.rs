//! What a node card shows inside: settings editors, the value editor of inputs, the
//! per-sample shape, the live value and gradient, and the node's diagnostics.

use egui::{Color32, RichText, Ui};

use crate::analysis::{Analysis, Severity};
use crate::exec::Evaluation;
use crate::graph::ops::Padding;
use crate::graph::{Array, Init, Node, Op, fmt_number, fmt_shape};

use crate::graph::{Graph, NodeId};
use crate::stepper::{Direction, backward_step, entries_summary, forward_step};
use crate::ui::document::Edit;
use std::collections::BTreeMap;

/// Largest tensor shown element by element on a card; bigger ones get min/mean/max.
const SHOW_ALL: usize = 8;

pub fn value_text(a: &Array) -> String {
    if a.shape().is_empty() {
        return fmt_number(a.data()[0]);
    }
    if a.len() <= SHOW_ALL {
        let items: Vec<String> = a.data().iter().map(|v| fmt_number(*v)).collect();
        return format!("[{}]", items.join(", "));
    }
    let (min, mean, max) = a.min_mean_max();
    format!(
        "min {} mean {} max {}",
        fmt_number(min),
        fmt_number(mean),
        fmt_number(max)
    )
}

/// "scalar", "[3]", "[2, 3]".
pub fn shape_label(shape: &[usize]) -> String {
    if shape.is_empty() {
        "scalar".into()
    } else {
        fmt_shape(shape)
    }
}

/// A shape in words, for tooltips: "[2, 3]: a matrix, 2 rows of 3".
pub fn shape_words(shape: &[usize]) -> String {
    match shape {
        [] => "scalar: one number".into(),
        [n] => format!("[{n}]: a vector of {n}"),
        [r, c] => format!("[{r}, {c}]: a matrix, {r} rows of {c}"),
        [ch, h, w] => format!("[{ch}, {h}, {w}]: {ch} channel(s) of {h} x {w}"),
        _ => fmt_shape(shape),
    }
}

/// A number in at most about 7 characters that always keeps its decimal point ("7.0",
/// "0.123", "-1.5e-5"), for the large-type summary of a card.
pub fn short_number(v: f64) -> String {
    short_number_digits(v, 3)
}

/// `short_number` with `digits` significant digits (2 or 3).
fn short_number_digits(v: f64, digits: i32) -> String {
    if !v.is_finite() {
        return format!("{v}");
    }
    let v = if v == 0.0 { 0.0 } else { v };
    let a = v.abs();
    if a == 0.0 || (1e-3..1e5).contains(&a) {
        // `digits` significant digits, at least one decimal.
        let mag = if a == 0.0 {
            0
        } else {
            a.log10().floor() as i32
        };
        let decimals = (digits - 1 - mag).clamp(1, 4) as usize;
        let s = format!("{v:.decimals$}");
        let s = s.trim_end_matches('0');
        if s.ends_with('.') {
            format!("{s}0")
        } else {
            s.to_string()
        }
    } else {
        format!("{v:.1e}")
    }
}

/// A value in a few characters: the number of a scalar, the mean (μ) of a tensor.
pub fn summary_text(a: &Array) -> String {
    match a.data() {
        [v] => short_number(*v),
        // "μ" marks the mean of a tensor; two significant digits keep the card narrow.
        _ => format!("μ{}", short_number_digits(a.min_mean_max().1, 2)),
    }
}

/// Sizes (graph units) of a card's text: the canvas keeps them legible on screen.
pub struct TextSizes {
    /// Value and gradient.
    pub value: f32,
    /// Shape, owned tensors and diagnostics.
    pub small: f32,
}

/// Grad colour on cards (the value is in the text colour).
pub const GRAD_COLOR: Color32 = Color32::from_rgb(200, 120, 40);

/// Text a person can type for a value: `5`, `1, 2, 3`, or rows split by `;`.
pub fn editable_text(a: &Array) -> String {
    let join = |xs: &[f64]| {
        xs.iter()
            .map(|v| fmt_number(*v))
            .collect::<Vec<_>>()
            .join(", ")
    };
    match a.shape() {
        [] => fmt_number(a.data()[0]),
        [_] => join(a.data()),
        [_, cols] => a
            .data()
            .chunks((*cols).max(1))
            .map(join)
            .collect::<Vec<_>>()
            .join("; "),
        _ => join(a.data()),
    }
}

/// Parses `editable_text`'s format back: rows split by `;` make a matrix.
pub fn parse_value(text: &str) -> Result<Array, String> {
    let rows: Vec<&str> = text
        .split(';')
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .collect();
    if rows.len() <= 1 {
        return Array::parse_list(rows.first().copied().unwrap_or(""));
    }
    let mut data = Vec::new();
    let mut cols = None;
    for r in &rows {
        let row = Array::parse_list(r)?;
        if *cols.get_or_insert(row.len()) != row.len() {
            return Err("every row needs the same number of values".into());
        }
        data.extend_from_slice(row.data());
    }
    Array::new(vec![rows.len(), cols.unwrap_or(0)], data)
}

/// Gives a widget an accessible name ("k of scale1"), so screen readers and tests find it.
fn named(resp: egui::Response, name: String) -> egui::Response {
    resp.widget_info(|| egui::WidgetInfo::labeled(egui::WidgetType::DragValue, true, name.clone()));
    resp
}

fn f64_setting(ui: &mut Ui, node: &str, label: &str, v: &mut f64, speed: f64) -> bool {
    ui.horizontal(|ui| {
        ui.label(label);
        named(
            ui.add(egui::DragValue::new(v).speed(speed).max_decimals(6)),
            format!("{label} of {node}"),
        )
        .changed()
    })
    .inner
}

fn init_setting(ui: &mut Ui, id: egui::Id, init: &mut Init) -> bool {
    let mut changed = false;
    ui.horizontal(|ui| {
        ui.label("init");
        egui::ComboBox::from_id_salt(id)
            .selected_text(format!("{init:?}"))
            .show_ui(ui, |ui| {
                for choice in [
                    Init::Zeros,
                    Init::Constant { value: 0.1 },
                    Init::Uniform {
                        low: -1.0,
                        high: 1.0,
                    },
                    Init::Normal {
                        mean: 0.0,
                        std: 1.0,
                    },
                    Init::XavierUniform,
                    Init::XavierNormal,
                    Init::HeUniform,
                    Init::HeNormal,
                ] {
                    let same = std::mem::discriminant(&choice) == std::mem::discriminant(init);
                    let label = format!("{choice:?}")
                        .split([' ', '{'])
                        .next()
                        .unwrap_or("")
                        .to_string();
                    if ui.selectable_label(same, label).clicked() && !same {
                        *init = choice;
                        changed = true;
                    }
                }
            });
    });
    changed
}

fn axis_setting(ui: &mut Ui, id: egui::Id, axis: &mut Option<i64>) -> bool {
    let mut changed = false;
    ui.horizontal(|ui| {
        ui.label("axis");
        let text = axis.map(|a| a.to_string()).unwrap_or_else(|| "all".into());
        egui::ComboBox::from_id_salt(id)
            .selected_text(text)
            .show_ui(ui, |ui| {
                for choice in [None, Some(0), Some(1), Some(2), Some(-1)] {
                    let label = choice
                        .map(|a: i64| a.to_string())
                        .unwrap_or_else(|| "all".into());
                    if ui.selectable_label(*axis == choice, label).clicked() && *axis != choice {
                        *axis = choice;
                        changed = true;
                    }
                }
            });
    });
    changed
}

/// A text field that keeps what is being typed until it parses.
fn text_setting(
    ui: &mut Ui,
    id: egui::Id,
    label: &str,
    name: String,
    current: String,
    hint: &str,
) -> Option<String> {
    ui.horizontal(|ui| {
        ui.label(label);
        let mut buf = ui
            .data_mut(|d| d.get_temp::<String>(id))
            .unwrap_or_else(|| current.clone());
        let resp = ui.add(
            egui::TextEdit::singleline(&mut buf)
                .desired_width(110.0)
                .hint_text(hint)
                .id(id.with("edit")),
        );
        resp.widget_info(|| {
            egui::WidgetInfo::labeled(egui::WidgetType::TextEdit, true, name.clone())
        });
        select_all_on_focus(ui, &resp, &buf);
        if resp.has_focus() || resp.lost_focus() {
            ui.data_mut(|d| d.insert_temp(id, buf.clone()));
        }
        if !resp.has_focus() && !resp.lost_focus() {
            ui.data_mut(|d| d.remove::<String>(id));
        }
        (resp.changed() || resp.lost_focus()).then_some(buf)
    })
    .inner
}

/// A field that gains focus (a click, Tab, a screen reader) selects its text, so typing
/// `3` into "0.0" gives 3, not "0.03".
pub fn select_all_on_focus(ui: &Ui, resp: &egui::Response, text: &str) {
    if !resp.gained_focus() {
        return;
    }
    if let Some(mut state) = egui::TextEdit::load_state(ui.ctx(), resp.id) {
        state
            .cursor
            .set_char_range(Some(egui::text::CCursorRange::two(
                egui::text::CCursor::default(),
                egui::text::CCursor::new(text.chars().count()),
            )));
        state.store(ui.ctx(), resp.id);
    }
}

/// A whole-number setting with a label (accessible as "NAME of NODE").
fn usize_setting(ui: &mut Ui, node: &str, name: &str, v: &mut usize, lo: usize, hi: usize) -> bool {
    ui.label(name);
    named(
        ui.add(
            egui::DragValue::new(v)
                .range(lo..=hi)
                .clamp_existing_to_range(false),
        ),
        format!("{name} of {node}"),
    )
    .changed()
}

/// Settings of the op and, for inputs, the value. Emits edits; never changes the graph.
pub fn settings_ui(ui: &mut Ui, node: &Node, edits: &mut Vec<Edit>) {
    let id = ui.id().with(("settings", node.id.0));
    let mut op = node.op.clone();
    let changed = match &mut op {
        Op::Pow { exponent } => f64_setting(ui, &node.name, "p", exponent, 0.1),
        Op::Scale { factor } => f64_setting(ui, &node.name, "k", factor, 0.1),
        Op::LeakyReLU { alpha } => f64_setting(ui, &node.name, "alpha", alpha, 0.01),
        Op::PReLU { init_alpha } => f64_setting(ui, &node.name, "alpha0", init_alpha, 0.01),
        Op::Sum { axis } | Op::Mean { axis } => axis_setting(ui, id.with("axis"), axis),
        Op::Parameter { init } => init_setting(ui, id.with("init"), init),
        Op::Dense { units, init } => {
            let a = ui
                .horizontal(|ui| {
                    ui.label("units");
                    named(
                        ui.add(
                            egui::DragValue::new(units)
                                .range(1..=1_000_000)
                                .clamp_existing_to_range(false),
                        ),
                        format!("units of {}", node.name),
                    )
                    .changed()
                })
                .inner;
            init_setting(ui, id.with("init"), init) || a
        }
        Op::Conv2d {
            filters,
            kernel,
            stride,
            padding,
            bias,
            init,
        } => {
            // Two short rows rather than one wide one: the card stays narrow.
            let a = ui
                .horizontal(|ui| {
                    let mut c = usize_setting(ui, &node.name, "filters", filters, 1, 4096);
                    c |= usize_setting(ui, &node.name, "kernel", kernel, 1, 64);
                    c | ui.checkbox(bias, "bias").changed()
                })
                .inner;
            let b = ui
                .horizontal(|ui| {
                    let mut c = usize_setting(ui, &node.name, "stride", stride, 1, 64);
                    ui.label("padding");
                    egui::ComboBox::from_id_salt(id.with("padding"))
                        .selected_text(match padding {
                            Padding::Valid => "valid".to_string(),
                            Padding::Same => "same".to_string(),
                            Padding::Explicit(p) => p.to_string(),
                        })
                        .width(60.0)
                        .show_ui(ui, |ui| {
                            c |= ui
                                .selectable_value(padding, Padding::Valid, "valid")
                                .changed();
                            c |= ui
                                .selectable_value(padding, Padding::Same, "same")
                                .changed();
                            for p in 1..=3 {
                                c |= ui
                                    .selectable_value(padding, Padding::Explicit(p), p.to_string())
                                    .changed();
                            }
                        });
                    c
                })
                .inner;
            init_setting(ui, id.with("init"), init) || a || b
        }
        Op::MaxPool2d { kernel, stride } | Op::AvgPool2d { kernel, stride } => {
            ui.horizontal(|ui| {
                let c = usize_setting(ui, &node.name, "kernel", kernel, 1, 64);
                c | usize_setting(ui, &node.name, "stride", stride, 1, 64)
            })
            .inner
        }
        Op::Dropout { p } => f64_setting(ui, &node.name, "p", p, 0.01),
        Op::BatchNorm { momentum } => f64_setting(ui, &node.name, "momentum", momentum, 0.01),
        Op::Concat { inputs, axis } => {
            ui.horizontal(|ui| {
                ui.label("inputs");
                let a = ui
                    .add(
                        egui::DragValue::new(inputs)
                            .range(2..=8)
                            .clamp_existing_to_range(false),
                    )
                    .changed();
                ui.label("axis");
                a | ui
                    .add(
                        egui::DragValue::new(axis)
                            .range(-3..=2)
                            .clamp_existing_to_range(false),
                    )
                    .changed()
            })
            .inner
        }
        Op::Reshape { shape } => {
            let current = shape
                .iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join(", ");
            match text_setting(
                ui,
                id.with("reshape"),
                "shape",
                format!("shape of {}", node.name),
                current.clone(),
                "3, -1",
            ) {
                Some(text) if text != current => {
                    let parsed: Result<Vec<i64>, _> =
                        text.split(',').map(|s| s.trim().parse::<i64>()).collect();
                    match parsed {
                        Ok(v) if !v.is_empty() => {
                            *shape = v;
                            true
                        }
                        _ => false,
                    }
                }
                _ => false,
            }
        }
        _ => false,
    };
    if changed {
        edits.push(Edit::SetOp(node.id, op));
    }
    if node.op.is_source() {
        value_editor(ui, node, edits);
    }
}

fn value_editor(ui: &mut Ui, node: &Node, edits: &mut Vec<Edit>) {
    let current = node.value().cloned().unwrap_or_else(|| Array::scalar(0.0));
    if current.shape().is_empty() {
        let mut v = current.data()[0];
        let resp = ui
            .horizontal(|ui| {
                ui.label("drag");
                named(
                    ui.add(egui::DragValue::new(&mut v).speed(0.1).max_decimals(6)),
                    format!("value of {}", node.name),
                )
            })
            .inner
            .on_hover_text("Drag to change the value and watch every gradient follow");
        if resp.changed() {
            edits.push(Edit::SetTensor(node.id, "value".into(), Array::scalar(v)));
        }
    }
    if current.shape().len() > 2 {
        // Typing would lose the shape: 3-D values come from the file (or a dataset).
        ui.weak(format!(
            "{} value: edit it in the .ron file",
            fmt_shape(current.shape())
        ));
        return;
    }
    let id = ui.id().with(("value-text", node.id.0));
    let text = editable_text(&current);
    if let Some(typed) = text_setting(
        ui,
        id,
        "set",
        format!("values of {}", node.name),
        text.clone(),
        "5 or 1, 2 or 1, 2; 3, 4",
    ) {
        if typed != text {
            match parse_value(&typed) {
                Ok(v) if v != current => edits.push(Edit::SetTensor(node.id, "value".into(), v)),
                Ok(_) => {}
                Err(e) => {
                    ui.colored_label(Color32::from_rgb(220, 80, 60), e);
                }
            }
        }
    }
}

/// The node's value and gradient as card text; "—" where there is none, "?" where step
/// mode has not computed it yet (`shown` = value, gradient).
fn value_and_grad(node: &Node, eval: Option<&Evaluation>, shown: (bool, bool)) -> (String, String) {
    let ev = eval.and_then(|e| e.nodes.get(&node.id));
    let value = ev
        .map(|e| value_text(&e.value))
        .unwrap_or_else(|| "—".into());
    let grad = ev
        .and_then(|e| e.grad.as_ref())
        .map(value_text)
        .unwrap_or_else(|| "—".into());
    let hide = |text: String, show: bool| if show { text } else { "?".into() };
    (hide(value, shown.0), hide(grad, shown.1))
}

/// A card seen from far away: its value and gradient in a few characters, and the whole
/// numbers for a tooltip.
pub fn summary_texts(
    node: &Node,
    eval: Option<&Evaluation>,
    shown: (bool, bool),
) -> (String, String, String) {
    let ev = eval.and_then(|e| e.nodes.get(&node.id));
    let short = |a: Option<&Array>, show: bool| match (a, show) {
        (_, false) => "?".to_string(),
        (Some(a), true) => summary_text(a),
        (None, true) => "—".to_string(),
    };
    let value = short(ev.map(|e| &e.value), shown.0);
    let grad = short(ev.and_then(|e| e.grad.as_ref()), shown.1);
    let (full_value, full_grad) = value_and_grad(node, eval, shown);
    let hover = format!("value {full_value}\ngrad  {full_grad}\n\nZoom in to edit.");
    (value, grad, hover)
}

/// A card's formula with its numbers in: the stepper's text of the node's step, and for a
/// tensor its shape and first entries (the step's text only summarises it).
#[derive(Clone, Debug, PartialEq)]
pub struct Formula {
    pub text: String,
    pub entries: Option<String>,
}

/// Entries of a tensor a tooltip lists.
const TOOLTIP_ENTRIES: usize = 6;

/// The formulas the cards' tooltips show, worked out when first hovered (a backward step
/// runs its local derivative) and kept until the document changes.
#[derive(Debug, Default)]
pub struct Formulas {
    revision: u64,
    texts: BTreeMap<(NodeId, bool), Option<Formula>>,
}

impl Formulas {
    /// Forgets everything when the document is no longer at `revision`.
    pub fn keep_for(&mut self, revision: u64) {
        if self.revision != revision {
            self.texts.clear();
            self.revision = revision;
        }
    }

    /// The node's forward (value) or backward (gradient) formula; `None` where it has none.
    pub fn get(
        &mut self,
        graph: &Graph,
        analysis: &Analysis,
        eval: Option<&Evaluation>,
        id: NodeId,
        direction: Direction,
    ) -> Option<&Formula> {
        let backward = direction == Direction::Backward;
        self.texts
            .entry((id, backward))
            .or_insert_with(|| {
                let eval = eval?;
                let step = if backward {
                    backward_step(graph, analysis, eval, id)?
                } else {
                    forward_step(graph, analysis, eval, id)?
                };
                let n = eval.nodes.get(&id)?;
                let shown = if backward { n.grad.as_ref()? } else { &n.value };
                Some(Formula {
                    text: step.text,
                    entries: (!shown.shape().is_empty())
                        .then(|| entries_summary(shown, TOOLTIP_ENTRIES)),
                })
            })
            .as_ref()
    }
}

/// A formula's tooltip: the step's text, the tensor's entries, what the numbers mean.
pub fn formula_ui(ui: &mut Ui, formula: Option<&Formula>, backward: bool) {
    match formula {
        Some(f) => {
            ui.label(RichText::new(&f.text).monospace());
            if let Some(e) = &f.entries {
                ui.label(RichText::new(e).monospace().weak());
            }
            ui.weak(if backward {
                "The chain rule with the numbers in, as the backward step computes it"
            } else {
                "The node's formula with the numbers in, as the forward step computes it"
            });
        }
        None => {
            ui.weak(if backward {
                "No gradient reaches this node from the output"
            } else {
                "Not evaluated: see the node's diagnostics"
            });
        }
    }
}

/// Shape, `value | grad`, owned tensors and diagnostics. Hovering the value or the gradient
/// shows its formula with the numbers in (`formula`).
pub fn results_ui(
    ui: &mut Ui,
    node: &Node,
    analysis: &Analysis,
    eval: Option<&Evaluation>,
    shown: (bool, bool),
    sizes: &TextSizes,
    formula: &mut dyn FnMut(Direction) -> Option<Formula>,
) {
    let mono = |s: String| RichText::new(s).monospace().size(sizes.value);
    let shape = analysis
        .shapes
        .get(&node.id)
        .map(|s| shape_label(s))
        .unwrap_or_else(|| "?".into());
    let params = analysis
        .param_counts
        .get(&node.id)
        .map(|p| format!("  ({p} params)"))
        .unwrap_or_default();
    ui.label(
        RichText::new(format!("shape {shape}{params}"))
            .size(sizes.small)
            .weak(),
    );
    let (value, grad) = value_and_grad(node, eval, shown);
    let r = ui.label(mono(format!("value {value}")));
    if shown.0 && eval.is_some() {
        r.on_hover_ui(|ui| formula_ui(ui, formula(Direction::Forward).as_ref(), false));
    }
    let r = ui.label(mono(format!("grad  {grad}")).color(GRAD_COLOR));
    if shown.1 && eval.is_some() {
        r.on_hover_ui(|ui| formula_ui(ui, formula(Direction::Backward).as_ref(), true));
    }
    if let Some(ev) = eval.and_then(|e| e.nodes.get(&node.id)) {
        for (key, t) in ev.tensors.iter().filter(|(k, _)| k.as_str() != "value") {
            let g = t
                .grad
                .as_ref()
                .map(value_text)
                .unwrap_or_else(|| "—".into());
            ui.label(
                RichText::new(format!("{key} {}", value_text(&t.value)))
                    .monospace()
                    .size(sizes.small),
            )
            .on_hover_text(format!(
                "{key} {}: value and gradient\ngrad {g}",
                fmt_shape(t.value.shape())
            ));
        }
    }
    for d in analysis.diagnostics_for(node.id).chain(
        eval.into_iter()
            .flat_map(|e| e.diagnostics.iter().filter(|d| d.node == Some(node.id))),
    ) {
        let color = match d.severity {
            Severity::Error => Color32::from_rgb(230, 70, 60),
            Severity::Warning => Color32::from_rgb(220, 170, 40),
            Severity::Info => ui.visuals().weak_text_color(),
        };
        ui.add(egui::Label::new(RichText::new(&d.message).color(color).size(sizes.small)).wrap());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn value_text_round_trips() {
        for a in [
            Array::scalar(2.5),
            Array::vector(vec![1.0, -2.0]),
            Array::new(vec![2, 2], vec![1.0, 2.0, 3.0, 4.0]).unwrap(),
        ] {
            assert_eq!(parse_value(&editable_text(&a)).unwrap(), a);
        }
        assert!(parse_value("1, 2; 3").unwrap_err().contains("same number"));
        assert_eq!(
            value_text(&Array::zeros(vec![20])),
            "min 0.0 mean 0.0 max 0.0"
        );
    }

    #[test]
    fn short_numbers_keep_their_decimal_point() {
        for (v, want) in [
            (7.0, "7.0"),
            (0.0, "0.0"),
            (-0.0, "0.0"),
            (33.0, "33.0"),
            (0.123456, "0.123"),
            (-2.5, "-2.5"),
            (1234.5678, "1234.6"),
            (0.001234, "0.0012"),
            (0.00001234, "1.2e-5"),
            (123456.0, "1.2e5"),
            (f64::NAN, "NaN"),
        ] {
            assert_eq!(short_number(v), want, "{v}");
        }
        for v in [3.0, 1e-9, 12345.0, -0.5] {
            let s = short_number(v);
            assert!(s.contains('.') && s.len() <= 7, "{v}: {s}");
        }
        assert_eq!(summary_text(&Array::scalar(6.0)), "6.0");
        assert_eq!(summary_text(&Array::vector(vec![1.0, 2.0, 6.0])), "μ3.0");
        assert_eq!(
            summary_text(&Array::vector(vec![-0.0626, -0.0626])),
            "μ-0.063"
        );
    }
}
