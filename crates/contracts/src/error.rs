//! The single error type of this crate.

use umbra_crypto::CryptoError;

/// Every failure reported by `umbra-contracts`: a contract refusing a command or query, a
/// malformed message or snapshot, or an envelope that does not open.
///
/// Variants carry only public context (lengths, ids, reasons), never plaintext or keys, so
/// they can be returned to a client or logged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ContractError {
    /// The bytes are not a valid SCALE encoding of the expected command, query or state
    /// (including trailing bytes after a valid value).
    #[error("malformed input: {0}")]
    Decode(String),
    /// The contract has not been initialized yet: its first command must be `Init`.
    #[error("the contract is not initialized: its first command must be Init")]
    NotInitialized,
    /// `Init` was sent to a contract that is already initialized.
    #[error("the contract is already initialized")]
    AlreadyInitialized,
    /// A text field is longer than the contract allows.
    #[error("text is {len} bytes long; at most {max} bytes are allowed")]
    TextTooLong {
        /// Length of the text, in bytes of UTF-8.
        len: usize,
        /// The maximum allowed length, in bytes.
        max: usize,
    },
    /// A text field is empty (or only whitespace).
    #[error("text must not be empty")]
    EmptyText,
    /// No item with this id exists (for the guestbook: no post with this id).
    #[error("#{0} not found")]
    NotFound(u64),
    /// The origin is not allowed to do this; the text says who is.
    #[error("not allowed: {0}")]
    NotAllowed(&'static str),
    /// A page size above the contract's maximum was requested.
    #[error("limit {limit} is too large; at most {max} items per page")]
    LimitTooLarge {
        /// The requested page size.
        limit: u32,
        /// The largest page size allowed.
        max: u32,
    },
    /// A transfer of zero was requested.
    #[error("amount must be greater than zero")]
    ZeroAmount,
    /// The contract ran out of ids (a u64 counter overflowed).
    #[error("id space exhausted")]
    IdsExhausted,
    /// An argument is outside its allowed range (the text says which).
    #[error("invalid argument: {0}")]
    InvalidArgument(&'static str),
    /// The EVM refused the transaction before executing it (e.g. the sender's balance
    /// cannot cover the value); nothing changed.
    #[error("rejected: {0}")]
    Rejected(String),
    /// The command needs more gas than its limit (nothing changed; the whole limit is used).
    #[error("out of gas: the command needs {needed} gas, its limit is {limit}")]
    OutOfGas {
        /// Gas the command needs.
        needed: u64,
        /// Its gas limit.
        limit: u64,
    },
    /// A balance overflowed.
    #[error("balance overflow")]
    Overflow,
    /// A snapshot does not decode to a state of this kind, or is not in canonical form
    /// (re-encoding the decoded state would give different bytes).
    #[error("invalid snapshot: {0}")]
    InvalidSnapshot(String),
    /// A contract kind name that this build does not know.
    #[error("unknown contract kind `{0}`")]
    UnknownKind(String),
    /// An opened key share does not hold exactly 32 bytes.
    #[error("invalid key share: expected 32 bytes, got {0}")]
    InvalidKeyShare(usize),
    /// A cryptographic operation failed: a ciphertext did not authenticate (wrong key,
    /// wrong contract, wrong sequence number, wrong purpose or tampering), or a public key
    /// is a low-order point.
    #[error("cryptography: {0}")]
    Crypto(#[from] CryptoError),
}

impl From<parity_scale_codec::Error> for ContractError {
    fn from(e: parity_scale_codec::Error) -> Self {
        ContractError::Decode(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_clear_and_carry_context() {
        assert_eq!(
            ContractError::TextTooLong { len: 300, max: 280 }.to_string(),
            "text is 300 bytes long; at most 280 bytes are allowed"
        );
        assert_eq!(ContractError::NotFound(7).to_string(), "#7 not found");
        assert_eq!(
            ContractError::from(CryptoError::DecryptionFailed).to_string(),
            "cryptography: AEAD decryption failed"
        );
        let codec = parity_scale_codec::Error::from("bad");
        assert!(matches!(ContractError::from(codec), ContractError::Decode(_)));
    }
}
