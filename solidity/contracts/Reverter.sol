// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

/// @title Failure cases: reverts with a reason, panics, custom errors.
contract Reverter {
    uint256 public value;

    error Unauthorized(address caller, string why);

    /// Always reverts with `Error(string)` carrying the given reason.
    function fail(string calldata reason) external pure {
        revert(reason);
    }

    /// Stores `v` unless it is zero, which fails a `require` with a reason.
    function setNonZero(uint256 v) external {
        require(v != 0, "value must be non-zero");
        value = v;
    }

    /// Divides by `d`; with zero it panics with code 0x12 (division by zero).
    function divide(uint256 n, uint256 d) external pure returns (uint256) {
        return n / d;
    }

    /// Adds with overflow checks; overflowing panics with code 0x11.
    function add(uint256 a, uint256 b) external pure returns (uint256) {
        return a + b;
    }

    /// Reverts with the custom error `Unauthorized`.
    function restricted() external view {
        revert Unauthorized(msg.sender, "restricted");
    }
}

/// @title Runs out of gas on request: each round writes a fresh storage slot.
contract GasBurner {
    mapping(uint256 => uint256) private slots;

    /// Writes `rounds` storage slots (about 22,000 gas each) and returns how many it wrote.
    function burn(uint256 rounds) external returns (uint256) {
        for (uint256 i = 0; i < rounds; i++) {
            slots[i] = i + 1;
        }
        return rounds;
    }

    /// Never returns: loops until the gas limit is reached.
    function spin() external pure {
        uint256 i = 0;
        while (true) {
            unchecked {
                i++;
            }
        }
    }
}
