import { Composer } from 'grammy';
import type { DelegationDesk, DelegationView } from '../../actors/desk.ts';
import { withTimeout } from '../../infra/with-timeout.ts';
import { chatOf, userIdOf, type ActionTable } from '../actions.ts';
import { traderMessage } from '../boundary.ts';
import type { VantaContext } from '../context.ts';
import { b, code, html, lines, type Html } from '../html.ts';
import { answerAfterPending, showIn, type View } from '../pending.ts';
import { edit, type Rows } from '../ui.ts';

/**
 * /connect and /disconnect: Vanta's trading key (a delegate) on Avantis v2, explained and managed
 * through the DelegationDesk (src/actors/delegation-desk.ts). On v1 and in paper mode there is no
 * such key and both commands say so.
 *
 * - /connect: what the key can and cannot do, its state, and for the Vanta wallet a one-shot
 *   "Register now". `/connect 0x…` gives a signing page for the trader's own wallet.
 * - /disconnect: a confirmation, then `removeDelegate` sent from the Vanta wallet through the
 *   outbox (the confirm carries a request id: a double click or a replay is one transaction).
 *   `/disconnect 0x…` shows the exact call for the trader's own wallet to send.
 */
export const delegationCommands = new Composer<VantaContext>();

/** A revocation confirmation older than this is not sent. */
export const REVOKE_CONFIRM_VALID_SECONDS = 600;

export const KEY_RULES: Html = lines(
  b('What Vanta’s trading key can do'),
  '✅ open, close and increase positions for you',
  '✅ add or remove margin, set and change take-profit and stop-loss',
  b('What it can never do'),
  '⛔ withdraw anything from your wallet',
  '⛔ approve USDC spending',
  '⛔ add or remove keys',
  html`The Avantis contracts enforce this, not Vanta: even a full breach of Vanta could not move your funds with this key. Collateral always comes from your wallet and every payout goes back to it.`,
);

function notNeeded(ctx: VantaContext): Html {
  return ctx.vanta.mode === 'paper'
    ? html`Paper mode sends nothing to the chain, so there is no trading key to connect or disconnect. Nothing to do.`
    : html`This Vanta engine trades on Avantis v1, where orders are sent from your Vanta wallet itself: there is no separate trading key to connect or disconnect. Nothing to do.`;
}

const when = (iso: string | null): string => (iso === null ? '?' : `${iso.replace('T', ' ').slice(0, 16)} UTC`);

/** One line about the key, for /connect and /wallet. */
export function keyLine(v: DelegationView): Html {
  switch (v.state) {
    case 'active':
      return html`🔑 Trading key: ${b('active')} until ${when(v.expiresAt)}${v.renewSoon ? ' (renewed before your next order)' : ''}`;
    case 'pending':
      return html`🔑 Trading key: ⏳ being registered`;
    case 'expired':
      return html`🔑 Trading key: ${b('expired')} on ${when(v.expiresAt)}. Send /connect to renew it.`;
    case 'missing':
      return html`🔑 Trading key: ${b('not registered')}. Send /connect to enable trading.`;
  }
}

function argOf(ctx: VantaContext): string {
  const match = ctx.match;
  return (typeof match === 'string' ? match : '').trim();
}

const OWN_WALLET_HINT = html`Trading from your own wallet (MetaMask, Rabby, a hardware wallet)? Send ${code('/connect 0xYourAddress')} for a page where your wallet signs the key's registration.`;

async function connectView(d: DelegationDesk, ctx: VantaContext, headline: Html | null = null): Promise<View> {
  const v = await d.status(userIdOf(ctx));
  const refresh = { text: '🔄 Refresh', action: 'dg.show' };
  if (v.trader === null) return { body: lines(b('Trading key'), v.message, '', KEY_RULES, '', OWN_WALLET_HINT) };
  const needsRegistration = v.state === 'missing' || v.state === 'expired' || (v.state === 'active' && v.renewSoon);
  const rows: Rows = needsRegistration ? [[{ text: '✅ Register now', action: 'dg.reg', once: true }], [refresh]] : [[refresh]];
  return {
    body: lines(
      headline,
      b('Vanta’s trading key for your Vanta wallet'),
      html`Wallet: ${code(v.trader)}`,
      v.delegate ? html`Key: ${code(v.delegate)}` : null,
      keyLine(v),
      v.state === 'active' ? null : v.message,
      '',
      KEY_RULES,
      '',
      needsRegistration ? html`Tap ${b('Register now')}: your Vanta wallet signs the registration; no funds move and no gas is paid.` : html`Send /disconnect to revoke it.`,
      OWN_WALLET_HINT,
    ),
    rows,
  };
}

