//! `{{field}}` templates: the proxy configs in `scenarios/templates/` and the router-side
//! shell and nftables files in `scenarios/templates/router/`. A field without a value is an
//! error, so nothing renders half-filled.
use std::collections::BTreeMap;

/// The values of a template's fields.
pub type Vars = BTreeMap<&'static str, String>;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TemplateError {
    #[error("{template}: field {{{{{field}}}}} has no value")]
    NoValue { template: String, field: String },
    #[error("{template}: a `{{{{` is never closed")]
    Unclosed { template: String },
}

/// Replace every `{{name}}` in `text` (named `template` in errors).
pub fn render(template: &str, text: &str, vars: &Vars) -> Result<String, TemplateError> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("{{") {
        out.push_str(&rest[..i]);
        let after = &rest[i + 2..];
        let j = after.find("}}").ok_or_else(|| TemplateError::Unclosed { template: template.into() })?;
        let name = after[..j].trim();
        let value =
            vars.get(name).ok_or_else(|| TemplateError::NoValue { template: template.into(), field: name.into() })?;
        out.push_str(value);
        rest = &after[j + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

/// A rendered shell template as console commands: one per line, without blank lines and
/// `#` comments.
pub fn commands(rendered: &str) -> Vec<String> {
    rendered.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).map(String::from).collect()
}

/// The fields a template uses, in order of first use.
pub fn fields(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find("{{") {
        let after = &rest[i + 2..];
        let Some(j) = after.find("}}") else { break };
        let name = after[..j].trim().to_string();
        if !out.contains(&name) {
            out.push(name);
        }
        rest = &after[j + 2..];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_and_refuses_fields_without_values() {
        let vars = Vars::from([("a", "1".to_string()), ("b", "two".to_string())]);
        assert_eq!(render("t", "x {{a}} y {{ b }}", &vars).unwrap(), "x 1 y two");
        assert_eq!(render("t", "{{c}}", &vars).unwrap_err().to_string(), "t: field {{c}} has no value");
        assert_eq!(render("t", "x {{a", &vars).unwrap_err(), TemplateError::Unclosed { template: "t".into() });
        // Shell braces are not fields.
        assert_eq!(render("t", "${i##*/} {a}", &vars).unwrap(), "${i##*/} {a}");
    }

    #[test]
    fn commands_skip_comments_and_blank_lines() {
        assert_eq!(commands("# what\n\n  ip link  \n#x\nnft -f y\n"), vec!["ip link", "nft -f y"]);
        assert_eq!(fields("{{a}} {{b}} {{ a }}"), vec!["a", "b"]);
    }
}
