// SPDX-License-Identifier: UNLICENSED
pragma solidity 0.8.37;

/// @title SimPyth
/// @notice The part of the Pyth pull oracle that the Avantis v1 price path uses: keepers and
/// users pass `priceUpdateData` bytes, the aggregator pays `getUpdateFee` and calls
/// `updatePriceFeeds`, then reads the stored price.
/// @dev Simplified on purpose: an update is `abi.encode(bytes32 id, int64 price, uint64 conf,
/// int32 expo, uint64 publishTime)` with no Wormhole signature, so anyone can publish. Clients
/// must treat the bytes as opaque, exactly as they do on mainnet. Like Pyth, an update older than
/// the stored one is ignored rather than rejected; unlike Pyth, one with the same publish time
/// replaces it (devnet blocks can share a second).
contract SimPyth {
    struct Price {
        int64 price;
        uint64 conf;
        int32 expo;
        uint256 publishTime;
    }

    uint256 public immutable singleUpdateFeeInWei;
    mapping(bytes32 => Price) private latest;

    event PriceFeedUpdate(bytes32 indexed id, uint64 publishTime, int64 price, uint64 conf);

    constructor(uint256 _singleUpdateFeeInWei) {
        singleUpdateFeeInWei = _singleUpdateFeeInWei;
    }

    function getUpdateFee(bytes[] calldata updateData) public view returns (uint256 feeAmount) {
        return updateData.length * singleUpdateFeeInWei;
    }

    function updatePriceFeeds(bytes[] calldata updateData) external payable {
        require(msg.value >= getUpdateFee(updateData), "PYTH_INSUFFICIENT_FEE");
        for (uint256 i = 0; i < updateData.length; i++) {
            (bytes32 id, int64 price, uint64 conf, int32 expo, uint64 publishTime) =
                abi.decode(updateData[i], (bytes32, int64, uint64, int32, uint64));
            require(price > 0, "PYTH_BAD_PRICE");
            if (publishTime < latest[id].publishTime) continue;
            latest[id] = Price(price, conf, expo, publishTime);
            emit PriceFeedUpdate(id, publishTime, price, conf);
        }
    }

    function priceFeedExists(bytes32 id) external view returns (bool) {
        return latest[id].publishTime != 0;
    }

    function getPriceUnsafe(bytes32 id) public view returns (Price memory) {
        Price memory p = latest[id];
        require(p.publishTime != 0, "PYTH_PRICE_FEED_NOT_FOUND");
        return p;
    }

    function getPriceNoOlderThan(bytes32 id, uint256 age) external view returns (Price memory) {
        Price memory p = getPriceUnsafe(id);
        require(p.publishTime + age >= block.timestamp, "PYTH_STALE_PRICE");
        return p;
    }
}
