//! The plan as data: what it was computed from, the action per package, the scripts (stored
//! once by checksum) and the steps of the DAG with their compensations. Plain serde data with
//! sorted maps and content-derived ids, so the same inputs give the same bytes; loading a plan
//! verifies its hash and every script checksum.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use miette::{NamedSource, SourceSpan};
use semver::Version;
use serde::{Deserialize, Serialize};

use super::aside::Aside;
use super::decode;
use super::digest::{self, Fields};
use crate::diagnostic::json_error_at;
use crate::package::{Checksum, Kind, Origin};
use crate::platform::Platform;

/// The plan format this dbpm writes. Format 2 added `walked`; format 3 hashes a canonical
/// binary encoding of the plan instead of its compact JSON text; format 4 hashes its parts
/// side by side, script texts by their checksums, struct fields by position.
pub const FORMAT_VERSION: u32 = 4;

/// The last format whose hash is over the compact JSON text.
const LAST_JSON_HASHED_FORMAT: u32 = 2;

/// The last format whose hash is over the whole plan in one encoding, fields by name.
const LAST_WHOLE_HASHED_FORMAT: u32 = 3;

/// The oldest plan format this dbpm reads (and applies as it is).
pub const OLDEST_FORMAT: u32 = 1;

/// A reviewed, deterministic plan of changes to one target state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "dbpm plan")]
pub struct Plan {
    /// The plan format.
    pub format_version: u32,
    /// sha256 of the plan with this field empty (from format 4 over the hashes of its
    /// parts, each over a canonical binary encoding; in format 3 over one such encoding of
    /// the whole; before over its compact JSON): any edit shows.
    pub hash: String,
    /// The platform the plan is for.
    pub platform: Platform,
    /// Which target it was planned against; informational only (one plan serves every target
    /// in the same state).
    pub target: String,
    /// What it was computed from.
    pub inputs: Inputs,
    /// The placeholder values the scripts were resolved with, by name: those every package
    /// that declares the name was resolved with (a name packages resolved differently, each
    /// with its own default, is only in `packages`, under each package).
    pub placeholders: BTreeMap<String, String>,
    /// What happens to each package, and why.
    pub actions: BTreeMap<String, Action>,
    /// The package versions the target ends with, as they will be recorded there.
    pub packages: BTreeMap<String, PlannedPackage>,
    /// The versions a path walks through on the way (neither installed before nor after), by
    /// package: the target keeps them in the run's record, so that a later plan can walk back
    /// through them without the repository.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub walked: BTreeMap<String, Vec<PlannedPackage>>,
    /// Script texts by checksum: the resolved texts steps run, and the original texts recorded.
    #[serde(deserialize_with = "decode::scripts")]
    pub scripts: BTreeMap<Checksum, Arc<str>>,
    /// The forward steps, in a stable topological order.
    pub steps: Vec<Step>,
    /// The compensating steps, with their own ordering: what a failure would run.
    pub compensations: Vec<Step>,
}

/// What a plan was computed from, for staleness checks per package.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Inputs {
    /// The digest of the release (or request) the plan was made for.
    pub release: Checksum,
    /// The archive checksum of every package version the plan uses (`name@version`).
    pub archives: BTreeMap<String, Checksum>,
    /// The installed version and checksum of every package the plan touches or relies on;
    /// `null` for one that must still be absent.
    pub installed: BTreeMap<String, Option<InstalledRef>>,
}

/// An installed package version as the plan saw it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct InstalledRef {
    /// The version.
    #[schemars(with = "String")]
    pub version: Version,
    /// Its archive checksum.
    pub checksum: Checksum,
}

/// What happens to a package.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum ActionKind {
    /// Not installed; will be.
    Install,
    /// To a newer version.
    Upgrade,
    /// To an older version.
    Downgrade,
    /// The same version again (its code re-created).
    Reinstall,
    /// Removed.
    Uninstall,
    /// Nothing to do.
    Unchanged,
}

impl fmt::Display for ActionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ActionKind::Install => "install",
            ActionKind::Upgrade => "upgrade",
            ActionKind::Downgrade => "downgrade",
            ActionKind::Reinstall => "reinstall",
            ActionKind::Uninstall => "uninstall",
            ActionKind::Unchanged => "unchanged",
        })
    }
}

