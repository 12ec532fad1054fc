//! Egress: messages from the enclave to the chain.
//!
//! Each message gets the next sequence number and the identity key's signature. It stays queued
//! until the enclave sees, in a verified block, the chain's `InboundMessage` event for that
//! sequence; the host may resubmit queued messages any number of times, the chain accepts each
//! sequence once. Egress is a deterministic function of the blocks, so replaying from a
//! checkpoint regenerates the same messages with the same sequence numbers.

use std::collections::VecDeque;

use parity_scale_codec::{Decode, Encode};
use umbra_crypto::Pair;
use umbra_primitives::{mq::SignedMessage, H256};
use umbra_protocol::FromEnclave;

/// The egress queue.
#[derive(Clone, Debug, Default, PartialEq, Eq, Encode, Decode)]
pub struct Egress {
    next_sequence: u64,
    queue: VecDeque<SignedMessage>,
}

impl Egress {
    /// Signs and queues a message.
    pub fn push(&mut self, identity: &Pair, genesis: &H256, topic: Vec<u8>, payload: Vec<u8>) {
        let m = SignedMessage::sign(identity, genesis, topic, self.next_sequence, payload);
        self.next_sequence = self.next_sequence.saturating_add(1);
        self.queue.push_back(m);
    }

    /// Signs and queues a protocol message in its wire form.
    pub fn send(&mut self, identity: &Pair, genesis: &H256, message: &FromEnclave) {
        let (topic, payload) = message.to_wire();
        self.push(identity, genesis, topic, payload);
    }

    /// The chain accepted `sequence`: drop it and everything before it.
    pub fn accepted(&mut self, sequence: u64) {
        while self.queue.front().is_some_and(|m| m.sequence <= sequence) {
            self.queue.pop_front();
        }
        if self.next_sequence <= sequence {
            self.next_sequence = sequence.saturating_add(1);
        }
    }

    /// Messages not yet accepted, in order.
    pub fn pending(&self) -> Vec<SignedMessage> {
        self.queue.iter().cloned().collect()
    }

    /// The next sequence number to use.
    pub fn next_sequence(&self) -> u64 {
        self.next_sequence
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_keeps_messages_until_accepted() {
        let id = Pair::from_suri("//W").unwrap();
        let g = H256::hash(b"g");
        let mut e = Egress::default();
        for i in 0..3u8 {
            e.push(&id, &g, b"t".to_vec(), vec![i]);
        }
        assert_eq!(e.pending().iter().map(|m| m.sequence).collect::<Vec<_>>(), vec![0, 1, 2]);
        assert!(e.pending().iter().all(|m| m.verify(&g, &id.public())));
        e.accepted(1);
        assert_eq!(e.pending().iter().map(|m| m.sequence).collect::<Vec<_>>(), vec![2]);
        e.accepted(7);
        assert!(e.pending().is_empty());
        assert_eq!(e.next_sequence(), 8);
    }
}
