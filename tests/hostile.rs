//! Hostile input never crashes (issue 12): one named case per class of input that used to
//! panic, abort on allocation or be accepted wrongly, and one per invariant hole the review
//! found. Each asserts the message: the node (and file position where there is one) and the
//! limit. `tests/fuzz.rs` finds new cases; a crash it finds becomes a test here.

use std::cell::Cell;
use std::collections::BTreeSet;
use std::sync::Once;

use nodegrad::analysis::{Analysis, Options, Severity, analyze, analyze_with};
use nodegrad::exec::{Engine, Evaluation};
use nodegrad::graph::ops::{MAX_CONCAT_INPUTS, Padding};
use nodegrad::graph::{Array, Graph, Init, NodeId, Op};
use nodegrad::project::{Project, ProjectError, QuizFile, temp_prefix};
use nodegrad::stepper::{backward_steps, forward_steps};
use nodegrad::ui::document::{Document, Edit};

thread_local! {
    static PANICS_HERE: Cell<usize> = const { Cell::new(0) };
}

/// Runs `f` and returns how many panics happened on this thread meanwhile, including ones
/// a layer below caught (exec turns a burn panic into an error; that still counts here).
fn panics_during<R>(f: impl FnOnce() -> R) -> (R, usize) {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            PANICS_HERE.with(|c| c.set(c.get() + 1));
            default(info);
        }));
    });
    let before = PANICS_HERE.with(Cell::get);
    let r = f();
    (r, PANICS_HERE.with(Cell::get) - before)
}

/// Load text -> analyse -> evaluate on the CPU -> steps, asserting no panic anywhere.
fn run_all(project: &Project) -> (Analysis, Evaluation) {
    let ((analysis, eval), panics) = panics_during(|| {
        let analysis = analyze(&project.graph);
        let eval = Engine::cpu()
            .evaluate(&project.graph, &analysis)
            .expect("evaluation returns what it can");
        forward_steps(&project.graph, &analysis, &eval);
        backward_steps(&project.graph, &analysis, &eval);
        (analysis, eval)
    });
    assert_eq!(panics, 0, "a panic on the way");
    (analysis, eval)
}

fn error_on(analysis: &Analysis, graph: &Graph, name: &str) -> String {
    let id = graph.find(name).unwrap().id;
    let d = analysis
        .diagnostics_for(id)
        .find(|d| d.severity == Severity::Error)
        .unwrap_or_else(|| panic!("no error on `{name}`: {:?}", analysis.diagnostics));
    d.to_string()
}

fn input(g: &mut Graph, name: &str, value: Array) -> NodeId {
    let id = g.add(Op::Input, [0.0, 0.0]);
    g.rename(id, name).unwrap();
    g.set_tensor(id, "value", value).unwrap();
    id
}

fn node(g: &mut Graph, name: &str, op: Op, inputs: &[NodeId]) -> NodeId {
    let id = g.add(op, [0.0, 0.0]);
    g.rename(id, name).unwrap();
    for (port, from) in inputs.iter().enumerate() {
        g.connect(*from, id, port).unwrap();
    }
    id
}

fn project_text(nodes: &str) -> String {
    format!("(\n    version: 1,\n    nodes: [\n{nodes}    ],\n)\n")
}

// ---------------------------------------------------------------------------------------
// 1. Concat with a huge number of inputs

