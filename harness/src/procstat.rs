//! `/proc/PID/stat`, read once for the lab's ledger (start times, zombies) and the QEMU
//! CPU sampler (utime + stime).

/// The fields after the command name, so index 0 is the state (field 3 in proc(5)).
pub(crate) fn fields(pid: u32) -> Option<Vec<String>> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    Some(split(&stat)?.2.into_iter().map(String::from).collect())
}

/// A stat line as (PID, command name, the fields after the name: index 0 is the state). The
/// name may hold spaces and parentheses, so it ends at the last ") ".
pub(crate) fn split(stat: &str) -> Option<(&str, &str, Vec<&str>)> {
    let (head, rest) = stat.rsplit_once(") ")?;
    let (pid, name) = head.split_once(" (")?;
    Some((pid, name, rest.split_whitespace().collect()))
}

/// Field `n` of proc(5)'s numbering (1-based, n >= 3), as a number.
pub(crate) fn number<S: AsRef<str>>(f: &[S], n: usize) -> Option<u64> {
    f.get(n - 3)?.as_ref().parse().ok()
}

/// `VmRSS` from `/proc/PID/status`, in KiB; `None` when the process is gone.
pub(crate) fn vm_rss_kb(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find_map(|l| l.strip_prefix("VmRSS:"))?.split_whitespace().next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    #[test]
    fn this_process_is_running_with_a_start_time() {
        let f = super::fields(std::process::id()).expect("own stat");
        assert!(matches!(f[0].as_str(), "R" | "S"), "{f:?}");
        assert!(super::number(&f, 22).is_some(), "starttime");
        assert!(super::fields(u32::MAX).is_none());
        assert!(super::vm_rss_kb(std::process::id()).is_some_and(|kb| kb > 100));
        assert_eq!(super::vm_rss_kb(u32::MAX), None);
    }
}
