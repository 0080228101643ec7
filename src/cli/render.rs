//! Output: data on stdout, everything else on stderr, colour only on a terminal, and
//! diagnostics rendered once, here, through miette.

use std::io::IsTerminal;

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
    /// `upgrade`, `undo` and `restore` write JSON Lines (NDJSON) instead: one object per
    /// line, the events as they happen, then the outcome. A command that fails writes
    /// `{"outcome": "error", "error": {...}}` in place of its document (or as its last line).
    Json,
}

/// Where and how the CLI writes.
#[derive(Debug, Clone, Copy)]
pub struct Out {
    color: bool,
    color_stdout: bool,
    format: Format,
}

impl Out {
    /// Decides colour once for the run.
    pub fn new(color: Color, format: Format) -> Self {
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
            Ok(text) => println!("{text}"),
            Err(err) => eprintln!("failed to write JSON: {err}"),
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
        println!("{}", line.as_ref());
    }

    /// A line for people on stderr.
    pub fn status(&self, line: impl AsRef<str>) {
        eprintln!("{}", line.as_ref());
    }

    /// How a command failed, for machines (with `--output json`): one line on stdout,
    /// `{"outcome": OUTCOME, "error": {...}}` (see [`diagnostic_json`]). People still get the
    /// text on stderr.
    pub fn json_error(&self, outcome: &str, diagnostic: &dyn Diagnostic) {
        println!(
            "{}",
            serde_json::json!({ "outcome": outcome, "error": diagnostic_json(diagnostic) })
        );
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
        eprintln!("{}", text.trim_end());
    }
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
