/**
 * Every page, in English and in German, checked by axe against WCAG 2.2
 * A and AA, with content on it (rules, personas, delegations,
 * connections, third parties, datasets…) so its lists and tables render;
 * each page is first checked to be the page meant, not an error page.
 * Then a rule added with the keyboard alone, and every page at a phone's
 * width without sideways scrolling (WCAG 1.4.10 reflow).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { expectAccessible } from '../lib/axe.mjs';
import { startBroker } from '../lib/broker.mjs';
import { launchBrowser, newPage } from '../lib/browser.mjs';
import {
  addRule,
  connect,
  createPersona,
  createThirdParty,
  forgeCsrf,
  requestAccess,
  rule,
  signInLink,
  signedInMember,
  signedInSteward,
  submit,
} from '../lib/datacoop.mjs';
import { freePort } from '../lib/net.mjs';
import { startOidcProvider } from '../lib/oidc.mjs';

const TIMEOUT = { timeout: 120_000 };

const LOCALES = ['en-GB', 'de-DE'];

/** The broker the pages are read from, and what it holds. */
let broker;
let content;
/** A broker with an OpenID provider, for the pages that differ with one. */
let provider;
let oidcBroker;
let browser;

before(async () => {
  broker = await startBroker({
    env: {
      DATACOOP_RATE_LIMIT_SIGN_IN_PER_ADDRESS: '0',
      // Withdrawals are overdue a second after they are sent, so the
      // stewards' overdue receipts have a row to show.
      DATACOOP_DELETION_GRACE_SECS: '1',
    },
  });
  const port = await freePort();
  provider = await startOidcProvider({ redirectUri: `http://localhost:${port}/sign-in/oidc/callback` });
  oidcBroker = await startBroker({
    port,
    env: {
      DATACOOP_OIDC_ISSUER: provider.issuer,
      DATACOOP_OIDC_CLIENT_ID: provider.clientId,
      DATACOOP_OIDC_CLIENT_SECRET: provider.clientSecret,
      DATACOOP_RATE_LIMIT_SIGN_IN_PER_ADDRESS: '0',
    },
  });
  browser = await launchBrowser();
  content = await populate(broker);
}, TIMEOUT);

after(async () => {
  await browser?.close();
  await broker?.stop();
  await oidcBroker?.stop();
  await provider?.stop();
});

/**
 * Fills the co-op with something of everything the pages list.
 * @param {import('../lib/broker.mjs').Broker} broker
 */
