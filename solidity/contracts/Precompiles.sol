// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

/// @title Umbra's EVM precompiles, as this repository's contracts call them.
/// @notice Addresses (see docs/EVM.md): 0x…0a01 publishes an event in cleartext on the chain,
/// 0x…0a02 pays out to a chain account (32-byte public key) from the calling contract's
/// balance, 0x…0a03 returns 32 bytes of randomness from the enclave, 0x…0a04 pads the gas a
/// successful command uses (and its sender pays) to a floor.
library Umbra {
    address internal constant PUBLIC_EVENT = address(0x0000000000000000000000000000000000000a01);
    address internal constant PAYOUT = address(0x0000000000000000000000000000000000000a02);
    address internal constant RANDOMNESS = address(0x0000000000000000000000000000000000000a03);
    address internal constant GAS_PAD = address(0x0000000000000000000000000000000000000a04);

    error PrecompileFailed(address precompile, bytes returned);

    /// Publishes `payload` in cleartext (everything else the cluster emits stays encrypted).
    function publicEvent(bytes memory payload) internal {
        (bool ok, bytes memory ret) = PUBLIC_EVENT.call(payload);
        if (!ok) revert PrecompileFailed(PUBLIC_EVENT, ret);
    }

    /// Pays `amount` (smallest chain unit) from the calling contract to the chain account `to`.
    function payout(bytes32 to, uint256 amount) internal {
        (bool ok, bytes memory ret) = PAYOUT.call(abi.encode(to, amount));
        if (!ok) revert PrecompileFailed(PAYOUT, ret);
    }

    /// Makes the command use at least `target` gas in all if it succeeds (at most its gas
    /// limit): gas is visible on chain, so paths that must not be told apart pad to one figure.
    function padGas(uint256 target) internal {
        (bool ok, bytes memory ret) = GAS_PAD.call(abi.encode(target));
        if (!ok) revert PrecompileFailed(GAS_PAD, ret);
    }

    /// 32 bytes of randomness.
    function random() internal view returns (bytes32) {
        (bool ok, bytes memory ret) = RANDOMNESS.staticcall("");
        if (!ok || ret.length != 32) revert PrecompileFailed(RANDOMNESS, ret);
        return abi.decode(ret, (bytes32));
    }
}

/// @title A confidential raffle: entries are private, the winner is announced publicly and paid
/// out to a chain account.
contract Raffle {
    address public immutable owner;
    bytes32[] private entries;

    event Entered(address indexed by, uint256 entries);
    event Drawn(bytes32 winner, uint256 prize);

    error OnlyOwner(address caller);
    error NoEntries();

    constructor() {
        owner = msg.sender;
    }

    /// Enters the chain account `account` (a 32-byte public key) into the raffle.
    function enter(bytes32 account) external {
        entries.push(account);
        emit Entered(msg.sender, entries.length);
    }

    /// Draws a winner with the randomness precompile, publishes it through the public-event
    /// precompile and pays `prize` to it through the payout precompile.
    function draw(uint256 prize) external returns (bytes32 winner) {
        if (msg.sender != owner) revert OnlyOwner(msg.sender);
        if (entries.length == 0) revert NoEntries();
        uint256 index = uint256(Umbra.random()) % entries.length;
        winner = entries[index];
        delete entries;
        Umbra.publicEvent(abi.encode("raffle-winner", winner, prize));
        Umbra.payout(winner, prize);
        emit Drawn(winner, prize);
    }

    /// Publishes an arbitrary message in cleartext.
    function announce(string calldata message) external {
        Umbra.publicEvent(bytes(message));
    }

    /// Returns 32 bytes from the randomness precompile.
    function random() external view returns (bytes32) {
        return Umbra.random();
    }

    /// Accepts value so the contract can fund payouts.
    receive() external payable {}
}
