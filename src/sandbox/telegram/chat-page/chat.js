// The sandbox chat: a Telegram-like chat with the bot, talking to the local Bot API double.
// State arrives as a snapshot, then as live events over server-sent events; what the user does
// goes out as two small JSON calls (send a message, press a button).
import { renderFormatted } from './render.js';

const $ = (id) => document.getElementById(id);
const query = new URLSearchParams(location.search);
const userQuery = new URLSearchParams();
if (query.get('user')) userQuery.set('user', query.get('user'));
if (query.get('name')) userQuery.set('name', query.get('name'));
const suffix = userQuery.toString() ? `?${userQuery}` : '';

const ui = {
  scroller: $('scroller'),
  messages: $('messages'),
  input: $('input'),
  send: $('send'),
  menuButton: $('menu-button'),
  commands: $('commands'),
  replyKeyboard: $('reply-keyboard'),
  keyboardToggle: $('keyboard-toggle'),
  jump: $('jump'),
  jumpCount: $('jump-count'),
  toast: $('toast'),
  alert: $('alert'),
  alertTitle: $('alert-title'),
  alertText: $('alert-text'),
  alertOk: $('alert-ok'),
  botName: $('bot-name'),
  botAvatar: $('bot-avatar'),
  botStatus: $('bot-status'),
  who: $('who'),
  whoButton: $('who-button'),
  whoName: $('who-name'),
  whoId: $('who-id'),
  whoForm: $('who-form'),
  whoInput: $('who-input'),
};

const state = {
  bot: { name: 'Vanta', username: '', description: '' },
  user: { id: 0, firstName: 'You' },
  /** @type {Map<number, any>} */
  messages: new Map(),
  commands: [],
  replyKeyboard: null,
  keyboardOpen: true,
  connected: false,
  typingUntil: 0,
  unseen: 0,
  /** Buttons waiting for the bot's answer: callback query id → button element. */
  pendingPresses: new Map(),
  /** Answers seen on the stream; one can arrive before the press request itself returns. */
  answered: new Set(),
};

// ---------------------------------------------------------------- rendering

const timeFormat = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit' });
const dayFormat = new Intl.DateTimeFormat(undefined, { weekday: 'long', month: 'long', day: 'numeric' });

function dayLabel(seconds) {
  const date = new Date(seconds * 1000);
  const today = new Date();
  if (date.toDateString() === today.toDateString()) return 'Today';
  const yesterday = new Date(today.getTime() - 86_400_000);
  if (date.toDateString() === yesterday.toDateString()) return 'Yesterday';
  return dayFormat.format(date);
}

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function renderAll() {
  ui.messages.replaceChildren();
  const entries = [...state.messages.values()].sort((a, b) => a.messageId - b.messageId);
  if (entries.length === 0) ui.messages.append(emptyState());
  let lastDay = '';
  for (const entry of entries) {
    const day = dayLabel(entry.date);
    if (day !== lastDay) {
      ui.messages.append(el('div', 'day', day));
      lastDay = day;
    }
    ui.messages.append(messageRow(entry));
  }
  scrollToBottom(false);
}

function emptyState() {
  const box = el('div', 'empty');
  const avatar = el('div', 'empty-avatar', initial(state.bot.name));
  const name = el('div', 'empty-name', state.bot.name);
  const handle = el('div', 'empty-handle', state.bot.username ? `@${state.bot.username}` : '');
  const about = el('p', 'empty-about', state.bot.description || 'Trade Avantis perpetuals from a chat. This is the sandbox: a local chain with test money, and a local stand-in for Telegram. Nothing you do here leaves this machine.');
  const start = el('button', 'start-button', 'Start');
  start.type = 'button';
  start.addEventListener('click', () => sendText('/start'));
  box.append(avatar, name, handle, about, start);
  return box;
}

function initial(name) {
  return (name.trim()[0] ?? 'V').toUpperCase();
}

