//! Watching the gradient flow and formulas with the numbers in, in the real app (kittest):
//! the backward pass played wire by wire in the chain rule's order on a clock the test
//! advances, pause, the strength of each pulse against the gradients, a frame saved as PNG,
//! and the cards' tooltips against the stepper's texts.

mod common;

use std::path::Path;

use egui::{Key, Pos2};
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use nodegrad::analysis::analyze;
use nodegrad::graph::{Edge, NodeId};
use nodegrad::stepper::{Direction, backward_steps, forward_steps};
use nodegrad::ui::editor::flow::{FlowClock, FlowMode, rms};
use nodegrad::ui::{AppConfig, NodegradApp};

fn example(name: &str, storage: &Path, size: [f32; 2]) -> Harness<'static, NodegradApp> {
    let config = AppConfig {
        file: Some(common::project_path(name)),
        storage_dir: Some(storage.to_path_buf()),
        ..AppConfig::default()
    };
    let mut h = Harness::builder()
        .with_size(size)
        .with_max_steps(80)
        .build_eframe(move |cc| NodegradApp::new(cc, config.clone()));
    h.run_ok();
    h.state_mut().training.open = false;
    h.run_ok();
    h
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

/// View > Animate backward pass, on a clock only the test moves.
fn animate(h: &mut Harness<'_, NodegradApp>, speed: f64) {
    h.state_mut().canvas.flow.clock = FlowClock::Manual;
    h.get_by_label("View").click();
    h.run_ok();
    h.get_by_label("Animate backward pass").click();
    h.run_ok();
    h.state_mut().canvas.flow.speed = speed;
    assert_eq!(h.state().canvas.flow.mode, FlowMode::Demand);
}

fn advance(h: &mut Harness<'_, NodegradApp>, seconds: f64) {
    h.state_mut().canvas.flow.advance(seconds);
    h.run_ok();
}

fn edges(wires: &[nodegrad::ui::editor::flow::FlowWire]) -> Vec<Edge> {
    wires.iter().map(|w| w.edge).collect()
}

/// Where the card of `node` shows `label` (a canvas label's rect is in graph space).
fn label_on_card(h: &Harness<'_, NodegradApp>, node: &str, label: &str) -> Pos2 {
    let card = h.state().canvas.node_screen_rect(id(h, node)).unwrap();
    let hits: Vec<Pos2> = h
        .query_all_by_label(label)
        .map(|n| h.state().canvas.to_screen(n.rect()).center())
        .filter(|p| card.contains(*p))
        .collect();
    assert_eq!(hits.len(), 1, "{label:?} on the card of {node}: {hits:?}");
    hits[0]
}

/// Hovers `pos` until egui shows the tooltip (after its delay).
fn hover_still(h: &mut Harness<'_, NodegradApp>, pos: Pos2) {
    h.hover_at(pos);
    h.run_ok();
    for _ in 0..8 {
        h.step();
    }
    h.run_ok();
}

