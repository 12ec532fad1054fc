//! The enclave side of encrypted queries: open, authenticate, refuse replays, answer sealed and
//! signed.

use std::collections::{BTreeMap, BTreeSet};

use parity_scale_codec::{Decode, Encode};
use umbra_crypto::{EcdhSecret, Pair};
use umbra_primitives::{
    query::{EncryptedQuery, QueryRequest, QueryResponse, QUERY_AAD, QUERY_MAX_SKEW_MS},
    AccountId,
};

use crate::error::{decode, EnclaveError, Result};

/// Most nonces remembered at once, over all origins (bounds the enclave's memory and the size of
/// its sealed checkpoint).
pub const MAX_REMEMBERED_NONCES: usize = 200_000;
/// Most nonces remembered for one origin: beyond it that origin's queries are refused until its
/// old ones leave the time window; other origins are not affected.
pub const MAX_NONCES_PER_ORIGIN: usize = 2_000;

/// One remembered query: `(timestamp, origin, nonce)`, ordered oldest first.
type Entry = (u64, AccountId, [u8; 16]);

/// Remembers recent query nonces so a captured query cannot be replayed, per origin.
///
/// - A query is acceptable only while its timestamp is within [`QUERY_MAX_SKEW_MS`] of chain
///   time; its nonce is remembered for exactly that long, then expires.
/// - Each origin may hold at most [`MAX_NONCES_PER_ORIGIN`] nonces, so one origin filling its
///   quota blocks only itself.
/// - Overall at most [`MAX_REMEMBERED_NONCES`] are held. When full, the oldest entry is evicted
///   and the *floor* rises to its timestamp: a query at or below the floor is refused (its nonce
///   might have been forgotten), so eviction never opens a replay, and a fresh query is never
///   refused because the table is full.
/// - The guard is part of the enclave's sealed checkpoint ([`ReplayGuard::snapshot`]), and each
///   answered query's sealed record is journaled by the host before the answer leaves
///   ([`ReplayGuard::remember`] restores them), so a query answered before a restart is still
///   refused after it.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ReplayGuard {
    by_time: BTreeSet<Entry>,
    by_origin: BTreeMap<AccountId, BTreeMap<[u8; 16], u64>>,
    floor_ms: u64,
    recorded: u64,
}

#[derive(Encode, Decode)]
struct GuardSnapshot {
    floor_ms: u64,
    entries: Vec<Entry>,
}

impl ReplayGuard {
    /// Checks `request`'s time window against `now_ms` (chain time) and records its nonce.
    pub fn check(&mut self, request: &QueryRequest, now_ms: u64) -> Result<()> {
        self.check_at(&request.origin, &request.nonce, request.timestamp_ms, now_ms)
    }

    fn check_at(
        &mut self,
        origin: &AccountId,
        nonce: &[u8; 16],
        ts: u64,
        now_ms: u64,
    ) -> Result<()> {
        let reject = |m: String| Err(EnclaveError::QueryRejected(m));
        let Some(expires) = ts.checked_add(QUERY_MAX_SKEW_MS) else {
            return reject(format!("query timestamp {ts} is out of range"));
        };
        if expires < now_ms || ts > now_ms.saturating_add(QUERY_MAX_SKEW_MS) {
            return reject(format!(
                "query timestamp {ts} is outside the window around chain time {now_ms}"
            ));
        }
        self.expire(now_ms);
        if ts <= self.floor_ms {
            return reject(format!(
                "query timestamp {ts} is older than the replay memory ({}); retry with a fresh \
                 timestamp",
                self.floor_ms
            ));
        }
        let mine = self.by_origin.get(origin);
        if mine.is_some_and(|m| m.contains_key(nonce)) {
            return reject("replayed query nonce".into());
        }
        if mine.is_some_and(|m| m.len() >= MAX_NONCES_PER_ORIGIN) {
            return reject("too many recent queries from this origin, retry later".into());
        }
        while self.by_time.len() >= MAX_REMEMBERED_NONCES {
            let Some(oldest) = self.by_time.pop_first() else { break };
            self.floor_ms = self.floor_ms.max(oldest.0);
            self.forget_origin_entry(&oldest);
        }
        if ts <= self.floor_ms {
            return reject(format!(
                "query timestamp {ts} is older than the replay memory ({}); retry with a fresh \
                 timestamp",
                self.floor_ms
            ));
        }
        self.by_time.insert((ts, *origin, *nonce));
        self.by_origin.entry(*origin).or_default().insert(*nonce, ts);
        self.recorded = self.recorded.wrapping_add(1);
        Ok(())
    }

