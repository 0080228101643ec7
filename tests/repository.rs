//! End-to-end runs of `dbpm publish` and `dbpm repo`: a directory repository, a PostgreSQL
//! repository and the source tree they were published from give the same answers; published
//! versions are immutable and a batch is published all or nothing; concurrent publishers lose
//! nothing; layered `--repo`s let the first win; an archive changed behind the index's
//! back is refused; and a `--repo` directory that does not exist, or that holds built
//! archives but no index, is refused, except by `publish`, which starts a repository there.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Output;

use common::db::TestDb;
use common::{example_packages, repo_root, transcript, TestContext};
use dbpm::diagnostic::SourceFile;
use dbpm::platform::Platform;
use dbpm::repository::{Index, Repositories};
use dbpm::resolve::{parse_release, resolve, Request};

/// `dbpm publish --repo REPO DIRS...`.
fn publish(ctx: &TestContext, repo: &str, dirs: &[PathBuf]) -> Output {
    let mut args = vec!["publish".to_owned(), "--repo".to_owned(), repo.to_owned()];
    args.extend(dirs.iter().map(|d| d.display().to_string()));
    ctx.dbpm().args(&args).output().unwrap()
}

/// Publishes and insists that it worked.
fn publish_ok(ctx: &TestContext, repo: &str, dirs: &[PathBuf]) {
    let output = publish(ctx, repo, dirs);
    assert!(
        output.status.success(),
        "publish to {repo}: {}",
        transcript(&output, ctx.temp.path())
    );
}

/// The merged index of one `--repo`, read through the library.
async fn index_of(spec: &str) -> Index {
    let backend = dbpm::ops::repository::open(spec).unwrap();
    Repositories::new(vec![backend])
        .index()
        .await
        .unwrap()
        .index
}

/// `dbpm --output json ARGS`, which must succeed; its stdout.
fn json(ctx: &TestContext, args: &[&str]) -> serde_json::Value {
    let output = ctx
        .dbpm()
        .arg("--output")
        .arg("json")
        .args(args)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{args:?}: {}",
        transcript(&output, ctx.temp.path())
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

/// A copy of a directory tree.
fn copy_dir(from: &Path, to: &Path) {
    fs_err::create_dir_all(to).unwrap();
    for entry in fs_err::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            fs_err::copy(entry.path(), &target).unwrap();
        }
    }
}

/// A copy of `examples/packages/core/1.0.0` with one script changed and the version kept.
fn edited_core_1_0_0(ctx: &TestContext) -> PathBuf {
    let dir = ctx.path("edited/core/1.0.0");
    copy_dir(&repo_root().join("examples/packages/core/1.0.0"), &dir);
    let script = dir.join("INSTALL/001.views.sql");
    let mut text = fs_err::read_to_string(&script).unwrap();
    text.push_str("-- edited after 1.0.0 was published\n");
    fs_err::write(&script, text).unwrap();
    dir
}

/// A copy of `examples/packages/core/1.1.0` at `dir`, its manifest saying `version`.
fn core_1_1_0_as(ctx: &TestContext, dir: &str, version: &str) -> PathBuf {
    let source = ctx.path(dir);
    copy_dir(&repo_root().join("examples/packages/core/1.1.0"), &source);
    let manifest = source.join("dbpm.toml");
    let text = fs_err::read_to_string(&manifest).unwrap();
    let edited = text.replace("version = \"1.1.0\"", &format!("version = \"{version}\""));
    fs_err::write(&manifest, edited).unwrap();
    source
}

