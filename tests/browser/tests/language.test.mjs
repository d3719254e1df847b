/**
 * The pages' languages: the browser's language by default, and the
 * switcher's choice, which sticks from page to page and wins over the
 * browser's language.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { startBroker } from '../lib/broker.mjs';
import { launchBrowser, newPage } from '../lib/browser.mjs';
import { heading, signedInMember, submit } from '../lib/datacoop.mjs';

const TIMEOUT = { timeout: 60_000 };

/** @param {import('playwright-core').Page} page */
function lang(page) {
  return page.locator('html').getAttribute('lang');
}

describe('the language switcher', TIMEOUT, () => {
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

  test("pages are in the browser's language by default", async (t) => {
    const page = await newPage(browser, { locale: 'de-DE' });
    t.after(() => page.context().close());

    await page.goto(`${broker.url}/sign-in`);

    assert.equal(await lang(page), 'de');
    assert.equal(await heading(page), 'Anmelden');
    const switcher = page.getByRole('navigation', { name: 'Sprache' });
    const english = switcher.getByRole('link', { name: 'English' });
    assert.equal(await english.getAttribute('lang'), 'en');
    assert.equal(await english.getAttribute('hreflang'), 'en');
  });

  test('"Deutsch" switches a member\'s page to German, and the next page stays German', async (t) => {
    const ada = await broker.createMember({ display_name: 'Ada Lovelace', registry: 'public' });
    const page = await signedInMember(browser, broker, ada);
    t.after(() => page.context().close());
    await page.goto(`${broker.url}/consent`);
    assert.equal(await lang(page), 'en');

    await submit(page, page.getByRole('navigation', { name: 'Language' }).getByRole('link', { name: 'Deutsch' }));

    assert.equal(new URL(page.url()).pathname, '/consent', 'the switcher left the page');
    assert.equal(await lang(page), 'de');
    assert.equal(await heading(page), 'Meine Regeln');

    await submit(page, page.getByRole('navigation', { name: 'Hauptnavigation' }).getByRole('link', { name: 'Vertretungen und Profile' }));

    assert.equal(new URL(page.url()).pathname, '/proxies');
    assert.equal(await lang(page), 'de');
    assert.equal(await heading(page), 'Vertretungen und Profile');
    await page.getByRole('button', { name: 'Abmelden' }).waitFor();

    // A rule previewed in German reads in German.
    await page.goto(`${broker.url}/consent`);
    const form = page.locator('form[action="/consent/preview"]');
    await form.getByRole('radio', { name: 'Erlauben' }).check();
    await form.getByLabel('Wer', { exact: true }).selectOption('class:academic');
    await form.locator('input[name="categories"][value="health.heart"]').check();
    await form.locator('input[name="purposes"][value="research"]').check();
    await form.getByLabel('Bis (optional)').fill('2027-03-01');
    await submit(page, form.getByRole('button', { name: 'Regel prüfen' }));
    assert.equal(await heading(page), 'Ihre Regel prüfen');
    await page
      .getByText('Erlaubt für Hochschulen und Forschungseinrichtungen: Ihre Daten (Herz), für Forschung, bis 1. März 2027.')
      .waitFor();
  });

  test('"English" switches back, wins over a German browser, and keeps the page\'s message', async (t) => {
    const page = await newPage(browser, { locale: 'de-DE' });
    t.after(() => page.context().close());
    await page.goto(`${broker.url}/sign-in?ended=1`);
    assert.equal(await lang(page), 'de');
    await page.getByText('Ihre Sitzung ist abgelaufen. Bitte melden Sie sich erneut an.').waitFor();

    await submit(page, page.getByRole('link', { name: 'English' }));

    assert.equal(await lang(page), 'en');
    assert.equal(await heading(page), 'Sign in');
    await page.goto(`${broker.url}/sign-in/link?token=dcl_unknown`);
    assert.equal(await lang(page), 'en');
    assert.equal(await heading(page), 'This link no longer works');
    // The message the page showed is still there after switching.
    await page.goto(`${broker.url}/sign-in?ended=1`);
    await submit(page, page.getByRole('link', { name: 'Deutsch' }));
    const url = new URL(page.url());
    assert.equal(`${url.pathname}${url.search}`, '/sign-in?ended=1');
    await page.getByText('Ihre Sitzung ist abgelaufen. Bitte melden Sie sich erneut an.').waitFor();
  });

  test("switching language on a sign-in link's page keeps the link", async (t) => {
    const ada = await broker.createMember({ display_name: 'Ada Lovelace', registry: 'public' });
    const { json } = await broker.api('POST', `/v1/members/${ada.id}/sign-in-links`, { token: broker.adminToken });
    const page = await newPage(browser);
    t.after(() => page.context().close());
    await page.goto(json.url);

    await submit(page, page.getByRole('link', { name: 'Deutsch' }));

    assert.equal(await lang(page), 'de');
    assert.equal(page.url(), json.url, 'the switcher left the link');
    await submit(page, page.getByRole('button', { name: 'Anmelden', exact: true }));
    assert.equal(new URL(page.url()).pathname, '/');
    assert.equal(await heading(page), 'Wer was nutzen darf');
  });

  test('the switcher returns only to a page of this site', async (t) => {
    const page = await newPage(browser);
    t.after(() => page.context().close());

    await page.goto(`${broker.url}/language/de?next=//evil.example/`);

    assert.equal(new URL(page.url()).origin, broker.url);
    assert.equal(await lang(page), 'de');
  });
});
