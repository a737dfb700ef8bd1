//! Opening a Dense layer into its neurons (issue 13, point 3): the expanded graph gives the
//! same values and gradients as the layer, collapsing keeps edited weights, layers above the
//! limit are refused with the size and the limit, and the group survives save and reopen.
//! The last tests drive the real app: right-click, Expand, edit a weight, Collapse, undo.

mod common;

use std::collections::BTreeSet;
use std::path::Path;

use common::{assert_close, eval_cpu, load};
use egui::{Modifiers, Vec2};
use egui_kittest::Harness;
use egui_kittest::kittest::{NodeT, Queryable};
use nodegrad::analysis::analyze;
use nodegrad::exec::Evaluation;
use nodegrad::graph::expand::{self, MAX_INPUTS, MAX_UNITS};
use nodegrad::graph::{Array, Graph, Init, NodeId, Op};
use nodegrad::project::Project;
use nodegrad::project::training::DeviceChoice;
use nodegrad::train::{Prepared, TrainDevice, Trainer};
use nodegrad::ui::document::{Document, Edit};
use nodegrad::ui::{AppConfig, NodegradApp};

const TOL: f64 = 1e-12;

fn id(g: &Graph, name: &str) -> NodeId {
    g.find(name)
        .unwrap_or_else(|| panic!("no node `{name}`"))
        .id
}

/// The shape analysis gives the input of `layer`.
fn input_shape(g: &Graph, layer: NodeId) -> Vec<usize> {
    let a = analyze(g);
    a.shapes[&g.input(layer, 0).expect("wired")].clone()
}

/// Expands the Dense `name` in a copy of `g`.
fn expanded(g: &Graph, name: &str) -> Graph {
    let mut e = g.clone();
    let layer = id(&e, name);
    let shape = input_shape(&e, layer);
    expand::expand(&mut e, layer, &shape).unwrap_or_else(|m| panic!("{m}"));
    e
}

fn assert_arrays(got: &Array, want: &Array, what: &str) {
    assert_eq!(got.shape(), want.shape(), "{what}: shape");
    for (i, (g, w)) in got.data().iter().zip(want.data()).enumerate() {
        assert_close(*g, *w, TOL, &format!("{what}[{i}]"));
    }
}

/// The layer `name` of `before` and its neurons in `after` give the same numbers: every
/// node both graphs share (values and gradients, the layer's output included), and each
/// neuron's weights and bias against the layer's weight column and bias entry.
fn assert_same_numbers(before: &Graph, after: &Graph, name: &str) {
    let (eb, ea): (Evaluation, Evaluation) = (eval_cpu(before), eval_cpu(after));
    assert_close(
        ea.objective.unwrap(),
        eb.objective.unwrap(),
        TOL,
        "objective",
    );
    let layer = id(before, name);
    let mut shared = 0;
    for n in before.nodes() {
        let Some(m) = after.find(&n.name) else {
            continue;
        };
        let (b, a) = (&eb.nodes[&n.id], &ea.nodes[&m.id]);
        assert_arrays(&a.value, &b.value, &format!("value of {}", n.name));
        assert_arrays(
            a.grad.as_ref().unwrap(),
            b.grad.as_ref().unwrap(),
            &format!("gradient of {}", n.name),
        );
        shared += 1;
    }
    assert_eq!(
        shared,
        before.len(),
        "every node of the layer's graph is still there"
    );
    let dense = &eb.nodes[&layer].tensors;
    let (w, b) = (&dense["weight"], &dense["bias"]);
    let (w_grad, b_grad) = (w.grad.as_ref().unwrap(), b.grad.as_ref().unwrap());
    let [n, units] = w.value.shape() else {
        panic!("weight shape {:?}", w.value.shape())
    };
    let e = &after.expansions()[&layer];
    assert_eq!(e.neurons.len(), *units);
    for (j, nr) in e.neurons.iter().enumerate() {
        let wv = &ea.nodes[&nr.weights];
        let bv = &ea.nodes[&nr.bias];
        for i in 0..*n {
            let what = format!("{name} w[{i},{j}]");
            assert_close(
                wv.value.data()[i],
                w.value.data()[i * units + j],
                TOL,
                &what,
            );
            let g = wv.grad.as_ref().unwrap().data()[i];
            assert_close(g, w_grad.data()[i * units + j], TOL, &format!("dJ/d{what}"));
        }
        assert_close(bv.value.data()[0], b.value.data()[j], TOL, "bias");
        let g = bv.grad.as_ref().unwrap().data()[0];
        assert_close(g, b_grad.data()[j], TOL, &format!("dJ/d{name} b[{j}]"));
    }
}

