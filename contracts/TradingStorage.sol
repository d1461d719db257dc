// SPDX-License-Identifier: UNLICENSED
pragma solidity 0.8.37;

import {ITradingStorage, Governed} from "./AvantisTypes.sol";
import {SimUSDC} from "./SimUSDC.sol";

/// @title TradingStorage (simulator)
/// @notice Holds every trader's collateral (it is the USDC approval target, AVANTIS.md §3.4) and
/// all trading state: open trades, pending market orders, open limit orders, open interest and
/// the fees collected. Only Trading and TradingCallbacks may change it.
/// @dev USDC held here is always: open trades' `initialPosToken` + pending market-open collateral
/// + limit-order escrow + `govFeesUSDC`. Tests check that identity after every step.
contract TradingStorage is ITradingStorage, Governed {
    SimUSDC public immutable usdc;
    address public trading;
    address public callbacks;
    address public priceAggregator;
    address public vaultManager;
    address public govTreasury;

    uint256 public maxTradesPerPair = 40;
    uint256 public maxPendingMarketOrders = 5;

    uint256 public currentOrderId;
    uint256 public govFeesUSDC;
    uint256 public devFeesUSDC;

    mapping(address => mapping(uint256 => mapping(uint256 => Trade))) private _openTrades;
    mapping(address => mapping(uint256 => mapping(uint256 => TradeInfo))) private _openTradesInfo;
    mapping(address => mapping(uint256 => uint256)) public openTradesCount;

    mapping(uint256 => address[]) private _pairTraders;
    mapping(address => mapping(uint256 => uint256)) public pairTradersId;

    OpenLimitOrder[] public openLimitOrders;
    mapping(address => mapping(uint256 => mapping(uint256 => uint256))) public openLimitOrderIds;
    mapping(address => mapping(uint256 => mapping(uint256 => bool))) private _hasLimit;
    mapping(address => mapping(uint256 => mapping(uint256 => uint8))) public openLimitOrderTypes;
    mapping(address => mapping(uint256 => uint256)) public openLimitOrdersCount;

    mapping(uint256 => PendingMarketOrder) private _pendingMarket;
    mapping(uint256 => bool) public isPendingOpen; // orderId => open (true) or close (false)
    mapping(address => uint256[]) public pendingOrderIds;
    mapping(address => mapping(uint256 => uint256)) public pendingMarketOpenCount;
    mapping(address => mapping(uint256 => uint256)) public pendingMarketCloseCount;

    /// pairIndex => side (0 long, 1 short) => notional, USDC 1e6
    mapping(uint256 => mapping(uint256 => uint256)) public openInterestUSDC;
    uint256 public totalOI;
    mapping(address => uint256) public walletOI;

    event MarketOpenCanceled(uint256 orderId, address indexed trader, uint256 pairIndex);
    event OIUpdated(bool _open, bool _long, uint256 _pairIndex, uint256 _leveragedPos, uint256 _price);
    event FeesCharged(address _trader, uint256 _pairIndex, bool _buy, uint256 fee);
    event FeesClaimed(address govTreasury, uint256 govFees, address dev, uint256 devFees);

    constructor(SimUSDC _usdc) {
        usdc = _usdc;
        govTreasury = msg.sender;
    }

    modifier onlySystem() {
        require(msg.sender == trading || msg.sender == callbacks, "ONLY_TRADING");
        _;
    }

    // ---- wiring ------------------------------------------------------------------------------

    function setTrading(address a) external onlyGov {
        trading = a;
    }

    function setCallbacks(address a) external onlyGov {
        callbacks = a;
    }

    function setPriceAggregator(address a) external onlyGov {
        priceAggregator = a;
    }

    function setVaultManager(address a) external onlyGov {
        vaultManager = a;
    }

    function setGovTreasury(address a) external onlyGov {
        govTreasury = a;
    }

    function setMaxTradesPerPair(uint256 n) external onlyGov {
        maxTradesPerPair = n;
    }

    function setMaxPendingMarketOrders(uint256 n) external onlyGov {
        maxPendingMarketOrders = n;
    }

    /// @notice Sends the collected fees to the treasury.
    function claimFees() external {
        uint256 amount = govFeesUSDC;
        govFeesUSDC = 0;
        if (amount > 0) require(usdc.transfer(govTreasury, amount), "USDC_TRANSFER");
        emit FeesClaimed(govTreasury, amount, address(0), 0);
    }

    // ---- USDC --------------------------------------------------------------------------------

    /// @notice Moves USDC: out of this contract when `_from` is itself, else pulled with the
    /// allowance `_from` gave this contract.
    function transferUSDC(address _from, address _to, uint256 _amount) external onlySystem {
        if (_amount == 0) return;
        if (_from == address(this)) require(usdc.transfer(_to, _amount), "USDC_TRANSFER");
        else require(usdc.transferFrom(_from, _to, _amount), "USDC_TRANSFER");
    }

    function chargeFee(address _trader, uint256 _pairIndex, bool _buy, uint256 _fee) external onlySystem {
        govFeesUSDC += _fee;
        emit FeesCharged(_trader, _pairIndex, _buy, _fee);
    }

    function newOrderId() external onlySystem returns (uint256) {
        return ++currentOrderId;
    }

    // ---- open interest -----------------------------------------------------------------------

    function updateOI(address _trader, uint256 _pairIndex, bool _long, bool _open, uint256 _levPos, uint256 _price)
        external
        onlySystem
    {
        uint256 side = _long ? 0 : 1;
        if (_open) {
            openInterestUSDC[_pairIndex][side] += _levPos;
            totalOI += _levPos;
            walletOI[_trader] += _levPos;
        } else {
            openInterestUSDC[_pairIndex][side] -= _levPos;
            totalOI -= _levPos;
            walletOI[_trader] -= _levPos;
        }
        emit OIUpdated(_open, _long, _pairIndex, _levPos, _price);
    }

    function pairLongOI(uint256 _pairIndex) external view returns (uint256) {
        return openInterestUSDC[_pairIndex][0];
    }

    function pairShortOI(uint256 _pairIndex) external view returns (uint256) {
        return openInterestUSDC[_pairIndex][1];
    }

    function pairOI(uint256 _pairIndex) external view returns (uint256) {
        return openInterestUSDC[_pairIndex][0] + openInterestUSDC[_pairIndex][1];
    }

    // ---- open trades -------------------------------------------------------------------------

    function openTrades(address _trader, uint256 _pairIndex, uint256 _index) external view returns (Trade memory) {
        return _openTrades[_trader][_pairIndex][_index];
    }

    function openTradesInfo(address _trader, uint256 _pairIndex, uint256 _index) external view returns (TradeInfo memory) {
        return _openTradesInfo[_trader][_pairIndex][_index];
    }

    /// @notice Lowest slot without a trade; `maxTradesPerPair` when all are taken.
    function firstEmptyTradeIndex(address _trader, uint256 _pairIndex) external view returns (uint256) {
        for (uint256 i = 0; i < maxTradesPerPair; i++) {
            if (_openTrades[_trader][_pairIndex][i].leverage == 0) return i;
        }
        return maxTradesPerPair;
    }

    function storeTrade(Trade memory _trade, TradeInfo memory _tradeInfo, bool) external onlySystem {
        Trade storage slot = _openTrades[_trade.trader][_trade.pairIndex][_trade.index];
        require(slot.leverage == 0, "TRADE_SLOT_TAKEN");
        _trade.positionSizeUSDC = block.timestamp;
        _openTrades[_trade.trader][_trade.pairIndex][_trade.index] = _trade;
        _openTradesInfo[_trade.trader][_trade.pairIndex][_trade.index] = _tradeInfo;
        if (openTradesCount[_trade.trader][_trade.pairIndex]++ == 0) _addPairTrader(_trade.trader, _trade.pairIndex);
    }

    function unregisterTrade(address _trader, uint256 _pairIndex, uint256 _index) external onlySystem {
        require(_openTrades[_trader][_pairIndex][_index].leverage != 0, "NO_TRADE");
        delete _openTrades[_trader][_pairIndex][_index];
        delete _openTradesInfo[_trader][_pairIndex][_index];
        if (--openTradesCount[_trader][_pairIndex] == 0) _removePairTrader(_trader, _pairIndex);
    }

    /// @notice Partial close: `_amount` of collateral leaves the trade, notional shrinks with it.
    function registerPartialTrade(address _trader, uint256 _pairIndex, uint256 _index, uint256 _amount) external onlySystem {
        Trade storage t = _openTrades[_trader][_pairIndex][_index];
        TradeInfo storage info = _openTradesInfo[_trader][_pairIndex][_index];
        require(t.leverage != 0, "NO_TRADE");
        require(_amount < t.initialPosToken, "WRONG_AMOUNT");
        info.openInterestUSDC -= (info.openInterestUSDC * _amount) / t.initialPosToken;
        t.initialPosToken -= _amount;
        t.positionSizeUSDC = block.timestamp;
    }

    function updateTrade(Trade memory _t) external onlySystem {
        Trade storage t = _openTrades[_t.trader][_t.pairIndex][_t.index];
        if (t.leverage == 0) return;
        t.initialPosToken = _t.initialPosToken;
        t.positionSizeUSDC = block.timestamp;
        t.openPrice = _t.openPrice;
        t.leverage = _t.leverage;
    }

    function updateTp(address _trader, uint256 _pairIndex, uint256 _index, uint256 _newTp) external onlySystem {
        _openTrades[_trader][_pairIndex][_index].tp = _newTp;
        _openTradesInfo[_trader][_pairIndex][_index].tpLastUpdated = block.number;
    }

    function updateSl(address _trader, uint256 _pairIndex, uint256 _index, uint256 _newSl) external onlySystem {
        _openTrades[_trader][_pairIndex][_index].sl = _newSl;
        _openTradesInfo[_trader][_pairIndex][_index].slLastUpdated = block.number;
    }

    function setBeingMarketClosed(address _trader, uint256 _pairIndex, uint256 _index, bool _closing) external onlySystem {
        _openTradesInfo[_trader][_pairIndex][_index].beingMarketClosed = _closing;
    }

    function pairTraders(uint256 _pairIndex, uint256 i) external view returns (address) {
        return _pairTraders[_pairIndex][i];
    }

    function pairTradersArray(uint256 _pairIndex) external view returns (address[] memory) {
        return _pairTraders[_pairIndex];
    }

    function _addPairTrader(address _trader, uint256 _pairIndex) private {
        _pairTraders[_pairIndex].push(_trader);
        pairTradersId[_trader][_pairIndex] = _pairTraders[_pairIndex].length - 1;
    }

    function _removePairTrader(address _trader, uint256 _pairIndex) private {
        address[] storage list = _pairTraders[_pairIndex];
        uint256 slot = pairTradersId[_trader][_pairIndex];
        address last = list[list.length - 1];
        list[slot] = last;
        pairTradersId[last][_pairIndex] = slot;
        list.pop();
        delete pairTradersId[_trader][_pairIndex];
    }

    // ---- pending market orders ---------------------------------------------------------------

    function reqIDpendingMarketOrder(uint256 orderId) external view returns (PendingMarketOrder memory) {
        return _pendingMarket[orderId];
    }

    function getPendingOrderIds(address _trader) external view returns (uint256[] memory) {
        return pendingOrderIds[_trader];
    }

    function pendingOrderIdsCount(address _trader) external view returns (uint256) {
        return pendingOrderIds[_trader].length;
    }

    function storePendingMarketOrder(PendingMarketOrder memory _order, uint256 _id, bool _open) external onlySystem {
        _pendingMarket[_id] = _order;
        isPendingOpen[_id] = _open;
        pendingOrderIds[_order.trade.trader].push(_id);
        if (_open) pendingMarketOpenCount[_order.trade.trader][_order.trade.pairIndex]++;
        else pendingMarketCloseCount[_order.trade.trader][_order.trade.pairIndex]++;
    }

    function unregisterPendingMarketOrder(uint256 _id, bool _open) external onlySystem {
        _unregisterPending(_id, _open);
    }

    /// @notice Operator clean-up of a stuck market order: an open gets its collateral back (the
    /// ETH execution fee is not refunded), a close frees the trade for another close.
    function forceUnregisterPendingMarketOrder(uint256 _id) external onlySystem {
        PendingMarketOrder memory order = _pendingMarket[_id];
        Trade memory t = order.trade;
        require(t.trader != address(0), "NO_PENDING_ORDER");
        bool isOpen = isPendingOpen[_id];
        _unregisterPending(_id, isOpen);
        if (isOpen) {
            require(usdc.transfer(t.trader, t.positionSizeUSDC), "USDC_TRANSFER");
            emit MarketOpenCanceled(_id, t.trader, t.pairIndex);
        } else {
            _openTradesInfo[t.trader][t.pairIndex][t.index].beingMarketClosed = false;
        }
    }

    function _unregisterPending(uint256 _id, bool _open) private {
        Trade memory t = _pendingMarket[_id].trade;
        require(t.trader != address(0), "NO_PENDING_ORDER");
        uint256[] storage ids = pendingOrderIds[t.trader];
        for (uint256 i = 0; i < ids.length; i++) {
            if (ids[i] == _id) {
                ids[i] = ids[ids.length - 1];
                ids.pop();
                break;
            }
        }
        if (_open) pendingMarketOpenCount[t.trader][t.pairIndex]--;
        else pendingMarketCloseCount[t.trader][t.pairIndex]--;
        delete _pendingMarket[_id];
        delete isPendingOpen[_id];
    }

    // ---- open limit orders -------------------------------------------------------------------

    function hasOpenLimitOrder(address _trader, uint256 _pairIndex, uint256 _index) public view returns (bool) {
        return _hasLimit[_trader][_pairIndex][_index];
    }

    function getOpenLimitOrder(address _trader, uint256 _pairIndex, uint256 _index) external view returns (OpenLimitOrder memory) {
        require(hasOpenLimitOrder(_trader, _pairIndex, _index), "NO_LIMIT");
        return openLimitOrders[openLimitOrderIds[_trader][_pairIndex][_index]];
    }

    function getOpenLimitOrders() external view returns (OpenLimitOrder[] memory) {
        return openLimitOrders;
    }

    function firstEmptyOpenLimitIndex(address _trader, uint256 _pairIndex) external view returns (uint256) {
        for (uint256 i = 0; i < maxTradesPerPair; i++) {
            if (!_hasLimit[_trader][_pairIndex][i]) return i;
        }
        return maxTradesPerPair;
    }

    function storeOpenLimitOrder(OpenLimitOrder memory o) external onlySystem {
        require(!_hasLimit[o.trader][o.pairIndex][o.index], "LIMIT_SLOT_TAKEN");
        openLimitOrders.push(o);
        openLimitOrderIds[o.trader][o.pairIndex][o.index] = openLimitOrders.length - 1;
        _hasLimit[o.trader][o.pairIndex][o.index] = true;
        openLimitOrdersCount[o.trader][o.pairIndex]++;
    }

    function setOpenLimitOrderType(address _trader, uint256 _pairIndex, uint256 _index, uint8 _type) external onlySystem {
        openLimitOrderTypes[_trader][_pairIndex][_index] = _type;
    }

    function updateOpenLimitOrder(OpenLimitOrder calldata o) external onlySystem {
        require(_hasLimit[o.trader][o.pairIndex][o.index], "NO_LIMIT");
        openLimitOrders[openLimitOrderIds[o.trader][o.pairIndex][o.index]] = o;
    }

    function unregisterOpenLimitOrder(address _trader, uint256 _pairIndex, uint256 _index) external onlySystem {
        require(_hasLimit[_trader][_pairIndex][_index], "NO_LIMIT");
        uint256 slot = openLimitOrderIds[_trader][_pairIndex][_index];
        OpenLimitOrder memory last = openLimitOrders[openLimitOrders.length - 1];
        openLimitOrders[slot] = last;
        openLimitOrderIds[last.trader][last.pairIndex][last.index] = slot;
        openLimitOrders.pop();
        delete openLimitOrderIds[_trader][_pairIndex][_index];
        delete _hasLimit[_trader][_pairIndex][_index];
        delete openLimitOrderTypes[_trader][_pairIndex][_index];
        openLimitOrdersCount[_trader][_pairIndex]--;
    }
}
