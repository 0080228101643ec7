//! Validation of a package source: the manifest, every script's name, kind and encoding,
//! twins, edges, declarations and placeholders. Every problem of a package is gathered and
//! reported together; a valid source resolves to a [`Package`] for each of its platforms.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::diagnostic::{Problem, Problems, SourceFile};
use crate::manifest::{
    self, Declaration, Identity, Manifest, ScriptFlags, LEGACY_MANIFEST_FILE, MANIFEST_FILE,
};
use crate::platform::Platform;

use super::checksum::{normalize_newlines, Checksum};
use super::lint;
use super::placeholder;
use super::script::{EdgeTag, Folder, ScriptName};
use super::source::{folder_problem, read_dir, FileTree};
use super::{Origin, Package, Phase, Script};

/// A validated package source, for every platform it lists.
#[derive(Debug, Clone)]
pub struct PackageSource {
    /// Where it was read from.
    pub root: PathBuf,
    /// The manifest (for a legacy manifest, with twinless forward scripts marked irreversible).
    pub manifest: Manifest,
    /// Warnings: reported, not blocking.
    pub warnings: Vec<Problem>,
    scripts: Vec<SourceScript>,
}

#[derive(Debug, Clone)]
struct SourceScript {
    folder: Folder,
    name: ScriptName,
    path: String,
    text: Arc<str>,
}

/// The identity twins and declarations share: folder, number and name.
type Key = (Folder, u64, String);

impl SourceScript {
    fn key(&self) -> Key {
        (
            self.folder.clone(),
            self.name.number,
            self.name.name.clone(),
        )
    }
}

impl PackageSource {
    /// The package built for `platform`, or `None` when the manifest does not list it.
    pub fn for_platform(&self, platform: Platform) -> Option<Package> {
        if !self.manifest.platforms.contains(&platform) {
            return None;
        }
        let declarations = declared_flags(&self.manifest);
        let default_origin = Origin::of(self.manifest.from.as_ref());
        let mut edges = BTreeSet::from([default_origin.clone()]);
        let scripts = effective(&self.scripts, platform)
            .into_iter()
            .map(|s| {
                let phase = resolve_phase(&s.folder, &default_origin);
                if let Phase::Upgrade(origin) = &phase {
                    edges.insert(origin.clone());
                }
                Script {
                    phase,
                    number: s.name.number,
                    stem: s.name.stem().into(),
                    kind: s.name.kind,
                    path: s.path.as_str().into(),
                    checksum: Checksum::of_text(&s.text),
                    templated: placeholder::is_template(&s.text),
                    text: s.text.clone(),
                    flags: declarations.get(&s.key()).copied().unwrap_or_default(),
                }
            })
            .collect();
        // An archive is for one platform, so its manifest lists that one only.
        let mut manifest = self.manifest.clone();
        manifest.platforms = BTreeSet::from([platform]);
        Some(Package::new(manifest, platform, scripts, edges))
    }

    /// The package built for every platform it lists.
    pub fn packages(&self) -> Vec<Package> {
        self.manifest
            .platforms
            .iter()
            .filter_map(|p| self.for_platform(*p))
            .collect()
    }
}

/// A package source that failed validation: its problems, and who it says it is as far as
/// its manifest can be read (the whole manifest when that is valid, else a loose reading of a
/// `dbpm.toml`), so that a caller going over many packages can still place it.
#[derive(Debug, Clone)]
pub struct InvalidSource {
    /// Every problem found.
    pub problems: Problems,
    /// Its name, version and prerequisites, when they can be read.
    pub identity: Option<Identity>,
}

/// Reads and validates a package source directory.
pub fn load_dir(root: &Path) -> Result<PackageSource, Problems> {
    inspect_dir(root).map_err(|invalid| invalid.problems)
}

