//! The planner on the example packages: golden plans (fresh install, upgrade, downgrade,
//! uninstall) in `plans/`, snapshots of every rendering, determinism, refusals, and the
//! ordering rules of DESIGN §4 checked on every plan.
//! Run with `DBPM_UPDATE_PLANS=1` to rewrite the golden plans after a deliberate change.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::{BTreeMap, BTreeSet};

use dbpm::diagnostic::SourceFile;
use dbpm::package::{load_dir, Package};
use dbpm::plan::{self, render, ActionKind, Options, Plan, Role, StepPhase};
use dbpm::platform::Platform;
use dbpm::repository::{Index, IndexEntry};
use dbpm::resolve::{parse_release, Release};
use dbpm::state::InstalledState;
use semver::Version;

struct Examples {
    index: Index,
    packages: BTreeMap<(String, Version), Package>,
}

fn examples(platform: Platform) -> Examples {
    let mut index = Index::new();
    let mut packages = BTreeMap::new();
    for dir in common::example_packages() {
        let package = load_dir(&dir).unwrap().for_platform(platform).unwrap();
        index.insert_if_absent(IndexEntry::of(&package));
        packages.insert(
            (
                package.manifest.name.clone(),
                package.manifest.version.clone(),
            ),
            package,
        );
    }
    Examples { index, packages }
}

fn release(name: &str) -> Release {
    let path = common::repo_root().join("examples/releases").join(name);
    let text = fs_err::read_to_string(&path).unwrap();
    parse_release(&SourceFile::new(format!("examples/releases/{name}"), text)).unwrap()
}

fn empty_release() -> Release {
    parse_release(&SourceFile::new("empty.toml", "[packages]\n")).unwrap()
}

fn plan_for(
    ex: &Examples,
    release: &Release,
    state: &InstalledState,
    options: &Options,
) -> Result<Plan, plan::PlanningError> {
    let decisions = plan::decide(release, state, &ex.index, &Index::new(), options)?;
    plan::build(release, state, &decisions, &ex.packages, options)
}

fn options() -> Options {
    Options {
        target: "sqlite://example.db".to_owned(),
        ..Options::default()
    }
}

fn empty(platform: Platform) -> InstalledState {
    InstalledState::empty(platform, "sqlite://example.db")
}

/// The state reached by planning `release` from nothing and applying it.
fn state_at(ex: &Examples, release_name: &str, platform: Platform) -> InstalledState {
    let plan = plan_for(ex, &release(release_name), &empty(platform), &options()).unwrap();
    plan.resulting_state(&empty(platform), None, None)
}

/// The scenarios of the golden plans.
fn scenarios(platform: Platform) -> Vec<(&'static str, Plan)> {
    let ex = examples(platform);
    let prune = Options {
        prune: true,
        ..options()
    };
    vec![
        (
            "fresh-install",
            plan_for(&ex, &release("2026.2.toml"), &empty(platform), &options()).unwrap(),
        ),
        (
            "upgrade",
            plan_for(
                &ex,
                &release("2026.2.toml"),
                &state_at(&ex, "2026.1.toml", platform),
                &options(),
            )
            .unwrap(),
        ),
        (
            "downgrade",
            plan_for(
                &ex,
                &release("2026.1.toml"),
                &state_at(&ex, "2026.2.toml", platform),
                &prune,
            )
            .unwrap(),
        ),
        (
            "uninstall",
            plan_for(
                &ex,
                &empty_release(),
                &state_at(&ex, "2026.1.toml", platform),
                &prune,
            )
            .unwrap(),
        ),
    ]
}

#[test]
fn golden_plans_are_up_to_date() {
    let update = std::env::var_os("DBPM_UPDATE_PLANS").is_some();
    for (name, plan) in scenarios(Platform::Sqlite) {
        for (ext, text) in [("json", plan.to_json()), ("md", render::markdown(&plan))] {
            let path = common::repo_root()
                .join("plans")
                .join(format!("{name}.{ext}"));
            if update {
                fs_err::write(&path, &text).unwrap();
                continue;
            }
            let current = fs_err::read_to_string(&path).unwrap_or_default();
            assert!(
                current == text,
                "plans/{name}.{ext} is out of date; run `DBPM_UPDATE_PLANS=1 cargo test --test plan` and review the diff"
            );
        }
    }
}

#[test]
fn renderings_of_the_upgrade_plan() {
    let plans = scenarios(Platform::Sqlite);
    let (_, upgrade) = &plans[1];
    insta::assert_snapshot!("upgrade_text", render::text(upgrade, false));
    insta::assert_snapshot!("upgrade_mermaid", render::mermaid(upgrade));
    insta::assert_snapshot!("upgrade_dot", render::dot(upgrade));
    for (name, plan) in &plans {
        insta::assert_snapshot!(format!("{name}_summary"), render::summary_line(plan));
    }
}

/// QA: the Markdown of an ordinary release passed the 65,536 characters GitHub takes in a
/// comment, so the CI job of docs/ci.md failed to post it. Within a limit, the scripts that
/// no longer fit are left out, each saying so; the summary, the tables and the hash stay, and
/// a plan that fits is rendered whole.
#[test]
fn markdown_within_a_limit_leaves_scripts_out_and_keeps_the_rest() {
    let plans = scenarios(Platform::Sqlite);
    let (_, fresh) = &plans[0];
    let full = render::markdown(fresh);
    let length = full.chars().count();
    assert_eq!(render::markdown_within(fresh, length), full);
    let limit = length / 2;
    let within = render::markdown_within(fresh, limit);
    assert!(
        within.chars().count() <= limit,
        "{}",
        within.chars().count()
    );
    assert!(within.contains("left out to keep this comment within its limit"));
    assert!(within.contains(&render::summary_line(fresh)));
    assert!(within.contains(&fresh.hash));
    assert!(within.contains("| package | action | version | reason |"));
    // The scripts that fit come first, whole.
    let first = &full[full.find("<details>").unwrap()..];
    let first = &first[..first.find("</details>").unwrap()];
    assert!(within.contains(first), "{within}");
}

