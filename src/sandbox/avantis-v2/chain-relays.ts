/**
 * The blitz relayer double, carried out on the devnet (AVANTIS-V2.md §9.4, §9.5, §10): a relay of
 * `setDelegateWithSig` from a delegate's 7702 account really registers the delegate in the
 * simulator's TradingV2 facet, so intents that delegate signs later execute on chain.
 *
 * SIMULATED, and why: on Base the relayer sends a type-4 transaction to the delegate's own EOA,
 * whose authorization gives it the code of Gelato's smart-account template, which checks the
 * Execute signature and makes the calls FROM the EOA. The devnet has no such template (nor its
 * address), so the 7702 envelope cannot run here. This double therefore CHECKS the envelope as
 * the template and the chain would (relay-chain.ts `unwrapRelay`: authorization signed by the
 * account for the template on this chain, Execute signature by the account, mode; plus the
 * authorization nonce against the account's nonce and the Execute nonce against replay), and then
 * sends each inner call ITSELF, as a plain transaction from its relayer account, waits for the
 * receipt and reports it. That is faithful only for calls whose effect does not depend on who
 * sends them: `setDelegateWithSig` is permissionless (§9.5: the trader's signature is what counts),
 * so only it is relayed. Anything else, and any call not to the TradingRouter or carrying value,
 * is refused (Failed) before anything is sent — e.g. `removeDelegate(d)` would remove the
 * relayer's delegate instead of the account's.
 *
 * Further differences from Base, deliberate:
 * - Several calls in one relay are several transactions: all are simulated before the first is
 *   sent, but a call that reverts once mined does not undo the ones before it (the real `execute`
 *   is atomic). The delegate key only ever relays one call (delegate-keys.ts).
 * - The 7702 state (which accounts have the template's code, their authorization nonces, used
 *   Execute nonces) lives in this object's memory: the devnet never sees the authorization, so the
 *   account's chain nonce stays as it was. An authorization whose nonce is not the account's is
 *   skipped, as on chain; if the account then has no code the relay is refused (Base would mine a
 *   call to a plain EOA that does nothing, and report it successful).
 * - A relay the simulation says would revert is reported Failed with the revert reason and never
 *   sent (ASSUMED: the real relayer simulates too); a call that reverts once mined is reported
 *   Finalised with `status: 'reverted'`.
 *
 * After a mined `setDelegateWithSig` the Ledger is refreshed from the chain (`mirror`: the
 * delegation and the trader's spent nonce), so the doubles' reads agree with the facet.
 */
import { decodeFunctionData, getAddress, parseEventLogs, type Address, type Hex, type PublicClient, type TransactionReceipt } from 'viem';
import type { Logger } from 'pino';
import type { BlitzTxParams } from '../../infra/chain/avantis-v2/blitz-client.ts';
import { decodeIntent } from '../../infra/chain/avantis-v2/intents.ts';
import { abiOf } from '../../infra/devnet/artifacts.ts';
import { RECEIPT_TIMEOUT_MS, type DevnetWallet } from '../../infra/devnet/clients.ts';
import { revertOf } from './devnet-executor.ts';
import { RelayReverted, unwrapRelay, type UnwrappedRelay } from './relay-chain.ts';
import type { RelayExecutor, RelayOutcome } from './relays.ts';

const SET_DELEGATE_WITH_SIG_ABI = [
  { type: 'function', name: 'setDelegateWithSig', stateMutability: 'nonpayable', inputs: [{ name: 'signature', type: 'bytes' }, { name: 'userIntent', type: 'bytes' }], outputs: [] },
] as const;

