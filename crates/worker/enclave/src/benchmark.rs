//! The registration benchmark, measured in chain blocks instead of host time.
//!
//! The enclave reads no clock for it: the host controls every clock an enclave can read, and a
//! host whose clock runs fast would make a slow machine look fast. Instead the enclave counts
//! the work units (1 KiB BLAKE2b hashes, each chained to the previous one) it does after its
//! light client verified a start block, and reports them with a later verified block. The
//! chain checks both block hashes against its own history and divides the work by the blocks
//! from the start block to the block that includes the registration
//! ([`BenchmarkReport::score_at`]): chain blocks are sealed by the authorities at the chain's
//! pace, so the host can only make the span longer (and its score lower), never shorter. The
//! chain caps the score with the governance parameter `max_benchmark_score`.

use umbra_primitives::{BlockNumber, H256};
use umbra_runtime::registry::BenchmarkReport;

/// Size of one work unit's input.
const UNIT_BYTES: usize = 1024;
/// Work units one [`Benchmark::round`] does (about a millisecond: the host calls it in a loop
/// and the enclave lock is free between rounds).
pub const ROUND_UNITS: u64 = 512;
/// Blocks the benchmark runs before a registration can be made.
pub const BENCHMARK_BLOCKS: BlockNumber = 2;
/// A benchmark whose start block is older than this is restarted (the chain keeps 256 block
/// hashes; a registration refused and retried later needs a fresh span).
pub const BENCHMARK_MAX_AGE: BlockNumber = 100;

/// A benchmark whose report was taken stops this many blocks later if its registration has not
/// been seen by then (a refused registration must not keep the host's CPU busy; a retry starts
/// a new one).
pub const BENCHMARK_LINGER: BlockNumber = 10;

/// A running benchmark.
#[derive(Clone, Debug)]
pub struct Benchmark {
    start: Option<(BlockNumber, H256)>,
    work: u64,
    done: bool,
    reported_at: Option<BlockNumber>,
    buf: [u8; UNIT_BYTES],
}

impl Default for Benchmark {
    fn default() -> Self {
        Benchmark { start: None, work: 0, done: false, reported_at: None, buf: [0u8; UNIT_BYTES] }
    }
}

impl Benchmark {
    /// Starts (or restarts) counting at verified block `number` with `hash`.
    pub fn start(&mut self, number: BlockNumber, hash: H256) {
        self.start = Some((number, hash));
        self.work = 0;
        self.done = false;
        self.reported_at = None;
        self.buf = [0u8; UNIT_BYTES];
        self.buf[..32].copy_from_slice(hash.as_bytes());
    }

    /// The start block, if started.
    pub fn started_at(&self) -> Option<BlockNumber> {
        self.start.map(|(n, _)| n)
    }

    /// Whether work still counts (started, and its registration not yet seen on chain).
    pub fn is_running(&self) -> bool {
        self.start.is_some() && !self.done
    }

    /// Stops counting (the registration landed).
    pub fn finish(&mut self) {
        self.done = true;
    }

    /// Notes that a report was handed out at block `number`.
    pub fn reported(&mut self, number: BlockNumber) {
        self.reported_at = Some(number);
    }

    /// Called for each verified block: stops a benchmark whose report was handed out more than
    /// [`BENCHMARK_LINGER`] blocks ago.
    pub fn on_block(&mut self, number: BlockNumber) {
        if self.reported_at.is_some_and(|r| number > r.saturating_add(BENCHMARK_LINGER)) {
            self.done = true;
        }
    }

    /// Work units counted so far.
    pub fn work(&self) -> u64 {
        self.work
    }

    /// Does [`ROUND_UNITS`] work units if running; returns whether it did.
    pub fn round(&mut self) -> bool {
        if !self.is_running() {
            return false;
        }
        for _ in 0..ROUND_UNITS {
            let h = umbra_crypto::blake2_256(&self.buf);
            self.buf[..32].copy_from_slice(&h);
        }
        self.work = self.work.saturating_add(ROUND_UNITS);
        true
    }

    /// The report for a registration anchored at verified block `end_number`/`end_hash`, or
    /// `None` if not started, or fewer than [`BENCHMARK_BLOCKS`] blocks have passed.
    pub fn report(&self, end_number: BlockNumber, end_hash: H256) -> Option<BenchmarkReport> {
        let (start_number, start_hash) = self.start?;
        if end_number < start_number.saturating_add(BENCHMARK_BLOCKS) {
            return None;
        }
        Some(BenchmarkReport { work: self.work, start_number, start_hash, end_number, end_hash })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_rounds_only_while_running_and_reports_after_enough_blocks() {
        let mut b = Benchmark::default();
        assert!(!b.round(), "no work counts before a start block");
        assert_eq!(b.report(10, H256::ZERO), None);
        b.start(3, H256::hash(b"3"));
        assert!(b.round() && b.round());
        assert_eq!(b.work(), 2 * ROUND_UNITS);
        assert_eq!(b.report(4, H256::hash(b"4")), None, "too few blocks");
        let r = b.report(5, H256::hash(b"5")).unwrap();
        assert_eq!((r.work, r.start_number, r.end_number), (2 * ROUND_UNITS, 3, 5));
        assert_eq!(r.start_hash, H256::hash(b"3"));
        b.finish();
        assert!(!b.round());
        assert_eq!(b.work(), 2 * ROUND_UNITS);
        b.start(9, H256::hash(b"9"));
        assert_eq!(b.work(), 0, "a restart counts from zero");
        assert!(b.is_running());
        // A report handed out and no registration seen: it stops after the linger period.
        b.reported(11);
        b.on_block(11 + BENCHMARK_LINGER);
        assert!(b.is_running());
        b.on_block(12 + BENCHMARK_LINGER);
        assert!(!b.is_running() && !b.round());
    }
}
