// Vanta inspector page. Plain browser JavaScript, no dependencies, no external requests.
// Data arrives as server-sent events read through fetch() so the token can travel in a header.
// Everything from the server is inserted with textContent (or as SVG text nodes), never as HTML.
(function () {
  'use strict';

  var TOKEN_KEY = 'vanta.inspector.token';
  var MAX_LOG = 2000;          // events kept in the page
  var LOG_ROWS = 500;          // newest rows drawn in the log
  var ROW_HEIGHT = 24;         // px; every tree row has this height (virtualised list)
  var OVERSCAN = 12;           // rows drawn above and below the visible window
  var SEQ_EVENTS = 40;         // arrows in the sequence view
  var SVG_NS = 'http://www.w3.org/2000/svg';

  var state = {
    actors: new Map(),         // id -> ActorView (without context; see /api/actor)
    collapsed: new Set(),      // ids whose children are hidden
    selected: null,
    events: [],                // newest last
    flashUntil: new Map(),     // id -> epoch ms until which the row glows
    paused: false,
    treeFilter: '',
    kindFilter: '',
    stateFilter: '',
    logFilter: '',
    logSelectedOnly: false,
    logTab: 'log',
    eventTimes: [],            // arrival times, for the events/s figure
    features: { controls: false, kinds: [], batchMs: 100, history: false },
    seenEvents: 0,             // events received since the page opened (the log keeps MAX_LOG)
    loading: 0,                // actors the tree will hold once every snapshot part arrived (-1: not known yet)
    removedWhileLoading: new Set(),
  };

  var $ = function (id) { return document.getElementById(id); };
  var el = function (tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  };
  var svg = function (tag, attrs, text) {
    var node = document.createElementNS(SVG_NS, tag);
    if (attrs) Object.keys(attrs).forEach(function (k) { node.setAttribute(k, String(attrs[k])); });
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  };

  // ---------- connection ----------

  var controller = null;
  var retryMs = 1000;
  var retryTimer = null;

  function token() { return sessionStorage.getItem(TOKEN_KEY); }
  function authHeaders(extra) {
    var headers = extra || {};
    var t = token();
    if (t) headers.authorization = 'Bearer ' + t;
    return headers;
  }
  function api(path, init) {
    init = init || {};
    init.headers = authHeaders(init.headers);
    init.cache = 'no-store';
    return fetch(path, init).then(function (res) {
      return res.json().catch(function () { return {}; }).then(function (body) {
        if (!res.ok) throw new Error(body && body.error ? body.error : 'HTTP ' + res.status);
        return body;
      });
    });
  }

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
    var t = token();
    setConn(state.actors.size ? 'reconnecting' : 'connecting', state.actors.size ? 'reconnecting…' : 'connecting…');
    var signal = controller.signal;
    fetch('/api/stream', { headers: authHeaders({ accept: 'text/event-stream' }), signal: signal, cache: 'no-store' })
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
    var scanFrom = 0; // a 100,000-actor snapshot arrives in many chunks: never rescan what was searched
    function pump() {
      return reader.read().then(function (chunk) {
        if (chunk.done || signal.aborted) return 'ended';
        buffer += decoder.decode(chunk.value, { stream: true });
        var cut;
        while ((cut = buffer.indexOf('\n\n', scanFrom)) !== -1) {
          handleBlock(buffer.slice(0, cut));
          buffer = buffer.slice(cut + 2);
          scanFrom = 0;
        }
        scanFrom = Math.max(0, buffer.length - 1);
        return pump();
      });
    }
    return pump();
  }

  function handleBlock(block) {
    var name = 'message';
    var data = '';
    var lines = block.split('\n');
    for (var i = 0; i < lines.length; i++) {
      var line = lines[i];
      if (line.indexOf('event: ') === 0) name = line.slice(7);
      else if (line.indexOf('data: ') === 0) data += line.slice(6);
    }
    if (!data) return; // a keep-alive comment
    var message = JSON.parse(data);
    if (name === 'snapshot') applySnapshot(message);
    else if (name === 'snapshot-more') applySnapshotPart(message);
    else applyChange(message);
    scheduleRender();
  }

  // ---------- model ----------

  var treeDirty = true;        // membership, order or filters changed: rebuild the flat row list

  function applySnapshot(snapshot) {
    state.actors = new Map();
    state.removedWhileLoading = new Set();
    snapshot.actors.forEach(function (a) { state.actors.set(a.id, a); });
    // `total` null: more parts follow and their count is not known yet.
    state.loading = snapshot.total === null || snapshot.total > snapshot.actors.length ? snapshot.total || -1 : 0;
    state.events = snapshot.events.filter(function (e) { return e.type === 'event'; }).slice(-MAX_LOG);
    if (snapshot.features) state.features = snapshot.features;
    renderFeatures();
    treeDirty = true;
    logDirty = true;
    detailShown = { id: undefined, view: undefined };
    var wanted = linkedActor();
    if (wanted && wanted !== state.selected) select(wanted, { fromLink: true });
    else if (state.selected) refreshSelected();
  }

  /** A large tree arrives in parts after the first; the page is already drawn and usable. */
  // Changes can arrive between the parts: an actor already here came from a newer change, and one
  // removed meanwhile must not come back from an older part.
  function applySnapshotPart(part) {
    part.actors.forEach(function (a) { if (!state.actors.has(a.id) && !state.removedWhileLoading.has(a.id)) state.actors.set(a.id, a); });
    state.loading = part.total;
    if (part.actors.length === 0 || state.actors.size + state.removedWhileLoading.size >= state.loading) { state.loading = 0; state.removedWhileLoading.clear(); }
    treeDirty = true;
  }

  function applyChange(change) {
    if (change.type === 'actor.upsert') {
      var before = state.actors.get(change.actor.id);
      state.actors.set(change.actor.id, change.actor);
      if (!before || before.status !== change.actor.status || before.parent !== change.actor.parent) treeDirty = true;
      else if ((state.stateFilter || state.treeFilter) && stateText(before.state) !== stateText(change.actor.state)) treeDirty = true;
      if (before && JSON.stringify(before.state) !== JSON.stringify(change.actor.state)) {
        state.flashUntil.set(change.actor.id, Date.now() + 1200);
      }
      if (change.actor.id === state.selected) refreshSelected();
    } else if (change.type === 'actor.removed') {
      state.actors.delete(change.id);
      if (state.loading) state.removedWhileLoading.add(change.id);
      treeDirty = true;
    } else if (change.type === 'transition') {
      if (change.id === state.selected) onSelectedTransition(change);
    } else if (change.type === 'event') {
      state.eventTimes.push(Date.now());
      state.seenEvents++;
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

  function renderFeatures() {
    var f = state.features;
    $('mode').textContent = f.controls ? 'controls enabled' : 'read-only';
    $('mode').className = 'mode' + (f.controls ? ' mode-controls' : '');
    $('stat-batch').textContent = 'changes batched every ' + f.batchMs + ' ms';
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

  // Natural order without localeCompare (too slow for 100,000 ids): "user:9" before "user:10".
  var idKeys = new Map();
  function idKey(id) {
    var key = idKeys.get(id);
    if (key) return key;
    var m = /^(.*?)(\d+)$/.exec(id);
    key = m ? { prefix: m[1], n: Number(m[2]) } : { prefix: id, n: -1 };
    idKeys.set(id, key);
    return key;
  }
  function order(a, b) {
    // Problems first, so a quarantined actor is never buried under ten thousand healthy ones.
    var pa = isProblem(a) ? 0 : 1, pb = isProblem(b) ? 0 : 1;
    if (pa !== pb) return pa - pb;
    if (a.kind !== b.kind) return a.kind < b.kind ? -1 : 1;
    var ka = idKey(a.id), kb = idKey(b.id);
    if (ka.prefix !== kb.prefix) return ka.prefix < kb.prefix ? -1 : 1;
    return ka.n - kb.n;
  }

  function childIndex() {
    var children = new Map();
    var roots = [];
    state.actors.forEach(function (actor) {
      if (actor.parent === null || !state.actors.has(actor.parent) || actor.parent === actor.id) roots.push(actor);
      else {
        var list = children.get(actor.parent);
        if (list) list.push(actor); else children.set(actor.parent, [actor]);
      }
    });
    roots.sort(order);
    children.forEach(function (list) { list.sort(order); });
    return { roots: roots, children: children };
  }

  function matchesFilters(actor, text) {
    if (state.kindFilter && actor.kind !== state.kindFilter) return false;
    if (state.stateFilter && stateText(actor.state) !== state.stateFilter) return false;
    if (!text) return true;
    var hay = (actor.id + ' ' + actor.kind + ' ' + actor.status + ' ' + stateText(actor.state)).toLowerCase();
    return hay.indexOf(text) !== -1;
  }

  var flat = { rows: [], matches: 0, filtered: false };

  /** The tree as the list of rows it shows: depth-first, collapsed parents' children left out. */
  function flatten() {
    var index = childIndex();
    var text = state.treeFilter.trim().toLowerCase();
    var filtered = Boolean(text || state.kindFilter || state.stateFilter);
    // With a filter, show matches plus their ancestors so each match keeps its place in the tree.
    var visible = null;
    var matches = 0;
    if (filtered) {
      visible = new Set();
      state.actors.forEach(function (actor) {
        if (!matchesFilters(actor, text)) return;
        matches++;
        for (var a = actor, hops = 0; a && hops < 32 && !visible.has(a.id); a = state.actors.get(a.parent), hops++) visible.add(a.id);
      });
    }
    var rows = [];
    var stack = [];
    for (var r = index.roots.length - 1; r >= 0; r--) stack.push({ actor: index.roots[r], depth: 0 });
    while (stack.length) {
      var item = stack.pop();
      var actor = item.actor;
      if (visible && !visible.has(actor.id)) continue;
      var kids = index.children.get(actor.id) || [];
      rows.push({ actor: actor, depth: item.depth, kids: kids.length });
      if (state.collapsed.has(actor.id) && !filtered) continue;
      for (var k = kids.length - 1; k >= 0; k--) stack.push({ actor: kids[k], depth: item.depth + 1 });
    }
    flat = { rows: rows, matches: filtered ? matches : state.actors.size, filtered: filtered };
  }

  var lastWindow = '';

  function renderTree() {
    if (treeDirty) {
      flatten();
      renderCounts();
      lastWindow = '';
    }
    treeDirty = false;
    var tree = $('tree');
    var total = flat.rows.length;
    $('tree-spacer').style.height = total * ROW_HEIGHT + 'px';
    $('tree-count').textContent = state.loading ? 'loading ' + state.actors.size + (state.loading > 0 ? ' of ' + state.loading : '') + '…'
      : flat.filtered ? flat.matches + ' of ' + state.actors.size + ' match' : total + ' shown';
    var first = Math.max(0, Math.floor(tree.scrollTop / ROW_HEIGHT) - OVERSCAN);
    var last = Math.min(total, Math.ceil((tree.scrollTop + tree.clientHeight) / ROW_HEIGHT) + OVERSCAN);
    var holder = $('tree-rows');
    holder.style.transform = 'translateY(' + first * ROW_HEIGHT + 'px)';
    var fragment = document.createDocumentFragment();
    var now = Date.now();
    for (var i = first; i < last; i++) fragment.appendChild(treeRow(flat.rows[i], now));
    if (!total) fragment.appendChild(el('p', 'empty', flat.filtered ? 'No actor matches the search and filters.' : 'No actors yet.'));
    holder.replaceChildren(fragment);
  }

  function treeRow(row, now) {
    // The row list is rebuilt only when the tree's shape changes; the actor's state is read fresh.
    var actor = state.actors.get(row.actor.id) || row.actor;
    var node = el('div', 'node');
    node.setAttribute('role', 'treeitem');
    node.dataset.id = actor.id;
    node.style.paddingLeft = row.depth * 18 + 6 + 'px';
    if (actor.id === state.selected) node.classList.add('selected');
    if ((state.flashUntil.get(actor.id) || 0) > now) node.classList.add('flash');
    var caret = el('span', 'caret' + (row.kids ? '' : ' leaf'), state.collapsed.has(actor.id) ? '▸' : '▾');
    caret.dataset.toggle = actor.id;
    if (row.kids) node.setAttribute('aria-expanded', String(!state.collapsed.has(actor.id)));
    node.appendChild(caret);
    var dot = el('span', 'status-dot dot-' + actor.status);
    dot.title = actor.status;
    node.appendChild(dot);
    node.appendChild(el('span', 'node-id', actor.id));
    node.appendChild(el('span', 'kind', actor.kind));
    if (actor.status !== 'running') node.appendChild(el('span', 'badge badge-' + actor.status, actor.status));
    var st = el('span', 'node-state', stateText(actor.state));
    st.dataset.role = 'state';
    node.appendChild(st);
    if (row.kids) node.appendChild(el('span', 'count', '(' + row.kids + ')'));
    return node;
  }

  /** Kinds for the kind filter; for the chosen kind (or all), how many actors sit in each state. */
  function renderCounts() {
    var kinds = new Map();
    var perState = new Map();
    state.actors.forEach(function (a) {
      kinds.set(a.kind, (kinds.get(a.kind) || 0) + 1);
      if (state.kindFilter && a.kind !== state.kindFilter) return;
      var s = stateText(a.state);
      perState.set(s, (perState.get(s) || 0) + 1);
    });
    fillSelect($('kind-filter'), 'all kinds', Array.from(kinds.keys()).sort(), state.kindFilter, kinds);
    var states = Array.from(perState.keys()).sort(function (a, b) { return perState.get(b) - perState.get(a) || (a < b ? -1 : 1); });
    fillSelect($('state-filter'), 'all states', states, state.stateFilter, perState);
    var box = $('state-counts');
    var fragment = document.createDocumentFragment();
    states.slice(0, 24).forEach(function (s) {
      var chip = el('button', 'chip' + (s === state.stateFilter ? ' on' : ''));
      chip.type = 'button';
      chip.dataset.state = s;
      chip.appendChild(el('span', 'chip-state', s));
      chip.appendChild(el('b', null, perState.get(s)));
      fragment.appendChild(chip);
    });
    if (states.length > 24) fragment.appendChild(el('span', 'muted', '+' + (states.length - 24) + ' more states (see the state filter)'));
    box.replaceChildren(fragment);
  }

  function fillSelect(select, allLabel, values, chosen, counts) {
    var key = values.join('\u0000') + '|' + chosen + '|' + values.map(function (v) { return counts.get(v); }).join(',');
    if (select.dataset.key === key) return;
    select.dataset.key = key;
    var fragment = document.createDocumentFragment();
    fragment.appendChild(el('option', null, allLabel)).value = '';
    values.forEach(function (v) {
      var option = el('option', null, v + ' (' + counts.get(v) + ')');
      option.value = v;
      fragment.appendChild(option);
    });
    if (chosen && values.indexOf(chosen) === -1) {
      var gone = el('option', null, chosen + ' (0)');
      gone.value = chosen;
      fragment.appendChild(gone);
    }
    select.replaceChildren(fragment);
    select.value = chosen;
  }

  // ---------- the selected actor: statechart, time travel, state, context, controls ----------

  var charts = new Map();      // kind -> Promise<chart | null>
  var selected = {             // what the detail pane shows for state.selected
    full: null,                // ActorView with context, from /api/actor
    steps: [],                 // TransitionStep[], oldest first
    cursor: -1,                // index in steps; -1 follows the live state
    chart: null,
    lastTransition: null,      // { event, from, at } of the last live step, for the edge highlight
    note: '',
  };
  var detailShown = { id: undefined, view: undefined };
  var chartFit = true;         // the chart fits the pane's width; "Actual size" shows it 1:1 with scrolling

  function chartFor(kind) {
    if (!charts.has(kind)) {
      charts.set(kind, state.features.kinds.indexOf(kind) === -1
        ? Promise.resolve(null)
        : api('/api/machines/' + encodeURIComponent(kind)).then(function (body) { return body.chart; }).catch(function () { return null; }));
    }
    return charts.get(kind);
  }

  function linkedActor() {
    var m = /(?:^#|&)actor=([^&]*)/.exec(location.hash);
    if (!m) return null;
    try { return decodeURIComponent(m[1]); } catch (e) { return null; }
  }

  function select(id, options) {
    if (state.selected !== id) {
      selected = { full: null, steps: [], cursor: -1, chart: null, lastTransition: null, note: '' };
      detailShown = { id: undefined, view: undefined };
    }
    state.selected = id;
    if (!(options && options.fromLink)) history.replaceState(null, '', '#actor=' + encodeURIComponent(id));
    logDirty = true;
    refreshSelected();
    loadHistory();
    var actor = state.actors.get(id);
    if (actor) {
      chartFor(actor.kind).then(function (chart) {
        if (state.selected !== id) return;
        selected.chart = chart;
        detailShown.view = undefined;
        scheduleRender();
      });
      revealInTree(id);
    }
    scheduleRender();
  }

  function revealInTree(id) {
    // Expand its ancestors, then scroll its row into the window.
    for (var a = state.actors.get(id), hops = 0; a && a.parent && hops < 32; a = state.actors.get(a.parent), hops++) {
      if (state.collapsed.delete(a.parent)) treeDirty = true;
    }
    if (treeDirty) flatten();
    treeDirty = false;
    for (var i = 0; i < flat.rows.length; i++) {
      if (flat.rows[i].actor.id !== id) continue;
      var tree = $('tree');
      var top = i * ROW_HEIGHT;
      if (top < tree.scrollTop || top > tree.scrollTop + tree.clientHeight - ROW_HEIGHT) tree.scrollTop = Math.max(0, top - tree.clientHeight / 3);
      break;
    }
  }

  var refreshTimer = null;
  /** The selected actor's full view (with context), at most every 150 ms. */
  function refreshSelected() {
    if (refreshTimer || !state.selected) return;
    var id = state.selected;
    refreshTimer = setTimeout(function () {
      refreshTimer = null;
      api('/api/actor?id=' + encodeURIComponent(id)).then(function (body) {
        if (state.selected !== id) return;
        selected.full = body.actor;
        scheduleRender();
      }).catch(function () {
        if (state.selected !== id) return;
        selected.full = null;
        scheduleRender();
      });
    }, selected.full ? 150 : 0);
  }

  var historyTimer = null;
  function loadHistory() {
    if (historyTimer || !state.selected || !state.features.history) return;
    var id = state.selected;
    historyTimer = setTimeout(function () {
      historyTimer = null;
      api('/api/history?id=' + encodeURIComponent(id) + '&limit=100').then(function (body) {
        if (state.selected !== id) return;
        var following = selected.cursor === -1;
        var at = following ? null : selected.steps[selected.cursor];
        selected.steps = body.steps || [];
        // Keep the step the reader is looking at, even as newer steps arrive.
        selected.cursor = following ? -1 : Math.max(0, selected.steps.indexOf(at) === -1 ? findStep(selected.steps, at) : selected.steps.indexOf(at));
        detailShown.view = undefined;
        scheduleRender();
      }).catch(function (err) {
        selected.note = 'History unavailable: ' + err.message;
        scheduleRender();
      });
    }, selected.steps.length ? 250 : 0);
  }

  function findStep(steps, step) {
    if (!step) return steps.length - 1;
    for (var i = steps.length - 1; i >= 0; i--) if (steps[i].at === step.at && steps[i].event === step.event) return i;
    return 0;
  }

  function onSelectedTransition(change) {
    var actor = state.actors.get(change.id);
    selected.lastTransition = { event: change.event, from: selected.liveState, to: change.state, at: Date.now() };
    selected.liveState = change.state;
    if (actor) detailShown.view = undefined;
    loadHistory();
  }

  function renderDetail() {
    var box = $('detail');
    var actor = state.selected ? state.actors.get(state.selected) : null;
    var view = actor ? actor : null;
    var stamp = view ? view.updatedAt + ':' + stateText(view.state) + ':' + view.status : null;
    var key = [state.selected, stamp, selected.full && selected.full.updatedAt, selected.steps.length, selected.cursor, selected.chart ? 1 : 0, selected.note].join('|');
    if (detailShown.id === state.selected && detailShown.view === key) return;
    detailShown = { id: state.selected, view: key };
    if (!actor) {
      var msg = state.selected ? 'Actor ' + state.selected + ' is no longer running.' : 'Select an actor in the tree to see its statechart, state and context.';
      box.replaceChildren(el('p', 'empty', msg));
      renderControls(null);
      return;
    }
    if (selected.liveState === undefined) selected.liveState = actor.state;
    var step = selected.cursor >= 0 ? selected.steps[selected.cursor] : null;
    var shownState = step ? step.state : actor.state;
    var shownContext = step ? step.context : selected.full ? selected.full.context : undefined;

    var title = el('h3', null, actor.id);
    title.appendChild(el('span', 'kind', actor.kind));
    title.appendChild(el('span', 'badge badge-' + actor.status, actor.status));
    var link = el('a', 'permalink', 'link');
    link.href = '#actor=' + encodeURIComponent(actor.id);
    link.title = 'A link to this actor, to paste in an incident channel';
    title.appendChild(link);
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
      var parentLink = el('a', null, actor.parent);
      parentLink.dataset.select = actor.parent;
      add('parent', parentLink);
    } else add('parent', '— (root)');
    var kids = 0;
    state.actors.forEach(function (a) { if (a.parent === actor.id) kids++; });
    add('children', String(kids));
    add('updated', formatTime(actor.updatedAt) + '  (' + ago(actor.updatedAt) + ')');
    meta.lastChild.id = 'detail-updated';

    var parts = [title, meta];
    parts.push(timeTravelBar(step));
    parts.push(chartBlock(actor, shownState, Boolean(step)));

    var stateTitle = el('div', 'section-title', step ? 'state at this step' : 'state');
    var stateValue = el('div', 'state-value', stateText(shownState));
    stateValue.id = 'detail-state';
    parts.push(stateTitle, stateValue);
    if (shownState && typeof shownState === 'object') parts.push(jsonBlock(shownState));
    parts.push(el('div', 'section-title', (step ? 'context at this step' : 'context') + ' (secrets removed)'));
    var ctx = shownContext === undefined ? el('p', 'muted', 'loading…') : jsonBlock(shownContext);
    ctx.id = 'detail-context';
    parts.push(ctx);
    box.replaceChildren.apply(box, parts);
    renderControls(actor);
  }

  function timeTravelBar(step) {
    var bar = el('div', 'travel');
    bar.id = 'travel';
    var n = selected.steps.length;
    var back = el('button', 'ghost', '◀ Back');
    back.type = 'button';
    back.id = 'step-back';
    back.disabled = n === 0 || selected.cursor === 0;
    var fwd = el('button', 'ghost', 'Forward ▶');
    fwd.type = 'button';
    fwd.id = 'step-forward';
    fwd.disabled = selected.cursor === -1;
    var live = el('button', 'ghost', 'Live');
    live.type = 'button';
    live.id = 'step-live';
    live.disabled = selected.cursor === -1;
    bar.append(back, fwd, live);
    var where = el('span', 'travel-where');
    where.id = 'travel-where';
    if (!state.features.history) where.textContent = 'No history source: time travel is off.';
    else if (!n) where.textContent = selected.note || 'No recorded steps yet.';
    else if (!step) where.textContent = 'Live · ' + n + ' recorded steps; step back to see earlier states';
    else where.textContent = 'Step ' + (selected.cursor + 1) + ' of ' + n + ' · ' + step.event + ' · ' + formatTime(step.at) + ' · ' + (step.origin === 'journal' ? 'from the journal (before the last restart or earlier)' : 'from this run');
    bar.appendChild(where);
    if (step) bar.classList.add('travel-past');
    return bar;
  }

  // ---------- statechart drawing ----------

  /** Node ids that are active for a state value: the root, then each key path down. */
  function activeIds(chart, value) {
    var out = new Set([chart.root]);
    var walk = function (prefix, v) {
      if (v === null || v === undefined) return;
      if (typeof v !== 'object') { out.add(prefix + '.' + v); return; }
      Object.keys(v).forEach(function (k) {
        out.add(prefix + '.' + k);
        walk(prefix + '.' + k, v[k]);
      });
    };
    walk(chart.root, value);
    return out;
  }

  function chartBlock(actor, shownState, past) {
    var wrap = el('div', 'chart-wrap');
    wrap.id = 'chart';
    var chart = selected.chart;
    if (!chart) {
      wrap.appendChild(el('p', 'muted', state.features.kinds.indexOf(actor.kind) === -1 ? 'No statechart for the kind “' + actor.kind + '”.' : 'Drawing the ' + actor.kind + ' statechart…'));
      return wrap;
    }
    var active = activeIds(chart, shownState);
    var taken = new Set();
    var t = selected.lastTransition;
    if (!past && t && Date.now() - t.at < 4000 && t.from !== undefined) {
      var from = activeIds(chart, t.from);
      var to = activeIds(chart, t.to);
      chart.edges.forEach(function (e) { if (e.event === t.event && from.has(e.source) && to.has(e.target)) taken.add(e.id); });
    }
    var legend = el('div', 'chart-legend');
    legend.appendChild(el('span', 'lg lg-active', past ? 'state at this step' : 'current state'));
    if (taken.size) legend.appendChild(el('span', 'lg lg-taken', 'last transition: ' + t.event));
    else if (t && !past && Date.now() - t.at < 4000) legend.appendChild(el('span', 'lg lg-taken', 'last event: ' + t.event));
    legend.appendChild(el('span', 'lg', 'dashed: delayed · [guard] · done:/error: an invoked effect\'s outcome'));
    wrap.appendChild(legend);

    var W = chart.width, H = chart.height;
    var zoom = el('button', 'ghost chart-zoom', chartFit ? 'Actual size' : 'Fit');
    zoom.type = 'button';
    zoom.id = 'chart-zoom';
    legend.appendChild(zoom);
    var root = svg('svg', { viewBox: '0 0 ' + W + ' ' + H, class: 'chart' + (chartFit ? ' fit' : ''), role: 'img', 'aria-label': 'statechart of ' + chart.machine });
    if (!chartFit) { root.setAttribute('width', W); root.setAttribute('height', H); }
    else root.style.maxWidth = W + 'px';
    root.dataset.machine = chart.machine;
    var defs = svg('defs');
    ['arrow', 'arrow-taken'].forEach(function (id) {
      var marker = svg('marker', { id: id, viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse' });
      marker.appendChild(svg('path', { d: 'M0,0 L10,5 L0,10 z', class: id === 'arrow' ? 'arrowhead' : 'arrowhead taken' }));
      defs.appendChild(marker);
    });
    root.appendChild(defs);

    var byId = new Map(chart.states.map(function (s) { return [s.id, s]; }));
    chart.states.forEach(function (s) {
      var parent = s.parent ? byId.get(s.parent) : null;
      var g = svg('g', { class: 'st st-' + s.type + (active.has(s.id) ? ' active' : '') + (parent && parent.type === 'parallel' ? ' region' : '') });
      g.dataset.state = s.id;
      g.appendChild(svg('rect', { x: s.x, y: s.y, width: s.width, height: s.height, rx: 8 }));
      if (s.type === 'final') g.appendChild(svg('rect', { x: s.x + 3, y: s.y + 3, width: s.width - 6, height: s.height - 6, rx: 6, class: 'inner' }));
      g.appendChild(svg('text', { x: s.x + 10, y: s.y + 17, class: 'st-name' }, s.id === chart.root ? chart.machine : s.key));
      var lines = [];
      if (s.entry.length) lines.push('entry / ' + s.entry.join(', '));
      if (s.exit.length) lines.push('exit / ' + s.exit.join(', '));
      s.invoke.forEach(function (src) { lines.push('invoke ' + src); });
      s.internal.forEach(function (line) { lines.push(line); });
      if (s.tags.length) lines.push('tags: ' + s.tags.join(', '));
      lines.forEach(function (line, i) { g.appendChild(svg('text', { x: s.x + 10, y: s.y + 34 + i * 15, class: 'st-detail' }, line)); });
      root.appendChild(g);
      if (parent && parent.initial === s.id) {
        // The initial marker: a dot with a short arrow into the state.
        root.appendChild(svg('circle', { cx: s.x - 8, cy: s.y - 8, r: 4, class: 'initial' }));
        root.appendChild(svg('path', { d: 'M' + (s.x - 5) + ',' + (s.y - 5) + ' L' + (s.x + 2) + ',' + (s.y + 2), class: 'edge', 'marker-end': 'url(#arrow)' }));
      }
    });
    chart.edges.forEach(function (e) {
      if (!e.points.length) return;
      var isTaken = taken.has(e.id);
      var d = e.points.map(function (p, i) { return (i ? 'L' : 'M') + p.x + ',' + p.y; }).join(' ');
      var g = svg('g', { class: 'tr tr-' + e.kind + (isTaken ? ' taken' : '') });
      g.dataset.edge = e.id;
      g.dataset.event = e.event;
      g.appendChild(svg('path', { d: d, class: 'edge', 'marker-end': isTaken ? 'url(#arrow-taken)' : 'url(#arrow)' }));
      g.appendChild(svg('rect', { x: e.label.x - 2, y: e.label.y, width: e.label.width, height: e.label.height, rx: 3, class: 'label-bg' }));
      e.label.lines.forEach(function (line, i) {
        g.appendChild(svg('text', { x: e.label.x + 1, y: e.label.y + 12 + i * 15, class: i ? 'label guard' : 'label' }, line));
      });
      g.appendChild(svg('title', null, e.event + (e.guard ? ' [' + e.guard + ']' : '') + (e.delay ? ' (delay ' + e.delay + ')' : '') + (e.actions.length ? ' / ' + e.actions.join(', ') : '')));
      root.appendChild(g);
    });
    var scroller = el('div', 'chart-scroll');
    scroller.appendChild(root);
    wrap.appendChild(scroller);
    return wrap;
  }

  // ---------- controls (only when the operator enabled them) ----------

  // Kept apart from the detail above, which is redrawn on every change of the actor: an operator
  // typing an event must not lose the text or the focus because the actor moved.
  var controlsShown = '';
  function renderControls(actor) {
    var key = state.features.controls && actor ? actor.id + '|' + (actor.status === 'quarantined') : '';
    if (key === controlsShown) return;
    controlsShown = key;
    var holder = $('detail-controls');
    if (!key) { holder.replaceChildren(); return; }
    holder.replaceChildren(controlsBlock(actor));
  }

  function controlsBlock(actor) {
    var box = el('div', 'controls');
    box.appendChild(el('div', 'section-title', 'controls (audited)'));
    var form = el('form', 'control-form');
    form.id = 'send-form';
    var input = el('input');
    input.id = 'send-event';
    input.placeholder = '{"type": "user.pause"}';
    input.setAttribute('aria-label', 'Event to send, as JSON');
    var send = el('button', null, 'Send event');
    send.type = 'submit';
    form.append(input, send);
    box.appendChild(form);
    if (actor.status === 'quarantined') {
      var release = el('button', 'danger', 'Release from quarantine');
      release.type = 'button';
      release.id = 'release';
      box.appendChild(release);
    }
    var result = el('p', 'control-result');
    result.id = 'control-result';
    box.appendChild(result);
    return box;
  }

  function postControl(path, body) {
    return api(path, { method: 'POST', headers: { 'content-type': 'application/json', 'x-vanta-inspector': '1' }, body: JSON.stringify(body) });
  }

  // ---------- JSON ----------

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

  // ---------- event log and sequence view ----------

  function logMatches(e) {
    if (state.logSelectedOnly && state.selected && e.target !== state.selected && e.source !== state.selected) return false;
    var f = state.logFilter.trim().toLowerCase();
    if (!f) return true;
    return (e.target + ' ' + (e.source || '') + ' ' + e.event.type).toLowerCase().indexOf(f) !== -1;
  }

  function renderLog() {
    if (state.logTab === 'seq') { renderSequence(); return; }
    var body = $('log-body');
    var fragment = document.createDocumentFragment();
    var shown = 0, matching = 0;
    for (var i = state.events.length - 1; i >= 0; i--) {
      var e = state.events[i];
      if (!logMatches(e)) continue;
      matching++;
      if (shown < LOG_ROWS) { fragment.appendChild(logRow(e)); shown++; }
    }
    body.replaceChildren(fragment);
    $('log-empty').hidden = shown > 0;
    $('log-empty').textContent = state.events.length ? 'No event matches the filter.' : 'No events yet.';
    $('log-note').textContent = matching > shown
      ? 'Showing the newest ' + shown + ' of ' + matching + ' kept events (the page keeps the last ' + MAX_LOG + ' of ' + state.seenEvents + ' received; drawn once per frame).'
      : '';
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

  /** Who sent what to whom: lifelines for the actors in the newest matching events, one arrow each. */
  function renderSequence() {
    var box = $('seq-view');
    var picked = [];
    for (var i = state.events.length - 1; i >= 0 && picked.length < SEQ_EVENTS; i--) {
      var e = state.events[i];
      if (state.selected && e.target !== state.selected && e.source !== state.selected) continue;
      if (!logMatches(e)) continue;
      picked.push(e);
    }
    picked.reverse();
    if (!picked.length) {
      box.replaceChildren(el('p', 'empty', state.selected ? 'No events to or from ' + state.selected + ' in the log.' : 'No events yet.'));
      return;
    }
    var names = [];
    if (state.selected) names.push(state.selected);
    picked.forEach(function (ev) {
      [ev.source || 'outside', ev.target].forEach(function (n) { if (names.indexOf(n) === -1) names.push(n); });
    });
    var COL = 170, TOP = 34, STEP = 26;
    var width = names.length * COL + 40, height = TOP + picked.length * STEP + 20;
    var root = svg('svg', { width: width, height: height, class: 'seq', role: 'img', 'aria-label': 'sequence of events between actors' });
    var defs = svg('defs');
    var marker = svg('marker', { id: 'seq-arrow', viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse' });
    marker.appendChild(svg('path', { d: 'M0,0 L10,5 L0,10 z', class: 'arrowhead' }));
    defs.appendChild(marker);
    root.appendChild(defs);
    var x = function (name) { return 20 + names.indexOf(name) * COL + COL / 2; };
    names.forEach(function (n) {
      root.appendChild(svg('line', { x1: x(n), y1: TOP - 6, x2: x(n), y2: height - 6, class: 'lifeline' }));
      var label = svg('text', { x: x(n), y: 16, class: 'seq-actor' + (n === state.selected ? ' me' : ''), 'text-anchor': 'middle' }, n.length > 22 ? n.slice(0, 21) + '…' : n);
      label.dataset.actor = n;
      root.appendChild(label);
    });
    picked.forEach(function (ev, k) {
      var y = TOP + k * STEP + 10;
      var from = x(ev.source || 'outside'), to = x(ev.target);
      var g = svg('g', { class: 'msg' });
      if (from === to) g.appendChild(svg('path', { d: 'M' + from + ',' + (y - 6) + ' h 30 v 12 h -28', class: 'msg-line', 'marker-end': 'url(#seq-arrow)' }));
      else g.appendChild(svg('line', { x1: from, y1: y, x2: to, y2: y, class: 'msg-line', 'marker-end': 'url(#seq-arrow)' }));
      g.appendChild(svg('text', { x: (from + to) / 2 + (from === to ? 36 : 0), y: y - 4, 'text-anchor': from === to ? 'start' : 'middle', class: 'msg-text' }, ev.event.type));
      g.appendChild(svg('title', null, formatTime(ev.at) + '  ' + (ev.source || 'outside') + ' → ' + ev.target + '  ' + ev.event.type));
      root.appendChild(g);
    });
    box.replaceChildren(root);
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

  $('tree').addEventListener('scroll', function () { scheduleRender(); }, { passive: true });
  window.addEventListener('resize', function () { scheduleRender(); });

  $('tree').addEventListener('click', function (ev) {
    var toggle = ev.target.closest('[data-toggle]');
    if (toggle && !toggle.classList.contains('leaf')) {
      var id = toggle.dataset.toggle;
      if (state.collapsed.has(id)) state.collapsed.delete(id); else state.collapsed.add(id);
      treeDirty = true;
      scheduleRender();
      return;
    }
    var row = ev.target.closest('.node');
    if (row) select(row.dataset.id);
  });

  $('state-counts').addEventListener('click', function (ev) {
    var chip = ev.target.closest('[data-state]');
    if (!chip) return;
    state.stateFilter = state.stateFilter === chip.dataset.state ? '' : chip.dataset.state;
    treeDirty = true;
    scheduleRender();
  });

  $('detail').addEventListener('click', function (ev) {
    var link = ev.target.closest('[data-select]');
    if (link) select(link.dataset.select);
    if (ev.target.closest('[data-filter-log]')) {
      state.logSelectedOnly = true;
      $('log-selected').checked = true;
      logDirty = true;
      scheduleRender();
    }
    var n = selected.steps.length;
    if (ev.target.closest('#step-back') && n) {
      selected.cursor = selected.cursor === -1 ? Math.max(0, n - 2) : Math.max(0, selected.cursor - 1);
      scheduleRender();
    } else if (ev.target.closest('#step-forward') && selected.cursor !== -1) {
      selected.cursor = selected.cursor + 1 >= n - 1 ? -1 : selected.cursor + 1;
      scheduleRender();
    } else if (ev.target.closest('#step-live')) {
      selected.cursor = -1;
      scheduleRender();
    } else if (ev.target.closest('#chart-zoom')) {
      chartFit = !chartFit;
      detailShown.view = undefined;
      scheduleRender();
    }
  });

  $('detail-controls').addEventListener('click', function (ev) {
    if (ev.target.closest('#release')) controlResult(postControl('/api/control/release', { id: state.selected }), 'Released.');
  });

  $('detail-controls').addEventListener('submit', function (ev) {
    if (!ev.target.closest('#send-form')) return;
    ev.preventDefault();
    var event;
    try { event = JSON.parse($('send-event').value); } catch (e) { $('control-result').textContent = 'That is not JSON: write it like {"type": "user.pause"}.'; return; }
    controlResult(postControl('/api/control/send', { id: state.selected, event: event }), 'Sent.');
  });

  function controlResult(promise, done) {
    $('control-result').textContent = 'Sending…';
    promise.then(function () { var r = $('control-result'); if (r) r.textContent = done; })
      .catch(function (err) { var r = $('control-result'); if (r) r.textContent = 'Refused: ' + err.message; });
  }

  window.addEventListener('hashchange', function () {
    var id = linkedActor();
    if (id && id !== state.selected) select(id, { fromLink: true });
  });
  document.addEventListener('keydown', function (ev) {
    if (!state.selected || ev.target.closest('input, select, textarea')) return;
    if (ev.key === 'ArrowLeft' && ev.altKey) { var b = $('step-back'); if (b && !b.disabled) b.click(); }
    if (ev.key === 'ArrowRight' && ev.altKey) { var f = $('step-forward'); if (f && !f.disabled) f.click(); }
  });

  $('tree-filter').addEventListener('input', function (ev) { state.treeFilter = ev.target.value; treeDirty = true; scheduleRender(); });
  $('kind-filter').addEventListener('change', function (ev) { state.kindFilter = ev.target.value; state.stateFilter = ''; treeDirty = true; scheduleRender(); });
  $('state-filter').addEventListener('change', function (ev) { state.stateFilter = ev.target.value; treeDirty = true; scheduleRender(); });
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
  function showTab(tab) {
    state.logTab = tab;
    $('tab-log').setAttribute('aria-selected', String(tab === 'log'));
    $('tab-seq').setAttribute('aria-selected', String(tab === 'seq'));
    $('log-view').hidden = tab !== 'log';
    $('seq-view').hidden = tab !== 'seq';
    logDirty = true;
    scheduleRender();
  }
  $('tab-log').addEventListener('click', function () { showTab('log'); });
  $('tab-seq').addEventListener('click', function () { showTab('seq'); });
  $('seq-view').addEventListener('click', function (ev) {
    var label = ev.target.closest('[data-actor]');
    if (label && state.actors.has(label.dataset.actor)) select(label.dataset.actor);
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

  // "updated N s ago", the events/s figure and the fading edge highlight keep moving even when nothing else does.
  setInterval(function () {
    renderStats();
    var updated = $('detail-updated');
    var actor = state.selected && state.actors.get(state.selected);
    if (updated && actor) updated.textContent = formatTime(actor.updatedAt) + '  (' + ago(actor.updatedAt) + ')';
    if (selected.lastTransition && Date.now() - selected.lastTransition.at > 4000 && !selected.lastTransition.faded) {
      selected.lastTransition.faded = true;
      detailShown.view = undefined;
      scheduleRender();
    }
  }, 1000);

  connect();
})();
