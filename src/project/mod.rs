//! Projects on disk: load (`FILE:LINE:COL: what is wrong`), save (deterministic and atomic).
//!
//! **Architecture Invariant:** loading never changes anything on disk, and saving either
//! replaces the whole file or leaves the old one (temp file + rename).

pub mod format;
pub mod runs;
pub mod training;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use ron::extensions::Extensions;
use thiserror::Error;

use crate::analysis::{Diagnostic, Severity};
use crate::graph::{Array, Graph, Node, NodeId};
pub use format::{FORMAT_VERSION, NodeFile, ProjectFile, QuizFile, ValueFile};

#[derive(Debug, Error)]
pub enum ProjectError {
    #[error("{path}: cannot read: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: cannot write: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}:{line}:{col}: {message}")]
    Invalid {
        path: String,
        line: usize,
        col: usize,
        message: String,
    },
    #[error(
        "{path}: written by a newer nodegrad (format version {found}); this build reads version {FORMAT_VERSION}: update nodegrad to open it"
    )]
    NewerVersion { path: String, found: u32 },
    #[error("{path}: cannot save: {message}")]
    Serialize { path: String, message: String },
}

/// A loaded project: its graph plus what the file said about itself.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Project {
    pub title: String,
    pub description: String,
    pub graph: Graph,
    /// Problems found while loading that do not stop it (an input naming an unknown node,
    /// say). They are errors for `check` and shown in the editor.
    pub load_diagnostics: Vec<Diagnostic>,
    /// Set for exercises: open in quiz mode.
    pub quiz: Option<format::QuizFile>,
    /// Dataset binding and training settings.
    pub training: Option<training::TrainingConfig>,
    /// Training runs saved with the project (empty unless the user chose to save them).
    pub runs: Vec<runs::SavedRun>,
}

/// Ids stay far from u64::MAX, so counting on from the largest never overflows.
const MAX_ID: u64 = 1 << 53;

fn ron_options() -> ron::Options {
    ron::Options::default().with_default_extension(Extensions::IMPLICIT_SOME)
}

/// The file as text, or `FILE:LINE:COL` of its first byte that is not UTF-8.
fn utf8<'a>(bytes: &'a [u8], path: &str) -> Result<&'a str, ProjectError> {
    std::str::from_utf8(bytes).map_err(|e| {
        let valid = e.valid_up_to();
        // The valid prefix is text, so lines and columns count characters as an editor does.
        let before = std::str::from_utf8(&bytes[..valid]).unwrap_or_default();
        let line = before.matches('\n').count() + 1;
        let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        ProjectError::Invalid {
            path: path.to_string(),
            line,
            col,
            message: format!(
                "byte 0x{:02x} is not UTF-8 text: save the file as UTF-8",
                bytes[valid]
            ),
        }
    })
}

/// 1-based line and column of the `nth` occurrence of `needle` (for semantic errors).
fn locate(text: &str, needle: &str, nth: usize) -> (usize, usize) {
    let Some((offset, _)) = text.match_indices(needle).nth(nth) else {
        return (1, 1);
    };
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let col = before.rfind('\n').map(|i| offset - i).unwrap_or(offset + 1);
    (line, col)
}

impl Project {
    pub fn from_graph(graph: Graph) -> Self {
        Self {
            graph,
            ..Self::default()
        }
    }

