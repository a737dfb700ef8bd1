//! Plotting helpers shared by the inspector and the dashboard.

pub mod heatmap;
