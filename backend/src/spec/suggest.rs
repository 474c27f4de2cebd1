//! "Did you mean …?" for misspelt keys, kinds and names.

/// The candidate closest to `word`, if it is close enough to be a plausible typo: a case
/// difference, or an edit distance of at most a third of the word (at least one), counting a
/// swap of neighbours as one edit.
pub(crate) fn closest<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let lowered = word.to_lowercase();
    let allowed = (word.chars().count() / 3).max(1);
    candidates
        .iter()
        .map(|candidate| {
            let distance = strsim::damerau_levenshtein(&lowered, &candidate.to_lowercase());
            (distance, *candidate)
        })
        .filter(|(distance, _)| *distance <= allowed)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, candidate)| candidate)
}

/// The parenthesised hint after an unknown name: the closest candidate, or else `fallback`
/// followed by the full list (or `none` when the list is empty).
pub(crate) fn hint(word: &str, candidates: &[&str], fallback: &str, none: &str) -> String {
    match closest(word, candidates) {
        Some(candidate) => format!(" (did you mean '{candidate}'?)"),
        None if candidates.is_empty() => format!(" ({none})"),
        None => format!(" ({fallback}: {})", candidates.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEYS: [&str; 4] = ["column", "columns", "max", "missing_values"];

    #[test]
    fn suggests_close_words() {
        assert_eq!(closest("colum", &KEYS), Some("column"));
        assert_eq!(closest("Column", &KEYS), Some("column"));
        assert_eq!(closest("mxa", &KEYS), Some("max"));
        assert_eq!(closest("missing_value", &KEYS), Some("missing_values"));
        assert_eq!(closest("mian", &["main", "replica"]), Some("main"));
    }

    #[test]
    fn ignores_distant_words() {
        assert_eq!(closest("threshold", &KEYS), None);
        assert_eq!(closest("x", &["abc"]), None);
    }

    #[test]
    fn hints_fall_back_to_the_list() {
        assert_eq!(
            hint("colum", &KEYS, "expected", "-"),
            " (did you mean 'column'?)"
        );
        assert_eq!(
            hint("zzz", &["a", "b"], "expected one of", "-"),
            " (expected one of: a, b)"
        );
        assert_eq!(
            hint("zzz", &[], "declared", "none are declared"),
            " (none are declared)"
        );
    }
}
