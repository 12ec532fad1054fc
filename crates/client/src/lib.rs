//! The Umbra client: a Rust SDK over the node's JSON-RPC ([`Client`]) and the `umbra` commands
//! that use it ([`cli`]).

pub mod apps;
pub mod cli;
pub mod contracts_cli;
pub mod evm_cli;
pub mod sdk;
pub mod validators_cli;
pub mod worker;

pub use sdk::{Client, ClientError, Inclusion};
