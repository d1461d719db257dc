import assert from 'node:assert/strict';
import { request } from 'node:http';
import { hashTypedData, recoverAddress, toFunctionSelector, type Hex, type TypedData } from 'viem';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { createDelegateConnectSessions, setDelegateWithSigArgs, setDelegateWithSigCalldata, type DelegateConnectSessions } from '../../../src/actors/delegate-connect.ts';
import { TxBuilderClient } from '../../../src/infra/chain/avantis-v2/http-client.ts';
import { decodeIntent, delegateMessage, intentDigest, TOS_AVANTIS } from '../../../src/infra/chain/avantis-v2/intents.ts';
import { createConnectServer, MAX_CONNECT_BODY, newConnectToken, type ConnectOutcome, type ConnectServer, type ConnectSubmitResult, type SignedDelegateReq } from '../../../src/infra/http/connect-server.ts';
import { startAvantisV2Sandbox, type AvantisV2Sandbox } from '../../../src/sandbox/avantis-v2/index.ts';
import { captureLogger } from '../../helpers/common.ts';

const trader = privateKeyToAccount(generatePrivateKey());
const delegate = privateKeyToAccount(generatePrivateKey());
const stranger = privateKeyToAccount(generatePrivateKey());
const SECP256K1_N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;
const DAY = 86_400;

interface Answer {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly text: string;
  readonly json: Record<string, unknown>;
}

/** A raw HTTP call, so the Host header and the body can be anything. */
function call(base: string, method: string, path: string, options: { headers?: Record<string, string>; body?: string | Buffer } = {}): Promise<Answer> {
  const url = new URL(path, base);
  return new Promise((resolve, reject) => {
    const req = request(url, { method, headers: options.headers ?? {} }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json: Record<string, unknown> = {};
        try {
          json = JSON.parse(text) as Record<string, unknown>;
        } catch {
          /* not JSON */
        }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
      });
    });
    req.on('error', reject);
    if (options.body !== undefined) req.write(options.body);
    req.end();
  });
}

const POST_HEADERS = { 'content-type': 'application/json', 'x-vanta-connect': '1' };
const postSignature = (base: string, token: string, signature: string, headers: Record<string, string> = POST_HEADERS) =>
  call(base, 'POST', `/api/connect/${token}`, { headers, body: JSON.stringify({ signature }) });

