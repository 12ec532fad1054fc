//! sr25519 (Schnorr over Ristretto25519, via `schnorrkel`) signatures, VRF and key derivation.
//!
//! Signatures use the signing context `b"substrate"`, so they verify on Polkadot/Substrate
//! chains and vice versa. Keys from phrases, seeds and secret URIs derive exactly as in
//! `sp_core::sr25519`, so `//Alice` here is `//Alice` everywhere.

use core::fmt;
use core::str::FromStr;

use bip39::{Language, Mnemonic};
use parity_scale_codec::{Decode, Encode, MaxEncodedLen};
use rand_core::{OsRng, RngCore};
use schnorrkel::derive::{ChainCode, Derivation};
use schnorrkel::vrf::{VRFPreOut, VRFProof};
use schnorrkel::{ExpansionMode, Keypair, MiniSecretKey, PublicKey, SecretKey};
use zeroize::Zeroizing;

use crate::error::CryptoError;
use crate::ss58;
use crate::suri::{self, DeriveJunction, SecretSource};

/// Signing context shared with Substrate, making signatures Polkadot-compatible.
pub const SIGNING_CONTEXT: &[u8] = b"substrate";
/// Label of the merlin transcript that carries a VRF input.
pub const VRF_TRANSCRIPT_LABEL: &[u8] = b"umbra-vrf";
/// Context used to turn a VRF in/out pair into 32 bytes of randomness.
pub const VRF_RANDOMNESS_CONTEXT: &[u8] = b"umbra-randomness";

/// An sr25519 public key (also the 32-byte account id).
///
/// `Debug` and `Display` show the SS58 address with the default prefix 42.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Encode, Decode, MaxEncodedLen)]
pub struct Public(pub [u8; 32]);

/// A 64-byte sr25519 signature. `Debug` shows it as `0x` hex.
#[derive(Clone, Copy, PartialEq, Eq, Encode, Decode, MaxEncodedLen)]
pub struct Signature(pub [u8; 64]);

/// An sr25519 VRF output and its proof.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Encode, Decode, MaxEncodedLen)]
pub struct VrfSignature {
    /// The VRF pre-output (compressed Ristretto point `input^secret`).
    pub pre_output: [u8; 32],
    /// The DLEQ proof that `pre_output` was computed with the signer's key.
    pub proof: [u8; 64],
}

/// An sr25519 key pair. `Debug` shows only the public key.
#[derive(Clone)]
pub struct Pair(Keypair);

fn vrf_transcript(input: &[u8]) -> merlin::Transcript {
    let mut t = merlin::Transcript::new(VRF_TRANSCRIPT_LABEL);
    t.append_message(b"input", input);
    t
}

impl Public {
    /// The SS58 address with the default prefix 42.
    pub fn to_ss58(&self) -> String {
        ss58::encode(ss58::DEFAULT_PREFIX, &self.0)
    }

    /// Parses an SS58 address. Any non-reserved prefix is accepted (the key is the same
    /// whatever network prefix it is displayed with).
    pub fn from_ss58(address: &str) -> Result<Public, CryptoError> {
        ss58::decode(address).map(|(_, bytes)| Public(bytes))
    }

    /// The raw 32 bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Verifies a signature made by [`Pair::sign`] over `msg`. Returns false for a
    /// malformed key or signature.
    pub fn verify(&self, msg: &[u8], sig: &Signature) -> bool {
        let (Ok(public), Ok(signature)) =
            (PublicKey::from_bytes(&self.0), schnorrkel::Signature::from_bytes(&sig.0))
        else {
            return false;
        };
        public.verify_simple(SIGNING_CONTEXT, msg, &signature).is_ok()
    }

