//! The open document: the project, its file, unsaved-changes state and undo. Every edit
//! goes through `Document::apply`, the one place where the graph changes and undo lives.
//! No egui here, so it is tested headless.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::graph::{Array, Graph, NodeId, Op};
use crate::project::{Project, ProjectError, QuizFile};

/// One user edit. Panels and the canvas emit these; `Document::apply` runs them.
#[derive(Clone, Debug, PartialEq)]
pub enum Edit {
    /// Adds a node; optionally wires `from` into its first input (a wire dropped on the
    /// canvas) or its output into `to` (a wire dragged back from an input).
    AddNode {
        op: Op,
        pos: [f32; 2],
        from: Option<NodeId>,
        to: Option<(NodeId, usize)>,
    },
    Remove(Vec<NodeId>),
    Connect {
        from: NodeId,
        to: NodeId,
        port: usize,
    },
    Disconnect {
        to: NodeId,
        port: usize,
    },
    /// Absolute positions after a drag.
    Move(Vec<(NodeId, [f32; 2])>),
    Rename(NodeId, String),
    SetOp(NodeId, Op),
    SetTensor(NodeId, String, Array),
    /// Trained weights written back (one undo step for the whole set).
    SetTensors(Vec<(NodeId, String, Array)>),
    /// Forgets stored trainable tensors so they are drawn again from their initializers.
    ResetTensors(Vec<(NodeId, String)>),
    SetOutput(Option<NodeId>),
    /// Inserts a copied fragment (project RON text) at an offset; names are made unique.
    Paste {
        text: String,
        offset: [f32; 2],
    },
    Duplicate(Vec<NodeId>),
    /// Opens a Dense layer into its neurons (`graph::expand`); `input_shape` is the shape
    /// analysis gave its input.
    ExpandLayer {
        layer: NodeId,
        input_shape: Vec<usize>,
    },
    /// Turns an expanded layer (by the layer's id) back into its Dense.
    CollapseLayer(NodeId),
}

impl Edit {
    /// Edits with the same key in quick succession (typing, dragging) form one undo step.
    fn merge_key(&self) -> Option<String> {
        match self {
            Edit::Move(items) => Some(format!(
                "move {:?}",
                items.iter().map(|(id, _)| id.0).collect::<Vec<_>>()
            )),
            Edit::Rename(id, _) => Some(format!("rename {}", id.0)),
            Edit::SetOp(id, _) => Some(format!("op {}", id.0)),
            Edit::SetTensor(id, key, _) => Some(format!("tensor {} {key}", id.0)),
            _ => None,
        }
    }
}

/// Undo steps kept (each is a copy of the graph).
const MAX_UNDO: usize = 500;

const MERGE_WINDOW: Duration = Duration::from_millis(1200);

/// Revisions are unique across documents, so a view that remembers one can never mistake a
/// newly opened document for the one it last showed.
fn next_revision() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

/// The project is private: its graph changes only through `apply` (undo and the revisions
/// stay true), the rest through the setters below.
///
/// ```compile_fail
/// let mut doc = nodegrad::ui::document::Document::default();
/// doc.project.quiz = None; // the project is not writable from outside
/// ```
#[derive(Debug)]
pub struct Document {
    project: Project,
    pub path: Option<PathBuf>,
    /// Bumped by every change; views compare it to know when to recompute.
    revision: u64,
    /// Bumped by changes that can change values (everything but moving nodes).
    semantic_revision: u64,
    /// Which graph state this is: undo and redo bring a state's id back with its graph, so
    /// undoing back to the saved state is clean again (no `*` in the title).
    state: u64,
    saved_state: u64,
    /// Settings outside the undo history (training, a restored recovery) changed since saving.
    settings_changed: bool,
    undo: Vec<(Graph, u64)>,
    redo: Vec<(Graph, u64)>,
    last_merge: Option<(String, Instant)>,
    /// Nodes created by the last add/paste/duplicate (the canvas selects them).
    pub last_created: Vec<NodeId>,
}

