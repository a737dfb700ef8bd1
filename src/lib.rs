//! nodegrad: computational graphs you can see and train.
//!
//! Data flows one way, and the modules are listed in that order:
//! project file -> graph model -> analysis -> burn execution -> CLI and UI (egui).

pub mod analysis;
pub mod cli;
pub mod exec;
pub mod graph;
pub mod project;
pub mod stepper;
pub mod ui;
