//! Watching the gradient flow: the backward pass played on the canvas, one chain-rule step
//! after another (the stepper's backward steps, from the output back), each wire pulsing
//! from its consumer back to its producer, thick and bright where the gradient along it is
//! large and thin and dark where it is small (log scale, with a legend), so vanishing
//! gradients are seen fading layer by layer.
//!
//! The animation runs on its own clock: `Flow::advance` moves it by a duration. The canvas
//! advances it by egui's frame time (`FlowClock::Frame`) and asks for repaints only while it
//! plays; tests set `FlowClock::Manual` and advance it themselves, never sleeping.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use egui::{Color32, Pos2, Rect, RichText, Shape, Stroke, Ui, Vec2};

use crate::exec::Evaluation;
use crate::graph::{Array, Edge, NodeId};
use crate::stepper::Step;
use crate::ui::editor::card::short_number;

use crate::ui::editor::viewer::PinRef;

/// Chain-rule steps per second at the start.
pub const DEFAULT_SPEED: f64 = 1.5;
/// The speed control's range, in steps per second.
pub const SPEED_RANGE: std::ops::RangeInclusive<f64> = 0.25..=8.0;
/// The log scale spans at least this many decades (equal gradients are not told apart
/// by a made-up contrast) and at most `MAX_DECADES` (below that, a wire is as faint as it gets).
const MIN_DECADES: f64 = 1.0;
const MAX_DECADES: f64 = 12.0;
/// On-screen width (px) of a lit wire at the bottom and the top of the scale.
const THIN_PX: f32 = 1.5;
const THICK_PX: f32 = 9.0;

/// What moves the animation on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum FlowClock {
    /// egui's frame time, with repaints asked for while playing.
    #[default]
    Frame,
    /// Only `Flow::advance` (tests).
    Manual,
}

/// Why the flow is on the canvas.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum FlowMode {
    #[default]
    Off,
    /// "Animate backward pass": plays every step to the end.
    Demand,
    /// Step mode: each backward step the student takes pulses once.
    Stepping,
}

/// A wire in the animation and the gradient along it.
#[derive(Clone, Debug, PartialEq)]
pub struct FlowWire {
    pub edge: Edge,
    /// Root mean square of the gradient flowing back along the wire (dJ/d of the wire).
    pub magnitude: f64,
    /// Where the magnitude sits on the log scale: 0 (no gradient) to 1 (the largest).
    pub strength: f32,
}

/// One chain-rule step: the node whose gradient it computes and the wires it reads.
#[derive(Clone, Debug, PartialEq)]
pub struct FlowStep {
    pub node: NodeId,
    /// The stepper's text of the step (`dJ/db = dJ/du * ∂u/∂b = 3.0 * 2.0 = 6.0`).
    pub text: String,
    /// Root mean square of the node's gradient.
    pub magnitude: f64,
    pub strength: f32,
    pub wires: Vec<FlowWire>,
}

/// What the canvas shows at one moment.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FlowFrame {
    /// The step being played (index into `Flow::steps`).
    pub step: Option<usize>,
    /// Its node, outlined in the colour of its gradient.
    pub node: Option<NodeId>,
    /// The step's wires; the pulse has come `phase` (0..1) of the way back along them.
    pub pulsing: Vec<FlowWire>,
    pub phase: f32,
    /// The wires of the steps before, lit at their strength.
    pub lit: Vec<FlowWire>,
}

/// A "Save frame as PNG" in progress.
#[derive(Clone, Debug, PartialEq)]
enum PngJob {
    /// Chosen: the next frame is drawn without the controls and captured.
    Chosen(PathBuf),
    /// Captured this frame's canvas area; waiting for the screenshot event.
    Requested(PathBuf, Rect),
}

