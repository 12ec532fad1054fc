//! The start-up benchmark: a fixed hashing workload timed inside the enclave, signed by the
//! identity key so the chain can attribute it to the attested enclave.

use std::time::Instant;

use umbra_runtime::registry::BenchmarkReport;

/// Size of one work unit's input.
const UNIT_BYTES: usize = 1024;

/// Hashes 1 KiB blocks for about `budget_ms` and reports how many it did.
pub fn run(budget_ms: u64) -> BenchmarkReport {
    let mut buf = [0u8; UNIT_BYTES];
    let start = Instant::now();
    let mut iterations = 0u64;
    loop {
        let h = umbra_crypto::blake2_256(&buf);
        buf[..32].copy_from_slice(&h);
        iterations += 1;
        if iterations.is_multiple_of(256) && start.elapsed().as_millis() as u64 >= budget_ms {
            break;
        }
    }
    BenchmarkReport { iterations, elapsed_ms: start.elapsed().as_millis().max(1) as u64 }
}

#[cfg(test)]
mod tests {
    #[test]
    fn benchmark_does_work_and_scores_it() {
        let r = super::run(20);
        assert!(r.iterations >= 256);
        assert!(r.elapsed_ms >= 20);
        assert!(r.score() > 0);
    }
}
