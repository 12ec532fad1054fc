//! Errors the enclave reports to its host.

use umbra_primitives::HeaderError;

/// Why the enclave refused a request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnclaveError {
    /// The genesis the host supplied is inconsistent.
    #[error("invalid genesis: {0}")]
    BadGenesis(String),
    /// A sealed blob could not be opened (tampered, or from another platform or signer).
    #[error("cannot unseal {what}: {reason}")]
    Unseal {
        /// Which blob.
        what: &'static str,
        /// Why.
        reason: String,
    },
    /// A sealed blob belongs to another chain or identity.
    #[error("sealed {what} belongs to another chain or identity")]
    ForeignSealedData {
        /// Which blob.
        what: &'static str,
    },
    /// The host fed a block the light client refuses.
    #[error("block refused: {0}")]
    BlockRejected(#[from] HeaderError),
    /// A BFT chain's block without its commit certificate.
    #[error("block #{0} has no commit certificate (this chain finalizes blocks by BFT)")]
    MissingJustification(u64),
    /// The commit certificate does not finalize the block under the tracked validator set.
    #[error("block #{number} finality refused: {error}")]
    Finality {
        /// The block.
        number: u64,
        /// Why.
        error: umbra_primitives::finality::FinalityError,
    },
    /// A validator-set change event the light client cannot follow.
    #[error("block #{number}: bad validator-set change: {reason}")]
    BadValidatorSetChange {
        /// The block.
        number: u64,
        /// Why.
        reason: String,
    },
    /// The events do not match the header's events root.
    #[error("events of block #{0} do not match its events root")]
    EventsMismatch(u64),
    /// Bytes from the host do not decode.
    #[error("cannot decode {what}: {reason}")]
    Decode {
        /// What was being decoded.
        what: &'static str,
        /// The decoder's message.
        reason: String,
    },
    /// The platform failed (quote or seal).
    #[error("platform error: {0}")]
    Platform(String),
    /// The registration benchmark needs more verified blocks before a registration can be made.
    #[error("benchmark running: {blocks_left} more block(s) needed")]
    BenchmarkRunning {
        /// Blocks to verify before it can report.
        blocks_left: u64,
    },
    /// A query was refused.
    #[error("query refused: {0}")]
    QueryRejected(String),
}

/// Result alias.
pub type Result<T> = std::result::Result<T, EnclaveError>;

pub(crate) fn decode<T: parity_scale_codec::Decode>(what: &'static str, bytes: &[u8]) -> Result<T> {
    let mut input = bytes;
    let v =
        T::decode(&mut input).map_err(|e| EnclaveError::Decode { what, reason: e.to_string() })?;
    if !input.is_empty() {
        return Err(EnclaveError::Decode {
            what,
            reason: format!("{} trailing bytes", input.len()),
        });
    }
    Ok(v)
}
