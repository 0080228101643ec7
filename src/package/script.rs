//! Script names (`NNN.name[.PLATFORM].ext`), the kind of script an extension means, and the
//! phase folders scripts live in (`INSTALL/`, `UPGRADE@1.0.0/`, ...).

use std::fmt;

use semver::Version;
use serde::{Deserialize, Serialize};

use crate::platform::Platform;

/// How a script runs.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// `.sql`: SQL on the target connection.
    Sql,
    /// `.sys`: SQL on the privileged (admin) connection.
    Sys,
    /// `.cmd`: a command run by the shell on the machine applying the plan.
    Cmd,
}

impl Kind {
    /// The file extension.
    pub fn extension(self) -> &'static str {
        match self {
            Kind::Sql => "sql",
            Kind::Sys => "sys",
            Kind::Cmd => "cmd",
        }
    }

    /// Whether a script of this kind with these declarations runs inside a transaction on
    /// `platform`: never a command; on MySQL/MariaDB, where DDL commits by itself, only a
    /// script declared `mysql_transactional` (DML only).
    pub fn runs_in_transaction(
        self,
        flags: crate::manifest::ScriptFlags,
        platform: Platform,
    ) -> bool {
        self != Kind::Cmd
            && flags.transaction
            && (platform != Platform::Mysql || flags.mysql_transactional)
    }

    fn from_extension(ext: &str) -> Option<Kind> {
        match ext {
            "sql" => Some(Kind::Sql),
            "sys" => Some(Kind::Sys),
            "cmd" => Some(Kind::Cmd),
            _ => None,
        }
    }
}

/// Which versions an UPGRADE/DOWNGRADE folder connects, as the folder name says it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum EdgeTag {
    /// `UPGRADE/`: from the manifest's `from`, or from nothing for a baseline.
    Default,
    /// `UPGRADE@none/`: from nothing (a squashed baseline).
    Nothing,
    /// `UPGRADE@1.0.0/`: straight from that version.
    Version(Version),
}

impl fmt::Display for EdgeTag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EdgeTag::Default => Ok(()),
            EdgeTag::Nothing => f.write_str("@none"),
            EdgeTag::Version(v) => write!(f, "@{v}"),
        }
    }
}

/// A phase folder of a package source.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Folder {
    /// `PREINSTALL/`
    Preinstall,
    /// `UPGRADE/`, `UPGRADE@VERSION/`, `UPGRADE@none/`
    Upgrade(EdgeTag),
    /// `DOWNGRADE/`, `DOWNGRADE@VERSION/`, `DOWNGRADE@none/`
    Downgrade(EdgeTag),
    /// `INSTALL/`
    Install,
    /// `ROLLBACK/`
    Rollback,
    /// `VERIFY/`
    Verify,
    /// `POSTINSTALL/`
    Postinstall,
}

/// Why a directory name is not a phase folder.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FolderError {
    /// Not one of the phase names.
    #[error("unknown phase directory `{name}`")]
    Unknown {
        /// The directory name.
        name: String,
        /// The folder it most likely meant.
        suggestion: Option<String>,
    },
    /// `@...` on a folder that has no edges, or a bad version after `@`.
    #[error("bad edge in directory name `{name}`: {reason}")]
    BadEdge {
        /// The directory name.
        name: String,
        /// What is wrong.
        reason: String,
    },
}

impl Folder {
    /// The phase names, for suggestions.
    pub const NAMES: [&'static str; 7] = [
        "PREINSTALL",
        "UPGRADE",
        "INSTALL",
        "VERIFY",
        "ROLLBACK",
        "DOWNGRADE",
        "POSTINSTALL",
    ];

    /// Reads a directory name.
    pub fn parse(dir: &str) -> Result<Folder, FolderError> {
        let (base, edge) = match dir.split_once('@') {
            Some((base, edge)) => (base, Some(edge)),
            None => (dir, None),
        };
        let tag = match edge {
            None => EdgeTag::Default,
            Some("none") => EdgeTag::Nothing,
            Some(text) => {
                EdgeTag::Version(Version::parse(text).map_err(|err| FolderError::BadEdge {
                    name: dir.to_owned(),
                    reason: format!("`{text}` is neither `none` nor a semantic version ({err})"),
                })?)
            }
        };
        let plain = |folder: Folder| {
            if edge.is_some() {
                Err(FolderError::BadEdge {
                    name: dir.to_owned(),
                    reason: format!("only UPGRADE and DOWNGRADE folders have edges, not {base}"),
                })
            } else {
                Ok(folder)
            }
        };
        match base {
            "PREINSTALL" => plain(Folder::Preinstall),
            "UPGRADE" => Ok(Folder::Upgrade(tag)),
            "DOWNGRADE" => Ok(Folder::Downgrade(tag)),
            "INSTALL" => plain(Folder::Install),
            "ROLLBACK" => plain(Folder::Rollback),
            "VERIFY" => plain(Folder::Verify),
            "POSTINSTALL" => plain(Folder::Postinstall),
            _ => Err(FolderError::Unknown {
                name: dir.to_owned(),
                suggestion: (Folder::known_as(base))
                    .or_else(|| crate::diagnostic::closest(base, Folder::NAMES))
                    .map(|n| format!("{n}{}", edge.map(|e| format!("@{e}")).unwrap_or_default())),
            }),
        }
    }

