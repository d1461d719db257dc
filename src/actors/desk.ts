/**
 * The ports between the Telegram front end and the engine. The bot asks the engine only through
 * these interfaces and holds no trading rule of its own: the desk validates (with typed errors
 * whose messages a trader can read), the actors decide, the chain is the truth.
 *
 * The bot (src/bot) imports these types; the actors layer implements them (src/actors/trading-desk.ts,
 * src/actors/admin-desk.ts) and src/main.ts wires them. Kept here because actors never import the bot.
 * Amounts are decimal strings (never floats); prices are decimal USD.
 */

import type { NoticeKind } from '../machines/notices.ts';

export type Mode = 'sandbox' | 'paper' | 'live';
export type Side = 'long' | 'short';

export interface WalletView {
  readonly address: `0x${string}`;
  /** Decimal ETH (gas). */
  readonly eth: string;
  /** Decimal USDC (collateral). */
  readonly usdc: string;
}

export interface MarketView {
  readonly pair: string;
  readonly pairIndex: number;
  /** Latest accepted oracle price; null before the first one. */
  readonly price: string | null;
  /** True while the price feed is halted (stale or implausible prices) or an operator paused the pair. */
  readonly halted: boolean;
  readonly haltReason: string | null;
  readonly minLeverage: number;
  readonly maxLeverage: number;
  /** The most a trader can use here: the pair's maximum, or this engine's risk limit when lower. */
  readonly usableMaxLeverage: number;
  /** Opening fee, percent of notional, decimal (e.g. "0.08"). */
  readonly openFeePercent: string;
}

/** A trader's order before it is confirmed (what the guided flow and a text order produce). */
export interface OrderDraft {
  /** As the trader typed it or picked it; the desk resolves it ("eth", "ETH/USD"). */
  readonly pair: string;
  readonly side: Side;
  /** Decimal USDC. */
  readonly collateral: string;
  readonly leverage: number;
}

export interface LimitsView {
  readonly maxLeverage: number;
  readonly maxCollateralUsdc: string;
  readonly maxNotionalUsdc: string;
  readonly maxOpenPositions: number;
}

/** The review a trader confirms: what the order will cost and where it would be liquidated. */
export interface Quote {
  readonly pair: string;
  readonly pairIndex: number;
  readonly side: Side;
  readonly collateral: string;
  readonly leverage: number;
  readonly notional: string;
  /** Estimated fill (oracle ± spread). */
  readonly entryPrice: string;
  readonly openingFee: string;
  /** ETH paid to the keeper with the request. */
  readonly executionFeeEth: string;
  readonly liquidationPrice: string;
  readonly slippagePercent: string;
  readonly limits: LimitsView;
  readonly balanceUsdc: string;
}

export type PositionStage =
  | 'sending' // the request is being signed / broadcast
  | 'pending' // on chain, waiting for the keeper's fill
  | 'open'
  | 'closing' // the close is being sent or waits for the keeper
  | 'closed'
  | 'canceled'
  | 'rejected';

export interface PositionView {
  readonly positionId: string;
  readonly pair: string;
  readonly side: Side;
  /** Collateral (after the opening fee once open). */
  readonly collateral: string;
  readonly leverage: number;
  readonly stage: PositionStage;
  /** For a pending stage: what it waits for, in plain words ("the keeper's fill", "the close to be mined"). */
  readonly waitingFor: string | null;
  readonly openPrice: string | null;
  readonly markPrice: string | null;
  /** Unrealised PnL in USDC and percent of collateral (fees excluded); null until open with a price. */
  readonly pnl: string | null;
  readonly pnlPercent: string | null;
  readonly liquidationPrice: string | null;
  /** How far the mark price may still move against the trade before liquidation, percent. */
  readonly liquidationDistancePercent: string | null;
}

