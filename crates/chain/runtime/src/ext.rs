//! The execution context a call runs in: state overlay, events, and the phase of the block.

use parity_scale_codec::{Decode, Encode};
use serde::{Deserialize, Serialize};
use umbra_primitives::H256;

use crate::{state::Overlay, Event};

/// Where in the block an event was emitted.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Encode, Decode, Serialize, Deserialize)]
pub enum Phase {
    /// While initializing the block (before any extrinsic).
    Initialization,
    /// While applying the extrinsic at this index in the body.
    ApplyExtrinsic(u32),
    /// While finalizing the block.
    Finalization,
}

/// An event and the phase that emitted it.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode, Serialize)]
pub struct EventRecord {
    /// When it was emitted.
    pub phase: Phase,
    /// What happened.
    pub event: Event,
}

/// Why a dispatched call failed, as committed in `system::Event::ExtrinsicFailed`: the module's
/// index in the runtime (its [`crate::Call`]/[`crate::Event`] index) and the error's index in
/// that module's `Error` enum (its SCALE variant index). Two bytes on chain, never a string;
/// [`DispatchError::name`] and [`DispatchError::message`] map it back for RPC and CLI output.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Encode, Decode)]
pub struct DispatchError {
    /// Module index, e.g. 1 for `balances`.
    pub module: u8,
    /// Error index inside the module's `Error` enum.
    pub error: u8,
}

impl DispatchError {
    /// The error `err` (a module's fieldless `Error` enum) of the module named `module` (its
    /// `MODULE` constant). A name the runtime does not list gets module index `u8::MAX`, which
    /// describes itself as unknown (a test checks that every module's name is listed).
    pub fn new(module: &str, err: &impl Encode) -> Self {
        let error = err.using_encoded(|b| b.first().copied()).unwrap_or(u8::MAX);
        DispatchError { module: crate::module_index(module).unwrap_or(u8::MAX), error }
    }

    /// `module::Variant`, e.g. `registry::NotOperator` (or the raw indices if unknown).
    pub fn name(&self) -> String {
        match crate::describe_error(self.module, self.error) {
            Some((name, _)) => name,
            None => format!("module {}::error {}", self.module, self.error),
        }
    }

    /// The error's variant name alone, e.g. `NotOperator` (tests compare against it).
    pub fn variant(&self) -> String {
        let name = self.name();
        match name.split_once("::") {
            Some((_, variant)) => variant.to_string(),
            None => name,
        }
    }

    /// A human-readable message, e.g. `registry: the signer must be the operator`.
    pub fn message(&self) -> String {
        match crate::describe_error(self.module, self.error) {
            Some((_, message)) => message,
            None => format!("unknown error {} of module {}", self.error, self.module),
        }
    }
}

impl std::fmt::Display for DispatchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.message(), self.name())
    }
}

/// JSON form (RPC): the two indices as committed, plus their name and message for readers.
impl Serialize for DispatchError {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("DispatchError", 4)?;
        st.serialize_field("module", &self.module)?;
        st.serialize_field("error", &self.error)?;
        st.serialize_field("name", &self.name())?;
        st.serialize_field("message", &self.message())?;
        st.end()
    }
}

/// The execution context: state, the events emitted so far, and the current phase.
#[derive(Debug)]
pub struct Ext<'a> {
    /// Buffered state.
    pub state: Overlay<'a>,
    events: Vec<EventRecord>,
    event_marks: Vec<usize>,
    phase: Phase,
    genesis_hash: H256,
}

impl<'a> Ext<'a> {
    /// A context over `state`, in the initialization phase.
    pub fn new(state: Overlay<'a>) -> Self {
        Ext {
            state,
            events: Vec::new(),
            event_marks: Vec::new(),
            phase: Phase::Initialization,
            genesis_hash: H256::ZERO,
        }
    }

    /// A context that knows the chain's genesis hash (needed to check attestations and
    /// enclave messages, which bind it).
    pub fn with_genesis(state: Overlay<'a>, genesis_hash: H256) -> Self {
        Ext { genesis_hash, ..Ext::new(state) }
    }

    /// The chain's genesis hash.
    pub fn genesis_hash(&self) -> H256 {
        self.genesis_hash
    }

    /// Sets the phase for subsequent events.
    pub fn set_phase(&mut self, phase: Phase) {
        self.phase = phase;
    }

    /// Emits an event in the current phase.
    pub fn deposit_event(&mut self, event: impl Into<Event>) {
        self.events.push(EventRecord { phase: self.phase, event: event.into() });
    }

    /// Events emitted so far.
    pub fn events(&self) -> &[EventRecord] {
        &self.events
    }

    /// Runs `f` in a state transaction: on `Err` its writes and events are undone.
    pub fn transactional<T, E>(
        &mut self,
        f: impl FnOnce(&mut Ext<'a>) -> Result<T, E>,
    ) -> Result<T, E> {
        self.state.start_transaction();
        self.event_marks.push(self.events.len());
        let result = f(self);
        let mark = self.event_marks.pop().unwrap_or(0);
        match result {
            Ok(v) => {
                self.state.commit_transaction();
                Ok(v)
            }
            Err(e) => {
                self.state.rollback_transaction();
                self.events.truncate(mark);
                Err(e)
            }
        }
    }

    /// Splits the context into its state changes and events.
    pub fn into_parts(self) -> (Overlay<'a>, Vec<EventRecord>) {
        (self.state, self.events)
    }
}
