//! The training dashboard: loss and accuracy curves (log scale, smoothing, the previous run
//! in grey), and one view at a time of the decision boundary or fitted curve, activation
//! histograms over time, weight and gradient histograms, gradient norms per layer, the
//! confusion matrix with misclassified images, and the data. Everything is drawn from the
//! worker's `Snapshot`s; nothing here computes with burn.

use egui::{Color32, Rect, Sense, Ui, pos2, vec2};
use egui_plot::{Bar, BarChart, Line, Plot, PlotImage, PlotPoint, PlotPoints, Points};

use crate::data::Dataset;
use crate::graph::{Graph, NodeId, fmt_number};
use crate::project::training::TrainingConfig;
use crate::train::compare::RunSettings;
use crate::train::stats::Histogram;
use crate::train::timeline::{Frame, Timeline};
use crate::train::{EpochMetrics, Snapshot};

use crate::ui::plot::classes::class_color;
use crate::ui::plot::lines::{Series, empty_plot_ui, legend_ui, param_series};

/// Columns kept in the over-time views (older ones are thinned out, not dropped).
const HISTORY: usize = 120;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum View {
    Boundary,
    Activations,
    Weights,
    GradNorms,
    Confusion,
    Data,
}

impl View {
    pub const ALL: [View; 6] = [
        View::Boundary,
        View::Activations,
        View::Weights,
        View::GradNorms,
        View::Confusion,
        View::Data,
    ];

    pub fn label(self) -> &'static str {
        match self {
            View::Boundary => "Boundary / fit",
            View::Activations => "Activations",
            View::Weights => "Weights & grads",
            View::GradNorms => "Gradient norms",
            View::Confusion => "Confusion",
            View::Data => "Data",
        }
    }
}

/// One run's curves and snapshots, its timeline and what it was trained with.
#[derive(Clone, Default)]
pub struct Run {
    /// Numbers the runs of a session (the cards' evaluation of a scrubbed frame keys on it).
    pub id: u64,
    /// (step, mini-batch loss).
    pub batch_loss: Vec<[f64; 2]>,
    pub epochs: Vec<EpochMetrics>,
    pub latest: Option<Snapshot>,
    /// (step, every activation histogram), thinned to `HISTORY`.
    pub activations: Vec<(usize, Vec<(NodeId, String, Histogram)>)>,
    /// (step, gradient norm per parameter).
    pub grad_norms: Vec<(usize, Vec<f64>)>,
    pub param_labels: Vec<String>,
    /// The weights (and snapshots) at chosen epochs.
    pub timeline: Timeline,
    /// The timeline frame shown instead of the present (None: live).
    pub scrub: Option<usize>,
    /// The graph this run trained (its weights at the start) and its settings.
    pub graph: Option<Graph>,
    pub config: Option<TrainingConfig>,
    pub settings: Option<RunSettings>,
    /// Reopened from the project file: its frames have weights but no snapshots.
    pub reopened: bool,
    /// The boundary image of the latest snapshot (kept alive while it is drawn).
    boundary_texture: Option<(usize, egui::TextureHandle)>,
    /// The small boundary image of the compare view.
    thumb_texture: Option<(usize, egui::TextureHandle)>,
}

impl Run {
    pub fn push_snapshot(&mut self, s: Snapshot) {
        if self.activations.last().is_none_or(|(st, _)| *st != s.step) {
            self.activations.push((s.step, s.activations.clone()));
            self.grad_norms
                .push((s.step, s.params.iter().map(|p| p.grad_norm).collect()));
            if self.activations.len() > HISTORY {
                thin(&mut self.activations);
            }
            if self.grad_norms.len() > 4 * HISTORY {
                thin(&mut self.grad_norms);
            }
        }
        self.param_labels = s.params.iter().map(|p| p.label.clone()).collect();
        self.latest = Some(s);
    }

    /// The timeline frame being shown, when the user scrubbed back.
    pub fn scrubbed(&self) -> Option<&Frame> {
        self.scrub.and_then(|k| self.timeline.frames().get(k))
    }

    /// The snapshot the views draw: the scrubbed frame's, else the latest.
    pub fn shown(&self) -> Option<&Snapshot> {
        match self.scrubbed() {
            Some(f) => f.snapshot.as_ref(),
            None => self.latest.as_ref(),
        }
    }

    /// The last step the over-time views draw up to (the scrubbed frame's step).
    fn shown_step(&self) -> usize {
        self.scrubbed().map_or(usize::MAX, |f| f.step)
    }

