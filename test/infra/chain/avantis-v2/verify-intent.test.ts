import assert from 'node:assert/strict';
import { getAddress } from 'viem';
import { V2IntentMismatchError } from '../../../../src/infra/chain/avantis-v2/errors.ts';
import { signerRuleOf, type IntentPrimaryType } from '../../../../src/infra/chain/avantis-v2/intent-types.ts';
import { cancelOffchainOrderMessage, closeTradeMessage, delegateMessage, increasePositionMessage, openTradeMessage, partialTpSlMessage, prepareIntent, TOS_VERANTA, updateTpSlMessage, type IntentMessage, type LocalIntent } from '../../../../src/infra/chain/avantis-v2/intents.ts';
import { verifyIntentAnswer } from '../../../../src/infra/chain/avantis-v2/verify-intent.ts';
import { DEADLINE, DELEGATE, NONCE, TEST_DOMAIN, TRADER } from './fixtures.ts';

type Json = null | boolean | string | number | Json[] | { [key: string]: Json };

/** What an honest tx-builder would answer for a locally built intent (§6: integers as decimal strings). */
function answerFor(local: LocalIntent): { [key: string]: Json } {
  const toJson = (v: unknown): Json => (typeof v === 'bigint' ? v.toString() : v !== null && typeof v === 'object' ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, toJson(x)])) : (v as Json));
  return {
    intent: local.primaryType,
    signerRule: signerRuleOf(local.primaryType),
    domain: { ...local.domain },
    primaryType: local.primaryType,
    types: JSON.parse(JSON.stringify(local.types)) as Json,
    message: toJson(local.message),
    digest: local.digest,
    ...(local.encodedIntent === null ? {} : { encodedIntent: local.encodedIntent }),
    meta: {},
  };
}

/** A different but valid value of the same JSON kind, so only the value differs. */
function changed(value: Json): Json {
  if (typeof value === 'boolean') return !value;
  if (typeof value === 'string' && /^0x[0-9a-fA-F]{40}$/.test(value)) return getAddress(`0x${value.slice(2, 41)}${value.endsWith('3') ? '4' : '3'}`);
  if (typeof value === 'string' && /^-?[0-9]+$/.test(value)) return value === '0' ? '1' : (BigInt(value) - 1n).toString();
  if (typeof value === 'string') return `${value}x`;
  throw new Error(`cannot change ${JSON.stringify(value)}`);
}

/** Every leaf path of a message ("_t.openPrice", "_type", …). */
function leaves(value: Json, prefix: string[] = []): string[][] {
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) return Object.entries(value).flatMap(([k, v]) => leaves(v, [...prefix, k]));
  return [prefix];
}

function edit(answer: { [key: string]: Json }, path: string[], f: (v: Json) => Json): { [key: string]: Json } {
  const copy = structuredClone(answer);
  let node = copy;
  for (const key of path.slice(0, -1)) node = node[key] as { [key: string]: Json };
  const last = path.at(-1)!;
  node[last] = f(node[last] as Json);
  return copy;
}

function refused(answer: unknown, request: Parameters<typeof verifyIntentAnswer>[1], field: string | RegExp): void {
  assert.throws(
    () => verifyIntentAnswer(answer, request),
    (e: unknown) => {
      assert.ok(e instanceof V2IntentMismatchError, `not a V2IntentMismatchError: ${String(e)}`);
      assert.equal(e.v2Code, 'V2_INTENT_MISMATCH');
      assert.equal(e.code, 'PROTOCOL_UNVERIFIED');
      assert.equal(e.retryable, false);
      if (typeof field === 'string') assert.equal(e.field, field);
      else assert.match(e.field, field);
      assert.match(e.message, /^Nothing was signed/);
      return true;
    },
  );
}

/** Widens one kind's intent for a list of all kinds (messages differ per kind, so TS cannot). */
const anyKind = <P extends IntentPrimaryType>(intent: LocalIntent<P>): LocalIntent => intent as unknown as LocalIntent;

