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

/** A decimal USDC string the desk gave us, in millionths (for choosing buttons only; never a float). */
function micro(decimal: string): bigint {
  const [whole = '0', fraction = ''] = decimal.split('.');
  return /^\d+$/.test(whole) && /^\d*$/.test(fraction) ? BigInt(whole) * 1_000_000n + BigInt(fraction.slice(0, 6).padEnd(6, '0')) : 0n;
}

/** What the flow waits for after a step, bound to the step's message once it is known. */
type Next = ((messageId: number) => Awaiting) | null;
interface Step extends View {
  readonly next: Next;
}

async function amountStep(ctx: VantaContext): Promise<Step> {
  const trader = userIdOf(ctx);
  const rules = await ctx.vanta.desk.allowlist(trader);
  if (rules.refusal) return { body: html`⛔ ${rules.refusal}`, next: null };
  const wallet = await ctx.vanta.desk.wallet(trader);
  if (!wallet) return { body: html`You have no wallet yet. Send /start to create one.`, next: null };
  const balance = micro(wallet.usdc);
  if (balance <= 0n) return { body: html`Your wallet holds no USDC, so there is nothing to withdraw.`, next: null };
  const picks = AMOUNT_CHOICES.filter((a) => micro(a) < balance).map((a) => ({ text: `${a} USDC`, action: 'wd.amt', args: [a] }));
  return {
    body: withdrawAmountCard(wallet.usdc, rules.network),
    rows: [...(picks.length ? [picks] : []), [{ text: `All: ${wallet.usdc} USDC`, action: 'wd.amt', args: [wallet.usdc] }], [CANCEL]],
    next: (messageId) => ({ kind: 'withdraw-amount', messageId }),
  };
}

async function destinationStep(ctx: VantaContext, amount: string): Promise<Step> {
  const trader = userIdOf(ctx);
  // The amount first: a refusal says so with the numbers before any address is asked for.
  const checked = await ctx.vanta.desk.reviewWithdrawal(trader, { amount, to: null });
  const rules = await ctx.vanta.desk.allowlist(trader);
  const rows: Rows = rules.required
    ? [
        ...rules.addresses.filter((a) => a.usable).map((a) => [{ text: `➡️ ${a.address}`, action: 'wd.to', args: [checked.amount, a.address] }]),
        [
          { text: '➕ Add an address', action: 'wd.add', args: [checked.amount] },
          { text: '🔄 Refresh', action: 'wd.amt', args: [checked.amount] },
        ],
        [CANCEL],
      ]
    : [[CANCEL]];
  return {
    body: withdrawDestinationCard(checked.amount, checked.network, rules, ctx.vanta.mode),
    rows,
    next: (messageId) => ({ kind: 'withdraw-to', messageId, amount: checked.amount }),
  };
}

async function reviewStep(ctx: VantaContext, amount: string, to: string): Promise<Step> {
  const review = await ctx.vanta.desk.reviewWithdrawal(userIdOf(ctx), { amount, to });
  if (review.to === null) throw new BadInputError('Give the address to send the USDC to.');
  const requestId = ctx.vanta.newOrderId();
  return {
    body: withdrawReviewCard({ ...review, to: review.to }),
    rows: [[{ text: '✅ Confirm', action: 'wd.confirm', args: [requestId, review.to, review.amount, String(ctx.vanta.now())], once: true }, CANCEL]],
    next: null,
  };
}

async function addPromptStep(ctx: VantaContext, amount: string): Promise<Step> {
  const rules = await ctx.vanta.desk.allowlist(userIdOf(ctx));
  return {
    body: withdrawAddPrompt(rules),
    rows: [[{ text: '⬅️ Back', action: 'wd.amt', args: [amount] }, CANCEL]],
    next: (messageId) => ({ kind: 'withdraw-add', messageId, amount }),
  };
}

async function addedStep(ctx: VantaContext, amount: string, address: string): Promise<Step> {
  const added = await ctx.vanta.desk.addWithdrawAddress(userIdOf(ctx), address);
  return { body: withdrawAddedCard(added), rows: [[{ text: '⬅️ Back to the destinations', action: 'wd.amt', args: [amount] }, CANCEL]], next: null };
}

/** A button's step: the flow's message is edited in place, to the next step or to the refusal. */
async function stepIn(ctx: VantaContext, messageId: number, step: () => Promise<Step>): Promise<void> {
  await showIn(ctx, messageId, async () => {
    const next = await step();
    ctx.session.awaiting = next.next?.(messageId) ?? null;
    return next;
  });
}

/**
 * A typed value while the flow waits for one. The next step comes as a new message right under
 * what the trader typed (the flow's earlier message may be far up by now), and the earlier one
 * keeps its text without buttons. A refused value is answered by the error boundary and the step
 * keeps waiting, so a typo can simply be typed again.
 */
export async function typedWithdrawalValue(ctx: VantaContext, awaiting: Extract<Awaiting, { kind: `withdraw-${string}` }>, text: string): Promise<void> {
  const step =
    awaiting.kind === 'withdraw-amount'
      ? await destinationStep(ctx, text)
      : awaiting.kind === 'withdraw-to'
        ? await reviewStep(ctx, awaiting.amount, text)
        : await addedStep(ctx, awaiting.amount, text);
  const chat = chatOf(ctx);
  const sent = await send(chat, step.body, step.rows ?? []);
  ctx.session.awaiting = step.next?.(sent.message_id) ?? null;
  await chat.api.editMessageReplyMarkup(chat.chatId, awaiting.messageId, { reply_markup: { inline_keyboard: [] } }).catch(() => {
    // Already without buttons, or gone: nothing to retire.
  });
}

export const withdrawActions: ActionTable = {
  'wd.start': {
    run: async (ctx) => {
      ctx.session.awaiting = null;
      ctx.session.wizard = null;
      const message = await send(chatOf(ctx), html`⏳ Reading your wallet…`);
      await stepIn(ctx, message.message_id, () => amountStep(ctx));
    },
  },
  'wd.amt': { run: (ctx, [amount = ''], messageId) => stepIn(ctx, messageId, () => destinationStep(ctx, amount)) },
  'wd.to': { run: (ctx, [amount = '', to = ''], messageId) => stepIn(ctx, messageId, () => reviewStep(ctx, amount, to)) },
  'wd.add': { run: (ctx, [amount = ''], messageId) => stepIn(ctx, messageId, () => addPromptStep(ctx, amount)) },
  'wd.confirm': {
    ack: 'Sending…',
    run: async (ctx, [requestId = '', to = '', amount = '', shownAt = '0'], messageId) => {
      ctx.session.awaiting = null;
      const chat = chatOf(ctx);
      if (ctx.vanta.now() - Number(shownAt) > WITHDRAW_REVIEW_VALID_SECONDS * 1000) {
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