export interface ChainRelayOptions {
  readonly publicClient: PublicClient;
  /** Sends the relayed calls. Any funded account: setDelegateWithSig needs no role (§9.5). */
  readonly relayer: DevnetWallet;
  readonly chainId: number;
  readonly tradingRouter: Address;
  /** The template authorizations must name. Default §10's Gelato template. */
  readonly template?: Address;
  /**
   * Runs each relay's sends with whatever else sends from the relayer account (anvil nonces):
   * DevnetExecutor.exclusive when the relayer is the executor's operator. Default: this object's own queue.
   */
  readonly exclusive?: <T>(work: () => Promise<T>) => Promise<T>;
  /** Re-reads from the chain into the Ledger what a mined setDelegateWithSig changed. */
  readonly mirror?: {
    delegation(trader: Address, delegate: Address): Promise<void>;
    nonce(signer: Address, nonce: bigint): Promise<void>;
  };
  readonly logger?: Logger;
}

interface AccountState {
  /** Authorizations this double has applied (the devnet's own nonce never moves for them). */
  applied: number;
  /** The account has the template's code (an authorization was applied once). */
  delegated: boolean;
  readonly executeNonces: Set<bigint>;
}

class Refused extends Error {}

export class ChainRelayExecutor implements RelayExecutor {
  readonly #o: ChainRelayOptions;
  readonly #accounts = new Map<Address, AccountState>();
  #queue: Promise<unknown> = Promise.resolve();
  /** Transactions this double sent (for tests). */
  readonly sent: Hex[] = [];

  constructor(options: ChainRelayOptions) {
    this.#o = options;
  }

  async execute(txParams: BlitzTxParams, wallet: Address): Promise<RelayOutcome> {
    try {
      const relay = await this.#verify(txParams, wallet);
      return await this.#exclusive(() => this.#run(relay, txParams));
    } catch (error) {
      if (error instanceof Refused || error instanceof RelayReverted) {
        this.#o.logger?.info({ wallet, reason: error.message }, 'blitz double: relay refused, nothing sent');
        return { status: 'Failed', error: error.message };
      }
      throw error;
    }
  }