    /// Something was trained (or reopened) in this run.
    pub fn has_data(&self) -> bool {
        !self.epochs.is_empty() || !self.batch_loss.is_empty() || !self.timeline.is_empty()
    }
}

/// Keeps every other entry (and always the last).
fn thin<X>(v: &mut Vec<X>) {
    let last = v.pop();
    let mut i = 0;
    v.retain(|_| {
        i += 1;
        i % 2 == 1
    });
    v.extend(last);
}

/// The curve options.
#[derive(Clone, Debug)]
pub struct CurveOptions {
    pub log: bool,
    /// Exponential moving average of the batch loss, 0 (none) to 0.99.
    pub smoothing: f64,
    pub by_epoch: bool,
}

impl Default for CurveOptions {
    fn default() -> Self {
        Self {
            log: false,
            smoothing: 0.6,
            by_epoch: false,
        }
    }
}

/// Exponential moving average, TensorBoard's smoothing.
pub fn smooth(points: &[[f64; 2]], weight: f64) -> Vec<[f64; 2]> {
    let w = weight.clamp(0.0, 0.999);
    let mut acc = None;
    points
        .iter()
        .map(|&[x, y]| {
            let v = match acc {
                None => y,
                Some(a) => w * a + (1.0 - w) * y,
            };
            acc = Some(v);
            [x, v]
        })
        .collect()
}

/// The curve and point under the pointer, for hover labels with exact values.
fn near<'a>(h: &egui_plot::HoverPosition<'a>) -> Option<(&'a str, PlotPoint)> {
    match h {
        egui_plot::HoverPosition::NearDataPoint {
            plot_name,
            position,
            ..
        } => Some((plot_name, *position)),
        egui_plot::HoverPosition::Elsewhere { .. } => None,
    }
}

fn ylog(v: f64, log: bool) -> f64 {
    if log { v.max(1e-12).log10() } else { v }
}

/// The largest side of a run's boundary picture beside the compare table.
pub const THUMB_MAX: f32 = 120.0;

/// The current run's colour: its loss curve, and beside other runs all its lines and its
/// swatch in the runs table.
pub const THIS_RUN: Color32 = Color32::from_rgb(80, 140, 255);

/// Colours of the compared runs (the current run is `THIS_RUN`).
pub fn run_color(k: usize) -> Color32 {
    const PALETTE: [Color32; 6] = [
        Color32::from_rgb(200, 120, 220),
        Color32::from_rgb(90, 200, 200),
        Color32::from_rgb(230, 200, 70),
        Color32::from_rgb(240, 110, 110),
        Color32::from_rgb(150, 200, 90),
        Color32::from_rgb(170, 170, 170),
    ];
    PALETTE[k % PALETTE.len()]
}

/// The names of `others` then `run` by the settings that differ between them (unique:
/// runs with the same settings are numbered).
pub fn run_names(run: &Run, others: &[Run]) -> (Vec<&'static str>, Vec<String>) {
    let all: Vec<&Run> = others.iter().chain(std::iter::once(run)).collect();
    let settings: Vec<&RunSettings> = all.iter().filter_map(|r| r.settings.as_ref()).collect();
    let keys = crate::train::compare::differing(&settings);
    let mut names: Vec<String> = Vec::new();
    for (k, r) in all.iter().enumerate() {
        let base = match &r.settings {
            Some(st) => crate::train::compare::run_name(st, &keys, k + 1),
            None => format!("run {}", k + 1),
        };
        let name = if names.contains(&base) {
            format!("{base} (run {})", k + 1)
        } else {
            base
        };
        names.push(name);
    }
    (keys, names)
}

