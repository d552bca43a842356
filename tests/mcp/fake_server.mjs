// A small stdio MCP server for tests/test_mcp.cpp, in plain Node (no packages), that can be told
// to misbehave in the ways a real server might: `node fake_server.mjs MODE`.
//
// Modes at start: normal, exit-at-start (exits 3 after a line on stderr), close-stdout (closes
// stdout and lingers), silent (never answers), old-revision (answers initialize with 2024-11-05),
// banner (prints lines that are not JSON before and between its answers), huge-line (answers
// initialize with a line longer than the client's limit), ignore-term (survives SIGTERM and
// stdin's end, so that only SIGKILL ends it).
// Tools (listed two per page, so that the client must follow nextCursor):
//   echo {text}      the text back, and a logging notification first
//   crash            exits 7 in the middle of the call
//   hang             never answers
//   slow {ms}        answers after ms, sending progress every 100 ms when asked to
//   flood            prints lines that are not JSON forever and never answers
//   change           adds the tool `added` and sends notifications/tools/list_changed
//   ask              sends the client a ping and a sampling request, answers with their replies
//   mixed            an image, a binary and a text resource, a resource link; isError false
//   structured       only structuredContent
//   fail             isError true
//   cancelled_log    text of the notifications/cancelled this server has received

import { closeSync } from "node:fs";
import { createInterface } from "node:readline";

const mode = process.argv[2] || "normal";
const say = (message) => process.stdout.write(JSON.stringify(message) + "\n");

if (mode === "exit-at-start") {
    process.stderr.write("fake_server: cannot open the database\n");
    process.exit(3);
}
if (mode === "close-stdout") {
    closeSync(1);  // process.stdout.end() leaves the descriptor open
    setInterval(() => {}, 1000);
}
if (mode === "ignore-term") {
    process.on("SIGTERM", () => {});
    setInterval(() => {}, 1000);
}
if (mode === "banner") process.stdout.write("Welcome to the fake server!\n");

const tools = [
    { name: "echo", description: "Says the text back", inputSchema: { type: "object", properties: { text: { type: "string" } }, required: ["text"] } },
    { name: "crash", inputSchema: { type: "object", properties: {} } },
    { name: "hang", inputSchema: { type: "object", properties: {} } },
    { name: "slow", inputSchema: { type: "object", properties: { ms: { type: "number" } } } },
    { name: "flood", inputSchema: { type: "object", properties: {} } },
    { name: "change", inputSchema: { type: "object", properties: {} } },
    { name: "ask", inputSchema: { type: "object", properties: {} } },
    { name: "mixed", inputSchema: { type: "object", properties: {} } },
    { name: "structured", inputSchema: { type: "object", properties: {} } },
    { name: "fail", inputSchema: { type: "object", properties: {} } },
    { name: "cancelled_log", inputSchema: { type: "object", properties: {} } },
];
const cancelled = [];
const waiting = new Map();  // id of our request to the client -> resolve
let nextId = 1000;

function ask(method, params) {
    const id = nextId++;
    say({ jsonrpc: "2.0", id, method, params });
    return new Promise((resolve) => waiting.set(id, resolve));
}

async function call(name, args, meta) {
    switch (name) {
        case "echo":
            say({ jsonrpc: "2.0", method: "notifications/message", params: { level: "info", logger: "echo", data: `echoing ${args.text}` } });
            return { content: [{ type: "text", text: `echo: ${args.text}` }] };
        case "crash":
            process.stderr.write("fake_server: segmentation fault (pretend)\n");
            process.exit(7);
        case "hang":
            return new Promise(() => {});
        case "slow": {
            const token = meta?.progressToken;
            let elapsed = 0;
            while (elapsed < args.ms) {
                await new Promise((r) => setTimeout(r, 100));
                elapsed += 100;
                if (token !== undefined) say({ jsonrpc: "2.0", method: "notifications/progress", params: { progressToken: token, progress: elapsed, total: args.ms } });
            }
            return { content: [{ type: "text", text: `slept ${args.ms} ms` }] };
        }
        case "flood":
            setInterval(() => process.stdout.write("garbage garbage garbage\n"), 1);
            return new Promise(() => {});
        case "change":
            tools.push({ name: "added", inputSchema: { type: "object", properties: {} } });
            say({ jsonrpc: "2.0", method: "notifications/tools/list_changed" });
            return { content: [{ type: "text", text: "changed" }] };
        case "ask": {
            const ping = await ask("ping");
            const sampling = await ask("sampling/createMessage", { messages: [], maxTokens: 1 });
            return { content: [{ type: "text", text: JSON.stringify({ ping, sampling }) }] };
        }
        case "mixed":
            return {
                content: [
                    { type: "text", text: "here:" },
                    { type: "image", mimeType: "image/png", data: "iVBORw0KGgo=" },
                    { type: "resource", resource: { uri: "file:///a.bin", mimeType: "application/zip", blob: "UEsDBA==" } },
                    { type: "resource", resource: { uri: "file:///notes.txt", mimeType: "text/plain", text: "notes" } },
                    { type: "resource_link", uri: "file:///b.txt", name: "b" },
                ],
            };
        case "structured":
            return { content: [], structuredContent: { temperature: 21.5 } };
        case "fail":
            return { content: [{ type: "text", text: "no such city" }], isError: true };
        case "cancelled_log":
            return { content: [{ type: "text", text: JSON.stringify(cancelled) }] };
        default:
            throw { code: -32602, message: `Unknown tool: ${name}` };
    }
}

async function handle(message) {
    if (message.id !== undefined && message.method === undefined) {
        const resolve = waiting.get(message.id);
        if (resolve) resolve(message.error ? { error: message.error } : { result: message.result });
        return;
    }
    if (message.method === "notifications/cancelled") cancelled.push(message.params);
    if (message.id === undefined) return;
    if (mode === "silent" || mode === "close-stdout") return;
    const reply = (result) => say({ jsonrpc: "2.0", id: message.id, result });
    if (mode === "banner") process.stdout.write("debug: got " + message.method + "\n");
    switch (message.method) {
        case "initialize":
            if (mode === "huge-line") {
                process.stdout.write(JSON.stringify({ jsonrpc: "2.0", id: message.id, result: { pad: "x".repeat(300000) } }) + "\n");
                return;
            }
            return reply({
                protocolVersion: mode === "old-revision" ? "2024-11-05" : message.params.protocolVersion,
                capabilities: { tools: { listChanged: true }, logging: {} },
                serverInfo: { name: "fake", version: "1.2.3" },
            });
        case "tools/list": {
            const start = message.params?.cursor ? Number(message.params.cursor) : 0;
            const page = tools.slice(start, start + 2);
            const result = { tools: page };
            if (start + 2 < tools.length) result.nextCursor = String(start + 2);
            return reply(result);
        }
        case "tools/call":
            try {
                return reply(await call(message.params.name, message.params.arguments || {}, message.params._meta));
            } catch (e) {
                return say({ jsonrpc: "2.0", id: message.id, error: e });
            }
        default:
            return say({ jsonrpc: "2.0", id: message.id, error: { code: -32601, message: "Method not found" } });
    }
}

const lines = createInterface({ input: process.stdin });
lines.on("line", (line) => {
    if (line.trim()) handle(JSON.parse(line));
});
lines.on("close", () => {
    if (mode !== "ignore-term") process.exit(0);
});