#[derive(Debug)]
pub struct Flow {
    pub mode: FlowMode,
    steps: Vec<FlowStep>,
    /// The stepper's steps the flow was built from in step mode (rebuilt when they change).
    source: Option<Arc<[Step]>>,
    /// The document revision the steps belong to.
    revision: u64,
    /// Steps played so far (fractional: the current pulse's phase).
    progress: f64,
    /// Where playing stops: every step (on demand) or the steps the student took.
    target: f64,
    /// Steps per second.
    pub speed: f64,
    pub paused: bool,
    pub clock: FlowClock,
    /// The log scale: log10 of the faintest and the strongest magnitude.
    range: (f64, f64),
    png: Option<PngJob>,
    /// A line for the status bar (the app takes it).
    pub message: Option<String>,
    /// What the canvas drew last frame.
    pub drawn: FlowFrame,
}

impl Default for Flow {
    fn default() -> Self {
        Self {
            mode: FlowMode::Off,
            steps: Vec::new(),
            source: None,
            revision: 0,
            progress: 0.0,
            target: 0.0,
            speed: DEFAULT_SPEED,
            paused: false,
            clock: FlowClock::Frame,
            range: (0.0, 1.0),
            png: None,
            message: None,
            drawn: FlowFrame::default(),
        }
    }
}

/// Root mean square of a tensor's entries (0 for an empty one).
pub fn rms(a: &Array) -> f64 {
    if a.is_empty() {
        return 0.0;
    }
    (a.data().iter().map(|v| v * v).sum::<f64>() / a.len() as f64).sqrt()
}

impl Flow {
    /// Starts playing the backward pass from the output (View > Animate backward pass).
    pub fn animate(
        &mut self,
        steps: &[Step],
        eval: &Evaluation,
        revision: u64,
    ) -> Result<(), String> {
        if steps.is_empty() {
            return Err(
                "No gradient flows: the graph has no output to differentiate (see the status bar)"
                    .into(),
            );
        }
        self.build(steps, eval);
        self.source = None;
        self.revision = revision;
        self.mode = FlowMode::Demand;
        self.progress = 0.0;
        self.target = self.steps.len() as f64;
        self.paused = false;
        Ok(())
    }

    /// Step mode: the student has taken `taken` of the backward `steps`; the last one pulses.
    pub fn follow(&mut self, steps: &Arc<[Step]>, taken: usize, eval: &Evaluation) {
        if self.mode == FlowMode::Demand {
            return;
        }
        let taken = taken.min(steps.len());
        if taken == 0 {
            self.mode = FlowMode::Off;
            return;
        }
        if !self.source.as_ref().is_some_and(|s| Arc::ptr_eq(s, steps)) {
            self.build(steps, eval);
            self.source = Some(Arc::clone(steps));
            self.progress = taken as f64 - 1.0;
            self.target = self.progress;
        }
        self.mode = FlowMode::Stepping;
        let t = taken as f64;
        if t > self.target {
            // The new step pulses from its start (steps skipped over are shown lit).
            self.progress = self.progress.max(t - 1.0);
        } else if t < self.target {
            self.progress = t;
        }
        self.target = t;
    }

    fn build(&mut self, steps: &[Step], eval: &Evaluation) {
        self.steps = steps
            .iter()
            .map(|s| FlowStep {
                node: s.node,
                text: s.text.clone(),
                magnitude: eval
                    .nodes
                    .get(&s.node)
                    .and_then(|n| n.grad.as_ref())
                    .map_or(0.0, rms),
                strength: 0.0,
                wires: s
                    .edges
                    .iter()
                    .map(|e| FlowWire {
                        edge: *e,
                        magnitude: eval.edges.get(e).map_or(0.0, rms),
                        strength: 0.0,
                    })
                    .collect(),
            })
            .collect();
        let logs: Vec<f64> = self
            .steps
            .iter()
            .flat_map(|s| std::iter::once(s.magnitude).chain(s.wires.iter().map(|w| w.magnitude)))
            .filter(|m| m.is_finite() && *m > 0.0)
            .map(f64::log10)
            .collect();
        let hi = logs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let lo = logs.iter().copied().fold(f64::INFINITY, f64::min);
        self.range = if hi.is_finite() {
            (lo.clamp(hi - MAX_DECADES, hi - MIN_DECADES), hi)
        } else {
            (-1.0, 0.0)
        };
        let range = self.range;
        for s in &mut self.steps {
            s.strength = strength(s.magnitude, range);
            for w in &mut s.wires {
                w.strength = strength(w.magnitude, range);
            }
        }
    }

