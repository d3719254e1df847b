/**
 * Signing in and out, as members and stewards do it: one-time links
 * (from the API and from the command line), and the co-op's OpenID
 * provider (a member's link enrols their account; a steward is one by
 * the groups claim; nobody else gets in; a tampered answer is refused).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { startBroker } from '../lib/broker.mjs';
import { launchBrowser, newPage } from '../lib/browser.mjs';
import {
  heading,
  signInLink,
  signInLinkFromCli,
  signedInMember,
  submit,
  useSignInLink,
} from '../lib/datacoop.mjs';
import { freePort } from '../lib/net.mjs';
import { signInAtProvider, startOidcProvider } from '../lib/oidc.mjs';

const TIMEOUT = { timeout: 60_000 };

/** What the browser shows instead of the provider's answer, held back. */
const HELD = { status: 200, contentType: 'text/html', body: '<!doctype html><title>Held back</title>' };

/** The cookie tying a sign-in with the provider to the browser that began it. */
const FLOW_COOKIE = '__Host-datacoop-oidc';

/** The session cookie's name. */
const SESSION_COOKIE = '__Host-datacoop-session';

/** @param {import('playwright-core').Page} page */
async function sessionCookie(page) {
  const cookies = await page.context().cookies();
  return cookies.find((cookie) => cookie.name === SESSION_COOKIE);
}

/** @param {import('playwright-core').Page} page */
function path(page) {
  const url = new URL(page.url());
  return `${url.pathname}${url.search}`;
}

describe('sign-in links', TIMEOUT, () => {
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

  test('a visitor is sent to the sign-in page, which explains links', async (t) => {
    const page = await newPage(browser);
    t.after(() => page.context().close());

    const answer = await page.goto(`${broker.url}/`);

    assert.equal(answer.status(), 200);
    assert.equal(path(page), '/sign-in');
    assert.equal(await heading(page), 'Sign in');
    await page.getByText('open the sign-in link a steward of your co-op gave you').waitFor();
    assert.equal(await page.getByRole('link', { name: 'Sign in with your co-op account' }).count(), 0);
  });

  test("a member's link from the API asks first, then signs them in to their home", async (t) => {
    const member = await broker.createMember({ display_name: 'Ada Lovelace', registry: 'public' });
    const link = await signInLink(broker, member.id);
    assert.ok(link.startsWith(`${broker.url}/sign-in/link?token=`), link);
    const page = await newPage(browser);
    t.after(() => page.context().close());

    await page.goto(link);
    // Fetching the link (as a mail scanner would) uses nothing up.
    await page.reload();
    assert.equal(await heading(page), 'Sign in');
    await page.getByText('This link signs you in to your membership.').waitFor();
    assert.equal(await sessionCookie(page), undefined);
    const answer = await submit(page, page.getByRole('button', { name: 'Sign in', exact: true }));

    assert.equal(answer.status(), 200);
    assert.equal(path(page), '/');
    assert.equal(await heading(page), 'Who may use what');
    await page.getByText('Hello Ada Lovelace.').waitFor();
    const cookie = await sessionCookie(page);
    assert.ok(cookie, 'no session cookie');
    assert.equal(cookie.secure, true);
    assert.equal(cookie.httpOnly, true);
    assert.equal(cookie.sameSite, 'Lax');
  });

  test("a member's link printed by `datacoop member sign-in-link` signs them in", async (t) => {
    const member = await broker.createMember({ display_name: 'Grace Hopper', registry: 'public' });
    const link = await signInLinkFromCli(broker, member.id);
    assert.match(link, /^http:\/\/localhost:\d+\/sign-in\/link\?token=\S+$/);
    const page = await newPage(browser);
    t.after(() => page.context().close());

    const answer = await useSignInLink(page, link);

    assert.equal(answer.status(), 200);
    assert.equal(path(page), '/');
    await page.getByText('Hello Grace Hopper.').waitFor();
  });

  test('a steward\'s link printed by `datacoop steward sign-in-link` opens the stewards\' pages', async (t) => {
    const link = await signInLinkFromCli(broker);
    const page = await newPage(browser);
    t.after(() => page.context().close());

    await page.goto(link);
    await page.getByText('This link signs you in as a steward of the co-op.').waitFor();
    const answer = await submit(page, page.getByRole('button', { name: 'Sign in', exact: true }));

    assert.equal(answer.status(), 200);
    assert.equal(path(page), '/stewards');
    assert.equal(await heading(page), 'Stewards');
  });

  test('a link works once: used again, it "no longer works" (410)', async (t) => {
    const member = await broker.createMember({ display_name: 'Ada', registry: 'public' });
    const link = await signInLink(broker, member.id);
    const first = await newPage(browser);
    const second = await newPage(browser);
    t.after(() => Promise.all([first.context().close(), second.context().close()]));
    // Both open the confirmation page before either presses the button.
    await first.goto(link);
    await second.goto(link);

    const used = await submit(first, first.getByRole('button', { name: 'Sign in', exact: true }));
    assert.equal(used.status(), 200);
    assert.equal(path(first), '/');

    const again = await submit(second, second.getByRole('button', { name: 'Sign in', exact: true }));
    assert.equal(again.status(), 410);
    assert.equal(await heading(second), 'This link no longer works');
    await second.getByText('Sign-in links work once, within 15 minutes.').waitFor();
    assert.equal(await sessionCookie(second), undefined);

    const reopened = await second.goto(link);
    assert.equal(reopened.status(), 410);
    assert.equal(await heading(second), 'This link no longer works');
  });

  test('an unknown link "no longer works" either', async (t) => {
    const page = await newPage(browser);
    t.after(() => page.context().close());

    const answer = await page.goto(`${broker.url}/sign-in/link?token=dcl_not-a-real-token`);

    assert.equal(answer.status(), 410);
    assert.equal(await heading(page), 'This link no longer works');
  });

  test('signing out ends the session: the pages ask to sign in again', async (t) => {
    const member = await broker.createMember({ display_name: 'Ada', registry: 'public' });
    const page = await signedInMember(browser, broker, member);
    t.after(() => page.context().close());
    const cookie = await sessionCookie(page);

    const answer = await submit(page, page.getByRole('banner').getByRole('button', { name: 'Sign out' }));

    assert.equal(answer.status(), 200);
    assert.equal(path(page), '/sign-in');
    assert.equal(await sessionCookie(page), undefined);
    await page.goto(`${broker.url}/consent`);
    assert.equal(path(page), '/sign-in');
    // The old cookie, presented again, opens nothing either.
    await page.context().addCookies([cookie]);
    await page.goto(`${broker.url}/consent`);
    assert.equal(new URL(page.url()).pathname, '/sign-in');
  });

  test('"Sign out everywhere" ends the member\'s sessions on every device', async (t) => {
    const member = await broker.createMember({ display_name: 'Ada', registry: 'public' });
    const laptop = await signedInMember(browser, broker, member);
    const phone = await signedInMember(browser, broker, member);
    t.after(() => Promise.all([laptop.context().close(), phone.context().close()]));

    await laptop.goto(`${broker.url}/data`);
    await submit(laptop, laptop.getByRole('button', { name: 'Sign out everywhere' }));

    assert.equal(path(laptop), '/sign-in');
    await phone.goto(`${broker.url}/consent`);
    assert.equal(path(phone), '/sign-in?ended=1');
    await phone.getByText('Your session has ended. Please sign in again.').waitFor();
  });
});