#[test]
fn each_dense_of_xor_mlp_expands_to_the_same_values_and_gradients() {
    let g = load("xor-mlp.ron").graph;
    for name in ["hidden", "out"] {
        let e = expanded(&g, name);
        assert_same_numbers(&g, &e, name);
    }
    // Worked numbers: x = (1, 0), W = [[6, 4], [6, 4]], b = (-3, -6).
    let e = expanded(&g, "hidden");
    let ev = eval_cpu(&e);
    let value = |n: &str| ev.nodes[&id(&e, n)].value.data().to_vec();
    assert_eq!(value("hidden_n0_w"), [6.0, 6.0], "column 0 of W");
    assert_eq!(value("hidden_n1_w"), [4.0, 4.0], "column 1 of W");
    assert_eq!(value("hidden_n0_xw"), [6.0, 0.0], "x_i w_i0");
    assert_eq!(value("hidden_n0"), [3.0], "6 + 0 - 3");
    assert_eq!(value("hidden_n1"), [-2.0], "4 + 0 - 6");
    assert_eq!(value("hidden"), [3.0, -2.0], "the neurons joined");
}

#[test]
fn a_dense_on_a_flattened_input_with_drawn_weights_expands_to_the_same_numbers() {
    // x [2, 2] -> Flatten -> Dense(3), weights never stored (drawn from the initializer),
    // -> Tanh -> MSE against a target.
    let mut g = Graph::new();
    let x = g.add(Op::Input, [0.0, 0.0]);
    g.set_tensor(
        x,
        "value",
        Array::new(vec![2, 2], vec![0.5, -1.0, 2.0, 0.25]).unwrap(),
    )
    .unwrap();
    let f = g.add(Op::Flatten, [250.0, 0.0]);
    let d = g.add(
        Op::Dense {
            units: 3,
            init: Init::XavierUniform,
        },
        [500.0, 0.0],
    );
    let t = g.add(Op::Tanh, [750.0, 0.0]);
    let y = g.add(Op::Constant, [750.0, 300.0]);
    g.set_tensor(y, "value", Array::vector(vec![0.1, -0.2, 0.3]))
        .unwrap();
    let l = g.add(Op::MSE, [1000.0, 0.0]);
    for (from, to, port) in [(x, f, 0), (f, d, 0), (d, t, 0), (t, l, 0), (y, l, 1)] {
        g.connect(from, to, port).unwrap();
    }
    assert!(g.node(d).unwrap().tensors.is_empty(), "no stored weights");
    let e = expanded(&g, "dense1");
    assert_same_numbers(&g, &e, "dense1");
    // The nodes right of the layer moved aside, so nothing overlaps the neurons.
    assert!(e.node(t).unwrap().pos[0] > e.node(d).unwrap().pos[0]);
    let ex = &e.expansions()[&d];
    for nr in &ex.neurons {
        for m in [nr.weights, nr.mul, nr.sum, nr.bias, nr.add] {
            assert!(e.node(m).unwrap().pos[0] < e.node(t).unwrap().pos[0]);
        }
    }
}

#[test]
fn a_scalar_input_layer_expands_too() {
    let mut g = Graph::new();
    let x = g.add(Op::Input, [0.0, 0.0]);
    g.set_tensor(x, "value", Array::scalar(1.5)).unwrap();
    let d = g.add(
        Op::Dense {
            units: 2,
            init: Init::XavierUniform,
        },
        [300.0, 0.0],
    );
    g.connect(x, d, 0).unwrap();
    let s = g.add(Op::Sum { axis: None }, [600.0, 0.0]);
    g.connect(d, s, 0).unwrap();
    let e = expanded(&g, "dense1");
    assert_same_numbers(&g, &e, "dense1");
}

