//! Exact integer helpers for the reward and interest accumulators: a 256-bit intermediate for
//! `a × b / c`, so products of balances and scaled accumulators never overflow silently.

use parity_scale_codec::{Decode, Encode};

const LOW: u128 = u64::MAX as u128;

/// An unsigned 256-bit integer (`hi · 2¹²⁸ + lo`), only as wide as the runtime needs: add,
/// subtract, a 128×128 product and division by a 128-bit divisor.
#[derive(Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Debug, Encode, Decode)]
pub struct U256 {
    /// High 128 bits.
    pub hi: u128,
    /// Low 128 bits.
    pub lo: u128,
}

impl U256 {
    /// Zero.
    pub const ZERO: U256 = U256 { hi: 0, lo: 0 };

    /// `v` widened.
    pub const fn from_u128(v: u128) -> Self {
        U256 { hi: 0, lo: v }
    }

    /// The exact product `a × b`.
    pub fn mul(a: u128, b: u128) -> Self {
        let (a1, a0) = (a >> 64, a & LOW);
        let (b1, b0) = (b >> 64, b & LOW);
        // Each factor is < 2^64, so each partial product is < 2^128: the wrapping operations
        // below never actually wrap.
        let p00 = a0.wrapping_mul(b0);
        let p01 = a0.wrapping_mul(b1);
        let p10 = a1.wrapping_mul(b0);
        let p11 = a1.wrapping_mul(b1);
        // Each term is < 2^64, so the sum is < 3 · 2^64: no overflow.
        let mid = (p00 >> 64).wrapping_add(p01 & LOW).wrapping_add(p10 & LOW);
        let lo = (p00 & LOW) | ((mid & LOW) << 64);
        // The exact product is < 2^256, so its high half fits.
        let hi = p11.wrapping_add(p01 >> 64).wrapping_add(p10 >> 64).wrapping_add(mid >> 64);
        U256 { hi, lo }
    }

    /// `self + other`, or `None` past 2²⁵⁶.
    pub fn checked_add(self, other: U256) -> Option<U256> {
        let (lo, carry) = self.lo.overflowing_add(other.lo);
        let hi = self.hi.checked_add(other.hi)?.checked_add(carry as u128)?;
        Some(U256 { hi, lo })
    }

    /// `self − other`, or `None` below zero.
    pub fn checked_sub(self, other: U256) -> Option<U256> {
        let (lo, borrow) = self.lo.overflowing_sub(other.lo);
        let hi = self.hi.checked_sub(other.hi)?.checked_sub(borrow as u128)?;
        Some(U256 { hi, lo })
    }

    /// `self + other`, capped at the maximum.
    pub fn saturating_add(self, other: U256) -> U256 {
        self.checked_add(other).unwrap_or(U256 { hi: u128::MAX, lo: u128::MAX })
    }

    /// `self − other`, floored at zero.
    pub fn saturating_sub(self, other: U256) -> U256 {
        self.checked_sub(other).unwrap_or(U256::ZERO)
    }

    /// `(⌊self / d⌋, self mod d)`, or `None` if `d` is zero or the quotient does not fit 128 bits.
    pub fn div_rem(self, d: u128) -> Option<(u128, u128)> {
        if d == 0 || self.hi >= d {
            return None;
        }
        // Restoring long division of the low half, starting from the high half as remainder
        // (which is already < d). `carry` is the bit shifted out of the 128-bit remainder.
        let mut rem = self.hi;
        let mut q: u128 = 0;
        for i in (0..128).rev() {
            let carry = rem >> 127;
            rem = (rem << 1) | ((self.lo >> i) & 1);
            q <<= 1;
            if carry == 1 || rem >= d {
                rem = rem.wrapping_sub(d);
                q |= 1;
            }
        }
        Some((q, rem))
    }
}

/// `(⌊a × b / c⌋, a × b mod c)` computed exactly; `None` if `c` is zero or the quotient exceeds
/// `u128`.
pub fn mul_div_rem(a: u128, b: u128, c: u128) -> Option<(u128, u128)> {
    U256::mul(a, b).div_rem(c)
}

/// `⌊a × b / c⌋` computed exactly; `None` if `c` is zero or the result exceeds `u128`.
pub fn mul_div(a: u128, b: u128, c: u128) -> Option<u128> {
    mul_div_rem(a, b, c).map(|(q, _)| q)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn products_and_quotients_at_the_edges() {
        let max = u128::MAX;
        assert_eq!(U256::mul(max, max), U256 { hi: max - 1, lo: 1 });
        assert_eq!(U256::mul(max, 1), U256::from_u128(max));
        assert_eq!(mul_div(max, max, max), Some(max));
        assert_eq!(mul_div(max, 2, 2), Some(max));
        assert_eq!(mul_div(max, 2, 1), None);
        assert_eq!(mul_div(5, 5, 0), None);
        assert_eq!(mul_div_rem(10, 10, 7), Some((14, 2)));
        assert_eq!(U256::from_u128(1).checked_sub(U256::from_u128(2)), None);
        assert_eq!(U256 { hi: max, lo: max }.checked_add(U256::from_u128(1)), None);
        assert_eq!(
            U256::from_u128(max).checked_add(U256::from_u128(1)),
            Some(U256 { hi: 1, lo: 0 })
        );
    }

    proptest! {
        #[test]
        fn matches_native_arithmetic_when_it_fits(a in any::<u64>(), b in any::<u64>(), c in 1u128..) {
            let (a, b) = (a as u128, b as u128);
            // a, b < 2^64, so the native product fits in u128.
            let p = a.checked_mul(b).unwrap();
            prop_assert_eq!(mul_div_rem(a, b, c), Some((p.checked_div(c).unwrap(), p.checked_rem(c).unwrap())));
        }

        #[test]
        fn quotient_times_divisor_plus_remainder_is_the_product(a in any::<u128>(), b in any::<u128>(), c in 1u128..) {
            if let Some((q, r)) = mul_div_rem(a, b, c) {
                prop_assert!(r < c);
                let back = U256::mul(q, c).checked_add(U256::from_u128(r)).unwrap();
                prop_assert_eq!(back, U256::mul(a, b));
            } else {
                // Only when the quotient does not fit: a·b ≥ c·2^128.
                prop_assert!(U256::mul(a, b).hi >= c);
            }
        }

        #[test]
        fn add_then_sub_round_trips(a in any::<u128>(), b in any::<u128>(), c in any::<u128>(), d in any::<u128>()) {
            let x = U256::mul(a, b);
            let y = U256::mul(c, d);
            if let Some(s) = x.checked_add(y) {
                prop_assert_eq!(s.checked_sub(y), Some(x));
            }
            prop_assert_eq!(x.checked_sub(y).is_some(), x >= y);
        }
    }
}
