import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { Writable } from 'node:stream';
import { generatePrivateKey } from 'viem/accounts';
import { chooseConsole, createLogger, prettyLine, registerSecretHex, scrubSecrets, withCorrelation } from '../../src/infra/logger.ts';
import { Secret } from '../../src/infra/secret.ts';
import { captureLogger } from '../helpers/common.ts';

describe('logger', () => {
  it('never prints a secret, whatever shape it arrives in', () => {
    const { logger, text } = captureLogger();
    const key = generatePrivateKey();
    const forget = registerSecretHex(key);
    const botToken = '7012345678:AAHfakefakefakefakefakefakefakefake12';
    const vaultToken = 'hvs.CAESIJfakefakefakefakefakefakefake';
    try {
      logger.info({ privateKey: key }, 'top-level key field');
      logger.info({ deep: { user: { wallet: { private_key: key } } } }, 'nested key field');
      logger.info({ note: `debug dump ${key}` }, 'key inside an innocent string');
      logger.info({ wallet: new Secret(key) }, 'wrapped secret');
      logger.info({ url: `https://api.telegram.org/bot${botToken}/getMe` }, 'bot token in a URL');
      logger.info({ db: 'postgres://vanta:hunter2@db:5432/vanta' }, 'password in a connection string');
      logger.info({ headers: { 'x-vault-token': vaultToken } }, 'vault header');
      logger.info({ err: new Error(`signing failed for ${key} with ${vaultToken}`) }, 'secret inside an error');
      logger.info('interpolated %s', key);
      logger.child({ secretId: 'approle-secret-id-value' }).info('child bindings');
    } finally {
      forget();
    }
    const out = text();
    for (const secret of [key, key.slice(2), botToken, vaultToken, 'hunter2', 'approle-secret-id-value']) {
      assert.ok(!out.includes(secret), `a log line contains ${secret.slice(0, 12)}…`);
    }
    assert.equal(out.split('\n').filter(Boolean).length, 10, 'every line was still written');
    assert.match(out, /\[REDACTED\]/);
  });

  it('keeps transaction hashes and addresses readable', () => {
    const hash = `0x${'ab'.repeat(32)}`;
    assert.deepEqual(scrubSecrets({ tx_hash: hash, address: '0x1111111111111111111111111111111111111111' }), {
      tx_hash: hash,
      address: '0x1111111111111111111111111111111111111111',
    });
  });

  it('stamps every line inside a correlation scope with the same id', async () => {
    const { logger, lines } = captureLogger();
    await withCorrelation(async () => {
      logger.info('first');
      await new Promise((r) => setTimeout(r, 1));
      logger.child({ actor_id: 'user:1' }).info('second');
    }, 'corr-123');
    logger.info('outside');
    assert.deepEqual(lines().map((l) => l['corr_id']), ['corr-123', 'corr-123', undefined]);
  });

  describe('the console', () => {
    const ESC = String.fromCharCode(27);
    const line = (fields: Record<string, unknown>) => JSON.stringify({ level: 30, time: Date.parse('2026-12-03T12:21:11.573Z'), app: 'vanta', ...fields }) + '\n';

    it('is readable on a terminal and JSON everywhere else, unless LOG_FORMAT says otherwise; colour only on a terminal without NO_COLOR', () => {
      const cases = [
        [{ setting: 'auto', isTTY: true, colorAllowed: true }, { format: 'pretty', color: true }],
        [{ setting: 'auto', isTTY: true, colorAllowed: false }, { format: 'pretty', color: false }],
        [{ setting: 'auto', isTTY: false, colorAllowed: true }, { format: 'json', color: false }],
        [{ setting: 'json', isTTY: true, colorAllowed: true }, { format: 'json', color: false }],
        [{ setting: 'pretty', isTTY: false, colorAllowed: true }, { format: 'pretty', color: false }],
      ] as const;
      for (const [input, expected] of cases) assert.deepEqual(chooseConsole(input), expected, JSON.stringify(input));
    });

    it('prints one line per entry: time, level, [component], message, then the other fields', () => {
      const format = prettyLine({ color: false });
      const out = format(line({ component: 'devnet', rpcUrl: 'http://127.0.0.1:34045', chainId: 31337, msg: 'Devnet running' }));
      assert.match(out, /^\[\d\d:\d\d:11\.573\] INFO: \[devnet\] Devnet running \{"rpcUrl":"http:\/\/127\.0\.0\.1:34045","chainId":31337\}\n$/);
      assert.equal(out.split('\n').length, 2, 'one line');
      assert.ok(!out.includes('vanta') && !out.includes(ESC), 'no app name, no colour codes');
      assert.match(format(line({ level: 40, msg: 'Trading halted on pair', pair: 'ETH/USD' })), /\] WARN: Trading halted on pair \{"pair":"ETH\/USD"\}\n$/);
    });

    it('colours the level when asked', () => {
      const out = prettyLine({ color: true })(line({ level: 50, msg: 'Failed to start' }));
      assert.ok(out.includes(`${ESC}[31mERROR${ESC}[39m`), JSON.stringify(out));
    });

    it('shows no secret that a JSON line would have hidden, and writes each line before the call returns', () => {
      const chunks: string[] = [];
      const destination = new Writable({
        write(chunk: Buffer, _enc, done) {
          chunks.push(chunk.toString());
          done();
        },
      });
      const logger = createLogger({ level: 'info', destination, format: 'pretty', color: false });
      const botToken = '7012345678:AAHfakefakefakefakefakefakefakefake12';
      logger.child({ component: 'bot' }).info({ token: 'plain-token-value', url: `https://api.telegram.org/bot${botToken}/getMe` }, 'calling %s', botToken);
      assert.equal(chunks.length, 1, 'written synchronously');
      const out = chunks.join('');
      for (const secret of [botToken, 'plain-token-value']) assert.ok(!out.includes(secret), `${secret.slice(0, 10)}… leaked`);
      assert.match(out, /INFO: \[bot\] calling \[REDACTED\]/);
    });

    it('loses no line when the process exits right after logging', () => {
      const logger = new URL('../../src/infra/logger.ts', import.meta.url).href;
      const script = `const { createLogger } = await import(${JSON.stringify(logger)});
        const log = createLogger({ level: 'info', format: 'pretty', color: false });
        for (let i = 0; i < 200; i++) log.info({ i }, 'line');
        log.fatal('last words');
        process.exit(3);`;
      const result = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 20_000 });
      assert.equal(result.status, 3, result.stderr);
      const lines = result.stdout.split('\n').filter(Boolean);
      assert.equal(lines.length, 201);
      assert.match(lines.at(-1)!, /FATAL: last words$/);
    });
  });
});