    /// Verifies a VRF signature over `input` and returns its 32 bytes of randomness.
    pub fn vrf_verify(&self, input: &[u8], sig: &VrfSignature) -> Result<[u8; 32], CryptoError> {
        let public = PublicKey::from_bytes(&self.0).map_err(|_| CryptoError::InvalidPublicKey)?;
        let pre_output = VRFPreOut::from_bytes(&sig.pre_output)
            .map_err(|_| CryptoError::VrfVerificationFailed)?;
        let proof =
            VRFProof::from_bytes(&sig.proof).map_err(|_| CryptoError::VrfVerificationFailed)?;
        let (inout, _) = public
            .vrf_verify(vrf_transcript(input), &pre_output, &proof)
            .map_err(|_| CryptoError::VrfVerificationFailed)?;
        Ok(inout.make_bytes::<[u8; 32]>(VRF_RANDOMNESS_CONTEXT))
    }
}

impl From<[u8; 32]> for Public {
    fn from(bytes: [u8; 32]) -> Self {
        Public(bytes)
    }
}

impl AsRef<[u8]> for Public {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Display for Public {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_ss58())
    }
}

impl fmt::Debug for Public {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_ss58())
    }
}

impl FromStr for Public {
    type Err = CryptoError;

    /// Accepts an SS58 address or `0x` followed by 64 hex characters.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.strip_prefix("0x") {
            Some(hex_str) => {
                let mut bytes = [0u8; 32];
                hex::decode_to_slice(hex_str, &mut bytes)
                    .map_err(|e| CryptoError::InvalidHex(e.to_string()))?;
                Ok(Public(bytes))
            }
            None => Public::from_ss58(s),
        }
    }
}

impl Signature {
    /// The raw 64 bytes.
    pub fn as_bytes(&self) -> &[u8; 64] {
        &self.0
    }
}

impl From<[u8; 64]> for Signature {
    fn from(bytes: [u8; 64]) -> Self {
        Signature(bytes)
    }
}

impl AsRef<[u8]> for Signature {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Signature(0x{})", hex::encode(self.0))
    }
}

impl fmt::Debug for Pair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pair").field("public", &self.public()).finish_non_exhaustive()
    }
}

impl Pair {
    /// Generates a fresh key pair from 128 bits of OS randomness and returns it with its
    /// 12-word English BIP-39 phrase (which [`Pair::from_phrase`] turns back into the pair).
    pub fn generate() -> (Pair, String) {
        let mut entropy = Zeroizing::new([0u8; 16]);
        OsRng.fill_bytes(entropy.as_mut());
        let mnemonic = Mnemonic::from_entropy_in(Language::English, entropy.as_ref())
            .expect("16 bytes is valid BIP-39 entropy for 12 words");
        let mini = substrate_bip39::mini_secret_from_entropy(entropy.as_ref(), "")
            .expect("16 bytes is valid BIP-39 entropy");
        (Pair(mini.expand_to_keypair(ExpansionMode::Ed25519)), mnemonic.to_string())
    }

    /// Builds the pair of an English BIP-39 phrase and optional passphrase, exactly as
    /// Substrate: entropy -> `mini_secret_from_entropy` -> Ed25519-mode expansion.
    pub fn from_phrase(phrase: &str, password: Option<&str>) -> Result<Pair, CryptoError> {
        let mnemonic = Mnemonic::parse_in(Language::English, phrase)
            .map_err(|_| CryptoError::InvalidPhrase)?;
        let entropy = Zeroizing::new(mnemonic.to_entropy());
        let mini = substrate_bip39::mini_secret_from_entropy(&entropy, password.unwrap_or(""))
            .map_err(|_| CryptoError::InvalidPhrase)?;
        Ok(Pair(mini.expand_to_keypair(ExpansionMode::Ed25519)))
    }

    /// Builds the pair of a 32-byte mini secret key (Ed25519-mode expansion, as Substrate).
    pub fn from_seed(seed: &[u8; 32]) -> Pair {
        let mini = MiniSecretKey::from_bytes(seed).expect("32 bytes is a valid mini secret key");
        Pair(mini.expand_to_keypair(ExpansionMode::Ed25519))
    }

