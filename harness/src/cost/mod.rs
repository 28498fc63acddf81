//! Deterministic cost: guest instructions per request, from the insn-count plugin's counters
//! read at phase boundaries. Pure arithmetic on [`InsnReading`]s; the runner takes the
//! readings, `report.json` keeps the result (the `insns` section, docs/report.schema.json).
//!
//! The guest executes a background beside the requests (timer ticks, the metrics agent,
//! keepalives). An idle window before the load measures its rate, and the per-request
//! figures subtract `rate × phase seconds` ("net"); the raw figures are kept beside them.
use crate::vm::InsnReading;

/// Instructions per second, user and kernel, over a window.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Rate {
    pub seconds: f64,
    pub user_per_s: f64,
    pub kernel_per_s: f64,
    /// TLB refills per second, where the plugin counts them (MIPS).
    #[serde(default)]
    pub tlb_refills_per_s: Option<f64>,
}

impl Rate {
    /// The rate between two readings; `None` if they are not in order.
    pub fn between(a: &InsnReading, b: &InsnReading) -> Option<Rate> {
        let seconds = b.t - a.t;
        if seconds <= 0.0 || b.user < a.user || b.kernel < a.kernel {
            return None;
        }
        Some(Rate {
            seconds,
            user_per_s: (b.user - a.user) as f64 / seconds,
            kernel_per_s: (b.kernel - a.kernel) as f64 / seconds,
            tlb_refills_per_s: b.tlb_refills_since(a).map(|n| n as f64 / seconds),
        })
    }

    pub fn total_per_s(&self) -> f64 {
        self.user_per_s + self.kernel_per_s
    }
}

/// What the metrics agent costs the router per sample, and per second at its interval.
/// Measured on asks made one at a time in the idle window ([`AgentAsk`]), less the rate
/// with the agent stopped; see [`AgentCost::from_asks`].
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AgentCost {
    pub samples: u64,
    pub interval_s: f64,
    /// Averaged over the agent's cycle of plain samples and samples with clock and memory.
    pub per_sample_user: f64,
    pub per_sample_kernel: f64,
    /// Per second at its sampling interval.
    pub per_s: f64,
    /// Its share of everything the guest executed in the steady phase, percent.
    pub share_of_steady_pct: Option<f64>,
}

/// One ask of the agent on its own: the counters just before it, and after its answer came
/// and the agent had gone back to sleep. Between them is that one sample's work and a
/// short stretch of the quiet background.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AgentAsk {
    /// The ask, as sent (`t`, or with the guest's clock and memory: `t u`, `t m u`).
    pub ask: &'static str,
    pub before: InsnReading,
    pub after: InsnReading,
}

impl AgentCost {
    pub fn new(a: &InsnReading, b: &InsnReading, samples: u64, quiet: &Rate, interval_s: f64) -> Option<AgentCost> {
        let w = Rate::between(a, b)?;
        if samples == 0 || interval_s <= 0.0 {
            return None;
        }
        let per = |rate: f64, quiet: f64| ((rate - quiet) * w.seconds / samples as f64).max(0.0);
        let (u, k) = (per(w.user_per_s, quiet.user_per_s), per(w.kernel_per_s, quiet.kernel_per_s));
        Some(AgentCost {
            samples,
            interval_s,
            per_sample_user: u,
            per_sample_kernel: k,
            per_s: (u + k) / interval_s,
            share_of_steady_pct: None,
        })
    }

    /// The agent's cost from asks made one at a time: the median of each kind of ask (the
    /// median keeps an ask that caught something else from counting), weighed by how often
    /// it comes in the host's `cycle` of asks. `None` if a kind in the cycle was not asked.
    pub fn from_asks(asks: &[AgentAsk], quiet: &Rate, interval_s: f64, cycle: &[&str]) -> Option<AgentCost> {
        let median = |kind: &str| {
            let mut each: Vec<AgentCost> = asks
                .iter()
                .filter(|a| a.ask == kind)
                .filter_map(|a| AgentCost::new(&a.before, &a.after, 1, quiet, interval_s))
                .collect();
            each.sort_by(|a, b| a.per_sample().total_cmp(&b.per_sample()));
            each.get(each.len().checked_sub(1)? / 2).copied()
        };
        let (mut u, mut k) = (0.0, 0.0);
        for kind in cycle {
            let m = median(kind)?;
            u += m.per_sample_user / cycle.len() as f64;
            k += m.per_sample_kernel / cycle.len() as f64;
        }
        Some(AgentCost {
            samples: asks.len() as u64,
            interval_s,
            per_sample_user: u,
            per_sample_kernel: k,
            per_s: (u + k) / interval_s,
            share_of_steady_pct: None,
        })
    }

    pub fn per_sample(&self) -> f64 {
        self.per_sample_user + self.per_sample_kernel
    }
}

