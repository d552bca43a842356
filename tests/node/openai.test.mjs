// `lfm serve` driven by the official client libraries (issue 24): run with `node --test` from
// ctest (ServeOpenAiSdk, tests/CMakeLists.txt) or by hand:
//   npm ci --prefix tests/node
//   LFM_CLI=build/release/lfm LFM_MODEL=../shared/reference/tinyB-q8_0.gguf node --test tests/node/openai.test.mjs
// The tiny reference model writes noise, so the tests check the protocol, determinism and the
// constrained decoder (forced tool calls and JSON schemas give well-formed output), not the text.

import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import Anthropic from '@anthropic-ai/sdk';
import { startServer, metric, sleep } from './server.mjs';

let server;
let client;

const user = (content) => ({ role: 'user', content });

const weatherTool = {
  type: 'function',
  function: {
    name: 'get_weather',
    description: 'The weather in a city over the next days',
    parameters: {
      type: 'object',
      properties: {
        city: { type: 'string', maxLength: 12 },
        days: { type: 'integer', minimum: 1, maximum: 7 },
        unit: { type: 'string', enum: ['celsius', 'fahrenheit'] },
      },
      required: ['city', 'days'],
      additionalProperties: false,
    },
  },
};
const timeTool = {
  type: 'function',
  function: {
    name: 'get_time',
    description: 'The time in a time zone',
    parameters: {
      type: 'object',
      properties: { zone: { type: 'string', maxLength: 10 }, utc: { type: 'boolean' } },
      required: ['zone', 'utc'],
      additionalProperties: false,
    },
  },
};

// A small JSON Schema validator for what the tests use: type, properties, required,
// additionalProperties: false, enum, minimum/maximum, maxLength, items, minItems/maxItems.
function validate(schema, value, where = '$') {
  const errors = [];
  const typeOf = (v) => (v === null ? 'null' : Array.isArray(v) ? 'array'
    : Number.isInteger(v) ? 'integer' : typeof v);
  if (schema.type) {
    const t = typeOf(value);
    const ok = schema.type === t || (schema.type === 'number' && t === 'integer');
    if (!ok) return [`${where}: expected ${schema.type}, got ${t} (${JSON.stringify(value)})`];
  }
  if (schema.enum && !schema.enum.some((e) => JSON.stringify(e) === JSON.stringify(value)))
    errors.push(`${where}: ${JSON.stringify(value)} not in ${JSON.stringify(schema.enum)}`);
  if (typeof value === 'number') {
    if (schema.minimum !== undefined && value < schema.minimum) errors.push(`${where}: ${value} < ${schema.minimum}`);
    if (schema.maximum !== undefined && value > schema.maximum) errors.push(`${where}: ${value} > ${schema.maximum}`);
  }
  if (typeof value === 'string' && schema.maxLength !== undefined && [...value].length > schema.maxLength)
    errors.push(`${where}: longer than ${schema.maxLength}`);
  if (Array.isArray(value)) {
    if (schema.minItems !== undefined && value.length < schema.minItems) errors.push(`${where}: fewer than ${schema.minItems} items`);
    if (schema.maxItems !== undefined && value.length > schema.maxItems) errors.push(`${where}: more than ${schema.maxItems} items`);
    if (schema.items) value.forEach((v, i) => errors.push(...validate(schema.items, v, `${where}[${i}]`)));
  }
  if (typeOf(value) === 'object') {
    for (const k of schema.required ?? []) if (!(k in value)) errors.push(`${where}: missing '${k}'`);
    for (const [k, v] of Object.entries(value)) {
      if (schema.properties?.[k]) errors.push(...validate(schema.properties[k], v, `${where}.${k}`));
      else if (schema.additionalProperties === false) errors.push(`${where}: unexpected key '${k}'`);
    }
  }
  return errors;
}

// Reads a stream into {content, reasoning, toolCalls, chunks, usage, finish}.
async function collect(stream) {
  const out = { content: '', reasoning: '', chunks: 0, usage: null, finish: null, toolCalls: [] };
  for await (const c of stream) {
    out.chunks++;
    if (c.usage) out.usage = c.usage;
    for (const ch of c.choices) {
      if (ch.delta?.content) out.content += ch.delta.content;
      if (ch.delta?.reasoning_content) out.reasoning += ch.delta.reasoning_content;
      for (const tc of ch.delta?.tool_calls ?? []) out.toolCalls.push(tc);
      if (ch.finish_reason) out.finish = ch.finish_reason;
    }
  }
  return out;
}

