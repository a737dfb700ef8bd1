//! What a student reads on the canvas, driven through the real app with egui_kittest:
//! legible cards at every zoom (semantic zoom, a minimum on-screen size for values), wheel
//! zoom by small notches, fit on resize, the zoom overlay, the empty-canvas hint, tooltips,
//! the node menu on a title, select-on-focus number fields, search ranking and the quiz.
//! Snapshots are rendered with wgpu (lavapipe in CI); `UPDATE_SNAPSHOTS=1` refreshes them.

mod common;

use std::path::Path;

use egui::{Key, Modifiers, MouseWheelUnit, Pos2, TouchPhase, Vec2};
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use nodegrad::graph::NodeId;
use nodegrad::ui::editor::canvas::{MIN_VALUE_PX, PinRef, SUMMARY_BELOW, WHEEL_STEP};
use nodegrad::ui::{AppConfig, NodegradApp};

fn app_sized(file: Option<&Path>, storage: &Path, size: [f32; 2]) -> Harness<'static, NodegradApp> {
    let config = AppConfig {
        file: file.map(Path::to_path_buf),
        screenshot_to: None,
        train_for: None,
        storage_dir: Some(storage.to_path_buf()),
        ..AppConfig::default()
    };
    let mut h = Harness::builder()
        .with_size(size)
        .with_max_steps(60)
        .build_eframe(move |cc| NodegradApp::new(cc, config.clone()));
    h.run_ok();
    h
}

fn example(name: &str, storage: &Path, size: [f32; 2]) -> Harness<'static, NodegradApp> {
    app_sized(Some(&common::project_path(name)), storage, size)
}

fn id(h: &Harness<'_, NodegradApp>, name: &str) -> NodeId {
    h.state().doc.graph().find(name).unwrap().id
}

/// Presses F (fit) and lets the cards measure themselves.
fn fit(h: &mut Harness<'_, NodegradApp>) {
    h.key_press(Key::F);
    h.run_ok();
    h.run_steps(8);
    h.run_ok();
}

/// One wheel event of `notches` lines at `pos`; then the glide runs to its end.
fn wheel(h: &mut Harness<'_, NodegradApp>, pos: Pos2, notches: f32, modifiers: Modifiers) {
    h.hover_at(pos);
    h.run_ok();
    h.event(egui::Event::MouseWheel {
        unit: MouseWheelUnit::Line,
        delta: Vec2::new(0.0, notches),
        phase: TouchPhase::Move,
        modifiers,
    });
    h.run_ok();
    h.run_steps(30);
    h.run_ok();
}

/// The middle of the canvas (between the toolbar and the step bar, left of the inspector).
fn canvas_center(h: &Harness<'_, NodegradApp>) -> Pos2 {
    let rects: Vec<egui::Rect> = h
        .state()
        .doc
        .graph()
        .node_ids()
        .filter_map(|n| h.state().canvas.node_screen_rect(n))
        .collect();
    rects
        .iter()
        .fold(egui::Rect::NOTHING, |a, r| a.union(*r))
        .center()
}

fn example_names() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(common::project_path(""))
        .unwrap()
        .filter_map(|e| {
            let name = e.unwrap().file_name().into_string().ok()?;
            name.ends_with(".ron").then_some(name)
        })
        .collect();
    names.sort();
    names
}

