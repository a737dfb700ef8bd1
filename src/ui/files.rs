//! Files around the document: the file dialogs, the recovery file, screenshots as PNG.

use std::path::{Path, PathBuf};

use crate::project::{Project, write_atomic};

use super::document::Document;

/// Asks for a project to open (`None`: cancelled, or no file dialog on this system).
pub fn pick_project() -> Option<PathBuf> {
    rfd::FileDialog::new()
        .add_filter("nodegrad project", &["ron"])
        .set_directory(super::examples_dir())
        .pick_file()
}

/// Asks for an ONNX model to import (`None`: cancelled, or no file dialog on this system).
pub fn pick_onnx() -> Option<PathBuf> {
    rfd::FileDialog::new()
        .add_filter("ONNX model", &["onnx"])
        .pick_file()
}

/// Asks where to save a project (`None`: cancelled, or no file dialog on this system).
pub fn pick_save_path(name: &str) -> Option<PathBuf> {
    rfd::FileDialog::new()
        .add_filter("nodegrad project", &["ron"])
        .set_file_name(format!("{}.ron", name.trim_end_matches(".ron")))
        .save_file()
}

/// The autosave file: written every few seconds while there are unsaved changes, deleted on
/// save, offered back on the next start after a crash.
#[derive(Debug, Default)]
pub struct Recovery {
    dir: Option<PathBuf>,
    /// Set at start when a recovery file exists: (project title or file, when).
    pub offer: Option<String>,
}

impl Recovery {
    pub fn new(dir: Option<PathBuf>) -> Self {
        Self { dir, offer: None }
    }

    fn file(&self) -> Option<PathBuf> {
        self.dir.as_ref().map(|d| d.join("recovery.ron"))
    }

    fn source_file(&self) -> Option<PathBuf> {
        self.dir.as_ref().map(|d| d.join("recovery.source"))
    }

    pub fn check_on_start(&mut self) {
        let Some(file) = self.file() else { return };
        if let Ok(meta) = std::fs::metadata(&file) {
            let source = self
                .source_file()
                .and_then(|s| std::fs::read_to_string(s).ok())
                .filter(|s| !s.is_empty());
            let age = meta
                .modified()
                .ok()
                .and_then(|m| m.elapsed().ok())
                .map(|d| d.as_secs() / 60)
                .unwrap_or(0);
            self.offer = Some(format!(
                "{} (saved {} min ago)",
                source.as_deref().unwrap_or("an untitled project"),
                age
            ));
        }
    }

    pub fn autosave(&self, doc: &Document) {
        let (Some(dir), Some(file), Some(src)) = (&self.dir, self.file(), self.source_file())
        else {
            return;
        };
        let Ok(text) = doc.project().to_ron() else {
            return;
        };
        let _ = std::fs::create_dir_all(dir);
        let source = doc
            .path
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        // Best effort: a failed autosave must never disturb editing.
        let _ = write_atomic(&src, source.as_bytes());
        let _ = write_atomic(&file, text.as_bytes());
    }

    pub fn load(&self) -> Result<(Project, Option<PathBuf>), String> {
        let file = self.file().ok_or("no recovery folder")?;
        let project = Project::load(&file).map_err(|e| e.to_string())?;
        let source = self
            .source_file()
            .and_then(|s| std::fs::read_to_string(s).ok())
            .filter(|s| !s.is_empty())
            .map(PathBuf::from);
        Ok((project, source))
    }

    pub fn discard(&mut self) {
        for f in [self.file(), self.source_file()].into_iter().flatten() {
            let _ = std::fs::remove_file(f);
        }
        self.offer = None;
    }

    pub fn exists(&self) -> bool {
        self.file().is_some_and(|f| f.exists())
    }
}

pub fn save_png(path: &Path, image: &egui::ColorImage) -> Result<(), String> {
    let [w, h] = image.size;
    let bytes: Vec<u8> = image.pixels.iter().flat_map(|c| c.to_array()).collect();
    let img = image::RgbaImage::from_raw(w as u32, h as u32, bytes)
        .ok_or("screenshot has the wrong size")?;
    img.save(path)
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}
