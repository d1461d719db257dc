/**
 * The v2 adapter (UNVERIFIED parts) behind the same interface: one config value switches it,
 * the engine's calls stay the same. Its intent hashing is checked against an independent
 * EIP-712 implementation written here from the spec; Multicall positions and the v2 delegation
 * read are checked through a custom-transport double (neither exists on the devnet).
 */
import assert from 'node:assert/strict';
import {
  concat,
  createPublicClient,
  custom,
  decodeFunctionData,
  encodeAbiParameters,
  encodeErrorResult,
  encodeFunctionResult,
  hashTypedData,
  keccak256,
  recoverTypedDataAddress,
  toHex,
  zeroAddress,
  type Address,
  type EIP1193RequestFn,
  type Hex,
} from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { multicallAbi } from '../../../../src/infra/chain/avantis/abi-v1.ts';
import type { AvantisAddresses } from '../../../../src/infra/chain/avantis/addresses.ts';
import { createAvantisProtocol, type AvantisProtocol } from '../../../../src/infra/chain/avantis/protocol.ts';
import { decodeRevertData, rejectionFor } from '../../../../src/infra/chain/avantis/revert.ts';
import type { Trade } from '../../../../src/infra/chain/avantis/types.ts';
import { leverage, percent, price, usdc } from '../../../../src/infra/chain/avantis/units.ts';
import { tradingV2Abi, v2ErrorsAbi } from '../../../../src/infra/chain/avantis/v2/abi.ts';
import { changedInV2 } from '../../../../src/infra/chain/avantis/v2/events.ts';

const A = (n: number): Address => `0x${n.toString(16).padStart(40, '0')}`;
const ADDRESSES: AvantisAddresses = { trading: A(1), tradingStorage: A(2), tradingCallbacks: A(3), pairStorage: A(4), pairInfos: A(5), priceAggregator: A(6), usdc: A(7), multicall: A(8) };
const TRADER = privateKeyToAccount('0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d');
const NOW_MS = 1_800_000_000_000;

/** A client whose every eth_call is answered by `answer(to, data)`. */
function clientAnswering(answer: (to: Address, data: Hex) => Hex) {
  const request = (({ method, params }: { method: string; params?: unknown }) => {
    if (method === 'eth_chainId') return Promise.resolve('0x2105');
    if (method !== 'eth_call') return Promise.reject(new Error(`unexpected ${method}`));
    const [tx] = params as [{ to: Address; data: Hex }];
    return Promise.resolve(answer(tx.to, tx.data));
  }) as EIP1193RequestFn;
  return createPublicClient({ transport: custom({ request }, { retryCount: 0 }) });
}

function protocolFor(version: 'v1' | 'v2', answer: (to: Address, data: Hex) => Hex = () => '0x'): AvantisProtocol {
  return createAvantisProtocol({ version, addresses: ADDRESSES, chainId: 8453 }, { client: clientAnswering(answer), now: () => NOW_MS, randomNonce: () => 42n });
}

/** EIP-712 from the spec, not from viem's typed-data code: keccak of abi.encode of the fields. */
function independentDigest(m: { trader: Address; pair: bigint; index: bigint; tp: bigint; sl: bigint; deadline: bigint; nonce: bigint }, chainId: bigint, verifyingContract: Address): Hex {
  const typeHash = keccak256(toHex('UpdateTpSlReq(address trader,uint256 _pairIndex,uint256 _index,uint256 _newTp,uint256 _newSl,uint256 _deadline,uint256 _nonce)'));
  const u = { type: 'uint256' } as const;
  const structHash = keccak256(encodeAbiParameters([{ type: 'bytes32' }, { type: 'address' }, u, u, u, u, u, u], [typeHash, m.trader, m.pair, m.index, m.tp, m.sl, m.deadline, m.nonce]));
  const domainType = keccak256(toHex('EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)'));
  const domain = keccak256(encodeAbiParameters([{ type: 'bytes32' }, { type: 'bytes32' }, { type: 'bytes32' }, u, { type: 'address' }], [domainType, keccak256(toHex('AvantisTrading')), keccak256(toHex('1')), chainId, verifyingContract]));
  return keccak256(concat(['0x1901', domain, structHash]));
}

