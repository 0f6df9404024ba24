import { describe, expect, it } from 'vitest';
import { checkHubId } from './hub';

const valid = (text: string) => checkHubId(text).ok;

describe('checkHubId', () => {
  it('accepts owner/name ids', () => {
    for (const id of ['HuggingFaceTB/SmolLM2-360M-Instruct', 'Qwen/Qwen2.5-0.5B-Instruct', 'meta-llama/Llama-3.2-1B', 'a/b', 'user_1/my_model.v2']) {
      expect(checkHubId(id)).toEqual({ ok: true, id });
    }
  });

  it('drops surrounding spaces from the id it sends', () => {
    expect(checkHubId('  HuggingFaceTB/SmolLM2-360M-Instruct \n')).toEqual({ ok: true, id: 'HuggingFaceTB/SmolLM2-360M-Instruct' });
  });

  it('refuses an empty id', () => {
    expect(valid('')).toBe(false);
    expect(valid('   ')).toBe(false);
    const check = checkHubId('');
    expect(check.ok === false && check.message).toMatch(/owner\/name/);
  });

  it('refuses an id without a slash, or with more than one', () => {
    expect(valid('SmolLM2-360M-Instruct')).toBe(false);
    expect(valid('gpt2')).toBe(false);
    expect(valid('/SmolLM2')).toBe(false);
    expect(valid('HuggingFaceTB/')).toBe(false);
    expect(valid('a/b/c')).toBe(false);
    expect(valid('https://huggingface.co/HuggingFaceTB/SmolLM2-360M-Instruct')).toBe(false);
  });

  it('refuses spaces inside the id', () => {
    expect(valid('Hugging Face/SmolLM2')).toBe(false);
    expect(valid('HuggingFaceTB/SmolLM2 360M')).toBe(false);
    expect(valid('HuggingFaceTB /SmolLM2')).toBe(false);
    expect(valid('HuggingFaceTB/\tSmolLM2')).toBe(false);
    const check = checkHubId('Hugging Face/SmolLM2');
    expect(check.ok === false && check.message).toMatch(/spaces/);
  });

  it('refuses characters and forms the Hub does not allow', () => {
    expect(valid('owner/name!')).toBe(false);
    expect(valid('owner/-name')).toBe(false);
    expect(valid('owner/name.')).toBe(false);
    expect(valid('owner/na--me')).toBe(false);
    expect(valid('owner/../name')).toBe(false);
    expect(valid(`owner/${'x'.repeat(100)}`)).toBe(false);
  });
});