/// The background a phase runs on: the quiet rate plus the agent at its interval. (The
/// agent's own TLB refills are not measured apart: the quiet rate's are subtracted.)
pub fn background(quiet: &Rate, agent: Option<&AgentCost>) -> Rate {
    let (u, k) =
        agent.map(|a| (a.per_sample_user / a.interval_s, a.per_sample_kernel / a.interval_s)).unwrap_or_default();
    Rate { user_per_s: quiet.user_per_s + u, kernel_per_s: quiet.kernel_per_s + k, ..*quiet }
}

/// One load phase's instructions.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PhaseCost {
    /// Host seconds between the two readings (the whole load run, start-up included).
    pub seconds: f64,
    pub user: u64,
    pub kernel: u64,
    pub total: u64,
    pub per_s: f64,
    /// Completed requests and full TLS handshakes the load generator counted.
    pub requests: u64,
    pub full_handshakes: u64,
    /// total / requests.
    pub per_request_raw: Option<f64>,
    /// (total − background rate × seconds) / requests, and its user and kernel parts.
    pub per_request: Option<f64>,
    pub per_request_user: Option<f64>,
    pub per_request_kernel: Option<f64>,
    pub per_handshake_raw: Option<f64>,
    pub per_handshake: Option<f64>,
    /// TLB refills in the phase, where the plugin counts them (MIPS), and per request with
    /// the background's refills subtracted.
    #[serde(default)]
    pub tlb_refills: Option<u64>,
    #[serde(default)]
    pub tlb_refills_per_request: Option<f64>,
}

impl PhaseCost {
    /// The cost between `a` and `b`, with `background` (if measured) subtracted.
    pub fn new(a: &InsnReading, b: &InsnReading, background: Option<&Rate>, requests: u64, hs: u64) -> PhaseCost {
        let seconds = (b.t - a.t).max(0.0);
        let (user, kernel) = (b.user.saturating_sub(a.user), b.kernel.saturating_sub(a.kernel));
        let total = user + kernel;
        let per = |x: f64, n: u64| (n > 0).then(|| x / n as f64);
        let (bu, bk) = background.map(|r| (r.user_per_s * seconds, r.kernel_per_s * seconds)).unwrap_or_default();
        let net_user = user as f64 - bu;
        let net_kernel = kernel as f64 - bk;
        let bg = background.is_some();
        let tlb = b.tlb_refills_since(a);
        let tlb_bg = background.and_then(|r| r.tlb_refills_per_s).map(|r| r * seconds);
        let tlb_net = tlb.zip(tlb_bg).and_then(|(n, bg)| per(n as f64 - bg, requests));
        PhaseCost {
            seconds,
            user,
            kernel,
            total,
            per_s: if seconds > 0.0 { total as f64 / seconds } else { 0.0 },
            requests,
            full_handshakes: hs,
            per_request_raw: per(total as f64, requests),
            per_request: per(net_user + net_kernel, requests).filter(|_| bg),
            per_request_user: per(net_user, requests).filter(|_| bg),
            per_request_kernel: per(net_kernel, requests).filter(|_| bg),
            per_handshake_raw: per(total as f64, hs),
            per_handshake: per(net_user + net_kernel, hs).filter(|_| bg),
            tlb_refills: tlb,
            tlb_refills_per_request: tlb_net,
        }
    }
}

/// A cell's `insns` section: either measured, or the reason it is not.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct InsnSection {
    /// Why there are no counts (no plugin, QEMU refused it, the socket failed).
    pub unavailable: Option<String>,
    /// What is subtracted per second of a phase: `quiet` plus the agent at its interval.
    pub background: Option<Rate>,
    /// The idle window with the metrics agent stopped.
    pub quiet: Option<Rate>,
    /// The earlier cell of the same build on the same router whose idle window `quiet` and
    /// `agent` are (a window is measured once per build and router); absent: this cell's own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idle_from: Option<String>,
    pub agent: Option<AgentCost>,
    pub warmup: Option<PhaseCost>,
    pub steady: Option<PhaseCost>,
}

impl InsnSection {
    pub fn unavailable(why: impl Into<String>) -> InsnSection {
        InsnSection { unavailable: Some(why.into()), ..Default::default() }
    }

    /// One line for a terminal or a summary: net instructions per request, or why not.
    pub fn headline(&self) -> String {
        if let Some(why) = &self.unavailable {
            return format!("instruction counts: unavailable ({why})");
        }
        let Some(s) = &self.steady else { return "instruction counts: unavailable (no steady phase)".into() };
        let mut line = Self::per_request_line(s);
        if let Some(t) = s.tlb_refills_per_request {
            line.push_str(&format!(", {} TLB refills/req", human(t)));
        }
        // On kept connections the steady phase has none: these came from connections opened
        // again (a warm-up whose requests timed out), and each is millions of instructions.
        match s.full_handshakes {
            0 => line,
            n => format!("{line}; includes {n} full TLS handshake{}", if n == 1 { "" } else { "s" }),
        }
    }