#[test]
fn after_fit_at_1280x720_every_example_card_value_is_legible() {
    let names = example_names();
    assert!(names.len() >= 12, "{names:?}");
    let mut summaries = 0;
    for name in &names {
        let storage = tempfile::tempdir().unwrap();
        let mut h = example(name, storage.path(), [1280.0, 720.0]);
        fit(&mut h);
        let app = h.state();
        let zoom = app.canvas.zoom();
        for node in app.doc.graph().nodes() {
            let card = app
                .canvas
                .cards
                .get(&node.id)
                .unwrap_or_else(|| panic!("{name}: {} has no card after Fit", node.name));
            assert!(
                card.value_px >= 10.0,
                "{name} at {:.0}%: the value of {} is drawn at {:.1} px",
                100.0 * zoom,
                node.name,
                card.value_px
            );
            assert!(card.value_px >= MIN_VALUE_PX - 0.01);
            assert_eq!(card.summary, zoom < SUMMARY_BELOW, "{name}: {}", node.name);
            summaries += card.summary as usize;
            // Every card is inside the canvas.
            let r = app.canvas.node_screen_rect(node.id).unwrap();
            assert!(
                r.min.x >= -1.0 && r.max.x <= 1281.0 && r.min.y >= 0.0 && r.max.y <= 721.0,
                "{name}: {} at {r:?}",
                node.name
            );
        }
    }
    assert!(
        summaries > 0,
        "the big graphs fit only as summaries at this size"
    );
}

#[test]
fn the_lecture_graph_at_1280x720_snapshot() {
    let storage = tempfile::tempdir().unwrap();
    let mut h = example("computational-graph.ron", storage.path(), [1280.0, 720.0]);
    fit(&mut h);
    let options = egui_kittest::SnapshotOptions::new().max_failed_pixels(800usize);
    h.snapshot_options("canvas-computational-graph-1280x720", &options);
}

#[test]
fn vanishing_gradients_zoomed_out_shows_large_type_summaries_snapshot() {
    let storage = tempfile::tempdir().unwrap();
    let mut h = example("vanishing-gradients.ron", storage.path(), [1280.0, 720.0]);
    h.state_mut().training.open = false;
    h.run_ok();
    fit(&mut h);
    let app = h.state();
    assert!(app.canvas.zoom() < SUMMARY_BELOW, "{}", app.canvas.zoom());
    assert!(app.canvas.cards.values().all(|c| c.summary));
    // No editors when zoomed out: the Input's value field is gone.
    assert!(h.query_by_label("values of x").is_none());
    // The 33 summary cards' edges land a sub-pixel apart from run to run (about 1,100
    // pixels); a moved card or a new widget is tens of thousands.
    let options = egui_kittest::SnapshotOptions::new().max_failed_pixels(4000usize);
    h.snapshot_options("canvas-vanishing-gradients-summary", &options);
}

#[test]
fn a_wheel_notch_zooms_at_most_1_15x_and_five_keep_the_graph_readable() {
    let storage = tempfile::tempdir().unwrap();
    let mut h = example("computational-graph.ron", storage.path(), [1280.0, 720.0]);
    fit(&mut h);
    let center = canvas_center(&h);
    let z0 = h.state().canvas.zoom();
    wheel(&mut h, center, 1.0, Modifiers::NONE);
    let z1 = h.state().canvas.zoom();
    assert!(
        z1 / z0 > 1.1 && z1 / z0 <= 1.151,
        "one notch in: {z0} -> {z1} ({:.3}x)",
        z1 / z0
    );
    assert!((z1 / z0 - WHEEL_STEP).abs() < 0.01);
    // Ctrl+wheel zooms by the same notch (snarl's own faster zoom is overridden).
    wheel(&mut h, center, -1.0, Modifiers::COMMAND);
    let z2 = h.state().canvas.zoom();
    assert!((z2 / z0 - 1.0).abs() < 0.01, "{z0} -> {z2}");
    // Five notches out: 1.15^-5 = 0.50, not a dot; the cards switch to their summary.
    wheel(&mut h, center, -5.0, Modifiers::NONE);
    let z3 = h.state().canvas.zoom();
    assert!(
        (z3 / z2 - WHEEL_STEP.powi(-5)).abs() < 0.01,
        "five notches out: {z2} -> {z3}"
    );
    h.run_steps(3);
    let cards = &h.state().canvas.cards;
    assert!(cards.values().all(|c| c.value_px >= 10.0), "{cards:?}");
    // The point under the pointer stays put while zooming.
    let g = h.state().canvas.graph_pos(center);
    wheel(&mut h, center, 2.0, Modifiers::NONE);
    let g2 = h.state().canvas.graph_pos(center);
    assert!((g - g2).length() < 2.0, "{g:?} moved to {g2:?}");
    // A touchpad's smooth scrolling: 50 points make one notch.
    let z4 = h.state().canvas.zoom();
    h.event(egui::Event::MouseWheel {
        unit: MouseWheelUnit::Point,
        delta: Vec2::new(0.0, 25.0),
        phase: TouchPhase::Move,
        modifiers: Modifiers::NONE,
    });
    h.run_ok();
    h.run_steps(30);
    let z5 = h.state().canvas.zoom();
    assert!((z5 / z4 - WHEEL_STEP.sqrt()).abs() < 0.01, "{z4} -> {z5}");
}

