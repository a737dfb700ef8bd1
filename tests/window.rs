//! The real window, under Xvfb: `nodegrad FILE --screenshot-to OUT.png` opens it, waits until
//! the UI has settled, saves a screenshot and quits. CI installs xvfb; without it the test
//! says so loudly (and fails when NODEGRAD_REQUIRE_WGPU=1, as CI sets).

mod common;

use std::process::Command;

#[test]
fn real_window_screenshot_under_xvfb() {
    let required = std::env::var("NODEGRAD_REQUIRE_WGPU").is_ok_and(|v| v == "1");
    if Command::new("xvfb-run").arg("--help").output().is_err() {
        eprintln!("\n!!! WINDOW TEST SKIPPED: xvfb-run is not installed (apt-get install xvfb)\n");
        assert!(!required, "xvfb-run is required in CI");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("window.png");
    let status = Command::new("xvfb-run")
        .args(["-a", "-s", "-screen 0 1600x1000x24"])
        .arg(env!("CARGO_BIN_EXE_nodegrad"))
        .arg(common::project_path("computational-graph.ron"))
        .arg("--screenshot-to")
        .arg(&out)
        .env("XDG_CONFIG_HOME", dir.path())
        .env("XDG_DATA_HOME", dir.path())
        .output()
        .expect("run xvfb-run");
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    let img = image::open(&out).expect("a PNG").to_rgba8();
    assert!(
        img.width() >= 640 && img.height() >= 400,
        "{}x{}",
        img.width(),
        img.height()
    );
    // Not a blank frame: the window shows many distinct colours (text, nodes, wires).
    let distinct: std::collections::BTreeSet<[u8; 4]> = img.pixels().map(|p| p.0).collect();
    assert!(distinct.len() > 50, "only {} colours", distinct.len());
}
