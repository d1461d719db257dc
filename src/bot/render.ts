import type {
  AllowlistView,
  HistoryEntry,
  MarketView,
  Mode,
  Notice,
  Onboarding,
  PositionView,
  Quote,
  StatusView,
  TraderSettings,
  WalletView,
  WithdrawAddressView,
  WithdrawalReview,
} from '../actors/desk.ts';
import { b, code, html, i, lines, type Html } from './html.ts';

/** Every message the trader reads, built from what the desk answers. Pure: no I/O. */

/**
 * A price as a trader reads it: 2 decimals from 1,000 up, 4 from 1, else 6 significant digits
 * (2995.12, 30.0051, 0.149636). Display only, rounded half up on the decimal string; every
 * amount the engine acts on stays exact.
 */
export function displayPrice(price: string | null): string {
  if (price === null) return '—';
  const m = /^(-?)(\d+)(?:\.(\d+))?$/.exec(price);
  if (!m) return price;
  const [, sign = '', whole = '0', frac = ''] = m;
  const decimals = whole.length >= 4 ? 2 : whole !== '0' ? 4 : Math.min(18, (/^0*/.exec(frac)?.[0].length ?? 0) + 6);
  if (frac.length <= decimals) return price;
  const scaled = BigInt(whole + frac.slice(0, decimals)) + (Number(frac[decimals]) >= 5 ? 1n : 0n);
  const text = scaled.toString().padStart(decimals + 1, '0');
  const rounded = `${text.slice(0, -decimals)}.${text.slice(-decimals)}`.replace(/\.?0+$/, '');
  return `${sign}${rounded}`;
}

const MODE_LINE: Readonly<Record<Mode, string>> = {
  sandbox: '🧪 Sandbox: a local test chain with test money. Nothing here is real.',
  paper: '📝 Paper: real prices, no transactions. Orders are refused.',
  live: '🔴 Live: real money on Base mainnet.',
};

export function modeLine(mode: Mode): Html {
  return html`${MODE_LINE[mode]}`;
}

export function welcome(o: Onboarding): Html {
  return lines(
    b(o.created ? 'Welcome to Vanta' : 'Welcome back'),
    html`Vanta trades Avantis perpetuals on Base for you, from this chat.`,
    '',
    modeLine(o.mode),
    html`Your wallet: ${code(o.address)}`,
    '',
    b('Before you trade'),
    html`Leveraged perpetuals can lose your whole collateral quickly; a position is liquidated when losses reach about 85% of it. Trade only what you can afford to lose. The chain is the truth: every order shows its state until it is final.`,
    '',
    html`Next: /wallet to see your balance${o.mode === 'sandbox' ? ' (the sandbox funded it)' : ''}, /markets for prices, /trade to open a position, /help for everything.`,
  );
}

export function walletCard(w: WalletView, mode: Mode): Html {
  return lines(
    b('Your wallet'),
    html`Address: ${code(w.address)}`,
    html`USDC: ${b(w.usdc)}   ETH: ${w.eth}`,
    '',
    mode === 'sandbox'
      ? html`This is a sandbox wallet on a local chain. Tap ${b('Faucet')} for more test USDC and ETH.`
      : html`To deposit, send USDC (and a little ETH for gas) on ${b('Base')} to the address above. Other networks' tokens are lost.`,
    html`Tap ${b('Withdraw')} to send USDC out of this wallet.`,
  );
}

/** Cards already made, by the list they show (the desk returns the same list while nothing changed). */
const marketsCards = new WeakMap<readonly MarketView[], Html>();

export function marketsCard(markets: readonly MarketView[]): Html {
  let card = marketsCards.get(markets);
  if (!card) {
    card = makeMarketsCard(markets);
    marketsCards.set(markets, card);
  }
  return card;
}

function makeMarketsCard(markets: readonly MarketView[]): Html {
  if (markets.length === 0) return html`No markets are listed right now.`;
  return lines(
    b('Markets'),
    ...markets.map((m) =>
      html`${m.halted ? '⏸' : '•'} ${b(m.pair)} ${displayPrice(m.price)}  ${i(`${m.minLeverage}–${m.usableMaxLeverage}x${m.usableMaxLeverage < m.maxLeverage ? ` (pair up to ${m.maxLeverage}x)` : ''}, fee ${m.openFeePercent}%`)}${m.halted ? html` ${i(`halted: ${m.haltReason ?? 'paused'}`)}` : ''}`,
    ),
    '',
    html`Trade with /trade, or type an order like ${code('long eth 100 10x')}.`,
  );
}

