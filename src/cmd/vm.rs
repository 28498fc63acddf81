use std::path::PathBuf;
use std::time::Duration;

use harness::image::cache_root;
use harness::vm::{
    boot, find_plugin, resolve_image, shell_script, BootOptions, ImageSource, InsnReading, Target, VmConfig,
};

use crate::cli::{ImageDirs, VmCmd};
use crate::exit::{Classify, CmdResult, Code, Failure};

fn source(image: Option<PathBuf>, dirs: &ImageDirs) -> ImageSource {
    match image {
        Some(p) => ImageSource::Path(p),
        None => ImageSource::Recipe {
            images_dir: super::image::images_dir(dirs),
            cache: dirs.cache.clone().unwrap_or_else(cache_root),
        },
    }
}

pub fn run(cmd: VmCmd) -> CmdResult {
    match cmd {
        VmCmd::Run { target, image, run_dir, timeout, upload, insns, memory, cpus, cpu_model, dirs, cmd } => {
            let target: Target = target.parse().bad_input()?;
            let src = source(image, &dirs);
            let run_dir = run_dir.unwrap_or_else(|| PathBuf::from(format!("runs/{}-vm-{target}", chrono_stamp())));
            let uploads: Vec<(PathBuf, String)> = upload
                .iter()
                .map(|u| {
                    u.split_once(':')
                        .map(|(l, g)| (PathBuf::from(l), g.to_string()))
                        .ok_or_else(|| Failure::BadInput(anyhow::anyhow!("--upload {u:?} must be LOCAL:GUEST_PATH")))
                })
                .collect::<Result<_, _>>()?;
            let command = command_line(&cmd)?;
            super::runtime()?.block_on(async move {
                let mut opts = BootOptions::new("router", run_dir.clone());
                let d = harness::vm::Resources::default();
                let (memory_mib, cpus) = (memory.unwrap_or(d.memory_mib), cpus.unwrap_or(d.cpus));
                opts.resources = harness::vm::Resources { memory_mib, cpus, cpu: cpu_model, ..d };
                opts.insn_plugin = std::env::current_exe().map_err(|e| e.to_string()).and_then(|e| find_plugin(&e));
                let (mut vm, boot_time) = boot(target, &src, &opts).await.map_err(Failure::lib)?;
                eprintln!(
                    "routerlab: {target} ready in {:.2}s (run dir {})",
                    boot_time.as_secs_f64(),
                    run_dir.display()
                );
                for (local, guest) in &uploads {
                    let t = vm.upload(local, guest).await.map_err(Failure::lib)?;
                    eprintln!("routerlab: uploaded {} to {guest} in {:.2}s", local.display(), t.as_secs_f64());
                }
                // Only the command and the guest's own background count: the host stops asking
                // the metrics agent for samples meanwhile, and reads from rest to rest.
                vm.agent_pause(true);
                let before = vm.insns_at_rest(REST_LIMIT).await;
                let out = match timeout {
                    Some(t) => vm.exec_timeout(&command, t).await,
                    None => vm.exec(&command).await,
                }
                .map_err(Failure::lib)?;
                let cost = command_cost(before, vm.insns_at_rest(REST_LIMIT).await);
                eprintln!(
                    "routerlab: {}",
                    cost.as_ref().map_or_else(|w| format!("instruction counts: unavailable ({w})"), |c| c.line())
                );
                if let Some(path) = &insns {
                    std::fs::write(path, serde_json::to_string_pretty(&cost.ok()).infra()?).infra()?;
                }
                out!("{}", out.stdout);
                vm.quit().await.map_err(Failure::lib)?;
                Ok(if out.status == 0 { Code::Ok } else { Code::Guest(out.status) })
            })
        }
        VmCmd::Shell { target, image, dirs } => {
            let target: Target = target.parse().bad_input()?;
            let img = resolve_image(target, &source(image, &dirs)).map_err(Failure::lib)?;
            let mut cfg = VmConfig::new("shell", target, img.kernel, img.initrd, std::env::temp_dir());
            cfg.nics.push(harness::vm::Nic { id: "mgmt".into(), backend: harness::vm::NicBackend::User, mac: None });
            cfg.cmdline_extra.push(harness::vm::MGMT_CMDLINE.into());
            let script = std::env::temp_dir().join(format!("routerlab-shell-{}.sh", std::process::id()));
            std::fs::write(&script, shell_script(&cfg)).infra()?;
            let status = std::process::Command::new("sh").arg(&script).status().infra()?;
            let _ = std::fs::remove_file(&script);
            Ok(if status.success() { Code::Ok } else { Code::Infrastructure })
        }
    }
}

/// One word is a shell command line, run as is (`-- 'echo hi; exit 3'`); several are an
/// argument vector, each word quoted for the guest's shell (`-- sh -c 'exit 7'`).
fn command_line(words: &[String]) -> Result<String, Failure> {
    match words {
        [one] => Ok(one.clone()),
        _ => shlex::try_join(words.iter().map(String::as_str))
            .map_err(|e| Failure::BadInput(anyhow::anyhow!("the command {words:?} cannot be quoted: {e}"))),
    }
}

/// How long `vm run` waits for the guest to come to rest around the command.
const REST_LIMIT: Duration = Duration::from_secs(5);

/// Guest instructions around a console command, from the guest at rest before it to the
/// guest at rest after it (the shell's own handling of the line and its prompt included).
#[derive(serde::Serialize)]
struct CommandCost {
    user: u64,
    kernel: u64,
    seconds: f64,
    /// The guest's CPU busy share meanwhile, percent (from the plugin's idle time).
    busy_pct: Option<f64>,
    /// Whether the guest came to rest on both sides; if not, the count is not exact.
    at_rest: bool,
    /// Software TLB refills meanwhile, where the image counts them (MIPS).
    tlb_refills: Option<u64>,
}

impl CommandCost {
    fn line(&self) -> String {
        format!(
            "the command took {} user + {} kernel guest instructions{} in {:.2}s{}",
            self.user,
            self.kernel,
            self.tlb_refills.map(|n| format!(" and {n} TLB refills")).unwrap_or_default(),
            self.seconds,
            if self.at_rest { "" } else { " (not exact: the guest did not come to rest around it)" }
        )
    }
}

type AtRest = Result<(Option<InsnReading>, InsnReading), String>;

fn command_cost(before: AtRest, after: AtRest) -> Result<CommandCost, String> {
    let ((rest_a, a), (rest_b, last_b)) = (before?, after?);
    let b = rest_b.unwrap_or(last_b);
    Ok(CommandCost {
        user: b.user - a.user,
        kernel: b.kernel - a.kernel,
        seconds: b.t - a.t,
        busy_pct: a.busy_pct(&b),
        at_rest: rest_a.is_some() && rest_b.is_some(),
        tlb_refills: b.tlb_refills_since(&a),
    })
}

/// UTC `yyyymmddThhmmssZ`, for run directory names.
pub(crate) fn chrono_stamp() -> String {
    chrono::Utc::now().format("%Y%m%dT%H%M%SZ").to_string()
}
