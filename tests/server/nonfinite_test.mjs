// Bad weights fail one request, not the server: the model (make_nonfinite_model.mjs) has NaN embedding
// rows for the tokens of one word. Requests containing it get a 500 with a clear message (non-streamed), or
// an error event then [DONE] (streamed), through the official SDK; clean requests before and after are
// answered, /health stays 200, and /metrics counts the failures in tachyon:nonfinite_failures_total.
import fs from 'node:fs';
import path from 'node:path';
import OpenAI from 'openai';
import { assert, client, get, metrics, MODEL, run, test, url, waitIdle } from './lib.mjs';

const info = JSON.parse(fs.readFileSync(path.join(process.env.TACHYON_TEST_MODEL, 'nonfinite.json'), 'utf8'));
const ai = client();
const MESSAGE = 'the model produced non-finite values (NaN or infinity) for this request';
// Clean requests must never sample a bad token: a random-weight model could, so they are banned.
const logit_bias = Object.fromEntries(info.bad_ids.map((id) => [String(id), -100]));
const badPrompt = [...info.clean_ids.slice(0, 3), info.bad_ids[0], ...info.clean_ids.slice(3)];

function isNonFiniteError(e) {
  assert.ok(e instanceof OpenAI.APIError, String(e));
  assert.ok(e.message.includes(MESSAGE), e.message);
  return true;
}

async function cleanChat() {
  const r = await ai.chat.completions.create({
    model: MODEL, messages: info.clean_chat, max_tokens: 6, temperature: 0, ignore_eos: true, logit_bias,
  });
  assert.equal(r.choices[0].finish_reason, 'length');
  assert.equal(r.usage.completion_tokens, 6);
}

test('a clean request is answered', cleanChat);

test('chat with the bad word: 500 with the message (non-streamed)', async () => {
  await assert.rejects(ai.chat.completions.create({ model: MODEL, messages: info.bad_chat, max_tokens: 6 }), (e) => {
    assert.ok(e instanceof OpenAI.InternalServerError, String(e));
    assert.equal(e.status, 500);
    assert.equal(e.error.type, 'internal_server_error');
    return isNonFiniteError(e);
  });
});

test('chat with the bad word, streamed: the SDK raises the error event', async () => {
  const stream = await ai.chat.completions.create({ model: MODEL, messages: info.bad_chat, max_tokens: 6, stream: true });
  await assert.rejects(async () => {
    for await (const chunk of stream) assert.ok(chunk.choices.length <= 1);
  }, isNonFiniteError);
});

test('completions with a bad token id: 500, and over SSE an error event then [DONE]', async () => {
  await assert.rejects(ai.completions.create({ model: MODEL, prompt: badPrompt, max_tokens: 4 }), (e) => {
    assert.equal(e.status, 500);
    return isNonFiniteError(e);
  });
  const r = await fetch(`${url}/v1/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: MODEL, prompt: badPrompt, max_tokens: 4, stream: true }),
  });
  assert.equal(r.status, 200);
  const events = (await r.text()).split('\n\n').filter((e) => e.startsWith('data: ')).map((e) => e.slice(6));
  assert.equal(events.at(-1), '[DONE]');
  const errors = events.slice(0, -1).map((e) => JSON.parse(e)).filter((j) => j.error);
  assert.equal(errors.length, 1, events.join('\n'));
  assert.ok(errors[0].error.message.includes(MESSAGE), errors[0].error.message);
  assert.equal(errors[0].error.type, 'internal_server_error');
});

test('a clean request beside a failing one is answered; the server goes on', async () => {
  const [good, bad] = await Promise.allSettled([
    ai.completions.create({ model: MODEL, prompt: info.clean_ids, max_tokens: 24, temperature: 0, ignore_eos: true, logit_bias }),
    ai.completions.create({ model: MODEL, prompt: badPrompt, max_tokens: 24 }),
  ]);
  assert.equal(good.status, 'fulfilled', String(good.reason));
  assert.equal(good.value.usage.completion_tokens, 24);
  assert.equal(bad.status, 'rejected');
  isNonFiniteError(bad.reason);
  assert.equal((await get('/health')).status, 200);
  await cleanChat();
});

test('/metrics counts the failures and every cache block is back', async () => {
  const m = await waitIdle();
  assert.equal(m['tachyon:nonfinite_failures_total'], 5);
  assert.equal(m['tachyon:request_error_total'], 5);
  const text = (await get('/metrics')).text;
  assert.ok(text.includes('# TYPE tachyon:nonfinite_failures_total counter'), text);
});

await run();
