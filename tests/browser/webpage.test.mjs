// The chat page at GET / of `lfm serve`, in Debian's headless Chromium (/usr/bin/chromium) driven by
// playwright-core (no browser download). Starts the server on a free port with tests/node/server.mjs; LFM_CLI is the lfm
// binary (default build/release/lfm), LFM_MODEL a GGUF file (default ../shared's tiny reference model).
// Skipped, with the reason, when Chromium, playwright-core, the binary or the model is missing.
//
//   node --test tests/browser/webpage.test.mjs

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { cli, model, startServer, metric as serverMetric, sleep } from '../node/server.mjs';

const chromiumPath = process.env.CHROMIUM || '/usr/bin/chromium';

// Why the tests cannot run here (they are then reported as skipped), or null. tests/browser/run.sh,
// ctest's entry, checks the same and exits 77 instead.
let missing = null;
if (!existsSync(chromiumPath)) missing = `${chromiumPath} is missing (Debian's chromium; .ci/deps installs it)`;
else if (!existsSync(cli)) missing = `the lfm binary ${cli} is missing (LFM_CLI)`;
else if (!existsSync(model)) missing = `the model ${model} is missing (LFM_MODEL, ../shared/reference)`;
let chromium;
try {
  ({ chromium } = await import('playwright-core'));
} catch {
  missing ??= 'playwright-core is not installed (run: npm ci --prefix tests/browser)';
}
const opts = { skip: missing ?? false };

let server, context, page, profile;
const pageErrors = [];
const bodies = [];  // the JSON bodies the page sent to v1/chat/completions, as it sent them
let maxTokens = 24;
let ignoreEos = false;

// The max_tokens each chat request gets. The page sends none, so the server's default (-n 24)
// should apply; but `lfm serve` ignores -n for chat completions (src/serve/openai.cpp sets
// max_tokens to -1 when the body has none, over the -n default), and the tiny model then talks
// for ~800 tokens (~30 s). So the test adds max_tokens to what the page sent: 24 for ordinary
// turns, 3000 for the Stop test, which also asks ignore_eos: on a quiet machine the tiny model
// writes ~700 tokens/s and may end its reply (547 tokens in 774 ms, seen) before the click. The
// assertions read the bodies as the page sent them.
async function routeChat(route) {
  const body = JSON.parse(route.request().postData());
  bodies.push(body);
  await route.continue({ postData: JSON.stringify({ ...body, max_tokens: maxTokens, ignore_eos: ignoreEos }) });
}

const metric = (name) => serverMetric(server.base, name);  // one value of /metrics (lfm_NAME)

before(async () => {
  if (missing) return;
  // tests/node/server.mjs: `lfm serve` on a free port, /health 200 (one slot, greedy, -n 24)
  server = await startServer(['--temp', '0', '-n', '24'], { parallel: 1, ctx: 4096, threads: 2 });
  profile = mkdtempSync(path.join(tmpdir(), 'lfm-chromium-'));
  context = await chromium.launchPersistentContext(profile, {
    executablePath: chromiumPath,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
           '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    timeout: 20000,
  });
  page = context.pages()[0] || await context.newPage();
  page.setDefaultTimeout(15000);
  page.on('pageerror', (e) => pageErrors.push(String(e)));
  page.on('console', (m) => {
    if (m.type() !== 'error' || /favicon\.ico$/.test(m.location().url)) return;  // no favicon: a 404
    pageErrors.push(`console: ${m.text()} (${m.location().url})`);
  });
  await page.route('**/v1/chat/completions', routeChat);
});

after(async () => {
  await context?.close().catch(() => {});
  await server?.stop();
  if (profile) rmSync(profile, { recursive: true, force: true });
});

// Records every change of the last assistant bubble's text length: how many pieces a reply came in.
async function watchLastAssistant() {
  await page.evaluate(() => {
    window.__lengths = [];
    window.__observer?.disconnect();
    window.__observer = new MutationObserver(() => {
      const all = document.querySelectorAll('#log .msg.assistant');
      const last = all[all.length - 1];
      if (last) window.__lengths.push(last.textContent.length);
    });
    window.__observer.observe(document.getElementById('log'), { childList: true, subtree: true, characterData: true });
  });
}

// Types TEXT into #input, sends it with Enter; returns the chat request's JSON body (as the page
// sent it) and a promise of its response.
async function send(text) {
  const request = page.waitForRequest((r) => r.url().endsWith('/v1/chat/completions') && r.method() === 'POST');
  const count = bodies.length;
  await page.fill('#input', text);
  await page.press('#input', 'Enter');
  const req = await request;
  // The route handler may run just after the request event: give it a moment.
  for (const deadline = Date.now() + 5000; bodies.length === count && Date.now() < deadline;) await sleep(10);
  assert.equal(bodies.length, count + 1, 'one chat request per message');
  return { body: bodies[count], response: req.response() };
}

// Asserts that the page shows no error (.err), naming what it shows and the server's last log lines.
async function assertNoError(when) {
  const shown = await page.locator('#log .err').allTextContents();
  assert.deepEqual(shown, [], `${when}: the page shows an error; the server's log ends:\n${server.log().split('\n').slice(-8).join('\n')}`);
}

// Waits for the reply to end: Send enabled again and Stop disabled.
async function replyDone() {
  await page.waitForFunction(() => !document.getElementById('send').disabled && document.getElementById('stop').disabled);
}

