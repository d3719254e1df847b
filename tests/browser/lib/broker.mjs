/**
 * Starts the real `datacoop` binary for a test, the way the Rust harness
 * (tests/src/broker.rs) does: `datacoop serve` on a fresh SQLite file in a
 * temporary folder, on a loopback port, with a known admin token.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';

import { freePort } from './net.mjs';

/** The repository's root: this file is tests/browser/lib/broker.mjs. */
const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

/** How long the broker may take to answer `/readyz` with 200. */
const START_TIMEOUT_MS = 30_000;

/** How long the broker may take to exit after SIGTERM before it is killed. */
const STOP_TIMEOUT_MS = 10_000;

/**
 * Brokers still running, killed if the test process exits without stopping
 * them. A broker does not keep the test process alive by itself (see
 * `watchProcess`), so a test that fails before `stop` still ends.
 */
const running = new Set();
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

/**
 * The binary under test: `DATACOOP_BIN`, else the debug build in cargo's
 * target folder (`CARGO_TARGET_DIR`, relative to the repository's root, or
 * `target/` there).
 * @returns {string} an absolute path
 */
export function binaryPath() {
  if (process.env.DATACOOP_BIN) return path.resolve(process.env.DATACOOP_BIN);
  const target = path.resolve(REPO_ROOT, process.env.CARGO_TARGET_DIR || 'target');
  return path.join(target, 'debug', 'datacoop');
}

/**
 * @typedef {object} ApiAnswer
 * @property {number} status
 * @property {any} json the parsed body, or null when it is empty or not JSON
 * @property {Headers} headers
 */

/**
 * @typedef {object} Broker
 * @property {string} url `http://localhost:PORT`, also its `DATACOOP_PUBLIC_URL` unless `env` sets another
 * @property {string} adminToken the stewards' bearer token
 * @property {(method: string, path: string, options?: {body?: any, token?: string}) => Promise<ApiAnswer>} api
 * @property {(body: {display_name?: string, registry: 'public' | 'anonymous'}) => Promise<{id: string, token: string}>} createMember
 *   enrols a member; answers it as `POST /v1/members` does, with the token shown only then
 * @property {() => string} stderr everything the broker logged so far
 * @property {() => Promise<{code: number | null, signal: string | null}>} stop
 */

/**
 * Starts `datacoop serve` and waits until `GET /readyz` answers 200.
 * @param {object} [options]
 * @param {Record<string, string>} [options.env] more environment variables; they win over the harness's
 * @param {number} [options.port] the port to listen on; a free one by default
 * @returns {Promise<Broker>}
 */
