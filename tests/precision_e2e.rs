//! Guest instruction counts end to end: the insn-count plugin in real QEMU, the A/A with a
//! host CPU burner, a planted regression that the instruction gate catches, and the
//! "unavailable" paths. One test at a time: a second QEMU beside the first would be the
//! host noise these tests are about.
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Mutex;

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn routerlab(args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_routerlab"))
        .args(args)
        .envs(env.iter().copied())
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr)
}

fn json(p: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))).unwrap()
}

/// A fixed guest workload, user instructions per boot (`vm run` stops asking the metrics
/// agent for samples while the command runs, and reads the counters with the guest at rest
/// before and after it, so the shell's prompt is always in the window, never half). What
/// still varies (the console line's arrival in pieces, an agent wake-up) is hundreds of
/// instructions in hundreds of millions; a race with the prompt was 250 k each time.
fn workload_user_insns(target: &str, dir: &Path) -> u64 {
    workload_on(target, dir, &[]).0
}

/// [`workload_user_insns`] with more `vm run` arguments (`--cpus 2`); also what the guest
/// said before the loop (`nproc`, `free -m`).
fn workload_on(target: &str, dir: &Path, extra: &[&str]) -> (u64, String) {
    let j = dir.join("insns.json");
    let cmd = "nproc; free -m | grep Mem:; i=0; while [ $i -lt 40000 ]; do i=$((i+1)); done; echo $i";
    let (j, d) = (j.to_str().unwrap(), dir.to_str().unwrap());
    let mut args = vec!["vm", "run", target, "--timeout", "180s", "--insns", j, "--run-dir", d];
    args.extend(extra);
    args.extend(["--", cmd]);
    let o = routerlab(&args, &[]);
    let said = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(o.status.success() && said.contains("40000"), "{}", text(&o));
    let j = json(Path::new(j));
    assert_eq!(j["at_rest"], true, "{target}: the guest came to rest around the command: {j}");
    (j["user"].as_u64().unwrap(), said)
}

/// RAM and vCPUs reach QEMU and the guest, and a second vCPU does not change what a
/// single-threaded workload counts: the plugin sums every vCPU's counters.
#[test]
fn memory_and_vcpus_reach_the_guest_and_two_vcpus_count_a_workload_as_one() {
    harness::needs!(Root, Qemu);
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let d = tempfile::tempdir().unwrap();
    let (one, said1) = workload_on("aarch64-virt", &d.path().join("one"), &["--memory", "128MiB"]);
    let (two, said2) = workload_on("aarch64-virt", &d.path().join("two"), &["--memory", "128MiB", "--cpus", "2"]);
    assert_eq!(said1.lines().next(), Some("1"), "{said1}");
    assert_eq!(said2.lines().next(), Some("2"), "nproc in the guest: {said2}");
    let total: u32 = said2.lines().nth(1).and_then(|l| l.split_whitespace().nth(1)).unwrap().parse().unwrap();
    assert!((64..=128).contains(&total), "free -m says {total} MiB of 128: {said2}");
    let diff = (two as f64 - one as f64).abs() / one as f64;
    eprintln!("user instructions, 1 vCPU {one}, 2 vCPUs {two}: {:+.3}%", (two as f64 / one as f64 - 1.0) * 100.0);
    assert!(diff < 0.005, "within 0.5% with 1 and 2 vCPUs: {one} and {two}");
}

