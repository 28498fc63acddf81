//! Small files into the guest over the console: base64 in chunks, then the guest's sha256
//! must match. It needs no network, so it works before the router is configured. For
//! configs, rulesets and certificates; builds go over HTTP ([`super::upload`]).
use super::machine::Vm;
use super::VmError;

/// Base64 characters per console line, at most; less where the shell reads shorter lines.
const CHUNK: usize = 600;

impl Vm {
    /// Write `data` to `path` in the guest (its directory is created) and verify it. A
    /// small file is one console command: the directory, the data and the check together.
    pub async fn write_file(&mut self, path: &str, data: &[u8]) -> Result<(), VmError> {
        let b64 = match self.base64 {
            Some(b) => b,
            None => {
                let b = !self.must("command -v base64 || true", path).await?.trim().is_empty();
                *self.base64.insert(b)
            }
        };
        let mut sum = String::new();
        for cmd in file_commands(path, data, b64, self.max_command()) {
            sum = self.must(&cmd, path).await?;
        }
        let want = crate::image::sha256_hex(data);
        if !sum.starts_with(&want) {
            return Err(self.write_error(path, format!("sha256 {sum:?} != {want}")));
        }
        self.written.insert(path.to_string(), want);
        Ok(())
    }

    /// Write several files. Those this boot already wrote with the same content are not
    /// sent again if one `sha256sum` of them all finds them unchanged: the next cell on a
    /// router gets its certificates and an unchanged config in one console round trip,
    /// where sending them took about two seconds on aarch64.
    pub async fn write_files(&mut self, files: &[(&str, &[u8])]) -> Result<(), VmError> {
        let want: Vec<(&str, String)> = files.iter().map(|(p, d)| (*p, crate::image::sha256_hex(d))).collect();
        let resend = resend_all();
        let known: Vec<&str> =
            want.iter().filter(|(p, h)| !resend && self.written.get(*p) == Some(h)).map(|(p, _)| *p).collect();
        let mut same = std::collections::HashSet::new();
        if !known.is_empty() {
            // A file that is gone makes sha256sum exit 1 and say nothing on stdout for it.
            let out = self.exec(&format!("sha256sum {} 2>/dev/null", known.join(" "))).await?;
            same = unchanged(&out.stdout, &want);
        }
        for (path, data) in files {
            if !same.contains(*path) {
                self.write_file(path, data).await?;
            }
        }
        Ok(())
    }

    async fn must(&mut self, cmd: &str, path: &str) -> Result<String, VmError> {
        let out = self.exec(cmd).await?;
        if out.status != 0 {
            return Err(self.write_error(path, format!("`{cmd}` exited {}: {}", out.status, out.stdout.trim())));
        }
        Ok(out.stdout)
    }

    fn write_error(&self, path: &str, detail: String) -> VmError {
        VmError::Upload { vm: self.name().to_string(), path: path.into(), detail }
    }
}

/// The console commands that write `data` to `path`, each within `limit` once wrapped for
/// exec: the data in chunks into `path.b64` (base64 where the guest has it; else each byte
/// as an octal escape of the shell's printf, as OpenWrt 19.07's busybox needs), the first
/// chunk creating the directory, the last one decoding and printing the sha256 where the
/// line has room.
fn file_commands(path: &str, data: &[u8], b64: bool, limit: usize) -> Vec<String> {
    let tmp = format!("{path}.b64");
    let wrapped = |c: &str| super::console::wrap("00000000", c).len();
    let mkdir = format!("mkdir -p \"$(dirname {path})\" && ");
    let room = limit.saturating_sub(wrapped(&format!("{mkdir}printf %s '' > {tmp}")));
    let size = CHUNK.min(room).max(64);
    let mut pieces: Vec<String> = if b64 {
        let text = base64(data);
        text.as_bytes()
            .chunks(size)
            .map(|c| format!("printf %s '{}'", std::str::from_utf8(c).expect("ascii")))
            .collect()
    } else {
        data.chunks(size / 4)
            .map(|c| format!("printf '{}'", c.iter().map(|b| format!("\\{b:03o}")).collect::<String>()))
            .collect()
    };
    if pieces.is_empty() {
        pieces.push("printf ''".into());
    }
    let mut cmds: Vec<String> = pieces
        .iter()
        .enumerate()
        .map(|(i, p)| if i == 0 { format!("{mkdir}{p} > {tmp}") } else { format!("{p} >> {tmp}") })
        .collect();
    let finish = if b64 {
        format!("base64 -d {tmp} > {path} && rm {tmp} && sha256sum {path}")
    } else {
        format!("mv {tmp} {path} && sha256sum {path}")
    };
    let last = cmds.last_mut().expect("one piece at least");
    let merged = format!("{last} && {finish}");
    if wrapped(&merged) <= limit {
        *last = merged;
    } else {
        cmds.push(finish);
    }
    cmds
}

