//! The planner and `dbpm show` on a large estate (the resolver benchmark's repository:
//! 10,000 packages of 10 versions, every version with the upgrade scripts its index entry
//! counts): planning the 2,000-package release into an empty target, a release whose fresh
//! plan has about 10,000 steps, and a 100-package upgrade on a target with the whole release
//! installed; loading and rendering those plans. Goals: under 200 ms to plan, under 100 ms to
//! show a 10,000-step plan. Run with `cargo bench --bench plan`.

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use dbpm::diagnostic::SourceFile;
use dbpm::manifest::Requirement;
use dbpm::package::source::FileTree;
use dbpm::package::{validate, Origin, Package};
use dbpm::plan::{self, render, Options, Plan};
use dbpm::platform::Platform;
use dbpm::repository::{Index, IndexEntry};
use dbpm::resolve::{parse_release, Release};
use dbpm::state::InstalledState;
use semver::Version;

use common::Shape;

const RUNS: usize = 5;

/// The size of a release whose fresh plan has about 10,000 steps.
const SMALL_RELEASE: usize = 10;

/// A package with the scripts its index entry describes (one INSTALL/ROLLBACK pair, and
/// UPGRADE/DOWNGRADE twins for every edge).
fn package_of(entry: &IndexEntry) -> Package {
    let mut files = BTreeMap::new();
    // The first edge is the default one (`UPGRADE/`, from `from`); the others are shortcuts.
    let default = entry.edges.first().map(|e| &e.from);
    let from = match default {
        Some(Origin::Version(v)) => format!("from = \"{v}\"\n"),
        _ => String::new(),
    };
    let mut manifest = format!(
        "[package]\nname = \"{}\"\nversion = \"{}\"\nplatforms = [\"postgres\"]\n{from}\n[prerequisites]\n",
        entry.name, entry.version
    );
    for (name, req) in &entry.prerequisites {
        manifest.push_str(&format!("{name} = \"{req}\"\n"));
    }
    files.insert("dbpm.toml".to_owned(), manifest.into_bytes());
    for edge in &entry.edges {
        let folder = match &edge.from {
            _ if Some(&edge.from) == default => String::new(),
            Origin::Nothing => "@none".to_owned(),
            Origin::Version(v) => format!("@{v}"),
        };
        for n in 1..=edge.scripts {
            let table = format!("{}_{}", entry.name, n);
            files.insert(
                format!("UPGRADE{folder}/{n:03}.step.sql"),
                format!("ALTER TABLE {table} ADD COLUMN c{n} INTEGER;\n").into_bytes(),
            );
            files.insert(
                format!("DOWNGRADE{folder}/{n:03}.step.sql"),
                format!("ALTER TABLE {table} DROP COLUMN IF EXISTS c{n};\n").into_bytes(),
            );
        }
    }
    files.insert(
        "INSTALL/001.code.sql".to_owned(),
        format!(
            "CREATE OR REPLACE VIEW {}_v AS SELECT 1 AS one;\n",
            entry.name
        )
        .into_bytes(),
    );
    files.insert(
        "ROLLBACK/001.code.sql".to_owned(),
        format!("DROP VIEW IF EXISTS {}_v;\n", entry.name).into_bytes(),
    );
    let tree = FileTree {
        root: format!("{}/{}", entry.name, entry.version).into(),
        files,
        problems: Vec::new(),
    };
    validate(&tree)
        .unwrap_or_else(|err| panic!("generated package {}@{}: {err}", entry.name, entry.version))
        .for_platform(Platform::Postgres)
        .unwrap_or_else(|| panic!("postgres"))
}

/// The index rebuilt from real packages, so checksums and edges agree with them.
fn packages_and_index(raw: &Index) -> (BTreeMap<(String, Version), Package>, Index) {
    let mut packages = BTreeMap::new();
    let mut index = Index::new();
    for entry in raw.entries() {
        let package = package_of(entry);
        index.insert_if_absent(IndexEntry::of(&package));
        packages.insert((entry.name.clone(), entry.version.clone()), package);
    }
    (packages, index)
}

fn release(wanted: &BTreeMap<String, Requirement>) -> Release {
    let mut text = String::from("[packages]\n");
    for (name, req) in wanted {
        text.push_str(&format!("{name} = \"{req}\"\n"));
    }
    parse_release(&SourceFile::new("release.toml", text))
        .unwrap_or_else(|err| panic!("release: {err}"))
}

