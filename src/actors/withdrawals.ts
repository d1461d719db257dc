/**
 * The trading desk's withdrawals: checking a withdrawal with the numbers in every refusal,
 * handing it to the trader's actor (which creates the `withdrawal:<id>` actor that sends it), and
 * the live allowlist of destinations with its waiting period.
 *
 * Where the allowlist lives: in the trader's actor (`user:<id>`, context `allowlist`), not in a
 * table. Adding an address, its notice to the trader, and the check a withdrawal passes are then
 * transitions of one actor, durable in one snapshot: no second store to disagree with it, no
 * window between "added" and "told", and the check at the request (`breaksAllowlist`, with the
 * request's time) happens in the very transition that creates the withdrawal. An entry keeps
 * the time it becomes usable (added + the delay configured then), so a promise made to the
 * trader ("usable from 14:00") never changes under them.
 *
 * Pure checks first (the amount, the address), then the trader's state, then the chain.
 */
import { formatEther, getAddress, isAddress, type Address, type PublicClient } from 'viem';
import { BadInputError, PersistConflictError, VantaError } from '../errors.ts';
import type { AvantisProtocol } from '../infra/chain/avantis/protocol.ts';
import { formatUnit, parseUnit } from '../infra/chain/avantis/units.ts';
import type { Clock } from '../infra/clock.ts';
import type { Database } from '../infra/db/database.ts';
import type { KeyedLock } from '../infra/keyed-lock.ts';
import { allowlistProblem, type AllowedAddress } from '../machines/notices.ts';
import { ALLOWLIST_MAX } from '../machines/user.machine.ts';
import type { AllowlistView, Mode, WithdrawAddressView, WithdrawalDraft, WithdrawalReview } from './desk.ts';
import { shown } from './desk-input.ts';
import { topState } from './desk-views.ts';
import { withdrawalSystemId } from './kinds/withdrawal.actor.ts';
import type { RuntimeHandle } from './runtime.ts';

/** What the user actor's context holds about withdrawals (read defensively). */
export interface WithdrawalUserFacts {
  readonly withdrawals?: readonly string[];
  readonly recentWithdrawals?: readonly string[];
  readonly allowlist?: readonly AllowedAddress[];
}

interface Trader {
  readonly userId: string;
  readonly state: string | null;
  readonly context: WithdrawalUserFacts;
}

export interface WithdrawalDeskDeps {
  readonly mode: Mode;
  readonly runtime: Pick<RuntimeHandle, 'send' | 'get' | 'flushed'>;
  readonly db: Pick<Database, 'sql' | 'audit'>;
  readonly client: PublicClient;
  readonly chainId: number;
  readonly protocol: AvantisProtocol;
  readonly clock: Clock;
  /** Why the engine refuses to send on this deployment (live on an unverified Avantis); null when it sends. */
  readonly refusal: string | null;
  /** Live: how long a new allowlist address waits before it can be used. */
  readonly addressDelayMs: number;
  /** The trading desk's lock per trader: a withdrawal and an order never count the same balance. */
  readonly locks: KeyedLock;
  /** The trader's running actor (refuses before /start and while it restarts). */
  readonly trader: (telegramId: number) => Promise<Trader>;
  readonly walletAddress: (userId: string) => Promise<Address>;
  /** USDC the trader's orders being sent will take (in the wallet, but spoken for). */
  readonly ordersBeingSent: (userId: string) => bigint;
  readonly checkTelegramId: (telegramId: number) => string;
}

export interface WithdrawalDesk {
  reviewWithdrawal(telegramId: number, draft: WithdrawalDraft): Promise<WithdrawalReview>;
  withdraw(telegramId: number, requestId: string, to: string, amount: string): Promise<{ readonly withdrawalId: string }>;
  allowlist(telegramId: number): Promise<AllowlistView>;
  addWithdrawAddress(telegramId: number, address: string): Promise<WithdrawAddressView>;
}

/** A withdrawal reference the bot chose when it showed the review (same shape as order ids). */
const REQUEST_ID = /^[A-Za-z0-9_-]{6,32}$/;
/** More whole digits than any wallet could hold; refused before arithmetic. */
const MAX_AMOUNT_DIGITS = 12;
const USDC_DECIMALS = 6;
const HOUR_MS = 3_600_000;
/** Withdrawal states whose USDC has not left the wallet for sure yet. */
const IN_FLIGHT = new Set(['requested', 'sending', 'retrying', 'confirming']);

