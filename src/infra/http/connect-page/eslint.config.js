// The connect page's script runs in the browser, not under the TypeScript project: this lints it
// (and this file) as plain browser JavaScript. ESLint 10 takes the nearest config to each file.
import js from '@eslint/js';

const browser = { window: 'readonly', document: 'readonly', location: 'readonly', fetch: 'readonly', navigator: 'readonly', console: 'readonly', setTimeout: 'readonly', clearTimeout: 'readonly' };

export default [
  js.configs.recommended,
  { files: ['**/*.js'], languageOptions: { ecmaVersion: 2022, sourceType: 'script', globals: browser } },
  { files: ['eslint.config.js'], languageOptions: { sourceType: 'module' } },
];