/// Reads and validates a package source directory, telling who an invalid one is when its
/// manifest says so.
pub fn inspect_dir(root: &Path) -> Result<PackageSource, InvalidSource> {
    let tree = read_dir(root).map_err(|err| InvalidSource {
        problems: Problems::new(
            format!("package `{}`", root.display()),
            vec![Problem::error(root, "dbpm::package::io", err.to_string())],
        ),
        identity: None,
    })?;
    inspect(&tree, Advice::Sql)
}

/// Validates the files of a built package: an archive's, or the copy a target keeps of an
/// installed one. What its SQL says (module `lint`) was judged when it was built: a check added
/// since must not make a published version unreadable, nor an installed one impossible to
/// plan from (to upgrade, uninstall or undo).
pub fn validate(tree: &FileTree) -> Result<PackageSource, Problems> {
    inspect(tree, Advice::None).map_err(|invalid| invalid.problems)
}

/// Whether validation reads what the SQL says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Advice {
    /// A package source, being built: its SQL is checked.
    Sql,
    /// A built package: its SQL was checked when it was built.
    None,
}

/// [`validate`], keeping who an invalid package says it is.
fn inspect(tree: &FileTree, advice: Advice) -> Result<PackageSource, InvalidSource> {
    let invalid = |problems, manifest: Option<&Manifest>| InvalidSource {
        problems: finish(tree, problems),
        identity: manifest.map(Identity::of).or_else(|| {
            let text = std::str::from_utf8(tree.files.get(MANIFEST_FILE)?).ok()?;
            Identity::peek_toml(text.strip_prefix('\u{feff}').unwrap_or(text))
        }),
    };
    let mut problems = tree.problems.clone();
    let manifest = read_manifest(tree, &mut problems);
    let scripts = read_scripts(tree, manifest.as_ref(), &mut problems);
    check_duplicates(tree, &scripts, &mut problems);
    let Some(mut manifest) = manifest else {
        return Err(invalid(problems, None));
    };
    // A package of prerequisites only (a meta-package) is installed as any other, with no
    // steps of its own; with no prerequisites either, installing it changes nothing.
    let no_files = !tree.files.keys().any(|p| p.contains('/'));
    if no_files && manifest.prerequisites.is_empty() {
        problems.push(
            Problem::error(&tree.root, "dbpm::package::empty", "the package has no scripts and no prerequisites: installing it changes nothing")
                .with_help("add scripts to INSTALL/ (code) or UPGRADE/ (data model), `dbpm init` writes an example; or prerequisites, for a package that only pulls in others")
                .warning(),
        );
    }
    check_edges(tree, &manifest, &scripts, &mut problems);
    check_declarations(tree, &manifest, &scripts, &mut problems);
    check_twins(tree, &mut manifest, &scripts, &mut problems);
    check_placeholders(tree, &manifest, &scripts, &mut problems);
    if advice == Advice::Sql {
        check_build_metadata(tree, &manifest, &mut problems);
        check_place(tree, &manifest, &mut problems);
        check_statements(tree, &manifest, &scripts, &mut problems);
    }
    if problems.iter().any(Problem::is_error) {
        return Err(invalid(problems, Some(&manifest)));
    }
    Ok(PackageSource {
        root: tree.root.clone(),
        manifest,
        warnings: problems,
        scripts,
    })
}

fn finish(tree: &FileTree, problems: Vec<Problem>) -> Problems {
    Problems::new(format!("package `{}`", tree.root.display()), problems)
}