async function post(path, body, headers = {}) {
  const r = await fetch(`${server.base}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await r.text();
  let json = null;
  try { json = JSON.parse(text); } catch { /* not JSON */ }
  return { status: r.status, json, text };
}

// A 4xx with OpenAI's error object (never a 5xx, never a dropped connection).
function assertClientError(r, what, param) {
  assert.ok(r.status >= 400 && r.status < 500, `${what}: status ${r.status}, body ${r.text}`);
  assert.ok(r.json?.error && typeof r.json.error.message === 'string' && r.json.error.message.length > 0,
    `${what}: no error object in ${r.text}`);
  if (param !== undefined) assert.equal(r.json.error.param, param, `${what}: param in ${r.text}`);
}

before(async () => {
  server = await startServer();
  server.proc.on('exit', (code, signal) => {  // a crash mid-test: say so at once, with the server's log
    if (!stopping) console.error(`lfm serve exited (${code ?? signal}) during the tests:\n${server.log().slice(-6000)}`);
  });
  client = new OpenAI({ baseURL: `${server.base}/v1`, apiKey: 'unused', maxRetries: 0, timeout: 60000 });
});

let stopping = false;
after(async () => {
  if (!server) return;
  stopping = true;
  const alive = server.alive();
  const { code, signal } = await server.stop();
  assert.ok(alive, `the server died during the tests:\n${server.log().slice(-4000)}`);
  assert.equal(code, 0, `lfm serve exited with ${code ?? signal} on SIGTERM:\n${server.log().slice(-4000)}`);
});

describe('endpoints', () => {
  test('GET /v1/models lists the model', async () => {
    const page = await client.models.list();
    assert.equal(page.data.length, 1);
    assert.equal(page.data[0].object, 'model');
    assert.match(page.data[0].id, /tinyB/);
  });

  test('/health is 200 when loaded', async () => {
    const r = await fetch(`${server.base}/health`);
    assert.equal(r.status, 200);
    assert.equal((await r.json()).status, 'ok');
  });

  test('unknown paths are 404 with an error object', async () => {
    for (const [method, path] of [['GET', '/v1/nope'], ['POST', '/v2/chat/completions'], ['GET', '/v1/chat/completions/x']]) {
      const r = await fetch(`${server.base}${path}`, { method, body: method === 'POST' ? '{}' : undefined });
      const text = await r.text();
      assert.equal(r.status, 404, `${method} ${path}: ${r.status} ${text}`);
      assert.ok(JSON.parse(text).error.message, `${method} ${path}: ${text}`);
    }
  });

  test('/v1/completions with a text prompt and with token ids', async () => {
    const a = await client.completions.create({ model: 'x', prompt: 'Once upon a time', max_tokens: 8, temperature: 0 });
    assert.equal(a.object, 'text_completion');
    assert.equal(typeof a.choices[0].text, 'string');
    assert.ok(['stop', 'length'].includes(a.choices[0].finish_reason));
    assert.ok(a.usage.prompt_tokens > 0 && a.usage.completion_tokens > 0 && a.usage.completion_tokens <= 8);

    const ids = (await post('/tokenize', { content: 'Once upon a time' })).json.tokens;
    const b = await client.completions.create({ model: 'x', prompt: ids, max_tokens: 8, temperature: 0 });
    assert.equal(b.usage.prompt_tokens, ids.length);
    assert.ok(b.usage.completion_tokens > 0);

    const s = await client.completions.create({ model: 'x', prompt: ids, max_tokens: 8, temperature: 0, stream: true });
    let text = '';
    for await (const c of s) text += c.choices[0]?.text ?? '';
    assert.equal(text, b.choices[0].text, 'streamed completion equals the non-streamed one');
  });

  // Byte-level tokens can be part of a character: the server once died writing them (nlohmann's
  // dump() throws on invalid UTF-8). The echo of such a prompt comes back with U+FFFD, logprobs too.
  test('a prompt of token ids that ends inside a character is echoed as valid JSON', async () => {
    const ids = (await post('/tokenize', { content: '\u{1D11E}', add_special: false })).json.tokens;
    assert.ok(ids.length > 1, `the G clef is ${ids.length} token(s): pick a rarer character`);
    const prompt = ids.slice(0, -1);
    const r = await post('/v1/completions', { prompt, echo: true, logprobs: 3, max_tokens: 4, temperature: 1, seed: 1 });
    assert.equal(r.status, 200, r.text);
    assert.ok(r.json.choices[0].text.startsWith('\uFFFD'), JSON.stringify(r.json.choices[0].text));
    const s = await post('/v1/completions', { prompt, echo: true, logprobs: 3, max_tokens: 4, stream: true });
    assert.equal(s.status, 200, s.text);
    assert.match(s.text, /data: \[DONE\]/);
    assert.equal((await fetch(`${server.base}/health`)).status, 200, 'the server is still there');
  });

  test('/tokenize and /detokenize round trip', async () => {
    const content = 'Hello, world! Ünïcødé and 12345.';
    const t = await post('/tokenize', { content });
    assert.equal(t.status, 200, t.text);
    assert.ok(Array.isArray(t.json.tokens) && t.json.tokens.length > 0 && t.json.tokens.every(Number.isInteger));
    const d = await post('/detokenize', { tokens: t.json.tokens });
    assert.equal(d.status, 200, d.text);
    assert.equal(d.json.content, content);
    assertClientError(await post('/tokenize', { content: 5 }), '/tokenize content: 5', 'content');
    assertClientError(await post('/detokenize', { tokens: [-1] }), '/detokenize tokens: [-1]', 'tokens');
    assertClientError(await post('/detokenize', { tokens: [1e9] }), '/detokenize tokens: [1e9]', 'tokens');
  });

  test('/apply-template renders the conversation', async () => {
    const r = await post('/apply-template', {
      messages: [{ role: 'system', content: 'Be brief.' }, user('What is the capital of Norway?')],
    });
    assert.equal(r.status, 200, r.text);
    assert.match(r.json.prompt, /Be brief\./);
    assert.match(r.json.prompt, /What is the capital of Norway\?/);
  });

  test('/metrics is Prometheus text with lfm_ counters', async () => {
    const r = await fetch(`${server.base}/metrics`);
    assert.equal(r.status, 200);
    const text = await r.text();
    for (const name of ['http_requests_total', 'requests_total', 'prompt_tokens_total', 'tokens_predicted_total',
                        'prompt_tokens_cached_total', 'requests_processing', 'requests_deferred'])
      assert.match(text, new RegExp(`^# TYPE lfm_${name} (counter|gauge)$[\\s\\S]*^lfm_${name} [0-9.e+-]+$`, 'm'), name);
    assert.ok((await metric(server.base, 'requests_total')) > 0, 'requests were counted');
  });

  test('the chat page is served at /', async () => {
    const r = await fetch(`${server.base}/`);
    assert.equal(r.status, 200);
    assert.match(r.headers.get('content-type'), /text\/html/);
  });
});

