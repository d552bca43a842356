// Load test for `lfm serve` (issue 24), not run by ctest: CLIENTS clients send REQUESTS requests
// each (default 8 x 25), streaming and not, with tool calls and JSON schemas among them, and
// abort some mid-stream (AbortController) or drop the connection (socket destroyed). Asserts:
// the server never crashes; every request is answered (200) or refused with 503 (+ Retry-After);
// no slot stays busy afterwards; the server's RSS comes back near its baseline (and does not grow
// from one round to the next); SIGTERM ends it with status 0. Prints a summary.
//   npm ci --prefix tests/node
//   LFM_CLI=build/release/lfm LFM_MODEL=../shared/reference/tinyB-q8_0.gguf node tests/node/load.mjs
// Env: CLIENTS, REQUESTS, ROUNDS (default 2), PARALLEL (4), QUEUE (3: fewer places than clients, so
// that 503s happen; a refused client waits 250 ms before its next request),
// SEED (random choices; default 1).

import http from 'node:http';
import OpenAI from 'openai';
import { startServer, rssKiB, metric, sleep } from './server.mjs';

const CLIENTS = Number(process.env.CLIENTS ?? 8);
const REQUESTS = Number(process.env.REQUESTS ?? 25);
const ROUNDS = Number(process.env.ROUNDS ?? 2);
const PARALLEL = Number(process.env.PARALLEL ?? 4);
const QUEUE = Number(process.env.QUEUE ?? 3);
let seed = Number(process.env.SEED ?? 1) >>> 0;
const random = () => {  // mulberry32: the same choices on every run
  seed = (seed + 0x6d2b79f5) >>> 0;
  let t = seed;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
};
const pick = (xs) => xs[Math.floor(random() * xs.length)];

const server = await startServer(['--queue', String(QUEUE)], { parallel: PARALLEL, ctx: 1024, threads: 2 });
const pid = server.proc.pid;
const client = new OpenAI({ baseURL: `${server.base}/v1`, apiKey: 'unused', maxRetries: 0, timeout: 120000 });
const mib = (kib) => (kib / 1024).toFixed(1);

const tool = {
  type: 'function',
  function: { name: 'lookup', parameters: { type: 'object', properties: { q: { type: 'string', maxLength: 12 }, n: { type: 'integer' } },
                                            required: ['q', 'n'] } },
};
const schema = { type: 'object', properties: { a: { type: 'string', maxLength: 8 }, b: { type: 'boolean' } }, required: ['a', 'b'] };

const counts = {};
const count = (k) => { counts[k] = (counts[k] ?? 0) + 1; };
const failures = [];

function makeRequest(id) {
  const kind = pick(['plain', 'plain', 'plain', 'tool', 'schema', 'long']);
  const body = {
    model: 'x',
    messages: [{ role: 'system', content: 'You are a test.' }, { role: 'user', content: `Request ${id}: ${'blah '.repeat(Math.floor(random() * 60))}` }],
    max_tokens: kind === 'long' ? 400 : 8 + Math.floor(random() * 120),
    temperature: random() < 0.5 ? 0 : 1,
    seed: id,
  };
  if (kind === 'tool') Object.assign(body, { tools: [tool], tool_choice: 'required', max_tokens: 200 });
  if (kind === 'schema') Object.assign(body, { response_format: { type: 'json_schema', json_schema: { name: 's', schema } }, max_tokens: 300 });
  return body;
}

