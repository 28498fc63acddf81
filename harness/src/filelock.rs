//! An exclusive `flock` on a file, released on drop: two routerlab processes (or two tests)
//! that would build the same image or package take turns, and the second finds the first's.
use std::os::fd::AsRawFd;
use std::path::Path;

pub(crate) struct FileLock(std::fs::File);

impl FileLock {
    /// Block until `path` (created if missing, with its directory) is locked by us.
    pub(crate) fn acquire(path: &Path) -> std::io::Result<FileLock> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let f = std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(path)?;
        // SAFETY: flock on a descriptor we own; blocks until the lock is ours.
        if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(FileLock(f))
    }
}

impl Drop for FileLock {
    fn drop(&mut self) {
        // SAFETY: unlocking our own descriptor.
        unsafe { libc::flock(self.0.as_raw_fd(), libc::LOCK_UN) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_waits_for_the_first() {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("sub/.lock-x");
        let first = FileLock::acquire(&path).unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let p = path.clone();
        let t = std::thread::spawn(move || {
            let _second = FileLock::acquire(&p).unwrap();
            tx.send(()).unwrap();
        });
        assert!(rx.recv_timeout(std::time::Duration::from_millis(200)).is_err(), "the lock is held");
        drop(first);
        rx.recv_timeout(std::time::Duration::from_secs(5)).expect("released on drop");
        t.join().unwrap();
    }
}
