// OpenAI API conformance through the official SDK: models, chat (non-stream and stream, n > 1,
// logprobs, stop strings), completions (text and token-id prompts, stream, logprobs), the error shapes
// clients rely on, /tokenize, /detokenize, /health and /metrics. Runs against a random-weight model,
// so it checks shapes and consistency (greedy stream == non-stream), not text quality.
import { assert, assertApiError, client, get, metrics, MODEL, post, run, test, waitIdle } from './lib.mjs';
import OpenAI from 'openai';

const ai = client();
const hello = [{ role: 'user', content: 'Hello! Say something.' }];

test('GET /v1/models lists the served model', async () => {
  const list = await ai.models.list();
  assert.equal(list.data.length, 1);
  assert.equal(list.data[0].id, MODEL);
  assert.equal(list.data[0].object, 'model');
  assert.ok(list.data[0].max_model_len > 0);
  const one = await ai.models.retrieve(MODEL);
  assert.equal(one.id, MODEL);
  await assert.rejects(ai.models.retrieve('nope'), OpenAI.NotFoundError);
});

test('GET /health is 200 once loaded', async () => {
  assert.equal((await get('/health')).status, 200);
});

let greedy;  // the greedy non-streamed answer, reused below
test('chat non-stream', async () => {
  const r = await ai.chat.completions.create({ model: MODEL, messages: hello, max_tokens: 12, temperature: 0 });
  assert.match(r.id, /^chatcmpl-/);
  assert.equal(r.object, 'chat.completion');
  assert.equal(r.model, MODEL);
  assert.equal(r.choices.length, 1);
  const c = r.choices[0];
  assert.equal(c.index, 0);
  assert.equal(c.message.role, 'assistant');
  assert.ok(['stop', 'length'].includes(c.finish_reason), c.finish_reason);
  assert.ok(r.usage.prompt_tokens > 0);
  assert.ok(r.usage.completion_tokens >= 1 && r.usage.completion_tokens <= 12);
  assert.equal(r.usage.total_tokens, r.usage.prompt_tokens + r.usage.completion_tokens);
  assert.equal(r.usage.prompt_tokens_details.cached_tokens, 0);
  greedy = r;
});

test('chat stream matches the non-streamed greedy answer, with include_usage', async () => {
  const stream = await ai.chat.completions.create({
    model: MODEL, messages: hello, max_tokens: 12, temperature: 0, stream: true, stream_options: { include_usage: true },
  });
  let content = '', reasoning = '', finish = null, usage = null, n = 0, first = null, id = null;
  for await (const chunk of stream) {
    n++;
    assert.equal(chunk.object, 'chat.completion.chunk');
    id ??= chunk.id;
    assert.equal(chunk.id, id);
    if (chunk.usage) {
      assert.deepEqual(chunk.choices, []);
      usage = chunk.usage;
      continue;
    }
    assert.equal(chunk.usage, null);
    const d = chunk.choices[0].delta;
    first ??= d;
    content += d.content ?? '';
    reasoning += d.reasoning_content ?? '';
    if (chunk.choices[0].finish_reason) finish = chunk.choices[0].finish_reason;
  }
  assert.equal(first.role, 'assistant');
  assert.ok(n >= 3);
  const m = greedy.choices[0].message;
  assert.equal(content, m.content ?? '');
  assert.equal(reasoning, m.reasoning_content ?? '');
  assert.equal(finish, greedy.choices[0].finish_reason);
  assert.deepEqual(usage, greedy.usage);
});

test('chat n=3 with a seed: three indexed choices, reproducible', async () => {
  const req = { model: MODEL, messages: hello, max_tokens: 6, temperature: 1.0, n: 3, seed: 11 };
  const a = await ai.chat.completions.create(req);
  const b = await ai.chat.completions.create(req);
  assert.deepEqual(a.choices.map((c) => c.index), [0, 1, 2]);
  assert.deepEqual(a.choices.map((c) => c.message.content), b.choices.map((c) => c.message.content));
  assert.ok(a.usage.completion_tokens >= 3);
});