/// `ROUTERLAB_RESEND=1`: send every file and build again for each cell, as routerlab did
/// before it kept track; `ci/bench-verdict` measures what keeping track saves.
pub fn resend_all() -> bool {
    std::env::var_os("ROUTERLAB_RESEND").is_some_and(|v| v != "0")
}

/// The paths whose `sha256sum` line matches the wanted hash.
fn unchanged<'a>(sums: &str, want: &[(&'a str, String)]) -> std::collections::HashSet<&'a str> {
    let found: std::collections::HashMap<&str, &str> =
        sums.lines().filter_map(|l| l.split_once("  ")).map(|(h, p)| (p.trim(), h.trim())).collect();
    want.iter().filter(|(p, h)| found.get(p) == Some(&h.as_str())).map(|(p, _)| *p).collect()
}

fn base64(data: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for c in data.chunks(3) {
        let n =
            (u32::from(c[0]) << 16) | (u32::from(*c.get(1).unwrap_or(&0)) << 8) | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= c.len() {
                out.push(T[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    /// Run `cmds` in a host shell under `dir` (paths rewritten into it); what the last printed.
    fn run_on_host(dir: &std::path::Path, cmds: &[String], guest: &str) -> String {
        let mut out = String::new();
        for c in cmds {
            let c = c.replace(guest, &dir.join(guest.trim_start_matches('/')).display().to_string());
            let o = std::process::Command::new("sh").arg("-c").arg(&c).output().unwrap();
            assert!(o.status.success(), "{c}: {}", String::from_utf8_lossy(&o.stderr));
            out = String::from_utf8_lossy(&o.stdout).into_owned();
        }
        out
    }

    #[test]
    fn a_file_is_written_in_as_few_commands_as_fit_and_reads_back_whole() {
        let d = tempfile::tempdir().unwrap();
        let guest = "/etc/routerlab/pki/frontend.pem";
        let data: Vec<u8> = (0..1500u32).map(|i| (i * 7 % 256) as u8).collect();
        for (b64, limit, most) in [(true, 900, 4), (false, 900, 11), (true, 480, 8), (false, 480, 22)] {
            let cmds = super::file_commands(guest, &data, b64, limit);
            assert!(cmds.len() <= most, "{b64} {limit}: {} commands", cmds.len());
            for c in &cmds {
                assert!(super::super::console::wrap("00000000", c).len() <= limit, "{limit}: {c}");
            }
            let _ = std::fs::remove_dir_all(d.path().join("etc"));
            let sum = run_on_host(d.path(), &cmds, guest);
            let back = std::fs::read(d.path().join(guest.trim_start_matches('/'))).unwrap();
            assert!(back == data, "{b64} {limit}: the file reads back");
            assert!(sum.starts_with(&crate::image::sha256_hex(&data)), "{b64} {limit}: {sum}");
        }
        // A small file is one command; an empty one too.
        assert_eq!(super::file_commands("/etc/x.nft", b"table ip rl {}\n", true, 900).len(), 1);
        let cmds = super::file_commands("/etc/empty", b"", true, 900);
        assert_eq!(cmds.len(), 1);
        assert!(run_on_host(d.path(), &cmds, "/etc/empty").starts_with(&crate::image::sha256_hex(b"")));
    }

    #[test]
    fn only_files_found_with_the_hash_written_are_skipped() {
        let want = [("/a", "11".to_string()), ("/b", "22".to_string()), ("/c", "33".to_string())];
        // /a is unchanged, /b was changed in the guest, /c is gone (no line).
        let same = super::unchanged("11  /a\n99  /b\n", &want);
        assert_eq!(same, ["/a"].into_iter().collect());
    }

    #[test]
    fn base64_matches_the_rfc_vectors() {
        for (i, o) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(super::base64(i.as_bytes()), o);
        }
    }
}
