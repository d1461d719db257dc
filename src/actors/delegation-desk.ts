/**
 * The trader's side of delegate custody on Avantis v2 (issue 9 item 3; ADR 0018, 0019): the
 * DelegationDesk port (desk.ts) the bot's /connect and /disconnect use.
 *
 * - status: `checkDelegation` for the Vanta wallet, or for a trader's own wallet.
 * - register: `registerDelegate` for the Vanta wallet (exactly once per DelegateReq; serialised
 *   per trader here and in the registration).
 * - connectLink: a connect-page session for the trader's OWN wallet (the page shows what is
 *   signed; the server verifies the signature over its own digest) and `submitOwnWallet`, the
 *   production `submit` of the connect server: `setDelegateWithSig` relayed from the delegate's
 *   7702 account through blitz, then confirmed with /v2/delegation.
 * - revocationCall / revoke: `removeDelegate(delegate)` for the trader to send. For the Vanta
 *   wallet Vanta sends it itself, signed by that wallet, through the transaction outbox (intent
 *   `delegate-remove:<telegramId>:<requestId>`: a double click or a replay resumes the same
 *   transaction, never a second one). For an own wallet the exact call is shown.
 *
 * Not here (v2-orders.ts decides): the v2 gateway trades for the Vanta wallet only; a trader's own
 * wallet, once connected, is not used as the trading account yet. And the gateway registers the key
 * again before the next order on a Vanta wallet, so /disconnect holds until the trader trades again.
 */
import { getAddress, isAddress, type Address, type PublicClient } from 'viem';
import type { Logger } from 'pino';
import { BadInputError, VantaError } from '../errors.ts';
import type { BlitzClient } from '../infra/chain/avantis-v2/blitz-client.ts';
import type { TraderCall } from '../infra/chain/avantis-v2/delegate-calldata-client.ts';
import { DelegateCalldataClient } from '../infra/chain/avantis-v2/delegate-calldata-client.ts';
import { V2Error } from '../infra/chain/avantis-v2/errors.ts';
import { BlitzClient as HttpBlitzClient, TxBuilderClient, type V2HttpOptions } from '../infra/chain/avantis-v2/http-client.ts';
import { createIntentStore } from '../infra/chain/avantis-v2/intent-store.ts';
import { domainFor, type V2Meta } from '../infra/chain/avantis-v2/meta.ts';
import { createOutbox } from '../infra/chain/tx/outbox.ts';
import { TxPipeline, type PipelineOptions } from '../infra/chain/tx/pipeline.ts';
import type { Database } from '../infra/db/database.ts';
import type { Fence } from '../infra/db/fence.ts';
import type { ConnectSubmitResult, SignedDelegateReq } from '../infra/http/connect-server.ts';
import { createKeyedLock, type KeyedLock } from '../infra/keyed-lock.ts';
import { DelegateError } from '../infra/keys/delegate-errors.ts';
import { createDelegateKeys, type DelegateKeys } from '../infra/keys/delegate-keys.ts';
import type { Wallets } from '../infra/keys/wallets.ts';
import { setDelegateWithSigCalldata, type DelegateConnectSessions } from './delegate-connect.ts';
import { createDelegateRegistration, type DelegateRegistration, type DelegationCheck } from './delegate-registration.ts';
import type { DelegationDesk, DelegationView, RevocationOutcome, TraderCallView } from './desk.ts';
import { userSystemId } from './kinds/user.actor.ts';

export interface DelegationDeskDeps {
  readonly registration: DelegateRegistration;
  readonly delegates: Pick<DelegateKeys, 'ensureDelegate' | 'delegateOf' | 'signRelay'>;
  readonly wallets: Pick<Wallets, 'find'>;
  /** The current /v2/meta (chain id, TradingRouter, signing domains). */
  readonly meta: () => Promise<V2Meta>;
  /** Relays the own-wallet registration (blitz). */
  readonly relayer: Pick<BlitzClient, 'relay' | 'relayStatus'>;
  /** Sends a transaction from a Vanta wallet through the outbox and waits for the chain's verdict. */
  readonly pipeline: Pick<TxPipeline, 'execute'>;
  /** The connect page, when it is served (v2 only): its sessions and how a token becomes a link. */
  readonly connect: { readonly sessions: DelegateConnectSessions; readonly linkFor: (token: string) => string } | null;
  readonly logger: Logger;
  readonly now?: () => number;
  /** How long a key registered through the page lasts (default 30 days, as registerDelegate's). */
  readonly delegateLifetimeSeconds?: number;
  /** Relay status polls for an own-wallet registration (default 60, every second). */
  readonly maxPolls?: number;
  readonly pollIntervalMs?: number;
}