    /// The phase that other tools' folders of migrations hold (Sqitch's `deploy` and
    /// `revert`, the `up` and `down` of many others).
    fn known_as(dir: &str) -> Option<&'static str> {
        match dir.to_ascii_lowercase().as_str() {
            "deploy" | "up" | "migrate" | "migrations" | "changes" => Some("UPGRADE"),
            "revert" | "down" | "undo" => Some("DOWNGRADE"),
            _ => None,
        }
    }

    /// The extensions allowed in this folder.
    pub fn allows(&self, kind: Kind) -> bool {
        matches!(self, Folder::Preinstall | Folder::Postinstall) || kind == Kind::Sql
    }

    /// The folder whose scripts compensate this one's (and the other way round).
    pub fn twin(&self) -> Option<Folder> {
        match self {
            Folder::Upgrade(tag) => Some(Folder::Downgrade(tag.clone())),
            Folder::Downgrade(tag) => Some(Folder::Upgrade(tag.clone())),
            Folder::Install => Some(Folder::Rollback),
            Folder::Rollback => Some(Folder::Install),
            Folder::Preinstall | Folder::Verify | Folder::Postinstall => None,
        }
    }

    /// Whether the folder holds forward scripts that need a compensating twin.
    pub fn is_forward(&self) -> bool {
        matches!(self, Folder::Upgrade(_) | Folder::Install)
    }

    /// Whether the folder holds compensating scripts.
    pub fn is_compensation(&self) -> bool {
        matches!(self, Folder::Downgrade(_) | Folder::Rollback)
    }
}

impl fmt::Display for Folder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Folder::Preinstall => f.write_str("PREINSTALL"),
            Folder::Upgrade(tag) => write!(f, "UPGRADE{tag}"),
            Folder::Downgrade(tag) => write!(f, "DOWNGRADE{tag}"),
            Folder::Install => f.write_str("INSTALL"),
            Folder::Rollback => f.write_str("ROLLBACK"),
            Folder::Verify => f.write_str("VERIFY"),
            Folder::Postinstall => f.write_str("POSTINSTALL"),
        }
    }
}

/// A parsed script file name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptName {
    /// NNN as a number: the order.
    pub number: u64,
    /// NNN as written (`001`), to tell `001.a` from `0001.a`.
    pub digits: String,
    /// The name between the number and the extension.
    pub name: String,
    /// The platform of a variant.
    pub platform: Option<Platform>,
    /// What the extension says.
    pub kind: Kind,
}

/// Why a file name is not `NNN.name[.PLATFORM].ext`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// The overall shape is wrong.
    #[error("`{0}` is not named `NNN.name.ext`")]
    Shape(String),
    /// NNN is too short or not a number.
    #[error("`{0}` does not start with a number of three digits or more")]
    Number(String),
    /// The name part has characters that are not allowed.
    #[error("`{file}`: the name `{name}` may hold only ASCII letters, digits, `_` and `-`")]
    Name {
        /// The file name.
        file: String,
        /// The name part.
        name: String,
    },
    /// The extension is not one of the three.
    #[error("`{file}` has the unknown extension `.{ext}` (scripts are `.sql`, `.sys` or `.cmd`)")]
    Extension {
        /// The file name.
        file: String,
        /// The extension.
        ext: String,
    },
    /// A platform tag that is not a platform.
    #[error("`{file}` has the unknown platform tag `{tag}`")]
    Platform {
        /// The file name.
        file: String,
        /// The tag.
        tag: String,
    },
}

