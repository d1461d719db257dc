import { withTimeout } from '../infra/with-timeout.ts';
import { chatOf } from './actions.ts';
import { traderMessage } from './boundary.ts';
import type { VantaContext } from './context.ts';
import { html, type Html } from './html.ts';
import { edit, send, type Rows } from './ui.ts';

export interface View {
  readonly body: Html;
  readonly rows?: Rows;
}

/**
 * How long a command's answer may take and still be sent as the answer itself. A reply within a
 * fifth of a second is an acknowledgement at once to a person; a slower read (the chain, a busy
 * engine) gets a "⏳ …" message first, edited to the answer when it comes. Half of all the calls
 * a busy bot made were those placeholders and their edits (bench/bot.bench.ts).
 */
export const ANSWER_WITHIN_MS = 200;

/**
 * Acknowledge at once, then answer: the answer itself when `work` is quick, otherwise a "⏳ …"
 * message sent at ANSWER_WITHIN_MS and edited to the result, or to the refusal, when it arrives.
 * Resolves with the id of the message that holds the answer.
 */
export async function answerAfterPending(ctx: VantaContext, pending: string, work: () => Promise<View>, withinMs = ANSWER_WITHIN_MS): Promise<number> {
  const chat = chatOf(ctx);
  const result = viewOrRefusal(ctx, work);
  const quick = await withTimeout(result, withinMs, () => null);
  if (quick) return (await send(chat, quick.body, quick.rows ?? [])).message_id;
  const message = await send(chat, html`⏳ ${pending}`);
  const view = await result;
  await edit(chat, message.message_id, view.body, view.rows ?? []);
  return message.message_id;
}

/** Replaces a message's content with the result of `work`, or with the refusal. */
export async function showIn(ctx: VantaContext, messageId: number, work: () => Promise<View>): Promise<void> {
  const view = await viewOrRefusal(ctx, work);
  await edit(chatOf(ctx), messageId, view.body, view.rows ?? []);
}

/** The view, or what the trader is told instead (a refusal as it is; anything else with a reference). */
async function viewOrRefusal(ctx: VantaContext, work: () => Promise<View>): Promise<View> {
  try {
    return await work();
  } catch (err) {
    return { body: traderMessage(ctx, err) };
  }
}
