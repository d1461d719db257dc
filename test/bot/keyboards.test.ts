import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { BadInputError } from '../../src/errors.ts';
import { Keyboards } from '../../src/bot/keyboards.ts';
import { memoryKeyValue, redisKeyValue, type KeyValue } from '../../src/bot/kv.ts';

const stores: [string, () => Promise<{ kv: KeyValue; close: () => Promise<void> }>][] = [
  ['memory', () => Promise.resolve({ kv: memoryKeyValue(), close: () => Promise.resolve() })],
  [
    'Redis',
    async () => {
      const client = new Redis('redis://127.0.0.1:6379', { lazyConnect: true });
      await client.connect();
      return { kv: redisKeyValue(client, `test:kb:${process.pid}:${Date.now()}:`), close: async () => void (await client.quit()) };
    },
  ],
];

for (const [name, open] of stores) {
  describe(`bot/keyboards: buttons bound to their user and message (${name})`, () => {
    let kv: KeyValue;
    let close: () => Promise<void>;
    before(async () => ({ kv, close } = await open()));
    after(() => close());

    const USER = 42;
    const CHAT = 42;

    it('every button fits Telegram\'s 64 bytes and resolves to its action and arguments', async () => {
      const keyboards = new Keyboards(kv);
      const kb = await keyboards.create(USER, CHAT, [[{ text: 'Confirm', action: 't.confirm', args: ['ETH/USD', 'x'.repeat(500)], once: true }, { text: 'Cancel', action: 't.cancel' }]]);
      await kb.bind(7);
      for (const row of kb.markup.inline_keyboard) for (const button of row) assert.ok(Buffer.byteLength((button as { callback_data: string }).callback_data) <= 64);
      const data = (kb.markup.inline_keyboard[0]![1] as { callback_data: string }).callback_data;
      assert.deepEqual(await keyboards.resolve(USER, CHAT, 7, data).then((p) => [p.action, p.args]), ['t.cancel', []]);
    });

    it('forged, foreign, moved and replayed buttons change nothing', async () => {
      const keyboards = new Keyboards(kv);
      const kb = await keyboards.create(USER, CHAT, [[{ text: 'Confirm', action: 't.confirm', args: ['o1'], once: true }]]);
      await kb.bind(9);
      const data = (kb.markup.inline_keyboard[0]![0] as { callback_data: string }).callback_data;
      await assert.rejects(keyboards.resolve(USER, CHAT, 9, 'k:AAAAAAAAAAAA:0'), BadInputError, 'forged nonce');
      await assert.rejects(keyboards.resolve(USER, CHAT, 9, 'p.close:position:1'), BadInputError, 'made-up action');
      await assert.rejects(keyboards.resolve(USER, CHAT, 9, 'x'.repeat(65)), BadInputError, 'oversized');
      await assert.rejects(keyboards.resolve(USER, CHAT, 9, data.replace(/:0$/, ':5')), BadInputError, 'index out of range');
      await assert.rejects(keyboards.resolve(USER + 1, USER + 1, 9, data), BadInputError, 'another user pressing it');
      await assert.rejects(keyboards.resolve(USER, CHAT, 10, data), BadInputError, 'on another message');
      assert.equal((await keyboards.resolve(USER, CHAT, 9, data)).action, 't.confirm');
      await assert.rejects(keyboards.resolve(USER, CHAT, 9, data), /works once/, 'the second press of a one-shot button');
    });

    it('a button is not usable before the message it is on is known', async () => {
      const keyboards = new Keyboards(kv, undefined, 50);
      const kb = await keyboards.create(USER, CHAT, [[{ text: 'Refresh', action: 'p.refresh' }]]);
      const data = (kb.markup.inline_keyboard[0]![0] as { callback_data: string }).callback_data;
      await assert.rejects(keyboards.resolve(USER, CHAT, 1, data), BadInputError);
    });

    it('a button pressed the moment its message appears (sent, not yet bound) waits for the binding', async () => {
      const keyboards = new Keyboards(kv);
      const kb = await keyboards.create(USER, CHAT, [[{ text: 'Positions', action: 'p.list' }]]);
      const data = (kb.markup.inline_keyboard[0]![0] as { callback_data: string }).callback_data;
      const pressed = keyboards.resolve(USER, CHAT, 12, data);
      await new Promise((r) => setTimeout(r, 100));
      await kb.bind(12);
      assert.equal((await pressed).action, 'p.list');
    });

    it('a message that moved on (edited to another keyboard, or to none) retires the buttons it showed before', async () => {
      const keyboards = new Keyboards(kv);
      const dataOf = (kb: { markup: { inline_keyboard: unknown[][] } }, i = 0) => (kb.markup.inline_keyboard[0]![i] as { callback_data: string }).callback_data;
      const review = await keyboards.create(USER, CHAT, [[{ text: 'Confirm', action: 't.confirm', once: true }, { text: 'Cancel', action: 't.cancel' }]]);
      await review.bind(20);
      assert.equal((await keyboards.resolve(USER, CHAT, 20, dataOf(review))).action, 't.confirm');
      // The confirm edited the message to the order's progress, with its own button.
      const progress = await keyboards.create(USER, CHAT, [[{ text: 'Positions', action: 'p.list' }]], 20);
      await assert.rejects(keyboards.resolve(USER, CHAT, 20, dataOf(review, 1)), /This button has expired/, 'the review’s cancel');
      await assert.rejects(keyboards.resolve(USER, CHAT, 20, dataOf(review)), /Already done: this button works once/, 'the review’s confirm');
      assert.equal((await keyboards.resolve(USER, CHAT, 20, dataOf(progress))).action, 'p.list');
      await keyboards.cleared(USER, CHAT, 20);
      await assert.rejects(keyboards.resolve(USER, CHAT, 20, dataOf(progress)), /This button has expired/, 'a message without buttons now');
    });

    it('two simultaneous presses of a one-shot button: exactly one goes through', async () => {
      const keyboards = new Keyboards(kv);
      const kb = await keyboards.create(USER, CHAT, [[{ text: 'Confirm', action: 't.confirm', once: true }]], 11);
      const data = (kb.markup.inline_keyboard[0]![0] as { callback_data: string }).callback_data;
      const results = await Promise.allSettled(Array.from({ length: 10 }, () => keyboards.resolve(USER, CHAT, 11, data)));
      assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
    });
  });
}