/// Loss and accuracy against step or epoch, the earlier runs overlaid in their colours.
/// Returns whether "PNG…" was clicked.
pub fn curves_ui(ui: &mut Ui, run: &Run, others: &[Run], opt: &mut CurveOptions) -> bool {
    let png = ui
        .horizontal_wrapped(|ui| {
            ui.checkbox(&mut opt.log, "log scale");
            ui.checkbox(&mut opt.by_epoch, "by epoch");
            ui.label("smoothing");
            ui.add(egui::Slider::new(&mut opt.smoothing, 0.0..=0.99).fixed_decimals(2));
            ui.small_button("PNG…")
                .on_hover_text("Save the curves as a PNG image")
                .clicked()
        })
        .inner;
    let by_epoch = opt.by_epoch;
    let x_of = move |m: &EpochMetrics| {
        if by_epoch {
            m.epoch as f64
        } else {
            m.step as f64
        }
    };
    let epoch_pts =
        |r: &Run, f: &dyn Fn(&EpochMetrics) -> Option<f64>, log: bool| -> Vec<[f64; 2]> {
            r.epochs
                .iter()
                .filter_map(|m| f(m).map(|v| [x_of(m), ylog(v, log)]))
                .collect()
        };
    let log = opt.log;
    let steps_per_epoch = run
        .epochs
        .first()
        .map(|m| m.step.max(1) as f64 / m.epoch.max(1) as f64)
        .unwrap_or(1.0);
    let batch: Vec<[f64; 2]> = smooth(&run.batch_loss, opt.smoothing)
        .into_iter()
        .map(|[s, l]| {
            let x = if opt.by_epoch { s / steps_per_epoch } else { s };
            [x, ylog(l, log)]
        })
        .collect();
    let classification = run
        .epochs
        .iter()
        .chain(others.iter().flat_map(|r| &r.epochs))
        .any(|m| m.train.accuracy.is_some());
    let xlabel = if opt.by_epoch { "epoch" } else { "step" };
    // Before the first step there is nothing to scale an axis to: say so instead of an
    // empty -0.5..0.5 frame.
    if run.batch_loss.is_empty() && run.epochs.is_empty() && others.is_empty() {
        empty_plot_ui(
            ui,
            ui.available_height().clamp(60.0, 160.0),
            "Loss: no data yet. Press ▶ Train or ⏭ Step and the curves appear here.",
        );
        return png;
    }
    let fmt_y = move |v: f64| {
        if log {
            fmt_number(10f64.powf(v))
        } else {
            fmt_number(v)
        }
    };
    // With earlier runs, every run's curve is named by the settings that differ.
    let (_, names) = run_names(run, others);
    let this = names.last().cloned().unwrap_or_default();
    let compare = !others.is_empty();
    let (loss_name, val_name) = if compare {
        (this.clone(), format!("{this} (val)"))
    } else {
        ("loss".to_string(), "val loss".to_string())
    };
    let mut loss_series = Vec::new();
    let mut loss_points: Vec<Vec<[f64; 2]>> = Vec::new();
    for (k, r) in others.iter().enumerate() {
        loss_series.push(Series::new(&names[k], run_color(k)).width(1.5));
        loss_points.push(epoch_pts(r, &|m| Some(m.train.loss), log));
        if r.epochs.iter().any(|m| m.val.is_some()) {
            let mut s = Series::new(&format!("{} (val)", names[k]), run_color(k)).width(1.0);
            s.style = egui_plot::LineStyle::dashed_loose();
            loss_series.push(s);
            loss_points.push(epoch_pts(r, &|m| m.val.map(|v| v.loss), log));
        }
    }
    loss_series.extend([
        Series::new(
            "batch loss",
            Color32::from_rgba_unmultiplied(100, 150, 255, 120),
        )
        .width(1.0),
        Series::new(&loss_name, THIS_RUN),
        if compare {
            // Beside other runs, each run keeps one colour: its validation loss dashed.
            let mut s = Series::new(&val_name, THIS_RUN).width(1.0);
            s.style = egui_plot::LineStyle::dashed_loose();
            s
        } else {
            Series::new(&val_name, Color32::from_rgb(255, 150, 60))
        },
    ]);
    loss_points.extend([
        batch,
        epoch_pts(run, &|m| Some(m.train.loss), log),
        epoch_pts(run, &|m| m.val.map(|v| v.loss), log),
    ]);
    // The legends sit above their plots, where they cover no curve.
    let hidden = legend_ui(ui, "loss-plot", &loss_series);

    // With earlier runs the compare table goes below: the plots leave it some room.
    // Under the table, the runs' decision boundaries side by side (when there are some).
    let boundaries = std::iter::once(run)
        .chain(others.iter())
        .any(|r| r.latest.as_ref().is_some_and(|s| s.boundary.is_some()));
    let thumbs = if boundaries { 24.0 + THUMB_MAX } else { 0.0 };
    let room = if compare {
        (ui.available_height() * 0.5).min(60.0 + 22.0 * (others.len() + 1) as f32 + thumbs)
    } else {
        0.0
    };
    let avail = ui.available_height() - room;
    let h = if classification {
        (avail / 2.0 - 24.0).max(60.0)
    } else {
        avail.max(60.0)
    };
    let marker = run.scrubbed().map(|f| {
        if by_epoch {
            f.epoch as f64
        } else {
            f.step as f64
        }
    });
    Plot::new("loss-plot")
        .height(h)
        .x_axis_label(xlabel)
        .y_axis_label(if log { "loss (log)" } else { "loss" })
        .y_axis_formatter(move |m, _| fmt_y(m.value))
        .label_formatter(move |h| {
            let (name, v) = near(h)?;
            Some(format!(
                "{name}\n{xlabel} {:.0}, loss {}",
                v.x,
                if log {
                    fmt_number(10f64.powf(v.y))
                } else {
                    fmt_number(v.y)
                }
            ))
        })
        .show(ui, |p| {
            for (s, pts) in loss_series.iter().zip(&loss_points) {
                if !hidden.contains(&s.name) {
                    p.line(series_line(s, pts.clone()));
                }
            }
            if let Some(x) = marker {
                p.vline(egui_plot::VLine::new("shown epoch", x).color(Color32::from_gray(160)));
            }
        });
    if classification {
        let mut acc_series = Vec::new();
        let mut acc_points: Vec<Vec<[f64; 2]>> = Vec::new();
        for (k, r) in others.iter().enumerate() {
            acc_series.push(Series::new(&names[k], run_color(k)).width(1.5));
            acc_points.push(epoch_pts(
                r,
                &|m| m.val.and_then(|v| v.accuracy).or(m.train.accuracy),
                false,
            ));
        }
        let (acc_name, val_acc_name) = if compare {
            (format!("{this} (train)"), this.clone())
        } else {
            ("accuracy".to_string(), "val accuracy".to_string())
        };
        if compare {
            // One line per run, in the run's colour, measured like the others' lines.
            acc_series.push(Series::new(&val_acc_name, THIS_RUN).width(1.5));
            acc_points.push(epoch_pts(
                run,
                &|m| m.val.and_then(|v| v.accuracy).or(m.train.accuracy),
                false,
            ));
        } else {
            acc_series.extend([
                Series::new(&acc_name, Color32::from_rgb(80, 200, 120)),
                Series::new(&val_acc_name, Color32::from_rgb(220, 200, 60)),
            ]);
            acc_points.extend([
                epoch_pts(run, &|m| m.train.accuracy, false),
                epoch_pts(run, &|m| m.val.and_then(|v| v.accuracy), false),
            ]);
        }
        let hidden = legend_ui(ui, "accuracy-plot", &acc_series);
        Plot::new("accuracy-plot")
            .height(h)
            .include_y(0.0)
            .include_y(1.0)
            .x_axis_label(xlabel)
            .y_axis_label(if compare {
                "accuracy (validation where there is some)"
            } else {
                "accuracy"
            })
            .label_formatter(move |h| {
                let (name, v) = near(h)?;
                Some(format!("{name}\n{xlabel} {:.0}, {:.2}%", v.x, 100.0 * v.y))
            })
            .show(ui, |p| {
                for (s, pts) in acc_series.iter().zip(&acc_points) {
                    if !hidden.contains(&s.name) {
                        p.line(series_line(s, pts.clone()));
                    }
                }
                if let Some(x) = marker {
                    p.vline(egui_plot::VLine::new("shown epoch", x).color(Color32::from_gray(160)));
                }
            });
    }
    png
}

