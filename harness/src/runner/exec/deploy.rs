//! The executor of a cell script's router side: files and commands over the console, the
//! proxy's start with its own words when it fails, and the wait for its listener.
use std::time::Duration;

use crate::netlab::GuestStep;
use crate::reconcile::Assertion;
use crate::runner::error::PathError;
use crate::runner::plan::{listening, ProxyScript};
use crate::runner::RunError;
use crate::vm::Vm;

fn vm_err(target: &str, phase: &'static str) -> impl Fn(crate::vm::VmError) -> RunError {
    let target = target.to_string();
    move |source| RunError::Vm { target: target.clone(), phase, source: Box::new(source) }
}

/// Run guest commands that must succeed.
pub(crate) async fn must(vm: &mut Vm, target: &str, phase: &'static str, cmd: &str) -> Result<String, RunError> {
    let out = vm.exec(cmd).await.map_err(vm_err(target, phase))?;
    if out.status != 0 {
        return Err(RunError::failed(target, phase, format!("`{cmd}` exited {}: {}", out.status, out.stdout.trim())));
    }
    Ok(out.stdout)
}

/// Write the files and run the commands, in order; every command must succeed. Files in a
/// row go together, so those the router already holds unchanged are not sent again.
pub(crate) async fn run_steps(
    vm: &mut Vm,
    target: &str,
    phase: &'static str,
    steps: &[GuestStep],
) -> Result<(), RunError> {
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();
    for s in steps {
        match s {
            GuestStep::Run(cmd) => {
                write_files(vm, target, phase, &mut files).await?;
                drop(must(vm, target, phase, cmd).await?)
            }
            GuestStep::File { path, contents } => files.push((path.clone(), contents.clone().into_bytes())),
            GuestStep::Copy { from, path } => {
                let data = std::fs::read(from).map_err(|e| RunError::caused(target, phase, PathError::new(from, e)))?;
                files.push((path.clone(), data));
            }
        }
    }
    write_files(vm, target, phase, &mut files).await
}

async fn write_files(
    vm: &mut Vm,
    target: &str,
    phase: &'static str,
    files: &mut Vec<(String, Vec<u8>)>,
) -> Result<(), RunError> {
    let batch: Vec<(&str, &[u8])> = files.iter().map(|(p, d)| (p.as_str(), d.as_slice())).collect();
    if !batch.is_empty() {
        vm.write_files(&batch).await.map_err(vm_err(target, phase))?;
    }
    files.clear();
    Ok(())
}

/// Deploy the proxy (or the layer-4 forward): its files, then its start, whose failure
/// carries the proxy's own first error line; then wait for the listener on 443 and tell
/// the metrics agent which process to watch.
pub(crate) async fn deploy(vm: &mut Vm, target: &str, p: &ProxyScript) -> Result<(), RunError> {
    let Some(process) = &p.process else {
        return run_steps(vm, target, "l4 forward", &p.deploy).await;
    };
    let Some((start, files)) = p.start() else {
        return Err(RunError::failed(target, "deploy", "the proxy script has no start command"));
    };
    run_steps(vm, target, "deploy", files).await?;
    let out = vm.exec(start).await.map_err(vm_err(target, "start proxy"))?;
    if out.status != 0 {
        // A start that passed the config check says why in its log (HAProxy binds before
        // it becomes a daemon).
        let log = proxy_log(vm).await;
        let message = first_error(&format!("{}\n{log}", out.stdout));
        return Err(RunError::Deploy { target: target.into(), proxy: process.clone(), message });
    }
    wait_listener(vm, target, process, p.alive.as_deref(), 443).await?;
    vm.agent_watch(&[process]);
    Ok(())
}

/// After the load: a failed `proxy-running` check if the proxy exited during the cell (a
/// crash; HAProxy's watchdog kills a process whose one task ran for 2 s of CPU time, which
/// a starved host can charge to it), with its log's own words; `None` while it runs, for
/// l4-forward, or if the console cannot tell.
pub(crate) async fn exited(vm: &mut Vm, p: &ProxyScript) -> Option<Assertion> {
    let (process, alive) = (p.process.as_ref()?, p.alive.as_ref()?);
    let out = vm.exec(alive).await.ok()?;
    if out.stdout.trim() != "gone" {
        return None;
    }
    let log = proxy_log(vm).await;
    let dmesg = vm.exec("dmesg | grep -A2 'fatal signal' | tail -15").await.map(|o| o.stdout).unwrap_or_default();
    let signal = fatal_signal(&dmesg, process).map(|s| format!("; the kernel: {s}")).unwrap_or_default();
    Some(Assertion {
        name: "proxy-running".into(),
        passed: false,
        evidence: format!("{process} was not running after the load{signal}; its log: {}", first_error(&log)),
    })
}

