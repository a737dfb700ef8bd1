//! What persists between runs (through eframe's storage), beside the layout.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    pub recent: Vec<PathBuf>,
    pub dark: bool,
    pub show_wire_grads: bool,
    pub show_inspector: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            recent: Vec::new(),
            dark: true,
            show_wire_grads: false,
            show_inspector: true,
        }
    }
}

/// Recent files kept.
pub const MAX_RECENT: usize = 10;

impl Settings {
    /// Puts a file first in the recent list.
    pub fn remember(&mut self, path: &std::path::Path) {
        let p = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
        self.recent.retain(|r| r != &p);
        self.recent.insert(0, p);
        self.recent.truncate(MAX_RECENT);
    }
}