#[test]
fn the_zoom_overlay_shows_the_level_and_its_buttons_zoom() {
    let storage = tempfile::tempdir().unwrap();
    let mut h = example("computational-graph.ron", storage.path(), [1280.0, 720.0]);
    fit(&mut h);
    let z = h.state().canvas.zoom();
    let label = format!("{:.0}%", 100.0 * z);
    assert!(h.query_by_label(&label).is_some(), "overlay shows {label}");
    h.get_by_label("+").click();
    h.run_ok();
    h.run_steps(30);
    let z_in = h.state().canvas.zoom();
    assert!((z_in / z - 1.25).abs() < 0.01, "{z} -> {z_in}");
    assert!(h.query_by_label(&format!("{:.0}%", 100.0 * z_in)).is_some());
    h.get_by_label("−").click();
    h.run_ok();
    h.run_steps(30);
    h.get_by_label("−").click();
    h.run_ok();
    h.run_steps(30);
    let z_out = h.state().canvas.zoom();
    assert!((z_out / z - 0.8).abs() < 0.01, "{z} -> {z_out}");
    // The percentage goes back to 100%, Fit to the whole graph.
    h.get_by_label(&format!("{:.0}%", 100.0 * z_out)).click();
    h.run_ok();
    h.run_steps(30);
    assert!((h.state().canvas.zoom() - 1.0).abs() < 0.01);
    assert!(h.query_by_label("100%").is_some());
    // The overlay's Fit (the toolbar has one too, further left).
    let overlay_fit = h
        .query_all_by_label("Fit")
        .max_by(|a, b| a.rect().left().total_cmp(&b.rect().left()))
        .unwrap();
    overlay_fit.click();
    h.run_ok();
    h.run_steps(8);
    assert!(
        (h.state().canvas.zoom() - z).abs() < 0.01,
        "{z} vs {}",
        h.state().canvas.zoom()
    );
}

#[test]
fn resizing_the_window_refits_until_the_student_zooms() {
    let storage = tempfile::tempdir().unwrap();
    let mut h = example("computational-graph.ron", storage.path(), [1280.0, 720.0]);
    fit(&mut h);
    let small = h.state().canvas.zoom();
    h.set_size(Vec2::new(1920.0, 1080.0));
    h.run_ok();
    h.run_steps(8);
    let big = h.state().canvas.zoom();
    assert!(
        big > small * 1.2,
        "a bigger window fits bigger: {small} -> {big}"
    );
    assert!(!h.state().canvas.manual_view);
    // Zoomed by hand: resizing keeps the student's view.
    wheel(&mut h, Pos2::new(600.0, 400.0), 1.0, Modifiers::NONE);
    assert!(h.state().canvas.manual_view);
    let chosen = h.state().canvas.zoom();
    h.set_size(Vec2::new(1280.0, 720.0));
    h.run_ok();
    h.run_steps(8);
    assert!((h.state().canvas.zoom() - chosen).abs() < 1e-3);
    // Fit hands the view back to the window size.
    fit(&mut h);
    assert!(!h.state().canvas.manual_view);
    assert!(
        (h.state().canvas.zoom() - small).abs() < 0.02,
        "{small} vs {}",
        h.state().canvas.zoom()
    );
}

