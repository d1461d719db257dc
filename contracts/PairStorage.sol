// SPDX-License-Identifier: UNLICENSED
pragma solidity 0.8.37;

import {IPairStorage, Units, Governed} from "./AvantisTypes.sol";

/// @title PairStorage (simulator)
/// @notice Pair, group and fee catalogue with the v1 read surface (AVANTIS.md §4.3) and the v1
/// admin writers `addGroup`, `addFee`, `addPair`, `setPairData` used to seed it.
/// @dev Simplified: the opening fee is the flat `Fee.openFeeP` (no OI-skew table), there are no
/// PnL (zero-fee) fee tiers in force, and OI caps are stored but not enforced.
contract PairStorage is IPairStorage, Governed {
    struct PairName {
        string from;
        string to;
    }

    Pair[] private _pairs;
    PairName[] private _names;
    Group[] private _groups;
    Fee[] private _fees;

    event GroupAdded(uint256 index, string name);
    event FeeAdded(uint256 index);
    event PairAdded(uint256 index, bytes32 feedId);
    event PairDataUpdated(uint256 index, string from, string to, uint256 numTiers, uint256[] tierThresholds, uint256[] timer);

    // ---- admin -------------------------------------------------------------------------------

    function addGroup(Group calldata _group) external onlyGov {
        _groups.push(_group);
        emit GroupAdded(_groups.length - 1, _group.name);
    }

    function addFee(Fee calldata _fee) external onlyGov {
        _fees.push(_fee);
        emit FeeAdded(_fees.length - 1);
    }

    /// @notice Appends a pair at index `pairsCount()`. A pair stays delisted (empty `from`) until
    /// `setPairData` names it, so gaps in the real index space can be reproduced.
    function addPair(Pair calldata _pair) external onlyGov {
        require(_pair.groupIndex < _groups.length, "GROUP_NOT_LISTED");
        require(_pair.feeIndex < _fees.length, "FEE_NOT_LISTED");
        require(_pair.leverages.minLeverage <= _pair.leverages.maxLeverage, "LEVERAGE_INCORRECT");
        _pairs.push(_pair);
        _names.push(PairName("", ""));
        emit PairAdded(_pairs.length - 1, _pair.feed.feedId);
    }

    function setPairData(
        uint256 _pairIndex,
        string calldata _from,
        string calldata _to,
        uint256 _numTiers,
        uint256[] calldata _tierThresholds,
        uint256[] calldata _timer
    ) external onlyGov {
        require(_pairIndex < _pairs.length, "PAIR_NOT_LISTED");
        require(_numTiers == 0 && _tierThresholds.length == 0 && _timer.length == 0, "TIERS_NOT_SIMULATED");
        _names[_pairIndex] = PairName(_from, _to);
        emit PairDataUpdated(_pairIndex, _from, _to, _numTiers, _tierThresholds, _timer);
    }

    // ---- catalogue reads ---------------------------------------------------------------------

    function pairsCount() external view returns (uint256) {
        return _pairs.length;
    }

    function groupsCount() external view returns (uint256) {
        return _groups.length;
    }

    function feesCount() external view returns (uint256) {
        return _fees.length;
    }

    function isListed(uint256 _pairIndex) public view returns (bool) {
        return _pairIndex < _pairs.length && bytes(_names[_pairIndex].from).length != 0;
    }

    function pairs(uint256 i)
        external
        view
        returns (
            Feed memory feed,
            BackupFeed memory backupFeed,
            uint256 spreadP,
            uint256 pnlSpreadP,
            Leverage memory leverages,
            uint256 priceImpactMultiplier,
            int256 skewImpactMultiplier,
            uint256 groupIndex,
            uint256 feeIndex,
            Values memory values
        )
    {
        Pair storage p = _pairAt(i);
        return (
            p.feed,
            p.backupFeed,
            p.spreadP,
            p.pnlSpreadP,
            p.leverages,
            p.priceImpactMultiplier,
            p.skewImpactMultiplier,
            p.groupIndex,
            p.feeIndex,
            p.values
        );
    }

    function getPairData(uint256 _pairIndex)
        external
        view
        returns (string memory from, string memory to, uint256 numTiers, uint256[] memory tierThresholds, uint256[] memory timer)
    {
        _pairAt(_pairIndex);
        PairName storage n = _names[_pairIndex];
        return (n.from, n.to, 0, new uint256[](0), new uint256[](0));
    }

    function groups(uint256 i) external view returns (string memory name, uint256 maxOpenInterestP, bool isSpreadDynamic) {
        Group storage g = _groups[i];
        return (g.name, g.maxOpenInterestP, g.isSpreadDynamic);
    }

    function fees(uint256 i)
        external
        view
        returns (uint256 openFeeP, uint256 closeFeeP, uint256 limitOrderFeeP, uint256 minLevPosUSDC, PnlFees memory pnlFees)
    {
        Fee storage f = _fees[i];
        return (f.openFeeP, f.closeFeeP, f.limitOrderFeeP, f.minLevPosUSDC, f.pnlFees);
    }

    function pairFeed(uint256 _pairIndex) external view returns (Feed memory) {
        return _pairAt(_pairIndex).feed;
    }

    function pairBackupFeed(uint256 _pairIndex) external view returns (BackupFeed memory) {
        return _pairAt(_pairIndex).backupFeed;
    }

    function pairGroupIndex(uint256 _pairIndex) external view returns (uint256) {
        return _pairAt(_pairIndex).groupIndex;
    }

    function pairMinLeverage(uint256 _pairIndex, bool _isPnl) external view returns (uint256) {
        Leverage storage l = _pairAt(_pairIndex).leverages;
        return _isPnl ? l.pnlMinLeverage : l.minLeverage;
    }

    function pairMaxLeverage(uint256 _pairIndex, bool _isPnl) external view returns (uint256) {
        Leverage storage l = _pairAt(_pairIndex).leverages;
        return _isPnl ? l.pnlMaxLeverage : l.maxLeverage;
    }

    function pairSpreadP(uint256 _pairIndex, bool _isPnl) external view returns (uint256) {
        Pair storage p = _pairAt(_pairIndex);
        return _isPnl ? p.pnlSpreadP : p.spreadP;
    }

    function pairOpenFeeP(uint256 _pairIndex, uint256, bool) external view returns (uint256) {
        return _feeOf(_pairIndex).openFeeP;
    }

    function pairCloseFeeP(uint256 _pairIndex) external view returns (uint256) {
        return _feeOf(_pairIndex).closeFeeP;
    }

    function pairLimitOrderFeeP(uint256 _pairIndex) external view returns (uint256) {
        return _feeOf(_pairIndex).limitOrderFeeP;
    }

    /// @return Minimum notional (collateral × leverage), USDC 1e6.
    function pairMinLevPosUSDC(uint256 _pairIndex) external view returns (uint256) {
        return _feeOf(_pairIndex).minLevPosUSDC;
    }

    // ---- trade maths (AVANTIS.md §4.5) -------------------------------------------------------

    /// @notice `tp == 0` or a TP beyond the max-gain cap becomes the cap price.
    function correctTp(uint256 openPrice, uint256 leverage, uint256 tp, bool buy, uint256 pairIndex)
        public
        view
        returns (uint256)
    {
        // maxGainP is percent × 1e10 and leverage × 1e10, so the scales cancel.
        uint256 maxGainP = uint256(_pairAt(pairIndex).values.maxGainP);
        uint256 dist = (openPrice * maxGainP) / 100 / leverage;
        if (buy) {
            uint256 cap = openPrice + dist;
            return (tp == 0 || tp > cap) ? cap : tp;
        }
        uint256 capShort = dist >= openPrice ? 0 : openPrice - dist;
        return (tp == 0 || tp < capShort) ? capShort : tp;
    }

    /// @notice An SL further away than `maxSlP` % of loss is pulled back to that bound.
    function correctSl(uint256 openPrice, uint256 leverage, uint256 sl, bool buy, uint256 pairIndex)
        public
        view
        returns (uint256)
    {
        if (sl == 0) return 0;
        uint256 dist = maxSlDistance(openPrice, leverage, pairIndex);
        if (buy) {
            uint256 bound = dist >= openPrice ? 0 : openPrice - dist;
            return sl < bound ? bound : sl;
        }
        uint256 boundShort = openPrice + dist;
        return sl > boundShort ? boundShort : sl;
    }

    /// @notice Price distance at which the loss reaches `maxSlP` % of collateral.
    function maxSlDistance(uint256 openPrice, uint256 leverage, uint256 pairIndex) public view returns (uint256) {
        uint256 maxSlP = uint256(_pairAt(pairIndex).values.maxSlP);
        return (openPrice * maxSlP) / 100 / leverage;
    }

    /// @return p Profit in percent × 1e10, clamped to [-100 %, +maxGainP %].
    function currentPercentProfit(uint256 openPrice, uint256 currentPrice, bool buy, uint256 leverage, uint256 pairIndex)
        external
        view
        returns (int256 p)
    {
        int256 open = int256(openPrice);
        int256 move = buy ? int256(currentPrice) - open : open - int256(currentPrice);
        p = (move * 100 * int256(leverage)) / open;
        int256 maxGain = _pairAt(pairIndex).values.maxGainP;
        int256 maxLoss = -100 * int256(Units.PRECISION);
        if (p > maxGain) p = maxGain;
        if (p < maxLoss) p = maxLoss;
    }

    function _pairAt(uint256 i) private view returns (Pair storage) {
        require(i < _pairs.length, "PAIR_NOT_LISTED");
        return _pairs[i];
    }

    function _feeOf(uint256 pairIndex) private view returns (Fee storage) {
        return _fees[_pairAt(pairIndex).feeIndex];
    }
}
