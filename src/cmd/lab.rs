use std::io::Write;
use std::path::PathBuf;

use harness::netlab::{clean_dead_runs, standard_topology, state_dir, Lab, LabOptions};

use crate::cli::LabCmd;
use crate::exit::{Classify, CmdResult, Code, Failure};

pub fn run(cmd: LabCmd) -> CmdResult {
    let LabCmd::Up { clients, clients6, no_l4_forward, run_dir, once } = cmd;
    let opts =
        LabOptions { clients_v4: clients, clients_v6: clients6, l4_forward: !no_l4_forward, ..Default::default() };
    let (topo, addrs) = standard_topology(&opts).map_err(Failure::lib)?;
    let temp = run_dir.is_none();
    let run_dir = run_dir.unwrap_or_else(|| std::env::temp_dir().join(format!("routerlab-lab-{}", std::process::id())));
    // Before the lab exists: a signal from here on is latched and ends in a teardown.
    harness::shutdown::install().infra()?;
    let t0 = std::time::Instant::now();
    let mut lab = Lab::build(topo, &run_dir, &state_dir()).map_err(Failure::lib)?;
    if temp {
        lab.own_dir(&run_dir).map_err(Failure::lib)?;
    }
    let built = t0.elapsed();
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "ready {} built in {:.3}s, {} client addresses", lab.prefix, built.as_secs_f64(), addrs.len())
            .infra()?;
        for h in &lab.topo.hosts {
            writeln!(out, "host {} netns {}", h.name, lab.ns(&h.name)).infra()?;
        }
        out.flush().infra()?;
    }
    if !once {
        super::runtime()?.block_on(harness::shutdown::requested());
    }
    let t1 = std::time::Instant::now();
    let report = lab.teardown();
    // The reader of our stdout may be gone by now (EPIPE): teardown must still finish.
    let _ = writeln!(
        std::io::stdout(),
        "torn down {} in {:.3}s: {} namespaces, {} processes{}",
        lab.prefix,
        t1.elapsed().as_secs_f64(),
        report.netns.len(),
        report.processes.len(),
        if report.errors.is_empty() { String::new() } else { format!("; errors: {}", report.errors.join("; ")) }
    );
    Ok(if report.errors.is_empty() { Code::Ok } else { Code::Infrastructure })
}

pub fn clean(state: Option<PathBuf>) -> CmdResult {
    let dir = state.unwrap_or_else(state_dir);
    let r = clean_dead_runs(&dir).map_err(Failure::lib)?;
    for run in &r.runs {
        outln!("run {run}: removed");
    }
    for n in &r.netns {
        outln!("netns {n}");
    }
    for p in &r.processes {
        outln!("process {p}");
    }
    for d in &r.dirs {
        outln!("dir {}", d.display());
    }
    // An image build killed outright leaves its unpacked packages in the cache.
    let scratch = harness::image::prune_scratch(&harness::image::cache_root().join("images"), None);
    for d in &scratch {
        outln!("dir {} (an image build's scratch; its builder is gone)", d.display());
    }
    if r.runs.is_empty() && scratch.is_empty() {
        outln!("nothing to clean in {}", dir.display());
    }
    for e in &r.errors {
        eprintln!("routerlab: clean: {e}");
    }
    Ok(if r.errors.is_empty() { Code::Ok } else { Code::Infrastructure })
}
