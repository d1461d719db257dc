import { Composer } from 'grammy';
import { BadInputError } from '../../errors.ts';
import { chatOf, userIdOf, type ActionTable } from '../actions.ts';
import type { VantaContext } from '../context.ts';
import { b, html, lines } from '../html.ts';
import { answerAfterPending, showIn, type View } from '../pending.ts';
import { positionLine, positionsCard } from '../render.ts';

/** /positions: live PnL, liquidation distance, pending orders with what they wait for, and closing. */
export const positionCommands = new Composer<VantaContext>();

async function positionsView(ctx: VantaContext): Promise<View> {
  const positions = await ctx.vanta.desk.positions(userIdOf(ctx));
  const closable = positions.filter((p) => p.stage === 'open');
  return {
    body: positionsCard(positions),
    rows: [
      ...closable.map((p) => [{ text: `✖ Close ${p.side} ${p.pair} (${p.positionId})`, action: 'p.close', args: [p.positionId] }]),
      [{ text: '🔄 Refresh', action: 'p.refresh' }],
    ],
  };
}

positionCommands.command('positions', async (ctx) => {
  await answerAfterPending(ctx, 'Reading your positions…', () => positionsView(ctx));
});

async function findOwn(ctx: VantaContext, positionId: string) {
  const position = (await ctx.vanta.desk.positions(userIdOf(ctx))).find((p) => p.positionId === positionId);
  if (!position) throw new BadInputError('That position is not open any more. See /positions and /history.');
  return position;
}

export const positionActions: ActionTable = {
  'p.list': { run: async (ctx) => void (await answerAfterPending(ctx, 'Reading your positions…', () => positionsView(ctx))) },
  'p.refresh': { ack: 'Refreshing…', run: (ctx, _args, messageId) => showIn(ctx, messageId, () => positionsView(ctx)) },
  'p.close': {
    run: (ctx, [positionId = ''], messageId) =>
      showIn(ctx, messageId, async () => {
        const position = await findOwn(ctx, positionId);
        return {
          body: lines(b('Close this position?'), positionLine(position), html`It closes at the market price when the keeper fills the close.`),
          rows: [
            [
              { text: '✅ Yes, close it', action: 'p.closeYes', args: [positionId], once: true },
              { text: '↩️ Keep it', action: 'p.refresh' },
            ],
          ],
        };
      }),
  },
  'p.closeYes': {
    ack: 'Closing…',
    run: async (ctx, [positionId = ''], messageId) => {
      const chat = chatOf(ctx);
      await showIn(ctx, messageId, async () => {
        // The close's notices edit this message in place from now on, if this press starts it: a
        // refused one (already closing, finished) keeps its answer, and the progress stays where it is.
        if ((await findOwn(ctx, positionId)).stage === 'open') await ctx.vanta.cards.set(positionId, { chatId: chat.chatId, messageId });
        await ctx.vanta.desk.closePosition(userIdOf(ctx), positionId);
        return {
          body: lines(html`⏳ Closing ${b(positionId)}: the close is being sent to Avantis.`, html`This message updates when it is on chain and when the payout arrives.`),
          rows: [[{ text: '📋 Positions', action: 'p.list' }]],
        };
      });
    },
  },
};
