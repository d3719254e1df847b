/**
 * A local OpenID Provider (`oidc-provider`) for the broker's sign-in: one
 * confidential client using the authorization code flow with PKCE, a fixed
 * set of accounts, and the provider's built-in development screens (a login
 * form that accepts any password, then a consent screen).
 */
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import http from 'node:http';

import Provider from 'oidc-provider';

import { closeServer, listenOnLoopback } from './net.mjs';

/**
 * The accounts one can sign in as. `sub` is the account's name; `groups`
 * is what the broker maps to roles (`datacoop-stewards` makes a steward).
 */
export const ACCOUNTS = Object.freeze({
  alice: { name: 'Alice Member', email: 'alice@example.org', groups: [] },
  stella: { name: 'Stella Steward', email: 'stella@example.org', groups: ['datacoop-stewards'] },
  // Nobody the co-op knows: no membership is linked to this account.
  olive: { name: 'Olive Outsider', email: 'olive@example.org', groups: ['readers'] },
});

/**
 * Which claims each scope releases. `openid` releases `sub` alone.
 */
const CLAIMS_BY_SCOPE = {
  openid: ['sub'],
  profile: ['name'],
  email: ['email', 'email_verified'],
  groups: ['groups'],
};

/**
 * Lifetimes, in seconds, of what the provider issues: a code is redeemed at
 * once, everything else outlives any test. (oidc-provider asks for these to
 * be chosen, rather than its defaults taken.)
 */
const TTL_SECONDS = {
  AuthorizationCode: 60,
  Interaction: 3600,
  Session: 3600,
  Grant: 3600,
  AccessToken: 3600,
  IdToken: 3600,
};

/**
 * @typedef {object} OidcProvider
 * @property {string} issuer `http://localhost:PORT`, exactly as discovery publishes it
 * @property {string} clientId
 * @property {string} clientSecret
 * @property {() => Promise<void>} stop
 */

/**
 * Starts the provider on a free loopback port.
 * @param {object} options
 * @param {string} options.redirectUri the client's one redirect URI (an http://localhost URL is fine)
 * @param {string} [options.clientId]
 * @param {string} [options.clientSecret] a random one by default
 * @returns {Promise<OidcProvider>}
 */
export async function startOidcProvider({
  redirectUri,
  clientId = 'datacoop',
  clientSecret = randomBytes(24).toString('base64url'),
}) {
  // Listen first: the issuer, and so the provider, needs the port.
  const server = http.createServer();
  const port = await listenOnLoopback(server);
  const issuer = `http://localhost:${port}`;
  const provider = new Provider(issuer, configuration({ redirectUri, clientId, clientSecret }));
  server.on('request', provider.callback());
  return { issuer, clientId, clientSecret, stop: () => closeServer(server) };
}

/**
 * The provider's configuration: everything not set here is oidc-provider's
 * default (RS256 ID tokens, a userinfo endpoint, in-memory storage).
 * @param {{redirectUri: string, clientId: string, clientSecret: string}} client
 */
function configuration({ redirectUri, clientId, clientSecret }) {
  return {
    clients: [
      {
        client_id: clientId,
        client_secret: clientSecret,
        // A "web" client (the default application_type) may register an
        // http://localhost redirect URI as long as it does not use the
        // implicit flow, so nothing else is needed for one.
        redirect_uris: [redirectUri],
        response_types: ['code'],
        grant_types: ['authorization_code'],
        token_endpoint_auth_method: 'client_secret_basic',
      },
    ],
    scopes: Object.keys(CLAIMS_BY_SCOPE),
    claims: CLAIMS_BY_SCOPE,
    // By default an ID token that comes with an access token (as from the
    // token endpoint) carries no claim of profile, email or groups: those
    // are left to the userinfo endpoint. The broker reads them from the ID
    // token.
    conformIdTokenClaims: false,
    pkce: { methods: ['S256'], required: () => true },
    findAccount,
    // Keys of this run, so the provider does not fall back to its
    // development-only ones (and warn about them).
    jwks: { keys: [signingKey()] },
    cookies: { keys: [randomBytes(32).toString('base64url')] },
    features: { devInteractions: { enabled: true } },
    ttl: TTL_SECONDS,
  };
}

/**
 * oidc-provider's account lookup: an account of ACCOUNTS, or none.
 * @param {unknown} _ctx
 * @param {string} accountId
 */
async function findAccount(_ctx, accountId) {
  if (!Object.hasOwn(ACCOUNTS, accountId)) return undefined;
  const { name, email, groups } = ACCOUNTS[accountId];
  return {
    accountId,
    claims: async () => ({ sub: accountId, name, email, email_verified: true, groups }),
  };
}

/** A fresh RSA key to sign ID tokens (RS256, the default algorithm). */
function signingKey() {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { ...privateKey.export({ format: 'jwk' }), kid: 'browser-tests', use: 'sig', alg: 'RS256' };
}

/** Submitting a development screen can take a redirect or two. */
const SCREEN_TIMEOUT_MS = 10_000;

/** Login and consent are two screens; four means the provider goes round in circles. */
const MAX_SCREENS = 4;

/**
 * Signs in at the provider as `login` from a page the relying party sent
 * there, and goes through whatever screens follow: the login form unless
 * the browser already has a session, the consent screen unless the grant
 * was given before. Returns once the provider has redirected away (to the
 * relying party's redirect URI), with that page loaded.
 * @param {import('playwright-core').Page} page
 * @param {keyof typeof ACCOUNTS} login
 */
export async function signInAtProvider(page, login) {
  if (!Object.hasOwn(ACCOUNTS, login)) {
    // The development login form takes any name; an unknown one only
    // fails later, and obscurely, when the account is looked up.
    throw new Error(`no test account ${login}; there are: ${Object.keys(ACCOUNTS).join(', ')}`);
  }
  for (let screen = 0; screen < MAX_SCREENS; screen += 1) {
    const prompt = await currentPrompt(page);
    if (prompt === null) return;
    if (prompt === 'login') {
      await page.getByPlaceholder('Enter any login').fill(login);
      await page.getByPlaceholder('and password').fill('any password will do');
      await submit(page, 'Sign-in');
    } else if (prompt === 'consent') {
      await submit(page, 'Continue');
    } else {
      throw new Error(`unexpected provider screen ${prompt} at ${page.url()}`);
    }
  }
  throw new Error(`still at the provider after ${MAX_SCREENS} screens: ${page.url()}`);
}

/**
 * Which development screen the page shows ('login' or 'consent', from the
 * form's hidden `prompt` field), or null when the page is not one.
 * @param {import('playwright-core').Page} page
 */
async function currentPrompt(page) {
  if (!new URL(page.url()).pathname.startsWith('/interaction/')) return null;
  const field = page.locator('form input[type="hidden"][name="prompt"]');
  return (await field.count()) === 0 ? null : field.getAttribute('value');
}

/**
 * Clicks a screen's submit button and waits for the next page to load.
 * Every screen has a URL of its own (a new interaction id, or the redirect
 * URI), so a change of URL marks the end of the redirects.
 * @param {import('playwright-core').Page} page
 * @param {string} label the button's accessible name
 */
async function submit(page, label) {
  const before = page.url();
  await page.getByRole('button', { name: label }).click();
  await page.waitForURL((url) => url.href !== before, { timeout: SCREEN_TIMEOUT_MS });
}