const CONTRACT_NAMES: Readonly<Record<string, string>> = {
  trading: 'the Avantis Trading contract',
  tradingStorage: 'the Avantis TradingStorage contract',
  tradingCallbacks: 'the Avantis TradingCallbacks contract',
  pairStorage: 'the Avantis PairStorage contract',
  pairInfos: 'the Avantis PairInfos contract',
  priceAggregator: 'the Avantis PriceAggregator contract',
  usdc: 'the USDC token contract itself',
  multicall: 'the Avantis Multicall contract',
};

export function parseRequestId(value: unknown): string {
  if (typeof value !== 'string' || !REQUEST_ID.test(value)) {
    throw new BadInputError(`This withdrawal reference is not valid (${shown(value)}): it must be 6 to 32 letters, digits, "-" or "_". Nothing was sent; start the withdrawal again.`);
  }
  return value;
}

/** A USDC amount in base units (1e6): a plain positive decimal with at most 6 decimals. */
export function parseWithdrawAmount(value: unknown): bigint {
  if (typeof value !== 'string') throw new BadInputError('The amount must be a number of USDC such as 25 or 12.5.');
  const text = value.trim().replace(/^\$/, '').replace(/\s*usdc$/i, '');
  if (text === '') throw new BadInputError('The amount is missing: write a number of USDC such as 25 or 12.5.');
  if (/^-\s*\d/.test(text)) throw new BadInputError(`The amount cannot be negative (${shown(value.trim())}): write a number of USDC such as 25 or 12.5.`);
  const match = /^(\d+)(?:\.(\d+))?$/.exec(text);
  if (!match) {
    throw new BadInputError(`The amount must be a plain number of USDC such as 25 or 12.5, without exponents, separators, signs or symbols; ${shown(value.trim())} is not one.`);
  }
  const [, whole = '', fraction = ''] = match;
  if (whole.replace(/^0+/, '').length > MAX_AMOUNT_DIGITS) throw new BadInputError(`${shown(text)} is not a realistic amount of USDC.`);
  if (fraction.length > USDC_DECIMALS) throw new BadInputError(`USDC has at most ${USDC_DECIMALS} decimals; ${shown(text)} has ${fraction.length}.`);
  const amount = parseUnit('usdc', text);
  if (amount === 0n) throw new BadInputError('The amount must be more than 0 USDC.');
  return amount;
}

/**
 * A destination address: 0x and 40 hex digits; mixed case only with a valid EIP-55 checksum (a
 * wrong one is a typo, and a typo here loses the money). Returned checksummed.
 */
export function parseAddress(value: unknown): Address {
  const text = typeof value === 'string' ? value.trim() : '';
  if (!/^0x[0-9a-fA-F]{40}$/.test(text)) {
    throw new BadInputError(`${typeof value === 'string' && value.trim() !== '' ? shown(value.trim()) : 'That'} is not an address: a Base address is 0x followed by 40 hexadecimal characters.`);
  }
  if (!isAddress(text, { strict: true })) {
    throw new BadInputError(`${text} has mixed upper and lower case that does not match its checksum (EIP-55): it is probably mistyped. Copy it again, or write it all in lower case.`);
  }
  return getAddress(text);
}

