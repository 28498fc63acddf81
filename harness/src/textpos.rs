//! Positions in text, for errors that point at a file's line and column.

/// 1-based line and column (in characters) of byte `offset` in `text`.
pub(crate) fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    (before.matches('\n').count() + 1, before.rsplit('\n').next().map(|l| l.chars().count() + 1).unwrap_or(1))
}

/// `text` read as TOML into `T`, or where and why not: line, column and message.
pub(crate) fn from_toml<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, (usize, usize, String)> {
    toml::from_str(text).map_err(|e| {
        let (line, column) = e.span().map(|s| line_col(text, s.start)).unwrap_or((1, 1));
        (line, column, e.message().to_string())
    })
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
