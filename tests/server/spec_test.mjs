// Speculative decoding through the server (run with --speculative-tokens 1 on the trained demo model):
// streamed and non-streamed greedy answers agree, sampled requests complete, concurrent requests do
// not disturb each other's greedy tokens, and /metrics reports drafts, acceptance and accepted length, and
// per-request histograms that match the requests.
import { assert, client, metrics, MODEL, run, test, waitIdle } from './lib.mjs';

const ai = client();
const tools = [
  { type: 'function', function: { name: 'calculator', description: 'Evaluate an arithmetic expression',
    parameters: { type: 'object', properties: { expression: { type: 'string', description: 'The expression, e.g. 2 * (3 + 4)' } }, required: ['expression'] } } },
];
const system = { role: 'system', content: 'You are a helpful assistant.' };
const base = { model: MODEL, temperature: 0, max_tokens: 80 };
const prompts = [
  { messages: [{ role: 'user', content: 'What does json.dumps do?' }] },
  { messages: [system, { role: 'user', content: 'What is 17 * 23?' }], tools },
  { messages: [{ role: 'user', content: 'Explain itertools.groupby.' }] },
];

// What must agree between answers: content and tool calls (the SDK's stream helper adds its own fields).
const key = (m) => JSON.stringify({ content: m.content, calls: (m.tool_calls ?? []).map((c) => [c.function.name, c.function.arguments]) });

async function streamedText(req) {
  const runner = ai.chat.completions.stream({ ...base, ...req });
  const final = await runner.finalChatCompletion();
  return key(final.choices[0].message);
}

test('greedy answers: stream == non-stream, alone == together', async () => {
  const alone = [];
  for (const p of prompts) {
    const r = await ai.chat.completions.create({ ...base, ...p });
    alone.push(key(r.choices[0].message));
    assert.equal(await streamedText(p), alone.at(-1));
  }
  const together = await Promise.all(prompts.map((p) => ai.chat.completions.create({ ...base, ...p })));
  assert.deepEqual(together.map((r) => key(r.choices[0].message)), alone);
});

test('sampled requests with a seed complete and repeat', async () => {
  const req = { ...base, ...prompts[2], temperature: 1, seed: 42 };
  const a = await ai.chat.completions.create(req);
  const b = await ai.chat.completions.create(req);
  assert.equal(a.choices[0].message.content, b.choices[0].message.content);
  assert.ok(a.usage.completion_tokens > 0);
});

test('metrics: drafts verified, acceptance rate and mean accepted length', async () => {
  const m = await waitIdle();
  const drafts = m['tachyon:spec_decode_num_drafts_total'];
  const tokens = m['tachyon:spec_decode_num_draft_tokens_total'];
  const accepted = m['tachyon:spec_decode_num_accepted_tokens_total'];
  assert.ok(drafts > 10, `drafts ${drafts}`);
  assert.equal(tokens, drafts);  // k = 1
  assert.ok(accepted > 0 && accepted <= tokens);
  assert.ok(Math.abs(m['tachyon:spec_decode_acceptance_rate'] - accepted / tokens) < 1e-9);
  assert.ok(m['tachyon:spec_decode_acceptance_rate'] > 0.5, `acceptance ${m['tachyon:spec_decode_acceptance_rate']}`);
  assert.ok(Math.abs(m['tachyon:spec_decode_mean_accepted_length'] - (1 + accepted / drafts)) < 1e-9);
  const after = await metrics();
  assert.equal(after['tachyon:kv_cache_usage_perc'], 0);
});

// With several tokens per step, each finished request still lands once in vLLM's per-request
// histograms, with its usage's token counts, and its prefill and decode times add up to its inference time.
test('metrics: per-request histograms follow the requests', async () => {
  const before = await waitIdle();
  const rs = await Promise.all(prompts.map((p) => ai.chat.completions.create({ ...base, ...p })));
  const m = await waitIdle();
  const d = (k) => m[k] - before[k];
  for (const h of ['queue_time_seconds', 'prefill_time_seconds', 'decode_time_seconds', 'inference_time_seconds',
    'time_per_output_token_seconds', 'prompt_tokens', 'generation_tokens', 'params_max_tokens'])
    assert.equal(d(`tachyon:request_${h}_count`), prompts.length, h);
  assert.equal(d('tachyon:request_prompt_tokens_sum'), rs.reduce((a, r) => a + r.usage.prompt_tokens, 0));
  assert.equal(d('tachyon:request_generation_tokens_sum'), rs.reduce((a, r) => a + r.usage.completion_tokens, 0));
  assert.equal(d('tachyon:request_params_max_tokens_sum'), prompts.length * base.max_tokens);
  const [prefill, decode, inference] = ['prefill', 'decode', 'inference'].map((p) => d(`tachyon:request_${p}_time_seconds_sum`));
  assert.ok(prefill > 0 && decode > 0, `${prefill} ${decode}`);
  assert.ok(Math.abs(prefill + decode - inference) < 1e-5, `${prefill} + ${decode} vs ${inference}`);
});

run();