/// The action for one package.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Action {
    /// What happens.
    pub action: ActionKind,
    /// The installed version, if any.
    #[schemars(with = "Option<String>")]
    pub from: Option<Version>,
    /// The version after the plan, if any.
    #[schemars(with = "Option<String>")]
    pub to: Option<Version>,
    /// Why.
    pub reason: String,
    /// The versions walked (`none → 1.0.0 → 1.2.0`), for changes of version.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(with = "Vec<String>")]
    pub path: Vec<Origin>,
    /// Whether the action destroys data (a downgrade or an uninstall).
    pub destructive: bool,
}

/// A package version as the target will record it after the plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PlannedPackage {
    /// The version.
    #[schemars(with = "String")]
    pub version: Version,
    /// The archive checksum.
    pub checksum: Checksum,
    /// The normalised manifest.
    #[serde(deserialize_with = "decode::shared")]
    pub manifest: Arc<str>,
    /// Every script of the archive: path → checksum of its original text (in `scripts`).
    #[serde(deserialize_with = "decode::script_checksums")]
    pub scripts: Arc<BTreeMap<Arc<str>, Checksum>>,
    /// The placeholder values it is installed with.
    pub placeholders: BTreeMap<String, String>,
}

/// A step's phase, without its edge.
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
#[serde(rename_all = "UPPERCASE")]
pub enum StepPhase {
    /// PREINSTALL.
    Preinstall,
    /// ROLLBACK.
    Rollback,
    /// UPGRADE.
    Upgrade,
    /// DOWNGRADE.
    Downgrade,
    /// INSTALL.
    Install,
    /// VERIFY.
    Verify,
    /// POSTINSTALL.
    Postinstall,
}

impl StepPhase {
    /// The phase's folder name.
    pub fn as_str(self) -> &'static str {
        match self {
            StepPhase::Preinstall => "PREINSTALL",
            StepPhase::Rollback => "ROLLBACK",
            StepPhase::Upgrade => "UPGRADE",
            StepPhase::Downgrade => "DOWNGRADE",
            StepPhase::Install => "INSTALL",
            StepPhase::Verify => "VERIFY",
            StepPhase::Postinstall => "POSTINSTALL",
        }
    }
}

impl fmt::Display for StepPhase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether a step moves the change forward or undoes a completed one.
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
pub enum Role {
    /// Part of the change.
    Forward,
    /// Undoes a forward step after a failure.
    Compensate,
}

/// One script run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Step {
    /// Stable id from (package, version, edge, phase, script, role).
    // Shared with the steps that name it: a large plan has hundreds of thousands.
    #[serde(deserialize_with = "decode::shared")]
    #[schemars(with = "String")]
    pub id: Arc<str>,
    /// The package.
    #[serde(deserialize_with = "decode::shared")]
    pub package: Arc<str>,
    /// The version the script belongs to.
    #[schemars(with = "String")]
    pub version: Version,
    /// For UPGRADE and DOWNGRADE: the edge's origin (`none` or a version).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<String>")]
    pub edge: Option<Origin>,
    /// The phase.
    pub phase: StepPhase,
    /// `NNN.name`.
    #[serde(deserialize_with = "decode::shared")]
    pub script: Arc<str>,
    /// The script's path in its package.
    #[serde(deserialize_with = "decode::shared")]
    pub path: Arc<str>,
    /// The checksum of the text that runs (in `scripts`).
    pub checksum: Checksum,
    /// How it runs.
    pub kind: Kind,
    /// Forward or compensation.
    pub role: Role,
    /// Runs in a transaction that also commits its journal entry.
    pub transactional: bool,
    /// Safe to run again after a crash.
    pub idempotent: bool,
    /// A forward step with no compensation, on purpose.
    pub irreversible: bool,
    /// Destroys data (DOWNGRADE scripts).
    pub destructive: bool,
    /// Steps (of the same list) that must finish first.
    #[serde(deserialize_with = "decode::shared_list")]
    #[schemars(with = "Vec<String>")]
    pub depends_on: Vec<Arc<str>>,
    /// For a forward step: the step that compensates it.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "decode::shared_option"
    )]
    #[schemars(with = "Option<String>")]
    pub compensated_by: Option<Arc<str>>,
    /// For a compensation: the forward step it undoes.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "decode::shared_option"
    )]
    #[schemars(with = "Option<String>")]
    pub compensates: Option<Arc<str>>,
}