    /// The animation shows the evaluation of this document revision.
    pub fn built_for(&self, revision: u64) -> bool {
        self.revision == revision
    }

    /// Leaves the animation (the canvas shows plain wires again).
    pub fn stop(&mut self) {
        self.mode = FlowMode::Off;
        self.source = None;
        self.png = None;
    }

    /// Plays from the output again.
    pub fn restart(&mut self) {
        self.progress = 0.0;
        self.paused = false;
    }

    /// Moves the animation on by `seconds` (nothing while paused or at its end).
    pub fn advance(&mut self, seconds: f64) {
        if self.mode == FlowMode::Off || self.paused || !seconds.is_finite() || seconds <= 0.0 {
            return;
        }
        self.progress = (self.progress + seconds * self.speed).min(self.target);
    }

    /// Playing: a pulse is on its way (the canvas asks for repaints only now).
    pub fn is_animating(&self) -> bool {
        self.mode != FlowMode::Off && !self.paused && self.progress < self.target
    }

    pub fn steps(&self) -> &[FlowStep] {
        &self.steps
    }

    /// Steps played so far, fractional.
    pub fn progress(&self) -> f64 {
        self.progress
    }

    /// The log scale as magnitudes: (faintest, strongest).
    pub fn scale(&self) -> (f64, f64) {
        (10f64.powf(self.range.0), 10f64.powf(self.range.1))
    }

    /// What is lit now.
    pub fn frame(&self) -> FlowFrame {
        if self.mode == FlowMode::Off || self.steps.is_empty() {
            return FlowFrame::default();
        }
        let last = (self.target.ceil() as usize).clamp(1, self.steps.len()) - 1;
        let current = (self.progress.floor().max(0.0) as usize).min(last);
        let phase = (self.progress - current as f64).clamp(0.0, 1.0) as f32;
        let step = &self.steps[current];
        FlowFrame {
            step: Some(current),
            node: Some(step.node),
            pulsing: step.wires.clone(),
            phase,
            lit: self.steps[..current]
                .iter()
                .flat_map(|s| s.wires.iter().cloned())
                .collect(),
        }
    }

    /// One frame: moves the clock, asks for the next frame while playing.
    pub(super) fn tick(&mut self, ui: &Ui) {
        if self.clock == FlowClock::Frame {
            let dt = ui.input(|i| i.stable_dt).min(0.1);
            self.advance(f64::from(dt));
            if self.is_animating() {
                ui.ctx().request_repaint();
            }
        }
    }

    /// Saves the next frame of the canvas to `path` (the dialog's answer; tests call it).
    pub fn save_frame_to(&mut self, path: PathBuf) {
        self.png = Some(PngJob::Chosen(path));
    }

    /// Saving a frame: the controls hide for the captured frame.
    pub fn capturing(&self) -> bool {
        self.png.is_some()
    }

    /// Drives a PNG save: requests the screenshot of the canvas area, then writes it.
    pub(super) fn png_ui(&mut self, ui: &Ui, view: Rect) {
        let ctx = ui.ctx();
        match self.png.take() {
            None => {}
            Some(PngJob::Chosen(path)) => {
                ctx.send_viewport_cmd(egui::ViewportCommand::Screenshot(egui::UserData::default()));
                self.png = Some(PngJob::Requested(path, view));
                ctx.request_repaint();
            }
            Some(PngJob::Requested(path, rect)) => {
                let shot = ctx.input(|i| {
                    i.raw.events.iter().find_map(|e| match e {
                        egui::Event::Screenshot { image, .. } => Some(image.clone()),
                        _ => None,
                    })
                });
                match shot {
                    Some(image) => {
                        let Some(region) = crop(&image, rect, ctx.pixels_per_point()) else {
                            self.message = Some(format!(
                                "Not saved: the canvas was not on screen when {} was to be written",
                                path.display()
                            ));
                            return;
                        };
                        self.message = Some(match write_png(&path, &region) {
                            Ok(()) => format!(
                                "saved the frame ({} x {} pixels) to {}",
                                region.size[0],
                                region.size[1],
                                path.display()
                            ),
                            Err(e) => e,
                        });
                    }
                    None => {
                        self.png = Some(PngJob::Requested(path, rect));
                        ctx.request_repaint();
                    }
                }
            }
        }
    }

