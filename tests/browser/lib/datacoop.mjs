/**
 * What the web UI's tests share: signing in with a one-time link, sending
 * a page's form and waiting for the page it leads to, and what the tests
 * set up through the JSON API (third parties, personas, connections).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

import { binaryPath } from './broker.mjs';
import { newPage } from './browser.mjs';

const run = promisify(execFile);

/**
 * A one-time sign-in link from the JSON API: a member's
 * (`POST /v1/members/{id}/sign-in-links`) or, without a member, a
 * steward's (`POST /v1/stewards/sign-in-links`).
 * @param {import('./broker.mjs').Broker} broker
 * @param {string} [memberId]
 * @returns {Promise<string>} the link
 */
export async function signInLink(broker, memberId) {
  const path = memberId ? `/v1/members/${memberId}/sign-in-links` : '/v1/stewards/sign-in-links';
  const { status, json } = await broker.api('POST', path, { token: broker.adminToken });
  assert.equal(status, 201, `POST ${path}: ${JSON.stringify(json)}`);
  assert.ok(json.expires_at, `no expires_at in ${JSON.stringify(json)}`);
  return json.url;
}

/**
 * A one-time sign-in link printed by the command line, as a steward gets
 * one: `datacoop member sign-in-link MEMBER_ID` or
 * `datacoop steward sign-in-link`.
 * @param {import('./broker.mjs').Broker} broker
 * @param {string} [memberId]
 * @returns {Promise<string>} the link, the only line of standard output
 */
export async function signInLinkFromCli(broker, memberId) {
  const args = memberId
    ? ['member', 'sign-in-link', memberId, '--url', broker.url]
    : ['steward', 'sign-in-link', '--url', broker.url];
  const { stdout } = await run(binaryPath(), args, {
    env: { PATH: process.env.PATH, DATACOOP_ADMIN_TOKEN: broker.adminToken },
    timeout: 20_000,
  });
  return stdout.trim();
}

/**
 * Sends a form by clicking `control` (a submit button, or a link) and
 * waits until the page it leads to has loaded: after a redirect, the page
 * redirected to.
 * @param {import('playwright-core').Page} page
 * @param {import('playwright-core').Locator} control
 * @returns {Promise<import('playwright-core').Response>} the answer the page shows
 */
export async function submit(page, control) {
  const answered = page.waitForResponse(
    (response) =>
      response.request().isNavigationRequest() &&
      response.frame() === page.mainFrame() &&
      !(response.status() >= 300 && response.status() < 400),
  );
  await control.click();
  const response = await answered;
  await page.waitForLoadState('load');
  return response;
}

/**
 * Opens a sign-in link's confirmation page and presses its button.
 * @param {import('playwright-core').Page} page
 * @param {string} link
 * @param {string | RegExp} [button] the button's accessible name
 * @returns {Promise<import('playwright-core').Response>} the answer the button leads to
 */
export async function useSignInLink(page, link, button = 'Sign in') {
  const confirm = await page.goto(link);
  assert.equal(confirm.status(), 200, `${link} answered ${confirm.status()}`);
  return submit(page, page.getByRole('main').getByRole('button', { name: button, exact: true }));
}

/**
 * A page of its own, signed in as the member through a link from the API.
 * @param {import('playwright-core').Browser} browser
 * @param {import('./broker.mjs').Broker} broker
 * @param {{id: string}} member
 * @param {{locale?: string, viewport?: {width: number, height: number}}} [options]
 */
export async function signedInMember(browser, broker, member, options = {}) {
  const page = await newPage(browser, options);
  const link = await signInLink(broker, member.id);
  const answer = await useSignInLink(page, link, signInButton(options.locale));
  assert.equal(answer.status(), 200, `signing in answered ${answer.status()}: ${await page.title()}`);
  assert.equal(new URL(page.url()).pathname, '/', `signed in to ${page.url()}`);
  return page;
}

/**
 * A page of its own, signed in as a steward through a link from the API.
 * @param {import('playwright-core').Browser} browser
 * @param {import('./broker.mjs').Broker} broker
 * @param {{locale?: string, viewport?: {width: number, height: number}}} [options]
 */
export async function signedInSteward(browser, broker, options = {}) {
  const page = await newPage(browser, options);
  const answer = await useSignInLink(page, await signInLink(broker), signInButton(options.locale));
  assert.equal(answer.status(), 200, `signing in answered ${answer.status()}: ${await page.title()}`);
  assert.equal(new URL(page.url()).pathname, '/stewards', `signed in to ${page.url()}`);
  return page;
}

/** The sign-in link page's button in the page's language. */
function signInButton(locale = 'en-GB') {
  return locale.startsWith('de') ? 'Anmelden' : 'Sign in';
}

