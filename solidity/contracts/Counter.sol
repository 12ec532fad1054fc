// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

/// @title A counter that other contracts in the same cluster call.
contract Counter {
    uint256 public count;
    address public lastCaller;

    event Incremented(address indexed by, uint256 count);

    function increment(uint256 by) external returns (uint256) {
        count += by;
        lastCaller = msg.sender;
        emit Incremented(msg.sender, count);
        return count;
    }
}

/// @title Calls a Counter deployed in the same cluster (contract-to-contract call).
contract CounterCaller {
    Counter public immutable counter;

    event Forwarded(address indexed counter, uint256 count);

    constructor(address counter_) {
        counter = Counter(counter_);
    }

    /// Increments the counter twice through external calls and returns the final count.
    function incrementTwice(uint256 by) external returns (uint256) {
        counter.increment(by);
        uint256 result = counter.increment(by);
        emit Forwarded(address(counter), result);
        return result;
    }

    /// Reads the counter through a static call.
    function read() external view returns (uint256) {
        return counter.count();
    }
}