const CASES: LocalIntent[] = [
  anyKind(prepareIntent(TEST_DOMAIN, 'OpenTradeReq', openTradeMessage({ trader: TRADER, pairIndex: 1n, buy: true, orderType: 0n, collateral: 100000000n, openPrice: 800000000000000n, leverage: 100000000000n, tp: 900000000000000n, sl: 0n, slippageP: 10000000000n, deadlineMs: DEADLINE, nonce: NONCE }))),
  anyKind(prepareIntent(TEST_DOMAIN, 'CloseTradeReq', closeTradeMessage({ trader: TRADER, pairIndex: 1n, index: 0n, openTimestamp: 1750000000n, amount: 50000000n, wantedPrice: 810000000000000n, deadlineMs: DEADLINE, nonce: NONCE }))),
  anyKind(prepareIntent(TEST_DOMAIN, 'IncreasePositionSizeReq', increasePositionMessage({ trader: TRADER, pairIndex: 1n, index: 2n, openPrice: 800000000000000n, addedCollateral: 5000000n, leverage: 50000000000n, slippageP: 10000000000n, deadlineMs: DEADLINE, nonce: NONCE }))),
  anyKind(prepareIntent(TEST_DOMAIN, 'UpdateTpSlReq', updateTpSlMessage({ trader: TRADER, pairIndex: 1n, index: 0n, tp: 900000000000000n, sl: 700000000000000n, deadlineMs: DEADLINE, nonce: NONCE }))),
  anyKind(prepareIntent(TEST_DOMAIN, 'DelegateReq', delegateMessage({ trader: TRADER, delegate: DELEGATE, expirySeconds: 1760000000n, deadlineMs: DEADLINE, nonce: NONCE, tnc: TOS_VERANTA }))),
  anyKind(prepareIntent(TEST_DOMAIN, 'TpSlReq', partialTpSlMessage({ trader: TRADER, pairIndex: 1n, index: 0n, kind: 'stop_loss', trigger: { by: 'percentage', percentage: -25n }, coinSize: 5n, buy: true, positionTimestamp: 1750000000n, signTimestampMs: 1750000000123n, nonce: NONCE }))),
  anyKind(prepareIntent(TEST_DOMAIN, 'CancelOffchainOrder', cancelOffchainOrderMessage('entity-42'))),
];

