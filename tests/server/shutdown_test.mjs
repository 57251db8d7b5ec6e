// Non-streamed requests and graceful shutdown, against a server started with --sse-ping-seconds 0.2
// --shutdown-timeout 1 (run.sh with TACHYON_TEST_STOPS_SERVER=1: this test sends the SIGTERM).
// - A non-streamed request that runs past the ping interval is answered as plain JSON once it is done
//   (no keep-alive padding, which would fix the status at 200 before the outcome is known).
// - A non-streamed request whose client goes away is cancelled: the engine frees its blocks.
// - SIGTERM drains: new connections and /health get 503, a short request finishes, then the long ones end:
//   a non-streamed one as a 503 that the openai SDK throws, every stream with an error event and [DONE].
import http from 'node:http';
import OpenAI from 'openai';
import { assert, client, get, metrics, MODEL, post, run, test, url, waitIdle } from './lib.mjs';

const pid = Number(process.env.TACHYON_SERVER_PID);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const long = { model: MODEL, messages: [{ role: 'user', content: 'hi' }], max_tokens: 3000, ignore_eos: true, temperature: 0 };

// The raw text of a streamed response (resolves when the server ends it).
async function rawStream(body) {
  const r = await fetch(`${url}/v1/chat/completions`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ...body, stream: true }),
  });
  return { status: r.status, text: await r.text() };
}

test('a non-streamed request past the ping interval is plain JSON', async () => {
  const t0 = Date.now();
  const r = await post('/v1/chat/completions', { ...long, max_tokens: 200 });
  assert.equal(r.status, 200, r.text);
  assert.ok(Date.now() - t0 > 200, 'the request should outlast the 0.2 s ping interval; raise max_tokens');
  assert.equal(r.text[0], '{', 'no padding before the JSON body');
  assert.ok(r.headers.get('content-length'), 'a sized body, not a chunked one');
  assert.equal(r.json.choices[0].finish_reason, 'length');
});

test('a non-streamed request whose client goes away is cancelled', async () => {
  const before = await metrics();
  const req = http.request(`${url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' } });
  req.on('error', () => {});
  req.end(JSON.stringify(long));
  let m;
  for (let i = 0; i < 100; i++) {  // until the engine runs it
    m = await metrics();
    if (m['tachyon:num_requests_running'] > 0) break;
    await sleep(50);
  }
  assert.equal(m['tachyon:num_requests_running'], 1, 'the request never ran');
  await sleep(500);  // past the ping interval
  req.destroy();
  const after = await waitIdle(10_000);
  assert.equal(after['tachyon:request_abort_total'] -
                   (before['tachyon:request_abort_total'] ?? 0), 1, JSON.stringify(after));
  assert.ok(after['tachyon:generation_tokens_total'] - before['tachyon:generation_tokens_total'] < 3000,
            'the request ran to max_tokens instead of being cancelled');
});

test('SIGTERM drains: short requests finish, the rest end with errors the SDK sees, every stream gets [DONE]', async () => {
  assert.ok(pid > 0, 'TACHYON_SERVER_PID is not set');
  const ai = client();
  const nonStreamed = [0, 1].map(() => ai.chat.completions.create(long).then((r) => ({ r }), (e) => ({ e })));
  const raw = [0, 1, 2, 3].map(() => rawStream(long));
  const sdkStream = (async () => {
    try {
      let chunks = 0;
      for await (const c of await ai.chat.completions.create({ ...long, stream: true })) chunks += c.choices.length;
      return { chunks };
    } catch (e) {
      return { e };
    }
  })();
  for (let i = 0; i < 200 && (await metrics())['tachyon:num_requests_running'] < 7; i++) await sleep(50);
  await sleep(500);  // the non-streamed ones are past the ping interval
  const short = ai.chat.completions.create({ ...long, max_tokens: 4 });
  await sleep(20);
  process.kill(pid, 'SIGTERM');
  await sleep(200);

  // Draining: a new connection is refused at once with 503, in OpenAI's error shape.
  const h = await get('/health');
  assert.equal(h.status, 503, h.text);
  const fresh = await post('/v1/chat/completions', { ...long, max_tokens: 2 });
  assert.equal(fresh.status, 503, fresh.text);
  assert.equal(typeof fresh.json.error.message, 'string');

  const s = await short;
  assert.equal(s.choices[0].finish_reason, 'length', 'a request that fits in the drain time finishes normally');
  for (const { r, e } of await Promise.all(nonStreamed)) {
    assert.ok(!r, `a cancelled non-streamed request came back as a success: ${JSON.stringify(r)}`);
    assert.ok(e instanceof OpenAI.APIError, String(e));
    assert.equal(e.status, 503, String(e));
  }
  for (const { status, text } of await Promise.all(raw)) {
    assert.equal(status, 200);
    assert.ok(text.includes('data: {"error":'), `no error event: ...${text.slice(-300)}`);
    assert.ok(text.endsWith('data: [DONE]\n\n'), `the stream did not end with [DONE]: ...${text.slice(-300)}`);
  }
  const st = await sdkStream;
  assert.ok(st.e instanceof OpenAI.APIError, `the SDK stream did not fail: ${JSON.stringify(st)}`);
});

await run();
