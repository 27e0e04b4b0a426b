// Type-aware lint. `no-console` everywhere but the CLI and benchmarks: components log through the injected logger.
import tseslint from 'typescript-eslint'

export default tseslint.config(
  { ignores: ['node_modules/', 'dist/', 'tmp-config-*/', '.anywhere/'] },
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      'no-console': 'error',
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_' },
      ],
      '@typescript-eslint/consistent-type-imports': 'error',
      // Handlers and stores return promises that callers await; floating ones are bugs.
      '@typescript-eslint/no-floating-promises': 'error',
      // Port implementations are async by contract even when one backend answers synchronously.
      '@typescript-eslint/require-await': 'off',
      // Errors pass through unchanged: a rejection carries whatever the failing call threw.
      '@typescript-eslint/prefer-promise-reject-errors': 'off',
      // It calls a cast on an actor's initialState "unnecessary" although the cast is what
      // types the state (defineActor infers S from it); its autofix breaks the actor's types.
      '@typescript-eslint/no-unnecessary-type-assertion': 'off',
    },
  },
  {
    files: ['test/**'],
    rules: {
      '@typescript-eslint/no-unused-expressions': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
    },
  },
  { files: ['bin/**', 'bench/**'], rules: { 'no-console': 'off' } },
  { files: ['**/*.cjs', '**/*.mjs', 'eslint.config.js'], ...tseslint.configs.disableTypeChecked },
  {
    files: ['**/*.cjs'],
    languageOptions: {
      sourceType: 'commonjs',
      globals: { require: 'readonly', module: 'writable', process: 'readonly' },
    },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
)
