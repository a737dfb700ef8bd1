//! The step texts, forward then backward, asserted in full against the lecture's numbers.

mod common;

use nodegrad::analysis::analyze;
use nodegrad::exec::Engine;
use nodegrad::stepper::{Direction, backward_steps, forward_steps};

fn texts(project: &str) -> (Vec<String>, Vec<String>) {
    let p = common::load(project);
    let a = analyze(&p.graph);
    let e = Engine::cpu().evaluate(&p.graph, &a).unwrap();
    let f = forward_steps(&p.graph, &a, &e);
    let b = backward_steps(&p.graph, &a, &e);
    assert!(f.iter().all(|s| s.direction == Direction::Forward));
    assert!(b.iter().all(|s| s.direction == Direction::Backward));
    (
        f.into_iter().map(|s| s.text).collect(),
        b.into_iter().map(|s| s.text).collect(),
    )
}

#[test]
fn computational_graph_both_directions() {
    let (f, b) = texts("computational-graph.ron");
    assert_eq!(
        f,
        [
            "a = 5.0",
            "b = 3.0",
            "c = 2.0",
            "u = b * c = 3.0 * 2.0 = 6.0",
            "v = a + u = 5.0 + 6.0 = 11.0",
            "J = 3.0 * v = 3.0 * 11.0 = 33.0",
        ]
    );
    assert_eq!(
        b,
        [
            "dJ/dJ = 1",
            "dJ/dv = dJ/dJ * ∂J/∂v = 1.0 * 3.0 = 3.0",
            "dJ/du = dJ/dv * ∂v/∂u = 3.0 * 1.0 = 3.0",
            "dJ/dc = dJ/du * ∂u/∂c = 3.0 * 3.0 = 9.0",
            "dJ/db = dJ/du * ∂u/∂b = 3.0 * 2.0 = 6.0",
            "dJ/da = dJ/dv * ∂v/∂a = 3.0 * 1.0 = 3.0",
        ]
    );
}

#[test]
fn fan_out_is_summed_term_by_term() {
    let (_, b) = texts("chain-rule-fan-out.ron");
    assert_eq!(
        b.last().unwrap(),
        "dL/dx = dL/dp * ∂p/∂x + dL/dq * ∂q/∂x + dL/ds * ∂s/∂x = 4.0 + 3.0 + 1.5 = 8.5"
    );
    assert!(
        b.contains(&"dL/dy = dL/ds * ∂s/∂y = 1.0 * 2.0 = 2.0".to_string()),
        "{b:?}"
    );
}

#[test]
fn tensor_steps_show_vectors() {
    let (f, b) = texts("xor-mlp.ron");
    assert!(
        f.contains(
            &"h = sigmoid(hidden) = sigmoid([3.0, -2.0]) = [0.952574, 0.119203]  ([2] -> [2])"
                .to_string()
        ),
        "{f:?}"
    );
    assert!(
        b.contains(&"dL/dh = dL/dout * ∂out/∂h = [-0.0631136, 0.0631136]".to_string()),
        "{b:?}"
    );
    assert!(
        f.contains(
            &"L = mse(y_hat, y) = mse([0.935049], 1.0) = 0.0042186  ([1], [] -> [])".to_string()
        ),
        "{f:?}"
    );
    // A one-element output feeding a sigmoid still gets its product written out.
    assert!(
        b.contains(
            &"dL/dout = dL/dy_hat * ∂y_hat/∂out = -0.129902 * 0.0607322 = [-0.0078892]".to_string()
        ),
        "{b:?}"
    );
}

#[test]
fn steps_command_prints_the_answer_key() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_nodegrad"))
        .args(["steps", "projects/computational-graph.ron", "--set", "a=1"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 12);
    assert_eq!(lines[4], "forward  v = a + u = 1.0 + 6.0 = 7.0");
    assert_eq!(
        lines[11],
        "backward dJ/da = dJ/dv * ∂v/∂a = 3.0 * 1.0 = 3.0"
    );
}
