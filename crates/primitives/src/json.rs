//! JSON forms of headers and blocks, as served over RPC (camelCase, hex bytes, SS58 author).
//! Conversions go both ways, so a client can rebuild a [`Header`] and check its seal itself.

use serde::{Deserialize, Serialize};
use umbra_crypto::{Signature, VrfSignature};

use crate::{serde_helpers::account_ss58, AccountId, Block, BlockNumber, Header, Moment, H256};

/// A header as JSON.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HeaderJson {
    /// The block hash.
    pub hash: H256,
    /// Parent hash.
    pub parent_hash: H256,
    /// Number.
    pub number: BlockNumber,
    /// State root.
    pub state_root: H256,
    /// Extrinsics root.
    pub extrinsics_root: H256,
    /// Events root.
    pub events_root: H256,
    /// Timestamp (ms).
    pub timestamp: Moment,
    /// Author address.
    #[serde(with = "account_ss58")]
    pub author: AccountId,
    /// VRF pre-output, hex.
    pub vrf_output: String,
    /// VRF proof, hex.
    pub vrf_proof: String,
    /// Seal (sr25519 signature), hex.
    pub seal: String,
}

/// A block as JSON: header and hex-encoded extrinsics.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct BlockJson {
    /// The header.
    pub header: HeaderJson,
    /// The extrinsics, `0x`-hex.
    pub extrinsics: Vec<String>,
}

/// `0x`-prefixed hex.
pub fn to_hex(bytes: &[u8]) -> String {
    format!("0x{}", hex::encode(bytes))
}

/// Parses `0x`-prefixed (or bare) hex.
pub fn from_hex(s: &str) -> Result<Vec<u8>, String> {
    hex::decode(s.strip_prefix("0x").unwrap_or(s)).map_err(|e| format!("invalid hex: {e}"))
}

fn fixed<const N: usize>(s: &str, what: &str) -> Result<[u8; N], String> {
    from_hex(s)?.try_into().map_err(|_| format!("{what} must be {N} bytes"))
}

impl From<&Header> for HeaderJson {
    fn from(h: &Header) -> Self {
        HeaderJson {
            hash: h.hash(),
            parent_hash: h.parent_hash,
            number: h.number,
            state_root: h.state_root,
            extrinsics_root: h.extrinsics_root,
            events_root: h.events_root,
            timestamp: h.timestamp,
            author: h.author,
            vrf_output: to_hex(&h.vrf.pre_output),
            vrf_proof: to_hex(&h.vrf.proof),
            seal: to_hex(&h.seal.0),
        }
    }
}

impl TryFrom<&HeaderJson> for Header {
    type Error = String;

    /// Rebuilds the header and checks that it hashes to the claimed hash.
    fn try_from(j: &HeaderJson) -> Result<Self, String> {
        let h = Header {
            parent_hash: j.parent_hash,
            number: j.number,
            state_root: j.state_root,
            extrinsics_root: j.extrinsics_root,
            events_root: j.events_root,
            timestamp: j.timestamp,
            author: j.author,
            vrf: VrfSignature {
                pre_output: fixed(&j.vrf_output, "vrfOutput")?,
                proof: fixed(&j.vrf_proof, "vrfProof")?,
            },
            seal: Signature(fixed(&j.seal, "seal")?),
        };
        if h.hash() != j.hash {
            return Err(format!(
                "header fields hash to {}, not to the claimed {}",
                h.hash(),
                j.hash
            ));
        }
        Ok(h)
    }
}

impl From<&Block> for BlockJson {
    fn from(b: &Block) -> Self {
        BlockJson {
            header: (&b.header).into(),
            extrinsics: b.extrinsics.iter().map(|x| to_hex(x)).collect(),
        }
    }
}

impl TryFrom<&BlockJson> for Block {
    type Error = String;

    fn try_from(j: &BlockJson) -> Result<Self, String> {
        Ok(Block {
            header: (&j.header).try_into()?,
            extrinsics: j.extrinsics.iter().map(|x| from_hex(x)).collect::<Result<_, _>>()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::block::tests::{genesis, signed_child};
    use umbra_crypto::Pair;

    #[test]
    fn header_json_round_trips_and_detects_tampering() {
        let alice = Pair::from_suri("//Alice").unwrap();
        let body = vec![vec![9u8; 4]];
        let header = signed_child(&genesis(), &alice, &body);
        let block = Block { header, extrinsics: body };
        let json = serde_json::to_string(&BlockJson::from(&block)).unwrap();
        let back: BlockJson = serde_json::from_str(&json).unwrap();
        assert_eq!(Block::try_from(&back).unwrap(), block);
        let mut tampered = back.clone();
        tampered.header.timestamp += 1;
        assert!(Block::try_from(&tampered).is_err());
    }
}
