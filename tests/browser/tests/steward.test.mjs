/**
 * The stewards' pages, flow by flow, as a steward uses them in a browser;
 * what each form did is checked through the JSON API with the admin
 * token.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { startBroker } from '../lib/broker.mjs';
import { launchBrowser, newPage } from '../lib/browser.mjs';
import {
  addRule,
  connect,
  createThirdParty,
  heading,
  notice,
  requestAccess,
  rule,
  signedInMember,
  signedInSteward,
  submit,
  thirdPartyToken,
  useSignInLink,
} from '../lib/datacoop.mjs';

const TIMEOUT = { timeout: 60_000 };

describe("the stewards' pages", TIMEOUT, () => {
  let broker;
  let browser;
  before(async () => {
    broker = await startBroker({
      env: {
        DATACOOP_RATE_LIMIT_SIGN_IN_PER_ADDRESS: '0',
        // A withdrawal is overdue a second after it is sent.
        DATACOOP_DELETION_GRACE_SECS: '1',
      },
    });
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
    await broker?.stop();
  });

  /** A page signed in as a steward, closed after the test. */
  async function steward(t) {
    const page = await signedInSteward(browser, broker);
    t.after(() => page.context().close());
    return page;
  }

  /** A GET of the JSON API as the stewards, answering the body. */
  async function admin(path) {
    const { status, json } = await broker.api('GET', path, { token: broker.adminToken });
    assert.equal(status, 200, `GET ${path}: ${status} ${JSON.stringify(json)}`);
    return json;
  }

  /** Every third party, through the API. */
  async function thirdParties() {
    const listed = await admin('/v1/third-parties?limit=200');
    return listed.items ?? listed;
  }

  /** @param {import('playwright-core').Page} page @param {string} path */
  function open(page, path) {
    return page.goto(new URL(path, broker.url).href);
  }

  /** The dd following the dt `term` in the page's facts. */
  function fact(page, term) {
    return page.locator('dl.facts dt', { hasText: term }).locator('xpath=following-sibling::dd[1]').innerText();
  }

  test('the overview counts what the API lists, and links to each section', async (t) => {
    await createThirdParty(broker, { name: 'Counted Lab' });
    const page = await steward(t);

    assert.equal(await heading(page), 'Stewards');
    const nav = page.getByRole('navigation', { name: "Stewards' pages" });
    assert.equal(await nav.getByRole('link', { name: 'Overview' }).getAttribute('aria-current'), 'page');
    const section = page.getByRole('region', { name: 'Third parties' });
    const approved = await section.locator('dt', { hasText: 'Approved' }).locator('xpath=following-sibling::dd[1]').innerText();
    assert.equal(approved, String((await thirdParties()).length));
    const personas = page.getByRole('region', { name: 'Personas' });
    const published = await personas.locator('dd').first().innerText();
    assert.equal(published, String((await admin('/v1/personas')).length));

    await submit(page, section.getByRole('link', { name: 'Third parties' }));
    assert.equal(new URL(page.url()).pathname, '/stewards/third-parties');
    assert.equal(await heading(page), 'Third parties');
  });

  test('a steward signing in at / is taken to the overview; a member is not let in', async (t) => {
    const page = await steward(t);
    await open(page, '/');
    assert.equal(new URL(page.url()).pathname, '/stewards');

    const ada = await broker.createMember({ display_name: 'Ada', registry: 'public' });
    const member = await signedInMember(browser, broker, ada);
    t.after(() => member.context().close());
    const refused = await open(member, '/stewards/third-parties');
    assert.equal(refused.status(), 403);
    assert.equal(await heading(member), 'Not for this account');
  });

  test('approving a third party shows its secret once, and the secret works', async (t) => {
    const page = await steward(t);
    await open(page, '/stewards/third-parties');
    const form = page.locator('form[action="/stewards/third-parties"]');

    await form.getByLabel('Name', { exact: true }).fill('Open Health Institute');
    await form.getByRole('radio', { name: 'Non-profit organisations' }).check();
    const answer = await submit(page, form.getByRole('button', { name: 'Approve third party' }));

    assert.equal(answer.status(), 200);
    assert.equal(answer.headers()['cache-control'], 'no-store');
    assert.equal(await heading(page), 'Copy the secret now');
    await page.getByText('Open Health Institute is approved. These are its client credentials.').waitFor();
    const clientId = await fact(page, 'Client ID');
    const clientSecret = await fact(page, 'Client secret');
    const approved = (await thirdParties()).find((thirdParty) => thirdParty.name === 'Open Health Institute');
    assert.ok(approved, 'the API lists no Open Health Institute');
    assert.equal(approved.client_id, clientId);
    assert.equal(approved.class, 'nonprofit');
    assert.equal(approved.status, 'active');
    assert.equal((await thirdPartyToken(broker, { client_id: clientId, client_secret: clientSecret })).status, 200);

    // Once: the list shows the client id, never the secret.
    await submit(page, page.getByRole('link', { name: 'Back to the third parties' }));
    const row = page.getByRole('row').filter({ has: page.getByRole('rowheader', { name: 'Open Health Institute' }) });
    await row.getByText(clientId).waitFor();
    assert.ok(!(await page.content()).includes(clientSecret), 'the secret is shown again');
  });

  test('an approval with problems lists them, by field, and approves nothing', async (t) => {
    const page = await steward(t);
    const before = (await thirdParties()).length;
    await open(page, '/stewards/third-parties');
    const form = page.locator('form[action="/stewards/third-parties"]');

    await form.getByLabel('Webhook endpoint (optional)').fill('ftp://example.org/hook');
    const answer = await submit(page, form.getByRole('button', { name: 'Approve third party' }));

    assert.equal(answer.status(), 422);
    const summary = page.getByRole('alert');
    await summary.getByText('Please correct the following:').waitFor();
    assert.equal(await summary.getByRole('link', { name: /^Enter a name/ }).getAttribute('href'), '#approve-name');
    assert.equal(await summary.getByRole('link', { name: /requester classes/ }).getAttribute('href'), '#approve-class');
    assert.equal(await summary.getByRole('link', { name: /https address/ }).getAttribute('href'), '#approve-webhook_url');
    assert.equal(await form.getByLabel('Name', { exact: true }).getAttribute('aria-invalid'), 'true');
    assert.equal(await form.getByLabel('Webhook endpoint (optional)').inputValue(), 'ftp://example.org/hook');
    assert.equal((await thirdParties()).length, before);
  });

  test('a third party is suspended, then reinstated', async (t) => {
    const lab = await createThirdParty(broker, { name: 'Pausable Lab' });
    const page = await steward(t);
    await open(page, '/stewards/third-parties');
    const row = page.getByRole('row').filter({ has: page.getByRole('rowheader', { name: 'Pausable Lab' }) });

    await submit(page, row.getByRole('button', { name: 'Suspend Pausable Lab' }));

    assert.equal(await notice(page), 'The third party is suspended: every request it makes is denied.');
    assert.equal((await admin(`/v1/third-parties/${lab.id}`)).status, 'suspended');
    await row.getByRole('cell', { name: 'Suspended' }).waitFor();

    await submit(page, row.getByRole('button', { name: 'Reinstate Pausable Lab' }));

    assert.equal(await notice(page), 'The third party is reinstated.');
    assert.equal((await admin(`/v1/third-parties/${lab.id}`)).status, 'active');
    await row.getByRole('cell', { name: 'Active' }).waitFor();
  });

  test('a new client secret, after a confirmation, replaces the old one', async (t) => {
    const lab = await createThirdParty(broker, { name: 'Rotating Lab' });
    assert.equal((await thirdPartyToken(broker, lab)).status, 200);
    const page = await steward(t);
    await open(page, '/stewards/third-parties');

    await submit(page, page.getByRole('link', { name: 'New client secret for Rotating Lab' }));
    assert.equal(await heading(page), 'New client secret');
    await page.getByText('stops the current secret, and every access token issued with it, at once').waitFor();
    assert.equal((await thirdPartyToken(broker, lab)).status, 200, 'the confirmation changed the secret');
    const answer = await submit(page, page.getByRole('button', { name: 'New client secret for Rotating Lab' }));

    assert.equal(answer.status(), 200);
    assert.equal(await heading(page), 'Copy the secret now');
    await page.getByText('Rotating Lab has a new client secret.').waitFor();
    const secret = await fact(page, 'Client secret');
    assert.notEqual(secret, lab.client_secret);
    assert.notEqual((await thirdPartyToken(broker, lab)).status, 200, 'the old secret still works');
    assert.equal((await thirdPartyToken(broker, { client_id: lab.client_id, client_secret: secret })).status, 200);
  });

  test('a persona is published with its rule', async (t) => {
    const page = await steward(t);
    await open(page, '/stewards/personas');
    const form = page.locator('form[action="/stewards/personas"]');

    await form.getByRole('textbox', { name: 'Name', exact: true }).fill('Heart researcher');
    await form.getByLabel('Description').fill('Helps research on hearts.\n\nNothing else.');
    await form.getByRole('radio', { name: 'Allows' }).check();
    await form.getByLabel('Who', { exact: true }).selectOption({ label: 'Academic researchers' });
    await form.locator('#persona-category-health-heart').check();
    await form.locator('#persona-purpose-research').check();
    await submit(page, form.getByRole('button', { name: 'Publish persona' }));

    assert.equal(await notice(page), 'The persona is published.');
    const published = (await admin('/v1/personas')).find((persona) => persona.name === 'Heart researcher');
    assert.ok(published, 'the API lists no Heart researcher');
    assert.equal(published.description, 'Helps research on hearts.\n\nNothing else.');
    assert.equal(published.rules.length, 1);
    assert.equal(published.rules[0].effect, 'allow');
    assert.deepEqual(published.rules[0].requester, { class: 'academic' });
    assert.deepEqual(published.rules[0].data_categories, ['health.heart']);
    assert.deepEqual(published.rules[0].purposes, ['research']);
    const card = page.getByRole('region', { name: 'Heart researcher' });
    await card.getByText('Nothing else.').waitFor();
    await card.getByText('Academic researchers may use your heart data for research.').waitFor();
    await card.getByText(published.id).waitFor();
  });

  test('a persona with problems is not published, and the form keeps what was typed', async (t) => {
    const page = await steward(t);
    const before = (await admin('/v1/personas')).length;
    await open(page, '/stewards/personas');
    const form = page.locator('form[action="/stewards/personas"]');

    await form.getByLabel('Description').fill('No name and no rule.');
    const answer = await submit(page, form.getByRole('button', { name: 'Publish persona' }));

    assert.equal(answer.status(), 422);
    const summary = page.getByRole('alert');
    assert.equal(await summary.getByRole('link', { name: /^Enter a name/ }).getAttribute('href'), '#persona-name');
    assert.equal(await form.getByLabel('Description').inputValue(), 'No name and no rule.');
    assert.equal((await admin('/v1/personas')).length, before);
  });

  test('a co-op rule is added (deny only), shown in words, and deleted', async (t) => {
    const page = await steward(t);
    await open(page, '/stewards/coop-rules');
    const form = page.locator('form[action="/stewards/coop-rules"]');
    await form.getByText('Co-op rules can only deny').waitFor();

    await form.getByLabel('Who', { exact: true }).selectOption({ label: 'Companies' });
    await form.locator('#coop-category-health').check();
    await form.locator('#coop-purpose-marketing').check();
    await form.getByLabel('Until (optional)').fill('2027-03-01');
    await submit(page, form.getByRole('button', { name: 'Add co-op rule' }));

    assert.equal(await notice(page), 'The co-op rule is added. It applies from now on.');
    const rules = await admin('/v1/coop/rules');
    assert.equal(rules.length, 1);
    assert.equal(rules[0].effect, 'deny');
    assert.deepEqual(rules[0].requester, { class: 'commercial' });
    assert.deepEqual(rules[0].data_categories, ['health']);
    assert.deepEqual(rules[0].purposes, ['marketing']);
    // It ends as the day given begins, as on the members' form.
    assert.equal(Date.parse(rules[0].expires_at), Date.parse('2027-03-01T00:00:00Z'));
    const table = page.getByRole('table', { name: 'Co-op rules, oldest first' });
    await table.getByText('Companies may not use your health data for marketing').waitFor();
    const remove = table.getByRole('button', { name: 'Delete rule 1' });
    assert.match(await remove.getAttribute('aria-describedby'), /^coop-rule-/);

    await submit(page, remove);

    assert.equal(await notice(page), 'The co-op rule is deleted.');
    assert.deepEqual(await admin('/v1/coop/rules'), []);
    await page.getByText('The co-op has no rules of its own.').waitFor();
  });

  test('members are listed (the anonymous by id only), and a sign-in link made for one works', async (t) => {
    const ada = await broker.createMember({ display_name: 'Ada Lovelace', registry: 'public' });
    const hidden = await broker.createMember({ display_name: 'Hidden Name', registry: 'anonymous' });
    const page = await steward(t);
    await open(page, '/stewards/members');

    const table = page.getByRole('table', { name: 'Members, in the order they joined' });
    const adaRow = table.getByRole('row').filter({ hasText: ada.id });
    await adaRow.getByRole('rowheader', { name: 'Ada Lovelace' }).waitFor();
    await adaRow.getByRole('cell', { name: 'Public', exact: true }).waitFor();
    const hiddenRow = table.getByRole('row').filter({ hasText: hidden.id });
    await hiddenRow.getByRole('rowheader', { name: 'Anonymous member' }).waitFor();
    assert.ok(!(await page.content()).includes('Hidden Name'), "an anonymous member's name is shown");
    await hiddenRow.getByRole('button', { name: `Create a sign-in link for member ${hidden.id}` }).waitFor();

    await submit(page, adaRow.getByRole('button', { name: 'Create a sign-in link for Ada Lovelace' }));

    assert.equal(await heading(page), 'Sign-in link');
    await page.getByText('This link is shown only once. It works once.').waitFor();
    const link = await page.getByRole('main').locator('code').innerText();
    assert.ok(link.startsWith(`${broker.url}/sign-in/link?token=`), link);
    const member = await newPage(browser);
    t.after(() => member.context().close());
    await useSignInLink(member, link);
    assert.equal(new URL(member.url()).pathname, '/');
    await member.getByText('Hello Ada Lovelace.').waitFor();
  });

  test('datasets and licenses are listed, and a license is revoked after a confirmation', async (t) => {
    const lab = await createThirdParty(broker, { name: 'Licensed Lab' });
    const dataset = await broker.api('POST', '/v1/datasets', {
      token: broker.adminToken,
      body: { name: 'Sleep by region', purpose: 'research', data_categories: ['health.sleep'], measures: [{ op: 'count' }], epsilon: 0.5 },
    });
    assert.equal(dataset.status, 201, JSON.stringify(dataset.json));
    const now = Date.now();
    const license = await broker.api('POST', '/v1/licenses', {
      token: broker.adminToken,
      body: {
        dataset: dataset.json.id,
        licensee: lab.id,
        valid_from: new Date(now).toISOString(),
        valid_until: new Date(now + 30 * 86_400_000).toISOString(),
        data_life_days: 7,
      },
    });
    assert.equal(license.status, 201, JSON.stringify(license.json));
    const page = await steward(t);
    await open(page, '/stewards/datasets');

    const datasets = page.getByRole('table', { name: 'Datasets, in the order they were defined' });
    const datasetRow = datasets.getByRole('row').filter({ hasText: 'Sleep by region' });
    await datasetRow.getByText('ε 0.5 per build').waitFor();
    const licenses = page.getByRole('table', { name: 'Licenses, in the order they were given' });
    const row = licenses.getByRole('row').filter({ hasText: license.json.id });
    await row.getByRole('cell', { name: 'Licensed Lab', exact: true }).waitFor();
    await row.getByRole('cell', { name: '7 days', exact: true }).waitFor();

    await submit(page, row.getByRole('link', { name: 'Revoke the license of Sleep by region for Licensed Lab' }));
    assert.equal(await heading(page), 'Revoke a license');
    assert.equal((await admin(`/v1/licenses/${license.json.id}`)).status, 'active');
    await submit(page, page.getByRole('button', { name: 'Revoke the license of Sleep by region for Licensed Lab' }));

    assert.equal(await notice(page), 'The license is revoked. The licensee is told.');
    assert.equal((await admin(`/v1/licenses/${license.json.id}`)).status, 'revoked');
    await row.getByRole('cell', { name: /^Revoked on / }).waitFor();
    assert.equal(await row.getByRole('link').count(), 0);
  });

  test('a withdrawal not confirmed in time is listed as overdue', async (t) => {
    const lab = await createThirdParty(broker, { name: 'Forgetful Lab' });
    const ada = await broker.createMember({ display_name: 'Ada', registry: 'public' });
    await broker.api('PUT', '/v1/me/data/health.heart', { token: ada.token, body: { resting_bpm: 61 } });
    await addRule(broker, ada, rule());
    const subject = await connect(broker, ada, lab);
    const access = await requestAccess(broker, lab, subject);
    assert.equal(access.decision, 'allow');
    const page = await steward(t);
    await open(page, '/stewards/deletion-receipts');
    const row = page.getByRole('row').filter({ hasText: ada.id });
    assert.equal(await row.count(), 0);

    // Ada cuts the lab off: it must confirm deleting what it received.
    const cut = await broker.api('DELETE', `/v1/me/connections/${lab.id}`, { token: ada.token });
    assert.equal(cut.status, 204);
    // It is overdue a second later (DATACOOP_DELETION_GRACE_SECS).
    const deadline = Date.now() + 5_000;
    while ((await row.count()) === 0 && Date.now() < deadline) await open(page, '/stewards/deletion-receipts');

    await row.getByRole('cell', { name: 'Forgetful Lab' }).waitFor();
    await row.getByRole('cell', { name: 'Heart', exact: true }).waitFor();
    await row.getByRole('cell', { name: 'Research', exact: true }).waitFor();
    assert.equal(await row.count(), 1);
    const overdue = await admin('/v1/deletion-receipts?overdue=true');
    const listed = (overdue.items ?? overdue).filter((item) => JSON.stringify(item).includes(ada.id));
    assert.equal(listed.length, 1, JSON.stringify(overdue));
  });
});
