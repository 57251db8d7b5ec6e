// Bounded work per request on the routes open to anyone: /tokenize and /detokenize refuse bodies over
// --max-tokenize-bytes (8M by default) before reading them, and prompts far beyond the context are
// refused without being tokenised in full; the server's peak memory barely moves.
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { assert, assertApiError, MODEL, post, run, test, url } from './lib.mjs';

const pid = Number(process.env.TACHYON_SERVER_PID);
// The server's peak resident memory (VmHWM), in MB.
function peakMb() {
  const m = readFileSync(`/proc/${pid}/status`, 'utf8').match(/VmHWM:\s+(\d+) kB/);
  return Number(m[1]) / 1024;
}
const port = Number(new URL(url).port);

// Sends `head` (and then `body` chunks, 1 MB at a time, while the server takes them) on a raw
// connection; resolves with everything the server sent, once it closes the connection.
function rawExchange(head, bodyBytes = 0) {
  return new Promise((resolve) => {
    const sock = net.connect({ host: '127.0.0.1', port });
    let got = '';
    let sent = 0;
    sock.on('data', (d) => (got += d.toString()));
    sock.on('error', (e) => (got += `\n<${e.code}>`));
    sock.on('close', () => resolve(got));
    const pump = () => {
      while (sent < bodyBytes) {
        const n = Math.min(1 << 20, bodyBytes - sent);
        sent += n;
        if (!sock.write('x'.repeat(n))) return sock.once('drain', pump);
      }
    };
    sock.on('connect', () => {
      sock.write(head);
      pump();
    });
  });
}
const responses = (text) => text.split('HTTP/1.1 ').length - 1;

const words = (n) => Array.from({ length: n }, (_, i) => `w${(i * 7919) % 100003}`).join(' ');

test('a 20 MB /tokenize body is refused at once with 413', async () => {
  const before = peakMb();
  const big = JSON.stringify({ model: MODEL, prompt: 'x'.repeat(20 << 20) });
  const r = await post('/tokenize', big);
  assertApiError(r, 413, { code: 'request_too_large' });
  assert.match(r.json.error.message, /--max-tokenize-bytes/);
  const d = await post('/detokenize', JSON.stringify({ tokens: Array(4 << 20).fill(1) }));
  assertApiError(d, 413);
  assert.ok(peakMb() - before < 32, `peak memory grew by ${peakMb() - before} MB`);
});

test('a chunked /tokenize body over the limit is refused too', async () => {
  const chunk = new TextEncoder().encode('x'.repeat(1 << 20));
  let sent = 0;
  const body = new ReadableStream({
    pull(c) {
      if (sent === 0) c.enqueue(new TextEncoder().encode('{"prompt": "'));
      if (sent++ < 12) c.enqueue(chunk);
      else {
        c.enqueue(new TextEncoder().encode('"}'));
        c.close();
      }
    },
  });
  const r = await fetch(`${url}/tokenize`, { method: 'POST', body, duplex: 'half', headers: { 'content-type': 'application/json' } });
  assert.equal(r.status, 413, await r.text());
});

test('a prompt far beyond the context is refused without tokenising all of it', async () => {
  const before = peakMb();
  const t0 = Date.now();
  const r = await post('/v1/completions', { model: MODEL, prompt: words(1_500_000), max_tokens: 1 });
  const e = assertApiError(r, 400, { code: 'context_length_exceeded' });
  assert.match(e.message, /more than \d+ tokens/);
  const t = await post('/tokenize', { model: MODEL, prompt: words(500_000) });
  assertApiError(t, 400, { code: 'context_length_exceeded' });
  const c = await post('/v1/chat/completions', { model: MODEL, messages: [{ role: 'user', content: words(1_000_000) }] });
  assertApiError(c, 400, { code: 'context_length_exceeded' });
  console.log(`     (three refusals of 3-10 MB prompts: ${Date.now() - t0} ms, peak memory +${(peakMb() - before).toFixed(0)} MB)`);
  assert.ok(peakMb() - before < 256, `peak memory grew by ${peakMb() - before} MB`);
});

test('a prompt within the context still tokenises in full', async () => {
  const r = await post('/tokenize', { model: MODEL, prompt: words(100) });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.count, r.json.tokens.length);
  assert.ok(r.json.count >= 100);
});

test('a compressed body is refused with 415 (its inflated size cannot be bounded before inflating)', async () => {
  const r = await fetch(`${url}/tokenize`, {
    method: 'POST', body: 'not really gzip', headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' },
  });
  assert.equal(r.status, 415, await r.text());
});

test('a refused body is drained, not reset: the client reads the 413 even with Connection: close', async () => {
  const text = await rawExchange(
    'POST /tokenize HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nConnection: close\r\n' +
    `Content-Length: ${20 << 20}\r\n\r\n`, 20 << 20);
  assert.ok(text.startsWith('HTTP/1.1 413'), text.slice(0, 200));
  assert.equal(responses(text), 1);
});

test('Expect: 100-continue gets the refusal before the body is sent', async () => {
  const text = await rawExchange(
    'POST /tokenize HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nExpect: 100-continue\r\n' +
    `Content-Length: ${20 << 20}\r\n\r\n`);
  assert.ok(text.startsWith('HTTP/1.1 413'), text.slice(0, 200));
  assert.ok(!text.includes('100 Continue'), text.slice(0, 200));
});

test('a malformed request gets one 400 and its connection closes (the rest is never parsed as requests)', async () => {
  const body = JSON.stringify({ model: MODEL, prompt: 'hi' });
  const text = await rawExchange(
    `POST /tokenize HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(10000)}\r\nContent-Length: ${body.length}\r\n` +
    `Content-Type: application/json\r\n\r\n${body}GET /health HTTP/1.1\r\nHost: x\r\n\r\n`);
  assert.ok(text.startsWith('HTTP/1.1 400'), text.slice(0, 200));
  assert.equal(responses(text), 1, text);
});

test('a chunked body past the limit is cut at the limit with 413', async () => {
  const text = await rawExchange(
    'POST /tokenize HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n' +
    `${(12 << 20).toString(16)}\r\n`, 12 << 20);
  assert.ok(text.startsWith('HTTP/1.1 413'), text.slice(0, 300));
  assert.equal(responses(text), 1, text.slice(0, 600));
});

await run();
