//! End-to-end runs of `dbpm init` and `dbpm build`: the examples build deterministically,
//! every kind of broken package gets its own diagnostic, and hostile archives are refused.

#![allow(clippy::unwrap_used)]

mod common;

use std::io::Write;
use std::path::Path;

use common::{example_packages, repo_root, transcript, TestContext};
use dbpm::package::archive;

#[test]
fn every_example_builds_twice_to_identical_bytes() {
    let ctx = TestContext::new();
    let packages = example_packages();
    assert!(
        packages.len() >= 8,
        "the examples hold at least 8 package versions"
    );
    // `--out`, as `plan` spells it, is `--out-dir` too.
    for (round, (out, flag)) in [("first", "--out-dir"), ("second", "--out")]
        .iter()
        .enumerate()
    {
        let mut args = vec![
            "build".to_owned(),
            (*flag).to_owned(),
            ctx.path(out).display().to_string(),
        ];
        args.extend(packages.iter().map(|p| p.display().to_string()));
        let output = ctx.dbpm().args(&args).output().unwrap();
        let text = transcript(&output, ctx.temp.path());
        assert!(output.status.success(), "round {round}: {text}");
        // The examples are the reference of good scripts: no advice about any of them.
        assert!(!text.contains('⚠'), "round {round}: {text}");
    }
    let first: Vec<_> = fs_err::read_dir(ctx.path("first"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(
        first.len(),
        packages.len() * 3,
        "one archive per platform of every example"
    );
    for archive_path in first {
        let name = archive_path.file_name().unwrap();
        let a = fs_err::read(&archive_path).unwrap();
        let b = fs_err::read(ctx.path("second").join(name)).unwrap();
        assert!(a == b, "{} differs between builds", name.to_string_lossy());
        archive::read(&archive_path, &a).unwrap();
    }
}

/// `dbpm build DIR --out-dir dist` in the test's directory.
fn build_into_dist(ctx: &TestContext, dir: impl AsRef<std::path::Path>) -> std::process::Output {
    ctx.run(&[
        "build",
        dir.as_ref().to_str().unwrap(),
        "--out-dir",
        ctx.path("dist").to_str().unwrap(),
    ])
}

#[test]
fn init_scaffolds_a_package_that_builds() {
    let ctx = TestContext::new();
    let dir = ctx.path("billing");
    let init = ctx.run(&["init", dir.to_str().unwrap()]);
    assert!(
        init.status.success(),
        "{}",
        transcript(&init, ctx.temp.path())
    );
    let build = build_into_dist(&ctx, &dir);
    insta::assert_snapshot!(transcript(&build, ctx.temp.path()));
    let again = ctx.run(&["init", dir.to_str().unwrap()]);
    assert_eq!(again.status.code(), Some(1));
    // For machines: one entry per archive; building again changes nothing.
    let json = ctx.run(&[
        "build",
        dir.to_str().unwrap(),
        "--out-dir",
        ctx.path("dist").to_str().unwrap(),
        "--output",
        "json",
    ]);
    let text = transcript(&json, ctx.temp.path());
    assert!(json.status.success(), "{text}");
    let built: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    let built = built.as_array().unwrap();
    assert_eq!(built.len(), 3, "{text}");
    assert!(
        built.iter().all(|b| b["id"] == "billing@0.1.0"
            && b["unchanged"] == true
            && b["path"].as_str().unwrap().ends_with(".dbpkg")
            && b["checksum"].as_str().unwrap().starts_with("sha256:")),
        "{text}"
    );
}

/// A platform given twice is refused before anything is written (QA: `--platform postgres
/// --platform postgres` wrote `platforms = ["postgres", "postgres"]`, where another platform
/// was most likely meant).
#[test]
fn init_refuses_a_platform_given_twice() {
    let ctx = TestContext::new();
    let twice = ctx.run_in_temp(&[
        "init",
        "billing",
        "--platform",
        "postgres",
        "--platform",
        "sqlite",
        "--platform",
        "postgres",
    ]);
    insta::assert_snapshot!(transcript(&twice, ctx.temp.path()));
    assert!(!ctx.path("billing").exists());
}

/// The README's workflow: `dbpm init packages/billing/1.0.0` makes billing 1.0.0 (a
/// directory named after a version sits in one named after its package, NAME/VERSION), which
/// builds as it is and from which `init --next` starts 1.1.0. `--name` and `--version`
/// override what the directories tell, except a version that contradicts the directory's.
#[test]
fn init_takes_name_and_version_from_a_name_version_directory() {
    let ctx = TestContext::new();
    let run = |args: &[&str]| ctx.run_in_temp(args);
    let identity = |dir: &str| {
        let manifest = fs_err::read_to_string(ctx.path(dir).join("dbpm.toml")).unwrap();
        let parsed: toml::Value = toml::from_str(&manifest).unwrap();
        let field = |key: &str| parsed["package"][key].as_str().unwrap().to_owned();
        (field("name"), field("version"))
    };

    let init = run(&["init", "packages/billing/1.0.0"]);
    insta::assert_snapshot!(transcript(&init, ctx.temp.path()));
    assert_eq!(
        identity("packages/billing/1.0.0"),
        ("billing".into(), "1.0.0".into())
    );
    let build = run(&["build", "packages/billing/1.0.0", "-o", "dist"]);
    assert_eq!(
        build.status.code(),
        Some(0),
        "{}",
        transcript(&build, ctx.temp.path())
    );
    for platform in ["postgres", "mysql", "sqlite"] {
        assert!(ctx
            .path(&format!("dist/billing-1.0.0-{platform}.dbpkg"))
            .is_file());
    }
    let next = run(&["init", "--next", "packages/billing/1.0.0"]);
    assert_eq!(
        next.status.code(),
        Some(0),
        "{}",
        transcript(&next, ctx.temp.path())
    );
    assert_eq!(
        identity("packages/billing/1.1.0"),
        ("billing".into(), "1.1.0".into())
    );

    // For machines: one JSON document, like `build --output json` (it printed the files).
    let json = |args: &[&str]| {
        let output = run(&[args, &["--output", "json"]].concat());
        let text = transcript(&output, ctx.temp.path());
        assert_eq!(output.status.code(), Some(0), "{text}");
        serde_json::from_slice::<serde_json::Value>(&output.stdout)
            .unwrap_or_else(|err| panic!("{err}: {text}"))
    };
    let made = json(&["init", "packages/tax/1.0.0"]);
    assert_eq!(
        (&made["name"], &made["version"], &made["dir"]),
        (&"tax".into(), &"1.0.0".into(), &"packages/tax/1.0.0".into()),
        "{made:#}"
    );
    let written = made["written"].as_array().unwrap();
    assert!(
        written.contains(&"packages/tax/1.0.0/dbpm.toml".into()),
        "{made:#}"
    );
    assert!(written
        .iter()
        .all(|path| ctx.path(path.as_str().unwrap()).is_file()));
    let made = json(&["init", "--next", "packages/tax/1.0.0"]);
    assert_eq!(
        (&made["version"], &made["from"], &made["dir"]),
        (
            &"1.1.0".into(),
            &"1.0.0".into(),
            &"packages/tax/1.1.0".into()
        ),
        "{made:#}"
    );
    assert!(!made["written"].as_array().unwrap().is_empty(), "{made:#}");

    let contradiction = run(&["init", "packages/billing/2.0.0", "--version", "3.0.0"]);
    insta::assert_snapshot!(
        "init_version_contradicts_directory",
        transcript(&contradiction, ctx.temp.path())
    );
    assert!(!ctx.path("packages/billing/2.0.0").exists());
    let agreeing = run(&[
        "init",
        "packages/billing/2.0.0",
        "--version",
        "2.0.0",
        "--name",
        "invoicing",
    ]);
    assert_eq!(
        agreeing.status.code(),
        Some(0),
        "{}",
        transcript(&agreeing, ctx.temp.path())
    );
    assert_eq!(
        identity("packages/billing/2.0.0"),
        ("invoicing".into(), "2.0.0".into())
    );

    let no_name = run(&["init", "not a name/1.0.0"]);
    insta::assert_snapshot!(
        "init_version_directory_without_a_name",
        transcript(&no_name, ctx.temp.path())
    );
    let named = run(&["init", "not a name/1.0.0", "--name", "billing"]);
    assert_eq!(
        named.status.code(),
        Some(0),
        "{}",
        transcript(&named, ctx.temp.path())
    );
    assert_eq!(
        identity("not a name/1.0.0"),
        ("billing".into(), "1.0.0".into())
    );

    // Any other directory names the package; `--version` works without `--next` too.
    let plain = run(&["init", "reporting", "--version", "1.2.3"]);
    assert_eq!(
        plain.status.code(),
        Some(0),
        "{}",
        transcript(&plain, ctx.temp.path())
    );
    assert_eq!(identity("reporting"), ("reporting".into(), "1.2.3".into()));
}

#[test]
fn broken_packages_each_get_their_own_diagnostic() {
    let ctx = TestContext::new();
    let fixtures = repo_root().join("tests/fixtures/broken");
    let mut names: Vec<String> = fs_err::read_dir(&fixtures)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert!(names.len() >= 20);
    let mut seen = std::collections::BTreeSet::new();
    for name in names {
        let dir = format!("tests/fixtures/broken/{name}");
        let output = build_into_dist(&ctx, &dir);
        let text = transcript(&output, ctx.temp.path());
        assert_eq!(output.status.code(), Some(1), "{name}: {text}");
        assert!(!text.contains("panicked"), "{name}: {text}");
        assert!(
            seen.insert(text.clone()),
            "{name} repeats another fixture's diagnostic"
        );
        insta::assert_snapshot!(format!("broken_{name}"), text);
    }
    assert!(
        !ctx.path("dist").exists(),
        "nothing is written for a broken package"
    );
}

/// A PostgreSQL package whose `UPGRADE/001.indexes` runs outside a transaction, with `sql`.
fn outside_transaction_package(ctx: &TestContext, sql: &str) -> std::path::PathBuf {
    let dir = ctx.path("search/1.0.0");
    fs_err::create_dir_all(dir.join("UPGRADE")).unwrap();
    fs_err::create_dir_all(dir.join("DOWNGRADE")).unwrap();
    fs_err::write(
        dir.join("dbpm.toml"),
        "[package]\nname = \"search\"\nversion = \"1.0.0\"\nplatforms = [\"postgres\"]\n\n\
         [scripts.\"UPGRADE/001.indexes\"]\ntransaction = false\n",
    )
    .unwrap();
    fs_err::write(dir.join("UPGRADE/001.indexes.sql"), sql).unwrap();
    fs_err::write(
        dir.join("DOWNGRADE/001.indexes.sql"),
        "DROP INDEX IF EXISTS a_idx; DROP INDEX IF EXISTS b_idx;\n",
    )
    .unwrap();
    dir
}

#[test]
fn several_statements_outside_a_transaction_are_warned_about() {
    let ctx = TestContext::new();
    let dir = outside_transaction_package(
        &ctx,
        "UPDATE a SET x = 0 WHERE x IS NULL;\nUPDATE b SET y = 0 WHERE y IS NULL;\n",
    );
    let build = build_into_dist(&ctx, &dir);
    let text = transcript(&build, ctx.temp.path());
    assert_eq!(build.status.code(), Some(0), "{text}");
    // (miette wraps the message where the terminal width says.)
    assert!(
        text.contains("holds 2 statements, which PostgreSQL runs as one")
            && text.contains("implicit transaction"),
        "{text}"
    );
    assert!(
        text.contains("search/1.0.0/UPGRADE/001.indexes.sql:2:1]"),
        "points at the second statement: {text}"
    );
    // The twin runs in a transaction: nothing to say about it.
    assert_eq!(
        text.matches("several_statements_outside_transaction")
            .count(),
        1,
        "{text}"
    );
}

#[test]
fn concurrently_among_several_statements_outside_a_transaction_is_refused() {
    // PostgreSQL runs the two as one implicit transaction, which refuses CONCURRENTLY: the
    // step could never succeed.
    let ctx = TestContext::new();
    let dir = outside_transaction_package(
        &ctx,
        "SET lock_timeout = '5s';\nCREATE INDEX CONCURRENTLY a_idx ON a (x);\nCREATE INDEX CONCURRENTLY b_idx ON b (y);\n",
    );
    let build = build_into_dist(&ctx, &dir);
    let text = transcript(&build, ctx.temp.path());
    assert_eq!(build.status.code(), Some(1), "{text}");
    assert!(
        text.contains("refused_in_implicit_transaction")
            && text.contains("`CREATE INDEX CONCURRENTLY` at line 2")
            && text.contains("search/1.0.0/UPGRADE/001.indexes.sql:2:1]"),
        "{text}"
    );
    assert!(!ctx.path("dist").exists(), "nothing is written: {text}");
}

#[test]
fn a_symlinked_script_is_refused() {
    let ctx = TestContext::new();
    let dir = ctx.path("linked");
    let init = ctx.run(&["init", dir.to_str().unwrap(), "--name", "linked"]);
    assert!(init.status.success());
    fs_err::write(ctx.path("elsewhere.sql"), "SELECT 1;\n").unwrap();
    std::os::unix::fs::symlink(ctx.path("elsewhere.sql"), dir.join("VERIFY/002.linked.sql"))
        .unwrap();
    let output = build_into_dist(&ctx, &dir);
    insta::assert_snapshot!(transcript(&output, ctx.temp.path()));
}

/// A linked directory at the package root is judged by its name like a directory: a
/// misspelt phase is reported, not skipped (its scripts would silently not be packaged).
#[test]
fn a_symlinked_folder_with_a_misspelt_phase_is_reported() {
    let ctx = TestContext::new();
    let dir = ctx.path("linked");
    let init = ctx.run(&["init", dir.to_str().unwrap(), "--name", "linked"]);
    assert!(init.status.success());
    fs_err::create_dir_all(ctx.path("shared-verify")).unwrap();
    std::os::unix::fs::symlink(ctx.path("shared-verify"), dir.join("Verify")).unwrap();
    let output = build_into_dist(&ctx, &dir);
    let text = transcript(&output, ctx.temp.path());
    assert_eq!(output.status.code(), Some(1), "{text}");
    assert!(
        text.contains("dbpm::package::unknown_phase") && text.contains("did you mean `VERIFY`?"),
        "{text}"
    );
}

/// A valid archive's entries, to craft hostile variants from.
fn sample_archive(ctx: &TestContext) -> (Vec<(String, Vec<u8>)>, std::path::PathBuf) {
    let dir = ctx.path("pkg");
    assert!(ctx
        .run(&[
            "init",
            dir.to_str().unwrap(),
            "--name",
            "pkg",
            "--platform",
            "sqlite"
        ])
        .status
        .success());
    let output = build_into_dist(ctx, &dir);
    assert!(output.status.success());
    let path = ctx.path("dist/pkg-0.1.0-sqlite.dbpkg");
    let bytes = fs_err::read(&path).unwrap();
    let mut entries = Vec::new();
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(&bytes[..]));
    for entry in tar.entries().unwrap() {
        let mut entry = entry.unwrap();
        let name = entry.path().unwrap().display().to_string();
        let mut content = Vec::new();
        std::io::Read::read_to_end(&mut entry, &mut content).unwrap();
        entries.push((name, content));
    }
    (entries, path)
}

enum Crafted<'a> {
    File(&'a str, &'a [u8]),
    Link(&'a str, &'a str),
}

