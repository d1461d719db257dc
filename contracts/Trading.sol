// SPDX-License-Identifier: UNLICENSED
pragma solidity 0.8.37;

import {Units, LimitKind, OpenKind} from "./AvantisTypes.sol";
import {TradingStorage} from "./TradingStorage.sol";
import {PairStorage} from "./PairStorage.sol";
import {PairInfos} from "./PairInfos.sol";
import {PriceAggregator} from "./PriceAggregator.sol";
import {TradingCallbacks} from "./TradingCallbacks.sol";
import {TradingBase} from "./TradingBase.sol";

/// @title Trading (simulator)
/// @notice The v1 user and keeper entry points (AVANTIS.md §3.3) with the two-step execution
/// model of §6: users request, an operator (keeper) fills at the oracle price.
/// @dev Simplified: PnL ("zero fee") orders, referral discounts, rollover fees, OI caps and the
/// guaranteed-SL two-step SL update are not simulated. See docs/adr/0005-avantis-simulator.md.
/// The v2 entry points (EIP-712 intents, several delegates, nonce bitmap) live in `TradingV2`,
/// which this contract's fallback runs by delegatecall over the same storage (TradingBase), so
/// this artifact's ABI stays exactly v1. They exist only once gov has set the facet (the
/// simulator's "upgrade to v2"); until then the contract is pure v1, as detect.ts expects.
/// See docs/adr/0017-v2-simulator.md.
contract Trading is TradingBase {
    uint8 private constant DEPOSIT = 0;
    uint8 private constant WITHDRAW = 1;
    uint256 private constant WITHDRAW_MIN_VALUE_P = 20; // collateral + PnL must stay above 20 %

    event MarketOrderInitiated(
        address indexed trader,
        uint256 pairIndex,
        bool open,
        uint256 orderId,
        uint256 timestamp,
        bool isBuy,
        bool isPnl,
        uint256 initialPosToken,
        uint256 leverage
    );
    event OpenLimitPlaced(
        address indexed trader,
        uint256 pairIndex,
        uint256 index,
        bool isBuy,
        uint256 openPrice,
        uint256 executionFee,
        uint8 orderType,
        uint256 slippageP,
        uint256 collateral
    );
    event OpenLimitUpdated(
        address indexed trader, uint256 pairIndex, uint256 index, uint256 newPrice, uint256 newTp, uint256 newSl, uint256 timestamp
    );
    event OpenLimitCanceled(address indexed trader, uint256 pairIndex, uint256 index, uint256 timestamp, uint256 collateral);
    event TpUpdated(address indexed trader, uint256 pairIndex, uint256 index, uint256 newTp, uint256 timestamp);
    event SlUpdated(address indexed trader, uint256 pairIndex, uint256 index, uint256 newSl, uint256 timestamp);
    event MarginUpdated(
        address indexed trader,
        uint256 pairIndex,
        uint256 index,
        uint8 _type,
        Trade newTrade,
        uint256 marginFees,
        uint256 lossProtectionTier,
        uint256 timestamp
    );
    event LimitOrderInitiated(address indexed trader, uint256 pairIndex, uint256 orderId, uint256 timestamp);
    event OperatorUpdated(address operator, bool isOperator);
    event V2FacetUpdated(address facet);
    event Paused(address account);
    event Unpaused(address account);

    constructor(
        TradingStorage _storageT,
        PairStorage _pairsStorage,
        PairInfos _pairInfos,
        PriceAggregator _aggregator,
        TradingCallbacks _callbacks
    ) TradingBase(_storageT, _pairsStorage, _pairInfos, _aggregator, _callbacks) {}

    /// @notice Any selector Trading does not have (the v2 surface) runs in TradingV2's code on
    /// this contract's storage, as `msg.sender`, emitting from this address. Without a facet it
    /// reverts with no data, like a v1 contract that has no fallback.
    fallback() external {
        address facet = v2Facet;
        if (facet == address(0)) revert();
        assembly {
            calldatacopy(0, 0, calldatasize())
            let ok := delegatecall(gas(), facet, 0, calldatasize(), 0, 0)
            returndatacopy(0, 0, returndatasize())
            switch ok
            case 0 { revert(0, returndatasize()) }
            default { return(0, returndatasize()) }
        }
    }

    modifier onlyOperator() {
        require(isOperator[msg.sender], "ONLY_OPERATOR");
        _;
    }

    // ---- admin -------------------------------------------------------------------------------

    function updateOperator(address _operator, bool _isOperator) external onlyGov {
        isOperator[_operator] = _isOperator;
        emit OperatorUpdated(_operator, _isOperator);
    }

    function setMarketExecFeeReciever(address _reciever) external onlyGov {
        operator = _reciever;
    }

    function pause() external onlyGov {
        paused = true;
        emit Paused(msg.sender);
    }

    /// @notice The simulator's in-place upgrade to v2 (mainnet upgraded behind the same proxy):
    /// `facet` is a TradingV2 built on the same TradingStorage; zero removes the v2 surface.
    function setV2Facet(address facet) external onlyGov {
        v2Facet = facet;
        emit V2FacetUpdated(facet);
    }

    function unpause() external onlyGov {
        paused = false;
        emit Unpaused(msg.sender);
    }

    // ---- delegation --------------------------------------------------------------------------

    function setDelegate(address delegate) external notDelegated {
        delegations[msg.sender] = delegate;
    }

    function removeDelegate() external notDelegated {
        delete delegations[msg.sender];
    }

    /// @notice Runs any Trading call as `trader`; only `trader`'s delegate may: the v1 one, or a
    /// v2 one that is enabled and unexpired (AVANTIS-V2.md §4). USDC still moves from and to the
    /// trader, never the delegate.
    function delegatedAction(address trader, bytes calldata call_data) external payable notDelegated returns (bytes memory) {
        require(
            msg.sender != address(0) && (delegations[trader] == msg.sender || _isActiveDelegate(trader, msg.sender)),
            "DELEGATE_NOT_APPROVED"
        );
        delegatedTrader = trader;
        (bool ok, bytes memory result) = address(this).delegatecall(call_data);
        delegatedTrader = address(0);
        if (!ok) {
            assembly {
                revert(add(result, 32), mload(result))
            }
        }
        return result;
    }

    /// @notice The account a call acts for: the delegator inside `delegatedAction`, else the sender.
    function __msgSender() external view returns (address) {
        return _msgSender();
    }

    // ---- opening -----------------------------------------------------------------------------

    /// @notice Market (`_type` 0) requests a keeper fill; stop (1) and limit (2) orders escrow the
    /// collateral until triggered. `t.positionSizeUSDC` is the collateral, pulled by TradingStorage.
    function openTrade(Trade calldata t, uint8 _type, uint256 _slippageP) external payable notPaused returns (uint256 orderId) {
        address trader = _msgSender();
        require(_type <= OpenKind.MOMENTUM, "PNL_ORDERS_NOT_SIMULATED");
        if (_type == OpenKind.MARKET) {
            orderId = _openMarket(trader, t, _slippageP);
            emit MarketOrderInitiated(trader, t.pairIndex, true, orderId, block.timestamp, t.buy, false, t.positionSizeUSDC, t.leverage);
            return orderId;
        }
        _checkNewTrade(trader, t, false);
        require(_slippageP > 0 && _slippageP <= _MAX_SLIPPAGE, "WRONG_SLIPPAGE");
        storageT.transferUSDC(trader, address(storageT), t.positionSizeUSDC);
        _payExecutionFee();
        _placeLimit(trader, t, _type, _slippageP);
        return 0;
    }

    function _placeLimit(address trader, Trade calldata t, uint8 _type, uint256 _slippageP) private {
        uint256 index = storageT.firstEmptyOpenLimitIndex(trader, t.pairIndex);
        storageT.storeOpenLimitOrder(
            OpenLimitOrder(
                trader, t.pairIndex, index, t.positionSizeUSDC, t.buy, t.leverage, t.tp, t.sl, t.openPrice, _slippageP, block.number, msg.value
            )
        );
        storageT.setOpenLimitOrderType(trader, t.pairIndex, index, _type);
        emit OpenLimitPlaced(trader, t.pairIndex, index, t.buy, t.openPrice, msg.value, _type, _slippageP, t.positionSizeUSDC);
    }

    // ---- closing -----------------------------------------------------------------------------

    /// @notice Requests a keeper close of `_amount` collateral (all of `initialPosToken` closes the
    /// trade). The trade is `beingMarketClosed` until the fill.
    function closeTradeMarket(uint256 _pairIndex, uint256 _index, uint256 _amount) external payable notPaused returns (uint256 orderId) {
        address trader = _msgSender();
        Trade memory t;
        (orderId, t) = _closeMarket(trader, _pairIndex, _index, _amount);
        emit MarketOrderInitiated(trader, _pairIndex, false, orderId, block.timestamp, t.buy, false, _amount, t.leverage);
    }

    // ---- open limit orders -------------------------------------------------------------------

    function updateOpenLimitOrder(uint256 _pairIndex, uint256 _index, uint256 _price, uint256 _slippageP, uint256 _tp, uint256 _sl)
        external
        notPaused
    {
        address trader = _msgSender();
        OpenLimitOrder memory o = _unlockedLimit(trader, _pairIndex, _index);
        require(_price > 0, "WRONG_PRICE");
        require(_slippageP > 0 && _slippageP <= _MAX_SLIPPAGE, "WRONG_SLIPPAGE");
        require(_tp == 0 || (o.buy ? _tp > _price : _tp < _price), "WRONG_TP");
        require(_sl == 0 || (o.buy ? _sl < _price : _sl > _price), "WRONG_SL");
        (o.price, o.slippageP, o.tp, o.sl, o.block) = (_price, _slippageP, _tp, _sl, block.number);
        storageT.updateOpenLimitOrder(o);
        emit OpenLimitUpdated(trader, _pairIndex, _index, _price, _tp, _sl, block.timestamp);
    }

    function cancelOpenLimitOrder(uint256 _pairIndex, uint256 _index) external {
        address trader = _msgSender();
        OpenLimitOrder memory o = _unlockedLimit(trader, _pairIndex, _index);
        storageT.unregisterOpenLimitOrder(trader, _pairIndex, _index);
        storageT.transferUSDC(address(storageT), trader, o.positionSize);
        emit OpenLimitCanceled(trader, _pairIndex, _index, block.timestamp, o.positionSize);
    }

    function _unlockedLimit(address trader, uint256 _pairIndex, uint256 _index) private view returns (OpenLimitOrder memory o) {
        require(storageT.hasOpenLimitOrder(trader, _pairIndex, _index), "NO_LIMIT");
        o = storageT.getOpenLimitOrder(trader, _pairIndex, _index);
        require(block.number - o.block >= limitOrdersTimelock, "LIMIT_TIMELOCK");
    }

    // ---- TP / SL -----------------------------------------------------------------------------

    function updateTpAndSl(
        uint256 _pairIndex,
        uint256 _index,
        uint256 _newSl,
        uint256 _newTP,
        bytes[] calldata priceUpdateData,
        uint8
    ) external payable notPaused {
        _updateTpAndSl(_pairIndex, _index, _newSl, _newTP, priceUpdateData);
    }

    function updateTpAndSl(uint256 _pairIndex, uint256 _index, uint256 _newSl, uint256 _newTP, bytes[] calldata priceUpdateData)
        external
        payable
        notPaused
    {
        _updateTpAndSl(_pairIndex, _index, _newSl, _newTP, priceUpdateData);
    }

    function updateSl(uint256 _pairIndex, uint256 _index, uint256 _newSl, bytes[] calldata priceUpdateData, uint8)
        external
        payable
        notPaused
    {
        _updateSl(_pairIndex, _index, _newSl, priceUpdateData);
    }

    function updateSl(uint256 _pairIndex, uint256 _index, uint256 _newSl, bytes[] calldata priceUpdateData) external payable notPaused {
        _updateSl(_pairIndex, _index, _newSl, priceUpdateData);
    }

    function _updateTpAndSl(uint256 _pairIndex, uint256 _index, uint256 _newSl, uint256 _newTp, bytes[] calldata data) private {
        address trader = _msgSender();
        (Trade memory t, uint256 price) = _tradeForTpSlUpdate(trader, _pairIndex, _index, data);
        uint256 tp = pairsStorage.correctTp(t.openPrice, t.leverage, _newTp, t.buy, _pairIndex);
        require(t.buy ? tp > price : tp < price, "WRONG_TP");
        _checkSl(t, _newSl, price);
        storageT.updateTp(trader, _pairIndex, _index, tp);
        storageT.updateSl(trader, _pairIndex, _index, _newSl);
        emit TpUpdated(trader, _pairIndex, _index, tp, block.timestamp);
        emit SlUpdated(trader, _pairIndex, _index, _newSl, block.timestamp);
    }

    function _updateSl(uint256 _pairIndex, uint256 _index, uint256 _newSl, bytes[] calldata data) private {
        address trader = _msgSender();
        (Trade memory t, uint256 price) = _tradeForTpSlUpdate(trader, _pairIndex, _index, data);
        _checkSl(t, _newSl, price);
        storageT.updateSl(trader, _pairIndex, _index, _newSl);
        emit SlUpdated(trader, _pairIndex, _index, _newSl, block.timestamp);
    }

    /// The live trade and the current price; reverts `LIMIT_TIMELOCK` until `limitOrdersTimelock`
    /// blocks have passed since the last TP or SL change (AVANTIS.md §3.6).
    function _tradeForTpSlUpdate(address trader, uint256 _pairIndex, uint256 _index, bytes[] calldata data)
        private
        returns (Trade memory t, uint256 price)
    {
        t = _liveTrade(trader, _pairIndex, _index);
        TradeInfo memory info = storageT.openTradesInfo(trader, _pairIndex, _index);
        uint256 last = info.tpLastUpdated > info.slLastUpdated ? info.tpLastUpdated : info.slLastUpdated;
        require(block.number - last >= limitOrdersTimelock, "LIMIT_TIMELOCK");
        price = _freshPrice(_pairIndex, data);
    }

    /// An SL must sit on the losing side of the current price and within `maxSlP` of the open.
    function _checkSl(Trade memory t, uint256 sl, uint256 price) private view {
        if (sl == 0) return;
        require(t.buy ? sl < price : sl > price, "WRONG_SL");
        uint256 dist = pairsStorage.maxSlDistance(t.openPrice, t.leverage, t.pairIndex);
        bool withinBound = t.buy ? sl + dist >= t.openPrice : sl <= t.openPrice + dist;
        require(withinBound, "SL_TOO_BIG");
    }

    // ---- margin ------------------------------------------------------------------------------

    function updateMargin(uint256 _pairIndex, uint256 _index, uint8 _type, uint256 _amount, bytes[] calldata priceUpdateData, uint8)
        external
        payable
        notPaused
        returns (uint256 orderId)
    {
        return _updateMargin(_pairIndex, _index, _type, _amount, priceUpdateData);
    }

    function updateMargin(uint256 _pairIndex, uint256 _index, uint8 _type, uint256 _amount, bytes[] calldata priceUpdateData)
        external
        payable
        notPaused
        returns (uint256 orderId)
    {
        return _updateMargin(_pairIndex, _index, _type, _amount, priceUpdateData);
    }

    /// @notice One-step margin change at the supplied price: the notional stays, leverage moves.
    function _updateMargin(uint256 _pairIndex, uint256 _index, uint8 _type, uint256 _amount, bytes[] calldata data)
        private
        returns (uint256 orderId)
    {
        address trader = _msgSender();
        Trade memory t = _liveTrade(trader, _pairIndex, _index);
        require(_type <= WITHDRAW && _amount > 0, "WRONG_AMOUNT");
        require(_type == DEPOSIT || _amount < t.initialPosToken, "WRONG_AMOUNT");
        orderId = storageT.newOrderId();
        uint256 price = _priceForOrder(orderId, _pairIndex, data);

        uint256 notional = storageT.openTradesInfo(trader, _pairIndex, _index).openInterestUSDC;
        uint256 collateral = _type == DEPOSIT ? t.initialPosToken + _amount : t.initialPosToken - _amount;
        if (_type == DEPOSIT) {
            storageT.transferUSDC(trader, address(storageT), _amount);
        } else {
            _checkWithdrawable(t, notional, collateral, price);
            storageT.transferUSDC(address(storageT), trader, _amount);
        }
        (t.initialPosToken, t.leverage) = (collateral, _leverageFor(_pairIndex, notional, collateral));
        storageT.updateTrade(t);
        _emitMarginUpdated(trader, _pairIndex, _index, _type);
    }

    function _leverageFor(uint256 pairIndex, uint256 notional, uint256 collateral) private view returns (uint256 leverage) {
        leverage = (notional * Units.PRECISION) / collateral;
        require(
            leverage >= pairsStorage.pairMinLeverage(pairIndex, false) && leverage <= pairsStorage.pairMaxLeverage(pairIndex, false),
            "LEVERAGE_INCORRECT"
        );
    }

    function _emitMarginUpdated(address trader, uint256 pairIndex, uint256 index, uint8 kind) private {
        Trade memory stored = storageT.openTrades(trader, pairIndex, index);
        emit MarginUpdated(trader, pairIndex, index, kind, stored, 0, 0, block.timestamp);
    }

    /// After a withdrawal, collateral + PnL must stay above 20 % of the collateral.
    function _checkWithdrawable(Trade memory t, uint256 notional, uint256 collateral, uint256 price) private pure {
        int256 move = t.buy ? int256(price) - int256(t.openPrice) : int256(t.openPrice) - int256(price);
        int256 pnl = (int256(notional) * move) / int256(t.openPrice);
        require(int256(collateral) + pnl > int256((collateral * WITHDRAW_MIN_VALUE_P) / 100), "WITHDRAW_THRESHOLD");
    }

    // ---- keeper ------------------------------------------------------------------------------

    function executeMarketOrders(uint256[] calldata orderId, bytes[] calldata priceUpdateData, uint8, int256 spreadP)
        external
        payable
        onlyOperator
    {
        _executeMarketOrders(orderId, priceUpdateData, spreadP);
    }

    function executeMarketOrders(uint256[] calldata orderId, bytes[] calldata priceUpdateData, uint8) external payable onlyOperator {
        _executeMarketOrders(orderId, priceUpdateData, -1);
    }

    /// @notice Fills each still-pending order at the oracle price after pushing `priceUpdateData`.
    /// A negative `spreadP` means "use the pair's spread"; spread applies to opens only.
    function _executeMarketOrders(uint256[] calldata ids, bytes[] calldata data, int256 spreadP) private {
        aggregator.updatePrices{value: msg.value}(data);
        for (uint256 i = 0; i < ids.length; i++) {
            Trade memory t = storageT.reqIDpendingMarketOrder(ids[i]).trade;
            if (t.trader == address(0)) continue; // already filled or cancelled
            bool isOpen = storageT.isPendingOpen(ids[i]);
            uint256 price = aggregator.priceForOrder(ids[i], t.pairIndex, isOpen);
            if (isOpen) callbacks.fillMarketOpen(ids[i], price, _spread(t.pairIndex, spreadP));
            else callbacks.fillMarketClose(ids[i], price);
        }
    }

    function executeLimitOrder(
        uint8 _orderType,
        address _trader,
        uint256 _pairIndex,
        uint256 _index,
        bytes[] calldata priceUpdateData,
        uint8,
        int256 spreadP
    ) external payable onlyOperator {
        _executeLimitOrder(_orderType, _trader, _pairIndex, _index, priceUpdateData, spreadP);
    }

    function executeLimitOrder(
        uint8 _orderType,
        address _trader,
        uint256 _pairIndex,
        uint256 _index,
        bytes[] calldata priceUpdateData,
        uint8
    ) external payable onlyOperator {
        _executeLimitOrder(_orderType, _trader, _pairIndex, _index, priceUpdateData, -1);
    }

    /// @notice TP (0), SL (1), liquidation (2) of a trade, or the fill of an open limit order (3).
    /// Reverts `NOT_TRIGGERED` when the oracle price has not reached the trigger.
    function _executeLimitOrder(uint8 kind, address trader, uint256 pairIndex, uint256 index, bytes[] calldata data, int256 spreadP)
        private
    {
        require(kind <= LimitKind.OPEN, "WRONG_ORDER_TYPE");
        aggregator.updatePrices{value: msg.value}(data);
        uint256 orderId = storageT.newOrderId();
        emit LimitOrderInitiated(trader, pairIndex, orderId, block.timestamp);
        uint256 price = aggregator.priceForOrder(orderId, pairIndex, kind == LimitKind.OPEN);
        if (kind == LimitKind.OPEN) callbacks.fillLimitOpen(orderId, trader, pairIndex, index, price, _spread(pairIndex, spreadP));
        else callbacks.fillLimitClose(orderId, kind, trader, pairIndex, index, price);
    }

    /// @notice Operator clean-up of a stuck market order (refunds an open's collateral).
    function cancelPendingMarketOrder(uint256 _id) external onlyOperator {
        storageT.forceUnregisterPendingMarketOrder(_id);
    }

    // ---- helpers -----------------------------------------------------------------------------

    function _freshPrice(uint256 pairIndex, bytes[] calldata data) private returns (uint256) {
        return _priceForOrder(storageT.newOrderId(), pairIndex, data);
    }

    function _priceForOrder(uint256 orderId, uint256 pairIndex, bytes[] calldata data) private returns (uint256) {
        aggregator.updatePrices{value: msg.value}(data);
        return aggregator.priceForOrder(orderId, pairIndex, false);
    }

    function _spread(uint256 pairIndex, int256 spreadP) private view returns (uint256) {
        return spreadP < 0 ? pairsStorage.pairSpreadP(pairIndex, false) : uint256(spreadP);
    }
}
