// SPDX-License-Identifier: UNLICENSED
pragma solidity 0.8.37;

// Struct layouts of the Avantis v1 ABI (AVANTIS.md §3.1, §4.1, §4.3). Field order and types are
// part of the ABI: a tuple's encoding and every selector that takes one depend on them, so they
// must not change. Units: USDC 1e6, prices / leverage / percentages 1e10 (AVANTIS.md §2).

interface ITradingStorage {
    struct Trade {
        address trader;
        uint256 pairIndex;
        uint256 index;
        uint256 initialPosToken; // collateral after the opening fee, USDC 1e6
        uint256 positionSizeUSDC; // on input: collateral; once stored: block.timestamp of the last change (v1 quirk)
        uint256 openPrice;
        bool buy;
        uint256 leverage;
        uint256 tp;
        uint256 sl;
        uint256 timestamp;
    }

    struct TradeInfo {
        uint256 openInterestUSDC; // notional, USDC 1e6
        uint256 tpLastUpdated; // block number
        uint256 slLastUpdated; // block number
        bool beingMarketClosed;
        uint256 lossProtection;
    }

    struct OpenLimitOrder {
        address trader;
        uint256 pairIndex;
        uint256 index;
        uint256 positionSize; // escrowed collateral, USDC 1e6
        bool buy;
        uint256 leverage;
        uint256 tp;
        uint256 sl;
        uint256 price; // trigger price
        uint256 slippageP;
        uint256 block; // block of placement or last update (timelock base)
        uint256 executionFee; // wei
    }

    struct PendingMarketOrder {
        Trade trade;
        uint256 block;
        uint256 wantedPrice;
        uint256 slippageP;
    }

    struct PendingLimitOrder {
        address trader;
        uint256 pairIndex;
        uint256 index;
        uint8 orderType;
    }
}

interface IPairStorage {
    struct Feed {
        uint256 maxOpenDeviationP;
        uint256 maxCloseDeviationP;
        bytes32 feedId; // Pyth price id
    }

    struct BackupFeed {
        uint256 maxDeviationP;
        address feedId; // Chainlink aggregator
    }

    struct Leverage {
        uint256 minLeverage;
        uint256 maxLeverage;
        uint256 pnlMinLeverage;
        uint256 pnlMaxLeverage;
    }

    struct Values {
        int256 maxGainP;
        int256 maxSlP;
        uint256 maxLongOiP;
        uint256 maxShortOiP;
        uint256 groupOpenInterestPecentage;
        uint256 maxWalletOI;
        bool isUSDCAligned;
    }

    struct Pair {
        Feed feed;
        BackupFeed backupFeed;
        uint256 spreadP;
        uint256 pnlSpreadP;
        Leverage leverages;
        uint256 priceImpactMultiplier;
        int256 skewImpactMultiplier;
        uint256 groupIndex;
        uint256 feeIndex;
        Values values;
    }

    struct Group {
        string name;
        uint256 maxOpenInterestP;
        bool isSpreadDynamic;
    }

    struct PnlFees {
        uint256 numTiers;
        uint256[] tierP;
        uint256[] feesP;
    }

    struct Fee {
        uint256 openFeeP;
        uint256 closeFeeP;
        uint256 limitOrderFeeP;
        uint256 minLevPosUSDC;
        PnlFees pnlFees;
    }
}

/// Shared constants. A library keeps them out of every contract's ABI.
library Units {
    uint256 internal constant PRECISION = 1e10;
}

/// Order kinds of `executeLimitOrder._orderType` and `LimitExecuted.orderType` (AVANTIS.md §3.2).
library LimitKind {
    uint8 internal constant TP = 0;
    uint8 internal constant SL = 1;
    uint8 internal constant LIQ = 2;
    uint8 internal constant OPEN = 3;
}

/// `openTrade._type` (IExecute.OpenLimitOrderType).
library OpenKind {
    uint8 internal constant MARKET = 0;
    uint8 internal constant REVERSAL = 1; // stop
    uint8 internal constant MOMENTUM = 2; // limit
    uint8 internal constant MARKET_PNL = 3;
}

/// Owner-only setup, shared by every simulator contract.
abstract contract Governed {
    address public gov;

    constructor() {
        gov = msg.sender;
    }

    modifier onlyGov() {
        require(msg.sender == gov, "GOV_ONLY");
        _;
    }
}