    pub fn load(path: &Path) -> Result<Self, ProjectError> {
        let shown = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|source| ProjectError::Read {
            path: shown.clone(),
            source,
        })?;
        Self::parse_bytes(&bytes, &shown)
    }

    /// Parses a file's bytes: text that is not UTF-8 is refused at its first bad byte.
    pub fn parse_bytes(bytes: &[u8], path: &str) -> Result<Self, ProjectError> {
        Self::parse(utf8(bytes, path)?, path)
    }

    /// Parses project text; `path` is only used in messages.
    pub fn parse(text: &str, path: &str) -> Result<Self, ProjectError> {
        let invalid = |line, col, message: String| ProjectError::Invalid {
            path: path.to_string(),
            line,
            col,
            message,
        };
        if let Ok(probe) = ron_options().from_str::<format::VersionProbe>(text) {
            if probe.version > FORMAT_VERSION {
                return Err(ProjectError::NewerVersion {
                    path: path.to_string(),
                    found: probe.version,
                });
            }
        }
        let file: ProjectFile = ron_options()
            .from_str(text)
            .map_err(|e| invalid(e.span.start.line, e.span.start.col, e.code.to_string()))?;
        if file.version != FORMAT_VERSION {
            let (l, c) = locate(text, "version", 0);
            return Err(invalid(
                l,
                c,
                format!(
                    "unknown format version {} (this build reads {FORMAT_VERSION})",
                    file.version
                ),
            ));
        }
        Self::from_file(file).map_err(|(needle, nth, msg)| {
            let (l, c) = locate(text, &needle, nth);
            invalid(l, c, msg)
        })
    }

    /// Builds the graph. Fatal problems come back as (text to locate, occurrence, message).
    fn from_file(file: ProjectFile) -> Result<Self, (String, usize, String)> {
        let mut graph = Graph::new();
        graph.seed = file.seed;
        let mut by_name: BTreeMap<String, NodeId> = BTreeMap::new();
        let mut seen_ids = BTreeMap::new();
        let mut next_free = file
            .nodes
            .iter()
            .filter_map(|n| n.id)
            .filter(|&id| id <= MAX_ID)
            .max()
            .unwrap_or(0)
            + 1;
        let mut ids = Vec::with_capacity(file.nodes.len());
        for (i, nf) in file.nodes.iter().enumerate() {
            let quoted = format!("\"{}\"", nf.name);
            if !crate::graph::is_valid_name(&nf.name) {
                return Err((
                    quoted,
                    0,
                    format!(
                        "`{}` is not a valid node name: use letters, digits and _",
                        nf.name
                    ),
                ));
            }
            if by_name.contains_key(&nf.name) {
                let nth = file.nodes[..i].iter().filter(|n| n.name == nf.name).count();
                return Err((
                    quoted,
                    nth,
                    format!("two nodes are named `{}`: names must be unique", nf.name),
                ));
            }
            let id = match nf.id {
                Some(id) => {
                    if id > MAX_ID {
                        return Err((
                            quoted,
                            0,
                            format!("`{}` has id {id}: ids go up to {MAX_ID}", nf.name),
                        ));
                    }
                    if let Some(other) = seen_ids.insert(id, nf.name.clone()) {
                        return Err((
                            quoted,
                            0,
                            format!("`{}` has id {id}, already used by `{other}`", nf.name),
                        ));
                    }
                    id
                }
                None => {
                    next_free += 1;
                    next_free - 1
                }
            };
            if let crate::graph::Op::Concat { inputs, .. } = nf.op {
                if inputs > crate::graph::ops::MAX_CONCAT_INPUTS {
                    return Err((
                        quoted,
                        0,
                        format!(
                            "`{}` is a Concat with {inputs} inputs: at most {} are allowed",
                            nf.name,
                            crate::graph::ops::MAX_CONCAT_INPUTS
                        ),
                    ));
                }
            }
            let mut tensors = BTreeMap::new();
            if let Some(v) = &nf.value {
                tensors.insert(
                    "value".to_string(),
                    to_array(v)
                        .map_err(|m| (quoted.clone(), 0, format!("value of `{}`: {m}", nf.name)))?,
                );
            }
            for (key, v) in &nf.params {
                tensors.insert(
                    key.clone(),
                    to_array(v)
                        .map_err(|m| (quoted.clone(), 0, format!("{key} of `{}`: {m}", nf.name)))?,
                );
            }
            by_name.insert(nf.name.clone(), NodeId(id));
            ids.push(NodeId(id));
            graph
                .insert_node(Node {
                    id: NodeId(id),
                    name: nf.name.clone(),
                    op: nf.op.clone(),
                    pos: [nf.pos.0, nf.pos.1],
                    tensors,
                })
                .map_err(|e| (quoted.clone(), 0, e.to_string()))?;
        }
        let mut load_diagnostics = Vec::new();
        for (nf, &id) in file.nodes.iter().zip(&ids) {
            let ports = nf.op.ports();
            for (port_name, producer) in &nf.inputs {
                let place = format!("node `{}` input `{port_name}`", nf.name);
                let diag = |message: String| Diagnostic {
                    severity: Severity::Error,
                    node: Some(id),
                    port: None,
                    place: place.clone(),
                    message,
                };
                let Some(port) = ports.iter().position(|p| p == port_name) else {
                    load_diagnostics.push(diag(format!(
                        "does not exist: a {} has inputs {}",
                        nf.op.name(),
                        if ports.is_empty() {
                            "none".to_string()
                        } else {
                            ports.join(", ")
                        }
                    )));
                    continue;
                };
                match by_name.get(producer) {
                    Some(&from) => graph.connect_unchecked(from, id, port),
                    None => load_diagnostics.push(Diagnostic {
                        port: Some(port),
                        ..diag(format!(
                            "names `{producer}`, but no node is called that: fix the name"
                        ))
                    }),
                }
            }
        }
        if let Some(out) = &file.output {
            match by_name.get(out) {
                Some(&id) => graph.output = Some(id),
                None => load_diagnostics.push(Diagnostic::graph(
                    Severity::Error,
                    format!("the output names `{out}`, but no node is called that"),
                )),
            }
        }
        for ex in &file.expanded {
            let layer_pos = by_name
                .get(&ex.layer)
                .and_then(|id| graph.node(*id))
                .map(|n| n.pos);
            match expansion_from_file(ex, &by_name, layer_pos) {
                Ok(e) => graph.set_expansion(by_name[&ex.layer], e),
                Err(message) => load_diagnostics.push(Diagnostic::graph(
                    Severity::Warning,
                    format!(
                        "the expanded layer `{}` {message}: it stays as it is and cannot collapse",
                        ex.layer
                    ),
                )),
            }
        }
        if let Some(q) = &file.quiz {
            for name in q.ask.iter().filter(|n| !by_name.contains_key(*n)) {
                load_diagnostics.push(Diagnostic::graph(
                    Severity::Error,
                    format!("the quiz asks for `{name}`, but no node is called that"),
                ));
            }
        }
        if let Some(t) = &file.training {
            for (what, name) in [("features", &t.features), ("target", &t.target)] {
                if !by_name.contains_key(name) {
                    load_diagnostics.push(Diagnostic::graph(
                        Severity::Error,
                        format!("training {what} names `{name}`, but no node is called that"),
                    ));
                }
            }
            for p in t.problems() {
                load_diagnostics.push(Diagnostic::graph(Severity::Error, format!("training: {p}")));
            }
        }
        let runs = runs::from_files(&file.runs, &graph, usize::from(file.training.is_some()))?;
        Ok(Self {
            title: file.title,
            description: file.description,
            graph,
            load_diagnostics,
            quiz: file.quiz,
            training: file.training,
            runs,
        })
    }

    /// The file structs for this project, nodes sorted by id.
    pub fn to_file(&self) -> ProjectFile {
        let g = &self.graph;
        let name = |id: NodeId| g.node(id).map(|n| n.name.clone()).unwrap_or_default();
        let nodes = g
            .nodes()
            .map(|n| {
                let ports = n.op.ports();
                let inputs = (0..n.op.arity())
                    .filter_map(|p| g.input(n.id, p).map(|src| (ports[p].clone(), name(src))))
                    .collect();
                let mut params = BTreeMap::new();
                let mut value = None;
                for (key, arr) in &n.tensors {
                    if key == "value" {
                        value = Some(to_value_file(arr));
                    } else {
                        params.insert(key.clone(), to_value_file(arr));
                    }
                }
                NodeFile {
                    id: Some(n.id.0),
                    name: n.name.clone(),
                    op: n.op.clone(),
                    value,
                    params,
                    inputs,
                    pos: (n.pos[0], n.pos[1]),
                }
            })
            .collect();
        ProjectFile {
            version: FORMAT_VERSION,
            title: self.title.clone(),
            description: self.description.clone(),
            output: g.output.map(name),
            seed: g.seed,
            quiz: self.quiz.clone(),
            training: self.training.clone(),
            nodes,
            expanded: g
                .expansions()
                .iter()
                .map(|(&layer, e)| format::ExpandedFile {
                    layer: name(layer),
                    op: e.op.clone(),
                    inputs: e.inputs,
                    shift: e.shift,
                    pos: Some((e.pos[0], e.pos[1])),
                    neurons: e
                        .neurons
                        .iter()
                        .map(|n| format::NeuronFile {
                            weights: name(n.weights),
                            mul: name(n.mul),
                            sum: name(n.sum),
                            bias: name(n.bias),
                            add: name(n.add),
                        })
                        .collect(),
                })
                .collect(),
            runs: runs::to_files(&self.runs, g),
        }
    }

    /// The exact text `save` writes.
    pub fn to_ron(&self) -> Result<String, String> {
        let pretty = ron::ser::PrettyConfig::new()
            .extensions(Extensions::IMPLICIT_SOME)
            .depth_limit(3)
            .indentor("    ");
        let mut text = ron::Options::default()
            .to_string_pretty(&self.to_file(), pretty)
            .map_err(|e| e.to_string())?;
        text.push('\n');
        Ok(text)
    }

    /// Writes atomically: a temp file in the same folder, flushed, then renamed over `path`.
    pub fn save(&self, path: &Path) -> Result<(), ProjectError> {
        let shown = path.display().to_string();
        let text = self.to_ron().map_err(|message| ProjectError::Serialize {
            path: shown.clone(),
            message,
        })?;
        write_atomic(path, text.as_bytes()).map_err(|source| ProjectError::Write {
            path: shown,
            source,
        })
    }
}

