//! Interop: the graph out to PyTorch code and ONNX, and ONNX models in as graphs.
//!
//! Headless like `exec` and `train`: the CLI (`nodegrad export`, `nodegrad import`) and the
//! window's File menu both call these functions. Nothing here imports egui.

pub mod onnx_export;
pub mod onnx_import;
pub mod pytorch;
