//! Wording shared by the messages of this module: "did you mean …?" (the closest known name
//! to a misspelt one, by edit distance). Only for messages; nothing decides by it.

/// The candidate closest to `wrong`, if one is close enough to be a plausible typo. Ties go
/// to the first in `candidates` order, so callers pass them sorted.
pub(super) fn closest<'a>(
    wrong: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let wrong_lower = wrong.to_ascii_lowercase();
    // Up to a third of the length, and at least one edit: "biling" → "billing".
    let limit = (wrong.chars().count() / 3).max(1);
    let mut best: Option<(usize, &str)> = None;
    for candidate in candidates {
        let distance = edit_distance(&wrong_lower, &candidate.to_ascii_lowercase());
        if distance <= limit && best.is_none_or(|(d, _)| distance < d) {
            best = Some((distance, candidate));
        }
    }
    best.map(|(_, name)| name)
}

/// The Levenshtein distance, over characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    let mut current = vec![0; b.len() + 1];
    for (i, ca) in a.chars().enumerate() {
        current[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != *cb);
            current[j + 1] = substitution.min(previous[j + 1] + 1).min(current[j] + 1);
        }
        std::mem::swap(&mut previous, &mut current);
    }
    previous[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_names_only() {
        let names = ["auth", "billing", "core"];
        assert_eq!(closest("biling", names), Some("billing"));
        assert_eq!(closest("Core", names), Some("core"));
        assert_eq!(closest("reporting", names), None);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }
}
