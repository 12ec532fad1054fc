//! The simulated platform: a software-only stand-in for a TEE, for development and tests.
//!
//! **It protects nothing.** The host that runs it can read every secret and forge any
//! quote its platform key can sign. It exists so that the whole system (registration,
//! attestation checks, sealing, key hand-over) runs end to end on ordinary machines.
//!
//! Trust model, mirroring a hardware vendor's:
//!
//! * A vendor root key (sr25519) certifies per-host platform keys with a
//!   [`PlatformCertificate`]. Verifiers list the roots they trust in
//!   [`VerifyPolicy::simulated_roots`].
//! * The platform key signs [`SimulatedQuote`]s binding the enclave identity
//!   (measurement, signer), 64 bytes of report data, a timestamp and the platform id.
//! * Sealing uses a key derived from the host seed and the enclave signer (like SGX
//!   MRSIGNER sealing), with ChaCha20-Poly1305 and the label as associated data.

use core::fmt;

use parity_scale_codec::{Decode, Encode};
use umbra_crypto::kdf::hkdf_sha256;
use umbra_crypto::{aead, blake2_256, Pair, Public, Signature};
use zeroize::Zeroizing;

use crate::attestation::{Attestation, VerifiedReport, VerifyPolicy, MAX_CLOCK_SKEW_MS};
use crate::error::{AttestationError, TeeError};
use crate::platform::{AttestationType, Measurement, Platform};

/// A warning to log wherever the simulated platform is in use.
pub const INSECURE_WARNING: &str = "INSECURE: running on the SIMULATED TEE platform. It offers no \
     hardware protection: the host can read all enclave secrets and forge attestations. Use it \
     for development and tests only.";

/// Secret URI of the well-known development vendor root. Anyone can derive it, so quotes
/// certified by it prove nothing; it only lets local networks work out of the box.
pub const DEV_VENDOR_ROOT_URI: &str = "//UmbraSimulatedVendorRoot";

/// Domain prefix of the message a vendor root signs to certify a platform key.
pub const CERT_DOMAIN: &[u8] = b"umbra/sim-platform-cert/v1";

/// Domain prefix of the message a platform key signs to produce a quote.
pub const QUOTE_DOMAIN: &[u8] = b"umbra/sim-quote/v1";

/// Domain prefix of the hash that turns a platform key into a platform id.
const PLATFORM_ID_DOMAIN: &[u8] = b"umbra/sim-platform-id/v1";
/// HKDF salt for every key derived from a host seed.
const KDF_SALT: &[u8] = b"umbra/sim-platform/v1";
/// HKDF info of the platform signing key.
const PLATFORM_KEY_INFO: &[u8] = b"umbra/sim-platform/platform-key/v1";
/// HKDF info prefix of the sealing key (followed by the 32-byte signer).
const SEAL_KEY_INFO: &[u8] = b"umbra/sim-platform/seal-key/v1";
/// Domain prefix of the AEAD associated data of a sealed blob.
const SEAL_AAD_DOMAIN: &[u8] = b"umbra/sim-seal/v1";
/// Format version, the first byte of every sealed blob.
const SEALED_BLOB_VERSION: u8 = 1;
/// Smallest possible sealed blob: version, nonce and tag around an empty plaintext.
const MIN_SEALED_BLOB_LEN: usize = 1 + aead::NONCE_LEN + aead::TAG_LEN;

/// The key pair of the [`DEV_VENDOR_ROOT_URI`] development vendor root.
pub fn dev_vendor_root() -> Pair {
    // The URI is a constant that parses (checked by a unit test).
    Pair::from_suri(DEV_VENDOR_ROOT_URI).expect("DEV_VENDOR_ROOT_URI is a valid secret URI")
}

/// The platform id of a simulated platform with the given platform key.
pub fn simulated_platform_id(platform_key: &Public) -> [u8; 32] {
    blake2_256(&(PLATFORM_ID_DOMAIN, platform_key).encode())
}

