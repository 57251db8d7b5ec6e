// Batch invariance: a greedy (temperature 0) request gives the same tokens, text and log-probabilities
// alone and while 16 other requests (sampled, different prompt lengths, some in prefill while it
// decodes) share its engine steps. Guards against rows of a batch leaking into each other.
import { assert, client, MODEL, run, test, waitIdle } from './lib.mjs';

const ai = client({ timeout: 120_000 });
const probe = { model: MODEL, prompt: 'The capital of France is', max_tokens: 16, temperature: 0, ignore_eos: true, logprobs: 1 };

async function once() {
  const r = await ai.completions.create(probe);
  return { text: r.choices[0].text, tokens: r.choices[0].logprobs.tokens, lps: r.choices[0].logprobs.token_logprobs };
}

test('greedy output is the same alone and among 16 others', async () => {
  await waitIdle();
  const alone = await once();
  const others = Array.from({ length: 16 }, (_, i) => ai.completions.create({
    model: MODEL, prompt: `Request ${i}: ` + 'words and more words '.repeat(1 + (i % 5) * 6), max_tokens: 10 + i,
    temperature: 1, seed: i, ignore_eos: true,
  }));
  await new Promise((r) => setTimeout(r, 30));  // let the others get into the batch first
  const crowded = await once();
  await Promise.all(others);
  assert.deepEqual(crowded.tokens, alone.tokens);
  assert.equal(crowded.text, alone.text);
  const maxDiff = Math.max(...alone.lps.map((x, i) => Math.abs(x - crowded.lps[i])));
  console.log(`max |logprob difference| ${maxDiff}`);
  assert.ok(maxDiff <= 1e-3, `logprobs differ by ${maxDiff}`);
  await waitIdle();
});

await run();
