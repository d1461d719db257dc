import assert from 'node:assert/strict';
import { startBotApiDouble, type BotApiDouble } from '../../../src/sandbox/telegram/bot-api-double.ts';
import { manualClock } from '../../helpers/manual-clock.ts';
import { silentLogger } from '../../helpers/common.ts';
import { callApi, ok, refused } from './helpers.ts';

const keyboard = (...data: string[]) => ({ inline_keyboard: [data.map((d) => ({ text: d, callback_data: d }))] });

describe('sandbox Telegram: the Bot API double refuses what Telegram refuses', () => {
  let double: BotApiDouble;
  const clock = manualClock(Date.UTC(2026, 0, 5, 12));
  const chatId = 5001;

  before(async () => {
    double = await startBotApiDouble({ logger: silentLogger(), clock, limits: { flood: false }, chatPage: false });
    double.user(chatId, { firstName: 'Dana' }).send('/start');
  });
  after(() => double.close());
  beforeEach(() => double.clearViolations());

  describe('the HTTP surface', () => {
    it('answers a wrong token with 401 and an unknown method with 404, as Telegram does', async () => {
      assert.deepEqual(await refused(double, 'getMe', {}, { token: '123456789:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' }), [401, 'Unauthorized']);
      assert.deepEqual(await refused(double, 'sendMesage', { chat_id: chatId, text: 'x' }), [404, 'Not Found']);
      assert.deepEqual(double.violations().map((v) => v.errorCode), [401, 404]);
    });

    it('takes method names in any case, and parameters from the query string or a form body', async () => {
      const me = await ok<{ is_bot: boolean; id: number }>(double, 'GETME');
      assert.equal(me.is_bot, true);
      assert.equal(String(me.id), double.token.split(':')[0]);
      const viaQuery = await fetch(`${double.apiRoot}/bot${double.token}/sendMessage?chat_id=${chatId}&text=${encodeURIComponent('from a query')}`);
      assert.equal(((await viaQuery.json()) as { result: { text: string } }).result.text, 'from a query');
      const viaForm = await callApi(double, 'sendMessage', { chat_id: String(chatId), text: 'from a form', reply_markup: keyboard('a'), disable_notification: 'true' }, { form: true });
      assert.equal(viaForm.status, 200, viaForm.body.description);
      assert.deepEqual((viaForm.body.result as { reply_markup: unknown }).reply_markup, keyboard('a'));
    });

    it('returns real Message objects: per-chat increasing ids, the bot as sender, entities, the keyboard', async () => {
      const first = await ok<Record<string, unknown>>(double, 'sendMessage', { chat_id: chatId, text: '<b>Hi</b> Dana', parse_mode: 'HTML', reply_markup: keyboard('x') });
      const second = await ok<Record<string, unknown>>(double, 'sendMessage', { chat_id: chatId, text: 'again' });
      assert.equal((second['message_id'] as number) - (first['message_id'] as number), 1);
      assert.deepEqual(first['from'], { id: Number(double.token.split(':')[0]), is_bot: true, first_name: 'Vanta', username: 'vanta_sandbox_bot' });
      assert.deepEqual(first['chat'], { id: chatId, type: 'private', first_name: 'Dana' });
      assert.equal(first['text'], 'Hi Dana');
      assert.deepEqual(first['entities'], [{ type: 'bold', offset: 0, length: 2 }]);
      assert.equal(first['date'], Math.floor(clock.now() / 1000));
    });
  });

  describe('the 9.4 schema', () => {
    it('refuses a parameter the method does not have (Telegram would silently ignore a typo)', async () => {
      const [status, description] = await refused(double, 'sendMessage', { chat_id: chatId, text: '*x*', parse_mod: 'MarkdownV2' });
      assert.equal(status, 400);
      assert.equal(description, 'Bad Request: parameter "parse_mod" is not a parameter of sendMessage in Bot API 9.4');
      // reply_to_message_id left the API in 7.0; a bot still using it would lose its replies.
      assert.equal((await refused(double, 'sendMessage', { chat_id: chatId, text: 'x', reply_to_message_id: 1 }))[1], 'Bad Request: parameter "reply_to_message_id" is not a parameter of sendMessage in Bot API 9.4');
    });

    it('refuses missing required parameters in Telegram words', async () => {
      assert.deepEqual(await refused(double, 'sendMessage', { text: 'x' }), [400, 'Bad Request: chat_id is empty']);
      assert.deepEqual(await refused(double, 'sendMessage', { chat_id: chatId }), [400, 'Bad Request: message text is empty']);
      assert.deepEqual(await refused(double, 'answerCallbackQuery', {}), [400, 'Bad Request: parameter "callback_query_id" is required']);
      assert.deepEqual(await refused(double, 'setMyCommands', {}), [400, 'Bad Request: parameter "commands" is required']);
    });

    it('refuses values of the wrong type, down to the fields of nested objects', async () => {
      assert.deepEqual(await refused(double, 'sendMessage', { chat_id: chatId, text: 42 }), [400, 'Bad Request: parameter "text" must be of type String']);
      assert.deepEqual(await refused(double, 'sendMessage', { chat_id: true, text: 'x' }), [400, 'Bad Request: parameter "chat_id" must be of type Integer or String']);
      assert.deepEqual(await refused(double, 'sendMessage', { chat_id: chatId, text: 'x', reply_markup: { inline_keyboard: [[{ text: 'Buy', callback_data: 7 }]] } }), [
        400,
        'Bad Request: field "reply_markup.inline_keyboard[0][0].callback_data" must be of type String',
      ]);
      assert.deepEqual(await refused(double, 'sendMessage', { chat_id: chatId, text: 'x', reply_markup: { inline_keyboard: [[{ text: 'Buy', callback_date: 'b' }]] } }), [
        400,
        'Bad Request: field "reply_markup.inline_keyboard[0][0].callback_date" is not a field of InlineKeyboardButton',
      ]);
      assert.deepEqual(await refused(double, 'sendMessage', { chat_id: chatId, text: 'x', reply_markup: { inline_keyboard: [{ text: 'flat', callback_data: 'b' }] } }), [
        400,
        'Bad Request: field "reply_markup.inline_keyboard[0]" must be of type Array of InlineKeyboardButton',
      ]);
      assert.deepEqual(await refused(double, 'setMyCommands', { commands: [{ command: 'start', description: 'Go' }], scope: { type: 'everyone' } }), [
        400,
        'Bad Request: field "scope.type" must be one of "default", "all_private_chats", "all_group_chats", "all_chat_administrators", "chat", "chat_administrators", "chat_member" for a BotCommandScope',
      ]);
      assert.deepEqual(await refused(double, 'setMyCommands', { commands: [{ command: 'start', description: 'Go' }], scope: { type: 'chat' } }), [400, 'Bad Request: field "scope.chat_id" is required in BotCommandScopeChat']);
    });

    it('reads form values the way Telegram does, and refuses the ones it cannot read', async () => {
      assert.equal((await callApi(double, 'sendMessage', { chat_id: String(chatId), text: 'x', disable_notification: '1' }, { form: true })).status, 200);
      assert.deepEqual(await refused(double, 'sendMessage', { chat_id: String(chatId), text: 'x', reply_markup: '{not json' }, { form: true }), [400, "Bad Request: can't parse reply_markup JSON object"]);
      assert.deepEqual(await refused(double, 'sendMessage', { chat_id: String(chatId), text: 'x', disable_notification: 'maybe' }, { form: true }), [400, 'Bad Request: parameter "disable_notification" must be of type Boolean']);
    });

    it('answers valid calls to methods it does not simulate with a well-formed result, and lists them', async () => {
      const before = double.unsimulated().length;
      assert.equal(await ok(double, 'setMessageReaction', { chat_id: chatId, message_id: 1, reaction: [{ type: 'emoji', emoji: '👍' }] }), true);
      const sent = await ok<{ message_id: number; chat: { id: number } }>(double, 'sendDice', { chat_id: chatId });
      assert.equal(sent.chat.id, chatId);
      assert.deepEqual(double.unsimulated().slice(before).map((u) => u.method), ['setMessageReaction', 'sendDice']);
      assert.match(double.user(chatId).messages().at(-1)?.unsimulatedKind ?? '', /sendDice/);
      assert.deepEqual(await refused(double, 'setMessageReaction', { chat_id: chatId, message_id: 1, reaction: [{ type: 'heart' }] }), [400, 'Bad Request: field "reaction[0].type" must be one of "emoji", "custom_emoji", "paid" for a ReactionType']);
    });
  });

  describe("Telegram's limits", () => {
    it('text: 1-4096 characters after entity parsing', async () => {
      const long = 'x'.repeat(4096);
      assert.equal((await callApi(double, 'sendMessage', { chat_id: chatId, text: `<b>${long}</b>`, parse_mode: 'HTML' })).status, 200, 'tags do not count');
      assert.deepEqual(await refused(double, 'sendMessage', { chat_id: chatId, text: `${long}y` }), [400, 'Bad Request: message is too long']);
      assert.deepEqual(await refused(double, 'sendMessage', { chat_id: chatId, text: '<b> </b>', parse_mode: 'HTML' }), [400, 'Bad Request: message text is empty']);
      assert.deepEqual(await refused(double, 'sendMessage', { chat_id: chatId, text: '' }), [400, 'Bad Request: message text is empty']);
    });

    it('parse_mode: a known mode, and text that parses', async () => {
      assert.deepEqual(await refused(double, 'sendMessage', { chat_id: chatId, text: 'PnL <b>+5%', parse_mode: 'HTML' }), [400, 'Bad Request: can\'t parse entities: Can\'t find end tag corresponding to start tag "b"']);
      assert.deepEqual(await refused(double, 'sendMessage', { chat_id: chatId, text: 'x', parse_mode: 'markdown2' }), [400, 'Bad Request: unsupported parse_mode']);
    });

    it('callback_data: 1-64 bytes of UTF-8, and every inline button does exactly one thing', async () => {
      const fits = 'é'.repeat(32);
      assert.equal((await callApi(double, 'sendMessage', { chat_id: chatId, text: 'k', reply_markup: keyboard(fits) })).status, 200);
      assert.deepEqual(await refused(double, 'sendMessage', { chat_id: chatId, text: 'k', reply_markup: keyboard(`${fits}x`) }), [400, 'Bad Request: BUTTON_DATA_INVALID']);
      assert.deepEqual(await refused(double, 'sendMessage', { chat_id: chatId, text: 'k', reply_markup: { inline_keyboard: [[{ text: 'nothing' }]] } }), [
        400,
        "Bad Request: can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard",
      ]);
    });

    it('captions at most 1024 characters, callback answers at most 200', async () => {
      assert.deepEqual(await refused(double, 'sendPhoto', { chat_id: chatId, photo: 'https://example.org/chart.png', caption: 'c'.repeat(1025) }), [400, 'Bad Request: message caption is too long']);
      const query = double.user(chatId).press(0, 'stale', { forge: true });
      assert.deepEqual(await refused(double, 'answerCallbackQuery', { callback_query_id: query, text: 't'.repeat(201) }), [400, 'Bad Request: MESSAGE_TOO_LONG']);
    });

    it('command menus: 1-32 lowercase letters, digits and underscores', async () => {
      assert.deepEqual(await refused(double, 'setMyCommands', { commands: [{ command: 'Trade', description: 'Open a trade' }] }), [400, 'Bad Request: BOT_COMMAND_INVALID']);
      assert.equal(await ok(double, 'setMyCommands', { commands: [{ command: 'trade', description: 'Open a trade' }] }), true);
      assert.deepEqual(await ok(double, 'getMyCommands'), [{ command: 'trade', description: 'Open a trade' }]);
      assert.deepEqual(double.commands(), [{ command: 'trade', description: 'Open a trade' }]);
    });
  });

  describe('what only the chat state can tell', () => {
    it('refuses chats that never started the bot, that blocked it, or that do not exist', async () => {
      double.user(6001, { firstName: 'Never wrote' });
      assert.deepEqual(await refused(double, 'sendMessage', { chat_id: 6001, text: 'hello?' }), [403, "Forbidden: bot can't initiate conversation with a user"]);
      assert.deepEqual(await refused(double, 'sendMessage', { chat_id: 999_999, text: 'hello?' }), [400, 'Bad Request: chat not found']);
      assert.deepEqual(await refused(double, 'sendMessage', { chat_id: '@dana', text: 'hello?' }), [400, 'Bad Request: chat not found']);
      const blocker = double.user(6002);
      blocker.send('/start');
      blocker.block();
      assert.deepEqual(await refused(double, 'sendMessage', { chat_id: 6002, text: 'your order filled' }), [403, 'Forbidden: bot was blocked by the user']);
      blocker.unblock();
      assert.equal((await callApi(double, 'sendMessage', { chat_id: 6002, text: 'welcome back' })).status, 200);
    });

    it('editing: not to identical content, not a message that is gone, and no keyboard unless it is sent again', async () => {
      const sent = await ok<{ message_id: number }>(double, 'sendMessage', { chat_id: chatId, text: '<b>Pending</b>', parse_mode: 'HTML', reply_markup: keyboard('cancel') });
      const same = { chat_id: chatId, message_id: sent.message_id, text: '<b>Pending</b>', parse_mode: 'HTML', reply_markup: keyboard('cancel') };
      assert.deepEqual(await refused(double, 'editMessageText', same), [400, 'Bad Request: message is not modified: specified new message content and reply markup are exactly the same as a current content and reply markup of the message']);
      assert.deepEqual(await refused(double, 'editMessageReplyMarkup', { chat_id: chatId, message_id: sent.message_id, reply_markup: keyboard('cancel') }), [400, 'Bad Request: message is not modified: specified new message content and reply markup are exactly the same as a current content and reply markup of the message']);
      const edited = await ok<{ text: string; edit_date: number; reply_markup?: unknown }>(double, 'editMessageText', { chat_id: chatId, message_id: sent.message_id, text: 'Filled' });
      assert.equal(edited.text, 'Filled');
      assert.equal(edited.reply_markup, undefined, 'leaving out reply_markup removes the keyboard');
      assert.equal(edited.edit_date, Math.floor(clock.now() / 1000));
      assert.deepEqual(await refused(double, 'editMessageText', { chat_id: chatId, message_id: 424242, text: 'x' }), [400, 'Bad Request: message to edit not found']);
      assert.equal(await ok(double, 'deleteMessage', { chat_id: chatId, message_id: sent.message_id }), true);
      assert.deepEqual(await refused(double, 'editMessageText', { chat_id: chatId, message_id: sent.message_id, text: 'x' }), [400, 'Bad Request: message to edit not found']);
      assert.deepEqual(await refused(double, 'deleteMessage', { chat_id: chatId, message_id: sent.message_id }), [400, 'Bad Request: message to delete not found']);
      const userMessage = double.user(chatId).send('mine');
      assert.deepEqual(await refused(double, 'editMessageText', { chat_id: chatId, message_id: userMessage.messageId, text: 'x' }), [400, "Bad Request: message can't be edited"]);
    });

    it('callback queries: answered once, and only while fresh (15 s by default)', async () => {
      const user = double.user(chatId);
      const sent = await ok<{ message_id: number }>(double, 'sendMessage', { chat_id: chatId, text: 'Close ETH long?', reply_markup: keyboard('close') });
      const first = user.press(sent.message_id, 'close');
      assert.equal(await ok(double, 'answerCallbackQuery', { callback_query_id: first, text: 'Closing…' }), true);
      assert.deepEqual(user.answers().at(-1), { showAlert: false, text: 'Closing…', callbackQueryId: first, messageId: sent.message_id, data: 'close', at: clock.now() });
      const again: [number, string] = [400, 'Bad Request: query is too old and response timeout expired or query ID is invalid'];
      assert.deepEqual(await refused(double, 'answerCallbackQuery', { callback_query_id: first }), again);
      const late = user.press(sent.message_id, 'close');
      clock.advance(15_001);
      assert.deepEqual(await refused(double, 'answerCallbackQuery', { callback_query_id: late }), again);
      assert.deepEqual(await refused(double, 'answerCallbackQuery', { callback_query_id: 'made-up' }), again);
    });

    it('a simulated user can only press buttons that are on the message, unless the test forges it', async () => {
      const user = double.user(chatId);
      const sent = await ok<{ message_id: number }>(double, 'sendMessage', { chat_id: chatId, text: 'Pick', reply_markup: keyboard('p:eth', 'p:btc') });
      assert.throws(() => user.press(sent.message_id, 'p:doge'), /has no button with callback data "p:doge"/);
      assert.match(user.press(sent.message_id, 'p:doge', { forge: true }), /^\d+$/);
      assert.match(user.press(sent.message_id, 'p:btc'), /^\d+$/);
    });

    it('records every refusal with its method, description and a readable summary of the parameters', async () => {
      await refused(double, 'sendMessage', { chat_id: chatId, text: 'y'.repeat(5000) });
      const [violation] = double.violations();
      assert.equal(violation?.method, 'sendMessage');
      assert.equal(violation?.description, 'Bad Request: message is too long');
      assert.equal(violation?.params['text'], `${'y'.repeat(200)}… (5000 characters)`);
      assert.throws(() => double.assertNoViolations(), /The bot made 1 call\(s\) Telegram would refuse:\n {2}sendMessage → 400 Bad Request: message is too long/);
    });
  });

  describe('flood control', () => {
    it('answers 429 with retry_after beyond the per-chat burst, counts it apart from violations, and lets messages through again once the wait is over', async () => {
      const floodClock = manualClock(0);
      const limited = await startBotApiDouble({ logger: silentLogger(), clock: floodClock, limits: { flood: { global: { perSecond: 30, burst: 30 }, perChat: { perSecond: 1, burst: 3 } } }, chatPage: false });
      try {
        limited.user(1, {}).send('/start');
        limited.user(2, {}).send('/start');
        for (let i = 0; i < 3; i++) assert.equal((await callApi(limited, 'sendMessage', { chat_id: 1, text: `m${i}` })).status, 200);
        const refusal = await callApi(limited, 'sendMessage', { chat_id: 1, text: 'one too many' });
        assert.deepEqual([refusal.status, refusal.body.description, refusal.body.parameters], [429, 'Too Many Requests: retry after 1', { retry_after: 1 }]);
        assert.equal((await callApi(limited, 'sendMessage', { chat_id: 2, text: 'other chats are not held up' })).status, 200);
        floodClock.advance(1000);
        assert.equal((await callApi(limited, 'sendMessage', { chat_id: 1, text: 'after the wait' })).status, 200);
        assert.deepEqual(limited.violations(), []);
        assert.deepEqual(limited.floodRefusals().map((r) => [r.method, r.chatId, r.retryAfter]), [['sendMessage', 1, 1]]);
      } finally {
        await limited.close();
      }
    });

    it('holds all chats to about 30 messages a second together', async () => {
      const floodClock = manualClock(0);
      const limited = await startBotApiDouble({ logger: silentLogger(), clock: floodClock, limits: { flood: { global: { perSecond: 30, burst: 30 }, perChat: { perSecond: 1, burst: 5 } } }, chatPage: false });
      try {
        for (let id = 1; id <= 31; id++) limited.user(id, {}).send('/start');
        const statuses: number[] = [];
        for (let id = 1; id <= 31; id++) statuses.push((await callApi(limited, 'sendMessage', { chat_id: id, text: 'broadcast' })).status);
        assert.deepEqual(statuses, [...Array<number>(30).fill(200), 429]);
      } finally {
        await limited.close();
      }
    });
  });
});