    /// Builds the pair of a Substrate secret URI, e.g. `"//Alice"`, `"<phrase>//hard/soft"`,
    /// `"0x<seed>//1"` or `"<phrase>///password"`. See [`crate::suri`].
    pub fn from_suri(suri: &str) -> Result<Pair, CryptoError> {
        let uri = suri::parse(suri)?;
        let root = match &uri.source {
            SecretSource::Seed(seed) => Pair::from_seed(seed),
            SecretSource::Phrase(phrase) => {
                Pair::from_phrase(phrase, uri.password.as_ref().map(|p| p.as_str()))?
            }
        };
        Ok(root.derive(&uri.junctions))
    }

    /// Derives a child pair along `path` with Substrate's rules: a hard junction hashes the
    /// secret scalar into a new mini secret key, a soft junction is schnorrkel's simple
    /// (public-derivable) derivation.
    pub fn derive(&self, path: &[DeriveJunction]) -> Pair {
        let mut keypair = self.0.clone();
        for junction in path {
            keypair = match junction {
                DeriveJunction::Hard(cc) => keypair
                    .secret
                    .hard_derive_mini_secret_key(Some(ChainCode(*cc)), b"")
                    .0
                    .expand_to_keypair(ExpansionMode::Ed25519),
                DeriveJunction::Soft(cc) => keypair.derived_key_simple(ChainCode(*cc), []).0,
            };
        }
        Pair(keypair)
    }

    /// The 64-byte secret key in schnorrkel's Ed25519-compatible layout (scalar ‖ nonce),
    /// for sealed storage. Treat the result as secret.
    pub fn to_secret_bytes(&self) -> [u8; 64] {
        self.0.secret.to_ed25519_bytes()
    }

    /// Rebuilds a pair from [`Pair::to_secret_bytes`] output.
    pub fn from_secret_bytes(bytes: &[u8; 64]) -> Result<Pair, CryptoError> {
        let secret =
            SecretKey::from_ed25519_bytes(bytes).map_err(|_| CryptoError::InvalidSecretKey)?;
        Ok(Pair(secret.to_keypair()))
    }

    /// The public key.
    pub fn public(&self) -> Public {
        Public(self.0.public.to_bytes())
    }

    /// Signs `msg` under the `b"substrate"` signing context.
    pub fn sign(&self, msg: &[u8]) -> Signature {
        let ctx = schnorrkel::signing_context(SIGNING_CONTEXT);
        Signature(self.0.sign(ctx.bytes(msg)).to_bytes())
    }

    /// Produces a VRF output and proof over `input`.
    pub fn vrf_sign(&self, input: &[u8]) -> VrfSignature {
        self.vrf_sign_with_randomness(input).0
    }

    /// Like [`Pair::vrf_sign`], also returning the randomness that
    /// [`Public::vrf_verify`] will yield for it.
    pub fn vrf_sign_with_randomness(&self, input: &[u8]) -> (VrfSignature, [u8; 32]) {
        let (inout, proof, _) = self.0.vrf_sign(vrf_transcript(input));
        let sig =
            VrfSignature { pre_output: inout.to_preout().to_bytes(), proof: proof.to_bytes() };
        (sig, inout.make_bytes::<[u8; 32]>(VRF_RANDOMNESS_CONTEXT))
    }
}