/// A vendor root's certification of a simulated platform key.
#[derive(Encode, Decode, Clone, Copy, PartialEq, Eq, Debug)]
pub struct PlatformCertificate {
    /// The certified per-host platform key.
    pub platform_key: Public,
    /// The vendor root that issued the certificate.
    pub root: Public,
    /// The root's signature over [`PlatformCertificate::signing_payload`].
    pub signature: Signature,
}

impl PlatformCertificate {
    /// The message the root signs: SCALE of ([`CERT_DOMAIN`], `platform_key`).
    pub fn signing_payload(platform_key: &Public) -> Vec<u8> {
        (CERT_DOMAIN, platform_key).encode()
    }

    /// Has `root` certify `platform_key`.
    pub fn issue(root: &Pair, platform_key: Public) -> PlatformCertificate {
        PlatformCertificate {
            platform_key,
            root: root.public(),
            signature: root.sign(&Self::signing_payload(&platform_key)),
        }
    }

    /// Whether the signature is the named root's over the platform key. Does not check
    /// that the root is trusted.
    pub fn verify(&self) -> bool {
        self.root.verify(&Self::signing_payload(&self.platform_key), &self.signature)
    }
}

/// A quote of the simulated platform.
#[derive(Encode, Decode, Clone, PartialEq, Eq, Debug)]
pub struct SimulatedQuote {
    /// The enclave's code identity.
    pub measurement: Measurement,
    /// The enclave's signer identity.
    pub signer: [u8; 32],
    /// The 64 bytes of data the enclave binds into the quote.
    pub report_data: [u8; 64],
    /// When the quote was produced, Unix milliseconds.
    pub timestamp_ms: u64,
    /// The platform id, [`simulated_platform_id`] of the certified platform key.
    pub platform_id: [u8; 32],
    /// The vendor root's certificate of the platform key.
    pub certificate: PlatformCertificate,
    /// The platform key's signature over [`SimulatedQuote::signing_payload`].
    pub signature: Signature,
}

impl SimulatedQuote {
    /// The message the platform key signs: SCALE of ([`QUOTE_DOMAIN`], measurement,
    /// signer, report data, timestamp, platform id, certificate).
    pub fn signing_payload(&self) -> Vec<u8> {
        (
            QUOTE_DOMAIN,
            &self.measurement,
            &self.signer,
            &self.report_data,
            self.timestamp_ms,
            &self.platform_id,
            &self.certificate,
        )
            .encode()
    }
}

/// Verifies a simulated quote (the policy's `allow_simulated` is checked by the caller).
pub(crate) fn verify_quote(
    quote: &SimulatedQuote,
    policy: &VerifyPolicy,
) -> Result<VerifiedReport, AttestationError> {
    let cert = &quote.certificate;
    if !policy.simulated_roots.contains(&cert.root) {
        return Err(AttestationError::UnknownRoot(cert.root));
    }
    if !cert.verify() {
        return Err(AttestationError::BadCertificate);
    }
    if quote.platform_id != simulated_platform_id(&cert.platform_key) {
        return Err(AttestationError::Malformed(
            "simulated quote platform id does not match its certified platform key".into(),
        ));
    }
    if !cert.platform_key.verify(&quote.signing_payload(), &quote.signature) {
        return Err(AttestationError::BadQuoteSignature);
    }
    check_freshness(quote.timestamp_ms, policy.now_ms, policy.max_age_ms)?;
    Ok(VerifiedReport {
        kind: AttestationType::Simulated,
        measurement: quote.measurement,
        signer: quote.signer,
        report_data: quote.report_data,
        timestamp_ms: quote.timestamp_ms,
        platform_id: quote.platform_id,
        tcb_status: "Simulated".into(),
        insecure: true,
    })
}