async function populate(broker) {
  const admin = { token: broker.adminToken };
  const lab = await createThirdParty(broker, { name: 'Heartbeat Lab', class: 'academic' });
  const sleepLab = await createThirdParty(broker, { name: 'Sleep Lab', class: 'academic' });
  const adtech = await createThirdParty(broker, {
    name: 'Adtech Ltd',
    class: 'commercial',
    webhook_url: 'https://adtech.example/hooks/datacoop',
  });
  await broker.api('PATCH', `/v1/third-parties/${adtech.id}`, { ...admin, body: { status: 'suspended' } });
  const rotating = await createThirdParty(broker, { name: 'Rotating Research', class: 'nonprofit' });

  const persona = await createPersona(broker, {
    name: 'Careful researcher',
    description: 'Research by universities, nothing else.\n\nNo advertising, ever.',
    rules: [rule({ data_categories: ['health'] }), rule({ effect: 'deny', requester: '*', purposes: ['marketing'], data_categories: ['*'] })],
  });
  const coopRule = await broker.api('POST', '/v1/coop/rules', {
    ...admin,
    body: rule({ effect: 'deny', requester: { class: 'commercial' }, data_categories: ['health'], purposes: ['marketing'] }),
  });
  assert.equal(coopRule.status, 201, JSON.stringify(coopRule.json));

  const bea = await broker.createMember({ display_name: 'Bea Proxy', registry: 'public' });
  await broker.api('PATCH', '/v1/me', { token: bea.token, body: { accepts_delegations: true } });
  await addRule(broker, bea, rule({ data_categories: ['location'], requester: '*', purposes: ['public_interest'] }));
  await broker.createMember({ registry: 'anonymous' });
  const ada = await broker.createMember({ display_name: 'Ada Lovelace', registry: 'public' });
  await addRule(broker, ada, rule({ expires_at: '2027-03-01T00:00:00Z' }));
  await addRule(broker, ada, rule({ effect: 'deny', requester: { class: 'commercial' }, data_categories: ['*'], purposes: ['*'] }));
  for (const body of [{ to: { persona: persona.id } }, { to: { member: bea.id }, data_categories: ['location'] }]) {
    const delegated = await broker.api('POST', '/v1/me/delegations', { token: ada.token, body });
    assert.equal(delegated.status, 201, JSON.stringify(delegated.json));
  }
  await broker.api('PUT', '/v1/me/data/health.heart', { token: ada.token, body: { resting_bpm: 58 } });
  await broker.api('PUT', '/v1/me/data/location.coarse', { token: ada.token, body: { region: 'Lower Saxony' } });

  // Heartbeat Lab asks twice (allowed, then not); Sleep Lab gets data and
  // is cut off, which withdraws it.
  const subject = await connect(broker, ada, lab);
  await requestAccess(broker, lab, subject);
  await requestAccess(broker, lab, subject, { data_categories: ['identity'], purpose: 'marketing' });
  const sleepSubject = await connect(broker, ada, sleepLab);
  await requestAccess(broker, sleepLab, sleepSubject);
  const cut = await broker.api('DELETE', `/v1/me/connections/${sleepLab.id}`, { token: ada.token });
  assert.equal(cut.status, 204);

  const dataset = await broker.api('POST', '/v1/datasets', {
    ...admin,
    body: {
      name: 'Resting heart rates',
      purpose: 'research',
      data_categories: ['health.heart'],
      measures: [{ op: 'count' }],
      k_min: 5,
      epsilon: 0.5,
    },
  });
  assert.equal(dataset.status, 201, JSON.stringify(dataset.json));
  const now = Date.now();
  const license = await broker.api('POST', '/v1/licenses', {
    ...admin,
    body: {
      dataset: dataset.json.id,
      licensee: lab.id,
      valid_from: new Date(now).toISOString(),
      valid_until: new Date(now + 90 * 86_400_000).toISOString(),
      data_life_days: 30,
    },
  });
  assert.equal(license.status, 201, JSON.stringify(license.json));
  return { lab, rotating, persona, ada, bea, license: license.json };
}

/**
 * A page to check: how to open it, and the status it must answer with
 * (so an error page in its place does not pass).
 * @typedef {{label: string, status?: number, open: (page: import('playwright-core').Page) => Promise<import('playwright-core').Response>}} Check
 */

/** Opens `path` of the broker. */
function get(path, base = () => broker.url) {
  return (page) => page.goto(new URL(path, base()).href);
}

/** Opens `path`, then sends the form whose action is `action`, as it is. */
function send(path, action, fill = async () => {}) {
  return async (page) => {
    await page.goto(new URL(path, broker.url).href);
    const form = page.locator(`form[action="${action}"]`).first();
    await fill(form);
    return submit(page, form.locator('button[type="submit"]').first());
  };
}

