use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use flate2::{Compression, GzBuilder};
use sha2::{Digest, Sha256};

use super::apt::{run, AptState};
use super::error::io;
use super::tree::{FileSource, Node, Tree};
use super::{elf, modules, CpioWriter, ImageError, Recipe};

/// Bump when the builder's output for the same recipe changes.
const BUILDER_VERSION: &str = "routerlab-image-builder 7";

#[derive(Debug, Clone)]
pub struct BuildOptions {
    /// The `images/` directory holding recipes.
    pub images_dir: PathBuf,
    pub cache: PathBuf,
    /// Rebuild even when the cache has this recipe (fresh packages).
    pub force: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PackageInfo {
    pub name: String,
    pub version: String,
    pub arch: String,
    pub sha256: String,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Artifact {
    pub file: String,
    pub sha256: String,
    pub bytes: u64,
}

/// What went into an image, written as `manifest.json` beside it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Manifest {
    pub schema_version: u32,
    pub name: String,
    /// Content hash of the recipe and every file it copies: the cache key.
    pub key: String,
    pub builder: String,
    pub debian_arch: String,
    pub kernel_version: String,
    pub kernel: Artifact,
    pub initrd: Artifact,
    pub initrd_unpacked_bytes: u64,
    pub files: usize,
    pub modules: usize,
    pub libraries: usize,
    pub packages: Vec<PackageInfo>,
    pub cmdline: Option<String>,
    /// Lowest kernel virtual address, from the recipe (instruction counts split on it).
    #[serde(default)]
    pub kernel_base: Option<u64>,
    /// The guest's TLB refill instruction (hex bytes), from the recipe, where it has one.
    #[serde(default)]
    pub tlb_refill_insn: Option<String>,
    /// The OpenWrt userland, where the image has one instead of Debian's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub openwrt: Option<OpenWrtManifest>,
    /// What a MIPS user space asks of the CPU (ISA release, ASEs), from its ELF files' ABI
    /// flags: a target whose CPU lacks it is refused before boot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mips: Option<super::abi::MipsNeeds>,
    /// The guest's PATH, as `/etc/routerlab/path` gives it to the inits and login shells.
    #[serde(default = "super::programs::default_path")]
    pub path: Vec<String>,
    /// The lab's tools and the proxies as the guest's PATH finds them: file, origin, libc.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub programs: Vec<super::programs::Program>,
    pub built_at: String,
    pub build_seconds: f64,
}

/// What an OpenWrt image's userland is: the release, and for a feed build each package
/// installed (name and version) and the dependencies Debian's kernel stands in for.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct OpenWrtManifest {
    pub release: String,
    #[serde(default)]
    pub packages: std::collections::BTreeMap<String, String>,
    #[serde(default)]
    pub provided: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct BuiltImage {
    pub dir: PathBuf,
    pub kernel: PathBuf,
    pub initrd: PathBuf,
    pub manifest: Manifest,
    pub cache_hit: bool,
}

impl BuiltImage {
    pub fn open(dir: &Path) -> Option<BuiltImage> {
        let manifest: Manifest =
            serde_json::from_str(&std::fs::read_to_string(dir.join("manifest.json")).ok()?).ok()?;
        let (kernel, initrd) = (dir.join(&manifest.kernel.file), dir.join(&manifest.initrd.file));
        (kernel.is_file() && initrd.is_file()).then(|| BuiltImage {
            dir: dir.into(),
            kernel,
            initrd,
            manifest,
            cache_hit: true,
        })
    }
}

/// The cache key: the builder version, the recipe text, and every repository file it copies.
pub fn recipe_key(recipe: &Recipe) -> Result<String, ImageError> {
    let mut h = Sha256::new();
    h.update(BUILDER_VERSION);
    h.update(std::fs::read(&recipe.path).map_err(io(&recipe.path))?);
    for f in &recipe.files {
        let p = recipe.dir().join(&f.from);
        h.update(f.to.as_bytes());
        h.update(f.mode.as_bytes());
        h.update(std::fs::read(&p).map_err(io(&p))?);
    }
    Ok(hex(&h.finalize())[..16].to_string())
}

/// Build (or find in the cache) the image named `name`.
pub fn build(name: &str, opts: &BuildOptions) -> Result<BuiltImage, ImageError> {
    let recipe = Recipe::find(&opts.images_dir, name)?;
    let key = recipe_key(&recipe)?;
    let dir = opts.cache.join("images").join(format!("{}-{key}", recipe.name));
    let cached = || if opts.force { None } else { BuiltImage::open(&dir) };
    if let Some(img) = cached() {
        return Ok(img);
    }
    // One builder per recipe at a time, across threads and processes; whoever waited
    // finds the other's result.
    let images = opts.cache.join("images");
    let lock = images.join(format!(".lock-{}", recipe.name));
    let _lock = crate::filelock::FileLock::acquire(&lock).map_err(io(&lock))?;
    for p in super::cache::prune_scratch(&images, Some(&recipe.name)) {
        tracing::info!("removed {}: scratch of an image build that did not finish", p.display());
    }
    if let Some(img) = cached() {
        return Ok(img);
    }
    let t0 = Instant::now();
    let debs = fetch_inputs(&recipe, opts)?;

    let scratch = super::cache::Scratch::new(&images, &recipe.name, &key);
    let tmp = scratch.path().to_path_buf();
    let _ = std::fs::remove_dir_all(&tmp);
    let root = tmp.join("root");
    std::fs::create_dir_all(&root).map_err(io(&root))?;
    let packages = unpack(&debs, &root)?;
    let (mut tree, libraries, kver, nmod) = assemble(&recipe, &root, &key)?;
    let openwrt = recipe
        .openwrt
        .as_ref()
        .map(|o| add_openwrt(&mut tree, o, &opts.images_dir, &tmp.join("openwrt")))
        .transpose()?;

    let out = tmp.join("out");
    let (kernel, initrd, files, unpacked) = write_out(&tree, &find_kernel(&root, &kver, &recipe.debian_arch)?, &out)?;

    let manifest = Manifest {
        schema_version: 1,
        name: recipe.name.clone(),
        key: key.clone(),
        builder: BUILDER_VERSION.into(),
        debian_arch: recipe.debian_arch.clone(),
        kernel_version: kver,
        kernel: artifact(&kernel, "kernel")?,
        initrd: artifact(&initrd, "initrd.gz")?,
        initrd_unpacked_bytes: unpacked,
        files,
        modules: nmod,
        libraries,
        packages,
        cmdline: recipe.cmdline.clone(),
        kernel_base: recipe.kernel_base(),
        tlb_refill_insn: recipe.tlb_refill_insn.clone(),
        openwrt,
        mips: super::abi::userland_needs(&tree),
        programs: programs_of(&tree, &recipe, &tmp),
        path: recipe.guest_path(),
        built_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        build_seconds: t0.elapsed().as_secs_f64(),
    };
    let mpath = out.join("manifest.json");
    std::fs::write(&mpath, serde_json::to_string_pretty(&manifest).expect("manifest serializes") + "\n")
        .map_err(io(&mpath))?;
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::rename(&out, &dir).map_err(io(&dir))?;
    drop(scratch);
    BuiltImage::open(&dir)
        .map(|mut b| {
            b.cache_hit = false;
            b
        })
        .ok_or_else(|| ImageError::Io {
            path: dir.clone(),
            source: std::io::Error::other("image vanished after build"),
        })
}

/// The image's files in `out`: the kernel, the initramfs, its path index and its shared
/// libraries' symbols (`exports.json`, for the preflight). Returns the
/// kernel's and the initramfs' paths, the file count and the unpacked bytes.
fn write_out(tree: &Tree, kernel_src: &Path, out: &Path) -> Result<(PathBuf, PathBuf, usize, u64), ImageError> {
    std::fs::create_dir_all(out).map_err(io(out))?;
    let (kernel, initrd) = (out.join("kernel"), out.join("initrd.gz"));
    std::fs::copy(kernel_src, &kernel).map_err(io(&kernel))?;
    let (files, unpacked) = write_initrd(tree, &initrd)?;
    tree.write_index(&out.join("paths.txt"))?;
    super::symbols::ImageLibraries::of(tree)?.write(&out.join("exports.json"))?;
    Ok((kernel, initrd, files, unpacked))
}

/// Every input checked or fetched: the OpenWrt mirror's pins first, so a missing or altered
/// file fails before anything is fetched, then the Debian packages.
fn fetch_inputs(recipe: &Recipe, opts: &BuildOptions) -> Result<Vec<super::apt::Deb>, ImageError> {
    if let Some(spec) = &recipe.openwrt {
        super::openwrt::verify_pins(spec, &super::openwrt::mirror_dir(&opts.images_dir))?;
    }
    let apt = AptState::new(&opts.cache, &recipe.debian_arch)?;
    apt.update_if_stale()?;
    let mut wanted = vec![recipe.kernel_package.clone()];
    wanted.extend(recipe.packages.iter().cloned());
    apt.fetch(&wanted)
}

/// The OpenWrt userland under everything else: unpacked from the mirror, then laid into
/// the tree where the Debian parts (modules, carried-in tools, the recipe's files) have not
/// already put something, so those win.
fn add_openwrt(
    tree: &mut Tree,
    spec: &super::openwrt::OpenWrtSpec,
    images_dir: &Path,
    root: &Path,
) -> Result<OpenWrtManifest, ImageError> {
    let mirror = super::openwrt::mirror_dir(images_dir);
    let feed = super::openwrt::unpack_userland(spec, &mirror, root)?;
    let mut userland = Tree::default();
    userland.add_root(root)?;
    for (path, node) in userland.nodes {
        match (tree.nodes.get(&path), &node) {
            // A base directory of ours where OpenWrt has a link (`/var` -> `/tmp`): OpenWrt's
            // link, without the directories we would have made beneath it.
            (Some(Node::Dir { .. }), Node::Symlink { .. }) => {
                let under = format!("{path}/");
                tree.nodes.retain(|p, n| !(p.starts_with(&under) && matches!(n, Node::Dir { .. })));
                tree.nodes.insert(path, node);
            }
            (Some(Node::Dir { .. }), Node::Dir { .. }) | (None, _) => {
                tree.nodes.insert(path, node);
            }
            _ => {}
        }
    }
    let feed = feed.unwrap_or_default();
    Ok(OpenWrtManifest {
        release: spec.release.clone(),
        packages: feed.installed,
        provided: feed.provided.into_iter().collect(),
    })
}

/// The lab's tools and the image's proxies, as the guest finds them on the recipe's PATH
/// (`tmp/openwrt` is where an OpenWrt userland was unpacked).
fn programs_of(tree: &Tree, recipe: &Recipe, tmp: &Path) -> Vec<super::programs::Program> {
    use super::programs::{find, LAB_TOOLS, PROXIES};
    let openwrt_root = recipe.openwrt.is_some().then(|| tmp.join("openwrt"));
    find(tree, &recipe.guest_path(), &[&LAB_TOOLS[..], &PROXIES[..]].concat(), openwrt_root.as_deref())
}

/// The unpacked kernel package's image, `boot/vmlinuz-KVER` (or `vmlinux-` on MIPS).
fn find_kernel(root: &Path, kver: &str, arch: &str) -> Result<PathBuf, ImageError> {
    let missing =
        || ImageError::Missing { what: "kernel", name: kver.into(), arch: arch.into(), path: root.join("boot") };
    ["vmlinuz", "vmlinux"]
        .iter()
        .map(|k| root.join(format!("boot/{k}-{kver}")))
        .find(|p| p.is_file())
        .ok_or_else(missing)
}

/// Unpack every package into `root`, noting what each was.
fn unpack(debs: &[super::apt::Deb], root: &Path) -> Result<Vec<PackageInfo>, ImageError> {
    let mut packages = Vec::new();
    for d in debs {
        run(Command::new("dpkg-deb").arg("-x").arg(&d.path).arg(root))?;
        packages.push(PackageInfo {
            name: d.name.clone(),
            version: d.version.clone(),
            arch: d.arch.clone(),
            sha256: sha256_file(&d.path)?,
        });
    }
    Ok(packages)
}

/// The initramfs tree: base directories and devices, the binaries with their library
/// closure, the kernel modules, the recipe's files and links, and the image's name.
fn assemble(recipe: &Recipe, root: &Path, key: &str) -> Result<(Tree, usize, String, usize), ImageError> {
    let mut tree = Tree::default();
    for d in [
        "/proc",
        "/sys",
        "/dev",
        "/tmp",
        "/run",
        "/root",
        "/var/log",
        "/var/run",
        "/etc/routerlab",
        "/usr/bin",
        "/usr/sbin",
        "/sbin",
    ] {
        tree.dir(d);
    }
    tree.chardev("/dev/console", 0o600, 5, 1);
    tree.chardev("/dev/null", 0o666, 1, 3);
    let bin_dir = recipe.carry.as_ref().map(super::recipe::Carry::bin_dir);
    let carried = recipe.carry.as_ref().zip(bin_dir.as_deref()).map(|(c, d)| (d, &c.binaries[..]));
    let arch = (recipe.triplet(), recipe.debian_arch.as_str());
    let libraries = elf::include_closure(&mut tree, root, arch, &recipe.binaries, carried)?;
    let kver = modules::kernel_version(root)?;
    let nmod = modules::include_modules(&mut tree, root, &kver, &recipe.modules)?;
    for f in &recipe.files {
        let p = recipe.dir().join(&f.from);
        let mode = u32::from_str_radix(&f.mode, 8).expect("validated octal");
        tree.host_file(&f.to, p, mode);
    }
    for l in &recipe.links {
        tree.symlink(&l.path, &l.target);
    }
    tree.bytes("/etc/routerlab/path", format!("{}\n", recipe.guest_path().join(":")).into_bytes(), 0o644);
    tree.bytes("/etc/routerlab/image", format!("name={}\nkey={key}\nkernel={kver}\n", recipe.name).into_bytes(), 0o644);
    Ok((tree, libraries, kver, nmod))
}

fn write_initrd(tree: &Tree, path: &Path) -> Result<(usize, u64), ImageError> {
    let f = std::fs::File::create(path).map_err(io(path))?;
    let gz = GzBuilder::new().mtime(0).write(std::io::BufWriter::new(f), Compression::best());
    let mut w = CpioWriter::new(gz);
    let mut unpacked = 0u64;
    let werr = io(path);
    let r: std::io::Result<()> = (|| {
        for (name, node) in &tree.nodes {
            match node {
                Node::Dir { mode } => w.dir(name, *mode)?,
                Node::Symlink { target } => w.symlink(name, target)?,
                Node::CharDev { mode, major, minor } => w.chardev(name, *mode, *major, *minor)?,
                Node::File { source, mode } => {
                    let data = match source {
                        FileSource::Host(p) => std::fs::read(p)?,
                        FileSource::Bytes(b) => b.clone(),
                    };
                    unpacked += data.len() as u64;
                    w.file(name, *mode, &data)?;
                }
            }
        }
        Ok(())
    })();
    r.map_err(werr)?;
    let gz = w.finish().map_err(io(path))?;
    gz.finish().and_then(|mut b| b.flush()).map_err(io(path))?;
    Ok((tree.nodes.len(), unpacked))
}

fn artifact(path: &Path, file: &str) -> Result<Artifact, ImageError> {
    Ok(Artifact {
        file: file.into(),
        sha256: sha256_file(path)?,
        bytes: std::fs::metadata(path).map_err(io(path))?.len(),
    })
}

pub(crate) fn sha256_file(path: &Path) -> Result<String, ImageError> {
    let mut f = std::fs::File::open(path).map_err(io(path))?;
    let mut h = Sha256::new();
    std::io::copy(&mut f, &mut h).map_err(io(path))?;
    Ok(hex(&h.finalize()))
}

/// Whether `s` has the form of a sha256 in hex (64 digits, either case).
pub fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// sha256 of bytes, lower-case hex.
pub fn sha256_hex(data: &[u8]) -> String {
    hex(&Sha256::digest(data))
}

pub(crate) fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}
