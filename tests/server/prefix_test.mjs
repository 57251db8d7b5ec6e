// Prefix cache through the API, on the trained demo model: an agent loop (system prompt with tools, a
// tool call, its result, the next turn) reuses the cached state of the shared prefix. Checks that the
// hits show in usage.prompt_tokens_details.cached_tokens and in /metrics, that the output is the same
// as without a hit, and that every block comes back (snapshots count as free, not in use).
import { assert, client, metrics, MODEL, run, test, waitIdle } from './lib.mjs';

const ai = client({ timeout: 120_000 });
const tools = [
  { type: 'function', function: { name: 'lookup_doc', description: 'Look up the docstring of a Python object',
    parameters: { type: 'object', properties: { name: { type: 'string', description: 'Dotted name, e.g. json.dumps' } }, required: ['name'] } } },
  { type: 'function', function: { name: 'calculator', description: 'Evaluate an arithmetic expression',
    parameters: { type: 'object', properties: { expression: { type: 'string', description: 'The expression, e.g. 2 * (3 + 4)' } }, required: ['expression'] } } },
];
const base = { model: MODEL, temperature: 0, max_tokens: 60, tools };
const system = { role: 'system', content: 'You are a helpful assistant.' };

test('an agent loop hits the prefix cache and gives the same output', async () => {
  const before = await waitIdle();
  const turn1 = [system, { role: 'user', content: 'What is 17 * 23?' }];
  const r1 = await ai.chat.completions.create({ ...base, messages: turn1 });
  assert.equal(r1.usage.prompt_tokens_details.cached_tokens, 0, 'first request: nothing cached yet');
  assert.ok(r1.usage.prompt_tokens > 256, `prompt of ${r1.usage.prompt_tokens} tokens`);
  const m1 = r1.choices[0].message;

  // Turn 2 shares turn 1's prompt (the system prompt with its tools and the question).
  const call = m1.tool_calls?.[0];
  const turn2 = call
    ? [...turn1, { role: 'assistant', content: m1.content, tool_calls: m1.tool_calls },
      { role: 'tool', tool_call_id: call.id, content: '391' }]
    : [...turn1, { role: 'assistant', content: m1.content ?? '' }, { role: 'user', content: 'And 12 * 12?' }];
  const r2 = await ai.chat.completions.create({ ...base, messages: turn2 });
  const c2 = r2.usage.prompt_tokens_details.cached_tokens;
  assert.ok(c2 >= 256 && c2 % 128 === 0 && c2 < r2.usage.prompt_tokens, `turn 2 cached ${c2} tokens`);

  // The same turn again: a (longer) hit, and the same answer as the first time.
  const r3 = await ai.chat.completions.create({ ...base, messages: turn2 });
  const c3 = r3.usage.prompt_tokens_details.cached_tokens;
  assert.ok(c3 >= c2, `repeat cached ${c3} tokens`);
  assert.deepEqual(r3.choices[0].message, r2.choices[0].message);

  // Streaming reports the same usage.
  const stream = await ai.chat.completions.create({ ...base, messages: turn2, stream: true,
    stream_options: { include_usage: true } });
  let usage = null;
  let text = '';
  for await (const chunk of stream) {
    if (chunk.usage) usage = chunk.usage;
    for (const ch of chunk.choices) text += ch.delta.content ?? '';
  }
  assert.ok(usage && usage.prompt_tokens_details.cached_tokens >= c2);
  assert.equal(text, r2.choices[0].message.content ?? '');

  const after = await waitIdle();
  const hits = after['tachyon:prefix_cache_hits_total'] - before['tachyon:prefix_cache_hits_total'];
  const queries = after['tachyon:prefix_cache_queries_total'] - before['tachyon:prefix_cache_queries_total'];
  assert.ok(hits >= c2 + c3, `prefix_cache_hits_total grew by ${hits}`);
  assert.ok(queries >= r1.usage.prompt_tokens + 3 * r2.usage.prompt_tokens, `queries grew by ${queries}`);
  console.log(`turn 1: ${r1.usage.prompt_tokens} prompt tokens; turn 2: ${r2.usage.prompt_tokens} prompt tokens, ` +
              `${c2} cached; repeat: ${c3} cached; hits/queries ${hits}/${queries}`);
});

await run();
