import type { Awaiting, VantaContext } from '../context.ts';
import { BadInputError } from '../../errors.ts';
import { chatOf, userIdOf, type ActionTable } from '../actions.ts';
import { traderMessage } from '../boundary.ts';
import { html } from '../html.ts';
import { showIn, type View } from '../pending.ts';
import { withdrawAddPrompt, withdrawAddedCard, withdrawAmountCard, withdrawDestinationCard, withdrawPendingCard, withdrawReviewCard } from '../render.ts';
import { edit, send, type Rows } from '../ui.ts';

/**
 * Withdrawing USDC from /wallet, on one message edited in place: amount (buttons or typed) →
 * destination (typed; in live picked from the allowlist, or added to it) → a review that says
 * it cannot be undone → a one-shot confirm → the same message as the withdrawal's card, which
 * its notices edit (sent → done with the transaction, or failed with the reason).
 *
 * Every value is checked by the desk at each step (with the numbers) and again on confirm. The
 * confirm carries a request id chosen when the review was shown: a double click, a replayed
 * button or a retried update is the same withdrawal, which the engine never sends twice.
 */

/** A review older than this is not sent: balances and allowlists move. */
export const WITHDRAW_REVIEW_VALID_SECONDS = 600;
const AMOUNT_CHOICES = ['10', '25', '50', '100'];
const CANCEL = { text: '✖ Cancel', action: 'wd.cancel' } as const;

/** The withdrawal cards' key among the bot's cards (positions use their bare id). */
export const withdrawalCardKey = (withdrawalId: string): string => `w:${withdrawalId}`;

async function amountStep(ctx: VantaContext, messageId: number): Promise<View> {
  const trader = userIdOf(ctx);
  const rules = await ctx.vanta.desk.allowlist(trader);
  if (rules.refusal) return { body: html`⛔ ${rules.refusal}` };
  const wallet = await ctx.vanta.desk.wallet(trader);
  if (!wallet) return { body: html`You have no wallet yet. Send /start to create one.` };
  const balance = Number(wallet.usdc);
  if (!(balance > 0)) return { body: html`Your wallet holds no USDC, so there is nothing to withdraw.` };
  ctx.session.awaiting = { kind: 'withdraw-amount', messageId };
  const picks = AMOUNT_CHOICES.filter((a) => Number(a) < balance).map((a) => ({ text: `${a} USDC`, action: 'wd.amt', args: [a] }));
  return {
    body: withdrawAmountCard(wallet.usdc, rules.network),
    rows: [...(picks.length ? [picks] : []), [{ text: `All: ${wallet.usdc} USDC`, action: 'wd.amt', args: [wallet.usdc] }], [CANCEL]],
  };
}

async function destinationStep(ctx: VantaContext, messageId: number, amount: string): Promise<View> {
  const trader = userIdOf(ctx);
  // The amount first: a refusal says so with the numbers before any address is asked for.
  const checked = await ctx.vanta.desk.reviewWithdrawal(trader, { amount, to: null });
  const rules = await ctx.vanta.desk.allowlist(trader);
  ctx.session.awaiting = { kind: 'withdraw-to', messageId, amount: checked.amount };
  const rows: Rows = rules.required
    ? [
        ...rules.addresses.filter((a) => a.usable).map((a) => [{ text: `➡️ ${a.address}`, action: 'wd.to', args: [checked.amount, a.address] }]),
        [{ text: '➕ Add an address', action: 'wd.add', args: [checked.amount] }],
        [CANCEL],
      ]
    : [[CANCEL]];
  return { body: withdrawDestinationCard(checked.amount, checked.network, rules, ctx.vanta.mode), rows };
}

async function reviewStep(ctx: VantaContext, amount: string, to: string): Promise<View> {
  const review = await ctx.vanta.desk.reviewWithdrawal(userIdOf(ctx), { amount, to });
  if (review.to === null) throw new BadInputError('Give the address to send the USDC to.');
  ctx.session.awaiting = null;
  const requestId = ctx.vanta.newOrderId();
  return {
    body: withdrawReviewCard({ ...review, to: review.to }),
    rows: [[{ text: '✅ Confirm', action: 'wd.confirm', args: [requestId, review.to, review.amount, String(Date.now())], once: true }, CANCEL]],
  };
}

