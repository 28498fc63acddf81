//! The image's file tree, assembled from an unpacked package root, before it becomes a cpio.
use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};

use super::error::io;
use super::ImageError;

#[derive(Debug, Clone)]
pub(crate) enum Node {
    Dir { mode: u32 },
    File { source: FileSource, mode: u32 },
    Symlink { target: String },
    CharDev { mode: u32, major: u32, minor: u32 },
}

#[derive(Debug, Clone)]
pub(crate) enum FileSource {
    Host(PathBuf),
    Bytes(Vec<u8>),
}

/// Absolute image paths → nodes, sorted, so the archive is reproducible.
#[derive(Debug, Default)]
pub(crate) struct Tree {
    pub nodes: BTreeMap<String, Node>,
}

impl Tree {
    pub fn dir(&mut self, path: &str) {
        let mut cur = String::new();
        for part in path.split('/').filter(|p| !p.is_empty()) {
            cur.push('/');
            cur.push_str(part);
            self.nodes.entry(cur.clone()).or_insert(Node::Dir { mode: 0o755 });
        }
    }

    fn parent_dirs(&mut self, path: &str) {
        if let Some((parent, _)) = path.rsplit_once('/') {
            if !parent.is_empty() {
                self.dir(parent);
            }
        }
    }

    pub fn bytes(&mut self, path: &str, data: Vec<u8>, mode: u32) {
        self.parent_dirs(path);
        self.nodes.insert(path.to_string(), Node::File { source: FileSource::Bytes(data), mode });
    }

    pub fn host_file(&mut self, path: &str, host: PathBuf, mode: u32) {
        self.parent_dirs(path);
        self.nodes.insert(path.to_string(), Node::File { source: FileSource::Host(host), mode });
    }

    pub fn symlink(&mut self, path: &str, target: &str) {
        self.parent_dirs(path);
        self.nodes.insert(path.to_string(), Node::Symlink { target: target.to_string() });
    }

    pub fn chardev(&mut self, path: &str, mode: u32, major: u32, minor: u32) {
        self.parent_dirs(path);
        self.nodes.insert(path.to_string(), Node::CharDev { mode, major, minor });
    }

    /// Copy `path` from the unpacked `root`, following symlinks (in any component) inside
    /// `root` and recreating each link, so the image has the same names the binaries use.
    /// Returns the host path of the final regular file.
    pub fn include(&mut self, root: &Path, path: &str) -> Result<PathBuf, ImageError> {
        let mut todo = normalize(path);
        for _ in 0..40 {
            let mut real = String::new();
            let mut redirected = None;
            let parts: Vec<&str> = todo.split('/').filter(|p| !p.is_empty()).collect();
            for (i, part) in parts.iter().enumerate() {
                let candidate = format!("{real}/{part}");
                let host = root.join(candidate.trim_start_matches('/'));
                let meta = std::fs::symlink_metadata(&host).map_err(io(&host))?;
                if meta.file_type().is_symlink() {
                    let target = std::fs::read_link(&host).map_err(io(&host))?.to_string_lossy().into_owned();
                    self.parent_dirs(&candidate);
                    self.nodes.insert(candidate.clone(), Node::Symlink { target: target.clone() });
                    let base = if target.starts_with('/') { String::new() } else { real.clone() };
                    let rest = parts[i + 1..].join("/");
                    redirected = Some(normalize(&format!("{base}/{target}/{rest}")));
                    break;
                }
                real = candidate;
            }
            match redirected {
                Some(next) => todo = next,
                None => {
                    let host = root.join(real.trim_start_matches('/'));
                    let meta = std::fs::metadata(&host).map_err(io(&host))?;
                    if meta.is_dir() {
                        self.dir(&real);
                    } else {
                        self.host_file(&real, host.clone(), meta.permissions().mode() & 0o7777);
                    }
                    return Ok(host);
                }
            }
        }
        Err(ImageError::Io {
            path: root.join(path.trim_start_matches('/')),
            source: std::io::Error::other("too many levels of symbolic links"),
        })
    }
}