fn craft(entries: &[Crafted<'_>]) -> Vec<u8> {
    let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(
        Vec::new(),
        flate2::Compression::fast(),
    ));
    for entry in entries {
        let mut header = tar::Header::new_gnu();
        header.set_mode(0o644);
        match entry {
            Crafted::File(name, content) => {
                header.set_entry_type(tar::EntryType::Regular);
                header.set_size(content.len() as u64);
                // Write the name bytes directly so `..` survives (the tar crate refuses it on append).
                let field = &mut header.as_old_mut().name;
                field[..name.len()].copy_from_slice(name.as_bytes());
                header.set_cksum();
                builder.append(&header, *content).unwrap();
            }
            Crafted::Link(name, target) => {
                header.set_entry_type(tar::EntryType::Symlink);
                header.set_size(0);
                builder.append_link(&mut header, name, target).unwrap();
            }
        }
    }
    let mut gz = builder.into_inner().unwrap();
    gz.flush().unwrap();
    gz.finish().unwrap()
}

fn refusal(bytes: &[u8]) -> String {
    let err =
        archive::read(Path::new("crafted.dbpkg"), bytes).expect_err("the archive must be refused");
    err.to_string()
}

#[test]
fn hostile_archives_are_refused_on_read() {
    let ctx = TestContext::new();
    let (entries, path) = sample_archive(&ctx);
    let as_files: Vec<Crafted<'_>> = entries.iter().map(|(n, c)| Crafted::File(n, c)).collect();
    // The untouched entries read back fine.
    archive::read(&path, &craft(&as_files)).unwrap();

    let mut traversal = as_files
        .iter()
        .map(|c| match c {
            Crafted::File(n, c) => Crafted::File(n, c),
            Crafted::Link(..) => unreachable!(),
        })
        .collect::<Vec<_>>();
    traversal.push(Crafted::File("../evil.sql", b"DROP TABLE users;"));
    insta::assert_snapshot!("archive_traversal", refusal(&craft(&traversal)));

    let mut linked: Vec<Crafted<'_>> = entries.iter().map(|(n, c)| Crafted::File(n, c)).collect();
    linked.push(Crafted::Link("INSTALL/002.link.sql", "/etc/passwd"));
    insta::assert_snapshot!("archive_symlink", refusal(&craft(&linked)));

    let changed: Vec<(String, Vec<u8>)> = entries
        .iter()
        .map(|(n, c)| {
            if n.starts_with("INSTALL/") {
                (n.clone(), b"DROP TABLE everything;\n".to_vec())
            } else {
                (n.clone(), c.clone())
            }
        })
        .collect();
    let changed_files: Vec<Crafted<'_>> =
        changed.iter().map(|(n, c)| Crafted::File(n, c)).collect();
    insta::assert_snapshot!("archive_changed_script", refusal(&craft(&changed_files)));

    let mut unknown: Vec<Crafted<'_>> = entries.iter().map(|(n, c)| Crafted::File(n, c)).collect();
    unknown.push(Crafted::File("INSTALL/009.smuggled.sql", b"SELECT 1;"));
    insta::assert_snapshot!("archive_unknown_entry", refusal(&craft(&unknown)));

    let garbage = b"this is not a gzip stream";
    insta::assert_snapshot!("archive_garbage", refusal(garbage));
}

