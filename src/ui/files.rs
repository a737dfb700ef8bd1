//! Opening and saving projects, recent files, the recovery file, screenshots.

use std::path::{Path, PathBuf};

use crate::project::{Project, write_atomic};

use super::app::NodegradApp;
use super::document::Document;

const MAX_RECENT: usize = 10;

impl NodegradApp {
    /// Opens a file now (the caller already asked about unsaved changes). A file that fails
    /// to load changes nothing: the error is shown and the current document stays.
    pub fn open_now(&mut self, path: &Path) {
        match Document::open(path) {
            Ok(doc) => {
                if self.recovery.offer.is_none() {
                    self.recovery.discard();
                }
                self.doc = doc;
                self.reset_training();
                self.canvas.fit_requested = true;
                self.canvas.selection.clear();
                self.remember(path);
                self.recompute();
                match self.doc.project().quiz.clone() {
                    Some(quiz) => self.stepping.start_quiz(self.doc.graph(), &quiz),
                    None => self.stepping.reset(),
                }
                self.message = format!("opened {}", self.doc.display_name());
                let problems = self.doc.project().load_diagnostics.len();
                if problems > 0 {
                    self.message += &format!(" with {problems} problem(s): see the status bar");
                }
            }
            Err(e) => {
                self.message = format!("could not open {}", path.display());
                self.load_error = Some(e.to_string());
            }
        }
    }

    /// Saves to the document's file, or asks for one (always with `as_new`). Returns
    /// whether the file was written.
    pub fn save(&mut self, as_new: bool) -> bool {
        let path = match (&self.doc.path, as_new) {
            (Some(p), false) => p.clone(),
            _ => {
                let name = format!("{}.ron", self.doc.display_name().trim_end_matches(".ron"));
                let Some(p) = rfd::FileDialog::new()
                    .add_filter("nodegrad project", &["ron"])
                    .set_file_name(name)
                    .save_file()
                else {
                    return false;
                };
                p
            }
        };
        self.save_to(&path)
    }

    pub fn save_to(&mut self, path: &Path) -> bool {
        match self.doc.save_to(path) {
            Ok(()) => {
                self.recovery.discard();
                self.remember(path);
                self.message = format!("saved {}", path.display());
                true
            }
            Err(e) => {
                self.message = e.to_string();
                self.load_error = Some(e.to_string());
                false
            }
        }
    }

    fn remember(&mut self, path: &Path) {
        let p = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
        self.settings.recent.retain(|r| r != &p);
        self.settings.recent.insert(0, p);
        self.settings.recent.truncate(MAX_RECENT);
    }

    /// Restores the recovered work as an unsaved document.
    pub fn restore_recovery(&mut self) {
        match self.recovery.load() {
            Ok((project, source)) => {
                self.doc = Document::new(project, source);
                self.doc.mark_dirty();
                self.reset_training();
                self.canvas.fit_requested = true;
                self.message = "restored unsaved work".into();
            }
            Err(e) => self.load_error = Some(e),
        }
        self.recovery.offer = None;
    }
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
