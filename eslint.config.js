// Lint: the recommended TypeScript rules plus the type-aware ones that catch what
// hurts a long-running daemon most: floating and misused promises.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'bench/.work/**', 'coverage/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-explicit-any': 'off',
    },
  },
  {
    // Node scripts run by npm (scripts/check-layers.mjs).
    files: ['scripts/**/*.mjs'],
    languageOptions: { globals: { process: 'readonly', console: 'readonly' } },
  },
  {
    // The status page's script runs in the browser.
    files: ['status-page/**/*.js'],
    languageOptions: {
      sourceType: 'module',
      globals: { document: 'readonly', EventSource: 'readonly', URLSearchParams: 'readonly', setTimeout: 'readonly', clearTimeout: 'readonly' },
    },
  },
  {
    files: ['src/**/*.ts'],
    ignores: ['src/cli/**'],
    rules: { 'no-console': 'error' },
  },
  {
    // The daemon takes RxJS's classes from src/util/rx.ts: `rxjs` itself loads every operator (10 MB of RSS).
    files: ['src/**/*.ts'],
    ignores: ['src/util/rx.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          paths: [{ name: 'rxjs', message: 'import RxJS from src/util/rx.ts (rxjs itself loads all of RxJS)', allowTypeImports: true }],
          patterns: [{ group: ['rxjs/*'], message: 'import RxJS from src/util/rx.ts, the one adapter to rxjs/internal' }],
        },
      ],
    },
  },
);
