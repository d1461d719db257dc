/**
 * Delegate keys (issue 9 item 3; AVANTIS-V2.md §4, §11): per trader, one secp256k1 key that Vanta
 * trades with on Avantis v2. It is generated and sealed exactly like a wallet key (Vault transit in
 * live, the local store in sandbox) and stored in the `wallets` table under the user id
 * `delegate:<telegramId>`, so key rotation rewraps it like any other row.
 *
 * Why the id cannot collide: traders' wallets are `user:<telegramId>` (userSystemId), and every
 * reader of a trader's wallet (trading desk, withdrawals, order gateway) builds that id from a
 * Telegram id; nothing turns a Telegram id into `delegate:…` but this module.
 *
 * What the delegate key can sign, here: EIP-712 trading intents whose signer rule is
 * `trader-or-delegate` (the digest is recomputed from the intent, never taken from a caller), and
 * the 7702 envelope that relays `setDelegateWithSig` from the delegate's own account (§11 step 4).
 * This module offers no way to sign a transaction, an approval, a withdrawal or an arbitrary
 * digest with it. The on-chain guarantee is the contract's, not ours (§4: a delegate cannot
 * approve, withdraw or add delegates; collateral comes from and payouts go to the trader;
 * test/infra/devnet/v2-intents.test.ts shows the simulator refusing the delegate for itself and
 * paying only the trader). The delegate's own address holds nothing.
 */
import { toFunctionSelector, type Address, type Hex } from 'viem';
import type { BlitzTxParams } from '../chain/avantis-v2/blitz-client.ts';
import { signerRuleOf, type IntentPrimaryType } from '../chain/avantis-v2/intent-types.ts';
import { prepareIntent, type IntentDomain, type IntentMessage } from '../chain/avantis-v2/intents.ts';
import { executeCalldata, executeNonce, executeTypedData, GELATO_DELEGATION_TEMPLATE, relayTxParams, type SmartAccountCall } from '../chain/avantis-v2/smart-account.ts';
import type { KeyedLock } from '../keyed-lock.ts';
import type { Logger } from '../logger.ts';
import { DelegateError } from './delegate-errors.ts';
import { WalletError } from './errors.ts';
import type { Wallets } from './wallets.ts';

export const DELEGATE_USER_PREFIX = 'delegate:';

/** The `wallets` user id of a trader's delegate key. */
export function delegateUserId(telegramId: number): string {
  return `${DELEGATE_USER_PREFIX}${checkTelegramId(telegramId)}`;
}

/** True for a `wallets` row that holds a delegate key, not a trader's wallet. */
export function isDelegateUserId(userId: string): boolean {
  return userId.startsWith(DELEGATE_USER_PREFIX);
}

/** Selectors the delegate may relay from its own 7702 account, to the TradingRouter only. */
export const DELEGATE_RELAY_SELECTORS: ReadonlySet<Hex> = new Set([toFunctionSelector('setDelegateWithSig(bytes,bytes)')]);

export interface SignedIntent {
  readonly digest: Hex;
  readonly encodedIntent: Hex;
  /** 65 bytes r‖s‖v, v 27/28. */
  readonly signature: Hex;
}

export interface DelegateIntent<P extends IntentPrimaryType = IntentPrimaryType> {
  readonly domain: IntentDomain;
  readonly primaryType: P;
  readonly message: IntentMessage<P>;
}

export interface RelayRequest {
  readonly chainId: number;
  /** The TradingRouter (from /v2/meta): the only target allowed. */
  readonly tradingRouter: Address;
  readonly calls: readonly SmartAccountCall[];
  /** Default §10's Gelato template. */
  readonly template?: Address;
}

export interface SignedRelay {
  readonly txParams: BlitzTxParams;
  /** The delegate's address: the `wallet` of the blitz body. */
  readonly wallet: Address;
}

export interface DelegateKeys {
  /** The trader's delegate address; creates and stores the key the first time (idempotent, also when raced). */
  ensureDelegate(telegramId: number): Promise<Address>;
  /** The trader's delegate address, or null when none was created. */
  delegateOf(telegramId: number): Promise<Address | null>;
  /** Signs a trading intent (`trader-or-delegate` kinds only) with the trader's delegate key. */
  signIntent<P extends IntentPrimaryType>(telegramId: number, intent: DelegateIntent<P>): Promise<SignedIntent>;
  /**
   * Signs the 7702 envelope relaying `calls` from the delegate's own account through blitz
   * (§10, §11 step 4): only `setDelegateWithSig` to the TradingRouter, value 0.
   */
  signRelay(telegramId: number, request: RelayRequest): Promise<SignedRelay>;
}

export interface DelegateKeysOptions {
  readonly wallets: Wallets;
  /** Serialises creation per trader within this process (a database unique key covers the rest). */
  readonly lock: KeyedLock;
  readonly logger: Logger;
  /** Unix ms (the 7702 nonce key). */
  readonly now?: () => number;
  /** 0…999 (the 7702 nonce salt). */
  readonly salt?: () => number;
}