impl Default for Document {
    fn default() -> Self {
        Self::new(Project::from_graph(Graph::new()), None)
    }
}

impl Document {
    pub fn new(project: Project, path: Option<PathBuf>) -> Self {
        let revision = next_revision();
        Self {
            project,
            path,
            revision,
            semantic_revision: revision,
            state: revision,
            saved_state: revision,
            settings_changed: false,
            undo: Vec::new(),
            redo: Vec::new(),
            last_merge: None,
            last_created: Vec::new(),
        }
    }

    pub fn open(path: &Path) -> Result<Self, ProjectError> {
        Ok(Self::new(Project::load(path)?, Some(path.to_path_buf())))
    }

    pub fn graph(&self) -> &Graph {
        &self.project.graph
    }

    /// The whole project, to read (title, description, quiz, training, load diagnostics).
    pub fn project(&self) -> &Project {
        &self.project
    }

    /// Sets the exercise settings and returns the previous ones. Not an undo step and not a
    /// change of its own: "Save as exercise" sets them right before saving and puts the old
    /// ones back when the save is cancelled.
    pub fn set_quiz(&mut self, quiz: Option<QuizFile>) -> Option<QuizFile> {
        std::mem::replace(&mut self.project.quiz, quiz)
    }

    /// Sets the runs saved with the project (the Training tile's opt-in, right before a
    /// save). Not an undo step and not a change of its own, like `set_quiz`.
    pub fn set_runs(&mut self, runs: Vec<crate::project::runs::SavedRun>) {
        self.project.runs = runs;
    }

    pub fn revision(&self) -> u64 {
        self.revision
    }

    /// Changes only when values may change: analysis and evaluation key on it.
    pub fn semantic_revision(&self) -> u64 {
        self.semantic_revision
    }

    pub fn is_dirty(&self) -> bool {
        self.state != self.saved_state || self.settings_changed
    }

    /// Replaces the training settings (not an undo step; marks the document changed).
    pub fn set_training(&mut self, training: Option<crate::project::training::TrainingConfig>) {
        if self.project.training != training {
            self.project.training = training;
            self.revision = next_revision();
            self.settings_changed = true;
        }
    }

    /// Marks the document as changed (used when it was restored from a recovery file).
    pub fn mark_dirty(&mut self) {
        self.revision = next_revision();
        self.semantic_revision = self.revision;
        self.settings_changed = true;
    }

    /// The project file's folder: relative dataset paths start there.
    pub fn folder(&self) -> Option<PathBuf> {
        self.path
            .as_ref()
            .and_then(|p| p.parent())
            .map(Path::to_path_buf)
    }

    /// "computational-graph.ron", else the title of a project not saved yet (an imported
    /// model), else "untitled".
    pub fn display_name(&self) -> String {
        self.path
            .as_ref()
            .and_then(|p| p.file_name())
            .map(|n| n.to_string_lossy().into_owned())
            .or_else(|| (!self.project.title.is_empty()).then(|| self.project.title.clone()))
            .unwrap_or_else(|| "untitled".into())
    }

    pub fn save_to(&mut self, path: &Path) -> Result<(), ProjectError> {
        self.project.save(path)?;
        self.path = Some(path.to_path_buf());
        self.saved_state = self.state;
        self.settings_changed = false;
        Ok(())
    }

    pub fn can_undo(&self) -> bool {
        !self.undo.is_empty()
    }

    pub fn can_redo(&self) -> bool {
        !self.redo.is_empty()
    }

    pub fn undo(&mut self) -> bool {
        self.step(true)
    }

    pub fn redo(&mut self) -> bool {
        self.step(false)
    }

    /// Swaps the graph with the top of the undo (or redo) stack, keeping the other side.
    fn step(&mut self, back: bool) -> bool {
        let (from, to) = if back {
            (&mut self.undo, &mut self.redo)
        } else {
            (&mut self.redo, &mut self.undo)
        };
        let Some((graph, state)) = from.pop() else {
            return false;
        };
        to.push((
            std::mem::replace(&mut self.project.graph, graph),
            self.state,
        ));
        self.state = state;
        self.after_change();
        true
    }