export interface RunningDelegationDesk extends DelegationDesk {
  /** The connect server's `submit`: relays a DelegateReq the trader's own wallet signed. */
  submitOwnWallet(signed: SignedDelegateReq): Promise<ConnectSubmitResult>;
  /** The telegram id a connect session's delegate belongs to (for telling the trader the outcome). */
  telegramIdOfDelegate(delegate: Address): number | null;
}

const REQUEST_ID = /^[A-Za-z0-9_-]{4,32}$/;
const ZERO = /^0x0{40}$/i;

const iso = (seconds: bigint | null): string | null => (seconds === null || seconds === 0n ? null : new Date(Number(seconds) * 1000).toISOString());

function viewOf(check: DelegationCheck): DelegationView {
  return { state: check.state, trader: check.trader, delegate: check.delegate, expiresAt: iso(check.expiry), renewSoon: check.renewSoon, message: check.message };
}

/** An address a trader typed, checksummed; a refusal that says what to send otherwise. */
export function ownWalletOf(text: string): Address {
  const t = text.trim();
  if (!isAddress(t, { strict: false }) || ZERO.test(t)) {
    throw new BadInputError('That is not a wallet address. Send it as 0x followed by 40 hexadecimal characters, e.g. /connect 0x1234…abcd.');
  }
  return getAddress(t);
}

/**
 * Errors the registration and the v2 services write for the trader are shown as they are; anything
 * else stays internal (the bot logs it and shows a reference).
 */
function forTrader(err: unknown): unknown {
  if (err instanceof DelegateError && err.reason !== 'DELEGATE_KEY_CONFLICT' && err.reason !== 'DELEGATE_SIGN_REFUSED') return new VantaError('BAD_INPUT', err.message, { cause: err });
  if (err instanceof V2Error && ['V2_RATE_LIMITED', 'V2_GEO_RESTRICTED', 'V2_SIMULATION_FAILED'].includes(String(err.details['v2Code']))) return new VantaError('BAD_INPUT', err.message, { cause: err });
  return err;
}

async function traderFacing<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (err) {
    throw forTrader(err);
  }
}