export function createDelegateKeys(options: DelegateKeysOptions): DelegateKeys {
  const { wallets, lock } = options;
  const now = options.now ?? Date.now;
  const salt = options.salt ?? (() => crypto.getRandomValues(new Uint16Array(1))[0]! % 1000);

  async function ensureDelegate(telegramId: number): Promise<Address> {
    const userId = delegateUserId(telegramId);
    return lock.run(userId, async () => {
      const found = await wallets.find(userId);
      if (found) return found.address;
      try {
        const created = await wallets.create(userId);
        options.logger.info({ user_id: userId, address: created.address }, 'Created a delegate key');
        return created.address;
      } catch (error) {
        // Another process stored it between our read and our insert: its key stands (ours was never stored).
        if (!(error instanceof WalletError) || error.code !== 'WALLET_EXISTS') throw error;
        const raced = await wallets.find(userId);
        if (!raced) throw new DelegateError('DELEGATE_KEY_CONFLICT', `The delegate key of ${userId} was reported stored and then not found; check the wallets table.`, { userId });
        return raced.address;
      }
    });
  }

  async function delegateOf(telegramId: number): Promise<Address | null> {
    return (await wallets.find(delegateUserId(telegramId)))?.address ?? null;
  }

  async function signIntent<P extends IntentPrimaryType>(telegramId: number, intent: DelegateIntent<P>): Promise<SignedIntent> {
    const userId = delegateUserId(telegramId);
    if (signerRuleOf(intent.primaryType) !== 'trader-or-delegate') {
      throw new DelegateError('DELEGATE_SIGN_REFUSED', `A ${intent.primaryType} is signed by the trader only, never by the delegate key; nothing was signed.`, { userId, primaryType: intent.primaryType });
    }
    const local = prepareIntent(intent.domain, intent.primaryType, intent.message);
    if (local.encodedIntent === null) throw new DelegateError('DELEGATE_SIGN_REFUSED', `A ${intent.primaryType} is not submitted on chain; the delegate key does not sign it here.`, { userId });
    const signature = await wallets.signHash(userId, local.digest);
    return { digest: local.digest, encodedIntent: local.encodedIntent, signature };
  }

  async function signRelay(telegramId: number, request: RelayRequest): Promise<SignedRelay> {
    const userId = delegateUserId(telegramId);
    checkRelayCalls(userId, request);
    const nonce = executeNonce(Math.floor(now()), salt());
    return wallets.withSigners([userId], async (set) => {
      const signer = set.get(userId);
      if (!signer.signTypedData || !signer.signAuthorization) throw new DelegateError('DELEGATE_SIGN_REFUSED', `The signer of ${userId} cannot sign a 7702 envelope.`, { userId });
      // §5: a delegate key never sends a transaction itself, so its account nonce stays 0.
      const authorization = await signer.signAuthorization({ address: request.template ?? GELATO_DELEGATION_TEMPLATE, chainId: request.chainId, nonce: 0 });
      const signature = await signer.signTypedData(executeTypedData(signer.address, request.chainId, request.calls, nonce));
      if (!/^0x[0-9a-fA-F]{128}(1b|1c)$/.test(signature)) throw new DelegateError('DELEGATE_SIGN_REFUSED', `The execute signature of ${userId} is not 65 bytes r‖s‖v with v 27/28; nothing was relayed.`, { userId });
      return { txParams: relayTxParams(signer.address, request.chainId, executeCalldata(request.calls, nonce, signature), authorization), wallet: signer.address };
    });
  }

  return { ensureDelegate, delegateOf, signIntent, signRelay };
}

function checkRelayCalls(userId: string, request: RelayRequest): void {
  if (request.calls.length === 0) throw new DelegateError('DELEGATE_SIGN_REFUSED', 'A relay needs at least one call; nothing was signed.', { userId });
  for (const call of request.calls) {
    const selector = call.data.slice(0, 10).toLowerCase() as Hex;
    if (call.to.toLowerCase() !== request.tradingRouter.toLowerCase() || call.value !== 0n || !DELEGATE_RELAY_SELECTORS.has(selector)) {
      throw new DelegateError(
        'DELEGATE_SIGN_REFUSED',
        `The delegate key relays only setDelegateWithSig to the TradingRouter, with no value; it was asked for ${selector} to ${call.to}. Nothing was signed.`,
        { userId, selector, to: call.to },
      );
    }
  }
}

function checkTelegramId(telegramId: number): number {
  if (!Number.isSafeInteger(telegramId) || telegramId <= 0) throw new DelegateError('DELEGATE_BAD_TELEGRAM_ID', `Not a Telegram user id: ${String(telegramId).slice(0, 30)}.`);
  return telegramId;
}