    /// Draws the lit wires and the pulses above the cards, and outlines the current node.
    /// Positions are the pins' (graph space) from the last layout.
    pub(super) fn paint(
        &mut self,
        ui: &Ui,
        layer: egui::LayerId,
        scale: f32,
        node_rects: &std::collections::BTreeMap<NodeId, Rect>,
        pin_rows: &std::collections::BTreeMap<PinRef, f32>,
        clip: Rect,
    ) {
        let frame = self.frame();
        self.drawn = frame.clone();
        if frame.step.is_none() {
            return;
        }
        // The layer is drawn through the canvas's transform: its clip is in graph space too
        // (replaced, not intersected with the default one, which is in screen points).
        let mut painter = ui.ctx().layer_painter(layer);
        painter.set_clip_rect(clip);
        let px = 1.0 / scale.max(1e-3);
        let ends = |e: &Edge| -> Option<(Pos2, Pos2)> {
            let from = node_rects.get(&e.from)?;
            let to = node_rects.get(&e.to)?;
            let fy = *pin_rows.get(&PinRef::Out(e.from))?;
            let ty = *pin_rows.get(&PinRef::In(e.to, e.port))?;
            Some((Pos2::new(from.right(), fy), Pos2::new(to.left(), ty)))
        };
        for w in &frame.lit {
            if let Some((a, b)) = ends(&w.edge) {
                let curve = wire_points(a, b);
                painter.add(Shape::line(curve, wire_stroke(w.strength, px, 200)));
            }
        }
        for w in &frame.pulsing {
            let Some((a, b)) = ends(&w.edge) else {
                continue;
            };
            let curve = wire_points(a, b);
            let stroke = wire_stroke(w.strength, px, 255);
            // The gradient travels from the consumer (b) back to the producer (a).
            let n = curve.len();
            let reached = ((1.0 - frame.phase) * (n - 1) as f32).round() as usize;
            let travelled: Vec<Pos2> = curve[reached.min(n - 1)..].to_vec();
            painter.add(Shape::line(
                curve.clone(),
                Stroke::new(stroke.width, stroke.color.gamma_multiply(0.25)),
            ));
            if travelled.len() >= 2 {
                painter.add(Shape::line(travelled, stroke));
            }
            let head = curve[reached.min(n - 1)];
            let r = (stroke.width * 0.9).max(4.0 * px);
            painter.circle_filled(head, r * 1.8, stroke.color.gamma_multiply(0.3));
            painter.circle_filled(head, r, stroke.color);
        }
        // Every card the gradient has reached wears its magnitude too: zoomed out, where
        // wires are a few pixels long, the fading is seen card by card.
        let Some(current) = frame.step else { return };
        for (i, s) in self.steps[..=current].iter().enumerate() {
            let Some(r) = node_rects.get(&s.node) else {
                continue;
            };
            let (width, gap) = if i == current { (4.0, 5.0) } else { (2.5, 3.0) };
            if i == current {
                painter.rect_filled(
                    r.expand((gap + width) * px),
                    egui::CornerRadius::same(8),
                    color(s.strength).gamma_multiply(0.18),
                );
            }
            painter.rect_stroke(
                r.expand(gap * px),
                egui::CornerRadius::same(6),
                Stroke::new(width * px, color(s.strength)),
                egui::StrokeKind::Outside,
            );
        }
    }

    /// The controls (on demand; hidden in a saved frame) and the legend, over the canvas's
    /// bottom corners.
    pub(super) fn overlay_ui(&mut self, ui: &Ui, view: Rect) {
        if self.mode == FlowMode::Off {
            return;
        }
        self.legend_ui(ui, view);
        if self.mode != FlowMode::Demand || self.capturing() {
            return;
        }
        egui::Area::new(egui::Id::new("flow-controls"))
            .fixed_pos(view.left_bottom() + Vec2::new(8.0, -8.0))
            .pivot(egui::Align2::LEFT_BOTTOM)
            .order(egui::Order::Middle)
            .constrain_to(view)
            .show(ui.ctx(), |ui| {
                egui::Frame::popup(ui.style()).show(ui, |ui| {
                    ui.set_max_width((view.width() * 0.6).max(260.0));
                    self.controls_ui(ui);
                });
            });
    }