    fn after_change(&mut self) {
        self.revision = next_revision();
        self.semantic_revision = self.revision;
        self.last_merge = None;
    }

    /// Applies an edit as one undo step (merged with the previous one when it continues it).
    /// On error nothing changes and the message says why.
    pub fn apply(&mut self, edit: Edit) -> Result<(), String> {
        let mut next = self.project.graph.clone();
        let created = apply_to(&mut next, &edit)?;
        if next == self.project.graph {
            return Ok(());
        }
        let key = edit.merge_key();
        let now = Instant::now();
        let merges = matches!((&key, &self.last_merge), (Some(k), Some((last, at))) if k == last && now.duration_since(*at) < MERGE_WINDOW);
        let prev = std::mem::replace(&mut self.project.graph, next);
        if !merges {
            self.undo.push((prev, self.state));
            if self.undo.len() > MAX_UNDO {
                self.undo.remove(0);
            }
        }
        self.redo.clear();
        self.revision = next_revision();
        self.state = self.revision;
        if !matches!(edit, Edit::Move(_)) {
            self.semantic_revision = self.revision;
        }
        self.last_merge = key.map(|k| (k, now));
        if !created.is_empty() {
            self.last_created = created;
        }
        Ok(())
    }

    /// The selected nodes and the wires between them, as project RON text (the clipboard).
    pub fn copy_text(&self, ids: &BTreeSet<NodeId>) -> Option<String> {
        if ids.is_empty() {
            return None;
        }
        let g = self.graph();
        let mut sub = Graph::new();
        for id in ids {
            sub.insert_node(g.node(*id)?.clone()).ok()?;
        }
        for e in g
            .edges()
            .filter(|e| ids.contains(&e.from) && ids.contains(&e.to))
        {
            // A cycle a loaded file brought in is not copied: its closing wire is left out.
            let _ = sub.connect(e.from, e.to, e.port);
        }
        Project::from_graph(sub).to_ron().ok()
    }
}

/// Runs one edit on a graph; returns the nodes it created.
fn apply_to(g: &mut Graph, edit: &Edit) -> Result<Vec<NodeId>, String> {
    match edit {
        Edit::AddNode { op, pos, from, to } => {
            let id = g.add(op.clone(), *pos);
            if let Some(src) = from {
                if op.arity() > 0 {
                    g.connect(*src, id, 0).map_err(|e| e.to_string())?;
                }
            }
            if let Some((dst, port)) = to {
                g.connect(id, *dst, *port).map_err(|e| e.to_string())?;
            }
            Ok(vec![id])
        }
        Edit::Remove(ids) => {
            for id in ids {
                g.remove(*id);
            }
            Ok(vec![])
        }
        Edit::Connect { from, to, port } => g
            .connect(*from, *to, *port)
            .map(|_| vec![])
            .map_err(|e| e.to_string()),
        Edit::Disconnect { to, port } => {
            g.disconnect(*to, *port);
            Ok(vec![])
        }
        Edit::Move(items) => {
            for (id, pos) in items {
                if let Some(n) = g.node_mut(*id) {
                    *n.pos = *pos;
                }
            }
            Ok(vec![])
        }
        Edit::Rename(id, name) => g
            .rename(*id, name)
            .map(|_| vec![])
            .map_err(|e| e.to_string()),
        Edit::SetOp(id, op) => g
            .set_op(*id, op.clone())
            .map(|_| vec![])
            .map_err(|e| e.to_string()),
        Edit::SetTensor(id, key, value) => g
            .set_tensor(*id, key, value.clone())
            .map(|_| vec![])
            .map_err(|e| e.to_string()),
        Edit::SetTensors(items) => {
            for (id, key, value) in items {
                g.set_tensor(*id, key, value.clone())
                    .map_err(|e| e.to_string())?;
            }
            Ok(vec![])
        }
        Edit::ResetTensors(items) => {
            for (id, key) in items {
                if let Some(n) = g.node_mut(*id) {
                    n.tensors.remove(key);
                }
            }
            Ok(vec![])
        }
        Edit::SetOutput(id) => {
            g.output = *id;
            Ok(vec![])
        }
        Edit::Paste { text, offset } => {
            let fragment =
                Project::parse(text, "clipboard").map_err(|e| format!("cannot paste: {e}"))?;
            insert_fragment(g, &fragment.graph, *offset).map_err(|e| format!("cannot paste: {e}"))
        }
        Edit::Duplicate(ids) => {
            let mut sub = Graph::new();
            for id in ids {
                if let Some(n) = g.node(*id) {
                    sub.insert_node(n.clone()).map_err(|e| e.to_string())?;
                }
            }
            let edges: Vec<_> = g
                .edges()
                .filter(|e| ids.contains(&e.from) && ids.contains(&e.to))
                .collect();
            for e in edges {
                sub.connect(e.from, e.to, e.port)
                    .map_err(|e| format!("cannot duplicate: {e}"))?;
            }
            insert_fragment(g, &sub, [40.0, 40.0]).map_err(|e| format!("cannot duplicate: {e}"))
        }
        Edit::ExpandLayer { layer, input_shape } => {
            crate::graph::expand::expand(g, *layer, input_shape).map(|_| vec![])
        }
        Edit::CollapseLayer(layer) => crate::graph::expand::collapse(g, *layer).map(|_| vec![]),
    }
}

