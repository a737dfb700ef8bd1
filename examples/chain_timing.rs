use nodegrad::analysis::analyze;
use nodegrad::exec::Engine;
use nodegrad::graph::{Array, Graph, Op};
use std::time::Instant;
fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(10000);
    let t = Instant::now();
    let mut g = Graph::new();
    let x = g.add(Op::Input, [0.0, 0.0]);
    g.set_tensor(x, "value", Array::scalar(1.0)).unwrap();
    let mut prev = x;
    for _ in 0..n {
        let s = g.add(Op::Scale { factor: 1.0001 }, [0.0, 0.0]);
        g.connect(prev, s, 0).unwrap();
        prev = s;
    }
    eprintln!("build {:?}", t.elapsed());
    let t = Instant::now();
    let a = analyze(&g);
    eprintln!("analyze {:?}", t.elapsed());
    let t = Instant::now();
    let e = Engine::cpu().evaluate(&g, &a).unwrap();
    eprintln!("evaluate {:?} {:?}", t.elapsed(), e.objective);
}
