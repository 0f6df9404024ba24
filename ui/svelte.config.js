// Svelte compiles `<script lang="ts">` itself (types are stripped); no preprocessor is needed.
export default {
  compilerOptions: { runes: true },
};