#[test]
fn hovering_a_value_or_gradient_shows_the_steppers_formula_with_the_numbers_snapshot() {
    let storage = tempfile::tempdir().unwrap();
    let mut h = example("computational-graph.ron", storage.path(), [1280.0, 720.0]);
    fit(&mut h);
    // The texts the stepper writes for the same nodes.
    let graph = h.state().doc.graph().clone();
    let analysis = analyze(&graph);
    let eval = common::eval_cpu(&graph);
    let text = |name: &str, dir: Direction| {
        let id = graph.find(name).unwrap().id;
        let steps = match dir {
            Direction::Forward => forward_steps(&graph, &analysis, &eval),
            Direction::Backward => backward_steps(&graph, &analysis, &eval),
        };
        steps.into_iter().find(|s| s.node == id).unwrap().text
    };
    let cases = [
        (
            "u",
            "value 6.0",
            Direction::Forward,
            "u = b * c = 3.0 * 2.0 = 6.0",
        ),
        (
            "v",
            "value 11.0",
            Direction::Forward,
            "v = a + u = 5.0 + 6.0 = 11.0",
        ),
        ("b", "value 3.0", Direction::Forward, "b = 3.0"),
        (
            "u",
            "grad  3.0",
            Direction::Backward,
            "dJ/du = dJ/dv * ∂v/∂u = 3.0 * 1.0 = 3.0",
        ),
        (
            "v",
            "grad  3.0",
            Direction::Backward,
            "dJ/dv = dJ/dJ * ∂J/∂v = 1.0 * 3.0 = 3.0",
        ),
        (
            "b",
            "grad  6.0",
            Direction::Backward,
            "dJ/db = dJ/du * ∂u/∂b = 3.0 * 2.0 = 6.0",
        ),
    ];
    for (node, label, dir, want) in cases {
        assert_eq!(text(node, dir), want, "the stepper's text for {node}");
        let pos = label_on_card(&h, node, label);
        hover_still(&mut h, pos);
        assert!(
            h.query_by_label(want).is_some(),
            "hovering {label:?} on {node} shows {want:?}"
        );
    }
    // Step mode hides what is not computed yet, formulas included.
    h.hover_at(Pos2::new(5.0, 400.0));
    h.run_ok();
    h.key_press(Key::ArrowRight);
    h.run_ok();
    let pos = label_on_card(&h, "v", "value ?");
    hover_still(&mut h, pos);
    // (The project's description, in the inspector, also says "v = a + u".)
    assert!(h.query_by_label_contains("v = a + u = ").is_none());
    h.key_press(Key::Escape);
    h.run_ok();
    let pos = label_on_card(&h, "b", "grad  6.0");
    hover_still(&mut h, pos);
    assert!(
        h.query_by_label("dJ/db = dJ/du * ∂u/∂b = 3.0 * 2.0 = 6.0")
            .is_some()
    );
    let options = egui_kittest::SnapshotOptions::new().max_failed_pixels(1200usize);
    h.snapshot_options("flow-tooltip-1280x720", &options);
}

#[test]
fn a_tensors_formula_lists_its_shape_and_first_entries() {
    let project = common::load("xor-mlp.ron");
    let graph = project.graph;
    let analysis = analyze(&graph);
    let eval = common::eval_cpu(&graph);
    let forward = forward_steps(&graph, &analysis, &eval);
    let backward = backward_steps(&graph, &analysis, &eval);
    let mut formulas = nodegrad::ui::editor::canvas::Formulas::default();
    let mut tensors = 0;
    for node in graph.nodes() {
        let n = &eval.nodes[&node.id];
        for (dir, steps) in [
            (Direction::Forward, &forward),
            (Direction::Backward, &backward),
        ] {
            let want = steps
                .iter()
                .find(|s| s.node == node.id)
                .map(|s| s.text.clone());
            let got = formulas
                .get(&graph, &analysis, Some(&eval), node.id, dir)
                .cloned();
            assert_eq!(
                got.as_ref().map(|f| f.text.clone()),
                want,
                "{} {dir:?}",
                node.name
            );
            let shown = match dir {
                Direction::Forward => Some(&n.value),
                Direction::Backward => n.grad.as_ref(),
            };
            if let (Some(f), Some(a)) = (got, shown) {
                if a.shape().is_empty() {
                    assert_eq!(f.entries, None);
                } else {
                    tensors += 1;
                    let e = f.entries.unwrap();
                    let first = nodegrad::graph::fmt_number(a.data()[0]);
                    assert!(
                        e.starts_with(&format!(
                            "{}: {first}",
                            nodegrad::graph::fmt_shape(a.shape())
                        )),
                        "{e}"
                    );
                    assert!(e.contains(&format!("({} entries", a.len())), "{e}");
                }
            }
        }
    }
    assert!(tensors >= 4, "xor-mlp has vector values and gradients");
}