    fn per_request_line(s: &PhaseCost) -> String {
        match (s.per_request, s.per_request_raw) {
            (Some(net), Some(raw)) => {
                format!("{} insns/req net ({} raw), {} M insns/s", human(net), human(raw), fmt1(s.per_s / 1e6))
            }
            (None, Some(raw)) => format!(
                "{} insns/req raw, {} M insns/s (no idle window, so no background to subtract)",
                human(raw),
                fmt1(s.per_s / 1e6)
            ),
            _ => "instruction counts: no completed request to divide by".into(),
        }
    }
}

/// 198 k, 1.52 M.
pub fn human(x: f64) -> String {
    if x.abs() >= 1e6 {
        format!("{:.2} M", x / 1e6)
    } else if x.abs() >= 1e3 {
        format!("{:.1} k", x / 1e3)
    } else {
        format!("{x:.0}")
    }
}

fn fmt1(x: f64) -> String {
    format!("{x:.1}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(t: f64, user: u64, kernel: u64) -> InsnReading {
        InsnReading { t, user, kernel, idle_s: None, tlb_refills: None }
    }

    #[test]
    fn background_is_subtracted_per_second_of_the_phase() {
        // 2 M/s background (1.5 user + 0.5 kernel); 1000 requests of 200 k each over 4 s.
        let bg = Rate::between(&r(0.0, 0, 0), &r(2.0, 3_000_000, 1_000_000)).unwrap();
        assert_eq!((bg.user_per_s, bg.kernel_per_s), (1_500_000.0, 500_000.0));
        let (u, k) = (150_000_000 + 6_000_000, 50_000_000 + 2_000_000);
        let c = PhaseCost::new(&r(10.0, 0, 0), &r(14.0, u, k), Some(&bg), 1000, 10);
        assert_eq!(c.total, 208_000_000);
        assert_eq!(c.per_request_raw, Some(208_000.0));
        assert_eq!(c.per_request, Some(200_000.0));
        assert_eq!((c.per_request_user, c.per_request_kernel), (Some(150_000.0), Some(50_000.0)));
        assert_eq!(c.per_handshake, Some(20_000_000.0));
        assert_eq!(c.per_s, 52_000_000.0);
    }

    #[test]
    fn tlb_refills_are_counted_only_where_both_readings_have_them_and_net_of_the_background() {
        let tlb = |t, n: Option<u64>| InsnReading { tlb_refills: n, ..r(t, 0, 0) };
        // 100 refills/s at rest; 1000 requests over 4 s with 630.4 k refills in all.
        let bg = Rate::between(&tlb(0.0, Some(0)), &tlb(2.0, Some(200))).unwrap();
        assert_eq!(bg.tlb_refills_per_s, Some(100.0));
        let c = PhaseCost::new(&tlb(10.0, Some(1_000)), &tlb(14.0, Some(631_400)), Some(&bg), 1000, 0);
        assert_eq!((c.tlb_refills, c.tlb_refills_per_request), (Some(630_400), Some(630.0)));
        assert_eq!(
            background(&bg, None).tlb_refills_per_s,
            Some(100.0),
            "the quiet rate's refills are the background's"
        );
        // A plugin that does not count them (aarch64), or no background: no figure, never 0.
        let c = PhaseCost::new(&tlb(10.0, None), &tlb(14.0, None), Some(&bg), 1000, 0);
        assert_eq!((c.tlb_refills, c.tlb_refills_per_request), (None, None));
        let c = PhaseCost::new(&tlb(10.0, Some(0)), &tlb(14.0, Some(5)), None, 1000, 0);
        assert_eq!((c.tlb_refills, c.tlb_refills_per_request), (Some(5), None));
        assert_eq!(Rate::between(&tlb(0.0, None), &tlb(1.0, Some(3))).unwrap().tlb_refills_per_s, None);
    }

    #[test]
    fn nothing_to_divide_by_is_none_not_zero() {
        let c = PhaseCost::new(&r(0.0, 0, 0), &r(1.0, 10, 10), None, 0, 0);
        assert_eq!((c.per_request_raw, c.per_request, c.per_handshake_raw), (None, None, None));
        let c = PhaseCost::new(&r(0.0, 0, 0), &r(1.0, 10, 10), None, 5, 0);
        assert_eq!((c.per_request_raw, c.per_request), (Some(4.0), None), "no background, no net figure");
    }

    #[test]
    fn readings_out_of_order_give_no_rate() {
        assert!(Rate::between(&r(1.0, 5, 5), &r(1.0, 6, 6)).is_none());
        assert!(Rate::between(&r(0.0, 5, 5), &r(1.0, 4, 6)).is_none());
    }

    #[test]
    fn the_agent_costs_its_window_less_the_quiet_rate_per_sample() {
        let quiet = Rate { seconds: 1.0, user_per_s: 100.0, kernel_per_s: 20_000.0, tlb_refills_per_s: None };
        // Two samples in 1.0 s: 2 x (300 k user + 200 k kernel) over the quiet background.
        let a = AgentCost::new(&r(5.0, 0, 0), &r(6.0, 600_100, 420_000), 2, &quiet, 0.5).unwrap();
        assert_eq!((a.per_sample_user, a.per_sample_kernel, a.per_s), (300_000.0, 200_000.0, 1_000_000.0));
        let bg = background(&quiet, Some(&a));
        assert_eq!((bg.user_per_s, bg.kernel_per_s), (600_100.0, 420_000.0));
        assert!(AgentCost::new(&r(5.0, 0, 0), &r(6.0, 1, 1), 0, &quiet, 0.5).is_none(), "no sample, no cost");
    }

    #[test]
    fn the_agent_costs_the_median_ask_of_each_kind_weighed_as_asked() {
        let ask = |ask, t: f64, user, kernel| AgentAsk { ask, before: r(t, 0, 0), after: r(t + 0.25, user, kernel) };
        // Plain asks cost 40 k + 60 k; one caught something else. The clock adds 20 k kernel,
        // memory 40 k more. 200/s of quiet background is 50 user instructions per 0.25 s ask.
        let quiet = Rate { seconds: 1.0, user_per_s: 200.0, kernel_per_s: 0.0, tlb_refills_per_s: None };
        let asks = [
            ask("t m u", 0.0, 40_050, 120_000),
            ask("t", 1.0, 40_050, 60_000),
            ask("t", 2.0, 4_000_050, 60_000),
            ask("t", 3.0, 40_050, 60_000),
            ask("t u", 4.0, 40_050, 80_000),
        ];
        let cycle = ["t m u", "t", "t", "t", "t u", "t", "t", "t"];
        let a = AgentCost::from_asks(&asks, &quiet, 0.5, &cycle).unwrap();
        assert_eq!(a.samples, 5);
        // Kernel: (120 + 6 x 60 + 80) / 8 = 70 k.
        assert_eq!((a.per_sample_user, a.per_sample_kernel), (40_000.0, 70_000.0));
        assert_eq!(a.per_s, 220_000.0);
        assert!(AgentCost::from_asks(&asks[..4], &quiet, 0.5, &cycle).is_none(), "`t u` never asked");
    }

    #[test]
    fn headline_says_unavailable_with_the_reason_never_zero() {
        let s = InsnSection::unavailable("QEMU did not load the insn-count plugin: bad ELF");
        assert_eq!(s.headline(), "instruction counts: unavailable (QEMU did not load the insn-count plugin: bad ELF)");
        let bg = Rate { seconds: 1.0, user_per_s: 0.0, kernel_per_s: 0.0, tlb_refills_per_s: None };
        let steady = PhaseCost::new(&r(0.0, 0, 0), &r(2.0, 198_000_000, 0), Some(&bg), 1000, 0);
        let s = InsnSection { steady: Some(steady), ..Default::default() };
        assert_eq!(s.headline(), "198.0 k insns/req net (198.0 k raw), 99.0 M insns/s");
        // Without an idle window there is no background: raw only, and it says why.
        let raw_only = PhaseCost::new(&r(0.0, 0, 0), &r(2.0, 198_000_000, 0), None, 1000, 0);
        let s = InsnSection { steady: Some(raw_only), ..Default::default() };
        assert_eq!(
            s.headline(),
            "198.0 k insns/req raw, 99.0 M insns/s (no idle window, so no background to subtract)"
        );
        // Handshakes in the steady phase are said: they weigh on every figure of the line.
        let reopened = PhaseCost::new(&r(0.0, 0, 0), &r(2.0, 198_000_000, 0), Some(&bg), 1000, 3);
        let s = InsnSection { steady: Some(reopened), ..Default::default() };
        assert_eq!(s.headline(), "198.0 k insns/req net (198.0 k raw), 99.0 M insns/s; includes 3 full TLS handshakes");
        // Where TLB refills are counted (MIPS), the line says how many each request cost.
        let tlb = |t, user, n| InsnReading { tlb_refills: Some(n), ..r(t, user, 0) };
        let bg = Rate { tlb_refills_per_s: Some(0.0), ..bg };
        let counted = PhaseCost::new(&tlb(0.0, 0, 0), &tlb(2.0, 198_000_000, 630_000), Some(&bg), 1000, 0);
        let s = InsnSection { steady: Some(counted), ..Default::default() };
        assert_eq!(s.headline(), "198.0 k insns/req net (198.0 k raw), 99.0 M insns/s, 630 TLB refills/req");
    }
}