/// A run's latest decision boundary as a small square image (the compare view), or a note.
pub fn boundary_thumb(ui: &mut Ui, run: &mut Run, side: f32) {
    let Some(b) = run.shown().and_then(|s| s.boundary.clone()) else {
        ui.weak("no boundary");
        return;
    };
    let step = run.shown().map_or(0, |s| s.step);
    if run.thumb_texture.as_ref().is_none_or(|(st, _)| *st != step) {
        let image = boundary_image(&b);
        let texture = ui.ctx().load_texture(
            format!("boundary-thumb-{}", run.id),
            image,
            egui::TextureOptions::LINEAR,
        );
        run.thumb_texture = Some((step, texture));
    }
    if let Some((_, t)) = &run.thumb_texture {
        let (rect, _) = ui.allocate_exact_size(vec2(side, side), Sense::hover());
        ui.painter()
            .rect_filled(rect, 2.0, ui.visuals().extreme_bg_color);
        ui.painter().image(
            t.id(),
            rect,
            Rect::from_min_max(pos2(0.0, 0.0), pos2(1.0, 1.0)),
            Color32::WHITE,
        );
    }
}

/// The boundary's colours: the predicted class, paler where the network is unsure. Image
/// rows run top-down; grid rows bottom-up.
fn boundary_image(b: &crate::train::stats::Boundary) -> egui::ColorImage {
    let n = b.grid.n;
    let mut pixels = Vec::with_capacity(n * n);
    for j in (0..n).rev() {
        for i in 0..n {
            let k = j * n + i;
            let c = class_color(b.class[k] as usize);
            let strength = ((b.confidence[k] - 0.3).max(0.0) / 0.7).clamp(0.15, 1.0) * 0.55;
            pixels.push(Color32::from_rgba_unmultiplied(
                c.r(),
                c.g(),
                c.b(),
                (strength * 255.0) as u8,
            ));
        }
    }
    egui::ColorImage::new([n, n], pixels)
}

