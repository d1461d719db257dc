// SPDX-License-Identifier: UNLICENSED
pragma solidity 0.8.37;

import {ITradingStorage, Units, Governed} from "./AvantisTypes.sol";

/// @title PairInfos (simulator)
/// @notice Liquidation price and close-value maths of AVANTIS.md §4.5, with the v1 signatures.
/// @dev Simplified: no rollover (margin) fee accrues, so every rollover fee is 0; there is no
/// loss protection (tier 0, multiplier 100 %).
contract PairInfos is Governed {
    uint256 public liqThreshold = 85; // percent of collateral lost at which a trade is liquidated
    address public callbacks;

    event FeesCharged(
        bool buy, uint256 collateral, uint256 leverage, int256 percentProfit, uint256 r, uint256 closingFee, uint256 lossProtection
    );
    event LiqThresholdUpdated(uint256 liqThreshold);

    function setCallbacks(address a) external onlyGov {
        callbacks = a;
    }

    function udpateLiquidationThreshold(uint256 _liqThreshold) external onlyGov {
        require(_liqThreshold > 0 && _liqThreshold < 100, "WRONG_THRESHOLD");
        liqThreshold = _liqThreshold;
        emit LiqThresholdUpdated(_liqThreshold);
    }

    function getTradeRolloverFee(address, uint256, uint256, bool, uint256, uint256) public view returns (uint256) {
        return 0;
    }

    function getTradeRolloverFeePure(uint256, uint256, uint256, uint256) external pure returns (uint256) {
        return 0;
    }

    function getTradeLiquidationPrice(
        address trader,
        uint256 pairIndex,
        uint256 index,
        uint256 openPrice,
        bool long,
        uint256 collateral,
        uint256 leverage
    ) external view returns (uint256) {
        uint256 rollover = getTradeRolloverFee(trader, pairIndex, index, long, collateral, leverage);
        return getTradeLiquidationPricePure(openPrice, long, collateral, leverage, rollover);
    }

    /// @notice `dist = open × (collateral × liqThreshold / 100 − rollover) / (collateral × lev)`.
    function getTradeLiquidationPricePure(uint256 openPrice, bool long, uint256 collateral, uint256 leverage, uint256 rolloverFee)
        public
        view
        returns (uint256)
    {
        uint256 cushion = (collateral * liqThreshold) / 100;
        cushion = cushion > rolloverFee ? cushion - rolloverFee : 0;
        uint256 dist = (openPrice * cushion) / ((collateral * leverage) / Units.PRECISION);
        if (long) return dist >= openPrice ? 0 : openPrice - dist;
        return openPrice + dist;
    }

    /// @return value USDC owed to the trader, `pnl` signed profit, `fees` rollover + closing fee.
    function getTradeValuePure(uint256 collateral, int256 percentProfit, uint256 rolloverFee, uint256 closingFee, uint256)
        public
        view
        returns (uint256 value, int256 pnl, uint256 fees)
    {
        pnl = (int256(collateral) * percentProfit) / int256(Units.PRECISION) / 100;
        fees = rolloverFee + closingFee;
        int256 v = int256(collateral) + pnl - int256(fees);
        uint256 liquidationFloor = (collateral * (100 - liqThreshold)) / 100;
        value = v > int256(liquidationFloor) ? uint256(v) : 0;
    }

    /// @notice Close-time valuation that also logs the charges (only the callbacks contract).
    function getTradeValue(ITradingStorage.Trade memory _trade, uint256 _collateral, int256 _percentProfit, uint256 _closingFee)
        external
        returns (uint256 value, int256 pnl, uint256 fees)
    {
        require(msg.sender == callbacks, "ONLY_CALLBACKS");
        (value, pnl, fees) = getTradeValuePure(_collateral, _percentProfit, 0, _closingFee, 0);
        emit FeesCharged(_trade.buy, _collateral, _trade.leverage, _percentProfit, 0, _closingFee, 0);
    }
}