/// The start of the ids of one phase's steps in one package version (and edge):
/// `package@version/PHASE[@edge]/`. Made once per phase: a large plan has hundreds of
/// thousands of steps.
pub fn step_id_prefix(
    package: &str,
    version: &Version,
    edge: Option<&Origin>,
    phase: StepPhase,
) -> String {
    let mut prefix = String::with_capacity(package.len() + 40);
    prefix.push_str(package);
    prefix.push('@');
    push_version(&mut prefix, version);
    prefix.push('/');
    prefix.push_str(phase.as_str());
    match edge {
        Some(Origin::Version(from)) => {
            prefix.push('@');
            push_version(&mut prefix, from);
        }
        Some(Origin::Nothing) => prefix.push_str("@none"),
        None => {}
    }
    prefix.push('/');
    prefix
}

/// Appends `version` as its `Display` writes it, without its padding machinery: a large plan
/// makes a few hundred thousand prefixes.
fn push_version(text: &mut String, version: &Version) {
    use fmt::Write as _;
    let _ = write!(
        text,
        "{}.{}.{}",
        version.major, version.minor, version.patch
    );
    if !version.pre.is_empty() {
        text.push('-');
        text.push_str(version.pre.as_str());
    }
    if !version.build.is_empty() {
        text.push('+');
        text.push_str(version.build.as_str());
    }
}

/// The id of a step, from what identifies it (never from its text or the time): the
/// [`step_id_prefix`] of its package, version, edge and phase, its script and its role.
pub fn step_id(prefix: &str, script: &str, role: Role) -> Arc<str> {
    const UNDO: &str = "~undo";
    thread_local! {
        /// Where an id is put together before it is shared: one allocation per id.
        static SCRATCH: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
    }
    SCRATCH.with_borrow_mut(|id| {
        id.clear();
        id.push_str(prefix);
        id.push_str(script);
        if role == Role::Compensate {
            id.push_str(UNDO);
        }
        Arc::from(id.as_str())
    })
}

/// The hashes of a plan's steps and of its compensations, the parts of its hash (from format
/// 4) that the planner works out while it makes the rest of the plan.
#[derive(Debug, Clone, Copy)]
pub(crate) struct StepHashes {
    /// Of `steps`.
    pub steps: [u8; 32],
    /// Of `compensations`.
    pub compensations: [u8; 32],
}

/// Why a plan file cannot be used.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum PlanError {
    /// Not JSON of a plan.
    #[error("`{path}` is not a dbpm plan: {reason} at line {line}, column {column}")]
    #[diagnostic(
        code(dbpm::plan::unreadable),
        help("make plans with `dbpm plan --out FILE`")
    )]
    Unreadable {
        /// The file.
        path: String,
        /// What is wrong.
        reason: String,
        /// Where (1-based).
        line: usize,
        /// Where (1-based).
        column: usize,
        /// The file's text.
        #[source_code]
        text: NamedSource<String>,
        /// The place in it.
        #[label("{reason}")]
        span: SourceSpan,
    },
    /// Another format.
    #[error("`{path}` is a plan of format {found}; this dbpm reads formats {OLDEST_FORMAT} to {FORMAT_VERSION}")]
    #[diagnostic(code(dbpm::plan::format), help("plan again with this dbpm"))]
    Format {
        /// The file.
        path: String,
        /// Its format.
        found: u32,
    },
    /// The hash does not match.
    #[error("`{path}` was changed after it was made: its hash is {recorded}, its content hashes to {actual}")]
    #[diagnostic(
        code(dbpm::plan::tampered),
        help("a plan is applied exactly as reviewed; make a new plan instead of editing one")
    )]
    Tampered {
        /// The file.
        path: String,
        /// The hash in the file.
        recorded: String,
        /// The hash of the content.
        actual: String,
    },
    /// A script text does not match its checksum, or a step names a missing script.
    #[error("`{path}`: {reason}")]
    #[diagnostic(
        code(dbpm::plan::script_mismatch),
        help("a plan is applied exactly as reviewed; make a new plan instead of editing one")
    )]
    Script {
        /// The file.
        path: String,
        /// What is wrong.
        reason: String,
    },
}