impl ScriptName {
    /// Reads a file name.
    pub fn parse(file: &str) -> Result<ScriptName, NameError> {
        let parts: Vec<&str> = file.split('.').collect();
        let (digits, name, tag, ext) = match parts.as_slice() {
            [digits, name, ext] => (*digits, *name, None, *ext),
            [digits, name, tag, ext] => (*digits, *name, Some(*tag), *ext),
            _ => return Err(NameError::Shape(file.to_owned())),
        };
        if digits.len() < 3 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(NameError::Number(file.to_owned()));
        }
        let number = digits
            .parse::<u64>()
            .map_err(|_| NameError::Number(file.to_owned()))?;
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            return Err(NameError::Name {
                file: file.to_owned(),
                name: name.to_owned(),
            });
        }
        let kind = Kind::from_extension(ext).ok_or_else(|| NameError::Extension {
            file: file.to_owned(),
            ext: ext.to_owned(),
        })?;
        let platform = tag
            .map(|tag| {
                tag.parse::<Platform>().map_err(|_| NameError::Platform {
                    file: file.to_owned(),
                    tag: tag.to_owned(),
                })
            })
            .transpose()?;
        Ok(ScriptName {
            number,
            digits: digits.to_owned(),
            name: name.to_owned(),
            platform,
            kind,
        })
    }

    /// This form of a file named in another common one (Flyway's `V3__add_email.sql`,
    /// `003_add_email.sql`, `3.add email.sql`): the name to suggest, if it is one.
    pub fn suggest(file: &str) -> Option<String> {
        let (stem, ext) = file.rsplit_once('.')?;
        let flyway = stem
            .strip_prefix(['V', 'v'])
            .and_then(|rest| rest.split_once("__"));
        let (digits, name) = match flyway {
            Some(parts) => parts,
            None => {
                let at = stem.find(|c: char| !c.is_ascii_digit())?;
                let (digits, rest) = stem.split_at(at);
                (digits, rest.trim_start_matches(['.', '_', '-', ' ']))
            }
        };
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let name: String = name
            .chars()
            .map(|c| match c {
                c if c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.') => c,
                _ => '_',
            })
            .collect();
        let suggestion = format!("{digits:0>3}.{name}.{ext}");
        (suggestion != file && ScriptName::parse(&suggestion).is_ok()).then_some(suggestion)
    }

    /// `NNN.name` with NNN as written: the part of the name twins and declarations share.
    pub fn stem(&self) -> String {
        format!("{}.{}", self.digits, self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folders_of_other_tools_are_told_their_phase() {
        for (dir, phase) in [
            ("deploy", "UPGRADE"),
            ("revert", "DOWNGRADE"),
            ("Down", "DOWNGRADE"),
            ("migrations", "UPGRADE"),
            ("verify", "VERIFY"),
            ("instal", "INSTALL"),
        ] {
            match Folder::parse(dir) {
                Err(FolderError::Unknown { suggestion, .. }) => {
                    assert_eq!(suggestion.as_deref(), Some(phase), "{dir}");
                }
                other => panic!("{dir}: {other:?}"),
            }
        }
    }

    #[test]
    fn names_of_other_conventions_get_a_suggestion() {
        for (file, suggestion) in [
            ("V1__init.sql", Some("001.init.sql")),
            ("V12__add email.sql", Some("012.add_email.sql")),
            ("001_init.sql", Some("001.init.sql")),
            ("0001-init.sql", Some("0001.init.sql")),
            ("3.add_email.sql", Some("003.add_email.sql")),
            ("001.create tables.sql", Some("001.create_tables.sql")),
            ("001_init.postgres.sql", Some("001.init.postgres.sql")),
            ("001.init.sql", None),
            ("init.sql", None),
            ("V1_1__init.sql", None),
            ("001_init.SQL", None),
            ("1.sql", None),
        ] {
            assert_eq!(ScriptName::suggest(file).as_deref(), suggestion, "{file}");
        }
    }

    #[test]
    fn parses_plain_and_variant_names() {
        let plain = ScriptName::parse("001.create_tables.sql").unwrap();
        assert_eq!(
            (
                plain.number,
                plain.name.as_str(),
                plain.platform,
                plain.kind
            ),
            (1, "create_tables", None, Kind::Sql)
        );
        let variant = ScriptName::parse("0010.tables.mysql.sys").unwrap();
        assert_eq!(
            (variant.number, variant.platform, variant.kind),
            (10, Some(Platform::Mysql), Kind::Sys)
        );
    }

    #[test]
    fn refuses_bad_names() {
        assert!(matches!(
            ScriptName::parse("01.a.sql"),
            Err(NameError::Number(_))
        ));
        assert!(matches!(
            ScriptName::parse("readme.md"),
            Err(NameError::Shape(_))
        ));
        assert!(matches!(
            ScriptName::parse("001.a.txt"),
            Err(NameError::Extension { .. })
        ));
        assert!(matches!(
            ScriptName::parse("001.a.oracle.sql"),
            Err(NameError::Platform { .. })
        ));
        assert!(matches!(
            ScriptName::parse("001.a b.sql"),
            Err(NameError::Name { .. })
        ));
        // QA: "may hold only letters" of `café`, whose é is a letter.
        assert_eq!(
            ScriptName::parse("003.café.sql").unwrap_err().to_string(),
            "`003.café.sql`: the name `café` may hold only ASCII letters, digits, `_` and `-`"
        );
    }

    #[test]
    fn parses_folders_with_edges() {
        assert_eq!(
            Folder::parse("UPGRADE@none"),
            Ok(Folder::Upgrade(EdgeTag::Nothing))
        );
        assert_eq!(
            Folder::parse("DOWNGRADE@1.0.0"),
            Ok(Folder::Downgrade(EdgeTag::Version(Version::new(1, 0, 0))))
        );
        assert!(matches!(
            Folder::parse("INSTALL@1.0.0"),
            Err(FolderError::BadEdge { .. })
        ));
        assert!(matches!(
            Folder::parse("install"),
            Err(FolderError::Unknown { suggestion: Some(s), .. }) if s == "INSTALL"
        ));
    }
}