export async function startBroker({ env = {}, port } = {}) {
  const binary = binaryPath();
  if (!existsSync(binary)) {
    throw new Error(
      `${binary} is missing: build it with \`cargo build -p datacoop-broker\`, ` +
        'or point DATACOOP_BIN at a datacoop binary',
    );
  }
  port ??= await freePort();
  const url = `http://localhost:${port}`;
  const adminToken = env.DATACOOP_ADMIN_TOKEN ?? randomBytes(36).toString('base64url'); // 48 characters
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'datacoop-browser-'));

  const child = spawn(binary, ['serve'], {
    // Only what the test chooses: a developer's own DATACOOP_* variables
    // must not change what is tested.
    env: {
      PATH: process.env.PATH,
      DATACOOP_DATABASE_URL: `sqlite://${dataDir}/datacoop.db`,
      DATACOOP_LISTEN: `127.0.0.1:${port}`,
      DATACOOP_ADMIN_TOKEN: adminToken,
      DATACOOP_PUBLIC_URL: url,
      DATACOOP_LOG_FORMAT: 'json',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(child);
  const watched = watchProcess(child);

  const broker = {
    url,
    adminToken,
    api: (method, apiPath, options) => callApi(url, method, apiPath, options),
    createMember: (body) => createMember(url, adminToken, body),
    stderr: () => watched.stderr(),
    stop: async () => {
      const status = await stopProcess(child, watched.exited);
      running.delete(child);
      await rm(dataDir, { recursive: true, force: true });
      return status;
    },
  };

  try {
    await waitUntilReady(url, watched);
  } catch (error) {
    await broker.stop();
    throw error;
  }
  return broker;
}

/**
 * Collects a child's standard error and notes when it ends. Standard output
 * is read too, and dropped: a full pipe would block the broker. Neither the
 * child nor its pipes hold the event loop open.
 * @param {import('node:child_process').ChildProcess} child
 */
function watchProcess(child) {
  let stderr = '';
  let exit = null;
  child.unref();
  child.stdout.unref();
  child.stderr.unref();
  child.stdout.resume();
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (chunk) => {
    stderr += chunk;
  });
  const exited = new Promise((resolve) => {
    // 'error' alone is emitted when the binary cannot be started at all.
    child.once('error', (error) => {
      stderr += `\n(could not run the binary: ${error.message})`;
      exit = { code: null, signal: null };
      resolve(exit);
    });
    child.once('close', (code, signal) => {
      exit ??= { code, signal };
      resolve(exit);
    });
  });
  return { exited, stderr: () => stderr, exit: () => exit };
}

/**
 * Polls `/readyz` until it answers 200; fails early if the broker exits.
 * @param {string} url
 * @param {ReturnType<typeof watchProcess>} watched
 */
async function waitUntilReady(url, watched) {
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (Date.now() < deadline) {
    const exit = watched.exit();
    if (exit) {
      throw new Error(
        `datacoop exited before it was ready (${JSON.stringify(exit)}); stderr:\n${watched.stderr()}`,
      );
    }
    if (await answersReady(url)) return;
    await sleep(100);
  }
  throw new Error(
    `datacoop was not ready within ${START_TIMEOUT_MS / 1000} s; stderr:\n${watched.stderr()}`,
  );
}

/** @param {string} url */
async function answersReady(url) {
  try {
    const response = await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(2_000) });
    await response.body?.cancel();
    return response.status === 200;
  } catch {
    return false; // not listening yet
  }
}

/**
 * Sends SIGTERM, as an orchestrator would, and kills the process if it has
 * not exited within STOP_TIMEOUT_MS.
 * @param {import('node:child_process').ChildProcess} child
 * @param {Promise<{code: number | null, signal: string | null}>} exited
 */
async function stopProcess(child, exited) {
  if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
  // The timer holds the event loop open while the broker winds down (its
  // pipes do not), and is cancelled once it has exited.
  const patience = new AbortController();
  const timeout = sleep(STOP_TIMEOUT_MS, 'timeout', { signal: patience.signal }).catch(() => 'exited');
  if ((await Promise.race([exited, timeout])) === 'timeout') child.kill('SIGKILL');
  patience.abort();
  return exited;
}

/**
 * One JSON API call.
 * @param {string} url the broker's base URL
 * @param {string} method
 * @param {string} apiPath such as `/v1/me`
 * @param {{body?: any, token?: string}} [options] no token: an anonymous call
 * @returns {Promise<ApiAnswer>}
 */
async function callApi(url, method, apiPath, { body, token } = {}) {
  const headers = { accept: 'application/json' };
  if (token) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const response = await fetch(new URL(apiPath, url), {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  const isJson = /\bjson\b/.test(response.headers.get('content-type') ?? '');
  return { status: response.status, json: isJson && text ? JSON.parse(text) : null, headers: response.headers };
}

/**
 * Enrols a member as the stewards do (`POST /v1/members`) and answers the
 * member with its token, which is shown only this once.
 * @param {string} url
 * @param {string} adminToken
 * @param {{display_name?: string, registry: 'public' | 'anonymous'}} body
 */
async function createMember(url, adminToken, body) {
  const { status, json } = await callApi(url, 'POST', '/v1/members', { body, token: adminToken });
  if (status !== 201) {
    throw new Error(`POST /v1/members answered ${status}: ${JSON.stringify(json)}`);
  }
  return json;
}