describe('chat completions', () => {
  test('streaming equals non-streaming at temperature 0', async () => {
    const req = { model: 'x', messages: [user('Tell me about the sea.')], max_tokens: 24, temperature: 0 };
    const full = await client.chat.completions.create(req);
    assert.equal(full.object, 'chat.completion');
    assert.equal(full.choices[0].message.role, 'assistant');
    assert.ok(['stop', 'length'].includes(full.choices[0].finish_reason));
    const streamed = await collect(await client.chat.completions.create({ ...req, stream: true }));
    assert.ok(streamed.chunks > 1);
    assert.equal(streamed.content, full.choices[0].message.content ?? '');
    assert.equal(streamed.reasoning, full.choices[0].message.reasoning_content ?? '');
    assert.equal(streamed.finish, full.choices[0].finish_reason);
    const again = await client.chat.completions.create(req);
    assert.equal(again.choices[0].message.content, full.choices[0].message.content, 'temperature 0 repeats');
  });

  test('the same seed at temperature 1 gives the same sample', async () => {
    const req = { model: 'x', messages: [user('Write a poem.')], max_tokens: 24, temperature: 1, seed: 1234 };
    const a = await client.chat.completions.create(req);
    const b = await client.chat.completions.create(req);
    assert.equal(a.choices[0].message.content, b.choices[0].message.content);
    assert.equal(a.choices[0].message.reasoning_content, b.choices[0].message.reasoning_content);
    const c = await collect(await client.chat.completions.create({ ...req, stream: true }));
    assert.equal(c.content, a.choices[0].message.content ?? '', 'streamed with the same seed');
  });

  test('stream_options.include_usage sends a usage chunk', async () => {
    const s = await collect(await client.chat.completions.create({
      model: 'x', messages: [user('Hi')], max_tokens: 6, stream: true, stream_options: { include_usage: true },
    }));
    assert.ok(s.usage, 'a usage chunk');
    assert.ok(s.usage.prompt_tokens > 0);
    assert.ok(s.usage.completion_tokens > 0 && s.usage.completion_tokens <= 6);
    assert.equal(s.usage.total_tokens, s.usage.prompt_tokens + s.usage.completion_tokens);
    assert.equal(typeof s.usage.prompt_tokens_details?.cached_tokens, 'number');
    const plain = await collect(await client.chat.completions.create({
      model: 'x', messages: [user('Hi')], max_tokens: 6, stream: true,
    }));
    assert.equal(plain.usage, null, 'no usage chunk unless asked');
  });

  test('content as an array of text parts; max_completion_tokens; logprobs', async () => {
    const r = await client.chat.completions.create({
      model: 'x',
      messages: [{ role: 'system', content: [{ type: 'text', text: 'Be brief.' }] },
                 { role: 'user', content: [{ type: 'text', text: 'Hello' }, { type: 'text', text: ' there' }] }],
      max_completion_tokens: 5, temperature: 0, logprobs: true, top_logprobs: 2,
    });
    assert.ok(r.usage.completion_tokens <= 5);
    const lp = r.choices[0].logprobs?.content;
    assert.ok(Array.isArray(lp) && lp.length > 0, 'logprobs.content');
    for (const e of lp) {
      assert.equal(typeof e.token, 'string');
      assert.ok(e.logprob <= 0);
      assert.equal(e.top_logprobs.length, 2);
    }
  });

  test('a tool-call round trip continues the conversation', async () => {
    const r = await client.chat.completions.create({
      model: 'x',
      messages: [
        user('What is the weather in Oslo?'),
        { role: 'assistant', content: null, tool_calls: [{ id: 'call_abc', type: 'function',
          function: { name: 'get_weather', arguments: '{"city": "Oslo", "days": 1}' } }] },
        { role: 'tool', tool_call_id: 'call_abc', content: '{"temperature": 3, "sky": "snow"}' },
      ],
      tools: [weatherTool], max_tokens: 16, temperature: 0,
    });
    const ch = r.choices[0];
    assert.ok(['stop', 'length', 'tool_calls'].includes(ch.finish_reason));
    assert.equal(ch.message.role, 'assistant');
    assert.ok(r.usage.completion_tokens > 0);
    assert.ok(typeof ch.message.content === 'string' || ch.message.tool_calls?.length > 0);
  });

  test('tool_choice "required" calls a declared tool with arguments that match its schema', async () => {
    for (const stream of [false, true]) {
      const req = { model: 'x', messages: [user('Weather or time?')], tools: [weatherTool, timeTool],
                    tool_choice: 'required', max_tokens: 200, temperature: 0.8, seed: 7 };
      let calls, finish;
      if (stream) {
        const s = await collect(await client.chat.completions.create({ ...req, stream: true }));
        calls = s.toolCalls;
        finish = s.finish;
      } else {
        const r = await client.chat.completions.create(req);
        calls = r.choices[0].message.tool_calls;
        finish = r.choices[0].finish_reason;
      }
      assert.equal(finish, 'tool_calls', `stream=${stream}`);
      assert.ok(calls?.length >= 1, `stream=${stream}: a tool call`);
      for (const c of calls) {
        assert.equal(c.type, 'function');
        assert.ok(typeof c.id === 'string' && c.id.length > 0, 'an id');
        const tool = [weatherTool, timeTool].find((t) => t.function.name === c.function.name);
        assert.ok(tool, `'${c.function.name}' is a declared tool`);
        const args = JSON.parse(c.function.arguments);
        assert.deepEqual(validate(tool.function.parameters, args), [], `arguments ${c.function.arguments}`);
      }
      if (calls.length > 1) {
        const ids = new Set(calls.map((c) => c.id));
        assert.equal(ids.size, calls.length, 'tool call ids are distinct');
      }
    }
  });

  test('a named tool_choice calls that tool', async () => {
    for (const name of ['get_time', 'get_weather']) {
      const r = await client.chat.completions.create({
        model: 'x', messages: [user('Go.')], tools: [weatherTool, timeTool],
        tool_choice: { type: 'function', function: { name } }, max_tokens: 200, temperature: 0,
      });
      const calls = r.choices[0].message.tool_calls;
      assert.equal(r.choices[0].finish_reason, 'tool_calls');
      assert.ok(calls.length >= 1);
      for (const c of calls) {
        assert.equal(c.function.name, name);
        const tool = [weatherTool, timeTool].find((t) => t.function.name === name);
        assert.deepEqual(validate(tool.function.parameters, JSON.parse(c.function.arguments)), [], c.function.arguments);
      }
    }
  });

  test('response_format json_schema gives JSON that validates', async () => {
    const schema = {
      type: 'object',
      properties: {
        name: { type: 'string', maxLength: 10 },
        age: { type: 'integer', minimum: 0, maximum: 150 },
        tags: { type: 'array', items: { type: 'string', maxLength: 5 }, maxItems: 3 },
        kind: { enum: ['cat', 'dog', null] },
      },
      required: ['name', 'age', 'tags', 'kind'],
      additionalProperties: false,
    };
    for (const seed of [1, 2]) {
      const r = await client.chat.completions.create({
        model: 'x', messages: [user('A pet as JSON.')], max_tokens: 400, temperature: 1, seed,
        response_format: { type: 'json_schema', json_schema: { name: 'pet', schema, strict: true } },
      });
      assert.equal(r.choices[0].finish_reason, 'stop', `seed ${seed}: ended by the schema, not the length`);
      const value = JSON.parse(r.choices[0].message.content);
      assert.deepEqual(validate(schema, value), [], r.choices[0].message.content);
    }
    const obj = await client.chat.completions.create({
      model: 'x', messages: [user('JSON please.')], max_tokens: 300, temperature: 0,
      response_format: { type: 'json_object' },
    });
    if (obj.choices[0].finish_reason === 'stop') {
      const v = JSON.parse(obj.choices[0].message.content);
      assert.ok(v !== null && typeof v === 'object' && !Array.isArray(v), 'json_object gives an object');
    }
  });

  test('thinking off per request', async () => {
    for (const extra of [{ reasoning_effort: 'none' }, { chat_template_kwargs: { enable_thinking: false } }]) {
      const r = await client.chat.completions.create({
        model: 'x', messages: [user('Hi')], max_tokens: 12, temperature: 0, ...extra,
      });
      assert.ok(!r.choices[0].message.reasoning_content, `${JSON.stringify(extra)}: no reasoning`);
    }
  });

  test('the second turn of a conversation reports cached tokens', async () => {
    const system = { role: 'system', content: `You are a careful assistant. Session ${Date.now()}. ` + 'Answer in full sentences. '.repeat(8) };
    const first = [system, user('Name three rivers in Europe.')];
    const a = await client.chat.completions.create({ model: 'x', messages: first, max_tokens: 12, temperature: 0 });
    const reply = a.choices[0].message;
    const second = [...first, { role: 'assistant', content: reply.content ?? '' }, user('And in Africa?')];
    const b = await client.chat.completions.create({ model: 'x', messages: second, max_tokens: 8, temperature: 0 });
    const cached = b.usage.prompt_tokens_details?.cached_tokens;
    assert.ok(cached > 0, `cached_tokens ${cached} (first prompt ${a.usage.prompt_tokens} tokens, second ${b.usage.prompt_tokens})`);
    assert.ok(cached < b.usage.prompt_tokens);
    assert.ok(cached >= a.usage.prompt_tokens / 2, `cached ${cached} of a first prompt of ${a.usage.prompt_tokens}`);
  });
});