/// Accepts `timestamp_ms` in `[now_ms - max_age_ms, now_ms + MAX_CLOCK_SKEW_MS]`.
fn check_freshness(
    timestamp_ms: u64,
    now_ms: u64,
    max_age_ms: u64,
) -> Result<(), AttestationError> {
    if timestamp_ms > now_ms {
        let ahead_ms = timestamp_ms.saturating_sub(now_ms);
        if ahead_ms > MAX_CLOCK_SKEW_MS {
            return Err(AttestationError::FromFuture { ahead_ms, max_skew_ms: MAX_CLOCK_SKEW_MS });
        }
    } else {
        let age_ms = now_ms.saturating_sub(timestamp_ms);
        if age_ms > max_age_ms {
            return Err(AttestationError::Stale { age_ms, max_ms: max_age_ms });
        }
    }
    Ok(())
}

/// The software-only platform. **Insecure**: see the [module documentation](self) and
/// [`INSECURE_WARNING`].
pub struct SimulatedPlatform {
    measurement: Measurement,
    signer: [u8; 32],
    platform_key: Pair,
    certificate: PlatformCertificate,
    platform_id: [u8; 32],
    seal_key: Zeroizing<[u8; 32]>,
}

impl fmt::Debug for SimulatedPlatform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimulatedPlatform")
            .field("measurement", &hex::encode(self.measurement))
            .field("signer", &hex::encode(self.signer))
            .field("platform_key", &self.platform_key.public())
            .field("root", &self.certificate.root)
            .finish_non_exhaustive()
    }
}

impl SimulatedPlatform {
    /// Builds the platform of a host.
    ///
    /// The platform key and the sealing key derive from `host_seed` (HKDF-SHA256 with
    /// distinct info strings; the sealing key also binds `signer`), and `vendor_root`
    /// certifies the platform key. The same seed, root and signer always give the same
    /// platform, so sealed data survives restarts and enclave upgrades.
    pub fn new(
        host_seed: [u8; 32],
        vendor_root: &Pair,
        measurement: Measurement,
        signer: [u8; 32],
    ) -> SimulatedPlatform {
        let host_seed = Zeroizing::new(host_seed);
        let platform_seed = Zeroizing::new(hkdf_sha256(&*host_seed, KDF_SALT, PLATFORM_KEY_INFO));
        let platform_key = Pair::from_seed(&platform_seed);
        let mut seal_info = Vec::with_capacity(SEAL_KEY_INFO.len().saturating_add(signer.len()));
        seal_info.extend_from_slice(SEAL_KEY_INFO);
        seal_info.extend_from_slice(&signer);
        let seal_key = Zeroizing::new(hkdf_sha256(&*host_seed, KDF_SALT, &seal_info));
        let certificate = PlatformCertificate::issue(vendor_root, platform_key.public());
        let platform_id = simulated_platform_id(&platform_key.public());
        SimulatedPlatform { measurement, signer, platform_key, certificate, platform_id, seal_key }
    }

    /// [`SimulatedPlatform::new`] certified by the [development vendor root](dev_vendor_root).
    pub fn new_dev(
        host_seed: [u8; 32],
        measurement: Measurement,
        signer: [u8; 32],
    ) -> SimulatedPlatform {
        SimulatedPlatform::new(host_seed, &dev_vendor_root(), measurement, signer)
    }

    /// The certificate of this platform's key.
    pub fn certificate(&self) -> &PlatformCertificate {
        &self.certificate
    }

    fn seal_aad(label: &[u8]) -> Vec<u8> {
        (SEAL_AAD_DOMAIN, SEALED_BLOB_VERSION, label).encode()
    }
}

impl Platform for SimulatedPlatform {
    fn kind(&self) -> AttestationType {
        AttestationType::Simulated
    }

    fn measurement(&self) -> Measurement {
        self.measurement
    }

    fn signer(&self) -> [u8; 32] {
        self.signer
    }

    fn platform_id(&self) -> [u8; 32] {
        self.platform_id
    }

