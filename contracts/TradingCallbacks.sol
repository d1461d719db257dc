// SPDX-License-Identifier: UNLICENSED
pragma solidity 0.8.37;

import {ITradingStorage, Units, LimitKind, OpenKind, Governed} from "./AvantisTypes.sol";
import {TradingStorage} from "./TradingStorage.sol";
import {PairStorage} from "./PairStorage.sol";
import {PairInfos} from "./PairInfos.sol";
import {PriceAggregator} from "./PriceAggregator.sol";
import {SimVaultManager} from "./SimVaultManager.sol";

/// @title TradingCallbacks (simulator)
/// @notice Executes fills at an oracle price handed over by Trading and emits the v1 outcome
/// events (`MarketExecuted`, `LimitExecuted`, `MarketOpenCanceled`) from this address, which is
/// `TradingStorage.callbacks()`, as on mainnet.
/// @dev USDC on close: the closing fee stays in TradingStorage as `govFeesUSDC`; of the rest of
/// the closed collateral the trader gets up to the trade's value and the remainder goes to the
/// vault; profit beyond the collateral is paid by the vault.
contract TradingCallbacks is ITradingStorage, Governed {
    TradingStorage public immutable storageT;
    PairStorage public immutable pairsStorage;
    PairInfos public immutable pairInfos;
    PriceAggregator public immutable aggregator;
    SimVaultManager public immutable vault;
    address public trading;

    event MarketExecuted(
        uint256 orderId,
        Trade t,
        bool open,
        uint256 price,
        uint256 positionSizeUSDC,
        int256 percentProfit,
        uint256 usdcSentToTrader,
        bool isPnl
    );
    event LimitExecuted(
        uint256 orderId,
        uint256 limitIndex,
        Trade t,
        uint8 orderType,
        uint256 price,
        uint256 positionSizeUSDC,
        int256 percentProfit,
        uint256 usdcSentToTrader,
        bool isPnl
    );
    event MarketOpenCanceled(uint256 orderId, address indexed trader, uint256 pairIndex);

    constructor(
        TradingStorage _storageT,
        PairStorage _pairsStorage,
        PairInfos _pairInfos,
        PriceAggregator _aggregator,
        SimVaultManager _vault
    ) {
        storageT = _storageT;
        pairsStorage = _pairsStorage;
        pairInfos = _pairInfos;
        aggregator = _aggregator;
        vault = _vault;
    }

    modifier onlyTrading() {
        require(msg.sender == trading, "ONLY_TRADING");
        _;
    }

    function setTrading(address a) external onlyGov {
        trading = a;
    }

    // ---- market orders -----------------------------------------------------------------------

    /// @notice Fills a pending market open, or cancels it with a full refund when the fill price
    /// breaks the trader's slippage, TP or SL, or no trade slot is left.
    function fillMarketOpen(uint256 orderId, uint256 oraclePrice, uint256 spreadP) external onlyTrading {
        PendingMarketOrder memory o = storageT.reqIDpendingMarketOrder(orderId);
        Trade memory t = o.trade;
        storageT.unregisterPendingMarketOrder(orderId, true);

        uint256 fillPrice = _withSpread(oraclePrice, spreadP, t.buy);
        bool fillable = _withinSlippage(fillPrice, o.wantedPrice, o.slippageP, t.buy) && _tpSlStillValid(t, fillPrice)
            && storageT.firstEmptyTradeIndex(t.trader, t.pairIndex) < storageT.maxTradesPerPair();
        if (!fillable) {
            storageT.transferUSDC(address(storageT), t.trader, t.positionSizeUSDC);
            emit MarketOpenCanceled(orderId, t.trader, t.pairIndex);
            return;
        }
        t.openPrice = fillPrice;
        Trade memory stored = _registerTrade(t);
        emit MarketExecuted(orderId, stored, true, fillPrice, stored.initialPosToken, 0, 0, false);
    }

    /// @notice Fills a pending market close (whole trade or part of its collateral).
    function fillMarketClose(uint256 orderId, uint256 price) external onlyTrading {
        Trade memory req = storageT.reqIDpendingMarketOrder(orderId).trade;
        storageT.unregisterPendingMarketOrder(orderId, false);
        Trade memory t = storageT.openTrades(req.trader, req.pairIndex, req.index);
        if (t.leverage == 0) return; // closed meanwhile by TP, SL or liquidation
        storageT.setBeingMarketClosed(t.trader, t.pairIndex, t.index, false);

        uint256 amount = req.positionSizeUSDC < t.initialPosToken ? req.positionSizeUSDC : t.initialPosToken;
        (uint256 sent, int256 percentProfit) = _closeTrade(t, amount, price, false);
        emit MarketExecuted(orderId, t, false, price, amount, percentProfit, sent, false);
    }

    // ---- limit orders and triggers -----------------------------------------------------------

    /// @notice Opens a trade from a limit (MOMENTUM) or stop (REVERSAL) order whose trigger the
    /// oracle price has reached. Reverts, leaving the order in place, when it has not.
    function fillLimitOpen(uint256 orderId, address trader, uint256 pairIndex, uint256 index, uint256 oraclePrice, uint256 spreadP)
        external
        onlyTrading
    {
        OpenLimitOrder memory o = storageT.getOpenLimitOrder(trader, pairIndex, index);
        uint8 kind = storageT.openLimitOrderTypes(trader, pairIndex, index);
        bool triggered = kind == OpenKind.MOMENTUM
            ? (o.buy ? oraclePrice <= o.price : oraclePrice >= o.price)
            : (o.buy ? oraclePrice >= o.price : oraclePrice <= o.price);
        require(triggered, "NOT_TRIGGERED");

        uint256 fillPrice = _withSpread(oraclePrice, spreadP, o.buy);
        Trade memory t = Trade(trader, pairIndex, 0, 0, o.positionSize, fillPrice, o.buy, o.leverage, o.tp, o.sl, 0);
        require(_withinSlippage(fillPrice, o.price, o.slippageP, o.buy), "SLIPPAGE_EXCEEDED");
        require(_tpSlStillValid(t, fillPrice), "TP_SL_REACHED");
        require(storageT.firstEmptyTradeIndex(trader, pairIndex) < storageT.maxTradesPerPair(), "MAX_TRADES_PER_PAIR");

        storageT.unregisterOpenLimitOrder(trader, pairIndex, index);
        Trade memory stored = _registerTrade(t); // the escrowed USDC becomes the collateral
        // v1 puts the order's trigger price in percentProfit on OPEN (AVANTIS.md §5.1).
        emit LimitExecuted(orderId, index, stored, LimitKind.OPEN, fillPrice, stored.initialPosToken, int256(o.price), 0, false);
    }

    /// @notice Closes a whole trade on its TP, its SL or its liquidation price.
    function fillLimitClose(uint256 orderId, uint8 orderType, address trader, uint256 pairIndex, uint256 index, uint256 price)
        external
        onlyTrading
    {
        Trade memory t = storageT.openTrades(trader, pairIndex, index);
        require(t.leverage != 0, "NO_TRADE");
        require(!storageT.openTradesInfo(trader, pairIndex, index).beingMarketClosed, "ALREADY_BEING_CLOSED");
        require(_closeTriggered(t, orderType, price), "NOT_TRIGGERED");

        (uint256 sent, int256 percentProfit) = _closeTrade(t, t.initialPosToken, price, orderType == LimitKind.LIQ);
        emit LimitExecuted(orderId, index, t, orderType, price, t.initialPosToken, percentProfit, sent, false);
    }

    function _closeTriggered(Trade memory t, uint8 orderType, uint256 price) private view returns (bool) {
        if (orderType == LimitKind.TP) return t.tp != 0 && (t.buy ? price >= t.tp : price <= t.tp);
        if (orderType == LimitKind.SL) return t.sl != 0 && (t.buy ? price <= t.sl : price >= t.sl);
        if (orderType == LimitKind.LIQ) {
            uint256 liq = pairInfos.getTradeLiquidationPrice(
                t.trader, t.pairIndex, t.index, t.openPrice, t.buy, t.initialPosToken, t.leverage
            );
            return t.buy ? price <= liq : price >= liq;
        }
        return false;
    }

    // ---- shared steps ------------------------------------------------------------------------

    /// Charges the opening fee, picks the lowest free slot, corrects TP/SL and books open interest.
    /// `t.positionSizeUSDC` holds the collateral on entry.
    function _registerTrade(Trade memory t) private returns (Trade memory) {
        uint256 collateral = t.positionSizeUSDC;
        uint256 levPos = (collateral * t.leverage) / Units.PRECISION;
        uint256 fee = (levPos * aggregator.openFeeP(t.pairIndex, levPos, t.buy)) / Units.PRECISION / 100;
        storageT.chargeFee(t.trader, t.pairIndex, t.buy, fee);

        t.initialPosToken = collateral - fee;
        t.index = storageT.firstEmptyTradeIndex(t.trader, t.pairIndex);
        t.tp = pairsStorage.correctTp(t.openPrice, t.leverage, t.tp, t.buy, t.pairIndex);
        t.sl = pairsStorage.correctSl(t.openPrice, t.leverage, t.sl, t.buy, t.pairIndex);
        t.timestamp = block.timestamp;
        t.positionSizeUSDC = block.timestamp; // v1 stores and emits the timestamp here

        uint256 oi = (t.initialPosToken * t.leverage) / Units.PRECISION;
        storageT.storeTrade(t, TradeInfo(oi, block.number, block.number, false, 0), false);
        storageT.updateOI(t.trader, t.pairIndex, t.buy, true, oi, t.openPrice);
        return t;
    }

    /// Closes `collateral` of trade `t` at `price` and settles the USDC.
    /// @return sent USDC paid to the trader. @return percentProfit 1e10 %.
    function _closeTrade(Trade memory t, uint256 collateral, uint256 price, bool liquidation)
        private
        returns (uint256 sent, int256 percentProfit)
    {
        percentProfit = pairsStorage.currentPercentProfit(t.openPrice, price, t.buy, t.leverage, t.pairIndex);
        uint256 closingFee = _closingFee(t, collateral, percentProfit);
        (uint256 value,,) = pairInfos.getTradeValue(t, collateral, percentProfit, closingFee);
        if (liquidation) value = 0;

        _releaseOpenInterest(t, collateral, price);
        storageT.chargeFee(t.trader, t.pairIndex, t.buy, closingFee);
        _settle(t.trader, collateral - closingFee, value);
        return (value, percentProfit);
    }

    /// Close fee on the position's value at close, `(notional + pnl) × closeFeeP`, never more
    /// than the collateral being closed.
    function _closingFee(Trade memory t, uint256 collateral, int256 percentProfit) private view returns (uint256) {
        int256 pnl = (int256(collateral) * percentProfit) / int256(Units.PRECISION) / 100;
        int256 base = int256((collateral * t.leverage) / Units.PRECISION) + pnl;
        if (base <= 0) return 0;
        uint256 fee = (uint256(base) * pairsStorage.pairCloseFeeP(t.pairIndex)) / Units.PRECISION / 100;
        return fee < collateral ? fee : collateral;
    }

    function _releaseOpenInterest(Trade memory t, uint256 collateral, uint256 price) private {
        uint256 oi = storageT.openTradesInfo(t.trader, t.pairIndex, t.index).openInterestUSDC;
        if (collateral == t.initialPosToken) {
            storageT.unregisterTrade(t.trader, t.pairIndex, t.index);
        } else {
            oi = (oi * collateral) / t.initialPosToken;
            storageT.registerPartialTrade(t.trader, t.pairIndex, t.index, collateral);
        }
        storageT.updateOI(t.trader, t.pairIndex, t.buy, false, oi, price);
    }

    /// `held` is the closed collateral net of the closing fee, still in TradingStorage.
    function _settle(address trader, uint256 held, uint256 value) private {
        address storageAddr = address(storageT);
        if (value >= held) {
            storageT.transferUSDC(storageAddr, trader, held);
            if (value > held) vault.sendUSDCToTrader(trader, value - held);
        } else {
            storageT.transferUSDC(storageAddr, trader, value);
            storageT.transferUSDC(storageAddr, address(vault), held - value);
        }
    }

    function _withSpread(uint256 price, uint256 spreadP, bool buy) private pure returns (uint256) {
        uint256 spread = (price * spreadP) / 100 / Units.PRECISION;
        return buy ? price + spread : price - spread;
    }

    /// A long may not fill above `wanted + band`, a short not below `wanted − band`.
    function _withinSlippage(uint256 fillPrice, uint256 wanted, uint256 slippageP, bool buy) private pure returns (bool) {
        uint256 band = (wanted * slippageP) / 100 / Units.PRECISION;
        return buy ? fillPrice <= wanted + band : fillPrice + band >= wanted;
    }

    function _tpSlStillValid(Trade memory t, uint256 fillPrice) private pure returns (bool) {
        if (t.tp != 0 && (t.buy ? t.tp <= fillPrice : t.tp >= fillPrice)) return false;
        if (t.sl != 0 && (t.buy ? t.sl >= fillPrice : t.sl <= fillPrice)) return false;
        return true;
    }
}
