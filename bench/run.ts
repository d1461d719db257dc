/**
 * Runs every benchmark and prints its figures. Each benchmark measures its own
 * baseline in the same run and reports a ratio; none gates CI.
 * Usage: npm run bench [-- name…]   (names: persistence, signing, order-path, takeover, bot, v2-gasless)
 */
const suites: Record<string, () => Promise<{ run(): Promise<Record<string, unknown>> }>> = {
  persistence: () => import('./persistence.bench.ts'),
  signing: () => import('./signing.bench.ts'),
  'order-path': () => import('./order-path.bench.ts'),
  takeover: () => import('./takeover.bench.ts'),
  bot: () => import('./bot.bench.ts'),
  'v2-gasless': () => import('./v2-gasless.bench.ts'),
};

const wanted = process.argv.slice(2);
for (const [name, load] of Object.entries(suites)) {
  if (wanted.length && !wanted.includes(name)) continue;
  const started = performance.now();
  try {
    const figures = await (await load()).run();
    console.log(JSON.stringify({ bench: name, seconds: Math.round((performance.now() - started) / 100) / 10, ...figures }, null, 2));
  } catch (err) {
    console.error(`bench ${name} failed:`, err);
    process.exitCode = 1;
  }
}
