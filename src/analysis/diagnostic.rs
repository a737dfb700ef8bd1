//! A diagnostic names its place (node, port) and says what to do.

use std::fmt;

use crate::graph::{Node, NodeId};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    Error,
    Warning,
    Info,
}

impl Severity {
    pub fn label(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Info => "info",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Diagnostic {
    pub severity: Severity,
    pub node: Option<NodeId>,
    pub port: Option<usize>,
    /// "node `mul1` input `rhs`", or "graph".
    pub place: String,
    pub message: String,
}

impl Diagnostic {
    fn at(
        severity: Severity,
        node: &Node,
        port: Option<(usize, &str)>,
        message: impl Into<String>,
    ) -> Self {
        let place = match port {
            Some((_, p)) => format!("node `{}` input `{p}`", node.name),
            None => format!("node `{}`", node.name),
        };
        Self {
            severity,
            node: Some(node.id),
            port: port.map(|(i, _)| i),
            place,
            message: message.into(),
        }
    }

    pub fn error(node: &Node, port: Option<(usize, &str)>, message: impl Into<String>) -> Self {
        Self::at(Severity::Error, node, port, message)
    }

    pub fn warning(node: &Node, port: Option<(usize, &str)>, message: impl Into<String>) -> Self {
        Self::at(Severity::Warning, node, port, message)
    }

    pub fn info(node: &Node, port: Option<(usize, &str)>, message: impl Into<String>) -> Self {
        Self::at(Severity::Info, node, port, message)
    }

    pub fn graph(severity: Severity, message: impl Into<String>) -> Self {
        Self {
            severity,
            node: None,
            port: None,
            place: "graph".into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {} {}",
            self.severity.label(),
            self.place,
            self.message
        )
    }
}
