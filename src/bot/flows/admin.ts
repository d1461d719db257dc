import { Composer } from 'grammy';
import type { AdminDesk } from '../../actors/desk.ts';
import { BadInputError } from '../../errors.ts';
import { chatOf, type ActionTable } from '../actions.ts';
import type { VantaContext } from '../context.ts';
import { b, code, html, lines, type Html } from '../html.ts';
import { clip, parseUserId } from '../parse.ts';
import { answerAfterPending, showIn, type View } from '../pending.ts';
import { edit, isUnreachable, send } from '../ui.ts';

/**
 * Operator commands, by Telegram user id from ADMIN_TELEGRAM_IDS, deny by default. Every action
 * is written to the audit log by the admin desk as `admin:<id>`. A trader who tries one gets a
 * plain refusal and nothing happens (and the attempt is logged).
 */
export const ADMIN_COMMANDS = ['stats', 'pause', 'resume', 'suspend', 'reinstate', 'broadcast', 'quarantine', 'release', 'rotate'] as const;
/** Telegram allows about 30 messages a second overall; a broadcast keeps under that. */
const BROADCAST_INTERVAL_MS = 40;
const BROADCAST_MAX_CHARS = 3500;

export const adminCommands = new Composer<VantaContext>();

function adminOf(ctx: VantaContext): { desk: AdminDesk; by: string } {
  const id = ctx.from?.id;
  if (id === undefined || !ctx.vanta.adminIds.has(id)) {
    ctx.log.warn({ telegram_id: id, command: ctx.message?.text?.split(/\s/)[0]?.slice(0, 32) }, 'A non-admin tried an operator command');
    throw new BadInputError('This command is for operators only.');
  }
  if (!ctx.vanta.admin) throw new BadInputError('Operator commands are not available on this engine.');
  return { desk: ctx.vanta.admin, by: `admin:${id}` };
}

function argOf(ctx: VantaContext): string {
  return typeof ctx.match === 'string' ? ctx.match.trim() : '';
}

async function statsView(ctx: VantaContext): Promise<View> {
  const s = await adminOf(ctx).desk.stats();
  return {
    body: lines(
      b('Engine'),
      html`Traders: ${s.users} · open positions: ${s.openPositions} · pending orders: ${s.pendingOrders}`,
      html`Actors: ${s.actors} · quarantined: ${s.quarantined}`,
      html`Trading: ${s.tradingPaused ? '⏸ paused' : '▶️ running'}${s.pausedPairs.length ? ` · paused pairs: ${s.pausedPairs.join(', ')}` : ''}`,
    ),
    rows: [[{ text: '🔄 Refresh', action: 'a.stats' }]],
  };
}

adminCommands.command('stats', async (ctx) => {
  adminOf(ctx);
  await answerAfterPending(ctx, 'Counting…', () => statsView(ctx));
});

adminCommands.command(['pause', 'resume'], async (ctx) => {
  const { desk, by } = adminOf(ctx);
  const pair = argOf(ctx) ? clip(argOf(ctx).toUpperCase(), 20) : null;
  const pausing = ctx.message?.text?.startsWith('/pause') ?? false;
  await answerAfterPending(ctx, pausing ? 'Pausing…' : 'Resuming…', async () => {
    if (pausing) await desk.pauseTrading(by, pair);
    else await desk.resumeTrading(by, pair);
    const what = pair ? html`Trading in ${b(pair)}` : html`Trading for every pair`;
    return { body: html`${pausing ? '⏸' : '▶️'} ${what} is ${pausing ? 'paused: new orders are refused, closes still work' : 'resumed'}.` };
  });
});

adminCommands.command(['suspend', 'reinstate'], async (ctx) => {
  const { desk, by } = adminOf(ctx);
  const target = parseUserId(argOf(ctx));
  const suspending = ctx.message?.text?.startsWith('/suspend') ?? false;
  await answerAfterPending(ctx, suspending ? 'Suspending…' : 'Reinstating…', async () => {
    if (suspending) await desk.suspendUser(by, target);
    else await desk.reinstateUser(by, target);
    return { body: html`${suspending ? '🚫' : '✅'} Trader ${code(target)} is ${suspending ? 'suspended: new orders are refused, open positions can still be closed' : 'reinstated'}.` };
  });
});

adminCommands.command('broadcast', async (ctx) => {
  adminOf(ctx);
  const text = argOf(ctx);
  if (!text) {
    ctx.session.awaiting = { kind: 'broadcast' };
    await ctx.reply('Type the message to send to every trader (plain text).');
    return;
  }
  await previewBroadcast(ctx, text);
});

/** Shows the broadcast as traders will see it, with a one-shot confirm. */
export async function previewBroadcast(ctx: VantaContext, text: string): Promise<void> {
  const { desk } = adminOf(ctx);
  // Counted as Telegram counts (UTF-16 units: an emoji is two), so the message always fits in one.
  if (text.length > BROADCAST_MAX_CHARS) throw new BadInputError(`A broadcast is at most ${BROADCAST_MAX_CHARS} characters (an emoji counts as two); this one has ${text.length}.`);
  const traders = await desk.traders();
  await send(chatOf(ctx), lines(b(`Send this to ${traders.length} traders?`), '', broadcastBody(text)), [
    [
      { text: '📣 Send', action: 'a.broadcast', args: [text], once: true },
      { text: '✖ Cancel', action: 'a.cancel' },
    ],
  ]);
}