export function createWithdrawalDesk(deps: WithdrawalDeskDeps): WithdrawalDesk {
  const { runtime, protocol, client, mode } = deps;
  const network = deps.chainId === 8453 ? 'Base' : mode === 'sandbox' ? 'the local sandbox chain' : `chain ${deps.chainId}`;
  const delayMs = mode === 'live' ? Math.max(0, deps.addressDelayMs) : 0;

  function refusal(): string | null {
    if (mode === 'paper') return 'Paper mode sends no transactions, so it makes no withdrawals; your funds stay in your wallet.';
    return deps.refusal === null ? null : `Withdrawals are refused on this engine for now: ${deps.refusal}`;
  }

  function refuseIfClosed(): void {
    const why = refusal();
    if (why) throw new BadInputError(why);
  }

  function snapshotOf<C>(id: string): { state: string | null; context: C } | null {
    const snapshot = runtime.get(id)?.getSnapshot() as { value?: unknown; context?: C } | undefined;
    return snapshot?.context ? { state: topState(snapshot.value), context: snapshot.context } : null;
  }

  /** USDC of this trader's withdrawals not final yet. */
  function withdrawalsBeingSent(user: WithdrawalUserFacts): bigint {
    let total = 0n;
    for (const id of user.withdrawals ?? []) {
      const w = snapshotOf<{ amount?: string }>(id);
      // Listed but not running (restarting for a moment): its amount is not known here; the
      // transfer's own simulation still refuses to send more than the wallet holds.
      if (!w) continue;
      if (w.state !== null && IN_FLIGHT.has(w.state) && typeof w.context.amount === 'string') total += parseUnit('usdc', w.context.amount);
    }
    return total;
  }

  /** Not zero, not the trader's own wallet, not a contract the protocol runs. */
  function checkDestination(to: Address, own: Address): void {
    if (/^0x0{40}$/i.test(to)) throw new BadInputError('That is the zero address: USDC sent there is burnt for good. Nothing was sent.');
    if (to.toLowerCase() === own.toLowerCase()) throw new BadInputError(`${to} is your own Vanta wallet: the USDC is already there. Nothing was sent.`);
    for (const [name, address] of Object.entries(protocol.addresses)) {
      if (typeof address === 'string' && address.toLowerCase() === to.toLowerCase()) {
        throw new BadInputError(`${to} is ${CONTRACT_NAMES[name] ?? 'a contract of the protocol'}: USDC sent there cannot be recovered. Nothing was sent.`);
      }
    }
  }

  function entryView(e: AllowedAddress, now: number): WithdrawAddressView {
    return { address: getAddress(e.address), addedAt: new Date(e.addedAt).toISOString(), usableFrom: new Date(e.usableFrom).toISOString(), usable: e.usableFrom <= now };
  }

  async function check(telegramId: number, draft: WithdrawalDraft): Promise<{ review: WithdrawalReview; userId: string; trader: Trader }> {
    refuseIfClosed();
    if (!draft || typeof draft !== 'object') throw new BadInputError('The withdrawal is incomplete: give an amount and a destination.');
    const amount = parseWithdrawAmount(draft.amount);
    const to = draft.to === null || draft.to === undefined ? null : parseAddress(draft.to);
    const trader = await deps.trader(telegramId);
    const { userId, state, context } = trader;
    if (state === 'suspended') throw new BadInputError('Your account is suspended by an operator, so no withdrawal can be made. Contact support.');
    const own = await deps.walletAddress(userId);
    if (to !== null) {
      checkDestination(to, own);
      if (mode === 'live') {
        const problem = allowlistProblem(context.allowlist ?? [], to, deps.clock.now());
        if (problem) throw new BadInputError(problem);
      }
    }
    const [usdcBalance, ethBalance] = await Promise.all([protocol.reads.usdcBalance(own), client.getBalance({ address: own })]);
    const orders = deps.ordersBeingSent(userId);
    const withdrawals = withdrawalsBeingSent(context);
    const held = orders + withdrawals;
    const available = usdcBalance > held ? usdcBalance - held : 0n;
    if (amount > available) {
      const parts = [orders > 0n ? `${formatUnit('usdc', orders)} USDC for orders being sent` : null, withdrawals > 0n ? `${formatUnit('usdc', withdrawals)} USDC for withdrawals being sent` : null].filter(Boolean);
      const detail = parts.length ? ` (${formatUnit('usdc', usdcBalance)} USDC in the wallet, ${parts.join(' and ')})` : '';
      throw new BadInputError(`${formatUnit('usdc', amount)} USDC is more than you can withdraw now: ${formatUnit('usdc', available)} USDC is available${detail}. Nothing was sent.`);
    }
    if (ethBalance === 0n) {
      throw new BadInputError(`Your wallet holds ${formatEther(ethBalance)} ETH, and a transfer needs a little ETH for gas. Deposit some ETH on ${network} first. Nothing was sent.`);
    }
    return { userId, trader, review: { amount: formatUnit('usdc', amount), to, availableUsdc: formatUnit('usdc', available), network } };
  }

  /** The owner of a withdrawal id ever used (live, finished or quarantined), or null when unused. */
  async function ownerOf(actorId: string): Promise<string | null> {
    const [row] = await deps.db.sql<{ parent: string | null }>('select parent from actor_snapshots where id = ?', [actorId]);
    return row ? (row.parent ?? '') : null;
  }

  const REUSED = 'This withdrawal reference was already used; nothing was sent. Start the withdrawal again.';

  return {
    async reviewWithdrawal(telegramId, draft) {
      return (await check(telegramId, draft)).review;
    },

    async withdraw(telegramId, requestId, to, amount) {
      const withdrawalId = parseRequestId(requestId);
      const actorId = withdrawalSystemId(withdrawalId);
      const userId = deps.checkTelegramId(telegramId);
      return deps.locks.run(userId, async () => {
        // The same confirm again (a double click, a replayed button): the withdrawal it made.
        const before = snapshotOf<WithdrawalUserFacts>(userId);
        if (before && ((before.context.withdrawals ?? []).includes(actorId) || (before.context.recentWithdrawals ?? []).includes(withdrawalId))) return { withdrawalId };
        const owner = await ownerOf(actorId);
        if (owner === userId) return { withdrawalId };
        if (owner !== null) throw new BadInputError(REUSED);

        const { review } = await check(telegramId, { to, amount });
        if (review.to === null) throw new BadInputError('Give the address to send the USDC to. Nothing was sent.');
        const event = { type: 'withdrawal.requested', withdrawalId, to: review.to, amount: review.amount, at: deps.clock.now() };
        if (!runtime.send(userId, event)) {
          throw new VantaError('ACTOR_NOT_FOUND', 'Your account is being restored by the engine; nothing was sent. Try again in a few seconds.', { retryable: true });
        }
        const after = snapshotOf<WithdrawalUserFacts>(userId);
        if (!(after?.context.withdrawals ?? []).includes(actorId)) {
          const latest = (after?.context as { notices?: readonly { positionId: string | null; text: string }[] } | undefined)?.notices?.filter((n) => n.positionId === withdrawalId).at(-1);
          throw new BadInputError(latest?.text ?? 'Your withdrawal was refused by your account before anything was sent; please try again.');
        }
        try {
          await runtime.flushed([userId, actorId]);
        } catch (err) {
          // The id's row was already there (another withdrawal used it): the runtime stopped that copy; nothing is sent.
          if (err instanceof PersistConflictError && err.details['actorId'] === actorId) throw new BadInputError(REUSED);
          throw err;
        }
        return { withdrawalId };
      });
    },

    async allowlist(telegramId) {
      const { context } = await deps.trader(telegramId);
      const now = deps.clock.now();
      return {
        required: mode === 'live',
        delayHours: delayMs / HOUR_MS,
        addresses: (context.allowlist ?? []).map((e) => entryView(e, now)),
        refusal: refusal(),
        network,
      };
    },

    async addWithdrawAddress(telegramId, value) {
      refuseIfClosed();
      const address = parseAddress(value);
      const userId = deps.checkTelegramId(telegramId);
      return deps.locks.run(userId, async () => {
        const { state, context } = await deps.trader(telegramId);
        if (state === 'suspended') throw new BadInputError('Your account is suspended by an operator, so no withdrawal address can be added. Contact support.');
        checkDestination(address, await deps.walletAddress(userId));
        const list = context.allowlist ?? [];
        const now = deps.clock.now();
        const existing = list.find((e) => e.address.toLowerCase() === address.toLowerCase());
        if (existing) {
          const view = entryView(existing, now);
          throw new BadInputError(`${address} is already on your allowlist${view.usable ? ' and can be used now' : `; it can be used from ${view.usableFrom.slice(0, 16).replace('T', ' ')} UTC`}.`);
        }
        if (list.length >= ALLOWLIST_MAX) throw new BadInputError(`Your allowlist already holds ${list.length} addresses, the most allowed.`);
        const entry: AllowedAddress = { address, addedAt: now, usableFrom: now + delayMs };
        if (!runtime.send(userId, { type: 'allowlist.add', address, at: entry.addedAt, usableFrom: entry.usableFrom })) {
          throw new VantaError('ACTOR_NOT_FOUND', 'Your account is being restored by the engine; nothing was added. Try again in a few seconds.', { retryable: true });
        }
        const after = snapshotOf<WithdrawalUserFacts>(userId);
        if (!(after?.context.allowlist ?? []).some((e) => e.address === address)) throw new BadInputError('The address was not added: your account did not accept it. Nothing changed.');
        await runtime.flushed([userId]);
        // A new destination for the trader's money is a security event: kept in the audit log too.
        await deps.db.audit({ actor: userId, action: 'withdraw.address.added', subject: address, details: { usableFrom: new Date(entry.usableFrom).toISOString() } });
        return entryView(entry, now);
      });
    },
  };
}