async function ownWalletView(d: DelegationDesk, ctx: VantaContext, address: string): Promise<View> {
  const link = await d.connectLink(userIdOf(ctx), address);
  return {
    body: lines(
      b('Connect your own wallet'),
      html`Wallet: ${code(link.trader)}`,
      html`Vanta’s trading key: ${code(link.delegate)}, valid until ${when(link.delegateExpiresAt)} once registered`,
      '',
      KEY_RULES,
      '',
      html`Open this page where your wallet is (a browser with your wallet extension, or your wallet app’s browser): <a href="${link.url}">${link.url}</a>`,
      html`It shows exactly what you sign, then asks your wallet to sign it (or takes a signature you paste). Your key never leaves your wallet and no funds move. The link works once, until ${when(link.linkExpiresAt)}.`,
      html`${b('Not yet available')}: Vanta still trades from your Vanta wallet; orders from your own wallet through this key come later.`,
    ),
  };
}

async function disconnectView(d: DelegationDesk, ctx: VantaContext): Promise<View> {
  const v = await d.status(userIdOf(ctx));
  if (v.trader === null) return { body: lines(html`You have no Vanta wallet, so Vanta holds no trading key for one.`, html`Connected your own wallet? Send ${code('/disconnect 0xYourAddress')} for the exact call to revoke it.`) };
  if (v.state === 'missing') {
    return { body: lines(html`Nothing to disconnect: Vanta’s trading key is not registered for your Vanta wallet, so Vanta cannot trade for it.`, html`For your own wallet send ${code('/disconnect 0xYourAddress')}.`) };
  }
  if (v.state === 'pending') return { body: html`Vanta is still registering its trading key for your wallet. Wait a minute, then send /disconnect again.` };
  const requestId = ctx.vanta.newOrderId();
  return {
    body: lines(
      b('Revoke Vanta’s trading key?'),
      html`Wallet: ${code(v.trader)}`,
      v.delegate ? html`Key: ${code(v.delegate)}` : null,
      keyLine(v),
      '',
      html`Your Vanta wallet sends one transaction, ${code('removeDelegate')}, to Avantis (it pays a little ETH for gas). From then on this key cannot open, close or change positions for you.`,
      html`Your open positions stay open with their take-profit and stop-loss, and your funds stay in your wallet.`,
      html`Placing a new order later registers the key again.`,
    ),
    rows: [[{ text: '✅ Yes, revoke', action: 'dg.revoke', args: [requestId, String(ctx.vanta.now())], once: true }, { text: '✖ Cancel', action: 'dg.cancel' }]],
  };
}

async function ownRevocationView(d: DelegationDesk, ctx: VantaContext, address: string): Promise<View> {
  const call = await d.revocationCall(userIdOf(ctx), address);
  if (call === null) return { body: html`Vanta never made a trading key for you, so there is nothing to revoke.` };
  return {
    body: lines(
      b('Revoke Vanta’s key from your own wallet'),
      html`Only your wallet can send this; Vanta cannot send it for you. Send this transaction from ${code(call.from)}:`,
      html`To: ${code(call.to)} (the Avantis TradingRouter)`,
      html`Value: 0`,
      html`Chain id: ${call.chainId}`,
      html`Data: ${code(call.data)}`,
      '',
      html`In words: ${code(`removeDelegate(${call.delegate})`)}. In a wallet, use a send with custom data; on a block explorer, the contract’s Write tab with ${code('removeDelegate')} and the key address. Send /connect ${call.from} afterwards to check it is gone.`,
    ),
  };
}

