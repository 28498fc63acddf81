//! `[load] ramp` and `[expect] min-knee`: a capacity measurement as rising open-loop rates,
//! one cell each, and the budget its knee is held to.
use super::ctx::Ctx;
use super::raw::{RawExpect, RawLoad};
use super::{RampPlan, ScenarioError};
use crate::model::RampOf;

/// The share of failed requests a step may have and still hold, when the scenario's
/// `max-error-rate` does not say: the "≤ 1% errors".
pub const DEFAULT_ERROR_LIMIT: f64 = 0.01;

/// The ramp of a scenario, checked: at least two positive, rising rates or connection
/// counts, one ramp, not beside a fixed `rate`; a `min-knee` only where there is a ramp.
pub(crate) fn ramp(c: &Ctx<'_>, l: &RawLoad, e: &RawExpect) -> Result<Option<RampPlan>, ScenarioError> {
    let (of, field, r) = match (&l.ramp, &l.ramp_connections) {
        (Some(_), Some(n)) => {
            return c.err(n.span(), "load.ramp-connections", "give `ramp` or `ramp-connections`, not both")
        }
        (Some(r), None) => (RampOf::Rate, "load.ramp", Some((r.span(), r.get_ref().clone()))),
        (None, Some(n)) => {
            let values = n.get_ref().iter().map(|&x| f64::from(x)).collect();
            (RampOf::Connections, "load.ramp-connections", Some((n.span(), values)))
        }
        (None, None) => (RampOf::Rate, "load.ramp", None),
    };
    let min_knee = match &e.min_knee {
        Some(k) if !(k.get_ref().is_finite() && *k.get_ref() > 0.0) => {
            return c.err(k.span(), "expect.min-knee", "must be a positive number")
        }
        Some(k) if r.is_none() => {
            return c.err(k.span(), "expect.min-knee", "only a ramp has a knee: give [load] ramp = [rates...]")
        }
        k => k.as_ref().map(|k| *k.get_ref()),
    };
    let Some((span, values)) = r else { return Ok(None) };
    if l.rate.is_some() {
        return c.err(span, field, "give `rate` or a ramp, not both: a ramp's steps are its rates or connections");
    }
    if values.len() < 2 {
        return c.err(span, field, "list at least two steps; a single rate is `rate`, one count `connections`");
    }
    if let Some(x) = values.iter().find(|x| !(x.is_finite() && **x > 0.0)) {
        return c.err(span, field, format!("{x} is not a positive number"));
    }
    if let Some(w) = values.windows(2).find(|w| w[1] <= w[0]) {
        return c.err(span, field, format!("steps must rise: {} comes after {}", w[1], w[0]));
    }
    let error_limit = e.max_error_rate.as_ref().map_or(DEFAULT_ERROR_LIMIT, |m| *m.get_ref());
    Ok(Some(RampPlan { of, values, error_limit, min_knee }))
}

/// `[load] connect-rate`: a positive number of connections a second.
pub(crate) fn connect_rate(c: &Ctx<'_>, l: &RawLoad) -> Result<Option<f64>, ScenarioError> {
    match &l.connect_rate {
        Some(r) if !(r.get_ref().is_finite() && *r.get_ref() > 0.0) => {
            c.err(r.span(), "load.connect-rate", "must be a positive number of connections per second")
        }
        r => Ok(r.as_ref().map(|r| *r.get_ref())),
    }
}

/// `[load] think`: a positive duration, for the closed loop only (an open loop sends on its
/// own schedule, a rate ramp is an open loop).
pub(crate) fn think(c: &Ctx<'_>, l: &RawLoad) -> Result<Option<std::time::Duration>, ScenarioError> {
    let Some(t) = &l.think else { return Ok(None) };
    let d = c.positive_duration(&l.think, "load.think", std::time::Duration::ZERO)?;
    if l.rate.is_some() || l.ramp.is_some() {
        let why = "is for the closed loop, where each connection waits for its answer; drop load.rate and load.ramp";
        return c.err(t.span(), "load.think", why);
    }
    Ok(Some(d))
}