/// Every (name, version, platform) in an index.
fn keys(index: &Index) -> BTreeSet<(String, String, Platform)> {
    index
        .entries()
        .map(|e| (e.name.clone(), e.version.to_string(), e.platform))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn published_repositories_resolve_like_the_source_tree() {
    let ctx = TestContext::new();
    let db = TestDb::postgres();
    let dir = ctx.path("repo").display().to_string();
    let tree = repo_root().join("examples/packages").display().to_string();
    let packages = example_packages();
    publish_ok(&ctx, &dir, &packages);
    publish_ok(&ctx, &db.url, &packages);

    let from_tree = index_of(&tree).await;
    let from_dir = index_of(&dir).await;
    let from_db = index_of(&db.url).await;
    assert_eq!(from_tree.len(), packages.len() * Platform::ALL.len());
    assert_eq!(from_dir, from_tree, "directory repository vs source tree");
    assert_eq!(from_db, from_tree, "PostgreSQL repository vs source tree");

    for release_name in ["2026.1", "2026.2"] {
        let path = repo_root().join(format!("examples/releases/{release_name}.toml"));
        let text = fs_err::read_to_string(&path).unwrap();
        let release = parse_release(&SourceFile::new(path, text)).unwrap();
        for platform in Platform::ALL {
            let request = Request::new(platform, release.packages.clone());
            let expected = resolve(&from_tree, &request)
                .unwrap_or_else(|err| panic!("{release_name} on {platform}: {err}"));
            for wanted in release.packages.keys() {
                assert!(
                    expected.packages.contains_key(wanted),
                    "{release_name}: {wanted}"
                );
            }
            for (what, index) in [("directory", &from_dir), ("PostgreSQL", &from_db)] {
                let got = resolve(index, &request).unwrap_or_else(|err| {
                    panic!("{release_name} on {platform} from the {what} repository: {err}")
                });
                assert_eq!(
                    got, expected,
                    "{release_name} on {platform}: the {what} repository resolves differently"
                );
            }
        }
    }

    let listed_dir = json(&ctx, &["repo", "list", "--repo", &dir]);
    let listed_db = json(&ctx, &["repo", "list", "--repo", &db.url]);
    let listed_tree = json(&ctx, &["repo", "list", "--repo", &tree]);
    assert_eq!(listed_dir, listed_db);
    assert_eq!(listed_dir, listed_tree);
    assert_eq!(listed_dir.as_array().unwrap().len(), packages.len());
}

/// Republishing to `repo`: the same bytes change nothing and other bytes under a published
/// version are refused. Returns the refusal, with temporary paths, the database and the
/// checksums replaced by placeholders.
async fn republish(ctx: &TestContext, repo: &str, index_file: Option<&Path>) -> String {
    let core = repo_root().join("examples/packages/core/1.0.0");
    publish_ok(ctx, repo, std::slice::from_ref(&core));
    let before = index_of(repo).await;
    assert_eq!(before.len(), Platform::ALL.len());
    let file_before = index_file.map(|f| fs_err::read(f).unwrap());
    let unchanged_index = |after: &Index, what: &str| {
        assert_eq!(after, &before, "{what} changed the index");
        if let (Some(file), Some(bytes)) = (index_file, &file_before) {
            assert!(
                &fs_err::read(file).unwrap() == bytes,
                "{what} rewrote `index.json`"
            );
        }
    };

    let again = publish(ctx, repo, std::slice::from_ref(&core));
    let text = transcript(&again, ctx.temp.path());
    assert_eq!(again.status.code(), Some(0), "{text}");
    assert_eq!(
        String::from_utf8_lossy(&again.stderr)
            .matches("unchanged")
            .count(),
        Platform::ALL.len(),
        "every platform is reported unchanged: {text}"
    );
    assert!(!text.contains("published"), "{text}");
    unchanged_index(&index_of(repo).await, "republishing the same bytes");

    let edited = edited_core_1_0_0(ctx);
    let refused = publish(ctx, repo, std::slice::from_ref(&edited));
    assert_eq!(
        refused.status.code(),
        Some(1),
        "{}",
        transcript(&refused, ctx.temp.path())
    );
    unchanged_index(&index_of(repo).await, "a refused publish");

    // All or nothing: a new version published beside a conflicting one is not added either.
    let new_version = repo_root().join("examples/packages/core/1.1.0");
    let batch = publish(ctx, repo, &[new_version, edited.clone()]);
    assert_eq!(
        batch.status.code(),
        Some(1),
        "{}",
        transcript(&batch, ctx.temp.path())
    );
    unchanged_index(&index_of(repo).await, "a refused batch");

    let mut text = transcript(&refused, ctx.temp.path()).replace(repo, "[REPO]");
    // The refusal names the files that differ from the published build.
    assert!(text.contains("`INSTALL/001.views.sql` changed"), "{text}");
    for entry in before.entries() {
        text = text.replace(entry.checksum.as_str(), "[PUBLISHED CHECKSUM]");
    }
    for package in dbpm::package::load_dir(&edited).unwrap().packages() {
        text = text.replace(package.checksum.as_str(), "[EDITED CHECKSUM]");
    }
    assert!(!text.contains("sha256:"), "an unexpected checksum: {text}");
    text
}

/// `dbpm build DIR -o OUT`, which must succeed; the archive of `platform` it wrote.
fn built(ctx: &TestContext, dir: &Path, out: &str, platform: Platform) -> PathBuf {
    let out = ctx.path(out);
    let output = ctx
        .dbpm()
        .args([
            "build",
            &dir.display().to_string(),
            "-o",
            &out.display().to_string(),
        ])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        transcript(&output, ctx.temp.path())
    );
    let name = format!("-{platform}.dbpkg");
    fs_err::read_dir(&out)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .find(|path| path.display().to_string().ends_with(&name))
        .unwrap()
}