#[test]
fn the_backward_pass_pulses_in_the_chain_rules_order_and_pauses_snapshot() {
    let storage = tempfile::tempdir().unwrap();
    let mut h = example("computational-graph.ron", storage.path(), [1920.0, 1080.0]);
    fit(&mut h);
    let graph = h.state().doc.graph().clone();
    let analysis = analyze(&graph);
    let eval = common::eval_cpu(&graph);
    let steps = backward_steps(&graph, &analysis, &eval);
    let names: Vec<&str> = steps
        .iter()
        .map(|s| graph.node(s.node).unwrap().name.as_str())
        .collect();
    assert_eq!(
        names,
        ["J", "v", "u", "c", "b", "a"],
        "the chain rule's order"
    );
    animate(&mut h, 2.0);
    let flow_steps: Vec<NodeId> = h
        .state()
        .canvas
        .flow
        .steps()
        .iter()
        .map(|s| s.node)
        .collect();
    assert_eq!(flow_steps, steps.iter().map(|s| s.node).collect::<Vec<_>>());
    let mut lit_before: Vec<Edge> = Vec::new();
    for (k, step) in steps.iter().enumerate() {
        // The pulse starts at the consumer...
        let drawn = h.state().canvas.flow.drawn.clone();
        assert_eq!(drawn.step, Some(k));
        assert_eq!(drawn.node, Some(step.node), "step {k} outlines its node");
        assert_eq!(
            edges(&drawn.pulsing),
            step.edges,
            "step {k} pulses its terms' wires"
        );
        assert_eq!(drawn.phase, 0.0);
        assert_eq!(edges(&drawn.lit), lit_before, "the wires before stay lit");
        assert!(
            h.query_by_label(&format!("step {}/{}", k + 1, steps.len()))
                .is_some()
        );
        assert!(h.query_by_label(&step.text).is_some(), "{}", step.text);
        // ... is half way after half a step's time ...
        advance(&mut h, 0.25);
        assert_eq!(h.state().canvas.flow.drawn.phase, 0.5);
        assert_eq!(h.state().canvas.flow.drawn.node, Some(step.node));
        if k == 1 {
            let options = egui_kittest::SnapshotOptions::new().max_failed_pixels(1500usize);
            h.snapshot_options("flow-computational-graph-1920x1080", &options);
        }
        // ... and the next step begins after a whole one.
        advance(&mut h, 0.25);
        lit_before.extend(&step.edges);
    }
    // At the end every wire is lit and nothing moves.
    let flow = &h.state().canvas.flow;
    assert!(!flow.is_animating());
    assert_eq!(flow.progress(), steps.len() as f64);
    let mut all: Vec<Edge> = graph.edges().collect();
    let mut shown: Vec<Edge> = edges(&flow.drawn.lit)
        .into_iter()
        .chain(edges(&flow.drawn.pulsing))
        .collect();
    all.sort();
    shown.sort();
    assert_eq!(shown, all, "every wire carried a gradient");
    // Pulse strength follows the gradient along each wire: dJ/du = 3 < dJ/dc = 9.
    let strength = |from: &str, to: &str| {
        let (f, t) = (id(&h, from), id(&h, to));
        let w = shown_wire(&h, f, t);
        (w.magnitude, w.strength)
    };
    assert_eq!(strength("u", "v").0, 3.0);
    assert_eq!(strength("c", "u").0, 9.0);
    assert!(strength("c", "u").1 > strength("b", "u").1);
    assert!(strength("b", "u").1 > strength("u", "v").1);
    assert_eq!(
        strength("c", "u").1,
        1.0,
        "the strongest is the top of the scale"
    );

    // Restart, pause: the clock no longer moves it; resume: it goes on.
    h.get_by_label("⟲ Restart").click();
    h.run_ok();
    advance(&mut h, 0.5);
    assert_eq!(h.state().canvas.flow.drawn.step, Some(1));
    h.get_by_label("⏸ Pause").click();
    h.run_ok();
    advance(&mut h, 2.0);
    assert_eq!(h.state().canvas.flow.progress(), 1.0, "paused");
    assert_eq!(h.state().canvas.flow.drawn.step, Some(1));
    h.get_by_label("▶ Resume").click();
    h.run_ok();
    advance(&mut h, 0.5);
    assert_eq!(h.state().canvas.flow.drawn.step, Some(2));

    // On egui's clock the app asks for frames only while the pulse moves: `run` (which
    // stops at the first frame that asks for none) plays it to the end, then stops.
    h.state_mut().canvas.flow.clock = FlowClock::Frame;
    h.get_by_label("⟲ Restart").click();
    h.run_ok();
    assert_eq!(h.state().canvas.flow.progress(), steps.len() as f64);
    assert!(!h.state().canvas.flow.is_animating());
    // At the end the first button plays it again instead of pausing nothing.
    assert!(h.query_by_label("⏸ Pause").is_none());
    assert!(h.query_by_label("▶ Play again").is_some());
    h.get_by_label("⟲ Restart").click();
    // One frame takes the click, the next draws the running animation's Pause.
    h.step();
    h.step();
    h.get_by_label("⏸ Pause").click();
    h.run_ok();
    let paused_at = h.state().canvas.flow.progress();
    assert!(paused_at < 1.0, "{paused_at}");
    h.run_ok();
    assert_eq!(
        h.state().canvas.flow.progress(),
        paused_at,
        "no frames while paused"
    );
    h.get_by_label("✖ Close").click();
    h.run_ok();
    assert_eq!(h.state().canvas.flow.mode, FlowMode::Off);
    assert_eq!(h.state().canvas.flow.drawn.step, None);
}