/// A plot line drawn as `s` says.
fn series_line(s: &Series, points: Vec<[f64; 2]>) -> Line<'static> {
    Line::new(s.name.clone(), PlotPoints::new(points))
        .color(s.color)
        .style(s.style)
        .width(s.width)
}

/// The decision boundary (2-D classes) or the fitted curve (1-D regression) over the data.
pub fn boundary_ui(ui: &mut Ui, run: &mut Run, data: Option<&Dataset>, val: &[usize]) {
    let Some(s) = run.shown().cloned() else {
        ui.weak(no_snapshot(run, "what the network predicts"));
        return;
    };
    let s = &s;
    if let Some(fit) = &s.fit {
        let series = [
            Series::new("data", Color32::GRAY),
            Series::new("prediction", Color32::from_rgb(255, 150, 60)).width(2.5),
        ];
        let hidden = legend_ui(ui, "fit-plot", &series);
        Plot::new("fit-plot").show(ui, |p| {
            if let (Some(d), false) = (data, hidden.contains("data")) {
                let pts: Vec<[f64; 2]> = (0..d.len())
                    .map(|i| [d.sample(i)[0] as f64, d.targets[i] as f64])
                    .collect();
                p.points(
                    Points::new("data", PlotPoints::new(pts))
                        .radius(2.0)
                        .color(Color32::GRAY),
                );
            }
            if !hidden.contains("prediction") {
                p.line(series_line(&series[1], fit.clone()));
            }
        });
        return;
    }
    let Some(b) = &s.boundary else {
        ui.weak("The boundary needs two features and classes (2-D datasets); the fitted curve one feature and a regression.");
        return;
    };
    if run
        .boundary_texture
        .as_ref()
        .is_none_or(|(step, _)| *step != s.step)
    {
        let image = boundary_image(b);
        let texture =
            ui.ctx()
                .load_texture("decision-boundary", image, egui::TextureOptions::LINEAR);
        run.boundary_texture = Some((s.step, texture));
    }
    let Some((_, texture)) = &run.boundary_texture else {
        return;
    };
    let (x0, x1) = b.grid.x;
    let (y0, y1) = b.grid.y;
    ui.add(
        egui::Label::new(
            egui::RichText::new(
                "Colour: the predicted class (paler where the network is unsure). \
                 Filled dots: training samples; rings: validation.",
            )
            .weak(),
        )
        .wrap(),
    );
    // A square plot on the grid's square (the data's range plus a margin), so the
    // boundary fills it instead of a strip of a wide axis.
    let side = ui.available_width().min(ui.available_height()).max(120.0);
    let (x_mid, y_mid) = ((x0 + x1) / 2.0, (y0 + y1) / 2.0);
    let half = (x1 - x0).max(y1 - y0) / 2.0;
    Plot::new("boundary-plot")
        .width(side)
        .height(side)
        .data_aspect(1.0)
        .default_x_bounds(x_mid - half, x_mid + half)
        .default_y_bounds(y_mid - half, y_mid + half)
        .show(ui, |p| {
            p.image(PlotImage::new(
                "boundary",
                texture,
                PlotPoint::new((x0 + x1) / 2.0, (y0 + y1) / 2.0),
                vec2((x1 - x0) as f32, (y1 - y0) as f32),
            ));
            let Some(d) = data else { return };
            let classes = d.classes().unwrap_or(1);
            let is_val: std::collections::BTreeSet<usize> = val.iter().copied().collect();
            for c in 0..classes {
                for (set, hollow) in [("training", false), ("validation", true)] {
                    let pts: Vec<[f64; 2]> = (0..d.len())
                        .filter(|i| d.targets[*i] as usize == c && is_val.contains(i) == hollow)
                        .map(|i| [d.sample(i)[0] as f64, d.sample(i)[1] as f64])
                        .collect();
                    p.points(
                        Points::new(format!("class {c} ({set})"), PlotPoints::new(pts))
                            .radius(if hollow { 3.5 } else { 2.5 })
                            .filled(!hollow)
                            .color(class_color(c)),
                    );
                }
            }
        });
}

