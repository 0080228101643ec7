//! Well-known junk in a phase folder: the backup, swap and auto-save files that editors
//! write beside a script, and the files that desktop file managers drop in every folder.
//!
//! They are left out of the package with a warning rather than refused as misnamed
//! scripts, since no one means them as scripts and the fix (delete them) is not dbpm's to
//! make. The patterns are narrow on purpose: a misspelt script (`001.a.sq`, `01.a.sql`)
//! matches none of them and is still refused.

/// What `name` is when it is well-known junk, as a phrase (`an editor backup file`).
pub fn kind(name: &str) -> Option<&'static str> {
    let hidden = name.strip_prefix('.');
    if name.len() > 1 && name.ends_with('~') {
        Some("an editor backup file")
    } else if name.len() > 2 && name.starts_with('#') && name.ends_with('#') {
        Some("an Emacs auto-save file")
    } else if hidden.is_some_and(|rest| {
        [".swp", ".swo", ".swx"]
            .iter()
            .any(|ext| rest.len() > ext.len() && rest.ends_with(ext))
    }) {
        Some("a Vim swap file (its script may have unsaved changes)")
    } else if name == ".DS_Store" || hidden.is_some_and(|rest| rest.starts_with('_')) {
        Some("a macOS Finder file")
    } else if name.eq_ignore_ascii_case("Thumbs.db") || name.eq_ignore_ascii_case("desktop.ini") {
        Some("a Windows Explorer file")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::kind;

    #[test]
    fn editor_and_file_manager_leftovers_are_junk() {
        for name in [
            "001.tables.sql~",
            "#001.tables.sql#",
            ".001.tables.sql.swp",
            ".001.tables.sql.swo",
            ".DS_Store",
            "._001.tables.sql",
            "Thumbs.db",
            "desktop.ini",
        ] {
            assert!(kind(name).is_some(), "{name} is junk");
        }
    }

    #[test]
    fn a_misspelt_script_is_not_junk() {
        // These must still be refused as bad script names, not skipped.
        for name in [
            "001.tables.sq",
            "01.tables.sql",
            "001-tables.sql",
            "001.tables.sql.bak",
            "001.tables.sql.orig",
            "~",
            "#",
            "##",
            ".swp",
            ".gitkeep",
        ] {
            assert_eq!(kind(name), None, "{name} is not junk");
        }
    }
}
