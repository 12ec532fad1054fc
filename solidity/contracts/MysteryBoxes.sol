// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {Umbra} from "./Precompiles.sol";

/// @title Mystery boxes: secret-box NFTs whose contents are held inside the cluster.
/// @notice A creator mints a collection of items. For each item the contract draws a salt from
/// the cluster's confidential randomness and publishes the commitment keccak256(item ‖ salt)
/// as a public event (and answers `commitments` to anyone). The items are then shuffled into
/// the boxes with the same randomness, so neither the creator nor an operator can predict or
/// steer which box holds what. Boxes start with the creator; they can be transferred, listed
/// and bought for UMB while unopened. Opening reveals the item and its salt to the box's owner
/// alone (in its private receipt), and anyone can check them against the commitments. The
/// public sees only which boxes are opened.
contract MysteryBoxes {
    struct Collection {
        address creator;
        string name;
        bytes32[] commitments;
        string[] items;
        bytes32[] salts;
        /// box => index of its item.
        uint32[] itemOf;
        address[] owners;
        bool[] opened;
    }

    struct Listing {
        uint256 price;
        bytes32 payTo;
    }

    uint256 public constant MAX_ITEMS = 64;
    uint256 public constant MAX_ITEM_BYTES = 256;

    Collection[] private collections;
    /// keccak(collection, box) => listing (price 0: not listed).
    mapping(bytes32 => Listing) private listings;

    error NoSuchBox(uint256 collection, uint256 box);
    error NoSuchCollection(uint256 collection);
    error NotBoxOwner(address caller);
    error AlreadyOpened(uint256 collection, uint256 box);
    error NotOpened(uint256 collection, uint256 box);
    error NotListed(uint256 collection, uint256 box);
    error WrongPrice(uint256 price, uint256 paid);
    error BadCollection(string reason);
    error ZeroAddress();

    function _collection(uint256 c) private view returns (Collection storage col) {
        if (c >= collections.length) revert NoSuchCollection(c);
        col = collections[c];
    }

    function _box(uint256 c, uint256 box) private view returns (Collection storage col) {
        col = _collection(c);
        if (box >= col.owners.length) revert NoSuchBox(c, box);
    }

    function _owned(uint256 c, uint256 box) private view returns (Collection storage col) {
        col = _box(c, box);
        if (col.owners[box] != msg.sender) revert NotBoxOwner(msg.sender);
    }

    /// The commitment to an item: keccak256(bytes(item) ‖ salt).
    function commitment(string memory item, bytes32 salt) public pure returns (bytes32) {
        return keccak256(abi.encodePacked(item, salt));
    }

    /// Mints one box per item, owned by the caller; returns the collection id.
    function mint(string calldata name, string[] calldata items) external returns (uint256 c) {
        uint256 n = items.length;
        if (n == 0 || n > MAX_ITEMS) revert BadCollection("1 to 64 items");
        c = collections.length;
        Collection storage col = collections.push();
        col.creator = msg.sender;
        col.name = name;
        for (uint256 i = 0; i < n; i++) {
            uint256 len = bytes(items[i]).length;
            if (len == 0 || len > MAX_ITEM_BYTES) revert BadCollection("items of 1 to 256 bytes");
            bytes32 salt = Umbra.random();
            col.items.push(items[i]);
            col.salts.push(salt);
            col.commitments.push(commitment(items[i], salt));
            col.itemOf.push(uint32(i));
            col.owners.push(msg.sender);
            col.opened.push(false);
        }
        // Fisher-Yates with the cluster's confidential randomness: box b holds itemOf[b].
        for (uint256 i = n - 1; i > 0; i--) {
            uint256 j = uint256(Umbra.random()) % (i + 1);
            (col.itemOf[i], col.itemOf[j]) = (col.itemOf[j], col.itemOf[i]);
        }
        Umbra.publicEvent(abi.encode("mystery-boxes-minted", c, col.commitments));
    }

    /// Moves an unopened or opened box to `to`.
    function transfer(uint256 c, uint256 box, address to) external {
        Collection storage col = _owned(c, box);
        if (to == address(0)) revert ZeroAddress();
        delete listings[keccak256(abi.encode(c, box))];
        col.owners[box] = to;
    }

    /// Lists an unopened box for `price` (smallest UMB unit), paid to the chain account `payTo`.
    /// Price 0 withdraws the listing.
    function list(uint256 c, uint256 box, uint256 price, bytes32 payTo) external {
        Collection storage col = _owned(c, box);
        if (col.opened[box]) revert AlreadyOpened(c, box);
        listings[keccak256(abi.encode(c, box))] = Listing(price, payTo);
    }

    /// Buys a listed box with the command's value (exactly its price); the seller is paid.
    function buy(uint256 c, uint256 box) external payable {
        Collection storage col = _box(c, box);
        bytes32 key = keccak256(abi.encode(c, box));
        Listing memory l = listings[key];
        if (l.price == 0) revert NotListed(c, box);
        if (col.opened[box]) revert AlreadyOpened(c, box);
        if (msg.value != l.price) revert WrongPrice(l.price, msg.value);
        delete listings[key];
        col.owners[box] = msg.sender;
        Umbra.payout(l.payTo, l.price);
    }

    /// Opens the caller's box: returns its item and salt (in the caller's private receipt) and
    /// publishes only that the box is opened.
    function open(uint256 c, uint256 box) external returns (string memory item, bytes32 salt) {
        Collection storage col = _owned(c, box);
        if (col.opened[box]) revert AlreadyOpened(c, box);
        col.opened[box] = true;
        delete listings[keccak256(abi.encode(c, box))];
        uint256 i = col.itemOf[box];
        Umbra.publicEvent(abi.encode("mystery-box-opened", c, box));
        return (col.items[i], col.salts[i]);
    }

    /// The owner of an opened box reads its item and salt again.
    function contents(uint256 c, uint256 box)
        external
        view
        returns (string memory item, bytes32 salt)
    {
        Collection storage col = _owned(c, box);
        if (!col.opened[box]) revert NotOpened(c, box);
        uint256 i = col.itemOf[box];
        return (col.items[i], col.salts[i]);
    }

    /// Public: the collection's name, creator, commitments (in minting order) and which boxes
    /// are opened.
    function collectionInfo(uint256 c)
        external
        view
        returns (string memory name, address creator, bytes32[] memory commitments, bool[] memory opened)
    {
        Collection storage col = _collection(c);
        return (col.name, col.creator, col.commitments, col.opened);
    }

    /// Public: the price of a listed box (0: not listed).
    function priceOf(uint256 c, uint256 box) external view returns (uint256) {
        _box(c, box);
        return listings[keccak256(abi.encode(c, box))].price;
    }

    /// The caller's boxes in collection `c`.
    function myBoxes(uint256 c) external view returns (uint256[] memory boxes) {
        Collection storage col = _collection(c);
        uint256 n = 0;
        for (uint256 b = 0; b < col.owners.length; b++) {
            if (col.owners[b] == msg.sender) n++;
        }
        boxes = new uint256[](n);
        n = 0;
        for (uint256 b = 0; b < col.owners.length; b++) {
            if (col.owners[b] == msg.sender) boxes[n++] = b;
        }
    }

    /// Number of collections.
    function collectionCount() external view returns (uint256) {
        return collections.length;
    }
}