/// Text a package, a release or a placeholder value chose, written to break out of the
/// Markdown of a plan (a line of backticks closing the fence early, then an HTML comment that
/// hides the rest of the script in a pull-request comment), stays what it is: every script,
/// forward or compensating, is one code block holding its whole text, and names, paths,
/// reasons and the target show as text, never as HTML, links or emphasis.
#[test]
fn markdown_keeps_hostile_text_inside_its_code() {
    use pulldown_cmark::{Event, Options as Markdown, Parser, Tag, TagEnd};

    let ex = examples(Platform::Sqlite);
    let hostile_value = "EUR';\n```\n<!--";
    let with_value = Options {
        set: BTreeMap::from([("currency".to_owned(), hostile_value.to_owned())]),
        ..options()
    };
    let mut plan = plan_for(
        &ex,
        &release("2026.2.toml"),
        &state_at(&ex, "2026.1.toml", Platform::Sqlite),
        &with_value,
    )
    .unwrap();
    let hostile_script = "SELECT 1;\n```\n<!-- hidden from review\n````sql\n</details>\n`````\nDROP TABLE billing_invoice;\n-->\n~~~\nSELECT 2;";
    let checksum = dbpm::package::Checksum::of_text(hostile_script);
    plan.scripts.insert(checksum.clone(), hostile_script.into());
    plan.steps[0].checksum = checksum.clone();
    let last = plan.compensations.len() - 1;
    plan.compensations[last].checksum = checksum;
    let hostile_path = "UPGRADE/001.x`|<b>y</b>\n\n# title.sql";
    plan.steps[1].path = hostile_path.into();
    let hostile_reason = "wants [this](https://example.com) <!-- | `a` **b** ~~c~~ $x$\n\nnext";
    plan.actions.get_mut("core").unwrap().reason = hostile_reason.to_owned();
    plan.target = "sqlite://``x``<img src=x>|".to_owned();
    let hostile_name = "reporting`<i>|";
    let reporting = plan.actions.remove("reporting").unwrap();
    plan.actions.insert(hostile_name.to_owned(), reporting);
    for step in plan.steps.iter_mut().chain(plan.compensations.iter_mut()) {
        if &*step.package == "reporting" {
            step.package = hostile_name.into();
        }
    }

    let markdown = render::markdown(&plan);
    let mut blocks = Vec::new();
    let mut block: Option<String> = None;
    let mut text = String::new();
    let mut headings = 0;
    for event in Parser::new_ext(
        &markdown,
        Markdown::ENABLE_TABLES | Markdown::ENABLE_STRIKETHROUGH | Markdown::ENABLE_MATH,
    ) {
        match event {
            Event::Start(Tag::CodeBlock(_)) => block = Some(String::new()),
            Event::End(TagEnd::CodeBlock) => blocks.extend(block.take()),
            Event::Text(t) if block.is_some() => block.as_mut().unwrap().push_str(&t),
            Event::Text(t) | Event::Code(t) => text.push_str(&t),
            Event::Html(html) | Event::InlineHtml(html) => {
                for tag in ["<b>", "<i>", "<img", "<!--"] {
                    assert!(!html.contains(tag), "{tag} became HTML: {html}\n{markdown}");
                }
            }
            Event::Start(Tag::Heading { .. }) => headings += 1,
            Event::Start(
                tag @ (Tag::Link { .. } | Tag::Image { .. } | Tag::Emphasis | Tag::Strikethrough),
            ) => panic!("{tag:?} in the Markdown:\n{markdown}"),
            Event::InlineMath(m) | Event::DisplayMath(m) => panic!("math {m}:\n{markdown}"),
            _ => {}
        }
    }
    let scripts: Vec<String> = plan
        .steps
        .iter()
        .chain(&plan.compensations)
        .map(|step| format!("{}\n", plan.text_of(step).trim_end()))
        .collect();
    assert_eq!(blocks.len(), scripts.len(), "{markdown}");
    // The title and one heading per package with steps.
    assert_eq!(headings, 1 + 4, "{markdown}");
    for script in &scripts {
        assert!(
            blocks.contains(script),
            "not one code block:\n{script}\n\n{markdown}"
        );
    }
    assert!(
        blocks.iter().any(|b| b.contains(hostile_value)),
        "{markdown}"
    );
    assert_eq!(
        blocks
            .iter()
            .filter(|b| b.contains("DROP TABLE billing_invoice;\n-->"))
            .count(),
        2,
        "the hostile script shows whole, forward and compensating:\n{markdown}"
    );
    for shown in [
        "UPGRADE/001.x`|<b>y</b>\\n\\n# title.sql",
        // A reason's backticks still mark code, as dbpm writes names in its reasons.
        "wants [this](https://example.com) <!-- | a **b** ~~c~~ $x$\\n\\nnext",
        "sqlite://``x``<img src=x>|",
        hostile_name,
    ] {
        assert!(
            text.contains(shown),
            "{shown} is not shown as text:\n{markdown}"
        );
    }
}

/// The values the scripts were resolved with show in the text and the Markdown, with the
/// packages that use them, and not only inside the scripts: a reviewer sees a `--set` slip.
#[test]
fn renderings_show_the_placeholder_values() {
    let ex = examples(Platform::Sqlite);
    let with_value = Options {
        set: BTreeMap::from([("currency".to_owned(), "U S\x1b[31m|`D".to_owned())]),
        ..options()
    };
    let plan = plan_for(
        &ex,
        &release("2026.2.toml"),
        &state_at(&ex, "2026.1.toml", Platform::Sqlite),
        &with_value,
    )
    .unwrap();
    let text = render::text(&plan, false);
    assert!(
        text.contains("Placeholders:\n  currency = \"U S\\u{1b}[31m|`D\"  (billing)\n"),
        "{text}"
    );
    let markdown = render::markdown(&plan);
    assert!(
        markdown.contains("| `currency` | ``U S\\u{1b}[31m\\|`D`` | `billing` |"),
        "{markdown}"
    );
    // Nothing to show when no package that changes declares a placeholder.
    let (name, downgrade) = &scenarios(Platform::Sqlite)[2];
    assert_eq!(*name, "downgrade");
    assert!(!render::text(downgrade, false).contains("Placeholders:"));
    assert!(!render::markdown(downgrade).contains("| placeholder |"));
}

#[test]
fn one_compensating_step_is_counted_in_the_singular() {
    let (_, mut plan) = scenarios(Platform::Sqlite).swap_remove(0);
    plan.compensations.truncate(1);
    let text = render::text(&plan, false);
    assert!(text.contains("undone by 1 compensating step.\n"), "{text}");
    let markdown = render::markdown(&plan);
    assert!(
        markdown.contains("On failure: 1 compensating step, undoing"),
        "{markdown}"
    );
}

#[test]
fn planning_twice_gives_identical_bytes_on_every_platform() {
    for platform in Platform::ALL {
        let first: Vec<String> = scenarios(platform)
            .iter()
            .map(|(_, p)| p.to_json())
            .collect();
        let second: Vec<String> = scenarios(platform)
            .iter()
            .map(|(_, p)| p.to_json())
            .collect();
        assert_eq!(first, second, "{platform}");
    }
}

#[test]
fn every_plan_follows_the_ordering_rules() {
    for platform in Platform::ALL {
        for (name, plan) in scenarios(platform) {
            check_rules(&plan).unwrap_or_else(|err| panic!("{platform} {name}: {err}"));
            let reloaded = Plan::from_json("plan.json", &plan.to_json()).unwrap();
            assert_eq!(reloaded, plan);
        }
    }
}