/// What a view says when there is no snapshot to draw.
fn no_snapshot(run: &Run, what: &str) -> String {
    if run.scrubbed().is_some() && run.reopened {
        format!(
            "This run was reopened from the project file: its weights and curves were saved, \
             not the dashboard's snapshots. The cards show the weights of this epoch; train \
             again to see {what}."
        )
    } else {
        format!("Train (or Step) to see {what}.")
    }
}

/// The distribution of one node's output over time (a strip like TensorBoard's), or every
/// node's latest histogram when none is selected.
pub fn activations_ui(ui: &mut Ui, run: &Run, selected: Option<NodeId>) {
    let Some(latest) = run.shown() else {
        ui.weak(no_snapshot(run, "activations"));
        return;
    };
    let until = run.shown_step();
    let chosen = selected.and_then(|id| latest.activations.iter().find(|(n, _, _)| *n == id));
    match chosen {
        Some((id, name, h)) => {
            ui.label(format!(
                "{name}: its output over {} probe samples, over time (left: early, right: now). \
                 {:.0}% of the values sit in the outer bins{}",
                crate::train::PROBE,
                100.0 * h.edge_share(),
                if h.edge_share() > 0.5 {
                    " (saturated)"
                } else {
                    ""
                }
            ));
            let columns: Vec<(usize, &Histogram)> = run
                .activations
                .iter()
                .filter(|(step, _)| *step <= until)
                .filter_map(|(step, hs)| {
                    hs.iter()
                        .find(|(n, _, _)| n == id)
                        .map(|(_, _, h)| (*step, h))
                })
                .collect();
            let half = (ui.available_height() / 2.0).max(60.0);
            strip(ui, &columns, half);
            histogram_plot(
                ui,
                &format!("act-{}", id.0),
                "now",
                h,
                Color32::from_rgb(80, 140, 255),
                half - 8.0,
            );
        }
        None => {
            ui.weak(
                "Select a node on the canvas to see its distribution over time. Latest, per node:",
            );
            small_multiples(
                ui,
                latest
                    .activations
                    .iter()
                    .map(|(_, n, h)| (n.as_str(), h, None)),
            );
        }
    }
}

/// Value and gradient histograms of every parameter tensor.
pub fn weights_ui(ui: &mut Ui, run: &Run) {
    let Some(latest) = run.shown() else {
        ui.weak(no_snapshot(run, "weights and gradients"));
        return;
    };
    ui.weak("Blue: values; orange: gradients dL/dW on the probe batch.");
    small_multiples(
        ui,
        latest
            .params
            .iter()
            .map(|p| (p.label.as_str(), &p.values, Some(&p.grads))),
    );
}

fn small_multiples<'a>(
    ui: &mut Ui,
    items: impl Iterator<Item = (&'a str, &'a Histogram, Option<&'a Histogram>)>,
) {
    egui::ScrollArea::vertical()
        .id_salt("small-multiples")
        .show(ui, |ui| {
            // Columns of about 190 points that exactly fill the width: nothing overflows
            // to the right, however narrow the view.
            let gap = ui.spacing().item_spacing.x;
            // The visible width: a column wider than the window is clipped, not shown.
            let right = ui
                .clip_rect()
                .right()
                .min(ui.ctx().content_rect().right() - 8.0);
            let visible = right - ui.cursor().min.x;
            let avail = ui.available_width().min(visible).max(60.0);
            let columns = ((avail + gap) / (190.0 + gap)).floor().max(1.0);
            let width = ((avail + gap) / columns - gap).floor();
            // Rows of `columns` (a child column cannot be wrapped before it is drawn).
            let items: Vec<_> = items.collect();
            for row in items.chunks(columns as usize) {
                ui.horizontal(|ui| {
                    for &(name, h, g) in row {
                        ui.vertical(|ui| {
                            ui.set_width(width);
                            ui.add(egui::Label::new(name).truncate());
                            histogram_plot(
                                ui,
                                &format!("hist-{name}"),
                                name,
                                h,
                                Color32::from_rgb(80, 140, 255),
                                70.0,
                            );
                            if let Some(g) = g {
                                histogram_plot(
                                    ui,
                                    &format!("grad-{name}"),
                                    "gradient",
                                    g,
                                    Color32::from_rgb(255, 150, 60),
                                    70.0,
                                );
                            }
                        });
                    }
                });
            }
        });
}

