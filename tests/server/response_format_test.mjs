// response_format on the trained demo model at temperature 1.0 over many seeds, where free sampling
// rarely gives valid JSON: every answer that finishes with "stop" parses and validates against its schema
// (checked with ajv, independently of the server's grammar), streamed and not, on chat and completions;
// most finish with "stop"; in thinking mode the JSON is in `content`; json_object gives objects; and
// an unsupported keyword is a 400 that names it.
import Ajv from 'ajv';
import { assert, assertApiError, client, MODEL, post, run, test } from './lib.mjs';

const ai = client();
const AjvClass = Ajv.default ?? Ajv;
const ajv = new AjvClass({ strict: true });
const SEEDS = 8;
const MAX_TOKENS = 384;

const schemas = {
  person: {
    type: 'object',
    properties: {
      name: { type: 'string', minLength: 1, maxLength: 20 },
      age: { type: 'integer', minimum: 0, maximum: 150 },
      email: { type: 'string', maxLength: 40 },
    },
    required: ['name', 'age'],
    additionalProperties: false,
  },
  status: {
    type: 'object',
    properties: {
      status: { enum: ['ok', 'error', 'pending'] },
      code: { anyOf: [{ type: 'integer', minimum: 100, maximum: 599 }, { type: 'null' }] },
      retry: { type: 'boolean' },
    },
    required: ['status', 'code', 'retry'],
    additionalProperties: false,
  },
  words: { type: 'array', items: { type: 'string', maxLength: 8 }, minItems: 1, maxItems: 4 },
  tree: {
    $defs: {
      node: {
        type: 'object',
        properties: { v: { type: 'integer' }, kids: { type: 'array', items: { $ref: '#/$defs/node' }, maxItems: 2 } },
        required: ['v'],
        additionalProperties: false,
      },
    },
    $ref: '#/$defs/node',
  },
};

const format = (name) => ({ type: 'json_schema', json_schema: { name, schema: schemas[name], strict: true } });
const messages = [{ role: 'user', content: 'Answer in JSON.' }];

// Checks every stop answer; returns how many stopped.
function check(name, answers) {
  const validate = name === 'json_object' ? (v) => v !== null && typeof v === 'object' && !Array.isArray(v) : ajv.compile(schemas[name]);
  let stopped = 0;
  for (const { text, finish } of answers) {
    assert.ok(finish === 'stop' || finish === 'length', `finish_reason ${finish}`);
    if (finish !== 'stop') continue;
    stopped++;
    let value;
    assert.doesNotThrow(() => { value = JSON.parse(text); }, `${name}: not JSON: ${text}`);
    assert.ok(validate(value), `${name}: ${text} does not validate: ${JSON.stringify(validate.errors)}`);
  }
  return stopped;
}

async function chat(rf, seed, extra = {}) {
  const r = await ai.chat.completions.create({ model: MODEL, messages, temperature: 1.0, seed, max_tokens: MAX_TOKENS, response_format: rf, ...extra });
  return { text: r.choices[0].message.content ?? '', finish: r.choices[0].finish_reason, message: r.choices[0].message };
}

async function chatStreamed(rf, seed) {
  const stream = await ai.chat.completions.create({ model: MODEL, messages, temperature: 1.0, seed, max_tokens: MAX_TOKENS, response_format: rf, stream: true });
  let text = '';
  let finish = null;
  for await (const c of stream) {
    for (const ch of c.choices) {
      if (ch.delta.content) text += ch.delta.content;
      if (ch.finish_reason) finish = ch.finish_reason;
    }
  }
  return { text, finish };
}

