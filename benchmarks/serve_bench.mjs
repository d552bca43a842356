// lfm serve (or any OpenAI-compatible server) under concurrent streams, and the prefix cache.
//   node benchmarks/serve_bench.mjs http://127.0.0.1:8080 [--streams 1,2,4] [--tokens 64] [--turn-tokens 2000]
// Start the server, e.g.:
//   lfm serve -m q4_k_m.gguf --parallel 4 -c 4096 -t 2
// (the streams ask for ignore_eos: replies of --tokens each, on any server that honours it)
// 1. aggregate generation rate: N concurrent streaming requests of --tokens each, tokens/s summed;
// 2. time to the first token of a conversation's second turn (a first turn of ~--turn-tokens
//    prompt tokens), with the prefix cache (the same conversation) and without (its first message
//    changed, so nothing but the first few tokens is shared). Prints one JSON object per line.
const base = process.argv[2] || 'http://127.0.0.1:8080';
const arg = (name, fallback) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : fallback;
};
const streams = arg('--streams', '1,2,4').split(',').map(Number);
const tokens = Number(arg('--tokens', '64'));
const turnTokens = Number(arg('--turn-tokens', '2000'));

async function stream(body) {
  const t0 = performance.now();
  const res = await fetch(base + '/v1/chat/completions', {
    method: 'POST', headers: {'Content-Type': 'application/json'},
    body: JSON.stringify({...body, stream: true, stream_options: {include_usage: true}}),
  });
  if (!res.ok) throw new Error(`${res.status} ${await res.text()}`);
  const reader = res.body.getReader(), decoder = new TextDecoder();
  let buffer = '', first = null, usage = null;
  for (;;) {
    const {value, done} = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, {stream: true});
    let cut;
    while ((cut = buffer.indexOf('\n\n')) >= 0) {
      const event = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      if (!event.startsWith('data: ') || event === 'data: [DONE]') continue;
      const chunk = JSON.parse(event.slice(6));
      if (chunk.usage) usage = chunk.usage;
      const delta = chunk.choices?.[0]?.delta;
      if (first === null && delta && (delta.content || delta.reasoning_content)) first = performance.now();
    }
  }
  return {ttft_ms: first === null ? null : first - t0, total_ms: performance.now() - t0, usage};
}

const words = 'model token memory expert layer cache thread prompt'.split(' ');
const filler = (seed, n) => Array.from({length: n}, (_, i) => words[(i * 7 + seed) % 8]).join(' ');

for (const n of streams) {
  const t0 = performance.now();
  const results = await Promise.all(Array.from({length: n}, (_, i) =>
    stream({messages: [{role: 'user', content: `Stream ${i}: ${filler(i, 20)}`}], max_tokens: tokens, temperature: 0,
            ignore_eos: true})));
  const seconds = (performance.now() - t0) / 1000;
  const generated = results.reduce((s, r) => s + r.usage.completion_tokens, 0);
  console.log(JSON.stringify({test: 'concurrent streams', streams: n, generated, seconds: +seconds.toFixed(2),
                              aggregate_tps: +(generated / seconds).toFixed(2)}));
}

// a first turn of about turnTokens prompt tokens, sized with the server's own tokenizer
const probe = await (await fetch(base + '/tokenize', {method: 'POST', body: JSON.stringify({content: filler(1, 100)})})).json();
const nWords = Math.max(1, Math.round(turnTokens * 100 / probe.tokens.length));
const first = [{role: 'user', content: filler(1, nWords)}];
const reply = await stream({messages: first, max_tokens: 8, temperature: 0});
const second = [...first, {role: 'assistant', content: 'noted'}, {role: 'user', content: 'And the second question?'}];
const cached = await stream({messages: second, max_tokens: 4, temperature: 0});
const changed = [{role: 'user', content: 'Changed. ' + filler(1, nWords)}, ...second.slice(1)];
const uncached = await stream({messages: changed, max_tokens: 4, temperature: 0});
console.log(JSON.stringify({test: 'second turn', first_turn_prompt_tokens: reply.usage.prompt_tokens,
                            cached_ttft_ms: +cached.ttft_ms.toFixed(1), cached_tokens: cached.usage.prompt_tokens_details.cached_tokens,
                            uncached_ttft_ms: +uncached.ttft_ms.toFixed(1), uncached_cached_tokens: uncached.usage.prompt_tokens_details.cached_tokens,
                            ratio: +(uncached.ttft_ms / cached.ttft_ms).toFixed(1)}));
