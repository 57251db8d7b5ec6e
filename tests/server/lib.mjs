// Shared helpers for the server tests: a tiny test runner, raw HTTP helpers and /metrics parsing.
import assert from 'node:assert/strict';
import OpenAI from 'openai';

export const url = process.argv[2];
if (!url) throw new Error('usage: node TEST.mjs http://127.0.0.1:PORT');
export const MODEL = process.env.TACHYON_TEST_MODEL_NAME ?? 'tiny';

export function client(opts = {}) {
  return new OpenAI({ baseURL: `${url}/v1`, apiKey: 'unused', maxRetries: 0, timeout: 60_000, ...opts });
}

const tests = [];
export function test(name, fn) {
  tests.push({ name, fn });
}

// Runs the registered tests in order; exits non-zero if any failed.
export async function run() {
  let failed = 0;
  for (const t of tests) {
    const t0 = Date.now();
    try {
      await t.fn();
      console.log(`ok   ${t.name} (${Date.now() - t0} ms)`);
    } catch (e) {
      failed++;
      console.log(`FAIL ${t.name}: ${e?.stack ?? e}`);
    }
  }
  console.log(`${tests.length - failed}/${tests.length} passed`);
  process.exit(failed ? 1 : 0);
}

// POST raw bytes or a JSON value; returns {status, headers, json, text}.
export async function post(path, body, headers = {}) {
  const data = typeof body === 'string' || body instanceof Uint8Array ? body : JSON.stringify(body);
  const r = await fetch(url + path, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: data });
  const text = await r.text();
  let json = null;
  try {
    json = JSON.parse(text);
  } catch {}
  return { status: r.status, headers: r.headers, json, text };
}

export async function get(path, headers = {}) {
  const r = await fetch(url + path, { headers });
  const text = await r.text();
  let json = null;
  try {
    json = JSON.parse(text);
  } catch {}
  return { status: r.status, headers: r.headers, json, text };
}

// Checks the OpenAI error shape and returns the error object.
export function assertApiError(res, status, fields = {}) {
  assert.equal(res.status, status, `status ${res.status}: ${res.text}`);
  assert.ok(res.json && typeof res.json.error === 'object', `no error object: ${res.text}`);
  const e = res.json.error;
  for (const k of ['message', 'type', 'param', 'code']) assert.ok(k in e, `error.${k} missing: ${res.text}`);
  assert.equal(typeof e.message, 'string');
  for (const [k, v] of Object.entries(fields)) assert.equal(e[k], v, `error.${k}: ${res.text}`);
  return e;
}

// {name -> value} for unlabelled-by-le samples of /metrics (labels dropped).
export async function metrics() {
  const r = await get('/metrics');
  assert.equal(r.status, 200);
  const out = {};
  for (const line of r.text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = line.match(/^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$/);
    if (!m) continue;
    if (m[2] && m[2].includes('le=')) continue;
    const key = m[2] && m[2].includes('finished_reason') ? `${m[1]}${m[2].replace(/model_name="[^"]*",?/, '')}` : m[1];
    out[key] = Number(m[3]);
  }
  return out;
}

// Waits until the engine is idle and every cache block is back.
export async function waitIdle(timeoutMs = 15_000) {
  const t0 = Date.now();
  let m;
  while (Date.now() - t0 < timeoutMs) {
    m = await metrics();
    if (m['tachyon:num_requests_running'] === 0 && m['tachyon:num_requests_waiting'] === 0 &&
        m['tachyon:kv_cache_usage_perc'] === 0) return m;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`engine not idle after ${timeoutMs} ms: ${JSON.stringify(m)}`);
}

// A deterministic PRNG (mulberry32).
export function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export { assert };
