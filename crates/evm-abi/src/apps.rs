//! Typed bindings (alloy's `sol!`) of the application contracts in `solidity/contracts/`:
//! `PrivateAssets`, `SecretVault` and `MysteryBoxes` (docs/APPS.md), with their compiled
//! artifacts. A test checks every binding against the artifact's ABI, so the two cannot drift.

#![allow(missing_docs)]

use alloy_sol_types::sol;

/// `solidity/artifacts/PrivateAssets.json`.
pub const PRIVATE_ASSETS_ARTIFACT: &str =
    include_str!("../../../solidity/artifacts/PrivateAssets.json");
/// `solidity/artifacts/SecretVault.json`.
pub const SECRET_VAULT_ARTIFACT: &str =
    include_str!("../../../solidity/artifacts/SecretVault.json");
/// `solidity/artifacts/MysteryBoxes.json`.
pub const MYSTERY_BOXES_ARTIFACT: &str =
    include_str!("../../../solidity/artifacts/MysteryBoxes.json");

sol! {
    #[derive(Debug, PartialEq, Eq)]
    interface PrivateAssets {
        error NoSuchAsset(uint256 asset);
        error InsufficientPrivateBalance(uint256 balance, uint256 needed);
        error ZeroAmount();
        error ZeroAddress();
        error PrecompileFailed(address precompile, bytes returned);

        function UMB() external view returns (uint256);
        function deposit() external payable returns (uint256 balance);
        function withdraw(uint256 amount, bytes32 to) external returns (uint256 balance);
        function issue(string name, string symbol, uint256 supply) external returns (uint256 asset);
        function transfer(uint256 asset, address to, uint256 amount) external returns (bool ok, uint256 balance);
        function balanceOf(uint256 asset) external view returns (uint256);
        function assetInfo(uint256 asset) external view returns (string name, string symbol, uint256 supply, address issuer);
        function assetCount() external view returns (uint256);
    }

    #[derive(Debug, PartialEq, Eq)]
    interface SecretVault {
        struct Release {
            address to;
            uint64 blockNumber;
            bool recovery;
        }

        error NoSuchVault(uint256 vault);
        error NotOwner(address caller);
        error NotGuardian(address caller);
        error NotAllowed(address caller);
        error Revoked(uint256 vault);
        error AlreadyReleased(uint256 vault);
        error NotRequested(address account);
        error TimeLocked(uint256 unlockBlock, uint256 currentBlock);
        error ApprovalsMissing(uint256 have, uint256 need);
        error AlreadyApproved(address guardian);
        error NoRecovery(uint256 vault);
        error BadPolicy(string reason);

        function MAX_GUARDIANS() external view returns (uint256);
        function MAX_ALLOWED() external view returns (uint256);
        function MAX_SECRET() external view returns (uint256);
        function create(bytes secret, address[] guardians, uint8 threshold, uint64 delay, bool once, address[] allowed) external returns (uint256 id);
        function allow(uint256 id, address account, bool yes) external;
        function rotate(uint256 id, bytes secret) external;
        function revoke(uint256 id) external;
        function request(uint256 id) external returns (uint256 unlockBlock);
        function requestRecovery(uint256 id) external returns (uint256 unlockBlock);
        function approve(uint256 id, address account) external returns (uint256 count);
        function approveRecovery(uint256 id, address newOwner) external returns (uint256 count);
        function claim(uint256 id) external returns (bytes secret);
        function recover(uint256 id) external returns (bytes secret);
        function secretOf(uint256 id) external view returns (bytes);
        function policy(uint256 id) external view returns (address[] guardians, uint8 threshold, uint64 delay, bool once, bool released, bool revoked, address[] allowed);
        function releaseLog(uint256 id) external view returns (Release[]);
        function myVaults() external view returns (uint256[] ids);
    }

    #[derive(Debug, PartialEq, Eq)]
    interface MysteryBoxes {
        error NoSuchBox(uint256 collection, uint256 box);
        error NoSuchCollection(uint256 collection);
        error NotBoxOwner(address caller);
        error AlreadyOpened(uint256 collection, uint256 box);
        error NotOpened(uint256 collection, uint256 box);
        error NotListed(uint256 collection, uint256 box);
        error WrongPrice(uint256 price, uint256 paid);
        error BadCollection(string reason);
        error ZeroAddress();
        error PrecompileFailed(address precompile, bytes returned);

        function MAX_ITEMS() external view returns (uint256);
        function MAX_ITEM_BYTES() external view returns (uint256);
        function commitment(string item, bytes32 salt) external pure returns (bytes32);
        function mint(string name, string[] items) external returns (uint256 c);
        function transfer(uint256 c, uint256 box, address to) external;
        function list(uint256 c, uint256 box, uint256 price, bytes32 payTo) external;
        function buy(uint256 c, uint256 box) external payable;
        function open(uint256 c, uint256 box) external returns (string item, bytes32 salt);
        function contents(uint256 c, uint256 box) external view returns (string item, bytes32 salt);
        function collectionInfo(uint256 c) external view returns (string name, address creator, bytes32[] commitments, bool[] opened);
        function priceOf(uint256 c, uint256 box) external view returns (uint256);
        function myBoxes(uint256 c) external view returns (uint256[] boxes);
        function collectionCount() external view returns (uint256);
    }
}