export function createDelegationDesk(deps: DelegationDeskDeps): RunningDelegationDesk {
  const now = deps.now ?? Date.now;
  const lifetime = BigInt(deps.delegateLifetimeSeconds ?? 30 * 86_400);
  const maxPolls = deps.maxPolls ?? 60;
  const pollMs = deps.pollIntervalMs ?? 1_000;
  const log = deps.logger.child({ component: 'delegation-desk' });
  const locks: KeyedLock = createKeyedLock();
  /** Delegate address (lower case) → telegram id, for the page's submissions (a delegate is one trader's). */
  const owners = new Map<string, number>();

  async function vantaWallet(telegramId: number): Promise<Address | null> {
    return (await deps.wallets.find(userSystemId(telegramId)))?.address ?? null;
  }

  const callView = (call: TraderCall, delegate: Address): TraderCallView => ({ to: call.to, from: call.from, data: call.data, value: '0', chainId: call.chainId, delegate });

  async function revoke(telegramId: number, requestId: string): Promise<RevocationOutcome> {
    if (!REQUEST_ID.test(requestId)) throw new BadInputError('This confirmation is not valid any more. Send /disconnect again.');
    const trader = await vantaWallet(telegramId);
    if (trader === null) return { status: 'nothing', message: 'You have no Vanta wallet, so there is no trading key to revoke for it.' };
    const intentId = `delegate-remove:${telegramId}:${requestId}`;
    const check = await deps.registration.checkDelegation(telegramId);
    if (check.state === 'pending') throw new BadInputError('Vanta is still registering its trading key for your wallet. Wait a minute, then send /disconnect again.');
    const call = await deps.registration.revocationCall(telegramId);
    if (call === null || check.delegate === null) return { status: 'nothing', message: 'Vanta never made a trading key for your wallet, so there is nothing to revoke.' };
    if (check.state === 'missing') {
      // Resuming a revocation this request already sent (a replay after it mined) reports it again.
      return { status: 'nothing', message: 'Vanta’s trading key is not registered for your wallet, so there is nothing to revoke: Vanta cannot trade for you now.' };
    }
    log.info({ telegram_id: telegramId, intent_id: intentId, delegate: check.delegate }, 'Revoking the trading key: removeDelegate from the trader’s Vanta wallet');
    const outcome = await deps.pipeline.execute({ id: intentId, userId: userSystemId(telegramId), from: trader, kind: 'delegate-remove', request: { to: call.to, data: call.data, value: 0n } });
    switch (outcome.status) {
      case 'mined':
        return { status: 'revoked', txHash: outcome.hash, block: outcome.receipt.blockNumber.toString() };
      case 'reverted':
        throw new BadInputError(`The revocation was mined but failed (transaction ${outcome.hash}); Vanta’s key may still be registered. Send /connect to see its state, and /disconnect to try again.`);
      case 'superseded':
        throw new BadInputError('Another transaction from your wallet took the revocation’s place, so it was not executed. Send /disconnect to try again.');
    }
  }

  async function relayOwn(telegramId: number, signed: SignedDelegateReq): Promise<ConnectSubmitResult> {
    const meta = await deps.meta();
    const calldata = setDelegateWithSigCalldata(signed);
    const relay = await deps.delegates.signRelay(telegramId, { chainId: meta.chainId, tradingRouter: meta.addresses.tradingRouter, calls: [{ to: meta.addresses.tradingRouter, value: 0n, data: calldata }] });
    const requestId = await deps.relayer.relay(relay.txParams, relay.wallet);
    log.info({ telegram_id: telegramId, request_id: requestId, trader: signed.trader }, 'Relayed an own wallet’s setDelegateWithSig through blitz');
    for (let i = 0; i < maxPolls; i++) {
      const status = await deps.relayer.relayStatus(requestId);
      if (status.status === 'Failed') return { ok: false, reason: 'the relayer could not execute the registration; nothing changed. Ask the bot for a new link.' };
      if (status.status === 'Finalised') {
        const ok = ['success', '0x1', 1, true].includes(status.receipt?.['status'] as string | number | boolean);
        if (!ok) return { ok: false, reason: 'the registration reverted on chain; nothing changed. Ask the bot for a new link.' };
        const check = await deps.registration.checkDelegation(telegramId, signed.trader);
        if (check.state !== 'active') return { ok: false, reason: 'the registration was executed, but Avantis does not show the key yet. Send /connect in a minute to check.' };
        return { ok: true, detail: `Vanta's trading key is registered for ${signed.trader} until ${iso(check.expiry)}.` };
      }
      await new Promise((resolve) => setTimeout(resolve, pollMs));
    }
    return { ok: false, reason: 'the registration is still being confirmed on chain. Send /connect in a minute to see whether it went through.' };
  }

  return {
    status: (telegramId, ownWallet) => traderFacing(async () => viewOf(await deps.registration.checkDelegation(telegramId, ownWallet === undefined ? undefined : ownWalletOf(ownWallet)))),
    register: (telegramId) => traderFacing(() => locks.run(`register:${telegramId}`, async () => viewOf(await deps.registration.registerDelegate(telegramId)))),

    async connectLink(telegramId, ownWallet) {
      const trader = ownWalletOf(ownWallet);
      if (deps.connect === null) throw new BadInputError('The signing page for your own wallet is not served by this Vanta engine. Ask the operator to set CONNECT_PUBLIC_URL.');
      const vanta = await vantaWallet(telegramId);
      if (vanta !== null && vanta === trader) throw new BadInputError('That is your Vanta wallet: Vanta registers its key for it itself. Send /connect and press "Register now".');
      return traderFacing(async () => {
        const delegate = await deps.delegates.ensureDelegate(telegramId);
        owners.set(delegate.toLowerCase(), telegramId);
        const meta = await deps.meta();
        const expirySeconds = BigInt(Math.floor(now() / 1000)) + lifetime;
        const { token, session } = deps.connect!.sessions.open({ trader, delegate, domain: domainFor(meta, 'DelegateReq'), expirySeconds });
        return { url: deps.connect!.linkFor(token), trader, delegate, linkExpiresAt: new Date(session.expiresAtMs).toISOString(), delegateExpiresAt: iso(expirySeconds)! };
      });
    },

    revocationCall: (telegramId, ownWallet) =>
      traderFacing(async () => {
        const trader = ownWalletOf(ownWallet);
        const delegate = await deps.delegates.delegateOf(telegramId);
        const call = await deps.registration.revocationCall(telegramId, trader);
        return call === null || delegate === null ? null : callView(call, delegate);
      }),

    revoke: (telegramId, requestId) => traderFacing(() => locks.run(`revoke:${telegramId}`, () => revoke(telegramId, requestId))),

    async submitOwnWallet(signed) {
      const telegramId = owners.get(signed.delegate.toLowerCase());
      if (telegramId === undefined) return { ok: false, reason: 'this engine no longer knows the link (it restarted). Ask the bot for a new one.' };
      return locks.run(`register:${telegramId}`, () => relayOwn(telegramId, signed));
    },
    telegramIdOfDelegate: (delegate) => owners.get(delegate.toLowerCase()) ?? null,
  };
}