delegationCommands.command('connect', async (ctx) => {
  const d = ctx.vanta.delegation;
  if (d === null) return void (await ctx.reply(notNeeded(ctx).value, { parse_mode: 'HTML' }));
  const arg = argOf(ctx);
  if (arg === '') return void (await answerAfterPending(ctx, 'Checking your trading key…', () => connectView(d, ctx)));
  await answerAfterPending(ctx, 'Preparing your signing page…', () => ownWalletView(d, ctx, arg));
});

delegationCommands.command('disconnect', async (ctx) => {
  const d = ctx.vanta.delegation;
  if (d === null) return void (await ctx.reply(notNeeded(ctx).value, { parse_mode: 'HTML' }));
  const arg = argOf(ctx);
  if (arg === '') return void (await answerAfterPending(ctx, 'Checking your trading key…', () => disconnectView(d, ctx)));
  await answerAfterPending(ctx, 'Preparing the call…', () => ownRevocationView(d, ctx, arg));
});

/** The desk, or the plain answer that there is none (a button kept from another deployment). */
function deskOr(ctx: VantaContext): DelegationDesk | null {
  return ctx.vanta.delegation;
}

export const delegationActions: ActionTable = {
  'dg.show': {
    run: async (ctx, _args, messageId) => {
      const d = deskOr(ctx);
      await showIn(ctx, messageId, async () => (d ? connectView(d, ctx) : { body: notNeeded(ctx) }));
    },
  },
  'dg.reg': {
    ack: 'Registering…',
    run: async (ctx, _args, messageId) => {
      const d = deskOr(ctx);
      const chat = chatOf(ctx);
      if (!d) return edit(chat, messageId, notNeeded(ctx));
      await edit(chat, messageId, html`⏳ Registering Vanta’s trading key for your wallet… This takes up to a minute.`);
      try {
        await d.register(userIdOf(ctx));
      } catch (err) {
        await edit(chat, messageId, lines(traderMessage(ctx, err)), [[{ text: '🔁 Try again', action: 'dg.reg', once: true }]]);
        return;
      }
      await showIn(ctx, messageId, () => connectView(d, ctx, html`✅ Registered.`));
    },
  },
  'dg.revoke': {
    ack: 'Revoking…',
    run: async (ctx, [requestId = '', shownAt = '0'], messageId) => {
      const d = deskOr(ctx);
      const chat = chatOf(ctx);
      if (!d) return edit(chat, messageId, notNeeded(ctx));
      if (ctx.vanta.now() - Number(shownAt) > REVOKE_CONFIRM_VALID_SECONDS * 1000) {
        await edit(chat, messageId, html`⌛ That confirmation expired, so nothing was sent. Send /disconnect again.`);
        return;
      }
      await edit(chat, messageId, html`⏳ Sending the revocation from your Vanta wallet and waiting for the chain…`);
      try {
        const outcome = await d.revoke(userIdOf(ctx), requestId);
        await edit(
          chat,
          messageId,
          outcome.status === 'revoked'
            ? lines(html`✅ Revoked: Vanta’s trading key can no longer trade for your wallet.`, html`Transaction ${code(outcome.txHash)} (block ${outcome.block}).`, html`Send /connect to enable trading again.`)
            : html`ℹ️ ${outcome.message}`,
        );
      } catch (err) {
        await edit(chat, messageId, traderMessage(ctx, err));
      }
    },
  },
  'dg.cancel': {
    ack: 'Canceled',
    run: async (ctx, _args, messageId) => {
      await edit(chatOf(ctx), messageId, html`✖ Nothing was revoked. Vanta’s trading key stays as it was.`);
    },
  },
};

/** The key's line for /wallet: quick, and never in the way of the wallet (a slow or failing check says so). */
export async function walletKeyLine(ctx: VantaContext): Promise<Html | null> {
  const d = ctx.vanta.delegation;
  if (!d) return null;
  const checked = d.status(userIdOf(ctx)).then(keyLine, () => html`🔑 Trading key: could not be checked now. Send /connect to see it.`);
  return withTimeout(checked, 3_000, () => html`🔑 Trading key: could not be checked now. Send /connect to see it.`);
}