/// Copies `fragment` into `g` with fresh ids, unique names and shifted positions. Its wires
/// go through `Graph::connect`, so a fragment with a cycle (hand-written clipboard text) is
/// refused; `apply` then leaves the graph as it was.
fn insert_fragment(
    g: &mut Graph,
    fragment: &Graph,
    offset: [f32; 2],
) -> Result<Vec<NodeId>, String> {
    let mut map: BTreeMap<NodeId, NodeId> = BTreeMap::new();
    for n in fragment.nodes() {
        let id = g.add(n.op.clone(), [n.pos[0] + offset[0], n.pos[1] + offset[1]]);
        // The new node has a default name already, which may be the wanted one.
        let name = if g.find(&n.name).is_none_or(|m| m.id == id) {
            n.name.clone()
        } else {
            unique_copy_name(g, &n.name)
        };
        let _ = g.rename(id, &name);
        if let Some(node) = g.node_mut(id) {
            *node.tensors = n.tensors.clone();
        }
        map.insert(n.id, id);
    }
    for e in fragment.edges() {
        if let (Some(&from), Some(&to)) = (map.get(&e.from), map.get(&e.to)) {
            g.connect(from, to, e.port).map_err(|e| e.to_string())?;
        }
    }
    Ok(map.into_values().collect())
}