describe('bad requests are 4xx with an error object', () => {
  const ok = { model: 'x', messages: [user('Hi')], max_tokens: 4 };
  const cases = [
    ['invalid JSON', '{"messages": [', undefined],
    ['a JSON array body', '[1, 2]', undefined],
    ['an empty body', '', undefined],
    ['missing messages', { model: 'x' }, 'messages'],
    ['empty messages', { model: 'x', messages: [] }, 'messages'],
    ['messages not a list', { model: 'x', messages: 'Hi' }, 'messages'],
    ['an unknown role', { model: 'x', messages: [{ role: 'wizard', content: 'Hi' }] }, 'messages'],
    ['negative max_tokens', { ...ok, max_tokens: -1 }, 'max_tokens'],
    ['negative max_completion_tokens', { ...ok, max_completion_tokens: -5 }, 'max_completion_tokens'],
    ['temperature "hot"', { ...ok, temperature: 'hot' }, 'temperature'],
    ['temperature 5', { ...ok, temperature: 5 }, 'temperature'],
    ['top_p 2', { ...ok, top_p: 2 }, 'top_p'],
    ['max_tokens 1.5', { ...ok, max_tokens: 1.5 }, 'max_tokens'],
    ['seed "abc"', { ...ok, seed: 'abc' }, 'seed'],
    ['stream "yes"', { ...ok, stream: 'yes' }, 'stream'],
    ['stop 5', { ...ok, stop: 5 }, 'stop'],
    ['n: 2', { ...ok, n: 2 }, 'n'],
    ['a prompt longer than the context', { ...ok, messages: [user('lorem ipsum dolor sit amet '.repeat(800))] }, 'messages'],
    ['a tool without a function name', { ...ok, tools: [{ type: 'function', function: { parameters: { type: 'object' } } }] }, 'tools'],
    ['a tool without a function', { ...ok, tools: [{ type: 'function' }] }, 'tools'],
    ['tool_choice naming an undeclared tool', { ...ok, tools: [weatherTool], tool_choice: { type: 'function', function: { name: 'nope' } } }, 'tool_choice'],
    ['tool_choice "required" without tools', { ...ok, tool_choice: 'required' }, 'tool_choice'],
    ['tool_choice "sometimes"', { ...ok, tools: [weatherTool], tool_choice: 'sometimes' }, 'tool_choice'],
    ['response_format type "xml"', { ...ok, response_format: { type: 'xml' } }, 'response_format'],
    ['response_format json_schema without a schema', { ...ok, response_format: { type: 'json_schema' } }, 'response_format'],
    ['top_logprobs without logprobs', { ...ok, top_logprobs: 3 }, 'top_logprobs'],
    ['top_logprobs 50', { ...ok, logprobs: true, top_logprobs: 50 }, 'top_logprobs'],
    ['reasoning_effort "extreme"', { ...ok, reasoning_effort: 'extreme' }, 'reasoning_effort'],
    ['logit_bias', { ...ok, logit_bias: { 5: 10 } }, 'logit_bias'],
    ['JSON nested too deep', `{"messages": [{"role": "user", "content": "x"}], "x": ${'['.repeat(500)}${']'.repeat(500)}}`, undefined],
  ];
  for (const [what, body, param] of cases) {
    test(`chat: ${what}`, async () => assertClientError(await post('/v1/chat/completions', body), what, param));
  }
  // Server behaviour found wrong by these tests; those still marked todo run and report without failing the run.
  test('chat: a user message without content',
    async () => assertClientError(await post('/v1/chat/completions', { ...ok, messages: [{ role: 'user' }] }), 'no content', 'messages'));

  test('completions: bad prompts', async () => {
    assertClientError(await post('/v1/completions', { model: 'x' }), 'missing prompt', 'prompt');
    assertClientError(await post('/v1/completions', { prompt: [1, 'a'] }), 'mixed prompt', 'prompt');
    assertClientError(await post('/v1/completions', { prompt: [-3] }), 'negative token id', 'prompt');
    assertClientError(await post('/v1/completions', { prompt: [1e9] }), 'token id past the vocabulary', 'prompt');
    assertClientError(await post('/v1/completions', { prompt: 'hi', max_tokens: -2 }), 'negative max_tokens', 'max_tokens');
    assertClientError(await post('/v1/completions', { prompt: 'x '.repeat(3000) }), 'prompt longer than the context');
    assertClientError(await post('/v1/completions', '{nope'), 'invalid JSON');
  });

  test('chat: a tool message without tool_call_id',
    async () => assertClientError(await post('/v1/chat/completions', { ...ok, messages: [user('a'), { role: 'tool', content: 'x' }] }),
      'tool without tool_call_id', 'messages'));

  test('chat: a tool whose parameters are not a valid JSON schema', async () => {
    const bad = { type: 'function', function: { name: 'frob', parameters: { type: 'frobnicate' } } };
    // forced: the constrained decoder refuses the schema
    assertClientError(await post('/v1/chat/completions', { ...ok, tools: [bad], tool_choice: 'required' }), 'invalid tool schema');
    // strict (OpenAI's function.strict) with tool_choice auto: the calls the model starts would be held to it, so the same 400
    const strict = { type: 'function', function: { ...bad.function, strict: true } };
    const r = await post('/v1/chat/completions', { ...ok, tools: [weatherTool, strict] });
    assertClientError(r, 'strict invalid tool schema', 'tools');
    assert.match(r.json.error.message, /tools\[1\] \('frob'\).*frobnicate/, r.text);
  });

  test('chat: a strict tool with a valid schema is served', async () => {
    const strict = { type: 'function', function: { ...weatherTool.function, strict: true } };
    const r = await post('/v1/chat/completions', { ...ok, tools: [strict] });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.object, 'chat.completion');
  });

  test('/tokenize: add_special or parse_special of the wrong type',
    async () => {
      assertClientError(await post('/tokenize', { content: 'x', add_special: 'yes' }), 'add_special "yes"');
      assertClientError(await post('/tokenize', { content: 'x', parse_special: 1 }), 'parse_special 1');
    });

  test('completions: an oversized prompt names param "prompt"',
    async () => assertClientError(await post('/v1/completions', { prompt: 'x '.repeat(3000) }), 'oversized prompt', 'prompt'));

  test('the SDK raises BadRequestError (400) with the param', async () => {
    await assert.rejects(
      client.chat.completions.create({ model: 'x', messages: [user('Hi')], n: 2 }),
      (e) => e instanceof OpenAI.BadRequestError && e.status === 400 && e.param === 'n');
    await assert.rejects(
      client.chat.completions.create({ model: 'x', messages: [user('Hi')], temperature: 'hot', stream: true }),
      (e) => e instanceof OpenAI.BadRequestError && e.param === 'temperature');
  });

  test('the server still serves after the bad requests', async () => {
    const r = await client.chat.completions.create({ model: 'x', messages: [user('Hi')], max_tokens: 3 });
    assert.ok(r.choices[0].finish_reason);
    assert.equal(await metric(server.base, 'requests_processing'), 0);
  });
});

