// SPDX-License-Identifier: UNLICENSED
pragma solidity 0.8.37;

import {IPairStorage, Units, Governed} from "./AvantisTypes.sol";
import {PairStorage} from "./PairStorage.sol";
import {SimPyth} from "./SimPyth.sol";
import {SimChainlinkAggregator} from "./SimChainlinkAggregator.sol";

/// @title PriceAggregator (simulator)
/// @notice The v1 price path of AVANTIS.md §6: pay the Pyth fee and push the caller's
/// `priceUpdateData`, read the pair's Pyth price scaled to 1e10, check its confidence against the
/// pair's max deviation, cross-check the Chainlink backup when the pair has one, and log
/// `PriceReceived`.
/// @dev Simplified: Pyth updates are unsigned (see SimPyth); `_priceSourcing` (Hermes vs Lazer)
/// makes no difference; a stale Chainlink backup is skipped rather than used as the price.
contract PriceAggregator is Governed {
    PairStorage public immutable pairsStorage;
    SimPyth public immutable pyth;
    address public trading;

    /// Oldest Pyth publish time accepted, in seconds before the block.
    uint256 public maxPriceAgeSeconds = 120;
    /// A Chainlink answer older than this is not used for the deviation check.
    uint256 public chainlinkValidityPeriod = 3600;

    event PriceReceived(uint256 orderId, uint256 pairIndex, uint256 price);

    constructor(PairStorage _pairsStorage, SimPyth _pyth) {
        pairsStorage = _pairsStorage;
        pyth = _pyth;
    }

    modifier onlyTrading() {
        require(msg.sender == trading, "ONLY_TRADING");
        _;
    }

    function setTrading(address a) external onlyGov {
        trading = a;
    }

    function setMaxPriceAgeSeconds(uint256 s) external onlyGov {
        maxPriceAgeSeconds = s;
    }

    function setChainlinkValidityPeriod(uint256 s) external onlyGov {
        chainlinkValidityPeriod = s;
    }

    /// @return Opening fee in percent × 1e10.
    function openFeeP(uint256 _pairIndex, uint256 _leveragedPositionSize, bool _buy) external view returns (uint256) {
        return pairsStorage.pairOpenFeeP(_pairIndex, _leveragedPositionSize, _buy);
    }

    /// @notice Pushes Pyth updates, paying the fee out of `msg.value`; what is left stays here.
    function updatePrices(bytes[] calldata priceUpdateData) external payable onlyTrading {
        if (priceUpdateData.length == 0) return;
        pyth.updatePriceFeeds{value: pyth.getUpdateFee(priceUpdateData)}(priceUpdateData);
    }

    /// @notice The checked oracle price (1e10) for one order; logs `PriceReceived`.
    function priceForOrder(uint256 orderId, uint256 pairIndex, bool isOpen) external onlyTrading returns (uint256 price) {
        IPairStorage.Feed memory feed = pairsStorage.pairFeed(pairIndex);
        SimPyth.Price memory p = pyth.getPriceNoOlderThan(feed.feedId, maxPriceAgeSeconds);
        price = _scale(uint256(uint64(p.price)), p.expo);
        require(price > 0, "ZERO_PRICE");

        uint256 maxConfP = isOpen ? feed.maxOpenDeviationP : feed.maxCloseDeviationP;
        if (maxConfP > 0) {
            uint256 confP = (uint256(p.conf) * Units.PRECISION * 100) / uint256(uint64(p.price));
            require(confP <= maxConfP, "PRICE_CONFIDENCE_TOO_LOW");
        }
        _checkBackup(pairIndex, price);
        emit PriceReceived(orderId, pairIndex, price);
    }

    function _checkBackup(uint256 pairIndex, uint256 price) private view {
        IPairStorage.BackupFeed memory backup = pairsStorage.pairBackupFeed(pairIndex);
        if (backup.maxDeviationP == 0 || backup.feedId == address(0)) return;
        SimChainlinkAggregator feed = SimChainlinkAggregator(backup.feedId);
        (, int256 answer,, uint256 updatedAt,) = feed.latestRoundData();
        if (answer <= 0 || block.timestamp > updatedAt + chainlinkValidityPeriod) return;
        uint256 backupPrice = (uint256(answer) * Units.PRECISION) / (10 ** feed.decimals());
        uint256 diff = backupPrice > price ? backupPrice - price : price - backupPrice;
        uint256 lower = backupPrice < price ? backupPrice : price;
        require((diff * 100 * Units.PRECISION) / lower <= backup.maxDeviationP, "BACKUP_DEVIATION_TOO_HIGH");
    }

    /// Pyth price × 10^expo, expressed with 10 decimals.
    function _scale(uint256 raw, int32 expo) private pure returns (uint256) {
        if (expo >= 0) return raw * Units.PRECISION * (10 ** uint32(expo));
        return (raw * Units.PRECISION) / (10 ** uint32(-expo));
    }
}