#[test]
fn an_empty_canvas_says_how_to_add_a_node_snapshot() {
    let storage = tempfile::tempdir().unwrap();
    let mut h = app_sized(None, storage.path(), [1280.0, 720.0]);
    assert!(
        h.query_by_label_contains("press Space or Shift+A, to add a node")
            .is_some()
    );
    assert!(h.query_by_label_contains("File > Open example").is_some());
    let options = egui_kittest::SnapshotOptions::new().max_failed_pixels(800usize);
    h.snapshot_options("canvas-empty-hint", &options);
    // Right-click through the hint still opens the add-node menu.
    h.hover_at(Pos2::new(500.0, 330.0));
    h.run_ok();
    for pressed in [true, false] {
        h.event(egui::Event::PointerButton {
            pos: Pos2::new(500.0, 330.0),
            button: egui::PointerButton::Secondary,
            pressed,
            modifiers: Modifiers::NONE,
        });
    }
    h.run_ok();
    assert!(h.query_by_label("Add node").is_some());
    // Once there is a node, the hint goes.
    h.event(egui::Event::Text("Input".into()));
    h.run_ok();
    h.key_press(Key::Enter);
    h.run_ok();
    assert_eq!(h.state().doc.graph().len(), 1);
    assert!(
        h.query_by_label_contains("press Space or Shift+A")
            .is_none()
    );
}

/// Where a widget on a card is on screen: AccessKit reports card widgets in the canvas's
/// own coordinates, before its zoom and pan.
fn on_canvas(h: &Harness<'_, NodegradApp>, label: &str) -> Pos2 {
    h.state()
        .canvas
        .to_screen(h.get_by_label(label).rect())
        .center()
}

/// A mouse click at `pos`: move there, press, release (one frame each).
fn click_at(h: &mut Harness<'_, NodegradApp>, pos: Pos2) {
    h.hover_at(pos);
    h.run_ok();
    for pressed in [true, false] {
        h.event(egui::Event::PointerButton {
            pos,
            button: egui::PointerButton::Primary,
            pressed,
            modifiers: Modifiers::NONE,
        });
        h.run_ok();
    }
}

/// Saves what the window shows, for looking at a failure.
#[allow(dead_code)]
fn debug_png(h: &mut Harness<'_, NodegradApp>, name: &str) {
    if let Ok(img) = h.render() {
        let _ = img.save(std::env::temp_dir().join(format!("{name}.png")));
    }
}

/// Hovers `pos` until egui shows the tooltip (after its delay).
fn hover_still(h: &mut Harness<'_, NodegradApp>, pos: Pos2) {
    h.hover_at(pos);
    h.run_ok();
    for _ in 0..60 {
        h.step();
    }
    h.run_ok();
}

#[test]
fn pins_and_titles_have_tooltips() {
    let storage = tempfile::tempdir().unwrap();
    let mut h = example("computational-graph.ron", storage.path(), [1600.0, 900.0]);
    let u = id(&h, "u");
    // u's first input: which node feeds it, its shape, the value in and the gradient back.
    // (Next to the pin: the pin itself is where wires start.)
    let lhs = h.state().canvas.pin_screen[&PinRef::In(u, 0)] + Vec2::new(22.0, 0.0);
    hover_still(&mut h, lhs);
    assert!(
        h.query_by_label_contains("lhs of u ← b").is_some(),
        "the input pin's tooltip"
    );
    assert!(h.query_by_label_contains("value in: 3.0").is_some());
    assert!(
        h.query_by_label_contains("gradient back along this wire: 6.0")
            .is_some()
    );
    // The output pin: shape and where it goes.
    let out = h.state().canvas.pin_screen[&PinRef::Out(u)] + Vec2::new(-22.0, 0.0);
    hover_still(&mut h, out);
    assert!(h.query_by_label_contains("output of u").is_some());
    assert!(h.query_by_label_contains("feeds v (rhs)").is_some());
    // The title: the op's formula and derivative, from the op catalogue.
    let spec = nodegrad::graph::Op::Mul.spec();
    let title = on_canvas(&h, "u");
    hover_still(&mut h, title);
    assert!(
        h.query_by_label_contains(&format!("derivative: {}", spec.derivative))
            .is_some(),
        "the title's tooltip"
    );
    assert!(h.query_by_label_contains(spec.formula).is_some());
}

