/**
 * UNVERIFIED: the Avantis v2 direct-call surface that differs from v1.
 *
 * The v2 ABI is not public (AVANTIS.md §0, §9.1). These signatures come from a third-party
 * calldata decoder (DEC) and the SDK-v2 prose (§3.9); their selectors were computed from the
 * signatures, not read from a verified contract. Check each against the BaseScan-verified
 * implementation or one live transaction before sending real funds through it.
 * Everything not listed here keeps its v1 form in v2 (openTrade, updateMargin,
 * cancelOpenLimitOrder, updateOpenLimitOrder, delegatedAction, the TradingStorage reads).
 */
import { parseAbi } from 'viem';

/** UNVERIFIED (DEC): v2 TradingRouter writes whose signature changed. */
export const tradingV2Abi = parseAbi([
  /** UNVERIFIED, selector 0xe5a97c92: close with the price the trader expects (slippage reference). */
  'function closeTradeMarket(uint256 pairIndex, uint256 index, uint256 amount, uint256 wantedPrice) payable',
  /** UNVERIFIED, selector 0xd6a510d9 "if the args are (address,uint256)": several delegates, each with an expiry (seconds). */
  'function setDelegate(address delegate, uint256 expiry)',
  /** UNVERIFIED, selector 0x67e7646f "if (address)". */
  'function removeDelegate(address delegate)',
  /** UNVERIFIED (SDK-v2 prose): per-delegate state; `delegatedAction` checks isEnabled && expiry > now. */
  'function multipleDelegations(address trader, address delegate) view returns (bool isEnabled, uint256 expiry)',
]);

/**
 * UNVERIFIED (SDK-v2 prose, §3.9): v2 reverts with custom errors. Only the names are known;
 * `WrongSl`, `HighSlippage` and `PnlOrderNotAllowed` are listed without parameters, so their
 * selectors here assume none. A revert whose selector matches none of these is reported as
 * an unknown rejection with its raw data, never guessed.
 */
export const v2ErrorsAbi = parseAbi([
  'error InvalidNonce()',
  'error PositionMismatch()',
  'error InvalidDeadline()',
  'error OnlyBatchedFlowAllowed()',
  'error PnlOrderNotAllowed()',
  'error WrongSl()',
  'error HighSlippage()',
]);