/// Writes atomically: a temp file `.NAME.nodegrad-tmp-XXXXXX` in the target's folder,
/// synced, then renamed over `path`. A save killed halfway leaves such a temp file behind;
/// the next save of the same file removes every one of them first.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir: PathBuf = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let prefix = temp_prefix(path);
    remove_stale_temps(&dir, &prefix);
    let mut tmp = tempfile::Builder::new().prefix(&prefix).tempfile_in(&dir)?;
    // The temp file is private (0600); the saved file keeps the target's permissions, or a
    // new file gets the usual ones, so saving never locks out a group or a web server.
    let permissions = std::fs::metadata(path)
        .map(|m| m.permissions())
        .ok()
        .or_else(new_file_permissions);
    if let Some(p) = permissions {
        tmp.as_file().set_permissions(p)?;
    }
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

#[cfg(unix)]
fn new_file_permissions() -> Option<std::fs::Permissions> {
    use std::os::unix::fs::PermissionsExt;
    Some(std::fs::Permissions::from_mode(0o644))
}

#[cfg(not(unix))]
fn new_file_permissions() -> Option<std::fs::Permissions> {
    None
}

/// `.NAME.nodegrad-tmp-`: hidden, named after the target, and recognisably ours.
pub fn temp_prefix(path: &Path) -> String {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    format!(".{name}.nodegrad-tmp-")
}

