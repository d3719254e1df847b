/**
 * What keeps a session's forms its own: each form carries the session's
 * CSRF value and must come from the broker's own pages, and a session
 * left idle ends, after which its forms change nothing.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';

import { startBroker } from '../lib/broker.mjs';
import { launchBrowser } from '../lib/browser.mjs';
import {
  addRule,
  forgeCsrf,
  heading,
  rule,
  signedInMember,
  signedInSteward,
  submit,
} from '../lib/datacoop.mjs';
import { closeServer, listenOnLoopback } from '../lib/net.mjs';

const TIMEOUT = { timeout: 60_000 };

/** The rule the tests try to add: allow, academic, heart, research. */
async function fillRule(page) {
  const form = page.locator('form[action="/consent/preview"]');
  await form.getByRole('radio', { name: 'Allow' }).check();
  await form.getByLabel('Who', { exact: true }).selectOption('class:academic');
  await form.locator('input[name="categories"][value="health.heart"]').check();
  await form.locator('input[name="purposes"][value="research"]').check();
  return form;
}

describe('forms are accepted only from the session that was sent them', TIMEOUT, () => {
  let broker;
  let browser;
  before(async () => {
    broker = await startBroker({ env: { DATACOOP_RATE_LIMIT_SIGN_IN_PER_ADDRESS: '0' } });
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
    await broker?.stop();
  });

  async function rulesOf(member) {
    const { status, json } = await broker.api('GET', '/v1/me/rules', { token: member.token });
    assert.equal(status, 200);
    return json;
  }

  /** Asserts the page is the "form has expired" page, answered 403. */
  async function assertRefused(page, answer) {
    assert.equal(answer.status(), 403);
    assert.equal(await heading(page), 'The form has expired');
    await page.getByText('This form was not sent from a page of your current session.').waitFor();
  }

  test('saving a rule with a forged CSRF value is refused, and saves nothing', async (t) => {
    const ada = await broker.createMember({ display_name: 'Ada', registry: 'public' });
    const page = await signedInMember(browser, broker, ada);
    t.after(() => page.context().close());
    await page.goto(`${broker.url}/consent`);
    const form = await fillRule(page);
    await submit(page, form.getByRole('button', { name: 'Check the rule' }));
    assert.equal(await heading(page), 'Check your rule');

    await forgeCsrf(page);
    const answer = await submit(page, page.getByRole('button', { name: 'Save this rule' }));

    await assertRefused(page, answer);
    assert.deepEqual(await rulesOf(ada), []);
  });

  test('removing a rule with a forged CSRF value is refused, and the rule stays', async (t) => {
    const ada = await broker.createMember({ display_name: 'Ada', registry: 'public' });
    await addRule(broker, ada, rule());
    const page = await signedInMember(browser, broker, ada);
    t.after(() => page.context().close());
    await page.goto(`${broker.url}/consent`);

    await forgeCsrf(page);
    const answer = await submit(page, page.getByRole('button', { name: /^Remove rule / }));

    await assertRefused(page, answer);
    assert.equal((await rulesOf(ada)).length, 1);
  });

  test('signing out with a forged CSRF value is refused, and the session goes on', async (t) => {
    const ada = await broker.createMember({ display_name: 'Ada', registry: 'public' });
    const page = await signedInMember(browser, broker, ada);
    t.after(() => page.context().close());

    await forgeCsrf(page);
    const answer = await submit(page, page.getByRole('button', { name: 'Sign out' }));

    await assertRefused(page, answer);
    await page.goto(`${broker.url}/consent`);
    assert.equal(new URL(page.url()).pathname, '/consent');
  });

  test("approving a third party with a forged CSRF value is refused, and approves nobody", async (t) => {
    const page = await signedInSteward(browser, broker);
    t.after(() => page.context().close());
    await page.goto(`${broker.url}/stewards/third-parties`);
    const form = page.locator('form[action="/stewards/third-parties"]');
    await form.getByLabel('Name', { exact: true }).fill('Forged Ltd');
    await form.getByRole('radio', { name: 'Companies' }).check();

    await forgeCsrf(page);
    const answer = await submit(page, form.getByRole('button', { name: 'Approve third party' }));

    await assertRefused(page, answer);
    const { json } = await broker.api('GET', '/v1/third-parties', { token: broker.adminToken });
    const names = (json.items ?? json).map((thirdParty) => thirdParty.name);
    assert.ok(!names.includes('Forged Ltd'), `approved: ${names}`);
  });

  test("another site's page cannot send a member's form, even with the right CSRF value", async (t) => {
    const ada = await broker.createMember({ display_name: 'Ada', registry: 'public' });
    const page = await signedInMember(browser, broker, ada);
    t.after(() => page.context().close());
    await page.goto(`${broker.url}/consent`);
    const csrf = await page.locator('input[name="csrf"]').first().inputValue();
    // A page of another origin (another port of localhost: the same site
    // for cookies, so the session cookie goes along) posting the rule.
    const fields = { csrf, effect: 'allow', requester: 'class:commercial', categories: 'health', purposes: 'marketing' };
    const inputs = Object.entries(fields)
      .map(([name, value]) => `<input type="hidden" name="${name}" value="${value}">`)
      .join('');
    const server = http.createServer((_, response) => {
      response.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      response.end(
        `<!doctype html><html lang="en"><title>Win a prize</title><form method="post" action="${broker.url}/consent/rules">${inputs}<button>Claim</button></form>`,
      );
    });
    const port = await listenOnLoopback(server);
    t.after(() => closeServer(server));
    await page.goto(`http://localhost:${port}/`);

    const answer = await submit(page, page.getByRole('button', { name: 'Claim' }));

    await assertRefused(page, answer);
    assert.deepEqual(await rulesOf(ada), []);
  });
});

describe('an idle session ends', TIMEOUT, () => {
  /** The idle timeout, in seconds. */
  const IDLE = 3;
  let broker;
  let browser;
  before(async () => {
    broker = await startBroker({ env: { DATACOOP_SESSION_IDLE_SECS: String(IDLE) } });
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
    await broker?.stop();
  });

  test('a form sent after the idle timeout goes to the sign-in page, and changes nothing', async (t) => {
    const ada = await broker.createMember({ display_name: 'Ada', registry: 'public' });
    const page = await signedInMember(browser, broker, ada);
    t.after(() => page.context().close());
    await page.goto(`${broker.url}/consent`);
    const form = await fillRule(page);
    await submit(page, form.getByRole('button', { name: 'Check the rule' }));
    assert.equal(await heading(page), 'Check your rule');

    await sleep((IDLE + 1) * 1000);
    await submit(page, page.getByRole('button', { name: 'Save this rule' }));

    const url = new URL(page.url());
    assert.equal(`${url.pathname}${url.search}`, '/sign-in?ended=1');
    await page.getByText('Your session has ended. Please sign in again.').waitFor();
    const { json } = await broker.api('GET', '/v1/me/rules', { token: ada.token });
    assert.deepEqual(json, []);
    await page.goto(`${broker.url}/consent`);
    assert.equal(new URL(page.url()).pathname, '/sign-in');
  });

  test('a session in use is not idle: it outlasts the idle timeout', async (t) => {
    const ada = await broker.createMember({ display_name: 'Ada', registry: 'public' });
    const page = await signedInMember(browser, broker, ada);
    t.after(() => page.context().close());

    // A page every two seconds, for longer than the idle timeout.
    for (const path of ['/consent', '/proxies', '/data']) {
      await sleep(2000);
      await page.goto(`${broker.url}${path}`);
      assert.equal(new URL(page.url()).pathname, path, `signed out after ${path}`);
    }
  });
});