/// DESIGN §4 on one plan: dependencies point backwards in the step list, every twin is the
/// compensation, compensations undo in reverse, phases of one change come in order, and
/// prerequisites change before their dependents move forward.
pub fn check_rules(plan: &Plan) -> Result<(), String> {
    // Every version a path reaches before its end is kept as walked, and nothing else.
    for (name, action) in &plan.actions {
        let mut inner: Vec<Version> = action
            .path
            .iter()
            .skip(1)
            .take(action.path.len().saturating_sub(2))
            .filter_map(|origin| origin.version().cloned())
            .collect();
        inner.sort();
        inner.dedup();
        let walked: Vec<Version> = plan
            .walked
            .get(name)
            .map(|versions| versions.iter().map(|v| v.version.clone()).collect())
            .unwrap_or_default();
        if inner != walked {
            return Err(format!(
                "{name} walks through {inner:?} but keeps {walked:?}"
            ));
        }
    }
    let position: BTreeMap<&str, usize> = plan
        .steps
        .iter()
        .enumerate()
        .map(|(i, s)| (&*s.id, i))
        .collect();
    for (i, step) in plan.steps.iter().enumerate() {
        for dep in &step.depends_on {
            let at = position
                .get(&**dep)
                .ok_or(format!("{} depends on unknown {dep}", step.id))?;
            if *at >= i {
                return Err(format!("{} comes before its dependency {dep}", step.id));
            }
        }
        let twin = match step.phase {
            StepPhase::Install => Some(StepPhase::Rollback),
            StepPhase::Rollback => Some(StepPhase::Install),
            StepPhase::Upgrade => Some(StepPhase::Downgrade),
            StepPhase::Downgrade => Some(StepPhase::Upgrade),
            _ => None,
        };
        match (twin, &step.compensated_by) {
            (Some(phase), Some(id)) => {
                let comp = plan
                    .compensations
                    .iter()
                    .find(|c| &c.id == id)
                    .ok_or(format!("{id} missing"))?;
                if comp.phase != phase
                    || comp.script != step.script
                    || comp.version != step.version
                    || comp.edge != step.edge
                    || comp.role != Role::Compensate
                {
                    return Err(format!(
                        "{} is compensated by {}, not its twin",
                        step.id, comp.id
                    ));
                }
            }
            (Some(_), None) if !step.irreversible => {
                return Err(format!("{} has no compensation", step.id))
            }
            (None, Some(_)) => return Err(format!("{} has a compensation but no twin", step.id)),
            _ => {}
        }
    }
    // Phases of one package's change, in the one order of DESIGN §4.
    let rank = |p: StepPhase| match p {
        StepPhase::Preinstall => 0,
        StepPhase::Rollback => 1,
        StepPhase::Upgrade | StepPhase::Downgrade => 2,
        StepPhase::Install => 3,
        StepPhase::Verify => 4,
        StepPhase::Postinstall => 5,
    };
    let mut last: BTreeMap<&str, usize> = BTreeMap::new();
    for step in &plan.steps {
        let r = rank(step.phase);
        if last.get(&*step.package).is_some_and(|l| *l > r) {
            return Err(format!(
                "{} comes after a later phase of its package",
                step.id
            ));
        }
        last.insert(&step.package, r);
    }
    // A package's forward steps come after all steps of its changing prerequisites, and its
    // ROLLBACK before their first step.
    let first_of = |pkg: &str| plan.steps.iter().position(|s| &*s.package == pkg);
    let last_of = |pkg: &str| plan.steps.iter().rposition(|s| &*s.package == pkg);
    for (name, planned) in &plan.packages {
        let manifest: toml::Value = toml::from_str(&planned.manifest).unwrap();
        let prerequisites: BTreeSet<String> = manifest
            .get("prerequisites")
            .and_then(|p| p.as_table())
            .map(|t| t.keys().cloned().collect())
            .unwrap_or_default();
        for prerequisite in prerequisites {
            let (Some(prereq_last), Some(prereq_first)) =
                (last_of(&prerequisite), first_of(&prerequisite))
            else {
                continue;
            };
            for (i, step) in plan
                .steps
                .iter()
                .enumerate()
                .filter(|(_, s)| *s.package == **name)
            {
                let forward = matches!(
                    step.phase,
                    StepPhase::Upgrade
                        | StepPhase::Downgrade
                        | StepPhase::Install
                        | StepPhase::Verify
                        | StepPhase::Postinstall
                );
                if forward && i < prereq_last {
                    return Err(format!(
                        "{} runs before prerequisite {prerequisite} finished",
                        step.id
                    ));
                }
                if step.phase == StepPhase::Rollback && i > prereq_first {
                    return Err(format!(
                        "{} runs after prerequisite {prerequisite} started changing",
                        step.id
                    ));
                }
            }
        }
    }
    // Compensations undo later steps first.
    let comp_position: BTreeMap<&str, usize> = plan
        .compensations
        .iter()
        .enumerate()
        .map(|(i, s)| (&*s.id, i))
        .collect();
    for (i, comp) in plan.compensations.iter().enumerate() {
        for dep in &comp.depends_on {
            if comp_position.get(&**dep).is_none_or(|at| *at >= i) {
                return Err(format!("compensation {} comes before {dep}", comp.id));
            }
        }
    }
    Ok(())
}

#[test]
fn a_fresh_install_takes_the_shortcut_edge() {
    let plans = scenarios(Platform::Postgres);
    let (_, fresh) = &plans[0];
    let core = &fresh.actions["core"];
    assert_eq!(core.action, ActionKind::Install);
    let path: Vec<String> = core.path.iter().map(ToString::to_string).collect();
    assert_eq!(path, ["none", "1.0.0", "1.2.0"]);
    assert!(fresh
        .steps
        .iter()
        .any(|s| s.path.starts_with("UPGRADE@1.0.0/")));
    assert!(!fresh
        .steps
        .iter()
        .any(|s| &*s.package == "core" && s.version == Version::new(1, 1, 0)));
}

#[test]
fn nothing_to_do_is_an_empty_plan() {
    let ex = examples(Platform::Sqlite);
    let state = state_at(&ex, "2026.2.toml", Platform::Sqlite);
    let plan = plan_for(&ex, &release("2026.2.toml"), &state, &options()).unwrap();
    assert!(!plan.has_changes());
    assert!(plan
        .actions
        .values()
        .all(|a| a.action == ActionKind::Unchanged));
}

#[test]
fn prune_keeps_the_prerequisites_of_what_stays() {
    let ex = examples(Platform::Sqlite);
    let state = state_at(&ex, "2026.1.toml", Platform::Sqlite);
    let only_billing = parse_release(&SourceFile::new(
        "r.toml",
        "[packages]\nbilling = \"1.0.0\"\n",
    ))
    .unwrap();
    // Without --prune nothing is removed; with it, core and auth stay because billing needs them.
    let plan = plan_for(
        &ex,
        &only_billing,
        &state,
        &Options {
            prune: true,
            ..options()
        },
    )
    .unwrap();
    assert!(plan
        .actions
        .values()
        .all(|a| a.action == ActionKind::Unchanged));
}

#[test]
fn an_edited_checksum_in_the_state_is_refused() {
    let ex = examples(Platform::Sqlite);
    let mut state = state_at(&ex, "2026.1.toml", Platform::Sqlite);
    let core = state.packages.get_mut("core").unwrap();
    core.checksum = dbpm::package::Checksum::of_text("something else");
    let err = plan_for(&ex, &release("2026.1.toml"), &state, &options()).unwrap_err();
    assert!(
        matches!(
            err,
            plan::PlanningError::State(_) | plan::PlanningError::Drift { .. }
        ),
        "{err:?}"
    );
}

/// `core@1.1.0` as built from sources whose script `path` differs from the published one.
fn drifted_core(platform: Platform, path: &str) -> Package {
    let temp = tempfile::tempdir().unwrap();
    let source = common::repo_root().join("examples/packages/core/1.1.0");
    for entry in fs_err::read_dir(&source).unwrap() {
        let entry = entry.unwrap();
        let target = temp.path().join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            fs_err::create_dir_all(&target).unwrap();
            for file in fs_err::read_dir(entry.path()).unwrap() {
                let file = file.unwrap();
                fs_err::copy(file.path(), target.join(file.file_name())).unwrap();
            }
        } else {
            fs_err::copy(entry.path(), &target).unwrap();
        }
    }
    let patched = temp.path().join(path);
    let text = fs_err::read_to_string(&patched).unwrap();
    fs_err::write(
        &patched,
        format!("{text}-- patched by hand on the server\n"),
    )
    .unwrap();
    load_dir(temp.path())
        .unwrap()
        .for_platform(platform)
        .unwrap()
}