test('chat stream n=2: chunks for both indexes', async () => {
  const stream = await ai.chat.completions.create({ model: MODEL, messages: hello, max_tokens: 5, n: 2, stream: true });
  const finished = new Set();
  for await (const chunk of stream) for (const c of chunk.choices) if (c.finish_reason) finished.add(c.index);
  assert.deepEqual([...finished].sort(), [0, 1]);
});

test('chat logprobs with top_logprobs', async () => {
  const r = await ai.chat.completions.create({
    model: MODEL, messages: hello, max_tokens: 4, temperature: 0, logprobs: true, top_logprobs: 3, ignore_eos: true,
  });
  const lp = r.choices[0].logprobs.content;
  assert.equal(lp.length, 4);
  for (const e of lp) {
    assert.equal(typeof e.token, 'string');
    assert.ok(e.logprob <= 0);
    assert.ok(Array.isArray(e.bytes));
    assert.equal(e.top_logprobs.length, 3);
    assert.ok(e.top_logprobs[0].logprob >= e.top_logprobs[2].logprob);
    assert.equal(e.top_logprobs[0].token, e.token);  // greedy picks the most likely
  }
});

test('stop strings end the text before the stop (possibly spanning tokens)', async () => {
  const base = await ai.completions.create({ model: MODEL, prompt: 'The quick brown fox', max_tokens: 24, temperature: 0, ignore_eos: true });
  const text = base.choices[0].text;
  assert.ok(text.length >= 6, JSON.stringify(text));
  const stop = text.slice(3, 6);
  const cut = text.indexOf(stop);
  const r = await ai.completions.create({ model: MODEL, prompt: 'The quick brown fox', max_tokens: 24, temperature: 0, ignore_eos: true, stop: [stop, '\u0000never'] });
  assert.equal(r.choices[0].text, text.slice(0, cut));
  assert.equal(r.choices[0].finish_reason, 'stop');
  const s = await ai.completions.create({ model: MODEL, prompt: 'The quick brown fox', max_tokens: 24, temperature: 0, ignore_eos: true, stop, stream: true });
  let streamed = '';
  for await (const chunk of s) streamed += chunk.choices[0]?.text ?? '';
  assert.equal(streamed, text.slice(0, cut));
});

test('completions: text prompt, token-id prompt, batch of prompts', async () => {
  const r = await ai.completions.create({ model: MODEL, prompt: 'Once upon a time', max_tokens: 5, temperature: 0 });
  assert.match(r.id, /^cmpl-/);
  assert.equal(r.object, 'text_completion');
  assert.equal(typeof r.choices[0].text, 'string');
  assert.ok(r.usage.completion_tokens <= 5);
  const tok = await post('/tokenize', { model: MODEL, prompt: 'Once upon a time' });
  const ids = await ai.completions.create({ model: MODEL, prompt: tok.json.tokens, max_tokens: 5, temperature: 0 });
  assert.equal(ids.choices[0].text, r.choices[0].text);
  const batch = await ai.completions.create({ model: MODEL, prompt: ['a b c', 'Once upon a time'], max_tokens: 5, temperature: 0, n: 2 });
  assert.deepEqual(batch.choices.map((c) => c.index), [0, 1, 2, 3]);
  assert.equal(batch.choices[2].text, r.choices[0].text);
  const echo = await ai.completions.create({ model: MODEL, prompt: 'Once upon a time', max_tokens: 5, temperature: 0, echo: true });
  assert.equal(echo.choices[0].text, 'Once upon a time' + r.choices[0].text);
});