fn read_manifest(tree: &FileTree, problems: &mut Vec<Problem>) -> Option<Manifest> {
    let toml = tree.files.get(MANIFEST_FILE);
    let legacy = tree.files.get(LEGACY_MANIFEST_FILE);
    type Parser = fn(&SourceFile) -> Result<Manifest, Vec<Problem>>;
    let (name, bytes, parse): (_, _, Parser) = match (toml, legacy) {
        (Some(_), Some(_)) => {
            problems.push(
                Problem::error(
                    tree.display_path(LEGACY_MANIFEST_FILE),
                    "dbpm::package::two_manifests",
                    "the package has both `dbpm.toml` and `manifest.dpm`",
                )
                .with_help("keep one manifest: `dbpm.toml` is the current format"),
            );
            return None;
        }
        (Some(bytes), None) => (MANIFEST_FILE, bytes, manifest::parse_toml),
        (None, Some(bytes)) => (LEGACY_MANIFEST_FILE, bytes, manifest::parse_legacy),
        (None, None) => {
            problems.push(
                Problem::error(
                    &tree.root,
                    "dbpm::package::no_manifest",
                    "no `dbpm.toml` (or legacy `manifest.dpm`) in the package",
                )
                .with_help(format!(
                    "`dbpm init {}` writes a manifest to start from",
                    tree.root.display()
                )),
            );
            return None;
        }
    };
    let path = tree.display_path(name);
    let text = match utf8(&path, bytes) {
        Ok(text) => text,
        Err(problem) => {
            problems.push(problem);
            return None;
        }
    };
    match parse(&SourceFile::new(path, text)) {
        Ok(manifest) => Some(manifest),
        Err(found) => {
            problems.extend(found);
            None
        }
    }
}

fn utf8(path: &Path, bytes: &[u8]) -> Result<String, Problem> {
    std::str::from_utf8(bytes)
        .map(|text| normalize_newlines(text.strip_prefix('\u{feff}').unwrap_or(text)).into_owned())
        .map_err(|err| {
            let at = err.valid_up_to();
            let line = bytes[..at].iter().filter(|b| **b == b'\n').count() + 1;
            Problem::error(
                path,
                "dbpm::package::not_utf8",
                format!("not UTF-8 text: invalid byte at offset {at} (line {line})"),
            )
            .with_help("save the file as UTF-8")
        })
}

fn read_scripts(
    tree: &FileTree,
    manifest: Option<&Manifest>,
    problems: &mut Vec<Problem>,
) -> Vec<SourceScript> {
    let mut scripts = Vec::new();
    for (path, bytes) in &tree.files {
        let Some((dir, file)) = path.split_once('/') else {
            continue;
        };
        let shown = tree.display_path(path);
        let folder = match Folder::parse(dir) {
            Ok(folder) => folder,
            Err(err) => {
                problems.push(folder_problem(&tree.display_path(dir), &err));
                continue;
            }
        };
        let name = match ScriptName::parse(file) {
            Ok(name) => name,
            Err(err) => {
                let rule = "name scripts `NNN.name.ext` (NNN three digits or more, ext `sql`, `sys` or `cmd`), or `NNN.name.PLATFORM.ext` for a platform variant";
                let help = match ScriptName::suggest(file) {
                    Some(name) => format!("rename it `{name}`; {rule}"),
                    None => rule.to_owned(),
                };
                problems.push(
                    Problem::error(&shown, "dbpm::package::bad_script_name", err.to_string())
                        .with_help(help),
                );
                continue;
            }
        };
        if !folder.allows(name.kind) {
            problems.push(
                Problem::error(&shown, "dbpm::package::kind_not_allowed", format!("`.{}` scripts are not allowed in {folder}/", name.kind.extension()))
                    .with_help("only PREINSTALL and POSTINSTALL take `.sys` and `.cmd` scripts; every other phase is `.sql` only"),
            );
            continue;
        }
        if let (Some(platform), Some(manifest)) = (name.platform, manifest) {
            if !manifest.platforms.contains(&platform) {
                problems.push(
                    Problem::error(
                        &shown,
                        "dbpm::package::variant_platform_not_listed",
                        format!("a variant for `{platform}`, which the manifest does not list"),
                    )
                    .with_help(format!(
                        "add \"{platform}\" to `platforms` in the manifest, or remove the variant"
                    )),
                );
                continue;
            }
        }
        // An unreadable script stays in the list, empty, so its twin is not reported as an orphan.
        let text = utf8(&shown, bytes).unwrap_or_else(|problem| {
            problems.push(problem);
            String::new()
        });
        scripts.push(SourceScript {
            folder,
            name,
            path: path.clone(),
            text: text.into(),
        });
    }
    scripts
}

