import type { InlineKeyboardButton, InlineKeyboardMarkup } from 'grammy/types';
import { BadInputError } from '../errors.ts';
import { decodeCallback, encodeCallback } from './callback-data.ts';
import type { KeyValue } from './kv.ts';
import { randomId } from './random.ts';

/**
 * Inline keyboards whose buttons are bound to one user and one message.
 *
 * A button's callback data is only `k:<nonce>:<index>` (at most 22 bytes, far under Telegram's
 * 64). What the button does lives server-side under the pressing user's id and the nonce, with
 * the id of the message it was sent on. So a forged button (made-up data) finds nothing, a
 * foreign one (someone else's data) finds nothing under the presser's id, a button copied onto
 * another message does not match its message, a button of a message that has since moved on (to
 * another step, or to a result) is no longer the one it shows, and a one-shot button (confirm) is
 * claimed atomically, so a double click or a replay is answered "already done" and changes nothing.
 */
export interface ButtonSpec {
  readonly text: string;
  readonly action: string;
  readonly args?: readonly string[];
  /** One-shot: the second press is refused (confirmations). */
  readonly once?: boolean;
}

export interface PressedButton {
  readonly action: string;
  readonly args: readonly string[];
  readonly nonce: string;
  readonly index: number;
}

interface StoredKeyboard {
  readonly c: number;
  m: number | null;
  readonly b: readonly (readonly [string, readonly string[], boolean])[];
}

export const KEYBOARD_TTL_SECONDS = 7 * 24 * 3600;
const EXPIRED = 'This button has expired. Send the command again for fresh buttons.';
const ALREADY_DONE = 'Already done: this button works once.';
/** How long a press waits for its keyboard's message id (sent, not yet bound). */
const BIND_WAIT_MS = 2_000;
const BIND_POLL_MS = 25;

export class Keyboards {
  readonly #kv: KeyValue;
  readonly #ttl: number;

  readonly #bindWaitMs: number;

  constructor(kv: KeyValue, ttlSeconds = KEYBOARD_TTL_SECONDS, bindWaitMs = BIND_WAIT_MS) {
    this.#kv = kv;
    this.#ttl = ttlSeconds;
    this.#bindWaitMs = bindWaitMs;
  }

  /**
   * Stores a keyboard for `userId` in `chatId`. Pass the message id when editing a known message;
   * for a new message call `bind` with the sent message's id (buttons answer "expired" until then).
   */
  async create(userId: number, chatId: number, rows: readonly (readonly ButtonSpec[])[], messageId: number | null = null): Promise<BoundKeyboard> {
    const nonce = randomId(9, 'base64url');
    const flat: [string, readonly string[], boolean][] = [];
    const markup: InlineKeyboardButton[][] = rows.map((row) =>
      row.map((spec) => {
        const index = flat.push([spec.action, spec.args ?? [], spec.once ?? false]) - 1;
        return { text: spec.text, callback_data: encodeCallback({ action: 'k', args: [nonce, String(index)] }) };
      }),
    );
    const stored: StoredKeyboard = { c: chatId, m: messageId, b: flat };
    // The keyboard first, then which message shows it: a press never finds a message showing
    // a keyboard that is not stored yet.
    const bound = (id: number): [string, string][] => [
      [this.#key(userId, nonce), JSON.stringify(stored)],
      [this.#shownKey(userId, chatId, id), nonce],
    ];
    if (messageId === null) await this.#kv.set(this.#key(userId, nonce), JSON.stringify(stored), this.#ttl);
    else await this.#kv.setMany(bound(messageId), this.#ttl);
    return {
      markup: { inline_keyboard: markup },
      bind: async (sentMessageId: number) => {
        stored.m = sentMessageId;
        await this.#kv.setMany(bound(sentMessageId), this.#ttl);
      },
    };
  }

  /** What a pressed button means, or a BadInputError that changes nothing. */
  async resolve(userId: number, chatId: number | undefined, messageId: number | undefined, data: unknown): Promise<PressedButton> {
    const { args } = decodeCallback(data, { k: 2 });
    const [nonce = '', indexText = ''] = args;
    const index = Number(indexText);
    const stored = await this.#stored(userId, nonce);
    if (stored === null) throw new BadInputError(EXPIRED);
    if (stored.c !== chatId || stored.m === null || stored.m !== messageId) throw new BadInputError(EXPIRED);
    const button = Number.isInteger(index) ? stored.b[index] : undefined;
    if (!button) throw new BadInputError(EXPIRED);
    const [action, buttonArgs, once] = button;
    // The message moved on (edited to another step, or to a result without buttons): what it showed before is gone.
    if ((await this.#kv.get(this.#shownKey(userId, chatId, messageId))) !== nonce) {
      throw new BadInputError(once && (await this.#kv.get(this.#usedKey(userId, nonce))) !== null ? ALREADY_DONE : EXPIRED);
    }
    if (once && !(await this.#kv.claim(this.#usedKey(userId, nonce), this.#ttl))) throw new BadInputError(ALREADY_DONE);
    return { action, args: buttonArgs, nonce, index };
  }

  /**
   * The stored keyboard. One whose message is being sent (a notice's buttons, tapped the moment
   * they appear, before `bind` has run) is waited for a little instead of answering "expired".
   */
  async #stored(userId: number, nonce: string): Promise<StoredKeyboard | null> {
    const until = Date.now() + this.#bindWaitMs;
    for (;;) {
      const raw = await this.#kv.get(this.#key(userId, nonce));
      const stored = raw === null ? null : (JSON.parse(raw) as StoredKeyboard);
      if (stored?.m !== null || Date.now() >= until) return stored;
      await new Promise((resolve) => setTimeout(resolve, BIND_POLL_MS));
    }
  }

  /** The message now shows no buttons (edited to a result): the ones it showed are retired. */
  async cleared(userId: number, chatId: number, messageId: number): Promise<void> {
    await this.#kv.delete(this.#shownKey(userId, chatId, messageId));
  }

  /** Retires every button of a keyboard (after its message moved on to another step). */
  async retire(userId: number, nonce: string): Promise<void> {
    await this.#kv.delete(this.#key(userId, nonce));
  }

  #key(userId: number, nonce: string): string {
    return `kb:${userId}:${nonce}`;
  }

  /** Which keyboard a message shows now: only its buttons work. */
  #shownKey(userId: number, chatId: number, messageId: number): string {
    return `kb-shown:${userId}:${chatId}:${messageId}`;
  }

  #usedKey(userId: number, nonce: string): string {
    return `used:${userId}:${nonce}`;
  }
}

export interface BoundKeyboard {
  readonly markup: InlineKeyboardMarkup;
  bind(messageId: number): Promise<void>;
}
