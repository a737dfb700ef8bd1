//! The graph editor: the canvas (egui-snarl kept in step with the graph), the card drawn
//! for each node, the snarl viewer (pins, wires, menus), the add-node menu and the gradient
//! flow played on the wires.

pub mod canvas;
pub mod card;
pub mod flow;
pub mod menus;
pub mod viewer;