/// Steps two trainers side by side; their mini-batch losses agree step by step (f32).
#[test]
fn training_batches_flow_through_the_neurons_as_through_the_layer() {
    let p = load("xor-train.ron");
    let mut config = p.training.clone().unwrap();
    config.device = DeviceChoice::Cpu;
    let e = expanded(&p.graph, "dense1");
    let trainer = |g: &Graph| {
        let prepared = Prepared::new(&config, None).unwrap();
        Trainer::new(
            g,
            &config,
            prepared,
            TrainDevice::choose(DeviceChoice::Cpu).unwrap(),
        )
        .unwrap_or_else(|err| panic!("{err}"))
    };
    let (mut a, mut b) = (trainer(&p.graph), trainer(&e));
    let mut first = None;
    let mut last = 0.0;
    for step in 0..40 {
        let (la, lb) = (a.step().unwrap().loss, b.step().unwrap().loss);
        assert!(
            (la - lb).abs() <= 1e-5 * la.abs().max(1.0),
            "step {step}: layer loss {la}, neurons loss {lb}"
        );
        first.get_or_insert(la);
        last = la;
    }
    assert!(last < first.unwrap(), "the loss fell: {first:?} -> {last}");
    // The trained weights agree too: the layer's column j is neuron j's weights.
    let layer = id(&p.graph, "dense1");
    let wa = a.weights().unwrap();
    let w = &wa
        .iter()
        .find(|(n, k, _)| *n == layer && k == "weight")
        .unwrap()
        .2;
    let wb = b.weights().unwrap();
    for (j, nr) in e.expansions()[&layer].neurons.iter().enumerate() {
        let col = &wb.iter().find(|(n, _, _)| *n == nr.weights).unwrap().2;
        for i in 0..2 {
            let (x, y) = (w.data()[i * 4 + j], col.data()[i]);
            assert!((x - y).abs() <= 1e-5, "w[{i},{j}]: {x} vs {y}");
        }
    }
}

/// Each node as (name, op, position, tensors), sorted by name.
type NamedNodes = Vec<(String, Op, [f32; 2], Vec<(String, Array)>)>;
/// Each wire as (producer, consumer, port).
type NamedWires = BTreeSet<(String, String, usize)>;

/// Nodes and wires by name: what two graphs must share to be "the same graph".
fn by_name(g: &Graph) -> (NamedNodes, NamedWires) {
    let mut nodes: Vec<_> = g
        .nodes()
        .map(|n| {
            (
                n.name.clone(),
                n.op.clone(),
                n.pos,
                n.tensors
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
            )
        })
        .collect();
    nodes.sort_by(|a, b| a.0.cmp(&b.0));
    let name = |id| g.node(id).unwrap().name.clone();
    let edges = g
        .edges()
        .map(|e| (name(e.from), name(e.to), e.port))
        .collect();
    (nodes, edges)
}

#[test]
fn collapse_gives_back_the_layer_with_an_edited_weight_at_its_index() {
    let g = load("xor-mlp.ron").graph;
    let mut e = expanded(&g, "hidden");
    let layer = id(&g, "hidden");
    // Collapsing untouched neurons gives back exactly the graph we had.
    let mut same = e.clone();
    expand::collapse(&mut same, layer).unwrap();
    assert_eq!(by_name(&same), by_name(&g));
    assert!(same.expansions().is_empty());
    // Edit W[1, 1] (neuron 1's second weight) and neuron 0's bias, then collapse.
    let w1 = id(&e, "hidden_n1_w");
    e.set_tensor(w1, "value", Array::vector(vec![4.0, 9.5]))
        .unwrap();
    let b0 = id(&e, "hidden_n0_b");
    e.set_tensor(b0, "value", Array::scalar(-2.5)).unwrap();
    expand::collapse(&mut e, layer).unwrap();
    let dense = e.node(layer).unwrap();
    assert_eq!(dense.name, "hidden");
    assert!(matches!(dense.op, Op::Dense { units: 2, .. }));
    assert_eq!(dense.tensors["weight"].shape(), [2, 2]);
    assert_eq!(
        dense.tensors["weight"].data(),
        [6.0, 4.0, 6.0, 9.5],
        "W[1,1] = 9.5"
    );
    assert_eq!(dense.tensors["bias"].data(), [-2.5, -6.0]);
    assert_eq!(e.input(layer, 0), Some(id(&e, "x")));
    assert_eq!(e.len(), g.len(), "the neurons are gone");
}

