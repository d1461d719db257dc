import assert from 'node:assert/strict';
import { hashStruct, keccak256 } from 'viem';
import { domainKindOf, encodeType, INTENT_PRIMARY_TYPES, INTENT_TYPES, nestedTypesOf, signerRuleOf, typeHash, typesFor } from '../../../../src/infra/chain/avantis-v2/intent-types.ts';

/** AVANTIS-V2.md §8.2's table, copied verbatim. */
const TYPEHASHES = {
  OpenTradeReq: '0x9ce0d760b6eb5a5f60ce0f7c7506f6876fd78007443d18f77239d8bb3fc8f5ef',
  OpenTradeCoinExposureReq: '0xa19b10d4894d92e6b5bf0d6f64a0e07e7439f662aeb726c27b97e513f3793132',
  CloseTradeReq: '0x479d5b939d91c1399029663dadaf1f18d9a179c3b238cb90d130eb2062fee23b',
  CloseTradeCoinExposureReq: '0xb745ce05a09244323fb8e4da51997803a98d8b690613182fb9ed4446a2d57eb5',
  IncreasePositionSizeReq: '0x264e37ae1b23867b84be883d81ea5d033d2b3c039dfd21e2def10f6afb0362fb',
  IncreasePositionSizeWithCoinExposureReq: '0x13f2f186556d01d700e209cfe9909561db72ba811f79ef1bafaea97c06e01f58',
  UpdateTpSlReq: '0x5ffd1231d35d7833b213910676c3c74d58de08630481e7686cf57e6da7dd0646',
  TpSlReq: '0xb27429f8bbd2f5ef7b4cb0fa88614e5417d3216206a28baae453fbca32f58389',
  TwapOpenOrder: '0x0449f188a797d4b5f668aaa45192cd1b9fdb4431ca837260ce175c97c65be0fa',
  TwapCloseOrder: '0xce46e64fd3049977bff02f9d25d5ea045598e2f9fef19ebe66d9b1ee34613ec9',
  TwapCancelReq: '0xc5dc8574b5615b29522555a6a2cefbc838b46348615960df43e59f40f9518ab9',
  CancelOffchainOrder: '0x607ce456c09162d5b0e6ce4e9f46e3fbdc8408a3807aedfa9e26d7a7aeb4ab3e',
  RfqOpenOrder: '0x542020c5f0d5acceb5bae08adbff5ebc46562abcfd5bcac87ed28655c528b417',
  RfqCloseOrder: '0xda7137fa84e508ec0e1a309cb5e8c423d1a5c6becde31fd19aa7db2c7203a2a6',
  DelegateReq: '0xc739c28f113e3cad9bc37cfe9e4c26ae902d2dd8a2b1dbb929a561bff262c562',
  RegisterCodeReq: '0x6c8f3e00f96109b7ce0e0df830f25faadc2335ed0228e2fbac8ee0200e65e210',
  SetTraderReferralCodeByUserReq: '0xa3b73e6a38ae101bee0a4f60a57a6f667fc15f263baec702afdf9704ed6e28d8',
} as const;

const TRADE = 'Trade(address trader,uint256 pairIndex,uint256 index,uint256 initialPosToken,uint256 positionSizeUSDC,uint256 openPrice,bool buy,uint256 leverage,uint256 tp,uint256 sl,uint256 timestamp)';

describe('Avantis v2 intent type definitions (§8.2)', function () {
  it('defines exactly the 17 primary types of the table, plus Trade and UpdatePositionSize', function () {
    assert.deepEqual([...INTENT_PRIMARY_TYPES].sort(), Object.keys(TYPEHASHES).sort());
    assert.deepEqual(Object.keys(INTENT_TYPES).sort(), [...Object.keys(TYPEHASHES), 'Trade', 'UpdatePositionSize'].sort());
  });

  for (const [primaryType, expected] of Object.entries(TYPEHASHES) as [keyof typeof TYPEHASHES, string][]) {
    it(`${primaryType}: keccak(encodeType) equals the reference typehash`, function () {
      assert.equal(typeHash(primaryType), expected);
    });
  }

  it('appends nested types after the primary one, in the reference spelling', function () {
    assert.equal(encodeType('OpenTradeReq'), `OpenTradeReq(Trade _t,uint8 _type,uint256 _slippageP,uint256 _deadline,uint256 _nonce)${TRADE}`);
    assert.deepEqual(nestedTypesOf('IncreasePositionSizeWithCoinExposureReq'), ['UpdatePositionSize']);
    assert.deepEqual(Object.keys(typesFor('OpenTradeCoinExposureReq')).sort(), ['OpenTradeCoinExposureReq', 'Trade']);
    assert.deepEqual(Object.keys(typesFor('DelegateReq')), ['DelegateReq']);
  });

  it('viem (an independent encodeType) hashes a struct from the same typehash', function () {
    const structHash = hashStruct({ types: typesFor('TwapCancelReq'), primaryType: 'TwapCancelReq', data: { trader: '0x0000000000000000000000000000000000000000', twapId: 0n, nonce: 0n, deadline: 0n } });
    const ours = keccak256(`${TYPEHASHES.TwapCancelReq}${'0'.repeat(64 * 4)}`);
    assert.equal(structHash, ours);
  });

  it('chooses the referral domain only for the two referral intents, and trader-only only for DelegateReq', function () {
    const referral = INTENT_PRIMARY_TYPES.filter((t) => domainKindOf(t) === 'referral');
    assert.deepEqual(referral, ['RegisterCodeReq', 'SetTraderReferralCodeByUserReq']);
    assert.deepEqual(INTENT_PRIMARY_TYPES.filter((t) => signerRuleOf(t) === 'trader-only'), ['DelegateReq']);
  });
});
