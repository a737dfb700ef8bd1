//! Re-saves project files in canonical form: `cargo run --example resave -- projects/*.ron`.
fn main() {
    for path in std::env::args().skip(1) {
        let p = nodegrad::project::Project::load(std::path::Path::new(&path))
            .unwrap_or_else(|e| panic!("{e}"));
        p.save(std::path::Path::new(&path))
            .unwrap_or_else(|e| panic!("{e}"));
    }
}
