// ESLint (flat config): `npm run lint`; `npm test` runs it before the suite. Type-aware rules read
// the types through tsconfig.json (projectService), so promise misuse and `any` are caught.
import js from '@eslint/js';
import { defineConfig } from 'eslint/config';
import tseslint from 'typescript-eslint';

export default defineConfig(
  {
    // Generated or built output, and test fixtures (sample code for the agents, some deliberately bad).
    ignores: ['src/generated/**', 'dist/**', 'coverage/**', '.data/**', '.test-results/**', '.scratch/**', 'test/fixtures/**'],
  },
  {
    files: ['**/*.ts'],
    extends: [js.configs.recommended, tseslint.configs.recommendedTypeChecked],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/consistent-type-imports': 'error',
      // Off: an implementation of a Promise-returning interface is async without awaiting, so that a
      // synchronous throw still reaches its caller as a rejection.
      '@typescript-eslint/require-await': 'off',
    },
  },
  {
    // Tests read JSON bodies as untyped values and check their shape with assertions.
    files: ['test/**/*.ts'],
    rules: {
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
    },
  },
  {
    files: ['**/*.js'],
    extends: [js.configs.recommended],
  },
  {
    // The repository viewer runs in the browser, Cytoscape.js loaded by its page (declared in the file).
    files: ['src/web/**/*.js'],
    languageOptions: {
      sourceType: 'script',
      globals: Object.fromEntries(
        ['window', 'document', 'location', 'history', 'sessionStorage', 'fetch', 'setTimeout', 'setInterval', 'clearInterval'].map((name) => [name, 'readonly']),
      ),
    },
  },
);