#[test]
fn right_click_on_a_title_opens_the_node_menu() {
    let storage = tempfile::tempdir().unwrap();
    let mut h = example("computational-graph.ron", storage.path(), [1600.0, 900.0]);
    let u = id(&h, "u");
    let title = h.state().canvas.node_screen_rect(u).unwrap().left_top() + Vec2::new(14.0, 12.0);
    h.hover_at(title);
    h.run_ok();
    for pressed in [true, false] {
        h.event(egui::Event::PointerButton {
            pos: title,
            button: egui::PointerButton::Secondary,
            pressed,
            modifiers: Modifiers::NONE,
        });
    }
    h.run_ok();
    assert!(h.query_by_label("Set as output").is_some(), "u's menu");
    h.get_by_label("Set as output").click();
    h.run_ok();
    assert_eq!(h.state().doc.graph().output, Some(u));
}

#[test]
fn clicking_a_number_field_and_typing_3_gives_3() {
    let storage = tempfile::tempdir().unwrap();
    let mut h = example("computational-graph.ron", storage.path(), [1600.0, 900.0]);
    let a = id(&h, "a");
    // The value field of a shows "5.0": a click selects it, so 3 replaces it.
    let at = on_canvas(&h, "values of a");
    click_at(&mut h, at);
    assert!(h.get_by_label("values of a").is_focused());
    h.get_by_label("values of a").type_text("3");
    h.run_ok();
    h.key_press(Key::Enter);
    h.run_ok();
    let value = h
        .state()
        .doc
        .graph()
        .node(a)
        .unwrap()
        .value()
        .unwrap()
        .clone();
    assert_eq!(value.data(), &[3.0], "typed 3 into 5.0");
    // Keyboard focus (Tab, a screen reader) selects it too.
    h.get_by_label("values of a").focus();
    h.run_ok();
    h.get_by_label("values of a").type_text("4");
    h.run_ok();
    h.key_press(Key::Enter);
    h.run_ok();
    assert_eq!(
        h.state()
            .doc
            .graph()
            .node(a)
            .unwrap()
            .value()
            .unwrap()
            .data(),
        &[4.0]
    );
    // A drag number (Scale's k of J, 3.0): click, type 2, Enter.
    let at = on_canvas(&h, "k of J");
    click_at(&mut h, at);
    h.get_by_label("k of J").type_text("2");
    h.run_ok();
    h.key_press(Key::Enter);
    h.run_ok();
    let j = h.state().doc.graph().find("J").unwrap();
    assert!(
        matches!(j.op, nodegrad::graph::Op::Scale { factor } if factor == 2.0),
        "{:?}",
        j.op
    );
}

#[test]
fn searching_inp_lists_input_first() {
    let storage = tempfile::tempdir().unwrap();
    let mut h = app_sized(None, storage.path(), [1280.0, 720.0]);
    h.hover_at(Pos2::new(300.0, 200.0));
    h.run_ok();
    h.key_press(Key::Space);
    h.run_ok();
    h.event(egui::Event::Text("inp".into()));
    h.run_ok();
    // "inp" is in the descriptions of Concat, Conv2d, Step and LeakyReLU ("inputs").
    let top = |h: &Harness<'_, NodegradApp>, label: &str| {
        h.get_by_role_and_label(egui::accesskit::Role::Button, label)
            .rect()
            .top()
    };
    let input = top(&h, "Input");
    for other in ["Concat", "Conv2d", "Step", "LeakyReLU"] {
        assert!(input < top(&h, other), "Input above {other}");
    }
    h.key_press(Key::Enter);
    h.run_ok();
    let created = h.state().doc.last_created.clone();
    assert_eq!(created.len(), 1);
    assert_eq!(
        h.state().doc.graph().node(created[0]).unwrap().op,
        nodegrad::graph::Op::Input
    );
}

