//! Why a build cannot run on a target, each naming the build, the file, what it is and
//! what the target needs.
use crate::vm::Target;

#[derive(Debug, thiserror::Error)]
pub enum PreflightError {
    #[error("build {build}: {file} is neither an ELF executable nor a #! script, so {target} cannot run it")]
    NotElf { build: String, file: String, target: Target },
    #[error("build {build}: {file}: {is}; {target} runs {runs}")]
    Machine { build: String, file: String, is: String, target: Target, runs: String },
    #[error(
        "build {build}: {file} needs {needs} (its MIPS ABI flags say so), which {target}'s CPU, QEMU's {cpu}, lacks: it would die with SIGILL"
    )]
    Cpu { build: String, file: String, needs: String, target: Target, cpu: &'static str },
    #[error(
        "build {build}: {file}: hard-float ELF; {target}'s user space is soft-float (the router's SoC has no FPU): build it with -msoft-float"
    )]
    Float { build: String, file: String, target: Target },
    #[error(
        "build {build}: {file}: dynamic {libc} ELF; its loader {interp} is not in {target}'s image ({image_libc}): link it statically, or run it on a target whose user space is {libc}"
    )]
    Loader { build: String, file: String, libc: &'static str, interp: String, target: Target, image_libc: String },
    #[error("build {build}: {file}: {why}, and the scenario terminates TLS at the proxy: use a build with TLS")]
    NoTls { build: String, file: String, why: String },
    #[error(
        "build {build}: {file}: nginx built without the stream module (its configure arguments do not name --with-stream), and the scenario passes TLS through with it: use a build with the stream module"
    )]
    NoStream { build: String, file: String },
    #[error("build {build}: {file} needs {lib}, which is in neither the build nor {target}'s image")]
    Library { build: String, file: String, lib: String, target: Target },
    #[error(
        "build {build}: {file} imports {imports}, which no library it would load on {target} defines{why}: its loader would stop it with \"symbol not found\"; link it statically, or against {target}'s own libraries"
    )]
    Symbols { build: String, file: String, imports: String, why: String, target: Target },
    #[error("{target}: its image, which the builds are checked against, could not be built")]
    Image {
        target: Target,
        #[source]
        source: crate::image::ImageError,
    },
    #[error("build {build}: staging it for {target} failed")]
    Stage {
        build: String,
        target: Target,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}
