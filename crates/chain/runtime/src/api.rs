//! Read-only queries over committed state, for RPC and clients.

use serde::{Deserialize, Serialize};
use umbra_primitives::{serde_helpers::balance_str, AccountId, Balance, Nonce};

use crate::{balances, state::Overlay, system};

/// What `umbra_account` returns.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct AccountInfo {
    /// Spendable balance.
    #[serde(with = "balance_str")]
    pub free: Balance,
    /// Reserved balance.
    #[serde(with = "balance_str")]
    pub reserved: Balance,
    /// Next nonce.
    pub nonce: Nonce,
}

/// The account's balances and nonce.
pub fn account_info(st: &Overlay<'_>, who: &AccountId) -> AccountInfo {
    let data = balances::account(st, who);
    AccountInfo { free: data.free, reserved: data.reserved, nonce: system::nonce(st, who) }
}