describe('concurrency and cancellation', () => {
  async function waitIdle() {
    const deadline = Date.now() + 10000;
    for (;;) {
      const busy = await metric(server.base, 'requests_processing');
      const queued = await metric(server.base, 'requests_deferred');
      if (busy === 0 && queued === 0) return;
      if (Date.now() > deadline) assert.fail(`slots still busy (${busy}) or queued (${queued}) 10 s after the last request`);
      await sleep(50);
    }
  }

  async function fourStreams(tag) {
    const results = await Promise.all([0, 1, 2, 3].map(async (i) => collect(await client.chat.completions.create({
      model: 'x', messages: [user(`${tag} request ${i}: count to ten.`)], max_tokens: 32, temperature: 0.7, seed: i,
      stream: true, stream_options: { include_usage: true },
    }))));
    for (const r of results) {
      assert.ok(r.finish === 'stop' || r.finish === 'length', `finish ${r.finish}`);
      assert.ok(r.usage?.completion_tokens > 0);
    }
    return results;
  }

  test('four concurrent streaming requests complete', { timeout: 30000 }, async () => {
    await fourStreams('concurrent');
    await waitIdle();
  });

  test('four concurrent non-streaming requests match their sequential answers at temperature 0', { timeout: 30000 }, async () => {
    const reqs = [0, 1, 2, 3].map((i) => ({ model: 'x', messages: [user(`Item ${i}: describe a colour.`)], max_tokens: 16, temperature: 0 }));
    const together = await Promise.all(reqs.map((r) => client.chat.completions.create(r)));
    for (let i = 0; i < 4; i++) {
      const alone = await client.chat.completions.create(reqs[i]);
      assert.equal(together[i].choices[0].message.content, alone.choices[0].message.content, `request ${i}`);
    }
  });

  // ignore_eos (llama-server's extension): the reply cannot end before the abort. Without it the
  // tiny model sometimes ended within ~20 tokens, the whole body had arrived when the test
  // aborted, and Node 20's bundled undici then never settles the body's pending read (a known
  // undici 6 bug, nodejs/undici#4089: the abort lands after the body completed, before the
  // stream closed): the for-await hung until the test's timeout, about 1 run in 15.
  test('an aborted stream leaves the server serving and frees its slot', { timeout: 60000 }, async () => {
    const ac = new AbortController();
    const stream = await client.chat.completions.create({
      model: 'x', messages: [user('Write a very long story.')], max_tokens: 900, temperature: 1, stream: true, ignore_eos: true,
    }, { signal: ac.signal });
    let chunks = 0, finish = null;
    try {
      for await (const c of stream) {
        if (++chunks === 2) ac.abort();  // the SDK may still yield what it had already read
        finish = c.choices[0]?.finish_reason ?? finish;
      }
    } catch (e) {
      assert.ok(e.name === 'AbortError' || e instanceof OpenAI.APIUserAbortError, `aborting threw ${e}`);
    }
    assert.ok(chunks >= 2 && finish === null, `the stream was cut short (${chunks} chunks, finish ${finish})`);
    await waitIdle();
    assert.equal((await fetch(`${server.base}/health`)).status, 200);
    await fourStreams('after abort');
    await waitIdle();
  });

  test('a client that drops the connection mid-stream frees its slot', { timeout: 30000 }, async () => {
    const { request } = await import('node:http');
    await new Promise((resolve, reject) => {
      const req = request(`${server.base}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' } }, (res) => {
        assert.equal(res.statusCode, 200);
        res.once('data', () => { req.destroy(); resolve(); });
      });
      req.on('error', (e) => { if (e.code !== 'ECONNRESET') reject(e); });
      req.end(JSON.stringify({ messages: [user('Go on and on.')], max_tokens: 900, stream: true }));
    });
    await waitIdle();
    const r = await client.chat.completions.create({ model: 'x', messages: [user('Hi')], max_tokens: 3 });
    assert.ok(r.choices[0].finish_reason);
  });
});

describe('--queue 0', () => {
  test('a request on an idle server is served, not refused',
    async () => {
      const s = await startServer(['--queue', '0'], { parallel: 2, ctx: 256 });
      try {
        const r = await fetch(`${s.base}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' },
                                                                 body: JSON.stringify({ messages: [user('Hi')], max_tokens: 2 }) });
        assert.equal(r.status, 200, await r.text());
      } finally {
        await s.stop();
      }
    });
});

