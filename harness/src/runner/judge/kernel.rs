//! The guest kernel's account of a cell as evidence: OOM kills, failed allocations, a full
//! conntrack table or socket memory, SYN floods, crashes and stalls, from the cell's
//! `guest-kernel.log` (the router's `dmesg`, cleared after each cell, so each cell's log
//! holds its own messages; the first cell's also holds the boot's).
use crate::model::{Assertion, KernelEvent};

/// What a kernel line says, by the words in it (case-insensitive), most telling first.
const KINDS: [(&str, &str); 10] = [
    ("oom-kill", "out of memory: kill"),
    ("alloc-failure", "page allocation failure"),
    ("conntrack-full", "nf_conntrack: table full"),
    ("tcp-memory", "tcp: out of memory"),
    ("orphan-sockets", "too many orphaned sockets"),
    ("syn-flood", "possible syn flooding"),
    ("fatal-signal", "fatal signal"),
    ("segfault", "segfault at"),
    ("stall", "self-detected stall"),
    ("lockup", "soft lockup"),
];

/// The events in `log`, one per kind in the order first seen, with how many lines said it.
pub(crate) fn events(log: &str) -> Vec<KernelEvent> {
    let mut out: Vec<KernelEvent> = Vec::new();
    for line in log.lines().map(str::trim) {
        let lower = line.to_ascii_lowercase();
        let Some((kind, _)) = KINDS.iter().find(|(_, words)| lower.contains(words)) else { continue };
        match out.iter_mut().find(|e| e.kind == *kind) {
            Some(e) => e.count += 1,
            None => out.push(KernelEvent { kind: (*kind).into(), count: 1, first: line.into() }),
        }
    }
    out
}

/// `no-oom-kill`: the guest kernel's OOM killer killed nothing in this cell.
pub(crate) fn oom_assertion(events: &[KernelEvent]) -> Assertion {
    let oom = events.iter().find(|e| e.kind == "oom-kill");
    Assertion {
        name: "no-oom-kill".into(),
        passed: oom.is_none(),
        evidence: match oom {
            Some(e) => format!("the guest kernel ran out of memory and killed {}: {}", e.count, e.first),
            None => "the guest kernel's OOM killer killed nothing".into(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 64 MiB router's log under a connection flood, as Linux 6.1 words it.
    const FLOOD: &str = "\
[  301.112233] haproxy invoked oom-killer: gfp_mask=0x140cca(GFP_HIGHUSER_MOVABLE|__GFP_COMP), order=0
[  301.120000] oom-kill:constraint=CONSTRAINT_NONE,nodemask=(null),task=haproxy,pid=231,uid=0
[  301.120001] Out of memory: Killed process 231 (haproxy) total-vm:61234kB, anon-rss:40123kB
[  299.000001] TCP: request_sock_TCP: Possible SYN flooding on port 443. Sending cookies.
[  299.500000] nf_conntrack: nf_conntrack: table full, dropping packet
[  299.600000] nf_conntrack: nf_conntrack: table full, dropping packet
lo: 1234 0 0 0
table inet nat {";

    #[test]
    fn kernel_lines_become_named_events_with_counts() {
        let e = events(FLOOD);
        let kinds: Vec<(&str, u32)> = e.iter().map(|e| (e.kind.as_str(), e.count)).collect();
        assert_eq!(kinds, [("oom-kill", 1), ("syn-flood", 1), ("conntrack-full", 2)]);
        assert!(e[0].first.contains("Killed process 231 (haproxy)"), "{:?}", e[0]);
        let a = oom_assertion(&e);
        assert!(!a.passed && a.evidence.contains("killed 1: [  301.120001] Out of memory"), "{}", a.evidence);
    }

    #[test]
    fn the_report_schema_names_every_kind() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/report.schema.json");
        let s: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let kinds = &s["$defs"]["cell"]["properties"]["kernel_events"]["items"]["properties"]["kind"]["enum"];
        let listed: Vec<&str> = kinds.as_array().unwrap().iter().map(|k| k.as_str().unwrap()).collect();
        assert_eq!(listed, KINDS.map(|(k, _)| k));
    }

    #[test]
    fn a_quiet_kernel_passes_and_other_words_are_not_events() {
        let quiet = "[    0.000000] Linux version 6.1.0-40-arm64\n[    2.1] random: crng init done\nnft: memory ok\n";
        assert!(events(quiet).is_empty());
        assert!(oom_assertion(&[]).passed);
    }
}