    fn quote(&self, report_data: &[u8; 64], now_ms: u64) -> Result<Attestation, TeeError> {
        let mut quote = SimulatedQuote {
            measurement: self.measurement,
            signer: self.signer,
            report_data: *report_data,
            timestamp_ms: now_ms,
            platform_id: self.platform_id,
            certificate: self.certificate,
            signature: Signature([0u8; 64]),
        };
        quote.signature = self.platform_key.sign(&quote.signing_payload());
        Ok(Attestation::Simulated(quote))
    }

    /// Sealed blob format: `version (1) ‖ nonce (12) ‖ ChaCha20-Poly1305 ciphertext ‖ tag`,
    /// with associated data SCALE(`"umbra/sim-seal/v1"`, version, label).
    fn seal(&self, label: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, TeeError> {
        let nonce = aead::random_nonce();
        let ciphertext = aead::encrypt(&self.seal_key, &nonce, &Self::seal_aad(label), plaintext);
        let mut blob =
            Vec::with_capacity(nonce.len().saturating_add(ciphertext.len()).saturating_add(1));
        blob.push(SEALED_BLOB_VERSION);
        blob.extend_from_slice(&nonce);
        blob.extend_from_slice(&ciphertext);
        Ok(blob)
    }

    fn unseal(&self, label: &[u8], blob: &[u8]) -> Result<Vec<u8>, TeeError> {
        if blob.len() < MIN_SEALED_BLOB_LEN {
            return Err(TeeError::MalformedSealedBlob(
                "shorter than version byte, nonce and authentication tag",
            ));
        }
        let (version, rest) = blob.split_at(1);
        if version != [SEALED_BLOB_VERSION] {
            return Err(TeeError::MalformedSealedBlob("unknown sealed blob version"));
        }
        let (nonce, ciphertext) = rest.split_at(aead::NONCE_LEN);
        let nonce: [u8; aead::NONCE_LEN] =
            nonce.try_into().map_err(|_| TeeError::MalformedSealedBlob("bad nonce length"))?;
        aead::decrypt(&self.seal_key, &nonce, &Self::seal_aad(label), ciphertext)
            .map_err(|_| TeeError::UnsealFailed)
    }

    fn is_secure(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attestation::verify;
    use parity_scale_codec::DecodeAll;
    use proptest::prelude::*;

    const NOW: u64 = 1_750_000_000_000;
    const MEASUREMENT: Measurement = [0x11; 32];
    const SIGNER: [u8; 32] = [0x22; 32];
    const HOST_SEED: [u8; 32] = [0x33; 32];

    fn platform() -> SimulatedPlatform {
        SimulatedPlatform::new_dev(HOST_SEED, MEASUREMENT, SIGNER)
    }

    fn report_data() -> [u8; 64] {
        let mut data = [0u8; 64];
        data[..5].copy_from_slice(b"hello");
        data
    }

    fn policy() -> VerifyPolicy {
        VerifyPolicy {
            allow_simulated: true,
            simulated_roots: vec![dev_vendor_root().public()],
            allow_dcap: false,
            allow_tdx: false,
            dcap: crate::DcapPolicy::default(),
            now_ms: NOW,
            max_age_ms: 60_000,
        }
    }

    fn quote_at(p: &SimulatedPlatform, now_ms: u64) -> SimulatedQuote {
        match p.quote(&report_data(), now_ms).unwrap() {
            Attestation::Simulated(q) => q,
            other => panic!("unexpected attestation {other:?}"),
        }
    }

    #[test]
    fn dev_vendor_root_is_stable() {
        assert_eq!(
            dev_vendor_root().public(),
            Pair::from_suri("//UmbraSimulatedVendorRoot").unwrap().public()
        );
    }

    #[test]
    fn quote_verifies_and_reports_identity() {
        let p = platform();
        assert!(!p.is_secure());
        assert_eq!(p.kind(), AttestationType::Simulated);
        let att = p.quote(&report_data(), NOW).unwrap();
        let report = verify(&att, &policy()).unwrap();
        assert_eq!(
            report,
            VerifiedReport {
                kind: AttestationType::Simulated,
                measurement: MEASUREMENT,
                signer: SIGNER,
                report_data: report_data(),
                timestamp_ms: NOW,
                platform_id: p.platform_id(),
                tcb_status: "Simulated".into(),
                insecure: true,
            }
        );
    }

    #[test]
    fn platform_identity_is_deterministic_per_host_seed() {
        let a = platform();
        let b = platform();
        let c = SimulatedPlatform::new_dev([0x44; 32], MEASUREMENT, SIGNER);
        assert_eq!(a.platform_id(), b.platform_id());
        // sr25519 signatures are randomized, so compare the certified key, not the signature.
        assert_eq!(a.certificate().platform_key, b.certificate().platform_key);
        assert!(b.certificate().verify());
        assert_ne!(a.platform_id(), c.platform_id());
        assert_eq!(a.platform_id(), simulated_platform_id(&a.certificate().platform_key));
        // The platform key is not the host seed used directly as a key.
        assert_ne!(a.certificate().platform_key, Pair::from_seed(&HOST_SEED).public());
    }

    #[test]
    fn debug_output_hides_secrets() {
        let text = format!("{:?}", platform());
        assert!(text.contains(&hex::encode(MEASUREMENT)));
        assert!(!text.contains("seal_key"));
    }

    #[test]
    fn simulated_disallowed_by_policy() {
        let att = platform().quote(&report_data(), NOW).unwrap();
        let policy = VerifyPolicy { allow_simulated: false, ..policy() };
        assert_eq!(
            verify(&att, &policy),
            Err(AttestationError::TypeNotAllowed(AttestationType::Simulated))
        );
    }

    #[test]
    fn unknown_root_is_rejected() {
        let other_root = Pair::from_suri("//SomeOtherVendor").unwrap();
        let p = SimulatedPlatform::new(HOST_SEED, &other_root, MEASUREMENT, SIGNER);
        let att = p.quote(&report_data(), NOW).unwrap();
        assert_eq!(
            verify(&att, &policy()),
            Err(AttestationError::UnknownRoot(other_root.public()))
        );
        // Trusting that root makes the same quote acceptable.
        let mut trusting = policy();
        trusting.simulated_roots.push(other_root.public());
        assert!(verify(&att, &trusting).is_ok());
    }

    #[test]
    fn forged_certificate_is_rejected() {
        // A self-made platform key claiming to be certified by the trusted root.
        let p = platform();
        let mut q = quote_at(&p, NOW);
        let rogue = Pair::from_suri("//Rogue").unwrap();
        q.certificate.platform_key = rogue.public();
        q.platform_id = simulated_platform_id(&rogue.public());
        q.signature = rogue.sign(&q.signing_payload());
        assert_eq!(
            verify(&Attestation::Simulated(q), &policy()),
            Err(AttestationError::BadCertificate)
        );
    }

    #[test]
    fn tampered_measurement_is_rejected() {
        let mut q = quote_at(&platform(), NOW);
        q.measurement[0] ^= 1;
        assert_eq!(
            verify(&Attestation::Simulated(q), &policy()),
            Err(AttestationError::BadQuoteSignature)
        );
    }

    #[test]
    fn tampered_report_data_is_rejected() {
        let mut q = quote_at(&platform(), NOW);
        q.report_data[63] ^= 0x80;
        assert_eq!(
            verify(&Attestation::Simulated(q), &policy()),
            Err(AttestationError::BadQuoteSignature)
        );
    }

    #[test]
    fn tampered_signature_is_rejected() {
        let mut q = quote_at(&platform(), NOW);
        q.signature.0[10] ^= 1;
        assert_eq!(
            verify(&Attestation::Simulated(q), &policy()),
            Err(AttestationError::BadQuoteSignature)
        );
    }

    #[test]
    fn mismatched_platform_id_is_rejected() {
        let p = platform();
        let mut q = quote_at(&p, NOW);
        q.platform_id = [0xEE; 32];
        // Even re-signed by the genuine platform key, the id must match the certificate.
        q.signature = p.platform_key.sign(&q.signing_payload());
        assert!(matches!(
            verify(&Attestation::Simulated(q), &policy()),
            Err(AttestationError::Malformed(_))
        ));
    }

    #[test]
    fn stale_quote_is_rejected() {
        let q = quote_at(&platform(), NOW - 60_001);
        assert_eq!(
            verify(&Attestation::Simulated(q), &policy()),
            Err(AttestationError::Stale { age_ms: 60_001, max_ms: 60_000 })
        );
        // Exactly at the maximum age is still fresh.
        let q = quote_at(&platform(), NOW - 60_000);
        assert!(verify(&Attestation::Simulated(q), &policy()).is_ok());
    }

    #[test]
    fn future_quote_is_rejected() {
        let q = quote_at(&platform(), NOW + MAX_CLOCK_SKEW_MS + 1);
        assert_eq!(
            verify(&Attestation::Simulated(q), &policy()),
            Err(AttestationError::FromFuture {
                ahead_ms: MAX_CLOCK_SKEW_MS + 1,
                max_skew_ms: MAX_CLOCK_SKEW_MS
            })
        );
        // Within the skew it is accepted.
        let q = quote_at(&platform(), NOW + MAX_CLOCK_SKEW_MS);
        assert!(verify(&Attestation::Simulated(q), &policy()).is_ok());
    }

    #[test]
    fn freshness_handles_extreme_times() {
        assert!(check_freshness(u64::MAX, 0, u64::MAX).is_err());
        assert!(check_freshness(0, u64::MAX, u64::MAX).is_ok());
        assert!(check_freshness(0, u64::MAX, 0).is_err());
    }

    #[test]
    fn seal_unseal_round_trip() {
        let p = platform();
        let blob = p.seal(b"identity", b"secret key material").unwrap();
        assert_eq!(blob.len(), 1 + aead::NONCE_LEN + 19 + aead::TAG_LEN);
        assert_eq!(p.unseal(b"identity", &blob).unwrap(), b"secret key material");
        // Fresh nonce per call.
        assert_ne!(blob, p.seal(b"identity", b"secret key material").unwrap());
        // Empty plaintext and label work too.
        let empty = p.seal(b"", b"").unwrap();
        assert_eq!(p.unseal(b"", &empty).unwrap(), b"");
    }

    #[test]
    fn unseal_rejects_tampered_blob() {
        let p = platform();
        let blob = p.seal(b"identity", b"secret").unwrap();
        for i in 1..blob.len() {
            let mut bad = blob.clone();
            bad[i] ^= 0x01;
            assert_eq!(p.unseal(b"identity", &bad), Err(TeeError::UnsealFailed), "byte {i}");
        }
        let mut bad_version = blob.clone();
        bad_version[0] = 2;
        assert!(matches!(
            p.unseal(b"identity", &bad_version),
            Err(TeeError::MalformedSealedBlob(_))
        ));
        assert!(matches!(
            p.unseal(b"identity", &blob[..MIN_SEALED_BLOB_LEN - 1]),
            Err(TeeError::MalformedSealedBlob(_))
        ));
        assert!(matches!(p.unseal(b"identity", &[]), Err(TeeError::MalformedSealedBlob(_))));
    }

    #[test]
    fn unseal_rejects_other_label() {
        let p = platform();
        let blob = p.seal(b"identity", b"secret").unwrap();
        assert_eq!(p.unseal(b"identity2", &blob), Err(TeeError::UnsealFailed));
    }

    #[test]
    fn unseal_rejects_other_host() {
        let blob = platform().seal(b"identity", b"secret").unwrap();
        let other = SimulatedPlatform::new_dev([0x44; 32], MEASUREMENT, SIGNER);
        assert_eq!(other.unseal(b"identity", &blob), Err(TeeError::UnsealFailed));
    }

    #[test]
    fn sealing_is_signer_bound() {
        let blob = platform().seal(b"identity", b"secret").unwrap();
        // An upgraded enclave (new measurement, same signer, same host) can unseal.
        let upgraded = SimulatedPlatform::new_dev(HOST_SEED, [0x99; 32], SIGNER);
        assert_eq!(upgraded.unseal(b"identity", &blob).unwrap(), b"secret");
        // An enclave of another signer on the same host cannot.
        let foreign = SimulatedPlatform::new_dev(HOST_SEED, MEASUREMENT, [0x77; 32]);
        assert_eq!(foreign.unseal(b"identity", &blob), Err(TeeError::UnsealFailed));
        // The vendor root plays no part in sealing.
        let other_root = Pair::from_suri("//SomeOtherVendor").unwrap();
        let recertified = SimulatedPlatform::new(HOST_SEED, &other_root, MEASUREMENT, SIGNER);
        assert_eq!(recertified.unseal(b"identity", &blob).unwrap(), b"secret");
    }

    #[test]
    fn platform_usable_as_trait_object() {
        let p: Box<dyn Platform> = Box::new(platform());
        assert_eq!(p.measurement(), MEASUREMENT);
        assert_eq!(p.signer(), SIGNER);
        assert!(INSECURE_WARNING.contains("INSECURE"));
    }

    fn any_quote() -> impl Strategy<Value = SimulatedQuote> {
        (
            any::<[u8; 32]>(),
            any::<[u8; 32]>(),
            prop::collection::vec(any::<u8>(), 64),
            any::<u64>(),
            any::<[u8; 32]>(),
            any::<([u8; 32], [u8; 32])>(),
            prop::collection::vec(any::<u8>(), 128),
        )
            .prop_map(
                |(measurement, signer, data, timestamp_ms, platform_id, keys, sigs)| {
                    let mut report_data = [0u8; 64];
                    report_data.copy_from_slice(&data);
                    let mut cert_sig = [0u8; 64];
                    cert_sig.copy_from_slice(&sigs[..64]);
                    let mut quote_sig = [0u8; 64];
                    quote_sig.copy_from_slice(&sigs[64..]);
                    SimulatedQuote {
                        measurement,
                        signer,
                        report_data,
                        timestamp_ms,
                        platform_id,
                        certificate: PlatformCertificate {
                            platform_key: Public(keys.0),
                            root: Public(keys.1),
                            signature: Signature(cert_sig),
                        },
                        signature: Signature(quote_sig),
                    }
                },
            )
    }

    proptest! {
        #[test]
        fn simulated_quote_scale_round_trip(q in any_quote()) {
            let bytes = q.encode();
            prop_assert_eq!(SimulatedQuote::decode_all(&mut &bytes[..]).unwrap(), q.clone());
            let att = Attestation::Simulated(q);
            let bytes = att.encode();
            prop_assert_eq!(Attestation::decode_all(&mut &bytes[..]).unwrap(), att);
        }

        #[test]
        fn certificate_scale_round_trip(q in any_quote()) {
            let bytes = q.certificate.encode();
            prop_assert_eq!(PlatformCertificate::decode_all(&mut &bytes[..]).unwrap(), q.certificate);
        }

        #[test]
        fn arbitrary_quotes_never_verify(q in any_quote()) {
            prop_assert!(verify(&Attestation::Simulated(q), &policy()).is_err());
        }

        #[test]
        fn unseal_of_arbitrary_bytes_fails_cleanly(blob in prop::collection::vec(any::<u8>(), 0..128)) {
            prop_assert!(platform().unseal(b"label", &blob).is_err());
        }

        #[test]
        fn seal_round_trips_any_plaintext(
            label in prop::collection::vec(any::<u8>(), 0..32),
            plaintext in prop::collection::vec(any::<u8>(), 0..256),
        ) {
            let p = platform();
            let blob = p.seal(&label, &plaintext).unwrap();
            prop_assert_eq!(p.unseal(&label, &blob).unwrap(), plaintext);
        }
    }
}