async function addPromptStep(ctx: VantaContext, messageId: number, amount: string): Promise<View> {
  const rules = await ctx.vanta.desk.allowlist(userIdOf(ctx));
  ctx.session.awaiting = { kind: 'withdraw-add', messageId, amount };
  return { body: withdrawAddPrompt(rules), rows: [[{ text: '⬅️ Back', action: 'wd.amt', args: [amount] }, CANCEL]] };
}

async function addedStep(ctx: VantaContext, amount: string, address: string): Promise<View> {
  const added = await ctx.vanta.desk.addWithdrawAddress(userIdOf(ctx), address);
  ctx.session.awaiting = null;
  return { body: withdrawAddedCard(added), rows: [[{ text: '⬅️ Back to the destinations', action: 'wd.amt', args: [amount] }, CANCEL]] };
}

/**
 * A typed value while the withdrawal flow waits for one. A refused value is answered (by the
 * error boundary) and the step keeps waiting, so a typo can be typed again.
 */
export async function typedWithdrawalValue(ctx: VantaContext, awaiting: Extract<Awaiting, { kind: `withdraw-${string}` }>, text: string): Promise<void> {
  // Checked before anything is shown: a refusal leaves the step where it was.
  switch (awaiting.kind) {
    case 'withdraw-amount': {
      const view = await destinationStep(ctx, awaiting.messageId, text);
      await showIn(ctx, awaiting.messageId, () => Promise.resolve(view));
      return;
    }
    case 'withdraw-to': {
      const view = await reviewStep(ctx, awaiting.amount, text);
      await showIn(ctx, awaiting.messageId, () => Promise.resolve(view));
      return;
    }
    case 'withdraw-add': {
      const view = await addedStep(ctx, awaiting.amount, text);
      await showIn(ctx, awaiting.messageId, () => Promise.resolve(view));
      return;
    }
  }
}

export const withdrawActions: ActionTable = {
  'wd.start': {
    run: async (ctx) => {
      ctx.session.awaiting = null;
      ctx.session.wizard = null;
      const message = await send(chatOf(ctx), html`⏳ Reading your wallet…`);
      await showIn(ctx, message.message_id, () => amountStep(ctx, message.message_id));
    },
  },
  'wd.amt': { run: (ctx, [amount = ''], messageId) => showIn(ctx, messageId, () => destinationStep(ctx, messageId, amount)) },
  'wd.to': { run: (ctx, [amount = '', to = ''], messageId) => showIn(ctx, messageId, () => reviewStep(ctx, amount, to)) },
  'wd.add': { run: (ctx, [amount = ''], messageId) => showIn(ctx, messageId, () => addPromptStep(ctx, messageId, amount)) },
  'wd.confirm': {
    ack: 'Sending…',
    run: async (ctx, [requestId = '', to = '', amount = '', shownAt = '0'], messageId) => {
      ctx.session.awaiting = null;
      const chat = chatOf(ctx);
      if (Date.now() - Number(shownAt) > WITHDRAW_REVIEW_VALID_SECONDS * 1000) {
        await edit(chat, messageId, html`⌛ That review expired, so nothing was sent. Start again from /wallet.`);
        return;
      }
      // This message becomes the withdrawal's card, showing "sending" before the engine has it:
      // its notices (sent, done, failed) then edit it in place, and none is overwritten by this.
      await ctx.vanta.cards.set(withdrawalCardKey(requestId), { chatId: chat.chatId, messageId });
      await edit(chat, messageId, withdrawPendingCard(amount, to, requestId));
      try {
        await ctx.vanta.desk.withdraw(userIdOf(ctx), requestId, to, amount);
      } catch (err) {
        await edit(chat, messageId, traderMessage(ctx, err));
      }
    },
  },
  'wd.cancel': {
    ack: 'Canceled',
    run: async (ctx, _args, messageId) => {
      ctx.session.awaiting = null;
      await edit(chatOf(ctx), messageId, html`✖ Withdrawal canceled. Nothing was sent.`);
    },
  },
};
