// Read by svelte-check and the Vite plugin: TypeScript in <script lang="ts">
// is stripped by Svelte 5 itself, so no preprocessor is needed.
export default {
  compilerOptions: { runes: true },
};
