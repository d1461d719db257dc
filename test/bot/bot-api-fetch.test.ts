import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import { Api, InputFile } from 'grammy';
import { createBotApiFetch } from '../../src/bot/bot-api-fetch.ts';
import { startBotApiDouble } from '../../src/sandbox/telegram/bot-api-double.ts';
import { silentLogger } from '../helpers/common.ts';
import { chartPng } from '../sandbox/telegram/helpers.ts';

/** A loopback server answering each request with `answer`; resolves with its URL. */
async function serve(answer: (req: IncomingMessage, body: Buffer, res: ServerResponse) => void): Promise<{ url: string; server: Server }> {
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => answer(req, Buffer.concat(chunks), res));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return { url: `http://127.0.0.1:${port}`, server };
}

describe('bot/bot-api-fetch: the HTTP client the bot calls Telegram with', () => {
  it('posts JSON and parses the answer, whatever its status; a body that is not JSON fails json()', async () => {
    const { url, server } = await serve((req, body, res) => {
      if (req.url === '/html') {
        res.writeHead(502, { 'content-type': 'text/html' }).end('<html>Bad Gateway</html>');
        return;
      }
      res.writeHead(req.url === '/refused' ? 400 : 200, { 'content-type': 'application/json' }).end(JSON.stringify({ ok: req.url !== '/refused', echo: JSON.parse(body.toString()) as unknown, type: req.headers['content-type'] }));
    });
    try {
      const fetch = createBotApiFetch();
      const ok = await fetch(`${url}/ok`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ text: 'héllo 🚀' }) });
      assert.equal(ok.ok, true);
      assert.deepEqual(await ok.json(), { ok: true, echo: { text: 'héllo 🚀' }, type: 'application/json' });
      const refused = await fetch(`${url}/refused`, { method: 'POST', body: '{}' });
      assert.equal(refused.status, 400);
      assert.deepEqual(await refused.json(), { ok: false, echo: {} });
      const html = await fetch(`${url}/html`, { method: 'POST', body: '{}' });
      assert.equal(html.status, 502);
      await assert.rejects(html.json(), SyntaxError);
    } finally {
      server.close();
    }
  });

  it('an abort (grammY’s timeout) ends a request that hangs; an unreachable server fails at once', async () => {
    const { url, server } = await serve(() => {
      /* never answers */
    });
    try {
      const fetch = createBotApiFetch();
      const controller = new AbortController();
      const hanging = fetch(`${url}/hang`, { method: 'POST', body: '{}', signal: controller.signal });
      setTimeout(() => controller.abort(), 50);
      await assert.rejects(hanging, { name: 'AbortError' });
      await assert.rejects(fetch('http://127.0.0.1:1/x', { method: 'POST', body: '{}' }), /ECONNREFUSED/);
      await assert.rejects(fetch('ftp://127.0.0.1/x'), TypeError);
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });

  it('streams a multipart body (a file upload) as grammY builds it', async () => {
    const { url, server } = await serve((req, body, res) => res.end(JSON.stringify({ ok: true, size: body.length, type: req.headers['content-type'] })));
    try {
      const fetch = createBotApiFetch();
      const answer = await fetch(`${url}/upload`, { method: 'POST', headers: { 'content-type': 'multipart/form-data; boundary=x' }, body: Readable.from([Buffer.alloc(100_000, 1), Buffer.alloc(5, 2)]) });
      assert.deepEqual(await answer.json(), { ok: true, size: 100_005, type: 'multipart/form-data; boundary=x' });
    } finally {
      server.close();
    }
  });

  it('grammY through it against the Bot API double: messages, an upload, and errors as GrammyError', async () => {
    const double = await startBotApiDouble({ logger: silentLogger() });
    try {
      const api = new Api(double.token, { apiRoot: double.apiRoot, fetch: createBotApiFetch() });
      double.user(31).send('/start');
      const sent = await api.sendMessage(31, '<b>bold</b> & fine', { parse_mode: 'HTML' });
      assert.equal(sent.text, 'bold & fine');
      const photo = await api.sendPhoto(31, new InputFile(chartPng(64, 32), 'p.png'));
      assert.ok(photo.photo.length > 0);
      await assert.rejects(api.sendMessage(31, ''), /400/);
      double.clearViolations();
    } finally {
      await double.close();
    }
  });
});
