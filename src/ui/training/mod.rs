//! Training in the window: the panel (run controls, progress, data preview) and its tiles,
//! the egui-free run state, the settings form and the dashboard drawn from the worker's
//! snapshots.

pub mod dashboard;
pub mod panel;
pub mod run_state;
pub mod scrub;
pub mod settings;

pub use panel::*;
pub use run_state::RunState;