test('completions stream equals non-stream; legacy logprobs', async () => {
  const req = { model: MODEL, prompt: 'Hello there', max_tokens: 8, temperature: 0, ignore_eos: true };
  const full = await ai.completions.create({ ...req, logprobs: 2 });
  const lp = full.choices[0].logprobs;
  assert.equal(lp.tokens.length, 8);
  assert.equal(lp.token_logprobs.length, 8);
  assert.equal(lp.top_logprobs.length, 8);
  assert.equal(lp.text_offset[0], 0);
  const stream = await ai.completions.create({ ...req, stream: true, stream_options: { include_usage: true } });
  let text = '', finish = null, usage = null;
  for await (const chunk of stream) {
    if (chunk.usage) usage = chunk.usage;
    for (const c of chunk.choices) {
      text += c.text;
      if (c.finish_reason) finish = c.finish_reason;
    }
  }
  assert.equal(text, full.choices[0].text);
  assert.equal(finish, 'length');
  assert.equal(usage.completion_tokens, 8);
});

test('errors: bad JSON, wrong types, invalid UTF-8, unknown route', async () => {
  assertApiError(await post('/v1/chat/completions', '{"model": "tiny", "messages": ['), 400, { type: 'invalid_request_error' });
  assertApiError(await post('/v1/chat/completions', '[1, 2]'), 400);
  assertApiError(await post('/v1/chat/completions', { model: MODEL, messages: hello, temperature: 'hot' }), 400, { param: 'temperature' });
  assertApiError(await post('/v1/chat/completions', { model: MODEL, messages: 'hi' }), 400, { param: 'messages' });
  assertApiError(await post('/v1/chat/completions', { model: MODEL }), 400);
  assertApiError(await post('/v1/chat/completions', { model: MODEL, messages: hello, stop: 5 }), 400, { param: 'stop' });
  assertApiError(await post('/v1/chat/completions', { model: MODEL, messages: hello, n: 0 }), 400, { param: 'n' });
  assertApiError(await post('/v1/chat/completions', { model: MODEL, messages: hello, logit_bias: { x: 1 } }), 400, { param: 'logit_bias' });
  assertApiError(await post('/v1/completions', { model: MODEL, prompt: [999999999] }), 400, { param: 'prompt' });
  assertApiError(await post('/v1/completions', { model: MODEL, prompt: {} }), 400, { param: 'prompt' });
  const bad = Buffer.concat([Buffer.from('{"model": "tiny", "messages": [{"role": "user", "content": "'), Buffer.from([0xff, 0xfe]), Buffer.from('"}]}')]);
  assertApiError(await post('/v1/chat/completions', new Uint8Array(bad)), 400);
  assertApiError(await post('/v1/chat/completions', { model: MODEL, messages: hello, response_format: { type: 'regex' } }), 400, { param: 'response_format' });
  const nf = await get('/v1/nothing');
  assertApiError(nf, 404);
  // Fields that change nothing here are accepted (README: accepted as no-ops); null counts as absent.
  const ok = await post('/v1/chat/completions', { model: MODEL, messages: hello, max_tokens: 2, prompt_cache_key: 'x', metadata: { a: 'b' },
    user: 'u', store: false, service_tier: 'auto', parallel_tool_calls: true, guided_json: null });
  assert.equal(ok.status, 200, ok.text);
});