#[test]
fn drift_is_refused_and_a_reinstall_recreates_the_published_code() {
    let ex = examples(Platform::Sqlite);
    let mut state = state_at(&ex, "2026.1.toml", Platform::Sqlite);
    let drifted = drifted_core(Platform::Sqlite, "INSTALL/001.views.sql");
    state.record(&drifted, BTreeMap::new(), None, false, None);

    let err = plan_for(&ex, &release("2026.1.toml"), &state, &options()).unwrap_err();
    assert!(
        matches!(&err, plan::PlanningError::Drift { package, .. } if package == "core"),
        "{err:?}"
    );

    let reinstall = Options {
        reinstall: BTreeSet::from(["core".to_owned()]),
        ..options()
    };
    let plan = plan_for(&ex, &release("2026.1.toml"), &state, &reinstall).unwrap();
    assert_eq!(plan.actions["core"].action, ActionKind::Reinstall);
    // The drifted code is removed as the target has it and re-created as published.
    let text = |phase: StepPhase, path: &str| {
        let step = plan
            .steps
            .iter()
            .find(|s| &*s.package == "core" && s.phase == phase && &*s.path == path)
            .unwrap();
        plan.text_of(step).to_owned()
    };
    let script = |package: &Package, path: &str| {
        let script = package.scripts.iter().find(|s| &*s.path == path).unwrap();
        script.text.to_string()
    };
    let published = &ex.packages[&("core".to_owned(), Version::new(1, 1, 0))];
    assert_eq!(
        text(StepPhase::Rollback, "ROLLBACK/001.views.sql"),
        script(&drifted, "ROLLBACK/001.views.sql")
    );
    assert_eq!(
        text(StepPhase::Install, "INSTALL/001.views.sql"),
        script(published, "INSTALL/001.views.sql")
    );
    assert_eq!(plan.packages["core"].checksum, published.checksum);
    check_rules(&plan).unwrap();
}

/// Drift in the data model (an UPGRADE script) is beyond a reinstall, which runs only
/// ROLLBACK and INSTALL: the target would record as run an UPGRADE script that never ran.
#[test]
fn a_reinstall_refuses_drift_in_the_data_model() {
    let ex = examples(Platform::Sqlite);
    let mut state = state_at(&ex, "2026.1.toml", Platform::Sqlite);
    let path = "UPGRADE/002.index_tenant_name.sql";
    let drifted = drifted_core(Platform::Sqlite, path);
    state.record(&drifted, BTreeMap::new(), None, false, None);
    let reinstall = Options {
        reinstall: BTreeSet::from(["core".to_owned()]),
        ..options()
    };
    let err = plan_for(&ex, &release("2026.1.toml"), &state, &reinstall).unwrap_err();
    assert!(
        matches!(
            &err,
            plan::PlanningError::DataModelDrift { package, files, .. }
                if package == "core" && files.changed == [path]
        ),
        "{err:?}"
    );
}

#[test]
fn an_edited_copy_of_a_package_the_plan_changes_is_refused() {
    let ex = examples(Platform::Sqlite);
    let mut state = state_at(&ex, "2026.1.toml", Platform::Sqlite);
    // 2026.2 upgrades core, so its ROLLBACK scripts run from the target's copy.
    let checksum = state.packages["core"]
        .scripts
        .iter()
        .find(|(path, _)| path.starts_with("ROLLBACK/"))
        .map(|(_, checksum)| checksum.clone())
        .unwrap();
    state
        .texts
        .insert(checksum, "DROP TABLE core_customer;\n".to_owned());
    let err = plan_for(&ex, &release("2026.2.toml"), &state, &options()).unwrap_err();
    assert!(
        matches!(
            &err,
            plan::PlanningError::State(dbpm::state::StateError::EditedText { package, path, .. })
                if package == "core" && path.starts_with("ROLLBACK/")
        ),
        "{err:?}"
    );
}

#[test]
fn reinstall_dependents_recreates_their_code() {
    let ex = examples(Platform::Sqlite);
    let state = state_at(&ex, "2026.1.toml", Platform::Sqlite);
    let core_only =
        parse_release(&SourceFile::new("r.toml", "[packages]\ncore = \"1.1.0\"\n")).unwrap();
    let opts = Options {
        reinstall: BTreeSet::from(["core".to_owned()]),
        reinstall_dependents: true,
        ..options()
    };
    let plan = plan_for(&ex, &core_only, &state, &opts).unwrap();
    assert_eq!(plan.actions["core"].action, ActionKind::Reinstall);
    assert_eq!(plan.actions["auth"].action, ActionKind::Reinstall);
    assert_eq!(plan.actions["billing"].action, ActionKind::Reinstall);
    check_rules(&plan).unwrap();
}

/// Dependents at any depth: reporting requires billing, which requires auth; reinstalling
/// auth's code re-creates billing's, and so reporting's too (it reinstalled billing only).
#[test]
fn reinstall_dependents_reaches_dependents_of_dependents() {
    let ex = examples(Platform::Sqlite);
    let state = state_at(&ex, "2026.2.toml", Platform::Sqlite);
    let opts = Options {
        reinstall: BTreeSet::from(["auth".to_owned()]),
        reinstall_dependents: true,
        ..options()
    };
    let plan = plan_for(&ex, &release("2026.2.toml"), &state, &opts).unwrap();
    assert_eq!(plan.actions["auth"].action, ActionKind::Reinstall);
    assert_eq!(plan.actions["billing"].action, ActionKind::Reinstall);
    assert_eq!(plan.actions["reporting"].action, ActionKind::Reinstall);
    assert_eq!(plan.actions["core"].action, ActionKind::Unchanged);
    check_rules(&plan).unwrap();
}

#[test]
fn a_plan_edited_by_hand_is_refused() {
    let plans = scenarios(Platform::Sqlite);
    let json = plans[0].1.to_json();
    let edited_text = json.replacen("CREATE TABLE", "DROP TABLE", 1);
    insta::assert_snapshot!(
        "edited_script",
        Plan::from_json("plan.json", &edited_text)
            .unwrap_err()
            .to_string()
    );
    // An edit to any part the plan's hash is made of (format 4 hashes them apart).
    let value: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert!(value["walked"].as_object().is_some_and(|w| !w.is_empty()));
    type Edit = fn(&mut serde_json::Value);
    let edits: [(&str, Edit); 5] = [
        ("a step", |plan| {
            let flipped = !plan["steps"][0]["transactional"].as_bool().unwrap();
            plan["steps"][0]["transactional"] = flipped.into();
        }),
        ("a compensation", |plan| {
            let flipped = !plan["compensations"][0]["idempotent"].as_bool().unwrap();
            plan["compensations"][0]["idempotent"] = flipped.into();
        }),
        ("a walked version", |plan| {
            let walked = plan["walked"].as_object_mut().unwrap();
            let first = walked.values_mut().next().unwrap();
            first[0]["manifest"] = "[package]\nname = \"edited\"\n".into();
        }),
        ("an action", |plan| {
            let actions = plan["actions"].as_object_mut().unwrap();
            actions.values_mut().next().unwrap()["reason"] = "edited".into();
        }),
        ("an input", |plan| {
            plan["inputs"]["release"] = dbpm::package::Checksum::of_text("edited")
                .to_string()
                .into();
        }),
    ];
    for (part, edit) in edits {
        let mut edited = value.clone();
        edit(&mut edited);
        let text = serde_json::to_string_pretty(&edited).unwrap();
        let err = Plan::from_json("plan.json", &text).unwrap_err().to_string();
        assert!(
            err.contains("was changed after it was made"),
            "{part}: {err}"
        );
    }
}

/// A script's line ends changed to `\r` keep its checksum, which reads every line end as
/// `\n`: a plan of format 4, whose hash counts texts through their checksums, refuses them.
/// (SQLite read the whole script after a `--` comment as that comment, and ran nothing.)
#[test]
fn a_script_with_edited_line_ends_is_refused() {
    let plans = scenarios(Platform::Sqlite);
    let plan = &plans[0].1;
    let (checksum, text) = plan
        .scripts
        .iter()
        .find(|(_, text)| text.contains("--") && text.contains('\n'))
        .unwrap();
    let mut value: serde_json::Value = serde_json::from_str(&plan.to_json()).unwrap();
    value["scripts"][checksum.as_str()] = text.replace('\n', "\r").into();
    let edited = serde_json::to_string_pretty(&value).unwrap();
    let err = Plan::from_json("plan.json", &edited)
        .unwrap_err()
        .to_string();
    assert!(err.contains("its line ends were changed"), "{err}");
}