/// Writes a package source under the test's directory: its manifest and scripts, by path.
fn write_package(ctx: &TestContext, dir: &str, files: &[(&str, &str)]) -> std::path::PathBuf {
    let root = ctx.path(dir);
    for (path, text) in files {
        let path = root.join(path);
        fs_err::create_dir_all(path.parent().unwrap()).unwrap();
        fs_err::write(path, text).unwrap();
    }
    root
}

/// `[package]` of a package named `p`, version 1.0.0, on `platforms`, then `rest`.
fn manifest(platforms: &str, rest: &str) -> String {
    format!("[package]\nname = \"p\"\nversion = \"1.0.0\"\nplatforms = [{platforms}]\n{rest}")
}

#[test]
fn a_commit_inside_a_transactional_script_is_warned_about_on_postgres() {
    // QA: `BEGIN; CREATE TABLE a; COMMIT; INSERT INTO missing` left `a` behind after a run
    // reported rolled back.
    let ctx = TestContext::new();
    let dir = write_package(
        &ctx,
        "p",
        &[
            ("dbpm.toml", &manifest("\"postgres\"", "")),
            (
                "UPGRADE/001.tables.sql",
                "-- Tables\nBEGIN;\nCREATE TABLE a (x int);\nCOMMIT;\nINSERT INTO missing VALUES (1);\n",
            ),
            ("DOWNGRADE/001.tables.sql", "DROP TABLE IF EXISTS a;\n"),
        ],
    );
    let build = build_into_dist(&ctx, &dir);
    assert_eq!(build.status.code(), Some(0));
    insta::assert_snapshot!(transcript(&build, ctx.temp.path()));
}