fn histogram_plot(ui: &mut Ui, id: &str, name: &str, h: &Histogram, color: Color32, height: f32) {
    let w = h.bin_width();
    let total = h.total().max(1);
    let most = h.counts.iter().copied().max().unwrap_or(0);
    // A spike (most values in one bin, as gradients near zero often are) would leave every
    // other bin invisible: counts then go on a log scale, so the tails show.
    let spike = most as f64 > 0.5 * total as f64;
    let height_of = |c: u32| {
        if spike {
            (1.0 + c as f64).log10()
        } else {
            c as f64
        }
    };
    let bars: Vec<Bar> = h
        .counts
        .iter()
        .enumerate()
        .map(|(i, &c)| Bar::new(h.min + (i as f64 + 0.5) * w, height_of(c)).width(w))
        .collect();
    let share = 100.0 * most as f64 / total as f64;
    let label = if spike {
        let text = format!("{share:.0}% in one bin: counts on a log scale");
        ui.add(egui::Label::new(egui::RichText::new(&text).small().weak()).truncate());
        format!("{name}: {text}")
    } else {
        name.to_string()
    };
    // The plot takes its width from the column it is in (never more), and its x range is
    // exactly the values' range.
    Plot::new(id)
        .height(height)
        .width(ui.available_width().max(40.0))
        .show_axes([true, false])
        .include_x(h.min)
        .include_x(h.max)
        .include_y(0.0)
        .allow_drag(false)
        .allow_zoom(false)
        .allow_scroll(false)
        .show(ui, |p| p.bar_chart(BarChart::new(label, bars).color(color)));
}

/// Histograms over time: one column per snapshot, darker where more values fall.
fn strip(ui: &mut Ui, columns: &[(usize, &Histogram)], height: f32) {
    let width = ui.available_width();
    let (rect, resp) = ui.allocate_exact_size(vec2(width, height), Sense::hover());
    let painter = ui.painter_at(rect);
    painter.rect_filled(rect, 2.0, ui.visuals().extreme_bg_color);
    if columns.is_empty() {
        return;
    }
    let lo = columns
        .iter()
        .map(|(_, h)| h.min)
        .fold(f64::INFINITY, f64::min);
    let hi = columns
        .iter()
        .map(|(_, h)| h.max)
        .fold(f64::NEG_INFINITY, f64::max);
    let span = (hi - lo).max(1e-12);
    let cw = width / columns.len() as f32;
    let y_of = |v: f64| rect.bottom() - ((v - lo) / span) as f32 * rect.height();
    let base = Color32::from_rgb(80, 140, 255);
    for (k, (_, h)) in columns.iter().enumerate() {
        let most = h.counts.iter().copied().max().unwrap_or(1).max(1) as f32;
        let w = h.bin_width();
        for (b, &c) in h.counts.iter().enumerate() {
            if c == 0 {
                continue;
            }
            let a = h.min + b as f64 * w;
            let r = Rect::from_min_max(
                pos2(rect.left() + k as f32 * cw, y_of(a + w)),
                pos2(
                    rect.left() + (k + 1) as f32 * cw,
                    y_of(a).max(y_of(a + w) + 1.0),
                ),
            );
            let t = (c as f32 / most).sqrt();
            painter.rect_filled(r, 0.0, base.gamma_multiply(t));
        }
    }
    let text = ui.visuals().text_color();
    painter.text(
        rect.left_top() + vec2(4.0, 2.0),
        egui::Align2::LEFT_TOP,
        fmt_number(hi),
        egui::FontId::monospace(11.0),
        text,
    );
    painter.text(
        rect.left_bottom() + vec2(4.0, -2.0),
        egui::Align2::LEFT_BOTTOM,
        fmt_number(lo),
        egui::FontId::monospace(11.0),
        text,
    );
    if let Some(p) = resp.hover_pos() {
        let k = (((p.x - rect.left()) / cw) as usize).min(columns.len() - 1);
        let v = lo + ((rect.bottom() - p.y) / rect.height()) as f64 * span;
        resp.on_hover_text(format!("step {}, value {}", columns[k].0, fmt_number(v)));
    }
}

