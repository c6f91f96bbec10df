// One proxy policy for the CDB API, the download URLs and COS: HTTPS_PROXY for https://, HTTP_PROXY for
// http://, NO_PROXY exceptions as curl reads them, loopback never proxied.
import assert from 'node:assert/strict';
import http from 'node:http';
import { test } from 'node:test';
import { cdbTransport } from '../../src/cdb/client.js';
import { describeProxy, isLoopback, matchesNoProxy, proxyPolicyFromEnv } from '../../src/net/proxy.js';

const P = 'http://proxy.corp:3128';
const Q = 'http://other-proxy.corp:8080';

test('https:// URLs go through HTTPS_PROXY, http:// URLs through HTTP_PROXY; neither set = direct', () => {
  const p = proxyPolicyFromEnv({ HTTPS_PROXY: P, HTTP_PROXY: Q });
  assert.equal(p.proxyFor('https://cdb.tencentcloudapi.com/'), P);
  assert.equal(p.proxyFor('https://bucket-1250000000.cos.ap-guangzhou.myqcloud.com/k'), P);
  assert.equal(p.proxyFor('http://cdb-download.example.com/x?sign=1'), Q);
  // As curl: an https URL does not fall back to HTTP_PROXY.
  assert.equal(proxyPolicyFromEnv({ HTTP_PROXY: Q }).proxyFor('https://cdb.tencentcloudapi.com/'), undefined);
  assert.equal(proxyPolicyFromEnv({}).proxyFor('https://cdb.tencentcloudapi.com/'), undefined);
});

test('lowercase variables win over uppercase ones; an empty variable counts as unset', () => {
  assert.equal(proxyPolicyFromEnv({ https_proxy: P, HTTPS_PROXY: Q }).proxyFor('https://a.example/'), P);
  assert.equal(proxyPolicyFromEnv({ https_proxy: '', HTTPS_PROXY: Q }).proxyFor('https://a.example/'), Q);
  assert.equal(proxyPolicyFromEnv({ http_proxy: P, HTTP_PROXY: Q }).proxyFor('http://a.example/'), P);
  assert.equal(proxyPolicyFromEnv({ HTTPS_PROXY: P, no_proxy: 'a.example', NO_PROXY: 'b.example' }).proxyFor('https://a.example/'), undefined);
  assert.equal(proxyPolicyFromEnv({ HTTPS_PROXY: P, no_proxy: '', NO_PROXY: 'b.example' }).proxyFor('https://b.example/'), undefined);
});

test('loopback is never proxied, whatever the variables say', () => {
  const p = proxyPolicyFromEnv({ HTTPS_PROXY: P, HTTP_PROXY: P, https_proxy: P, http_proxy: P });
  for (const url of ['http://127.0.0.1:9000/', 'https://127.0.0.1/', 'http://127.8.9.10:1/', 'http://[::1]:9001/', 'http://localhost:9002/x', 'http://LOCALHOST./', 'http://cos.localhost:1/', 'http://[::ffff:127.0.0.1]:5/']) {
    assert.equal(p.proxyFor(url), undefined, url);
  }
  for (const host of ['128.0.0.1', '10.0.0.1', '::2', 'localhost.example.com', '127.0.0.1.nip.io']) assert.equal(isLoopback(host), false, host);
  assert.equal(p.proxyFor('http://127.0.0.1.nip.io/'), P);
});

test('NO_PROXY: names match themselves and their subdomains, with or without a leading dot or *.', () => {
  const no = 'example.com, .corp.internal *.myqcloud.com';
  assert.equal(matchesNoProxy('example.com', 443, no), true);
  assert.equal(matchesNoProxy('a.b.example.com', 443, no), true);
  assert.equal(matchesNoProxy('badexample.com', 443, no), false);
  assert.equal(matchesNoProxy('corp.internal', 443, no), true);
  assert.equal(matchesNoProxy('x.corp.internal', 443, no), true);
  assert.equal(matchesNoProxy('bucket.cos.ap-guangzhou.myqcloud.com', 443, no), true);
  assert.equal(matchesNoProxy('tencentcloudapi.com', 443, no), false);
  assert.equal(matchesNoProxy('EXAMPLE.COM.', 443, no), true);
  assert.equal(matchesNoProxy('anything', 1, '*'), true);
});

test('NO_PROXY: host:port matches that port only; IPv4 addresses and CIDR blocks; bracketed IPv6', () => {
  assert.equal(matchesNoProxy('dl.example.com', 8443, 'dl.example.com:8443'), true);
  assert.equal(matchesNoProxy('dl.example.com', 443, 'dl.example.com:8443'), false);
  assert.equal(matchesNoProxy('10.1.2.3', 80, '10.0.0.0/8'), true);
  assert.equal(matchesNoProxy('11.1.2.3', 80, '10.0.0.0/8'), false);
  assert.equal(matchesNoProxy('192.168.1.7', 80, '192.168.1.7'), true);
  assert.equal(matchesNoProxy('192.168.1.70', 80, '192.168.1.7'), false);
  assert.equal(matchesNoProxy('[fd00::1]', 80, '[fd00::1]'), true);
  assert.equal(matchesNoProxy('fd00::1', 80, 'fd00::1'), true);
  const p = proxyPolicyFromEnv({ HTTPS_PROXY: P, NO_PROXY: 'cdb.tencentcloudapi.com' });
  assert.equal(p.proxyFor('https://cdb.tencentcloudapi.com/'), undefined);
  assert.equal(p.proxyFor('https://bucket-1.cos.ap-guangzhou.myqcloud.com/'), P);
});

test('a proxy without a scheme means http://; a malformed one is a configuration error naming the variable', () => {
  assert.equal(proxyPolicyFromEnv({ HTTPS_PROXY: 'proxy.corp:3128' }).proxyFor('https://a.example/'), 'http://proxy.corp:3128');
  assert.throws(() => proxyPolicyFromEnv({ HTTPS_PROXY: 'http://[oops' }), { code: 'ERR_CONFIG', message: /^HTTPS_PROXY: not a proxy URL/ });
  assert.throws(() => proxyPolicyFromEnv({ http_proxy: 'socks5://p:1080' }), { code: 'ERR_CONFIG', message: /^http_proxy: proxy scheme socks5: is not supported/ });
  assert.equal(describeProxy('http://user:pa55@proxy.corp:3128'), 'http://proxy.corp:3128');
});

test('the CDB client is handed the proxy the policy names, else its own agent (which keeps the SDK off $http_proxy)', () => {
  const via = cdbTransport(new URL('https://cdb.tencentcloudapi.com'), { proxyFor: () => P });
  assert.deepEqual(via, { proxy: P });
  const direct = cdbTransport(new URL('http://127.0.0.1:9000'), proxyPolicyFromEnv({ http_proxy: P }));
  assert.ok('agent' in direct && direct.agent instanceof http.Agent);
});
