/**
 * The harness itself: the broker starts and stops, the OpenID provider
 * completes the sign-in the broker will use (authorization code, PKCE,
 * groups in the ID token) through Chromium, axe reports what it should,
 * and the browser stays off the internet.
 */
import assert from 'node:assert/strict';
import { createHash, createPublicKey, randomBytes, verify } from 'node:crypto';
import http from 'node:http';
import { after, before, describe, test } from 'node:test';

import { expectAccessible } from '../lib/axe.mjs';
import { startBroker } from '../lib/broker.mjs';
import { launchBrowser, newPage } from '../lib/browser.mjs';
import { closeServer, listenOnLoopback } from '../lib/net.mjs';
import { signInAtProvider, startOidcProvider } from '../lib/oidc.mjs';

const TIMEOUT = { timeout: 60_000 };

describe('startBroker', TIMEOUT, () => {
  let broker;
  before(async () => {
    broker = await startBroker();
  });
  after(() => broker?.stop());

  test('answers /readyz with 200', async () => {
    const { status, json } = await broker.api('GET', '/readyz');
    assert.equal(status, 200, JSON.stringify(json));
  });

  test('enrols a member whose token then works', async () => {
    const member = await broker.createMember({ display_name: 'Ada', registry: 'public' });
    assert.equal(member.display_name, 'Ada');

    const me = await broker.api('GET', '/v1/me', { token: member.token });
    assert.equal(me.status, 200);
    assert.equal(me.json.id, member.id);
  });

  test('reports a broker that refuses to start, with its log', async () => {
    await assert.rejects(
      startBroker({ env: { DATACOOP_ADMIN_TOKEN: 'too short' } }),
      /exited before it was ready[\s\S]*DATACOOP_ADMIN_TOKEN/,
    );
  });

  test('stop ends the broker cleanly, and it answers no more', async () => {
    const doomed = await startBroker();
    const status = await doomed.stop();
    assert.deepEqual(status, { code: 0, signal: null }, doomed.stderr());
    await assert.rejects(fetch(`${doomed.url}/readyz`));
  });
});

describe('the OpenID provider', TIMEOUT, () => {
  let site;
  let provider;
  let discovery;
  let browser;
  before(async () => {
    site = await startFixtureSite();
    provider = await startOidcProvider({ redirectUri: site.redirectUri });
    discovery = await getJson(`${provider.issuer}/.well-known/openid-configuration`);
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
    await provider?.stop();
    await site?.stop();
  });

  test('publishes its issuer exactly as configured', () => {
    assert.match(provider.issuer, /^http:\/\/localhost:\d+$/);
    assert.equal(discovery.issuer, provider.issuer);
    assert.deepEqual(discovery.code_challenge_methods_supported, ['S256']);
  });

  test('signs stella in through Chromium, with her groups in the ID token', async (t) => {
    const page = await newPage(browser);
    t.after(() => page.context().close());
    const request = authorizationRequest(discovery, provider.clientId, site.redirectUri);

    await page.goto(request.url.href);
    await signInAtProvider(page, 'stella');

    const callback = new URL(page.url());
    assert.equal(`${callback.origin}${callback.pathname}`, site.redirectUri);
    assert.equal(callback.searchParams.get('state'), request.state);
    assert.equal(callback.searchParams.get('iss'), provider.issuer);
    const code = callback.searchParams.get('code');
    assert.ok(code, `no code in ${callback}`);

    const tokens = await redeemCode(discovery, provider, site.redirectUri, code, request.verifier);
    const claims = await verifiedIdToken(discovery, tokens.id_token);
    assert.equal(claims.iss, provider.issuer);
    assert.equal(claims.aud, provider.clientId);
    assert.equal(claims.sub, 'stella');
    assert.equal(claims.nonce, request.nonce);
    assert.equal(claims.name, 'Stella Steward');
    assert.equal(claims.email, 'stella@example.org');
    assert.deepEqual(claims.groups, ['datacoop-stewards']);
  });

  test('refuses an authorization request without PKCE', async (t) => {
    const page = await newPage(browser);
    t.after(() => page.context().close());
    const { url } = authorizationRequest(discovery, provider.clientId, site.redirectUri);
    url.searchParams.delete('code_challenge');
    url.searchParams.delete('code_challenge_method');

    await page.goto(url.href);

    const callback = new URL(page.url());
    assert.equal(`${callback.origin}${callback.pathname}`, site.redirectUri);
    assert.equal(callback.searchParams.get('error'), 'invalid_request');
    assert.match(callback.searchParams.get('error_description'), /PKCE/);
  });
});