/**
 * Replaces the value of every CSRF field of the page, as a forged form
 * would carry: the page has no script, but Playwright edits its DOM.
 * @param {import('playwright-core').Page} page
 */
export async function forgeCsrf(page) {
  const fields = page.locator('input[name="csrf"]');
  assert.ok((await fields.count()) > 0, `no csrf field on ${page.url()}`);
  await fields.evaluateAll((inputs) => {
    for (const input of inputs) input.value = 'forged';
  });
}

/** The page's main heading's text. */
export function heading(page) {
  return page.getByRole('heading', { level: 1 }).innerText();
}

/** The notice a page shows once after a form (`role=status`). */
export function notice(page) {
  return page.getByRole('main').getByRole('status').innerText();
}

/**
 * Approves a third party through the API (`POST /v1/third-parties`).
 * @param {import('./broker.mjs').Broker} broker
 * @param {{name: string, class?: string, webhook_url?: string}} body
 * @returns {Promise<{id: string, client_id: string, client_secret: string, class: string, status: string}>}
 */
export async function createThirdParty(broker, { name, class: kind = 'academic', ...rest }) {
  const { status, json } = await broker.api('POST', '/v1/third-parties', {
    token: broker.adminToken,
    body: { name, class: kind, ...rest },
  });
  assert.equal(status, 201, `POST /v1/third-parties: ${JSON.stringify(json)}`);
  return json;
}

/**
 * Publishes a persona through the API (`POST /v1/personas`).
 * @param {import('./broker.mjs').Broker} broker
 * @param {{name: string, description: string, rules: object[]}} body
 * @returns {Promise<{id: string, name: string}>}
 */
export async function createPersona(broker, body) {
  const { status, json } = await broker.api('POST', '/v1/personas', { token: broker.adminToken, body });
  assert.equal(status, 201, `POST /v1/personas: ${JSON.stringify(json)}`);
  return json;
}

/**
 * A rule body of the API.
 * @param {object} fields effect, requester, data_categories, purposes, and more
 */
export function rule({ effect = 'allow', requester = { class: 'academic' }, ...rest } = {}) {
  return {
    effect,
    action: '*',
    requester,
    data_categories: ['health.heart'],
    purposes: ['research'],
    ...rest,
  };
}

/**
 * Gives a member a rule through the API (`POST /v1/me/rules`).
 * @param {import('./broker.mjs').Broker} broker
 * @param {{token: string}} member
 * @param {object} body a rule body
 */
export async function addRule(broker, member, body) {
  const { status, json } = await broker.api('POST', '/v1/me/rules', { token: member.token, body });
  assert.equal(status, 201, `POST /v1/me/rules: ${JSON.stringify(json)}`);
  return json;
}

/**
 * A third party's access token (`POST /oauth2/token`, client credentials).
 * @param {import('./broker.mjs').Broker} broker
 * @param {{client_id: string, client_secret: string}} thirdParty
 * @returns {Promise<{status: number, token?: string}>}
 */
export async function thirdPartyToken(broker, { client_id: clientId, client_secret: clientSecret }) {
  const response = await fetch(new URL('/oauth2/token', broker.url), {
    method: 'POST',
    headers: {
      authorization: `Basic ${Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(clientSecret)}`).toString('base64')}`,
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: new URLSearchParams({ grant_type: 'client_credentials' }),
  });
  const json = await response.json().catch(() => null);
  return { status: response.status, token: json?.access_token };
}

/**
 * Connects a member to a third party as the third party's onboarding
 * would (`POST /v1/me/connections` with the member's token), and answers
 * the pseudonym (`subject`) the third party knows the member by.
 * @param {import('./broker.mjs').Broker} broker
 * @param {{token: string}} member
 * @param {{id: string}} thirdParty
 * @returns {Promise<string>}
 */
export async function connect(broker, member, thirdParty) {
  const { status, json } = await broker.api('POST', '/v1/me/connections', {
    token: member.token,
    body: { third_party: thirdParty.id },
  });
  assert.equal(status, 201, `POST /v1/me/connections: ${JSON.stringify(json)}`);
  return json.subject;
}

/**
 * A third party asks for a member's data (`POST /v1/access`), which the
 * member's access log records.
 * @param {import('./broker.mjs').Broker} broker
 * @param {{client_id: string, client_secret: string}} thirdParty
 * @param {string} subject
 * @param {{data_categories?: string[], purpose?: string}} [request]
 */
export async function requestAccess(broker, thirdParty, subject, request = {}) {
  const { token } = await thirdPartyToken(broker, thirdParty);
  assert.ok(token, 'the third party got no access token');
  const { status, json } = await broker.api('POST', '/v1/access', {
    token,
    body: { subject, data_categories: ['health.heart'], purpose: 'research', ...request },
  });
  assert.equal(status, 200, `POST /v1/access: ${JSON.stringify(json)}`);
  return json;
}
