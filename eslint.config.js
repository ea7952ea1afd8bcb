// ESLint (flat config): a small rule set that `npm test` runs before the tests.
//   1. Production code never imports test code: a `testing/` folder is imported only by tests
//      (test/), benchmarks (bench/) and other testing/ folders.
//   2. No focused tests (`.only`) in test files.
//   3. No floating promises on the hot path (controller/handoff, controller/tcp, agent): a
//      promise is awaited, handled, or explicitly discarded with `void`. This is the only typed
//      rule, so only those files pay for type information.
import { defineConfig, globalIgnores } from 'eslint/config';
import tseslint from 'typescript-eslint';

/** An import specifier that names a file in a `testing/` folder. */
const TESTING = '(^|/)testing/';
const TESTING_MESSAGE = 'test code: only tests (test/), benchmarks (bench/) and testing/ folders import testing/ folders';

export default defineConfig([
  // proto/types is generated (scripts/gen-proto-types.mjs) and checked for freshness by its own test.
  globalIgnores(['dist/', 'build/', 'native/build/', 'test-output/', 'bench/results/', '.prism/', 'proto/types/']),
  {
    files: ['**/*.ts'],
    languageOptions: { parser: tseslint.parser },
  },
  {
    name: 'prism/production-imports-no-test-code',
    files: ['**/*.{ts,js,mjs}'],
    ignores: ['test/**', 'bench/**', '**/testing/**'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [{ regex: TESTING, message: TESTING_MESSAGE }] }],
      'no-restricted-syntax': [
        'error',
        // import('…/testing/…'): the selector's regex may not hold a '/', so it is written \x2F.
        { selector: `ImportExpression[source.value=/${TESTING.replaceAll('/', '\\x2F')}/]`, message: TESTING_MESSAGE },
      ],
    },
  },
  {
    name: 'prism/no-focused-tests',
    files: ['test/**/*.ts'],
    rules: {
      'no-restricted-syntax': [
        'error',
        { selector: "MemberExpression[property.name='only']", message: 'focused test (.only): remove it before committing' },
      ],
    },
  },
  {
    name: 'prism/hot-path-promises',
    files: ['controller/handoff/**/*.ts', 'controller/tcp/**/*.ts', 'agent/**/*.ts'],
    ignores: ['**/testing/**'],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    plugins: { '@typescript-eslint': tseslint.plugin },
    rules: { '@typescript-eslint/no-floating-promises': 'error' },
  },
]);