    /// Forgets nonces whose timestamps left the window (the window check refuses them anyway).
    fn expire(&mut self, now_ms: u64) {
        while let Some(oldest) = self.by_time.first().copied() {
            if oldest.0.saturating_add(QUERY_MAX_SKEW_MS) >= now_ms {
                break;
            }
            self.by_time.pop_first();
            self.forget_origin_entry(&oldest);
        }
    }

    fn forget_origin_entry(&mut self, (_, origin, nonce): &Entry) {
        if let Some(m) = self.by_origin.get_mut(origin) {
            m.remove(nonce);
            if m.is_empty() {
                self.by_origin.remove(origin);
            }
        }
    }

    /// Records a query that was accepted before a restart (from the sealed query journal), without
    /// the window or quota checks it already passed; the global bound still holds.
    pub fn remember(&mut self, origin: &AccountId, nonce: &[u8; 16], ts: u64) {
        if self.by_origin.get(origin).is_some_and(|m| m.contains_key(nonce)) {
            return;
        }
        while self.by_time.len() >= MAX_REMEMBERED_NONCES {
            let Some(oldest) = self.by_time.pop_first() else { break };
            self.floor_ms = self.floor_ms.max(oldest.0);
            self.forget_origin_entry(&oldest);
        }
        self.by_time.insert((ts, *origin, *nonce));
        self.by_origin.entry(*origin).or_default().insert(*nonce, ts);
    }

    /// Number of remembered nonces.
    pub fn len(&self) -> usize {
        self.by_time.len()
    }

    /// Whether no nonce is remembered.
    pub fn is_empty(&self) -> bool {
        self.by_time.is_empty()
    }

    /// How many nonces this guard recorded since it was created or restored (wrapping). The host
    /// seals a checkpoint when it changed, so that a restart does not forget them.
    pub fn recorded(&self) -> u64 {
        self.recorded
    }

    /// The guard's state for the sealed checkpoint.
    pub fn snapshot(&self) -> Vec<u8> {
        GuardSnapshot { floor_ms: self.floor_ms, entries: self.by_time.iter().copied().collect() }
            .encode()
    }

    /// Restores a guard from [`ReplayGuard::snapshot`] output (read from a sealed checkpoint).
    pub fn restore(bytes: &[u8]) -> Result<Self> {
        let snap: GuardSnapshot = decode("query replay memory", bytes)?;
        let mut guard = ReplayGuard { floor_ms: snap.floor_ms, ..ReplayGuard::default() };
        for (ts, origin, nonce) in snap.entries {
            guard.by_time.insert((ts, origin, nonce));
            guard.by_origin.entry(origin).or_default().insert(nonce, ts);
        }
        Ok(guard)
    }
}

/// An opened, authenticated query and what is needed to answer it.
#[derive(Debug)]
pub struct OpenedQuery {
    /// The request.
    pub request: QueryRequest,
    /// Hash of the wire query (binds the reply).
    pub query_hash: umbra_primitives::H256,
    /// Symmetric key for the reply.
    pub key: [u8; 32],
}

/// Opens and authenticates a wire query addressed to `identity`.
pub fn open(
    bytes: &[u8],
    ecdh: &EcdhSecret,
    identity: &Pair,
    guard: &mut ReplayGuard,
    now_ms: u64,
) -> Result<OpenedQuery> {
    let q: EncryptedQuery = decode("query", bytes)?;
    let (plain, key) = q
        .sealed
        .open(ecdh, QUERY_AAD)
        .map_err(|_| EnclaveError::QueryRejected("cannot decrypt query".into()))?;
    let request: QueryRequest = decode("query request", &plain)?;
    if !request.verify() {
        return Err(EnclaveError::QueryRejected("bad query signature".into()));
    }
    if request.worker != identity.public() {
        return Err(EnclaveError::QueryRejected("query is addressed to another worker".into()));
    }
    guard.check(&request, now_ms)?;
    Ok(OpenedQuery { request, query_hash: q.hash(), key })
}

/// Seals and signs the answer to `q`.
pub fn answer(q: &OpenedQuery, identity: &Pair, result: Result<Vec<u8>>) -> Vec<u8> {
    let result = result.map_err(|e| e.to_string());
    QueryResponse::seal(identity, &q.query_hash, &q.key, &result).encode()
}

#[cfg(test)]
mod tests {
    use umbra_crypto::Public;

    use super::*;

