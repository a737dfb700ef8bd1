//! The graph editor: the canvas (egui-snarl kept in step with the graph), the card drawn
//! for each node, the snarl viewer (pins, wires, menus) and the add-node menu.

pub mod canvas;
pub mod card;
pub mod menus;
pub mod viewer;
