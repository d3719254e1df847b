/**
 * Chromium for the tests: the system's build (Debian's `chromium`), driven
 * by playwright-core, which downloads no browser of its own.
 */
import { chromium } from 'playwright-core';

/**
 * Chromium's flags: headless, and nothing that reaches the internet by
 * itself (updates, sync, background fetches). The host resolver rule makes
 * every name but localhost unresolvable, so a page that links to anything
 * on the internet (the provider's development screens import a web font)
 * fails fast instead of waiting on the network, and a test never depends
 * on it.
 */
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-quic',
  '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost',
];

/**
 * Launches Chromium: `DATACOOP_CHROMIUM`, else /usr/bin/chromium.
 * @returns {Promise<import('playwright-core').Browser>}
 */
export function launchBrowser() {
  return chromium.launch({
    executablePath: process.env.DATACOOP_CHROMIUM || '/usr/bin/chromium',
    args: CHROMIUM_ARGS,
  });
}

/**
 * A page in a context of its own: no cookies or storage shared with any
 * other page. Close it with `page.context().close()`.
 * @param {import('playwright-core').Browser} browser
 * @param {object} [options]
 * @param {string} [options.locale] the browser's language, sent as Accept-Language
 * @param {{width: number, height: number}} [options.viewport] Playwright's 1280×720 by default
 * @returns {Promise<import('playwright-core').Page>}
 */
export async function newPage(browser, { locale = 'en-GB', viewport } = {}) {
  const context = await browser.newContext(viewport ? { locale, viewport } : { locale });
  return context.newPage();
}