#[test]
fn a_version_the_target_kept_is_chosen_only_when_the_repository_cannot_satisfy() {
    let ex = examples(Platform::Sqlite);
    let kept: Index = [IndexEntry {
        name: "core".to_owned(),
        version: Version::new(1, 3, 0),
        platform: Platform::Sqlite,
        checksum: dbpm::package::Checksum::of_text("kept by the target"),
        prerequisites: BTreeMap::new(),
        edges: vec![dbpm::repository::Edge {
            from: dbpm::package::Origin::Version(Version::new(1, 2, 0)),
            scripts: 1,
            downgrade_scripts: 1,
            irreversible: Vec::new(),
        }],
    }]
    .into_iter()
    .collect();
    let wanting = |req: &str| {
        parse_release(&SourceFile::new(
            "r.toml",
            format!("[packages]\ncore = \"{req}\"\n"),
        ))
        .unwrap()
    };
    let state = empty(Platform::Sqlite);
    let chosen = |req: &str| {
        plan::decide(&wanting(req), &state, &ex.index, &kept, &options())
            .unwrap()
            .packages["core"]
            .to
            .clone()
    };
    assert_eq!(chosen("^1"), Some(Version::new(1, 2, 0)));
    assert_eq!(chosen("1.3.0"), Some(Version::new(1, 3, 0)));
}

#[test]
fn plans_of_the_previous_format_still_load_and_newer_ones_are_refused() {
    let plans = scenarios(Platform::Sqlite);
    let (_, upgrade) = &plans[1];
    assert!(upgrade.walked.is_empty());
    let mut previous = upgrade.clone();
    previous.format_version = dbpm::plan::model::OLDEST_FORMAT;
    let previous = previous.seal();
    assert_eq!(
        Plan::from_json("old.json", &previous.to_json()).unwrap(),
        previous
    );
    let mut newer = upgrade.clone();
    newer.format_version = dbpm::plan::model::FORMAT_VERSION + 1;
    let err = Plan::from_json("new.json", &newer.seal().to_json()).unwrap_err();
    assert!(matches!(err, plan::PlanError::Format { .. }), "{err:?}");
}

/// QA: JSON without a format (`{}`, a package's metadata) was called "a plan of format 0",
/// with the help to plan again with this dbpm. It is no plan at all.
#[test]
fn json_without_a_format_is_not_a_plan_of_another_format() {
    for text in ["{}\n", "{\"name\": \"billing\", \"version\": \"1.0.0\"}\n"] {
        let err = Plan::from_json("other.json", text).unwrap_err();
        assert!(matches!(err, plan::PlanError::Unreadable { .. }), "{err:?}");
        assert!(err.to_string().contains("is not a dbpm plan"), "{err}");
    }
}

#[test]
fn plan_files_written_in_earlier_formats_load_with_their_own_hash() {
    // Format 2 hashed the compact JSON text; format 3 the whole plan in one binary encoding,
    // fields by name.
    for (format, path) in [
        (2, "tests/fixtures/plans/format-2-upgrade.json"),
        (3, "tests/fixtures/plans/format-3-upgrade.json"),
    ] {
        let text = fs_err::read_to_string(path).unwrap();
        let plan = Plan::from_json(path, &text).unwrap();
        assert_eq!(plan.format_version, format);
        assert!(!plan.steps.is_empty());
        let edited = text.replacen("\"reason\": \"", "\"reason\": \"edited: ", 1);
        let err = Plan::from_json(path, &edited).unwrap_err();
        assert!(matches!(err, plan::PlanError::Tampered { .. }), "{err:?}");
    }
}

#[test]
fn a_plan_that_is_not_json_is_located_by_line_and_column() {
    let plans = scenarios(Platform::Sqlite);
    let json = plans[0].1.to_json();
    // A merge conflict left in a committed plan.
    let broken = json.replacen("  \"platform\"", "<<<<<<< HEAD\n  \"platform\"", 1);
    let err = Plan::from_json("plans/prod.json", &broken).unwrap_err();
    let plan::PlanError::Unreadable {
        line, column, span, ..
    } = &err
    else {
        panic!("{err:?}");
    };
    assert_eq!((*line, *column), (4, 1), "{err}");
    assert!(broken[span.offset()..].starts_with("<<<<<<<"), "{err}");
}

mod generated {
    //! Property test: plans over generated package sets and installed states.

    use super::*;
    use dbpm::package::source::FileTree;
    use proptest::prelude::*;

    /// A package set: for each package, its versions (1.0.0, 2.0.0, ...) and, per version,
    /// the prerequisites on lower-numbered packages (with a major-version requirement).
    #[derive(Debug, Clone)]
    struct World {
        packages: Vec<Vec<Vec<(usize, u64)>>>,
    }

    fn world() -> impl Strategy<Value = World> {
        (2usize..5)
            .prop_flat_map(|n| {
                let per_package: Vec<_> = (0..n)
                    .map(|i| {
                        prop::collection::vec(
                            prop::collection::vec((0..i.max(1), 1u64..3), 0..=i.min(2)),
                            1..4,
                        )
                    })
                    .collect();
                per_package
            })
            .prop_map(|packages| World {
                packages: packages
                    .into_iter()
                    .enumerate()
                    .map(|(i, versions)| {
                        versions
                            .into_iter()
                            .map(|prereqs| {
                                let mut p: Vec<(usize, u64)> =
                                    prereqs.into_iter().filter(|(q, _)| *q < i).collect();
                                p.sort();
                                p.dedup_by_key(|(q, _)| *q);
                                p
                            })
                            .collect()
                    })
                    .collect(),
            })
    }

    fn build(world: &World) -> Examples {
        let mut index = Index::new();
        let mut packages = BTreeMap::new();
        for (i, versions) in world.packages.iter().enumerate() {
            for (v, prereqs) in versions.iter().enumerate() {
                let name = format!("p{i}");
                let version = format!("{}.0.0", v + 1);
                let from = if v == 0 {
                    String::new()
                } else {
                    format!("from = \"{v}.0.0\"\n")
                };
                let mut manifest = format!("[package]\nname = \"{name}\"\nversion = \"{version}\"\nplatforms = [\"sqlite\"]\n{from}\n[prerequisites]\n");
                for (q, major) in prereqs {
                    manifest.push_str(&format!("p{q} = \"^{major}\"\n"));
                }
                let mut files = BTreeMap::new();
                files.insert("dbpm.toml".to_owned(), manifest.into_bytes());
                for (path, text) in [
                    ("UPGRADE/001.a.sql", "select 1;"),
                    ("UPGRADE/002.b.sql", "select 2;"),
                    ("UPGRADE/002.c.sql", "select 3;"),
                    ("DOWNGRADE/001.a.sql", "select 4;"),
                    ("DOWNGRADE/002.b.sql", "select 5;"),
                    ("DOWNGRADE/002.c.sql", "select 6;"),
                    ("INSTALL/001.code.sql", "select 7;"),
                    ("ROLLBACK/001.code.sql", "select 8;"),
                    ("VERIFY/001.check.sql", "select 9;"),
                ] {
                    files.insert(
                        path.to_owned(),
                        format!("-- {name} {version}\n{text}\n").into_bytes(),
                    );
                }
                let tree = FileTree {
                    root: format!("{name}/{version}").into(),
                    files,
                    problems: Vec::new(),
                };
                let package = dbpm::package::validate(&tree)
                    .unwrap()
                    .for_platform(Platform::Sqlite)
                    .unwrap();
                index.insert_if_absent(IndexEntry::of(&package));
                packages.insert((name, package.manifest.version.clone()), package);
            }
        }
        Examples { index, packages }
    }

