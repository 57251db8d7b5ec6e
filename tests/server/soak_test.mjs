// Soak: 64 concurrent streaming clients on loopback, about half of them disconnecting at random
// points (before the first token, mid-stream), the rest reading to the end. Afterwards the engine must
// be idle with every cache block returned (a disconnect cancels the engine request), the abort counter
// must have moved, and the server must still answer. Bounded: 64 clients, max 24 tokens each, a
// deadline on the whole run.
import { assert, client, metrics, MODEL, rng, run, test, waitIdle } from './lib.mjs';

const CLIENTS = 64;
const rand = rng(1234);
const ai = client({ timeout: 120_000 });

test(`${CLIENTS} concurrent streams with random disconnects`, async () => {
  const before = await metrics();
  const plans = Array.from({ length: CLIENTS }, (_, i) => ({
    i,
    // 0: read to the end; 1: abort after k chunks; 2: abort after a few ms (likely still queued)
    mode: rand() < 0.5 ? 0 : rand() < 0.7 ? 1 : 2,
    k: 1 + Math.floor(rand() * 6),
    delay: Math.floor(rand() * 300),
    max_tokens: 8 + Math.floor(rand() * 17),
    chat: rand() < 0.5,
  }));
  const deadline = setTimeout(() => {
    console.log('soak deadline reached');
    process.exit(1);
  }, 150_000);
  let completed = 0, aborted = 0;
  await Promise.all(plans.map(async (p) => {
    const ac = new AbortController();
    if (p.mode === 2) setTimeout(() => ac.abort(), p.delay);
    const common = { model: MODEL, max_tokens: p.max_tokens, ignore_eos: true, temperature: 1, seed: p.i, stream: true };
    try {
      const stream = p.chat
        ? await ai.chat.completions.create({ ...common, messages: [{ role: 'user', content: `Client ${p.i} says hello` }] }, { signal: ac.signal })
        : await ai.completions.create({ ...common, prompt: `Client ${p.i}: once upon a time` }, { signal: ac.signal });
      let chunks = 0, finish = null;
      for await (const chunk of stream) {
        chunks++;
        finish = chunk.choices[0]?.finish_reason ?? finish;
        if (p.mode === 1 && chunks >= p.k) {
          ac.abort();
          break;
        }
      }
      if (p.mode === 0) {
        assert.equal(finish, 'length');
        completed++;
      } else {
        aborted++;
      }
    } catch (e) {
      if (p.mode === 0) throw e;
      aborted++;
    }
  }));
  clearTimeout(deadline);
  assert.equal(completed + aborted, CLIENTS);
  assert.ok(completed > 10 && aborted > 10, `completed ${completed}, aborted ${aborted}`);
  const after = await waitIdle(20_000);
  const reqs = (m, r) => m[`tachyon:request_success_total{finished_reason="${r}"}`] ?? 0;
  assert.ok(reqs(after, 'length') - reqs(before, 'length') >= completed);
  assert.ok(after['tachyon:request_abort_total'] > before['tachyon:request_abort_total'], 'no abort counted');
  console.log(`completed ${completed}, aborted ${aborted}; generated ${after['tachyon:generation_tokens_total'] - before['tachyon:generation_tokens_total']} tokens`);
});

test('still serving afterwards', async () => {
  const r = await ai.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'ok?' }], max_tokens: 3 });
  assert.equal(r.choices.length, 1);
  await waitIdle();
});

await run();
