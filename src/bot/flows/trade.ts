import { Composer } from 'grammy';
import type { OrderDraft, Side } from '../../actors/desk.ts';
import { BadInputError } from '../../errors.ts';
import { chatOf, userIdOf, type ActionTable } from '../actions.ts';
import type { VantaContext } from '../context.ts';
import { b, html, lines } from '../html.ts';
import { parseLeverage, parseUsdc } from '../parse.ts';
import { answerAfterPending, showIn, type View } from '../pending.ts';
import { quoteCard } from '../render.ts';
import { edit, send } from '../ui.ts';

/**
 * Opening a position: the guided flow (pair → side → collateral → leverage → review → confirm)
 * on one message edited in place, and text orders (`long eth 100 10x`). The review's confirm
 * carries an order id chosen when the review was shown, so a double click, a replayed button
 * or a retried update is the same order; the engine never sends it twice.
 */
export const tradeCommands = new Composer<VantaContext>();

/** A review older than this is priced again before anything is sent. */
export const REVIEW_VALID_SECONDS = 120;
const COLLATERAL_CHOICES = ['10', '25', '50', '100', '250'];
const LEVERAGE_CHOICES = [2, 5, 10, 25, 50, 100];

async function pairStep(ctx: VantaContext): Promise<View> {
  // Someone without an account is told at the first step, not after picking a pair, a side and an amount.
  await ctx.vanta.desk.settings(userIdOf(ctx));
  const markets = (await ctx.vanta.desk.markets()).filter((m) => !m.halted);
  if (markets.length === 0) return { body: html`No market can be traded right now (every price feed is halted or paused). Try /status.` };
  const buttons = markets.map((m) => ({ text: m.pair, action: 't.pair', args: [m.pair] }));
  const rows = [];
  for (let i = 0; i < buttons.length; i += 3) rows.push(buttons.slice(i, i + 3));
  rows.push([{ text: '✖ Cancel', action: 't.cancel' }]);
  return { body: lines(b('New position'), html`Pick a market:`), rows };
}

tradeCommands.command('trade', async (ctx) => {
  ctx.session.awaiting = null;
  const messageId = await answerAfterPending(ctx, 'Reading the markets…', () => pairStep(ctx));
  ctx.session.wizard = { messageId };
});

function sideStep(pair: string): View {
  return {
    body: lines(b(`New position: ${pair}`), html`Long (you gain when the price rises) or short (you gain when it falls)?`),
    rows: [
      [
        { text: '🟢 Long', action: 't.side', args: [pair, 'long'] },
        { text: '🔴 Short', action: 't.side', args: [pair, 'short'] },
      ],
      [{ text: '✖ Cancel', action: 't.cancel' }],
    ],
  };
}

function collateralStep(pair: string, side: Side): View {
  return {
    body: lines(b(`New position: ${side} ${pair}`), html`How much USDC collateral? Pick one or type an amount.`),
    rows: [COLLATERAL_CHOICES.map((c) => ({ text: `${c} USDC`, action: 't.col', args: [pair, side, c] })), [{ text: '✖ Cancel', action: 't.cancel' }]],
  };
}

async function leverageStep(ctx: VantaContext, pair: string, side: Side, collateral: string): Promise<View> {
  const market = (await ctx.vanta.desk.markets()).find((m) => m.pair === pair);
  if (!market) throw new BadInputError(`${pair} is not listed any more. Start again with /trade.`);
  const { defaultLeverage } = await ctx.vanta.desk.settings(userIdOf(ctx));
  // Only what the desk would accept: the pair's bounds and this engine's risk limit.
  const max = market.usableMaxLeverage;
  const choices = [...new Set([defaultLeverage, ...LEVERAGE_CHOICES, max])].filter((l) => l >= market.minLeverage && l <= max).sort((x, y) => x - y);
  return {
    body: lines(b(`New position: ${side} ${pair}, ${collateral} USDC`), html`Which leverage (${market.minLeverage}–${max}x)? Pick one or type it.`),
    rows: [(choices.length > 6 ? [...choices.slice(0, 5), max] : choices).map((l) => ({ text: `${l}x`, action: 't.lev', args: [pair, side, collateral, String(l)] })), [{ text: '✖ Cancel', action: 't.cancel' }]],
  };
}

/** The review with its confirm button (bound to a fresh order id and the time it was priced). */
async function reviewStep(ctx: VantaContext, draft: OrderDraft): Promise<View> {
  const quote = await ctx.vanta.desk.quote(userIdOf(ctx), draft);
  const orderId = ctx.vanta.newOrderId();
  const priced = String(ctx.vanta.now());
  const args = [orderId, quote.pair, quote.side, quote.collateral, String(quote.leverage), priced];
  return {
    body: quoteCard(quote, REVIEW_VALID_SECONDS),
    rows: [
      [
        // Not one-shot: the order id makes a second press the same order (the desk answers it
        // without sending anything), and a trader whose first press was lost in a crash can press again.
        { text: '✅ Confirm', action: 't.confirm', args },
        { text: '✖ Cancel', action: 't.cancel' },
      ],
    ],
  };
}

/** Text orders: reviewed first when the trader's settings ask for it, sent at once otherwise. */
export async function textOrder(ctx: VantaContext, draft: OrderDraft): Promise<void> {
  ctx.session.wizard = null;
  const { confirmOrders } = await ctx.vanta.desk.settings(userIdOf(ctx));
  if (confirmOrders) {
    await answerAfterPending(ctx, 'Pricing your order…', () => reviewStep(ctx, draft));
    return;
  }
  const message = await send(chatOf(ctx), html`⏳ Checking your order…`);
  await place(ctx, message.message_id, ctx.vanta.newOrderId(), draft, false);
}

