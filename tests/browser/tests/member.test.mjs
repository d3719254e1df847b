/**
 * The members' pages, flow by flow, as a member uses them in a browser;
 * what each form did is checked through the JSON API with the member's
 * own token, so a page that only looks right does not pass.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, before, describe, test } from 'node:test';

import { startBroker } from '../lib/broker.mjs';
import { launchBrowser } from '../lib/browser.mjs';
import {
  addRule,
  connect,
  createPersona,
  createThirdParty,
  heading,
  notice,
  requestAccess,
  rule,
  signedInMember,
  submit,
} from '../lib/datacoop.mjs';

const TIMEOUT = { timeout: 60_000 };

describe("the members' pages", TIMEOUT, () => {
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

  /** A member of the public registry, and a page signed in as them. */
  async function member(t, name = 'Ada Lovelace', body = {}) {
    const created = await broker.createMember({ display_name: name, registry: 'public', ...body });
    const page = await signedInMember(browser, broker, created);
    t.after(() => page.context().close());
    return { ...created, page };
  }

  /** A GET of the JSON API with the member's token, answering the body. */
  async function apiAs(someone, path) {
    const { status, json } = await broker.api('GET', path, { token: someone.token });
    assert.equal(status, 200, `GET ${path}: ${status} ${JSON.stringify(json)}`);
    return json;
  }

  /** @param {import('playwright-core').Page} page @param {string} path */
  function open(page, path) {
    return page.goto(new URL(path, broker.url).href);
  }

  test('the home page greets the member by name and says nothing applies yet', async (t) => {
    const ada = await member(t);
    const { page } = ada;

    assert.equal(await heading(page), 'Who may use what');
    await page.getByText('Hello Ada Lovelace. This is what currently applies to your data').waitFor();
    await page.getByText('No rules apply to your data yet, so no third party may use it.').waitFor();
    const nav = page.getByRole('navigation', { name: 'Main' });
    assert.equal(await nav.getByRole('link', { name: 'Who may use what' }).getAttribute('aria-current'), 'page');
  });

  test('a rule is added through its preview, shown in words, and removed', async (t) => {
    const ada = await member(t);
    const { page } = ada;
    await open(page, '/consent');
    await page.getByText('You have no rules of your own.').waitFor();

    const form = page.locator('form[action="/consent/preview"]');
    await form.getByRole('radio', { name: 'Allow' }).check();
    await form.getByLabel('Who', { exact: true }).selectOption({ label: 'Academic researchers' });
    await form.locator('input[name="categories"][value="health.heart"]').check();
    await form.locator('input[name="purposes"][value="research"]').check();
    await form.getByLabel('Until (optional)').fill('2027-03-01');
    const preview = await submit(page, form.getByRole('button', { name: 'Check the rule' }));

    assert.equal(preview.status(), 200);
    assert.equal(await heading(page), 'Check your rule');
    const sentence = 'Academic researchers may use your heart data for research, until 1 March 2027.';
    await page.getByRole('main').getByText(sentence, { exact: true }).waitFor();
    assert.deepEqual(await apiAs(ada, '/v1/me/rules'), [], 'the preview saved the rule');

    await submit(page, page.getByRole('button', { name: 'Save this rule' }));

    assert.equal(new URL(page.url()).pathname, '/consent');
    assert.equal(await notice(page), 'Your rule is saved and already in force.');
    const rules = await apiAs(ada, '/v1/me/rules');
    assert.equal(rules.length, 1);
    assert.equal(rules[0].effect, 'allow');
    assert.deepEqual(rules[0].requester, { class: 'academic' });
    assert.deepEqual(rules[0].data_categories, ['health.heart']);
    assert.deepEqual(rules[0].purposes, ['research']);
    assert.equal(Date.parse(rules[0].expires_at), Date.parse('2027-03-01T00:00:00Z'));
    // The button's name is short; the rule's sentence describes it.
    const remove = page.getByRole('button', { name: 'Remove rule 1' });
    assert.equal(await remove.getAttribute('aria-describedby'), 'rule-1');
    assert.equal(await page.locator('#rule-1').innerText(), sentence);
    await remove.waitFor();

    await submit(page, remove);

    assert.equal(await notice(page), 'The rule is removed. Third parties that relied on it are told.');
    assert.deepEqual(await apiAs(ada, '/v1/me/rules'), []);
    await page.getByText('You have no rules of your own.').waitFor();
  });

  test('an incomplete rule is sent back with a message by each field, and nothing saved', async (t) => {
    const ada = await member(t);
    const { page } = ada;
    await open(page, '/consent');
    const form = page.locator('form[action="/consent/preview"]');

    const empty = await submit(page, form.getByRole('button', { name: 'Check the rule' }));

    assert.equal(empty.status(), 422);
    assert.equal(await heading(page), 'My rules');
    const effect = page.getByRole('group', { name: 'Do you allow or forbid it?' });
    assert.equal(await effect.getAttribute('aria-describedby'), 'effect-error');
    assert.equal(await page.locator('#effect-error').innerText(), 'Choose whether you allow or forbid it.');
    assert.equal(await form.getByLabel('Who', { exact: true }).getAttribute('aria-describedby'), 'requester-error');
    assert.equal(await page.locator('#requester-error').innerText(), 'Choose who the rule is about.');
    // Every mistake is shown at once.
    assert.equal(await page.locator('#categories-error').innerText(), 'Choose at least one kind of data.');
    assert.equal(await page.locator('#purposes-error').innerText(), 'Choose at least one purpose.');

    // Who and whether are kept; what and for what are still missing.
    await form.getByRole('radio', { name: 'Forbid' }).check();
    await form.getByLabel('Who', { exact: true }).selectOption({ label: 'Companies' });
    const partial = await submit(page, form.getByRole('button', { name: 'Check the rule' }));

    assert.equal(partial.status(), 422);
    assert.equal(await page.locator('#categories-error').innerText(), 'Choose at least one kind of data.');
    assert.equal(await page.locator('#purposes-error').innerText(), 'Choose at least one purpose.');
    assert.equal(await page.getByRole('group', { name: 'Which of your data' }).getAttribute('aria-describedby'), 'categories-error');
    assert.equal(await form.getByRole('radio', { name: 'Forbid' }).isChecked(), true);
    assert.equal(await form.getByLabel('Who', { exact: true }).inputValue(), 'class:commercial');
    assert.deepEqual(await apiAs(ada, '/v1/me/rules'), []);
  });

  test('the home page shows a rule in words under its category, decided by the member', async (t) => {
    const created = await broker.createMember({ display_name: 'Ada Lovelace', registry: 'public' });
    await addRule(broker, created, rule({ expires_at: '2027-03-01T00:00:00Z' }));
    const page = await signedInMember(browser, broker, created);
    t.after(() => page.context().close());

    const health = page.getByRole('region', { name: 'Health' });
    await health.getByRole('heading', { name: 'Decided by you' }).waitFor();
    await health.getByText('Academic researchers may use your heart data for research, until 1 March 2027.').waitFor();
    await health.getByText('Allowed', { exact: true }).waitFor();
  });

  test('a persona is adopted, then taken back', async (t) => {
    const persona = await createPersona(broker, {
      name: 'Careful researcher',
      description: 'Research by universities, nothing else.',
      rules: [rule({ data_categories: ['health'] })],
    });
    const ada = await member(t);
    const { page } = ada;
    await open(page, '/proxies');
    const card = page.getByRole('region', { name: 'Careful researcher' });
    await card.getByText('Academic researchers may use your health data for research.').waitFor();

    await submit(page, card.getByRole('button', { name: 'Adopt Careful researcher' }));

    assert.equal(await notice(page), 'You now follow the persona. It decides for you from now on.');
    await card.getByText('You follow this persona').waitFor();
    const delegations = await apiAs(ada, '/v1/me/delegations');
    assert.equal(delegations.length, 1);
    assert.deepEqual(delegations[0].to, { persona: persona.id });
    assert.deepEqual(delegations[0].data_categories, ['*']);
    await page.getByText('Handed to Careful researcher: all your data for any purpose').waitFor();

    await submit(page, page.getByRole('button', { name: 'Take back what you handed to Careful researcher' }));

    assert.equal(await notice(page), 'Taken back: you decide this yourself again, from now on.');
    assert.deepEqual(await apiAs(ada, '/v1/me/delegations'), []);
    await page.getByText('Nobody: you decide everything yourself.').waitFor();
    await card.getByRole('button', { name: 'Adopt Careful researcher' }).waitFor();
  });

  test('decisions are handed to a member who accepts delegations, who sees who relies on them', async (t) => {
    const bea = await member(t, 'Bea Proxy');
    const ada = await member(t, 'Ada Lovelace');

    // Bea opts in on her page.
    await open(bea.page, '/proxies');
    await bea.page.getByText('You do not accept delegations.').waitFor();
    await submit(bea.page, bea.page.getByRole('button', { name: 'Accept delegations' }));
    assert.equal(await notice(bea.page), 'You now accept delegations.');
    assert.equal((await apiAs(bea, '/v1/me')).accepts_delegations, true);
    await bea.page.getByText(`Your member id, to give to those who want to rely on you: ${bea.id}`).waitFor();

    // Ada hands Bea her health decisions.
    await open(ada.page, '/proxies');
    const form = ada.page.locator('form[action="/proxies/delegations"]');
    await form.getByLabel("The member's id").fill(bea.id);
    await form.locator('input[name="categories"][value="health"]').check();
    await submit(ada.page, form.getByRole('button', { name: 'Hand over these decisions' }));

    assert.equal(await notice(ada.page), 'Your decisions are handed over. You can take them back at any time.');
    const delegations = await apiAs(ada, '/v1/me/delegations');
    assert.equal(delegations.length, 1);
    assert.deepEqual(delegations[0].to, { member: bea.id });
    assert.deepEqual(delegations[0].data_categories, ['health']);
    await ada.page.getByText('Handed to Bea Proxy: your health data for any purpose').waitFor();

    await open(bea.page, '/proxies');
    await bea.page.getByText('One member relies on you.').waitFor();
    await bea.page.getByRole('listitem').filter({ hasText: /^Ada Lovelace$/ }).waitFor();
    assert.equal((await apiAs(bea, '/v1/me/delegators')).count, 1);

    // Bea opts out again.
    await submit(bea.page, bea.page.getByRole('button', { name: 'Stop accepting delegations' }));
    assert.equal((await apiAs(bea, '/v1/me')).accepts_delegations, false);
  });

  test('handing decisions to a member who does not accept them is refused in words', async (t) => {
    const cleo = await broker.createMember({ display_name: 'Cleo', registry: 'public' });
    const ada = await member(t);
    await open(ada.page, '/proxies');
    const form = ada.page.locator('form[action="/proxies/delegations"]');

    await form.getByLabel("The member's id").fill(cleo.id);
    const answer = await submit(ada.page, form.getByRole('button', { name: 'Hand over these decisions' }));

    assert.equal(answer.status(), 422);
    assert.equal(await ada.page.getByRole('alert').innerText(), 'That member does not accept delegations.');
    assert.deepEqual(await apiAs(ada, '/v1/me/delegations'), []);
  });

  test('"Why?" answers for an approved third party, category by category, as the API does', async (t) => {
    const lab = await createThirdParty(broker, { name: 'Heartbeat Lab', class: 'academic' });
    const created = await broker.createMember({ display_name: 'Ada Lovelace', registry: 'public' });
    await addRule(broker, created, rule());
    const page = await signedInMember(browser, broker, created);
    t.after(() => page.context().close());
    await open(page, '/why');

    await page.getByLabel('Which third party').selectOption({ label: 'Heartbeat Lab' });
    await page.locator('input[name="categories"][value="health.heart"]').check();
    await page.locator('input[name="categories"][value="location"]').check();
    await page.getByLabel('For what', { exact: true }).selectOption('research');
    await submit(page, page.getByRole('button', { name: 'Ask' }));

    const url = new URL(page.url());
    assert.equal(url.pathname, '/why');
    assert.equal(url.searchParams.get('requester'), lab.id);
    await page.getByRole('heading', { name: 'The answer' }).waitFor();
    const heart = page.getByRole('region', { name: 'Heart' });
    await heart.getByText('Allowed', { exact: true }).waitFor();
    await heart.getByText('A rule allows it.').waitFor();
    await heart.getByText('Decided by your own rules.').waitFor();
    const location = page.getByRole('region', { name: 'Location' });
    await location.getByText('Not allowed', { exact: true }).waitFor();
    await location.getByText('No rule allows it, so it stays closed.').waitFor();

    const { status, json } = await broker.api('POST', '/v1/me/explain', {
      token: created.token,
      body: { requester: lab.id, action: 'access', data_categories: ['health.heart', 'location'], purpose: 'research' },
    });
    assert.equal(status, 200);
    assert.deepEqual(
      json.categories.map(({ category, decision }) => [category, decision]),
      [
        ['health.heart', 'allow'],
        ['location', 'deny'],
      ],
    );
  });

  test('"Why?" without a category says what is missing', async (t) => {
    await createThirdParty(broker, { name: 'Quiet Lab', class: 'academic' });
    const { page } = await member(t);
    await open(page, '/why');

    await page.getByLabel('Which third party').selectOption({ label: 'Quiet Lab' });
    await page.getByLabel('For what', { exact: true }).selectOption('research');
    await submit(page, page.getByRole('button', { name: 'Ask' }));

    assert.equal(await page.getByRole('alert').innerText(), 'Choose at least one kind of data.');
  });

  test("the access log lists a third party's requests, and filters them", async (t) => {
    const lab = await createThirdParty(broker, { name: 'Pulse Study', class: 'academic' });
    const created = await broker.createMember({ display_name: 'Ada Lovelace', registry: 'public' });
    await addRule(broker, created, rule());
    const subject = await connect(broker, created, lab);
    await requestAccess(broker, lab, subject);
    await requestAccess(broker, lab, subject, { data_categories: ['location'] });
    const page = await signedInMember(browser, broker, created);
    t.after(() => page.context().close());

    await open(page, '/access');

    const table = page.getByRole('table', { name: 'Accesses, newest first' });
    const rows = table.locator('tbody tr');
    assert.equal(await rows.count(), 2);
    const log = await apiAs(created, '/v1/me/access-log');
    assert.equal((log.items ?? log).length, 2);
    const newest = rows.nth(0);
    await newest.getByText('Pulse Study').waitFor();
    await newest.getByText('Location · Research').waitFor();
    await newest.getByText('Not allowed').waitFor();
    const oldest = rows.nth(1);
    await oldest.getByText('Heart · Research').waitFor();
    await oldest.getByText('Allowed', { exact: true }).waitFor();

    await page.getByLabel('Third party', { exact: true }).selectOption({ label: 'Pulse Study' });
    await page.getByLabel('To', { exact: true }).fill('2020-01-31');
    await submit(page, page.getByRole('button', { name: 'Show' }));

    await page.getByText('Nothing to show.').waitFor();
    assert.equal(new URL(page.url()).searchParams.get('to'), '2020-01-31');
  });

  test('a connection shows its pseudonym, and is cut off', async (t) => {
    const lab = await createThirdParty(broker, { name: 'Cardio Group', class: 'academic' });
    const created = await broker.createMember({ display_name: 'Ada Lovelace', registry: 'public' });
    const subject = await connect(broker, created, lab);
    const page = await signedInMember(browser, broker, created);
    t.after(() => page.context().close());

    await open(page, '/connections');
    const row = page.getByRole('table', { name: 'Your connections' }).getByRole('row').filter({ hasText: 'Cardio Group' });
    await row.getByText(subject, { exact: true }).waitFor();

    await submit(page, row.getByRole('button', { name: 'Cut off Cardio Group' }));

    assert.equal(
      await notice(page),
      'Cut off. Everything it received from you is withdrawn, and it is told to delete it.',
    );
    await page.getByText('You are not connected to any third party.').waitFor();
    assert.deepEqual(await apiAs(created, '/v1/me/connections'), []);
  });

  test('"My data" shows what the co-op holds, and the export downloads it all', async (t) => {
    const created = await broker.createMember({ display_name: 'Ada Lovelace', registry: 'public' });
    const put = await broker.api('PUT', '/v1/me/data/health.heart', {
      token: created.token,
      body: { resting_bpm: 58 },
    });
    assert.equal(put.status, 204);
    await addRule(broker, created, rule());
    const page = await signedInMember(browser, broker, created);
    t.after(() => page.context().close());

    await open(page, '/data');
    await page.getByRole('definition').filter({ hasText: '{"resting_bpm":58}' }).waitFor();
    await page.getByRole('term').filter({ hasText: 'Heart' }).waitFor();

    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page.getByRole('link', { name: 'Download my export' }).click(),
    ]);

    assert.equal(download.suggestedFilename(), 'datacoop-export.json');
    const exported = JSON.parse(await readFile(await download.path(), 'utf8'));
    assert.equal(exported.profile.id, created.id);
    assert.equal(exported.profile.display_name, 'Ada Lovelace');
    assert.deepEqual(exported.data, { 'health.heart': { resting_bpm: 58 } });
    assert.equal(exported.rules.length, 1);
    assert.ok(Array.isArray(exported.access_log));
  });

  test("receipts list the member's log entries, and verify them", async (t) => {
    const created = await broker.createMember({ display_name: 'Ada Lovelace', registry: 'public' });
    await addRule(broker, created, rule());
    const page = await signedInMember(browser, broker, created);
    t.after(() => page.context().close());
    await open(page, '/receipts');
    const table = page.getByRole('table', { name: 'Your entries, newest first' });
    await table.getByRole('cell', { name: 'Rule added' }).waitFor();
    await table.getByRole('cell', { name: 'You joined' }).waitFor();

    await submit(page, page.getByRole('button', { name: 'Verify my entries' }));

    assert.match(
      await page.getByRole('main').getByRole('status').innerText(),
      /^Verified: \d+ of your entries are in the signed checkpoint of \d+ entries/,
    );
  });

  test('leaving the co-op, after a confirmation, ends the membership and its token', async (t) => {
    const ada = await member(t);
    const { page } = ada;
    await open(page, '/data');

    await submit(page, page.getByRole('link', { name: 'Leave the co-op…' }));
    assert.equal(await heading(page), 'Leave the co-op');
    await page.getByText('Leaving cannot be undone.').waitFor();
    assert.equal((await broker.api('GET', '/v1/me', { token: ada.token })).status, 200);

    await submit(page, page.getByRole('button', { name: 'Leave the co-op now' }));

    assert.equal(new URL(page.url()).pathname, '/sign-in');
    assert.equal((await broker.api('GET', '/v1/me', { token: ada.token })).status, 401);
    await open(page, '/');
    assert.equal(new URL(page.url()).pathname, '/sign-in');
  });
});
