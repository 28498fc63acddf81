//! HTML escaping for everything the reports write into a page: text and attribute values.

/// `s` with `&`, `<`, `>` and `"` escaped, safe in text and in a double-quoted attribute.
pub(crate) fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    #[test]
    fn markup_and_quotes_cannot_break_out() {
        assert_eq!(super::esc(r#"<a href="x">&amp;</a>"#), "&lt;a href=&quot;x&quot;&gt;&amp;amp;&lt;/a&gt;");
        assert_eq!(super::esc("plain"), "plain");
    }
}
