//! `system`: block number, parent hash, timestamp, block randomness, authorities, nonces, and the
//! per-extrinsic success / failure events.

use parity_scale_codec::{Decode, Encode};
use serde::Serialize;
use umbra_primitives::{serde_helpers::account_ss58, AccountId, BlockNumber, Moment, Nonce, H256};

use crate::{
    ext::{DispatchError, Ext},
    state::{Overlay, StorageMap, StorageValue},
};

/// Module name used in errors.
pub const MODULE: &str = "system";
/// How many recent block hashes are kept in state.
pub const BLOCK_HASH_COUNT: BlockNumber = 256;

// ---- storage ----

/// Number of the block being built (or last built).
pub const NUMBER: StorageValue<BlockNumber> = StorageValue::new(b"system/number");
/// Hash of the parent of the current block.
pub const PARENT_HASH: StorageValue<H256> = StorageValue::new(b"system/parent_hash");
/// Timestamp of the current block (ms).
pub const TIMESTAMP: StorageValue<Moment> = StorageValue::new(b"system/timestamp");
/// The current block's randomness: the author's VRF output.
pub const RANDOMNESS: StorageValue<[u8; 32]> = StorageValue::new(b"system/randomness");
/// Author of the current block.
pub const AUTHOR: StorageValue<AccountId> = StorageValue::new(b"system/author");
/// The authorities allowed to seal blocks.
pub const AUTHORITIES: StorageValue<Vec<AccountId>> = StorageValue::new(b"system/authorities");
/// Next nonce of each account.
pub const NONCES: StorageMap<AccountId, Nonce> = StorageMap::new(b"system/nonce/");
/// Hashes of the last [`BLOCK_HASH_COUNT`] blocks.
pub const BLOCK_HASHES: StorageMap<BlockNumber, H256> = StorageMap::new(b"system/block_hash/");

// ---- calls ----

/// Calls of the system module.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub enum Call {
    /// Records a note on chain (only its hash goes into the event). Origin: signed.
    #[codec(index = 0)]
    Remark {
        /// Arbitrary bytes.
        data: Vec<u8>,
    },
}

/// Stable call indices of this module (checked before decoding so an unknown call gets its own
/// error).
pub const CALL_INDICES: &[u8] = &[0];

// ---- events ----

/// Events of the system module.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode, Serialize)]
pub enum Event {
    /// An extrinsic was applied and its call succeeded.
    ExtrinsicSuccess {
        /// Index in the block body.
        index: u32,
    },
    /// An extrinsic was applied (fee paid, nonce used) but its call failed; its state changes were
    /// rolled back.
    ExtrinsicFailed {
        /// Index in the block body.
        index: u32,
        /// Why the call failed.
        error: DispatchError,
    },
    /// A remark was recorded.
    Remarked {
        /// Who made it.
        #[serde(with = "account_ss58")]
        sender: AccountId,
        /// blake2-256 of the remark.
        hash: H256,
    },
}

// ---- errors ----

/// Errors of the system module.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Encode, Decode, thiserror::Error)]
pub enum Error {
    /// The block number would overflow.
    #[error("block number overflow")]
    Overflow,
}

// ---- logic ----

/// Block information set at initialization.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlockInit {
    /// The new block's number.
    pub number: BlockNumber,
    /// Its parent's hash.
    pub parent_hash: H256,
    /// Its timestamp (ms).
    pub timestamp: Moment,
    /// Its author.
    pub author: AccountId,
    /// Its randomness (the author's verified VRF output).
    pub randomness: [u8; 32],
}

/// Records the new block's context; prunes the oldest kept block hash.
pub fn initialize(ext: &mut Ext<'_>, init: &BlockInit) {
    let st = &mut ext.state;
    NUMBER.put(st, &init.number);
    PARENT_HASH.put(st, &init.parent_hash);
    TIMESTAMP.put(st, &init.timestamp);
    AUTHOR.put(st, &init.author);
    RANDOMNESS.put(st, &init.randomness);
    if let Some(parent) = init.number.checked_sub(1) {
        BLOCK_HASHES.insert(st, &parent, &init.parent_hash);
        if let Some(old) = parent.checked_sub(BLOCK_HASH_COUNT) {
            BLOCK_HASHES.remove(st, &old);
        }
    }
}

/// The next nonce of `who`.
pub fn nonce(st: &Overlay<'_>, who: &AccountId) -> Nonce {
    NONCES.get_or_default(st, who)
}

/// Increments `who`'s nonce.
pub fn inc_nonce(st: &mut Overlay<'_>, who: &AccountId) {
    let n = nonce(st, who);
    NONCES.insert(st, who, &n.saturating_add(1));
}

/// The current authorities.
pub fn authorities(st: &Overlay<'_>) -> Vec<AccountId> {
    AUTHORITIES.get_or_default(st)
}

/// Dispatches a system call from `origin`.
pub fn dispatch(ext: &mut Ext<'_>, origin: AccountId, call: Call) -> Result<(), DispatchError> {
    match call {
        Call::Remark { data } => {
            ext.deposit_event(Event::Remarked { sender: origin, hash: H256::hash(&data) });
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::{EmptyState, Overlay};
    use umbra_primitives::Pair;

    fn init(number: BlockNumber) -> BlockInit {
        BlockInit {
            number,
            parent_hash: H256::hash(&number.to_le_bytes()),
            timestamp: number.saturating_mul(1000),
            author: Pair::from_suri("//Alice").unwrap().public(),
            randomness: [number as u8; 32],
        }
    }

    #[test]
    fn initialize_records_block_context_and_prunes_old_hashes() {
        let mut ext = Ext::new(Overlay::new(&EmptyState));
        for n in 1..=(BLOCK_HASH_COUNT + 3) {
            initialize(&mut ext, &init(n));
        }
        let last = BLOCK_HASH_COUNT + 3;
        assert_eq!(NUMBER.get(&ext.state), Some(last));
        assert_eq!(RANDOMNESS.get(&ext.state), Some([last as u8; 32]));
        assert_eq!(BLOCK_HASHES.get(&ext.state, &(last - 1)), Some(init(last).parent_hash));
        assert_eq!(BLOCK_HASHES.get(&ext.state, &1), None);
        assert!(BLOCK_HASHES.get(&ext.state, &(last - BLOCK_HASH_COUNT)).is_some());
    }

    #[test]
    fn nonces_start_at_zero_and_increment() {
        let mut ext = Ext::new(Overlay::new(&EmptyState));
        let who = Pair::from_suri("//Bob").unwrap().public();
        assert_eq!(nonce(&ext.state, &who), 0);
        inc_nonce(&mut ext.state, &who);
        inc_nonce(&mut ext.state, &who);
        assert_eq!(nonce(&ext.state, &who), 2);
    }

    #[test]
    fn remark_emits_its_hash() {
        let mut ext = Ext::new(Overlay::new(&EmptyState));
        let who = Pair::from_suri("//Bob").unwrap().public();
        dispatch(&mut ext, who, Call::Remark { data: b"hello".to_vec() }).unwrap();
        assert_eq!(
            ext.events()[0].event,
            crate::Event::System(Event::Remarked { sender: who, hash: H256::hash(b"hello") })
        );
    }
}
