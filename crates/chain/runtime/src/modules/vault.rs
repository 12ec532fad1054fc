//! PLACEHOLDER (being replaced by the full lending vault in this change).

use parity_scale_codec::{Decode, Encode};
use serde::Serialize;
use umbra_primitives::AccountId;

use crate::{ext::{DispatchError, Ext}, state::Overlay};

/// Calls.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub enum Call {}
/// Call indices.
pub const CALL_INDICES: &[u8] = &[];
/// Events.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode, Serialize)]
pub enum Event {}
/// Params.
#[derive(Clone, Debug)]
pub struct VaultParams {
    /// Blocks unresponsive before default.
    pub default_after_blocks: u64,
}
/// Params.
pub fn params(_st: &Overlay<'_>) -> VaultParams {
    VaultParams { default_after_blocks: 100 }
}
/// Dispatch.
pub fn dispatch(_ext: &mut Ext<'_>, _origin: AccountId, call: Call) -> Result<(), DispatchError> {
    match call {}
}