    fn controls_ui(&mut self, ui: &mut Ui) {
        ui.horizontal_wrapped(|ui| {
            ui.label(RichText::new("Backward pass").strong());
            // At the end there is nothing to pause: the button plays it again.
            let ended = self.progress >= self.target;
            let (label, hint) = if ended {
                (
                    "▶ Play again",
                    "Play the backward pass again from the output",
                )
            } else if self.paused {
                ("▶ Resume", "Go on from here")
            } else {
                ("⏸ Pause", "Hold this frame")
            };
            if ui.button(label).on_hover_text(hint).clicked() {
                if ended {
                    self.restart();
                } else {
                    self.paused = !self.paused;
                }
            }
            if ui
                .button("⟲ Restart")
                .on_hover_text("Play again from the output")
                .clicked()
            {
                self.restart();
            }
            ui.label("speed");
            let r = ui.add(
                egui::Slider::new(&mut self.speed, SPEED_RANGE)
                    .logarithmic(true)
                    .max_decimals(2)
                    .suffix(" steps/s"),
            );
            r.widget_info(|| {
                egui::WidgetInfo::labeled(egui::WidgetType::Slider, true, "animation speed")
            });
            if ui
                .button("Save frame as PNG…")
                .on_hover_text("The canvas as shown now, as an image")
                .clicked()
            {
                if let Some(path) = rfd::FileDialog::new()
                    .add_filter("PNG image", &["png"])
                    .set_file_name("gradient-flow.png")
                    .save_file()
                {
                    self.save_frame_to(path);
                } else {
                    self.message = Some(
                        "Frame not saved: no file was chosen (or no file dialog could open on \
                         this desktop)"
                            .into(),
                    );
                }
            }
            if ui
                .button("✖ Close")
                .on_hover_text("Back to the plain wires")
                .clicked()
            {
                self.stop();
            }
        });
        if let Some(i) = self.frame().step {
            let s = &self.steps[i];
            ui.label(format!("step {}/{}", i + 1, self.steps.len()));
            ui.add(
                egui::Label::new(
                    RichText::new(&s.text)
                        .monospace()
                        .color(Color32::from_rgb(230, 140, 50)),
                )
                .wrap(),
            );
        }
    }

    /// Colour and thickness by magnitude, with the ends of the scale.
    fn legend_ui(&self, ui: &Ui, view: Rect) {
        let (lo, hi) = self.scale();
        egui::Area::new(egui::Id::new("flow-legend"))
            .fixed_pos(view.right_bottom() + Vec2::new(-8.0, -8.0))
            .pivot(egui::Align2::RIGHT_BOTTOM)
            .order(egui::Order::Middle)
            .constrain_to(view)
            .interactable(false)
            .show(ui.ctx(), |ui| {
                egui::Frame::popup(ui.style()).show(ui, |ui| {
                    ui.label(RichText::new("|gradient| along a wire (rms, log scale)").small());
                    let (rect, _) =
                        ui.allocate_exact_size(Vec2::new(180.0, 16.0), egui::Sense::hover());
                    let painter = ui.painter();
                    let n = 24;
                    for k in 0..n {
                        let t0 = k as f32 / n as f32;
                        let t1 = (k + 1) as f32 / n as f32;
                        let w = THIN_PX + (THICK_PX - THIN_PX) * (t0 + t1) / 2.0;
                        let x0 = rect.left() + rect.width() * t0;
                        let x1 = rect.left() + rect.width() * t1;
                        let y = rect.center().y;
                        painter.rect_filled(
                            Rect::from_min_max(
                                Pos2::new(x0, y - w / 2.0),
                                Pos2::new(x1, y + w / 2.0),
                            ),
                            0.0,
                            color((t0 + t1) / 2.0),
                        );
                    }
                    // The ends of the scale under the ends of the bar.
                    let font = egui::TextStyle::Small.resolve(ui.style());
                    let text = ui.visuals().text_color();
                    let (labels, _) = ui.allocate_exact_size(
                        Vec2::new(rect.width(), font.size + 2.0),
                        egui::Sense::hover(),
                    );
                    let painter = ui.painter();
                    painter.text(
                        labels.left_top(),
                        egui::Align2::LEFT_TOP,
                        short_number(lo),
                        font.clone(),
                        text,
                    );
                    painter.text(
                        labels.right_top(),
                        egui::Align2::RIGHT_TOP,
                        short_number(hi),
                        font,
                        text,
                    );
                });
            });
    }
}