    const NOW: u64 = 1_700_000_000_000;

    fn origin(i: u8) -> AccountId {
        Public([i; 32])
    }

    fn nonce(i: usize) -> [u8; 16] {
        let mut n = [0u8; 16];
        n[..8].copy_from_slice(&(i as u64).to_le_bytes());
        n
    }

    fn rejected(r: Result<()>) -> String {
        match r {
            Err(EnclaveError::QueryRejected(m)) => m,
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    /// The attack: one origin sends nonces until it hits every cap. It is refused past its own
    /// quota, and another origin's queries are still answered.
    #[test]
    fn one_origin_flooding_nonces_does_not_block_another() {
        let mut g = ReplayGuard::default();
        let flooder = origin(1);
        for i in 0..MAX_NONCES_PER_ORIGIN {
            g.check_at(&flooder, &nonce(i), NOW, NOW).unwrap();
        }
        let m = rejected(g.check_at(&flooder, &nonce(MAX_NONCES_PER_ORIGIN), NOW, NOW));
        assert!(m.contains("too many recent queries from this origin"), "{m}");
        assert_eq!(g.len(), MAX_NONCES_PER_ORIGIN);
        g.check_at(&origin(2), &nonce(0), NOW, NOW).unwrap();
        // The same nonce from the flooder is still a replay for it.
        assert!(rejected(g.check_at(&flooder, &nonce(0), NOW, NOW)).contains("replayed"));
        // Once its nonces leave the time window the flooder may ask again, and memory shrinks.
        let later = NOW.saturating_add(QUERY_MAX_SKEW_MS).saturating_add(1);
        g.check_at(&flooder, &nonce(0), later, later).unwrap();
        assert_eq!(g.len(), 1);
    }

    /// Many origins together fill the global table: the oldest entries are evicted and the floor
    /// rises to their timestamp, so fresh queries are still answered, memory stays bounded, and a
    /// query older than the floor (whose nonce may be forgotten) is refused rather than replayed.
    #[test]
    fn a_full_table_evicts_the_oldest_and_refuses_what_it_forgot() {
        let mut g = ReplayGuard::default();
        let per = MAX_NONCES_PER_ORIGIN;
        let origins = MAX_REMEMBERED_NONCES.div_ceil(per);
        let mut k = 0u64;
        for o in 0..origins {
            for i in 0..per {
                let ts = NOW.saturating_add(k);
                k = k.saturating_add(1);
                g.check_at(&origin(o as u8), &nonce(i), ts, NOW).unwrap();
            }
        }
        assert_eq!(g.len(), MAX_REMEMBERED_NONCES);
        let newest = NOW.saturating_add(k);
        g.check_at(&origin(250), &nonce(0), newest, NOW).unwrap();
        assert_eq!(g.len(), MAX_REMEMBERED_NONCES);
        // The first entry (origin 0, nonce 0, timestamp NOW) was evicted: replaying it is refused
        // by the floor.
        assert!(rejected(g.check_at(&origin(0), &nonce(0), NOW, NOW)).contains("older than"));
    }

    #[test]
    fn timestamps_outside_the_window_or_overflowing_are_refused_cleanly() {
        let mut g = ReplayGuard::default();
        let o = origin(1);
        for ts in [u64::MAX, u64::MAX.saturating_sub(QUERY_MAX_SKEW_MS)] {
            assert!(rejected(g.check_at(&o, &nonce(0), ts, NOW)).contains("query timestamp"));
        }
        let stale = NOW.saturating_sub(QUERY_MAX_SKEW_MS).saturating_sub(1);
        assert!(rejected(g.check_at(&o, &nonce(0), stale, NOW)).contains("outside the window"));
        // A chain time near the end of the range does not overflow either.
        let end = u64::MAX.saturating_sub(QUERY_MAX_SKEW_MS);
        g.check_at(&o, &nonce(0), end, u64::MAX).unwrap();
        assert!(!g.is_empty());
    }

    #[test]
    fn snapshot_round_trips() {
        let mut g = ReplayGuard::default();
        g.check_at(&origin(1), &nonce(1), NOW, NOW).unwrap();
        g.check_at(&origin(2), &nonce(2), NOW, NOW).unwrap();
        let mut back = ReplayGuard::restore(&g.snapshot()).unwrap();
        assert_eq!(back.len(), 2);
        assert!(rejected(back.check_at(&origin(1), &nonce(1), NOW, NOW)).contains("replayed"));
        assert!(ReplayGuard::restore(&[1, 2, 3]).is_err());
    }
}
