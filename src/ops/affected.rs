//! `dbpm affected`: which packages of a tree of package sources a change touches, and every
//! package that requires them, prerequisites first, so CI builds and tests only those.
//!
//! The changed files come from the caller or from `git` (run as a subprocess: the diff
//! against a revision plus uncommitted and untracked files). Mapping files to package
//! directories and ordering the prerequisite graph are pure functions; nothing here prints.
//!
//! A package directory that fails validation does not stop the command (one broken package
//! of a monorepo must not blind CI to the others): it takes part under the name, version and
//! prerequisites its manifest still tells (under its directory when not even its name can be
//! read), is listed as affected when the change touches it so the build that follows fails
//! on it, and comes back in [`Affected::invalid`] with its problems either way.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use petgraph::graph::DiGraph;
use petgraph::visit::Dfs;
use petgraph::Direction::Incoming;
use semver::Version;
use serde::Serialize;

use crate::diagnostic::Problem;
use crate::package::inspect_dir;

/// Where the changed files come from.
#[derive(Debug, Clone, Copy)]
pub enum Changes<'a> {
    /// `git diff` against this revision, plus uncommitted and untracked files.
    Since(&'a str),
    /// These files (relative paths are relative to the current directory).
    Files(&'a [PathBuf]),
}

/// Why a package is affected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Reason {
    /// Files of one of its versions changed.
    Changed,
    /// It requires an affected package.
    Requires,
}

/// One affected package.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AffectedPackage {
    /// The package name.
    pub name: String,
    /// Every version of it in the tree, ascending.
    pub versions: Vec<Version>,
    /// Why it is affected.
    pub reason: Reason,
    /// The versions whose files changed (empty unless the reason is `changed`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub changed_versions: Vec<Version>,
    /// The affected packages it requires directly, by name.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub requires: Vec<String>,
    /// Its version directories that fail validation (building it fails on them); see
    /// [`Affected::invalid`].
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub invalid: Vec<PathBuf>,
}

/// A package directory of the tree that fails validation.
#[derive(Debug, Clone, Serialize)]
pub struct InvalidPackage {
    /// The directory, under the root as given.
    pub path: PathBuf,
    /// The package it says it is, when its manifest tells; otherwise it is listed under its
    /// directory.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The version it says it is, when its manifest tells.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<Version>,
    /// Whether the change affects it (it is then in [`Affected::affected`] too).
    pub affected: bool,
    /// What is wrong, one `file: message` line per problem.
    pub errors: Vec<String>,
    /// The same problems as warnings, for the diagnostic.
    #[serde(skip)]
    problems: Vec<Problem>,
}

impl std::fmt::Display for InvalidPackage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let path = self.path.display();
        if self.affected {
            write!(
                f,
                "package `{path}` is invalid: it is listed as affected, and building it will fail"
            )
        } else {
            write!(
                f,
                "package `{path}` is invalid; the change does not affect it, so it is left out"
            )
        }
    }
}

impl std::error::Error for InvalidPackage {}

/// A warning: `dbpm affected` goes on without the package, or lists it for its build to fail.
impl miette::Diagnostic for InvalidPackage {
    fn code<'a>(&'a self) -> Option<Box<dyn std::fmt::Display + 'a>> {
        Some(Box::new("dbpm::affected::invalid_package"))
    }

    fn severity(&self) -> Option<miette::Severity> {
        Some(miette::Severity::Warning)
    }

    fn help<'a>(&'a self) -> Option<Box<dyn std::fmt::Display + 'a>> {
        Some(Box::new(format!(
            "`dbpm build {}` checks it alone",
            self.path.display()
        )))
    }

    fn related<'a>(&'a self) -> Option<Box<dyn Iterator<Item = &'a dyn miette::Diagnostic> + 'a>> {
        Some(Box::new(
            self.problems.iter().map(|p| p as &dyn miette::Diagnostic),
        ))
    }
}

/// What a change touches.
#[derive(Debug, Clone, Serialize)]
pub struct Affected {
    /// The packages whose files changed, in the order of `affected`.
    pub changed: Vec<String>,
    /// The changed packages and every package that requires them, transitively:
    /// prerequisites first, ties by name.
    pub affected: Vec<AffectedPackage>,
    /// Changed files outside any package directory (as given, or relative to the top of the
    /// git repository).
    pub ignored: Vec<String>,
    /// The package directories that fail validation, affected or not, in path order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub invalid: Vec<InvalidPackage>,
}

