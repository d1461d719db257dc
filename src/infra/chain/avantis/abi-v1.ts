/**
 * Typed fragments of the Avantis v1 ABI, the subset this client calls, reads and decodes.
 *
 * VERIFIED: every fragment here is checked item by item (name, parameter names and types,
 * struct components, `indexed`, mutability, outputs) against the vendored v1 ABI JSON in
 * src/infra/chain/abi/v1 by test/infra/chain/avantis/abi.test.ts. The JSON files stay the source
 * of truth; these copies exist because viem can only type arguments and decoded values from
 * a literal ABI, and JSON imports are not literal.
 */
import { parseAbi } from 'viem';

const TRADE = 'struct Trade { address trader; uint256 pairIndex; uint256 index; uint256 initialPosToken; uint256 positionSizeUSDC; uint256 openPrice; bool buy; uint256 leverage; uint256 tp; uint256 sl; uint256 timestamp; }';
const TRADE_INFO = 'struct TradeInfo { uint256 openInterestUSDC; uint256 tpLastUpdated; uint256 slLastUpdated; bool beingMarketClosed; uint256 lossProtection; }';
const OPEN_LIMIT_ORDER =
  'struct OpenLimitOrder { address trader; uint256 pairIndex; uint256 index; uint256 positionSize; bool buy; uint256 leverage; uint256 tp; uint256 sl; uint256 price; uint256 slippageP; uint256 block; uint256 executionFee; }';
const PENDING_MARKET_ORDER = 'struct PendingMarketOrder { Trade trade; uint256 block; uint256 wantedPrice; uint256 slippageP; }';

/** Trading (the v1 entry point; the v2 TradingRouter keeps its address). */
export const tradingAbi = parseAbi([
  TRADE,
  'function openTrade(Trade t, uint8 _type, uint256 _slippageP) payable returns (uint256 orderId)',
  'function closeTradeMarket(uint256 _pairIndex, uint256 _index, uint256 _amount) payable returns (uint256 orderId)',
  'function updateTpAndSl(uint256 _pairIndex, uint256 _index, uint256 _newSl, uint256 _newTP, bytes[] priceUpdateData, uint8 _priceSourcing) payable',
  'function updateMargin(uint256 _pairIndex, uint256 _index, uint8 _type, uint256 _amount, bytes[] priceUpdateData, uint8 _priceSourcing) payable returns (uint256 orderId)',
  'function cancelOpenLimitOrder(uint256 _pairIndex, uint256 _index)',
  'function updateOpenLimitOrder(uint256 _pairIndex, uint256 _index, uint256 _price, uint256 _slippageP, uint256 _tp, uint256 _sl)',
  'function setDelegate(address delegate)',
  'function removeDelegate()',
  'function delegations(address) view returns (address)',
  'function delegatedAction(address trader, bytes call_data) payable returns (bytes)',
  'function limitOrdersTimelock() view returns (uint256)',
  'function pairInfos() view returns (address)',
  'function storageT() view returns (address)',
  'function paused() view returns (bool)',
  'event MarketOrderInitiated(address indexed trader, uint256 pairIndex, bool open, uint256 orderId, uint256 timestamp, bool isBuy, bool isPnl, uint256 initialPosToken, uint256 leverage)',
  'event OpenLimitPlaced(address indexed trader, uint256 pairIndex, uint256 index, bool isBuy, uint256 openPrice, uint256 executionFee, uint8 orderType, uint256 slippageP, uint256 collateral)',
  'event OpenLimitUpdated(address indexed trader, uint256 pairIndex, uint256 index, uint256 newPrice, uint256 newTp, uint256 newSl, uint256 timestamp)',
  'event OpenLimitCanceled(address indexed trader, uint256 pairIndex, uint256 index, uint256 timestamp, uint256 collateral)',
  'event TpUpdated(address indexed trader, uint256 pairIndex, uint256 index, uint256 newTp, uint256 timestamp)',
  'event SlUpdated(address indexed trader, uint256 pairIndex, uint256 index, uint256 newSl, uint256 timestamp)',
  'event SlUpdateInitiated(address indexed trader, uint256 pairIndex, uint256 index, uint256 newSl, uint256 orderId, uint256 timestamp)',
  'event MarginUpdated(address indexed trader, uint256 pairIndex, uint256 index, uint8 _type, Trade newTrade, uint256 marginFees, uint256 lossProtectionTier, uint256 timestamp)',
  'event LimitOrderInitiated(address indexed trader, uint256 pairIndex, uint256 orderId, uint256 timestamp)',
]);

