// Turns a message's text and entities (as the Bot API double parsed them from the bot's HTML or
// Markdown) into DOM nodes. Only createElement and textContent are used: nothing the bot or a user
// wrote is ever interpreted as HTML, so a message cannot inject markup or script into the page.

const SAFE_LINK = /^(https?:|mailto:)/i;

/**
 * @param {string} text
 * @param {ReadonlyArray<{type: string, offset: number, length: number, url?: string, language?: string}>} entities
 * @param {{ onCommand?: (command: string) => void }} [handlers]
 * @returns {DocumentFragment}
 */
export function renderFormatted(text, entities, handlers = {}) {
  const fragment = document.createDocumentFragment();
  const sorted = [...entities]
    .filter((e) => e.length > 0 && e.offset >= 0 && e.offset < text.length)
    .sort((a, b) => a.offset - b.offset || b.length - a.length);
  appendRange(fragment, text, sorted, 0, text.length, handlers);
  return fragment;
}

function appendRange(parent, text, entities, start, end, handlers) {
  let position = start;
  let index = 0;
  while (index < entities.length) {
    const entity = entities[index];
    const entityEnd = Math.min(entity.offset + entity.length, end);
    if (entity.offset > position) parent.append(text.slice(position, entity.offset));
    // Entities that start inside this one are its children (clipped to it if they overrun).
    const children = [];
    let next = index + 1;
    while (next < entities.length && entities[next].offset < entityEnd) {
      const child = entities[next];
      children.push({ ...child, length: Math.min(child.offset + child.length, entityEnd) - child.offset });
      next++;
    }
    const element = elementFor(entity, text.slice(entity.offset, entityEnd), handlers);
    const target = element.querySelector('[data-slot]') ?? element;
    appendRange(target, text, children, entity.offset, entityEnd, handlers);
    parent.append(element);
    position = Math.max(position, entityEnd);
    index = next;
  }
  if (position < end) parent.append(text.slice(position, end));
}

function elementFor(entity, content, handlers) {
  switch (entity.type) {
    case 'bold':
      return document.createElement('strong');
    case 'italic':
      return document.createElement('em');
    case 'underline':
      return document.createElement('u');
    case 'strikethrough':
      return document.createElement('s');
    case 'code': {
      const code = document.createElement('code');
      code.className = 'inline-code';
      return code;
    }
    case 'pre': {
      const pre = document.createElement('pre');
      if (entity.language) {
        const label = document.createElement('span');
        label.className = 'pre-language';
        label.textContent = entity.language;
        pre.append(label);
      }
      const code = document.createElement('code');
      code.dataset.slot = '';
      pre.append(code);
      return pre;
    }
    case 'spoiler': {
      const span = document.createElement('span');
      span.className = 'spoiler';
      span.tabIndex = 0;
      span.setAttribute('role', 'button');
      span.setAttribute('aria-label', 'Hidden text, press to reveal');
      const reveal = () => span.classList.add('revealed');
      span.addEventListener('click', reveal);
      span.addEventListener('keydown', (event) => {
        if (event.key === 'Enter' || event.key === ' ') reveal();
      });
      return span;
    }
    case 'blockquote':
      return document.createElement('blockquote');
    case 'expandable_blockquote': {
      const quote = document.createElement('blockquote');
      quote.className = 'expandable';
      quote.tabIndex = 0;
      quote.addEventListener('click', () => quote.classList.toggle('expanded'));
      return quote;
    }
    case 'text_link':
      return link(entity.url ?? '');
    case 'url':
      return link(/^[a-z][a-z0-9+.-]*:/i.test(content) ? content : `http://${content}`);
    case 'email':
      return link(`mailto:${content}`);
    case 'bot_command': {
      const a = document.createElement('a');
      a.className = 'command';
      a.href = '#';
      a.addEventListener('click', (event) => {
        event.preventDefault();
        handlers.onCommand?.(content);
      });
      return a;
    }
    case 'mention':
    case 'text_mention':
    case 'hashtag':
    case 'cashtag': {
      const span = document.createElement('span');
      span.className = 'mention';
      return span;
    }
    default:
      return document.createElement('span');
  }
}

function link(url) {
  if (!SAFE_LINK.test(url)) {
    const span = document.createElement('span');
    span.className = 'link-disabled';
    span.title = url;
    return span;
  }
  const a = document.createElement('a');
  a.href = url;
  a.target = '_blank';
  a.rel = 'noopener noreferrer';
  a.title = url;
  return a;
}