function messageRow(entry) {
  const row = el('div', `row ${entry.from}`);
  row.dataset.messageId = String(entry.messageId);
  const bubble = el('div', 'bubble');
  if (entry.photo) {
    bubble.classList.add('has-photo');
    const img = document.createElement('img');
    img.className = 'photo';
    img.src = entry.photo.url;
    img.alt = entry.text ? entry.text.slice(0, 120) : 'Photo from the bot';
    if (entry.photo.width && entry.photo.height) {
      img.width = entry.photo.width;
      img.height = entry.photo.height;
    }
    img.loading = 'lazy';
    img.addEventListener('click', () => window.open(entry.photo.url, '_blank', 'noopener'));
    img.addEventListener('load', () => stickToBottom());
    bubble.append(img);
  } else if (entry.remotePhotoUrl) {
    bubble.classList.add('has-photo');
    const placeholder = el('div', 'photo-placeholder', 'Photo by URL (the sandbox does not fetch it)');
    placeholder.title = entry.remotePhotoUrl;
    bubble.append(placeholder);
  } else if (entry.unsimulatedKind) {
    bubble.append(el('div', 'unsimulated', `${entry.unsimulatedKind.replace(/^send/, '')} · not shown in the sandbox`));
  }
  const meta = el('span', 'meta');
  if (entry.editDate) meta.append(el('span', 'edited', 'edited'), ' ');
  meta.append(el('time', 'time', timeFormat.format(new Date(entry.date * 1000))));
  if (entry.from === 'user') {
    const ticks = el('span', `ticks${entry.delivered ? ' delivered' : ''}`);
    ticks.title = entry.delivered ? 'The bot received it' : 'Waiting for the bot to fetch it (is it running?)';
    ticks.setAttribute('aria-label', ticks.title);
    bubble.classList.add('with-ticks');
    meta.append(ticks);
  }
  if (entry.text) {
    const text = el('div', 'text');
    text.append(renderFormatted(entry.text, entry.entities ?? [], { onCommand: (command) => sendText(command) }));
    // An invisible copy of the time (CSS ::after) keeps the last line clear of it, however wide the locale's time is.
    text.dataset.meta = meta.textContent;
    bubble.append(text);
  }
  bubble.append(meta);
  row.append(bubble);
  if (entry.keyboard && entry.keyboard.length > 0) row.append(inlineKeyboard(entry));
  return row;
}

function inlineKeyboard(entry) {
  const keyboard = el('div', 'keyboard');
  for (const buttons of entry.keyboard) {
    const row = el('div', 'keyboard-row');
    for (const button of buttons) {
      const b = el('button', 'key');
      b.type = 'button';
      b.append(el('span', 'key-label', button.text));
      if (button.url) {
        b.classList.add('key-link');
        b.title = button.url;
        b.addEventListener('click', () => {
          if (/^https?:/i.test(button.url)) window.open(button.url, '_blank', 'noopener,noreferrer');
          else toast(`The bot offers a link: ${button.url}`);
        });
      } else if (button.callback_data !== undefined) {
        b.addEventListener('click', () => press(entry.messageId, button.callback_data, b));
      } else {
        b.addEventListener('click', () => toast('This kind of button does not work in the sandbox'));
      }
      row.append(b);
    }
    keyboard.append(row);
  }
  return keyboard;
}

function upsert(entry) {
  const isNew = !state.messages.has(entry.messageId);
  state.messages.set(entry.messageId, entry);
  const existing = ui.messages.querySelector(`.row[data-message-id="${entry.messageId}"]`);
  const atBottom = isAtBottom();
  if (existing) {
    const row = messageRow(entry);
    existing.replaceWith(row);
    if (entry.editDate) row.querySelector('.bubble')?.classList.add('flash');
    if (atBottom) scrollToBottom(true);
    return;
  }
  ui.messages.querySelector('.empty')?.remove();
  const last = [...state.messages.values()].filter((m) => m.messageId < entry.messageId).sort((a, b) => b.messageId - a.messageId)[0];
  const day = dayLabel(entry.date);
  if (!last || dayLabel(last.date) !== day) ui.messages.append(el('div', 'day', day));
  const row = messageRow(entry);
  row.classList.add('appear');
  ui.messages.append(row);
  if (entry.from === 'bot') state.typingUntil = 0;
  updateStatus();
  if (atBottom || entry.from === 'user') scrollToBottom(true);
  else if (isNew) {
    state.unseen++;
    updateJump();
  }
}