#[test]
fn layers_above_eight_by_eight_and_convolutions_are_refused_with_the_size_and_the_limit() {
    assert_eq!((MAX_INPUTS, MAX_UNITS), (8, 8));
    // digits-mlp's first layer reads 64 pixels.
    let g = load("digits-mlp.ron").graph;
    let first = g
        .nodes()
        .find(|n| matches!(n.op, Op::Dense { .. }) && input_shape(&g, n.id) == [64])
        .expect("a Dense over 64 inputs");
    let why = expand::check_expand(&g, first.id, Some(&[64])).unwrap_err();
    assert!(why.contains("64 inputs x"), "{why}");
    assert!(why.contains("up to 8 inputs x 8 units"), "{why}");
    let mut copy = g.clone();
    assert_eq!(expand::expand(&mut copy, first.id, &[64]), Err(why));
    assert_eq!(copy, g, "a refused expansion changes nothing");
    // 8 x 9 is refused, 8 x 8 is not.
    let mut g = Graph::new();
    let x = g.add(Op::Input, [0.0, 0.0]);
    g.set_tensor(x, "value", Array::vector(vec![1.0; 8]))
        .unwrap();
    let d = g.add(
        Op::Dense {
            units: 9,
            init: Init::XavierUniform,
        },
        [300.0, 0.0],
    );
    g.connect(x, d, 0).unwrap();
    let why = expand::check_expand(&g, d, Some(&[8])).unwrap_err();
    assert!(why.contains("`dense1` is 8 inputs x 9 units"), "{why}");
    g.set_op(
        d,
        Op::Dense {
            units: 8,
            init: Init::XavierUniform,
        },
    )
    .unwrap();
    let e = expanded(&g, "dense1");
    assert_same_numbers(&g, &e, "dense1");
    // A matrix input, an unwired layer, a convolution, a Mul: each says why.
    let why = expand::check_expand(&g, d, Some(&[2, 4])).unwrap_err();
    assert!(why.contains("[2, 4]") && why.contains("vector"), "{why}");
    let lone = g.add(
        Op::Dense {
            units: 2,
            init: Init::XavierUniform,
        },
        [0.0, 600.0],
    );
    let why = expand::check_expand(&g, lone, None).unwrap_err();
    assert!(why.contains("wire its input first"), "{why}");
    let conv = load("conv-by-hand.ron").graph;
    let c = conv
        .nodes()
        .find(|n| matches!(n.op, Op::Conv2d { .. }))
        .unwrap();
    let why = expand::check_expand(&conv, c.id, Some(&[1, 4, 4])).unwrap_err();
    assert!(why.contains("is a Conv2d: only Dense layers"), "{why}");
    let why = expand::check_expand(&g, x, None).unwrap_err();
    assert!(why.contains("is a Input: only Dense"), "{why}");
}

#[test]
fn a_group_that_is_no_longer_a_layer_says_why_it_cannot_collapse() {
    let g = load("xor-mlp.ron").graph;
    let layer = id(&g, "hidden");
    let e = expanded(&g, "hidden");
    // A deleted neuron node.
    let mut broken = e.clone();
    broken.remove(id(&broken, "hidden_n1_sum"));
    let why = expand::check_collapse(&broken, layer).unwrap_err();
    assert!(why.contains("was deleted"), "{why}");
    assert_eq!(expand::collapse(&mut broken.clone(), layer), Err(why));
    // A rewired product.
    let mut rewired = e.clone();
    let (w0, mul1) = (id(&rewired, "hidden_n0_w"), id(&rewired, "hidden_n1_xw"));
    rewired.connect(w0, mul1, 1).unwrap();
    let why = expand::check_collapse(&rewired, layer).unwrap_err();
    assert!(
        why.contains("`hidden_n1_xw` no longer reads `hidden_n1_w`"),
        "{why}"
    );
    // A weight vector of the wrong length.
    let mut resized = e.clone();
    let w = id(&resized, "hidden_n0_w");
    resized
        .set_tensor(w, "value", Array::vector(vec![1.0; 3]))
        .unwrap();
    let why = expand::check_collapse(&resized, layer).unwrap_err();
    assert!(
        why.contains("`hidden_n0_w` holds [3]") && why.contains("2 values"),
        "{why}"
    );
    // A neuron that also feeds something outside the layer.
    let mut tapped = e.clone();
    let extra = tapped.add(Op::Neg, [0.0, 900.0]);
    let n0 = id(&tapped, "hidden_n0");
    tapped.connect(n0, extra, 0).unwrap();
    let why = expand::check_collapse(&tapped, layer).unwrap_err();
    assert!(why.contains("`hidden_n0` also feeds `neg1`"), "{why}");
    // Deleting the layer's own node forgets the group.
    let mut gone = e.clone();
    gone.remove(layer);
    assert!(gone.expansions().is_empty());
}