/// Verifies many `(message, signature, public)` triples at once with schnorrkel's batch
/// verification. Returns false if the slices differ in length, any key or signature is
/// malformed, or any signature is invalid (the batch does not say which). An empty batch
/// is valid.
pub fn verify_batch(messages: &[&[u8]], signatures: &[Signature], publics: &[Public]) -> bool {
    if messages.len() != signatures.len() || messages.len() != publics.len() {
        return false;
    }
    let Ok(sigs) = signatures
        .iter()
        .map(|s| schnorrkel::Signature::from_bytes(&s.0))
        .collect::<Result<Vec<_>, _>>()
    else {
        return false;
    };
    let Ok(keys) =
        publics.iter().map(|p| PublicKey::from_bytes(&p.0)).collect::<Result<Vec<_>, _>>()
    else {
        return false;
    };
    let ctx = schnorrkel::signing_context(SIGNING_CONTEXT);
    let transcripts = messages.iter().map(|m| ctx.bytes(m));
    schnorrkel::verify_batch(transcripts, &sigs, &keys, false).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::suri::DEV_PHRASE;
    use parity_scale_codec::{Decode, Encode};
    use proptest::prelude::*;

    fn public_hex(p: &Public) -> String {
        hex::encode(p.0)
    }

    fn suri(s: &str) -> Pair {
        Pair::from_suri(s).expect("valid test suri")
    }

    #[test]
    fn alice_and_bob_match_substrate() {
        let alice = suri("//Alice").public();
        assert_eq!(alice.to_ss58(), "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY");
        assert_eq!(
            public_hex(&alice),
            "d43593c715fdd31c61141abd04a99fd6822c8558854ccde39a5684e7a56da27d"
        );
        assert_eq!(
            suri("//Bob").public().to_ss58(),
            "5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty"
        );
    }

    #[test]
    fn alice_stash_matches_substrate() {
        assert_eq!(
            public_hex(&suri("//Alice//stash").public()),
            "be5ddb1579b72e84524fc29e78609e3caf42e85aa118ebfe0b0ad404b5bdd25f"
        );
        // An explicit dev phrase is the same as the empty one.
        assert_eq!(
            suri(&format!("{DEV_PHRASE}//Alice//stash")).public(),
            suri("//Alice//stash").public()
        );
    }

    #[test]
    fn dev_phrase_root_matches_substrate() {
        let root = Pair::from_phrase(DEV_PHRASE, None).expect("dev phrase is valid");
        assert_eq!(
            public_hex(&root.public()),
            "46ebddef8cd9bb167dc30878d7113b7e168e6f0646beffd77d69d39bad76b47a"
        );
        assert_eq!(root.public().to_ss58(), "5DfhGyQdFobKM8NsWvEeAKk5EQQgYe9AydgJ7rMB6E1EqRzV");
        assert_eq!(suri(DEV_PHRASE).public(), root.public());
        assert_eq!(suri("").public(), root.public());
    }

    #[test]
    fn password_changes_the_key() {
        let plain = suri("//Alice").public();
        let with_pw = suri("//Alice///secret").public();
        assert_ne!(plain, with_pw);
        let root_pw = Pair::from_phrase(DEV_PHRASE, Some("secret")).expect("valid");
        assert_eq!(root_pw.derive(&[DeriveJunction::hard("Alice")]).public(), with_pw);
    }

    #[test]
    fn soft_derivation_is_distinct_and_reproducible() {
        let soft = suri("//Alice/soft").public();
        assert_ne!(soft, suri("//Alice//soft").public());
        assert_ne!(soft, suri("//Alice").public());
        assert_eq!(soft, suri("//Alice/soft").public());
        // The soft-derived key signs verifiably.
        let pair = suri("//Alice/soft");
        let sig = pair.sign(b"hello");
        assert!(soft.verify(b"hello", &sig));
    }

    #[test]
    fn hex_seed_suri_equals_from_seed() {
        let seed = [0x42u8; 32];
        let uri = format!("0x{}", hex::encode(seed));
        assert_eq!(suri(&uri).public(), Pair::from_seed(&seed).public());
        assert_eq!(
            suri(&format!("{uri}//x")).public(),
            Pair::from_seed(&seed).derive(&[DeriveJunction::hard("x")]).public()
        );
        // Password is ignored for hex seeds, as in Substrate.
        assert_eq!(suri(&format!("{uri}///pw")).public(), Pair::from_seed(&seed).public());
    }

    #[test]
    fn invalid_phrase_is_rejected() {
        assert!(matches!(
            Pair::from_phrase(
                "bottom drive obey lake curtain smoke basket hold race lonely fit fit",
                None
            ),
            Err(CryptoError::InvalidPhrase)
        ));
        assert!(matches!(Pair::from_suri("notaword//Alice"), Err(CryptoError::InvalidPhrase)));
        assert!(matches!(Pair::from_suri("//Alice/"), Err(CryptoError::InvalidSuri(_))));
    }

    #[test]
    fn generate_round_trips_through_phrase() {
        let (pair, phrase) = Pair::generate();
        assert_eq!(phrase.split(' ').count(), 12);
        assert_eq!(Pair::from_phrase(&phrase, None).expect("valid").public(), pair.public());
        let (other, _) = Pair::generate();
        assert_ne!(other.public(), pair.public());
    }

    #[test]
    fn secret_bytes_round_trip() {
        let pair = suri("//Alice");
        let bytes = pair.to_secret_bytes();
        let restored = Pair::from_secret_bytes(&bytes).expect("valid secret");
        assert_eq!(restored.public(), pair.public());
        assert_eq!(restored.to_secret_bytes(), bytes);
        assert!(pair.public().verify(b"m", &restored.sign(b"m")));
        // A non-canonical scalar is rejected.
        assert_eq!(
            Pair::from_secret_bytes(&[0xff; 64]).map(|p| p.public()),
            Err(CryptoError::InvalidSecretKey)
        );
    }

    #[test]
    fn sign_and_verify() {
        let pair = suri("//Alice");
        let public = pair.public();
        let sig = pair.sign(b"umbra");
        assert!(public.verify(b"umbra", &sig));
        assert!(!public.verify(b"umbrA", &sig));
        assert!(!suri("//Bob").public().verify(b"umbra", &sig));
        let mut tampered = sig;
        tampered.0[10] ^= 0x01;
        assert!(!public.verify(b"umbra", &tampered));
        // Signatures are randomised but both verify.
        assert_ne!(pair.sign(b"umbra"), sig);
        // Garbage key / signature bytes are simply invalid.
        assert!(!Public([0xff; 32]).verify(b"umbra", &sig));
        assert!(!public.verify(b"umbra", &Signature([0u8; 64])));
    }

    #[test]
    fn from_seed_matches_substrate_vectors() {
        // sp_core::sr25519 `sr_test_vector_should_work` and `seeded_pair_should_work`.
        let mut seed = [0u8; 32];
        hex::decode_to_slice(
            "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
            &mut seed,
        )
        .expect("test vector hex");
        assert_eq!(
            public_hex(&Pair::from_seed(&seed).public()),
            "44a996beb1eef7bdcab976ab6d2ca26104834164ecf28fb375600576fcc6eb0f"
        );
        assert_eq!(
            public_hex(&Pair::from_seed(b"12345678901234567890123456789012").public()),
            "741c08a06f41c596608f6774259bd9043304adfa5d3eea62760bd9be97634d63"
        );
    }

    #[test]
    fn soft_dev_path_matches_substrate() {
        // sp_core::sr25519 `derive_soft_known_pair_should_work`.
        assert_eq!(
            public_hex(&suri(&format!("{DEV_PHRASE}/Alice")).public()),
            "d6c71059dbbe9ad2b0ed3f289738b800836eb425544ce694825285b958ca755e"
        );
        assert_eq!(suri("/Alice").public(), suri(&format!("{DEV_PHRASE}/Alice")).public());
    }

    #[test]
    fn rejects_deprecated_context_free_signatures() {
        // sp_core vectors signed without the "substrate" context: Substrate's modern
        // `Pair::verify` rejects them, and so must we.
        let zero = Pair::from_seed(&[0u8; 32]).public();
        let mut sig = [0u8; 64];
        hex::decode_to_slice(
            "28a854d54903e056f89581c691c1f7d2ff39f8f896c9e9c22475e60902cc2b35\
             47199e0e91fa32902028f2ca2355e8cdd16cfe19ba5e8b658c94aa80f3b81a00",
            &mut sig,
        )
        .expect("test vector hex");
        assert!(!zero.verify(b"SUBSTRATE", &Signature(sig)));

        let public: Public = "0xb4bfa1f7a5166695eb75299fd1c4c03ea212871c342f2c5dfea0902b2c246918"
            .parse()
            .expect("hex public");
        hex::decode_to_slice(
            "5a9755f069939f45d96aaf125cf5ce7ba1db998686f87f2fb3cbdea922078741\
             a73891ba265f70c31436e18a9acd14d189d73c12317ab6c313285cd938453202",
            &mut sig,
        )
        .expect("test vector hex");
        let message = b"Verifying that I am the owner of 5G9hQLdsKQswNPgB499DeA5PkFBbgkLPJWkkS6FAM6xGQ8xD. Hash: 221455a3\n";
        assert!(!public.verify(message, &Signature(sig)));
    }

    #[test]
    fn signing_context_is_substrate() {
        let pair = suri("//Alice");
        let ctx = schnorrkel::signing_context(b"substrate");
        let raw = pair.0.sign(ctx.bytes(b"hello")).to_bytes();
        assert!(pair.public().verify(b"hello", &Signature(raw)));
        let other = pair.0.sign(schnorrkel::signing_context(b"other").bytes(b"hello")).to_bytes();
        assert!(!pair.public().verify(b"hello", &Signature(other)));
    }

    #[test]
    fn vrf_sign_and_verify() {
        let pair = suri("//Alice");
        let public = pair.public();
        let (sig, expected) = pair.vrf_sign_with_randomness(b"epoch-1");
        let randomness = public.vrf_verify(b"epoch-1", &sig).expect("valid vrf");
        assert_eq!(randomness, expected);
        // The output is deterministic for a key and input even though proofs are randomised.
        let sig2 = pair.vrf_sign(b"epoch-1");
        assert_eq!(sig2.pre_output, sig.pre_output);
        assert_eq!(public.vrf_verify(b"epoch-1", &sig2), Ok(randomness));
        // Different input, different randomness.
        let other = pair.vrf_sign(b"epoch-2");
        assert_ne!(public.vrf_verify(b"epoch-2", &other).expect("valid"), randomness);
    }

    #[test]
    fn vrf_rejects_wrong_input_key_or_tampering() {
        let pair = suri("//Alice");
        let public = pair.public();
        let sig = pair.vrf_sign(b"epoch-1");
        assert_eq!(public.vrf_verify(b"epoch-2", &sig), Err(CryptoError::VrfVerificationFailed));
        assert_eq!(
            suri("//Bob").public().vrf_verify(b"epoch-1", &sig),
            Err(CryptoError::VrfVerificationFailed)
        );
        let mut bad_proof = sig;
        bad_proof.proof[3] ^= 0x01;
        assert_eq!(
            public.vrf_verify(b"epoch-1", &bad_proof),
            Err(CryptoError::VrfVerificationFailed)
        );
        let mut bad_out = sig;
        bad_out.pre_output = pair.vrf_sign(b"epoch-2").pre_output;
        assert_eq!(
            public.vrf_verify(b"epoch-1", &bad_out),
            Err(CryptoError::VrfVerificationFailed)
        );
        let mut garbage = sig;
        garbage.pre_output = [0xff; 32];
        assert_eq!(
            public.vrf_verify(b"epoch-1", &garbage),
            Err(CryptoError::VrfVerificationFailed)
        );
        assert_eq!(
            Public([0xff; 32]).vrf_verify(b"epoch-1", &sig),
            Err(CryptoError::InvalidPublicKey)
        );
    }

    #[test]
    fn batch_verification() {
        let pairs: Vec<Pair> =
            ["//Alice", "//Bob", "//Charlie", "//Dave"].iter().map(|s| suri(s)).collect();
        let msgs: Vec<Vec<u8>> = (0..4u8).map(|i| vec![i; 10]).collect();
        let msg_refs: Vec<&[u8]> = msgs.iter().map(Vec::as_slice).collect();
        let mut sigs: Vec<Signature> = pairs.iter().zip(&msgs).map(|(p, m)| p.sign(m)).collect();
        let publics: Vec<Public> = pairs.iter().map(Pair::public).collect();
        assert!(verify_batch(&msg_refs, &sigs, &publics));
        assert!(verify_batch(&[], &[], &[]));
        // Length mismatch.
        assert!(!verify_batch(&msg_refs[..3], &sigs, &publics));
        // One signature by the wrong key.
        let good = sigs[2];
        sigs[2] = pairs[1].sign(&msgs[2]);
        assert!(!verify_batch(&msg_refs, &sigs, &publics));
        // One tampered byte.
        sigs[2] = good;
        sigs[2].0[0] ^= 1;
        assert!(!verify_batch(&msg_refs, &sigs, &publics));
        sigs[2] = good;
        assert!(verify_batch(&msg_refs, &sigs, &publics));
    }

    #[test]
    fn public_display_debug_and_parse() {
        let alice = suri("//Alice").public();
        let addr = "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY";
        assert_eq!(alice.to_string(), addr);
        assert_eq!(format!("{alice:?}"), addr);
        assert_eq!(addr.parse::<Public>(), Ok(alice));
        assert_eq!(
            "0xd43593c715fdd31c61141abd04a99fd6822c8558854ccde39a5684e7a56da27d".parse::<Public>(),
            Ok(alice)
        );
        assert!(matches!("0xd435".parse::<Public>(), Err(CryptoError::InvalidHex(_))));
        assert_eq!(Public::from_ss58(addr), Ok(alice));
        // Polkadot-prefixed address of the same key also parses.
        assert_eq!(
            Public::from_ss58("15oF4uVJwmo4TdGW7VfQxNLavjCXviqxT9S1MgbjMNHr6Sp5"),
            Ok(alice)
        );
    }

    #[test]
    fn pair_debug_hides_secret() {
        let pair = suri("//Alice");
        let dbg = format!("{pair:?}");
        assert!(dbg.contains("5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY"), "{dbg}");
        let secret_hex = hex::encode(pair.to_secret_bytes());
        assert!(!dbg.contains(&secret_hex[..16]), "{dbg}");
        let sig = Signature([0xab; 64]);
        assert_eq!(format!("{sig:?}"), format!("Signature(0x{})", "ab".repeat(64)));
    }

    #[test]
    fn max_encoded_len() {
        assert_eq!(Public::max_encoded_len(), 32);
        assert_eq!(Signature::max_encoded_len(), 64);
        assert_eq!(VrfSignature::max_encoded_len(), 96);
    }

    proptest! {
        #[test]
        fn public_scale_round_trip(bytes in any::<[u8; 32]>()) {
            let p = Public(bytes);
            let enc = p.encode();
            prop_assert_eq!(enc.len(), 32);
            prop_assert_eq!(Public::decode(&mut &enc[..]), Ok(p));
        }

        #[test]
        fn signature_scale_round_trip(a in any::<[u8; 32]>(), b in any::<[u8; 32]>()) {
            let mut raw = [0u8; 64];
            raw[..32].copy_from_slice(&a);
            raw[32..].copy_from_slice(&b);
            let s = Signature(raw);
            prop_assert_eq!(Signature::decode(&mut &s.encode()[..]), Ok(s));
        }

        #[test]
        fn vrf_signature_scale_round_trip(pre in any::<[u8; 32]>(), a in any::<[u8; 32]>(), b in any::<[u8; 32]>()) {
            let mut proof = [0u8; 64];
            proof[..32].copy_from_slice(&a);
            proof[32..].copy_from_slice(&b);
            let v = VrfSignature { pre_output: pre, proof };
            prop_assert_eq!(VrfSignature::decode(&mut &v.encode()[..]), Ok(v));
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(32))]

        #[test]
        fn sign_verify_round_trip(seed in any::<[u8; 32]>(), msg in proptest::collection::vec(any::<u8>(), 0..256)) {
            let pair = Pair::from_seed(&seed);
            let sig = pair.sign(&msg);
            prop_assert!(pair.public().verify(&msg, &sig));
            let mut other = msg.clone();
            other.push(0);
            prop_assert!(!pair.public().verify(&other, &sig));
        }

        #[test]
        fn vrf_round_trip(seed in any::<[u8; 32]>(), input in proptest::collection::vec(any::<u8>(), 0..64)) {
            let pair = Pair::from_seed(&seed);
            let (sig, randomness) = pair.vrf_sign_with_randomness(&input);
            prop_assert_eq!(pair.public().vrf_verify(&input, &sig), Ok(randomness));
        }
    }
}
