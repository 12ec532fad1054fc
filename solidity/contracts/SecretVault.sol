// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

/// @title Secret vault: keeps a secret (say, a private key) and releases it only to an identity
/// that passes its owner's policy.
/// @notice A policy is: accounts allowed to claim; M of N guardians approving each claim
/// (M = 0: none needed); a time lock of `delay` blocks between a claim's request and the claim;
/// optionally release-once. The owner can rotate the secret (old requests and approvals no
/// longer count), revoke it (deleted for good) and read a release log nobody else can. An owner
/// who lost their key recovers the vault through the guardians (M approvals and the same time
/// lock): the recovering account becomes the owner and receives the secret.
///
/// The secret leaves the cluster only inside the claimant's private receipt (encrypted to that
/// account); every release is a transaction, so every release is in the log.
contract SecretVault {
    struct Vault {
        address owner;
        bytes secret;
        /// Bumped by `rotate`: requests and approvals are per version.
        uint64 version;
        uint64 delay;
        uint8 threshold;
        bool once;
        bool released;
        bool revoked;
        address[] guardians;
        address[] allowed;
    }

    /// One release: to whom, in which block, and whether it was a recovery.
    struct Release {
        address to;
        uint64 blockNumber;
        bool recovery;
    }

    uint8 internal constant CLAIM = 0;
    uint8 internal constant RECOVERY = 1;
    uint256 public constant MAX_GUARDIANS = 16;
    uint256 public constant MAX_ALLOWED = 32;
    uint256 public constant MAX_SECRET = 1024;

    Vault[] private vaults;
    mapping(uint256 => Release[]) private releases;
    /// keccak(vault, version, kind, account) => block of the request + 1 (0: none).
    mapping(bytes32 => uint256) private requests;
    /// keccak(vault, version, kind, account) => approvals so far.
    mapping(bytes32 => uint256) private approvals;
    /// keccak(vault, version, kind, account, guardian) => approved.
    mapping(bytes32 => bool) private approvedBy;

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

    function _vault(uint256 id) private view returns (Vault storage v) {
        if (id >= vaults.length) revert NoSuchVault(id);
        v = vaults[id];
    }

    function _owned(uint256 id) private view returns (Vault storage v) {
        v = _vault(id);
        if (msg.sender != v.owner) revert NotOwner(msg.sender);
    }

    function _key(uint256 id, Vault storage v, uint8 kind, address account)
        private
        view
        returns (bytes32)
    {
        return keccak256(abi.encode(id, v.version, kind, account));
    }

    function _isIn(address[] storage list, address who) private view returns (bool) {
        for (uint256 i = 0; i < list.length; i++) {
            if (list[i] == who) return true;
        }
        return false;
    }

    function _checkSecret(bytes calldata secret) private pure {
        if (secret.length == 0 || secret.length > MAX_SECRET) {
            revert BadPolicy("the secret must be 1 to 1024 bytes");
        }
    }

    /// Stores `secret` under a new vault owned by the caller.
    function create(
        bytes calldata secret,
        address[] calldata guardians,
        uint8 threshold,
        uint64 delay,
        bool once,
        address[] calldata allowed
    ) external returns (uint256 id) {
        _checkSecret(secret);
        if (guardians.length > MAX_GUARDIANS) revert BadPolicy("at most 16 guardians");
        if (allowed.length > MAX_ALLOWED) revert BadPolicy("at most 32 allowed accounts");
        if (threshold > guardians.length) revert BadPolicy("threshold above the guardian count");
        if (guardians.length > 0 && threshold == 0) {
            revert BadPolicy("guardians without a threshold");
        }
        for (uint256 i = 0; i < guardians.length; i++) {
            if (guardians[i] == address(0)) revert BadPolicy("zero guardian");
            for (uint256 j = 0; j < i; j++) {
                if (guardians[i] == guardians[j]) revert BadPolicy("duplicate guardian");
            }
        }
        id = vaults.length;
        Vault storage v = vaults.push();
        v.owner = msg.sender;
        v.secret = secret;
        v.delay = delay;
        v.threshold = threshold;
        v.once = once;
        v.guardians = guardians;
        v.allowed = allowed;
    }

    /// Allows (`yes`) or stops allowing `account` to claim the secret.
    function allow(uint256 id, address account, bool yes) external {
        Vault storage v = _owned(id);
        bool present = _isIn(v.allowed, account);
        if (yes && !present) {
            if (v.allowed.length >= MAX_ALLOWED) revert BadPolicy("at most 32 allowed accounts");
            v.allowed.push(account);
        } else if (!yes && present) {
            for (uint256 i = 0; i < v.allowed.length; i++) {
                if (v.allowed[i] == account) {
                    v.allowed[i] = v.allowed[v.allowed.length - 1];
                    v.allowed.pop();
                    break;
                }
            }
        }
    }

    /// Replaces the secret. Pending requests and approvals no longer count; a release-once vault
    /// can be released again.
    function rotate(uint256 id, bytes calldata secret) external {
        Vault storage v = _owned(id);
        if (v.revoked) revert Revoked(id);
        _checkSecret(secret);
        v.secret = secret;
        v.version += 1;
        v.released = false;
    }

    /// Deletes the secret for good.
    function revoke(uint256 id) external {
        Vault storage v = _owned(id);
        delete v.secret;
        v.revoked = true;
        v.version += 1;
    }

    /// Starts the time lock of a claim by the caller (an allowed account); returns the block
    /// from which it can claim.
    function request(uint256 id) external returns (uint256 unlockBlock) {
        Vault storage v = _vault(id);
        if (v.revoked) revert Revoked(id);
        if (!_isIn(v.allowed, msg.sender)) revert NotAllowed(msg.sender);
        return _request(id, v, CLAIM);
    }

    /// Starts the time lock of a recovery by the caller (the owner's new account).
    function requestRecovery(uint256 id) external returns (uint256 unlockBlock) {
        Vault storage v = _vault(id);
        if (v.revoked) revert Revoked(id);
        if (v.threshold == 0) revert NoRecovery(id);
        return _request(id, v, RECOVERY);
    }

    function _request(uint256 id, Vault storage v, uint8 kind) private returns (uint256) {
        requests[_key(id, v, kind, msg.sender)] = block.number + 1;
        return block.number + v.delay;
    }

    /// A guardian approves a claim by `account`.
    function approve(uint256 id, address account) external returns (uint256 count) {
        return _approve(id, CLAIM, account);
    }

    /// A guardian approves a recovery to `newOwner`.
    function approveRecovery(uint256 id, address newOwner) external returns (uint256 count) {
        return _approve(id, RECOVERY, newOwner);
    }

    function _approve(uint256 id, uint8 kind, address account) private returns (uint256) {
        Vault storage v = _vault(id);
        if (v.revoked) revert Revoked(id);
        if (!_isIn(v.guardians, msg.sender)) revert NotGuardian(msg.sender);
        bytes32 key = _key(id, v, kind, account);
        bytes32 mine = keccak256(abi.encode(key, msg.sender));
        if (approvedBy[mine]) revert AlreadyApproved(msg.sender);
        approvedBy[mine] = true;
        approvals[key] += 1;
        return approvals[key];
    }

    /// Releases the secret to the caller if the policy allows it; the secret is returned in the
    /// caller's private receipt, and the release is logged.
    function claim(uint256 id) external returns (bytes memory secret) {
        Vault storage v = _vault(id);
        if (v.revoked) revert Revoked(id);
        if (!_isIn(v.allowed, msg.sender)) revert NotAllowed(msg.sender);
        if (v.once && v.released) revert AlreadyReleased(id);
        _checkGates(id, v, CLAIM);
        v.released = true;
        releases[id].push(Release(msg.sender, uint64(block.number), false));
        return v.secret;
    }

    /// The owner's new account takes the vault over once M guardians approved it and the time
    /// lock passed; the secret is returned in its private receipt.
    function recover(uint256 id) external returns (bytes memory secret) {
        Vault storage v = _vault(id);
        if (v.revoked) revert Revoked(id);
        if (v.threshold == 0) revert NoRecovery(id);
        _checkGates(id, v, RECOVERY);
        releases[id].push(Release(msg.sender, uint64(block.number), true));
        v.owner = msg.sender;
        secret = v.secret;
        // Everything granted under the old owner's key starts over.
        v.version += 1;
    }

    function _checkGates(uint256 id, Vault storage v, uint8 kind) private view {
        bytes32 key = _key(id, v, kind, msg.sender);
        if (v.delay > 0 || kind == RECOVERY) {
            uint256 requested = requests[key];
            if (requested == 0) revert NotRequested(msg.sender);
            uint256 unlock = requested - 1 + v.delay;
            if (block.number < unlock) revert TimeLocked(unlock, block.number);
        }
        if (approvals[key] < v.threshold) revert ApprovalsMissing(approvals[key], v.threshold);
    }

    /// The owner reads the secret back.
    function secretOf(uint256 id) external view returns (bytes memory) {
        Vault storage v = _owned(id);
        if (v.revoked) revert Revoked(id);
        return v.secret;
    }

    /// The owner reads the policy.
    function policy(uint256 id)
        external
        view
        returns (
            address[] memory guardians,
            uint8 threshold,
            uint64 delay,
            bool once,
            bool released,
            bool revoked,
            address[] memory allowed
        )
    {
        Vault storage v = _owned(id);
        return (v.guardians, v.threshold, v.delay, v.once, v.released, v.revoked, v.allowed);
    }

    /// The owner reads the release log.
    function releaseLog(uint256 id) external view returns (Release[] memory) {
        _owned(id);
        return releases[id];
    }

    /// The vaults the caller owns.
    function myVaults() external view returns (uint256[] memory ids) {
        uint256 n = 0;
        for (uint256 i = 0; i < vaults.length; i++) {
            if (vaults[i].owner == msg.sender) n++;
        }
        ids = new uint256[](n);
        n = 0;
        for (uint256 i = 0; i < vaults.length; i++) {
            if (vaults[i].owner == msg.sender) ids[n++] = i;
        }
    }
}
