//! Plotting helpers shared by the inspector and the dashboard.

pub mod classes;
pub mod heatmap;
pub mod lines;
