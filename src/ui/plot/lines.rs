//! Many lines in one plot, told apart: a colour per layer depth (red for the first layers
//! to violet for the last), a line style and shade per network when the graph holds several
//! (vanishing-gradients.ron: a sigmoid net `s_*` beside a ReLU net `r_*`), and a legend
//! drawn above the plot, where it covers no data. Clicking a legend entry hides its line.

use std::collections::BTreeSet;

use egui::{Color32, Sense, Stroke, Ui, vec2};
use egui_plot::LineStyle;

/// How one line is drawn.
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    pub name: String,
    pub color: Color32,
    pub style: LineStyle,
    pub width: f32,
    /// The network it belongs to (the name prefix before `_`), when there are several.
    pub network: Option<String>,
}

impl Series {
    pub fn new(name: impl Into<String>, color: Color32) -> Self {
        Self {
            name: name.into(),
            color,
            style: LineStyle::Solid,
            width: 2.0,
            network: None,
        }
    }

    pub fn style(mut self, style: LineStyle) -> Self {
        self.style = style;
        self
    }

    pub fn width(mut self, width: f32) -> Self {
        self.width = width;
        self
    }
}

/// The network of a node name: what comes before its first `_` ("s_d2" -> "s").
fn network_of(node: &str) -> Option<&str> {
    node.split_once('_')
        .map(|(net, _)| net)
        .filter(|n| !n.is_empty())
}

/// Line styles of the networks, in order of appearance.
const NETWORK_STYLES: [LineStyle; 3] = [
    LineStyle::Solid,
    LineStyle::Dashed { length: 8.0 },
    LineStyle::Dotted { spacing: 5.0 },
];

/// Styles for parameter tensors labelled `node.key` (in the order training reports them,
/// which is the graph's evaluation order, so first means nearest the input). The networks
/// are told apart when at least two name prefixes (`s_`, `r_`) have two layers or more;
/// within a network, depth sets the hue; a bias shares its layer's colour, thinner.
pub fn param_series(labels: &[String]) -> Vec<Series> {
    let node_of = |l: &String| l.rsplit_once('.').map_or(l.clone(), |(n, _)| n.to_string());
    // Networks by prefix, each with its layers (nodes) in order.
    let mut networks: Vec<(Option<String>, Vec<String>)> = Vec::new();
    for l in labels {
        let node = node_of(l);
        let net = network_of(&node).map(str::to_string);
        let i = match networks.iter().position(|(n, _)| *n == net) {
            Some(i) => i,
            None => {
                networks.push((net, Vec::new()));
                networks.len() - 1
            }
        };
        if !networks[i].1.contains(&node) {
            networks[i].1.push(node);
        }
    }
    let several = networks
        .iter()
        .filter(|(_, layers)| layers.len() >= 2)
        .count()
        >= 2;
    // With one network, every layer counts in one depth order.
    let all_layers: Vec<String> = networks.iter().flat_map(|(_, l)| l.clone()).collect();
    labels
        .iter()
        .map(|l| {
            let node = node_of(l);
            let (net_index, layers) = if several {
                let i = networks
                    .iter()
                    .position(|(_, layers)| layers.contains(&node))
                    .unwrap_or(0);
                (i, &networks[i].1)
            } else {
                (0, &all_layers)
            };
            let depth = layers.iter().position(|n| *n == node).unwrap_or(0);
            let hue = 0.8 * depth as f32 / (layers.len().max(2) - 1) as f32;
            // Later networks: paler and brighter, so no two lines share a colour.
            let (s, v) = match net_index % 3 {
                0 => (0.8, 0.8),
                1 => (0.6, 1.0),
                _ => (0.7, 0.6),
            };
            let color: Color32 = egui::ecolor::HsvaGamma {
                h: hue,
                s,
                v,
                a: 1.0,
            }
            .into();
            let bias = l.ends_with(".bias") || l.ends_with(".beta");
            Series {
                name: l.clone(),
                color,
                style: NETWORK_STYLES[net_index % NETWORK_STYLES.len()],
                width: if bias { 1.0 } else { 2.0 },
                network: several.then(|| {
                    networks[net_index]
                        .0
                        .clone()
                        .unwrap_or_else(|| "other".into())
                }),
            }
        })
        .collect()
}

/// A short line in the series' colour and style, `width` points long.
fn swatch(ui: &mut Ui, s: &Series, dimmed: bool) -> egui::Response {
    let (rect, resp) = ui.allocate_exact_size(vec2(26.0, 12.0), Sense::hover());
    let color = if dimmed {
        s.color.gamma_multiply(0.25)
    } else {
        s.color
    };
    let stroke = Stroke::new(s.width.max(1.5), color);
    let (a, b) = (rect.left_center(), rect.right_center());
    let painter = ui.painter_at(rect);
    match s.style {
        LineStyle::Solid => {
            painter.line_segment([a, b], stroke);
        }
        LineStyle::Dashed { .. } => {
            painter.extend(egui::Shape::dashed_line(&[a, b], stroke, 6.0, 3.0));
        }
        LineStyle::Dotted { .. } => {
            painter.extend(egui::Shape::dotted_line(&[a, b], color, 4.0, 1.2));
        }
    }
    resp
}