describe('Avantis v2 intent answers are verified before signing', function () {
  for (const local of CASES) {
    const request = { primaryType: local.primaryType, domain: TEST_DOMAIN, fields: local.message } as Parameters<typeof verifyIntentAnswer>[1];
    const good = answerFor(local);

    describe(local.primaryType, function () {
      it('a correct answer passes, and what is signed is our own digest and encoding', function () {
        const verified = verifyIntentAnswer(good, request);
        assert.equal(verified.digest, local.digest);
        assert.equal(verified.encodedIntent, local.encodedIntent);
        assert.deepEqual(verified.message, local.message);
        assert.equal(verified.signerRule, local.primaryType === 'DelegateReq' ? 'trader-only' : 'trader-or-delegate');
      });

      it('every single changed message field is refused, naming that field', function () {
        const paths = leaves(good.message as Json);
        assert.ok(paths.length >= 1);
        for (const path of paths) refused(edit(good, ['message', ...path], changed), request, ['message', ...path].join('.'));
      });

      it('a field changed on the service side and hidden from `fields` is still caught by the digest', function () {
        const path = leaves(good.message as Json).at(-1)!;
        const loose = { ...request, fields: {} };
        refused(edit(good, ['message', ...path], changed), loose, 'digest');
      });

      it('a changed, missing, added or reordered type is refused', function () {
        const primary = local.primaryType;
        refused(edit(good, ['types', primary, '0', 'name'], (n) => `${n as string}_`), request, `types.${primary}[0]`);
        refused(edit(good, ['types', primary, '0', 'type'], () => 'uint128'), request, `types.${primary}[0]`);
        if ((good.types as Record<string, Json[]>)[primary]!.length > 1) refused(edit(good, ['types', primary], (f) => [...(f as Json[])].reverse()), request, new RegExp(`^types\\.${primary}\\[`));
        const nested = Object.keys(good.types as object).find((t) => t !== primary);
        if (nested !== undefined) refused(edit(good, ['types', nested, '1', 'type'], () => 'uint128'), request, `types.${nested}[1]`);
        refused(edit(good, ['types', primary], (f) => [...(f as Json[]), { name: 'extra', type: 'uint256' }]), request, `types.${primary}`);
        refused(edit(good, ['types'], (t) => ({ ...(t as object), EIP712Domain: [] })), request, 'types.EIP712Domain');
        refused(edit(good, ['types'], (t) => ({ ...(t as object), Evil: [] })), request, 'types.Evil');
        refused(edit(good, ['types'], () => ({})), request, `types.${primary}`);
      });

      it('a changed domain (chainId, verifyingContract, name, version, extra key) is refused', function () {
        refused(edit(good, ['domain', 'chainId'], () => 8453), request, 'domain.chainId');
        refused(edit(good, ['domain', 'verifyingContract'], changed), request, 'domain.verifyingContract');
        refused(edit(good, ['domain', 'name'], () => 'VerantaTrading'), request, 'domain.name');
        refused(edit(good, ['domain', 'version'], () => '2'), request, 'domain.version');
        refused(edit(good, ['domain'], (d) => ({ ...(d as object), salt: `0x${'00'.repeat(32)}` })), request, 'domain');
      });

      it('another primaryType or signer rule is refused', function () {
        refused(edit(good, ['primaryType'], () => (local.primaryType === 'CloseTradeReq' ? 'OpenTradeReq' : 'CloseTradeReq')), request, 'primaryType');
        refused(edit(good, ['signerRule'], (r) => (r === 'trader-only' ? 'trader-or-delegate' : 'trader-only')), request, 'signerRule');
      });

      it('a digest or an encodedIntent that does not match is refused', function () {
        refused(edit(good, ['digest'], (d) => `0x${(d as string).slice(2, 65)}${(d as string).endsWith('0') ? '1' : '0'}`), request, 'digest');
        if (local.encodedIntent === null) {
          refused({ ...good, encodedIntent: '0x1234' }, request, 'encodedIntent');
        } else {
          refused(edit(good, ['encodedIntent'], (e) => `${(e as string).slice(0, -1)}${(e as string).endsWith('0') ? '1' : '0'}`), request, 'encodedIntent');
          refused({ ...good, encodedIntent: undefined }, request, 'encodedIntent');
        }
      });
    });
  }

  it('refuses malformed messages: missing, extra, non-integer, out-of-range and wrong-kind values', function () {
    const local = CASES[0]!;
    const request = { primaryType: 'OpenTradeReq', domain: TEST_DOMAIN, fields: local.message as IntentMessage<'OpenTradeReq'> } as const;
    const good = answerFor(local);
    refused(edit(good, ['message'], (m) => ({ ...(m as object), extra: '1' })), request, 'message.extra');
    refused(edit(good, ['message', '_t'], (t) => { const { buy: _b, ...rest } = t as Record<string, Json>; return rest; }), request, 'message._t.buy');
    refused(edit(good, ['message', '_slippageP'], () => '1.5'), request, 'message._slippageP');
    refused(edit(good, ['message', '_slippageP'], () => '1e10'), request, 'message._slippageP');
    refused(edit(good, ['message', '_type'], () => '256'), request, 'message._type');
    refused(edit(good, ['message', '_nonce'], () => '-1'), request, 'message._nonce');
    refused(edit(good, ['message', '_t', 'buy'], () => 'true'), request, 'message._t.buy');
    refused(edit(good, ['message', '_t', 'trader'], () => '0x1234'), request, 'message._t.trader');
    refused(edit(good, ['message', '_t'], () => '[object]'), request, 'message._t');
    refused(null, request, 'answer');
    refused('{"ok":true}', request, 'answer');
    // Tolerated: a uint8 sent as a JSON number, addresses in another letter case, chainId as a string.
    const lenient = edit(edit(edit(good, ['message', '_type'], () => 0), ['message', '_t', 'trader'], (t) => (t as string).toLowerCase()), ['domain', 'chainId'], () => '31337');
    assert.equal(verifyIntentAnswer(lenient, request).digest, local.digest);
  });
});
