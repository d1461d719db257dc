/**
 * Avantis v2 gasless market-open benchmark (AVANTIS-V2.md §11 "Market open (gasless)", §7.3, §8, §9.1).
 * One trader, one delegate key, sequential orders (latency, not throughput), against the
 * loopback doubles of the tx-builder and the gateway (src/sandbox/avantis-v2), in this process.
 *
 * Measured path, per order:
 *   build+verify  TxBuilderClient.openIntent: POST /v2/intents/open, envelope, and the full
 *                 answer check (verify-intent.ts, which already recomputes the digest and encoding);
 *   local digest  intentDigest under meta's trading domain, compared with the verified digest;
 *   sign          the delegate key signs that digest (account.sign({hash}));
 *   submit        BatchedMarketClient.submit (POST …/market/execute-batched) until its SSE stream
 *                 yields MarketOrderAccepted, i.e. the order was taken. The double sends that event
 *                 with the 200 headers, BEFORE it recovers the signer or uses the nonce (§9.1 order).
 * A second figure runs on to the terminal event (MarketOrderExecuted, required, else the run fails),
 * which adds the double's signer recovery, nonce, executor and its two stage pauses.
 *
 * Baseline, in the same run and interleaved order by order (same machine load): raw viem
 * `signTypedData` of the same domain/types/message with the same key. Its signature must equal the
 * gasless path's (RFC 6979 signatures are deterministic): a check that both signed the same thing.
 *
 * Run alone: node bench/v2-gasless.bench.ts (or through npm run bench -- v2-gasless).
 * BENCH_V2_ORDERS (default 300) measured orders after BENCH_V2_WARMUP (default 20).
 */
import { fileURLToPath } from 'node:url';
import type { Hex, TypedData } from 'viem';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { BatchedMarketClient, isTerminalEvent, randomNonce, TxBuilderClient, type V2HttpLogEntry } from '../src/infra/chain/avantis-v2/http-client.ts';
import { typesFor } from '../src/infra/chain/avantis-v2/intent-types.ts';
import { intentDigest, type IntentMessage } from '../src/infra/chain/avantis-v2/intents.ts';
import { domainFor } from '../src/infra/chain/avantis-v2/meta.ts';
import { startAvantisV2Sandbox, type InMemoryExecutor } from '../src/sandbox/avantis-v2/index.ts';
import { latency, percentile, round } from './support.ts';

const ORDERS = Number(process.env['BENCH_V2_ORDERS'] ?? 300);
const WARMUP = Number(process.env['BENCH_V2_WARMUP'] ?? 20);
/** The tx-builder double's per-IP budget: far above the ~ORDERS + WARMUP + 2 requests made, so nothing is throttled. */
const RATE_BUDGET = 1_000_000;
const RATE_WINDOW_MS = 60_000;
/** The gateway double's pause between stream stages (default 5 ms); 0 still waits a 1 ms timer, twice. */
const STEP_MS = 0;
const PAIR = 1;
const PRICE = 3_000n * 10n ** 10n;

interface Sample {
  readonly buildVerify: number;
  readonly localDigest: number;
  readonly sign: number;
  readonly submit: number;
  readonly terminalAfterAccepted: number;
  readonly rawSignTypedData: number;
}

