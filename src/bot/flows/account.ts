import { Composer } from 'grammy';
import type { SettingsPatch } from '../../actors/desk.ts';
import { BadInputError } from '../../errors.ts';
import { userIdOf, type ActionTable } from '../actions.ts';
import type { VantaContext } from '../context.ts';
import { html, lines } from '../html.ts';
import { parseLeverage } from '../parse.ts';
import { answerAfterPending, showIn, type View } from '../pending.ts';
import { helpCard, historyCard, marketsCard, settingsCard, statusCard, walletCard, welcome } from '../render.ts';
import { walletKeyLine } from './delegation.ts';
import type { Rows } from '../ui.ts';

/** /start, /wallet, /markets, /history, /settings, /status, /help and their buttons. */
export const accountCommands = new Composer<VantaContext>();

const HISTORY_SHOWN = 20;

accountCommands.command('start', async (ctx) => {
  await answerAfterPending(ctx, 'Setting up your wallet…', async () => {
    const onboarding = await ctx.vanta.desk.onboard(userIdOf(ctx));
    return { body: welcome(onboarding), rows: [[{ text: '💰 Wallet', action: 'w.open' }, { text: '📈 Trade', action: 't.start' }], [{ text: '📊 Markets', action: 'm.open' }, { text: '❓ Help', action: 'h.show' }]] };
  });
});

async function walletView(ctx: VantaContext): Promise<View> {
  const wallet = await ctx.vanta.desk.wallet(userIdOf(ctx));
  if (!wallet) return { body: html`You have no wallet yet. Send /start to create one.` };
  const rows: Rows = [
    [...(ctx.vanta.mode === 'sandbox' ? [{ text: '🚰 Faucet', action: 'w.faucet' }] : []), { text: '🔄 Refresh', action: 'w.show' }],
    [{ text: '💸 Withdraw', action: 'wd.start' }],
  ];
  const key = await walletKeyLine(ctx);
  return { body: key ? lines(walletCard(wallet, ctx.vanta.mode), '', key) : walletCard(wallet, ctx.vanta.mode), rows };
}

accountCommands.command('wallet', async (ctx) => {
  await answerAfterPending(ctx, 'Reading your wallet…', () => walletView(ctx));
});

async function marketsView(ctx: VantaContext): Promise<View> {
  return { body: marketsCard(await ctx.vanta.desk.markets()), rows: [[{ text: '📈 Trade', action: 't.start' }, { text: '🔄 Refresh', action: 'm.show' }]] };
}

accountCommands.command('markets', async (ctx) => {
  await answerAfterPending(ctx, 'Reading the markets…', () => marketsView(ctx));
});

accountCommands.command('history', async (ctx) => {
  await answerAfterPending(ctx, 'Reading your history…', async () => ({ body: historyCard(await ctx.vanta.desk.history(userIdOf(ctx), HISTORY_SHOWN)) }));
});

accountCommands.command('status', async (ctx) => {
  await answerAfterPending(ctx, 'Checking the engine…', async () => ({ body: statusCard(await ctx.vanta.desk.status()), rows: [[{ text: '🔄 Refresh', action: 's.show' }]] }));
});

accountCommands.command('help', async (ctx) => {
  await ctx.reply(helpCard(ctx.vanta.adminIds.has(userIdOf(ctx))).value, { parse_mode: 'HTML' });
});

async function settingsView(ctx: VantaContext): Promise<View> {
  const s = await ctx.vanta.desk.settings(userIdOf(ctx));
  const toggle = (label: string, on: boolean, key: string) => ({ text: `${on ? '✅' : '⬜'} ${label}`, action: 'set.toggle', args: [key] });
  return {
    body: settingsCard(s),
    rows: [
      [2, 5, 10, 20].map((l) => ({ text: `${l === s.defaultLeverage ? '• ' : ''}${l}x`, action: 'set.lev', args: [String(l)] })),
      [{ text: '✏️ Other leverage', action: 'set.ask', args: ['leverage'] }],
      [30, 50, 100, 200].map((bps) => ({ text: `${bps === s.slippageBps ? '• ' : ''}${bps / 100}%`, action: 'set.slip', args: [String(bps)] })),
      [{ text: '✏️ Other slippage', action: 'set.ask', args: ['slippage'] }],
      [toggle('Confirm text orders', s.confirmOrders, 'confirm')],
      [toggle('Fills', s.notify.fills, 'fills'), toggle('Delays', s.notify.delays, 'delays'), toggle('Closes', s.notify.closes, 'closes')],
    ],
  };
}