#[test]
fn concat_with_a_huge_number_of_inputs_is_refused_at_load_with_the_limit() {
    for n in ["18446744073709551615", "1000000000000", "10000000", "65"] {
        let text = project_text(&format!(
            "        (name: \"x\", op: Input, value: Scalar(1.0)),\n        (name: \"cat\", op: Concat(inputs: {n}, axis: 0), inputs: {{\"in1\": \"x\"}}),\n"
        ));
        let (result, panics) = panics_during(|| Project::parse(&text, "cat.ron"));
        assert_eq!(panics, 0);
        let err = result.unwrap_err().to_string();
        assert_eq!(
            err,
            format!("cat.ron:5:16: `cat` is a Concat with {n} inputs: at most 64 are allowed")
        );
    }
    // Built in code (no file), analysis refuses it with the range, once, and `ports` never
    // allocates more than the limit.
    let mut g = Graph::new();
    let x = input(&mut g, "x", Array::scalar(1.0));
    let cat = g.add(
        Op::Concat {
            inputs: usize::MAX,
            axis: 0,
        },
        [0.0, 0.0],
    );
    g.rename(cat, "cat").unwrap();
    g.connect(x, cat, 0).unwrap();
    assert_eq!(g.node(cat).unwrap().op.ports().len(), MAX_CONCAT_INPUTS);
    let project = Project::from_graph(g);
    let (analysis, eval) = run_all(&project);
    assert_eq!(
        error_on(&analysis, &project.graph, "cat"),
        "error: node `cat` inputs = 18446744073709551615 is outside the allowed 1..=64"
    );
    assert_eq!(analysis.diagnostics_for(cat).count(), 1);
    assert!(!eval.nodes.contains_key(&cat));
}

// ---------------------------------------------------------------------------------------
// 2. Empty vectors and other zero-size values

#[test]
fn an_empty_vector_is_refused_by_analysis_like_any_zero_size_shape() {
    let text = project_text(
        "        (name: \"v\", op: Input, value: Vector([])),\n        (name: \"d\", op: Dense(units: 2, init: Zeros), inputs: {\"x\": \"v\"}),\n        (name: \"s\", op: Softmax, inputs: {\"x\": \"d\"}),\n",
    );
    let project = Project::parse(&text, "empty.ron").unwrap();
    let (analysis, eval) = run_all(&project);
    assert_eq!(
        error_on(&analysis, &project.graph, "v"),
        "error: node `v` value [0] is empty: give it at least one number"
    );
    // Downstream nodes get no shape and no second message; nothing reaches burn.
    let errors = analysis
        .diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .count();
    assert_eq!(errors, 1, "{:?}", analysis.diagnostics);
    assert!(eval.nodes.is_empty());
    // Every op that used to fail inside burn on an empty vector, fed one.
    for op in [
        Op::Reshape { shape: vec![-1] },
        Op::MatMul,
        Op::Mean { axis: None },
        Op::MSE,
        Op::Concat { inputs: 2, axis: 0 },
        Op::BatchNorm { momentum: 0.1 },
        Op::PReLU { init_alpha: 0.25 },
    ] {
        let mut g = Graph::new();
        let v = input(&mut g, "v", Array::vector(vec![]));
        let ins = vec![v; op.arity()];
        node(&mut g, "op", op.clone(), &ins);
        let project = Project::from_graph(g);
        let (analysis, _) = run_all(&project);
        assert!(
            error_on(&analysis, &project.graph, "v").contains("is empty"),
            "{op:?}"
        );
    }
}

// ---------------------------------------------------------------------------------------
// 3. Non-finite or overflowing initializer ranges