#[test]
fn the_plugin_counts_a_fixed_workload_the_same_across_boots() {
    harness::needs!(Root, Qemu);
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    for target in ["aarch64-virt", "mipsel-malta"] {
        let d = tempfile::tempdir().unwrap();
        let counts: Vec<u64> =
            (0..3).map(|i| workload_user_insns(target, &d.path().join(format!("boot{i}")))).collect();
        let (min, max) = (*counts.iter().min().unwrap(), *counts.iter().max().unwrap());
        assert!(min > 100_000_000, "{target}: the loop is hundreds of millions of user instructions: {counts:?}");
        assert!((max - min) as f64 / (min as f64) < 0.001, "{target}: within 0.1% across boots: {counts:?}");
        // The plugin's idle time: the loop keeps the guest's CPU busy, a sleep leaves it idle.
        let boot0 = json(&d.path().join("boot0/insns.json"));
        let busy = boot0["busy_pct"].as_f64().unwrap();
        // The guest's busy share has some slack: one ci/test run read 89.8% on aarch64.
        assert!(busy > 75.0, "{target}: the loop kept the guest {busy:.1}% busy");
        // TLB refills: counted where the image names its refill instruction (mipsel), and
        // null, not 0, where the hardware walks the page tables (aarch64).
        let tlb = &boot0["tlb_refills"];
        assert_eq!(tlb.is_u64(), target == "mipsel-malta", "{target}: tlb_refills {tlb}");
        let (j, rd) = (d.path().join("sleep.json"), d.path().join("sleep"));
        let args =
            ["vm", "run", target, "--insns", j.to_str().unwrap(), "--run-dir", rd.to_str().unwrap(), "--", "sleep 2"];
        let o = routerlab(&args, &[]);
        assert!(o.status.success(), "{}", text(&o));
        let idle = json(&j)["busy_pct"].as_f64().unwrap();
        assert!(idle < 30.0, "{target}: `sleep 2` kept the guest {idle:.1}% busy");
    }
}

#[test]
fn a_plugin_qemu_refuses_leaves_the_vm_running_and_the_reason_said() {
    harness::needs!(Root, Qemu);
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let d = tempfile::tempdir().unwrap();
    // Not a plugin: QEMU exits at start; routerlab boots again without it.
    let o = routerlab(
        &["vm", "run", "aarch64-virt", "--run-dir", d.path().to_str().unwrap(), "--", "echo up"],
        &[("ROUTERLAB_INSN_PLUGIN", "/bin/true")],
    );
    let t = text(&o);
    assert!(o.status.success() && t.contains("up"), "{t}");
    assert!(t.contains("instruction counts: unavailable (QEMU did not load the insn-count plugin"), "{t}");
    let rd = d.path().join("missing");
    let o = routerlab(
        &["vm", "run", "aarch64-virt", "--run-dir", rd.to_str().unwrap(), "--", "true"],
        &[("ROUTERLAB_INSN_PLUGIN", "/nonexistent.so")],
    );
    assert!(text(&o).contains("unavailable (ROUTERLAB_INSN_PLUGIN=/nonexistent.so does not exist)"), "{}", text(&o));
}

#[test]
fn without_counts_every_output_says_unavailable_never_zero() {
    harness::needs!(Root, Qemu);
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let d = tempfile::tempdir().unwrap();
    let out = d.path().to_str().unwrap();
    let o = routerlab(
        &[
            "run",
            "scenarios/haproxy-reencrypt-xff.toml",
            "--target",
            "aarch64-virt",
            "--duration",
            "1s",
            "--no-insn-count",
            "--out",
            out,
        ],
        &[],
    );
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    assert!(t.contains("instruction counts: unavailable (turned off (--no-insn-count))"), "{t}");
    let r = json(&d.path().join("report.json"));
    let i = &r["cells"][0]["insns"];
    assert_eq!(i["unavailable"], "turned off (--no-insn-count)");
    assert!(i["steady"].is_null() && i["background"].is_null(), "{i}");
    assert!(std::fs::read_to_string(d.path().join("summary.md")).unwrap().contains("| unavailable |"));
    let html = std::fs::read_to_string(d.path().join("report.html")).unwrap();
    assert!(html.contains("Instruction counts: unavailable (turned off (--no-insn-count))"));
    assert!(!html.contains("data-plot=\"insns\""), "no plot of zeros");
}

/// `run` of the re-encrypting HAProxy scenario with 4 s steady phases, which must pass.
fn run_haproxy(target: &str, out: &Path, extra: &[&str]) -> String {
    let args = ["run", "scenarios/haproxy-reencrypt-xff.toml", "--target", target, "--duration", "4s", "--out"];
    let o = routerlab(&[&args[..], &[out.to_str().unwrap()], extra].concat(), &[]);
    assert!(o.status.success(), "{}\nthe run is kept in {}", text(&o), keep(out).display());
    text(&o)
}