async function completion(rf, seed, stream) {
  const req = { model: MODEL, prompt: 'JSON:', temperature: 1.0, seed, max_tokens: MAX_TOKENS, response_format: rf };
  if (!stream) {
    const r = await ai.completions.create(req);
    return { text: r.choices[0].text, finish: r.choices[0].finish_reason };
  }
  let text = '';
  let finish = null;
  for await (const c of await ai.completions.create({ ...req, stream: true })) {
    for (const ch of c.choices) {
      text += ch.text ?? '';
      if (ch.finish_reason) finish = ch.finish_reason;
    }
  }
  return { text, finish };
}

const seeds = Array.from({ length: SEEDS }, (_, i) => 1000 + i);

for (const name of Object.keys(schemas)) {
  test(`json_schema '${name}' at temperature 1.0: every stop answer validates, streamed and not, chat and completions`, async () => {
    const answers = [
      ...(await Promise.all(seeds.map((s) => chat(format(name), s)))),
      ...(await Promise.all(seeds.map((s) => chatStreamed(format(name), s)))),
      ...(await Promise.all(seeds.map((s) => completion(format(name), s, false)))),
      ...(await Promise.all(seeds.map((s) => completion(format(name), s, true)))),
    ];
    const stopped = check(name, answers);
    assert.ok(stopped >= answers.length / 2, `${name}: only ${stopped} of ${answers.length} finished with stop`);
  });
}

test('a streamed answer equals the non-streamed one for the same seed', async () => {
  const a = await chat(format('person'), 7);
  const b = await chatStreamed(format('person'), 7);
  assert.equal(b.text, a.text);
  assert.equal(b.finish, a.finish);
});

test('json_object gives JSON objects', async () => {
  const rf = { type: 'json_object' };
  const answers = await Promise.all(seeds.map((s) => chat(rf, s)));
  check('json_object', answers);
});

test('thinking mode: the reasoning is free, the JSON lands in content', async () => {
  const answers = await Promise.all(seeds.map((s) => chat(format('person'), s, { chat_template_kwargs: { thinking: true } })));
  check('person', answers);
  for (const a of answers) if (a.finish === 'stop') assert.ok(!a.text.includes('</think>'), a.text);
});

test('an unsupported keyword is a 400 naming it and its path; malformed formats are refused by name', async () => {
  const body = (rf) => ({ model: MODEL, messages, response_format: rf });
  const res = await post('/v1/chat/completions', body({ type: 'json_schema', json_schema: { name: 'x', schema: { type: 'object', properties: { zip: { type: 'string', pattern: '^[0-9]{5}$' } } } } }));
  const e = assertApiError(res, 400, { param: 'response_format', type: 'invalid_request_error' });
  assert.match(e.message, /'pattern' at \$\.properties\.zip/);
  const c = await post('/v1/completions', { model: MODEL, prompt: 'x', response_format: { type: 'json_schema', json_schema: { name: 'x', schema: { type: 'string', format: 'email' } } } });
  assert.match(assertApiError(c, 400, { param: 'response_format' }).message, /'format'/);
  assert.match(assertApiError(await post('/v1/chat/completions', body({ type: 'json_schema', json_schema: { name: 'x' } })), 400, { param: 'response_format' }).message, /schema' is required/);
  assert.match(assertApiError(await post('/v1/chat/completions', body({ type: 'yaml' })), 400, { param: 'response_format' }).message, /must be one of/);
  // With the SDK: a BadRequestError carrying the message.
  await assert.rejects(ai.chat.completions.create({ model: MODEL, messages, response_format: { type: 'json_schema', json_schema: { name: 'x', schema: { type: 'object', patternProperties: {} } } } }),
    (err) => err.status === 400 && /patternProperties/.test(err.message));
});

test('a forced tool call cannot be combined with a JSON format', async () => {
  const tools = [{ type: 'function', function: { name: 'f', parameters: { type: 'object', properties: {} } } }];
  const res = await post('/v1/chat/completions', { model: MODEL, messages, tools, tool_choice: 'required', response_format: { type: 'json_object' } });
  assert.match(assertApiError(res, 400, { param: 'response_format' }).message, /tool_choice/);
});

await run();