  /** The envelope and the calls, checked without the chain. */
  async #verify(tx: BlitzTxParams, wallet: Address): Promise<UnwrappedRelay> {
    const relay = await unwrapRelay({ chainId: this.#o.chainId, ...(this.#o.template === undefined ? {} : { template: this.#o.template }) }, tx, this.#o.relayer.account.address);
    if (BigInt(tx.value) !== 0n) throw new Refused('the relay carries value; relayed calls carry none');
    if (tx.transactionType === 4 && getAddress(wallet) !== relay.sender) throw new Refused(`the body's wallet ${wallet} is not the relaying account ${relay.sender}`);
    if (relay.calls.length === 0) throw new Refused('the relay carries no call');
    for (const call of relay.calls) {
      if (getAddress(call.to) !== getAddress(this.#o.tradingRouter)) throw new Refused(`a call to ${call.to}: this relayer double relays only to the TradingRouter`);
      if (call.value !== 0n) throw new Refused('a call carries value');
      try {
        decodeFunctionData({ abi: SET_DELEGATE_WITH_SIG_ABI, data: call.data });
      } catch {
        throw new Refused(`TradingRouter call ${call.data.slice(0, 10)}: this relayer double sends calls from its own account, so it relays only setDelegateWithSig (permissionless, §9.5), whose effect does not depend on the sender`);
      }
    }
    return relay;
  }

  /** In the relayer's queue: the 7702 state, a simulation of every call, then the sends. */
  async #run(relay: UnwrappedRelay, tx: BlitzTxParams): Promise<RelayOutcome> {
    const { publicClient, relayer } = this.#o;
    const state = this.#accounts.get(relay.sender) ?? { applied: 0, delegated: false, executeNonces: new Set<bigint>() };
    let authorizationApplies = false;
    if (relay.authorization !== null) {
      const accountNonce = (await publicClient.getTransactionCount({ address: relay.sender })) + state.applied;
      authorizationApplies = relay.authorization.nonce === accountNonce;
      if (!authorizationApplies && !state.delegated) {
        throw new Refused(`the authorization's nonce ${relay.authorization.nonce} is not the account's nonce ${accountNonce}, and the account has no smart-account code: the execute would reach a plain EOA and do nothing`);
      }
      if (relay.executeNonce !== null && state.executeNonces.has(relay.executeNonce)) throw new Refused('InvalidNonce: this Execute nonce was used already (the template refuses a replay)');
    }
    const calls = relay.calls.map((call) => ({ call, args: decodeFunctionData({ abi: SET_DELEGATE_WITH_SIG_ABI, data: call.data }).args }));
    // Simulated first, all of them: a revert sends nothing, with the contract's reason.
    let gas = 0n;
    const estimates: bigint[] = [];
    for (const { args } of calls) {
      try {
        await publicClient.simulateContract({ account: relayer.account, address: this.#o.tradingRouter, abi: abiOf('TradingV2'), functionName: 'setDelegateWithSig', args: [...args] });
        const estimate = await publicClient.estimateContractGas({ account: relayer.account, address: this.#o.tradingRouter, abi: SET_DELEGATE_WITH_SIG_ABI, functionName: 'setDelegateWithSig', args: [...args] });
        estimates.push(estimate);
        gas += estimate;
      } catch (error) {
        const reverted = revertOf(error);
        throw new Refused(`the relay would revert: ${reverted.code} (${reverted.message})`);
      }
    }
    if (gas > BigInt(tx.gasLimit)) throw new Refused(`the relay needs about ${gas} gas, over its gasLimit ${tx.gasLimit}`);

    const receipts: TransactionReceipt[] = [];
    try {
      for (const [i, { call }] of calls.entries()) {
        // Headroom as sendCall gives: anvil's estimate can be a little short.
        const hash = await relayer.sendTransaction({ to: call.to, data: call.data, value: 0n, gas: (estimates[i]! * 13n) / 10n + 20_000n });
        this.sent.push(hash);
        const receipt = await publicClient.waitForTransactionReceipt({ hash, pollingInterval: 20, timeout: RECEIPT_TIMEOUT_MS });
        receipts.push(receipt);
        if (receipt.status !== 'success') break;
      }
    } finally {
      // Authorizations are processed before execution and stay even when it reverts (EIP-7702).
      if (authorizationApplies && receipts.length > 0) {
        state.applied++;
        state.delegated = true;
        this.#accounts.set(relay.sender, state);
      }
    }
    const last = receipts.at(-1)!;
    const ok = last.status === 'success';
    if (ok && relay.executeNonce !== null) state.executeNonces.add(relay.executeNonce);
    for (const receipt of receipts.filter((r) => r.status === 'success')) await this.#mirror(receipt);
    for (const { args } of calls) {
      const { trader, nonce } = decodeIntent('DelegateReq', args[1]);
      await this.#o.mirror?.nonce(trader, nonce);
    }
    this.#o.logger?.info({ account: relay.sender, txs: receipts.map((r) => r.transactionHash), status: last.status }, 'blitz double: relay sent on the devnet');
    return {
      status: 'Finalised',
      receipt: {
        status: last.status,
        transactionHash: last.transactionHash,
        blockNumber: last.blockNumber.toString(),
        from: last.from,
        to: last.to,
        gasUsed: receipts.reduce((sum, r) => sum + r.gasUsed, 0n).toString(),
        // Double only: every transaction the relay became, and the account the calls were for.
        transactionHashes: receipts.map((r) => r.transactionHash),
        relayedFor: relay.sender,
      },
    };
  }

  async #mirror(receipt: TransactionReceipt): Promise<void> {
    const mirror = this.#o.mirror;
    if (mirror === undefined) return;
    for (const log of parseEventLogs({ abi: abiOf('TradingV2'), logs: receipt.logs, eventName: 'DelegateSet' })) {
      const { trader, delegate } = (log as unknown as { args: { trader: Address; delegate: Address } }).args;
      await mirror.delegation(trader, delegate);
    }
  }

  #exclusive<T>(work: () => Promise<T>): Promise<T> {
    if (this.#o.exclusive !== undefined) return this.#o.exclusive(work);
    const next = this.#queue.then(work, work);
    this.#queue = next.catch(() => undefined);
    return next;
  }

  async close(): Promise<void> {
    await this.#queue.catch(() => undefined);
  }
}