#[test]
fn non_finite_initializer_ranges_are_refused_by_analysis_with_the_range() {
    let text = project_text(
        "        (name: \"w\", op: Parameter(init: Uniform(low: -1e308, high: 1e308)), value: Vector([1.0, 2.0])),\n        (name: \"x\", op: Input, value: Vector([1.0, 2.0])),\n        (name: \"d\", op: Dense(units: 3, init: Normal(mean: 0.0, std: inf)), inputs: {\"x\": \"x\"}),\n        (name: \"m\", op: Mul, inputs: {\"lhs\": \"w\", \"rhs\": \"x\"}),\n",
    );
    let project = Project::parse(&text, "init.ron").unwrap();
    let (analysis, eval) = run_all(&project);
    assert_eq!(
        error_on(&analysis, &project.graph, "w"),
        "error: node `w` initializer low = -1e308 is outside the allowed -1e12..=1e12: use a finite number in that range"
    );
    assert_eq!(
        error_on(&analysis, &project.graph, "d"),
        "error: node `d` initializer std = inf is outside the allowed -1e12..=1e12: use a finite number in that range"
    );
    assert!(eval.nodes.values().all(|n| n.value.all_finite()));
    for init in [
        Init::Uniform {
            low: f64::NEG_INFINITY,
            high: 0.0,
        },
        Init::Uniform {
            low: 0.0,
            high: f64::NAN,
        },
        Init::Constant { value: f64::NAN },
        Init::Normal {
            mean: 1e300,
            std: 1.0,
        },
    ] {
        let mut g = Graph::new();
        let w = g.add(Op::Parameter { init: init.clone() }, [0.0, 0.0]);
        g.rename(w, "w").unwrap();
        g.set_tensor(w, "value", Array::zeros(vec![3])).unwrap();
        let x = input(&mut g, "x", Array::zeros(vec![3]));
        node(
            &mut g,
            "d",
            Op::Dense {
                units: 2,
                init: init.clone(),
            },
            &[x],
        );
        let project = Project::from_graph(g);
        let (analysis, _) = run_all(&project);
        for name in ["w", "d"] {
            let msg = error_on(&analysis, &project.graph, name);
            assert!(
                msg.contains("initializer") && msg.contains("1e12"),
                "{init:?}: {msg}"
            );
        }
    }
}

// ---------------------------------------------------------------------------------------
// 4. Pow with an infinite or huge exponent

#[test]
fn pow_with_an_infinite_or_huge_exponent_is_refused_with_the_allowed_range() {
    for (exponent, shown) in [
        (f64::INFINITY, "inf"),
        (f64::NEG_INFINITY, "-inf"),
        (f64::NAN, "NaN"),
        (9.3e18, "9.3e18"),
        (1e6 + 1.0, "1000001.0"),
    ] {
        let mut g = Graph::new();
        let x = input(&mut g, "x", Array::scalar(1.5));
        node(&mut g, "p", Op::Pow { exponent }, &[x]);
        let project = Project::from_graph(g);
        let (analysis, eval) = run_all(&project);
        assert_eq!(
            error_on(&analysis, &project.graph, "p"),
            format!(
                "error: node `p` exponent = {shown} is outside the allowed -1e6..=1e6: use a finite number in that range"
            )
        );
        assert_eq!(eval.nodes.len(), 1, "only x is evaluated");
    }
    // The ends of the range evaluate (no scalar-conversion panic inside burn).
    for exponent in [1e6, -1e6, 3.0, 0.5] {
        let mut g = Graph::new();
        let x = input(&mut g, "x", Array::scalar(1.0));
        let p = node(&mut g, "p", Op::Pow { exponent }, &[x]);
        let (analysis, eval) = run_all(&Project::from_graph(g));
        assert!(!analysis.has_errors());
        assert_eq!(eval.nodes[&p].value.as_scalar(), Some(1.0));
    }
}

// ---------------------------------------------------------------------------------------
// 5. An op with no gradient as the output

#[test]
fn step_as_the_output_evaluates_and_says_no_gradient_flows() {
    let mut g = Graph::new();
    let x = input(&mut g, "x", Array::vector(vec![-1.0, 2.0]));
    let w = input(&mut g, "w", Array::scalar(3.0));
    let m = node(&mut g, "m", Op::Mul, &[x, w]);
    let s = node(&mut g, "s", Op::Step, &[m]);
    let project = Project::from_graph(g);
    let (analysis, eval) = run_all(&project);
    assert!(!analysis.has_errors());
    assert_eq!(eval.output, Some(s));
    assert_eq!(eval.nodes[&s].value.data(), &[0.0, 1.0]);
    assert_eq!(eval.nodes[&s].grad.as_ref().unwrap().data(), &[1.0, 1.0]);
    assert_eq!(eval.nodes[&m].grad.as_ref().unwrap().data(), &[0.0, 0.0]);
    assert_eq!(eval.nodes[&w].grad.as_ref().unwrap().data(), &[0.0]);
    let d = eval
        .diagnostics
        .iter()
        .find(|d| d.node == Some(s))
        .expect("a diagnostic on the Step");
    assert_eq!(
        d.to_string(),
        "warning: node `s` is the output but passes no gradient back (f'(x) = 0 (undefined at 0): no gradient flows back): every gradient before it is 0; a smooth op (Sigmoid) would pass one"
    );
    // The steps print the zero gradients (the local derivative comes from burn too).
    let back: Vec<String> = backward_steps(&project.graph, &analysis, &eval)
        .into_iter()
        .map(|s| s.text)
        .collect();
    assert!(
        back.iter()
            .any(|t| t.starts_with("ds/dm = ds/ds * ∂s/∂m = [0.0, 0.0]")),
        "{back:?}"
    );
}

