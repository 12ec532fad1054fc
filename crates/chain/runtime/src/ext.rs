//! The execution context a call runs in: state overlay, events, and the phase of the block.

use parity_scale_codec::{Decode, Encode};
use serde::Serialize;
use umbra_primitives::H256;

use crate::{state::Overlay, Event};

/// Where in the block an event was emitted.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Encode, Decode, Serialize)]
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

/// Why a dispatched call failed: the module and the error's name, as Substrate reports them.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode, Serialize)]
pub struct DispatchError {
    /// Module name, e.g. `balances`.
    pub module: String,
    /// Error variant name, e.g. `InsufficientBalance`.
    pub error: String,
}

impl DispatchError {
    /// An error from `module` named after `err`'s Debug form.
    pub fn new(module: &str, err: &impl std::fmt::Debug) -> Self {
        DispatchError { module: module.to_string(), error: format!("{err:?}") }
    }
}

impl std::fmt::Display for DispatchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}::{}", self.module, self.error)
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