/** Typed collateral or leverage during the guided flow. */
export async function typedWizardValue(ctx: VantaContext, kind: 'collateral' | 'leverage', text: string): Promise<void> {
  const wizard = ctx.session.wizard;
  if (!wizard?.pair || !wizard.side) throw new BadInputError('That order flow has ended. Start again with /trade.');
  const { pair, side } = wizard;
  if (kind === 'collateral') {
    const collateral = parseUsdc(text);
    ctx.session.wizard = { ...wizard, collateral };
    ctx.session.awaiting = { kind: 'leverage' };
    await showIn(ctx, wizard.messageId, () => leverageStep(ctx, pair, side, collateral));
    return;
  }
  if (!wizard.collateral) throw new BadInputError('Pick the collateral first.');
  const draft: OrderDraft = { pair, side, collateral: wizard.collateral, leverage: parseLeverage(text) };
  // A leverage the desk refuses (the pair's bounds, the limits) is answered like a typo: the step
  // stays on screen and waits for another value.
  const review = await reviewStep(ctx, draft);
  ctx.session.awaiting = null;
  await edit(chatOf(ctx), wizard.messageId, review.body, review.rows);
}

/**
 * Sends the order to the engine from a message that then shows its progress: the message is
 * registered as the order's card first, so every notice about it edits it in place. `repeat`: this
 * order id already has its card (a confirm pressed again), known to the caller.
 */
async function place(ctx: VantaContext, messageId: number, orderId: string, draft: OrderDraft, repeat: boolean): Promise<void> {
  const chat = chatOf(ctx);
  if (repeat) {
    // A repeat of this confirm (a double click, a retry after a crash): make sure the order is
    // placed (the same id is never placed twice) and leave the card to its notices, which may
    // already show a later state than "accepted".
    await ctx.vanta.desk.placeOrder(userIdOf(ctx), orderId, draft);
    return;
  }
  await ctx.vanta.cards.set(orderId, { chatId: chat.chatId, messageId });
  await showIn(ctx, messageId, async () => {
    const { positionId } = await ctx.vanta.desk.placeOrder(userIdOf(ctx), orderId, draft);
    return {
      body: lines(
        html`⏳ ${b(`${draft.side === 'long' ? 'Long' : 'Short'} ${draft.pair}`)} ${draft.collateral} USDC at ${draft.leverage}x: order accepted.`,
        html`Signing and sending it to Avantis; this message updates when it is on chain and when it fills.`,
        html`Order id: ${positionId}`,
      ),
      rows: [[{ text: '📋 Positions', action: 'p.list' }]],
    };
  });
}

function sideOf(value: string | undefined): Side {
  if (value !== 'long' && value !== 'short') throw new BadInputError('This button is not valid any more. Start again with /trade.');
  return value;
}

export const tradeActions: ActionTable = {
  't.start': {
    run: async (ctx) => {
      ctx.session.awaiting = null;
      const messageId = await answerAfterPending(ctx, 'Reading the markets…', () => pairStep(ctx));
      ctx.session.wizard = { messageId };
    },
  },
  't.pair': {
    run: async (ctx, [pair = ''], messageId) => {
      ctx.session.wizard = { messageId, pair };
      ctx.session.awaiting = null;
      await showIn(ctx, messageId, () => Promise.resolve(sideStep(pair)));
    },
  },
  't.side': {
    run: async (ctx, [pair = '', side], messageId) => {
      const s = sideOf(side);
      ctx.session.wizard = { messageId, pair, side: s };
      ctx.session.awaiting = { kind: 'collateral' };
      await showIn(ctx, messageId, () => Promise.resolve(collateralStep(pair, s)));
    },
  },
  't.col': {
    run: async (ctx, [pair = '', side, collateral = ''], messageId) => {
      const s = sideOf(side);
      ctx.session.wizard = { messageId, pair, side: s, collateral };
      ctx.session.awaiting = { kind: 'leverage' };
      await showIn(ctx, messageId, () => leverageStep(ctx, pair, s, collateral));
    },
  },
  't.lev': {
    ack: 'Pricing…',
    run: async (ctx, [pair = '', side, collateral = '', leverage = ''], messageId) => {
      ctx.session.awaiting = null;
      await showIn(ctx, messageId, () => reviewStep(ctx, { pair, side: sideOf(side), collateral, leverage: Number(leverage) }));
    },
  },
  't.confirm': {
    ack: 'Sending…',
    run: async (ctx, [orderId = '', pair = '', side, collateral = '', leverage = '', priced = '0'], messageId) => {
      ctx.session.wizard = null;
      ctx.session.awaiting = null;
      const draft: OrderDraft = { pair, side: sideOf(side), collateral, leverage: Number(leverage) };
      // An expired review is priced again, unless this confirm already went out (a repeat).
      const repeat = (await ctx.vanta.cards.get(orderId)) !== null;
      if (!repeat && ctx.vanta.now() - Number(priced) > REVIEW_VALID_SECONDS * 1000) {
        await edit(chatOf(ctx), messageId, html`⌛ That review expired, so nothing was sent. Here is a fresh one:`);
        await answerAfterPending(ctx, 'Pricing your order again…', () => reviewStep(ctx, draft));
        return;
      }
      await place(ctx, messageId, orderId, draft, repeat);
    },
  },
  't.cancel': {
    ack: 'Canceled',
    run: async (ctx, _args, messageId) => {
      ctx.session.wizard = null;
      ctx.session.awaiting = null;
      await edit(chatOf(ctx), messageId, html`✖ Canceled. Nothing was sent.`);
    },
  },
};
