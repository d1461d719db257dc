import { GrammyError, type NextFunction } from 'grammy';
import { BadInputError, VantaError } from '../errors.ts';
import type { VantaContext } from './context.ts';
import { errorText } from './render.ts';
import { html, type Html } from './html.ts';
import { randomId } from './random.ts';

/**
 * The one error boundary. A refusal meant for the trader (BadInputError, or any VantaError that
 * is not internal) is shown as it is; anything else is logged with a correlation id and the
 * trader gets a friendly line with that id, never a stack trace or an internal message.
 */
export function correlationId(): string {
  return randomId(4, 'hex').toUpperCase();
}

const TRADER_FACING: ReadonlySet<string> = new Set(['BAD_INPUT', 'RISK_LIMIT', 'TRADING_PAUSED', 'PROTOCOL_UNVERIFIED', 'TRADE_GONE']);

export function isForTrader(err: unknown): err is VantaError {
  return err instanceof BadInputError || (err instanceof VantaError && TRADER_FACING.has(err.code));
}

export function traderMessage(ctx: VantaContext, err: unknown): Html {
  if (isForTrader(err)) return errorText(err.message);
  ctx.log.error({ err, correlation_id: ctx.correlationId }, 'A chat request failed');
  return html`⚠️ Something went wrong on our side. Nothing new was sent to the chain. Please try again; if it keeps happening, tell support the reference ${ctx.correlationId}.`;
}

/** Telegram's words for an answer that came too late (about 15 s after the press) or a second time. */
const LATE_ANSWER = /query is too old|query ID is invalid/;

/**
 * Answers a button press: its toast, and the end of the spinner. Telegram refuses an answer that
 * comes too late (a slow moment, a long queue) or twice (a retried call whose first try got
 * through). The press itself is genuine (bound to its user and message, one-shot), so what it
 * asked for still happens and its outcome is shown in the message: only the toast is lost.
 */
export async function answerPress(ctx: VantaContext, options: { text?: string; show_alert?: boolean } = {}): Promise<void> {
  ctx.acked = true;
  try {
    await ctx.answerCallbackQuery(options);
  } catch (err) {
    if (!(err instanceof GrammyError && err.error_code === 400 && LATE_ANSWER.test(err.description))) throw err;
    ctx.log.warn({ err, correlation_id: ctx.correlationId }, 'A button press was answered too late for Telegram; carrying on with what it asked for');
  }
}

export async function errorBoundary(ctx: VantaContext, next: NextFunction): Promise<void> {
  try {
    await next();
  } catch (err) {
    const text = traderMessage(ctx, err);
    try {
      if (ctx.callbackQuery && !ctx.acked) {
        ctx.acked = true;
        await ctx.answerCallbackQuery({ text: clipAnswer(plain(text)), show_alert: true });
      } else if (ctx.chat) {
        await ctx.reply(text.value, { parse_mode: 'HTML' });
      }
    } catch (replyErr) {
      ctx.log.warn({ err: replyErr, correlation_id: ctx.correlationId }, 'Could not tell the trader about an error');
    }
  }
}

/** A callback answer holds at most 200 characters. */
export function clipAnswer(text: string): string {
  const chars = [...text];
  return chars.length > 200 ? `${chars.slice(0, 199).join('')}…` : text;
}

/** The text of a message without markup (for a callback answer, which has no formatting). */
export function plain(text: Html): string {
  return text.value
    .replace(/<[^>]*>/g, '')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&amp;/g, '&');
}
