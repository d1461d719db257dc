/*
 * The delegate connect page (ADR 0018). Plain browser script, no dependencies, no external request:
 * it talks only to /api/connect/<token> on the server that sent it. Everything from the server is
 * written with textContent, never as HTML. The page never sees a key: it asks the trader's own
 * wallet (window.ethereum, EIP-1193) to sign, or takes a pasted signature, and the server checks it.
 */
(function () {
  'use strict';

  var $ = function (id) { return document.getElementById(id); };
  var token = decodeURIComponent(location.pathname.replace(/\/+$/, '').split('/').pop() || '');
  var api = '/api/connect/' + encodeURIComponent(token);
  var request = null;
  var busy = false;
  var finished = false;

  telegramReady();
  load();

  /**
   * Inside Telegram as a Mini App: tell the client the page is ready and may take the full height.
   * Uses window.Telegram.WebApp when something already defined it (the page never loads
   * telegram-web-app.js from the network); otherwise speaks the documented web-events protocol
   * directly (core.telegram.org/api/web-events). As a plain web page, none of these exist and
   * nothing happens.
   */
  function telegramReady() {
    try {
      var tg = window.Telegram && window.Telegram.WebApp;
      if (tg && typeof tg.ready === 'function') {
        tg.ready();
        if (typeof tg.expand === 'function') tg.expand();
        return;
      }
      var proxy = window.TelegramWebviewProxy;
      if (proxy && typeof proxy.postEvent === 'function') {
        proxy.postEvent('web_app_ready');
        proxy.postEvent('web_app_expand');
        return;
      }
      if (window.parent && window.parent !== window) {
        // Dropped by the browser unless the parent really is Telegram's web client.
        window.parent.postMessage(JSON.stringify({ eventType: 'web_app_ready' }), 'https://web.telegram.org');
        window.parent.postMessage(JSON.stringify({ eventType: 'web_app_expand' }), 'https://web.telegram.org');
      }
    } catch {
      // Not in Telegram, or an older client: the page works as a plain web page.
    }
  }

  function load() {
    fetch(api, { headers: { accept: 'application/json' }, cache: 'no-store', credentials: 'omit' })
      .then(function (res) {
        return res.json().then(function (body) { return { status: res.status, body: body }; }, function () { return { status: res.status, body: null }; });
      })
      .then(function (r) {
        $('loading').hidden = true;
        if (r.status === 200 && r.body && r.body.typedData) {
          request = r.body;
          render(request);
          return;
        }
        var body = r.body || {};
        if (body.status === 'used' && body.outcome && body.outcome.status === 'registered') {
          problem('Already registered', body.error || 'This link was already used: the delegate is registered.', 'registered');
          return;
        }
        problem(body.status === 'expired' ? 'This link has expired' : body.status === 'used' ? 'This link was already used' : 'This link cannot be used', body.error || 'The server did not understand this link. Ask the bot for a new one.');
      })
      .catch(function () {
        $('loading').hidden = true;
        problem('Could not reach Vanta', 'Check your connection and reload this page.');
      });
  }

  function problem(title, text, kind) {
    var box = $('link-problem');
    $('link-problem-title').textContent = title;
    $('link-problem-text').textContent = text;
    if (kind === 'registered') box.classList.add('ok');
    box.hidden = false;
    box.dataset.kind = kind || 'problem';
  }

  function render(r) {
    var f = r.facts;
    $('f-trader').textContent = f.trader;
    $('f-delegate').textContent = f.delegate;
    $('f-expiry').textContent = localDate(f.expiry);
    $('f-expiry-rel').textContent = '(' + relative(f.expiry) + ')';
    $('f-network').textContent = f.network + ' (chain id ' + f.chainId + ')';
    $('f-sign-before').textContent = localDate(f.signBefore);
    list($('f-can'), f.can);
    list($('f-cannot'), f.cannot);
    $('f-funds').textContent = f.funds;
    $('f-tos').textContent = f.tos;
    $('typed').textContent = JSON.stringify(r.typedData, null, 2);
    $('digest').textContent = r.digest;
    $('request').hidden = false;

    var eth = window.ethereum;
    if (!eth || typeof eth.request !== 'function') {
      $('sign-wallet').hidden = true;
      $('no-wallet').hidden = false;
    }
    $('sign-wallet').addEventListener('click', signWithWallet);
    $('submit-paste').addEventListener('click', submitPasted);
    $('copy-typed').addEventListener('click', copyTyped);
  }

  function list(ul, items) {
    ul.textContent = '';
    (items || []).forEach(function (text) {
      var li = document.createElement('li');
      li.textContent = text;
      ul.appendChild(li);
    });
  }

  function localDate(iso) {
    var d = new Date(iso);
    if (isNaN(d.getTime())) return String(iso);
    try {
      return d.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
    } catch {
      return d.toISOString();
    }
  }

  function relative(iso) {
    var ms = new Date(iso).getTime() - Date.now();
    if (ms <= 0) return 'already past';
    var days = Math.floor(ms / 86400000);
    if (days >= 2) return 'in ' + days + ' days';
    var hours = Math.max(1, Math.round(ms / 3600000));
    return 'in ' + hours + (hours === 1 ? ' hour' : ' hours');
  }

  function progress(state, text) {
    var box = $('progress');
    box.hidden = false;
    box.dataset.state = state;
    $('progress-text').textContent = text;
  }

  function setBusy(value) {
    busy = value;
    $('sign-wallet').disabled = value || finished;
    $('submit-paste').disabled = value || finished;
  }

  function signWithWallet() {
    if (busy || finished || !request) return;
    var eth = window.ethereum;
    if (!eth || typeof eth.request !== 'function') {
      progress('refused', 'No wallet was found in this browser. Paste a signature instead.');
      return;
    }
    var trader = request.facts.trader;
    setBusy(true);
    progress('signing', 'Asking your wallet for your account…');
    Promise.resolve()
      .then(function () { return eth.request({ method: 'eth_requestAccounts' }); })
      .then(function (accounts) {
        var list = Array.isArray(accounts) ? accounts : [];
        var account = list.filter(function (a) { return typeof a === 'string' && a.toLowerCase() === trader.toLowerCase(); })[0];
        if (!account) {
          var shown = list.length ? list.join(', ') : 'no account';
          throw refusal('Your wallet is connected as ' + shown + ', but this link is for ' + trader + '. Switch to that account in your wallet and try again. Nothing was signed or sent.');
        }
        progress('signing', 'Signing… confirm in your wallet.');
        return eth.request({ method: 'eth_signTypedData_v4', params: [account, JSON.stringify(request.typedData)] });
      })
      .then(function (signature) {
        if (typeof signature !== 'string') throw refusal('Your wallet did not return a signature. Nothing was sent.');
        return submit(signature);
      })
      .catch(function (err) {
        progress('refused', walletMessage(err));
      })
      .then(function () { setBusy(false); });
  }

  function refusal(message) {
    var e = new Error(message);
    e.vantaRefusal = true;
    return e;
  }

  function walletMessage(err) {
    if (err && err.vantaRefusal) return err.message;
    if (err && err.code === 4001) return 'You declined in your wallet. Nothing was sent.';
    var text = err && typeof err.message === 'string' ? err.message : String(err);
    if (/chain ?id/i.test(text)) return 'Your wallet is on another network. Switch it to ' + request.facts.network + ' and try again. (' + text + ')';
    return 'Your wallet could not sign: ' + text;
  }

  function submitPasted() {
    if (busy || finished || !request) return;
    var value = $('paste-sig').value.trim();
    if (!/^0x[0-9a-fA-F]{130}$/.test(value)) {
      progress('refused', 'A signature is 0x followed by 130 hex characters (65 bytes). Check what you pasted.');
      return;
    }
    setBusy(true);
    submit(value).then(function () { setBusy(false); });
  }

  function submit(signature) {
    progress('verifying', 'Verifying your signature and registering…');
    return fetch(api, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-vanta-connect': '1', accept: 'application/json' },
      body: JSON.stringify({ signature: signature }),
      cache: 'no-store',
      credentials: 'omit',
    })
      .then(function (res) {
        return res.json().then(function (body) { return { status: res.status, body: body || {} }; }, function () { return { status: res.status, body: {} }; });
      })
      .then(function (r) {
        if (r.status === 200 && r.body.status === 'registered') {
          finished = true;
          progress('registered', 'Registered ✓ Vanta can now trade for your wallet until ' + localDate(request.facts.expiry) + '. You can close this page and go back to the chat.');
          $('sign-box').hidden = true;
          return;
        }
        if (r.body.status === 'used' || r.body.status === 'failed' || r.body.status === 'expired') finished = true;
        progress(r.body.status === 'failed' ? 'failed' : 'refused', 'Refused: ' + (r.body.error || 'the server did not accept the signature (HTTP ' + r.status + ').'));
      })
      .catch(function () {
        progress('failed', 'Could not reach Vanta. Check your connection, reload, and try again.');
      });
  }

  function copyTyped() {
    if (!request) return;
    var text = JSON.stringify(request.typedData, null, 2);
    var done = function (ok) { $('copy-state').textContent = ok ? 'Copied.' : 'Copy failed: select the text above instead.'; };
    if (navigator.clipboard && typeof navigator.clipboard.writeText === 'function') {
      navigator.clipboard.writeText(text).then(function () { done(true); }, function () { done(false); });
    } else {
      done(false);
    }
  }
})();
