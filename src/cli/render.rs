//! Output: data on stdout, everything else on stderr, colour only on a terminal, and
//! diagnostics rendered once, here, through miette. Every line the CLI writes goes through
//! [`stdout_line`] or [`stderr_line`], which never panic on a failed write.

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use miette::{Diagnostic, GraphicalReportHandler, GraphicalTheme, Severity};

/// When to colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Color {
    /// On a terminal, unless `NO_COLOR` is set.
    Auto,
    /// Always.
    Always,
    /// Never.
    Never,
}

/// How results are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// For people.
    Text,
    /// For machines: JSON on stdout, one document; `apply`, `install`, `uninstall`,
    /// `upgrade`, `undo` and `restore` write JSON Lines (NDJSON) instead when they apply: one
    /// object per line, the events as they happen (a `waiting` one when a lock holds them
    /// up), then the outcome (with nothing to do, or with `--plan-out`, one document). A command that fails writes
    /// `{"outcome": "error", "error": {...}}` in place of its document (or as its last line).
    Json,
}

/// Where and how the CLI writes.
#[derive(Debug, Clone)]
pub struct Out {
    color: bool,
    color_stdout: bool,
    format: Format,
    /// The target of a fleet that this output is about: its lines for people start with
    /// `[name]`, and its JSON objects carry `"target": name`.
    target: Option<Arc<str>>,
}

impl Out {
    /// Decides colour once for the run.
    pub fn new(color: Color, format: Format) -> Self {
        // Before a terminal can go away: see `stdout_failure`.
        let _ = STDOUT_TERMINAL.set(std::io::stdout().is_terminal());
        let auto = |terminal: bool| terminal && std::env::var_os("NO_COLOR").is_none();
        let (color, color_stdout) = match color {
            Color::Always => (true, true),
            Color::Never => (false, false),
            Color::Auto => (
                auto(std::io::stderr().is_terminal()),
                auto(std::io::stdout().is_terminal()),
            ),
        };
        Out {
            color,
            color_stdout,
            format,
            target: None,
        }
    }

    /// The same output, about one target of a fleet.
    pub fn for_target(&self, name: &str) -> Out {
        Out {
            target: Some(name.into()),
            ..self.clone()
        }
    }

    /// A JSON object on one line of stdout (JSON Lines), with the fleet target it is about.
    pub fn json_line(&self, value: &impl serde::Serialize) {
        let line = match &self.target {
            None => serde_json::to_string(value),
            Some(target) => serde_json::to_value(value).map(|mut value| {
                if let Some(object) = value.as_object_mut() {
                    object.insert("target".to_owned(), target.as_ref().into());
                }
                value.to_string()
            }),
        };
        match line {
            Ok(line) => stdout_line(&line),
            Err(err) => stderr_line(&format!("failed to write JSON: {err}")),
        }
    }

    /// Whether text on stderr may be coloured.
    pub fn color(&self) -> bool {
        self.color
    }

    /// Whether data on stdout may be coloured.
    pub fn color_stdout(&self) -> bool {
        self.color_stdout
    }

    /// Whether results go out as JSON.
    pub fn json(&self) -> bool {
        self.format == Format::Json
    }

    /// A JSON document on stdout.
    pub fn json_value(&self, value: &impl serde::Serialize) {
        match serde_json::to_string_pretty(value) {
            Ok(text) => stdout_line(&text),
            Err(err) => stderr_line(&format!("failed to write JSON: {err}")),
        }
    }

