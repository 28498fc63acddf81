//! Where a scenario file's values are: errors that name the file, line, column and dotted
//! field, and the small checks every section shares.
use std::path::Path;
use std::time::Duration;

use toml::Spanned;

use super::ScenarioError;
use crate::textpos::line_col;

pub(crate) struct Ctx<'a> {
    pub path: &'a Path,
    pub text: &'a str,
}

impl Ctx<'_> {
    pub(crate) fn err<T>(
        &self,
        span: std::ops::Range<usize>,
        field: &str,
        message: impl Into<String>,
    ) -> Result<T, ScenarioError> {
        let (line, column) = line_col(self.text, span.start);
        Err(ScenarioError::Invalid {
            path: self.path.into(),
            line,
            column,
            field: field.into(),
            message: message.into(),
        })
    }

    pub(crate) fn choose<T: Copy>(
        &self,
        v: &Spanned<String>,
        field: &str,
        options: &[(&str, T)],
    ) -> Result<T, ScenarioError> {
        match options.iter().find(|(n, _)| *n == v.get_ref()) {
            Some((_, t)) => Ok(*t),
            None => {
                let allowed: Vec<&str> = options.iter().map(|(n, _)| *n).collect();
                self.err(v.span(), field, format!("{:?} is not one of {}", v.get_ref(), allowed.join(", ")))
            }
        }
    }

    pub(crate) fn duration(
        &self,
        v: &Option<Spanned<String>>,
        field: &str,
        default: Duration,
    ) -> Result<Duration, ScenarioError> {
        match v {
            None => Ok(default),
            Some(s) => humantime::parse_duration(s.get_ref()).or_else(|e| {
                self.err(s.span(), field, format!("{:?} is not a duration like \"10s\" or \"500ms\": {e}", s.get_ref()))
            }),
        }
    }

    /// A duration that must be longer than zero (a steady phase, a latency budget), as the
    /// command line's `--duration` is.
    pub(crate) fn positive_duration(
        &self,
        v: &Option<Spanned<String>>,
        field: &str,
        default: Duration,
    ) -> Result<Duration, ScenarioError> {
        match (self.duration(v, field, default)?, v) {
            (d, Some(s)) if d.is_zero() => {
                self.err(s.span(), field, format!("{:?} is zero; it must be longer than 0s", s.get_ref()))
            }
            (d, _) => Ok(d),
        }
    }
}

pub(crate) fn impair(
    c: &Ctx<'_>,
    raw: Option<&super::raw::RawImpair>,
    field: &str,
) -> Result<crate::netlab::Impairment, ScenarioError> {
    let Some(r) = raw else { return Ok(Default::default()) };
    let d = |v: &Option<Spanned<String>>, name: &str| -> Result<Option<Duration>, ScenarioError> {
        v.as_ref().map(|s| c.duration(&Some(s.clone()), &format!("{field}.{name}"), Duration::ZERO)).transpose()
    };
    let loss = match &r.loss {
        Some(l) if !(0.0..=100.0).contains(l.get_ref()) => {
            return c.err(l.span(), &format!("{field}.loss"), "a percentage from 0 to 100")
        }
        Some(l) => Some(l.get_ref().to_string()),
        None => None,
    };
    if let Some(rate) = &r.rate {
        let ok = rate.get_ref().trim_end_matches(|ch: char| ch.is_ascii_alphabetic()).parse::<f64>().is_ok()
            && rate.get_ref().ends_with("bit");
        if !ok {
            return c.err(rate.span(), &format!("{field}.rate"), "a rate like \"10mbit\" or \"512kbit\"");
        }
    }
    let i = crate::netlab::Impairment {
        delay: d(&r.delay, "delay")?,
        jitter: d(&r.jitter, "jitter")?,
        loss_pct: loss,
        rate: r.rate.as_ref().map(|s| s.get_ref().clone()),
    };
    if i.jitter.is_some() && i.delay.is_none() {
        return c.err(r.jitter.as_ref().expect("set").span(), &format!("{field}.jitter"), "needs a delay");
    }
    Ok(i)
}

/// The dotted name of the key whose line holds `at` (`load.connections`): the last table
/// header before it, and the key before `=` on that line. For a TOML error, whose span is the
/// bad value or the unknown key. `-` when `at` is on no key's line.
pub(crate) fn field_at(text: &str, at: usize) -> String {
    let at = at.min(text.len());
    let line_start = text[..at].rfind('\n').map_or(0, |i| i + 1);
    let line = text[line_start..].lines().next().unwrap_or("");
    let table = text[..line_start]
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| l.starts_with('['))
        .map(|l| l.trim_matches(|c| c == '[' || c == ']').trim().to_string());
    let key = match line.split_once('=') {
        Some((k, _)) => k.trim().trim_matches('"').to_string(),
        None if line.trim().starts_with('[') => return line.trim().trim_matches(|c| c == '[' || c == ']').to_string(),
        None => return table.unwrap_or_else(|| "-".into()),
    };
    match table {
        Some(t) if !key.is_empty() => format!("{t}.{key}"),
        _ if !key.is_empty() => key,
        _ => "-".into(),
    }
}
