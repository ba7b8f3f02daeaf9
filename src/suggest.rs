//! "Did you mean ...?": the closest known word to a typo.
//!
//! Commands, handles, options, socket kinds and errno names all suggest
//! the nearest spelling the same way, by edit distance (`strsim`).

/// The candidate closest to `word`, for "did you mean".
pub fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let allowed = |candidate: &str| (candidate.len() / 3).max(1) + 1;
    candidates
        .into_iter()
        // Words of very different lengths are never close; skipping them
        // also keeps a huge typo from costing a huge edit-distance table.
        .filter(|c| word.len().abs_diff(c.len()) <= allowed(c))
        .map(|c| (strsim::levenshtein(word, c), c))
        .filter(|(distance, c)| *distance <= allowed(c))
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_names() {
        let names = ["listener", "lose", "red"];
        assert_eq!(did_you_mean("lisener", names), Some("listener"));
        assert_eq!(did_you_mean("rd", names), Some("red"));
        assert_eq!(did_you_mean("zzzzzz", names), None);
        assert_eq!(did_you_mean(&"B".repeat(10_000_000), names), None);
    }
}