fn shown_wire(
    h: &Harness<'_, NodegradApp>,
    from: NodeId,
    to: NodeId,
) -> nodegrad::ui::editor::flow::FlowWire {
    h.state()
        .canvas
        .flow
        .steps()
        .iter()
        .flat_map(|s| s.wires.iter())
        .find(|w| w.edge.from == from && w.edge.to == to)
        .cloned()
        .unwrap()
}

#[test]
fn vanishing_gradients_fade_layer_by_layer_snapshot() {
    let storage = tempfile::tempdir().unwrap();
    let mut h = example("vanishing-gradients.ron", storage.path(), [1280.0, 720.0]);
    fit(&mut h);
    let graph = h.state().doc.graph().clone();
    let eval = common::eval_cpu(&graph);
    animate(&mut h, 1.0);
    let n = h.state().canvas.flow.steps().len();
    // When each wire into the sigmoid net's Dense layers pulses, and how strongly.
    let wire = |k: usize| Edge {
        from: id(&h, &format!("s_h{k}")),
        to: id(&h, &format!("s_d{}", k + 1)),
        port: 0,
    };
    let layers: Vec<Edge> = (1..=5).rev().map(wire).collect();
    let mut pulsed: Vec<(Edge, usize, f32)> = Vec::new();
    for k in 0..n {
        for w in &h.state().canvas.flow.drawn.pulsing {
            if layers.contains(&w.edge) {
                assert_eq!(
                    w.magnitude,
                    rms(&eval.edges[&w.edge]),
                    "the gradient along it"
                );
                pulsed.push((w.edge, k, w.strength));
            }
        }
        if k == n - 6 {
            let options = egui_kittest::SnapshotOptions::new().max_failed_pixels(4000usize);
            h.snapshot_options("flow-vanishing-gradients-1280x720", &options);
        }
        advance(&mut h, 1.0);
    }
    let order: Vec<Edge> = pulsed.iter().map(|p| p.0).collect();
    assert_eq!(
        order, layers,
        "from the last hidden layer back to the first"
    );
    for pair in pulsed.windows(2) {
        let (a, b) = (&pair[0], &pair[1]);
        assert!(
            a.1 < b.1,
            "the chain rule reaches {:?} after {:?}",
            b.0,
            a.0
        );
        let (ga, gb) = (rms(&eval.edges[&a.0]), rms(&eval.edges[&b.0]));
        assert!(gb < ga, "the gradient fades: {gb} after {ga}");
        assert!(b.2 < a.2, "and so does the pulse: {} after {}", b.2, a.2);
    }
    let (first, last) = (rms(&eval.edges[&layers[4]]), rms(&eval.edges[&layers[0]]));
    assert!(
        first < last / 10.0,
        "more than a decade across the net: {first} vs {last}"
    );
    // Zoomed out, a summary card's gradient has the same formula on hover.
    assert!(h.state().canvas.cards.values().all(|c| c.summary));
    let analysis = analyze(&graph);
    let s_d2 = id(&h, "s_d2");
    let want = backward_steps(&graph, &analysis, &eval)
        .into_iter()
        .find(|s| s.node == s_d2)
        .unwrap()
        .text;
    let card = h.state().canvas.node_screen_rect(s_d2).unwrap();
    hover_still(&mut h, Pos2::new(card.center().x, card.bottom() - 7.0));
    assert!(h.query_by_label(&want).is_some(), "{want}");
}

