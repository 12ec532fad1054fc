// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

/// @title A confidential ERC-20 token.
/// @notice The cluster's state is encrypted, so balances are private by default; `balanceOf`
/// additionally answers only to the account itself (msg.sender == account), so one holder
/// cannot read another's balance through a call either.
contract Token {
    string public name;
    string public symbol;
    uint8 public constant decimals = 18;
    uint256 public totalSupply;

    mapping(address => uint256) private balances;
    mapping(address => mapping(address => uint256)) private allowances;

    event Transfer(address indexed from, address indexed to, uint256 value);
    event Approval(address indexed owner, address indexed spender, uint256 value);

    /// The caller asked for another account's balance or allowance.
    error NotOwner(address caller, address account);
    /// A transfer of more than the sender holds.
    error InsufficientBalance(address account, uint256 balance, uint256 needed);
    /// A transferFrom of more than the spender is allowed.
    error InsufficientAllowance(address spender, uint256 allowance, uint256 needed);
    /// A transfer to the zero address.
    error ZeroAddress();

    constructor(string memory name_, string memory symbol_, uint256 supply) {
        name = name_;
        symbol = symbol_;
        totalSupply = supply;
        balances[msg.sender] = supply;
        emit Transfer(address(0), msg.sender, supply);
    }

    /// Only the account itself may read its balance.
    function balanceOf(address account) external view returns (uint256) {
        if (msg.sender != account) revert NotOwner(msg.sender, account);
        return balances[account];
    }

    /// Only the owner or the spender may read an allowance.
    function allowance(address owner, address spender) external view returns (uint256) {
        if (msg.sender != owner && msg.sender != spender) revert NotOwner(msg.sender, owner);
        return allowances[owner][spender];
    }

    function transfer(address to, uint256 value) external returns (bool) {
        _transfer(msg.sender, to, value);
        return true;
    }

    function approve(address spender, uint256 value) external returns (bool) {
        if (spender == address(0)) revert ZeroAddress();
        allowances[msg.sender][spender] = value;
        emit Approval(msg.sender, spender, value);
        return true;
    }

    function transferFrom(address from, address to, uint256 value) external returns (bool) {
        uint256 allowed = allowances[from][msg.sender];
        if (allowed < value) revert InsufficientAllowance(msg.sender, allowed, value);
        if (allowed != type(uint256).max) {
            allowances[from][msg.sender] = allowed - value;
        }
        _transfer(from, to, value);
        return true;
    }

    function _transfer(address from, address to, uint256 value) private {
        if (to == address(0)) revert ZeroAddress();
        uint256 balance = balances[from];
        if (balance < value) revert InsufficientBalance(from, balance, value);
        balances[from] = balance - value;
        balances[to] += value;
        emit Transfer(from, to, value);
    }
}