impl Plan {
    /// Computes the hash of the plan's content (with `hash` empty).
    pub fn compute_hash(&mut self) -> String {
        // Hash the plan in place with its hash field empty: a copy of a large plan costs more
        // than the hashing.
        let recorded = std::mem::take(&mut self.hash);
        let hex = if self.format_version <= LAST_JSON_HASHED_FORMAT {
            let mut hasher = HashWriter(sha2::Sha256::default());
            serde_json::to_writer(&mut hasher, self)
                .unwrap_or_else(|err| unreachable!("a plan always serializes: {err}"));
            hex::encode(sha2::Digest::finalize(hasher.0))
        } else if self.format_version <= LAST_WHOLE_HASHED_FORMAT {
            digest::sha256_hex(self, Fields::Named)
        } else {
            hex::encode(self.hash_of_parts(None))
        };
        self.hash = recorded;
        format!("sha256:{hex}")
    }

    /// Sets the hash.
    pub fn seal(mut self) -> Self {
        self.hash = self.compute_hash();
        self
    }

    /// Sets the hash of a plan of this format whose steps and compensations were hashed
    /// while the rest of it was made; the last thing the planner does.
    pub(crate) fn seal_with(mut self, known: StepHashes) -> Self {
        debug_assert_eq!(self.format_version, FORMAT_VERSION);
        debug_assert!(self.hash.is_empty());
        let hex = hex::encode(self.hash_of_parts(Some(known)));
        self.hash = format!("sha256:{hex}");
        self
    }

    /// The hash from format 4: SHA-256 over the hashes of, in this order, the rest of the plan
    /// (all of it, with `hash` and the four parts that follow empty), the checksums of its
    /// scripts, the walked versions, the steps and the compensations; the large parts are
    /// hashed side by side. A script's text counts through its checksum: loading checks every
    /// text against its checksum, and refuses line ends other than `\n`, which checksums do
    /// not tell apart.
    fn hash_of_parts(&mut self, known: Option<StepHashes>) -> [u8; 32] {
        let steps = std::mem::take(&mut self.steps);
        let compensations = std::mem::take(&mut self.compensations);
        let walked = std::mem::take(&mut self.walked);
        let scripts = std::mem::take(&mut self.scripts);
        let parts = std::thread::scope(|scope| {
            let (steps, compensations) = match known {
                Some(known) => (Aside::Done(known.steps), Aside::Done(known.compensations)),
                None => (
                    digest::aside(scope, &steps),
                    digest::aside(scope, &compensations),
                ),
            };
            let walked = digest::aside(scope, &walked);
            let checksums = digest::sha256(&ChecksumsOf(&scripts), Fields::Positional);
            let rest = digest::sha256(&*self, Fields::Positional);
            [
                rest,
                checksums,
                walked.join(),
                steps.join(),
                compensations.join(),
            ]
        });
        self.steps = steps;
        self.compensations = compensations;
        self.walked = walked;
        self.scripts = scripts;
        let mut hasher = sha2::Sha256::default();
        for part in parts {
            sha2::Digest::update(&mut hasher, part);
        }
        sha2::Digest::finalize(hasher).into()
    }

    /// The plan as the JSON written to files: pretty, with a final newline.
    pub fn to_json(&self) -> String {
        let mut text = serde_json::to_string_pretty(self)
            .unwrap_or_else(|err| unreachable!("a plan always serializes: {err}"));
        text.push('\n');
        text
    }

