import assert from 'node:assert/strict';
import { V2ResponseError, V2ServiceError } from '../../../../src/infra/chain/avantis-v2/errors.ts';
import { unwrapEnvelope } from '../../../../src/infra/chain/avantis-v2/envelope.ts';

const failure = (code: string, message = 'm', details: unknown = null): string => JSON.stringify({ ok: false, error: { code, message, details } });

describe('Avantis v2 tx-builder envelope and error codes (§6)', function () {
  it('returns the data of a successful answer, from text or parsed JSON', function () {
    assert.deepEqual(unwrapEnvelope('{"ok":true,"data":{"a":1}}', { status: 200 }), { a: 1 });
    assert.deepEqual(unwrapEnvelope({ ok: true, data: [] }), []);
  });

  // §6's table: shared code, v2 code, retryable, and the gist of what the trader reads.
  const table: [string, number, string, string, boolean, RegExp][] = [
    ['VALIDATION_ERROR', 400, 'BAD_INPUT', 'V2_VALIDATION_ERROR', false, /refused the request as invalid \(leverage too high\)/],
    ['BAD_REQUEST', 400, 'BAD_INPUT', 'V2_BAD_REQUEST', false, /refused the request \(leverage too high\)/],
    ['TX_REJECTED', 400, 'TX_REJECTED', 'V2_TX_REJECTED', false, /rejected the transaction/],
    ['SIMULATION_FAILED', 400, 'TX_SIMULATION_FAILED', 'V2_SIMULATION_FAILED', false, /would fail: leverage too high/],
    ['RATE_LIMITED', 429, 'CHAIN_UNAVAILABLE', 'V2_RATE_LIMITED', true, /too many requests.*backoff/],
    ['GEO_RESTRICTED', 451, 'TRADING_PAUSED', 'V2_GEO_RESTRICTED', false, /geo-restricted.*trading is stopped/],
    ['UPSTREAM_ERROR', 502, 'CHAIN_UNAVAILABLE', 'V2_UPSTREAM_ERROR', true, /backoff/],
    ['RPC_ERROR', 502, 'CHAIN_UNAVAILABLE', 'V2_RPC_ERROR', true, /could not reach the blockchain/],
    ['NOT_FOUND', 404, 'BAD_INPUT', 'V2_NOT_FOUND', false, /does not know/],
    ['INTERNAL_ERROR', 500, 'CHAIN_UNAVAILABLE', 'V2_INTERNAL_ERROR', false, /internal error/],
  ];
  for (const [serviceCode, status, code, v2Code, retryable, message] of table) {
    it(`${serviceCode} (HTTP ${status}) → ${code}/${v2Code}, ${retryable ? 'retryable' : 'not retryable'}`, function () {
      assert.throws(
        () => unwrapEnvelope(failure(serviceCode, 'leverage too high'), { status }),
        (e: unknown) => e instanceof V2ServiceError && e.code === code && e.v2Code === v2Code && e.retryable === retryable && e.serviceCode === serviceCode && message.test(e.message),
      );
    });
  }

  it('SIMULATION_FAILED explains a decoded revert from details in a trader’s words', function () {
    const check = (details: unknown, revert: string, words: RegExp): void => {
      assert.throws(() => unwrapEnvelope(failure('SIMULATION_FAILED', 'execution reverted', details)), (e: unknown) => e instanceof V2ServiceError && e.revert === revert && words.test(e.message));
    };
    check({ revert: 'HighSlippage()' }, 'HighSlippage()', /price moved more than your slippage allows/);
    check({ errorName: 'PositionMismatch' }, 'PositionMismatch', /position changed since it was read/);
    check({ decoded: { name: 'WrongSl', args: [] } }, 'WrongSl', /stop-loss/);
    check('BelowMinPosition()', 'BelowMinPosition()', /minimum/);
    check({ revert: 'SomethingNew(uint256)' }, 'SomethingNew(uint256)', /contract refused it \(SomethingNew\(uint256\)\)/);
    assert.throws(() => unwrapEnvelope(failure('SIMULATION_FAILED', 'execution reverted')), (e: unknown) => e instanceof V2ServiceError && e.revert === null && /would fail: execution reverted/.test(e.message));
  });

  it('an unknown code is refused too, retryable only on a retryable HTTP status', function () {
    assert.throws(() => unwrapEnvelope(failure('NEW_THING'), { status: 400 }), (e: unknown) => e instanceof V2ServiceError && e.v2Code === 'V2_UNKNOWN_ERROR' && !e.retryable);
    assert.throws(() => unwrapEnvelope(failure('NEW_THING'), { status: 503 }), (e: unknown) => e instanceof V2ServiceError && e.retryable);
  });

  it('refuses non-JSON and shape-less answers clearly', function () {
    const bad: [unknown, RegExp, number?][] = [
      ['<html>502 Bad Gateway</html>', /not JSON/, 502],
      ['', /not JSON/],
      ['null', /without the \{ok, data\|error\} envelope/],
      ['[1,2]', /without the \{ok, data\|error\} envelope/],
      ['{"data":1}', /without the \{ok, data\|error\} envelope/],
      ['{"ok":"true","data":1}', /without the \{ok, data\|error\} envelope/],
      ['{"ok":true}', /said ok but sent no data/],
      ['{"ok":false}', /without an error code and message/],
      ['{"ok":false,"error":{"code":5,"message":"x"}}', /without an error code and message/],
      ['{"ok":true,"data":1}', /said ok with HTTP status 500/, 500],
    ];
    for (const [body, message, status] of bad) {
      assert.throws(
        () => unwrapEnvelope(body, status === undefined ? {} : { status }),
        (e: unknown) => e instanceof V2ResponseError && e.code === 'CHAIN_BAD_RESPONSE' && e.v2Code === 'V2_BAD_RESPONSE' && message.test(e.message),
        String(body),
      );
    }
    // A 502 page is worth retrying; a garbled 200 is not.
    assert.throws(() => unwrapEnvelope('<html>', { status: 502 }), (e: unknown) => e instanceof V2ResponseError && e.retryable);
    assert.throws(() => unwrapEnvelope('<html>', { status: 200 }), (e: unknown) => e instanceof V2ResponseError && !e.retryable);
  });

  it('quotes service text shortened and without control characters', function () {
    assert.throws(() => unwrapEnvelope(failure('BAD_REQUEST', `a\u0000b\u202e${'x'.repeat(500)}`)), (e: unknown) => e instanceof V2ServiceError && !e.message.includes('\u0000') && !e.message.includes('\u202e') && e.message.length < 400);
  });
});
