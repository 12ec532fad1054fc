//! PLACEHOLDER (being replaced by the full stake pools module in this change): only the hooks
//! the computation module calls, so the crate builds meanwhile.

use parity_scale_codec::{Decode, Encode};
use serde::Serialize;
use umbra_crypto::{blake2_256, Public};
use umbra_primitives::{AccountId, Balance};

use crate::{
    ext::{DispatchError, Ext},
    modules::computation::PoolId,
};

/// Calls.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub enum Call {}
/// Call indices.
pub const CALL_INDICES: &[u8] = &[];
/// Events.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode, Serialize)]
pub enum Event {}

/// The pool's account.
pub fn pool_account(pool: PoolId) -> AccountId {
    Public(blake2_256(&(b"umbra/pool", pool).encode()))
}
/// Reward hook.
pub fn on_reward(_ext: &mut Ext<'_>, _pool: PoolId, _worker: &Public, _amount: Balance) {}
/// Release hook.
pub fn on_stake_released(_ext: &mut Ext<'_>, _pool: PoolId, _worker: &Public, _stake: Balance) {}
/// Offline-limit hook.
pub fn on_unresponsive_limit(_ext: &mut Ext<'_>, _pool: PoolId, _worker: &Public) {}
/// Dispatch.
pub fn dispatch(_ext: &mut Ext<'_>, _origin: AccountId, call: Call) -> Result<(), DispatchError> {
    match call {}
}
