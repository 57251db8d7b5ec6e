// Exact-output tests under `--debug-forced-output` (the server is started with
// forced_output.txt as its forced text): tool calls assembled by the SDK from streamed deltas, reasoning in
// thinking mode, stop strings spanning tokens, multi-byte UTF-8 split across byte-level tokens, and
// finish reasons. A random-weight model never writes DSML on its own, hence the forced text.
import { readFileSync } from 'node:fs';
import { assert, client, MODEL, post, run, test, url, waitIdle } from './lib.mjs';

// The server's forced text (run.sh passes this file to --debug-forced-output).
const FORCED = readFileSync(new URL('./forced_output.txt', import.meta.url), 'utf8');
const CONTENT = FORCED.slice(0, FORCED.indexOf('\n\n<｜DSML｜tool_calls>'));

const ai = client();
const tools = [{
  type: 'function',
  function: {
    name: 'get_weather', description: 'Weather forecast',
    parameters: { type: 'object', properties: { city: { type: 'string' }, days: { type: 'integer' } }, required: ['city'] },
  },
}];
const messages = [{ role: 'user', content: 'Weather in Paris for 3 days?' }];

test('the forced text comes back exactly from /v1/completions (stream and not)', async () => {
  const r = await ai.completions.create({ model: MODEL, prompt: 'x', max_tokens: 200 });
  assert.equal(r.choices[0].text, FORCED);
  assert.equal(r.choices[0].finish_reason, 'stop');
  const s = await ai.completions.create({ model: MODEL, prompt: 'x', max_tokens: 200, stream: true });
  const pieces = [];
  for await (const chunk of s) pieces.push(chunk.choices[0]?.text ?? '');
  assert.equal(pieces.join(''), FORCED);
  for (const p of pieces) assert.ok(!p.includes('\uFFFD'), `chunk with U+FFFD: ${JSON.stringify(p)}`);
});

test('tokens of the emoji split UTF-8 characters (the hold-back is exercised)', async () => {
  const t = await post('/tokenize', { prompt: '🚀🦀', return_token_strs: true });
  const d = await Promise.all(t.json.tokens.map((id) => post('/detokenize', { tokens: [id] })));
  assert.ok(d.some((x) => x.json.prompt.includes('\uFFFD')), 'expected a token that is not valid UTF-8 alone');
});

test('non-stream chat: content + tool_calls, finish_reason tool_calls', async () => {
  const r = await ai.chat.completions.create({ model: MODEL, messages, tools, max_tokens: 200 });
  const m = r.choices[0].message;
  assert.equal(r.choices[0].finish_reason, 'tool_calls');
  assert.equal(m.content, CONTENT);
  assert.equal(m.tool_calls.length, 1);
  assert.match(m.tool_calls[0].id, /^call_/);
  assert.equal(m.tool_calls[0].type, 'function');
  assert.equal(m.tool_calls[0].function.name, 'get_weather');
  assert.deepEqual(JSON.parse(m.tool_calls[0].function.arguments), { city: 'Paris', days: 3 });
});

test('streamed tool call assembled by the SDK: arguments in fragments, equal to the non-streamed ones', async () => {
  const runner = ai.chat.completions.stream({ model: MODEL, messages, tools, max_tokens: 200 });
  const deltas = [];
  runner.on('chunk', (c) => { for (const ch of c.choices) if (ch.delta.tool_calls) deltas.push(...ch.delta.tool_calls); });
  const final = await runner.finalChatCompletion();
  const m = final.choices[0].message;
  assert.equal(final.choices[0].finish_reason, 'tool_calls');
  assert.equal(m.content, CONTENT);
  assert.equal(m.tool_calls.length, 1);
  assert.equal(m.tool_calls[0].function.name, 'get_weather');
  assert.deepEqual(JSON.parse(m.tool_calls[0].function.arguments), { city: 'Paris', days: 3 });
  assert.ok(deltas.every((d) => d.index === 0), JSON.stringify(deltas));
  // The first delta opens the call; the arguments follow as the DSML parameters are parsed.
  assert.match(deltas[0].id, /^call_/);
  assert.equal(deltas[0].type, 'function');
  assert.equal(deltas[0].function.name, 'get_weather');
  assert.equal(deltas[0].function.arguments, '');
  const fragments = deltas.slice(1).map((d) => d.function.arguments);
  assert.ok(fragments.length > 1, `the arguments of a two-parameter call came in one delta: ${JSON.stringify(deltas)}`);
  assert.ok(deltas.slice(1).every((d) => d.id === undefined && d.function.name === undefined), JSON.stringify(deltas));
  const whole = await ai.chat.completions.create({ model: MODEL, messages, tools, max_tokens: 200 });
  assert.equal(fragments.join(''), whole.choices[0].message.tool_calls[0].function.arguments);  // byte for byte
});

