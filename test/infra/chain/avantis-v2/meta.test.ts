import assert from 'node:assert/strict';
import { V2MetaError } from '../../../../src/infra/chain/avantis-v2/errors.ts';
import { domainFor, openOrderTypeCode, parseMeta } from '../../../../src/infra/chain/avantis-v2/meta.ts';

const ROUTER = '0x44914408af82bC9983bbb330e3578E1105e11d4e';
const REFERRAL = '0x1A110bBA13A1f16cCa4b79758BD39290f29De82D';

/** The §6 shape, with the mainnet addresses of §13 filled in. */
function meta(): Record<string, unknown> {
  return {
    chainId: 8453,
    addresses: {
      tradingRouter: ROUTER.toLowerCase(),
      tradingStorage: '0x8a311D7048c35985aa31C131B9A13e03a5f7422d',
      usdc: '0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913',
      referral: REFERRAL,
      tranche: '0x944766f715b51967E56aFdE5f0Aa76cEaCc9E7f9',
      builderCode: '0x1B121398b3588beFD0d888e0F8504EC4C70a01Ad',
      delegationTemplate: '0x5aF42746a8Af42d8a4708dF238C53F1F71abF0E0',
      vaultManager: '0x0000000000000000000000000000000000000001',
    },
    eip712: {
      trading: { name: 'AvantisTrading', version: '1', chainId: 8453, verifyingContract: ROUTER },
      referral: { name: 'AvantisTrading', version: '1', chainId: 8453, verifyingContract: REFERRAL },
      signatureFormat: 'rsv-65-bytes',
    },
    enums: { openOrderType: { market: 0, stop_limit: 1, limit: 2, market_pnl: 3 } },
    units: { price: '1e10', leverage: '1e10', usdc: '1e6' },
    defaults: { executionFeeWei: '350000000000000', intentDeadlineMs: 120000, slippagePercent: '1' },
  };
}

function set(obj: Record<string, unknown>, path: string, value: unknown): Record<string, unknown> {
  const keys = path.split('.');
  let node = obj;
  for (const k of keys.slice(0, -1)) node = node[k] as Record<string, unknown>;
  if (value === undefined) delete node[keys.at(-1)!];
  else node[keys.at(-1)!] = value;
  return obj;
}

describe('Avantis v2 /v2/meta', function () {
  it('parses the documented shape, checksumming addresses and reading domains, enum and defaults', function () {
    const m = parseMeta(meta(), { chainId: 8453 });
    assert.equal(m.addresses.tradingRouter, ROUTER);
    assert.deepEqual(domainFor(m, 'OpenTradeReq'), { name: 'AvantisTrading', version: '1', chainId: 8453, verifyingContract: ROUTER });
    assert.equal(domainFor(m, 'RegisterCodeReq').verifyingContract, REFERRAL);
    assert.equal(domainFor(m, 'DelegateReq').verifyingContract, ROUTER);
    assert.equal(openOrderTypeCode(m, 'market_pnl'), 3n);
    assert.equal(m.defaults.executionFeeWei, 350000000000000n);
    assert.equal(m.defaults.slippagePercent, 10_000_000_000n);
  });

  it('works without the (inferred) eip712.referral key, refusing only referral intents', function () {
    const m = parseMeta(set(meta(), 'eip712.referral', undefined));
    assert.equal(domainFor(m, 'CloseTradeReq').verifyingContract, ROUTER);
    assert.throws(() => domainFor(m, 'SetTraderReferralCodeByUserReq'), V2MetaError);
  });

  const broken: [string, unknown, RegExp][] = [
    ['not an object', 'hello', /\(root\)/],
    ['chainId as a string', set(meta(), 'chainId', '8453'), /chainId/],
    ['another chain than configured', set(meta(), 'chainId', 1), /configured for chain 8453/],
    ['a bad address', set(meta(), 'addresses.usdc', '0x1234'), /addresses\.usdc/],
    ['a missing tradingRouter', set(meta(), 'addresses.tradingRouter', undefined), /addresses\.tradingRouter/],
    ['a trading domain on another contract', set(meta(), 'eip712.trading.verifyingContract', REFERRAL), /not the tradingRouter/],
    ['a trading domain on another chain', set(meta(), 'eip712.trading.chainId', 1), /eip712\.trading\.chainId is 1/],
    ['another signature format', set(meta(), 'eip712.signatureFormat', 'vrs'), /signatureFormat/],
    ['prices scaled by 1e8', set(meta(), 'units.price', '1e8'), /units\.price is 1e8/],
    ['a unit that is not a power of ten', set(meta(), 'units.usdc', 'six'), /units\.usdc/],
    ['a missing enum value', set(meta(), 'enums.openOrderType.limit', undefined), /openOrderType\.limit/],
    ['two order types with one code', set(meta(), 'enums.openOrderType.limit', 0), /same code/],
    ['a fee that is not an integer', set(meta(), 'defaults.executionFeeWei', '0.1'), /executionFeeWei/],
    ['a bad default slippage', set(meta(), 'defaults.slippagePercent', 'lots'), /slippagePercent/],
  ];
  for (const [what, input, message] of broken) {
    it(`refuses ${what}`, function () {
      assert.throws(() => parseMeta(input, { chainId: 8453 }), (e: unknown) => e instanceof V2MetaError && e.v2Code === 'V2_META_INVALID' && e.code === 'CHAIN_DEPLOYMENT_MISMATCH' && message.test(e.message));
    });
  }
});
