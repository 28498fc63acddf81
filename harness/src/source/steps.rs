//! The steps of one source build, each run with its output appended to the build's log:
//! the libraries' sysroot, patches, configure, make and install.
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::error::{io, SourceError};
use super::fetch::{Fetched, Origin};
use super::recipe::TargetExtra;
use super::toolchain::{TargetFlags, Zig};
use super::Recipe;
use crate::template::{render, Vars};

/// What every compiling step gets: the compiler, the flags, the libraries' sysroot.
pub(crate) struct Env {
    /// `zig cc` for the target, as a script (`zig-cc.sh` filled in).
    pub cc: PathBuf,
    /// The recipe's flags and its target's; the CPU flags are in `cc`.
    pub cflags: Vec<String>,
    pub sysroot: PathBuf,
    pub zig_cache: PathBuf,
    pub local_cache: PathBuf,
}

impl Env {
    /// The fields of `make` and `configure` arguments.
    fn vars(&self, recipe: &Recipe) -> Vars {
        let jobs = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
        [
            ("cc", self.cc.display().to_string()),
            ("cflags", self.cflags.join(" ")),
            ("ldflags", recipe.ldflags.join(" ")),
            ("jobs", jobs.to_string()),
            ("sysroot", self.sysroot.display().to_string()),
        ]
        .into()
    }

    /// A command with zig's caches set, in the source tree.
    fn command(&self, program: &str, work: &Path) -> Command {
        let mut c = Command::new(program);
        c.current_dir(work).env("ZIG_GLOBAL_CACHE_DIR", &self.zig_cache).env("ZIG_LOCAL_CACHE_DIR", &self.local_cache);
        c
    }
}

/// The libraries' installed trees merged into `scratch/sysroot` (empty without needs).
pub(crate) fn sysroot(libs: &[&Path], scratch: &Path) -> Result<PathBuf, SourceError> {
    let root = scratch.join("sysroot");
    std::fs::create_dir_all(&root).map_err(io(&root))?;
    for l in libs {
        let mut cp = Command::new("cp");
        cp.arg("-a").arg(l.join("tree/.")).arg(&root);
        crate::image::run_command(&mut cp)?;
    }
    Ok(root)
}

/// The recipe's patches and then the build's, in order, with `patch -p1`.
pub(crate) fn patch(files: &[PathBuf], work: &Path, log: &Path) -> Result<(), SourceError> {
    for file in files {
        let f = std::fs::File::open(file).map_err(io(file))?;
        let mut c = Command::new("patch");
        c.args(["-p1", "--forward"]).current_dir(work).stdin(f);
        step(&mut c, &format!("patch {}", file.display()), log)?;
    }
    Ok(())
}

/// The recipe's configure command, if it has one, with the target's arguments after its own.
pub(crate) fn configure(
    recipe: &Recipe,
    extra: &TargetExtra,
    env: &Env,
    work: &Path,
    log: &Path,
) -> Result<(), SourceError> {
    let Some(program) = recipe.configure.first() else { return Ok(()) };
    let name = recipe.path.display().to_string();
    let vars = env.vars(recipe);
    let args = recipe.configure[1..].iter().chain(&extra.configure).map(|a| render(&name, a, &vars));
    let mut c = env.command(&render(&name, program, &vars)?, work);
    c.args(args.collect::<Result<Vec<_>, _>>()?);
    c.env("CC", &env.cc).env("CFLAGS", env.cflags.join(" ")).env("LDFLAGS", recipe.ldflags.join(" "));
    step(&mut c, &format!("configure ({})", recipe.path.display()), log)
}

/// `make` with the recipe's arguments.
pub(crate) fn make(recipe: &Recipe, env: &Env, work: &Path, log: &Path, triple: &str) -> Result<(), SourceError> {
    let name = recipe.path.display().to_string();
    let vars = env.vars(recipe);
    let args = recipe.make.iter().map(|a| render(&name, a, &vars)).collect::<Result<Vec<_>, _>>()?;
    let mut c = env.command("make", work);
    c.args(args);
    step(&mut c, &format!("make for {triple} ({})", recipe.path.display()), log)
}