describe('--strict-tool-calls', () => {
  test('a tool schema the constraint engine refuses is served unconstrained, with a warning in the log',
    async () => {
      const s = await startServer(['--strict-tool-calls'], { parallel: 1, ctx: 512 });
      try {
        const frob = { type: 'function', function: { name: 'frob', parameters: { type: 'object', properties: { x: { type: 'frobnicate' } } } } };
        const post = (tools) => fetch(`${s.base}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' },
                                                                       body: JSON.stringify({ messages: [user('Hi')], tools, max_tokens: 2 }) });
        let r = await post([weatherTool]);
        assert.equal(r.status, 200, await r.text());
        assert.doesNotMatch(s.log(), /warning/);
        r = await post([weatherTool, frob]);  // the flag alone: no 400, unlike "strict": true
        assert.equal(r.status, 200, await r.text());
        assert.match(s.log(), /^warning: --strict-tool-calls: .*tools\[1\] \('frob'\).*frobnicate/m);
      } finally {
        await s.stop();
      }
    });
});

describe('API key', () => {
  let keyed;
  before(async () => { keyed = await startServer(['--api-key', 'sekrit-123'], { parallel: 1, ctx: 512 }); });
  after(async () => {
    if (!keyed) return;
    const alive = keyed.alive();
    const { code, signal } = await keyed.stop();
    assert.ok(alive, `the --api-key server died:\n${keyed.log().slice(-4000)}`);
    assert.equal(code, 0, `exit ${code ?? signal}`);
  });

  const chat = (headers) => fetch(`${keyed.base}/v1/chat/completions`, {
    method: 'POST', headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ messages: [user('Hi')], max_tokens: 2 }),
  });

  test('no key or a wrong key is 401', async () => {
    for (const headers of [{}, { authorization: 'Bearer wrong' }, { 'x-api-key': 'wrong' }, { authorization: 'sekrit-123' },
                           { authorization: 'Bearer sekrit-1234' }]) {
      const r = await chat(headers);
      const body = await r.json();
      assert.equal(r.status, 401, JSON.stringify(headers));
      assert.equal(body.error.type, 'authentication_error');
    }
    const m = await fetch(`${keyed.base}/v1/models`);
    assert.equal(m.status, 401, '/v1/models needs the key too');
    const bad = new OpenAI({ baseURL: `${keyed.base}/v1`, apiKey: 'wrong', maxRetries: 0 });
    await assert.rejects(bad.models.list(), (e) => e instanceof OpenAI.AuthenticationError && e.status === 401);
  });

  test('Authorization: Bearer and x-api-key are accepted', async () => {
    assert.equal((await chat({ authorization: 'Bearer sekrit-123' })).status, 200);
    assert.equal((await chat({ 'x-api-key': 'sekrit-123' })).status, 200);
    const good = new OpenAI({ baseURL: `${keyed.base}/v1`, apiKey: 'sekrit-123', maxRetries: 0 });
    const r = await good.chat.completions.create({ model: 'x', messages: [user('Hi')], max_tokens: 2 });
    assert.ok(r.choices[0].finish_reason);
  });

  test('/health needs no key', async () => {
    assert.equal((await fetch(`${keyed.base}/health`)).status, 200);
  });
});

describe('Anthropic Messages API (@anthropic-ai/sdk)', () => {
  let anthropic;
  before(() => { anthropic = new Anthropic({ baseURL: server.base, apiKey: 'unused', maxRetries: 0, timeout: 60000 }); });
  const weather = { name: weatherTool.function.name, description: weatherTool.function.description,
                    input_schema: weatherTool.function.parameters };
  const text = (m) => m.content.filter((b) => b.type === 'text').map((b) => b.text).join('');

  test('messages.create, and streaming gives the same text at temperature 0', async (t) => {
    const probe = await post('/v1/messages', { model: 'x', max_tokens: 2, messages: [user('Hi')] });
    if (probe.status === 404) return t.skip('lfm serve has no POST /v1/messages');
    const req = { model: 'x', max_tokens: 16, temperature: 0, system: 'Be brief.', messages: [user('Tell me about the sea.')] };
    const m = await anthropic.messages.create(req);
    assert.equal(m.type, 'message');
    assert.equal(m.role, 'assistant');
    assert.ok(['end_turn', 'max_tokens', 'stop_sequence'].includes(m.stop_reason), m.stop_reason);
    assert.ok(m.usage.input_tokens > 0 && m.usage.output_tokens > 0);
    const stream = anthropic.messages.stream(req);
    let streamed = '';
    stream.on('text', (d) => { streamed += d; });
    const final = await stream.finalMessage();
    assert.equal(streamed, text(m));
    assert.equal(text(final), text(m));
    assert.equal(final.stop_reason, m.stop_reason);
  });

  test('tool_choice any gives a tool_use block whose input matches the schema; tool_result continues', async (t) => {
    const probe = await post('/v1/messages', { model: 'x', max_tokens: 2, messages: [user('Hi')] });
    if (probe.status === 404) return t.skip('lfm serve has no POST /v1/messages');
    const m = await anthropic.messages.create({
      model: 'x', max_tokens: 200, temperature: 0, tools: [weather], tool_choice: { type: 'any' },
      messages: [user('Weather in Oslo?')],
    });
    assert.equal(m.stop_reason, 'tool_use');
    const use = m.content.find((b) => b.type === 'tool_use');
    assert.ok(use, JSON.stringify(m.content));
    assert.equal(use.name, 'get_weather');
    assert.ok(use.id);
    assert.deepEqual(validate(weather.input_schema, use.input), [], JSON.stringify(use.input));
    const next = await anthropic.messages.create({
      model: 'x', max_tokens: 8, temperature: 0, tools: [weather],
      messages: [user('Weather in Oslo?'), { role: 'assistant', content: m.content },
                 { role: 'user', content: [{ type: 'tool_result', tool_use_id: use.id, content: 'snow, -3 C' }] }],
    });
    assert.equal(next.role, 'assistant');
    assert.ok(next.usage.output_tokens > 0);
  });

  test('bad requests are 4xx with an Anthropic error object', async (t) => {
    const probe = await post('/v1/messages', { model: 'x', max_tokens: 2, messages: [user('Hi')] });
    if (probe.status === 404) return t.skip('lfm serve has no POST /v1/messages');
    await assert.rejects(anthropic.messages.create({ model: 'x', messages: [user('Hi')] }),
      (e) => e instanceof Anthropic.BadRequestError && e.status === 400);
    for (const body of ['{"model": "x", "max_tokens": 4, "messages": [', { model: 'x', max_tokens: 4, messages: [{ role: 'system', content: 'x' }] },
                        { model: 'x', max_tokens: -1, messages: [user('Hi')] }, { model: 'x', max_tokens: 4, messages: [user('Hi')], tool_choice: { type: 'any' } }]) {
      const r = await post('/v1/messages', body);
      assert.ok(r.status >= 400 && r.status < 500, `${JSON.stringify(body)}: ${r.status} ${r.text}`);
      assert.equal(r.json?.type, 'error', r.text);
      assert.ok(r.json.error?.message, r.text);
    }
  });
});

describe('OpenAI Responses API', () => {
  test('responses.create with text input', async (t) => {
    const probe = await post('/v1/responses', { model: 'x', input: 'Hi', max_output_tokens: 2 });
    if (probe.status === 404) return t.skip('lfm serve has no POST /v1/responses yet (issue 24 asks for it)');
    const r = await client.responses.create({ model: 'x', input: 'Hi', instructions: 'Be brief.', max_output_tokens: 8, temperature: 0 });
    assert.equal(r.object, 'response');
    assert.equal(typeof r.output_text, 'string');
    const s = await client.responses.create({ model: 'x', input: 'Hi', instructions: 'Be brief.', max_output_tokens: 8, temperature: 0, stream: true });
    let streamed = '';
    for await (const e of s) if (e.type === 'response.output_text.delta') streamed += e.delta;
    assert.equal(streamed, r.output_text);
  });
});
