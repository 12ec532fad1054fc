//! Runtime modules. Each module is one file holding its storage items, calls, events, errors,
//! genesis part and tests, in that order. Adding a module means: a new file here, a variant in
//! [`crate::Call`] and [`crate::Event`] with a fresh stable index, and a line in
//! [`crate::dispatch`].

pub mod balances;
pub mod computation;
pub mod contracts;
pub mod gatekeeper;
pub mod governance;
pub mod mq;
pub mod registry;
pub mod stake_pools;
pub mod system;
pub mod vault;