#[test]
fn a_legacy_package_is_told_to_declare_its_scripts_in_a_dbpm_toml() {
    // QA: the seed's `.sys` example, a parameter change (`ALTER SYSTEM`), was refused with the
    // help to declare the script `transaction = false` in the manifest, which a `manifest.dpm`
    // cannot do.
    let ctx = TestContext::new();
    let dir = write_package(
        &ctx,
        "acme",
        &[
            (
                "manifest.dpm",
                "{ name: \"acme\", platform: \"postgres\", version: { major: 1 } }",
            ),
            (
                "PREINSTALL/001.settings.sys",
                "ALTER SYSTEM SET work_mem = '8MB';\n",
            ),
        ],
    );
    let build = build_into_dist(&ctx, &dir);
    assert_eq!(build.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&build.stderr).replace('\n', " ");
    let stderr = stderr.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        stderr.contains("dbpm::package::cannot_run_in_transaction"),
        "{stderr}"
    );
    assert!(
        stderr
            .contains("a `manifest.dpm` declares no scripts: write the manifest as a `dbpm.toml`"),
        "{stderr}"
    );
}

#[test]
fn a_client_backslash_command_is_refused() {
    // Scripts written for psql (Sqitch runs its scripts through it) often set psql options;
    // the server refuses them with a syntax error at apply.
    let ctx = TestContext::new();
    let dir = write_package(
        &ctx,
        "p",
        &[
            ("dbpm.toml", &manifest("\"postgres\", \"sqlite\"", "")),
            (
                "UPGRADE/001.tables.sql",
                "\\set ON_ERROR_STOP on\nCREATE TABLE a (x int);\n",
            ),
            ("DOWNGRADE/001.tables.sql", "DROP TABLE IF EXISTS a;\n"),
        ],
    );
    let build = build_into_dist(&ctx, &dir);
    insta::assert_snapshot!(transcript(&build, ctx.temp.path()));
    assert!(!ctx.path("dist").exists());
}

#[test]
fn a_copy_from_stdin_is_refused_whatever_its_data_holds() {
    // QA: an apostrophe in a data row hid the `\.` from the client command check; the
    // package built and failed at apply with a bare syntax error.
    let ctx = TestContext::new();
    let dir = write_package(
        &ctx,
        "p",
        &[
            ("dbpm.toml", &manifest("\"postgres\"", "")),
            (
                "UPGRADE/001.tables.sql",
                "CREATE TABLE t (id int, label text);\nCOPY t (id, label) FROM stdin;\n1\tit's\n2\tO'Brien\n\\.\nCREATE INDEX t_label ON t (label);\n",
            ),
            ("DOWNGRADE/001.tables.sql", "DROP TABLE IF EXISTS t;\n"),
        ],
    );
    let build = build_into_dist(&ctx, &dir);
    insta::assert_snapshot!(transcript(&build, ctx.temp.path()));
    assert!(!ctx.path("dist").exists());
}

