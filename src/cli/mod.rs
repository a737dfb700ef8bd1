//! The command line: `check`, `eval`, `steps`, `train`, `serve`, `export` and `import`, on the
//! same library the window uses.

mod json;
mod train_cmd;

use std::io::Write;
use std::path::{Path, PathBuf};

use std::collections::BTreeSet;

use clap::{Parser, Subcommand, ValueEnum};

use crate::analysis::{self, Analysis, Diagnostic, Severity};
use crate::exec::{Engine, Evaluation};
use crate::graph::{Array, Graph, fmt_shape};
use crate::project::Project;

#[derive(Debug, Parser)]
#[command(
    name = "nodegrad",
    version,
    about = "Computational graphs you can see, step through and train",
    long_about = "Without a command, opens the window (on FILE if given).",
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Project to open in the window.
    pub file: Option<PathBuf>,
    /// Open the window, wait until it has settled, save a screenshot (PNG) and quit.
    #[arg(long, value_name = "OUT.png")]
    pub screenshot_to: Option<PathBuf>,
    /// With --screenshot-to: train the project for this many seconds first (pausing puts
    /// the trained weights into the graph), then save the window.
    #[arg(long, value_name = "SECONDS", requires = "screenshot_to")]
    pub train_for: Option<f64>,
    /// The window's inner size, e.g. 1280x720 (640x400 to 7680x4320).
    #[arg(long, value_name = "WxH", value_parser = parse_window_size)]
    pub window_size: Option<[f32; 2]>,
    /// Select this node at the start, as a click on it would (the inspector shows it).
    #[arg(long, value_name = "NODE", requires = "file")]
    pub select: Option<String>,
}

/// `1280x720` -> [1280, 720], within what a window can be.
pub fn parse_window_size(text: &str) -> Result<[f32; 2], String> {
    let bad = || format!("expected WIDTHxHEIGHT such as 1280x720, got {text:?}");
    let (w, h) = text.split_once(['x', 'X']).ok_or_else(bad)?;
    let w: u32 = w.trim().parse().map_err(|_| bad())?;
    let h: u32 = h.trim().parse().map_err(|_| bad())?;
    if !(640..=7680).contains(&w) || !(400..=4320).contains(&h) {
        return Err(format!(
            "{w}x{h} is outside 640x400 to 7680x4320 (the smallest window the app lays out, \
             the largest screen it expects)"
        ));
    }
    Ok([w as f32, h as f32])
}

