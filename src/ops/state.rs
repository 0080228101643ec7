//! `dbpm state export`, and state files: the installed state of a target written as JSON, so
//! CI can plan without credentials for the target (`dbpm plan --state FILE`), and read back
//! with a diagnostic that points into a bad file.

use std::path::{Path, PathBuf};

use miette::{NamedSource, SourceSpan};
use serde::Deserialize;

use crate::db::target::{Target, TargetError};
use crate::diagnostic::json_error_at;
use crate::state::{InstalledState, STATE_FORMAT};

/// Why `dbpm state export` failed.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum ExportError {
    /// The target failed.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Target(#[from] TargetError),
    /// The state file could not be written.
    #[error("failed to write the state file `{}`", path.display())]
    #[diagnostic(code(dbpm::state::write))]
    Write {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        #[source]
        source: std::io::Error,
    },
}

/// Why a state file could not be read.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum StateFileError {
    /// The file could not be read.
    #[error("failed to read the state file `{}`", path.display())]
    #[diagnostic(code(dbpm::state::read))]
    Read {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        #[source]
        source: std::io::Error,
    },
    /// The file is not a state as JSON.
    #[error("`{}` is not a dbpm state file: {message} at line {line}, column {column}", path.display())]
    #[diagnostic(
        code(dbpm::state::bad_file),
        help("export it again with `dbpm state export --db URL --out FILE`")
    )]
    Json {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
        /// Where (1-based).
        line: usize,
        /// Where (1-based).
        column: usize,
        /// The file's text.
        #[source_code]
        text: NamedSource<String>,
        /// The place in it.
        #[label("{message}")]
        span: SourceSpan,
    },
    /// The file has a format this dbpm does not read.
    #[error("`{}` has state format {}, and this dbpm reads format {STATE_FORMAT}", path.display(), found.map_or("none".to_owned(), |f| f.to_string()))]
    #[diagnostic(
        code(dbpm::state::format),
        help("export the state with this dbpm, or use the dbpm that wrote the file")
    )]
    Format {
        /// The file.
        path: PathBuf,
        /// The format it has, if any.
        found: Option<u64>,
    },
}

/// Reads the installed state of a target, and writes it as JSON to `out` when given.
pub async fn export(target: &Target, out: Option<&Path>) -> Result<InstalledState, ExportError> {
    let state = target.read_state().await?;
    if let Some(path) = out {
        crate::durable::write_atomically(path, to_json(&state).as_bytes()).map_err(|source| {
            ExportError::Write {
                path: path.to_owned(),
                source,
            }
        })?;
    }
    Ok(state)
}

/// A state as the pretty JSON of a state file, ending with a newline.
pub fn to_json(state: &InstalledState) -> String {
    let text = serde_json::to_string_pretty(state)
        .unwrap_or_else(|err| unreachable!("a state always serializes: {err}"));
    format!("{text}\n")
}

/// Reads a state file written by `dbpm state export`.
pub fn load_state_file(path: &Path) -> Result<InstalledState, StateFileError> {
    let text = fs_err::read_to_string(path).map_err(|source| StateFileError::Read {
        path: path.to_owned(),
        source,
    })?;
    parse_state(path, text)
}

/// Only the format, read first so a file of another format is named as such rather than
/// failing on whichever field changed.
#[derive(Deserialize)]
struct Format {
    format: Option<u64>,
}

fn parse_state(path: &Path, text: String) -> Result<InstalledState, StateFileError> {
    let found = serde_json::from_str::<Format>(&text)
        .map_err(|err| json_error(path, &text, &err))?
        .format;
    if found != Some(u64::from(STATE_FORMAT)) {
        return Err(StateFileError::Format {
            path: path.to_owned(),
            found,
        });
    }
    serde_json::from_str(&text).map_err(|err| json_error(path, &text, &err))
}

fn json_error(path: &Path, text: &str, err: &serde_json::Error) -> StateFileError {
    let (message, span) = json_error_at(text, err);
    StateFileError::Json {
        path: path.to_owned(),
        message,
        line: err.line(),
        column: err.column(),
        span,
        text: NamedSource::new(path.display().to_string(), text.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::Platform;

    fn parse(text: &str) -> Result<InstalledState, StateFileError> {
        parse_state(Path::new("state.json"), text.to_owned())
    }

    #[test]
    fn a_state_file_reads_back_what_was_written() {
        let state = InstalledState::empty(Platform::Postgres, "postgres://db/x#public");
        assert_eq!(parse(&to_json(&state)).unwrap(), state);
    }

    #[test]
    fn bad_json_is_located_by_line_and_column() {
        let text = "{\n  \"format\": 1,\n  \"platform\": postgres\n}\n";
        let err = parse(text).unwrap_err();
        let StateFileError::Json {
            line, column, span, ..
        } = &err
        else {
            panic!("{err:?}")
        };
        assert_eq!((*line, *column), (3, 15));
        assert_eq!(&text[span.offset()..span.offset() + 1], "p");
        assert!(err.to_string().ends_with("at line 3, column 15"), "{err}");
    }

    #[test]
    fn a_wrong_field_is_a_json_error_too() {
        let text =
            r#"{"format": 1, "platform": "oracle", "target": "", "packages": {}, "texts": {}}"#;
        assert!(matches!(parse(text), Err(StateFileError::Json { .. })));
    }

    #[test]
    fn another_format_is_named_as_such() {
        let err = parse(r#"{"format": 99, "whatever": true}"#).unwrap_err();
        assert!(matches!(
            err,
            StateFileError::Format {
                found: Some(99),
                ..
            }
        ));
        assert_eq!(
            err.to_string(),
            "`state.json` has state format 99, and this dbpm reads format 1"
        );
        let err = parse(r#"{"plan": true}"#).unwrap_err();
        assert!(matches!(err, StateFileError::Format { found: None, .. }));
    }
}