/// Why the affected packages could not be found.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum AffectedError {
    /// The tree could not be read.
    #[error("failed to read the package tree `{path}`")]
    #[diagnostic(code(dbpm::affected::io))]
    Io {
        /// The tree's root.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// `git` could not be started.
    #[error("failed to run `git`")]
    #[diagnostic(
        code(dbpm::affected::no_git),
        help("install git, or name the changed files with `--changed-files`")
    )]
    NoGit(#[source] std::io::Error),
    /// The root is not inside a git work tree.
    #[error("`{0}` is not in a git repository")]
    #[diagnostic(
        code(dbpm::affected::not_a_repository),
        help("run in a git checkout, or name the changed files with `--changed-files`")
    )]
    NotARepository(PathBuf),
    /// The revision does not name a commit.
    #[error("unknown git revision `{0}`")]
    #[diagnostic(
        code(dbpm::affected::unknown_revision),
        help("name a commit, branch or tag; a shallow clone (CI) may lack the history: fetch it (for example `fetch-depth: 0`)")
    )]
    UnknownRevision(String),
    /// Another git failure.
    #[error("`{command}` failed: {stderr}")]
    #[diagnostic(code(dbpm::affected::git))]
    Git {
        /// The command line.
        command: String,
        /// What git said.
        stderr: String,
    },
}

/// One package version directory of the tree.
#[derive(Debug, Clone)]
struct Source {
    /// Under the root as given, to show.
    dir: PathBuf,
    /// Canonical, to hold changed files against.
    real: PathBuf,
    /// The package name, or the directory when an invalid manifest does not tell.
    name: String,
    /// `None` only for an invalid package whose manifest does not tell.
    version: Option<Version>,
    /// What is wrong, for an invalid package.
    problems: Option<Vec<Problem>>,
    /// Whether `name` came from a manifest.
    named: bool,
}

/// Finds the packages of the tree under `root` that `changes` touch, and their dependents.
/// Invalid packages are placed as far as their manifests tell, never refused (see the module
/// documentation).
pub fn affected(root: &Path, changes: Changes<'_>) -> Result<Affected, AffectedError> {
    let io = |source| AffectedError::Io {
        path: root.to_path_buf(),
        source,
    };
    let real_root = fs_err::canonicalize(root).map_err(io)?;
    let mut dirs = Vec::new();
    crate::repository::tree::find_packages(root, &mut dirs).map_err(io)?;
    let mut sources = Vec::new();
    let mut requires: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for dir in dirs {
        let real = fs_err::canonicalize(&dir).map_err(io)?;
        let (identity, problems) = match inspect_dir(&dir) {
            Ok(source) => (Some(crate::manifest::Identity::of(&source.manifest)), None),
            Err(invalid) => (
                invalid.identity,
                Some(invalid.problems.errors().cloned().collect()),
            ),
        };
        let named = identity.is_some();
        let (name, version, prerequisites) = match identity {
            Some(i) => (i.name, i.version, i.prerequisites),
            None => (dir.display().to_string(), None, BTreeSet::new()),
        };
        requires
            .entry(name.clone())
            .or_default()
            .extend(prerequisites);
        sources.push(Source {
            dir,
            real,
            name,
            version,
            problems,
            named,
        });
    }
    // Prerequisites from outside the tree cannot be affected by a change inside it.
    let names: BTreeSet<String> = requires.keys().cloned().collect();
    for prerequisites in requires.values_mut() {
        prerequisites.retain(|p| names.contains(p));
    }

    let files = match changes {
        Changes::Since(rev) => git_changes(&real_root, rev)?,
        Changes::Files(files) => files
            .iter()
            .filter(|f| !f.as_os_str().is_empty())
            .map(|f| (f.display().to_string(), real_path(f)))
            .collect(),
    };
    let mut changed: BTreeMap<String, BTreeSet<Version>> = BTreeMap::new();
    let mut ignored = Vec::new();
    for (shown, path) in files {
        match sources.iter().find(|s| path.starts_with(&s.real)) {
            Some(source) => {
                let versions = changed.entry(source.name.clone()).or_default();
                versions.extend(source.version.clone());
            }
            None => ignored.push(shown),
        }
    }
    ignored.sort();
    ignored.dedup();

    let mut versions: BTreeMap<&str, Vec<Version>> = BTreeMap::new();
    let mut invalid_dirs: BTreeMap<&str, Vec<PathBuf>> = BTreeMap::new();
    for source in &sources {
        let known = versions.entry(&source.name).or_default();
        known.extend(source.version.clone());
        if source.problems.is_some() {
            invalid_dirs
                .entry(&source.name)
                .or_default()
                .push(source.dir.clone());
        }
    }
    let affected: Vec<AffectedPackage> = order(&requires, &changed.keys().cloned().collect())
        .into_iter()
        .map(|(name, requires)| {
            let changed_versions: Vec<Version> = changed
                .get(&name)
                .map(|v| v.iter().cloned().collect())
                .unwrap_or_default();
            let mut all = versions.get(name.as_str()).cloned().unwrap_or_default();
            all.sort();
            // Two directories may hold one version (a copy, or test fixtures).
            all.dedup();
            AffectedPackage {
                versions: all,
                reason: if changed.contains_key(&name) {
                    Reason::Changed
                } else {
                    Reason::Requires
                },
                changed_versions,
                requires,
                invalid: invalid_dirs.remove(name.as_str()).unwrap_or_default(),
                name,
            }
        })
        .collect();
    let listed: BTreeSet<&str> = affected.iter().map(|p| p.name.as_str()).collect();
    let invalid = sources
        .iter()
        .filter_map(|source| {
            let problems = source.problems.as_ref()?;
            Some(InvalidPackage {
                path: source.dir.clone(),
                name: source.named.then(|| source.name.clone()),
                version: source.version.clone(),
                affected: listed.contains(source.name.as_str()),
                errors: problems
                    .iter()
                    .map(|p| format!("{}: {}", p.file().display(), p.message()))
                    .collect(),
                problems: problems.iter().cloned().map(Problem::warning).collect(),
            })
        })
        .collect();
    Ok(Affected {
        changed: affected
            .iter()
            .filter(|p| p.reason == Reason::Changed)
            .map(|p| p.name.clone())
            .collect(),
        affected,
        ignored,
        invalid,
    })
}