// ---------------------------------------------------------------------------------------
// 6. Conv2d and pools: huge stride, padding near u64::MAX, backward memory

fn conv_graph(input_shape: Vec<usize>, op: Op) -> Project {
    let mut g = Graph::new();
    let x = input(&mut g, "x", Array::zeros(input_shape));
    node(&mut g, "conv", op, &[x]);
    Project::from_graph(g)
}

#[test]
fn conv_with_huge_stride_or_padding_is_refused_with_the_limit() {
    let conv = |stride, padding| Op::Conv2d {
        filters: 2,
        kernel: 3,
        stride,
        padding,
        bias: true,
        init: Init::HeUniform,
    };
    let cases = [
        (
            conv(1 << 40, Padding::Explicit(1)),
            "stride = 1099511627776 is outside the allowed 1..=64",
        ),
        (
            conv(1, Padding::Explicit(usize::MAX - 1)),
            "padding = 18446744073709551614 is outside the allowed 0..=64",
        ),
        (
            Op::MaxPool2d {
                kernel: 2,
                stride: usize::MAX,
            },
            "stride = 18446744073709551615 is outside the allowed 1..=64",
        ),
        (
            Op::AvgPool2d {
                kernel: 1 << 33,
                stride: 1,
            },
            "kernel = 8589934592 is outside the allowed 1..=64",
        ),
    ];
    for (op, want) in cases {
        let project = conv_graph(vec![1, 8, 8], op.clone());
        let (analysis, eval) = run_all(&project);
        assert_eq!(
            error_on(&analysis, &project.graph, "conv"),
            format!("error: node `conv` {want}"),
            "{op:?}"
        );
        assert_eq!(eval.nodes.len(), 1);
    }
}

#[test]
fn conv_backward_scratch_is_inside_the_memory_budget() {
    // Within every range, but burn's weight gradient for stride 64 and padding 64 holds a
    // [C, F, 64, 64] buffer: 64 * 4096 * 64 * 64 values, 8 GiB (plus the unfolded input,
    // 64 * 3 * 3 * 6 * 6). Refused before allocating.
    let op = Op::Conv2d {
        filters: 4096,
        kernel: 3,
        stride: 64,
        padding: Padding::Explicit(64),
        bias: false,
        init: Init::Zeros,
    };
    let project = conv_graph(vec![64, 256, 256], op);
    let options = Options {
        memory_budget: 2048 << 20,
        batch: 1,
    };
    let analysis = analyze_with(&project.graph, &options);
    let msg = error_on(&analysis, &project.graph, "conv");
    assert!(
        msg.starts_with(
            "error: node `conv` its scratch (1073762560 values: the unfolded input and the weight gradient's buffer"
        ) && msg.contains("would need 8.")
            && msg.contains("memory budget has 1.6 GiB left"),
        "{msg}"
    );
    // A usual layer (stride 1, padding 1) on a small image fits and evaluates.
    let small = conv_graph(
        vec![3, 16, 16],
        Op::Conv2d {
            filters: 8,
            kernel: 3,
            stride: 1,
            padding: Padding::Explicit(1),
            bias: true,
            init: Init::HeUniform,
        },
    );
    let (analysis, eval) = run_all(&small);
    assert!(!analysis.has_errors(), "{:?}", analysis.diagnostics);
    let conv = small.graph.find("conv").unwrap().id;
    assert_eq!(eval.nodes[&conv].value.shape(), &[8, 16, 16]);
}

