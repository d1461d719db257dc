import { BadInputError } from '../errors.ts';
import type { VantaContext } from './context.ts';
import type { Chat } from './ui.ts';

/** What a button does once it is resolved to its action (src/bot/keyboards.ts). */
export interface ButtonAction {
  /** Shown at once as the button's answer (a toast), before the work starts. */
  readonly ack?: string;
  run(ctx: VantaContext, args: readonly string[], messageId: number): Promise<void>;
}

export type ActionTable = Readonly<Record<string, ButtonAction>>;

/** The chat of the current update, as ui.ts sends and edits in it. */
export function chatOf(ctx: VantaContext): Chat {
  const chatId = ctx.chat?.id;
  const userId = ctx.from?.id;
  if (chatId === undefined || userId === undefined) throw new BadInputError('This works only in a chat with the bot.');
  return { api: ctx.api, chatId, userId, keyboards: ctx.vanta.keyboards };
}

export function userIdOf(ctx: VantaContext): number {
  const id = ctx.from?.id;
  if (id === undefined) throw new BadInputError('This works only in a chat with the bot.');
  return id;
}