fn check_duplicates(tree: &FileTree, scripts: &[SourceScript], problems: &mut Vec<Problem>) {
    let mut by_key: BTreeMap<(Key, &str, Option<Platform>), Vec<&SourceScript>> = BTreeMap::new();
    let mut spellings: BTreeMap<Key, BTreeSet<&str>> = BTreeMap::new();
    for script in scripts {
        by_key
            .entry((script.key(), &script.name.digits, script.name.platform))
            .or_default()
            .push(script);
        spellings
            .entry(script.key())
            .or_default()
            .insert(&script.name.digits);
    }
    for ((key, _, _), group) in by_key {
        if group.len() > 1 {
            let names: Vec<String> = group.iter().map(|s| format!("`{}`", s.path)).collect();
            problems.push(
                Problem::error(
                    tree.display_path(&group[0].path),
                    "dbpm::package::duplicate_script",
                    format!(
                        "{} are the same script, {}/{:03}.{}",
                        names.join(" and "),
                        key.0,
                        key.1,
                        key.2
                    ),
                )
                .with_help(
                    "scripts are identified by number (as a number) and name: rename or remove one",
                ),
            );
        }
    }
    for (key, digits) in spellings {
        if digits.len() > 1 {
            let forms: Vec<String> = digits.iter().map(|d| format!("`{d}.{}`", key.2)).collect();
            problems.push(
                Problem::error(
                    tree.display_path(&key.0.to_string()),
                    "dbpm::package::number_spelling",
                    format!(
                        "{} spell the number of one script differently",
                        forms.join(" and ")
                    ),
                )
                .with_help("write the number the same way in every variant and twin"),
            );
        }
    }
}

fn resolve_phase(folder: &Folder, default_origin: &Origin) -> Phase {
    let origin = |tag: &EdgeTag| match tag {
        EdgeTag::Default => default_origin.clone(),
        EdgeTag::Nothing => Origin::Nothing,
        EdgeTag::Version(v) => Origin::Version(v.clone()),
    };
    match folder {
        Folder::Preinstall => Phase::Preinstall,
        Folder::Upgrade(tag) => Phase::Upgrade(origin(tag)),
        Folder::Downgrade(tag) => Phase::Downgrade(origin(tag)),
        Folder::Install => Phase::Install,
        Folder::Rollback => Phase::Rollback,
        Folder::Verify => Phase::Verify,
        Folder::Postinstall => Phase::Postinstall,
    }
}

fn check_edges(
    tree: &FileTree,
    manifest: &Manifest,
    scripts: &[SourceScript],
    problems: &mut Vec<Problem>,
) {
    let tags: BTreeSet<&Folder> = scripts.iter().map(|s| &s.folder).collect();
    let default_origin = Origin::of(manifest.from.as_ref());
    for folder in &tags {
        let (Folder::Upgrade(tag) | Folder::Downgrade(tag)) = folder else {
            continue;
        };
        let path = tree.display_path(&folder.to_string());
        match tag {
            EdgeTag::Version(from) if from >= &manifest.version => problems.push(
                Problem::error(
                    &path,
                    "dbpm::package::edge_not_older",
                    format!(
                        "edge from {from} into version {}: an edge starts from an older version",
                        manifest.version
                    ),
                )
                .with_help(
                    "downgrades walk the UPGRADE edges backwards; name the older version after `@`",
                ),
            ),
            EdgeTag::Version(_) | EdgeTag::Nothing
                if resolve_phase(folder, &default_origin).origin() == Some(&default_origin) =>
            {
                problems.push(
                    Problem::error(
                        &path,
                        "dbpm::package::duplicate_edge",
                        format!(
                            "{folder}/ duplicates the default edge (the manifest's `from` is {})",
                            default_origin
                        ),
                    )
                    .with_help("put these scripts in the folder without `@`, or change `from`"),
                )
            }
            EdgeTag::Default => {}
            _ => {
                let twin = folder
                    .twin()
                    .unwrap_or_else(|| unreachable!("edge folders have twins"));
                let all_irreversible = matches!(folder, Folder::Upgrade(_))
                    && scripts.iter().filter(|s| &s.folder == *folder).all(|s| {
                        declared_flags(manifest)
                            .get(&s.key())
                            .is_some_and(|f| f.irreversible)
                    });
                if !tags.contains(&twin) && !all_irreversible {
                    problems.push(
                        Problem::error(&path, "dbpm::package::edge_without_twin", format!("edge folder {folder}/ has no twin folder {twin}/"))
                            .with_help(format!("add {twin}/ with the compensating scripts, or declare the UPGRADE scripts irreversible")),
                    );
                }
            }
        }
    }
}