// ---------------------------------------------------------------------------------------
// 10. Files that are not UTF-8; temp files of interrupted saves

#[test]
fn a_file_that_is_not_utf8_is_refused_at_its_first_bad_byte() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("latin1.ron");
    let mut bytes = b"(\n    version: 1,\n    title: \"caf".to_vec();
    bytes.push(0xe9); // 'é' in Latin-1
    bytes.extend_from_slice(b"\",\n    nodes: [],\n)\n");
    std::fs::write(&path, &bytes).unwrap();
    let err = Project::load(&path).unwrap_err();
    assert!(matches!(
        err,
        ProjectError::Invalid {
            line: 3,
            col: 16,
            ..
        }
    ));
    assert_eq!(
        err.to_string(),
        format!(
            "{}:3:16: byte 0xe9 is not UTF-8 text: save the file as UTF-8",
            path.display()
        )
    );
    // Columns count characters: a UTF-8 'é' before the bad byte is one column.
    let mut bytes = "(\n é\u{0}".as_bytes().to_vec();
    bytes.push(0xff);
    let err = Project::parse_bytes(&bytes, "f.ron").unwrap_err();
    assert_eq!(
        err.to_string(),
        "f.ron:2:4: byte 0xff is not UTF-8 text: save the file as UTF-8"
    );
}

#[test]
fn temp_files_an_interrupted_save_left_are_removed_by_the_next_save() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("graph.ron");
    assert_eq!(temp_prefix(&target), ".graph.ron.nodegrad-tmp-");
    // What a save killed after creating its temp file leaves behind (two kills).
    let stale = [
        dir.path().join(".graph.ron.nodegrad-tmp-a1B2c3"),
        dir.path().join(".graph.ron.nodegrad-tmp-Zz9yX8"),
    ];
    for s in &stale {
        std::fs::write(s, "half a proj").unwrap();
    }
    // Another file's temp file and the user's own files are not ours to remove.
    let other = dir.path().join(".other.ron.nodegrad-tmp-q1w2e3");
    let mine = dir.path().join(".graph.ron.bak");
    std::fs::write(&other, "x").unwrap();
    std::fs::write(&mine, "x").unwrap();
    let mut g = Graph::new();
    input(&mut g, "a", Array::scalar(5.0));
    Project::from_graph(g).save(&target).unwrap();
    let left: BTreeSet<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        left,
        BTreeSet::from([
            "graph.ron".to_string(),
            ".graph.ron.bak".to_string(),
            ".other.ron.nodegrad-tmp-q1w2e3".to_string(),
        ])
    );
    assert!(Project::load(&target).unwrap().graph.find("a").is_some());
}

#[test]
fn a_deeply_nested_file_is_refused_with_its_position_not_a_stack_overflow() {
    // 100,000 open brackets where a shape list goes. The file structs are not recursive, so
    // the parser stops at the first bracket where a number belongs (and ron's own depth
    // limit of 128 covers anything that could nest).
    let text = format!(
        "(\n    version: 1,\n    nodes: [(name: \"r\", op: Reshape(shape: {})]\n)\n",
        "[".repeat(100_000)
    );
    let err = Project::parse(&text, "deep.ron").unwrap_err();
    assert!(
        matches!(err, ProjectError::Invalid { line: 3, .. }),
        "{err}"
    );
    assert!(err.to_string().starts_with("deep.ron:3:"), "{err}");
}

// ---------------------------------------------------------------------------------------
// Review holes