#[test]
fn the_quiz_focuses_the_answer_outlines_the_asked_node_and_works_a_wrong_answer_snapshot() {
    let storage = tempfile::tempdir().unwrap();
    let mut h = example("computational-graph.ron", storage.path(), [1280.0, 720.0]);
    let (u, c) = (id(&h, "u"), id(&h, "c"));
    h.get_by_label("Quiz").click();
    h.run_ok();
    // a, b and c are given; the first question is u.
    for _ in 0..3 {
        h.key_press(Key::ArrowRight);
        h.run_ok();
    }
    assert!(h.query_by_label("u = ?").is_some());
    assert!(
        h.get_by_label("quiz answer").is_focused(),
        "the first question takes the keyboard"
    );
    let reveal = h.state().stepping.reveal().unwrap();
    assert_eq!(reveal.current, Some(u), "u is outlined, not c (was {c})");
    // Typed straight away, no click: a wrong answer shows the computation.
    h.get_by_label("quiz answer").type_text("7");
    h.run_ok();
    h.key_press(Key::Enter);
    h.run_ok();
    assert!(h.query_by_label("✘ not quite: it is 6.0").is_some());
    assert!(
        h.query_by_label("u = b * c = 3.0 * 2.0 = 6.0").is_some(),
        "the worked step"
    );
    // The next question has the focus again and its node the outline.
    assert!(h.query_by_label("v = ?").is_some());
    assert!(h.get_by_label("quiz answer").is_focused());
    assert_eq!(
        h.state().stepping.reveal().unwrap().current,
        Some(id(&h, "v"))
    );
    let options = egui_kittest::SnapshotOptions::new().max_failed_pixels(800usize);
    h.snapshot_options("canvas-quiz-wrong-answer", &options);
}

#[test]
fn a_conv_step_wraps_in_the_step_bar_snapshot() {
    // Cards never overlap, with their editors (a big window) or as summaries.
    for size in [[1920.0, 1080.0], [2560.0, 1440.0]] {
        let storage = tempfile::tempdir().unwrap();
        let mut h = example("conv-by-hand.ron", storage.path(), size);
        fit(&mut h);
        assert!(
            h.state().canvas.cards.values().all(|c| !c.summary),
            "{size:?}"
        );
        let g = h.state().doc.graph().clone();
        let rects: Vec<(String, egui::Rect)> = g
            .nodes()
            .map(|n| {
                (
                    n.name.clone(),
                    h.state().canvas.node_screen_rect(n.id).unwrap(),
                )
            })
            .collect();
        for (i, (a, ra)) in rects.iter().enumerate() {
            for (b, rb) in &rects[i + 1..] {
                assert!(
                    !ra.intersects(*rb),
                    "{size:?}: {a} {ra:?} overlaps {b} {rb:?}"
                );
            }
        }
    }
    let storage = tempfile::tempdir().unwrap();
    let mut h = example("conv-by-hand.ron", storage.path(), [1280.0, 720.0]);
    fit(&mut h);
    let g = h.state().doc.graph().clone();
    let rects: Vec<(String, egui::Rect)> = g
        .nodes()
        .map(|n| {
            (
                n.name.clone(),
                h.state().canvas.node_screen_rect(n.id).unwrap(),
            )
        })
        .collect();
    for (i, (a, ra)) in rects.iter().enumerate() {
        for (b, rb) in &rects[i + 1..] {
            assert!(!ra.intersects(*rb), "{a} {ra:?} overlaps {b} {rb:?}");
        }
    }
    // x, then conv: its step is long, and stays inside the window.
    for _ in 0..2 {
        h.key_press(Key::ArrowRight);
        h.run_ok();
    }
    let step = h.get_by_label_contains("conv = ");
    let r = step.rect();
    assert!(r.right() <= 1280.0, "the step text ends at {r:?}");
    assert!(r.height() > 20.0, "it wraps: {r:?}");
    let options = egui_kittest::SnapshotOptions::new().max_failed_pixels(800usize);
    h.snapshot_options("canvas-conv-step", &options);
}

