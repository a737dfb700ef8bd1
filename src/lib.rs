//! nodegrad: computational graphs you can see and train.
//!
//! Data flows one way, and the modules are listed in that order:
//! project file -> graph model (+ datasets) -> analysis -> burn execution (evaluate, train)
//! -> steps -> CLI and UI (egui).

pub mod project;
pub mod graph;
pub mod data;
pub mod analysis;
pub mod exec;
pub mod train;
pub mod stepper;
pub mod gradcheck;
pub mod interop;
pub mod cli;
pub mod ui;