#[test]
fn an_expanded_layer_survives_save_and_reopen_and_old_files_load() {
    let p = load("xor-mlp.ron");
    assert!(
        p.to_ron().unwrap().find("expanded").is_none(),
        "no new field in old files"
    );
    let mut e = p.clone();
    e.graph = expanded(&p.graph, "hidden");
    let text = e.to_ron().unwrap();
    assert!(text.contains("expanded:"), "{text}");
    let back = Project::parse(&text, "saved.ron").unwrap();
    assert!(
        back.load_diagnostics.is_empty(),
        "{:?}",
        back.load_diagnostics
    );
    assert_eq!(back.graph.expansions(), e.graph.expansions());
    assert_eq!(
        back.to_ron().unwrap(),
        text,
        "save -> load -> save is byte-identical"
    );
    let mut g = back.graph.clone();
    let layer = id(&g, "hidden");
    expand::collapse(&mut g, layer).unwrap();
    assert_eq!(by_name(&g), by_name(&p.graph));
    // A record naming a node that is not there loads with a warning and no group.
    let bad = text.replace("weights: \"hidden_n0_w\"", "weights: \"nope\"");
    assert_ne!(bad, text);
    let loaded = Project::parse(&bad, "bad.ron").unwrap();
    assert!(loaded.graph.expansions().is_empty());
    let msg = loaded.load_diagnostics[0].to_string();
    assert!(msg.contains("`hidden`") && msg.contains("`nope`"), "{msg}");
}

#[test]
fn hostile_expanded_records_load_with_a_warning_and_no_group() {
    let p = load("xor-mlp.ron");
    let mut e = p.clone();
    e.graph = expanded(&p.graph, "hidden");
    let text = e.to_ron().unwrap();
    for (from, to, says) in [
        (
            "inputs: 2,",
            "inputs: 100000000000,",
            "up to 8 inputs x 8 units",
        ),
        ("Dense(units: 2,", "Dense(units: 3,", "one neuron per unit"),
        (
            "Dense(units: 2, init: XavierUniform)",
            "Mul",
            "a Mul, not a Dense",
        ),
        (
            "layer: \"hidden\"",
            "layer: \"ghost\"",
            "`ghost`, but no node",
        ),
    ] {
        let hits: Vec<_> = text.match_indices(from).collect();
        assert!(!hits.is_empty(), "`{from}` in {text}");
        // Only the record's copy: the last occurrence (the node list comes first).
        let at = hits.last().unwrap().0;
        let bad = format!("{}{to}{}", &text[..at], &text[at + from.len()..]);
        let loaded = Project::parse(&bad, "hostile.ron").unwrap_or_else(|err| panic!("{err}"));
        assert!(loaded.graph.expansions().is_empty(), "{to}");
        let msg = loaded.load_diagnostics[0].to_string();
        assert!(msg.contains(says), "{to}: {msg}");
    }
}