#[cfg(test)]
mod tests {
    use crate::model::RampOf;
    use crate::scenario::{load_plan, Plan, ScenarioError};

    const HEAD: &str = "name = \"r\"\ntargets = [\"aarch64-virt\"]\n[proxy]\nkind = \"haproxy\"\nmode = \"terminate-reencrypt\"\nclient-ip-header = \"xff-append\"\n";

    fn plan(load: &str, expect: &str) -> Result<Plan, ScenarioError> {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("r.toml");
        let text = format!("{HEAD}[load]\n{load}\n[expect]\nclient-ip = \"preserved\"\n{expect}\n");
        std::fs::write(&p, text).unwrap();
        load_plan(&p)
    }

    #[test]
    fn a_ramp_is_rising_rates_with_a_knee_budget() {
        let p = plan("ramp = [5, 10.5, 20]", "min-knee = 4").unwrap();
        let r = p.load.ramp.unwrap();
        assert_eq!((r.of, r.values, r.error_limit, r.min_knee), (RampOf::Rate, vec![5.0, 10.5, 20.0], 0.01, Some(4.0)));
        let p = plan("ramp-connections = [100, 200]\nconnect-rate = 20", "").unwrap();
        let r = p.load.ramp.unwrap();
        assert_eq!((r.of, r.values, p.load.connect_rate), (RampOf::Connections, vec![100.0, 200.0], Some(20.0)));
        let p = plan("ramp = [5, 10]", "max-error-rate = 0.05").unwrap();
        assert_eq!(p.load.ramp.unwrap().error_limit, 0.05, "the scenario's own limit");
        assert!(plan("rate = 5", "").unwrap().load.ramp.is_none());
        let idle = plan("ramp-connections = [10, 20]\nthink = \"8s\"", "").unwrap();
        assert_eq!(idle.load.think, Some(std::time::Duration::from_secs(8)), "idle keep-alive connections");
        assert_eq!(plan("rate = 5", "").unwrap().load.think, None);
    }

    #[test]
    fn bad_ramps_name_the_field_and_why() {
        let e = |load: &str, expect: &str| plan(load, expect).unwrap_err().to_string();
        let both = e("rate = 5\nramp = [5, 10]", "");
        assert!(both.contains(":9:8: load.ramp: give `rate` or a ramp, not both"), "{both}");
        let two = e("ramp = [5, 10]\nramp-connections = [1, 2]", "");
        assert!(two.contains("load.ramp-connections: give `ramp` or `ramp-connections`, not both"), "{two}");
        assert!(e("ramp-connections = [200, 100]", "")
            .contains("load.ramp-connections: steps must rise: 100 comes after 200"));
        assert!(e("connect-rate = 0", "").contains("load.connect-rate: must be a positive number"));
        assert!(e("ramp = [5]", "").contains("load.ramp: list at least two steps"));
        assert!(e("ramp = [5, 0]", "").contains("load.ramp: 0 is not a positive number"));
        assert!(e("ramp = [5, 20, 10]", "").contains("load.ramp: steps must rise: 10 comes after 20"));
        let lone = e("rate = 5", "min-knee = 3");
        assert!(lone.contains(":11:12: expect.min-knee: only a ramp has a knee"), "{lone}");
        assert!(e("ramp = [1, 2]", "min-knee = -1").contains("expect.min-knee: must be a positive number"));
        let open = e("rate = 5\nthink = \"2s\"", "");
        assert!(open.contains(":9:9: load.think: is for the closed loop"), "{open}");
        assert!(e("ramp = [1, 2]\nthink = \"2s\"", "").contains("load.think: is for the closed loop"));
        assert!(e("think = \"0s\"", "").contains("load.think: \"0s\" is zero"));
    }
}
