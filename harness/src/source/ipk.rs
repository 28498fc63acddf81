//! OpenWrt's package format, as opkg-build writes it: a gzip'd tar of `debian-binary`,
//! `data.tar.gz` (the files, relative to `/`) and `control.tar.gz` (the control file).
use std::path::Path;
use std::process::Command;

use super::error::{io, SourceError};

/// The fields of an .ipk's control file.
pub(crate) struct Control<'a> {
    pub package: &'a str,
    pub version: &'a str,
    pub arch: &'a str,
    pub source: &'a str,
    pub description: &'a str,
    pub installed_size: u64,
}

impl Control<'_> {
    fn text(&self) -> String {
        format!(
            "Package: {}\nVersion: {}\nSource: {}\nSection: net\nArchitecture: {}\nInstalled-Size: {}\nDescription: {}\n",
            self.package, self.version, self.source, self.arch, self.installed_size, self.description
        )
    }
}

/// Pack `data` (a tree) with `control` into `out`. Owners are root and times zero, so the
/// same files make the same package.
pub(crate) fn write(data: &Path, control: &Control<'_>, scratch: &Path, out: &Path) -> Result<(), SourceError> {
    let dir = scratch.join("ipk");
    let ctl = dir.join("control.d");
    std::fs::create_dir_all(&ctl).map_err(io(&ctl))?;
    std::fs::write(ctl.join("control"), control.text()).map_err(io(&ctl))?;
    std::fs::write(dir.join("debian-binary"), "2.0\n").map_err(io(&dir))?;
    tar(&dir.join("data.tar.gz"), data, &["."])?;
    tar(&dir.join("control.tar.gz"), &ctl, &["./control"])?;
    tar(out, &dir, &["./debian-binary", "./data.tar.gz", "./control.tar.gz"])
}

fn tar(out: &Path, from: &Path, members: &[&str]) -> Result<(), SourceError> {
    let mut c = Command::new("tar");
    c.args(["--numeric-owner", "--owner=0", "--group=0", "--mtime=@0", "--sort=name"]);
    c.args(["--use-compress-program=gzip -n", "-cf"]).arg(out);
    c.arg("-C").arg(from).args(members);
    crate::image::run_command(&mut c)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ipk_holds_the_files_and_a_control_file_opkg_reads() {
        let d = tempfile::tempdir().unwrap();
        let data = d.path().join("data");
        std::fs::create_dir_all(data.join("usr/sbin")).unwrap();
        std::fs::write(data.join("usr/sbin/x"), "x").unwrap();
        let c = Control {
            package: "x",
            version: "1.0-1",
            arch: "mipsel_24kc",
            source: "directory /src",
            description: "a test",
            installed_size: 1,
        };
        let out = d.path().join("x_1.0-1_mipsel_24kc.ipk");
        write(&data, &c, d.path(), &out).unwrap();
        let list = |tgz: &Path, dir: &Path| {
            let o = Command::new("tar").arg("-tzf").arg(tgz).current_dir(dir).output().unwrap();
            String::from_utf8(o.stdout).unwrap()
        };
        let outer = list(&out, d.path());
        assert_eq!(outer.lines().collect::<Vec<_>>(), ["./debian-binary", "./data.tar.gz", "./control.tar.gz"]);
        let x = d.path().join("x");
        std::fs::create_dir_all(&x).unwrap();
        Command::new("tar").arg("-xzf").arg(&out).arg("-C").arg(&x).status().unwrap();
        assert!(list(&x.join("data.tar.gz"), &x).contains("./usr/sbin/x"));
        Command::new("tar").arg("-xzf").arg(x.join("control.tar.gz")).arg("-C").arg(&x).status().unwrap();
        let control = std::fs::read_to_string(x.join("control")).unwrap();
        assert!(control.contains("Package: x\n") && control.contains("Architecture: mipsel_24kc\n"), "{control}");
        // The same inputs make the same bytes.
        let again = d.path().join("again.ipk");
        write(&data, &c, &d.path().join("s2"), &again).unwrap();
        assert_eq!(std::fs::read(&out).unwrap(), std::fs::read(&again).unwrap());
    }
}