accountCommands.command('settings', async (ctx) => {
  await answerAfterPending(ctx, 'Reading your settings…', () => settingsView(ctx));
});

async function patchSettings(ctx: VantaContext, messageId: number, patch: SettingsPatch): Promise<void> {
  await ctx.vanta.desk.updateSettings(userIdOf(ctx), patch);
  await showIn(ctx, messageId, () => settingsView(ctx));
}

/** A typed setting value (after "Other leverage" / "Other slippage"). */
export async function applyTypedSetting(ctx: VantaContext, setting: 'slippage' | 'leverage', text: string): Promise<void> {
  const patch: SettingsPatch = setting === 'leverage' ? { defaultLeverage: parseLeverage(text) } : { slippageBps: slippageBpsOf(text) };
  const s = await ctx.vanta.desk.updateSettings(userIdOf(ctx), patch);
  await ctx.reply(settingsCard(s).value, { parse_mode: 'HTML' });
}

function slippageBpsOf(text: string): number {
  const t = text.trim().replace(/%$/, '');
  if (!/^\d{1,2}(\.\d{1,2})?$/.test(t)) throw new BadInputError('Give the slippage in percent, e.g. 0.5 or 1%.');
  const bps = Math.round(Number(t) * 100);
  if (bps < 1 || bps > 1000) throw new BadInputError('Slippage must be between 0.01% and 10%.');
  return bps;
}

const TOGGLES = ['confirm', 'fills', 'delays', 'closes'] as const;

export const accountActions: ActionTable = {
  // The welcome's buttons answer in a new message: the welcome and its risk notice stay.
  'w.open': { run: async (ctx) => void (await answerAfterPending(ctx, 'Reading your wallet…', () => walletView(ctx))) },
  'm.open': { run: async (ctx) => void (await answerAfterPending(ctx, 'Reading the markets…', () => marketsView(ctx))) },
  'w.show': { run: (ctx, _args, messageId) => showIn(ctx, messageId, () => walletView(ctx)) },
  'w.faucet': {
    ack: 'Asking the faucet…',
    run: async (ctx, _args, messageId) => {
      await showIn(ctx, messageId, async () => {
        await ctx.vanta.desk.faucet(userIdOf(ctx));
        return walletView(ctx);
      });
    },
  },
  'm.show': { run: (ctx, _args, messageId) => showIn(ctx, messageId, () => marketsView(ctx)) },
  's.show': { run: (ctx, _args, messageId) => showIn(ctx, messageId, async () => ({ body: statusCard(await ctx.vanta.desk.status()), rows: [[{ text: '🔄 Refresh', action: 's.show' }]] })) },
  'h.show': { run: async (ctx) => void (await ctx.reply(helpCard(ctx.vanta.adminIds.has(userIdOf(ctx))).value, { parse_mode: 'HTML' })) },
  'set.lev': { ack: 'Saved', run: (ctx, [lev], messageId) => patchSettings(ctx, messageId, { defaultLeverage: parseLeverage(lev ?? '') }) },
  'set.slip': { ack: 'Saved', run: (ctx, [bps], messageId) => patchSettings(ctx, messageId, { slippageBps: Number(bps) }) },
  'set.toggle': {
    ack: 'Saved',
    run: async (ctx, [key], messageId) => {
      const s = await ctx.vanta.desk.settings(userIdOf(ctx));
      const which = TOGGLES.find((t) => t === key);
      if (!which) throw new BadInputError('Unknown setting.');
      const patch: SettingsPatch = which === 'confirm' ? { confirmOrders: !s.confirmOrders } : { notify: { [which]: !s.notify[which] } };
      await patchSettings(ctx, messageId, patch);
    },
  },
  'set.ask': {
    run: async (ctx, [setting]) => {
      if (setting !== 'leverage' && setting !== 'slippage') throw new BadInputError('Unknown setting.');
      ctx.session.awaiting = { kind: 'setting', setting };
      await ctx.reply(setting === 'leverage' ? 'Type the default leverage, e.g. 7 or 12.5.' : 'Type the slippage in percent, e.g. 0.75.');
    },
  },
};
