/** The error envelope's links and vocabulary, and the error reference's content negotiation. */
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.js';
import { AppError, NotFoundError } from '../../src/errors.js';
import { docLink, docsBase, envelopeOf, errorBody, vocabularyOf } from '../../src/rest/envelope.js';
import { preferredFormat } from '../../src/rest/error-reference.js';

describe('documentation links', () => {
  it('default to PUBLIC_URL/docs/errors#<code>; DOCS_URL replaces the base, with {code} or an anchor', () => {
    expect(docsBase(loadConfig({ PUBLIC_URL: 'https://api.example.com/' }))).toBe('https://api.example.com/docs/errors');
    expect(docLink(docsBase(loadConfig({ PUBLIC_URL: 'https://api.example.com' })), 'task_timeout')).toBe('https://api.example.com/docs/errors#task_timeout');
    expect(docLink(docsBase(loadConfig({ DOCS_URL: 'https://docs.example.com/errors' })), 'task_timeout')).toBe('https://docs.example.com/errors#task_timeout');
    expect(docLink(docsBase(loadConfig({ DOCS_URL: 'https://docs.example.com/e/{code}' })), 'task_timeout')).toBe('https://docs.example.com/e/task_timeout');
  });

  it('refuses a DOCS_URL that is not an http(s) URL at start-up', () => {
    expect(() => loadConfig({ DOCS_URL: '/docs/errors' })).toThrow(ConfigError);
    expect(() => loadConfig({ DOCS_URL: 'ftp://docs.example.com' })).toThrow(/DOCS_URL must be a URL starting with http:\/\/ or https:\/\//);
  });
});

describe('the envelope', () => {
  const config = loadConfig({ PUBLIC_URL: 'https://api.example.com' });
  it('lifts only the fields its code lists, and only when present', () => {
    const err = new AppError('rate_limit_exceeded', 429, 'Slow down.', { retry_after: 3, window: 'minute' });
    const { error } = errorBody(err, envelopeOf('req_1', {}, config));
    expect(error).toEqual({
      code: 'rate_limit_exceeded',
      message: 'Slow down.',
      retry_after: 3,
      details: { retry_after: 3, window: 'minute' },
      request_id: 'req_1',
      documentation_url: 'https://api.example.com/docs/errors#rate_limit_exceeded',
      doc_url: 'https://api.example.com/docs/errors#rate_limit_exceeded',
    });
    // A code without lifted fields keeps details where they are.
    const conflict = errorBody(new AppError('task_not_cancellable', 409, 'Done.', { tier: 'pro' }), envelopeOf('req_2', {}, config)).error;
    expect(conflict).not.toHaveProperty('tier');
  });

  it('speaks the vocabulary the header asks for', () => {
    expect(vocabularyOf({})).toBe('snake');
    expect(vocabularyOf({ 'codex-error-codes': ' UPPER ' })).toBe('upper');
    expect(vocabularyOf({ 'codex-error-codes': 'v2' })).toBeNull();
    const upper = errorBody(new NotFoundError('task', 'task_x'), envelopeOf('req_3', { 'codex-error-codes': 'upper' }, config)).error;
    expect([upper.code, upper.doc_url]).toEqual(['NOT_FOUND', 'https://api.example.com/docs/errors#resource_not_found']);
  });
});

describe('the error reference format', () => {
  it.each([
    [undefined, 'text/html'],
    ['*/*', 'text/html'],
    ['application/json', 'application/json'],
    ['text/markdown;q=0.9, application/json;q=0.5', 'text/markdown'],
    ['application/*', 'application/json'],
    ['image/png', 'text/html'],
    ['application/json;q=0, text/markdown', 'text/markdown'],
  ])('Accept %s → %s', (accept, format) => {
    expect(preferredFormat(accept)).toBe(format);
  });
});