#[test]
fn a_sqlite_dump_with_its_own_transaction_is_refused() {
    // QA: a `.dump`-style script failed at apply with "cannot start a transaction within a
    // transaction".
    let ctx = TestContext::new();
    let dir = write_package(
        &ctx,
        "p",
        &[
            ("dbpm.toml", &manifest("\"sqlite\"", "")),
            (
                "UPGRADE/001.dump.sql",
                "PRAGMA foreign_keys=OFF;\nBEGIN TRANSACTION;\nCREATE TABLE a(x);\nINSERT INTO a VALUES(1);\nCOMMIT;\n",
            ),
            ("DOWNGRADE/001.dump.sql", "DROP TABLE IF EXISTS a;\n"),
        ],
    );
    let build = build_into_dist(&ctx, &dir);
    insta::assert_snapshot!(transcript(&build, ctx.temp.path()));
    assert!(!ctx.path("dist").exists());
}

#[test]
fn a_sqlite_vacuum_or_journal_mode_inside_a_transaction_is_reported() {
    // QA: `VACUUM` built and failed at apply; `PRAGMA journal_mode = WAL` built and did
    // nothing.
    let ctx = TestContext::new();
    let toml = manifest("\"sqlite\"", "");
    let dir = write_package(
        &ctx,
        "p",
        &[
            ("dbpm.toml", &toml),
            ("UPGRADE/001.tables.sql", "CREATE TABLE a (x int);\n"),
            ("DOWNGRADE/001.tables.sql", "DROP TABLE IF EXISTS a;\n"),
            ("UPGRADE/002.vacuum.sql", "DELETE FROM a;\nVACUUM;\n"),
            ("DOWNGRADE/002.vacuum.sql", "SELECT 1;\n"),
            ("UPGRADE/003.wal.sql", "PRAGMA journal_mode = WAL;\n"),
            ("DOWNGRADE/003.wal.sql", "SELECT 1;\n"),
        ],
    );
    let build = build_into_dist(&ctx, &dir);
    insta::assert_snapshot!(transcript(&build, ctx.temp.path()));
    assert!(!ctx.path("dist").exists());

    // Outside a transaction both do what they say.
    fs_err::write(
        dir.join("dbpm.toml"),
        format!("{toml}\n[scripts.\"UPGRADE/002.vacuum\"]\ntransaction = false\n\n[scripts.\"UPGRADE/003.wal\"]\ntransaction = false\n"),
    )
    .unwrap();
    let build = build_into_dist(&ctx, &dir);
    let text = transcript(&build, ctx.temp.path());
    assert_eq!(build.status.code(), Some(0), "{text}");
    assert!(!text.contains('⚠'), "{text}");
}

#[test]
fn blocks_bodies_savepoints_and_comments_are_not_transaction_control() {
    let ctx = TestContext::new();
    let sqlite_trigger = "CREATE TRIGGER t_audit AFTER INSERT ON t\nFOR EACH ROW\nBEGIN\n  INSERT INTO audit (id) VALUES (new.id);\n  UPDATE counts SET n = CASE WHEN n IS NULL THEN 1 ELSE n + 1 END;\nEND;\n";
    let mysql_routines = "CREATE TRIGGER t_audit AFTER INSERT ON t FOR EACH ROW\nBEGIN\n  INSERT INTO audit (id) VALUES (NEW.id);\n  IF NEW.id > 10 THEN\n    UPDATE counts SET n = n + 1;\n  END IF;\nEND;\n\
         CREATE PROCEDURE bump()\nBEGIN\n  DECLARE EXIT HANDLER FOR SQLEXCEPTION BEGIN ROLLBACK; RESIGNAL; END;\n  START TRANSACTION;\n  UPDATE counts SET n = n + 1;\n  COMMIT;\nEND;\n";
    let postgres_bodies = "CREATE FUNCTION audit() RETURNS trigger LANGUAGE plpgsql AS $$\nBEGIN\n  INSERT INTO audit (id) VALUES (NEW.id);\n  RETURN NEW;\nEND\n$$;\n\
         CREATE TRIGGER t_audit AFTER INSERT ON t FOR EACH ROW EXECUTE FUNCTION audit();\n\
         CREATE FUNCTION one() RETURNS int LANGUAGE sql\nBEGIN ATOMIC\n  SELECT 1;\nEND;\n\
         DO $body$ BEGIN PERFORM 1; END $body$;\n\
         -- BEGIN; COMMIT;\n/* ROLLBACK; */\nSELECT 'BEGIN; COMMIT;';\nSAVEPOINT s;\nROLLBACK TO SAVEPOINT s;\n";
    let dir = write_package(
        &ctx,
        "p",
        &[
            (
                "dbpm.toml",
                &manifest(
                    "\"postgres\", \"mysql\", \"sqlite\"",
                    "\n[scripts.\"UPGRADE/002.seed\"]\nmysql_transactional = true\n",
                ),
            ),
            ("UPGRADE/001.tables.sql", "CREATE TABLE t (id INTEGER PRIMARY KEY);\nCREATE TABLE audit (id INTEGER);\nCREATE TABLE counts (n INTEGER);\n"),
            ("DOWNGRADE/001.tables.sql", "DROP TABLE IF EXISTS counts;\nDROP TABLE IF EXISTS audit;\nDROP TABLE IF EXISTS t;\n"),
            ("UPGRADE/002.seed.sql", "INSERT INTO counts (n) VALUES (0);\n"),
            (
                "UPGRADE/002.seed.mysql.sql",
                "CREATE TEMPORARY TABLE first_counts (n INTEGER);\nINSERT INTO counts (n) VALUES (0);\nDROP TEMPORARY TABLE first_counts;\n",
            ),
            ("DOWNGRADE/002.seed.sql", "DELETE FROM counts;\n"),
            ("INSTALL/001.audit.sqlite.sql", sqlite_trigger),
            ("INSTALL/001.audit.mysql.sql", mysql_routines),
            ("INSTALL/001.audit.postgres.sql", postgres_bodies),
            ("ROLLBACK/001.audit.sql", "DROP TRIGGER IF EXISTS t_audit;\n"),
        ],
    );
    let build = build_into_dist(&ctx, &dir);
    let text = transcript(&build, ctx.temp.path());
    assert_eq!(build.status.code(), Some(0), "{text}");
    assert!(!text.contains('⚠'), "{text}");
}