fn time_plan(
    release: &Release,
    state: &InstalledState,
    index: &Index,
    packages: &BTreeMap<(String, Version), Package>,
) -> (Duration, Plan) {
    let options = Options::default();
    let mut times = Vec::new();
    let mut last = None;
    for run in 0..=RUNS {
        let started = Instant::now();
        let decisions = plan::decide(release, state, index, &Index::new(), &options)
            .unwrap_or_else(|err| panic!("decide: {err}"));
        let plan = plan::build(release, state, &decisions, packages, &options)
            .unwrap_or_else(|err| panic!("build: {err}"));
        if run > 0 {
            times.push(started.elapsed());
        }
        last = Some(plan);
    }
    times.sort();
    (
        times[RUNS / 2],
        last.unwrap_or_else(|| unreachable!("at least one run")),
    )
}

/// The median time of loading (verifying the hash and every script) and rendering `plan`.
fn time_show(plan: &Plan, render: fn(&Plan) -> String) -> Duration {
    let json = plan.to_json();
    let mut times = Vec::new();
    for run in 0..=RUNS {
        let started = Instant::now();
        let loaded =
            Plan::from_json("plan.json", &json).unwrap_or_else(|err| panic!("load: {err}"));
        std::hint::black_box(render(&loaded));
        if run > 0 {
            times.push(started.elapsed());
        }
    }
    times.sort();
    times[RUNS / 2]
}

fn main() {
    let shape = Shape {
        packages: 10_000,
        versions: 10,
        prerequisites: 3,
        seed: 42,
    };
    let raw = common::generate_index(&shape);
    let started = Instant::now();
    let (packages, index) = packages_and_index(&raw);
    println!(
        "{} package versions built in {:.1?}",
        packages.len(),
        started.elapsed()
    );
    let empty = InstalledState::empty(Platform::Postgres, "bench");

    // 1. The 2,000-package release into an empty target. Every package walks its upgrade
    // edges from nothing (a squashed baseline where it is cheaper), so the plan is large.
    // 2. A release whose fresh plan has about 10,000 steps.
    let fresh_install = |count: usize| {
        let wanted = common::generate_release(&shape, count, 7);
        let (time, plan) = time_plan(&release(&wanted), &empty, &index, &packages);
        println!(
            "plan {} wanted into an empty target: {} packages, {} steps: median {time:.1?} (goal < 200 ms)",
            wanted.len(),
            plan.actions.len(),
            plan.steps.len(),
        );
        plan
    };
    let fresh = fresh_install(2_000);
    let small = fresh_install(SMALL_RELEASE);

    // 3. Everything installed at the planned versions, except 100 packages one version back.
    let installed = fresh.resulting_state(&empty, None, None);
    let mut behind = installed.clone();
    let mut pinned = BTreeMap::new();
    let mut moved = 0;
    for (name, package) in &installed.packages {
        pinned.insert(name.clone(), Requirement::exact(&package.version));
        let previous = (moved < 100 && package.version.minor > 0)
            .then(|| Version::new(package.version.major, package.version.minor - 1, 0));
        if let Some(older) = previous.and_then(|v| packages.get(&(name.clone(), v))) {
            behind.record(older, BTreeMap::new(), None, false, None);
            moved += 1;
        }
    }
    let upgrade_release = release(&pinned);
    let (upgrade_time, upgrade) = time_plan(&upgrade_release, &behind, &index, &packages);
    let upgrading = upgrade
        .actions
        .values()
        .filter(|a| a.action == plan::ActionKind::Upgrade)
        .count();
    println!(
        "plan a {upgrading}-package upgrade on a target with {} installed: {} steps: median {:.1?} (goal < 200 ms)",
        behind.packages.len(),
        upgrade.steps.len(),
        upgrade_time
    );

    // 4. `dbpm show`: load (verify hash and scripts) and render.
    let text = |plan: &Plan| render::text(plan, false);
    for (plan, goal) in [(&small, " (goal < 100 ms)"), (&fresh, "")] {
        println!(
            "show a {}-step plan ({} KB of JSON): text median {:.1?}{goal}, markdown median {:.1?}, mermaid median {:.1?}",
            plan.steps.len(),
            plan.to_json().len() / 1024,
            time_show(plan, text),
            time_show(plan, render::markdown),
            time_show(plan, render::mermaid),
        );
    }
}
