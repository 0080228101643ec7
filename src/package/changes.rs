//! How two builds of one package version differ, file by file (the normalised `dbpm.toml` and
//! the scripts, the files its content checksum is made of): what a drift or a refused
//! republish names besides the two checksums. Pure; where the builds come from is the
//! caller's business.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::Serialize;

use super::script::ScriptName;
use super::{Checksum, Package};
use crate::manifest::MANIFEST_FILE;

/// How many paths a message names before "and N more".
const NAMED: usize = 10;

/// The files that differ between two builds of one package version, by path.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct FileChanges {
    /// In both builds, with other content.
    pub changed: Vec<String>,
    /// Only in the second build.
    pub added: Vec<String>,
    /// Only in the first build.
    pub removed: Vec<String>,
}

impl FileChanges {
    /// From the build `before` to the build `after`, each given as path → checksum.
    pub fn between(
        before: &BTreeMap<String, Checksum>,
        after: &BTreeMap<String, Checksum>,
    ) -> Self {
        let mut changes = FileChanges::default();
        for (path, checksum) in before {
            match after.get(path) {
                None => changes.removed.push(path.clone()),
                Some(other) if other != checksum => changes.changed.push(path.clone()),
                Some(_) => {}
            }
        }
        changes.added = after
            .keys()
            .filter(|path| !before.contains_key(*path))
            .cloned()
            .collect();
        changes
    }

    /// Whether no file differs.
    pub fn is_empty(&self) -> bool {
        self.changed.is_empty() && self.added.is_empty() && self.removed.is_empty()
    }

    /// How the sources that two platforms' builds of one version share differ: the manifest,
    /// and the scripts without a platform tag that both have. A script without a tag that
    /// one build has and the other has neither as it is nor as a variant was added or
    /// removed. Variants (`001.tables.mysql.sql`) belong to their platform and are not
    /// compared. Empty when both builds come from the same sources.
    pub fn across_platforms(published: &Package, new: &Package) -> Self {
        let (published, new) = (shared_sources(published), shared_sources(new));
        let mut changes = FileChanges::default();
        for (path, (key, checksum)) in &published.common {
            match new.common.get(path) {
                Some((_, other)) if other != checksum => changes.changed.push(path.clone()),
                Some(_) => {}
                None if !new.variants.contains(key) => changes.removed.push(path.clone()),
                None => {}
            }
        }
        for (path, (key, _)) in &new.common {
            if !published.common.contains_key(path) && !published.variants.contains(key) {
                changes.added.push(path.clone());
            }
        }
        changes
    }

    /// `": `X` changed, `Y` added"` to end a message about the two builds with, or nothing
    /// when no file differs (or the changes are unknown).
    pub fn suffix(changes: Option<&FileChanges>) -> String {
        match changes {
            Some(changes) if !changes.is_empty() => format!(": {changes}"),
            _ => String::new(),
        }
    }
}

/// The sources of a build that another platform's build of the version would share: the
/// manifest (but for its platform) and the scripts without a platform tag (path → (folder and stem, checksum)), and
/// the folders and stems its variants take.
struct SharedSources {
    common: BTreeMap<String, ((String, String), Checksum)>,
    variants: BTreeSet<(String, String)>,
}

fn shared_sources(package: &Package) -> SharedSources {
    let mut common = BTreeMap::new();
    let mut variants = BTreeSet::new();
    // A build's manifest lists its own platform only.
    let mut manifest = package.manifest.clone();
    manifest.platforms.clear();
    common.insert(
        MANIFEST_FILE.to_owned(),
        (
            (String::new(), MANIFEST_FILE.to_owned()),
            Checksum::of_text(&crate::manifest::to_toml(&manifest)),
        ),
    );
    for script in &package.scripts {
        let (folder, file) = script.path.rsplit_once('/').unwrap_or(("", &script.path));
        let key = (folder.to_owned(), script.stem.to_string());
        let variant = ScriptName::parse(file).is_ok_and(|name| name.platform.is_some());
        if variant {
            variants.insert(key);
        } else {
            common.insert(script.path.to_string(), (key, script.checksum.clone()));
        }
    }
    SharedSources { common, variants }
}

/// `` `INSTALL/001.views.sql` changed, `VERIFY/002.counts.sql` added, and 3 more ``: at most
/// ten paths, the changed first.
impl fmt::Display for FileChanges {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let all = self
            .changed
            .iter()
            .map(|path| (path, "changed"))
            .chain(self.added.iter().map(|path| (path, "added")))
            .chain(self.removed.iter().map(|path| (path, "removed")));
        let total = self.changed.len() + self.added.len() + self.removed.len();
        for (i, (path, how)) in all.take(NAMED).enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "`{path}` {how}")?;
        }
        if total > NAMED {
            write!(f, ", and {} more", total - NAMED)?;
        }
        Ok(())
    }
}

/// How many lines of one file's difference a report shows.
const SHOWN_LINES: usize = 40;

