//! `cargo bench --bench editor`: the UI time of one frame (layout + tessellation, headless,
//! no GPU) for a generated 500-node graph and for each example project.

use std::time::Instant;

use nodegrad::graph::{Array, Graph, Op};
use nodegrad::project::{Project, list_projects};
use nodegrad::ui::NodegradApp;
use nodegrad::ui::app::{AppConfig, Settings};
use nodegrad::ui::document::Document;

/// 500 nodes: 50 inputs, then layers of binary ops, laid out on a grid.
fn generated(n: usize) -> Graph {
    let mut g = Graph::new();
    let mut prev: Vec<_> = (0..50)
        .map(|i| {
            let id = g.add(Op::Input, [0.0, i as f32 * 160.0]);
            g.set_tensor(id, "value", Array::scalar(i as f64 * 0.1))
                .unwrap();
            id
        })
        .collect();
    let ops = [Op::Add, Op::Mul, Op::Sub];
    let mut col = 1;
    while g.len() < n {
        let mut next = Vec::new();
        for (k, pair) in prev.chunks(2).enumerate() {
            if g.len() >= n {
                break;
            }
            let id = g.add(ops[k % 3].clone(), [col as f32 * 260.0, k as f32 * 160.0]);
            g.connect(pair[0], id, 0).unwrap();
            g.connect(*pair.last().unwrap(), id, 1).unwrap();
            next.push(id);
        }
        if next.len() < 2 {
            next.extend(prev.iter().take(2));
        }
        prev = next;
        col += 1;
    }
    g
}

fn frame_ms(project: Project, label: &str) {
    let mut app = NodegradApp::headless(
        Settings::default(),
        AppConfig {
            storage_dir: Some(std::env::temp_dir().join("nodegrad-bench")),
            ..AppConfig::default()
        },
    );
    app.doc = Document::new(project, None);
    app.recompute();
    let ctx = egui::Context::default();
    let input = || egui::RawInput {
        screen_rect: Some(egui::Rect::from_min_size(
            egui::Pos2::ZERO,
            egui::vec2(1920.0, 1080.0),
        )),
        ..Default::default()
    };
    // Settle: fit the graph, let snarl measure every node.
    app.canvas.fit_requested = true;
    for _ in 0..5 {
        let out = ctx.run_ui(input(), |ui| app.frame_ui(ui));
        let _ = ctx.tessellate(out.shapes, out.pixels_per_point);
    }
    let revision = app.doc.revision();
    let mut times: Vec<f64> = (0..30)
        .map(|_| {
            let t = Instant::now();
            let out = ctx.run_ui(input(), |ui| app.frame_ui(ui));
            let prims = ctx.tessellate(out.shapes, out.pixels_per_point);
            std::hint::black_box(prims);
            t.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    times.sort_by(|a, b| a.total_cmp(b));
    assert_eq!(
        app.doc.revision(),
        revision,
        "idle frames must not edit the document"
    );
    println!(
        "{label}: {:.2} ms ({} nodes, median of 30 frames)",
        times[15],
        app.doc.graph().len()
    );
}

fn main() {
    frame_ms(Project::from_graph(generated(500)), "frame-500-nodes");
    for path in list_projects(&nodegrad::ui::examples_dir()) {
        let name = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        frame_ms(Project::load(&path).unwrap(), &format!("frame-{name}"));
    }
}