#[test]
fn expand_and_collapse_are_each_one_undo_step() {
    let p = load("xor-mlp.ron");
    let original = p.graph.clone();
    let mut doc = Document::new(p, None);
    let layer = id(doc.graph(), "hidden");
    let input_shape = input_shape(doc.graph(), layer);
    doc.apply(Edit::ExpandLayer { layer, input_shape }).unwrap();
    assert_eq!(doc.graph().len(), original.len() + 10);
    let w = id(doc.graph(), "hidden_n0_w");
    doc.apply(Edit::SetTensor(
        w,
        "value".into(),
        Array::vector(vec![7.0, 6.0]),
    ))
    .unwrap();
    doc.apply(Edit::CollapseLayer(layer)).unwrap();
    assert_eq!(
        doc.graph().node(layer).unwrap().tensors["weight"].data()[0],
        7.0
    );
    assert!(doc.undo(), "undo the collapse");
    assert!(doc.graph().expansions().contains_key(&layer));
    assert!(doc.undo(), "undo the weight");
    assert!(doc.undo(), "undo the expansion");
    assert_eq!(doc.graph(), &original);
    // A refused expansion is no step at all.
    assert!(
        doc.apply(Edit::ExpandLayer {
            layer,
            input_shape: vec![2, 2]
        })
        .is_err()
    );
    assert!(!doc.can_undo());
}

// ---- The real app ----