test('thinking mode: reasoning_content deltas, then the tool call', async () => {
  const stream = await ai.chat.completions.create({
    model: MODEL, messages, tools, max_tokens: 200, stream: true, chat_template_kwargs: { thinking: true },
  });
  let reasoning = '', content = '', finish = null;
  for await (const chunk of stream) {
    const c = chunk.choices[0];
    if (!c) continue;
    reasoning += c.delta.reasoning_content ?? '';
    content += c.delta.content ?? '';
    finish = c.finish_reason ?? finish;
  }
  assert.equal(reasoning, CONTENT);
  assert.equal(content, '');
  assert.equal(finish, 'tool_calls');
});

test('stop strings spanning tokens are cut, stream and not', async () => {
  const tok = await post('/tokenize', { prompt: CONTENT, return_token_strs: true });
  assert.ok(tok.json.count >= 8);
  for (const stop of ['llo 世', '界 🚀', '🦀 do']) {
    const r = await ai.completions.create({ model: MODEL, prompt: 'x', max_tokens: 200, stop });
    assert.equal(r.choices[0].text, CONTENT.slice(0, CONTENT.indexOf(stop)));
    assert.equal(r.choices[0].finish_reason, 'stop');
    const s = await ai.chat.completions.create({ model: MODEL, messages, max_tokens: 200, stop: ['zzz', stop], stream: true });
    let content = '';
    for await (const chunk of s) content += chunk.choices[0]?.delta?.content ?? '';
    assert.equal(content, CONTENT.slice(0, CONTENT.indexOf(stop)));
  }
  const inc = await post('/v1/completions', { model: MODEL, prompt: 'x', max_tokens: 200, stop: '世界', include_stop_str_in_output: true });
  assert.equal(inc.json.choices[0].text, 'Hi héllo 世界');
});

test('max_tokens shorter than the forced text: finish_reason length, valid UTF-8', async () => {
  for (let k = 1; k <= 12; k++) {
    const r = await ai.completions.create({ model: MODEL, prompt: 'x', max_tokens: k });
    assert.equal(r.choices[0].finish_reason, 'length');
    assert.equal(r.usage.completion_tokens, k);
    const t = r.choices[0].text;
    assert.ok(FORCED.startsWith(t.replace(/\uFFFD$/, '')), JSON.stringify(t));
  }
});

test(': ping comments keep a queued stream alive (server: --max-num-seqs 2 --sse-ping-seconds 0.2)', async () => {
  const body = JSON.stringify({ model: MODEL, prompt: 'x', max_tokens: 200, stream: true });
  const bodies = await Promise.all([0, 1, 2].map(async () => {
    const r = await fetch(`${url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    assert.equal(r.headers.get('content-type'), 'text/event-stream');
    return r.text();
  }));
  for (const b of bodies) {
    assert.ok(b.endsWith('data: [DONE]\n\n'));
    const events = b.split('\n\n').filter((e) => e && !e.startsWith(':'));
    assert.equal(events.map((e) => e.startsWith('data: [DONE]') ? '' : JSON.parse(e.slice(6)).choices[0].text).join(''), FORCED);
  }
  assert.ok(bodies.some((b) => b.includes(': ping\n\n')), 'the queued stream got no ping');
});

test('a client that leaves a long non-streamed request cancels it', async () => {
  const ac = new AbortController();
  setTimeout(() => ac.abort(), 1000);
  await assert.rejects(ai.completions.create({ model: MODEL, prompt: 'x', max_tokens: 3000, ignore_eos: true }, { signal: ac.signal }));
  await waitIdle(5000);  // generating 3000 tokens would take far longer
});

test('engine idle after all of it', async () => {
  await waitIdle();
});

await run();