/// Removes the temp files earlier saves of this target left (best effort: a file that
/// cannot be removed is left for the next save).
fn remove_stale_temps(dir: &Path, prefix: &str) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let ours = entry
            .file_name()
            .to_str()
            .is_some_and(|n| n.starts_with(prefix));
        if ours && entry.file_type().is_ok_and(|t| t.is_file()) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// An expanded layer's record with names turned into ids, or what is wrong with it.
fn expansion_from_file(
    ex: &format::ExpandedFile,
    by_name: &BTreeMap<String, NodeId>,
    layer_pos: Option<[f32; 2]>,
) -> Result<crate::graph::Expansion, String> {
    use crate::graph::expand::{MAX_INPUTS, MAX_UNITS, Neuron};
    let id = |name: &str| {
        by_name
            .get(name)
            .copied()
            .ok_or_else(|| format!("names `{name}`, but no node is called that"))
    };
    id(&ex.layer)?;
    let crate::graph::Op::Dense { units, .. } = &ex.op else {
        return Err(format!("collapses into a {}, not a Dense", ex.op.name()));
    };
    if *units != ex.neurons.len() || *units > MAX_UNITS || ex.inputs > MAX_INPUTS || ex.inputs == 0
    {
        return Err(format!(
            "lists {} neurons of {} inputs for {units} units: a layer opens up to \
             {MAX_INPUTS} inputs x {MAX_UNITS} units, one neuron per unit",
            ex.neurons.len(),
            ex.inputs
        ));
    }
    let neurons = ex
        .neurons
        .iter()
        .map(|n| {
            Ok(Neuron {
                weights: id(&n.weights)?,
                mul: id(&n.mul)?,
                sum: id(&n.sum)?,
                bias: id(&n.bias)?,
                add: id(&n.add)?,
            })
        })
        .collect::<Result<Vec<_>, String>>()?;
    Ok(crate::graph::Expansion {
        op: ex.op.clone(),
        inputs: ex.inputs,
        shift: if ex.shift.is_finite() { ex.shift } else { 0.0 },
        // Without a position (a hand-written file), the layer goes back a shift left of
        // where its neurons join.
        pos: match (ex.pos, layer_pos) {
            (Some((x, y)), _) if x.is_finite() && y.is_finite() => [x, y],
            (_, Some([x, y])) if ex.shift.is_finite() => [x - ex.shift, y],
            _ => [0.0, 0.0],
        },
        neurons,
    })
}

fn to_array(v: &ValueFile) -> Result<Array, String> {
    match v {
        ValueFile::Scalar(x) => Ok(Array::scalar(*x)),
        ValueFile::Vector(xs) => Ok(Array::vector(xs.clone())),
        ValueFile::Tensor { shape, data } => Array::new(shape.clone(), data.clone()),
    }
}

fn to_value_file(a: &Array) -> ValueFile {
    match a.shape() {
        [] => ValueFile::Scalar(a.data()[0]),
        [_] => ValueFile::Vector(a.data().to_vec()),
        s => ValueFile::Tensor {
            shape: s.to_vec(),
            data: a.data().to_vec(),
        },
    }
}

/// Loads every `.ron` in a folder, sorted by name (the examples menu and the tests use it).
pub fn list_projects(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "ron"))
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}