/// Position on the log scale, 0..1; 0 for no gradient at all.
fn strength(m: f64, (lo, hi): (f64, f64)) -> f32 {
    if !(m.is_finite() && m > 0.0) {
        return 0.0;
    }
    let t = ((m.log10() - lo) / (hi - lo)).clamp(0.0, 1.0);
    // The faintest gradient that is not zero still shows.
    (0.05 + 0.95 * t) as f32
}

/// Dark blue (faint) through magenta to bright yellow (strong).
pub fn color(strength: f32) -> Color32 {
    let stops = [
        (0.0, [50.0, 60.0, 150.0]),
        (0.5, [200.0, 60.0, 150.0]),
        (1.0, [255.0, 210.0, 40.0]),
    ];
    let t = strength.clamp(0.0, 1.0);
    let (a, b) = if t < 0.5 {
        (stops[0], stops[1])
    } else {
        (stops[1], stops[2])
    };
    let u = (t - a.0) / (b.0 - a.0);
    let c: Vec<u8> = (0..3)
        .map(|i| (a.1[i] + (b.1[i] - a.1[i]) * u).round() as u8)
        .collect();
    Color32::from_rgb(c[0], c[1], c[2])
}

fn wire_stroke(strength: f32, px: f32, alpha: u8) -> Stroke {
    let width = (THIN_PX + (THICK_PX - THIN_PX) * strength) * px;
    let c = color(strength);
    Stroke::new(
        width,
        Color32::from_rgba_unmultiplied(c.r(), c.g(), c.b(), alpha),
    )
}

/// Points along a wire from an output pin to an input pin, the shape egui-snarl draws
/// (a 5th-degree bezier leaving and entering horizontally).
fn wire_points(from: Pos2, to: Pos2) -> Vec<Pos2> {
    let frame = 30.0f32.min((from - to).length() / 6.0);
    let from2 = Pos2::new(from.x + frame, from.y);
    let to2 = Pos2::new(to.x - frame, to.y);
    let ctrl: Vec<Pos2> = if from2.x <= to2.x && (to2 - from2).length() >= 2.0 * frame {
        let m1 = from2 + (to2 - from2).normalized() * frame;
        let m2 = to2 + (from2 - to2).normalized() * frame;
        vec![from, from2, m1, m2, to2, to]
    } else {
        vec![from, from2, to2, to]
    };
    (0..=48).map(|k| bezier(&ctrl, k as f32 / 48.0)).collect()
}

/// De Casteljau.
fn bezier(points: &[Pos2], t: f32) -> Pos2 {
    let mut p = points.to_vec();
    while p.len() > 1 {
        p = p.windows(2).map(|w| w[0].lerp(w[1], t)).collect();
    }
    p[0]
}

/// The part of a screenshot under `rect` (points), in whole pixels, clamped to the image
/// (the window may have shrunk since the request); `None` when nothing is left.
pub fn crop(
    image: &egui::ColorImage,
    rect: Rect,
    pixels_per_point: f32,
) -> Option<egui::ColorImage> {
    let [w, h] = image.size;
    let px = |v: f32, limit: usize| ((v * pixels_per_point).round().max(0.0) as usize).min(limit);
    let (x0, x1) = (px(rect.min.x, w), px(rect.max.x, w));
    let (y0, y1) = (px(rect.min.y, h), px(rect.max.y, h));
    (x1 > x0 && y1 > y0).then(|| image.region_by_pixels([x0, y0], [x1 - x0, y1 - y0]))
}