/// `--select NAME` names a node of FILE (checked before a window opens).
fn check_select(file: &Path, name: &str) -> anyhow::Result<()> {
    let project = Project::load(file).map_err(|e| anyhow::anyhow!("{e}"))?;
    if project.graph.find(name).is_some() {
        return Ok(());
    }
    let mut names: Vec<&str> = project.graph.nodes().map(|n| n.name.as_str()).collect();
    names.sort_unstable();
    let shown = names
        .iter()
        .take(20)
        .copied()
        .collect::<Vec<_>>()
        .join(", ");
    let more = if names.len() > 20 { ", …" } else { "" };
    anyhow::bail!(
        "--select {name}: {} has no node named {name:?} (its nodes: {shown}{more})",
        file.display()
    )
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print each file's diagnostics; exit 1 when a file has errors.
    Check {
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Print every node's value and gradient d(output)/d(node).
    Eval {
        file: PathBuf,
        /// Override an Input's or Parameter's value: NAME=5 or NAME=1,2,3 (repeatable).
        #[arg(long = "set", value_name = "NAME=VALUE")]
        set: Vec<String>,
        /// Print one JSON document instead of a table.
        #[arg(long)]
        json: bool,
        /// Where to compute.
        #[arg(long, value_enum, default_value_t = DeviceChoice::Cpu)]
        device: DeviceChoice,
    },
    /// Print the forward then the backward steps with numbers, one per line (an answer key).
    Steps {
        file: PathBuf,
        /// Override an Input's or Parameter's value: NAME=5 or NAME=1,2,3 (repeatable).
        #[arg(long = "set", value_name = "NAME=VALUE")]
        set: Vec<String>,
    },
    /// Train the project on its dataset (its `training:` settings) and print the scores.
    /// The last line is machine-readable:
    /// `done: epochs=N loss=X val_loss=X accuracy=X val_accuracy=X samples_per_s=X device=NAME`.
    /// Exits 3 when training diverges.
    Train {
        file: PathBuf,
        /// Epochs (default: the project's).
        #[arg(long)]
        epochs: Option<usize>,
        /// Where to train (default: the project's choice, usually auto).
        #[arg(long, value_enum)]
        device: Option<TrainDevice>,
        /// Seed for the dataset, split and shuffling (default: the project's).
        #[arg(long)]
        seed: Option<u64>,
        /// Save the project with the trained weights here (the input file is never changed).
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        /// Write one CSV row of scores per epoch here.
        #[arg(long, value_name = "FILE.csv")]
        metrics: Option<PathBuf>,
        /// With --device remote: the `nodegrad serve` address (default: the project's).
        #[arg(long, value_name = "ws://HOST:PORT")]
        remote: Option<String>,
        /// With --device remote: a file whose first line is the server's token.
        #[arg(long, value_name = "FILE")]
        token_file: Option<PathBuf>,
        /// With --device remote: give up when one step takes longer (seconds, default 30).
        #[arg(long, value_name = "SECONDS")]
        remote_timeout: Option<f64>,
    },
    /// Serve this machine's device to other machines' `nodegrad train --device remote`
    /// (and the window's "Remote server" device) over WebSocket, until Ctrl+C.
    Serve {
        /// Where to listen. Anything but a loopback address needs --token-file.
        #[arg(long, default_value = "127.0.0.1:3000")]
        bind: std::net::SocketAddr,
        /// Which device computes.
        #[arg(long, value_enum, default_value_t = TrainDevice::Auto)]
        device: TrainDevice,
        /// A file whose first line is the token clients must present.
        #[arg(long, value_name = "FILE")]
        token_file: Option<PathBuf>,
    },
    /// Turn an ONNX model into a project: its ops as nodes (named after the model's values),
    /// its weights in them, laid out left to right. Lists every op it cannot map.
    Import {
        /// The .onnx file.
        model: PathBuf,
        /// The project to write (default: MODEL with the extension .ron).
        #[arg(short, long, value_name = "FILE.ron")]
        out: Option<PathBuf>,
        /// Replace FILE.ron if it exists.
        #[arg(long)]
        force: bool,
    },
    /// Export the graph as PyTorch code (one .py; large weights in a .safetensors beside it,
    /// the training dataset as a .csv beside it) or as an ONNX model.
    Export {
        file: PathBuf,
        /// What to write.
        #[arg(long, value_enum)]
        to: ExportTarget,
        /// Where to write it (model.py, model.onnx).
        #[arg(short = 'o', long = "out", value_name = "OUT")]
        out: PathBuf,
        /// ONNX: include the losses as outputs (their targets become inputs).
        #[arg(long)]
        with_loss: bool,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ExportTarget {
    /// One readable Python file with an nn.Module.
    Pytorch,
    /// An ONNX model (opset 17).
    Onnx,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum TrainDevice {
    /// wgpu when a hardware adapter initializes, else the CPU.
    Auto,
    /// burn Flex on the CPU.
    Cpu,
    /// burn wgpu (a GPU, or Mesa's lavapipe).
    Wgpu,
    /// Another machine's device through `nodegrad serve` (with --remote).
    Remote,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum DeviceChoice {
    /// burn Flex on the CPU, f64.
    Cpu,
    /// burn wgpu (GPU or lavapipe), f32.
    Wgpu,
}

/// Runs a command; returns the process exit code. Output goes to `out`, problems to `err`.
pub fn run(cli: Cli, out: &mut dyn Write, err: &mut dyn Write) -> i32 {
    let result = match cli.command {
        Some(Command::Check { files }) => check(&files, out, err),
        Some(Command::Eval {
            file,
            set,
            json,
            device,
        }) => eval(&file, &set, json, device, out, err),
        Some(Command::Steps { file, set }) => steps(&file, &set, out, err),
        Some(Command::Train {
            file,
            epochs,
            device,
            seed,
            out: save_to,
            metrics,
            remote,
            token_file,
            remote_timeout,
        }) => train_cmd::train(
            &file,
            train_cmd::Overrides {
                epochs,
                device: device.map(|d| match d {
                    TrainDevice::Auto => crate::project::training::DeviceChoice::Auto,
                    TrainDevice::Cpu => crate::project::training::DeviceChoice::Cpu,
                    TrainDevice::Wgpu => crate::project::training::DeviceChoice::Wgpu,
                    TrainDevice::Remote => crate::project::training::DeviceChoice::Remote,
                }),
                seed,
                out: save_to,
                metrics,
                remote,
                token_file,
                remote_timeout,
            },
            out,
            err,
        ),
        Some(Command::Import {
            model,
            out: to,
            force,
        }) => import_onnx(&model, to.as_deref(), force, out, err),
        Some(Command::Export {
            file,
            to,
            out: dest,
            with_loss,
        }) => export(&file, to, &dest, with_loss, out, err),
        Some(Command::Serve {
            bind,
            device,
            token_file,
        }) => serve(bind, device, token_file.as_deref(), err),
        None => {
            if let (Some(file), Some(name)) = (&cli.file, &cli.select) {
                if let Err(e) = check_select(file, name) {
                    let _ = writeln!(err, "nodegrad: {e}");
                    return 2;
                }
            }
            let config = crate::ui::AppConfig {
                file: cli.file,
                screenshot_to: cli.screenshot_to,
                train_for: cli
                    .train_for
                    .filter(|s| s.is_finite() && *s >= 0.0)
                    .map(std::time::Duration::from_secs_f64),
                storage_dir: None,
                window_size: cli.window_size,
                select: cli.select,
            };
            match crate::ui::run(config) {
                Ok(()) => Ok(0),
                Err(e) => writeln!(
                    err,
                    "nodegrad: {e}\n(no display? `nodegrad eval FILE` works in a terminal)"
                )
                .map(|_| 1),
            }
        }
    };
    result.unwrap_or_else(|e| {
        let _ = writeln!(err, "nodegrad: {e}");
        2
    })
}

/// `nodegrad serve`: runs until Ctrl+C; the log goes to stdout.
fn serve(
    bind: std::net::SocketAddr,
    device: TrainDevice,
    token_file: Option<&Path>,
    err: &mut dyn Write,
) -> std::io::Result<i32> {
    use crate::project::training::DeviceChoice as D;
    let device = match device {
        TrainDevice::Auto => D::Auto,
        TrainDevice::Cpu => D::Cpu,
        TrainDevice::Wgpu => D::Wgpu,
        TrainDevice::Remote => {
            writeln!(
                err,
                "nodegrad serve: --device remote makes no sense for a server: choose auto, cpu \
                 or wgpu"
            )?;
            return Ok(2);
        }
    };
    let token = match token_file.map(crate::train::remote::read_token).transpose() {
        Ok(t) => t,
        Err(e) => {
            writeln!(err, "nodegrad serve: {e}")?;
            return Ok(2);
        }
    };
    let opts = crate::train::remote::ServeOptions {
        bind,
        device,
        token,
    };
    match crate::train::remote::serve(opts, std::io::stdout()) {
        Ok(()) => Ok(0),
        Err(e) => {
            writeln!(err, "nodegrad serve: {e}")?;
            Ok(1)
        }
    }
}

fn all_diagnostics(
    project: &Project,
    analysis: &Analysis,
    eval: Option<&Evaluation>,
) -> Vec<Diagnostic> {
    let mut all = project.load_diagnostics.clone();
    all.extend(analysis.diagnostics.iter().cloned());
    if let Some(e) = eval {
        all.extend(e.diagnostics.iter().cloned());
    }
    all
}

/// `export`: writes the file(s) and says what was written; a refusal names the node.
fn export(
    file: &Path,
    to: ExportTarget,
    dest: &Path,
    with_loss: bool,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> std::io::Result<i32> {
    let project = match Project::load(file) {
        Ok(p) => p,
        Err(e) => {
            writeln!(err, "{e}")?;
            return Ok(1);
        }
    };
    let result = match to {
        ExportTarget::Pytorch => {
            if with_loss {
                writeln!(
                    err,
                    "note: --with-loss is for ONNX; PyTorch code always has the losses"
                )?;
            }
            crate::interop::pytorch::write(&project, file.parent(), dest)
                .map(|w| format!("wrote {}", w.describe()))
        }
        ExportTarget::Onnx => crate::interop::onnx_export::write(&project.graph, with_loss, dest)
            .map(|s| {
                format!(
                    "wrote {} ({} bytes): inputs {}, outputs {}, {} ONNX nodes, {} initializers",
                    dest.display(),
                    s.bytes,
                    s.inputs.join(", "),
                    s.outputs.join(", "),
                    s.onnx_nodes,
                    s.initializers
                )
            }),
    };
    match result {
        Ok(msg) => {
            writeln!(out, "{msg}")?;
            Ok(0)
        }
        Err(e) => {
            writeln!(err, "{}: {e}", file.display())?;
            Ok(1)
        }
    }
}

fn check(files: &[PathBuf], out: &mut dyn Write, err: &mut dyn Write) -> std::io::Result<i32> {
    let mut code = 0;
    for file in files {
        let project = match Project::load(file) {
            Ok(p) => p,
            Err(e) => {
                writeln!(err, "{e}")?;
                code = 1;
                continue;
            }
        };
        let analysis = analysis::analyze(&project.graph);
        let diags = all_diagnostics(&project, &analysis, None);
        let mut errors = diags
            .iter()
            .filter(|d| d.severity == Severity::Error)
            .count();
        for d in &diags {
            writeln!(out, "{}: {d}", file.display())?;
        }
        // Training settings are checked once the graph itself is sound (batch x layers
        // against the memory budget needs its shapes).
        if let (Some(config), 0) = (&project.training, errors) {
            for problem in crate::train::check_training(&project.graph, config) {
                writeln!(out, "{}: error: training: {problem}", file.display())?;
                errors += 1;
            }
        }
        writeln!(
            out,
            "{}: {} node(s), {} parameter(s), {} error(s), {} warning(s)",
            file.display(),
            project.graph.len(),
            analysis.total_params,
            errors,
            diags
                .iter()
                .filter(|d| d.severity == Severity::Warning)
                .count()
        )?;
        if errors > 0 {
            code = 1;
        }
    }
    Ok(code)
}

/// Loads a project and applies `--set` overrides.
pub fn load_with_overrides(file: &Path, set: &[String]) -> Result<Project, String> {
    let mut project = Project::load(file).map_err(|e| e.to_string())?;
    for s in set {
        let (name, value) = s.split_once('=').ok_or_else(|| {
            format!("--set {s}: write NAME=VALUE, for example --set a=5 or --set x=1,2")
        })?;
        let value = Array::parse_list(value).map_err(|e| format!("--set {s}: {e}"))?;
        project
            .graph
            .set_value_by_name(name.trim(), value)
            .map_err(|e| format!("--set {s}: {e}"))?;
    }
    Ok(project)
}

fn eval(
    file: &Path,
    set: &[String],
    as_json: bool,
    device: DeviceChoice,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> std::io::Result<i32> {
    let engine = match device {
        DeviceChoice::Cpu => Engine::cpu(),
        DeviceChoice::Wgpu => match Engine::wgpu() {
            Ok(e) => e,
            Err(e) => {
                writeln!(err, "{e}; use --device cpu")?;
                return Ok(1);
            }
        },
    };
    let Some((project, analysis, evaluation)) = load_and_evaluate(file, set, &engine, err)? else {
        return Ok(1);
    };
    let graph = &project.graph;
    let diags = all_diagnostics(&project, &analysis, Some(&evaluation));
    let code = i32::from(diags.iter().any(|d| d.severity == Severity::Error));
    if as_json {
        json::write(graph, &analysis, &evaluation, &diags, &engine, out)?;
    } else {
        write_table(graph, &analysis, &evaluation, &diags, &engine, out)?;
    }
    Ok(code)
}

/// Loads a file with its `--set` overrides, analyses and evaluates it; a problem is written
/// to `err` and gives `None` (exit code 1).
fn load_and_evaluate(
    file: &Path,
    set: &[String],
    engine: &Engine,
    err: &mut dyn Write,
) -> std::io::Result<Option<(Project, Analysis, Evaluation)>> {
    let project = match load_with_overrides(file, set) {
        Ok(p) => p,
        Err(e) => {
            writeln!(err, "{e}")?;
            return Ok(None);
        }
    };
    let analysis = analysis::analyze(&project.graph);
    match engine.evaluate(&project.graph, &analysis) {
        Ok(evaluation) => Ok(Some((project, analysis, evaluation))),
        Err(e) => {
            writeln!(err, "{}: {e}", file.display())?;
            Ok(None)
        }
    }
}

fn steps(
    file: &Path,
    set: &[String],
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> std::io::Result<i32> {
    let Some((project, analysis, evaluation)) = load_and_evaluate(file, set, &Engine::cpu(), err)?
    else {
        return Ok(1);
    };
    let graph = &project.graph;
    for step in crate::stepper::forward_steps(graph, &analysis, &evaluation) {
        writeln!(out, "forward  {}", step.text)?;
    }
    for step in crate::stepper::backward_steps(graph, &analysis, &evaluation) {
        writeln!(out, "backward {}", step.text)?;
    }
    let diags = all_diagnostics(&project, &analysis, Some(&evaluation));
    for d in &diags {
        writeln!(err, "{d}")?;
    }
    let failed = diags.iter().any(|d| d.severity == Severity::Error);
    Ok(i32::from(failed))
}

pub(crate) fn name_of(graph: &Graph, id: crate::graph::NodeId) -> String {
    graph.node(id).map(|n| n.name.clone()).unwrap_or_default()
}

/// Nodes in evaluation order, then any that could not be ordered (on a cycle).
pub(crate) fn listing_order(graph: &Graph, analysis: &Analysis) -> Vec<crate::graph::NodeId> {
    let ordered: BTreeSet<_> = analysis.order.iter().copied().collect();
    let mut ids = analysis.order.clone();
    ids.extend(graph.node_ids().filter(|id| !ordered.contains(id)));
    ids
}

fn write_table(
    graph: &Graph,
    analysis: &Analysis,
    eval: &Evaluation,
    diags: &[Diagnostic],
    engine: &Engine,
    out: &mut dyn Write,
) -> std::io::Result<()> {
    let output = eval
        .output
        .map(|id| name_of(graph, id))
        .unwrap_or_else(|| "(none)".into());
    writeln!(
        out,
        "output: {output}    device: {}    parameters: {}",
        engine.describe(),
        analysis.total_params
    )?;
    let mut rows = vec![[
        "node".to_string(),
        "op".into(),
        "shape".into(),
        "value".into(),
        format!("d{output}/dnode"),
    ]];
    for id in listing_order(graph, analysis) {
        let Some(n) = graph.node(id) else { continue };
        let ev = eval.nodes.get(&id);
        let shape = analysis
            .shapes
            .get(&id)
            .map(|s| fmt_shape(s))
            .unwrap_or_else(|| "?".into());
        let value = ev
            .map(|e| e.value.to_string())
            .unwrap_or_else(|| "-".into());
        let grad = ev
            .and_then(|e| e.grad.as_ref())
            .map(|g| g.to_string())
            .unwrap_or_else(|| "-".into());
        rows.push([n.name.clone(), n.op.name().into(), shape, value, grad]);
        if let Some(ev) = ev {
            for (k, t) in ev.tensors.iter().filter(|(k, _)| k.as_str() != "value") {
                let grad = t
                    .grad
                    .as_ref()
                    .map(|g| g.to_string())
                    .unwrap_or_else(|| "-".into());
                rows.push([
                    format!("  .{k}"),
                    String::new(),
                    fmt_shape(t.value.shape()),
                    t.value.to_string(),
                    grad,
                ]);
            }
        }
    }
    let widths: Vec<usize> = (0..5)
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    for r in &rows {
        let line: Vec<String> = (0..5)
            .map(|c| format!("{:<w$}", r[c], w = widths[c]))
            .collect();
        writeln!(out, "{}", line.join("  ").trim_end())?;
    }
    for d in diags {
        writeln!(out, "{d}")?;
    }
    Ok(())
}

/// `nodegrad import MODEL.onnx [-o FILE.ron] [--force]`: never replaces a file unasked, and
/// writes the project atomically (a temp file renamed over the target).
fn import_onnx(
    model: &Path,
    to: Option<&Path>,
    force: bool,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> std::io::Result<i32> {
    let target = to.map_or_else(|| model.with_extension("ron"), Path::to_path_buf);
    if target.exists() && !force {
        writeln!(
            err,
            "nodegrad: {} exists already: pass --force to replace it, or -o another file",
            target.display()
        )?;
        return Ok(2);
    }
    let project = match crate::interop::onnx_import::import_file(model) {
        Ok(p) => p,
        Err(e) => {
            writeln!(err, "{}: {e}", model.display())?;
            return Ok(1);
        }
    };
    if let Err(e) = project.save(&target) {
        writeln!(err, "nodegrad: {e}")?;
        return Ok(2);
    }
    let analysis = analysis::analyze(&project.graph);
    let errors: Vec<&Diagnostic> = analysis
        .diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .collect();
    writeln!(
        out,
        "imported {} nodes from {} into {}",
        project.graph.len(),
        model.display(),
        target.display()
    )?;
    for d in &errors {
        writeln!(out, "{}: {d}", target.display())?;
    }
    Ok(if errors.is_empty() { 0 } else { 1 })
}