impl Tree {
    /// `paths.txt` beside the image: every file and link, one absolute path a line, so a
    /// build's loader and libraries can be looked up before boot without the initramfs.
    pub fn write_index(&self, path: &Path) -> Result<(), ImageError> {
        let mut text = String::new();
        for (name, node) in &self.nodes {
            if matches!(node, Node::File { .. } | Node::Symlink { .. }) {
                text.push_str(name);
                text.push('\n');
            }
        }
        std::fs::write(path, text).map_err(io(path))
    }

    /// Every directory, file, link and character device under `root` at the same path in
    /// the image (an OpenWrt userland taken whole). Other special files are left out.
    pub fn add_root(&mut self, root: &Path) -> Result<usize, ImageError> {
        use std::os::unix::fs::{FileTypeExt, MetadataExt};
        let mut stack = vec![root.to_path_buf()];
        let mut n = 0;
        while let Some(dir) = stack.pop() {
            for e in std::fs::read_dir(&dir).map_err(io(&dir))? {
                let host = e.map_err(io(&dir))?.path();
                let rel = host.strip_prefix(root).expect("under root").to_string_lossy().into_owned();
                let path = format!("/{rel}");
                let meta = std::fs::symlink_metadata(&host).map_err(io(&host))?;
                let (ft, mode) = (meta.file_type(), meta.permissions().mode() & 0o7777);
                if ft.is_symlink() {
                    let target = std::fs::read_link(&host).map_err(io(&host))?;
                    self.symlink(&path, &target.to_string_lossy());
                } else if ft.is_dir() {
                    self.parent_dirs(&path);
                    self.nodes.insert(path, Node::Dir { mode });
                    stack.push(host);
                } else if ft.is_file() {
                    self.host_file(&path, host, mode);
                } else if ft.is_char_device() {
                    let dev = meta.rdev();
                    self.chardev(&path, mode, libc::major(dev), libc::minor(dev));
                } else {
                    continue;
                }
                n += 1;
            }
        }
        Ok(n)
    }
}

/// Resolve `.` and `..` lexically; always absolute.
pub(crate) fn normalize(path: &str) -> String {
    let mut out: Vec<String> = Vec::new();
    for c in Path::new(path).components() {
        match c {
            Component::Normal(s) => out.push(s.to_string_lossy().into_owned()),
            Component::ParentDir => {
                out.pop();
            }
            _ => {}
        }
    }
    format!("/{}", out.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn include_follows_links_in_any_component() {
        let d = tempfile::tempdir().unwrap();
        let r = d.path();
        std::fs::create_dir_all(r.join("usr/lib/x")).unwrap();
        std::fs::write(r.join("usr/lib/x/libfoo.so.1.2"), b"elf").unwrap();
        symlink("libfoo.so.1.2", r.join("usr/lib/x/libfoo.so.1")).unwrap();
        symlink("usr/lib", r.join("lib")).unwrap();
        let mut t = Tree::default();
        let host = t.include(r, "/lib/x/libfoo.so.1").unwrap();
        assert_eq!(host, r.join("usr/lib/x/libfoo.so.1.2"));
        assert!(matches!(&t.nodes["/lib"], Node::Symlink { target } if target == "usr/lib"));
        assert!(matches!(&t.nodes["/usr/lib/x/libfoo.so.1"], Node::Symlink { target } if target == "libfoo.so.1.2"));
        assert!(matches!(&t.nodes["/usr/lib/x/libfoo.so.1.2"], Node::File { .. }));
        assert!(matches!(&t.nodes["/usr/lib/x"], Node::Dir { .. }));
        assert!(t.include(r, "/lib/x/missing.so").unwrap_err().to_string().contains("missing.so"));
    }

    #[test]
    fn normalize_paths() {
        assert_eq!(normalize("/a/./b/../c"), "/a/c");
        assert_eq!(normalize("a//b/"), "/a/b");
    }
}