/** @type {Check[]} the member's pages, as Ada */
const MEMBER_PAGES = [
  { label: 'home (who may use what)', open: get('/') },
  { label: 'my rules', open: get('/consent') },
  { label: 'my rules, with a notice', open: get('/consent?done=rule-added') },
  { label: 'my rules, with problems', status: 422, open: send('/consent', '/consent/preview') },
  {
    label: "a rule's preview",
    open: send('/consent', '/consent/preview', async (form) => {
      await form.locator('input[name="effect"][value="allow"]').check();
      await form.locator('select[name="requester"]').selectOption('class:academic');
      await form.locator('input[name="categories"][value="health.heart"]').check();
      await form.locator('input[name="purposes"][value="research"]').check();
      await form.locator('input[name="until"]').fill('2027-03-01');
    }),
  },
  { label: 'proxies and personas', open: get('/proxies') },
  {
    label: 'proxies and personas, with a refusal',
    status: 422,
    open: send('/proxies', '/proxies/delegations', (form) => form.locator('input[name="proxy"]').fill('mbr_nobody')),
  },
  { label: 'Why? (the form)', open: get('/why') },
  {
    label: 'Why? (an answer)',
    open: (page) =>
      get(`/why?requester=${content.lab.id}&categories=health.heart&categories=identity&purpose=research`)(page),
  },
  { label: 'Why? (a question missing a part)', open: (page) => get(`/why?requester=${content.lab.id}&purpose=research`)(page) },
  { label: 'access log', open: get('/access') },
  { label: 'connections', open: get('/connections') },
  { label: 'my data', open: get('/data') },
  { label: 'leaving the co-op', open: get('/leave') },
  { label: 'receipts', open: get('/receipts') },
  { label: 'receipts, verified', open: send('/receipts', '/receipts/verify') },
];

/** @type {Check[]} the stewards' pages */
const STEWARD_PAGES = [
  { label: 'overview', open: get('/stewards') },
  { label: 'third parties', open: get('/stewards/third-parties') },
  { label: 'third parties, with a notice', open: get('/stewards/third-parties?done=third-party-suspended') },
  { label: 'approving a third party, with problems', status: 422, open: send('/stewards/third-parties', '/stewards/third-parties') },
  {
    label: "a new third party's secret",
    open: send('/stewards/third-parties', '/stewards/third-parties', async (form) => {
      await form.locator('input[name="name"]').fill(`Approved ${Math.random().toString(36).slice(2, 8)}`);
      await form.locator('input[name="class"][value="nonprofit"]').check();
    }),
  },
  { label: 'a new client secret (confirmation)', open: (page) => get(`/stewards/third-parties/${content.rotating.id}/secret`)(page) },
  {
    label: 'a new client secret (shown)',
    open: (page) =>
      send(`/stewards/third-parties/${content.rotating.id}/secret`, `/stewards/third-parties/${content.rotating.id}/secret`)(page),
  },
  { label: 'personas', open: get('/stewards/personas') },
  { label: 'publishing a persona, with problems', status: 422, open: send('/stewards/personas', '/stewards/personas') },
  { label: 'co-op rules', open: get('/stewards/coop-rules') },
  { label: 'adding a co-op rule, with problems', status: 422, open: send('/stewards/coop-rules', '/stewards/coop-rules') },
  { label: 'members', open: get('/stewards/members') },
  {
    label: "a member's sign-in link",
    open: (page) => send('/stewards/members', `/stewards/members/${content.ada.id}/sign-in-link`)(page),
  },
  { label: 'datasets and licenses', open: get('/stewards/datasets') },
  { label: 'revoking a license (confirmation)', open: (page) => get(`/stewards/licenses/${content.license.id}/revoke`)(page) },
  { label: 'overdue deletion receipts', open: get('/stewards/deletion-receipts') },
];

/** @type {Check[]} the pages of someone not signed in */
const VISITOR_PAGES = [
  { label: 'sign-in', open: get('/sign-in') },
  { label: 'sign-in, after the session ended', open: get('/sign-in?ended=1') },
  { label: "a member's sign-in link", open: async (page) => page.goto(await signInLink(broker, content.bea.id)) },
  { label: "a steward's sign-in link", open: async (page) => page.goto(await signInLink(broker)) },
  { label: 'a link that no longer works', status: 410, open: get('/sign-in/link?token=dcl_used') },
  { label: 'page not found', status: 404, open: get('/no-such-page') },
  { label: 'sign-in with an identity provider', open: get('/sign-in', () => oidcBroker.url) },
  {
    label: "a member's enrolment link",
    open: async (page) => {
      const member = await oidcBroker.createMember({ display_name: 'Enrolling', registry: 'public' });
      return page.goto(await signInLink(oidcBroker, member.id));
    },
  },
  {
    label: 'a refused answer of the identity provider',
    status: 400,
    open: get('/sign-in/oidc/callback?state=forged&code=forged', () => oidcBroker.url),
  },
];

