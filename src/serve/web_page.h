#pragma once
// The chat page at GET /: one self-contained HTML file (no CDN, no build step). It keeps the
// conversation in the page, streams each reply from /v1/chat/completions, shows the reasoning
// in a collapsible block and tool calls as they come.

namespace lfm::serve {

inline constexpr const char* kWebPage = R"html(<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>lfm</title>
<style>
body{font-family:system-ui,sans-serif;max-width:52rem;margin:0 auto;padding:1rem;background:#fafafa;color:#222}
h1{font-size:1.1rem;margin:.2rem 0 1rem}
#log .msg{margin:.6rem 0;padding:.6rem .8rem;border-radius:.5rem;white-space:pre-wrap;line-height:1.4}
#log .user{background:#dbeafe}#log .assistant{background:#fff;border:1px solid #e5e7eb}
details.reasoning{color:#6b7280;margin-bottom:.4rem}details.reasoning summary{cursor:pointer}
.tool{font-family:ui-monospace,monospace;background:#f3f4f6;padding:.3rem .5rem;border-radius:.3rem;margin-top:.4rem}
.err{color:#b91c1c}
form{display:flex;gap:.5rem;margin-top:1rem;position:sticky;bottom:0;background:#fafafa;padding:.5rem 0}textarea{flex:1;min-height:3rem;font:inherit;padding:.5rem}
button{padding:.5rem 1rem;font:inherit}
</style></head><body>
<h1>lfm <span id="model"></span></h1>
<div id="log"></div>
<form id="form"><textarea id="input" placeholder="Message (Enter to send, Shift+Enter for a new line)"></textarea>
<button id="send" type="submit">Send</button><button id="stop" type="button" disabled>Stop</button></form>
<script>
const log = document.getElementById('log'), input = document.getElementById('input');
const sendButton = document.getElementById('send'), stopButton = document.getElementById('stop');
const messages = [];
let controller = null;
fetch('v1/models').then(r => r.json()).then(j => { document.getElementById('model').textContent = '· ' + j.data[0].id; }).catch(() => {});
function bubble(role) {
  const div = document.createElement('div');
  div.className = 'msg ' + role;
  log.appendChild(div);
  return div;
}
input.addEventListener('keydown', e => { if (e.key === 'Enter' && !e.shiftKey) { e.preventDefault(); document.getElementById('form').requestSubmit(); } });
stopButton.onclick = () => { if (controller) controller.abort(); };
document.getElementById('form').onsubmit = async e => {
  e.preventDefault();
  const text = input.value.trim();
  if (!text || controller) return;
  input.value = '';
  messages.push({role: 'user', content: text});
  bubble('user').textContent = text;
  const div = bubble('assistant');
  let details = null, thought = null, content = document.createElement('span');
  div.appendChild(content);
  const reply = {role: 'assistant', content: ''};
  controller = new AbortController();
  sendButton.disabled = true; stopButton.disabled = false;
  try {
    const res = await fetch('v1/chat/completions', {method: 'POST', headers: {'Content-Type': 'application/json'},
      body: JSON.stringify({messages, stream: true}), signal: controller.signal});
    if (!res.ok) throw new Error((await res.json()).error.message);
    const reader = res.body.getReader(), decoder = new TextDecoder();
    let buffer = '';
    for (;;) {
      const {value, done} = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, {stream: true});
      let cut;
      while ((cut = buffer.indexOf('\n\n')) >= 0) {
        const event = buffer.slice(0, cut); buffer = buffer.slice(cut + 2);
        if (!event.startsWith('data: ') || event === 'data: [DONE]') continue;
        const chunk = JSON.parse(event.slice(6));
        if (chunk.error) throw new Error(chunk.error.message);
        const delta = (chunk.choices[0] || {}).delta || {};
        if (delta.reasoning_content) {
          if (!details) {
            details = document.createElement('details'); details.className = 'reasoning'; details.open = true;
            details.innerHTML = '<summary>Reasoning</summary>'; thought = document.createElement('div');
            details.appendChild(thought); div.insertBefore(details, content);
          }
          thought.textContent += delta.reasoning_content;
        }
        if (delta.content) { if (details) details.open = false; content.textContent += delta.content; reply.content += delta.content; }
        for (const call of delta.tool_calls || []) {
          const t = document.createElement('div'); t.className = 'tool';
          t.textContent = call.function.name + '(' + call.function.arguments + ')';
          div.appendChild(t);
          (reply.tool_calls = reply.tool_calls || []).push(call);
        }
      }
    }
    messages.push(reply);
  } catch (err) {
    if (err.name !== 'AbortError') { const p = document.createElement('div'); p.className = 'err'; p.textContent = String(err.message || err); div.appendChild(p); }
    else messages.push(reply);
  } finally {
    controller = null; sendButton.disabled = false; stopButton.disabled = true;
  }
};
</script></body></html>
)html";

}  // namespace lfm::serve
