//! What panels, menus, dialogs and shortcuts ask the app to do. They return these instead of
//! calling into `NodegradApp`; the app applies them once per frame, after layout
//! (`NodegradApp::apply_pending`), so no panel holds the app and no module of `ui/` imports
//! the app back.

use std::path::PathBuf;

use crate::graph::NodeId;
use crate::project::training::TrainingConfig;

use super::document::Edit;
use super::layout::Pane;

/// Commands from menus, shortcuts, panels and dialogs.
#[derive(Clone, Debug, PartialEq)]
pub enum AppCommand {
    New,
    /// `None` asks with a file dialog.
    Open(Option<PathBuf>),
    Save,
    SaveAs,
    Undo,
    Redo,
    Copy,
    Paste(String),
    Duplicate,
    Delete,
    SelectAll,
    Fit,
    ToggleTheme,
    Quit,
    Focus(NodeId),
    GradientCheck,
    /// Show or hide the Training tiles (settings and dashboard).
    ToggleTraining,
    ShowInspector(bool),
    ShowWireGrads(bool),
    /// Rename the selected node in place.
    Rename,
    /// Save As with quiz mode on, asking about the selected nodes (all when none).
    SaveExercise,
    /// A graph edit from a panel (applied through `Document::apply`, undoable).
    Edit(Edit),
    /// New training settings (`None` removes them).
    SetTraining(Option<TrainingConfig>),
    /// A line for the status bar.
    Message(String),
    /// The default layout again (View > Reset layout).
    ResetLayout,
    /// Show one tile over the whole window; `None` restores the layout.
    Maximize(Option<Pane>),
    /// Open the Help window at a page (0: shortcuts, 1..: the guided tour).
    Help(usize),
    /// Answers to "discard unsaved changes?".
    ConfirmSave,
    ConfirmDiscard,
    ConfirmCancel,
    DismissLoadError,
    RestoreRecovery,
    DiscardRecovery,
    CloseGradientCheck,
    /// File > Import ONNX…: the model as a new unsaved project (`None` asks with a file
    /// dialog).
    ImportOnnx(Option<PathBuf>),
    /// Play the backward pass on the wires, chain-rule step by step (View > Animate backward
    /// pass).
    AnimateBackward,
    /// File > Export > PyTorch code…: writes the graph as a .py to this file (`None` asks
    /// with a save dialog).
    ExportPytorch(Option<PathBuf>),
    /// File > Export > ONNX…: writes the graph as an ONNX model to this file (`None` asks);
    /// `with_loss` adds the losses as outputs.
    ExportOnnx {
        path: Option<PathBuf>,
        with_loss: bool,
    },
}

/// An action waiting for "discard unsaved changes?".
#[derive(Clone, Debug, PartialEq)]
pub enum Pending {
    New,
    Open(Option<PathBuf>),
    Quit,
    /// Import an ONNX model as a new project (`None` asks with a file dialog).
    ImportOnnx(Option<PathBuf>),
}
