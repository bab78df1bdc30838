//! Django's `UserAttributeSimilarityValidator`, reproduced exactly (difflib's `quick_ratio`
//! included), so a password the Django service refused is refused here too.

use std::collections::HashMap;

pub(crate) fn is_too_similar(password: &str, value: &str, max_similarity: f64) -> bool {
    let password = password.to_lowercase();
    let value = value.to_lowercase();
    split_on_non_word(&value)
        .chain(std::iter::once(value.as_str()))
        .filter(|part| !exceeds_maximum_length_ratio(&password, max_similarity, part))
        .any(|part| {
            // An empty part shares nothing with the password, but difflib
            // would call two empty strings identical; never let it decide.
            !part.is_empty() && quick_ratio(&password, part) >= max_similarity
        })
}

/// Python's `re.split(r"\W+", value)`, empty ends included.
fn split_on_non_word(value: &str) -> impl Iterator<Item = &str> {
    let is_non_word = |c: char| !(c.is_alphanumeric() || c == '_');
    let mut pieces = Vec::new();
    let mut rest = value;
    while let Some(start) = rest.find(is_non_word) {
        pieces.push(&rest[..start]);
        let after = &rest[start..];
        let run = after.find(|c| !is_non_word(c)).unwrap_or(after.len());
        rest = &after[run..];
    }
    pieces.push(rest);
    pieces.into_iter()
}

fn exceeds_maximum_length_ratio(password: &str, max_similarity: f64, value: &str) -> bool {
    let pwd_len = password.chars().count();
    let value_len = value.chars().count();
    let length_bound_similarity = max_similarity / 2.0 * pwd_len as f64;
    pwd_len >= 10 * value_len && (value_len as f64) < length_bound_similarity
}

/// difflib's `SequenceMatcher(a=a, b=b).quick_ratio()`.
fn quick_ratio(a: &str, b: &str) -> f64 {
    let total = a.chars().count() + b.chars().count();
    if total == 0 {
        return 1.0;
    }
    let mut available: HashMap<char, usize> = HashMap::new();
    for c in b.chars() {
        *available.entry(c).or_default() += 1;
    }
    let mut matches = 0usize;
    for c in a.chars() {
        if let Some(count) = available.get_mut(&c).filter(|n| **n > 0) {
            *count -= 1;
            matches += 1;
        }
    }
    2.0 * matches as f64 / total as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_like_python_re_split_on_non_word_runs() {
        let parts: Vec<_> = split_on_non_word("john.smith@example.com").collect();
        assert_eq!(parts, ["john", "smith", "example", "com"]);
    }

    #[test]
    fn split_keeps_empty_edge_pieces_and_underscores() {
        let parts: Vec<_> = split_on_non_word("-john_smith+").collect();
        assert_eq!(parts, ["", "john_smith", ""]);
    }

    #[test]
    fn quick_ratio_counts_the_shared_characters() {
        // "abcd" and "bcde" share b, c, d: 2 * 3 / 8.
        assert!((quick_ratio("abcd", "bcde") - 0.75).abs() < 1e-12);
        assert!((quick_ratio("aab", "abb") - 2.0 * 2.0 / 6.0).abs() < 1e-12);
        assert!((quick_ratio("abc", "xyz")).abs() < 1e-12);
    }

    #[test]
    fn quick_ratio_ignores_order() {
        assert!((quick_ratio("htimsnhoj", "johnsmith") - 1.0).abs() < 1e-12);
    }

    #[test]
    fn password_close_to_the_local_part_is_too_similar() {
        assert!(is_too_similar("johnsmith1", "johnsmith@example.com", 0.7));
    }

    #[test]
    fn comparison_ignores_case() {
        assert!(is_too_similar("JohnSmith!", "johnsmith@example.com", 0.7));
    }

    #[test]
    fn password_close_to_the_whole_address_is_too_similar() {
        assert!(is_too_similar(
            "jsmith@example.com",
            "jsmith@example.com",
            0.7
        ));
    }

    #[test]
    fn unrelated_passphrase_is_not_too_similar() {
        assert!(!is_too_similar(
            "correct horse battery staple",
            "johnsmith@example.com",
            0.7
        ));
    }

    #[test]
    fn short_parts_are_skipped_for_long_passwords() {
        assert!(exceeds_maximum_length_ratio(&"c".repeat(30), 0.7, "com"));
        assert!(!exceeds_maximum_length_ratio(&"c".repeat(29), 0.7, "com"));
        assert!(!exceeds_maximum_length_ratio(
            &"c".repeat(30),
            0.7,
            "comcomcomcomc"
        ));
    }

    #[test]
    fn empty_parts_never_match() {
        assert!(!is_too_similar("", "", 0.7));
        assert!(!is_too_similar("", "@.", 0.7));
    }
}