/// Gradient norm of every parameter against step: vanishing gradients show as early layers
/// falling decades below the late ones (log scale).
pub fn grad_norms_ui(ui: &mut Ui, run: &Run, log: &mut bool, biases: &mut bool) {
    if run.grad_norms.is_empty() {
        ui.weak("Train (or Step) to see gradient norms.");
        return;
    }
    ui.horizontal(|ui| {
        ui.checkbox(log, "log scale");
        ui.checkbox(biases, "biases");
        ui.weak("||dL/dW|| per parameter tensor on the probe batch");
    });
    let l = *log;
    let until = run.shown_step();
    // Colours by depth, a line style per network; biases (when shown) thinner, in their
    // layer's colour. The legend sits above the plot.
    let all = param_series(&run.param_labels);
    let shown: Vec<(usize, &Series)> = all
        .iter()
        .enumerate()
        .filter(|(_, s)| *biases || !s.name.ends_with(".bias"))
        .collect();
    let listed: Vec<Series> = shown.iter().map(|(_, s)| (*s).clone()).collect();
    let hidden = legend_ui(ui, "grad-norm-plot", &listed);
    Plot::new("grad-norm-plot")
        .x_axis_label("step")
        .y_axis_label(if l {
            "gradient norm (log)"
        } else {
            "gradient norm"
        })
        .y_axis_formatter(move |m, _| {
            if l {
                fmt_number(10f64.powf(m.value))
            } else {
                fmt_number(m.value)
            }
        })
        .label_formatter(move |h| {
            let (name, p) = near(h)?;
            let v = if l { 10f64.powf(p.y) } else { p.y };
            Some(format!("{name}\nstep {:.0}: {}", p.x, fmt_number(v)))
        })
        .show(ui, |p| {
            for (k, s) in shown.iter().filter(|(_, s)| !hidden.contains(&s.name)) {
                let pts: Vec<[f64; 2]> = run
                    .grad_norms
                    .iter()
                    .filter(|(step, _)| *step <= until)
                    .filter_map(|(step, ns)| ns.get(*k).map(|&n| [*step as f64, ylog(n, l)]))
                    .collect();
                p.line(series_line(s, pts));
            }
            if let Some(f) = run.scrubbed() {
                p.vline(
                    egui_plot::VLine::new(format!("epoch {}", f.epoch), f.step as f64)
                        .color(Color32::from_gray(160)),
                );
            }
        });
}

/// Truth against prediction; for images, the misclassified ones.
pub fn confusion_ui(ui: &mut Ui, run: &Run, data: Option<&Dataset>) {
    let Some(c) = run.shown().and_then(|s| s.confusion.as_ref()) else {
        ui.weak("The confusion matrix needs a classification dataset; train (or Step) to see it.");
        return;
    };
    ui.label(format!(
        "On the {} set: rows are the true class, columns the predicted one ({:.1}% right)",
        c.on,
        100.0 * c.accuracy()
    ));
    let k = c.classes;
    let cell = ((ui.available_width().min(ui.available_height() * 1.6) - 40.0) / (k as f32 + 1.0))
        .clamp(14.0, 40.0);
    egui::Grid::new("confusion")
        .spacing([2.0, 2.0])
        .show(ui, |ui| {
            ui.label("");
            for p in 0..k {
                ui.label(egui::RichText::new(p.to_string()).weak());
            }
            ui.end_row();
            for t in 0..k {
                ui.label(egui::RichText::new(t.to_string()).weak());
                let row: u32 = (0..k).map(|p| c.get(t, p)).sum::<u32>().max(1);
                for p in 0..k {
                    let n = c.get(t, p);
                    let share = n as f32 / row as f32;
                    let color = if t == p {
                        Color32::from_rgb(52, 168, 83).gamma_multiply(0.2 + 0.8 * share)
                    } else {
                        Color32::from_rgb(234, 67, 53).gamma_multiply(if n == 0 {
                            0.05
                        } else {
                            0.3 + 0.7 * share
                        })
                    };
                    let (rect, resp) =
                        ui.allocate_exact_size(vec2(cell, cell * 0.7), Sense::hover());
                    ui.painter().rect_filled(rect, 2.0, color);
                    ui.painter().text(
                        rect.center(),
                        egui::Align2::CENTER_CENTER,
                        n.to_string(),
                        egui::FontId::monospace(11.0),
                        ui.visuals().strong_text_color(),
                    );
                    resp.on_hover_text(format!("true {t}, predicted {p}: {n}"));
                }
                ui.end_row();
            }
        });
    if let (Some(d), Some((h, w))) = (data, data.and_then(|d| d.image)) {
        if !c.wrong.is_empty() {
            ui.label("Misclassified (true → predicted):");
            ui.horizontal_wrapped(|ui| {
                for &(row, pred) in &c.wrong {
                    ui.vertical(|ui| {
                        crate::ui::plot::classes::image_cell(ui, d.sample(row), h, w, 36.0);
                        ui.small(format!("{} → {pred}", d.targets[row]));
                    });
                }
            });
        }
    }
}
