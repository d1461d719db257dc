// SPDX-License-Identifier: UNLICENSED
pragma solidity 0.8.37;

import {ITradingStorage, Units, Governed} from "./AvantisTypes.sol";
import {TradingStorage} from "./TradingStorage.sol";
import {PairStorage} from "./PairStorage.sol";
import {PairInfos} from "./PairInfos.sol";
import {PriceAggregator} from "./PriceAggregator.sol";
import {TradingCallbacks} from "./TradingCallbacks.sol";

/// @title TradingBase (simulator)
/// @notice The TradingRouter's storage and the request logic shared by its v1 entry points
/// (`Trading`) and its v2 entry points (`TradingV2`, reached through `Trading`'s fallback by
/// delegatecall). Both inherit this contract, so their storage layouts are identical by
/// construction and a v2 market open or close runs the very same code as a v1 one.
/// @dev Events are emitted by the callers, so each artifact declares only its own generation's
/// `MarketOrderInitiated`. See docs/adr/0017-v2-simulator.md.
abstract contract TradingBase is ITradingStorage, Governed {
    uint256 public constant _MAX_SLIPPAGE = 100 * Units.PRECISION; // simulator's own bound: 100 %

    TradingStorage public immutable storageT;
    PairInfos public immutable pairInfos;
    PairStorage internal immutable pairsStorage;
    PriceAggregator internal immutable aggregator;
    TradingCallbacks internal immutable callbacks;

    // ---- storage (order is the layout: append only) -----------------------------------------

    address public operator; // receives the ETH execution fee
    mapping(address => bool) public isOperator;
    uint256 public limitOrdersTimelock = 30; // blocks
    bool public paused;

    mapping(address => address) public delegations; // v1: one delegate per trader
    address internal delegatedTrader; // set only while a delegatedAction runs

    /// v2 (AVANTIS-V2.md §4): several delegates per trader, each with an expiry (unix seconds).
    struct Delegation {
        bool isEnabled;
        uint256 expiry;
    }

    mapping(address => mapping(address => Delegation)) internal _delegates;
    /// v2 (§8.3): unordered nonces, one bitmap per signing address; bit `nonce & 255` of word `nonce >> 8`.
    mapping(address => mapping(uint256 => uint256)) internal _nonceBitmap;
    /// The v2 facet (TradingV2) Trading's fallback delegates to; zero = a pure v1 deployment.
    address public v2Facet;

    constructor(
        TradingStorage _storageT,
        PairStorage _pairsStorage,
        PairInfos _pairInfos,
        PriceAggregator _aggregator,
        TradingCallbacks _callbacks
    ) {
        storageT = _storageT;
        pairsStorage = _pairsStorage;
        pairInfos = _pairInfos;
        aggregator = _aggregator;
        callbacks = _callbacks;
        operator = msg.sender;
    }

    modifier notPaused() {
        require(!paused, "PAUSED");
        _;
    }

    modifier notDelegated() {
        require(delegatedTrader == address(0), "NOT_ALLOWED_IN_DELEGATION");
        _;
    }

    function _msgSender() internal view returns (address) {
        return delegatedTrader == address(0) ? msg.sender : delegatedTrader;
    }

    /// The v2 rule for a delegate (§4): enabled and `expiry > now`.
    function _isActiveDelegate(address trader, address delegate) internal view returns (bool) {
        Delegation storage d = _delegates[trader][delegate];
        return d.isEnabled && d.expiry > block.timestamp;
    }

    // ---- shared request logic ----------------------------------------------------------------

    function _checkNewTrade(address trader, Trade memory t, bool isMarket) internal view {
        require(pairsStorage.isListed(t.pairIndex), "PAIR_NOT_LISTED");
        require(t.openPrice > 0, "WRONG_PRICE");
        uint256 slotsUsed = storageT.openTradesCount(trader, t.pairIndex)
            + storageT.pendingMarketOpenCount(trader, t.pairIndex) + storageT.openLimitOrdersCount(trader, t.pairIndex);
        require(slotsUsed < storageT.maxTradesPerPair(), "MAX_TRADES_PER_PAIR");
        if (isMarket) require(storageT.pendingOrderIdsCount(trader) < storageT.maxPendingMarketOrders(), "MAX_PENDING_ORDERS");
        require(
            t.leverage >= pairsStorage.pairMinLeverage(t.pairIndex, false)
                && t.leverage <= pairsStorage.pairMaxLeverage(t.pairIndex, false),
            "LEVERAGE_INCORRECT"
        );
        require((t.positionSizeUSDC * t.leverage) / Units.PRECISION >= pairsStorage.pairMinLevPosUSDC(t.pairIndex), "BELOW_MIN_POS");
        require(t.tp == 0 || (t.buy ? t.tp > t.openPrice : t.tp < t.openPrice), "WRONG_TP");
        require(t.sl == 0 || (t.buy ? t.sl < t.openPrice : t.sl > t.openPrice), "WRONG_SL");
    }

    /// A market open for `trader`: checks, pulls `t.positionSizeUSDC` of collateral from the
    /// trader into TradingStorage, pays the execution fee and stores the pending order the
    /// keeper fills. The caller emits its `MarketOrderInitiated`.
    function _openMarket(address trader, Trade memory t, uint256 _slippageP) internal returns (uint256 orderId) {
        _checkNewTrade(trader, t, true);
        require(_slippageP > 0 && _slippageP <= _MAX_SLIPPAGE, "WRONG_SLIPPAGE");
        storageT.transferUSDC(trader, address(storageT), t.positionSizeUSDC);
        _payExecutionFee();
        orderId = storageT.newOrderId();
        Trade memory req = Trade(trader, t.pairIndex, 0, 0, t.positionSizeUSDC, t.openPrice, t.buy, t.leverage, t.tp, t.sl, 0);
        storageT.storePendingMarketOrder(PendingMarketOrder(req, block.number, t.openPrice, _slippageP), orderId, true);
    }

    /// A market close of `_amount` collateral of `trader`'s trade (all of it closes the trade);
    /// the trade is `beingMarketClosed` until the fill, which pays the trader. The caller emits.
    function _closeMarket(address trader, uint256 _pairIndex, uint256 _index, uint256 _amount)
        internal
        returns (uint256 orderId, Trade memory t)
    {
        t = _liveTrade(trader, _pairIndex, _index);
        require(_amount > 0 && _amount <= t.initialPosToken, "WRONG_AMOUNT");
        if (_amount < t.initialPosToken) {
            uint256 remainingPos = ((t.initialPosToken - _amount) * t.leverage) / Units.PRECISION;
            require(remainingPos >= pairsStorage.pairMinLevPosUSDC(_pairIndex), "BELOW_MIN_POS");
        }
        require(storageT.pendingOrderIdsCount(trader) < storageT.maxPendingMarketOrders(), "MAX_PENDING_ORDERS");

        storageT.setBeingMarketClosed(trader, _pairIndex, _index, true);
        _payExecutionFee();
        orderId = storageT.newOrderId();
        Trade memory req = Trade(trader, _pairIndex, _index, 0, _amount, 0, t.buy, t.leverage, t.tp, t.sl, 0);
        storageT.storePendingMarketOrder(PendingMarketOrder(req, block.number, 0, 0), orderId, false);
    }

    function _liveTrade(address trader, uint256 _pairIndex, uint256 _index) internal view returns (Trade memory t) {
        t = storageT.openTrades(trader, _pairIndex, _index);
        require(t.leverage > 0, "NO_TRADE");
        require(!storageT.openTradesInfo(trader, _pairIndex, _index).beingMarketClosed, "ALREADY_BEING_CLOSED");
    }

    function _payExecutionFee() internal {
        if (msg.value == 0) return;
        (bool ok,) = payable(operator).call{value: msg.value}("");
        require(ok, "EXEC_FEE_TRANSFER");
    }
}