describe('Avantis v2 adapter (UNVERIFIED differences) behind the same interface', function () {
  const engineCalls = (p: AvantisProtocol) => ({
    open: p.openTrade({ trader: TRADER.address, pairIndex: 0n, long: true, collateral: usdc('100'), leverage: leverage('5'), price: price('3000'), kind: 'market', slippageP: percent('1'), executionFeeWei: 7n }),
    close: p.closeTrade({ pairIndex: 0n, index: 1n, collateralToClose: usdc('50'), wantedPrice: price('3010'), executionFeeWei: 7n }),
    tpsl: p.updateTpSl({ trader: TRADER.address, pairIndex: 0n, index: 1n, tp: price('3500'), sl: price('2800'), priceUpdateData: ['0x01'] }),
  });

  it('switches on one config value: shared writes identical, close and TP/SL differ as documented', function () {
    const v1 = engineCalls(protocolFor('v1'));
    const v2 = engineCalls(protocolFor('v2'));
    assert.deepEqual(v2.open, v1.open, 'openTrade keeps its v1 selector and encoding');
    assert.equal(v1.close.data.slice(0, 10), '0x2c3cbce4');
    assert.equal(v2.close.data.slice(0, 10), '0xe5a97c92');
    assert.deepEqual(decodeFunctionData({ abi: tradingV2Abi, data: v2.close.data }).args, [0n, 1n, usdc('50'), price('3010')]);
    assert.equal(v1.tpsl.kind, 'transaction');
    assert.equal(v2.tpsl.kind, 'signedIntent');
    assert.deepEqual(protocolFor('v2').capabilities, { fillEventsDecodable: false, tpSlByTransaction: false, verified: false });
    assert.deepEqual(protocolFor('v1').capabilities, { fillEventsDecodable: true, tpSlByTransaction: true, verified: true });
  });

  it('the TP/SL intent hashes as an independent EIP-712 implementation says, and recovers to the trader', async function () {
    const update = engineCalls(protocolFor('v2')).tpsl;
    assert.ok(update.kind === 'signedIntent');
    const { typedData } = update;
    assert.equal(typedData.message._deadline, BigInt(NOW_MS) + 60_000n, 'deadline in milliseconds');
    assert.equal(typedData.message._newSl, price('2800'));
    const expected = independentDigest({ trader: TRADER.address, pair: 0n, index: 1n, tp: price('3500'), sl: price('2800'), deadline: BigInt(NOW_MS) + 60_000n, nonce: 42n }, 8453n, ADDRESSES.trading);
    assert.equal(hashTypedData(typedData), expected);
    const signature = await TRADER.signTypedData(typedData);
    assert.equal(await recoverTypedDataAddress({ ...typedData, signature }), TRADER.address);
    assert.deepEqual(update.relayPaths, { tp: `/core/price-triggers/global-tp-${TRADER.address}-0-1`, sl: `/core/price-triggers/global-sl-${TRADER.address}-0-1` });
  });

  it('v2 delegation carries an expiry and names the delegate to remove; the read checks the expiry', async function () {
    const expiry = BigInt(NOW_MS / 1000) + 3600n;
    const v2 = protocolFor('v2', (_to, data) =>
      encodeFunctionResult({ abi: tradingV2Abi, functionName: 'multipleDelegations', result: data.includes(A(9).slice(2)) ? [true, expiry] : [true, 1n] }),
    );
    assert.deepEqual(decodeFunctionData({ abi: tradingV2Abi, data: v2.setDelegate({ delegate: A(9), expiry }).data }).args, [A(9), expiry]);
    assert.throws(() => v2.setDelegate({ delegate: A(9) }), /needs an expiry/);
    assert.deepEqual(decodeFunctionData({ abi: tradingV2Abi, data: v2.removeDelegate({ delegate: A(9) }).data }).args, [A(9)]);
    assert.equal(await v2.reads.isDelegate(TRADER.address, A(9)), true);
    assert.equal(await v2.reads.isDelegate(TRADER.address, A(10)), false, 'expired');
  });

  it('v2 custom-error reverts map to typed rejections; an unknown selector stays unknown', function () {
    const data = encodeErrorResult({ abi: v2ErrorsAbi, errorName: 'PositionMismatch' });
    assert.equal(rejectionFor(decodeRevertData(data)).reason, 'position-mismatch');
    assert.equal(rejectionFor(decodeRevertData(encodeErrorResult({ abi: v2ErrorsAbi, errorName: 'HighSlippage' }))).reason, 'slippage-exceeded');
    const unknown = rejectionFor(decodeRevertData('0xdeadbeef'));
    assert.deepEqual({ reason: unknown.reason, revert: unknown.revert }, { reason: 'unknown', revert: '0xdeadbeef' });
    assert.ok(changedInV2('MarketExecuted') && !changedInV2('OpenLimitCanceled'));
  });

  it('reads positions through Multicall getPositions when configured, dropping v1 padding', async function () {
    const trade = (index: bigint, lev: bigint): Trade => ({ trader: TRADER.address, pairIndex: 1n, index, initialPosToken: usdc('99'), positionSizeUSDC: 1_700_000_000n, openPrice: price('60000'), buy: false, leverage: lev, tp: price('50000'), sl: 0n, timestamp: 1_700_000_000n });
    const info = { openInterestUSDC: usdc('495'), tpLastUpdated: 10n, slLastUpdated: 10n, beingMarketClosed: false, lossProtection: 0n };
    const answer = encodeFunctionResult({
      abi: multicallAbi,
      functionName: 'getPositions',
      result: [
        [
          { trade: trade(0n, leverage('5')), tradeInfo: info, rolloverFee: 0n, liquidationPrice: price('70200'), isPnl: false },
          { trade: { ...trade(0n, 0n), trader: zeroAddress }, tradeInfo: info, rolloverFee: 0n, liquidationPrice: 0n, isPnl: false },
        ],
        [],
      ],
    });
    const protocol = protocolFor('v1', (to) => {
      assert.equal(to.toLowerCase(), ADDRESSES.multicall?.toLowerCase());
      return answer;
    });
    const positions = await protocol.reads.positions(TRADER.address);
    assert.equal(positions.length, 1);
    assert.deepEqual({ pair: positions[0]?.pairIndex, long: positions[0]?.long, liq: positions[0]?.liquidationPrice, notional: positions[0]?.notional }, { pair: 1n, long: false, liq: price('70200'), notional: usdc('495') });
  });
});