/// Writes an image as PNG through a temp file in the same folder and a rename, so a
/// failure leaves no half-written file.
pub fn write_png(path: &Path, image: &egui::ColorImage) -> Result<(), String> {
    let [w, h] = image.size;
    let bytes_len = w
        .checked_mul(h)
        .and_then(|n| n.checked_mul(4))
        .ok_or_else(|| format!("cannot write {}: the image is too large", path.display()))?;
    let mut bytes = Vec::with_capacity(bytes_len);
    bytes.extend(image.pixels.iter().flat_map(|c| c.to_array()));
    let (Ok(w32), Ok(h32)) = (u32::try_from(w), u32::try_from(h)) else {
        return Err(format!(
            "cannot write {}: the image is too large",
            path.display()
        ));
    };
    let img = image::RgbaImage::from_raw(w32, h32, bytes).ok_or_else(|| {
        format!(
            "cannot write {}: the frame has the wrong size",
            path.display()
        )
    })?;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "frame.png".into());
    let fail = |e: &dyn std::fmt::Display| format!("cannot write {}: {e}", path.display());
    let mut tmp = tempfile::Builder::new()
        .prefix(&format!(".{name}.nodegrad-tmp-"))
        .tempfile_in(&dir)
        .map_err(|e| fail(&e))?;
    img.write_to(
        &mut std::io::BufWriter::new(tmp.as_file_mut()),
        image::ImageFormat::Png,
    )
    .map_err(|e| fail(&e))?;
    tmp.as_file().sync_all().map_err(|e| fail(&e))?;
    tmp.persist(path).map_err(|e| fail(&e.error))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strength_is_a_log_scale_and_zero_stays_zero() {
        let range = (-3.0, 0.0);
        assert_eq!(strength(0.0, range), 0.0);
        assert_eq!(strength(f64::NAN, range), 0.0);
        assert!((strength(1.0, range) - 1.0).abs() < 1e-6);
        assert!((strength(1e-3, range) - 0.05).abs() < 1e-6);
        // One decade is the same step anywhere on the scale.
        let d1 = strength(1e-1, range) - strength(1e-2, range);
        let d2 = strength(1e-2, range) - strength(1e-3, range);
        assert!((d1 - d2).abs() < 1e-6 && d1 > 0.3, "{d1} {d2}");
    }

    #[test]
    fn wires_start_and_end_at_their_pins() {
        let (a, b) = (Pos2::new(10.0, 20.0), Pos2::new(300.0, 120.0));
        let p = wire_points(a, b);
        assert_eq!(p[0], a);
        assert!((p[p.len() - 1] - b).length() < 1e-3);
        // Backwards wires too.
        let p = wire_points(b, a);
        assert_eq!(p[0], b);
        assert!((p[p.len() - 1] - a).length() < 1e-3);
    }

    #[test]
    fn a_crop_keeps_inside_the_image() {
        let img = egui::ColorImage::new([10, 8], vec![Color32::RED; 80]);
        let r = Rect::from_min_max(Pos2::new(2.0, 1.0), Pos2::new(6.4, 5.6));
        assert_eq!(crop(&img, r, 1.0).unwrap().size, [4, 5]);
        assert_eq!(
            crop(&img, r, 2.0).unwrap().size,
            [6, 6],
            "x 4..13, y 2..11 clamped to the image's 10 x 8 pixels"
        );
        let gone = Rect::from_min_max(Pos2::new(20.0, 1.0), Pos2::new(30.0, 5.0));
        assert!(crop(&img, gone, 1.0).is_none());
    }

    #[test]
    fn a_png_is_written_whole_or_not_at_all() {
        let dir = tempfile::tempdir().unwrap();
        let img = egui::ColorImage::new([3, 2], vec![Color32::RED; 6]);
        let path = dir.path().join("f.png");
        write_png(&path, &img).unwrap();
        let back = image::open(&path).unwrap();
        assert_eq!((back.width(), back.height()), (3, 2));
        let entries: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(entries.len(), 1, "no temp file is left");
        let err = write_png(&dir.path().join("missing/f.png"), &img).unwrap_err();
        assert!(err.contains("missing/f.png"), "{err}");
    }
}