/// The legend above a plot: one entry per series (grouped by network when there are
/// several); a click hides or shows a line. Returns the hidden names (kept in egui's memory
/// under `id`).
pub fn legend_ui(ui: &mut Ui, id: &str, series: &[Series]) -> BTreeSet<String> {
    let key = egui::Id::new(("plot-legend-hidden", id));
    let mut hidden: BTreeSet<String> = ui.data_mut(|d| d.get_temp(key)).unwrap_or_default();
    let mut toggled = None;
    let mut entry = |ui: &mut Ui, s: &Series, label: &str| {
        // An entry is a row of its own (swatch and label): a wrapping layout cannot wrap
        // inside it, so it starts a new line itself when it would not fit.
        let font = egui::TextStyle::Small.resolve(ui.style());
        let text_w = ui
            .painter()
            .layout_no_wrap(label.to_string(), font, Color32::WHITE)
            .size()
            .x;
        let width = 26.0 + 3.0 + text_w;
        if width > ui.available_size_before_wrap().x
            && ui.cursor().min.x > ui.max_rect().left() + 1.0
        {
            ui.end_row();
        }
        let off = hidden.contains(&s.name);
        let r = ui
            .horizontal(|ui| {
                ui.spacing_mut().item_spacing.x = 3.0;
                swatch(ui, s, off);
                let text = egui::RichText::new(label).small();
                ui.add(
                    egui::Label::new(if off {
                        text.weak().strikethrough()
                    } else {
                        text
                    })
                    .selectable(false),
                )
            })
            .response
            .interact(Sense::click());
        if r.on_hover_text(format!("{}: click to hide or show", s.name))
            .clicked()
        {
            toggled = Some(s.name.clone());
        }
    };
    let networks: Vec<Option<&String>> = series.iter().fold(Vec::new(), |mut v, s| {
        if !v.contains(&s.network.as_ref()) {
            v.push(s.network.as_ref());
        }
        v
    });
    for net in &networks {
        ui.horizontal_wrapped(|ui| {
            if let Some(n) = net {
                ui.label(egui::RichText::new(format!("{n}_")).small().strong());
            }
            for s in series.iter().filter(|s| s.network.as_ref() == *net) {
                // Within a network row the prefix is already said.
                // ... and a weight is its layer ("d2"; a bias stays "d2.bias").
                let short = match net {
                    Some(n) => s.name.strip_prefix(&format!("{n}_")).unwrap_or(&s.name),
                    None => &s.name,
                };
                let short = short.strip_suffix(".weight").unwrap_or(short);
                entry(ui, s, short);
            }
        });
    }
    if let Some(name) = toggled {
        if !hidden.remove(&name) {
            hidden.insert(name);
        }
        ui.data_mut(|d| d.insert_temp(key, hidden.clone()));
    }
    hidden
}

/// Where a plot will be once there is something to plot: a framed box of `height` saying so.
pub fn empty_plot_ui(ui: &mut Ui, height: f32, what: &str) {
    let (rect, _) = ui.allocate_exact_size(vec2(ui.available_width(), height), Sense::hover());
    ui.painter().rect_stroke(
        rect.shrink(1.0),
        3.0,
        Stroke::new(1.0, ui.visuals().weak_text_color().gamma_multiply(0.5)),
        egui::StrokeKind::Inside,
    );
    ui.put(
        rect.shrink(8.0),
        egui::Label::new(egui::RichText::new(what).weak()).wrap(),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    /// The labels of vanishing-gradients.ron: two nets of seven Dense layers each.
    fn two_nets() -> Vec<String> {
        let mut v = Vec::new();
        for net in ["s", "r"] {
            for layer in ["d1", "d2", "d3", "d4", "d5", "d6", "out"] {
                v.push(format!("{net}_{layer}.weight"));
            }
        }
        v
    }

    fn distance(a: Color32, b: Color32) -> i32 {
        (a.r() as i32 - b.r() as i32).abs()
            + (a.g() as i32 - b.g() as i32).abs()
            + (a.b() as i32 - b.b() as i32).abs()
    }

    #[test]
    fn fourteen_layers_of_two_networks_get_fourteen_colours_and_two_styles() {
        let s = param_series(&two_nets());
        assert_eq!(s.len(), 14);
        for i in 0..s.len() {
            for j in i + 1..s.len() {
                assert!(
                    distance(s[i].color, s[j].color) >= 45,
                    "{} and {} look alike: {:?} {:?}",
                    s[i].name,
                    s[j].name,
                    s[i].color,
                    s[j].color
                );
            }
        }
        // s_d2 and r_d2 (both yellow before): same depth, so a related hue, but another
        // colour and another line style.
        let (s_d2, r_d2) = (&s[1], &s[8]);
        assert_ne!(s_d2.color, r_d2.color);
        assert_ne!(s_d2.style, r_d2.style);
        assert_eq!(s_d2.network.as_deref(), Some("s"));
        assert_eq!(r_d2.network.as_deref(), Some("r"));
        // Depth reads as hue: the first layer red, the last violet.
        let hue = |c: Color32| egui::ecolor::Hsva::from(c).h;
        let first = hue(s[0].color);
        assert!(!(0.05..=0.95).contains(&first) && hue(s[6].color) > 0.7);
    }

    #[test]
    fn one_network_is_one_style_and_biases_follow_their_layer() {
        let s = param_series(&labels(&[
            "dense1.weight",
            "dense1.bias",
            "dense2.weight",
            "dense2.bias",
            "out_layer.weight",
        ]));
        assert!(
            s.iter()
                .all(|x| x.network.is_none() && x.style == LineStyle::Solid)
        );
        assert_eq!(s[0].color, s[1].color, "a bias in its layer's colour");
        assert!(s[1].width < s[0].width, "thinner");
        assert_ne!(s[0].color, s[2].color);
        assert_ne!(s[2].color, s[4].color);
    }
}
