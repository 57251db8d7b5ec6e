// Only declared tools are called (README, OpenAI API): the server is started with
// tools_declared_output.txt as its forced text, a DSML block calling get_weather and run_shell. Without
// tools (or with tool_choice "none") the whole text is content; with tools, only the declared functions
// become tool_calls and each undeclared invoke comes back in the content, verbatim; a block naming only
// undeclared functions stays content whole. Streamed (assembled by the SDK) and non-streamed answers
// agree, and no streamed delta ever names an undeclared function.
import { readFileSync } from 'node:fs';
import { assert, client, MODEL, run, test, waitIdle } from './lib.mjs';

const FORCED = readFileSync(new URL('./tools_declared_output.txt', import.meta.url), 'utf8');
const BEFORE = FORCED.slice(0, FORCED.indexOf('\n\n<｜DSML｜tool_calls>'));
// An invoke's text, from its opening tag to its closing tag.
const invokeText = (name) => {
  const start = FORCED.indexOf(`<｜DSML｜invoke name="${name}">`);
  const close = '</｜DSML｜invoke>';
  return FORCED.slice(start, FORCED.indexOf(close, start) + close.length);
};

const ai = client();
const messages = [{ role: 'user', content: 'Weather in Paris, and list my files?' }];
const fn = (name, properties) => ({ type: 'function', function: { name, parameters: { type: 'object', properties } } });
const weather = fn('get_weather', { city: { type: 'string' }, days: { type: 'integer' } });
const shell = fn('run_shell', { cmd: { type: 'string' } });
const other = fn('translate', { text: { type: 'string' } });

// The streamed answer as the SDK assembles it, plus every tool-call delta.
async function streamed(req) {
  const runner = ai.chat.completions.stream({ model: MODEL, messages, max_tokens: 300, ...req });
  const deltas = [];
  runner.on('chunk', (c) => { for (const ch of c.choices) if (ch.delta.tool_calls) deltas.push(...ch.delta.tool_calls); });
  const final = await runner.finalChatCompletion();
  return { choice: final.choices[0], deltas };
}

async function both(req) {
  const whole = (await ai.chat.completions.create({ model: MODEL, messages, max_tokens: 300, ...req })).choices[0];
  const s = await streamed(req);
  assert.equal(s.choice.finish_reason, whole.finish_reason);
  assert.equal(s.choice.message.content ?? '', whole.message.content ?? '');
  const calls = (c) => (c.message.tool_calls ?? []).map((t) => [t.function.name, t.function.arguments]);
  assert.deepEqual(calls(s.choice), calls(whole));  // arguments byte for byte
  return { whole, deltas: s.deltas };
}

test('without tools the DSML is content, verbatim', async () => {
  for (const req of [{}, { tools: [weather], tool_choice: 'none' }]) {
    const { whole, deltas } = await both(req);
    assert.equal(whole.message.content, FORCED, JSON.stringify(req));
    assert.equal(whole.message.tool_calls, undefined);
    assert.equal(whole.finish_reason, 'stop');
    assert.deepEqual(deltas, []);
  }
});

test('declared functions are calls; an undeclared invoke is content, verbatim', async () => {
  const w = await both({ tools: [weather] });
  assert.equal(w.whole.finish_reason, 'tool_calls');
  assert.equal(w.whole.message.content, BEFORE + invokeText('run_shell'));
  assert.deepEqual(w.whole.message.tool_calls.map((t) => t.function.name), ['get_weather']);
  assert.deepEqual(JSON.parse(w.whole.message.tool_calls[0].function.arguments), { city: 'Paris', days: 3 });
  const s = await both({ tools: [shell] });
  assert.equal(s.whole.message.content, BEFORE + invokeText('get_weather'));
  assert.deepEqual(s.whole.message.tool_calls.map((t) => t.function.name), ['run_shell']);
  assert.deepEqual(JSON.parse(s.whole.message.tool_calls[0].function.arguments), { cmd: 'ls -l' });
  for (const [deltas, name] of [[w.deltas, 'get_weather'], [s.deltas, 'run_shell']]) {
    // Streamed: one call, index 0, announced once with its (declared) name; the undeclared one never appears.
    assert.deepEqual(deltas.filter((d) => d.function?.name !== undefined).map((d) => d.function.name), [name]);
    assert.ok(deltas.every((d) => d.index === 0), JSON.stringify(deltas));
  }
});

test('both declared: two calls, the content is the text before the block', async () => {
  const { whole, deltas } = await both({ tools: [shell, weather] });
  assert.equal(whole.message.content, BEFORE);
  assert.deepEqual(whole.message.tool_calls.map((t) => t.function.name), ['get_weather', 'run_shell']);
  assert.deepEqual(deltas.filter((d) => d.function?.name !== undefined).map((d) => d.function.name), ['get_weather', 'run_shell']);
});

test('a block naming only undeclared functions stays content, whole', async () => {
  const { whole, deltas } = await both({ tools: [other] });
  assert.equal(whole.message.content, FORCED);
  assert.equal(whole.message.tool_calls, undefined);
  assert.equal(whole.finish_reason, 'stop');
  assert.deepEqual(deltas, []);
});

test('thinking mode without tools: the block is reasoning text, not a call', async () => {
  const r = await ai.chat.completions.create({ model: MODEL, messages, max_tokens: 300, chat_template_kwargs: { thinking: true } });
  assert.equal(r.choices[0].message.reasoning_content, FORCED);
  assert.equal(r.choices[0].message.tool_calls, undefined);
});

test('engine idle after all of it', async () => {
  await waitIdle();
});

await run();
