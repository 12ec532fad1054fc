//! Umbra primitive types shared by the chain, the enclave runtime and clients.
//!
//! Everything here is SCALE-encoded (parity-scale-codec) when it is signed, hashed or stored:
//! - [`H256`]: a 32-byte hash.
//! - [`AccountId`]: an sr25519 public key, shown as an SS58 address.
//! - [`Header`], [`Block`]: a block and its header, with the authority's VRF output and seal.
//! - [`UncheckedExtrinsic`]: a signed transaction, generic over the runtime's call type.
//! - [`amount`]: UMB amounts (12 decimals), parsing and formatting.
//! - [`finality`]: BFT validator sets, vote signing bytes and commit certificates.
//! - [`merkle`]: the ordered binary Merkle root used for extrinsics and events roots.
//!
//! The crate has no I/O, so the enclave's light client can use the same header and
//! extrinsic checks as the node.

pub mod amount;
pub mod block;
pub mod extrinsic;
pub mod finality;
pub mod hash;
pub mod json;
pub mod merkle;
pub mod mq;
pub mod query;
pub mod serde_helpers;

pub use amount::{format_amount, parse_amount, AmountError, DECIMALS, UNITS};
pub use block::{vrf_input, Block, Header, HeaderError};
pub use extrinsic::{SignedPayload, UncheckedExtrinsic, EXTRINSIC_VERSION};
pub use hash::H256;
pub use umbra_crypto::{Pair, Public, Signature, VrfSignature};

/// An account on chain is identified by its sr25519 public key.
pub type AccountId = Public;
/// A block number; genesis is 0.
pub type BlockNumber = u64;
/// An amount of the native token in its smallest unit (10^-12 UMB).
pub type Balance = u128;
/// A per-account transaction counter.
pub type Nonce = u64;
/// Milliseconds since the Unix epoch.
pub type Moment = u64;

/// Identity of the enclave runtime build, which the simulated platform reports as its
/// measurement (a real SGX build reports MRENCLAVE instead).
pub const ENCLAVE_RUNTIME_ID: &str = concat!("umbra-enclave-runtime/", env!("CARGO_PKG_VERSION"));

/// Measurement the simulated platform reports for this enclave runtime build.
pub fn simulated_enclave_measurement() -> [u8; 32] {
    umbra_crypto::blake2_256(ENCLAVE_RUNTIME_ID.as_bytes())
}

/// Signer identity (MRSIGNER analogue) of Umbra's simulated enclave builds.
pub fn simulated_enclave_signer() -> [u8; 32] {
    umbra_crypto::blake2_256(b"umbra/simulated-enclave-signer")
}
