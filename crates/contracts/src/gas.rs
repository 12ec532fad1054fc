//! Gas: what a confidential command may use and what it costs.
//!
//! Every command carries a gas limit, chosen by its sender and prepaid on chain at push time
//! (`gas_limit × gas price`, a governance parameter of the contracts module). The limit is part
//! of the [`crate::CommandContext`] (so it is under the chain's log hash: a host replaying the
//! log cannot change it), the enclave runs the command under it, and the gas used — identical on
//! every worker — is part of the result the assigned workers vote on. When the result is
//! accepted the chain charges `gas_used × price` and refunds the rest.
//!
//! * EVM clusters meter with revm: the receipt's `gas_used` (a revert or a halt still uses gas;
//!   out of gas uses the whole limit).
//! * Built-in kinds that do not meter themselves (the guestbook) use the fixed schedule
//!   [`fixed_gas`]: `FIXED_BASE_GAS + FIXED_GAS_PER_BYTE × len` of the plaintext SCALE command,
//!   whatever the outcome; a limit below it is out of gas (the whole limit is used, nothing
//!   changes).
//! * A command that fails before it runs (it does not open, does not decode, or is refused
//!   before execution) uses [`FAILED_COMMAND_GAS`].

/// The smallest gas limit a command may carry (the intrinsic cost of a plain EVM transaction);
/// the chain refuses a push below it.
pub const MIN_GAS_LIMIT: u64 = 21_000;
/// The largest per-command gas cap governance may set (`max_gas_per_command` is bounded to
/// `MIN_GAS_LIMIT..=MAX_GAS_CAP`).
pub const MAX_GAS_CAP: u64 = 100_000_000;
/// The per-command cap of the development parameters.
pub const DEFAULT_MAX_GAS_PER_COMMAND: u64 = 30_000_000;
/// Gas used by a command that fails before it runs (does not open or decode, or is refused
/// before executing): the cost of carrying it through the log. Never above the limit, since
/// every limit is at least [`MIN_GAS_LIMIT`].
pub const FAILED_COMMAND_GAS: u64 = 21_000;
/// Base of the fixed schedule of kinds that do not meter themselves.
pub const FIXED_BASE_GAS: u64 = 21_000;
/// Gas per byte of the plaintext SCALE command in the fixed schedule (an EVM calldata byte's
/// price).
pub const FIXED_GAS_PER_BYTE: u64 = 16;

/// The gas a command of `len` plaintext bytes uses under the fixed schedule:
/// `FIXED_BASE_GAS + FIXED_GAS_PER_BYTE × len` (saturating).
pub fn fixed_gas(len: usize) -> u64 {
    let len = u64::try_from(len).unwrap_or(u64::MAX);
    FIXED_BASE_GAS.saturating_add(FIXED_GAS_PER_BYTE.saturating_mul(len))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_schedule_is_base_plus_per_byte() {
        assert_eq!(fixed_gas(0), 21_000);
        assert_eq!(fixed_gas(100), 22_600);
        assert_eq!(fixed_gas(usize::MAX), u64::MAX);
        const { assert!(FAILED_COMMAND_GAS <= MIN_GAS_LIMIT) };
        assert!((MIN_GAS_LIMIT..=MAX_GAS_CAP).contains(&DEFAULT_MAX_GAS_PER_COMMAND));
    }
}
