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
 * Acknowledge at once, then answer in place: a "⏳ …" message goes out before any slow read
 * (the chain, the engine) and is edited to the result, or to the refusal, when it arrives.
 */
export async function answerAfterPending(ctx: VantaContext, pending: string, work: () => Promise<View>): Promise<number> {
  const chat = chatOf(ctx);
  const message = await send(chat, html`⏳ ${pending}`);
  await showIn(ctx, message.message_id, work);
  return message.message_id;
}

/** Replaces a message's content with the result of `work`, or with the refusal. */
export async function showIn(ctx: VantaContext, messageId: number, work: () => Promise<View>): Promise<void> {
  const chat = chatOf(ctx);
  let view: View;
  try {
    view = await work();
  } catch (err) {
    await edit(chat, messageId, traderMessage(ctx, err));
    return;
  }
  await edit(chat, messageId, view.body, view.rows ?? []);
}
