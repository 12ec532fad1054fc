// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {Umbra} from "./Precompiles.sol";

/// @title Private assets: private balances of UMB and of issued tokens.
/// @notice Asset 0 is UMB itself: `deposit` moves public UMB (the command's value) into a private
/// balance, `withdraw` pays it back out to a chain account. Anyone can `issue` a token; its
/// whole supply starts in the issuer's private balance. `transfer` moves any asset privately.
/// A balance answers only to its owner (`balanceOf` has no account parameter). Supply is
/// conserved: the UMB balances always sum to this contract's own balance, an issued asset's
/// balances to its supply.
///
/// Metadata the contract keeps small: every transfer has the same calldata size, never
/// reverts for lack of funds (it returns `(false, balance)` instead, so a refused transfer's
/// result has the same size and status as an accepted one), emits no log and uses the same
/// gas (`TRANSFER_GAS`, padded), so the fee it pays on chain tells nothing either.
contract PrivateAssets {
    struct Asset {
        string name;
        string symbol;
        uint256 supply;
        address issuer;
    }

    /// Asset 0: UMB held privately.
    uint256 public constant UMB = 0;

    Asset[] private assets;
    mapping(uint256 => mapping(address => uint256)) private balances;

    /// No asset with that id.
    error NoSuchAsset(uint256 asset);
    /// A withdrawal of more UMB than the caller holds privately.
    error InsufficientPrivateBalance(uint256 balance, uint256 needed);
    /// A zero amount, or a transfer to the zero address.
    error ZeroAmount();
    error ZeroAddress();

    constructor() {
        assets.push(Asset({name: "Umbra", symbol: "UMB", supply: 0, issuer: address(0)}));
    }

    /// Moves the command's value (public UMB) into the caller's private UMB balance.
    function deposit() external payable returns (uint256 balance) {
        if (msg.value == 0) revert ZeroAmount();
        balance = balances[UMB][msg.sender] + msg.value;
        balances[UMB][msg.sender] = balance;
        assets[UMB].supply += msg.value;
    }

    /// Pays `amount` of the caller's private UMB to the chain account `to` (a 32-byte key).
    function withdraw(uint256 amount, bytes32 to) external returns (uint256 balance) {
        if (amount == 0) revert ZeroAmount();
        uint256 held = balances[UMB][msg.sender];
        if (held < amount) revert InsufficientPrivateBalance(held, amount);
        balance = held - amount;
        balances[UMB][msg.sender] = balance;
        assets[UMB].supply -= amount;
        Umbra.payout(to, amount);
    }

    /// Issues a new asset; its whole supply starts in the caller's private balance.
    function issue(string calldata name, string calldata symbol, uint256 supply)
        external
        returns (uint256 asset)
    {
        if (supply == 0) revert ZeroAmount();
        asset = assets.length;
        assets.push(Asset({name: name, symbol: symbol, supply: supply, issuer: msg.sender}));
        balances[asset][msg.sender] = supply;
    }

    /// Gas every `transfer` that does not revert uses in all (through the gas-padding
    /// precompile), above its costliest path (an accepted transfer to a new recipient, about
    /// 60,000): the fee the chain charges does not tell an accepted transfer from a refused one,
    /// nor a new recipient from a known one.
    uint256 internal constant TRANSFER_GAS = 80_000;

    /// Moves `amount` of `asset` from the caller to `to`. Does not revert for lack of funds:
    /// `ok` is false and nothing moves; `balance` is the caller's balance afterwards. Uses
    /// `TRANSFER_GAS` whatever the outcome (give a gas limit of at least that).
    function transfer(uint256 asset, address to, uint256 amount)
        external
        returns (bool ok, uint256 balance)
    {
        if (asset >= assets.length) revert NoSuchAsset(asset);
        if (to == address(0)) revert ZeroAddress();
        uint256 held = balances[asset][msg.sender];
        if (held >= amount) {
            balance = held - amount;
            balances[asset][msg.sender] = balance;
            balances[asset][to] += amount;
            ok = true;
        } else {
            balance = held;
        }
        Umbra.padGas(TRANSFER_GAS);
    }

    /// The caller's own balance of `asset` (nobody can ask for another account's).
    function balanceOf(uint256 asset) external view returns (uint256) {
        if (asset >= assets.length) revert NoSuchAsset(asset);
        return balances[asset][msg.sender];
    }

    /// Public facts of an asset: name, symbol, total supply, issuer.
    function assetInfo(uint256 asset)
        external
        view
        returns (string memory name, string memory symbol, uint256 supply, address issuer)
    {
        if (asset >= assets.length) revert NoSuchAsset(asset);
        Asset storage a = assets[asset];
        return (a.name, a.symbol, a.supply, a.issuer);
    }

    /// Number of assets (UMB included).
    function assetCount() external view returns (uint256) {
        return assets.length;
    }
}