fn declared_flags(manifest: &Manifest) -> BTreeMap<Key, ScriptFlags> {
    manifest
        .scripts
        .iter()
        .filter_map(|(key, decl)| parse_declaration_key(key).map(|k| (k, decl.flags)))
        .collect()
}

fn parse_declaration_key(key: &str) -> Option<Key> {
    let (dir, stem) = key.split_once('/')?;
    let folder = Folder::parse(dir).ok()?;
    let (digits, name) = stem.split_once('.')?;
    if digits.len() < 3 || !digits.bytes().all(|b| b.is_ascii_digit()) || name.contains('.') {
        return None;
    }
    Some((folder, digits.parse().ok()?, name.to_owned()))
}

fn manifest_source(tree: &FileTree) -> Option<SourceFile> {
    let bytes = tree.files.get(MANIFEST_FILE)?;
    Some(SourceFile::new(
        tree.display_path(MANIFEST_FILE),
        String::from_utf8_lossy(bytes).into_owned(),
    ))
}

/// A version with build metadata (`1.0.0+build.5`) is refused where it is made, as publishing
/// refuses it: no version order tells it from `1.0.0`, so a repository of sources holding
/// both would choose between them by chance. (An archive built so by an earlier dbpm still
/// reads.)
fn check_build_metadata(tree: &FileTree, manifest: &Manifest, problems: &mut Vec<Problem>) {
    if manifest.version.build.is_empty() {
        return;
    }
    problems.push(version_problem(
        tree,
        "dbpm::package::build_metadata",
        format!(
            "the version `{}` has build metadata, which no version order reads",
            manifest.version
        ),
        "leave `+…` out of the version: a change is a new version (or a pre-release such as 1.3.0-rc.1)".to_owned(),
        "build metadata",
    ));
}

/// A source directory named after a version (`packages/billing/1.0.0`, as `dbpm init`
/// makes them) holds that version: a copied directory whose manifest was not edited, or an
/// edited one not renamed, would build (and be found in a repository of sources) as another
/// version than its name says, without a word. (The parent's name is free: `init --name`
/// gives the package another, and a checkout or a temporary directory has any.)
fn check_place(tree: &FileTree, manifest: &Manifest, problems: &mut Vec<Problem>) {
    let Ok(dir) = fs_err::canonicalize(&tree.root) else {
        return;
    };
    let Some(placed) = (dir.file_name().and_then(|n| n.to_str()))
        .and_then(|name| semver::Version::parse(name).ok())
    else {
        return;
    };
    // Build metadata is no part of a version's identity (semver's precedence).
    if placed.cmp_precedence(&manifest.version).is_eq() {
        return;
    }
    problems.push(version_problem(
        tree,
        "dbpm::package::misplaced",
        format!(
            "the manifest says version `{}`, the directory `{}` says `{placed}`",
            manifest.version,
            tree.root.display()
        ),
        format!(
            "a package version's directory is named after its version: rename it `{}`, or correct the manifest",
            manifest.version
        ),
        &format!("not `{placed}`"),
    ));
}

/// An error about the package's version, pointing at it in the `dbpm.toml` where it can be
/// found there.
fn version_problem(
    tree: &FileTree,
    code: &'static str,
    message: String,
    help: String,
    label: &str,
) -> Problem {
    let problem = Problem::error(tree.display_path(MANIFEST_FILE), code, message).with_help(help);
    let source = manifest_source(tree);
    let span = source.as_ref().and_then(|s| key_span(s.text(), "version"));
    match (source, span) {
        (Some(source), Some(span)) => problem.at(&source, span, label),
        _ => problem,
    }
}