#[test]
fn ddl_in_a_mysql_transactional_script_is_warned_about() {
    let ctx = TestContext::new();
    let dir = write_package(
        &ctx,
        "p",
        &[
            (
                "dbpm.toml",
                &manifest(
                    "\"postgres\", \"mysql\"",
                    "\n[scripts.\"UPGRADE/001.backfill\"]\nmysql_transactional = true\n",
                ),
            ),
            // The generic script runs on PostgreSQL, where DDL is transactional: nothing to say.
            (
                "UPGRADE/001.backfill.sql",
                "CREATE TABLE audit (id int);\nUPDATE accounts SET status = 'active';\n",
            ),
            (
                "UPGRADE/001.backfill.mysql.sql",
                "UPDATE accounts SET status = 'active';\nCREATE TABLE audit (id int);\nALTER TABLE accounts DROP COLUMN legacy;\n",
            ),
            ("DOWNGRADE/001.backfill.sql", "DROP TABLE IF EXISTS audit;\n"),
        ],
    );
    let build = build_into_dist(&ctx, &dir);
    assert_eq!(build.status.code(), Some(0));
    insta::assert_snapshot!(transcript(&build, ctx.temp.path()));
}

#[test]
fn ddl_in_a_mysql_executable_comment_is_warned_about() {
    // QA: MySQL/MariaDB run what `/*!50001 … */` holds; the CREATE TABLE in it escaped the
    // check, and stayed behind a step reported rolled back.
    let ctx = TestContext::new();
    let dir = write_package(
        &ctx,
        "p",
        &[
            (
                "dbpm.toml",
                &manifest(
                    "\"mysql\", \"postgres\"",
                    "\n[scripts.\"UPGRADE/001.data\"]\nmysql_transactional = true\n",
                ),
            ),
            (
                "UPGRADE/001.data.sql",
                "INSERT INTO item VALUES (1, 'a');\n/*!50001 CREATE TABLE hidden (id INT) */;\n/*!40101 COMMIT */;\nINSERT INTO item VALUES (1, 'duplicate key fails');\n",
            ),
            ("DOWNGRADE/001.data.sql", "DELETE FROM item WHERE id = 1;\n"),
        ],
    );
    let build = build_into_dist(&ctx, &dir);
    assert_eq!(build.status.code(), Some(0));
    insta::assert_snapshot!(transcript(&build, ctx.temp.path()));
}

#[test]
fn a_delimiter_line_is_refused() {
    let ctx = TestContext::new();
    let dir = write_package(
        &ctx,
        "p",
        &[
            ("dbpm.toml", &manifest("\"mysql\"", "")),
            ("UPGRADE/001.tables.sql", "CREATE TABLE counts (n INT);\n"),
            ("DOWNGRADE/001.tables.sql", "DROP TABLE IF EXISTS counts;\n"),
            (
                "INSTALL/001.procs.sql",
                "-- written for the mysql client\nDELIMITER //\nCREATE PROCEDURE bump()\nBEGIN\n  UPDATE counts SET n = n + 1;\nEND//\nDELIMITER ;\n",
            ),
            ("ROLLBACK/001.procs.sql", "DROP PROCEDURE IF EXISTS bump;\n"),
        ],
    );
    let build = build_into_dist(&ctx, &dir);
    insta::assert_snapshot!(transcript(&build, ctx.temp.path()));

    // Sent as one script, the procedure needs no other delimiter.
    fs_err::write(
        dir.join("INSTALL/001.procs.sql"),
        "CREATE PROCEDURE bump()\nBEGIN\n  UPDATE counts SET n = n + 1;\nEND;\n",
    )
    .unwrap();
    let build = build_into_dist(&ctx, &dir);
    let text = transcript(&build, ctx.temp.path());
    assert_eq!(build.status.code(), Some(0), "{text}");
    assert!(!text.contains('⚠'), "{text}");
}

#[test]
fn a_compensation_of_a_concurrent_index_must_run_outside_a_transaction_too() {
    let ctx = TestContext::new();
    let toml = manifest(
        "\"postgres\"",
        "\n[scripts.\"UPGRADE/001.index\"]\ntransaction = false\n",
    );
    let dir = write_package(
        &ctx,
        "p",
        &[
            ("dbpm.toml", &toml),
            (
                "UPGRADE/001.index.sql",
                "CREATE INDEX CONCURRENTLY IF NOT EXISTS a_x_idx ON a (x);\n",
            ),
            (
                "DOWNGRADE/001.index.sql",
                "-- the twin\nDROP INDEX CONCURRENTLY IF EXISTS a_x_idx;\n",
            ),
            (
                "UPGRADE/002.cleanup.sql",
                "DELETE FROM a WHERE x IS NULL;\nvacuum analyze a;\n",
            ),
            ("DOWNGRADE/002.cleanup.sql", "SELECT 1;\n"),
        ],
    );
    let build = build_into_dist(&ctx, &dir);
    insta::assert_snapshot!(transcript(&build, ctx.temp.path()));

    // Declared as its forward script is, with the VACUUM in a script of its own, it builds.
    fs_err::write(
        dir.join("dbpm.toml"),
        format!("{toml}\n[scripts.\"DOWNGRADE/001.index\"]\ntransaction = false\n\n[scripts.\"UPGRADE/002.cleanup\"]\ntransaction = false\n"),
    )
    .unwrap();
    fs_err::write(dir.join("UPGRADE/002.cleanup.sql"), "VACUUM ANALYZE a;\n").unwrap();
    let build = build_into_dist(&ctx, &dir);
    let text = transcript(&build, ctx.temp.path());
    assert_eq!(build.status.code(), Some(0), "{text}");
    assert!(!text.contains('⚠'), "{text}");
}

