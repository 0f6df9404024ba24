// Model answers, prompts and edits as people read them: CommonMark with GFM tables,
// strikethrough and task lists (markdown-it), code blocks highlighted (highlight.js, the
// languages answers commonly hold), and every result sanitized by DOMPurify before it reaches
// the page. markdown-it already escapes raw HTML in the source (`html: false`) and refuses
// `javascript:` links; DOMPurify is the second wall, so a renderer bug cannot become a script.
import DOMPurify from 'dompurify';
import hljs from 'highlight.js/lib/core';
import bash from 'highlight.js/lib/languages/bash';
import c from 'highlight.js/lib/languages/c';
import cpp from 'highlight.js/lib/languages/cpp';
import css from 'highlight.js/lib/languages/css';
import go from 'highlight.js/lib/languages/go';
import java from 'highlight.js/lib/languages/java';
import javascript from 'highlight.js/lib/languages/javascript';
import json from 'highlight.js/lib/languages/json';
import markdown from 'highlight.js/lib/languages/markdown';
import python from 'highlight.js/lib/languages/python';
import rust from 'highlight.js/lib/languages/rust';
import sql from 'highlight.js/lib/languages/sql';
import typescript from 'highlight.js/lib/languages/typescript';
import xml from 'highlight.js/lib/languages/xml';
import yaml from 'highlight.js/lib/languages/yaml';
import MarkdownIt from 'markdown-it';
import taskLists from 'markdown-it-task-lists';

const LANGUAGES = { bash, c, cpp, css, go, java, javascript, json, markdown, python, rust, sql, typescript, xml, yaml };
for (const [name, language] of Object.entries(LANGUAGES)) hljs.registerLanguage(name, language);

/** The fence names answers use for the registered languages (```py, ```sh, ```html, …). */
export function languageOf(fence: string): string | null {
  const name = fence.trim().split(/\s+/)[0]?.toLowerCase() ?? '';
  if (name === '') return null;
  return hljs.getLanguage(name) ? name : null;
}

const md = new MarkdownIt('commonmark', {
  html: false,
  linkify: true,
  highlight(code, fence) {
    const language = languageOf(fence);
    if (!language) return ''; // markdown-it escapes it as plain code
    return hljs.highlight(code, { language, ignoreIllegals: true }).value;
  },
})
  .enable(['table', 'strikethrough', 'linkify'])
  .use(taskLists, { enabled: false, label: true });

let hooked = false;
/** Links leave the app: a new window, no referrer, no handle on this page. */
function hookLinks(purify: typeof DOMPurify) {
  if (hooked) return;
  hooked = true;
  purify.addHook('afterSanitizeAttributes', (node) => {
    if (node.tagName === 'A' && node.hasAttribute('href')) {
      node.setAttribute('target', '_blank');
      node.setAttribute('rel', 'noopener noreferrer nofollow');
    }
  });
}

/** Markdown → sanitized HTML, safe for `{@html}`. */
export function renderMarkdown(text: string): string {
  hookLinks(DOMPurify);
  const html = md.render(text);
  return DOMPurify.sanitize(html, {
    USE_PROFILES: { html: true },
    // Nothing that runs, submits, embeds or restyles the page; task-list checkboxes stay.
    FORBID_TAGS: ['style', 'form', 'button', 'textarea', 'select', 'iframe', 'object', 'embed', 'svg', 'math'],
    FORBID_ATTR: ['style'],
  });
}