/// QA: a published version's build for another platform, made later from changed sources,
/// was accepted: `core@1.0.0` then ran other shared scripts on MySQL than on PostgreSQL.
/// Every platform's build of a version comes from the sources first published.
async fn another_platform_from_changed_sources_is_refused(ctx: &TestContext, repo: &str) {
    let core = repo_root().join("examples/packages/core/1.0.0");
    let postgres = built(ctx, &core, "dist", Platform::Postgres);
    publish_ok(ctx, repo, &[postgres]);
    let edited = edited_core_1_0_0(ctx);
    let mysql = built(ctx, &edited, "edited-dist", Platform::Mysql);
    let refused = publish(ctx, repo, std::slice::from_ref(&mysql));
    let text = transcript(&refused, ctx.temp.path());
    assert_eq!(refused.status.code(), Some(1), "{text}");
    assert!(
        text.contains("dbpm::repository::immutable_across_platforms"),
        "{text}"
    );
    assert!(text.contains("`INSTALL/001.views.sql` changed"), "{text}");
    assert_eq!(index_of(repo).await.len(), 1);
    // Built from the published sources, the other platforms are welcome.
    let sqlite = built(ctx, &core, "dist", Platform::Sqlite);
    let mysql = built(ctx, &core, "dist", Platform::Mysql);
    publish_ok(ctx, repo, &[sqlite, mysql]);
    assert_eq!(index_of(repo).await.len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_platform_from_changed_sources_is_refused_by_a_directory() {
    let ctx = TestContext::new();
    let repo = ctx.path("repo").display().to_string();
    another_platform_from_changed_sources_is_refused(&ctx, &repo).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_platform_from_changed_sources_is_refused_by_postgres() {
    let ctx = TestContext::new();
    let db = TestDb::postgres();
    another_platform_from_changed_sources_is_refused(&ctx, &db.url).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn republishing_a_version_to_a_directory_repository() {
    let ctx = TestContext::new();
    let repo = ctx.path("repo");
    let text = republish(
        &ctx,
        &repo.display().to_string(),
        Some(&repo.join("index.json")),
    )
    .await;
    insta::assert_snapshot!(text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn republishing_a_version_to_a_postgres_repository() {
    let ctx = TestContext::new();
    let db = TestDb::postgres();
    let text = republish(&ctx, &db.url, None)
        .await
        .replace(&db.name, "[DB]");
    insta::assert_snapshot!(text);
}

#[test]
fn two_builds_of_one_version_in_one_publish_are_refused() {
    let ctx = TestContext::new();
    let repo = ctx.path("repo").display().to_string();
    let core = repo_root().join("examples/packages/core/1.0.0");
    let edited = edited_core_1_0_0(&ctx);
    let output = publish(&ctx, &repo, &[core, edited]);
    let text = transcript(&output, ctx.temp.path());
    assert_eq!(output.status.code(), Some(1), "{text}");
    assert!(
        text.contains("two different builds of `core@1.0.0`"),
        "{text}"
    );
    assert!(!ctx.path("repo/index.json").exists(), "{text}");
}

/// The example package versions split in two halves for two publishers.
fn halves() -> (Vec<PathBuf>, Vec<PathBuf>) {
    let (even, odd): (Vec<_>, Vec<_>) = example_packages()
        .into_iter()
        .enumerate()
        .partition(|(i, _)| i % 2 == 0);
    let strip = |v: Vec<(usize, PathBuf)>| v.into_iter().map(|(_, p)| p).collect();
    (strip(even), strip(odd))
}

/// Every (name, version, platform) the example packages build to.
fn example_keys() -> BTreeSet<(String, String, Platform)> {
    example_packages()
        .iter()
        .flat_map(|dir| dbpm::package::load_dir(dir).unwrap().packages())
        .map(|p| {
            (
                p.manifest.name.clone(),
                p.manifest.version.to_string(),
                p.platform,
            )
        })
        .collect()
}

/// Two `dbpm publish` processes started at once, each with its half of the examples; both
/// must succeed.
fn publish_concurrently(ctx: &TestContext, repo: &str) {
    let (first, second) = halves();
    let start = |dirs: &[PathBuf]| {
        let mut args = vec!["publish".to_owned(), "--repo".to_owned(), repo.to_owned()];
        args.extend(dirs.iter().map(|d| d.display().to_string()));
        ctx.dbpm()
            .args(&args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let publishers = [start(&first), start(&second)];
    for publisher in publishers {
        let output = publisher.wait_with_output().unwrap();
        assert!(
            output.status.success(),
            "a concurrent publisher failed: {}",
            transcript(&output, ctx.temp.path())
        );
    }
}

#[test]
fn concurrent_publishers_to_a_directory_lose_no_entry() {
    let ctx = TestContext::new();
    let expected = example_keys();
    for round in 0..4 {
        let repo = ctx.path(&format!("repo-{round}"));
        publish_concurrently(&ctx, &repo.display().to_string());
        let text = fs_err::read_to_string(repo.join("index.json")).unwrap();
        let index: serde_json::Value = serde_json::from_str(&text).unwrap_or_else(|err| {
            panic!("round {round}: `index.json` is not JSON ({err}):\n{text}")
        });
        let found: BTreeSet<(String, String, Platform)> = index["packages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                (
                    e["name"].as_str().unwrap().to_owned(),
                    e["version"].as_str().unwrap().to_owned(),
                    e["platform"].as_str().unwrap().parse().unwrap(),
                )
            })
            .collect();
        assert_eq!(found, expected, "round {round}: entries were lost");
        let leftovers: Vec<_> = fs_err::read_dir(&repo)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|name| name.ends_with(".tmp"))
            .collect();
        assert!(
            leftovers.is_empty(),
            "round {round}: {leftovers:?} left behind"
        );
        for (name, version, platform) in &found {
            let archive = repo
                .join("packages")
                .join(name)
                .join(format!("{name}-{version}-{platform}.dbpkg"));
            assert!(archive.is_file(), "round {round}: no {}", archive.display());
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_publishers_to_a_postgres_repository_lose_no_entry() {
    let ctx = TestContext::new();
    let expected = example_keys();
    for round in 0..3 {
        // A fresh database each round, so the publishers also race to create the tables.
        let db = TestDb::postgres();
        publish_concurrently(&ctx, &db.url);
        assert_eq!(
            keys(&index_of(&db.url).await),
            expected,
            "round {round}: entries were lost"
        );
    }
}

#[test]
fn layered_repositories_show_the_union_and_the_first_wins() {
    let ctx = TestContext::new();
    let dir = ctx.path("repo").display().to_string();
    let tree = "examples/packages";
    // The directory repository holds core 1.0.0 with other content than the tree, a core 1.3.0
    // the tree lacks, billing 1.0.0 as in the tree, and lacks every other version.
    let edited = edited_core_1_0_0(&ctx);
    let newer = ctx.path("newer/core/1.3.0");
    copy_dir(&repo_root().join("examples/packages/core/1.2.0"), &newer);
    let manifest = fs_err::read_to_string(newer.join("dbpm.toml")).unwrap();
    assert!(manifest.contains("version = \"1.2.0\""));
    fs_err::write(
        newer.join("dbpm.toml"),
        manifest.replace("version = \"1.2.0\"", "version = \"1.3.0\""),
    )
    .unwrap();
    publish_ok(
        &ctx,
        &dir,
        &[
            edited.clone(),
            newer,
            repo_root().join("examples/packages/billing/1.0.0"),
        ],
    );

    let versions = |listed: serde_json::Value| -> BTreeSet<(String, String)> {
        listed
            .as_array()
            .unwrap()
            .iter()
            .map(|l| {
                (
                    l["name"].as_str().unwrap().to_owned(),
                    l["version"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    };
    let in_dir = versions(json(&ctx, &["repo", "list", "--repo", &dir]));
    let in_tree = versions(json(&ctx, &["repo", "list", "--repo", tree]));
    assert!(!in_dir.contains(&("core".to_owned(), "1.2.0".to_owned())));
    let union: BTreeSet<_> = in_dir.union(&in_tree).cloned().collect();
    assert!(union.len() > in_dir.len() && union.len() > in_tree.len());
    let layered = json(&ctx, &["repo", "list", "--repo", &dir, "--repo", tree]);
    assert_eq!(versions(layered.clone()), union);
    let core_1_0_0 = layered
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["name"] == "core" && l["version"] == "1.0.0")
        .unwrap();
    assert_eq!(core_1_0_0["platforms"].as_array().unwrap().len(), 3);

    let checksum = |package: &str, repos: &[&str]| -> String {
        let mut args = vec!["repo", "show", package, "--platform", "sqlite"];
        for repo in repos {
            args.extend(["--repo", repo]);
        }
        json(&ctx, &args)["entry"]["checksum"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let edited_checksum = dbpm::package::load_dir(&edited)
        .unwrap()
        .packages()
        .into_iter()
        .find(|p| p.platform == Platform::Sqlite)
        .unwrap()
        .checksum
        .to_string();
    let tree_checksum = checksum("core@1.0.0", &[tree]);
    assert_ne!(edited_checksum, tree_checksum);
    assert_eq!(checksum("core@1.0.0", &[&dir, tree]), edited_checksum);
    assert_eq!(checksum("core@1.0.0", &[tree, &dir]), tree_checksum);
    // A version only the second layer has comes from there.
    assert_eq!(
        checksum("core@1.2.0", &[&dir, tree]),
        checksum("core@1.2.0", &[tree])
    );
    // The highest version over both layers.
    assert_eq!(
        json(
            &ctx,
            &["repo", "show", "core", "--repo", &dir, "--repo", tree]
        )["entry"]["version"],
        "1.3.0"
    );
}

#[test]
fn repo_show_of_a_version_with_a_shortcut_edge() {
    let ctx = TestContext::new();
    let output = ctx.run(&[
        "repo",
        "show",
        "core@1.2.0",
        "--platform",
        "sqlite",
        "--repo",
        "examples/packages",
    ]);
    assert_eq!(output.status.code(), Some(0));
    insta::with_settings!({filters => vec![(r"sha256:[0-9a-f]{64}", "[CHECKSUM]")]}, {
        insta::assert_snapshot!(transcript(&output, ctx.temp.path()));
    });
}

#[test]
fn a_tampered_archive_in_a_directory_repository_is_refused() {
    let ctx = TestContext::new();
    let repo = ctx.path("repo");
    let dir = repo.display().to_string();
    publish_ok(
        &ctx,
        &dir,
        &[repo_root().join("examples/packages/core/1.0.0")],
    );
    let edited = edited_core_1_0_0(&ctx);
    let build = ctx.run(&[
        "build",
        edited.to_str().unwrap(),
        "--out-dir",
        ctx.path("dist").to_str().unwrap(),
    ]);
    assert!(
        build.status.success(),
        "{}",
        transcript(&build, ctx.temp.path())
    );
    let stored = repo.join("packages/core/core-1.0.0-sqlite.dbpkg");
    let original = fs_err::read(&stored).unwrap();
    let other = fs_err::read(ctx.path("dist/core-1.0.0-sqlite.dbpkg")).unwrap();
    assert!(original != other);
    fs_err::write(&stored, &other).unwrap();

    let show = |platform: &str| {
        ctx.run(&[
            "repo",
            "show",
            "core@1.0.0",
            "--platform",
            platform,
            "--repo",
            &dir,
        ])
    };
    let refused = show("sqlite");
    let mut text = transcript(&refused, ctx.temp.path());
    assert_eq!(refused.status.code(), Some(1), "{text}");
    let published = dbpm::package::archive::read(&stored, &original).unwrap();
    let tampered = dbpm::package::archive::read(&stored, &other).unwrap();
    text = text
        .replace(published.checksum.as_str(), "[PUBLISHED CHECKSUM]")
        .replace(tampered.checksum.as_str(), "[TAMPERED CHECKSUM]");
    insta::assert_snapshot!(text);
    // The other platforms' archives are untouched and still served.
    let untouched = show("postgres");
    assert!(
        untouched.status.success(),
        "{}",
        transcript(&untouched, ctx.temp.path())
    );
}

/// An index entry is checked against the archive it names, prerequisites and edges too: the
/// plan is chosen from the entries, so an entry edited to drop a prerequisite planned a
/// package without it, and one edited to start from nothing skipped its upgrade scripts.
#[test]
fn an_index_entry_that_says_other_than_its_archive_is_refused() {
    let ctx = TestContext::new();
    let repo = ctx.path("repo");
    let dir = repo.display().to_string();
    publish_ok(
        &ctx,
        &dir,
        &[
            repo_root().join("examples/packages/core/1.0.0"),
            repo_root().join("examples/packages/auth/1.0.0"),
        ],
    );
    let index_path = repo.join("index.json");
    let mut index: serde_json::Value =
        serde_json::from_str(&fs_err::read_to_string(&index_path).unwrap()).unwrap();
    for entry in index["packages"].as_array_mut().unwrap() {
        if entry["name"] == "auth" {
            entry["prerequisites"] = serde_json::json!({});
        }
    }
    fs_err::write(&index_path, index.to_string()).unwrap();
    fs_err::write(ctx.path("r.toml"), "[packages]\nauth = \"1.0.0\"\n").unwrap();
    let output = ctx.run(&[
        "plan",
        "--release",
        ctx.path("r.toml").to_str().unwrap(),
        "--repo",
        &dir,
        "--state",
        "tests/fixtures/states/empty-sqlite.json",
    ]);
    let text = transcript(&output, ctx.temp.path());
    assert_eq!(output.status.code(), Some(1), "{text}");
    assert!(
        text.contains("dbpm::repository::tampered")
            && text.contains("other prerequisites than the archive's manifest"),
        "{text}"
    );
}

/// `--repo` lists repositories separated by commas, but a comma in a URL's password is part
/// of it: cutting there opened half the password as a directory and named it in the error.
#[test]
fn a_comma_in_a_repository_password_is_not_a_separator() {
    let ctx = TestContext::new();
    let db = TestDb::postgres();
    publish_ok(
        &ctx,
        &db.url,
        &[repo_root().join("examples/packages/core/1.0.0")],
    );
    let repos = format!("{},examples/packages", db.url_with_password("se,cr3t"));
    let output = ctx.run(&["repo", "list", "--output", "json", "--repo", &repos]);
    let text = transcript(&output, ctx.temp.path());
    assert!(output.status.success(), "{text}");
    assert!(!text.contains("cr3t"), "{text}");
    let listed: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert!(
        listed
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l["name"] == "billing"),
        "the tree after the URL is read too: {text}"
    );
    // Publishing goes to one repository: a list is refused without being shown.
    let publish = ctx
        .dbpm()
        .env("DBPM_REPO", &repos)
        .args(["publish", "examples/packages/core/1.0.0"])
        .output()
        .unwrap();
    let text = transcript(&publish, ctx.temp.path());
    assert_eq!(publish.status.code(), Some(1), "{text}");
    assert!(text.contains("names 2") && !text.contains("cr3t"), "{text}");
}

/// A mistyped `--repo` directory read as an empty repository: `repo list` listed nothing and
/// exited 0, `install` said the package was not in the repository. Every command that reads
/// repositories refuses it, naming the path; `publish` creates the repository there.
#[test]
fn a_repository_directory_that_does_not_exist_is_refused() {
    let ctx = TestContext::new();
    let missing = ctx.path("no-such-repo");
    let missing = missing.to_str().unwrap();
    let db = format!("sqlite://{}", ctx.path("target.db").display());
    let release = "examples/releases/2026.1.toml";
    for args in [
        &["repo", "list", "--repo", missing][..],
        &["repo", "show", "core", "--repo", missing],
        &["install", "core", "--yes", "--repo", missing, "--db", &db],
        &[
            "plan",
            "--release",
            release,
            "--db",
            &db,
            "--repo",
            "examples/packages",
            "--repo",
            missing,
        ],
        &["status", "--repo", missing, "--db", &db],
        &["verify", "--repo", missing, "--db", &db],
    ] {
        let output = ctx.run(args);
        let text = transcript(&output, ctx.temp.path());
        assert_eq!(output.status.code(), Some(1), "{args:?}\n{text}");
        assert!(
            text.contains("the repository directory `[TEMP]/no-such-repo` does not exist"),
            "{args:?}\n{text}"
        );
    }
    assert!(!Path::new(missing).exists());

    publish_ok(
        &ctx,
        missing,
        &[repo_root().join("examples/packages/core/1.0.0")],
    );
    let listed = json(&ctx, &["repo", "list", "--repo", missing]);
    assert_eq!(listed[0]["name"], "core", "{listed:#}");

    // An existing directory without an index is still an empty repository.
    let empty = ctx.path("empty");
    fs_err::create_dir_all(&empty).unwrap();
    let listed = json(&ctx, &["repo", "list", "--repo", empty.to_str().unwrap()]);
    assert_eq!(listed, serde_json::json!([]));
}

/// QA: `--repo dist` after `dbpm build -o dist` (archives, no index) was read as an empty
/// repository: `repo list` listed nothing and exited 0, `plan` said the package was not in
/// the repository. Every command that reads repositories says what the folder is; `publish`
/// makes a repository of it.
#[test]
fn a_folder_of_built_archives_is_not_read_as_an_empty_repository() {
    let ctx = TestContext::new();
    // Run where `dist` is, as after `dbpm build -o dist`.
    let run = |args: &[&str]| ctx.run_in_temp(args);
    let core = repo_root().join("examples/packages/core/1.0.0");
    let build = run(&["build", core.to_str().unwrap(), "--out-dir", "dist"]);
    assert!(
        build.status.success(),
        "{}",
        transcript(&build, ctx.temp.path())
    );
    let listed = run(&["repo", "list", "--repo", "dist"]);
    insta::assert_snapshot!(transcript(&listed, ctx.temp.path()));
    let release = repo_root().join("examples/releases/2026.1.toml");
    let sources = repo_root().join("examples/packages");
    for args in [
        &[
            "install",
            "core",
            "--yes",
            "--repo",
            "dist",
            "--db",
            "sqlite://target.db",
        ][..],
        &[
            "plan",
            "--release",
            release.to_str().unwrap(),
            "--db",
            "sqlite://target.db",
            "--repo",
            sources.to_str().unwrap(),
            "--repo",
            "dist",
        ],
    ] {
        let output = run(args);
        let text = transcript(&output, ctx.temp.path());
        assert_eq!(output.status.code(), Some(1), "{args:?}\n{text}");
        assert!(
            text.contains("dbpm::repository::unpublished_archives")
                && text.contains("holds 3 `.dbpkg` archives"),
            "{args:?}\n{text}"
        );
    }
    assert!(!ctx.path("target.db").exists());

    // Published into it, they make a repository of the folder.
    let archives: Vec<PathBuf> = fs_err::read_dir(ctx.path("dist"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    let dist = ctx.path("dist");
    publish_ok(&ctx, dist.to_str().unwrap(), &archives);
    let listed = json(&ctx, &["repo", "list", "--repo", dist.to_str().unwrap()]);
    assert_eq!(listed[0]["name"], "core", "{listed:#}");
}

/// QA: a repository whose index was lost read as empty, and a publish then replaced a
/// published archive with another build and hid every other version. A lost index is
/// refused; an archive the index does not list is replaced by the same build only.
#[test]
fn a_lost_index_or_entry_never_lets_a_published_archive_be_replaced() {
    let ctx = TestContext::new();
    let repo = ctx.path("repo");
    let repo = repo.to_str().unwrap();
    let core = repo_root().join("examples/packages/core/1.2.0");
    publish_ok(
        &ctx,
        repo,
        &[
            core.clone(),
            repo_root().join("examples/packages/core/1.1.0"),
        ],
    );
    let changed = ctx.path("core-changed");
    copy_dir(&core, &changed);
    let views = changed.join("INSTALL/001.views.sql");
    let text = fs_err::read_to_string(&views).unwrap();
    fs_err::write(&views, format!("{text}-- changed\n")).unwrap();

    let index = ctx.path("repo/index.json");
    let saved = fs_err::read_to_string(&index).unwrap();
    fs_err::remove_file(&index).unwrap();
    for args in [
        &["repo", "list", "--repo", repo][..],
        &["publish", "--repo", repo, changed.to_str().unwrap()],
    ] {
        let output = ctx.run(args);
        let text = transcript(&output, ctx.temp.path());
        assert_eq!(output.status.code(), Some(1), "{args:?}\n{text}");
        assert!(text.contains("dbpm::repository::corrupt_index"), "{text}");
        assert!(text.contains("published archives"), "{text}");
    }

    // The index without core 1.2.0's entries, as if edited by hand.
    let mut file: serde_json::Value = serde_json::from_str(&saved).unwrap();
    file["packages"]
        .as_array_mut()
        .unwrap()
        .retain(|entry| entry["version"] != "1.2.0");
    fs_err::write(&index, serde_json::to_string_pretty(&file).unwrap()).unwrap();
    let archive = ctx.path("repo/packages/core/core-1.2.0-sqlite.dbpkg");
    let before = fs_err::read(&archive).unwrap();
    let refused = publish(&ctx, repo, &[changed]);
    let text = transcript(&refused, ctx.temp.path());
    assert_eq!(refused.status.code(), Some(1), "{text}");
    assert!(
        text.contains("dbpm::repository::unlisted_archive"),
        "{text}"
    );
    assert!(text.contains("`INSTALL/001.views.sql` changed"), "{text}");
    assert_eq!(fs_err::read(&archive).unwrap(), before);
    // The same build takes its place again.
    publish_ok(&ctx, repo, &[core]);
}

/// QA: publishing the same build over a damaged archive said "unchanged" and left the damage;
/// it is how a damaged archive is repaired, in a directory and in PostgreSQL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publishing_the_same_build_repairs_a_damaged_archive() {
    let ctx = TestContext::new();
    let db = TestDb::postgres();
    let core = repo_root().join("examples/packages/core/1.1.0");
    let dir = ctx.path("repo");
    for repo in [dir.to_str().unwrap(), db.url.as_str()] {
        publish_ok(&ctx, repo, std::slice::from_ref(&core));
        if repo == db.url {
            db.execute("UPDATE dbpm_repo.packages SET archive = 'junk' WHERE platform = 'sqlite'")
                .await;
        } else {
            fs_err::write(dir.join("packages/core/core-1.1.0-sqlite.dbpkg"), "junk").unwrap();
        }
        let output = publish(&ctx, repo, std::slice::from_ref(&core));
        let text = transcript(&output, ctx.temp.path());
        assert_eq!(output.status.code(), Some(0), "{text}");
        assert!(text.contains("repaired core@1.1.0 (sqlite)"), "{text}");
        assert!(text.contains("unchanged core@1.1.0 (postgres)"), "{text}");
        let shown = ctx.run(&[
            "repo",
            "show",
            "core@1.1.0",
            "--platform",
            "sqlite",
            "--repo",
            repo,
        ]);
        assert!(
            shown.status.success(),
            "{}",
            transcript(&shown, ctx.temp.path())
        );
    }
}

/// QA: an archive deleted from a directory repository read as a version never published
/// ("not in the repository"), while the index lists it: it is damage, and says so.
#[test]
fn a_listed_archive_that_is_gone_is_reported_as_damage() {
    let ctx = TestContext::new();
    let repo = ctx.path("repo");
    let repo = repo.to_str().unwrap();
    let core = repo_root().join("examples/packages/core/1.1.0");
    publish_ok(&ctx, repo, std::slice::from_ref(&core));
    fs_err::remove_file(ctx.path("repo/packages/core/core-1.1.0-sqlite.dbpkg")).unwrap();
    let show = [
        "repo",
        "show",
        "core@1.1.0",
        "--platform",
        "sqlite",
        "--repo",
        repo,
    ];
    let output = ctx.run(&show);
    let text = transcript(&output, ctx.temp.path());
    assert_eq!(output.status.code(), Some(1), "{text}");
    assert!(text.contains("dbpm::repository::missing_archive"), "{text}");
    publish_ok(&ctx, repo, std::slice::from_ref(&core));
    assert!(ctx.run(&show).status.success());
}

/// QA: `1.3.0+a` and `1.3.0+b`, which no version order tells apart, were published side by
/// side. A version with build metadata is refused at publish (what an earlier dbpm published
/// still reads), and already where its source is read.
#[test]
fn a_version_with_build_metadata_is_not_published() {
    let ctx = TestContext::new();
    let source = core_1_1_0_as(&ctx, "core/1.1.0", "1.1.0+b");
    let repo = ctx.path("repo");
    let output = publish(&ctx, repo.to_str().unwrap(), &[source]);
    let text = transcript(&output, ctx.temp.path());
    assert_eq!(output.status.code(), Some(1), "{text}");
    assert!(text.contains("dbpm::package::build_metadata"), "{text}");
}

/// QA: a database without a repository (the target's own URL, say) read as an empty one.
#[test]
fn a_database_without_a_repository_is_refused() {
    let ctx = TestContext::new();
    let db = TestDb::postgres();
    let output = ctx.run(&["repo", "list", "--repo", &db.url]);
    let text = transcript(&output, ctx.temp.path());
    assert_eq!(output.status.code(), Some(1), "{text}");
    assert!(text.contains("dbpm::repository::no_repository"), "{text}");
    // Publishing starts one.
    publish_ok(
        &ctx,
        &db.url,
        &[repo_root().join("examples/packages/core/1.0.0")],
    );
    assert!(ctx
        .run(&["repo", "list", "--repo", &db.url])
        .status
        .success());
}

/// `repo list` and `repo show` set prerequisites apart with `;`: a requirement holds `, `
/// itself (QA: `auth >=2.0.0, <3.0.0, core ^1.2` read as three prerequisites).
#[test]
fn listed_prerequisites_are_told_apart_from_the_commas_of_their_ranges() {
    let ctx = TestContext::new();
    let list = ctx.run(&["repo", "list", "--repo", "examples/packages"]);
    let text = transcript(&list, ctx.temp.path());
    assert!(text.contains("auth >=2.0.0, <3.0.0; core ^1.2"), "{text}");
    let show = ctx.run(&[
        "repo",
        "show",
        "billing@1.1.0",
        "--repo",
        "examples/packages",
    ]);
    let text = transcript(&show, ctx.temp.path());
    assert!(text.contains("auth >=2.0.0, <3.0.0; core ^1.2"), "{text}");
}

/// A copy of the examples in the test's `packages/` with two sources that fail validation
/// and that nothing in the examples requires: `tools/1.0.0` (an INSTALL script without its
/// twin, and a prerequisite on `reporting`) and `scratch/` (a manifest that is not TOML, so
/// it cannot tell who it is). Returns the root.
fn tree_with_broken_packages(ctx: &TestContext) -> PathBuf {
    let tree = ctx.path("packages");
    copy_dir(&repo_root().join("examples/packages"), &tree);
    let tools = tree.join("tools/1.0.0");
    fs_err::create_dir_all(tools.join("INSTALL")).unwrap();
    fs_err::write(
        tools.join("dbpm.toml"),
        "[package]\nname = \"tools\"\nversion = \"1.0.0\"\nplatforms = [\"sqlite\"]\n\n[prerequisites]\nreporting = \"^1\"\n",
    )
    .unwrap();
    fs_err::write(
        tools.join("INSTALL/001.helpers.sql"),
        "CREATE VIEW helpers AS SELECT 1;\n",
    )
    .unwrap();
    fs_err::create_dir_all(tree.join("scratch")).unwrap();
    fs_err::write(tree.join("scratch/dbpm.toml"), "[package\nname = ").unwrap();
    tree
}

/// `dbpm plan` of an example release for an empty SQLite target, from `repo`, into `out`.
fn plan_from(ctx: &TestContext, release: &str, repo: &Path, out: &str) -> Output {
    ctx.run(&[
        "plan",
        "--release",
        &format!("examples/releases/{release}"),
        "--state",
        "tests/fixtures/states/empty-sqlite.json",
        "--repo",
        repo.to_str().unwrap(),
        "--target-label",
        "example",
        "--out",
        ctx.path(out).to_str().unwrap(),
    ])
}

#[test]
fn a_broken_package_that_nothing_needs_is_skipped_with_a_warning() {
    // QA: one broken package in a `--repo` source tree blocked planning for everything.
    let ctx = TestContext::new();
    let tree = tree_with_broken_packages(&ctx);
    let clean = plan_from(
        &ctx,
        "2026.2.toml",
        &repo_root().join("examples/packages"),
        "clean.json",
    );
    assert!(
        clean.status.success(),
        "{}",
        transcript(&clean, ctx.temp.path())
    );
    let skipping = plan_from(&ctx, "2026.2.toml", &tree, "skipping.json");
    let text = transcript(&skipping, ctx.temp.path());
    assert!(skipping.status.success(), "{text}");
    // The warnings go to stderr, once per broken package; the plan is the same bytes.
    assert_eq!(
        text.matches("dbpm::repository::skipped_source").count(),
        2,
        "{text}"
    );
    assert_eq!(
        fs_err::read(ctx.path("skipping.json")).unwrap(),
        fs_err::read(ctx.path("clean.json")).unwrap()
    );

    // Listing a repository skips them alike; showing one of them is refused with its problems.
    let repo = tree.to_str().unwrap();
    let list = ctx.run(&["repo", "list", "--repo", repo]);
    insta::assert_snapshot!(transcript(&list, ctx.temp.path()));
    let show = ctx.run(&["repo", "show", "tools", "--repo", repo]);
    insta::assert_snapshot!(transcript(&show, ctx.temp.path()));
}

#[test]
fn a_broken_version_on_the_upgrade_path_fails_the_plan_with_its_problems() {
    // A fresh install of core 1.1.0 walks core 1.0.0's UPGRADE scripts: a broken 1.0.0 is
    // needed, even though the release names 1.1.0.
    let ctx = TestContext::new();
    let tree = tree_with_broken_packages(&ctx);
    fs_err::write(
        tree.join("core/1.0.0/UPGRADE/009.orphan.sql"),
        "SELECT 1;\n",
    )
    .unwrap();
    let plan = plan_from(&ctx, "2026.1.toml", &tree, "plan.json");
    insta::assert_snapshot!(transcript(&plan, ctx.temp.path()));
    assert!(!ctx.path("plan.json").exists());
}

/// QA: `repo list` slipped its columns for a version longer than ten characters
/// (`1.1.0-beta.1`); they are as wide as their longest entry.
#[test]
fn repo_list_keeps_its_columns_for_long_versions() {
    let ctx = TestContext::new();
    core_1_1_0_as(&ctx, "pk/core/1.1.0-beta.1", "1.1.0-beta.1");
    copy_dir(
        &repo_root().join("examples/packages/core/1.0.0"),
        &ctx.path("pk/core/1.0.0"),
    );
    let output = ctx.run(&["repo", "list", "--repo", ctx.path("pk").to_str().unwrap()]);
    let text = transcript(&output, ctx.temp.path());
    assert_eq!(output.status.code(), Some(0), "{text}");
    let starts: BTreeSet<usize> = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|line| line.find("postgres").unwrap())
        .collect();
    assert_eq!(starts.len(), 1, "{text}");
}
