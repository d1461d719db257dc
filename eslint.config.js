// @ts-check
// Lint keeps the layering honest: imports point one way
// (machines → nothing but xstate and errors; infra → nothing above it; bot → actors).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const upward = (/** @type {string[]} */ layers) =>
  layers.flatMap((layer) => [`**/${layer}/**`, `**/${layer}`, `**/${layer}.ts`]);

/** @param {string[]} banned @param {string} why @param {string[]} [extra] */
const restrict = (banned, why, extra = []) => ({
  'no-restricted-imports': [
    'error',
    {
      patterns: [
        { group: upward(banned), message: why },
        ...(extra.length ? [{ group: extra, message: why }] : []),
      ],
    },
  ],
});

export default tseslint.config(
  { ignores: ['node_modules/**', 'data/**', 'contracts/**', 'src/infra/devnet/artifacts/**', 'src/infra/http/inspector-page/**', 'src/sandbox/telegram/chat-page/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-console': 'error',
    },
  },
  {
    files: ['src/machines/**/*.ts'],
    rules: restrict(
      ['infra', 'actors', 'bot', 'main'],
      'Machines are pure: they import only xstate, their own types and src/errors.ts. Name the effect in setup() and provide it from src/actors.',
      ['node:*', 'pino', 'ioredis', 'pg', '@mikro-orm/*', 'viem', 'viem/*', 'node-vault', 'grammy'],
    ),
  },
  {
    files: ['src/infra/**/*.ts'],
    rules: restrict(['actors', 'bot', 'machines', 'main'], 'infra imports nothing above it: pass what it needs in as an argument.'),
  },
  {
    files: ['src/sandbox/**/*.ts'],
    rules: restrict(['actors', 'bot', 'machines', 'main'], 'The sandbox stands in for the outside world (Telegram, the chain): it imports only src/errors.ts, src/infra and packages, never the engine or the bot.'),
  },
  {
    files: ['src/actors/**/*.ts'],
    rules: restrict(['bot', 'main'], 'actors never import the bot or the composition root.'),
  },
  {
    files: ['src/bot/**/*.ts'],
    rules: restrict(['main', 'machines'], 'The bot talks to actors; it does not reach into machines or the composition root.'),
  },
  {
    files: ['test/**/*.ts', 'bench/**/*.ts', 'scripts/**/*.ts'],
    rules: {
      'no-console': 'off',
      '@typescript-eslint/no-unused-expressions': 'off',
    },
  },
  { files: ['eslint.config.js'], ...tseslint.configs.disableTypeChecked },
);
