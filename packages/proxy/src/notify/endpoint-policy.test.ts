import { describe, expect, it } from 'vitest';
import { addressRefusal, endpointRefusal } from './endpoint-policy.js';

const prod = { allowLoopback: false };
const dev = { allowLoopback: true };

describe('push endpoint policy', () => {
  it('accepts the https endpoints of real push services', () => {
    expect(endpointRefusal('https://fcm.googleapis.com/fcm/send/abc:def', prod)).toBeNull();
    expect(endpointRefusal('https://updates.push.services.mozilla.com/wpush/v2/gAAA', prod)).toBeNull();
    expect(endpointRefusal('https://web.push.apple.com/QGuQyavXutnMH', prod)).toBeNull();
  });

  it('refuses plain http, other schemes, credentials and junk in production', () => {
    expect(endpointRefusal('http://fcm.googleapis.com/fcm/send/x', prod)).toMatch(/https/);
    expect(endpointRefusal('ftp://example.com/x', prod)).toMatch(/https/);
    expect(endpointRefusal('file:///etc/passwd', prod)).toMatch(/https/);
    expect(endpointRefusal('https://user:pw@example.com/x', prod)).toMatch(/credentials/);
    expect(endpointRefusal('not a url', prod)).toMatch(/not a URL/);
    expect(endpointRefusal(`https://example.com/${'a'.repeat(3000)}`, prod)).toMatch(/too long/);
    expect(endpointRefusal('https://intranet/x', prod)).toMatch(/public name/);
  });

  it('refuses loopback, private, link-local and metadata addresses in production (SSRF)', () => {
    for (const url of [
      'https://127.0.0.1/x',
      'https://localhost/x',
      'https://[::1]/x',
      'https://10.0.0.5/x',
      'https://192.168.1.1/x',
      'https://169.254.169.254/latest/meta-data',
      'https://[fd00:ec2::254]/x',
      'https://[::ffff:10.0.0.1]/x',
      'https://0.0.0.0/x',
    ]) {
      expect(endpointRefusal(url, prod), url).not.toBeNull();
    }
  });

  it('allows http and https on loopback only when the development flag says so, never private addresses', () => {
    expect(endpointRefusal('http://127.0.0.1:4567/push/1', dev)).toBeNull();
    expect(endpointRefusal('http://localhost:4567/push/1', dev)).toBeNull();
    expect(endpointRefusal('http://10.0.0.5/push', dev)).toMatch(/https/);
    expect(endpointRefusal('https://10.0.0.5/push', dev)).toMatch(/private/);
    expect(endpointRefusal('http://example.com/push', dev)).toMatch(/https/);
  });

  it('checks each resolved address at send time (a public name that resolves inward is refused)', () => {
    expect(addressRefusal('142.250.74.106', prod)).toBeNull();
    expect(addressRefusal('10.1.2.3', prod)).toMatch(/private/);
    expect(addressRefusal('127.0.0.1', prod)).toMatch(/loopback/);
    expect(addressRefusal('127.0.0.1', dev)).toBeNull();
    expect(addressRefusal('169.254.169.254', dev)).toMatch(/metadata/);
  });
});
