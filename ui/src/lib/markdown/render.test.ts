import { describe, expect, it } from 'vitest';
import { languageOf, renderMarkdown } from './render';

function dom(html: string): HTMLElement {
  const div = document.createElement('div');
  div.innerHTML = html;
  return div;
}

describe('renderMarkdown', () => {
  it('renders headings, emphasis, lists and code as HTML', () => {
    const root = dom(renderMarkdown('## Steps\n\n1. **Open** the valve\n2. Wait\n\n- a\n- b\n\n`x = 1`'));
    expect(root.querySelector('h2')?.textContent).toBe('Steps');
    expect(root.querySelector('ol strong')?.textContent).toBe('Open');
    expect(root.querySelectorAll('ol li')).toHaveLength(2);
    expect(root.querySelectorAll('ul li')).toHaveLength(2);
    expect(root.querySelector('p code')?.textContent).toBe('x = 1');
  });

  it('renders GFM tables, strikethrough and task lists', () => {
    const root = dom(renderMarkdown('| a | b |\n|---|---|\n| 1 | 2 |\n\n~~old~~\n\n- [x] done\n- [ ] todo'));
    expect([...root.querySelectorAll('th')].map((th) => th.textContent)).toEqual(['a', 'b']);
    expect(root.querySelector('td')?.textContent).toBe('1');
    expect(root.querySelector('s')?.textContent).toBe('old');
    const boxes = root.querySelectorAll<HTMLInputElement>('input[type=checkbox]');
    expect(boxes).toHaveLength(2);
    expect(boxes[0].checked).toBe(true);
    expect(boxes[1].checked).toBe(false);
    expect(boxes[0].disabled).toBe(true);
  });

  it('highlights code blocks of known languages and keeps others as plain code', () => {
    const root = dom(renderMarkdown('```python\ndef f(x):\n    return x\n```\n\n```klingon\nqapla\n```'));
    const blocks = root.querySelectorAll('pre code');
    expect(blocks).toHaveLength(2);
    expect(blocks[0].className).toContain('language-python');
    expect(blocks[0].querySelector('.hljs-keyword')?.textContent).toBe('def');
    expect(blocks[1].textContent).toBe('qapla\n');
    expect(blocks[1].querySelector('span')).toBeNull();
  });

  it('names the fence languages it knows', () => {
    expect(languageOf('Python')).toBe('python');
    expect(languageOf('py')).toBe('py');
    expect(languageOf('rust ignore')).toBe('rust');
    expect(languageOf('')).toBeNull();
    expect(languageOf('klingon')).toBeNull();
  });

  it('renders hostile text inert', () => {
    const hostile = [
      '<script>window.__xss = 1</script>',
      '<img src=x onerror="window.__xss = 2">',
      '[click](javascript:window.__xss=3)',
      '<a href="javascript:alert(1)">raw</a>',
      '![x](javascript:alert(1))',
      '<iframe src="https://example.com"></iframe>',
      '<svg onload="alert(1)"></svg>',
      '[data](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)',
    ].join('\n\n');
    const html = renderMarkdown(hostile);
    const root = dom(html);
    expect(root.querySelector('script, iframe, svg, object, embed')).toBeNull();
    for (const el of root.querySelectorAll('*')) {
      for (const attr of el.attributes) {
        expect(attr.name.startsWith('on'), `${el.tagName} ${attr.name}`).toBe(false);
        expect(/^\s*(javascript|data|vbscript):/i.test(attr.value), `${el.tagName} ${attr.name}=${attr.value}`).toBe(false);
      }
    }
    // The source stays readable as text: an expert sees what the model wrote.
    expect(root.textContent).toContain('<script>window.__xss = 1</script>');
    expect(root.textContent).toContain('<img src=x onerror="window.__xss = 2">');
  });

  it('opens links in a new window without a referrer', () => {
    const a = dom(renderMarkdown('See https://example.com/docs.')).querySelector('a');
    expect(a?.getAttribute('href')).toBe('https://example.com/docs');
    expect(a?.getAttribute('target')).toBe('_blank');
    expect(a?.getAttribute('rel')).toContain('noopener');
  });
});