/** TradingCallbacks: fills and their outcomes. Its address is `TradingStorage.callbacks()`. */
export const callbacksAbi = parseAbi([
  TRADE,
  'event MarketExecuted(uint256 orderId, Trade t, bool open, uint256 price, uint256 positionSizeUSDC, int256 percentProfit, uint256 usdcSentToTrader, bool isPnl)',
  'event LimitExecuted(uint256 orderId, uint256 limitIndex, Trade t, uint8 orderType, uint256 price, uint256 positionSizeUSDC, int256 percentProfit, uint256 usdcSentToTrader, bool isPnl)',
  'event MarketOpenCanceled(uint256 orderId, address indexed trader, uint256 pairIndex)',
  'event SlUpdated(uint256 orderId, address indexed trader, uint256 pairIndex, uint256 index, uint256 newSl)',
  'event MarginUpdated(address indexed trader, uint256 pairIndex, uint256 index, uint256 newSl, uint256 timestamp)',
]);

/** TradingStorage: state, collateral (the USDC approval target) and wiring. */
export const tradingStorageAbi = parseAbi([
  TRADE,
  TRADE_INFO,
  OPEN_LIMIT_ORDER,
  PENDING_MARKET_ORDER,
  'function openTrades(address _trader, uint256 _pairIndex, uint256 _index) view returns (Trade)',
  'function openTradesCount(address _trader, uint256 _pairIndex) view returns (uint256)',
  'function openTradesInfo(address _trader, uint256 _pairIndex, uint256 _index) view returns (TradeInfo)',
  'function getOpenLimitOrder(address _trader, uint256 _pairIndex, uint256 _index) view returns (OpenLimitOrder)',
  'function openLimitOrdersCount(address, uint256) view returns (uint256)',
  'function hasOpenLimitOrder(address trader, uint256 pairIndex, uint256 index) view returns (bool)',
  'function getPendingOrderIds(address _trader) view returns (uint256[])',
  'function reqIDpendingMarketOrder(uint256 orderId) view returns (PendingMarketOrder)',
  'function maxTradesPerPair() view returns (uint256)',
  'function maxPendingMarketOrders() view returns (uint256)',
  'function trading() view returns (address)',
  'function callbacks() view returns (address)',
  'function priceAggregator() view returns (address)',
  'function usdc() view returns (address)',
  'event MarketOpenCanceled(uint256 orderId, address indexed trader, uint256 pairIndex)',
  'event OIUpdated(bool _open, bool _long, uint256 _pairIndex, uint256 _leveragedPos, uint256 _price)',
  'event FeesCharged(address _trader, uint256 _pairIndex, bool _buy, uint256 fee)',
  'event TradeReferred(address _trader, address _referrer, uint256 _leveragedPosition, uint256 _traderFeePostDiscount, uint256 _startingFees, uint256 _referrerRebate, uint256 _pairIndex)',
]);