#[test]
fn step_mode_pulses_each_backward_step_it_takes() {
    let storage = tempfile::tempdir().unwrap();
    let mut h = example("computational-graph.ron", storage.path(), [1280.0, 720.0]);
    h.state_mut().canvas.flow.clock = FlowClock::Manual;
    let graph = h.state().doc.graph().clone();
    let analysis = analyze(&graph);
    let eval = common::eval_cpu(&graph);
    let steps = backward_steps(&graph, &analysis, &eval);
    // Six forward steps: no flow yet.
    for _ in 0..6 {
        h.key_press(Key::ArrowRight);
        h.run_ok();
    }
    assert_eq!(h.state().canvas.flow.mode, FlowMode::Off);
    for (k, step) in steps.iter().enumerate() {
        h.key_press(Key::ArrowRight);
        h.run_ok();
        let flow = &h.state().canvas.flow;
        assert_eq!(flow.mode, FlowMode::Stepping);
        assert_eq!(flow.drawn.node, Some(step.node), "backward step {k}");
        assert_eq!(edges(&flow.drawn.pulsing), step.edges);
        assert_eq!(
            flow.drawn.phase, 0.0,
            "the pulse starts when the step is taken"
        );
        assert!(flow.is_animating());
        advance(&mut h, 1.0);
        assert_eq!(h.state().canvas.flow.drawn.phase, 1.0, "and arrives");
        assert!(!h.state().canvas.flow.is_animating());
    }
    // Back one step: the previous step shows, arrived.
    h.key_press(Key::ArrowLeft);
    h.run_ok();
    let flow = &h.state().canvas.flow;
    assert_eq!(flow.drawn.node, Some(steps[steps.len() - 2].node));
    assert_eq!(flow.drawn.phase, 1.0);
    h.key_press(Key::Escape);
    h.run_ok();
    assert_eq!(h.state().canvas.flow.mode, FlowMode::Off);
}

#[test]
fn a_frame_saved_as_png_has_the_canvas_size() {
    let storage = tempfile::tempdir().unwrap();
    let mut h = example("computational-graph.ron", storage.path(), [1280.0, 720.0]);
    fit(&mut h);
    animate(&mut h, 1.0);
    advance(&mut h, 2.5);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("flow.png");
    h.state_mut().canvas.flow.save_frame_to(path.clone());
    h.run_ok();
    let img = image::open(&path).expect("the PNG decodes");
    let view = h.state().canvas.view_rect();
    let ppp = h.ctx.pixels_per_point();
    assert_eq!(
        (img.width(), img.height()),
        (
            ((view.max.x * ppp).round() - (view.min.x * ppp).round()) as u32,
            ((view.max.y * ppp).round() - (view.min.y * ppp).round()) as u32
        ),
        "the canvas's size ({view:?})"
    );
    assert!(img.width() > 400 && img.height() > 300);
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["flow.png"], "no temp file is left");
    assert!(
        h.state().message.starts_with("saved the frame"),
        "{}",
        h.state().message
    );
    // A folder that does not exist: a message naming it, nothing written.
    let bad = dir.path().join("missing").join("flow.png");
    h.state_mut().canvas.flow.save_frame_to(bad.clone());
    h.run_ok();
    assert!(
        h.state().message.contains("missing"),
        "{}",
        h.state().message
    );
    assert!(!bad.exists());
}