fn app(file: &Path, storage: &Path, size: [f32; 2]) -> Harness<'static, NodegradApp> {
    let config = AppConfig {
        file: Some(file.to_path_buf()),
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

fn node(h: &Harness<'_, NodegradApp>, name: &str) -> NodeId {
    id(h.state().doc.graph(), name)
}

/// Right-clicks a card's title.
fn right_click_title(h: &mut Harness<'_, NodegradApp>, n: NodeId) {
    let title = h.state().canvas.node_screen_rect(n).unwrap().left_top() + Vec2::new(14.0, 12.0);
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
}

/// Presses F (fit) and lets the cards measure themselves.
fn fit(h: &mut Harness<'_, NodegradApp>) {
    h.key_press(egui::Key::F);
    h.run_ok();
    h.run_steps(8);
    h.run_ok();
}

fn snapshot(h: &mut Harness<'_, NodegradApp>, name: &str) {
    // A few pixels of antialiasing differ between runs on lavapipe.
    let options = egui_kittest::SnapshotOptions::new()
        .threshold(1.5)
        .max_failed_pixels(200usize);
    h.snapshot_options(name, &options);
}

/// Left-clicks at `pos` (selects a card).
fn click_at(h: &mut Harness<'_, NodegradApp>, pos: egui::Pos2) {
    h.hover_at(pos);
    h.run_ok();
    for pressed in [true, false] {
        h.event(egui::Event::PointerButton {
            pos,
            button: egui::PointerButton::Primary,
            pressed,
            modifiers: Modifiers::NONE,
        });
    }
    h.run_ok();
}

fn title_of(h: &Harness<'_, NodegradApp>, n: NodeId) -> egui::Pos2 {
    h.state().canvas.node_screen_rect(n).unwrap().left_top() + Vec2::new(14.0, 12.0)
}

/// No two cards overlap, and every card lies inside the canvas (left of the inspector).
fn assert_cards_apart(h: &Harness<'_, NodegradApp>, canvas_right: f32) {
    let g = h.state().doc.graph();
    let rects: Vec<_> = g
        .nodes()
        .map(|n| {
            let r = h.state().canvas.node_screen_rect(n.id);
            (
                n.name.clone(),
                r.unwrap_or_else(|| panic!("card {} drawn", n.name)),
            )
        })
        .collect();
    for (i, (a, ra)) in rects.iter().enumerate() {
        assert!(
            ra.right() <= canvas_right && ra.left() >= 0.0,
            "{a} at {ra:?}"
        );
        for (b, rb) in &rects[i + 1..] {
            assert!(!ra.intersects(*rb), "{a} {ra:?} overlaps {b} {rb:?}");
        }
    }
}

#[test]
fn right_click_expand_edit_a_weight_collapse_and_undo_in_the_window() {
    let storage = tempfile::tempdir().unwrap();
    let mut h = app(
        &common::project_path("xor-mlp.ron"),
        storage.path(),
        [1280.0, 720.0],
    );
    let opened = h.state().doc.graph().clone();
    let hidden = node(&h, "hidden");
    right_click_title(&mut h, hidden);
    h.get_by_label("Expand into neurons").click();
    h.run_ok();
    fit(&mut h);
    let g = h.state().doc.graph().clone();
    assert!(g.expansions().contains_key(&hidden));
    assert_eq!(g.len(), opened.len() + 10, "5 nodes for each of 2 neurons");
    assert_cards_apart(&h, 870.0);
    // The cards and their numbers, as the inspector shows them for a clicked card:
    // neuron 0 = 6 * 1 + 6 * 0 - 3 = 3, neuron 1 = 4 * 1 + 4 * 0 - 6 = -2.
    for (name, op, value) in [
        ("hidden_n0", "Add", "3.0"),
        ("hidden_n1", "Add", "-2.0"),
        ("hidden_n0_w", "Parameter", "6.0, 6.0"),
        ("hidden_n1_xw", "Mul", "4.0, 0.0"),
        ("hidden_n1_b", "Parameter", "-6.0"),
        ("hidden", "Concat", "3.0, -2.0"),
    ] {
        let at = title_of(&h, id(&g, name));
        click_at(&mut h, at);
        assert!(
            h.query_by_label(&format!("{name}  ({op})")).is_some(),
            "the inspector shows {name}"
        );
        assert!(
            h.query_all_by_label(value).next().is_some(),
            "{name} shows {value}"
        );
    }
    // The pointer off the cards, the joined vector in the inspector.
    h.hover_at(egui::Pos2::new(700.0, 540.0));
    h.run_ok();
    snapshot(&mut h, "neurons-xor-hidden-1280x720");

    // Zoom in on neuron 1's weights until the card shows its editor, and type new ones.
    let w1 = id(&g, "hidden_n1_w");
    let at = h.state().canvas.node_screen_rect(w1).unwrap().center();
    h.hover_at(at);
    h.run_ok();
    h.event(egui::Event::MouseWheel {
        unit: egui::MouseWheelUnit::Line,
        delta: Vec2::new(0.0, 8.0),
        phase: egui::TouchPhase::Move,
        modifiers: Modifiers::NONE,
    });
    h.run_ok();
    h.run_steps(30);
    h.run_ok();
    h.get_by_label("values of hidden_n1_w").focus();
    h.run_ok();
    h.get_by_label("values of hidden_n1_w").type_text("5, 4");
    h.run_ok();
    h.key_press(egui::Key::Enter);
    h.run_ok();
    let doc_w = h
        .state()
        .doc
        .graph()
        .node(w1)
        .unwrap()
        .value()
        .unwrap()
        .clone();
    assert_eq!(doc_w.data(), [5.0, 4.0], "typed into the weights card");
    let ev = h.state().eval.clone().expect("evaluated");
    assert_eq!(ev.nodes[&id(&g, "hidden_n1")].value.data(), [-1.0], "5 - 6");
    // Collapse from the menu of another node of the same neuron.
    fit(&mut h);
    right_click_title(&mut h, id(&g, "hidden_n1_sum"));
    h.get_by_label("Collapse into layer").click();
    h.run_ok();
    let dense = h.state().doc.graph().node(hidden).unwrap().clone();
    assert!(matches!(dense.op, Op::Dense { units: 2, .. }));
    assert_eq!(
        dense.tensors["weight"].data(),
        [6.0, 5.0, 6.0, 4.0],
        "W[0, 1] = 5, the rest as before"
    );
    assert_eq!(h.state().doc.graph().len(), opened.len());
    let ev = h.state().eval.clone().expect("evaluated");
    assert_eq!(ev.nodes[&hidden].value.data(), [3.0, -1.0]);
    // Undo: the collapse, then the typed weights, then the expansion, each one step.
    h.key_press_modifiers(Modifiers::COMMAND, egui::Key::Z);
    h.run_ok();
    assert!(h.state().doc.graph().expansions().contains_key(&hidden));
    for _ in 0..2 {
        h.key_press_modifiers(Modifiers::COMMAND, egui::Key::Z);
        h.run_ok();
    }
    assert_eq!(
        h.state().doc.graph(),
        &opened,
        "three undos give back the file as opened"
    );
}

#[test]
fn an_eight_by_eight_layer_expands_with_its_cards_apart_at_1280x720() {
    // x [8] -> Dense(8) -> Sigmoid -> Sum, saved and opened in the window.
    let mut g = Graph::new();
    let x = g.add(Op::Input, [0.0, 0.0]);
    let values = (0..8).map(|i| i as f64 / 8.0 - 0.5).collect();
    g.set_tensor(x, "value", Array::vector(values)).unwrap();
    let d = g.add(
        Op::Dense {
            units: 8,
            init: Init::XavierUniform,
        },
        [320.0, 0.0],
    );
    let s = g.add(Op::Sigmoid, [640.0, 0.0]);
    let j = g.add(Op::Sum { axis: None }, [960.0, 0.0]);
    for (from, to) in [(x, d), (d, s), (s, j)] {
        g.connect(from, to, 0).unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("wide.ron");
    Project::from_graph(g.clone()).save(&file).unwrap();
    let mut h = app(&file, dir.path(), [1280.0, 720.0]);
    right_click_title(&mut h, d);
    h.get_by_label("Expand into neurons").click();
    h.run_ok();
    fit(&mut h);
    assert_eq!(h.state().doc.graph().len(), 4 + 8 * 5);
    assert_cards_apart(&h, 870.0);
    h.hover_at(egui::Pos2::new(700.0, 580.0));
    h.run_ok();
    snapshot(&mut h, "neurons-8x8-1280x720");
    let e = h.state().doc.graph().clone();
    assert_same_numbers(&g, &e, "dense1");
}

#[test]
fn a_bigger_layer_expands_readably_at_1920x1080_and_a_too_big_one_says_why() {
    let storage = tempfile::tempdir().unwrap();
    let mut h = app(
        &common::project_path("xor-train.ron"),
        storage.path(),
        [1920.0, 1080.0],
    );
    let dense1 = node(&h, "dense1");
    right_click_title(&mut h, dense1);
    h.get_by_label("Expand into neurons").click();
    h.run_ok();
    fit(&mut h);
    let g = h.state().doc.graph().clone();
    assert_eq!(g.expansions()[&dense1].neurons.len(), 4);
    let canvas_right = h
        .state()
        .canvas
        .node_screen_rect(dense1)
        .map(|_| 1300.0)
        .unwrap();
    assert_cards_apart(&h, canvas_right);
    h.hover_at(egui::Pos2::new(1000.0, 880.0));
    h.run_ok();
    snapshot(&mut h, "neurons-xor-train-1920x1080");

    // digits-mlp's first layer reads 64 pixels: the item is there, disabled, and says why.
    let mut h = app(
        &common::project_path("digits-mlp.ron"),
        storage.path(),
        [1280.0, 720.0],
    );
    let g = h.state().doc.graph().clone();
    let first = g
        .nodes()
        .find(|n| matches!(n.op, Op::Dense { .. }) && input_shape(&g, n.id) == [64])
        .unwrap()
        .id;
    right_click_title(&mut h, first);
    let item = h.get_by_label("Expand into neurons");
    assert!(item.accesskit_node().is_disabled(), "too big to open");
    let at = item.rect().center();
    h.hover_at(at);
    h.run_ok();
    h.run_steps(30);
    h.run_ok();
    assert!(
        h.query_by_label_contains("64 inputs x").is_some()
            && h.query_by_label_contains("up to 8 inputs x 8 units")
                .is_some(),
        "the hover names the size and the limit"
    );
    assert_eq!(h.state().doc.graph(), &g, "nothing changed");

    // A Conv2d: the item is there, disabled, and says why.
    let mut h = app(
        &common::project_path("conv-by-hand.ron"),
        storage.path(),
        [1280.0, 720.0],
    );
    let conv = node(&h, "conv");
    right_click_title(&mut h, conv);
    let item = h.get_by_label("Expand into neurons");
    assert!(item.accesskit_node().is_disabled());
    let at = item.rect().center();
    h.hover_at(at);
    h.run_ok();
    h.run_steps(30);
    h.run_ok();
    assert!(
        h.query_by_label_contains("is a Conv2d: only Dense layers open into neurons")
            .is_some()
    );
}
