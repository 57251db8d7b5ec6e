// Real model output: the server runs the embedded trained model (assets/tachyon-demo-v4, greedy here),
// which writes well-formed DSML tool calls. Checks tool calls from real generation (stream assembled by
// the SDK == non-stream, byte for byte), tool_choice none / required / a named function, and the
// demo prompts that the README shows.
import { assert, client, MODEL, post, run, test, waitIdle } from './lib.mjs';

const ai = client();
const tools = [
  { type: 'function', function: { name: 'lookup_doc', description: 'Look up the docstring of a Python object',
    parameters: { type: 'object', properties: { name: { type: 'string', description: 'Dotted name, e.g. json.dumps' } }, required: ['name'] } } },
  { type: 'function', function: { name: 'calculator', description: 'Evaluate an arithmetic expression',
    parameters: { type: 'object', properties: { expression: { type: 'string', description: 'The expression, e.g. 2 * (3 + 4)' } }, required: ['expression'] } } },
];
const system = { role: 'system', content: 'You are a helpful assistant.' };
const ask = (q) => [system, { role: 'user', content: q }];
const base = { model: MODEL, temperature: 0, max_tokens: 120 };

// Streams a request through the SDK helper; returns the final message, finish reason and the tool-call deltas.
async function streamed(req) {
  const runner = ai.chat.completions.stream({ ...base, ...req });
  const deltas = [];
  runner.on('chunk', (c) => { for (const ch of c.choices) if (ch.delta.tool_calls) deltas.push(...ch.delta.tool_calls); });
  const final = await runner.finalChatCompletion();
  return { message: final.choices[0].message, finish: final.choices[0].finish_reason, deltas };
}

function sameCalls(a, b) {
  assert.equal(a.length, b.length);
  for (let i = 0; i < a.length; i++) {
    assert.equal(a[i].function.name, b[i].function.name);
    assert.equal(a[i].function.arguments, b[i].function.arguments);  // byte for byte
  }
}

test('without tools, "What does json.dumps do?" gets a short answer', async () => {
  const r = await ai.chat.completions.create({ ...base, messages: [{ role: 'user', content: 'What does json.dumps do?' }] });
  const m = r.choices[0].message;
  assert.equal(r.choices[0].finish_reason, 'stop');
  assert.match(m.content, /^In short: /);
  assert.equal(m.tool_calls, undefined);
});

test('with tools: a calculator call, streamed arguments equal to the non-streamed ones', async () => {
  const req = { messages: ask('What is 17 * 23?'), tools };
  const r = await ai.chat.completions.create({ ...base, ...req });
  const m = r.choices[0].message;
  assert.equal(r.choices[0].finish_reason, 'tool_calls');
  assert.equal(m.content, null);
  assert.equal(m.tool_calls.length, 1);
  assert.equal(m.tool_calls[0].function.name, 'calculator');
  assert.equal(typeof JSON.parse(m.tool_calls[0].function.arguments).expression, 'string');
  const s = await streamed(req);
  assert.equal(s.finish, 'tool_calls');
  sameCalls(s.message.tool_calls, m.tool_calls);
  assert.equal(s.deltas[0].function.name, 'calculator');
  assert.equal(s.deltas[0].function.arguments, '');
  assert.ok(s.deltas.length >= 3, `arguments came in one piece: ${JSON.stringify(s.deltas)}`);
});

test('with tools: a lookup_doc call', async () => {
  const r = await ai.chat.completions.create({ ...base, messages: ask('Look up collections.OrderedDict and summarise it.'), tools });
  assert.equal(r.choices[0].message.tool_calls?.[0]?.function.name, 'lookup_doc', JSON.stringify(r.choices[0].message));
});