test('the page loads from the binary and names the model', opts, async (t) => {
  const t0 = Date.now();
  const response = await page.goto(`${server.base}/`);
  assert.equal(response.status(), 200);
  assert.match(response.headers()['content-type'], /text\/html/);
  assert.equal(await page.title(), 'lfm');
  await page.waitForFunction((name) => document.getElementById('model').textContent.includes(name), path.basename(model));
  assert.ok(await page.isEnabled('#send'));
  assert.ok(await page.isDisabled('#stop'));
  t.diagnostic(`loaded in ${Date.now() - t0} ms`);
});

test('a message gets a streamed reply, and the conversation goes on', opts, async (t) => {
  await watchLastAssistant();
  const first = await send('Hello, who are you?');
  assert.equal(first.body.stream, true, 'the page asks for a stream');
  assert.deepEqual(first.body.messages, [{ role: 'user', content: 'Hello, who are you?' }]);
  const res = await first.response;
  assert.equal(res.status(), 200);
  assert.match(res.headers()['content-type'], /text\/event-stream/);

  assert.equal(await page.locator('#log .msg.user').first().textContent(), 'Hello, who are you?');
  assert.equal(await page.inputValue('#input'), '', 'the input is cleared');
  await replyDone();
  const reply1 = await page.locator('#log .msg.assistant').first().textContent();
  assert.ok(reply1.length > 0, 'the assistant bubble got text');
  // How many pieces the page showed it in (24 tokens can come in one read on a fast machine: the
  // Stop test below is the one that checks text shows while the reply is still streaming).
  const steps = new Set((await page.evaluate(() => window.__lengths)).filter((n) => n > 0));
  t.diagnostic(`first reply: ${reply1.length} characters, shown at ${steps.size} lengths`);
  await assertNoError('after the first reply');

  // The second turn carries the first (user, assistant, user) and gets its own reply.
  const second = await send('Tell me more.');
  assert.equal(second.body.stream, true);
  assert.equal(second.body.messages.length, 3);
  assert.deepEqual(second.body.messages.map((m) => m.role), ['user', 'assistant', 'user']);
  assert.equal(second.body.messages[1].content, reply1);
  assert.equal(second.body.messages[2].content, 'Tell me more.');
  await replyDone();
  assert.equal(await page.locator('#log .msg').count(), 4);
  assert.equal(await page.locator('#log .msg.user').nth(1).textContent(), 'Tell me more.');
  const reply2 = await page.locator('#log .msg.assistant').nth(1).textContent();
  assert.ok(reply2.length > 0, 'the second assistant bubble got text');
  await assertNoError('after the second reply');
});

test('Stop aborts a long reply without an error, and the server stops generating', opts, async (t) => {
  maxTokens = 3000;  // a long reply (~4 s here at the least): Stop comes first
  ignoreEos = true;
  const predictedBefore = await metric('tokens_predicted_total');
  const started = Date.now();
  await send('Write a long story.');
  const bubble = page.locator('#log .msg.assistant').nth(2);
  await page.waitForFunction(() => {
    const b = document.querySelectorAll('#log .msg.assistant')[2];
    return b && b.textContent.length > 0;
  });
  // Streamed: the first text shows while the reply is still coming (Stop enabled, Send disabled).
  assert.ok(await page.isEnabled('#stop'), 'Stop is enabled while the reply streams');
  assert.ok(await page.isDisabled('#send'), 'Send is disabled while the reply streams');
  // force: the button moves down as the streamed reply grows above it (never "stable" to Playwright)
  await page.click('#stop', { force: true });
  await replyDone();
  const stoppedAfter = Date.now() - started;
  maxTokens = 24;
  ignoreEos = false;
  assert.ok((await bubble.textContent()).length > 0, 'the partial reply stays');
  await assertNoError('after Stop');

  // The server frees the slot and stops generating: no slot busy, the token count stands still,
  // below the 3000 asked for.
  const deadline = Date.now() + 5000;
  while (await metric('requests_processing') !== 0 && Date.now() < deadline) await sleep(50);
  assert.equal(await metric('requests_processing'), 0, 'the slot is freed after Stop');
  const predicted = await metric('tokens_predicted_total');
  await sleep(300);
  assert.equal(await metric('tokens_predicted_total'), predicted, 'no tokens generated after Stop');
  assert.ok(predicted - predictedBefore < 3000,
            `generation stopped early: ${predicted - predictedBefore} tokens (Stop clicked after ${stoppedAfter} ms)`);
  t.diagnostic(`Stop after ${stoppedAfter} ms, ${predicted - predictedBefore} tokens generated`);
  assert.match(server.log(), /^POST \/v1\/chat\/completions 499 /m, 'the server logged the abort');

  // The conversation goes on from the partial reply: the page keeps it as the assistant's turn and
  // is ready for the next message. (Not sent: the tiny model's partial reply, re-read as text, can
  // be longer than the 4096-token context, and the server rightly answers that with a 400.)
  const kept = await page.evaluate(() => messages);  // the page's conversation (a global const)
  assert.deepEqual(kept.map((m) => m.role), ['user', 'assistant', 'user', 'assistant', 'user', 'assistant']);
  assert.equal(kept[5].content, await bubble.textContent(), 'the partial reply is the assistant\'s turn');
  assert.ok(await page.isEnabled('#send'));
  assert.ok(await page.isEditable('#input'));
  assert.deepEqual(pageErrors, [], 'no page errors or console errors');
});
