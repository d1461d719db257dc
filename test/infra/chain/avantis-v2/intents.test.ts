import assert from 'node:assert/strict';
import { hexToBytes, parseSignature, recoverAddress, recoverTypedDataAddress } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { BadInputError } from '../../../../src/errors.ts';
import {
  cancelOffchainOrderMessage,
  closeTradeMessage,
  decodeIntent,
  delegateMessage,
  domainSeparator,
  encodeIntent,
  increasePositionMessage,
  intentAbiParameter,
  intentDigest,
  openTradeMessage,
  partialTpSlMessage,
  prepareIntent,
  randomNonce,
  referralCodeBytes32,
  TOS_AVANTIS,
  TOS_VERANTA,
  updateTpSlMessage,
  type IntentMessage,
} from '../../../../src/infra/chain/avantis-v2/intents.ts';
import { leverageToRaw, priceToRaw, slippagePercentToRaw, usdcToRaw } from '../../../../src/infra/chain/avantis-v2/units.ts';
import { TEST_DOMAIN, TRADER, DELEGATE, DEADLINE, NONCE } from './fixtures.ts';

/** §8.7's OpenTradeReq message, verbatim (its `_t.timestamp` is 1750000000 although an open sends 0). */
const VECTOR_OPEN: IntentMessage<'OpenTradeReq'> = {
  _t: { trader: TRADER, pairIndex: 1n, index: 0n, initialPosToken: 0n, positionSizeUSDC: 100000000n, openPrice: 800000000000000n, buy: true, leverage: 100000000000n, tp: 900000000000000n, sl: 0n, timestamp: 1750000000n },
  _type: 0n,
  _slippageP: 10000000000n,
  _deadline: DEADLINE,
  _nonce: NONCE,
};