/// The C compiler make calls: `zig cc` for the target, from `zig-cc.sh`.
pub(crate) fn write_cc(
    text: &str,
    template: &Path,
    zig: &Zig,
    triple: &str,
    flags: &TargetFlags,
    scratch: &Path,
) -> Result<PathBuf, SourceError> {
    let vars: Vars =
        [("zig", zig.bin.display().to_string()), ("triple", triple.into()), ("cpu", flags.cpu.join(" "))].into();
    let script = render(&template.display().to_string(), text, &vars)?;
    let cc = scratch.join("cc");
    std::fs::write(&cc, script).map_err(io(&cc))?;
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(&cc, std::fs::Permissions::from_mode(0o755)).map_err(io(&cc))?;
    Ok(cc)
}

/// Copy the recipe's files (or directories: a library's headers) from the built tree into
/// the package's tree; each one's size in bytes.
pub(crate) fn install(recipe: &Recipe, work: &Path, data: &Path) -> Result<BTreeMap<String, u64>, SourceError> {
    let mut files = BTreeMap::new();
    for i in &recipe.install {
        let from = work.join(&i.from);
        let to = data.join(&i.to);
        std::fs::create_dir_all(to.parent().expect("a file has a parent")).map_err(io(&to))?;
        let bytes = if from.is_file() {
            std::fs::copy(&from, &to).map_err(io(&to))?
        } else if from.is_dir() {
            crate::image::run_command(Command::new("cp").arg("-a").arg(&from).arg(&to))?;
            tree_bytes(&to)?
        } else {
            return Err(SourceError::NotBuilt { recipe: recipe.path.clone(), from: i.from.clone(), dir: work.into() });
        };
        files.insert(i.to.clone(), bytes);
    }
    Ok(files)
}

fn tree_bytes(dir: &Path) -> Result<u64, SourceError> {
    let mut n = 0;
    for e in std::fs::read_dir(dir).map_err(io(dir))?.flatten() {
        let t = e.file_type().map_err(io(&e.path()))?;
        n += if t.is_dir() { tree_bytes(&e.path())? } else { e.metadata().map_err(io(&e.path()))?.len() };
    }
    Ok(n)
}

/// The package version: Debian's, from the .dsc's name; else the fingerprint's start.
pub(crate) fn version(origin: &Origin, f: &Fetched) -> String {
    let from_dsc = || {
        let name = f.at.file_stem()?.to_string_lossy().into_owned();
        Some(name.split_once('_')?.1.to_string())
    };
    match origin {
        Origin::Debian(_) | Origin::Dsc { .. } => from_dsc().unwrap_or_else(|| "0".into()),
        Origin::Dir(_) | Origin::Tarball(_) => format!("0+{}", &f.fingerprint[..12]),
    }
}

/// Run one build step with its output appended to `log`; on failure, the log's tail.
fn step(cmd: &mut Command, what: &str, log: &Path) -> Result<(), SourceError> {
    use std::io::Write as _;
    let mut f = std::fs::OpenOptions::new().create(true).append(true).open(log).map_err(io(log))?;
    writeln!(f, "==> {what}").map_err(io(log))?;
    let out = f.try_clone().map_err(io(log))?;
    cmd.stdout(Stdio::from(out)).stderr(Stdio::from(f));
    let status = cmd.status().map_err(|source| SourceError::Spawn { command: what.into(), source })?;
    if status.success() {
        return Ok(());
    }
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let tail: Vec<&str> = text.lines().rev().take(20).collect();
    let tail = tail.into_iter().rev().collect::<Vec<_>>().join("\n");
    Err(SourceError::Step { what: what.into(), status: status.to_string(), log: log.into(), tail })
}
