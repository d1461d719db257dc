import { getAddress, isAddressEqual, type Address } from 'viem';
import type { Logger } from 'pino';
import { VantaError } from '../errors.ts';
import { BatchedMarketClient, BlitzClient, TxBuilderClient, type V2HttpOptions } from '../infra/chain/avantis-v2/http-client.ts';
import { DelegateCalldataClient } from '../infra/chain/avantis-v2/delegate-calldata-client.ts';
import { createGaslessMarketRoute } from '../infra/chain/avantis-v2/gasless-market.ts';
import { createIntentStore } from '../infra/chain/avantis-v2/intent-store.ts';
import type { V2Meta } from '../infra/chain/avantis-v2/meta.ts';
import type { Database } from '../infra/db/database.ts';
import type { Fence } from '../infra/db/fence.ts';
import { createKeyedLock } from '../infra/keyed-lock.ts';
import { createDelegateKeys, delegateUserId } from '../infra/keys/delegate-keys.ts';
import type { Wallets } from '../infra/keys/wallets.ts';
import type { RiskLimits } from '../machines/risk.ts';
import { createDelegateRegistration, type DelegateRegistration } from './delegate-registration.ts';
import { createGaslessOrderGateway, type GaslessOrderGateway, type GaslessOrderGatewayDeps } from './order-gateway-v2.ts';
import type { OrderGateway } from './order-gateway.ts';

/**
 * The Avantis v2 side of the engine, composed once at start (ADR 0019): `/v2/meta` read and
 * checked against the chain the engine reads, then re-read on a schedule; the intent store; the
 * gasless market route; delegate keys and their registration; the order gateway the position
 * actors use. Nothing the meta answers is hard-coded here.
 */
export interface V2OrdersOptions {
  readonly txBuilderUrl: string;
  readonly gatewayUrl: string;
  readonly chainId: number;
  /** The TradingStorage the engine reads on chain: the meta must name the same one. */
  readonly tradingStorage: Address;
  readonly db: Database;
  readonly fence: Fence;
  readonly wallets: Wallets;
  readonly priceOf: (pairIndex: number) => Promise<bigint>;
  readonly blockNumber: () => Promise<bigint>;
  readonly limits: RiskLimits;
  /** The v1 gateway over the same chain: TP, SL and liquidations are read from there. */
  readonly chainFollower: Pick<OrderGateway, 'watchTrade'>;
  /** The trader's USDC allowance to TradingStorage (and, in the sandbox, test funds) before a first open. */
  readonly prepareOpen?: GaslessOrderGatewayDeps['prepareOpen'];
  readonly metaRefreshMs: number;
  readonly logger: Logger;
  readonly http?: V2HttpOptions;
}

export interface V2Orders {
  readonly orders: GaslessOrderGateway;
  readonly registration: DelegateRegistration;
  /** The last good /v2/meta, null until one was read and matched the chain. */
  readonly meta: () => V2Meta | null;
  /** Resolves once /v2/meta is read and matches the chain (the readiness check). */
  ready(): Promise<void>;
  stop(): void;
}

const telegramIdOf = (owner: string): number => {
  const id = Number(owner.slice('user:'.length));
  if (!owner.startsWith('user:') || !Number.isSafeInteger(id)) throw new VantaError('BAD_INPUT', `${owner.slice(0, 40)} is not a trader.`);
  return id;
};