describe('Avantis v2 intents: digests, encoding and builders', function () {
  it('computes the reference domain separators: test vector, mainnet trading and referral (§8.1, §8.7)', function () {
    assert.equal(domainSeparator(TEST_DOMAIN), '0xfb572dd00c3ff4fce2cb295d37ec01aa4f6f957bb3f49c37e775801257939a46');
    const mainnet = { name: 'AvantisTrading', version: '1', chainId: 8453 } as const;
    assert.equal(domainSeparator({ ...mainnet, verifyingContract: '0x44914408af82bC9983bbb330e3578E1105e11d4e' }), '0x817f742bc3dc847422731fdb56683eac88e090fd425ff0c42cd4c13bdcd291cf');
    assert.equal(domainSeparator({ ...mainnet, verifyingContract: '0x1A110bBA13A1f16cCa4b79758BD39290f29De82D' }), '0xf0839e74e8d3714fd3f40a0a03fd5bb089486e6515956a24a8f9763b86d8cd9e');
  });

  it('reproduces the OpenTradeReq vector digest', function () {
    assert.equal(intentDigest(TEST_DOMAIN, 'OpenTradeReq', VECTOR_OPEN), '0x6cb6cfeac7c5fef744eccec3e5f44cc2bd1b501cf9d156af589d290222f83bee');
  });

  it('reproduces the CloseTradeReq vector digest from the builder', function () {
    const message = closeTradeMessage({ trader: TRADER, pairIndex: 1n, index: 0n, openTimestamp: 1750000000n, amount: 50000000n, wantedPrice: 810000000000000n, deadlineMs: DEADLINE, nonce: NONCE });
    assert.equal(intentDigest(TEST_DOMAIN, 'CloseTradeReq', message), '0x0aca1278368207d7e945a7e41b0b5a3607849adca06006644b52d93dc6c96930');
  });

  it('reproduces the UpdateTpSlReq vector digest from the builder', function () {
    const message = updateTpSlMessage({ trader: TRADER, pairIndex: 1n, index: 0n, tp: 900000000000000n, sl: 700000000000000n, deadlineMs: DEADLINE, nonce: NONCE });
    assert.equal(intentDigest(TEST_DOMAIN, 'UpdateTpSlReq', message), '0xb027f40c6e33d2645ad959bcf75c24e0cc78669e355166b514ab7d3445a4a2b8');
  });

  it('reproduces both DelegateReq vector digests: Veranta ToS (space after "tos.") and Avantis ToS (none)', function () {
    const base = { trader: TRADER, delegate: DELEGATE, expirySeconds: 1760000000n, deadlineMs: DEADLINE, nonce: NONCE };
    assert.equal(intentDigest(TEST_DOMAIN, 'DelegateReq', delegateMessage({ ...base, tnc: TOS_VERANTA })), '0xb49bf475e3e43184d96ef03d0e411819c787ab19b1518c472eb6859756803526');
    assert.equal(intentDigest(TEST_DOMAIN, 'DelegateReq', delegateMessage({ ...base, tnc: TOS_AVANTIS })), '0xe183cfa730399075744cd40a87dc2cd3ed6fb5392103e30160c5259288d7b3a2');
    assert.ok(TOS_VERANTA.includes('docs/tos. I confirm') && TOS_AVANTIS.includes('docs/tos.I confirm'));
    assert.throws(() => delegateMessage({ ...base, tnc: TOS_AVANTIS.replace('tos.I', 'tos. I') }), BadInputError);
  });

  it('the open builder follows §8.3: index, initialPosToken and timestamp 0, collateral in positionSizeUSDC', function () {
    const message = openTradeMessage({
      trader: TRADER, pairIndex: 1n, buy: true, orderType: 0n, collateral: usdcToRaw('100'), openPrice: priceToRaw('80000'), leverage: leverageToRaw('10'),
      tp: priceToRaw('90000'), sl: 0n, slippageP: slippagePercentToRaw('1'), deadlineMs: DEADLINE, nonce: NONCE,
    });
    assert.deepEqual(message, { ...VECTOR_OPEN, _t: { ...VECTOR_OPEN._t, timestamp: 0n } });
  });

  it('a signature over the digest is 65 bytes, v 27/28, and recovers to the signer', async function () {
    const account = privateKeyToAccount('0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d');
    const intent = prepareIntent(TEST_DOMAIN, 'OpenTradeReq', VECTOR_OPEN);
    const signature = await account.sign({ hash: intent.digest });
    assert.equal(hexToBytes(signature).length, 65);
    const { v } = parseSignature(signature);
    assert.ok(v === 27n || v === 28n, `v is ${v}`);
    assert.equal(await recoverAddress({ hash: intent.digest, signature }), account.address);
    // Signing the typed data through viem gives the same signature: the digest is the standard one.
    const typed = await account.signTypedData({ domain: intent.domain, types: intent.types, primaryType: 'OpenTradeReq', message: VECTOR_OPEN });
    assert.equal(typed, signature);
    assert.equal(await recoverTypedDataAddress({ domain: intent.domain, types: intent.types, primaryType: 'OpenTradeReq', message: VECTOR_OPEN, signature }), account.address);
  });

  it('abi-encodes one tuple with nested tuples, round-tripping (§8.4)', function () {
    const encoded = encodeIntent('OpenTradeReq', VECTOR_OPEN);
    // A static struct: 11 words of Trade + 4 words, no offset word.
    assert.equal((encoded.length - 2) / 64, 15);
    assert.equal(BigInt(`0x${encoded.slice(2 + 64 * 4, 2 + 64 * 5)}`), 100000000n); // _t.positionSizeUSDC, 5th word
    assert.equal(BigInt(`0x${encoded.slice(2 + 64 * 11, 2 + 64 * 12)}`), 0n); // _type right after _t
    assert.equal(BigInt(`0x${encoded.slice(2 + 64 * 14)}`), NONCE);
    assert.deepEqual(decodeIntent('OpenTradeReq', encoded), VECTOR_OPEN);
    const increase = increasePositionMessage({ trader: TRADER, pairIndex: 1n, index: 2n, openPrice: 1n, addedCollateral: 5n, leverage: 7n, slippageP: 3n, deadlineMs: DEADLINE, nonce: NONCE });
    assert.deepEqual(decodeIntent('IncreasePositionSizeReq', encodeIntent('IncreasePositionSizeReq', increase)), increase);
  });

  it('abi-encodes DelegateReq in Solidity order (trader, delegate, expiry, tnc, deadline, nonce), not the typed order', function () {
    const message = delegateMessage({ trader: TRADER, delegate: DELEGATE, expirySeconds: 1760000000n, deadlineMs: DEADLINE, nonce: NONCE, tnc: TOS_VERANTA });
    assert.deepEqual(intentAbiParameter('DelegateReq'), {
      type: 'tuple',
      components: ['address trader', 'address delegate', 'uint256 expiry', 'string tnc', 'uint256 deadline', 'uint256 nonce'].map((s) => ({ type: s.split(' ')[0], name: s.split(' ')[1] })),
    });
    const encoded = encodeIntent('DelegateReq', message);
    const word = (i: number): bigint => BigInt(`0x${encoded.slice(2 + 64 * i, 2 + 64 * (i + 1))}`);
    assert.equal(word(0), 0x20n); // the struct holds a string, so abi.encode starts with its offset
    assert.equal(word(3), 1760000000n); // expiry
    assert.equal(word(4), 6n * 32n); // tnc: an offset, in 4th place
    assert.equal(word(5), DEADLINE); // deadline after it
    assert.equal(word(6), NONCE);
    assert.deepEqual(decodeIntent('DelegateReq', encoded), message);
  });

  it('never abi-encodes CancelOffchainOrder', function () {
    const intent = prepareIntent(TEST_DOMAIN, 'CancelOffchainOrder', cancelOffchainOrderMessage('abc-123'));
    assert.equal(intent.encodedIntent, null);
    assert.throws(() => encodeIntent('CancelOffchainOrder', { entityId: 'x' }), BadInputError);
  });

  it('builds partial TP/SL with the other trigger at 0 and orderType 4/5', function () {
    const base = { trader: TRADER, pairIndex: 1n, index: 0n, coinSize: 5n, buy: true, positionTimestamp: 1750000000n, signTimestampMs: 1750000000123n, nonce: 1n };
    const tp = partialTpSlMessage({ ...base, kind: 'take_profit', trigger: { by: 'price', price: 9n } });
    assert.deepEqual([tp.triggerType, tp.price, tp.percentage, tp.orderType], [0n, 9n, 0n, 4n]);
    const sl = partialTpSlMessage({ ...base, kind: 'stop_loss', trigger: { by: 'percentage', percentage: -25n } });
    assert.deepEqual([sl.triggerType, sl.price, sl.percentage, sl.orderType], [1n, 0n, -25n, 5n]);
    assert.match(intentDigest(TEST_DOMAIN, 'TpSlReq', sl), /^0x[0-9a-f]{64}$/);
    assert.match(encodeIntent('TpSlReq', sl), /^0x[0-9a-f]+$/);
  });

  it('refuses wrong raw values before any digest exists', function () {
    const close = { trader: TRADER, pairIndex: 1n, index: 0n, openTimestamp: 1750000000n, amount: 1n, wantedPrice: 1n, deadlineMs: DEADLINE, nonce: NONCE };
    const refused: [string, () => unknown][] = [
      ['deadline in seconds', () => closeTradeMessage({ ...close, deadlineMs: 1800000000n })],
      ['open time in ms', () => closeTradeMessage({ ...close, openTimestamp: 1750000000000n })],
      ['zero amount', () => closeTradeMessage({ ...close, amount: 0n })],
      ['negative index', () => closeTradeMessage({ ...close, index: -1n })],
      ['nonce over 256 bits', () => closeTradeMessage({ ...close, nonce: 2n ** 256n })],
      ['number instead of bigint', () => closeTradeMessage({ ...close, pairIndex: 1 as unknown as bigint })],
      ['bad address', () => closeTradeMessage({ ...close, trader: '0x1234' })],
      ['self delegation', () => delegateMessage({ trader: TRADER, delegate: TRADER, expirySeconds: 1n, deadlineMs: DEADLINE, nonce: 1n, tnc: TOS_VERANTA })],
      ['order type over uint8', () => openTradeMessage({ trader: TRADER, pairIndex: 1n, buy: true, orderType: 256n, collateral: 1n, openPrice: 1n, leverage: 1n, tp: 0n, sl: 0n, slippageP: 1n, deadlineMs: DEADLINE, nonce: 1n })],
      ['empty entity id', () => cancelOffchainOrderMessage('')],
      ['referral code too long', () => referralCodeBytes32('x'.repeat(33))],
    ];
    for (const [what, build] of refused) assert.throws(build, BadInputError, what);
  });

  it('makes referral codes and random nonces', function () {
    assert.equal(referralCodeBytes32('ab'), `0x6162${'0'.repeat(60)}`);
    const a = randomNonce();
    assert.ok(a >= 0n && a < 2n ** 256n && a !== randomNonce());
    assert.equal(randomNonce((b) => b.fill(0xff)), 2n ** 256n - 1n);
  });
});