/// A copy of a failed run's directory that outlives the test's temporary one, so its
/// transcripts and capture can be read after CI.
fn keep(run: &Path) -> PathBuf {
    let name = format!("routerlab-failed-{}-{}", std::process::id(), run.file_name().unwrap().to_string_lossy());
    let kept = std::env::temp_dir().join(name);
    let copied = Command::new("cp").arg("-a").arg(run).arg(&kept).status();
    assert!(copied.is_ok_and(|s| s.success()), "copying {} to {}", run.display(), kept.display());
    kept
}

/// The instruction rows of `compare --json` for the candidate side.
fn candidate(doc: &serde_json::Value, metric: &str) -> serde_json::Value {
    side(doc, metric, 1)
}

/// Side `i`'s figures for `metric` in `compare --json`.
fn side(doc: &serde_json::Value, metric: &str, i: usize) -> serde_json::Value {
    let m = doc["groups"][0]["metrics"].as_array().unwrap().iter().find(|m| m["metric"] == metric).unwrap();
    m["sides"][i].clone()
}

/// A target, the repetitions of its run, and each plant with the gate it must trip.
type Plants = (&'static str, &'static str, &'static [(&'static str, &'static str)]);

/// Per target, the plants of one run (A B C A B C) and the gate each must trip.
const PLANTS: [Plants; 2] = [
    ("aarch64-virt", "4", &[("haproxy-plant2", "insns/req-user > 1.01x")]),
    (
        "mipsel-malta",
        "4",
        &[("haproxy-plant-response", "insns/req-user > 1.005x"), ("haproxy-plant12", "insns/req > 1.02x")],
    ),
];

/// Both targets, a 2-5% plant each, gated on user-space instructions: the total's kernel
/// share follows the host's speed (the guest's timer work while busy, about 1 M
/// instructions per second a request takes), so on a busy CI host the 4-rule aarch64
/// plant's +3.8% total read [+1.0%, +6.6%] against a 1% gate, where its user-space +7.6%
/// read [+7.1%, +8.1%] (docs/reports.md).
/// - aarch64-virt, 4+4 cells: two `set-header` rules, +3.5% user [+3.4%, +3.6%], a 1% gate.
///   A full ci/test read it +3.1% [+2.0%, +4.3%] (cells ±0.4% in user space), touching a
///   2% gate without tripping it: the gate sits at a third of the plant, not a half.
/// - mipsel-malta, 4+4+4 cells: one `http-response add-header` rule, +2.4% user ([+2.3%,
///   +2.5%], [+2.0%, +2.8%] in 4+4), a 0.5% gate, the A/A's precision. Busy CI hosts read
///   it lower in 3+3+3 cells (2 degrees of freedom, t=4.30): +2.1% [+1.0%, +3.2%] and +1.6%
///   [+0.5%, +2.7%], each touching a 1% gate without tripping it. A fourth repetition
///   (t=3.18) narrows the interval by about a third, and the gate sits where an unchanged
///   build is unlikely to trip it (A/A user space read 1.001x [0.993, 1.009]). A bigger plant is no
///   way out: two response rules cross the TLB cliff (+7.5% user [+4.5%, +10.6%], refills
///   2.9x). Its total sits at the edge of the TLB cliff
///   (+3.6% [+0.8%, +6.4%]; another run +4.4% [-0.8%, +9.8%]), so it gates no total. Beside
///   it the 12-rule plant, far past the cliff (+17% to +65% in total, refills many times
///   the baseline's), behind a 2% gate on the total.
#[test]
fn the_instruction_gate_catches_a_planted_regression() {
    harness::needs!(Root, Qemu);
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    for (target, repeat, plants) in PLANTS {
        let d = tempfile::tempdir().unwrap();
        let run = d.path().join("ab");
        let mut builds = vec!["scenarios/builds/haproxy-image.toml".to_string()];
        builds.extend(plants.iter().map(|(p, _)| format!("tests/fixtures/plants/{p}.toml")));
        let log = run_haproxy(target, &run, &["--repeat", repeat, "--builds", &builds.join(",")]);
        let j = d.path().join("c.json");
        let mut args = vec!["compare", run.to_str().unwrap(), "--json", j.to_str().unwrap()];
        plants.iter().for_each(|(_, gate)| args.extend(["--fail-if", gate]));
        let o = routerlab(&args, &[]);
        let t = text(&o);
        assert_eq!(o.status.code(), Some(102), "{target}: the plants trip the gates: {t}\n{log}");
        let doc = json(&j);
        let tripped = doc["tripped"].as_array().unwrap();
        for (i, (plant, gate)) in plants.iter().enumerate().map(|(i, p)| (i + 1, p)) {
            assert!(tripped.iter().any(|x| x["side"] == *plant && x["gate"] == *gate), "{plant}: {gate}: {t}\n{log}");
            let metric = gate.split_whitespace().next().unwrap();
            let gated = side(&doc, metric, i);
            assert_eq!(gated["change"], "worse", "{target} {plant}: {t}");
            eprintln!("{target} {plant}: {metric} {}", gated["estimate"]["ci95"]);
            let (total, rps) = (side(&doc, "insns/req", i), side(&doc, "rps", i));
            eprintln!("{target} {plant}: insns/req {} {}", total["change"], total["estimate"]["ci95"]);
            // Not asserted: that req/s could not tell. On a noisy host it cannot (measured on
            // aarch64: could detect ±74-149% against ±0.1-0.9% for instructions), but on a
            // quiet one it can resolve under 1% (once here: 318 req/s ±0.5%, could detect
            // ±0.6%), and a plant that costs a saturated guest 3% more does cost it req/s.
            eprintln!(
                "{target} {plant}: req/s {}, could detect ±{}%",
                rps["change"], rps["estimate"]["detectable_pct"]
            );
        }
        // On mipsel the 12 rules outgrow the 16-entry TLB: refills per request rise (the
        // 4-rule plant: 618 to 4247). aarch64 refills in hardware: no such row.
        let metrics = doc["groups"][0]["metrics"].as_array().unwrap();
        let far = plants.iter().position(|(p, _)| *p == "haproxy-plant12").map(|k| k + 1);
        match (metrics.iter().find(|m| m["metric"] == "tlb-refills/req"), far) {
            (Some(m), Some(k)) => assert!(target == "mipsel-malta" && m["sides"][k]["change"] == "worse", "{m}"),
            (m, _) => assert!(m.is_none() && target == "aarch64-virt", "mipsel cells count TLB refills: {m:?}"),
        }
    }
}

/// `run` of one A/B (A B A B, `--repeat 4`) that starts a busy loop on every host core once
/// two pairs are done, and stops them when the run ends; its output and the host's cores.
fn run_with_burner_for_half(out: &Path, builds: &str) -> (Output, usize) {
    use std::io::BufRead;
    let args = ["run", "scenarios/haproxy-reencrypt-xff.toml", "--target", "aarch64-virt", "--duration", "4s"];
    let mut child = Command::new(env!("CARGO_BIN_EXE_routerlab"))
        .args(args)
        .args(["--repeat", "4", "--builds", builds, "--out", out.to_str().unwrap()])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let (mut burners, mut ended, mut err) = (Vec::new(), 0, Vec::new());
    for line in std::io::BufReader::new(child.stderr.take().unwrap()).lines().map_while(Result::ok) {
        // A cell's last line: "routerlab: <scenario> on <target> [<build>] #2: pass".
        let cell_end = line.contains("] ") || line.contains("]:");
        if cell_end && [": pass", ": fail", ": error"].iter().any(|e| line.ends_with(e)) {
            ended += 1;
            if ended == 4 {
                let spin = || Command::new("sh").args(["-c", "while :; do :; done"]).spawn().unwrap();
                burners = (0..cores).map(|_| spin()).collect();
            }
        }
        err.extend_from_slice(line.as_bytes());
        err.push(b'\n');
    }
    let mut o = child.wait_with_output().unwrap();
    for b in &mut burners {
        let _ = b.kill();
        let _ = b.wait();
    }
    o.stderr = err;
    (o, burners.len())
}

/// The A/A: one build, 4+4 cells, a host CPU burner beside QEMU for half of them.
/// Both sides are the image's HAProxy in one run (A B A B), so each pair ran on an equally
/// loaded host, as an A/B should. Two A/As across runs instead (3 cells quiet, then 3 with
/// burners) read -2.4% [-3.2%, -1.6%], +0.2% [-0.8%, +1.2%], +0.5% [-0.7%, +1.8%] and +3.8%
/// [+0.4%, +7.4%]: a host's load moves the guest's kernel instructions per request from run
/// to run, and a test that compares across runs asserts the host, not routerlab.
///
/// Within a run the kernel's share still follows each cell's speed (about 1 M instructions
/// per second a request takes: the guest's timer work while busy), and on a busy CI host
/// the total read 0.977x [0.922, 1.035] while user space read 1.001x [0.993, 1.009]. So the
/// point estimate is held to 1% in user space, where the gate belongs (as rustc-perf gates
/// on instructions:u), and the total only to what a gate needs: not tripped, and an
/// interval that reaches "no change beyond 2%".
#[test]
fn a_a_with_a_host_cpu_burner_keeps_instructions_per_request_and_the_gate_quiet() {
    harness::needs!(Root, Qemu);
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let d = tempfile::tempdir().unwrap();
    // The same build under a second name: no config of its own, so the image's.
    let again = d.path().join("haproxy-image-again.toml");
    std::fs::write(&again, "name = \"haproxy-image-again\"\n").unwrap();
    let builds = format!("scenarios/builds/haproxy-image.toml,{}", again.display());
    let run = d.path().join("aa");
    let (o, burners) = run_with_burner_for_half(&run, &builds);
    assert!(o.status.success(), "{}\nthe run is kept in {}", text(&o), keep(&run).display());
    assert!(burners > 0, "the burners started after two pairs: {}", text(&o));
    let j = d.path().join("c.json");
    let (r, j) = (run.to_str().unwrap(), j.to_str().unwrap());
    let gates = ["--fail-if", "insns/req-user > 1.01x", "--fail-if", "insns/req > 1.02x"];
    let o = routerlab(&[&["compare", r, "--json", j][..], &gates[..]].concat(), &[]);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(0), "A/A must trip neither gate: {t}");
    let doc = json(Path::new(j));
    let interval = |metric: &str| {
        let e = candidate(&doc, metric)["estimate"].clone();
        assert_eq!(e["method"], "paired", "{metric}: {t}");
        let f = |v: &serde_json::Value| v.as_f64().unwrap();
        (f(&e["ci95"][0]), f(&e["ci95"][1]), f(&e["ratio"]))
    };
    // The interval reaches "no change beyond the gate" and the point estimate is within 1%
    // in user space. (Not "the interval holds 1": that fails one A/A in twenty by design.)
    let (lo, hi, ratio) = interval("insns/req-user");
    assert!(lo <= 1.01 && 0.99 <= hi, "user space, one build against itself: [{lo:.4}, {hi:.4}]: {t}");
    assert!((ratio - 1.0).abs() < 0.01, "user space, one build against itself: {ratio:.4}: {t}");
    let (tlo, thi, total) = interval("insns/req");
    assert!(tlo <= 1.02 && 0.98 <= thi, "one build against itself: [{tlo:.4}, {thi:.4}]: {t}");
    // req/s moved visibly with the burners: repetitions 3 and 4 against 1 and 2.
    let cells = json(&run.join("report.json"))["cells"].as_array().unwrap().clone();
    let rps = |burned: bool| -> Vec<f64> {
        let half = cells.iter().filter(|c| (c["repetition"].as_u64().unwrap() > 2) == burned);
        half.map(|c| c["load"]["requests_per_s"].as_f64().unwrap()).collect()
    };
    let (quiet, burned) = (rps(false), rps(true));
    // On average: one burned cell can outrun a quiet one on a host that is busy anyway.
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    assert!(mean(&burned) < 0.95 * mean(&quiet), "req/s should fall with the burners: {quiet:?} then {burned:?}");
    eprintln!("A/A: insns/req-user {ratio:.4} [{lo:.4}, {hi:.4}], insns/req {total:.4} [{tlo:.4}, {thi:.4}]");
    eprintln!("A/A: req/s {quiet:?} quiet, {burned:?} burned");
}