fn unique_copy_name(g: &Graph, base: &str) -> String {
    (2..)
        .map(|i| format!("{base}_{i}"))
        .find(|n| g.find(n).is_none())
        .unwrap_or_else(|| base.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn add(doc: &mut Document, op: Op) -> NodeId {
        doc.apply(Edit::AddNode {
            op,
            pos: [0.0, 0.0],
            from: None,
            to: None,
        })
        .unwrap();
        doc.last_created[0]
    }

    #[test]
    fn undo_redo_every_kind_of_edit() {
        let mut doc = Document::default();
        assert!(!doc.is_dirty());
        let a = add(&mut doc, Op::Input);
        let n = add(&mut doc, Op::Neg);
        doc.apply(Edit::Connect {
            from: a,
            to: n,
            port: 0,
        })
        .unwrap();
        doc.apply(Edit::Rename(a, "a".into())).unwrap();
        doc.apply(Edit::SetTensor(a, "value".into(), Array::scalar(4.0)))
            .unwrap();
        assert!(doc.is_dirty());
        let full = doc.graph().clone();
        assert!(doc.undo()); // value
        assert_eq!(
            doc.graph().node(a).unwrap().value(),
            Some(&Array::scalar(0.0))
        );
        assert!(doc.undo()); // rename
        assert!(doc.undo()); // connect
        assert_eq!(doc.graph().edge_count(), 0);
        assert!(doc.undo() && doc.undo()); // two adds
        assert!(doc.graph().is_empty());
        assert!(!doc.undo());
        for _ in 0..5 {
            assert!(doc.redo());
        }
        assert_eq!(doc.graph(), &full);
    }

    #[test]
    fn undoing_back_to_the_saved_state_is_clean_and_redo_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("p.ron");
        let mut doc = Document::default();
        let a = add(&mut doc, Op::Input);
        doc.save_to(&file).unwrap();
        assert!(!doc.is_dirty());
        doc.apply(Edit::SetTensor(a, "value".into(), Array::scalar(4.0)))
            .unwrap();
        assert!(doc.is_dirty());
        assert!(doc.undo());
        assert!(!doc.is_dirty(), "back at the saved graph");
        assert!(doc.redo());
        assert!(doc.is_dirty());
        assert!(doc.undo());
        // Undoing past the saved state is a change again.
        assert!(doc.undo());
        assert!(doc.is_dirty());
        assert!(doc.redo());
        assert!(!doc.is_dirty());
        // Training settings are not undo steps: they stay a change until saved.
        let xor = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("projects/xor-train.ron");
        doc.set_training(Project::load(&xor).unwrap().training);
        assert!(doc.is_dirty());
        doc.save_to(&file).unwrap();
        assert!(!doc.is_dirty());
    }

    #[test]
    fn typing_merges_into_one_step_and_errors_change_nothing() {
        let mut doc = Document::default();
        let a = add(&mut doc, Op::Input);
        for v in [1.0, 12.0, 123.0] {
            doc.apply(Edit::SetTensor(a, "value".into(), Array::scalar(v)))
                .unwrap();
        }
        assert!(doc.undo());
        assert_eq!(
            doc.graph().node(a).unwrap().value(),
            Some(&Array::scalar(0.0))
        );
        let n = add(&mut doc, Op::Neg);
        doc.apply(Edit::Connect {
            from: a,
            to: n,
            port: 0,
        })
        .unwrap();
        let before = doc.revision();
        let err = doc
            .apply(Edit::Connect {
                from: n,
                to: n,
                port: 0,
            })
            .unwrap_err();
        assert!(err.contains("cycle"), "{err}");
        assert_eq!(doc.revision(), before);
        assert!(
            doc.apply(Edit::Rename(n, "x1".into()))
                .unwrap_err()
                .contains("exists already")
        );
    }

    #[test]
    fn copy_paste_and_duplicate_keep_wires_and_make_names_unique() {
        let mut doc = Document::default();
        let a = add(&mut doc, Op::Input);
        let n = add(&mut doc, Op::Neg);
        doc.apply(Edit::Connect {
            from: a,
            to: n,
            port: 0,
        })
        .unwrap();
        let text = doc.copy_text(&BTreeSet::from([a, n])).unwrap();
        doc.apply(Edit::Paste {
            text,
            offset: [10.0, 10.0],
        })
        .unwrap();
        assert_eq!(doc.graph().len(), 4);
        assert_eq!(doc.graph().edge_count(), 2);
        assert!(doc.graph().find("x1_2").is_some() && doc.graph().find("neg1_2").is_some());
        doc.apply(Edit::Duplicate(vec![n])).unwrap();
        assert_eq!(doc.graph().len(), 5);
        assert!(
            doc.apply(Edit::Paste {
                text: "nonsense".into(),
                offset: [0.0, 0.0]
            })
            .unwrap_err()
            .contains("clipboard:1:")
        );
    }
}