test('fields the server does not implement are 400s naming them (nothing silently ignored)', async () => {
  const tools = [{ type: 'function', function: { name: 'f', parameters: { type: 'object', properties: {} } } }];
  const chat = [
    [{ guided_json: { type: 'object' } }, 'guided_json'],
    [{ guided_regex: 'a+' }, 'guided_regex'],
    [{ guided_choice: ['a', 'b'] }, 'guided_choice'],
    [{ guided_grammar: 'root ::= "a"' }, 'guided_grammar'],
    [{ structured_outputs: { choice: ['a'] } }, 'structured_outputs'],
    [{ continue_final_message: true }, 'continue_final_message'],
    [{ add_generation_prompt: false }, 'add_generation_prompt'],
    [{ prompt_logprobs: 1 }, 'prompt_logprobs'],
    [{ echo: true }, 'echo'],
    [{ verbosity: 'low' }, 'verbosity'],
    [{ parallel_tool_calls: false, tools }, 'parallel_tool_calls'],
    [{ no_such_field: 1 }, 'no_such_field'],
    [{ reasoning_effort: 'extreme', chat_template_kwargs: { thinking: true } }, 'reasoning_effort'],
    [{ reasoning_effort: 'high' }, 'reasoning_effort'],
    [{ chat_template_kwargs: { thinking: 'yes' } }, 'chat_template_kwargs.thinking'],
    [{ stream: true, stream_options: { continuous_usage_stats: true } }, 'stream_options.continuous_usage_stats'],
    [{ tools: [{ type: 'function', function: { name: 'f', parameters: 'object' } }] }, 'tools[0].function.parameters'],
    [{ tools: [{ type: 'function', function: { parameters: {} } }] }, 'tools[0].function.name'],
    [{ tools: [{ type: 'function', function: { name: '' } }] }, 'tools[0].function.name'],
    [{ tools: [...tools, ...tools] }, 'tools[1].function.name'],
    [{ tools: [{ type: 'function', function: { name: 'f', strict: true } }] }, 'tools[0].function.strict'],
  ];
  for (const [fields, param] of chat) {
    const e = assertApiError(await post('/v1/chat/completions', { model: MODEL, messages: hello, max_tokens: 2, ...fields }), 400, { param });
    assert.ok(e.message.includes(param), e.message);
  }
  const completions = [
    [{ guided_json: { type: 'object' } }, 'guided_json'],
    [{ prompt_logprobs: 0 }, 'prompt_logprobs'],
    [{ response_format: { type: 'json_schema' } }, 'response_format'],
    [{ echo: true, logprobs: 1 }, 'echo'],
    [{ messages: hello }, 'messages'],
  ];
  for (const [fields, param] of completions)
    assertApiError(await post('/v1/completions', { model: MODEL, prompt: 'x', max_tokens: 2, ...fields }), 400, { param });
  // Through the SDK, which passes extra fields on: a BadRequestError that names the field.
  await assert.rejects(ai.chat.completions.create({ model: MODEL, messages: hello, max_tokens: 2, guided_choice: ['yes', 'no'] }), (e) => {
    assert.ok(e instanceof OpenAI.BadRequestError, String(e));
    assert.equal(e.param, 'guided_choice');
    return true;
  });
});

test('errors through the SDK: unknown model 404, max_tokens <= 0, context_length_exceeded', async () => {
  await assert.rejects(ai.chat.completions.create({ model: 'gpt-4', messages: hello }), (e) => {
    assert.ok(e instanceof OpenAI.NotFoundError, String(e));
    assert.equal(e.status, 404);
    assert.equal(e.code, 'model_not_found');
    return true;
  });
  for (const max_tokens of [-1, 0]) {
    await assert.rejects(ai.chat.completions.create({ model: MODEL, messages: hello, max_tokens }), (e) => {
      assert.ok(e instanceof OpenAI.BadRequestError, String(e));
      assert.equal(e.param, 'max_tokens');
      return true;
    });
  }
  await assert.rejects(ai.completions.create({ model: MODEL, prompt: 'x', max_tokens: -5 }), OpenAI.BadRequestError);
  const huge = 'hello world '.repeat(3000);
  await assert.rejects(ai.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: huge }] }), (e) => {
    assert.ok(e instanceof OpenAI.BadRequestError, String(e));
    assert.equal(e.code, 'context_length_exceeded');
    return true;
  });
  await assert.rejects(ai.completions.create({ model: MODEL, prompt: 'hi', max_tokens: 100000 }), (e) => {
    assert.equal(e.code, 'context_length_exceeded');
    return true;
  });
});