/// The guest kernel's word on how `process` died (`print-fatal-signals`, set by the image's
/// init): `potentially unexpected fatal signal 6.`, named by the register dump's next line
/// (`CPU: 0 PID: 228 Comm: haproxy ...`) or by a `haproxy/228:` prefix, with what it means.
fn fatal_signal(dmesg: &str, process: &str) -> Option<String> {
    let lines: Vec<&str> = dmesg.lines().collect();
    let whose = |i: usize| {
        let named = |l: &&str| l.contains(&format!("Comm: {process} ")) || l.contains(&format!("{process}/"));
        named(&lines[i]) || lines.get(i + 1).is_some_and(named)
    };
    let i = (0..lines.len()).rev().find(|&i| lines[i].contains("fatal signal") && whose(i))?;
    let n: u32 = lines[i].rsplit("fatal signal ").next()?.trim().trim_end_matches('.').parse().ok()?;
    let why = match n {
        6 => {
            " (SIGABRT: HAProxy's watchdog aborts a task that ran for 2 s of CPU time, and an emulated \
               router is charged for the time a busy host did not run it)"
        }
        11 => " (SIGSEGV: a crash)",
        4 => " (SIGILL: an instruction this CPU does not have)",
        _ => "",
    };
    Some(format!("died of signal {n}{why}"))
}

/// The last lines the proxy wrote to its log on the router (empty if it cannot be read).
async fn proxy_log(vm: &mut Vm) -> String {
    vm.exec("tail -20 /tmp/proxy.log 2>/dev/null").await.map(|o| o.stdout).unwrap_or_default()
}

/// The proxy's own words: the first line that looks like an error, else the last line.
fn first_error(text: &str) -> String {
    let lines: Vec<&str> = text.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    lines
        .iter()
        .find(|l| {
            let lower = l.to_lowercase();
            l.contains("[ALERT]")
                || l.contains("emerg")
                || ["error", "about to kill", "panic"].iter().any(|w| lower.contains(w))
        })
        .or(lines.last())
        .map(|l| l.to_string())
        .unwrap_or_else(|| "no output".into())
}

/// Wait until something listens on `port`; fail at once, with the proxy's log, if `alive`
/// (the script's check) says the process exited first.
async fn wait_listener(
    vm: &mut Vm,
    target: &str,
    process: &str,
    alive: Option<&str>,
    port: u16,
) -> Result<(), RunError> {
    let check = match alive {
        Some(a) => format!("if {}; then echo yes; else {a}; fi", listening(port)),
        None => format!("if {}; then echo yes; fi", listening(port)),
    };
    let mut gone = false;
    let up = async || {
        let out = vm.exec(&check).await.map_err(vm_err(target, "wait for listener"))?;
        gone = out.stdout.trim() == "gone";
        Ok::<_, RunError>(out.stdout.trim() == "yes" || gone)
    };
    let done = crate::wait::poll_until(Duration::from_secs(20), Duration::from_millis(300), up).await?;
    if done && !gone {
        return Ok(());
    }
    let log = proxy_log(vm).await;
    let what = if gone {
        "exited before it listened".to_string()
    } else {
        format!("nothing listens on port {port} after 20 s")
    };
    Err(RunError::Deploy {
        target: target.into(),
        proxy: process.into(),
        message: format!("{what}: {}", first_error(&log)),
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_kernel_says_which_signal_killed_the_proxy() {
        // As Debian's 6.1 mipsel kernel writes it: the process is named on the next line.
        let dmesg = "[   12.3] nginx/80: potentially unexpected fatal signal 11.\n\
                     [   16.318730] potentially unexpected fatal signal 6.\n\
                     [   16.318997] CPU: 0 PID: 228 Comm: haproxy Not tainted 6.1.0-50-4kc-malta #1\n";
        let s = super::fatal_signal(dmesg, "haproxy").unwrap();
        assert!(s.starts_with("died of signal 6 (SIGABRT: HAProxy's watchdog"), "{s}");
        assert_eq!(super::fatal_signal(dmesg, "nginx").as_deref(), Some("died of signal 11 (SIGSEGV: a crash)"));
        assert_eq!(super::fatal_signal(dmesg, "haprox"), None, "a name's prefix is not the name");
        assert_eq!(super::fatal_signal(dmesg, "hitch"), None, "nothing said of it");
        assert_eq!(super::fatal_signal("haproxy/1: potentially unexpected fatal signal x.", "haproxy"), None);
    }

    #[test]
    fn proxy_errors_are_found() {
        let t = "[NOTICE] something\n[ALERT]    (1) : config : parsing [/etc/x.cfg:12] : unknown keyword 'bogus'\nmore";
        assert!(super::first_error(t).contains("unknown keyword 'bogus'"));
        assert_eq!(super::first_error("only line"), "only line");
        // HAProxy's watchdog, before its thread dump.
        let t = "Thread 1 is about to kill the process.\n*>Thread 1 : id=0x0 act=1 glob=0 wq=1 rq=0\n  stuck=1";
        assert_eq!(super::first_error(t), "Thread 1 is about to kill the process.");
    }
}
