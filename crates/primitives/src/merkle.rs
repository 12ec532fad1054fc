//! Ordered binary Merkle root over a list of items (extrinsics, events).
//!
//! Leaves are `blake2_256(0x00 ‖ item)`, inner nodes `blake2_256(0x01 ‖ left ‖ right)`; an odd
//! node at the end of a level is promoted unchanged. The root of an empty list is zero. The
//! domain-separation bytes keep a leaf from being passed off as an inner node.

use crate::H256;

fn leaf(item: &[u8]) -> H256 {
    let mut buf = Vec::with_capacity(item.len() + 1);
    buf.push(0u8);
    buf.extend_from_slice(item);
    H256::hash(&buf)
}

fn node(l: &H256, r: &H256) -> H256 {
    let mut buf = [0u8; 65];
    buf[0] = 1;
    buf[1..33].copy_from_slice(&l.0);
    buf[33..].copy_from_slice(&r.0);
    H256::hash(&buf)
}

/// The Merkle root of `items`, in order.
pub fn merkle_root<I: AsRef<[u8]>>(items: &[I]) -> H256 {
    if items.is_empty() {
        return H256::ZERO;
    }
    let mut level: Vec<H256> = items.iter().map(|i| leaf(i.as_ref())).collect();
    while level.len() > 1 {
        level = level
            .chunks(2)
            .map(|pair| match pair {
                [l, r] => node(l, r),
                [single] => *single,
                _ => unreachable!("chunks(2) yields one or two items"),
            })
            .collect();
    }
    level[0]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_root_is_zero() {
        assert_eq!(merkle_root::<Vec<u8>>(&[]), H256::ZERO);
    }

    #[test]
    fn root_depends_on_order_and_content() {
        let a = merkle_root(&[b"a".to_vec(), b"b".to_vec(), b"c".to_vec()]);
        let b = merkle_root(&[b"b".to_vec(), b"a".to_vec(), b"c".to_vec()]);
        let c = merkle_root(&[b"a".to_vec(), b"b".to_vec()]);
        assert_ne!(a, b);
        assert_ne!(a, c);
        assert_eq!(a, merkle_root(&[b"a".to_vec(), b"b".to_vec(), b"c".to_vec()]));
    }

    #[test]
    fn single_leaf_is_not_the_raw_hash() {
        assert_ne!(merkle_root(&[b"x".to_vec()]), H256::hash(b"x"));
    }
}