test('malformed requests each get a 4xx in the nested error shape, and the server stays up', async () => {
  const before = (await metrics())['tachyon:http_request_errors_total'];
  const badUtf8 = Buffer.concat([Buffer.from('{"model": "tiny", "messages": [{"role": "user", "content": "a'),
    Buffer.from([0xc3, 0x28]), Buffer.from('"}]}')]);
  const cases = [
    [await post('/v1/chat/completions', '{"model": "tiny", "messages": [{"role": "user"'), 400, 'body'],
    [await post('/v1/chat/completions', { model: MODEL, messages: [{ role: 'user', content: 5 }] }), 400, 'messages'],
    [await post('/v1/chat/completions', { model: MODEL, messages: hello, max_tokens: 'ten' }), 400, 'max_tokens'],
    [await post('/v1/chat/completions', { model: MODEL, messages: hello, max_tokens: -3 }), 400, 'max_tokens'],
    [await post('/v1/completions', { model: MODEL, prompt: 'x', max_tokens: -1 }), 400, 'max_tokens'],
    [await post('/v1/chat/completions', new Uint8Array(badUtf8)), 400, 'body'],
    [await post('/v1/chat/completions', { model: MODEL, messages: [{ role: 'user', content: 'word '.repeat(5000) }] }), 400, null],
    [await post('/v1/completions', { model: 'no-such-model', prompt: 'x' }), 404, 'model'],
    [await post('/v1/chat/completions', { model: MODEL, messages: hello, tool_choice: 'required' }), 400, 'tool_choice'],
    [await post('/v1/chat/completions', { model: MODEL, messages: hello, tool_choice: { type: 'function', function: { name: 'f' } },
      tools: [{ type: 'function', function: { name: 'g', parameters: { type: 'object', properties: {} } } }] }), 400, 'tool_choice'],
  ];
  for (const [res, status, param] of cases) {
    const e = assertApiError(res, status);
    if (param === 'model') assert.equal(e.code, 'model_not_found');
    else if (param) assert.equal(e.param, param, res.text);
    else assert.equal(e.code, 'context_length_exceeded', res.text);
  }
  assert.equal((await get('/health')).status, 200);
  const ok = await ai.chat.completions.create({ model: MODEL, messages: hello, max_tokens: 2 });
  assert.ok(ok.choices[0].message);
  assert.equal((await metrics())['tachyon:http_request_errors_total'], before + cases.length);
});

test('/tokenize and /detokenize (vLLM shapes)', async () => {
  const t = await post('/tokenize', { model: MODEL, prompt: 'Hello, 世界! 🚀', return_token_strs: true });
  assert.equal(t.status, 200, t.text);
  assert.equal(t.json.count, t.json.tokens.length);
  assert.equal(t.json.token_strs.length, t.json.count);
  assert.ok(t.json.max_model_len > 0);
  const d = await post('/detokenize', { model: MODEL, tokens: t.json.tokens });
  assert.equal(d.json.prompt, 'Hello, 世界! 🚀');
  const chat = await post('/tokenize', { model: MODEL, messages: hello });
  assert.equal(chat.status, 200, chat.text);
  assert.equal(chat.json.count, greedy.usage.prompt_tokens);
  assertApiError(await post('/detokenize', { tokens: [-1] }), 400);
});

test('/metrics: vLLM names, counters moved, engine idle', async () => {
  const m = await waitIdle();
  for (const k of ['tachyon:num_requests_running', 'tachyon:num_requests_waiting', 'tachyon:kv_cache_usage_perc',
    'tachyon:prompt_tokens_total', 'tachyon:generation_tokens_total', 'tachyon:prefix_cache_queries_total',
    'tachyon:prefix_cache_hits_total', 'tachyon:time_to_first_token_seconds_count',
    'tachyon:inter_token_latency_seconds_count', 'tachyon:time_to_first_token_seconds_sum']) {
    assert.ok(k in m, `${k} missing`);
  }
  assert.ok(m['tachyon:generation_tokens_total'] > 0);
  assert.ok(m['tachyon:prompt_tokens_total'] > 0);
  assert.ok(m['tachyon:time_to_first_token_seconds_count'] > 0);
  // Greedy requests without logprobs ran in this file, and the int8 screen of the head is on by default.
  assert.ok(m['tachyon:greedy_head_screened_rows_total'] > 0);
  assert.ok(m['tachyon:greedy_head_screened_rows_total'] <= m['tachyon:generation_tokens_total']);
  assert.ok(m['tachyon:request_success_total{finished_reason="length"}'] > 0);
});