test('tool_choice "none": the tools are left out of the prompt and no call is parsed', async () => {
  const none = await ai.chat.completions.create({ ...base, messages: ask('What is 17 * 23?'), tools, tool_choice: 'none' });
  const noTools = await ai.chat.completions.create({ ...base, messages: ask('What is 17 * 23?'), tool_choice: 'none' });
  const auto = await ai.chat.completions.create({ ...base, messages: ask('What is 17 * 23?'), tools });
  assert.ok(none.usage.prompt_tokens < auto.usage.prompt_tokens);
  assert.equal(none.usage.prompt_tokens, noTools.usage.prompt_tokens);
  assert.equal(none.choices[0].message.content, noTools.choices[0].message.content);
  // This model writes DSML after that system message even unprompted; under "none" it stays text.
  assert.equal(none.choices[0].message.tool_calls, undefined);
  assert.equal(typeof none.choices[0].message.content, 'string');
  assert.equal(none.choices[0].finish_reason, 'stop');
});

// After a tool result the model answers in text; "required" makes it call again.
const afterResult = [system, { role: 'user', content: 'What is 17 * 23?' },
  { role: 'assistant', content: '', tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'calculator', arguments: '{"expression": "17 * 23"}' } }] },
  { role: 'tool', tool_call_id: 'call_1', content: '391' }];

test('tool_choice "required" forces a call where the model would answer in text', async () => {
  const req = { messages: afterResult, tools, tool_choice: 'required' };
  const auto = await ai.chat.completions.create({ ...base, messages: afterResult, tools });
  assert.equal(auto.choices[0].message.tool_calls, undefined, 'unforced, the model answers in text');
  assert.equal(auto.choices[0].finish_reason, 'stop');
  const r = await ai.chat.completions.create({ ...base, ...req });
  const m = r.choices[0].message;
  assert.equal(r.choices[0].finish_reason, 'tool_calls', JSON.stringify(m));
  assert.ok(['lookup_doc', 'calculator'].includes(m.tool_calls[0].function.name));
  assert.equal(m.content, null);
  const s = await streamed(req);
  sameCalls(s.message.tool_calls, m.tool_calls);
});

test('tool_choice naming a function forces that function', async () => {
  const req = { messages: ask('Look up collections.OrderedDict and summarise it.'), tools,
    tool_choice: { type: 'function', function: { name: 'calculator' } } };
  const auto = await ai.chat.completions.create({ ...base, messages: req.messages, tools });
  assert.equal(auto.choices[0].message.tool_calls[0].function.name, 'lookup_doc');
  const r = await ai.chat.completions.create({ ...base, ...req });
  const m = r.choices[0].message;
  assert.equal(r.choices[0].finish_reason, 'tool_calls', JSON.stringify(m));
  assert.equal(m.tool_calls[0].function.name, 'calculator');
  JSON.parse(m.tool_calls[0].function.arguments);
  const s = await streamed(req);
  sameCalls(s.message.tool_calls, m.tool_calls);
});

test('tool_choice "required" in thinking mode: no reasoning, then the call', async () => {
  const req = { ...base, messages: ask('Explain re.compile.'), tools, chat_template_kwargs: { thinking: true } };
  const auto = await ai.chat.completions.create(req);
  assert.ok(auto.choices[0].message.reasoning_content, 'unforced, the model reasons first');
  const r = await ai.chat.completions.create({ ...req, tool_choice: 'required' });
  const m = r.choices[0].message;
  assert.equal(r.choices[0].finish_reason, 'tool_calls', JSON.stringify(m));
  assert.equal(m.reasoning_content, undefined);
  assert.ok(m.tool_calls.length >= 1);
});

test('tool_choice errors are 400s naming tool_choice', async () => {
  for (const tool_choice of ['sometimes', 7, { type: 'function', function: { name: 'nope' } }, { type: 'function' }]) {
    const r = await post('/v1/chat/completions', { ...base, messages: ask('hi'), tools, tool_choice });
    assert.equal(r.status, 400, r.text);
    assert.equal(r.json.error.param, 'tool_choice', r.text);
  }
  const r = await post('/v1/chat/completions', { ...base, messages: ask('hi'), tool_choice: 'required' });
  assert.equal(r.status, 400, r.text);
});

test('engine idle after all of it', async () => {
  await waitIdle();
});

await run();
