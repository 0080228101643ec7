//! Problems located in a user's file (a manifest, a script, an archive entry), gathered so
//! that every problem of an input is reported at once instead of one per run.
//!
//! Modules describe what is wrong with their own typed enums and turn each finding into a
//! [`Problem`]; this module only knows where a problem is and how miette shows it.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use miette::{Diagnostic, LabeledSpan, NamedSource, Severity, SourceCode, SourceSpan};

/// The text of a file, shared by every problem that points into it.
#[derive(Debug, Clone)]
pub struct SourceFile {
    path: PathBuf,
    text: Arc<str>,
    named: Arc<NamedSource<Arc<str>>>,
}

impl SourceFile {
    /// A file's path (as the user gave it) and its text.
    pub fn new(path: impl Into<PathBuf>, text: impl Into<Arc<str>>) -> Self {
        let path = path.into();
        let text = text.into();
        let named = Arc::new(NamedSource::new(path.display().to_string(), text.clone()));
        SourceFile { path, text, named }
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The file's text.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The byte offset of a 1-based line and column, clamped to the text.
    pub fn offset_of(&self, line: usize, column: usize) -> usize {
        let mut offset = 0;
        for (index, text_line) in self.text.split_inclusive('\n').enumerate() {
            if index + 1 == line {
                let within = text_line
                    .char_indices()
                    .nth(column.saturating_sub(1))
                    .map_or(text_line.len(), |(i, _)| i);
                return offset + within;
            }
            offset += text_line.len();
        }
        self.text.len()
    }
}

/// Where a JSON parse error points: serde_json's message without its trailing
/// " at line L column C" (a diagnostic shows the place its own way), and the byte span of the
/// place (serde_json counts columns in bytes).
pub fn json_error_at(text: &str, err: &serde_json::Error) -> (String, SourceSpan) {
    let message = err.to_string();
    let message = message
        .rsplit_once(" at line ")
        .map_or(message.as_str(), |(head, _)| head)
        .to_owned();
    let start: usize = text
        .split_inclusive('\n')
        .take(err.line().saturating_sub(1))
        .map(str::len)
        .sum();
    let offset = (start + err.column().saturating_sub(1)).min(text.len());
    (message, offset.into())
}

/// One thing wrong (or worth a warning) in one file.
#[derive(Debug, Clone)]
pub struct Problem {
    file: PathBuf,
    message: String,
    code: &'static str,
    help: Option<String>,
    label: Option<Box<(SourceSpan, String)>>,
    source: Option<Box<SourceFile>>,
    severity: Severity,
}

impl Problem {
    /// An error in `file`, with a stable `code` (`dbpm::area::what`).
    pub fn error(file: impl Into<PathBuf>, code: &'static str, message: impl Into<String>) -> Self {
        Problem {
            file: file.into(),
            message: message.into(),
            code,
            help: None,
            label: None,
            source: None,
            severity: Severity::Error,
        }
    }

    /// Turns the problem into a warning: reported, but not blocking.
    pub fn warning(mut self) -> Self {
        self.severity = Severity::Warning;
        self
    }

    /// Says how to fix it.
    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// Adds a sentence to how to fix it.
    pub fn and_help(mut self, more: &str) -> Self {
        self.help = Some(match self.help.take() {
            Some(help) => format!("{help}; {more}"),
            None => more.to_owned(),
        });
        self
    }

    /// Points at a span of the file's text.
    pub fn at(
        mut self,
        source: &SourceFile,
        span: impl Into<SourceSpan>,
        label: impl Into<String>,
    ) -> Self {
        self.file = source.path.clone();
        self.source = Some(Box::new(source.clone()));
        self.label = Some(Box::new((span.into(), label.into())));
        self
    }

    /// The file at fault.
    pub fn file(&self) -> &Path {
        &self.file
    }

    /// The stable code of the problem.
    pub fn code_str(&self) -> &'static str {
        self.code
    }

    /// Whether it blocks (an error) or not (a warning).
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// The message, without the file.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Where in its file the problem points, if it does.
    pub fn offset(&self) -> Option<usize> {
        self.label.as_deref().map(|(span, _)| span.offset())
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // With a snippet, miette names the file above it; without one, the message must.
        if self.source.is_some() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.file.display(), self.message)
        }
    }
}

impl std::error::Error for Problem {}

impl Diagnostic for Problem {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Some(Box::new(self.code))
    }

    fn severity(&self) -> Option<Severity> {
        Some(self.severity)
    }

    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.help
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn SourceCode> {
        self.source
            .as_ref()
            .map(|s| s.named.as_ref() as &dyn SourceCode)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        self.label.as_deref().map(|(span, label)| {
            Box::new(std::iter::once(LabeledSpan::new_with_span(
                Some(label.clone()),
                *span,
            ))) as Box<dyn Iterator<Item = LabeledSpan>>
        })
    }
}

/// Every problem found in one input, reported together.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{subject}: {count}", count = plural(self.errors().count(), "problem"))]
pub struct Problems {
    subject: String,
    problems: Vec<Problem>,
}

impl Problems {
    /// The problems of `subject` (for example "package `core/1.0.0`").
    pub fn new(subject: impl Into<String>, problems: Vec<Problem>) -> Self {
        Problems {
            subject: subject.into(),
            problems,
        }
    }

    /// The blocking ones.
    pub fn errors(&self) -> impl Iterator<Item = &Problem> {
        self.problems.iter().filter(|p| p.is_error())
    }

    /// All of them, errors and warnings.
    pub fn all(&self) -> &[Problem] {
        &self.problems
    }
}

impl Diagnostic for Problems {
    fn related<'a>(&'a self) -> Option<Box<dyn Iterator<Item = &'a dyn Diagnostic> + 'a>> {
        Some(Box::new(self.problems.iter().map(|p| p as &dyn Diagnostic)))
    }
}

/// `1 problem`, `2 problems`.
pub fn plural(count: usize, noun: &str) -> String {
    if count == 1 {
        format!("1 {noun}")
    } else {
        format!("{count} {noun}s")
    }
}

/// The candidate closest to `word` by edit distance, when it is close enough to be a typo:
/// up to a third of the word's length, and at least one edit ("biling" → "billing"). Ties go
/// to the first in `candidates` order, so callers pass them sorted.
pub fn closest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let lower = word.to_ascii_lowercase();
    let limit = (word.chars().count() / 3).max(1);
    let mut best: Option<(usize, &str)> = None;
    for candidate in candidates {
        let distance = edit_distance(&lower, &candidate.to_ascii_lowercase());
        if distance <= limit && best.is_none_or(|(d, _)| distance < d) {
            best = Some((distance, candidate));
        }
    }
    best.map(|(_, name)| name)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut previous = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let current = row[j + 1];
            row[j + 1] = if ca == *cb {
                previous
            } else {
                1 + previous.min(row[j]).min(row[j + 1])
            };
            previous = current;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_of_a_kind_is_singular() {
        assert_eq!(plural(0, "compensation"), "0 compensations");
        assert_eq!(plural(1, "compensation"), "1 compensation");
        assert_eq!(plural(2, "check"), "2 checks");
    }

    #[test]
    fn closest_finds_typos_only() {
        assert_eq!(closest("INSTAL", ["INSTALL", "UPGRADE"]), Some("INSTALL"));
        assert_eq!(closest("billng", ["billing", "auth"]), Some("billing"));
        assert_eq!(closest("zzz", ["billing", "auth"]), None);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }
}
