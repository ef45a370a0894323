// ESLint flat config: recommended + type-aware TypeScript rules; prettier runs as a
// rule (and eslint-config-prettier turns off the formatting rules it owns).
import js from '@eslint/js';
import { defineConfig, globalIgnores } from 'eslint/config';
import prettierRecommended from 'eslint-plugin-prettier/recommended';
import tseslint from 'typescript-eslint';

export default defineConfig(
  globalIgnores(['lib/', 'node_modules/']),
  js.configs.recommended,
  tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: {
        projectService: true,
        tsconfigRootDir: import.meta.dirname
      }
    },
    rules: {
      // JupyterLab's own plugin lists are JupyterFrontEndPlugin<any>[].
      '@typescript-eslint/no-explicit-any': 'off',
      // Command ids live in a namespace, as in JupyterLab's extensions.
      '@typescript-eslint/no-namespace': 'off',
      eqeqeq: 'error',
      curly: 'error'
    }
  },
  {
    files: ['**/*.mjs', 'style/**/*.js'],
    extends: [tseslint.configs.disableTypeChecked]
  },
  prettierRecommended
);
