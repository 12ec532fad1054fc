//! serde helpers for JSON forms (chain spec, RPC): balances as decimal strings (JSON numbers lose
//! precision past 2^53) and accounts as SS58 addresses.

/// Serialize a `u128` as a decimal string; accept a string or a number.
pub mod balance_str {
    use serde::{Deserialize, Deserializer, Serializer};

    /// Serializes as a string.
    pub fn serialize<S: Serializer>(v: &u128, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&v.to_string())
    }

    /// Deserializes from a string or a number.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u128, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Either {
            S(String),
            N(u64),
        }
        match Either::deserialize(d)? {
            Either::S(s) => s.parse().map_err(serde::de::Error::custom),
            Either::N(n) => Ok(n as u128),
        }
    }
}

/// Serialize an account as its SS58 address; accept SS58 or 0x-hex.
pub mod account_ss58 {
    use serde::{Deserialize, Deserializer, Serializer};

    use crate::AccountId;

    /// Serializes as SS58.
    pub fn serialize<S: Serializer>(v: &AccountId, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&v.to_ss58())
    }

    /// Deserializes from SS58 or hex.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<AccountId, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Serialize a list of accounts as SS58 addresses; accept SS58 or 0x-hex for each.
pub mod ss58_list {
    use serde::{Deserialize, Deserializer, Serializer};

    use crate::AccountId;

    /// Serializes as a list of SS58 addresses.
    pub fn serialize<S: Serializer>(v: &[AccountId], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(v.iter().map(|a| a.to_ss58()))
    }

    /// Deserializes from a list of SS58 (or hex) addresses.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<AccountId>, D::Error> {
        Vec::<String>::deserialize(d)?
            .iter()
            .map(|s| {
                s.parse()
                    .map_err(|e| serde::de::Error::custom(format!("invalid address `{s}`: {e}")))
            })
            .collect()
    }
}

/// Serialize bytes (a `Vec<u8>` or `[u8; N]`) as `0x`-hex; accept the same.
pub mod bytes_hex {
    use serde::{Deserialize, Deserializer, Serializer};

    /// Serializes as hex.
    pub fn serialize<S: Serializer, T: AsRef<[u8]>>(v: &T, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&crate::json::to_hex(v.as_ref()))
    }

    /// Deserializes from hex into anything built from a byte vector of the right length.
    pub fn deserialize<'de, D: Deserializer<'de>, T: TryFrom<Vec<u8>>>(
        d: D,
    ) -> Result<T, D::Error> {
        let s = String::deserialize(d)?;
        let bytes = crate::json::from_hex(&s).map_err(serde::de::Error::custom)?;
        T::try_from(bytes).map_err(|_| serde::de::Error::custom("wrong number of bytes"))
    }
}

/// Serialize an optional key or byte string as `0x`-hex or `null`; accept the same.
pub mod opt_bytes_hex {
    use serde::{Deserialize, Deserializer, Serializer};

    /// Serializes as hex or `null`.
    pub fn serialize<S: Serializer, T: AsRef<[u8]>>(
        v: &Option<T>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match v {
            Some(b) => s.serialize_str(&crate::json::to_hex(b.as_ref())),
            None => s.serialize_none(),
        }
    }

    /// Deserializes from hex or `null`.
    pub fn deserialize<'de, D: Deserializer<'de>, T: TryFrom<Vec<u8>>>(
        d: D,
    ) -> Result<Option<T>, D::Error> {
        let Some(s) = Option::<String>::deserialize(d)? else { return Ok(None) };
        let bytes = crate::json::from_hex(&s).map_err(serde::de::Error::custom)?;
        T::try_from(bytes).map(Some).map_err(|_| serde::de::Error::custom("wrong number of bytes"))
    }
}

#[cfg(test)]
mod tests {
    #[derive(serde::Serialize, serde::Deserialize, PartialEq, Debug)]
    struct List {
        #[serde(with = "super::ss58_list")]
        l: Vec<crate::AccountId>,
    }

    #[test]
    fn account_lists_are_ss58_and_refuse_a_bad_entry() {
        let (a, b) = (crate::AccountId::from([1; 32]), crate::AccountId::from([2; 32]));
        let j = serde_json::to_value(List { l: vec![a, b] }).unwrap();
        assert_eq!(j, serde_json::json!({ "l": [a.to_ss58(), b.to_ss58()] }));
        assert_eq!(serde_json::from_value::<List>(j).unwrap(), List { l: vec![a, b] });
        let hex = serde_json::json!({ "l": [crate::json::to_hex(&[1; 32])] });
        assert_eq!(serde_json::from_value::<List>(hex).unwrap(), List { l: vec![a] });
        let bad = serde_json::json!({ "l": [a.to_ss58(), "5Grw"] });
        let e = serde_json::from_value::<List>(bad).unwrap_err().to_string();
        assert!(e.contains("invalid address `5Grw`"), "{e}");
    }

    #[derive(serde::Serialize, serde::Deserialize, PartialEq, Debug)]
    struct Key {
        #[serde(with = "super::opt_bytes_hex")]
        k: Option<[u8; 2]>,
    }

    #[test]
    fn optional_keys_are_hex_or_null() {
        let j = serde_json::to_value(Key { k: Some([0xab, 1]) }).unwrap();
        assert_eq!(j, serde_json::json!({ "k": "0xab01" }));
        assert_eq!(serde_json::from_value::<Key>(j).unwrap(), Key { k: Some([0xab, 1]) });
        let j = serde_json::to_value(Key { k: None }).unwrap();
        assert_eq!(j, serde_json::json!({ "k": null }));
        assert_eq!(serde_json::from_value::<Key>(j).unwrap(), Key { k: None });
        assert!(serde_json::from_value::<Key>(serde_json::json!({ "k": "0xab" })).is_err());
    }
}