    /// Reads a plan and verifies its format, hash and every script checksum.
    pub fn from_json(path: &str, text: &str) -> Result<Plan, PlanError> {
        let unreadable = |err: serde_json::Error| {
            let (reason, span) = json_error_at(text, &err);
            PlanError::Unreadable {
                path: path.to_owned(),
                reason,
                line: err.line(),
                column: err.column(),
                text: NamedSource::new(path, text.to_owned()),
                span,
            }
        };
        let format = |found: u64| PlanError::Format {
            path: path.to_owned(),
            found: u32::try_from(found).unwrap_or(u32::MAX),
        };
        // One pass into the plan; only a plan that does not parse is looked at again, to tell
        // another format from a broken file.
        let plan: Plan = match serde_json::from_str(text) {
            Ok(plan) => plan,
            Err(err) => {
                let Ok(header) = serde_json::from_str::<Header>(text) else {
                    return Err(unreadable(err));
                };
                // JSON without a format (`{}`, a manifest) is no plan of another format.
                let known = u64::from(OLDEST_FORMAT)..=u64::from(FORMAT_VERSION);
                return Err(match header.format_version {
                    Some(found) if !known.contains(&found) => format(found),
                    _ => unreadable(err),
                });
            }
        };
        if !(OLDEST_FORMAT..=FORMAT_VERSION).contains(&plan.format_version) {
            return Err(format(u64::from(plan.format_version)));
        }
        // Scripts first: an edited script is named, not only noticed by the hash.
        for (checksum, text) in &plan.scripts {
            let real = Checksum::of_text(text);
            // From format 4 the hash counts a text through its checksum, which reads every
            // line end as `\n`: the planner writes no other, so another is an edit (a `\r`
            // alone ends no SQL comment, and would make the rest of a script one).
            let other_line_ends =
                plan.format_version > LAST_WHOLE_HASHED_FORMAT && text.contains('\r');
            if &real != checksum || other_line_ends {
                let users: Vec<String> = plan
                    .steps
                    .iter()
                    .chain(&plan.compensations)
                    .filter(|s| &s.checksum == checksum)
                    .map(|s| format!("`{}`", s.id))
                    .collect();
                let what = if users.is_empty() {
                    "a recorded script".to_owned()
                } else {
                    format!("the text of {}", users.join(", "))
                };
                let how = if &real == checksum {
                    "its line ends were changed (a plan's scripts end their lines with `\\n` only)"
                        .to_owned()
                } else {
                    format!("it is stored under {checksum} but hashes to {real}")
                };
                return Err(PlanError::Script {
                    path: path.to_owned(),
                    reason: format!("{what} was edited: {how}"),
                });
            }
        }
        // Hashed once: a large plan looks up every step and every recorded file.
        let held: foldhash::HashSet<&Checksum> = plan.scripts.keys().collect();
        for step in plan.steps.iter().chain(&plan.compensations) {
            if !held.contains(&step.checksum) {
                return Err(PlanError::Script {
                    path: path.to_owned(),
                    reason: format!(
                        "step `{}` runs {} which the plan does not hold",
                        step.id, step.checksum
                    ),
                });
            }
        }
        // What the target will record must be whole, or it could never be rebuilt there.
        let recorded = plan.packages.iter().chain(
            plan.walked
                .iter()
                .flat_map(|(name, versions)| versions.iter().map(move |p| (name, p))),
        );
        for (name, package) in recorded {
            if let Some((file, checksum)) = package
                .scripts
                .iter()
                .find(|(_, checksum)| !held.contains(checksum))
            {
                return Err(PlanError::Script {
                    path: path.to_owned(),
                    reason: format!(
                        "`{file}` of `{name}@{}` is {checksum}, which the plan does not hold",
                        package.version
                    ),
                });
            }
        }
        drop(held);
        let mut plan = plan;
        let actual = plan.compute_hash();
        if actual != plan.hash {
            return Err(PlanError::Tampered {
                path: path.to_owned(),
                recorded: plan.hash.clone(),
                actual,
            });
        }
        Ok(plan)
    }

    /// Whether the plan changes anything.
    pub fn has_changes(&self) -> bool {
        !self.steps.is_empty()
            || self
                .actions
                .values()
                .any(|a| a.action != ActionKind::Unchanged)
    }

    /// The text a step runs.
    pub fn text_of(&self, step: &Step) -> &str {
        self.scripts.get(&step.checksum).map_or("", |text| text)
    }
}