/// `path` made absolute with symbolic links resolved as far as it exists, so a deleted file
/// still maps to the (canonical) package directory that held it.
fn real_path(path: &Path) -> PathBuf {
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let mut missing = Vec::new();
    let mut existing = absolute.as_path();
    loop {
        if let Ok(real) = existing.canonicalize() {
            return missing.iter().rev().fold(real, |p, part| p.join(part));
        }
        match (existing.parent(), existing.file_name()) {
            (Some(parent), Some(name)) => {
                missing.push(name.to_owned());
                existing = parent;
            }
            _ => return absolute,
        }
    }
}

/// The files changed since `rev` in the git work tree holding `dir`: the diff of the work
/// tree against `rev` (committed, staged and unstaged changes, both sides of a rename) and the
/// untracked files git does not ignore. Each comes as shown (relative to the top of the work
/// tree) and as a real path.
fn git_changes(dir: &Path, rev: &str) -> Result<Vec<(String, PathBuf)>, AffectedError> {
    let top = match git(dir, &["rev-parse", "--show-toplevel"]) {
        Ok(out) => PathBuf::from(out.trim_end_matches('\n')),
        Err(AffectedError::Git { .. }) => return Err(AffectedError::NotARepository(dir.into())),
        Err(err) => return Err(err),
    };
    // A leading `-` would be read as an option; no revision starts with one.
    if rev.starts_with('-') {
        return Err(AffectedError::UnknownRevision(rev.to_owned()));
    }
    let commit = match git(
        &top,
        &[
            "rev-parse",
            "--verify",
            "--quiet",
            &format!("{rev}^{{commit}}"),
        ],
    ) {
        Ok(out) => out.trim().to_owned(),
        Err(AffectedError::Git { .. }) => {
            return Err(AffectedError::UnknownRevision(rev.to_owned()))
        }
        Err(err) => return Err(err),
    };
    let diff = git(
        &top,
        &["diff", "--name-only", "--no-renames", "-z", &commit, "--"],
    )?;
    let untracked = git(&top, &["ls-files", "--others", "--exclude-standard", "-z"])?;
    let top = real_path(&top);
    let mut files: Vec<(String, PathBuf)> = diff
        .split('\0')
        .chain(untracked.split('\0'))
        .filter(|f| !f.is_empty())
        .map(|f| (f.to_owned(), real_path(&top.join(f))))
        .collect();
    files.sort();
    files.dedup();
    Ok(files)
}

