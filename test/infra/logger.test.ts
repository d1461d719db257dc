import assert from 'node:assert/strict';
import { generatePrivateKey } from 'viem/accounts';
import { registerSecretHex, scrubSecrets, withCorrelation } from '../../src/infra/logger.ts';
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
});
