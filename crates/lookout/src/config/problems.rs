//! Located configuration problems: every check pushes a [`Problem`] naming file, line, entry
//! and field, and carries on, so one run reports everything.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

/// One configuration problem, located.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The file, as reached from the main config path.
    pub file: PathBuf,
    /// 1-based line; 0 when unknown (e.g. the file could not be read).
    pub line: usize,
    /// The entry, e.g. `rule "nz-fleet"`; empty at top level.
    pub entry: String,
    /// The field, e.g. `areas`; empty when the whole entry or file is meant.
    pub field: String,
    /// What is wrong, lowercase, naming the offending value.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if self.line > 0 {
            write!(f, ":{}", self.line)?;
        }
        write!(f, ": ")?;
        if !self.entry.is_empty() {
            write!(f, "{}: ", self.entry)?;
        }
        if !self.field.is_empty() {
            write!(f, "field {}: ", self.field)?;
        }
        f.write_str(&self.message)
    }
}

/// Every problem found in the configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{} configuration problem{}:\n{}", .0.len(), if .0.len() == 1 { "" } else { "s" }, .0.iter().map(|p| format!("  {p}")).collect::<Vec<_>>().join("\n"))]
pub struct ConfigError(pub Vec<Problem>);

impl ConfigError {
    /// The problems, in file order.
    pub fn problems(&self) -> &[Problem] {
        &self.0
    }
}

/// One configuration file: its path as shown in problems, and its text (for line numbers).
pub(crate) struct File {
    pub(crate) display: PathBuf,
    pub(crate) text: String,
}

impl File {
    /// The 1-based line where `span` starts.
    pub(crate) fn line(&self, span: &Range<usize>) -> usize {
        let end = span.start.min(self.text.len());
        self.text.as_bytes()[..end]
            .iter()
            .filter(|b| **b == b'\n')
            .count()
            + 1
    }
}

/// The problems found so far.
#[derive(Default)]
pub(crate) struct Problems(pub(crate) Vec<Problem>);

impl Problems {
    /// A problem at `span` of `file`.
    pub(crate) fn at(
        &mut self,
        file: &File,
        span: Range<usize>,
        entry: &str,
        field: &str,
        message: String,
    ) {
        self.0.push(Problem {
            file: file.display.clone(),
            line: file.line(&span),
            entry: entry.to_owned(),
            field: field.to_owned(),
            message,
        });
    }

    /// A problem with a whole file (unreadable).
    pub(crate) fn file(&mut self, path: &Path, message: String) {
        self.0.push(Problem {
            file: path.to_path_buf(),
            line: 0,
            entry: String::new(),
            field: String::new(),
            message,
        });
    }

    /// True when nothing was found.
    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}