function remove(messageId) {
  state.messages.delete(messageId);
  const row = ui.messages.querySelector(`.row[data-message-id="${messageId}"]`);
  if (!row) return;
  row.classList.add('vanish');
  setTimeout(() => renderAll(), 180);
}

function markDelivered(messageId) {
  const entry = state.messages.get(messageId);
  if (!entry) return;
  entry.delivered = true;
  const ticks = ui.messages.querySelector(`.row[data-message-id="${messageId}"] .bubble > .meta .ticks`);
  if (ticks) {
    ticks.classList.add('delivered');
    ticks.title = 'The bot received it';
  }
}

// ---------------------------------------------------------------- scrolling

function isAtBottom() {
  const s = ui.scroller;
  return s.scrollHeight - s.scrollTop - s.clientHeight < 80;
}

function scrollToBottom(smooth) {
  ui.scroller.scrollTo({ top: ui.scroller.scrollHeight, behavior: smooth && !matchMedia('(prefers-reduced-motion: reduce)').matches ? 'smooth' : 'auto' });
  state.unseen = 0;
  updateJump();
}

function stickToBottom() {
  if (isAtBottom()) scrollToBottom(false);
}

function updateJump() {
  const show = !isAtBottom();
  ui.jump.hidden = !show;
  ui.jumpCount.hidden = state.unseen === 0;
  ui.jumpCount.textContent = String(state.unseen);
}

ui.scroller.addEventListener('scroll', () => {
  if (isAtBottom()) state.unseen = 0;
  updateJump();
}, { passive: true });
ui.jump.addEventListener('click', () => scrollToBottom(true));

// ---------------------------------------------------------------- header, status, profile

function renderProfile() {
  ui.botName.textContent = state.bot.name;
  ui.botAvatar.textContent = initial(state.bot.name);
  document.title = `${state.bot.name} · sandbox chat`;
  ui.whoName.textContent = state.user.firstName;
  ui.whoId.textContent = String(state.user.id);
}

function updateStatus() {
  let text = state.bot.username ? `@${state.bot.username} · bot` : 'bot';
  let typing = false;
  if (!state.connected) text = 'connecting…';
  else if (Date.now() < state.typingUntil) {
    text = 'typing…';
    typing = true;
  }
  ui.botStatus.textContent = text;
  ui.botStatus.classList.toggle('typing', typing);
  ui.botStatus.classList.toggle('offline', !state.connected);
}

ui.whoButton.addEventListener('click', (event) => {
  event.stopPropagation();
  const open = ui.who.hidden;
  ui.who.hidden = !open;
  ui.whoButton.setAttribute('aria-expanded', String(open));
  if (open) ui.whoInput.focus();
});
ui.whoForm.addEventListener('submit', (event) => {
  event.preventDefault();
  const id = ui.whoInput.value.trim();
  if (!/^\d{1,15}$/.test(id) || Number(id) === 0) {
    ui.whoInput.setCustomValidity('A user id is a positive whole number');
    ui.whoInput.reportValidity();
    return;
  }
  location.search = `?user=${id}`;
});
ui.whoInput.addEventListener('input', () => ui.whoInput.setCustomValidity(''));
document.addEventListener('click', (event) => {
  if (!ui.who.hidden && !ui.who.contains(event.target)) {
    ui.who.hidden = true;
    ui.whoButton.setAttribute('aria-expanded', 'false');
  }
});