#[test]
fn malformed_placeholders_are_warned_about_where_they_are() {
    // QA: `${x;` stayed text while the build said that `x` was declared but unused.
    let ctx = TestContext::new();
    let dir = write_package(
        &ctx,
        "p",
        &[
            (
                "dbpm.toml",
                &manifest("\"postgres\"", "\n[placeholders]\nx = { default = \"app\" }\n"),
            ),
            (
                "UPGRADE/001.tables.sql",
                "CREATE SCHEMA ${x;\nCREATE TABLE ${a b} (id int);\nSELECT '$${literal}';\nSELECT 'tail ${",
            ),
            ("DOWNGRADE/001.tables.sql", "DROP SCHEMA IF EXISTS app;\n"),
        ],
    );
    let build = build_into_dist(&ctx, &dir);
    assert_eq!(build.status.code(), Some(0));
    let text = transcript(&build, ctx.temp.path());
    assert!(!text.contains("unused_placeholder"), "{text}");
    insta::assert_snapshot!(text);
}

/// QA: `init --next` of a version whose minor number is the largest there is wrapped it to 0
/// and made a lower version.
#[test]
fn init_next_refuses_a_minor_number_that_cannot_grow() {
    let ctx = TestContext::new();
    let run = |args: &[&str]| ctx.run_in_temp(args);
    let last = "p/1.18446744073709551615.0";
    assert!(run(&["init", last]).status.success());
    let next = run(&["init", "--next", last]);
    let text = transcript(&next, ctx.temp.path());
    assert_eq!(next.status.code(), Some(1), "{text}");
    assert!(text.contains("dbpm::init::no_next_version"), "{text}");
    assert!(!ctx.path("p/1.0.0").exists());
}

#[test]
fn a_zip_renamed_dbpkg_is_named_for_what_it_is() {
    // QA: a zip renamed `.dbpkg` got "`pkg.dbpkg` is not a readable .dbpkg archive" and no more.
    let ctx = TestContext::new();
    let zip = ctx.path("pkg-0.1.0-sqlite.dbpkg");
    // The local file header of a zip holding `dbpm.toml`, as far as the check reads.
    fs_err::write(&zip, b"PK\x03\x04\x14\x00\x00\x00\x00\x00dbpm.toml").unwrap();
    let publish = ctx.run_in_temp(&["publish", "--repo", "repo", "pkg-0.1.0-sqlite.dbpkg"]);
    insta::assert_snapshot!(transcript(&publish, ctx.temp.path()));
}

#[test]
fn an_archive_repacked_with_tar_is_published_as_the_build_it_holds() {
    // QA: `tar -C unpacked -czf pkg.dbpkg .` writes `./`-prefixed entries and folder entries,
    // which were refused as leaving the package. They name the same files, and what is
    // published is the build itself, byte for byte.
    let ctx = TestContext::new();
    let (entries, built) = sample_archive(&ctx);
    let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(
        Vec::new(),
        flate2::Compression::best(),
    ));
    let folders = [
        "./",
        "./INSTALL/",
        "./ROLLBACK/",
        "./UPGRADE/",
        "./DOWNGRADE/",
    ];
    let files: Vec<(String, &[u8])> = folders
        .iter()
        .map(|f| ((*f).to_owned(), &b""[..]))
        .chain(
            entries
                .iter()
                .map(|(n, c)| (format!("./{n}"), c.as_slice())),
        )
        .collect();
    for (name, content) in &files {
        let mut header = tar::Header::new_ustar();
        let folder = name.ends_with('/');
        header.set_entry_type(if folder {
            tar::EntryType::Directory
        } else {
            tar::EntryType::Regular
        });
        header.set_mode(if folder { 0o755 } else { 0o600 });
        header.set_mtime(1_700_000_000);
        header.set_size(content.len() as u64);
        // The name as written: the tar crate's own setter drops a leading `./`.
        header.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
        header.set_cksum();
        builder.append(&header, *content).unwrap();
    }
    let repacked = ctx.path("repacked.dbpkg");
    fs_err::write(&repacked, builder.into_inner().unwrap().finish().unwrap()).unwrap();

    let publish = ctx.run_in_temp(&["publish", "--repo", "repo", "repacked.dbpkg"]);
    assert!(
        publish.status.success(),
        "{}",
        transcript(&publish, ctx.temp.path())
    );
    assert_eq!(
        fs_err::read(ctx.path("repo/packages/pkg/pkg-0.1.0-sqlite.dbpkg")).unwrap(),
        fs_err::read(&built).unwrap()
    );
}

#[test]
fn editor_junk_in_a_phase_folder_is_left_out_with_a_warning() {
    // QA: `001.view.sql~`, `#001.view.sql#`, `.001.view.sql.swp` and `.DS_Store` beside the
    // scripts failed the build. They are named in a warning and never packed; a misspelt
    // script next to them is still refused.
    let ctx = TestContext::new();
    let view = "CREATE VIEW v AS SELECT 1;\n";
    let dir = write_package(
        &ctx,
        "p",
        &[
            ("dbpm.toml", &manifest("\"sqlite\"", "")),
            ("INSTALL/001.view.sql", view),
            ("INSTALL/001.view.sql~", view),
            ("INSTALL/#001.view.sql#", view),
            ("INSTALL/.001.view.sql.swp", "b0VIM 9.0"),
            ("INSTALL/.DS_Store", "\0\0\0\x01Bud1"),
            ("ROLLBACK/001.view.sql", "DROP VIEW IF EXISTS v;\n"),
        ],
    );
    let build = build_into_dist(&ctx, &dir);
    insta::assert_snapshot!(transcript(&build, ctx.temp.path()));
    let bytes = fs_err::read(ctx.path("dist/p-1.0.0-sqlite.dbpkg")).unwrap();
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(&bytes[..]));
    let packed: Vec<String> = tar
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().display().to_string())
        .collect();
    assert_eq!(
        packed,
        [
            "dbpkg.json",
            "INSTALL/001.view.sql",
            "ROLLBACK/001.view.sql",
            "dbpm.toml"
        ]
    );

    write_package(&ctx, "p", &[("INSTALL/002.other.sq", view)]);
    let misspelt = build_into_dist(&ctx, &dir);
    assert_eq!(misspelt.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&misspelt.stderr);
    assert!(
        stderr.contains("dbpm::package::bad_script_name") && stderr.contains("002.other.sq"),
        "{stderr}"
    );
}

