//! Helpers shared by the runtime's tests: a plain map as committed state.

use std::collections::BTreeMap;

use parity_scale_codec::Decode;
use umbra_primitives::Balance;

use crate::balances;

/// Committed state in tests.
pub(crate) type State = BTreeMap<Vec<u8>, Vec<u8>>;

/// Commits an overlay's changes (None = delete) into `state`.
pub(crate) fn apply_changes(state: &mut State, changes: Vec<(Vec<u8>, Option<Vec<u8>>)>) {
    for (k, v) in changes {
        match v {
            Some(v) => state.insert(k, v),
            None => state.remove(&k),
        };
    }
}

/// Σ (free + reserved) over every account in `state`.
pub(crate) fn sum_of_balances(state: &State) -> Balance {
    let prefix = balances::ACCOUNTS.prefix();
    state
        .range(prefix.to_vec()..)
        .take_while(|(k, _)| k.starts_with(prefix))
        .map(|(_, v)| {
            let a = balances::AccountData::decode(&mut &v[..]).unwrap();
            a.free.checked_add(a.reserved).unwrap()
        })
        .fold(0u128, |sum, b| sum.checked_add(b).unwrap())
}
