import assert from 'node:assert/strict';
import { BotApiError } from '../../../src/sandbox/telegram/bot-api-error.ts';
import { formatText, type FormattedText } from '../../../src/sandbox/telegram/formatted-text.ts';

function refusal(text: string, mode: string): string {
  try {
    formatText(text, mode, undefined);
  } catch (err) {
    assert.ok(err instanceof BotApiError, String(err));
    assert.equal(err.errorCode, 400);
    return err.description;
  }
  throw new Error(`expected ${JSON.stringify(text)} to be refused in ${mode}`);
}

const html = (text: string): FormattedText => formatText(text, 'HTML', undefined);

describe('sandbox Telegram: message formatting as Telegram parses it', () => {
  describe('parse_mode HTML', () => {
    it('turns the allowed tags into entities with UTF-16 offsets and decodes character references', () => {
      const parsed = html('🚀 <b>Long</b> <i>ETH</i> &lt;10x&gt; &amp; <u>u</u> <s>s</s> <tg-spoiler>sp</tg-spoiler> <code>c</code>');
      assert.equal(parsed.text, '🚀 Long ETH <10x> & u s sp c');
      assert.deepEqual(parsed.entities, [
        { type: 'bold', offset: 3, length: 4 },
        { type: 'italic', offset: 8, length: 3 },
        { type: 'underline', offset: 20, length: 1 },
        { type: 'strikethrough', offset: 22, length: 1 },
        { type: 'spoiler', offset: 24, length: 2 },
        { type: 'code', offset: 27, length: 1 },
      ]);
    });

    it('keeps links, pre blocks with a language, and expandable quotes', () => {
      assert.deepEqual(html('<a href="https://example.org/a?b=1&amp;c=2">docs</a>').entities, [{ type: 'text_link', offset: 0, length: 4, url: 'https://example.org/a?b=1&c=2' }]);
      assert.deepEqual(html('<pre><code class="language-python">print(1)</code></pre>').entities, [{ type: 'pre', offset: 0, length: 8, language: 'python' }]);
      assert.deepEqual(html('<blockquote expandable>long</blockquote>').entities, [{ type: 'expandable_blockquote', offset: 0, length: 4 }]);
      assert.deepEqual(html('<span class="tg-spoiler">x</span>').entities, [{ type: 'spoiler', offset: 0, length: 1 }]);
    });

    it('refuses what Telegram refuses, with its words and UTF-8 byte offsets', () => {
      assert.equal(refusal('price < 10', 'HTML'), 'Bad Request: can\'t parse entities: Unsupported start tag "" at byte offset 6');
      assert.equal(refusal('€ <div>x</div>', 'HTML'), 'Bad Request: can\'t parse entities: Unsupported start tag "div" at byte offset 4');
      assert.equal(refusal('<b>bold', 'HTML'), 'Bad Request: can\'t parse entities: Can\'t find end tag corresponding to start tag "b"');
      assert.equal(refusal('<b>x</i>', 'HTML'), 'Bad Request: can\'t parse entities: Unmatched end tag at byte offset 4, expected "</b>", found "</i>"');
      assert.equal(refusal('x</b>', 'HTML'), "Bad Request: can't parse entities: Unexpected end tag at byte offset 1");
      assert.equal(refusal('<span>x</span>', 'HTML'), 'Bad Request: can\'t parse entities: Tag "span" must have class "tg-spoiler" at byte offset 0');
      assert.equal(refusal('<a href=x y>l</a>', 'HTML'), 'Bad Request: can\'t parse entities: Expected equal sign in declaration of an attribute of the tag "a" at byte offset 0');
      assert.equal(refusal('<b', 'HTML'), "Bad Request: can't parse entities: Unclosed start tag at byte offset 0");
    });

    it('leaves an ampersand that starts no known reference as text (Telegram does too)', () => {
      assert.equal(html('AT&T &nbsp; &#128640;').text, 'AT&T &nbsp; 🚀');
    });
  });

  describe('parse_mode MarkdownV2 and Markdown', () => {
    it('parses nesting, escapes, links and pre blocks', () => {
      const parsed = formatText('*bold _it_* __u__ ~s~ ||sp|| `c` [site](https://a.example/x\\)y) 1\\.5', 'MarkdownV2', undefined);
      assert.equal(parsed.text, 'bold it u s sp c site 1.5');
      assert.deepEqual(parsed.entities, [
        { type: 'bold', offset: 0, length: 7 },
        { type: 'italic', offset: 5, length: 2 },
        { type: 'underline', offset: 8, length: 1 },
        { type: 'strikethrough', offset: 10, length: 1 },
        { type: 'spoiler', offset: 12, length: 2 },
        { type: 'code', offset: 15, length: 1 },
        { type: 'text_link', offset: 17, length: 4, url: 'https://a.example/x)y' },
      ]);
      assert.deepEqual(formatText('```js\nlet a\n```', 'MarkdownV2', undefined).entities, [{ type: 'pre', offset: 0, length: 5, language: 'js' }]);
    });

    it("refuses an unescaped reserved character, Telegram's most common formatting error", () => {
      assert.equal(refusal('Leverage 2.5x', 'MarkdownV2'), "Bad Request: can't parse entities: Character '.' is reserved and must be escaped with the preceding '\\'");
      assert.equal(refusal('a - b', 'MarkdownV2'), "Bad Request: can't parse entities: Character '-' is reserved and must be escaped with the preceding '\\'");
      assert.equal(refusal('x *open', 'MarkdownV2'), "Bad Request: can't parse entities: Can't find end of Bold entity at byte offset 2");
      assert.equal(refusal('_open', 'Markdown'), "Bad Request: can't parse entities: Can't find end of the entity starting at byte offset 0");
    });

    it('accepts the parse mode in any case and refuses unknown modes', () => {
      assert.equal(formatText('<b>x</b>', 'html', undefined).entities.length, 1);
      assert.equal(refusal('x', 'HTML5'), 'Bad Request: unsupported parse_mode');
    });
  });

  describe('what Telegram does to every message', () => {
    it('trims white space and moves entities with it', () => {
      assert.deepEqual(html('\n  <b>hi</b>  \n'), { text: 'hi', entities: [{ type: 'bold', offset: 0, length: 2 }] });
    });

    it('detects commands, links, mentions and hashtags but not inside code', () => {
      const parsed = formatText('Try /positions or https://example.org, ask @vanta_support #eth <code>/not_me</code>', 'HTML', undefined);
      assert.deepEqual(parsed.entities.map((e) => [e.type, parsed.text.slice(e.offset, e.offset + e.length)]), [
        ['bot_command', '/positions'],
        ['url', 'https://example.org'],
        ['mention', '@vanta_support'],
        ['hashtag', '#eth'],
        ['code', '/not_me'],
      ]);
    });
  });
});
