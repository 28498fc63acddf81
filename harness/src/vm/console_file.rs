//! Small files into the guest over the console: base64 in chunks, then the guest's sha256
//! must match. It needs no network, so it works before the router is configured. For
//! configs, rulesets and certificates; builds go over HTTP ([`super::upload`]).
use super::machine::Vm;
use super::VmError;

/// Base64 characters per console line, at most; less where the shell reads shorter lines.
const CHUNK: usize = 600;
/// What a chunk's line adds to it: the exec wrapper, `printf %s '' >> ` and the path.
const CHUNK_OVERHEAD: usize = 120;

impl Vm {
    /// Write `data` to `path` in the guest (its directory is created) and verify it.
    pub async fn write_file(&mut self, path: &str, data: &[u8]) -> Result<(), VmError> {
        let tmp = format!("{path}.b64");
        let size = CHUNK.min(self.max_command().saturating_sub(CHUNK_OVERHEAD + tmp.len())).max(64);
        let start = format!("mkdir -p \"$(dirname {path})\" && : > {tmp} && command -v base64 || true");
        let sum = if self.must(&start, path).await?.trim().is_empty() {
            // No base64 (OpenWrt 19.07's busybox): each byte as an octal escape of the
            // shell's own printf, four characters a byte.
            for chunk in data.chunks(size / 4) {
                let esc: String = chunk.iter().map(|b| format!("\\{b:03o}")).collect();
                self.must(&format!("printf '{esc}' >> {tmp}"), path).await?;
            }
            self.must(&format!("mv {tmp} {path} && sha256sum {path}"), path).await?
        } else {
            for chunk in base64(data).as_bytes().chunks(size) {
                let chunk = std::str::from_utf8(chunk).expect("base64 is ascii");
                self.must(&format!("printf %s '{chunk}' >> {tmp}"), path).await?;
            }
            self.must(&format!("base64 -d {tmp} > {path} && rm {tmp} && sha256sum {path}"), path).await?
        };
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
