import assert from 'node:assert/strict';
import { esc, html, MAX_MESSAGE_CHARS, splitMessage, visibleLength, lines, b } from '../../src/bot/html.ts';

describe('bot/html: safe formatting and splitting', () => {
  it('escapes every interpolation, so a trader text never breaks or injects formatting', () => {
    const evil = '<b>x</b> & <a href="javascript:alert(1)">y</a>';
    const out = html`Pair: ${evil}`.value;
    assert.equal(out, 'Pair: &lt;b&gt;x&lt;/b&gt; &amp; &lt;a href=&quot;javascript:alert(1)&quot;&gt;y&lt;/a&gt;');
    assert.equal(esc('🚀 ünïcødé'), '🚀 ünïcødé');
    assert.equal(lines(b('<x>'), 'a&b').value, '<b>&lt;x&gt;</b>\na&amp;b');
  });

  it('counts characters as Telegram does: after entity parsing, in UTF-16 units', () => {
    assert.equal(visibleLength('<b>ab</b> &amp; c'), 6);
    assert.equal(visibleLength('🚀'), 2);
  });

  it('splits a long message at line boundaries into parts of at most 4096 characters', () => {
    const many = lines(...Array.from({ length: 400 }, (_, i) => html`<b>Line ${i}</b> ${'x'.repeat(30)} & more`));
    const parts = splitMessage(many);
    assert.ok(parts.length > 1);
    for (const p of parts) {
      assert.ok(visibleLength(p) <= MAX_MESSAGE_CHARS, `part of ${visibleLength(p)}`);
      assert.equal((p.match(/<b>/g) ?? []).length, (p.match(/<\/b>/g) ?? []).length, 'tags stay balanced in each part');
    }
    assert.equal(parts.join('\n'), many.value, 'nothing is lost or reordered');
  });

  it('cuts one overlong plain line between characters, never inside an entity or a surrogate pair', () => {
    const text = '&<🚀'.repeat(3000);
    const parts = splitMessage(text);
    assert.ok(parts.length >= 3);
    for (const p of parts) {
      assert.ok(visibleLength(p) <= MAX_MESSAGE_CHARS);
      assert.doesNotMatch(p, /&(?!amp;|lt;|gt;|quot;)/, 'no broken entity');
      assert.doesNotMatch(p, /^[\uDC00-\uDFFF]|[\uD800-\uDBFF]$/, 'no split surrogate pair');
    }
    assert.equal(parts.join(''), esc(text));
  });

  it('a 5,000-character message from a trader comes back as two valid parts', () => {
    const parts = splitMessage(html`You wrote: ${'é'.repeat(5000)}`);
    assert.equal(parts.length, 2);
  });
});