    fn release_of(wanted: &[(usize, u64)]) -> Release {
        let mut text = String::from("[packages]\n");
        for (i, major) in wanted {
            text.push_str(&format!("p{i} = \"^{major}\"\n"));
        }
        parse_release(&SourceFile::new("r.toml", text)).unwrap()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        #[test]
        fn plans_keep_the_ordering_rules(
            world in world(),
            first in prop::collection::vec((0usize..5, 1u64..4), 0..4),
            second in prop::collection::vec((0usize..5, 1u64..4), 0..4),
            prune in any::<bool>(),
        ) {
            let ex = build(&world);
            let keep = |wanted: Vec<(usize, u64)>| -> Vec<(usize, u64)> {
                let mut w: Vec<_> = wanted.into_iter().filter(|(i, _)| *i < world.packages.len()).collect();
                w.sort();
                w.dedup_by_key(|(i, _)| *i);
                w
            };
            // Reach a first state by planning from nothing (when that release resolves).
            let start = match plan_for(&ex, &release_of(&keep(first)), &empty(Platform::Sqlite), &options()) {
                Ok(plan) => {
                    check_rules(&plan).map_err(TestCaseError::fail)?;
                    plan.resulting_state(&empty(Platform::Sqlite), None, None)
                }
                Err(_) => empty(Platform::Sqlite),
            };
            let opts = Options { prune, ..options() };
            let release = release_of(&keep(second));
            if let Ok(plan) = plan_for(&ex, &release, &start, &opts) {
                check_rules(&plan).map_err(TestCaseError::fail)?;
                let again = plan_for(&ex, &release, &start, &opts).unwrap();
                prop_assert_eq!(plan.to_json(), again.to_json());
            }
        }
    }
}

mod through_the_binary {
    //! `dbpm plan` against real (empty) databases and state files, `--detailed-exitcode` and
    //! `--check`.

    use super::common::db::TestDb;
    use super::common::{transcript, TestContext};
    use super::*;

    fn plan_args(ctx: &TestContext, release: &str, source: &[&str], out: &str) -> Vec<String> {
        plan_args_from(ctx, release, "examples/packages", source, out)
    }

    /// `dbpm plan` of an example release from `repo`.
    fn plan_args_from(
        ctx: &TestContext,
        release: &str,
        repo: &str,
        source: &[&str],
        out: &str,
    ) -> Vec<String> {
        let mut args = vec![
            "plan".to_owned(),
            "--release".to_owned(),
            format!("examples/releases/{release}"),
            "--repo".to_owned(),
            repo.to_owned(),
            "--target-label".to_owned(),
            "example".to_owned(),
            "--out".to_owned(),
            ctx.path(out).display().to_string(),
        ];
        args.extend(source.iter().map(|s| (*s).to_owned()));
        args
    }

    /// A plan that cannot be written (its folder is missing) is an error naming the file.
    #[test]
    fn a_plan_that_cannot_be_written_names_the_file() {
        let ctx = TestContext::new();
        let state = "tests/fixtures/states/empty-sqlite.json";
        let output = ctx
            .dbpm()
            .args(plan_args(
                &ctx,
                "2026.2.toml",
                &["--state", state],
                "gone/plan.json",
            ))
            .output()
            .unwrap();
        let text = transcript(&output, ctx.temp.path());
        assert_eq!(output.status.code(), Some(1), "{text}");
        assert!(text.contains("dbpm::plan::write"), "{text}");
        assert!(text.contains("failed to write the plan to `"), "{text}");
        assert!(text.contains("gone/plan.json`"), "{text}");
    }

    #[test]
    fn plans_from_an_empty_database_and_from_its_state_file_are_identical() {
        for platform in Platform::ALL {
            let ctx = TestContext::new();
            let db = TestDb::new(platform);
            let export = ctx.run(&[
                "state",
                "export",
                "--db",
                &db.url,
                "--out",
                ctx.path("state.json").to_str().unwrap(),
            ]);
            assert!(
                export.status.success(),
                "{}",
                transcript(&export, ctx.temp.path())
            );
            let from_db = ctx
                .dbpm()
                .args(plan_args(&ctx, "2026.2.toml", &["--db", &db.url], "a.json"))
                .output()
                .unwrap();
            assert!(
                from_db.status.success(),
                "{platform}: {}",
                transcript(&from_db, ctx.temp.path())
            );
            let state_path = ctx.path("state.json").display().to_string();
            let from_file = ctx
                .dbpm()
                .args(plan_args(
                    &ctx,
                    "2026.2.toml",
                    &["--state", &state_path],
                    "b.json",
                ))
                .output()
                .unwrap();
            assert!(
                from_file.status.success(),
                "{platform}: {}",
                transcript(&from_file, ctx.temp.path())
            );
            let a = fs_err::read_to_string(ctx.path("a.json")).unwrap();
            let b = fs_err::read_to_string(ctx.path("b.json")).unwrap();
            assert_eq!(a, b, "{platform}");
            let plan = Plan::from_json("a.json", &a).unwrap();
            assert_eq!(plan.platform, platform);
            check_rules(&plan).unwrap();
            // Planning never writes to the target (nor creates a SQLite file).
            if platform == Platform::Sqlite {
                assert!(
                    !db.sqlite_file().exists(),
                    "planning created the SQLite file"
                );
            } else {
                let tables = tokio::runtime::Runtime::new()
                    .unwrap()
                    .block_on(db.dbpm_tables());
                assert!(tables.is_empty(), "{platform}: planning created {tables:?}");
            }
        }
    }

    /// Runs dbpm with `args`, which must succeed.
    fn run_ok(ctx: &TestContext, args: &[String]) {
        let output = ctx.dbpm().args(args).output().unwrap();
        assert!(
            output.status.success(),
            "{args:?}: {}",
            transcript(&output, ctx.temp.path())
        );
    }

    /// `dbpm apply PLAN --db URL`, which must succeed.
    fn apply_ok(ctx: &TestContext, plan: &str, url: &str) {
        run_ok(ctx, &["apply", plan, "--db", url].map(str::to_owned));
    }

    #[test]
    fn a_plan_back_to_an_earlier_release_needs_no_repository() {
        let ctx = TestContext::new();
        let db = TestDb::sqlite();
        let run = |args: &[String]| run_ok(&ctx, args);
        for (release, out) in [("2026.1.toml", "one.json"), ("2026.2.toml", "two.json")] {
            run(&plan_args(&ctx, release, &["--db", &db.url], out));
            apply_ok(&ctx, &ctx.path(out).display().to_string(), &db.url);
        }
        // Back to 2026.1: its versions come from the target's recorded runs.
        let with_repo = plan_args(&ctx, "2026.1.toml", &["--db", &db.url, "--prune"], "a.json");
        run(&with_repo);
        let empty = ctx.path("empty-repo");
        fs_err::create_dir_all(&empty).unwrap();
        run(&plan_args_from(
            &ctx,
            "2026.1.toml",
            &empty.display().to_string(),
            &["--db", &db.url, "--prune"],
            "b.json",
        ));
        let a = fs_err::read_to_string(ctx.path("a.json")).unwrap();
        let b = fs_err::read_to_string(ctx.path("b.json")).unwrap();
        assert_eq!(a, b);
        let plan = Plan::from_json("b.json", &b).unwrap();
        assert!(plan
            .actions
            .values()
            .any(|a| a.action == ActionKind::Downgrade));
    }

    #[test]
    fn a_target_keeps_the_versions_a_path_walked_through() {
        for older_layout in [false, true] {
            walk_back_without_the_repository(older_layout);
        }
    }

