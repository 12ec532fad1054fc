//! The worker's base directory. Every file is written to a temporary name, synced and renamed,
//! so a crash leaves either the old or the new content, never a torn one.

use std::{
    fs,
    io::Write,
    path::{Path, PathBuf},
};

use anyhow::Context;
use rand::RngCore;

/// The worker's files.
#[derive(Debug, Clone)]
pub struct WorkerFiles {
    dir: PathBuf,
}

impl WorkerFiles {
    /// Uses (and creates) `dir`.
    pub fn open(dir: &Path) -> anyhow::Result<Self> {
        fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        Ok(WorkerFiles { dir: dir.to_path_buf() })
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Reads a file if it exists.
    pub fn read(&self, name: &str) -> anyhow::Result<Option<Vec<u8>>> {
        match fs::read(self.path(name)) {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e).with_context(|| format!("cannot read {}", self.path(name).display())),
        }
    }

    /// Writes a file atomically (temp file, fsync, rename, fsync the directory).
    pub fn write(&self, name: &str, bytes: &[u8]) -> anyhow::Result<()> {
        let tmp = self.path(&format!(".{name}.tmp"));
        let target = self.path(name);
        {
            let mut f = fs::File::create(&tmp)
                .with_context(|| format!("cannot write {}", tmp.display()))?;
            f.write_all(bytes)?;
            f.sync_all()?;
        }
        fs::rename(&tmp, &target)
            .with_context(|| format!("cannot replace {}", target.display()))?;
        if let Ok(d) = fs::File::open(&self.dir) {
            let _ = d.sync_all();
        }
        Ok(())
    }

    /// The simulated platform's per-host seed: created randomly on first start, then kept.
    pub fn platform_seed(&self) -> anyhow::Result<[u8; 32]> {
        const NAME: &str = "platform-host.seed";
        if let Some(b) = self.read(NAME)? {
            return b
                .try_into()
                .map_err(|_| anyhow::anyhow!("{} is corrupt", self.path(NAME).display()));
        }
        let mut seed = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut seed);
        self.write(NAME, &seed)?;
        Ok(seed)
    }
}

/// File holding the sealed identity.
pub const IDENTITY_FILE: &str = "identity.sealed";
/// File holding the sealed checkpoint.
pub const CHECKPOINT_FILE: &str = "checkpoint.sealed";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_replaces_atomically_and_seed_is_stable() {
        let dir = tempfile::tempdir().unwrap();
        let files = WorkerFiles::open(dir.path()).unwrap();
        assert_eq!(files.read("x").unwrap(), None);
        files.write("x", b"one").unwrap();
        files.write("x", b"two").unwrap();
        assert_eq!(files.read("x").unwrap(), Some(b"two".to_vec()));
        let s = files.platform_seed().unwrap();
        assert_eq!(WorkerFiles::open(dir.path()).unwrap().platform_seed().unwrap(), s);
        files.write("platform-host.seed", b"short").unwrap();
        assert!(files.platform_seed().is_err());
    }
}