/** PairStorage: the pair, group and fee catalogue. */
export const pairStorageAbi = parseAbi([
  'struct Feed { uint256 maxOpenDeviationP; uint256 maxCloseDeviationP; bytes32 feedId; }',
  'struct BackupFeed { uint256 maxDeviationP; address feedId; }',
  'struct Leverage { uint256 minLeverage; uint256 maxLeverage; uint256 pnlMinLeverage; uint256 pnlMaxLeverage; }',
  'struct Values { int256 maxGainP; int256 maxSlP; uint256 maxLongOiP; uint256 maxShortOiP; uint256 groupOpenInterestPecentage; uint256 maxWalletOI; bool isUSDCAligned; }',
  'struct PnlFees { uint256 numTiers; uint256[] tierP; uint256[] feesP; }',
  'function pairsCount() view returns (uint256)',
  'function pairs(uint256) view returns (Feed feed, BackupFeed backupFeed, uint256 spreadP, uint256 pnlSpreadP, Leverage leverages, uint256 priceImpactMultiplier, int256 skewImpactMultiplier, uint256 groupIndex, uint256 feeIndex, Values values)',
  'function getPairData(uint256 _pairIndex) view returns (string from, string to, uint256 numTiers, uint256[] tierThresholds, uint256[] timer)',
  'function fees(uint256) view returns (uint256 openFeeP, uint256 closeFeeP, uint256 limitOrderFeeP, uint256 minLevPosUSDC, PnlFees pnlFees)',
  'function pairMinLeverage(uint256 _pairIndex, bool _isPnl) view returns (uint256)',
  'function pairMaxLeverage(uint256 _pairIndex, bool _isPnl) view returns (uint256)',
  'function pairSpreadP(uint256 _pairIndex, bool _isPnl) view returns (uint256 spreadP)',
  'function pairCloseFeeP(uint256 _pairIndex) view returns (uint256)',
  'function pairMinLevPosUSDC(uint256 _pairIndex) view returns (uint256)',
  'function pairOpenFeeP(uint256 _pairIndex, uint256 _leveragedPosition, bool _buy) view returns (uint256)',
  'function correctTp(uint256 openPrice, uint256 leverage, uint256 tp, bool buy, uint256 pairIndex) view returns (uint256)',
  'function correctSl(uint256 openPrice, uint256 leverage, uint256 sl, bool buy, uint256 pairIndex) view returns (uint256)',
  'function currentPercentProfit(uint256 openPrice, uint256 currentPrice, bool buy, uint256 leverage, uint256 pairIndex) view returns (int256 p)',
]);

/** PairInfos: liquidation price, rollover fee and close value. */
export const pairInfosAbi = parseAbi([
  'function getTradeLiquidationPrice(address trader, uint256 pairIndex, uint256 index, uint256 openPrice, bool long, uint256 collateral, uint256 leverage) view returns (uint256)',
  'function getTradeLiquidationPricePure(uint256 openPrice, bool long, uint256 collateral, uint256 leverage, uint256 rolloverFee) view returns (uint256)',
  'function getTradeRolloverFee(address trader, uint256 pairIndex, uint256 index, bool long, uint256 collateral, uint256 leverage) view returns (uint256)',
  'function getTradeValuePure(uint256 collateral, int256 percentProfit, uint256 rolloverFee, uint256 closingFee, uint256 lossProtection) view returns (uint256, int256, uint256)',
  'function liqThreshold() view returns (uint256)',
  'event FeesCharged(bool buy, uint256 collateral, uint256 leverage, int256 percentProfit, uint256 r, uint256 closingFee, uint256 lossProtection)',
]);

/** PriceAggregator: opening fee and oracle events. */
export const priceAggregatorAbi = parseAbi([
  'function openFeeP(uint256 _pairIndex, uint256 _leveragedPositionSize, bool _buy) view returns (uint256)',
  'function pairsStorage() view returns (address)',
  'function pyth() view returns (address)',
  'event PriceReceived(uint256 orderId, uint256 pairIndex, uint256 price)',
  'event BackupPriceReceived(uint256 orderId, uint256 pairIndex, uint256 price)',
]);

/** Avantis's own Multicall aggregator (mainnet only; the devnet has none). */
export const multicallAbi = parseAbi([
  TRADE,
  TRADE_INFO,
  OPEN_LIMIT_ORDER,
  'struct AggregatedTrade { Trade trade; TradeInfo tradeInfo; uint256 rolloverFee; uint256 liquidationPrice; bool isPnl; }',
  'struct AggregatedOrder { OpenLimitOrder order; uint256 liquidationPrice; }',
  'function getPositions(address userAddress) view returns (AggregatedTrade[], AggregatedOrder[])',
]);

/** The vendored JSON file each typed fragment set must match. */
export const V1_ABI_FILES = {
  Trading: tradingAbi,
  TradingCallbacks: callbacksAbi,
  TradingStorage: tradingStorageAbi,
  PairStorage: pairStorageAbi,
  PairInfos: pairInfosAbi,
  PriceAggregator: priceAggregatorAbi,
  Multicall: multicallAbi,
} as const;