    /// A fresh install walks core, auth and billing through their 1.0.0; removing them again
    /// walks back through 1.0.0, which only the target still has. Its run records name the
    /// scripts and the target keeps their texts; with `older_layout`, the run's record is
    /// rewritten as state layout 2 wrote it (texts inline) and the walked texts are gone from
    /// the kept ones, as a target of layout 2 has them.
    fn walk_back_without_the_repository(older_layout: bool) {
        let ctx = TestContext::new();
        let db = TestDb::sqlite();
        let run = |args: &[String]| run_ok(&ctx, args);
        run(&plan_args(
            &ctx,
            "2026.2.toml",
            &["--db", &db.url],
            "in.json",
        ));
        let fresh = Plan::from_json(
            "in.json",
            &fs_err::read_to_string(ctx.path("in.json")).unwrap(),
        )
        .unwrap();
        assert!(
            fresh.walked.contains_key("core"),
            "{:?}",
            fresh.walked.keys()
        );
        apply_ok(&ctx, &ctx.path("in.json").display().to_string(), &db.url);
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let records = runtime.block_on(
            db.texts("SELECT installed_before || char(10) || installed_after FROM dbpm_runs"),
        );
        let [record] = records.as_slice() else {
            panic!("{records:?}")
        };
        let (before, after) = record.split_once('\n').unwrap();
        for recorded in [before, after] {
            assert!(!recorded.contains("\"texts\""), "{recorded}");
        }
        assert!(after.contains("\"walked\""), "{after}");
        if older_layout {
            let mut inline: serde_json::Value = serde_json::from_str(after).unwrap();
            inline["texts"] = fresh
                .scripts
                .iter()
                .map(|(checksum, text)| (checksum.to_string(), text.to_string().into()))
                .collect::<serde_json::Map<_, _>>()
                .into();
            runtime.block_on(db.execute(&format!(
                "UPDATE dbpm_runs SET installed_after = '{}'",
                inline.to_string().replace('\'', "''")
            )));
            runtime.block_on(db.execute(
                "DELETE FROM dbpm_script_texts
                 WHERE checksum NOT IN (SELECT checksum FROM dbpm_installed_scripts)",
            ));
        }
        fs_err::write(ctx.path("none.toml"), "[packages]\n").unwrap();
        let empty = ctx.path("empty-repo");
        fs_err::create_dir_all(&empty).unwrap();
        let out = ctx.path("out.json").display().to_string();
        run(&[
            "plan".to_owned(),
            "--release".to_owned(),
            ctx.path("none.toml").display().to_string(),
            "--repo".to_owned(),
            empty.display().to_string(),
            "--db".to_owned(),
            db.url.clone(),
            "--prune".to_owned(),
            "--out".to_owned(),
            out.clone(),
        ]);
        apply_ok(&ctx, &out, &db.url);
        let state = runtime
            .block_on(
                dbpm::db::target::Target::new(db.url.parse().unwrap(), None)
                    .unwrap()
                    .read_state(),
            )
            .unwrap();
        assert!(state.packages.is_empty(), "{:?}", state.packages.keys());
    }

    #[test]
    fn detailed_exitcode_and_check() {
        let ctx = TestContext::new();
        let db = TestDb::sqlite();
        let mut args = plan_args(
            &ctx,
            "2026.2.toml",
            &["--db", &db.url, "--detailed-exitcode"],
            "p.json",
        );
        let changes = ctx.dbpm().args(&args).output().unwrap();
        assert_eq!(
            changes.status.code(),
            Some(2),
            "{}",
            transcript(&changes, ctx.temp.path())
        );
        // With `--out`, JSON output says where the plan went and what it holds.
        let written = ctx
            .dbpm()
            .args(&args)
            .args(["--output", "json"])
            .output()
            .unwrap();
        let summary: serde_json::Value = serde_json::from_slice(&written.stdout)
            .unwrap_or_else(|err| panic!("{err}: {}", transcript(&written, ctx.temp.path())));
        assert_eq!(summary["changes"], true);
        assert!(summary["path"].as_str().unwrap().ends_with("p.json"));
        assert!(summary["hash"].as_str().unwrap().starts_with("sha256:"));
        assert!(summary["steps"].as_u64().unwrap() > 0);
        // The committed plan of the same inputs is up to date; an edited one is not.
        args.retain(|a| a != "--detailed-exitcode");
        let pos = args.iter().position(|a| a == "--out").unwrap();
        args.drain(pos..pos + 2);
        let plan_path = ctx.path("p.json").display().to_string();
        let mut check = args.clone();
        check.extend(["--check".to_owned(), plan_path.clone()]);
        let ok = ctx.dbpm().args(&check).output().unwrap();
        assert_eq!(
            ok.status.code(),
            Some(0),
            "{}",
            transcript(&ok, ctx.temp.path())
        );
        let ok = ctx
            .dbpm()
            .args(&check)
            .args(["--output", "json"])
            .output()
            .unwrap();
        let found: serde_json::Value = serde_json::from_slice(&ok.stdout)
            .unwrap_or_else(|err| panic!("{err}: {}", transcript(&ok, ctx.temp.path())));
        assert_eq!(found["up_to_date"], true);
        let original = fs_err::read_to_string(&plan_path).unwrap();
        let edited = original.replacen(
            "\"reason\": \"the release wants ^2\"",
            "\"reason\": \"edited\"",
            1,
        );
        fs_err::write(&plan_path, edited).unwrap();
        let stale = ctx.dbpm().args(&check).output().unwrap();
        assert_eq!(stale.status.code(), Some(1));
        let text = transcript(&stale, ctx.temp.path());
        assert!(
            text.contains("-      \"reason\": \"edited\"")
                && text.contains("+      \"reason\": \"the release wants ^2\""),
            "{text}"
        );
        assert!(text.contains("is out of date"), "{text}");
        // With `--output json`, one document on stdout, the diff in it.
        let stale = ctx
            .dbpm()
            .args(&check)
            .args(["--output", "json"])
            .output()
            .unwrap();
        assert_eq!(stale.status.code(), Some(1));
        let found: serde_json::Value = serde_json::from_slice(&stale.stdout)
            .unwrap_or_else(|err| panic!("{err}: {}", transcript(&stale, ctx.temp.path())));
        assert_eq!(found["up_to_date"], false);
        assert!(found["diff"]
            .as_str()
            .unwrap()
            .contains("\"reason\": \"edited\""));

        // A plan committed by an older dbpm is out of date, and the message says why.
        let mut older = Plan::from_json(&plan_path, &original).unwrap();
        older.format_version = 2;
        fs_err::write(&plan_path, older.seal().to_json()).unwrap();
        let older = ctx.dbpm().args(&check).output().unwrap();
        assert_eq!(older.status.code(), Some(1));
        let text = transcript(&older, ctx.temp.path());
        assert!(
            text.contains("-  \"format_version\": 2,")
                && text.contains(&format!(
                    "it is a plan of format 2; this dbpm writes format {}",
                    dbpm::plan::model::FORMAT_VERSION
                )),
            "{text}"
        );
    }

