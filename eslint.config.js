import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import globals from 'globals';

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'coverage/', 'test-output/', 'bench/results/', 'demo-app/logs/', 'demo-app/out/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-console': 'error',
    },
  },
  {
    // Plain-JavaScript fixtures run by Node (apps and hook modules the tests start).
    files: ['test/fixtures/**/*.mjs', 'bench/**/*.mjs', 'bench/floor/**/*.js', 'scripts/**/*.mjs'],
    languageOptions: { globals: globals.node },
  },
  {
    // The CLI, demo, bench and tests are programs: they may print.
    files: ['lib/cli/**', 'demo-app/**', 'bench/**', 'test/**'],
    rules: { 'no-console': 'off' },
  },
);