/**
 * Opens the page, checks it is the one meant, then runs axe on it.
 * @param {import('playwright-core').Page} page
 * @param {Check} check
 * @param {string} locale
 */
async function checkPage(page, { label, status = 200, open }, locale) {
  const answer = await open(page);
  assert.equal(answer.status(), status, `${label}: answered ${answer.status()} (${await page.title()})`);
  assert.match(answer.headers()['content-type'] ?? '', /^text\/html/, `${label}: not a web page`);
  assert.equal(await page.locator('html').getAttribute('lang'), locale.slice(0, 2));
  await expectAccessible(page, `${label} (${locale})`);
}

for (const locale of LOCALES) {
  describe(`the members' pages are accessible (${locale})`, TIMEOUT, () => {
    let page;
    before(async () => {
      page = await signedInMember(browser, broker, content.ada, { locale });
    });
    after(() => page?.context().close());

    for (const check of MEMBER_PAGES) {
      test(check.label, () => checkPage(page, check, locale));
    }

    test('proxies and personas, of a member others rely on', async (t) => {
      const bea = await signedInMember(browser, broker, content.bea, { locale });
      t.after(() => bea.context().close());
      await checkPage(bea, { label: 'proxies of a proxy', open: get('/proxies') }, locale);
    });

    test("a steward's page, to a member (forbidden)", () =>
      checkPage(page, { label: 'forbidden', status: 403, open: get('/stewards') }, locale));

    test('a form sent with a forged CSRF value (expired)', async () => {
      await page.goto(`${broker.url}/data`);
      await forgeCsrf(page);
      const answer = await submit(page, page.locator('form[action="/sign-out/everywhere"] button'));
      assert.equal(answer.status(), 403);
      await expectAccessible(page, `the form has expired (${locale})`);
    });
  });

  describe(`the stewards' pages are accessible (${locale})`, TIMEOUT, () => {
    let page;
    before(async () => {
      page = await signedInSteward(browser, broker, { locale });
    });
    after(() => page?.context().close());

    for (const check of STEWARD_PAGES) {
      test(check.label, () => checkPage(page, check, locale));
    }

    test('overdue deletion receipts list the withdrawal not confirmed', async () => {
      // The withdrawal is overdue a second after it was sent.
      const deadline = Date.now() + 5_000;
      let rows = 0;
      while (rows === 0 && Date.now() < deadline) {
        await page.goto(`${broker.url}/stewards/deletion-receipts`);
        rows = await page.locator('table tbody tr').count();
      }
      assert.equal(rows, 1, 'no overdue withdrawal listed');
      await page.getByRole('cell', { name: 'Sleep Lab' }).waitFor();
      await expectAccessible(page, `overdue deletion receipts, with a row (${locale})`);
    });
  });

  describe(`the sign-in and error pages are accessible (${locale})`, TIMEOUT, () => {
    let page;
    before(async () => {
      page = await newPage(browser, { locale });
    });
    after(() => page?.context().close());

    for (const check of VISITOR_PAGES) {
      test(check.label, () => checkPage(page, check, locale));
    }
  });
}