    #[test]
    fn check_takes_a_crlf_checkout_as_up_to_date_and_refuses_out() {
        let ctx = TestContext::new();
        let state = "tests/fixtures/states/empty-sqlite.json";
        let args = plan_args(&ctx, "2026.2.toml", &["--state", state], "p.json");
        run_ok(&ctx, &args);
        // git with `core.autocrlf` checks the committed plan out with CRLF line endings.
        let plan_path = ctx.path("p.json").display().to_string();
        let lf = fs_err::read_to_string(&plan_path).unwrap();
        let crlf_path = ctx.path("crlf.json").display().to_string();
        fs_err::write(&crlf_path, lf.replace('\n', "\r\n")).unwrap();
        let mut check = args.clone();
        let pos = check.iter().position(|a| a == "--out").unwrap();
        check.drain(pos..pos + 2);
        check.extend(["--check".to_owned(), crlf_path]);
        let output = ctx.dbpm().args(&check).output().unwrap();
        let text = transcript(&output, ctx.temp.path());
        assert_eq!(output.status.code(), Some(0), "{text}");
        assert!(text.contains("is up to date"), "{text}");
        // `--check` compares and writes nothing, so `--out` beside it is refused rather than
        // silently ignored.
        let both = ctx
            .dbpm()
            .args(&check)
            .args(["--out", ctx.path("fresh.json").to_str().unwrap()])
            .output()
            .unwrap();
        let text = transcript(&both, ctx.temp.path());
        assert_eq!(both.status.code(), Some(1), "{text}");
        assert!(text.contains("cannot be used with"), "{text}");
        assert!(!ctx.path("fresh.json").exists());
    }

    /// QA: a committed plan reformatted on save (compact JSON, as `jq -c` writes it) kept
    /// its hash and applied, but `--check` called it out of date: CI failed on every PR.
    #[test]
    fn check_takes_a_reformatted_plan_as_up_to_date() {
        let ctx = TestContext::new();
        let state = "tests/fixtures/states/empty-sqlite.json";
        let args = plan_args(&ctx, "2026.2.toml", &["--state", state], "p.json");
        run_ok(&ctx, &args);
        let plan_path = ctx.path("p.json");
        let plan: serde_json::Value =
            serde_json::from_str(&fs_err::read_to_string(&plan_path).unwrap()).unwrap();
        fs_err::write(&plan_path, serde_json::to_string(&plan).unwrap()).unwrap();
        let mut check = args.clone();
        let pos = check.iter().position(|a| a == "--out").unwrap();
        check.drain(pos..pos + 2);
        check.extend(["--check".to_owned(), plan_path.display().to_string()]);
        let output = ctx.dbpm().args(&check).output().unwrap();
        let text = transcript(&output, ctx.temp.path());
        assert_eq!(output.status.code(), Some(0), "{text}");
        assert!(text.contains("is up to date"), "{text}");
    }

    #[test]
    fn a_conflicting_release_is_explained() {
        let ctx = TestContext::new();
        fs_err::write(
            ctx.path("r.toml"),
            "[packages]\nreporting = \"1.0.0\"\ncore = \"1.1.0\"\n",
        )
        .unwrap();
        let output = ctx.run(&[
            "plan",
            "--release",
            ctx.path("r.toml").to_str().unwrap(),
            "--repo",
            "examples/packages",
            "--state",
            "tests/fixtures/states/empty-sqlite.json",
        ]);
        assert_eq!(output.status.code(), Some(1));
        insta::assert_snapshot!(transcript(&output, ctx.temp.path()));
    }

    /// With `--output json`, a failing command's document is its error: the diagnostic with
    /// its code, file and labelled place, as on the terminal.
    #[test]
    fn an_error_under_json_output_is_a_json_document() {
        let ctx = TestContext::new();
        fs_err::write(ctx.path("r.toml"), "[packages]\ncore = \"one point one\"\n").unwrap();
        let output = ctx.run(&[
            "plan",
            "--release",
            ctx.path("r.toml").to_str().unwrap(),
            "--repo",
            "examples/packages",
            "--state",
            "tests/fixtures/states/empty-sqlite.json",
            "--output",
            "json",
        ]);
        let text = transcript(&output, ctx.temp.path());
        assert_eq!(output.status.code(), Some(1), "{text}");
        let document: serde_json::Value =
            serde_json::from_slice(&output.stdout).unwrap_or_else(|err| panic!("{err}: {text}"));
        assert_eq!(document["outcome"], "error", "{text}");
        // The release's problems, each a diagnostic of its own.
        let problem = &document["error"]["related"][0];
        assert_eq!(problem["code"], "dbpm::release::bad_requirement", "{text}");
        let label = &problem["labels"][0];
        assert!(
            label["file"].as_str().unwrap().ends_with("r.toml"),
            "{text}"
        );
        assert_eq!(
            (&label["line"], &label["column"]),
            (&2.into(), &8.into()),
            "{text}"
        );
        // People still read it on stderr.
        assert!(
            String::from_utf8_lossy(&output.stderr).contains("one point one"),
            "{text}"
        );
    }

    /// A command line that does not parse, under `--output json`, is a JSON error document
    /// too (QA: stdout was empty, only clap's text on stderr); without it, stdout stays empty.
    #[test]
    fn a_usage_error_under_json_output_is_a_json_document() {
        let ctx = TestContext::new();
        for json in [&["--output", "json"][..], &["--output=json"][..]] {
            let output = ctx
                .dbpm()
                .args(json)
                .args(["affected", "--repo", "x", "core"])
                .output()
                .unwrap();
            let text = transcript(&output, ctx.temp.path());
            assert_eq!(output.status.code(), Some(1), "{text}");
            let document: serde_json::Value = serde_json::from_slice(&output.stdout)
                .unwrap_or_else(|err| panic!("{err}: {text}"));
            assert_eq!(document["outcome"], "error", "{text}");
            assert_eq!(document["error"]["code"], "dbpm::usage", "{text}");
            assert_eq!(
                document["error"]["message"], "unexpected argument '--repo' found",
                "{text}"
            );
            assert!(String::from_utf8_lossy(&output.stderr).contains("Usage:"));
        }
        // What is missing is part of the message.
        let missing = ctx
            .dbpm()
            .args(["--output=json", "status"])
            .output()
            .unwrap();
        let document: serde_json::Value = serde_json::from_slice(&missing.stdout).unwrap();
        let message = document["error"]["message"].as_str().unwrap();
        assert!(message.contains("--db <DB>"), "{message}");
        let text_only = ctx.run(&["affected", "--repo", "x"]);
        assert_eq!(text_only.status.code(), Some(1));
        assert!(text_only.stdout.is_empty());
    }

    /// `plan --target-label 'postgres://app:PW@host/db'` stored the password in the plan; a
    /// state file whose label holds one (the default label) did the same. Neither does now.
    #[test]
    fn a_password_in_the_target_label_stays_out_of_the_plan() {
        let ctx = TestContext::new();
        let state = ctx.path("state.json");
        let text = fs_err::read_to_string(
            super::common::repo_root().join("tests/fixtures/states/empty-sqlite.json"),
        )
        .unwrap()
        .replace(
            "sqlite://ci.db",
            "mysql://root:s3cret@db/app?password=s3cret",
        );
        fs_err::write(&state, text).unwrap();
        let state = state.to_str().unwrap();
        for (label, shown) in [
            (
                Some("postgres://app:s3cret@host/db"),
                "postgres://app:***@host/db",
            ),
            (None, "mysql://root:***@db/app?password=***"),
        ] {
            let mut args = vec![
                "plan",
                "--release",
                "examples/releases/2026.1.toml",
                "--repo",
                "examples/packages",
                "--state",
                state,
                "--output",
                "json",
            ];
            args.extend(
                label
                    .map(|label| ["--target-label", label])
                    .into_iter()
                    .flatten(),
            );
            let output = ctx.run(&args);
            let text = transcript(&output, ctx.temp.path());
            assert!(output.status.success(), "{text}");
            assert!(!text.contains("s3cret"), "{text}");
            let plan =
                Plan::from_json("stdout", &String::from_utf8(output.stdout).unwrap()).unwrap();
            assert_eq!(plan.target, shown);
        }
    }
}