// ---------------------------------------------------------------- commands menu and reply keyboard

function renderCommands(filter) {
  ui.menuButton.hidden = state.commands.length === 0;
  ui.commands.replaceChildren();
  const shown = state.commands.filter((c) => filter === undefined || `/${c.command}`.startsWith(filter));
  for (const command of shown) {
    const item = el('button', 'command-item');
    item.type = 'button';
    item.setAttribute('role', 'option');
    item.append(el('span', 'command-name', `/${command.command}`), el('span', 'command-description', command.description));
    item.addEventListener('click', () => {
      closeCommands();
      ui.input.value = '';
      sendText(`/${command.command}`);
    });
    ui.commands.append(item);
  }
  return shown.length;
}

function openCommands(filter) {
  if (renderCommands(filter) === 0) return closeCommands();
  ui.commands.hidden = false;
  ui.menuButton.setAttribute('aria-expanded', 'true');
}

function closeCommands() {
  ui.commands.hidden = true;
  ui.menuButton.setAttribute('aria-expanded', 'false');
}

ui.menuButton.addEventListener('click', () => (ui.commands.hidden ? openCommands() : closeCommands()));

function renderReplyKeyboard() {
  const keyboard = state.replyKeyboard;
  ui.keyboardToggle.hidden = !keyboard;
  ui.replyKeyboard.hidden = !keyboard || !state.keyboardOpen;
  ui.replyKeyboard.replaceChildren();
  if (!keyboard) return;
  if (keyboard.placeholder) ui.input.placeholder = keyboard.placeholder;
  for (const buttons of keyboard.keyboard) {
    const row = el('div', 'keyboard-row');
    for (const button of buttons) {
      const b = el('button', 'reply-key', button.text);
      b.type = 'button';
      b.addEventListener('click', () => sendText(button.text));
      row.append(b);
    }
    ui.replyKeyboard.append(row);
  }
}

ui.keyboardToggle.addEventListener('click', () => {
  state.keyboardOpen = !state.keyboardOpen;
  renderReplyKeyboard();
});

// ---------------------------------------------------------------- toasts and alerts

let toastTimer = 0;
function toast(text) {
  ui.toast.textContent = text;
  ui.toast.hidden = false;
  ui.toast.classList.remove('leaving');
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => {
    ui.toast.classList.add('leaving');
    toastTimer = setTimeout(() => (ui.toast.hidden = true), 200);
  }, Math.min(6000, 1800 + text.length * 40));
}

function alertBox(text) {
  ui.alertTitle.textContent = state.bot.name;
  ui.alertText.textContent = text;
  ui.alert.hidden = false;
  ui.alertOk.focus();
}
ui.alertOk.addEventListener('click', () => {
  ui.alert.hidden = true;
  ui.input.focus();
});
ui.alert.addEventListener('keydown', (event) => {
  if (event.key === 'Escape' || event.key === 'Enter') {
    event.preventDefault();
    ui.alertOk.click();
  }
});

function showAnswer(answer) {
  state.answered.add(answer.callbackQueryId);
  const button = state.pendingPresses.get(answer.callbackQueryId);
  if (button) {
    button.classList.remove('loading');
    state.pendingPresses.delete(answer.callbackQueryId);
  }
  if (answer.text && answer.showAlert) alertBox(answer.text);
  else if (answer.text) toast(answer.text);
  if (answer.url) toast(`The bot asks to open ${answer.url}`);
}

// ---------------------------------------------------------------- sending

