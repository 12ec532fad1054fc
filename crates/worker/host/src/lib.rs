//! The Umbra worker host: the untrusted half of a worker.
//!
//! It owns all I/O: it talks to the chain over JSON-RPC, keeps the enclave's sealed blobs on
//! disk, relays verified-by-the-enclave blocks in and signed egress out, registers the worker on
//! first start, and serves the encrypted query endpoint over HTTP. It holds nothing secret but
//! the operator's transaction key: it can delay or withhold, never forge.
//!
//! - [`files`]: the base directory (platform seed, sealed identity, sealed checkpoint), written
//!   atomically.
//! - [`relay`]: block sync, registration and egress submission.
//! - [`server`]: the HTTP endpoints (`GET /info`, `POST /query`).
//! - [`run`]: the whole worker as `umbra worker` runs it.

pub mod files;
pub mod relay;
pub mod run;
pub mod server;

pub use run::{run, WorkerConfig};