describe('signing in with the co-op\'s OpenID provider', TIMEOUT, () => {
  let provider;
  let broker;
  let browser;
  before(async () => {
    // The provider must know the broker's redirect URI, and the broker the
    // provider's issuer: the broker's port is chosen first.
    const port = await freePort();
    provider = await startOidcProvider({ redirectUri: `http://localhost:${port}/sign-in/oidc/callback` });
    broker = await startBroker({
      port,
      env: {
        DATACOOP_OIDC_ISSUER: provider.issuer,
        DATACOOP_OIDC_CLIENT_ID: provider.clientId,
        DATACOOP_OIDC_CLIENT_SECRET: provider.clientSecret,
        DATACOOP_RATE_LIMIT_SIGN_IN_PER_ADDRESS: '0',
      },
    });
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
    await broker?.stop();
    await provider?.stop();
  });

  /**
   * From the sign-in page through the provider, as `login`.
   * @param {import('playwright-core').Page} page
   * @param {string} login
   */
  async function signInWithProvider(page, login) {
    await page.goto(`${broker.url}/sign-in`);
    await page.getByRole('link', { name: 'Sign in with your co-op account' }).click();
    await page.waitForURL((url) => url.origin === provider.issuer, { timeout: 10_000 });
    await signInAtProvider(page, login);
    await page.waitForLoadState('load');
  }

  test("a member's link enrols their provider account; later that account alone signs them in", async (t) => {
    const member = await broker.createMember({ display_name: 'Alice Liddell', registry: 'public' });
    const enrolling = await newPage(browser);
    t.after(() => enrolling.context().close());

    await enrolling.goto(await signInLink(broker, member.id));
    await enrolling
      .getByText('This link connects your membership to your co-op account. You will sign in with that account next.')
      .waitFor();
    // What the browser refuses to do (a Content-Security-Policy blocking
    // the way to the provider) is only told on its console.
    const refusals = [];
    enrolling.on('console', (message) => {
      if (message.type() === 'error') refusals.push(message.text());
    });
    await enrolling.getByRole('button', { name: 'Continue to sign-in' }).click();
    await enrolling
      .waitForURL((url) => url.origin === provider.issuer, { timeout: 10_000 })
      .catch(() => assert.fail(`the browser did not go on to the provider: ${refusals.join(' | ')}`));
    await signInAtProvider(enrolling, 'alice');
    await enrolling.waitForLoadState('load');

    assert.equal(path(enrolling), '/');
    await enrolling.getByText('Hello Alice Liddell.').waitFor();

    // Another day, another browser: no link, only the provider.
    const later = await newPage(browser);
    t.after(() => later.context().close());
    await signInWithProvider(later, 'alice');

    assert.equal(path(later), '/');
    assert.equal(await heading(later), 'Who may use what');
    await later.getByText('Hello Alice Liddell.').waitFor();
  });

  test('an account in the stewards\' group signs in as a steward', async (t) => {
    const page = await newPage(browser);
    t.after(() => page.context().close());

    await signInWithProvider(page, 'stella');

    assert.equal(path(page), '/stewards', await page.getByRole('main').innerText());
    assert.equal(await heading(page), 'Stewards');
  });

  test('an account linked to no member and not a steward is refused (403)', async (t) => {
    const page = await newPage(browser);
    t.after(() => page.context().close());
    let status;
    page.on('response', (response) => {
      if (new URL(response.url()).pathname === '/sign-in/oidc/callback') status = response.status();
    });

    await signInWithProvider(page, 'olive');

    assert.equal(status, 403);
    assert.equal(await heading(page), 'Not for this account');
    assert.equal(await sessionCookie(page), undefined);
    await page.goto(`${broker.url}/`);
    assert.equal(path(page), '/sign-in');
  });

  /**
   * Signs in at the provider as `login`, but with the browser's flow
   * cookie taken away first, as if the provider's answer reached another
   * browser: the broker refuses it before redeeming anything. Answers the
   * callback URL the provider sent, and the cookie taken away.
   * @param {import('playwright-core').Page} page
   * @param {string} login
   */
  async function answerElsewhere(page, login) {
    await page.goto(`${broker.url}/sign-in`);
    await page.getByRole('link', { name: 'Sign in with your co-op account' }).click();
    await page.waitForURL((url) => url.origin === provider.issuer, { timeout: 10_000 });
    const context = page.context();
    const flow = (await context.cookies()).find((cookie) => cookie.name === FLOW_COOKIE);
    assert.ok(flow, 'beginning the sign-in set no flow cookie');
    await context.clearCookies({ name: FLOW_COOKIE });
    let status;
    page.on('response', (response) => {
      if (new URL(response.url()).pathname === '/sign-in/oidc/callback') status = response.status();
    });
    await signInAtProvider(page, login);
    const callback = new URL(page.url());
    assert.equal(callback.pathname, '/sign-in/oidc/callback');
    assert.ok(callback.searchParams.get('code'), `the provider sent no code: ${callback}`);
    return { callback, flow, status };
  }

  test('an answer reaching another browser than the one that began the sign-in is refused', async (t) => {
    const page = await newPage(browser);
    t.after(() => page.context().close());

    const { status } = await answerElsewhere(page, 'stella');

    assert.equal(status, 400);
    assert.equal(await heading(page), 'Something is wrong with this request');
    await page.getByText('This sign-in was not started in this browser, or took too long.').waitFor();
    assert.equal(await sessionCookie(page), undefined);
  });

  test("the provider's answer with a tampered state is refused, and signs nobody in", async (t) => {
    const page = await newPage(browser);
    t.after(() => page.context().close());
    const { callback, flow } = await answerElsewhere(page, 'olive');
    // Back in the browser that began it, with the answer altered.
    await page.context().addCookies([flow]);

    const tampered = new URL(callback);
    tampered.searchParams.set('state', `${callback.searchParams.get('state')}x`);
    const refused = await page.goto(tampered.href);

    assert.equal(refused.status(), 400);
    assert.equal(await heading(page), 'Something is wrong with this request');
    await page.getByText('This sign-in was not started in this browser, or took too long.').waitFor();
    assert.equal(await sessionCookie(page), undefined);

    const stateless = new URL(callback);
    stateless.searchParams.delete('state');
    assert.equal((await page.goto(stateless.href)).status(), 400);
    assert.equal(await sessionCookie(page), undefined);

    // The genuine answer gets past the state check: olive's account is
    // then checked, and refused for what it is (no member, no steward).
    const genuine = await page.goto(callback.href);
    assert.equal(genuine.status(), 403);
    assert.equal(await heading(page), 'Not for this account');
  });
});