/// Runs `git ARGS` in `dir` and returns its standard output.
fn git(dir: &Path, args: &[&str]) -> Result<String, AffectedError> {
    let output = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_OPTIONAL_LOCKS", "0")
        .output()
        .map_err(AffectedError::NoGit)?;
    if !output.status.success() {
        return Err(AffectedError::Git {
            command: format!("git {}", args.join(" ")),
            stderr: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
        });
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// The changed packages and every package that requires one of them, transitively, each with
/// the affected packages it requires directly. Prerequisites come first and ties go by name;
/// packages that require each other (possible across versions) come together, by name.
fn order(
    requires: &BTreeMap<String, BTreeSet<String>>,
    changed: &BTreeSet<String>,
) -> Vec<(String, Vec<String>)> {
    // Edges point from a prerequisite to the packages that require it.
    let mut graph = DiGraph::<&str, ()>::new();
    let mut nodes = BTreeMap::new();
    let names = requires
        .iter()
        .flat_map(|(name, prerequisites)| std::iter::once(name).chain(prerequisites))
        .chain(changed);
    for name in names {
        nodes
            .entry(name.as_str())
            .or_insert_with(|| graph.add_node(name.as_str()));
    }
    for (name, prerequisites) in requires {
        for prerequisite in prerequisites {
            graph.add_edge(nodes[prerequisite.as_str()], nodes[name.as_str()], ());
        }
    }
    let mut reached = BTreeSet::new();
    let mut dfs = Dfs::empty(&graph);
    for name in changed {
        dfs.move_to(nodes[name.as_str()]);
        while let Some(node) = dfs.next(&graph) {
            reached.insert(node);
        }
    }
    let affected = graph.filter_map(
        |node, name| reached.contains(&node).then_some(*name),
        |_, ()| Some(()),
    );
    // Packages in a cycle are one node here, so the order below always finishes.
    let mut components = petgraph::algo::condensation(affected, true);
    for names in components.node_weights_mut() {
        names.sort_unstable();
    }
    let mut waiting: BTreeMap<_, usize> = components
        .node_indices()
        .map(|c| (c, components.neighbors_directed(c, Incoming).count()))
        .collect();
    let mut ready: BTreeSet<(&str, _)> = waiting
        .iter()
        .filter(|(_, count)| **count == 0)
        .map(|(c, _)| (components[*c][0], *c))
        .collect();
    let mut ordered = Vec::new();
    while let Some((_, component)) = ready.pop_first() {
        for name in &components[component] {
            let direct: Vec<String> = requires
                .get(*name)
                .into_iter()
                .flatten()
                .filter(|p| reached.contains(&nodes[p.as_str()]))
                .cloned()
                .collect();
            ordered.push(((*name).to_owned(), direct));
        }
        for next in components.neighbors(component) {
            if let Some(count) = waiting.get_mut(&next) {
                *count -= 1;
                if *count == 0 {
                    ready.insert((components[next][0], next));
                }
            }
        }
    }
    ordered
}

#[cfg(test)]
mod tests {
    use super::*;

    fn graph(edges: &[(&str, &[&str])]) -> BTreeMap<String, BTreeSet<String>> {
        edges
            .iter()
            .map(|(name, prerequisites)| {
                (
                    (*name).to_owned(),
                    prerequisites.iter().map(|p| (*p).to_owned()).collect(),
                )
            })
            .collect()
    }

    fn run(edges: &[(&str, &[&str])], changed: &[&str]) -> Vec<String> {
        let changed = changed.iter().map(|c| (*c).to_owned()).collect();
        order(&graph(edges), &changed)
            .into_iter()
            .map(|(name, requires)| {
                if requires.is_empty() {
                    name
                } else {
                    format!("{name} <- {}", requires.join(","))
                }
            })
            .collect()
    }

    const EXAMPLES: &[(&str, &[&str])] = &[
        ("core", &[]),
        ("auth", &["core"]),
        ("billing", &["core", "auth"]),
        ("reporting", &["billing", "core"]),
    ];

    #[test]
    fn dependents_follow_their_prerequisites() {
        assert_eq!(
            run(EXAMPLES, &["auth"]),
            ["auth", "billing <- auth", "reporting <- billing"]
        );
        assert_eq!(
            run(EXAMPLES, &["core"]),
            [
                "core",
                "auth <- core",
                "billing <- auth,core",
                "reporting <- billing,core"
            ]
        );
    }

    #[test]
    fn a_package_nobody_requires_stands_alone() {
        assert_eq!(run(EXAMPLES, &["reporting"]), ["reporting"]);
        assert_eq!(run(EXAMPLES, &[]), Vec::<String>::new());
    }

    #[test]
    fn unrelated_packages_go_by_name() {
        let edges: &[(&str, &[&str])] = &[("b", &[]), ("a", &[]), ("c", &["b"]), ("aa", &["b"])];
        assert_eq!(run(edges, &["b", "a"]), ["a", "b", "aa <- b", "c <- b"]);
    }

    #[test]
    fn a_prerequisite_outside_the_change_is_not_listed() {
        assert_eq!(
            run(EXAMPLES, &["billing"]),
            ["billing", "reporting <- billing"]
        );
    }

    #[test]
    fn packages_that_require_each_other_come_together() {
        let edges: &[(&str, &[&str])] =
            &[("x", &["y"]), ("y", &["x"]), ("z", &["x"]), ("a", &["z"])];
        assert_eq!(run(edges, &["y"]), ["x <- y", "y <- x", "z <- x", "a <- z"]);
    }
}