function broadcastBody(text: string): Html {
  return html`📣 ${text}`;
}

adminCommands.command('quarantine', async (ctx) => {
  adminOf(ctx);
  await answerAfterPending(ctx, 'Reading quarantined actors…', () => quarantineView(ctx));
});

async function quarantineView(ctx: VantaContext): Promise<View> {
  const list = await adminOf(ctx).desk.quarantined();
  if (list.length === 0) return { body: html`No actor is quarantined.` };
  return {
    body: lines(b(`Quarantined actors (${list.length})`), ...list.map((q) => html`• ${code(q.id)} (${q.kind}): ${clip(q.reason, 200)}`)),
    rows: list.slice(0, 20).map((q) => [{ text: `Release ${q.id}`, action: 'a.release', args: [q.id], once: true }]),
  };
}

adminCommands.command('release', async (ctx) => {
  // The caller first: a trader is refused before anything is shown, even "Releasing…".
  adminOf(ctx);
  const id = argOf(ctx);
  if (!/^[a-z-]+:[A-Za-z0-9:_./-]{1,100}$/.test(id)) throw new BadInputError('Give the actor id, e.g. /release position:abc123 (see /quarantine).');
  await answerAfterPending(ctx, `Releasing ${id}…`, () => release(ctx, id));
});

async function release(ctx: VantaContext, id: string): Promise<View> {
  const { desk, by } = adminOf(ctx);
  const released = await desk.release(by, id);
  return { body: released ? html`✅ ${code(id)} is released and running again.` : html`${code(id)} is not quarantined (nothing changed).` };
}

adminCommands.command('rotate', async (ctx) => {
  const { desk, by } = adminOf(ctx);
  let started = false;
  const messageId = await answerAfterPending(ctx, 'Starting a key rotation…', async () => {
    await desk.startKeyRotation(by);
    started = true;
    return { body: rotationText(desk) };
  });
  // A refused start keeps its reason on screen; only a rotation this request started is watched.
  if (started) void watchRotation(ctx, messageId, rotationText(desk));
});

function rotationText(desk: AdminDesk): Html {
  const r = desk.rotation();
  const icon = { idle: '•', running: '🔄', done: '✅', failed: '⛔' }[r.state];
  return html`${icon} Key rotation ${r.state}: ${r.rewrapped} wallets rewrapped, ${r.remaining} to go.${r.detail ? ` ${r.detail}` : ''}`;
}

/**
 * Edits the rotation message as it progresses (looked at every 2 s) until it ends; only when it
 * changed, since Telegram refuses an edit to the same content.
 */
async function watchRotation(ctx: VantaContext, messageId: number, shownFirst: Html): Promise<void> {
  const { desk } = adminOf(ctx);
  const chat = chatOf(ctx);
  let shown = shownFirst.value;
  try {
    for (;;) {
      await new Promise((r) => setTimeout(r, 2_000).unref());
      const running = desk.rotation().state === 'running';
      const text = rotationText(desk);
      if (text.value !== shown) await edit(chat, messageId, text);
      shown = text.value;
      if (!running) return;
    }
  } catch (err) {
    ctx.log.warn({ err }, 'Could not update the key rotation progress message');
  }
}

export const adminActions: ActionTable = {
  'a.stats': { run: (ctx, _args, messageId) => showIn(ctx, messageId, () => statsView(ctx)) },
  'a.release': { ack: 'Releasing…', run: (ctx, [id = ''], messageId) => showIn(ctx, messageId, () => release(ctx, id)) },
  'a.cancel': { ack: 'Canceled', run: async (ctx, _args, messageId) => edit(chatOf(ctx), messageId, html`✖ Canceled. Nothing was sent.`) },
  'a.broadcast': {
    ack: 'Broadcasting…',
    run: async (ctx, [text = ''], messageId) => {
      const { desk, by } = adminOf(ctx);
      const traders = await desk.traders();
      await desk.audit(by, 'broadcast.started', `${traders.length} traders`);
      let sent = 0;
      let unreachable = 0;
      let failed = 0;
      for (const chatId of traders) {
        try {
          await ctx.api.sendMessage(chatId, broadcastBody(text).value, { parse_mode: 'HTML' });
          sent++;
        } catch (err) {
          if (isUnreachable(err)) unreachable++;
          else failed++;
        }
        await new Promise((r) => setTimeout(r, BROADCAST_INTERVAL_MS));
      }
      await desk.audit(by, 'broadcast.finished', `sent ${sent}, unreachable ${unreachable}, failed ${failed}`);
      await edit(chatOf(ctx), messageId, html`📣 Broadcast sent to ${sent} of ${traders.length} traders (${unreachable} have blocked the bot, ${failed} failed).`);
    },
  },
};