describe('expectAccessible', TIMEOUT, () => {
  let site;
  let browser;
  let page;
  before(async () => {
    site = await startFixtureSite();
    browser = await launchBrowser();
    page = await newPage(browser);
  });
  after(async () => {
    await browser?.close();
    await site?.stop();
  });

  test('passes a page without violations', async () => {
    await page.goto(`${site.origin}/accessible`);
    const results = await expectAccessible(page, 'the accessible fixture');
    assert.ok(results.passes.length > 0, 'axe checked nothing');
  });

  test('names each violation, with the offending element', async () => {
    await page.goto(`${site.origin}/unlabelled`);
    await assert.rejects(expectAccessible(page, 'the unlabelled fixture'), (error) => {
      assert.equal(error.name, 'AssertionError');
      assert.match(error.message, /^the unlabelled fixture \(http:\/\/localhost:\d+\/unlabelled\): 1 accessibility violation/);
      assert.match(error.message, /label \(critical\): Form elements must have labels/);
      assert.match(error.message, /at #nameless: <input id="nameless" type="text">/);
      return true;
    });
  });
});

describe('launchBrowser', TIMEOUT, () => {
  test('cannot reach beyond localhost', async (t) => {
    const browser = await launchBrowser();
    t.after(() => browser.close());
    const page = await newPage(browser);

    await assert.rejects(page.goto('http://example.com/'), /ERR_NAME_NOT_RESOLVED/);
  });
});

/** The fixture site's pages, by path. */
const FIXTURE_PAGES = {
  '/callback': page('Signed in', '<h1>Signed in</h1><p>The provider sent the browser back here.</p>'),
  '/accessible': page(
    'A form',
    '<h1>A form</h1><form><label for="name">Name</label> <input id="name" type="text"> <button>Save</button></form>',
  ),
  '/unlabelled': page('A form', '<h1>A form</h1><form><input id="nameless" type="text"></form>'),
};

/** @param {string} title @param {string} body the `main` element's content */
function page(title, body) {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${title}</title></head><body><main>${body}</main></body></html>`;
}

/**
 * A local web site standing for the relying party: its `/callback` is the
 * redirect URI the provider sends the browser back to, and it serves the
 * axe fixtures.
 */
async function startFixtureSite() {
  const server = http.createServer((request, response) => {
    const html = FIXTURE_PAGES[new URL(request.url, 'http://localhost').pathname];
    response.writeHead(html ? 200 : 404, { 'content-type': 'text/html; charset=utf-8' });
    response.end(html ?? page('Not found', '<h1>Not found</h1>'));
  });
  const origin = `http://localhost:${await listenOnLoopback(server)}`;
  return { origin, redirectUri: `${origin}/callback`, stop: () => closeServer(server) };
}

/**
 * An authorization request as the broker will make it: code flow, PKCE with
 * S256, and a fresh state and nonce.
 * @param {{authorization_endpoint: string}} discovery
 * @param {string} clientId
 * @param {string} redirectUri
 */
function authorizationRequest(discovery, clientId, redirectUri) {
  const state = randomBytes(16).toString('base64url');
  const nonce = randomBytes(16).toString('base64url');
  const verifier = randomBytes(32).toString('base64url');
  const url = new URL(discovery.authorization_endpoint);
  url.search = new URLSearchParams({
    response_type: 'code',
    client_id: clientId,
    redirect_uri: redirectUri,
    scope: 'openid profile email groups',
    state,
    nonce,
    code_challenge: createHash('sha256').update(verifier).digest('base64url'),
    code_challenge_method: 'S256',
  }).toString();
  return { url, state, nonce, verifier };
}

/**
 * Redeems an authorization code at the token endpoint, the client
 * authenticating with HTTP Basic (`client_secret_basic`).
 */
async function redeemCode(discovery, { clientId, clientSecret }, redirectUri, code, verifier) {
  const credentials = `${encodeURIComponent(clientId)}:${encodeURIComponent(clientSecret)}`;
  const response = await fetch(discovery.token_endpoint, {
    method: 'POST',
    headers: { authorization: `Basic ${Buffer.from(credentials).toString('base64')}` },
    body: new URLSearchParams({
      grant_type: 'authorization_code',
      code,
      redirect_uri: redirectUri,
      code_verifier: verifier,
    }),
  });
  const tokens = await response.json();
  assert.equal(response.status, 200, JSON.stringify(tokens));
  return tokens;
}

/**
 * An ID token's claims, once its RS256 signature is checked against the
 * provider's published keys (as the broker will check it).
 * @param {{jwks_uri: string}} discovery
 * @param {string} idToken
 */
async function verifiedIdToken(discovery, idToken) {
  const [header, payload, signature] = idToken.split('.');
  const { alg, kid } = JSON.parse(Buffer.from(header, 'base64url'));
  assert.equal(alg, 'RS256');
  const { keys } = await getJson(discovery.jwks_uri);
  const jwk = keys.find((key) => key.kid === kid);
  assert.ok(jwk, `no published key ${kid}`);
  const signed = Buffer.from(`${header}.${payload}`);
  const key = createPublicKey({ key: jwk, format: 'jwk' });
  assert.ok(verify('sha256', signed, key, Buffer.from(signature, 'base64url')), 'bad ID token signature');
  return JSON.parse(Buffer.from(payload, 'base64url'));
}

/** @param {string} url */
async function getJson(url) {
  const response = await fetch(url);
  assert.equal(response.status, 200, `GET ${url}`);
  return response.json();
}
