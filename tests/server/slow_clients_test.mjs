// Slow and greedy clients, against a server started with --header-timeout 15 --max-connections 150
// --max-connections-per-client 100 (see http_server.h).
// - 90 connections that send a header line every 0.5 s (more than a fixed pool of 64 threads would have)
//   do not stop a normal request, /health, or a running stream: all complete while the slow ones are
//   still open.
// - Beyond 100 connections from one address, new ones get 429 at once; another address still gets through.
// - Beyond 150 connections in all, new ones get 503 at once.
// - A request whose headers have not arrived within 15 s gets 408, and its connection closes; the
//   refused and timed-out connections are counted in /metrics.
import http from 'node:http';
import net from 'node:net';
import { assert, client, get, MODEL, run, test, url } from './lib.mjs';

const port = Number(new URL(url).port);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const HEADER_TIMEOUT_MS = 15_000;

// A connection that starts a request and then sends one header line every 0.5 s, forever.
function slowConnection(localAddress) {
  const c = { text: '', closedAt: 0, openedAt: Date.now() };
  c.sock = net.connect({ host: '127.0.0.1', port, localAddress });
  c.sock.on('error', () => {});
  c.sock.on('data', (d) => (c.text += d.toString()));
  c.sock.on('close', () => (c.closedAt = Date.now()));
  c.ready = new Promise((r) => c.sock.on('connect', r));
  c.sock.on('connect', () => c.sock.write('POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n'));
  c.timer = setInterval(() => { if (!c.closedAt) c.sock.write('X-Slow: 1\r\n'); }, 500);
  c.done = new Promise((r) => c.sock.on('close', r)).then(() => clearInterval(c.timer));
  return c;
}

// A small chat request from a chosen local address (node:http; the SDK cannot pick one).
function chatFrom(localAddress) {
  return new Promise((resolve, reject) => {
    const req = http.request(`${url}/v1/chat/completions`, {
      method: 'POST', localAddress, agent: false, headers: { 'content-type': 'application/json' },
    }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode, body }));
    });
    req.on('error', reject);
    req.end(JSON.stringify({ model: MODEL, messages: [{ role: 'user', content: 'hi' }], max_tokens: 4 }));
  });
}

const slow = [];

test('90 slow connections do not stop a normal request, /health or a running stream', async () => {
  const ai = client();
  const stream = (async () => {
    let text = '';
    for await (const c of await ai.chat.completions.create({
      model: MODEL, messages: [{ role: 'user', content: 'hi' }], max_tokens: 60, ignore_eos: true, stream: true,
    })) text += c.choices[0]?.delta?.content ?? '';
    return text;
  })();
  for (let i = 0; i < 90; i++) slow.push(slowConnection('127.0.0.1'));
  await Promise.all(slow.map((c) => c.ready));
  await sleep(300);
  const r = await ai.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'hi' }], max_tokens: 4 });
  assert.equal(r.choices[0].finish_reason, 'length');
  assert.equal((await get('/health')).status, 200);
  await stream;
  const open = slow.filter((c) => !c.closedAt).length;
  assert.equal(open, 90, 'the normal requests had to wait for slow connections to be closed: ' + slow.filter((c) => c.closedAt).map((c) => JSON.stringify(c.text.slice(0, 200))).slice(0, 3).join(' '));
});

test('beyond 100 connections from one address: 429 at once; another address gets through', async () => {
  const more = [];
  for (let i = 0; i < 15; i++) more.push(slowConnection('127.0.0.1'));
  await sleep(1000);
  const refused = more.filter((c) => c.text.startsWith('HTTP/1.1 429'));
  assert.ok(refused.length >= 5, `only ${refused.length} of 15 extra connections were refused`);
  for (const c of refused) assert.ok(c.text.includes('"code":"too_many_connections"'), c.text);
  slow.push(...more.filter((c) => !refused.includes(c)));
  const r = await chatFrom('127.0.0.2');
  assert.equal(r.status, 200, r.body);
});

test('beyond 150 connections in all: 503 at once', async () => {
  const more = [];
  for (let i = 0; i < 60; i++) more.push(slowConnection('127.0.0.3'));
  await sleep(1000);
  const refused = more.filter((c) => c.text.startsWith('HTTP/1.1 503'));
  // About 100 were open from 127.0.0.1 (give or take the SDK's kept-alive ones, which close after 5 s).
  assert.ok(refused.length >= 5, `only ${refused.length} of 60 connections past the total were refused`);
  slow.push(...more.filter((c) => !refused.includes(c)));
});

test('headers that do not arrive in time get 408 and the connection closes; /metrics counts it all', async () => {
  await Promise.race([Promise.all(slow.map((c) => c.done)), sleep(HEADER_TIMEOUT_MS + 20_000)]);
  for (const c of slow) {
    assert.ok(c.closedAt, 'a slow connection was never closed');
    assert.ok(c.text.startsWith('HTTP/1.1 408'), c.text);
    assert.ok(c.closedAt - c.openedAt >= HEADER_TIMEOUT_MS - 100, 'closed before its header deadline');
  }
  const r = await chatFrom('127.0.0.1');
  assert.equal(r.status, 200, r.body);
  const page = (await get('/metrics')).text;
  const value = (re) => Number(page.match(re)?.[1] ?? NaN);
  assert.ok(value(/http_requests_cut_total\{reason="header_timeout"\} (\d+)/) >= slow.length, page);
  assert.ok(value(/http_connections_refused_total\{reason="max_connections_per_client"\} (\d+)/) >= 5);
  assert.ok(value(/http_connections_refused_total\{reason="max_connections"\} (\d+)/) >= 5);
});

await run();