export interface HistoryEntry {
  readonly positionId: string;
  readonly pair: string;
  readonly side: Side;
  readonly collateral: string;
  readonly leverage: number;
  readonly outcome: 'closed' | 'canceled' | 'rejected';
  /** tp, sl, liquidation, trader, unknown (closed only). */
  readonly closedBy: string | null;
  readonly openPrice: string | null;
  readonly closePrice: string | null;
  readonly payout: string | null;
  /** ISO time the position finished. */
  readonly at: string;
}

export interface NotificationPrefs {
  readonly fills: boolean;
  readonly delays: boolean;
  readonly closes: boolean;
}

export interface TraderSettings {
  readonly slippageBps: number;
  readonly defaultLeverage: number;
  /** Ask for a confirmation before a text order is sent (the guided flow always reviews). */
  readonly confirmOrders: boolean;
  readonly notify: NotificationPrefs;
}

export type SettingsPatch = Partial<Omit<TraderSettings, 'notify'>> & { readonly notify?: Partial<NotificationPrefs> };

export interface StatusView {
  readonly mode: Mode;
  readonly chainId: number;
  readonly block: string | null;
  readonly tradingPaused: boolean;
  readonly pausedPairs: readonly string[];
  /** Why orders are refused although the mode trades (an unverified deployment); null when they are not. */
  readonly refusal: string | null;
  readonly feeds: readonly { readonly pair: string; readonly price: string | null; readonly ageSeconds: number | null; readonly halted: boolean }[];
}

export interface Onboarding {
  readonly address: `0x${string}`;
  /** False when the trader already had a wallet (a second /start changes nothing). */
  readonly created: boolean;
  readonly mode: Mode;
}

/** An address on the trader's withdrawal allowlist. */
export interface WithdrawAddressView {
  /** Checksummed. */
  readonly address: `0x${string}`;
  /** ISO time it was added. */
  readonly addedAt: string;
  /** ISO time from which withdrawals may go to it. */
  readonly usableFrom: string;
  /** Past its waiting period now. */
  readonly usable: boolean;
}

export interface AllowlistView {
  /** Live: withdrawals go only to listed addresses, each usable `delayHours` after it was added. Sandbox: any address, at once. */
  readonly required: boolean;
  /** The waiting period for a new address in this mode (0 where there is none). */
  readonly delayHours: number;
  readonly addresses: readonly WithdrawAddressView[];
  /** Why this engine makes no withdrawals (paper mode sends nothing); null when it does. */
  readonly refusal: string | null;
  /** Where withdrawals go, for the trader: "Base", "the local sandbox chain". */
  readonly network: string;
}

/** A withdrawal being prepared: the amount first, then the destination. */
export interface WithdrawalDraft {
  /** Decimal USDC as the trader typed or picked it. */
  readonly amount: string;
  /** As typed or picked; null while not chosen yet (only the amount is checked then). */
  readonly to: string | null;
}

/** What the trader confirms: every check passed at this moment (they are made again on confirm). */
export interface WithdrawalReview {
  /** Canonical decimal USDC. */
  readonly amount: string;
  /** Checksummed; null when the draft had none. */
  readonly to: `0x${string}` | null;
  /** USDC that may be withdrawn now: the balance less what orders and withdrawals being sent will take. */
  readonly availableUsdc: string;
  /** Where it goes, for the trader: "Base", "the local sandbox chain". */
  readonly network: string;
}

/**
 * What a trader can ask of the engine. Every method refuses bad input with a `BadInputError`
 * (src/errors.ts) whose message is meant for the trader, and changes nothing when it does.
 */