export function quoteCard(q: Quote, expiresInSeconds: number): Html {
  return lines(
    b(`Review: ${q.side === 'long' ? '🟢 Long' : '🔴 Short'} ${q.pair}`),
    html`Collateral: ${b(`${q.collateral} USDC`)} at ${b(`${q.leverage}x`)} → size ${q.notional} USDC`,
    html`Estimated entry: ${displayPrice(q.entryPrice)} (slippage up to ${q.slippagePercent}%)`,
    html`Opening fee: ${q.openingFee} USDC · Execution fee: ${q.executionFeeEth} ETH`,
    html`Liquidation price: ${b(displayPrice(q.liquidationPrice))}`,
    html`Balance: ${q.balanceUsdc} USDC`,
    i(`Limits: leverage ≤ ${q.limits.maxLeverage}x, collateral ≤ ${q.limits.maxCollateralUsdc} USDC, size ≤ ${q.limits.maxNotionalUsdc} USDC, ${q.limits.maxOpenPositions} open positions.`),
    i(`This review is valid for ${expiresInSeconds} s.`),
  );
}

const STAGE: Readonly<Record<PositionView['stage'], string>> = {
  sending: '⏳ sending',
  pending: '⏳ pending',
  open: '🟢 open',
  closing: '⏳ closing',
  closed: '✅ closed',
  canceled: '↩️ canceled',
  rejected: '⛔ refused',
};

export function positionLine(p: PositionView): Html {
  const head = html`${b(`${p.side === 'long' ? 'Long' : 'Short'} ${p.pair}`)} ${p.leverage}x · ${p.collateral} USDC · ${STAGE[p.stage]} ${code(p.positionId)}`;
  if (p.stage !== 'open') return lines(head, p.waitingFor ? i(`Waiting for ${p.waitingFor}.`) : null);
  const pnl = p.pnl === null ? '—' : `${p.pnl.startsWith('-') ? '🔻' : '🔺'} ${p.pnl} USDC (${p.pnlPercent}%)`;
  return lines(
    head,
    html`  Entry ${displayPrice(p.openPrice)} · Mark ${displayPrice(p.markPrice)} · PnL ${pnl}`,
    html`  Liquidation ${displayPrice(p.liquidationPrice)}${p.liquidationDistancePercent ? ` (${p.liquidationDistancePercent}% away)` : ''}`,
  );
}

export function positionsCard(positions: readonly PositionView[]): Html {
  if (positions.length === 0) return html`You have no open positions or pending orders. Open one with /trade.`;
  return lines(b(`Your positions (${positions.length})`), ...positions.flatMap((p) => ['', positionLine(p)]));
}

export function historyCard(entries: readonly HistoryEntry[]): Html {
  if (entries.length === 0) return html`No finished trades yet.`;
  return lines(
    b('History'),
    ...entries.map((e) => {
      const outcome = e.outcome === 'closed' ? `closed${e.closedBy && e.closedBy !== 'trader' ? ` by ${e.closedBy}` : ''}` : e.outcome;
      const paid = e.payout !== null ? `, paid ${e.payout} USDC` : '';
      return html`• ${e.at.slice(0, 16).replace('T', ' ')} ${b(`${e.side} ${e.pair}`)} ${e.leverage}x ${e.collateral} USDC: ${outcome}${e.closePrice ? ` at ${displayPrice(e.closePrice)}` : ''}${paid}`;
    }),
  );
}

const onOff = (v: boolean) => (v ? 'on' : 'off');

export function settingsCard(s: TraderSettings): Html {
  return lines(
    b('Settings'),
    html`Default leverage: ${b(`${s.defaultLeverage}x`)}`,
    html`Slippage: ${b(`${(s.slippageBps / 100).toFixed(2)}%`)}`,
    html`Confirm text orders: ${b(onOff(s.confirmOrders))}`,
    html`Notifications: fills ${b(onOff(s.notify.fills))}, delays ${b(onOff(s.notify.delays))}, closes ${b(onOff(s.notify.closes))}`,
    i('Refusals and liquidations are always sent.'),
  );
}

export function statusCard(s: StatusView): Html {
  return lines(
    b('Status'),
    modeLine(s.mode),
    html`Chain ${s.chainId}${s.block ? `, block ${s.block}` : ''}`,
    s.refusal ? html`⛔ Orders are refused: ${s.refusal}` : null,
    s.tradingPaused ? html`⏸ Trading is paused by the operator.` : null,
    s.pausedPairs.length ? html`⏸ Paused pairs: ${s.pausedPairs.join(', ')}` : null,
    '',
    b('Price feeds'),
    ...s.feeds.map((f) => html`${f.halted ? '⏸' : '•'} ${f.pair} ${displayPrice(f.price)}${f.ageSeconds !== null ? ` (${f.ageSeconds}s ago)` : ''}`),
  );
}

export function helpCard(isAdmin: boolean): Html {
  return lines(
    b('Vanta commands'),
    html`/start: your wallet and the mode`,
    html`/wallet: balances, deposit address, withdraw USDC, faucet in the sandbox`,
    html`/trade: open a position step by step`,
    html`/positions: open positions with live PnL, close them`,
    html`/markets: pairs, prices, leverage and fees`,
    html`/history: finished trades`,
    html`/settings: leverage, slippage, confirmations, notifications`,
    html`/status: mode, chain and price feeds`,
    html`/connect · /disconnect: Vanta’s trading key on Avantis v2 (what it can and cannot do; enable or revoke it)`,
    '',
    html`Quick orders: ${code('long eth 100 10x')} or ${code('short btc 50 @5x')} (side, pair, USDC collateral, leverage).`,
    isAdmin ? lines('', b('Operator'), html`/stats · /pause [pair] · /resume [pair] · /suspend id · /reinstate id · /broadcast · /quarantine · /release id · /rotate`) : null,
  );
}