/// A copy of an example that trains on the CPU for `epochs` epochs.
fn cpu_copy(dir: &Path, name: &str, epochs: usize) -> std::path::PathBuf {
    let text = std::fs::read_to_string(common::project_path(&format!("{name}.ron"))).unwrap();
    let mut p = nodegrad::project::Project::parse(&text, name).unwrap();
    let t = p.training.as_mut().unwrap();
    t.device = nodegrad::project::training::DeviceChoice::Cpu;
    t.epochs = epochs;
    let file = dir.join(format!("{name}.ron"));
    p.save(&file).unwrap();
    file
}

#[test]
fn the_gradient_norms_of_two_networks_are_told_apart_snapshot() {
    use nodegrad::ui::training::RunState;
    use nodegrad::ui::training::dashboard::View;
    let storage = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = cpu_copy(dir.path(), "vanishing-gradients", 3);
    let mut h = app_sized(Some(&file), storage.path(), [1280.0, 720.0]);
    // Before training: a sentence, not an empty -0.5..0.5 axis.
    assert!(h.query_by_label_contains("no data yet").is_some());
    h.get_by_label("▶ Train").click();
    h.step();
    let start = std::time::Instant::now();
    while !matches!(h.state().training.state, RunState::Finished(_)) {
        assert!(
            start.elapsed().as_secs() < 180,
            "three epochs in three minutes"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
        h.step();
    }
    h.run_ok();
    assert!(h.query_by_label_contains("no data yet").is_none());
    h.get_by_label(View::GradNorms.label()).click();
    h.run_ok();
    // The legend, above the plot: one row per network, the layers by depth.
    assert!(h.query_by_label("s_").is_some() && h.query_by_label("r_").is_some());
    assert_eq!(h.query_all_by_label("d2").count(), 2, "s_d2 and r_d2");
    h.run_steps(4);
    let options = egui_kittest::SnapshotOptions::new().max_failed_pixels(1500usize);
    h.snapshot_options("dashboard-vanishing-gradient-norms", &options);
    h.get_by_label(View::Weights.label()).click();
    h.run_ok();
    h.run_steps(4);
    h.snapshot_options("dashboard-vanishing-weights", &options);
}

/// A click on a menu item that lies over a card picks the item, not the card (View >
/// Light theme used to select the card under it as well).
#[test]
fn a_menu_click_over_a_card_does_not_select_the_card() {
    let storage = tempfile::tempdir().unwrap();
    let mut h = example("computational-graph.ron", storage.path(), [1280.0, 720.0]);
    fit(&mut h);
    h.get_by_label("View").click();
    h.run_ok();
    let item = h.get_by_label("Light theme").rect().center();
    // At 1280x720 after Fit the View menu opens over card `a`: the click lands on both.
    let a = id(&h, "a");
    let card = h.state().canvas.node_screen_rect(a).unwrap();
    assert!(card.contains(item), "card {card:?} under the item {item:?}");
    assert!(
        h.query_by_label("Light theme").is_some(),
        "the menu is still open"
    );
    h.get_by_label("Light theme").click();
    h.run_ok();
    assert!(!h.state().settings.dark, "the item was taken");
    assert!(
        h.state().canvas.selection.is_empty(),
        "the card under the menu item is not selected: {:?}",
        h.state().canvas.selection
    );
}