export interface TradingDesk {
  readonly mode: Mode;
  onboard(telegramId: number): Promise<Onboarding>;
  /** Null before /start. */
  wallet(telegramId: number): Promise<WalletView | null>;
  /** Sandbox only: test USDC and ETH. Refuses in paper and live. */
  faucet(telegramId: number): Promise<WalletView>;
  markets(): Promise<readonly MarketView[]>;
  /** Checks pair, leverage bounds, risk limits and balance; refuses with the numbers. */
  quote(telegramId: number, draft: OrderDraft): Promise<Quote>;
  /**
   * Asks the trader's actor to place the order. `orderId` is chosen when the review is shown, so a
   * double-clicked or replayed confirm is the same order and is never sent twice. Resolves once
   * the request is durable; the outcome arrives as notices.
   */
  placeOrder(telegramId: number, orderId: string, draft: OrderDraft): Promise<{ readonly positionId: string }>;
  /** Refuses a position that is not this trader's, or not open. */
  closePosition(telegramId: number, positionId: string): Promise<void>;
  positions(telegramId: number): Promise<readonly PositionView[]>;
  history(telegramId: number, limit: number): Promise<readonly HistoryEntry[]>;
  settings(telegramId: number): Promise<TraderSettings>;
  updateSettings(telegramId: number, patch: SettingsPatch): Promise<TraderSettings>;
  status(): Promise<StatusView>;
  /**
   * Checks a withdrawal without sending anything: the amount (decimal, at most 6 decimals, more
   * than 0, at most what is available), then, when given, the destination (a valid address, not
   * zero, not the trader's own wallet, not a protocol contract, and in live on the allowlist past
   * its waiting period). Refuses with the numbers.
   */
  reviewWithdrawal(telegramId: number, draft: WithdrawalDraft): Promise<WithdrawalReview>;
  /**
   * Sends `amount` USDC to `to`, after the same checks. `requestId` is chosen when the review is
   * shown, so a double-clicked or replayed confirm is the same withdrawal and never sent twice.
   * Resolves once the request is durable; the outcome arrives as `withdrawal.*` notices.
   */
  withdraw(telegramId: number, requestId: string, to: string, amount: string): Promise<{ readonly withdrawalId: string }>;
  /** The trader's withdrawal allowlist and the rules of this mode. */
  allowlist(telegramId: number): Promise<AllowlistView>;
  /** Adds an address to the allowlist (usable after the configured delay in live); the trader also gets a notice. */
  addWithdrawAddress(telegramId: number, address: string): Promise<WithdrawAddressView>;
}

/**
 * What a notice is about. Defined with the machine that keeps the notices (machines import
 * nothing above them); a withdrawal's notices carry its id in `positionId`.
 */
export type { NoticeKind };

/**
 * Something the engine tells a trader. Notices are durable (kept in the trader's actor snapshot
 * until delivered) and delivered at least once, so a sink may see one twice after a crash.
 */
export interface Notice {
  /** Unique per trader and stable across redeliveries. */
  readonly id: string;
  readonly telegramId: number;
  readonly kind: NoticeKind;
  /** The position the notice is about; for `withdrawal.*` notices, the withdrawal's id. */
  readonly positionId: string | null;
  /** One or two plain sentences for the trader (the bot escapes and decorates them). */
  readonly text: string;
}

/** Delivers a notice; resolving means delivered (the engine then forgets it), rejecting means try later. */
export type NoticeSink = (notice: Notice) => Promise<void>;

export interface QuarantinedView {
  readonly id: string;
  readonly kind: string;
  readonly reason: string;
}

export interface EngineStats {
  readonly users: number;
  readonly openPositions: number;
  readonly pendingOrders: number;
  readonly actors: number;
  readonly quarantined: number;
  readonly tradingPaused: boolean;
  readonly pausedPairs: readonly string[];
}

export interface RotationProgress {
  readonly state: 'idle' | 'running' | 'done' | 'failed';
  readonly rewrapped: number;
  readonly remaining: number;
  readonly detail: string | null;
}

/**
 * Operator actions. The bot checks the caller against ADMIN_TELEGRAM_IDS (deny by default);
 * every method writes the audit log with `by` (`admin:<telegram id>`).
 */
