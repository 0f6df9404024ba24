// A Hugging Face Hub model id as typed on the Models screen, checked before `download_model`
// is sent. The Hub's own rule (huggingface_hub's validate_repo_id) with the owner required:
// `owner/name`, each part letters, digits, `_`, `-` and `.`, starting and ending with a letter,
// digit or `_`, no `--` or `..`, at most 96 characters in all.

export type HubIdCheck = { ok: true; id: string } | { ok: false; message: string };

export const HUB_ID_EXAMPLE = 'HuggingFaceTB/SmolLM2-360M-Instruct';

const PART = /^[A-Za-z0-9_](?:[A-Za-z0-9_.-]*[A-Za-z0-9_])?$/;
const MAX_LENGTH = 96;

/** The id to send (surrounding spaces dropped), or why the text is not a Hub id. */
export function checkHubId(text: string): HubIdCheck {
  const id = text.trim();
  if (id === '') return { ok: false, message: `Enter a Hub id (owner/name), such as ${HUB_ID_EXAMPLE}` };
  if (/\s/.test(id)) return { ok: false, message: `"${id}" has spaces: a Hub id is owner/name, such as ${HUB_ID_EXAMPLE}` };
  const parts = id.split('/');
  if (parts.length !== 2) return { ok: false, message: `"${id}" is not a Hub id: it is owner/name (one "/"), such as ${HUB_ID_EXAMPLE}` };
  if (id.length > MAX_LENGTH) return { ok: false, message: `"${id}" is longer than a Hub id can be (${MAX_LENGTH} characters)` };
  for (const part of parts) {
    if (!PART.test(part) || part.includes('--') || part.includes('..')) {
      return {
        ok: false,
        message: `"${id}" is not a Hub id: owner and name are letters, digits, "_", "-" and "." (not first or last, not doubled)`,
      };
    }
  }
  return { ok: true, id };
}
