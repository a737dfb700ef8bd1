//! Training in the window: the panel (run controls, progress, data preview), its settings
//! form and the dashboard drawn from the worker's snapshots.

pub mod dashboard;
pub mod panel;
pub mod settings;

pub use panel::*;
