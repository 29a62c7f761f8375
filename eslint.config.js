// ESLint's flat config: typescript-eslint's recommended rules over the TypeScript sources; formatting is Prettier's.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['node_modules/', '.deps/', 'build/', 'dist/', 'native/', 'data/', 'src/tensor/aten.ts'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      // A leading underscore marks a binding kept on purpose: `for (const [_key, value] of …)`, `(_event, context) => …`.
      '@typescript-eslint/no-unused-vars': [
        'error',
        {
          argsIgnorePattern: '^_',
          varsIgnorePattern: '^_',
          destructuredArrayIgnorePattern: '^_',
          ignoreRestSiblings: true,
          caughtErrors: 'none',
        },
      ],
      // Control characters are what some patterns are about (ANSI escapes, Python's \s, names that become paths).
      'no-control-regex': 'off',
      // Tests match printed tables and messages, where the literal run of spaces is the thing checked.
      'no-regex-spaces': 'off',
    },
  },
  {
    // Plain JavaScript run by node directly (the npm install step's entry): Node's globals.
    files: ['**/*.mjs'],
    languageOptions: { globals: { URL: 'readonly', console: 'readonly', process: 'readonly' } },
  },
  {
    // Tests read JSON fixtures of many shapes.
    files: ['test/**/*.ts'],
    rules: { '@typescript-eslint/no-explicit-any': 'off' },
  },
);
