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
/// File holding the sealed replay records of queries answered since the last checkpoint.
pub const QUERY_JOURNAL_FILE: &str = "queries.journal";

impl WorkerFiles {
    /// The query journal in this directory.
    pub fn query_journal(&self) -> QueryJournal {
        QueryJournal { path: self.path(QUERY_JOURNAL_FILE) }
    }
}

/// An append-only file of sealed query replay records (`u32` little-endian length, then the
/// record), written before each answer leaves and emptied when a checkpoint is written. Appends
/// are not atomic: a crash may leave a torn last record, which reading ignores (its answer was
/// never sent).
#[derive(Debug, Clone)]
pub struct QueryJournal {
    path: PathBuf,
}

impl QueryJournal {
    /// Appends `records` and flushes them to the OS (they survive the process being killed).
    pub fn append(&self, records: &[Vec<u8>]) -> anyhow::Result<()> {
        let mut buf = Vec::new();
        for r in records {
            let len = u32::try_from(r.len()).context("query journal record too large")?;
            buf.extend_from_slice(&len.to_le_bytes());
            buf.extend_from_slice(r);
        }
        let mut f = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .with_context(|| format!("cannot open {}", self.path.display()))?;
        f.write_all(&buf).with_context(|| format!("cannot append to {}", self.path.display()))?;
        Ok(())
    }

    /// Every complete record in the journal (none if it does not exist).
    pub fn read(&self) -> anyhow::Result<Vec<Vec<u8>>> {
        let bytes = match fs::read(&self.path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => {
                return Err(e).with_context(|| format!("cannot read {}", self.path.display()))
            }
        };
        let mut out = Vec::new();
        let mut rest = &bytes[..];
        while let Some((len, tail)) = rest.split_first_chunk::<4>() {
            let Ok(len) = usize::try_from(u32::from_le_bytes(*len)) else { break };
            if tail.len() < len {
                break; // a torn last record
            }
            let (record, tail) = tail.split_at(len);
            out.push(record.to_vec());
            rest = tail;
        }
        Ok(out)
    }

    /// Empties the journal (after a checkpoint that holds every record in it was written).
    pub fn clear(&self) -> anyhow::Result<()> {
        match fs::remove_file(&self.path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e).with_context(|| format!("cannot remove {}", self.path.display())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_journal_appends_reads_ignores_a_torn_tail_and_clears() {
        let dir = tempfile::tempdir().unwrap();
        let j = WorkerFiles::open(dir.path()).unwrap().query_journal();
        assert!(j.read().unwrap().is_empty());
        j.append(&[b"one".to_vec(), b"two".to_vec()]).unwrap();
        j.append(&[b"three".to_vec()]).unwrap();
        assert_eq!(j.read().unwrap(), vec![b"one".to_vec(), b"two".to_vec(), b"three".to_vec()]);
        // A crash mid-append leaves a partial record: ignored.
        let mut f = fs::OpenOptions::new().append(true).open(&j.path).unwrap();
        f.write_all(&[9, 0, 0, 0, b'x']).unwrap();
        assert_eq!(j.read().unwrap().len(), 3);
        j.clear().unwrap();
        assert!(j.read().unwrap().is_empty());
        j.clear().unwrap();
    }

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