#[test]
fn pasting_text_with_a_cycle_is_refused_and_changes_nothing() {
    let mut doc = Document::default();
    doc.apply(Edit::AddNode {
        op: Op::Input,
        pos: [0.0, 0.0],
        from: None,
        to: None,
    })
    .unwrap();
    let before = doc.graph().clone();
    let revision = doc.revision();
    // Hand-written clipboard text: a -> b -> a.
    let text = project_text(
        "        (name: \"a\", op: Neg, inputs: {\"x\": \"b\"}),\n        (name: \"b\", op: Neg, inputs: {\"x\": \"a\"}),\n",
    );
    let err = doc
        .apply(Edit::Paste {
            text,
            offset: [0.0, 0.0],
        })
        .unwrap_err();
    assert!(
        err.starts_with("cannot paste: wiring `") && err.contains("would make a cycle"),
        "{err}"
    );
    assert_eq!(doc.graph(), &before);
    assert_eq!(doc.revision(), revision);
    // The same nodes without the closing wire paste fine, wired.
    let text = project_text(
        "        (name: \"a\", op: Neg),\n        (name: \"b\", op: Neg, inputs: {\"x\": \"a\"}),\n",
    );
    doc.apply(Edit::Paste {
        text,
        offset: [0.0, 0.0],
    })
    .unwrap();
    assert_eq!(doc.graph().len(), 3);
    assert_eq!(doc.graph().edge_count(), 1);
}

#[test]
fn a_loaded_cycle_is_neither_copied_nor_duplicated_into_a_second_cycle() {
    let text = project_text(
        "        (name: \"a\", op: Neg, inputs: {\"x\": \"b\"}),\n        (name: \"b\", op: Neg, inputs: {\"x\": \"a\"}),\n",
    );
    let project = Project::parse(&text, "cycle.ron").unwrap();
    let ids: Vec<NodeId> = project.graph.node_ids().collect();
    let mut doc = Document::new(project, None);
    let err = doc.apply(Edit::Duplicate(ids.clone())).unwrap_err();
    assert!(err.starts_with("cannot duplicate: wiring"), "{err}");
    assert_eq!(doc.graph().len(), 2);
    let copied = doc.copy_text(&ids.iter().copied().collect()).unwrap();
    doc.apply(Edit::Paste {
        text: copied,
        offset: [0.0, 0.0],
    })
    .unwrap();
    assert_eq!(doc.graph().len(), 4);
    assert_eq!(
        doc.graph().edge_count(),
        3,
        "the copy left the closing wire out"
    );
}

#[test]
fn the_quiz_is_set_through_the_document() {
    let mut doc = Document::default();
    let quiz = QuizFile {
        ask: vec!["a".into()],
        tolerance: 0.01,
    };
    assert_eq!(doc.set_quiz(Some(quiz.clone())), None);
    assert_eq!(doc.project().quiz.as_ref(), Some(&quiz));
    assert_eq!(doc.set_quiz(None), Some(quiz));
    assert!(doc.project().quiz.is_none());
}

#[test]
fn undo_snapshots_share_the_tensors_an_edit_did_not_change() {
    let mut doc = Document::default();
    for op in [
        Op::Input,
        Op::Dense {
            units: 256,
            init: Init::Zeros,
        },
    ] {
        doc.apply(Edit::AddNode {
            op,
            pos: [0.0, 0.0],
            from: None,
            to: None,
        })
        .unwrap();
    }
    let x = doc.graph().find("x1").unwrap().id;
    let dense = doc.graph().find("dense1").unwrap().id;
    let weight = Array::zeros(vec![784, 256]);
    doc.apply(Edit::SetTensor(dense, "weight".into(), weight.clone()))
        .unwrap();
    let stored = |doc: &Document| doc.graph().node(dense).unwrap().tensors["weight"].clone();
    assert!(
        stored(&doc).shares_data(&weight),
        "the edit moved the data in"
    );
    let snapshot = doc.graph().clone();
    // Drags and value edits elsewhere: the big weight is never copied.
    for i in 0..10 {
        doc.apply(Edit::Move(vec![(x, [i as f32, 0.0])])).unwrap();
        doc.apply(Edit::SetTensor(x, "value".into(), Array::scalar(i as f64)))
            .unwrap();
    }
    assert!(stored(&doc).shares_data(&weight));
    assert!(snapshot.node(dense).unwrap().tensors["weight"].shares_data(&stored(&doc)));
    while doc.undo() {
        if let Some(n) = doc.graph().node(dense) {
            if let Some(w) = n.tensors.get("weight") {
                assert!(w.shares_data(&weight), "an undo snapshot copied the weight");
            }
        }
    }
}