/** What main gives to compose the desk on a v2 deployment. */
export interface V2DelegationOptions {
  readonly txBuilderUrl: string;
  readonly gatewayUrl: string;
  readonly chainId: number;
  readonly db: Database;
  readonly fence: Fence;
  readonly wallets: Wallets;
  /** The transaction pipeline's settings for the trader's own transactions (the revocation). */
  readonly pipeline: Omit<PipelineOptions, 'outbox' | 'signer' | 'chainId'> & { readonly client: PublicClient };
  /** Link sessions for the connect page; null when the page is not served. */
  readonly connect: { readonly linkFor: (token: string) => string; readonly sessions: DelegateConnectSessions } | null;
  readonly logger: Logger;
  readonly http?: V2HttpOptions;
  /** How long the read /v2/meta is used before it is read again (default 10 minutes). */
  readonly metaRefreshMs?: number;
}

/**
 * Composes the desk over the v2 services, the intent store and the outbox, as v2-orders.ts does
 * for orders. Its own registration instance writes the same `v2_intents` rows (the store's action
 * ids and fenced writes keep one DelegateReq per action across instances).
 */
export function createV2DelegationDesk(o: V2DelegationOptions): RunningDelegationDesk {
  const http = o.http ?? {};
  const log = o.logger.child({ component: 'avantis-v2-delegation' });
  const txBuilder = new TxBuilderClient({ baseUrl: o.txBuilderUrl, meta: { chainId: o.chainId }, ...http });
  const relayer = new HttpBlitzClient({ gatewayUrl: o.gatewayUrl, ...http });
  const lock = createKeyedLock();
  const delegates = createDelegateKeys({ wallets: o.wallets, lock, logger: log });
  const registration = createDelegateRegistration({
    txBuilder,
    calldata: new DelegateCalldataClient({ baseUrl: o.txBuilderUrl, ...http }),
    relayer,
    store: createIntentStore(o.db, o.fence),
    wallets: o.wallets,
    delegates,
    lock,
    logger: log,
  });
  const pipeline = new TxPipeline({ ...o.pipeline, chainId: o.chainId, outbox: createOutbox(o.db, o.fence), signer: o.wallets });
  // The meta is read again when older than `metaRefreshMs` (the signing domains could change).
  let metaAt = 0;
  const meta = async (): Promise<V2Meta> => {
    if (Date.now() - metaAt < (o.metaRefreshMs ?? 600_000)) return txBuilder.meta();
    const fresh = await txBuilder.refreshMeta();
    metaAt = Date.now();
    return fresh;
  };
  return createDelegationDesk({ registration, delegates, wallets: o.wallets, meta, relayer, pipeline, connect: o.connect, logger: log });
}
