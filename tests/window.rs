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

#[test]
fn the_window_opens_at_the_asked_size_with_the_asked_node_selected() {
    let required = std::env::var("NODEGRAD_REQUIRE_WGPU").is_ok_and(|v| v == "1");
    if Command::new("xvfb-run").arg("--help").output().is_err() {
        eprintln!("\n!!! WINDOW TEST SKIPPED: xvfb-run is not installed (apt-get install xvfb)\n");
        assert!(!required, "xvfb-run is required in CI");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("lenet.png");
    let status = Command::new("xvfb-run")
        .args(["-a", "-s", "-screen 0 1600x1000x24"])
        .arg(env!("CARGO_BIN_EXE_nodegrad"))
        .arg(common::project_path("digits-lenet.ron"))
        .args([
            "--window-size",
            "1280x720",
            "--select",
            "conv1",
            "--screenshot-to",
        ])
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
    assert_eq!((img.width(), img.height()), (1280, 720));
}

/// Runs the binary with `args` (no display needed: these fail before a window opens).
fn refused(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_nodegrad"))
        .args(args)
        .env("DISPLAY", "")
        .env("WAYLAND_DISPLAY", "")
        .output()
        .expect("run nodegrad");
    assert_eq!(out.status.code(), Some(2), "{args:?}");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn an_unknown_node_or_window_size_is_refused_with_a_clear_message() {
    let file = common::project_path("computational-graph.ron");
    let file = file.to_str().unwrap();
    let err = refused(&[file, "--select", "nope", "--screenshot-to", "out.png"]);
    assert!(
        err.contains("has no node named \"nope\" (its nodes: J, a, b, c, u, v)"),
        "{err}"
    );
    let err = refused(&[file, "--window-size", "10x10"]);
    assert!(
        err.contains("10x10 is outside 640x400 to 7680x4320"),
        "{err}"
    );
    let err = refused(&[file, "--window-size", "big"]);
    assert!(
        err.contains("expected WIDTHxHEIGHT such as 1280x720, got \"big\""),
        "{err}"
    );
}
