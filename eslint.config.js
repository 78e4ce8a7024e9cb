// Lint for the whole repo: typescript-eslint's recommended rules plus the
// type-aware promise rules (the client session is promise-heavy: a dropped or
// misused promise is a real bug there), and Svelte's rules for web/.
import tseslint from "typescript-eslint";
import svelte from "eslint-plugin-svelte";
import svelteConfig from "./web/svelte.config.js";

export default tseslint.config(
  { ignores: ["node_modules/", "web/dist/", "coverage/", "bench/results/", ".cache/"] },
  ...tseslint.configs.recommended,
  ...svelte.configs.recommended,
  {
    languageOptions: {
      parserOptions: {
        projectService: true,
        tsconfigRootDir: import.meta.dirname,
        extraFileExtensions: [".svelte"],
      },
    },
  },
  {
    files: ["**/*.svelte", "**/*.svelte.ts"],
    languageOptions: { parserOptions: { parser: tseslint.parser, svelteConfig } },
  },
  {
    rules: {
      "@typescript-eslint/no-floating-promises": "error",
      "@typescript-eslint/no-misused-promises": "error",
      "@typescript-eslint/await-thenable": "error",
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      "@typescript-eslint/no-unused-expressions": ["error", { allowShortCircuit: true, allowTernary: true }],
      // Off: it flags every local or private Map/Set/URL in a .svelte(.ts)
      // file, state or not; svelte-check --fail-on-warnings already reports
      // state that is used in a template without being reactive.
      "svelte/prefer-svelte-reactivity": "off",
    },
  },
  { files: ["**/*.js", "**/*.mjs"], ...tseslint.configs.disableTypeChecked },
);
