//! The window: eframe + egui + egui-snarl. The only layer that imports egui.
//!
//! **Architecture Invariant:** the UI never changes the graph directly: panels and the
//! canvas emit `Edit`s and `AppCommand`s, which the app applies once per frame, after
//! layout, through `Document::apply` (where undo lives).
//! **Architecture Invariant:** no import loops between the files of `ui/`: `app` uses the
//! panels, the panels never use `app` (`python3 ../shared/tools/import_loops.py src/ui`).

pub mod app;
pub mod command;
pub mod document;
pub mod editor;
pub mod files;
pub mod fonts;
pub mod help;
pub mod layout;
pub mod panels;
pub mod panes;
pub mod plot;
pub mod settings;
pub mod stepping;
pub mod training;

use std::path::PathBuf;

pub use app::{AppConfig, NodegradApp};

pub const APP_NAME: &str = "nodegrad";

/// Opens the window; returns when it closes.
pub fn run(mut config: AppConfig) -> anyhow::Result<()> {
    // A screenshot shows the app as a new user first sees it: no remembered window size,
    // panel sizes or settings from earlier runs.
    let fresh = config.screenshot_to.is_some();
    let scratch = fresh
        .then(|| std::env::temp_dir().join(format!("nodegrad-screenshot-{}", std::process::id())));
    if config.storage_dir.is_none() {
        config.storage_dir = scratch.clone();
    }
    let options = eframe::NativeOptions {
        persist_window: !fresh,
        persistence_path: scratch.clone(),
        viewport: egui::ViewportBuilder::default()
            .with_title(APP_NAME)
            .with_inner_size(config.window_size.unwrap_or([1440.0, 900.0]))
            .with_min_inner_size([640.0, 400.0])
            .with_drag_and_drop(true)
            .with_app_id(APP_NAME),
        ..Default::default()
    };
    let result = eframe::run_native(
        APP_NAME,
        options,
        Box::new(move |cc| Ok(Box::new(NodegradApp::new(cc, config)))),
    )
    .map_err(|e| anyhow::anyhow!("cannot open the window: {e}"));
    if let Some(dir) = scratch {
        let _ = std::fs::remove_dir_all(dir);
    }
    result
}

/// The folder of example projects shipped with nodegrad.
pub fn examples_dir() -> PathBuf {
    let here = PathBuf::from("projects");
    if here.is_dir() {
        here
    } else {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("projects")
    }
}