describe('delegate connect server', function () {
  let sb: AvantisV2Sandbox;
  let now: number;
  let sessions: DelegateConnectSessions;
  let server: ConnectServer;
  let submitted: SignedDelegateReq[];
  let completed: ConnectOutcome[];
  let submitImpl: (signed: SignedDelegateReq) => Promise<ConnectSubmitResult>;
  let log: ReturnType<typeof captureLogger>;

  /** Stands in for the relay: decodes the calldata the contract would get and enables the delegate in the doubles' ledger. */
  async function relayToDoubles(signed: SignedDelegateReq): Promise<ConnectSubmitResult> {
    const message = decodeIntent('DelegateReq', signed.encodedIntent);
    const signer = await recoverAddress({ hash: intentDigest(sb.txBuilder.domains.trading, 'DelegateReq', message), signature: signed.signature });
    if (signer.toLowerCase() !== message.trader.toLowerCase()) return { ok: false, reason: 'InvalidSigner' };
    sb.ledger.setDelegate(message.trader, message.delegate, message.expiry);
    return { ok: true, detail: 'relayed' };
  }

  beforeEach(async () => {
    now = Date.now();
    sb = await startAvantisV2Sandbox();
    submitted = [];
    completed = [];
    submitImpl = relayToDoubles;
    sessions = createDelegateConnectSessions({ now: () => now, ttlMs: 10 * 60_000, onComplete: (o) => completed.push(o) });
    log = captureLogger('info');
    server = await createConnectServer({
      port: 0,
      sessions,
      logger: log.logger,
      now: () => now,
      submit: (signed) => {
        submitted.push(signed);
        return submitImpl(signed);
      },
    });
  });
  afterEach(async () => {
    await server.close();
    await sb.close();
  });

  function open(tnc?: string) {
    const expirySeconds = BigInt(Math.floor(now / 1000) + 30 * DAY);
    return sessions.open({ trader: trader.address, delegate: delegate.address, domain: sb.txBuilder.domains.trading, expirySeconds, ...(tnc === undefined ? {} : { tnc }) });
  }

  const signOf = (account: typeof trader, digest: Hex) => account.sign({ hash: digest });

  it('answers the pending request: typed data that hashes to our digest, and the facts in plain words', async () => {
    const { token, session } = open();
    const res = await call(server.url, 'GET', `/api/connect/${token}`);
    assert.equal(res.status, 200);
    assert.equal(res.headers['cache-control'], 'no-store');
    const typed = res.json['typedData'] as { domain: Record<string, unknown>; types: TypedData; primaryType: string; message: Record<string, unknown> };
    assert.equal(typed.primaryType, 'DelegateReq');
    assert.deepEqual(Object.keys(typed.types), ['EIP712Domain', 'DelegateReq']);
    assert.equal(typed.message['expiry'], session.message.expiry.toString(), 'integers are decimal strings');
    assert.equal(typeof typed.message['nonce'], 'string');
    const digest = intentDigest(session.domain, 'DelegateReq', session.message);
    assert.equal(res.json['digest'], digest);
    // What a wallet would hash from exactly this JSON is our digest.
    assert.equal(hashTypedData(typed as Parameters<typeof hashTypedData>[0]), digest);
    const facts = res.json['facts'] as Record<string, unknown>;
    assert.equal(facts['trader'], trader.address);
    assert.equal(facts['delegate'], delegate.address);
    assert.equal(facts['expiry'], new Date(Number(session.message.expiry) * 1000).toISOString());
    assert.equal(facts['network'], 'Base');
    assert.equal(facts['tos'], session.message.tnc);
    assert.match((facts['can'] as string[]).join(' | '), /open, close and increase.*margin.*take-profit and stop-loss/);
    assert.match((facts['cannot'] as string[]).join(' | '), /withdraw.*approve USDC.*add or remove delegates/);
    assert.match(String(facts['funds']), /goes back to your wallet/);
  });

  it('serves the page shell and assets with a strict CSP; the shell holds no data', async () => {
    const { token } = open();
    const page = await call(server.url, 'GET', `/connect/${token}`);
    assert.equal(page.status, 200);
    const csp = String(page.headers['content-security-policy']);
    assert.match(csp, /default-src 'none'/);
    assert.match(csp, /script-src 'self'/);
    assert.match(csp, /connect-src 'self'/);
    assert.match(csp, /frame-ancestors https:\/\/web\.telegram\.org/);
    assert.equal(page.headers['referrer-policy'], 'no-referrer');
    assert.doesNotMatch(page.text, new RegExp(trader.address.slice(2), 'i'), 'the shell carries no request data');
    assert.doesNotMatch(page.text, /https?:\/\/(?!www\.)/, 'no external URL in the shell');
    for (const asset of ['/connect-assets/connect.js', '/connect-assets/connect.css']) assert.equal((await call(server.url, 'GET', asset)).status, 200, asset);
    assert.equal((await call(server.url, 'GET', '/connect-assets/eslint.config.js')).status, 404, 'only the listed files are served');
    assert.equal((await call(server.url, 'DELETE', `/api/connect/${token}`)).status, 405);
  });

  it('answers unknown, malformed and expired tokens clearly, and submits nothing', async () => {
    const unknown = await call(server.url, 'GET', `/api/connect/${newConnectToken()}`);
    assert.equal(unknown.status, 404);
    assert.equal(unknown.json['status'], 'unknown');
    assert.match(String(unknown.json['error']), /new one/);
    assert.equal((await call(server.url, 'GET', '/api/connect/short')).status, 404);
    assert.equal((await call(server.url, 'GET', `/api/connect/${'a'.repeat(300)}`)).status, 404);

    const { token, session } = open();
    const sig = await signOf(trader, intentDigest(session.domain, 'DelegateReq', session.message));
    now += 10 * 60_000 + 1;
    const expired = await call(server.url, 'GET', `/api/connect/${token}`);
    assert.equal(expired.status, 410);
    assert.equal(expired.json['status'], 'expired');
    const late = await postSignature(server.url, token, sig);
    assert.equal(late.status, 410);
    assert.equal(submitted.length, 0);
  });

  it('refuses a signature by another key or over other data, submits nothing, and still takes the right one', async () => {
    const { token, session } = open();
    const digest = intentDigest(session.domain, 'DelegateReq', session.message);
    const byStranger = await postSignature(server.url, token, await signOf(stranger, digest));
    assert.equal(byStranger.status, 422);
    assert.equal(byStranger.json['status'], 'refused');
    assert.match(String(byStranger.json['error']), new RegExp(`made by ${stranger.address}.*not by your wallet ${trader.address}`));

    // The trader's own signature, but over a message the page might have altered (a longer expiry).
    const altered = delegateMessage({ trader: trader.address, delegate: delegate.address, expirySeconds: session.message.expiry + 1000n * BigInt(DAY), deadlineMs: session.message.deadline, nonce: session.message.nonce, tnc: session.message.tnc });
    const overOther = await postSignature(server.url, token, await signOf(trader, intentDigest(session.domain, 'DelegateReq', altered)));
    assert.equal(overOther.status, 422);
    // Vanta's own delegate key cannot register itself (§4: only the trader adds delegates).
    const byDelegate = await postSignature(server.url, token, await signOf(delegate, digest));
    assert.equal(byDelegate.status, 422);
    assert.equal(submitted.length, 0, 'nothing submitted');
    assert.equal(sb.ledger.delegation(trader.address, delegate.address).isEnabled, false);

    const good = await postSignature(server.url, token, await signOf(trader, digest));
    assert.equal(good.status, 200);
    assert.equal(submitted.length, 1);
  });

  it('refuses garbage signatures and bodies with a reason', async () => {
    const { token, session } = open();
    const digest = intentDigest(session.domain, 'DelegateReq', session.message);
    const good = await signOf(trader, digest);
    const cases: [string, string | Buffer, number, RegExp][] = [
      ['not JSON', 'signature=0x12', 400, /not JSON/],
      ['array', '[]', 400, /"signature"/],
      ['no signature', '{}', 400, /"signature"/],
      ['number', '{"signature": 12}', 400, /"signature"/],
      ['short', JSON.stringify({ signature: good.slice(0, 100) }), 400, /130 hex/],
      ['not hex', JSON.stringify({ signature: `0x${'zz'.repeat(65)}` }), 400, /130 hex/],
      ['bad v', JSON.stringify({ signature: `${good.slice(0, 130)}1f` }), 422, /last byte/],
      ['zero r and s', JSON.stringify({ signature: `0x${'00'.repeat(64)}1b` }), 422, /high s|does not recover/],
    ];
    for (const [name, body, status, error] of cases) {
      const res = await call(server.url, 'POST', `/api/connect/${token}`, { headers: POST_HEADERS, body });
      assert.equal(res.status, status, name);
      assert.match(String(res.json['error']), error, name);
    }
    // The malleable twin of a good signature (s → n − s, v flipped) recovers to the trader, but the contracts refuse it.
    const s = BigInt(`0x${good.slice(66, 130)}`);
    const v = Number.parseInt(good.slice(130), 16);
    const twin = `${good.slice(0, 66)}${(SECP256K1_N - s).toString(16).padStart(64, '0')}${(v === 27 ? 28 : 27).toString(16)}`;
    assert.equal((await recoverAddress({ hash: digest, signature: twin as Hex })).toLowerCase(), trader.address.toLowerCase());
    const high = await postSignature(server.url, token, twin);
    assert.equal(high.status, 422);
    assert.match(String(high.json['error']), /high s/);
    assert.equal(submitted.length, 0);
  });

  it('refuses a missing header, a wrong content type and a body over 4 KiB before reading the session', async () => {
    const { token, session } = open();
    const sig = await signOf(trader, intentDigest(session.domain, 'DelegateReq', session.message));
    const noHeader = await postSignature(server.url, token, sig, { 'content-type': 'application/json' });
    assert.equal(noHeader.status, 403);
    assert.match(String(noHeader.json['error']), /x-vanta-connect: 1/);
    const form = await call(server.url, 'POST', `/api/connect/${token}`, { headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-vanta-connect': '1' }, body: `signature=${sig}` });
    assert.equal(form.status, 415);
    const big = await call(server.url, 'POST', `/api/connect/${token}`, { headers: POST_HEADERS, body: JSON.stringify({ signature: sig, pad: 'x'.repeat(MAX_CONNECT_BODY) }) });
    assert.equal(big.status, 413);
    const chunked = await call(server.url, 'POST', `/api/connect/${token}`, { headers: { ...POST_HEADERS, 'transfer-encoding': 'chunked' }, body: Buffer.alloc(MAX_CONNECT_BODY + 10, 0x20) });
    assert.equal(chunked.status, 413, 'a body without content-length is cut at 4 KiB too');
    assert.equal(submitted.length, 0);
  });

  it('submits a correct signature once, registers the delegate in the doubles, and refuses a replay', async () => {
    const { token, session } = open(TOS_AVANTIS);
    const digest = intentDigest(session.domain, 'DelegateReq', session.message);
    const signature = await signOf(trader, digest);
    const res = await postSignature(server.url, token, signature);
    assert.equal(res.status, 200, res.text);
    assert.equal(res.json['status'], 'registered');
    assert.equal(submitted.length, 1);
    const signed = submitted[0]!;
    assert.equal(signed.digest, digest);
    assert.equal(signed.signature, signature);
    assert.equal((await recoverAddress({ hash: signed.digest, signature: signed.signature })).toLowerCase(), trader.address.toLowerCase());
    assert.deepEqual(decodeIntent('DelegateReq', signed.encodedIntent), session.message, 'encodedIntent is the session message in Solidity order');
    const calldata = setDelegateWithSigCalldata(signed);
    assert.equal(calldata.slice(0, 10), '0xf4ec01eb');
    assert.equal(toFunctionSelector('setDelegateWithSig(bytes,bytes)'), '0xf4ec01eb');
    assert.equal(calldata.slice(10), setDelegateWithSigArgs(signed).slice(2));

    // The doubles now say the delegate may sign intents for the trader.
    const tx = new TxBuilderClient({ baseUrl: sb.txBuilderUrl, timeoutMs: 2_000, retries: 1, backoffMs: 5 });
    const delegation = await tx.delegation(trader.address, delegate.address);
    assert.equal(delegation.isEnabled, true);
    assert.equal(delegation.expiry, session.message.expiry);
    assert.equal(delegation.canSignIntents, true);

    assert.deepEqual(completed.map((o) => o.status), ['registered']);
    const replay = await postSignature(server.url, token, signature);
    assert.equal(replay.status, 409);
    assert.equal(replay.json['status'], 'used');
    assert.match(String(replay.json['error']), /already used/);
    const again = await call(server.url, 'GET', `/api/connect/${token}`);
    assert.equal(again.status, 409);
    assert.equal((again.json['outcome'] as ConnectOutcome).status, 'registered');
    assert.equal(submitted.length, 1, 'submitted exactly once');

    const text = log.text();
    assert.ok(!text.includes(token), 'the token never reaches the log');
    assert.ok(!text.includes(signature.slice(2, 40)), 'nor the signature');
  });

  it('submits once when two correct POSTs race', async () => {
    const { token, session } = open();
    const signature = await signOf(trader, intentDigest(session.domain, 'DelegateReq', session.message));
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    submitImpl = async (signed) => {
      await gate;
      return relayToDoubles(signed);
    };
    const first = postSignature(server.url, token, signature);
    await new Promise((r) => setTimeout(r, 50));
    const second = await postSignature(server.url, token, signature);
    assert.equal(second.status, 409);
    assert.equal(second.json['status'], 'busy');
    release();
    assert.equal((await first).status, 200);
    assert.equal(submitted.length, 1);
  });

  it('reports a failed or throwing relay as failed, uses the link, and keeps internals out of the answer', async () => {
    const a = open();
    submitImpl = () => Promise.resolve({ ok: false, reason: 'the relay refused it: delegate expiry too far' });
    const failed = await postSignature(server.url, a.token, await signOf(trader, intentDigest(a.session.domain, 'DelegateReq', a.session.message)));
    assert.equal(failed.status, 502);
    assert.equal(failed.json['status'], 'failed');
    assert.match(String(failed.json['error']), /delegate expiry too far/);
    assert.equal((await call(server.url, 'GET', `/api/connect/${a.token}`)).json['status'], 'used');

    const b = open();
    submitImpl = () => Promise.reject(new Error('ECONNRESET internal-host-name:4444'));
    const thrown = await postSignature(server.url, b.token, await signOf(trader, intentDigest(b.session.domain, 'DelegateReq', b.session.message)));
    assert.equal(thrown.status, 502);
    assert.doesNotMatch(thrown.text, /internal-host-name/);
    assert.match(String(thrown.json['error']), /new link/);
    assert.match(log.text(), /internal-host-name/, 'the cause is in the log for the operator');
    assert.ok(!log.text().includes(b.token));
  });

  it('ends a link after too many wrong signatures', async () => {
    await server.close();
    server = await createConnectServer({ port: 0, sessions, logger: log.logger, now: () => now, maxBadSignatures: 3, submit: (s) => (submitted.push(s), submitImpl(s)) });
    const { token, session } = open();
    const digest = intentDigest(session.domain, 'DelegateReq', session.message);
    for (let i = 0; i < 3; i++) assert.equal((await postSignature(server.url, token, await signOf(stranger, digest))).status, 422);
    const after = await postSignature(server.url, token, await signOf(trader, digest));
    assert.equal(after.status, 409);
    assert.match(String(after.json['error']), /too many signatures/);
    assert.equal(submitted.length, 0);
  });

  it('answers only requests addressed to loopback, or to the public URL when one is set', async () => {
    const { token } = open();
    const rebound = await call(server.url, 'GET', `/api/connect/${token}`, { headers: { host: 'evil.example:80' } });
    assert.equal(rebound.status, 403);
    await assert.rejects(createConnectServer({ host: '0.0.0.0', port: 0, sessions, logger: log.logger, submit: submitImpl }), /needs a public URL/);
    await assert.rejects(createConnectServer({ port: 0, sessions, logger: log.logger, submit: submitImpl, publicUrl: 'http://vanta.example' }), /https/);

    const pub = await createConnectServer({ port: 0, sessions, logger: log.logger, now: () => now, submit: submitImpl, publicUrl: 'https://vanta.example/' });
    try {
      assert.equal(pub.linkFor(token), `https://vanta.example/connect/${token}`);
      assert.equal((await call(pub.url, 'GET', `/api/connect/${token}`, { headers: { host: 'vanta.example' } })).status, 200);
      assert.equal((await call(pub.url, 'GET', `/api/connect/${token}`, { headers: { host: 'other.example' } })).status, 403);
    } finally {
      await pub.close();
    }
  });

  it('opens sessions only for a future expiry and a known ToS text', () => {
    assert.throws(() => sessions.open({ trader: trader.address, delegate: delegate.address, domain: sb.txBuilder.domains.trading, expirySeconds: BigInt(Math.floor(now / 1000) - 1) }), /future/);
    assert.throws(() => sessions.open({ trader: trader.address, delegate: delegate.address, domain: sb.txBuilder.domains.trading, expirySeconds: BigInt(Math.floor(now / 1000) + DAY), tnc: 'I accept anything' }), /terms-of-service/);
    assert.throws(() => sessions.open({ trader: trader.address, delegate: trader.address, domain: sb.txBuilder.domains.trading, expirySeconds: BigInt(Math.floor(now / 1000) + DAY) }), /own delegate/);
    const { token } = open();
    assert.match(token, /^[A-Za-z0-9_-]{43}$/);
  });
});
