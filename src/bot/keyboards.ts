import type { InlineKeyboardButton, InlineKeyboardMarkup } from 'grammy/types';
import { BadInputError } from '../errors.ts';
import { decodeCallback, encodeCallback } from './callback-data.ts';
import type { KeyValue } from './kv.ts';
import { randomId } from './random.ts';

/**
 * Inline keyboards whose buttons are bound to one user and one message.
 *
 * A button's callback data is only `k:<nonce>:<index>` (at most 22 bytes, far under Telegram's
 * 64). What the buttons do lives server-side under the pressing user's id, the chat and the id of
 * the message they are on, with the nonce of the keyboard that message shows now. So a forged
 * button (made-up data) or a foreign one (someone else's data, found nothing under the presser's
 * id) or one copied onto another message (whose keyboard has another nonce) finds nothing, a
 * button of a message that has since moved on (to another step, or to a result) is no longer the
 * one it shows, and a one-shot button (confirm) is claimed atomically, so a double click or a
 * replay is answered "already done" and changes nothing.
 *
 * One key per message: showing a new keyboard on a message replaces the old one in the same write
 * that stores it, and a message edited to show none deletes it.
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

/** What a message's buttons do: the keyboard's nonce and, per button, action, arguments, one-shot. */
interface StoredKeyboard {
  readonly n: string;
  readonly b: readonly (readonly [string, readonly string[], boolean])[];
}

export const KEYBOARD_TTL_SECONDS = 7 * 24 * 3600;
const EXPIRED = 'This button has expired. Send the command again for fresh buttons.';
const ALREADY_DONE = 'Already done: this button works once.';
/** How long a press waits for its keyboard's message id (sent, not yet bound). */
const BIND_WAIT_MS = 2_000;
const BIND_POLL_MS = 25;
const MAX_UNBOUND = 10_000;

export class Keyboards {
  readonly #kv: KeyValue;
  readonly #ttl: number;
  readonly #bindWaitMs: number;
  /** Keyboards whose message is being sent (by user and nonce): a press waits for their binding. */
  readonly #unbound = new Set<string>();

  constructor(kv: KeyValue, ttlSeconds = KEYBOARD_TTL_SECONDS, bindWaitMs = BIND_WAIT_MS) {
    this.#kv = kv;
    this.#ttl = ttlSeconds;
    this.#bindWaitMs = bindWaitMs;
  }

  /**
   * Stores a keyboard for `userId` in `chatId`. Pass the message id when editing a known message;
   * for a new message call `bind` with the sent message's id (buttons answer "expired" until then),
   * or `discard` when it was not sent.
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
    const stored = JSON.stringify({ n: nonce, b: flat } satisfies StoredKeyboard);
    const pending = `${userId}:${nonce}`;
    // A keyboard whose message is being sent is known only here until `bind` stores it under the
    // message's id: a press of it waits a little instead of answering "expired".
    if (messageId === null) this.#remember(pending);
    else await this.#kv.set(this.#key(userId, chatId, messageId), stored, this.#ttl);
    return {
      markup: { inline_keyboard: markup },
      bind: async (sentMessageId: number) => {
        try {
          await this.#kv.set(this.#key(userId, chatId, sentMessageId), stored, this.#ttl);
        } finally {
          this.#unbound.delete(pending);
        }
      },
      discard: () => void this.#unbound.delete(pending),
    };
  }

  /** What a pressed button means, or a BadInputError that changes nothing. */
  async resolve(userId: number, chatId: number | undefined, messageId: number | undefined, data: unknown): Promise<PressedButton> {
    const { args } = decodeCallback(data, { k: 2 });
    const [nonce = '', indexText = ''] = args;
    const index = Number(indexText);
    if (chatId === undefined || messageId === undefined) throw new BadInputError(EXPIRED);
    const pending = `${userId}:${nonce}`;
    const until = Date.now() + this.#bindWaitMs;
    while (this.#unbound.has(pending) && Date.now() < until) await new Promise((resolve) => setTimeout(resolve, BIND_POLL_MS));
    const raw = await this.#kv.get(this.#key(userId, chatId, messageId));
    const stored = raw === null ? null : (JSON.parse(raw) as StoredKeyboard);
    // The message shows another keyboard now, or none (it moved on, or this one was never its own).
    if (stored?.n !== nonce) {
      throw new BadInputError(nonce && (await this.#kv.get(this.#usedKey(userId, nonce, index))) !== null ? ALREADY_DONE : EXPIRED);
    }
    const button = Number.isInteger(index) ? stored.b[index] : undefined;
    if (!button) throw new BadInputError(EXPIRED);
    const [action, buttonArgs, once] = button;
    if (once && !(await this.#kv.claim(this.#usedKey(userId, nonce, index), this.#ttl))) throw new BadInputError(ALREADY_DONE);
    return { action, args: buttonArgs, nonce, index };
  }

  /** The message now shows no buttons (edited to a result): the ones it showed are retired. */
  async cleared(userId: number, chatId: number, messageId: number): Promise<void> {
    await this.#kv.delete(this.#key(userId, chatId, messageId));
  }

  #remember(pending: string): void {
    this.#unbound.add(pending);
    // A send that neither bound nor discarded its keyboard (a bug) must not grow this forever.
    if (this.#unbound.size > MAX_UNBOUND) this.#unbound.delete(this.#unbound.values().next().value as string);
  }

  /** The keyboard a message shows now, under the user it was shown to: only its buttons work. */
  #key(userId: number, chatId: number, messageId: number): string {
    return `kb:${userId}:${chatId}:${messageId}`;
  }

  /** A one-shot button that was pressed (per button: the other buttons of its keyboard are not "done"). */
  #usedKey(userId: number, nonce: string, index: number): string {
    return `used:${userId}:${nonce}:${index}`;
  }
}

export interface BoundKeyboard {
  readonly markup: InlineKeyboardMarkup;
  /** Stores the keyboard as shown on `messageId` (the sent message): its buttons work from now. */
  bind(messageId: number): Promise<void>;
  /** The message was not sent: forget the keyboard. */
  discard(): void;
}
