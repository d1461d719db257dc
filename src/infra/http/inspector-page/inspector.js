// Vanta inspector page. Plain browser JavaScript, no dependencies, no external requests.
// Data arrives as server-sent events read through fetch() so the token can travel in a header.
// Everything from the server is inserted with textContent, never as HTML.
(function () {
  'use strict';

  var TOKEN_KEY = 'vanta.inspector.token';
  var MAX_LOG = 2000;          // rows kept in the page
  var MAX_CHILDREN = 300;      // children rendered per node before "… N more"

  var state = {
    actors: new Map(),         // id -> ActorView
    collapsed: new Set(),      // ids whose children are hidden
    selected: null,
    events: [],                // newest last
    flashUntil: new Map(),     // id -> epoch ms until which the row glows
    paused: false,
    treeFilter: '',
    logFilter: '',
    logSelectedOnly: false,
    eventTimes: [],            // arrival times, for the events/s figure
  };

  var $ = function (id) { return document.getElementById(id); };
  var el = function (tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  };

  // ---------- connection ----------

  var controller = null;
  var retryMs = 1000;
  var retryTimer = null;

  function token() { return sessionStorage.getItem(TOKEN_KEY); }

  function setConn(kind, text) {
    $('conn').className = 'conn conn-' + kind;
    $('conn-text').textContent = text;
  }

  function showLogin(message) {
    $('app').hidden = true;
    $('login').hidden = false;
    $('login-error').textContent = message || '';
    setConn('auth', 'token needed');
    $('login-token').focus();
  }

  function connect() {
    if (controller) controller.abort();
    clearTimeout(retryTimer);
    controller = new AbortController();
    var headers = { accept: 'text/event-stream' };
    var t = token();
    if (t) headers.authorization = 'Bearer ' + t;
    setConn(state.actors.size ? 'reconnecting' : 'connecting', state.actors.size ? 'reconnecting…' : 'connecting…');
    var signal = controller.signal;
    fetch('/api/stream', { headers: headers, signal: signal, cache: 'no-store' })
      .then(function (res) {
        if (res.status === 401) {
          if (t) sessionStorage.removeItem(TOKEN_KEY);
          showLogin(t ? 'That token was refused.' : '');
          return null;
        }
        if (!res.ok || !res.body) throw new Error('HTTP ' + res.status);
        $('login').hidden = true;
        $('app').hidden = false;
        $('sign-out').hidden = !t;
        setConn('live', 'live');
        retryMs = 1000;
        return readStream(res.body.getReader(), signal);
      })
      .then(function (result) {
        if (result === 'ended') scheduleReconnect();
      })
      .catch(function () {
        if (!signal.aborted) scheduleReconnect();
      });
  }

  function scheduleReconnect() {
    setConn('reconnecting', 'reconnecting in ' + Math.round(retryMs / 1000) + ' s…');
    retryTimer = setTimeout(connect, retryMs);
    retryMs = Math.min(retryMs * 2, 10000);
  }

  function readStream(reader, signal) {
    var decoder = new TextDecoder();
    var buffer = '';
    function pump() {
      return reader.read().then(function (chunk) {
        if (chunk.done || signal.aborted) return 'ended';
        buffer += decoder.decode(chunk.value, { stream: true });
        var cut;
        while ((cut = buffer.indexOf('\n\n')) !== -1) {
          handleBlock(buffer.slice(0, cut));
          buffer = buffer.slice(cut + 2);
        }
        return pump();
      });
    }
    return pump();
  }

  function handleBlock(block) {
    var name = 'message';
    var data = '';
    block.split('\n').forEach(function (line) {
      if (line.indexOf('event: ') === 0) name = line.slice(7);
      else if (line.indexOf('data: ') === 0) data += line.slice(6);
    });
    if (!data) return; // a keep-alive comment
    var message = JSON.parse(data);
    if (name === 'snapshot') applySnapshot(message);
    else applyChange(message);
    scheduleRender();
  }

  // ---------- model ----------

  function applySnapshot(snapshot) {
    state.actors = new Map();
    snapshot.actors.forEach(function (a) { state.actors.set(a.id, a); });
    state.events = snapshot.events.filter(function (e) { return e.type === 'event'; }).slice(-MAX_LOG);
    logDirty = true;
  }

  function applyChange(change) {
    if (change.type === 'actor.upsert') {
      var before = state.actors.get(change.actor.id);
      state.actors.set(change.actor.id, change.actor);
      if (before && JSON.stringify(before.state) !== JSON.stringify(change.actor.state)) {
        state.flashUntil.set(change.actor.id, Date.now() + 1200);
      }
    } else if (change.type === 'actor.removed') {
      state.actors.delete(change.id);
    } else if (change.type === 'event') {
      state.eventTimes.push(Date.now());
      if (state.paused) return;
      state.events.push(change);
      if (state.events.length > MAX_LOG) state.events.splice(0, state.events.length - MAX_LOG);
      logDirty = true;
    }
  }

  // ---------- rendering (batched to one per animation frame) ----------

  var renderQueued = false;
  var logDirty = true;

  function scheduleRender() {
    if (renderQueued) return;
    renderQueued = true;
    requestAnimationFrame(function () {
      renderQueued = false;
      renderTree();
      renderDetail();
      if (logDirty) renderLog();
      logDirty = false;
      renderStats();
    });
  }

  function stateText(value) {
    if (value === null || value === undefined) return '—';
    if (typeof value !== 'object') return String(value);
    var parts = [];
    Object.keys(value).forEach(function (key) {
      var inner = value[key];
      var rest = stateText(inner);
      parts.push(inner && typeof inner === 'object' && Object.keys(inner).length === 0 ? key : key + '.' + rest);
    });
    return parts.length > 1 ? parts.join(' | ') : parts[0] || '—';
  }

  function isProblem(actor) {
    return actor.status === 'restarting' || actor.status === 'quarantined' || actor.status === 'error';
  }

  function childIndex() {
    var children = new Map();
    var roots = [];
    state.actors.forEach(function (actor) {
      if (actor.parent === null || !state.actors.has(actor.parent) || actor.parent === actor.id) roots.push(actor);
      else {
        if (!children.has(actor.parent)) children.set(actor.parent, []);
        children.get(actor.parent).push(actor);
      }
    });
    var order = function (a, b) {
      // Problems first, so a quarantined actor is never buried under ten thousand healthy ones.
      var pa = isProblem(a) ? 0 : 1, pb = isProblem(b) ? 0 : 1;
      if (pa !== pb) return pa - pb;
      if (a.kind !== b.kind) return a.kind < b.kind ? -1 : 1;
      return a.id.localeCompare(b.id, undefined, { numeric: true });
    };
    roots.sort(order);
    children.forEach(function (list) { list.sort(order); });
    return { roots: roots, children: children };
  }

  function matchesFilter(actor, filter) {
    if (!filter) return true;
    var hay = (actor.id + ' ' + actor.kind + ' ' + actor.status + ' ' + stateText(actor.state)).toLowerCase();
    return hay.indexOf(filter) !== -1;
  }

  function renderTree() {
    var index = childIndex();
    var filter = state.treeFilter.trim().toLowerCase();
    // With a filter, show matches plus their ancestors so each match keeps its place in the tree.
    var visible = null;
    if (filter) {
      visible = new Set();
      state.actors.forEach(function (actor) {
        if (!matchesFilter(actor, filter)) return;
        for (var a = actor, hops = 0; a && hops < 32 && !visible.has(a.id); a = state.actors.get(a.parent), hops++) visible.add(a.id);
      });
    }
    var tree = $('tree');
    var fragment = document.createDocumentFragment();
    var now = Date.now();
    var walk = function (actor, depth) {
      if (visible && !visible.has(actor.id)) return;
      var kids = index.children.get(actor.id) || [];
      fragment.appendChild(treeRow(actor, depth, kids.length, now));
      if (state.collapsed.has(actor.id) && !filter) return;
      var shown = 0;
      for (var i = 0; i < kids.length; i++) {
        if (visible && !visible.has(kids[i].id)) continue;
        if (shown === MAX_CHILDREN) {
          var more = el('div', 'more', '… ' + (kids.length - MAX_CHILDREN) + ' more; use the filter to find one');
          more.style.paddingLeft = (depth + 1) * 18 + 26 + 'px';
          fragment.appendChild(more);
          break;
        }
        walk(kids[i], depth + 1);
        shown++;
      }
    };
    index.roots.forEach(function (root) { walk(root, 0); });
    if (!fragment.childNodes.length) fragment.appendChild(el('p', 'empty', filter ? 'No actor matches “' + filter + '”.' : 'No actors yet.'));
    tree.replaceChildren(fragment);
  }

  function treeRow(actor, depth, childCount, now) {
    var row = el('div', 'node');
    row.setAttribute('role', 'treeitem');
    row.dataset.id = actor.id;
    row.style.paddingLeft = depth * 18 + 6 + 'px';
    if (actor.id === state.selected) row.classList.add('selected');
    if ((state.flashUntil.get(actor.id) || 0) > now) row.classList.add('flash');
    var caret = el('span', 'caret' + (childCount ? '' : ' leaf'), state.collapsed.has(actor.id) ? '▸' : '▾');
    caret.dataset.toggle = actor.id;
    if (childCount) row.setAttribute('aria-expanded', String(!state.collapsed.has(actor.id)));
    row.appendChild(caret);
    var dot = el('span', 'status-dot dot-' + actor.status);
    dot.title = actor.status;
    row.appendChild(dot);
    row.appendChild(el('span', 'node-id', actor.id));
    row.appendChild(el('span', 'kind', actor.kind));
    if (actor.status !== 'running') row.appendChild(el('span', 'badge badge-' + actor.status, actor.status));
    var st = el('span', 'node-state', stateText(actor.state));
    st.dataset.role = 'state';
    row.appendChild(st);
    if (childCount) row.appendChild(el('span', 'count', '(' + childCount + ')'));
    return row;
  }

  // The detail pane is rebuilt only when the selected actor's view changes, so text the reader
  // is selecting (to copy a context value) is not swept away by unrelated updates.
  var detailShown = { id: undefined, view: undefined };

  function renderDetail() {
    var box = $('detail');
    var actor = state.selected ? state.actors.get(state.selected) : null;
    if (detailShown.id === state.selected && detailShown.view === actor) return;
    detailShown = { id: state.selected, view: actor };
    if (!actor) {
      var msg = state.selected ? 'Actor ' + state.selected + ' is no longer running.' : 'Select an actor in the tree to see its state and context.';
      box.replaceChildren(el('p', 'empty', msg));
      return;
    }
    var title = el('h3', null, actor.id);
    title.appendChild(el('span', 'kind', actor.kind));
    title.appendChild(el('span', 'badge badge-' + actor.status, actor.status));
    var showEvents = el('button', 'ghost push-right', 'Show its events');
    showEvents.type = 'button';
    showEvents.dataset.filterLog = actor.id;
    title.appendChild(showEvents);

    var meta = el('dl', 'meta');
    var add = function (label, value) {
      meta.appendChild(el('dt', null, label));
      var dd = el('dd');
      if (value instanceof Node) dd.appendChild(value); else dd.textContent = value;
      meta.appendChild(dd);
    };
    if (actor.parent) {
      var link = el('a', null, actor.parent);
      link.dataset.select = actor.parent;
      add('parent', link);
    } else add('parent', '— (root)');
    var kids = 0;
    state.actors.forEach(function (a) { if (a.parent === actor.id) kids++; });
    add('children', String(kids));
    add('updated', formatTime(actor.updatedAt) + '  (' + ago(actor.updatedAt) + ')');
    meta.lastChild.id = 'detail-updated';

    var stateTitle = el('div', 'section-title', 'state');
    var stateValue = el('div', 'state-value', stateText(actor.state));
    stateValue.id = 'detail-state';

    var ctxTitle = el('div', 'section-title', 'context (secrets removed)');

    box.replaceChildren(title, meta, stateTitle, stateValue, ctxTitle, jsonBlock(actor.context));
    if (actor.state && typeof actor.state === 'object') box.insertBefore(jsonBlock(actor.state), ctxTitle);
  }

  // A small JSON pretty-printer that builds spans (never innerHTML) and marks redactions loudly.
  function jsonBlock(value) {
    var pre = el('pre', 'json');
    var write = function (v, indent) {
      var pad = '  '.repeat(indent);
      if (v === null || typeof v === 'boolean') return pre.appendChild(el('span', 'j-lit', String(v)));
      if (typeof v === 'number') return pre.appendChild(el('span', 'j-num', String(v)));
      if (typeof v === 'string') return pre.appendChild(el('span', v === '[REDACTED]' ? 'j-red' : 'j-str', JSON.stringify(v)));
      var isArray = Array.isArray(v);
      var keys = isArray ? v.map(function (_, i) { return i; }) : Object.keys(v);
      if (!keys.length) return pre.appendChild(document.createTextNode(isArray ? '[]' : '{}'));
      pre.appendChild(document.createTextNode(isArray ? '[\n' : '{\n'));
      keys.forEach(function (k, i) {
        pre.appendChild(document.createTextNode(pad + '  '));
        if (!isArray) {
          pre.appendChild(el('span', 'j-key', JSON.stringify(String(k))));
          pre.appendChild(document.createTextNode(': '));
        }
        write(v[k], indent + 1);
        pre.appendChild(document.createTextNode(i < keys.length - 1 ? ',\n' : '\n'));
      });
      pre.appendChild(document.createTextNode(pad + (isArray ? ']' : '}')));
    };
    write(value === undefined ? null : value, 0);
    return pre;
  }

  function logMatches(e) {
    if (state.logSelectedOnly && state.selected && e.target !== state.selected && e.source !== state.selected) return false;
    var f = state.logFilter.trim().toLowerCase();
    if (!f) return true;
    return (e.target + ' ' + (e.source || '') + ' ' + e.event.type).toLowerCase().indexOf(f) !== -1;
  }

  function renderLog() {
    var body = $('log-body');
    var fragment = document.createDocumentFragment();
    var shown = 0;
    for (var i = state.events.length - 1; i >= 0 && shown < 500; i--) {
      var e = state.events[i];
      if (!logMatches(e)) continue;
      fragment.appendChild(logRow(e));
      shown++;
    }
    body.replaceChildren(fragment);
    $('log-empty').hidden = shown > 0;
    $('log-empty').textContent = state.events.length ? 'No event matches the filter.' : 'No events yet.';
  }

  function logRow(e) {
    var tr = el('tr');
    tr.appendChild(el('td', 'c-time', formatTime(e.at)));
    var route = el('td', 'c-route');
    route.appendChild(el('span', 'src', (e.source || 'outside') + ' → '));
    route.appendChild(document.createTextNode(e.target));
    tr.appendChild(route);
    tr.appendChild(el('td', 'c-type' + (e.event.type.indexOf('xstate.') === 0 ? ' internal' : ''), e.event.type));
    var payload = {};
    Object.keys(e.event).forEach(function (k) { if (k !== 'type') payload[k] = e.event[k]; });
    var keys = Object.keys(payload).length;
    tr.appendChild(el('td', 'c-payload', keys ? JSON.stringify(payload) : ''));
    tr.title = 'Click to expand';
    return tr;
  }

  function renderStats() {
    var now = Date.now();
    while (state.eventTimes.length && state.eventTimes[0] < now - 5000) state.eventTimes.shift();
    $('stat-actors').textContent = String(state.actors.size);
    $('stat-rate').textContent = (state.eventTimes.length / 5).toFixed(state.eventTimes.length < 50 ? 1 : 0);
    var problems = 0;
    state.actors.forEach(function (a) { if (isProblem(a)) problems++; });
    $('stat-problems').hidden = problems === 0;
    $('stat-problems-n').textContent = String(problems);
  }

  function pad(n, w) { return String(n).padStart(w || 2, '0'); }
  function formatTime(ms) {
    var d = new Date(ms);
    return pad(d.getHours()) + ':' + pad(d.getMinutes()) + ':' + pad(d.getSeconds()) + '.' + pad(d.getMilliseconds(), 3);
  }
  function ago(ms) {
    var s = Math.max(0, Math.round((Date.now() - ms) / 1000));
    if (s < 60) return s + ' s ago';
    if (s < 3600) return Math.floor(s / 60) + ' min ago';
    return Math.floor(s / 3600) + ' h ago';
  }

  // ---------- interaction ----------

  $('tree').addEventListener('click', function (ev) {
    var toggle = ev.target.closest('[data-toggle]');
    if (toggle && !toggle.classList.contains('leaf')) {
      var id = toggle.dataset.toggle;
      if (state.collapsed.has(id)) state.collapsed.delete(id); else state.collapsed.add(id);
      scheduleRender();
      return;
    }
    var row = ev.target.closest('.node');
    if (row) select(row.dataset.id);
  });

  $('detail').addEventListener('click', function (ev) {
    var link = ev.target.closest('[data-select]');
    if (link) select(link.dataset.select);
    var filterButton = ev.target.closest('[data-filter-log]');
    if (filterButton) {
      state.logSelectedOnly = true;
      $('log-selected').checked = true;
      logDirty = true;
      scheduleRender();
    }
  });

  function select(id) {
    state.selected = id;
    logDirty = true;
    scheduleRender();
  }

  $('tree-filter').addEventListener('input', function (ev) { state.treeFilter = ev.target.value; scheduleRender(); });
  $('log-filter').addEventListener('input', function (ev) { state.logFilter = ev.target.value; logDirty = true; scheduleRender(); });
  $('log-selected').addEventListener('change', function (ev) { state.logSelectedOnly = ev.target.checked; logDirty = true; scheduleRender(); });
  $('log-pause').addEventListener('click', function (ev) {
    state.paused = !state.paused;
    ev.target.textContent = state.paused ? 'Resume' : 'Pause';
    ev.target.setAttribute('aria-pressed', String(state.paused));
  });
  $('log-clear').addEventListener('click', function () { state.events = []; logDirty = true; scheduleRender(); });
  $('log-body').addEventListener('click', function (ev) {
    var tr = ev.target.closest('tr');
    if (tr) tr.classList.toggle('open');
  });

  $('login-form').addEventListener('submit', function (ev) {
    ev.preventDefault();
    var value = $('login-token').value.trim();
    if (!value) return;
    sessionStorage.setItem(TOKEN_KEY, value);
    $('login-token').value = '';
    connect();
  });
  $('sign-out').addEventListener('click', function () {
    sessionStorage.removeItem(TOKEN_KEY);
    if (controller) controller.abort();
    showLogin('');
  });

  // "updated N s ago" and the events/s figure keep moving even when nothing else does.
  setInterval(function () {
    renderStats();
    var updated = $('detail-updated');
    var actor = state.selected && state.actors.get(state.selected);
    if (updated && actor) updated.textContent = formatTime(actor.updatedAt) + '  (' + ago(actor.updatedAt) + ')';
  }, 1000);

  connect();
})();