const NOTICE_ICON: Readonly<Record<Notice['kind'], string>> = {
  'order.sent': '📤',
  'order.filled': '✅',
  'order.delayed': '⏳',
  'order.refused': '⛔',
  'order.canceled': '↩️',
  'order.retrying': '🔁',
  'position.closed': '🏁',
  'close.sent': '📤',
  'close.refused': '⚠️',
  account: 'ℹ️',
  broadcast: '📣',
  'withdrawal.sent': '📤',
  'withdrawal.retrying': '🔁',
  'withdrawal.done': '✅',
  'withdrawal.failed': '⛔',
};

export function noticeText(n: Notice): Html {
  return html`${NOTICE_ICON[n.kind] ?? 'ℹ️'} ${n.text}`;
}

export function errorText(message: string): Html {
  return html`⚠️ ${message}`;
}

// ---- withdrawals ----------------------------------------------------------

/** `0xAbCd…12eF`: to recognise an address in a line; reviews show it in full as well. */
export function shortAddress(address: string): string {
  return address.length > 12 ? `${address.slice(0, 6)}…${address.slice(-4)}` : address;
}

const utc = (iso: string) => `${iso.slice(0, 16).replace('T', ' ')} UTC`;

/** The allowlist's waiting period in words: "24 h", "1.5 h", "30 min", "5 s". */
export function delayText(hours: number): string {
  if (hours >= 1) return `${Math.round(hours * 100) / 100} h`;
  const minutes = hours * 60;
  return minutes >= 1 ? `${Math.round(minutes)} min` : `${Math.max(1, Math.round(minutes * 60))} s`;
}

export function withdrawAmountCard(balanceUsdc: string, network: string): Html {
  return lines(
    b('💸 Withdraw USDC'),
    html`Your balance: ${b(`${balanceUsdc} USDC`)} on ${network}.`,
    html`How much do you want to withdraw? Pick an amount or type one (e.g. ${code('25')} or ${code('12.5')}).`,
  );
}

/** The destination step; in live only allowlisted addresses past their waiting period can be picked. */
export function withdrawDestinationCard(amount: string, network: string, view: AllowlistView, mode: Mode): Html {
  const head = [b(`💸 Withdraw ${amount} USDC`), html`Where to? The address must be on ${network}; USDC sent to an address on another network is lost.`];
  if (!view.required) {
    return lines(
      ...head,
      html`Type the destination address (${code('0x…')}).`,
      i(
        mode === 'sandbox'
          ? 'Sandbox: any address works at once, with no waiting. In live mode withdrawals go only to addresses on your allowlist, and a newly added one can be used only after a waiting period.'
          : 'Any address works at once.',
      ),
    );
  }
  const waiting = view.addresses.filter((a) => !a.usable);
  return lines(
    ...head,
    html`Withdrawals go only to addresses on your allowlist. A new address can be used ${b(delayText(view.delayHours))} after you add it.`,
    view.addresses.some((a) => a.usable) ? html`Pick one below, or add a new one.` : html`No address can be used yet: add one below.`,
    ...waiting.map((a) => html`⏳ ${code(a.address)} can be used from ${utc(a.usableFrom)}.`),
  );
}

export function withdrawAddPrompt(view: AllowlistView): Html {
  return lines(
    b('➕ Add a withdrawal address'),
    html`Type the address (${code('0x…')}, on Base).`,
    view.delayHours > 0
      ? html`It can receive withdrawals ${b(delayText(view.delayHours))} after you add it, and you get a notice now: if you ever get one you did not expect, contact support.`
      : html`It can receive withdrawals at once.`,
  );
}

export function withdrawAddedCard(added: WithdrawAddressView): Html {
  return lines(
    html`✅ Added to your allowlist: ${code(added.address)}`,
    added.usable ? html`It can receive withdrawals now.` : html`It can receive withdrawals from ${b(utc(added.usableFrom))}.`,
  );
}

export function withdrawReviewCard(r: WithdrawalReview & { readonly to: string }): Html {
  return lines(
    b('Review your withdrawal'),
    html`Send ${b(`${r.amount} USDC`)} to ${b(shortAddress(r.to))} on ${r.network}. ${b('This cannot be undone.')}`,
    html`Full address: ${code(r.to)}`,
    html`Check every character. Gas is paid in ETH from your wallet. Available: ${r.availableUsdc} USDC.`,
  );
}

export function withdrawPendingCard(amount: string, to: string, withdrawalId: string): Html {
  return lines(
    html`⏳ Withdrawal of ${b(`${amount} USDC`)} to ${b(shortAddress(to))}: sending.`,
    html`It is signed and sent once, never twice; this message updates when it is on chain.`,
    html`Reference: ${withdrawalId}`,
  );
}