describe('the keyboard alone', TIMEOUT, () => {
  /**
   * Presses Tab until the focused element matches `selector`, and checks
   * the focus is visible on it.
   * @param {import('playwright-core').Page} page
   * @param {string} selector
   */
  async function tabTo(page, selector) {
    for (let presses = 0; presses < 80; presses += 1) {
      await page.keyboard.press('Tab');
      const focused = await page.evaluate((wanted) => {
        const element = document.activeElement;
        if (!element?.matches(wanted)) return null;
        const style = getComputedStyle(element);
        return {
          visible: element.matches(':focus-visible') && style.outlineStyle !== 'none' && style.outlineWidth !== '0px',
        };
      }, selector);
      if (focused) {
        assert.ok(focused.visible, `the focus on ${selector} is not visible`);
        return;
      }
    }
    throw new Error(`Tab never reached ${selector} on ${page.url()}`);
  }

  test('adds a rule on /consent: Tab, Space, typing and Enter, no click', async (t) => {
    const member = await broker.createMember({ display_name: 'Kim Keys', registry: 'public' });
    const page = await signedInMember(browser, broker, member);
    t.after(() => page.context().close());
    await page.goto(`${broker.url}/consent`);

    // The first stop skips to the content.
    await page.keyboard.press('Tab');
    assert.equal(await page.evaluate(() => document.activeElement?.textContent), 'Skip to the content');
    await page.keyboard.press('Enter');
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'main');

    await tabTo(page, 'input[name="effect"]');
    await page.keyboard.press('Space');
    await tabTo(page, 'select[name="requester"]');
    await page.keyboard.type('Academic');
    await tabTo(page, 'input[name="categories"][value="health.heart"]');
    await page.keyboard.press('Space');
    await tabTo(page, 'input[name="purposes"][value="research"]');
    await page.keyboard.press('Space');
    await tabTo(page, 'form[action="/consent/preview"] button[type="submit"]');
    await Promise.all([page.waitForURL(`${broker.url}/consent/preview`), page.keyboard.press('Enter')]);

    await page.getByText('Academic researchers may use your heart data for research.', { exact: true }).waitFor();
    await tabTo(page, 'form[action="/consent/rules"] button[type="submit"]');
    await Promise.all([page.waitForURL(/\/consent\?done=rule-added$/), page.keyboard.press('Enter')]);

    const { json } = await broker.api('GET', '/v1/me/rules', { token: member.token });
    assert.equal(json.length, 1);
    assert.equal(json[0].effect, 'allow');
    assert.deepEqual(json[0].requester, { class: 'academic' });
    assert.deepEqual(json[0].data_categories, ['health.heart']);
    assert.deepEqual(json[0].purposes, ['research']);
  });
});

describe("a phone's screen (390 × 844): no page scrolls sideways, and each stays accessible", TIMEOUT, () => {
  const PHONE = { width: 390, height: 844 };

  /** @param {import('playwright-core').Page} page */
  function overflow(page) {
    return page.evaluate(() => ({
      scrollWidth: document.documentElement.scrollWidth,
      clientWidth: document.documentElement.clientWidth,
    }));
  }

  for (const locale of LOCALES) {
    describe(locale, () => {
      let member;
      let steward;
      before(async () => {
        member = await signedInMember(browser, broker, content.ada, { locale, viewport: PHONE });
        steward = await signedInSteward(browser, broker, { locale, viewport: PHONE });
      });
      after(async () => {
        await member?.context().close();
        await steward?.context().close();
      });

      const pages = [
        ...['/', '/consent', '/proxies', '/why', '/access', '/connections', '/data', '/leave', '/receipts'].map((path) => ['member', path]),
        ...[
          '/stewards',
          '/stewards/third-parties',
          '/stewards/personas',
          '/stewards/coop-rules',
          '/stewards/members',
          '/stewards/datasets',
          '/stewards/deletion-receipts',
        ].map((path) => ['steward', path]),
      ];
      for (const [who, path] of pages) {
        test(path, async () => {
          const page = who === 'member' ? member : steward;
          const answer = await page.goto(`${broker.url}${path}`);
          assert.equal(answer.status(), 200);
          const { scrollWidth, clientWidth } = await overflow(page);
          assert.ok(scrollWidth <= clientWidth, `${path} is ${scrollWidth} px wide in a ${clientWidth} px window`);
          // What scrolls sideways within the page (a wide table) must be
          // reachable with the keyboard, among the rest.
          await expectAccessible(page, `${path} on a phone (${locale})`);
        });
      }
    });
  }
});