/// Where the value of the first `key = value` line of a TOML text is.
fn key_span(text: &str, key: &str) -> Option<std::ops::Range<usize>> {
    let mut start = 0;
    for line in text.split_inclusive('\n') {
        if let Some(value) = (line.trim_start().strip_prefix(key))
            .and_then(|rest| rest.trim_start().strip_prefix('='))
        {
            let value_start = start + line.len() - value.trim_start().len();
            let value_end = start + line.trim_end().len();
            return (value_start < value_end).then_some(value_start..value_end);
        }
        start += line.len();
    }
    None
}

fn declaration_problem(
    tree: &FileTree,
    decl: &Declaration,
    code: &'static str,
    message: String,
    label: &str,
) -> Problem {
    let problem = Problem::error(tree.display_path(MANIFEST_FILE), code, message);
    match (manifest_source(tree), &decl.span) {
        (Some(source), Some(span)) => problem.at(&source, span.clone(), label),
        _ => problem,
    }
}

fn check_declarations(
    tree: &FileTree,
    manifest: &Manifest,
    scripts: &[SourceScript],
    problems: &mut Vec<Problem>,
) {
    let keys: BTreeSet<Key> = scripts.iter().map(SourceScript::key).collect();
    for (text, decl) in &manifest.scripts {
        match parse_declaration_key(text) {
            None => problems.push(
                declaration_problem(tree, decl, "dbpm::manifest::bad_script_key", format!("`{text}` does not name a script as `PHASE/NNN.name`"), "not `PHASE/NNN.name`")
                    .with_help("key declarations by folder and script without extension or platform: [scripts.\"UPGRADE/002.backfill\"]"),
            ),
            Some(key) if !keys.contains(&key) => problems.push(
                declaration_problem(tree, decl, "dbpm::manifest::unknown_script", format!("a declaration for `{text}`, but there is no such script"), "no such script")
                    .with_help("fix the key or remove the declaration"),
            ),
            Some((folder, _, _)) if decl.flags.irreversible && !folder.is_forward() => problems.push(
                declaration_problem(tree, decl, "dbpm::manifest::irreversible_not_forward", format!("`{text}` is declared irreversible, but only UPGRADE and INSTALL scripts have twins"), "not a forward script")
                    .with_help("remove `irreversible` from this declaration"),
            ),
            Some(_) => {}
        }
    }
}