export async function run(): Promise<Record<string, unknown>> {
  const trader = privateKeyToAccount(generatePrivateKey());
  const delegate = privateKeyToAccount(generatePrivateKey());
  const sb = await startAvantisV2Sandbox({ stepMs: STEP_MS, rateLimit: { budget: RATE_BUDGET, windowMs: RATE_WINDOW_MS } });
  const notOk: V2HttpLogEntry[] = [];
  let replayed = 0;
  const log = (entry: V2HttpLogEntry): void => {
    if (entry.outcome !== 'ok') notOk.push(entry);
  };
  try {
    (sb.executor as InMemoryExecutor).setPrice(BigInt(PAIR), PRICE);
    // The gateway double accepts a signature from the trader or from an enabled, unexpired delegate:
    // the delegation is registered in the double's ledger (as the tests do; on chain it would be
    // setDelegateWithSig through blitz, §11 onboarding) and confirmed through /v2/delegation.
    sb.ledger.setDelegate(trader.address, delegate.address, BigInt(Math.floor(Date.now() / 1000) + 24 * 3600));
    const tx = new TxBuilderClient({ baseUrl: sb.txBuilderUrl, meta: { chainId: 8453 }, log });
    // A lost terminal event fails the run within seconds instead of the default 200 s of replay.
    const market = new BatchedMarketClient({ gatewayUrl: sb.gatewayUrl, log, replayIntervalMs: 10, replayForMs: 5_000 });
    const meta = await tx.meta();
    const delegation = await tx.delegation(trader.address, delegate.address);
    if (!delegation.canSignIntents) throw new Error('the double does not report the delegate as able to sign intents');
    const domain = domainFor(meta, 'OpenTradeReq');
    const types: TypedData = typesFor('OpenTradeReq');

    const order = async (): Promise<Sample> => {
      const t0 = performance.now();
      const intent = await tx.openIntent({ trader: trader.address, pairIndex: PAIR, side: 'long', orderType: 'market', collateralUsdc: '100', leverage: '10', openPrice: '3000', slippagePercent: '1', nonce: randomNonce(), deadlineMs: BigInt(Date.now() + 60_000) });
      const t1 = performance.now();
      const digest = intentDigest(domain, 'OpenTradeReq', intent.message);
      if (digest !== intent.digest.toLowerCase()) throw new Error(`local digest ${digest} differs from the verified intent's ${intent.digest}`);
      const t2 = performance.now();
      const signature = await delegate.sign({ hash: digest });
      const t3 = performance.now();
      let accepted: number | null = null;
      let last = '';
      for await (const event of market.submit({ orderType: 0, erc712: { userIntent: intent.encodedIntent!, userSignature: signature } })) {
        if (event.type === 'MarketOrderAccepted') accepted ??= performance.now();
        if (event.via === 'replay') replayed++;
        last = event.type === 'Error' ? `Error ${String(event.payload.code)}` : event.type;
        if (isTerminalEvent(event)) break;
      }
      const t5 = performance.now();
      if (accepted === null) throw new Error('the stream never said MarketOrderAccepted');
      if (last !== 'MarketOrderExecuted') throw new Error(`the order ended with ${last}, not MarketOrderExecuted`);

      // Baseline: the same message, signed the plain EIP-712 way.
      const message: Record<string, unknown> = intent.message satisfies IntentMessage<'OpenTradeReq'>;
      const b0 = performance.now();
      const raw: Hex = await delegate.signTypedData({ domain, types, primaryType: 'OpenTradeReq', message });
      const b1 = performance.now();
      if (raw !== signature) throw new Error('signTypedData and sign({hash}) disagree on the same message');
      return { buildVerify: t1 - t0, localDigest: t2 - t1, sign: t3 - t2, submit: accepted - t3, terminalAfterAccepted: t5 - accepted, rawSignTypedData: b1 - b0 };
    };

    for (let i = 0; i < WARMUP; i++) await order();
    const samples: Sample[] = [];
    for (let i = 0; i < ORDERS; i++) samples.push(await order());

    const p50 = (pick: (s: Sample) => number): number => percentile(samples.map(pick), 50);
    const toAccepted = samples.map((s) => s.buildVerify + s.localDigest + s.sign + s.submit);
    const toTerminal = samples.map((s, i) => toAccepted[i]! + s.terminalAfterAccepted);
    const raw = samples.map((s) => s.rawSignTypedData);
    const gasless = latency(toAccepted);
    const terminal = latency(toTerminal);
    const baseline = latency(raw);
    const steps = { build_verify: p50((s) => s.buildVerify), local_digest: p50((s) => s.localDigest), sign: p50((s) => s.sign), submit: p50((s) => s.submit) };
    const stepSum = Object.values(steps).reduce((a, b) => a + b, 0);
    const ratio = (a: readonly number[], b: readonly number[], p: number): number => round(percentile(a, p) / percentile(b, p), 1);
    return {
      orders: ORDERS,
      warmup: WARMUP,
      sequential: true,
      signer: 'a fresh delegate key for a fresh trader; delegation registered in the double ledger (ledger.setDelegate), /v2/delegation says canSignIntents',
      double: `loopback, same process; tx-builder rate budget ${RATE_BUDGET} requests per ${RATE_WINDOW_MS / 1000} s per IP (not throttled); gateway stepMs ${STEP_MS}`,
      http_not_ok_attempts: notOk.length,
      replayed_events: replayed,
      submit_means: 'POST execute-batched until its stream yields MarketOrderAccepted (taken; signer and nonce are checked after it)',
      gasless_to_accepted_ms: gasless,
      raw_sign_typed_data_ms: baseline,
      ratio_p50: ratio(toAccepted, raw, 50),
      ratio_p99: ratio(toAccepted, raw, 99),
      gasless_to_executed_ms: terminal,
      executed_ratio_p50: ratio(toTerminal, raw, 50),
      executed_ratio_p99: ratio(toTerminal, raw, 99),
      steps_p50_ms: Object.fromEntries(Object.entries(steps).map(([k, v]) => [k, round(v, 3)])),
      steps_share_of_summed_p50s: Object.fromEntries(Object.entries(steps).map(([k, v]) => [k, round(v / stepSum, 3)])),
      accepted_to_executed_p50_ms: round(p50((s) => s.terminalAfterAccepted), 3),
    };
  } finally {
    await sb.close();
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  console.log(JSON.stringify({ bench: 'v2-gasless', ...(await run()) }, null, 2));
}