    /// Bold text, on a colour terminal.
    pub fn bold(&self, text: &str) -> String {
        if self.color {
            format!("\x1b[1m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    }

    /// Dim text, on a colour terminal.
    pub fn dim(&self, text: &str) -> String {
        if self.color {
            format!("\x1b[2m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    }

    /// A line of data on stdout.
    pub fn data(&self, line: impl AsRef<str>) {
        stdout_line(line.as_ref());
    }

    /// A line for people on stderr.
    pub fn status(&self, line: impl AsRef<str>) {
        stderr_line(&self.about_target(line.as_ref()));
    }

    /// `text` with every line after `[target]`, for a fleet's target.
    fn about_target(&self, text: &str) -> String {
        match &self.target {
            Some(target) => text
                .lines()
                .map(|line| format!("[{target}] {line}"))
                .collect::<Vec<_>>()
                .join("\n"),
            None => text.to_owned(),
        }
    }

    /// A question on stderr, left open on its line for the answer.
    pub fn prompt(&self, question: &str) {
        write_stderr(question.as_bytes());
    }

    /// How a command failed, for machines (with `--output json`): one line on stdout,
    /// `{"outcome": OUTCOME, "error": {...}}` (see [`diagnostic_json`]). People still get the
    /// text on stderr.
    pub fn json_error(&self, outcome: &str, diagnostic: &dyn Diagnostic) {
        self.json_line(
            &serde_json::json!({ "outcome": outcome, "error": diagnostic_json(diagnostic) }),
        );
    }

    /// How a command failed: for machines as [`Out::json_error`] (with `--output json`), for
    /// people on stderr.
    pub fn error(&self, report: &miette::Report) {
        if self.json() {
            self.json_error("error", report.as_ref());
        }
        self.report(report.as_ref());
    }

    /// A diagnostic (error or warning) on stderr.
    pub fn report(&self, diagnostic: &dyn Diagnostic) {
        let theme = if self.color {
            GraphicalTheme::unicode()
        } else {
            GraphicalTheme::unicode_nocolor()
        };
        let handler = GraphicalReportHandler::new_themed(theme)
            .with_width(100)
            .with_links(false);
        let mut text = String::new();
        if handler.render_report(&mut text, diagnostic).is_err() {
            text = diagnostic.to_string();
        }
        stderr_line(&self.about_target(text.trim_end()));
    }
}

/// The first error writing stdout. Once set, data is dropped instead of written: when the
/// reader went away (a closed pipe, as `dbpm show plan.json | head` closes it) the output
/// ends quietly, as in other Unix tools; any other error fails the run at its end
/// ([`stdout_failure`]). The command itself runs to its end either way, so an `apply` whose
/// reader left is not cut off between two steps (as the default `SIGPIPE` would do).
static STDOUT_FAILED: OnceLock<std::io::Error> = OnceLock::new();

/// Whether stdout was a terminal when dbpm started. A terminal that fails a write went away
/// (a hangup: the ssh session was lost), like a pipe's reader: nothing was lost that anyone
/// could have read.
static STDOUT_TERMINAL: OnceLock<bool> = OnceLock::new();

/// Whether writing stderr failed: there is nowhere left to tell, so the rest is dropped.
static STDERR_FAILED: AtomicBool = AtomicBool::new(false);

/// Writes a line of data to stdout, unless an earlier write failed. `println!` would panic.
pub fn stdout_line(line: &str) {
    if STDOUT_FAILED.get().is_some() {
        return;
    }
    let mut stdout = std::io::stdout().lock();
    let written = stdout
        .write_all(line.as_bytes())
        .and_then(|()| stdout.write_all(b"\n"))
        .and_then(|()| stdout.flush());
    if let Err(err) = written {
        let _ = STDOUT_FAILED.set(err);
    }
}

/// Writes a line for people to stderr, unless an earlier write failed.
pub fn stderr_line(line: &str) {
    write_stderr(format!("{line}\n").as_bytes());
}

/// Writes bytes to stderr and flushes them, unless an earlier write failed.
fn write_stderr(bytes: &[u8]) {
    if STDERR_FAILED.load(Ordering::Relaxed) {
        return;
    }
    let mut stderr = std::io::stderr().lock();
    if stderr
        .write_all(bytes)
        .and_then(|()| stderr.flush())
        .is_err()
    {
        STDERR_FAILED.store(true, Ordering::Relaxed);
    }
}

/// Why data was lost on stdout, when it was not a reader that stopped reading (a closed pipe,
/// a terminal that went away).
pub fn stdout_failure() -> Option<OutputError> {
    let terminal = STDOUT_TERMINAL.get().copied().unwrap_or(false);
    STDOUT_FAILED
        .get()
        .filter(|err| err.kind() != std::io::ErrorKind::BrokenPipe && !terminal)
        .map(|err| OutputError {
            source: std::io::Error::new(err.kind(), err.to_string()),
        })
}

/// Writing stdout failed for a reason other than a closed pipe (a full disk, say).
#[derive(Debug, thiserror::Error, Diagnostic)]
#[error("failed to write to stdout")]
#[diagnostic(
    code(dbpm::output::write),
    help("the output is incomplete; check where stdout goes (a full disk, a closed file)")
)]
pub struct OutputError {
    /// What the OS said.
    #[source]
    source: std::io::Error,
}

/// A diagnostic as JSON: its message, code, severity, help, the places it labels (file,
/// 1-based line and column, byte offset and length), the errors that caused it, and the
/// diagnostics related to it, each in the same form.
fn diagnostic_json(diagnostic: &dyn Diagnostic) -> serde_json::Value {
    let source = diagnostic.source_code();
    let labels: Vec<serde_json::Value> = diagnostic
        .labels()
        .into_iter()
        .flatten()
        .map(|label| {
            let place = source.and_then(|code| code.read_span(label.inner(), 0, 0).ok());
            let place = place.as_deref();
            serde_json::json!({
                "label": label.label(),
                "file": place.and_then(|p| p.name()),
                "line": place.map(|p| p.line() + 1),
                "column": place.map(|p| p.column() + 1),
                "offset": label.offset(),
                "length": label.len(),
            })
        })
        .collect();
    let causes: Vec<String> = std::iter::successors(diagnostic.source(), |cause| cause.source())
        .map(ToString::to_string)
        .collect();
    let related: Vec<serde_json::Value> = diagnostic
        .related()
        .into_iter()
        .flatten()
        .map(diagnostic_json)
        .collect();
    let severity = match diagnostic.severity().unwrap_or(Severity::Error) {
        Severity::Error => "error",
        Severity::Warning => "warning",
        Severity::Advice => "advice",
    };
    serde_json::json!({
        "message": diagnostic.to_string(),
        "code": diagnostic.code().map(|code| code.to_string()),
        "severity": severity,
        "help": diagnostic.help().map(|help| help.to_string()),
        "labels": labels,
        "causes": causes,
        "related": related,
    })
}
