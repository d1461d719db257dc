/**
 * The typed fragments the client uses are the vendored v1 ABI, item for item; the v2 fragments
 * have the selectors AVANTIS.md §3.9 lists (computed from the DEC signatures, UNVERIFIED).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { toFunctionSelector, type Abi, type AbiParameter } from 'viem';
import { formatAbiItem } from 'viem/utils';
import { V1_ABI_FILES } from '../../../../src/infra/chain/avantis/abi-v1.ts';
import { tradingV2Abi } from '../../../../src/infra/chain/avantis/v2/abi.ts';

const ABI_DIR = path.join(import.meta.dirname, '../../../../src/infra/chain/abi/v1');

interface Param {
  readonly type: string;
  readonly name: string;
  readonly indexed?: boolean;
  readonly components?: readonly Param[];
}

/** Everything that affects encoding and decoding, nothing that does not (internalType). */
function param(p: AbiParameter & { indexed?: boolean | undefined }, isEvent: boolean): Param {
  const components = 'components' in p && p.components ? { components: p.components.map((c) => param(c, false)) } : {};
  return { type: p.type, name: p.name ?? '', ...(isEvent ? { indexed: p.indexed ?? false } : {}), ...components };
}

function normalise(item: Abi[number]) {
  if (item.type === 'event') return { type: item.type, name: item.name, inputs: item.inputs.map((i) => param(i, true)) };
  if (item.type === 'function') {
    return { type: item.type, name: item.name, stateMutability: item.stateMutability, inputs: item.inputs.map((i) => param(i, false)), outputs: item.outputs.map((o) => param(o, false)) };
  }
  return { type: item.type };
}

describe('Avantis ABI fragments', function () {
  for (const [file, fragments] of Object.entries(V1_ABI_FILES)) {
    it(`${file}: every typed fragment equals its entry in the vendored v1 ABI`, function () {
      const vendored = JSON.parse(readFileSync(path.join(ABI_DIR, `${file}.json`), 'utf8')) as Abi;
      const used = (fragments as Abi).filter((i) => i.type === 'function' || i.type === 'event');
      assert.ok(used.length > 0);
      for (const item of used) {
        const signature = formatAbiItem(item);
        const match = vendored.find((v) => v.type === item.type && formatAbiItem(v) === signature);
        assert.ok(match, `${file}: ${signature} is not in the vendored ABI`);
        assert.deepEqual(normalise(item), normalise(match), `${file}: ${signature} differs in names, indexing, mutability or outputs`);
      }
    });
  }

  it('v2 (UNVERIFIED) fragments have the selectors listed in AVANTIS.md §3.9', function () {
    const selector = (name: string) => {
      const item = tradingV2Abi.find((i) => i.type === 'function' && i.name === name);
      assert.ok(item);
      return toFunctionSelector(item);
    };
    assert.equal(selector('closeTradeMarket'), '0xe5a97c92');
    assert.equal(selector('setDelegate'), '0xd6a510d9');
    assert.equal(selector('removeDelegate'), '0x67e7646f');
  });

  it('v1 selectors the pipeline will see match AVANTIS.md §3.3', function () {
    const trading = V1_ABI_FILES.Trading as Abi;
    const sel = (name: string) => {
      const item = trading.find((i) => i.type === 'function' && i.name === name);
      assert.ok(item && item.type === 'function');
      return toFunctionSelector(item);
    };
    assert.deepEqual(
      ['openTrade', 'closeTradeMarket', 'updateTpAndSl', 'updateMargin', 'cancelOpenLimitOrder', 'updateOpenLimitOrder', 'setDelegate', 'removeDelegate', 'delegatedAction'].map(sel),
      ['0x19cde9a1', '0x2c3cbce4', '0x8dffdc3c', '0xb9fe2af3', '0xb9b6573a', '0xc641558e', '0xca5eb5e1', '0x36fb8b15', '0x9a10cc32'],
    );
  });
});
