// Starts `lfm serve` on a free port for the SDK tests and the load test.
// LFM_CLI: the lfm binary (default build/release/lfm); LFM_MODEL: a GGUF file (default the tiny
// reference model in ../shared). The port is read from the server's first stderr line.

import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const here = path.dirname(fileURLToPath(import.meta.url));
export const cli = process.env.LFM_CLI || path.resolve(here, '../../build/release/lfm');
export const model = process.env.LFM_MODEL || path.resolve(here, '../../../shared/reference/tinyB-q8_0.gguf');

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Resolves once /health answers 200: {proc, port, base, log(), stop()}.
export async function startServer(extraArgs = [], { parallel = 4, ctx = 1024, threads = 2 } = {}) {
  const args = ['serve', '-m', model, '--port', '0', '--parallel', String(parallel), '-c', String(ctx),
                '-t', String(threads), ...extraArgs];
  const proc = spawn(cli, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  const port = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no "listening" line in 20 s:\n${stderr}`)), 20000);
    proc.stderr.on('data', (d) => {
      stderr += d.toString();
      if (stderr.length > 1 << 20) stderr = stderr.slice(-(1 << 19));  // the request log grows
      const m = /listening on http:\/\/[^\s]+:(\d+)/.exec(stderr);
      if (m) { clearTimeout(timer); resolve(Number(m[1])); }
    });
    proc.on('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`lfm serve exited (${code ?? signal}) before listening:\n${stderr}`));
    });
    proc.on('error', (e) => { clearTimeout(timer); reject(e); });
  });
  const base = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 30000;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`lfm serve exited (${proc.exitCode}) while loading:\n${stderr}`);
    try {
      const r = await fetch(`${base}/health`);
      if (r.status === 200) break;
      if (r.status !== 503) throw new Error(`/health answered ${r.status} while loading`);
    } catch (e) {
      if (!(e instanceof TypeError)) throw e;  // connection refused: not yet
    }
    if (Date.now() > deadline) throw new Error(`/health not 200 after 30 s:\n${stderr}`);
    await sleep(50);
  }
  const exited = new Promise((resolve) => {
    if (proc.exitCode !== null || proc.signalCode !== null) resolve({ code: proc.exitCode, signal: proc.signalCode });
    else proc.on('exit', (code, signal) => resolve({ code, signal }));
  });
  return {
    proc, port, base, exited,
    log: () => stderr,
    alive: () => proc.exitCode === null && proc.signalCode === null,
    // SIGTERM, then the exit status: {code, signal}; SIGKILL after 10 s.
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
      const t = setTimeout(() => proc.kill('SIGKILL'), 10000);
      const r = await exited;
      clearTimeout(t);
      return r;
    },
  };
}

// VmRSS of a process in KiB, from /proc/PID/status.
export async function rssKiB(pid) {
  const { readFile } = await import('node:fs/promises');
  const m = /VmRSS:\s+(\d+) kB/.exec(await readFile(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : NaN;
}

// The value of one lfm_ metric from /metrics.
export async function metric(base, name, headers = {}) {
  const text = await (await fetch(`${base}/metrics`, { headers })).text();
  const m = new RegExp(`^lfm_${name} ([0-9.e+-]+)$`, 'm').exec(text);
  return m ? Number(m[1]) : NaN;
}

export { sleep };