/// How one file differs from a build to another, in the unified format (`--- NAME/PATH`,
/// `+++ NAME/PATH`, hunks with three lines of context), `names` naming the two sides; cut
/// after `SHOWN_LINES` lines with a line that says how many more there are.
pub fn unified_diff(path: &str, before: &str, after: &str, names: (&str, &str)) -> String {
    let diff = similar::TextDiff::from_lines(before, after);
    let text = diff
        .unified_diff()
        .context_radius(3)
        .header(
            &format!("{}/{path}", names.0),
            &format!("{}/{path}", names.1),
        )
        .to_string();
    let lines: Vec<&str> = text.lines().collect();
    if lines.len() <= SHOWN_LINES {
        return text;
    }
    format!(
        "{}\n… {} more lines\n",
        lines[..SHOWN_LINES].join("\n"),
        lines.len() - SHOWN_LINES
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(list: &[(&str, &str)]) -> BTreeMap<String, Checksum> {
        list.iter()
            .map(|(path, text)| ((*path).to_owned(), Checksum::of_text(text)))
            .collect()
    }

    #[test]
    fn names_the_changed_added_and_removed_files() {
        let before = files(&[
            ("dbpm.toml", "a"),
            ("INSTALL/001.v.sql", "v"),
            ("VERIFY/001.c.sql", "c"),
        ]);
        let after = files(&[
            ("dbpm.toml", "a"),
            ("INSTALL/001.v.sql", "v2"),
            ("UPGRADE/002.x.sql", "x"),
        ]);
        let changes = FileChanges::between(&before, &after);
        assert_eq!(changes.changed, ["INSTALL/001.v.sql"]);
        assert_eq!(changes.added, ["UPGRADE/002.x.sql"]);
        assert_eq!(changes.removed, ["VERIFY/001.c.sql"]);
        assert_eq!(
            FileChanges::suffix(Some(&changes)),
            ": `INSTALL/001.v.sql` changed, `UPGRADE/002.x.sql` added, `VERIFY/001.c.sql` removed"
        );
        let same = FileChanges::between(&before, &before);
        assert!(same.is_empty());
        assert_eq!(FileChanges::suffix(Some(&same)), "");
        assert_eq!(FileChanges::suffix(None), "");
    }

    #[test]
    fn a_difference_is_shown_as_a_unified_diff_cut_at_forty_lines() {
        let diff = unified_diff(
            "INSTALL/001.v.sql",
            "CREATE VIEW v AS SELECT 1;\n",
            "CREATE VIEW v AS SELECT 2;\n",
            ("installed", "repository"),
        );
        assert_eq!(
            diff,
            "--- installed/INSTALL/001.v.sql\n+++ repository/INSTALL/001.v.sql\n@@ -1 +1 @@\n-CREATE VIEW v AS SELECT 1;\n+CREATE VIEW v AS SELECT 2;\n"
        );
        let long: String = (0..100).map(|n| format!("line {n}\n")).collect();
        let cut = unified_diff("x.sql", "", &long, ("a", "b"));
        assert_eq!(cut.lines().count(), SHOWN_LINES + 1);
        assert!(cut.ends_with("… 63 more lines\n"), "{cut}");
    }

    /// One version's sources, built for `platform`.
    fn build(files: &[(&str, &str)], platform: crate::platform::Platform) -> Package {
        let tree = crate::package::source::FileTree {
            root: "shop/1.0.0".into(),
            files: files
                .iter()
                .map(|(path, text)| ((*path).to_owned(), text.as_bytes().to_vec()))
                .collect(),
            problems: Vec::new(),
        };
        crate::package::validate(&tree)
            .unwrap_or_else(|err| panic!("{err:?}"))
            .for_platform(platform)
            .unwrap_or_else(|| panic!("{platform}"))
    }

    #[test]
    fn another_platform_built_from_other_shared_sources_is_told_apart() {
        use crate::platform::Platform::{Mysql, Postgres};
        let manifest = "[package]\nname = \"shop\"\nversion = \"1.0.0\"\nplatforms = [\"postgres\", \"mysql\"]\n";
        let sources = [
            ("dbpm.toml", manifest),
            ("UPGRADE/001.tables.sql", "CREATE TABLE t (id SERIAL);\n"),
            (
                "UPGRADE/001.tables.mysql.sql",
                "CREATE TABLE t (id INT AUTO_INCREMENT);\n",
            ),
            ("DOWNGRADE/001.tables.sql", "DROP TABLE t;\n"),
        ];
        let published = build(&sources, Postgres);
        let same = build(&sources, Mysql);
        assert_eq!(
            FileChanges::across_platforms(&published, &same),
            FileChanges::default()
        );

        // Only its own variant changed: still the same version.
        let mut variant = sources;
        variant[2].1 = "CREATE TABLE t (id BIGINT AUTO_INCREMENT);\n";
        assert!(FileChanges::across_platforms(&published, &build(&variant, Mysql)).is_empty());

        let mut changed = sources.to_vec();
        changed[3].1 = "DROP TABLE IF EXISTS t;\n";
        changed.push(("VERIFY/001.t.sql", "SELECT 1 FROM t;\n"));
        let changes = FileChanges::across_platforms(&published, &build(&changed, Mysql));
        assert_eq!(changes.changed, ["DOWNGRADE/001.tables.sql"]);
        assert_eq!(changes.added, ["VERIFY/001.t.sql"]);
        assert!(changes.removed.is_empty());

        let mut described = sources;
        let other_manifest = format!("{manifest}description = \"a shop\"\n");
        described[0].1 = &other_manifest;
        let changes = FileChanges::across_platforms(&published, &build(&described, Mysql));
        assert_eq!(changes.changed, ["dbpm.toml"]);
    }

    #[test]
    fn names_ten_files_at_most() {
        let before = files(&[]);
        let names: Vec<String> = (1..=13).map(|n| format!("INSTALL/{n:03}.v.sql")).collect();
        let after = files(&names.iter().map(|n| (n.as_str(), "v")).collect::<Vec<_>>());
        let text = FileChanges::between(&before, &after).to_string();
        assert!(text.starts_with("`INSTALL/001.v.sql` added, "), "{text}");
        assert!(
            text.contains("`INSTALL/010.v.sql` added, and 3 more"),
            "{text}"
        );
        assert!(!text.contains("011"), "{text}");
    }
}