// A request the client gives up on, by dropping its socket after the first bytes of the stream.
function disconnect(body) {
  return new Promise((resolve) => {
    const req = http.request(`${server.base}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' } }, (res) => {
      if (res.statusCode === 503) { res.resume(); resolve('refused 503'); return; }
      if (res.statusCode !== 200) { failures.push(`disconnect: status ${res.statusCode}`); res.resume(); resolve('error'); return; }
      res.once('data', () => { req.destroy(); resolve('disconnected'); });
      res.on('end', () => resolve('completed'));
    });
    req.on('error', (e) => { if (e.code !== 'ECONNRESET') failures.push(`disconnect: ${e.message}`); resolve('disconnected'); });
    req.end(JSON.stringify({ ...body, stream: true }));
  });
}

// One request, with a watchdog: one that gets no answer in 90 s is a failure (a stuck slot).
async function one(id) {
  let timer;
  const hung = new Promise((resolve) => { timer = setTimeout(() => { failures.push(`${id}: no answer in 90 s`); resolve('hung'); }, 90000); });
  try {
    return await Promise.race([attempt(id), hung]);
  } finally {
    clearTimeout(timer);
  }
}

// nodejs/undici#4089 (the undici 6 in Node 20): an abort that lands after the whole body has
// arrived, before the body stream closed, leaves its pending read unsettled forever (the SDK's
// stream loop or response.text() hangs). The server has answered by then, and a stuck slot
// still shows in waitIdle: a request that has not settled 5 s after its abort counts as aborted.
let clientHangs = 0;
function settledAfterAbort(promise, ac) {
  return new Promise((resolve, reject) => {
    let timer, settled = false;
    const onAbort = () => { if (!settled) timer = setTimeout(() => { clientHangs++; resolve('aborted'); }, 5000); };
    if (ac.signal.aborted) onAbort();
    else ac.signal.addEventListener('abort', onAbort, { once: true });
    const settle = () => { settled = true; clearTimeout(timer); };
    promise.then((v) => { settle(); resolve(v); }, (e) => { settle(); reject(e); });
  });
}

async function attempt(id) {
  const body = makeRequest(id);
  const action = pick(['complete', 'complete', 'complete', 'stream', 'stream', 'stream', 'abort', 'abort', 'disconnect', 'abort-early', 'abort-nonstream']);
  if (action === 'disconnect') return disconnect(body);
  const ac = new AbortController();
  return settledAfterAbort(requestWith(ac, body, action, id), ac);
}

async function requestWith(ac, body, action, id) {
  try {
    if (action === 'complete' || action === 'abort-nonstream') {
      if (action === 'abort-nonstream') setTimeout(() => ac.abort(), Math.floor(random() * 300));
      const r = await client.chat.completions.create(body, { signal: ac.signal });
      if (!r.choices?.[0]?.finish_reason) failures.push(`${id}: no finish_reason`);
      return 'completed';
    }
    if (action === 'abort-early') setTimeout(() => ac.abort(), Math.floor(random() * 150));
    const stream = await client.chat.completions.create({ ...body, stream: true }, { signal: ac.signal });
    const abortAfter = action === 'abort' ? 1 + Math.floor(random() * 10) : Infinity;
    let chunks = 0, finished = false;
    for await (const c of stream) {
      if (++chunks === abortAfter) ac.abort();
      if (c.choices?.[0]?.finish_reason) finished = true;
    }
    if (ac.signal.aborted) return finished ? 'completed (abort too late)' : 'aborted';
    if (!finished) failures.push(`${id}: stream ended without a finish_reason`);
    return 'completed';
  } catch (e) {
    if (ac.signal.aborted || e instanceof OpenAI.APIUserAbortError) return 'aborted';
    if (e instanceof OpenAI.APIError && e.status === 503) {
      if (!e.headers?.get?.('retry-after')) failures.push(`${id}: 503 without Retry-After`);
      return 'refused 503';
    }
    failures.push(`${id}: ${e.status ?? ''} ${e.message}`);
    return 'error';
  }
}

async function waitIdle(what) {
  const deadline = Date.now() + 15000;
  for (;;) {
    const busy = await metric(server.base, 'requests_processing');
    const queued = await metric(server.base, 'requests_deferred');
    if (busy === 0 && queued === 0) return;
    if (Date.now() > deadline) { failures.push(`${what}: ${busy} slots busy, ${queued} queued 15 s after the load`); return; }
    await sleep(100);
  }
}

// Warm up: every slot used once (its KV cache allocated), a tool call and a schema compiled.
// (503s are retried: the server may refuse a burst even while slots are free, see submit().)
async function retrying(body) {
  for (let i = 0; ; i++) {
    try { return await client.chat.completions.create(body); } catch (e) {
      if (!(e instanceof OpenAI.APIError && e.status === 503) || i === 50) throw e;
      await sleep(100);
    }
  }
}
await Promise.all(Array.from({ length: PARALLEL }, (_, i) => retrying({ ...makeRequest(1000 + i), max_tokens: 64 })));
await retrying({ ...makeRequest(2000), tools: [tool], tool_choice: 'required', max_tokens: 200 });
await retrying({ ...makeRequest(2001), response_format: { type: 'json_schema', json_schema: { name: 's', schema } }, max_tokens: 300 });
await waitIdle('warm-up');
await sleep(500);
const baseline = await rssKiB(pid);
const rounds = [];
const t0 = Date.now();
let next = 0;
for (let round = 0; round < ROUNDS; round++) {
  const tr = Date.now();
  let peak = baseline;
  const sampler = setInterval(async () => { try { peak = Math.max(peak, await rssKiB(pid)); } catch { /* gone */ } }, 100);
  await Promise.all(Array.from({ length: CLIENTS }, async () => {
    for (let i = 0; i < REQUESTS; i++) {
      const outcome = await one(next++);
      count(outcome);
      if (outcome === 'refused 503') await sleep(250);  // as Retry-After asks (more or less)
      const done = Object.values(counts).reduce((a, b) => a + b, 0);
      if (done % 50 === 0) console.log(`  ${done} requests, ${((Date.now() - t0) / 1000).toFixed(0)} s: ${JSON.stringify(counts)}`);
    }
  }));
  clearInterval(sampler);
  await waitIdle(`round ${round + 1}`);
  await sleep(1000);  // the server's threads finish their writes
  rounds.push({ seconds: (Date.now() - tr) / 1000, peak, after: await rssKiB(pid) });
  if (!server.alive()) break;
}

const alive = server.alive();
const health = alive ? (await fetch(`${server.base}/health`)).status : 0;
let sane = false;
if (alive) {
  const r = await client.chat.completions.create({ model: 'x', messages: [{ role: 'user', content: 'still there?' }], max_tokens: 4 });
  sane = !!r.choices[0].finish_reason;
}
const metrics = alive ? {
  requests: await metric(server.base, 'requests_total'), rejected: await metric(server.base, 'requests_rejected_total'),
  generated: await metric(server.base, 'tokens_predicted_total'),
} : {};
const { code, signal } = await server.stop();

const total = Object.values(counts).reduce((a, b) => a + b, 0);
console.log(`lfm serve load test: ${CLIENTS} clients x ${REQUESTS} requests x ${ROUNDS} rounds, --parallel ${PARALLEL} --queue ${QUEUE}, ${((Date.now() - t0) / 1000).toFixed(1)} s`);
console.log(`  outcomes (${total}): ${Object.entries(counts).map(([k, v]) => `${k} ${v}`).join(', ')}`);
console.log(`  server metrics: ${JSON.stringify(metrics)}; aborted requests the client library left hanging (undici#4089): ${clientHangs}`);
console.log(`  RSS baseline ${mib(baseline)} MiB; ` + rounds.map((r, i) => `round ${i + 1} (${r.seconds.toFixed(1)} s): peak ${mib(r.peak)}, after ${mib(r.after)} MiB`).join('; '));
console.log(`  after the load: alive ${alive}, /health ${health}, a new request ${sane ? 'answered' : 'FAILED'}; SIGTERM exit ${code ?? signal}`);

if (!alive) failures.push(`the server died during the load:\n${server.log().slice(-4000)}`);
if (health !== 200 || !sane) failures.push('the server did not serve after the load');
if (code !== 0) failures.push(`exit status ${code ?? signal} on SIGTERM`);
if (total !== CLIENTS * REQUESTS * ROUNDS) failures.push(`${total} outcomes for ${CLIENTS * REQUESTS * ROUNDS} requests`);
const last = rounds.at(-1)?.after ?? NaN;
const allowance = Math.max(64 * 1024, baseline * 0.25);  // KiB: allocator slack, the constraint cache
if (!(last <= baseline + allowance)) failures.push(`RSS ${mib(last)} MiB after the load, baseline ${mib(baseline)} MiB (allowance ${mib(allowance)} MiB)`);
if (rounds.length >= 2 && !(rounds.at(-1).after <= rounds[0].after + 32 * 1024))
  failures.push(`RSS grew from round 1 (${mib(rounds[0].after)} MiB) to round ${rounds.length} (${mib(rounds.at(-1).after)} MiB)`);

if (failures.length) {
  console.log(`FAILED (${failures.length}):\n  ${failures.slice(0, 30).join('\n  ')}`);
  process.exit(1);
}
console.log('PASSED');
