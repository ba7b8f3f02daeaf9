//! "Did you mean ...?": the closest known word to a typo.
//!
//! Commands, handles, options, socket kinds and errno names all suggest
//! the nearest spelling the same way, by edit distance (`strsim`), case
//! aside: `TCP` is as close to `tcp` as a word can be.

/// The candidate closest to `word`, for "did you mean".
pub fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let allowed = |candidate: &str| (candidate.len() / 3).max(1) + 1;
    let lower = word.to_lowercase();
    candidates
        .into_iter()
        // Words of very different lengths are never close; skipping them
        // also keeps a huge typo from costing a huge edit-distance table.
        .filter(|c| word.len().abs_diff(c.len()) <= allowed(c))
        .map(|c| (strsim::levenshtein(&lower, &c.to_lowercase()), c))
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

    #[test]
    fn case_alone_is_no_distance() {
        let kinds = ["tcp", "udp", "tcp6", "unix-dgram"];
        assert_eq!(did_you_mean("TCP", kinds), Some("tcp"));
        assert_eq!(did_you_mean("Unix-Dgram", kinds), Some("unix-dgram"));
        assert_eq!(
            did_you_mean("econnrefused", ["ECONNREFUSED"]),
            Some("ECONNREFUSED")
        );
    }
}
