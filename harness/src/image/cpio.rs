//! A deterministic cpio "newc" writer (what the kernel unpacks as an initramfs).
use std::io::{self, Write};

/// Writes newc entries with fixed owner (0), mtime (0) and sequential inode numbers.
pub struct CpioWriter<W: Write> {
    out: W,
    ino: u32,
    written: u64,
}

impl<W: Write> CpioWriter<W> {
    pub fn new(out: W) -> Self {
        CpioWriter { out, ino: 1, written: 0 }
    }

    fn entry(&mut self, name: &str, mode: u32, data: &[u8], rdev: (u32, u32)) -> io::Result<()> {
        let name = name.trim_start_matches('/');
        let name = if name.is_empty() { "." } else { name };
        let namesize = name.len() + 1;
        let header = format!(
            "070701{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}",
            self.ino,
            mode,
            0,
            0,
            1,
            0,
            data.len(),
            0,
            0,
            rdev.0,
            rdev.1,
            namesize,
            0
        );
        self.ino += 1;
        self.put(header.as_bytes())?;
        self.put(name.as_bytes())?;
        self.put(&[0])?;
        self.pad()?;
        self.put(data)?;
        self.pad()
    }

    fn put(&mut self, b: &[u8]) -> io::Result<()> {
        self.out.write_all(b)?;
        self.written += b.len() as u64;
        Ok(())
    }

    fn pad(&mut self) -> io::Result<()> {
        let n = (4 - (self.written % 4) as usize) % 4;
        self.put(&[0u8; 3][..n])
    }

    pub fn dir(&mut self, name: &str, perm: u32) -> io::Result<()> {
        self.entry(name, 0o040000 | perm, &[], (0, 0))
    }
    pub fn file(&mut self, name: &str, perm: u32, data: &[u8]) -> io::Result<()> {
        self.entry(name, 0o100000 | perm, data, (0, 0))
    }
    pub fn symlink(&mut self, name: &str, target: &str) -> io::Result<()> {
        self.entry(name, 0o120777, target.as_bytes(), (0, 0))
    }
    pub fn chardev(&mut self, name: &str, perm: u32, major: u32, minor: u32) -> io::Result<()> {
        self.entry(name, 0o020000 | perm, &[], (major, minor))
    }

    /// Write the trailer and return the inner writer.
    pub fn finish(mut self) -> io::Result<W> {
        self.entry("TRAILER!!!", 0, &[], (0, 0))?;
        Ok(self.out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newc_layout_is_aligned_and_deterministic() {
        let build = || {
            let mut w = CpioWriter::new(Vec::new());
            w.dir("/etc", 0o755).unwrap();
            w.file("/etc/hostname", 0o644, b"router\n").unwrap();
            w.symlink("/bin/sh", "busybox").unwrap();
            w.chardev("/dev/console", 0o600, 5, 1).unwrap();
            w.finish().unwrap()
        };
        let a = build();
        assert_eq!(a, build(), "same input, same bytes");
        assert_eq!(a.len() % 4, 0);
        assert!(a.starts_with(b"070701"));
        let text = String::from_utf8_lossy(&a);
        assert!(text.contains("etc/hostname\0"));
        assert!(text.contains("router\n"));
        assert!(text.contains("TRAILER!!!"));
        // Every header starts on a 4-byte boundary: five entries, five aligned magics.
        let magics: Vec<usize> = text.match_indices("070701").map(|(i, _)| i).collect();
        assert_eq!(magics.len(), 5);
        assert!(magics.iter().all(|i| i % 4 == 0), "{magics:?}");
    }
}