/// The part of a plan file every format shares.
#[derive(Deserialize)]
struct Header {
    format_version: Option<u64>,
}

/// The keys of a plan's scripts, as a sequence: what its hash holds of them.
struct ChecksumsOf<'a>(&'a BTreeMap<Checksum, Arc<str>>);

impl Serialize for ChecksumsOf<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.keys())
    }
}

/// Feeds the JSON text of a plan of format 1 or 2 straight into its hash.
struct HashWriter(sha2::Sha256);

impl std::io::Write for HashWriter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        sha2::Digest::update(&mut self.0, bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The JSON schema of a plan file.
pub fn schema() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(Plan))
        .unwrap_or_else(|err| unreachable!("a schema always serializes: {err}"))
}

impl Plan {
    /// The installed state a target in state `before` is in once the plan completed: what
    /// the executor records, and what tests and `undo` reason about.
    pub fn resulting_state(
        &self,
        before: &crate::state::InstalledState,
        run: Option<String>,
        installed_at: Option<String>,
    ) -> crate::state::InstalledState {
        let mut after = before.clone();
        for (name, action) in &self.actions {
            match (action.action, self.packages.get(name)) {
                (ActionKind::Uninstall, _) => {
                    after.packages.remove(name);
                }
                (ActionKind::Unchanged, _) | (_, None) => {}
                (_, Some(planned)) => {
                    self.copy_texts(planned, &mut after.texts);
                    after.packages.insert(
                        name.clone(),
                        planned.installed(run.clone(), installed_at.clone()),
                    );
                }
            }
        }
        after.walked.clear();
        after.prune_texts();
        after
    }

    /// What a completed run records: the installed set `after` it, with the versions the plan
    /// walked through and their texts (which the target keeps with the others, out of the
    /// run's own record), so that a later plan can walk back through them.
    pub fn run_record(
        &self,
        after: &crate::state::InstalledState,
        run: Option<String>,
    ) -> crate::state::InstalledState {
        let mut record = after.clone();
        for (name, versions) in &self.walked {
            for planned in versions {
                self.copy_texts(planned, &mut record.texts);
                record
                    .walked
                    .entry(name.clone())
                    .or_default()
                    .push(planned.installed(run.clone(), None));
            }
        }
        record
    }

    /// Copies the texts of a recorded package's scripts into a state's texts.
    fn copy_texts(&self, planned: &PlannedPackage, texts: &mut BTreeMap<Checksum, String>) {
        for checksum in planned.scripts.values() {
            if let Some(text) = self.scripts.get(checksum) {
                texts
                    .entry(checksum.clone())
                    .or_insert_with(|| text.to_string());
            }
        }
    }
}

impl PlannedPackage {
    /// The package as a target records it once a run installed (or walked through) it.
    fn installed(
        &self,
        run: Option<String>,
        installed_at: Option<String>,
    ) -> crate::state::InstalledPackage {
        crate::state::InstalledPackage {
            version: self.version.clone(),
            checksum: self.checksum.clone(),
            manifest: self.manifest.to_string(),
            scripts: self
                .scripts
                .iter()
                .map(|(path, checksum)| (path.to_string(), checksum.clone()))
                .collect(),
            placeholders: self.placeholders.clone(),
            run,
            adopted: false,
            installed_at,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_step_id_prefix_writes_versions_as_they_display() {
        for (version, edge) in [
            ("1.2.3", None),
            ("10.0.0-rc.1+build.5", Some(Origin::Nothing)),
            ("2.0.0+meta", Some(Origin::Version(Version::new(1, 9, 12)))),
            (
                "3.1.4-beta",
                Some(Origin::Version("3.0.0-alpha.2".parse().expect("version"))),
            ),
        ] {
            let version: Version = version.parse().expect("version");
            let edge_text = edge.as_ref().map(|e| format!("@{e}")).unwrap_or_default();
            assert_eq!(
                step_id_prefix("auth", &version, edge.as_ref(), StepPhase::Upgrade),
                format!("auth@{version}/UPGRADE{edge_text}/")
            );
        }
    }
}