export interface AdminDesk {
  stats(): Promise<EngineStats>;
  /** `pair` null: every pair. */
  pauseTrading(by: string, pair: string | null): Promise<void>;
  resumeTrading(by: string, pair: string | null): Promise<void>;
  suspendUser(by: string, telegramId: number): Promise<void>;
  reinstateUser(by: string, telegramId: number): Promise<void>;
  /** Every trader who has started the bot (for a broadcast). */
  traders(): Promise<readonly number[]>;
  quarantined(): Promise<readonly QuarantinedView[]>;
  /** Releases a quarantined actor in this running engine; false when it is not quarantined. */
  release(by: string, actorId: string): Promise<boolean>;
  /** Starts a key rotation in the background; refuses while one runs. */
  startKeyRotation(by: string): Promise<void>;
  rotation(): RotationProgress;
  /** Writes an audit entry for an action the bot itself performs (a broadcast). */
  audit(by: string, action: string, subject: string): Promise<void>;
}

/**
 * Avantis v2 custody (ADR 0019, issue 9 item 3): Vanta trades for a trader through a DELEGATE key
 * that the Avantis contracts let open, close and manage positions but never withdraw, approve USDC
 * or add delegates. Null on a v1 deployment and in paper mode (nothing to delegate there).
 */
export type DelegationState = 'active' | 'missing' | 'expired' | 'pending';

export interface DelegationView {
  readonly state: DelegationState;
  /** The wallet checked (the Vanta wallet, or the trader's own); null before /start. */
  readonly trader: `0x${string}` | null;
  /** Vanta's trading key for this trader; null before one was made. */
  readonly delegate: `0x${string}` | null;
  /** ISO time the key stops working on chain (active or expired); null when none is registered. */
  readonly expiresAt: string | null;
  /** Active but expiring soon (it is renewed before the next order on a Vanta wallet). */
  readonly renewSoon: boolean;
  /** One or two plain sentences for the trader. */
  readonly message: string;
}

/** A signing page for a trader's own wallet (src/infra/http/connect-server.ts). */
export interface ConnectLinkView {
  readonly url: string;
  readonly trader: `0x${string}`;
  readonly delegate: `0x${string}`;
  /** ISO time the link (and the request it shows) expires. */
  readonly linkExpiresAt: string;
  /** ISO time the key would stop working once registered. */
  readonly delegateExpiresAt: string;
}

/** The exact call a trader sends from their own wallet to revoke Vanta's key. */
export interface TraderCallView {
  readonly to: `0x${string}`;
  readonly from: `0x${string}`;
  readonly data: `0x${string}`;
  /** Always "0": no value moves. */
  readonly value: '0';
  readonly chainId: number;
  /** The delegate the call removes. */
  readonly delegate: `0x${string}`;
}

export type RevocationOutcome =
  | { readonly status: 'revoked'; readonly txHash: `0x${string}`; readonly block: string }
  /** Nothing was sent: no key is registered for this wallet (message says so). */
  | { readonly status: 'nothing'; readonly message: string };

export interface DelegationDesk {
  /** The state of Vanta's trading key for the trader's Vanta wallet (or, with `ownWallet`, their own). */
  status(telegramId: number, ownWallet?: string): Promise<DelegationView>;
  /** Registers (or renews) the key for the trader's Vanta wallet; one registration however often it is asked. */
  register(telegramId: number): Promise<DelegationView>;
  /** A fresh signing page for the trader's own wallet; refuses when the page is not served here. */
  connectLink(telegramId: number, ownWallet: string): Promise<ConnectLinkView>;
  /** The call the trader sends from their own wallet to revoke the key; null when no key was ever made. */
  revocationCall(telegramId: number, ownWallet: string): Promise<TraderCallView | null>;
  /**
   * Revokes the key of the trader's Vanta wallet: `removeDelegate` signed by that wallet and sent
   * through the transaction outbox. `requestId` is chosen when the confirmation is shown, so a
   * double click or a replay is the same transaction. Resolves with the chain's verdict.
   */
  revoke(telegramId: number, requestId: string): Promise<RevocationOutcome>;
}
