// Authentication and overload, against a server started with TACHYON_API_KEY=test-key in its environment
// (the same as --api-key test-key) and --max-waiting-requests 0 (every generation request finds the queue full): 401 for a missing or wrong
// key, 429 with Retry-After for a full queue, and the SDK's retry behaviour on 429 (maxRetries + 1
// attempts, honouring Retry-After, then RateLimitError). /health and /metrics need no key.
import { assert, assertApiError, client, get, metrics, MODEL, post, run, test, url } from './lib.mjs';
import OpenAI from 'openai';

const messages = [{ role: 'user', content: 'hi' }];

test('401 without or with a wrong API key', async () => {
  assertApiError(await post('/v1/chat/completions', { model: MODEL, messages }), 401, { code: 'invalid_api_key' });
  assertApiError(await post('/v1/chat/completions', { model: MODEL, messages }, { authorization: 'Bearer nope' }), 401);
  await assert.rejects(client({ apiKey: 'nope' }).models.list(), OpenAI.AuthenticationError);
  const ok = await client({ apiKey: 'test-key' }).models.list();
  assert.equal(ok.data[0].id, MODEL);
});

test('/health and /metrics are open', async () => {
  assert.equal((await get('/health')).status, 200);
  assert.ok('tachyon:num_requests_running' in (await metrics()));
});

test('429 with Retry-After when the queue is full', async () => {
  const r = await post('/v1/chat/completions', { model: MODEL, messages }, { authorization: 'Bearer test-key' });
  assertApiError(r, 429);
  assert.equal(r.headers.get('retry-after'), '1');
});

test('the SDK retries 429 (honouring Retry-After), then throws RateLimitError', async () => {
  let attempts = 0;
  const counting = (input, init) => {
    attempts++;
    return fetch(input, init);
  };
  const ai = new OpenAI({ baseURL: `${url}/v1`, apiKey: 'test-key', maxRetries: 2, fetch: counting });
  const t0 = Date.now();
  await assert.rejects(ai.chat.completions.create({ model: MODEL, messages }), (e) => {
    assert.ok(e instanceof OpenAI.RateLimitError, String(e));
    assert.equal(e.status, 429);
    return true;
  });
  assert.equal(attempts, 3);
  assert.ok(Date.now() - t0 >= 1800, `retries did not wait for Retry-After (${Date.now() - t0} ms)`);
});

test('bad input is 400 (never retried), not 5xx', async () => {
  let attempts = 0;
  const ai = new OpenAI({ baseURL: `${url}/v1`, apiKey: 'test-key', maxRetries: 2, fetch: (i, o) => (attempts++, fetch(i, o)) });
  await assert.rejects(ai.chat.completions.create({ model: MODEL, messages, max_tokens: -3 }), OpenAI.BadRequestError);
  assert.equal(attempts, 1);
});

await run();
