//! Positions in text, for errors that point at a file's line and column.

/// 1-based line and column (in characters) of byte `offset` in `text`.
pub(crate) fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    (before.matches('\n').count() + 1, before.rsplit('\n').next().map(|l| l.chars().count() + 1).unwrap_or(1))
}

#[cfg(test)]
mod tests {
    #[test]
    fn counts_from_one_in_characters() {
        assert_eq!(super::line_col("ab\ncé\nx", 0), (1, 1));
        assert_eq!(super::line_col("ab\ncé\nx", 6), (2, 3));
        assert_eq!(super::line_col("ab", 99), (1, 3));
    }
}
