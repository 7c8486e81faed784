import { describe, expect, it } from 'vitest';
import { deriveEgressSecret, egressKeyFor, verifyEgressKey } from './egress-key.js';
import { modelRequestAllowed, pickModelCredential, upstreamRequestHeaders } from './model-endpoint.js';

describe('egress keys', () => {
  const secret = deriveEgressSecret(Buffer.alloc(32, 1));

  it('are stable per sandbox, differ between sandboxes and between servers, and verify only their own', () => {
    expect(egressKeyFor(secret, 'a')).toBe(egressKeyFor(deriveEgressSecret(Buffer.alloc(32, 1)), 'a'));
    expect(egressKeyFor(secret, 'a')).not.toBe(egressKeyFor(secret, 'b'));
    expect(egressKeyFor(secret, 'a')).not.toBe(egressKeyFor(deriveEgressSecret(Buffer.alloc(32, 2)), 'a'));
    expect(egressKeyFor(secret, 'a')).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(verifyEgressKey(secret, 'a', egressKeyFor(secret, 'a'))).toBe(true);
    expect(verifyEgressKey(secret, 'b', egressKeyFor(secret, 'a'))).toBe(false);
    expect(verifyEgressKey(secret, 'a', '')).toBe(false);
  });

  it('are not the server key nor derived like the other per-purpose keys', () => {
    expect(deriveEgressSecret(Buffer.alloc(32, 1)).equals(Buffer.alloc(32, 1))).toBe(false);
  });
});

describe('pickModelCredential', () => {
  it("takes the user's API key, then the user's OAuth token, then the server's, in that order", () => {
    const server = { ANTHROPIC_API_KEY: 'server-key', CLAUDE_CODE_OAUTH_TOKEN: 'server-oat' };
    expect(pickModelCredential({ ANTHROPIC_API_KEY: 'u-key', CLAUDE_CODE_OAUTH_TOKEN: 'u-oat' }, server)).toEqual({
      kind: 'api-key',
      value: 'u-key',
    });
    expect(pickModelCredential({ CLAUDE_CODE_OAUTH_TOKEN: 'u-oat' }, server)).toEqual({
      kind: 'oauth-token',
      value: 'u-oat',
    });
    expect(pickModelCredential({ OTHER: 'x' }, server)).toEqual({ kind: 'api-key', value: 'server-key' });
    expect(pickModelCredential({}, { CLAUDE_CODE_OAUTH_TOKEN: 'server-oat' })).toEqual({
      kind: 'oauth-token',
      value: 'server-oat',
    });
    expect(pickModelCredential({ ANTHROPIC_API_KEY: '' }, {})).toBeNull();
  });
});

describe('modelRequestAllowed', () => {
  it('forwards the Messages API, the model list and the connectivity check, nothing else', () => {
    expect(modelRequestAllowed('POST', '/v1/messages')).toBe(true);
    expect(modelRequestAllowed('POST', '/v1/messages?beta=true')).toBe(true);
    expect(modelRequestAllowed('POST', '/v1/messages/count_tokens?beta=true')).toBe(true);
    expect(modelRequestAllowed('GET', '/v1/models')).toBe(true);
    expect(modelRequestAllowed('GET', '/v1/models/claude-x')).toBe(true);
    expect(modelRequestAllowed('HEAD', '/api/hello')).toBe(true);
    expect(modelRequestAllowed('GET', '/v1/messages')).toBe(false);
    expect(modelRequestAllowed('POST', '/v1/messages/batches')).toBe(false);
    expect(modelRequestAllowed('POST', '/v1/files')).toBe(false);
    expect(modelRequestAllowed('GET', '/v1/organizations/api_keys')).toBe(false);
    expect(modelRequestAllowed('DELETE', '/v1/models/x')).toBe(false);
    expect(modelRequestAllowed('POST', '/v1/messages/../files')).toBe(false);
  });
});

describe('upstreamRequestHeaders', () => {
  it('drops hop-by-hop headers, those the connection header names, and every credential of the sandbox', () => {
    const out = upstreamRequestHeaders(
      {
        connection: 'keep-alive, x-secret-hop',
        'x-secret-hop': '1',
        'keep-alive': 'timeout=5',
        'proxy-authorization': 'Basic x',
        'transfer-encoding': 'chunked',
        authorization: 'Bearer placeholder',
        'x-api-key': 'placeholder',
        host: '127.0.0.1:1234',
        'content-type': 'application/json',
      },
      new URL('https://api.example.test:8443/prefix'),
      { kind: 'api-key', value: 'real' },
    );
    expect(out).toEqual({
      'content-type': 'application/json',
      host: 'api.example.test:8443',
      'accept-encoding': 'identity',
      'x-api-key': 'real',
    });
  });
});