#[test]
fn a_hidden_file_named_as_a_script_is_left_out_with_a_warning() {
    // QA: `.002.grants.sql` (hidden by mistake) was left out of the package without a word,
    // so a script went missing unnoticed. Other hidden files (`.gitkeep`) stay silent.
    let ctx = TestContext::new();
    let dir = write_package(
        &ctx,
        "p",
        &[
            ("dbpm.toml", &manifest("\"sqlite\"", "")),
            ("INSTALL/001.view.sql", "CREATE VIEW v AS SELECT 1;\n"),
            ("INSTALL/.002.grants.sql", "SELECT 1;\n"),
            ("INSTALL/.gitkeep", ""),
            ("ROLLBACK/001.view.sql", "DROP VIEW IF EXISTS v;\n"),
        ],
    );
    let build = build_into_dist(&ctx, &dir);
    assert_eq!(build.status.code(), Some(0));
    let stderr = String::from_utf8_lossy(&build.stderr);
    assert!(
        stderr.contains("dbpm::package::hidden_script")
            && stderr.contains(".002.grants.sql")
            && stderr.contains("rename it `002.grants.sql`")
            && !stderr.contains(".gitkeep"),
        "{stderr}"
    );
}

#[test]
fn a_package_without_scripts_builds() {
    // QA: a meta-package (prerequisites only) was refused: "the package has no scripts".
    let ctx = TestContext::new();
    let meta = write_package(
        &ctx,
        "meta",
        &[(
            "dbpm.toml",
            &manifest("\"sqlite\"", "\n[prerequisites]\ncore = \"^1\"\n"),
        )],
    );
    let build = build_into_dist(&ctx, &meta);
    let text = transcript(&build, ctx.temp.path());
    assert_eq!(build.status.code(), Some(0), "{text}");
    assert!(!text.contains("warning"), "{text}");

    // With no prerequisites either it builds too, and the warning says it changes nothing.
    let empty = write_package(&ctx, "empty", &[("dbpm.toml", &manifest("\"sqlite\"", ""))]);
    let build = build_into_dist(&ctx, &empty);
    insta::assert_snapshot!(transcript(&build, ctx.temp.path()));
}

/// QA: a package version directory copied to `baz/1.0.0` whose manifest says `1.1.0`
/// built, and was found in a repository of sources, as `1.1.0` without a word. A directory
/// named after a version and its manifest must agree on it; its parent's name is free.
#[test]
fn a_version_directory_and_its_manifest_must_agree() {
    let ctx = TestContext::new();
    let package = |dir: &str, name: &str, version: &str| {
        write_package(
            &ctx,
            dir,
            &[
                (
                    "dbpm.toml",
                    &format!(
                        "[package]\nname = \"{name}\"\nversion = \"{version}\"\nplatforms = [\"sqlite\"]\n"
                    ),
                ),
                ("INSTALL/001.v.sql", "CREATE VIEW v AS SELECT 1 AS one;\n"),
                ("ROLLBACK/001.v.sql", "DROP VIEW IF EXISTS v;\n"),
            ],
        )
    };
    let copied = package("pk/baz/1.0.0", "baz", "1.1.0");
    let build = build_into_dist(&ctx, &copied);
    assert_eq!(build.status.code(), Some(1));
    insta::assert_snapshot!(transcript(&build, ctx.temp.path()));

    let named_otherwise = package("pk/billing-db/2.0.0", "billing", "2.0.0");
    assert_eq!(
        build_into_dist(&ctx, &named_otherwise).status.code(),
        Some(0)
    );

    let anywhere = package("work/next", "qux", "3.0.0");
    assert_eq!(build_into_dist(&ctx, &anywhere).status.code(), Some(0));
}

/// QA: `dbpm build` run in the package, with its defaults, writes `dist/` there; the next
/// build refused `dist` as an unknown phase directory, and so did a repository of sources.
/// A folder of built archives is no part of the package.
#[test]
fn a_build_in_the_package_reads_its_own_archives_as_no_part_of_it() {
    let ctx = TestContext::new();
    let dir = write_package(
        &ctx,
        "pk/p/1.0.0",
        &[
            ("dbpm.toml", &manifest("\"sqlite\"", "")),
            ("INSTALL/001.v.sql", "CREATE VIEW v AS SELECT 1 AS one;\n"),
            ("ROLLBACK/001.v.sql", "DROP VIEW IF EXISTS v;\n"),
        ],
    );
    let dist = dir.join("dist");
    let build = || {
        ctx.run(&[
            "build",
            dir.to_str().unwrap(),
            "--out-dir",
            dist.to_str().unwrap(),
        ])
    };
    assert_eq!(build().status.code(), Some(0));
    let again = build();
    assert_eq!(
        again.status.code(),
        Some(0),
        "{}",
        transcript(&again, ctx.temp.path())
    );
    let listed = ctx.run(&["repo", "list", "--repo", ctx.path("pk").to_str().unwrap()]);
    let text = transcript(&listed, ctx.temp.path());
    assert_eq!(listed.status.code(), Some(0), "{text}");
    assert!(text.contains("1.0.0"), "{text}");
}