fn check_twins(
    tree: &FileTree,
    manifest: &mut Manifest,
    scripts: &[SourceScript],
    problems: &mut Vec<Problem>,
) {
    let declared = declared_flags(manifest);
    let folders: BTreeSet<&Folder> = scripts.iter().map(|s| &s.folder).collect();
    // Folder-level twin problems of `@` edges are reported once by `check_edges`.
    let folder_reported = |folder: &Folder| {
        matches!(
            folder,
            Folder::Upgrade(EdgeTag::Version(_) | EdgeTag::Nothing)
                | Folder::Downgrade(EdgeTag::Version(_) | EdgeTag::Nothing)
        ) && folder.twin().is_some_and(|t| !folders.contains(&t))
    };
    let mut missing: BTreeMap<(String, bool), (String, Vec<Platform>)> = BTreeMap::new();
    for platform in &manifest.platforms {
        let present = effective(scripts, *platform);
        let keys: BTreeSet<Key> = present.iter().map(|s| s.key()).collect();
        for script in present {
            let Some(twin) = script.folder.twin() else {
                continue;
            };
            if folder_reported(&script.folder) {
                continue;
            }
            let twin_key = (twin.clone(), script.name.number, script.name.name.clone());
            let flags = declared.get(&script.key()).copied().unwrap_or_default();
            let twin_path = format!("{twin}/{}.{}", script.name.digits, script.name.name);
            if keys.contains(&twin_key) {
                if flags.irreversible {
                    missing
                        .entry((script.path.clone(), true))
                        .or_insert_with(|| (twin_path, Vec::new()))
                        .1
                        .push(*platform);
                }
            } else if script.folder.is_compensation() || !flags.irreversible {
                missing
                    .entry((script.path.clone(), false))
                    .or_insert_with(|| (twin_path, Vec::new()))
                    .1
                    .push(*platform);
            }
        }
    }
    let everywhere = manifest.platforms.len();
    for ((path, has_twin), (twin, platforms)) in missing {
        let shown = tree.display_path(&path);
        let on = if platforms.len() == everywhere {
            String::new()
        } else {
            format!(
                " on {}",
                platforms
                    .iter()
                    .map(|p| p.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        let folder = path.split('/').next().and_then(|d| Folder::parse(d).ok());
        if has_twin {
            problems.push(
                Problem::error(
                    &shown,
                    "dbpm::package::irreversible_with_twin",
                    format!("declared irreversible, yet it has the twin `{twin}`"),
                )
                .with_help("remove the twin, or the `irreversible` declaration"),
            );
        } else if folder.as_ref().is_some_and(Folder::is_compensation) {
            problems.push(
                Problem::error(&shown, "dbpm::package::twin_without_forward", format!("no forward script `{twin}` for this compensation{on}"))
                    .with_help("a ROLLBACK or DOWNGRADE script compensates the INSTALL or UPGRADE script of the same number and name; rename it or remove it"),
            );
        } else if manifest.legacy {
            problems.push(
                Problem::error(
                    &shown,
                    "dbpm::package::irreversible_legacy",
                    format!("no compensating twin `{twin}`{on}; marked irreversible"),
                )
                .with_help("add the twin so that a failure or a downgrade can undo this script")
                .warning(),
            );
            if let Some(key) = folder.map(|f| {
                let stem = path.split_once('/').map(|(_, f)| f).unwrap_or_default();
                let mut parts = stem.split('.');
                format!(
                    "{f}/{}.{}",
                    parts.next().unwrap_or_default(),
                    parts.next().unwrap_or_default()
                )
            }) {
                manifest.scripts.insert(
                    key,
                    Declaration {
                        flags: ScriptFlags {
                            irreversible: true,
                            ..ScriptFlags::default()
                        },
                        span: None,
                    },
                );
            }
        } else {
            problems.push(
                Problem::error(&shown, "dbpm::package::no_twin", format!("no compensating twin `{twin}`{on}"))
                    .with_help(format!("add `{twin}` (written defensively, with IF EXISTS), or declare the script irreversible in the manifest")),
            );
        }
    }
}

/// What the SQL of every script says, on every platform it runs on (see [`lint`]).
fn check_statements(
    tree: &FileTree,
    manifest: &Manifest,
    scripts: &[SourceScript],
    problems: &mut Vec<Problem>,
) {
    let declarations = declared_flags(manifest);
    let flags_of = |key: &Key| declarations.get(key).copied().unwrap_or_default();
    problems.extend(lint::check(tree, &manifest.platforms, |platform| {
        effective(scripts, platform)
            .into_iter()
            .map(|script| {
                let forward = script
                    .folder
                    .is_compensation()
                    .then(|| script.folder.twin())
                    .flatten()
                    .map(|twin| (twin, script.name.number, script.name.name.clone()))
                    .filter(|key| !flags_of(key).transaction);
                lint::Subject {
                    path: &script.path,
                    text: &script.text,
                    kind: script.name.kind,
                    flags: flags_of(&script.key()),
                    key: format!("{}/{}", script.folder, script.name.stem()),
                    forward_outside_transaction: forward
                        .map(|(folder, _, _)| format!("{folder}/{}", script.name.stem())),
                    legacy_manifest: manifest.legacy,
                }
            })
            .collect()
    }));
}

fn check_placeholders(
    tree: &FileTree,
    manifest: &Manifest,
    scripts: &[SourceScript],
    problems: &mut Vec<Problem>,
) {
    let mut used = BTreeSet::new();
    for script in scripts {
        let source = SourceFile::new(tree.display_path(&script.path), script.text.clone());
        for found in placeholder::malformed(&script.text, script.name.kind) {
            let written = &script.text[found.span.clone()];
            let declared = found
                .name
                .as_ref()
                .filter(|name| manifest.placeholders.contains_key(*name));
            let help = match declared {
                Some(name) => {
                    // Its declaration is not unused: it is mistyped here.
                    used.insert(name.clone());
                    format!("`{name}` is a declared placeholder: write `${{{name}}}`, or `$${{` for a literal `${{`")
                }
                None => "a placeholder is `${name}` (an ASCII letter or `_`, then ASCII letters, digits and `_`); write `$${` for a literal `${`, which also silences this warning".to_owned(),
            };
            problems.push(
                Problem::error(
                    source.path(),
                    "dbpm::package::malformed_placeholder",
                    format!("`{written}` is not a placeholder, and is kept as text"),
                )
                .at(&source, found.span, "not `${name}`")
                .with_help(help)
                .warning(),
            );
        }
        for found in placeholder::scan(&script.text, script.name.kind) {
            if manifest.placeholders.contains_key(&found.name) {
                used.insert(found.name);
                continue;
            }
            problems.push(
                Problem::error(source.path(), "dbpm::package::undeclared_placeholder", format!("placeholder `${{{}}}` is not declared", found.name))
                    .at(&source, found.span, "not declared in the manifest")
                    .with_help(format!("declare it in the manifest: [placeholders] {} = {{ description = \"...\" }}, or escape a literal as `$${{{}}}`", found.name, found.name)),
            );
        }
    }
    for name in manifest.placeholders.keys().filter(|n| !used.contains(*n)) {
        problems.push(
            Problem::error(
                tree.display_path(MANIFEST_FILE),
                "dbpm::manifest::unused_placeholder",
                format!("placeholder `{name}` is declared but no script uses it"),
            )
            .with_help("remove the declaration")
            .warning(),
        );
    }
}

/// The scripts that make up the package on `platform`: a variant replaces the generic script
/// of the same folder, number and name.
fn effective(scripts: &[SourceScript], platform: Platform) -> Vec<&SourceScript> {
    let mut chosen: BTreeMap<Key, &SourceScript> = BTreeMap::new();
    for script in scripts {
        match script.name.platform {
            Some(p) if p == platform => {
                chosen.insert(script.key(), script);
            }
            None => {
                chosen.entry(script.key()).or_insert(script);
            }
            Some(_) => {}
        }
    }
    chosen.into_values().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A postgres package whose DOWNGRADE script holds what a newer check refuses.
    fn tree_with_sql_finding() -> FileTree {
        let files = [
            (
                MANIFEST_FILE,
                "[package]\nname = \"p\"\nversion = \"1.0.0\"\nplatforms = [\"postgres\"]\n",
            ),
            ("UPGRADE/001.t.sql", "CREATE TABLE t (x int);\n"),
            (
                "DOWNGRADE/001.t.sql",
                "DROP INDEX IF EXISTS i;\n\u{feff}DROP TABLE IF EXISTS t;\n",
            ),
        ];
        FileTree {
            root: PathBuf::from("p"),
            files: files
                .iter()
                .map(|(path, text)| ((*path).to_owned(), text.as_bytes().to_vec()))
                .collect(),
            problems: Vec::new(),
        }
    }

    #[test]
    fn a_built_package_is_not_refused_for_what_its_sql_says() {
        // QA: a build error added to the SQL checks (a byte-order mark inside a script) made
        // a package installed before it unplannable ("the state of `core` does not rebuild"),
        // and would have made its published archive unreadable.
        let tree = tree_with_sql_finding();
        let refused = inspect(&tree, Advice::Sql).expect_err("the source is refused");
        assert!(refused
            .problems
            .errors()
            .any(|p| p.code_str() == "dbpm::package::byte_order_mark"));
        validate(&tree).expect("the built package reads");
    }
}