export async function startV2Orders(o: V2OrdersOptions): Promise<V2Orders> {
  const log = o.logger.child({ component: 'avantis-v2' });
  const http = o.http ?? {};
  const txBuilder = new TxBuilderClient({ baseUrl: o.txBuilderUrl, meta: { chainId: o.chainId }, ...http });
  // Nothing is signed before the meta is read and matches the chain. An engine that cannot reach
  // the services at start still starts (reads, follows, withdrawals) and tries again at each order.
  let meta: V2Meta | null = null;
  const ready = async (): Promise<V2Meta> => {
    if (meta === null) {
      meta = checked(await txBuilder.meta(), o);
      log.info({ chain_id: meta.chainId, trading_router: meta.addresses.tradingRouter, trading_storage: meta.addresses.tradingStorage }, 'Avantis v2 service description read (/v2/meta)');
    }
    return meta;
  };
  await ready().catch((err: unknown) => log.error({ admin_alert: true, err }, 'Avantis v2 services are not usable yet (/v2/meta); orders are refused until they are'));

  const refresh = setInterval(() => {
    txBuilder.refreshMeta().then(
      (fresh) => {
        const next = checked(fresh, o);
        if (meta !== null && JSON.stringify(next.domains, bigintText) !== JSON.stringify(meta.domains, bigintText)) {
          log.warn({ admin_alert: true }, 'Avantis v2 signing domains changed (/v2/meta): new orders are signed under the new ones');
        }
        meta = next;
      },
      (err: unknown) => log.error({ admin_alert: true, err }, 'Re-reading /v2/meta failed or it no longer matches this chain; new v2 orders use the last good description'),
    );
  }, o.metaRefreshMs);
  refresh.unref();

  const store = createIntentStore(o.db, o.fence);
  const lock = createKeyedLock();
  const delegates = createDelegateKeys({ wallets: o.wallets, lock, logger: log });
  const registration = createDelegateRegistration({
    txBuilder,
    calldata: new DelegateCalldataClient({ baseUrl: o.txBuilderUrl, ...http }),
    relayer: new BlitzClient({ gatewayUrl: o.gatewayUrl, ...http }),
    store,
    wallets: o.wallets,
    delegates,
    lock,
    logger: log,
  });

  let gateway: GaslessOrderGateway | null = null;
  const route = createGaslessMarketRoute({
    store,
    txBuilder,
    market: new BatchedMarketClient({ gatewayUrl: o.gatewayUrl, ...http }),
    signDigest: (signer, digest) => o.wallets.signHash(gateway!.keyIdOf(signer), digest),
    nonceUnused: async (signer, nonce) => {
      const answer = await txBuilder.nonce(signer, nonce);
      if (answer.available === undefined) throw new VantaError('CHAIN_BAD_RESPONSE', 'The v2 nonce check did not say whether the nonce is free; the order stays unresolved and is checked again.', { retryable: true });
      return answer.available;
    },
    logger: log,
  });

  gateway = createGaslessOrderGateway({
    route,
    traderOf: async (owner) => {
      const wallet = await o.wallets.find(owner);
      if (!wallet) throw new VantaError('WALLET_NOT_FOUND', 'You have no Vanta wallet yet: send /start to open one.');
      return wallet.address;
    },
    // Before each order: the delegate must be able to sign intents now. For a wallet Vanta
    // created, Vanta registers (or renews) it itself with the trader's key.
    delegateOf: async (owner) => {
      await ready();
      const telegramId = telegramIdOf(owner);
      let check = await registration.checkDelegation(telegramId);
      if (check.state !== 'active' || check.renewSoon) check = await registration.registerDelegate(telegramId);
      if (check.state !== 'active' || check.delegate === null) throw new VantaError('TRADE_REJECTED', check.message, { retryable: check.state === 'pending' });
      return { address: getAddress(check.delegate), keyId: delegateUserId(telegramId) };
    },
    ...(o.prepareOpen ? { prepareOpen: o.prepareOpen } : {}),
    priceOf: o.priceOf,
    blockNumber: o.blockNumber,
    limits: o.limits,
    watchTrade: (p, hooks) => o.chainFollower.watchTrade(p, hooks),
    logger: log,
  });

  return { orders: gateway, registration, meta: () => meta, ready: async () => void (await ready()), stop: () => clearInterval(refresh) };
}

/** The meta must describe the deployment the engine reads on chain, or no v2 order is sent. */
function checked(meta: V2Meta, o: Pick<V2OrdersOptions, 'tradingStorage' | 'chainId'>): V2Meta {
  if (!isAddressEqual(meta.addresses.tradingStorage, o.tradingStorage)) {
    throw new VantaError(
      'CHAIN_DEPLOYMENT_MISMATCH',
      `The Avantis v2 service (/v2/meta) names TradingStorage ${meta.addresses.tradingStorage}, but the chain this engine reads has ${o.tradingStorage}: the services and the RPC are not the same deployment. Nothing is traded on v2; fix AVANTIS_V2_TX_BUILDER_URL or BASE_RPC_URLS.`,
    );
  }
  return meta;
}

function bigintText(_key: string, value: unknown): unknown {
  return typeof value === 'bigint' ? value.toString() : value;
}