/// The commitment to a mystery-box item, computed here (not by the contract):
/// keccak256(bytes(item) ‖ salt), as `MysteryBoxes.commitment`.
pub fn box_commitment(item: &str, salt: &[u8; 32]) -> [u8; 32] {
    let mut bytes = item.as_bytes().to_vec();
    bytes.extend_from_slice(salt);
    alloy_primitives::keccak256(bytes).0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Artifact;
    use alloy_sol_types::{SolCall, SolInterface};
    use std::collections::BTreeSet;

    fn artifact_selectors(json: &str) -> (BTreeSet<[u8; 4]>, BTreeSet<[u8; 4]>) {
        let a = Artifact::from_json(json).unwrap();
        let functions = a.abi.functions().map(|f| f.selector().0).collect();
        let errors = a.abi.errors().map(|e| e.selector().0).collect();
        (functions, errors)
    }

    fn check<C: SolInterface, E: SolInterface>(json: &str) {
        let (functions, errors) = artifact_selectors(json);
        for s in C::selectors() {
            assert!(functions.contains(&s), "function selector {s:02x?} is not in the artifact");
        }
        for s in E::selectors() {
            assert!(errors.contains(&s), "error selector {s:02x?} is not in the artifact");
        }
        assert_eq!(C::selectors().count(), functions.len(), "every function is bound");
    }

    #[test]
    fn bindings_match_the_compiled_artifacts() {
        check::<PrivateAssets::PrivateAssetsCalls, PrivateAssets::PrivateAssetsErrors>(
            PRIVATE_ASSETS_ARTIFACT,
        );
        check::<SecretVault::SecretVaultCalls, SecretVault::SecretVaultErrors>(
            SECRET_VAULT_ARTIFACT,
        );
        check::<MysteryBoxes::MysteryBoxesCalls, MysteryBoxes::MysteryBoxesErrors>(
            MYSTERY_BOXES_ARTIFACT,
        );
    }

    #[test]
    fn a_commitment_is_keccak_of_item_and_salt() {
        let salt = [7u8; 32];
        let c = box_commitment("Golden Dragon", &salt);
        let again = box_commitment("Golden Dragon", &salt);
        assert_eq!(c, again);
        assert_ne!(c, box_commitment("Golden Dragoon", &salt));
        assert_ne!(c, box_commitment("Golden Dragon", &[8u8; 32]));
        // The call encoding the CLI would send for the same check.
        let call = MysteryBoxes::commitmentCall { item: "x".into(), salt: salt.into() };
        assert_eq!(call.abi_encode()[..4], MysteryBoxes::commitmentCall::SELECTOR);
    }
}