async function post(path, body) {
  const response = await fetch(`${path}${suffix}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const json = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(json.error ?? `HTTP ${response.status}`);
  return json;
}

async function sendText(text) {
  if (!text.trim()) return;
  closeCommands();
  try {
    const { entry } = await post('/chat/api/send', { text });
    // The live stream usually shows the message first (and may already mark it delivered).
    if (!state.messages.has(entry.messageId)) upsert(entry);
  } catch (err) {
    toast(`Not sent: ${err.message}`);
  }
}

async function press(messageId, data, button) {
  if (button.classList.contains('loading')) return;
  button.classList.add('loading');
  try {
    const { callbackQueryId } = await post('/chat/api/press', { messageId, data });
    if (state.answered.has(callbackQueryId)) {
      button.classList.remove('loading');
      return;
    }
    state.pendingPresses.set(callbackQueryId, button);
    // Telegram stops the spinner after a while even if the bot never answers.
    setTimeout(() => {
      if (state.pendingPresses.get(callbackQueryId) === button) {
        button.classList.remove('loading');
        state.pendingPresses.delete(callbackQueryId);
      }
    }, 15_000);
  } catch (err) {
    button.classList.remove('loading');
    toast(`Not sent: ${err.message}`);
  }
}

function submit() {
  const text = ui.input.value;
  if (!text.trim()) return;
  ui.input.value = '';
  autosize();
  void sendText(text);
}

function autosize() {
  ui.input.style.height = 'auto';
  ui.input.style.height = `${Math.min(ui.input.scrollHeight, 160)}px`;
  ui.send.disabled = ui.input.value.trim() === '';
}

ui.input.addEventListener('input', () => {
  autosize();
  const value = ui.input.value;
  if (value.startsWith('/') && !/\s/.test(value) && state.commands.length > 0) openCommands(value);
  else if (!ui.commands.hidden && value !== '') closeCommands();
});
ui.input.addEventListener('keydown', (event) => {
  if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    submit();
  } else if (event.key === 'Escape') {
    closeCommands();
  }
});
ui.send.addEventListener('click', submit);

// ---------------------------------------------------------------- live connection

function applySnapshot(snapshot) {
  state.bot = snapshot.bot;
  state.user = snapshot.user;
  state.commands = snapshot.commands;
  state.replyKeyboard = snapshot.replyKeyboard;
  state.messages = new Map(snapshot.messages.map((m) => [m.messageId, m]));
  renderProfile();
  renderCommands();
  renderReplyKeyboard();
  renderAll();
  updateStatus();
}

function onEvent(event) {
  switch (event.type) {
    case 'message':
    case 'edited':
      upsert(event.entry);
      break;
    case 'deleted':
      remove(event.messageId);
      break;
    case 'delivered':
      markDelivered(event.messageId);
      break;
    case 'answer':
      showAnswer(event.answer);
      break;
    case 'action':
      // Telegram shows a chat action for about five seconds, or until the next message.
      state.typingUntil = Date.now() + 5000;
      updateStatus();
      setTimeout(updateStatus, 5100);
      break;
    case 'keyboard':
      state.replyKeyboard = event.keyboard;
      state.keyboardOpen = true;
      renderReplyKeyboard();
      break;
    case 'commands':
      state.commands = event.commands;
      renderCommands();
      break;
    case 'profile':
      state.bot = { ...state.bot, ...event.bot };
      renderProfile();
      updateStatus();
      if (state.messages.size === 0) renderAll();
      break;
  }
}

async function connect() {
  // A wrong ?user= would make the stream fail forever; say what is wrong instead.
  const check = await fetch(`/chat/api/state${suffix}`).catch(() => null);
  if (check && check.status === 400) {
    const { error } = await check.json().catch(() => ({ error: 'bad request' }));
    ui.messages.replaceChildren(el('div', 'empty', `This chat cannot open: ${error}.`));
    return;
  }
  const source = new EventSource(`/chat/api/events${suffix}`);
  source.addEventListener('snapshot', (message) => {
    state.connected = true;
    applySnapshot(JSON.parse(message.data));
  });
  source.addEventListener('message', (message) => onEvent(JSON.parse(message.data)));
  source.addEventListener('error', () => {
    state.connected = false;
    updateStatus();
  });
}

window.addEventListener('resize', stickToBottom);
renderProfile();
updateStatus();
void connect();
ui.input.focus();