// vLLM's per-request histograms move by what two requests did (one observation each, their usage's
// token counts, their max_tokens); the phases add up; token buckets stop at --max-model-len 1024; the
// process_* metrics are there, unprefixed; every sample has HELP and TYPE lines.
test('/metrics: per-request histograms and process metrics', async () => {
  const perRequest = ['queue_time_seconds', 'prefill_time_seconds', 'decode_time_seconds', 'inference_time_seconds',
    'time_per_output_token_seconds', 'prompt_tokens', 'generation_tokens', 'params_max_tokens'];
  const successes = (m) => ['stop', 'length', 'tool_calls']
    .reduce((a, r) => a + m[`tachyon:request_success_total{finished_reason="${r}"}`], 0);
  const before = await waitIdle();
  const rs = await Promise.all([5, 9].map((max_tokens) => ai.chat.completions.create({ model: MODEL, messages: hello, max_tokens })));
  const m = await waitIdle();
  const d = (k) => m[k] - before[k];
  for (const h of perRequest) assert.equal(d(`tachyon:request_${h}_count`), 2, h);
  assert.equal(d('tachyon:request_prompt_tokens_sum'), rs.reduce((a, r) => a + r.usage.prompt_tokens, 0));
  assert.equal(d('tachyon:request_generation_tokens_sum'), rs.reduce((a, r) => a + r.usage.completion_tokens, 0));
  assert.equal(d('tachyon:request_params_max_tokens_sum'), 14);
  assert.equal(successes(m) - successes(before), 2);
  const [queue, prefill, decode, inference] = ['queue', 'prefill', 'decode', 'inference']
    .map((p) => d(`tachyon:request_${p}_time_seconds_sum`));
  assert.ok(queue >= 0 && prefill > 0 && decode >= 0, `${queue} ${prefill} ${decode}`);
  assert.ok(Math.abs(prefill + decode - inference) < 1e-5, `${prefill} + ${decode} vs ${inference}`);
  // Over the whole run: every finished request is in the histograms once.
  assert.equal(m['tachyon:request_prompt_tokens_count'], successes(m));

  const text = (await get('/metrics')).text;
  const bucket = (le) => `tachyon:request_prompt_tokens_bucket{model_name="${MODEL}",le="${le}"}`;
  assert.ok(text.includes(bucket(1000)) && text.includes(bucket('+Inf')) && !text.includes(bucket(2000)));
  assert.ok(m.process_resident_memory_bytes > 0);
  assert.ok(m.process_virtual_memory_bytes >= m.process_resident_memory_bytes);
  assert.ok(m.process_open_fds >= 3 && m.process_max_fds >= m.process_open_fds);
  assert.ok(m.process_cpu_seconds_total > 0);
  const now = Date.now() / 1000;
  assert.ok(m.process_start_time_seconds > now - 3600 && m.process_start_time_seconds <= now + 1);
  const typed = new Set([...text.matchAll(/^# TYPE (\S+) /gm)].map((x) => x[1]));
  const helped = new Set([...text.matchAll(/^# HELP (\S+) /gm)].map((x) => x[1]));
  for (const line of text.split('\n').filter((l) => l && !l.startsWith('#'))) {
    const name = line.match(/^[^{ ]+/)[0];
    const family = typed.has(name) ? name : name.replace(/_(bucket|sum|count)$/, '');
    assert.ok(typed.has(family) && helped.has(family), `no HELP/TYPE for ${line}`);
  }
});

await run();
