// A real, OpenID-certified provider (panva's oidc-provider) for the sign-in tests.
//
//   node tests/oidc/provider.mjs CONFIG.json
//
// Listens on 127.0.0.1 and, once listening, prints exactly one JSON line to stdout:
//   {"ready":true,"port":12345,"issuer":"...","origin":"http://127.0.0.1:12345"}
// Everything else (oidc-provider's own notices included) goes to stderr.
//
// The configuration file is described in tests/support/oidc_support.py (OidcProvider). This script adds
// to oidc-provider only what Cognito does differently, what the tests need to control, and a
// login page; the protocol itself (authorization, PKCE, token, refresh, revocation, userinfo,
// JWKS, discovery) is oidc-provider's, unchanged.

import { generateKeyPairSync, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import * as http from 'node:http';
import * as querystring from 'node:querystring';

import Provider from 'oidc-provider';

// oidc-provider writes its notices with console.info (stdout), which would break the one-line
// stdout contract: route every console method to stderr.
for (const name of ['log', 'info', 'debug']) {
  console[name] = (...args) => console.error(...args);
}

const config = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const cognito = Boolean(config.cognito_claims);
const users = config.users ?? [];
const ttl = { IdToken: 3600, AccessToken: 3600, RefreshToken: 30 * 24 * 3600, ...config.ttl };

// Cognito's endpoint paths (the hosted UI's /oauth2/*, the user pool's jwks.json, /logout).
const ROUTES = {
  authorization: '/oauth2/authorize',
  token: '/oauth2/token',
  revocation: '/oauth2/revoke',
  userinfo: '/oauth2/userInfo',
  jwks: '/.well-known/jwks.json',
  end_session: '/logout',
};

function signingKeys() {
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' });
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'jwk' });
  return [
    { ...rsa, kid: `rsa-${randomUUID()}`, alg: 'RS256', use: 'sig' },
    { ...ec, kid: `ec-${randomUUID()}`, alg: 'ES256', use: 'sig' },
  ];
}

function clientMetadata(c) {
  const metadata = {
    client_id: c.client_id,
    redirect_uris: c.redirect_uris,
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    id_token_signed_response_alg: c.id_token_signed_response_alg ?? 'RS256',
  };
  if (c.client_secret) {
    metadata.client_secret = c.client_secret;
    metadata.token_endpoint_auth_method = 'client_secret_basic';
  } else {
    metadata.token_endpoint_auth_method = 'none';
  }
  return metadata;
}

// Scope -> claims. In Cognito mode the ID token carries the user's attributes for the openid
// scope alone (as Cognito does); in standard mode the openid scope gives only `sub`, and
// oidc-provider's conformIdTokenClaims (default true) keeps scope-requested claims such as
// email out of the ID token: they are served by userinfo.
const CLAIMS = cognito
  ? {
      openid: ['sub', 'token_use', 'cognito:username', 'username', 'email', 'email_verified'],
      email: ['email', 'email_verified'],
      phone: ['phone_number', 'phone_number_verified'],
      profile: ['preferred_username'],
    }
  : {
      openid: ['sub'],
      email: ['email', 'email_verified'],
      profile: ['preferred_username'],
    };

const SCOPES = cognito
  ? ['openid', 'email', 'phone', 'profile', 'aws.cognito.signin.user.admin']
  : ['openid', 'offline_access', 'email', 'profile'];

function findUser(sub) {
  return users.find((u) => u.sub === sub);
}

async function findAccount(_ctx, sub) {
  const user = findUser(sub);
  if (!user) return undefined;
  return {
    accountId: user.sub,
    async claims(use) {
      const claims = {
        sub: user.sub,
        email: user.email,
        email_verified: true,
        preferred_username: user.username,
      };
      if (cognito && use === 'id_token') {
        claims.token_use = 'id';
        claims['cognito:username'] = user.username;
      }
      if (cognito && use === 'userinfo') {
        claims.username = user.username;
      }
      return claims;
    },
  };
}

function providerConfiguration() {
  const configuration = {
    clients: (config.clients ?? []).map(clientMetadata),
    jwks: { keys: signingKeys() },
    cookies: { keys: [randomBytes(32).toString('base64url')] },
    routes: ROUTES,
    scopes: SCOPES,
    claims: CLAIMS,
    findAccount,
    // Cognito's hosted UI: the code flow, client_secret_basic/_post or a public client.
    responseTypes: ['code'],
    clientAuthMethods: ['client_secret_basic', 'client_secret_post', 'none'],
    features: {
      devInteractions: { enabled: false },
      pushedAuthorizationRequests: { enabled: false },
      revocation: { enabled: true },
      userinfo: { enabled: true },
      rpInitiatedLogout: { enabled: true },
    },
    enabledJWA: { idTokenSigningAlgValues: ['RS256', 'ES256'] },
    pkce: { required: () => true },
    // Like Cognito's default: the same refresh token works until it expires or is revoked.
    rotateRefreshToken: Boolean(config.rotate_refresh_tokens),
    ttl: {
      IdToken: ttl.IdToken,
      AccessToken: ttl.AccessToken,
      RefreshToken: ttl.RefreshToken,
      AuthorizationCode: 600,
      Interaction: 3600,
      Session: 14 * 24 * 3600,
      Grant: 14 * 24 * 3600,
    },
    interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
    async renderError(ctx, out) {
      ctx.type = 'html';
      ctx.body = page('Error', `<pre id="oidc-error">${escapeHtml(JSON.stringify(out, null, 2))}</pre>`);
    },
  };
  if (cognito) {
    // Cognito issues a refresh token for every code grant, without offline_access, and it
    // outlives the browser session.
    configuration.issueRefreshToken = async (_ctx, client, code) =>
      client.grantTypeAllowed('refresh_token') && code.kind === 'AuthorizationCode';
    configuration.expiresWithSession = async () => false;
  }
  return configuration;
}

function escapeHtml(s) {
  return String(s).replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`);
}

function page(title, body) {
  return `<!doctype html><html><head><meta charset="utf-8"><title>${escapeHtml(title)}</title></head><body>${body}</body></html>`;
}

function loginPage(uid, message = '') {
  const error = message ? `<p id="oidc-error" role="alert">${escapeHtml(message)}</p>` : '';
  return page(
    'Sign in',
    `<h1>Sign in</h1>${error}
<form id="oidc-signin" method="post" action="/interaction/${escapeHtml(uid)}/login">
<label>Email <input type="email" name="email" autocomplete="username" required></label>
<label>Password <input type="password" name="password" autocomplete="current-password" required></label>
<button type="submit">Sign in</button>
</form>`,
  );
}

function sameSecret(a, b) {
  const x = Buffer.from(String(a));
  const y = Buffer.from(String(b));
  return x.length === y.length && timingSafeEqual(x, y);
}

async function readForm(req) {
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > 64 * 1024) throw new Error('request body too large');
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

// The consent every sign-in gets without asking: a Grant for what the request asks for
// (offline_access included, when it survived oidc-provider's checks).
async function autoConsent(provider, details, accountId) {
  const grant = details.grantId
    ? await provider.Grant.find(details.grantId)
    : new provider.Grant({ accountId, clientId: details.params.client_id });
  const missing = details.prompt.details ?? {};
  if (details.params.scope) grant.addOIDCScope(details.params.scope);
  if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
  if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
  for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes ?? {})) {
    grant.addResourceScope(indicator, scopes.join(' '));
  }
  return grant.save();
}

function interactions(provider) {
  const LOGIN = /^\/interaction\/([^/]+)\/login$/;
  const SHOW = /^\/interaction\/([^/]+)$/;
  return async (ctx, next) => {
    const show = ctx.method === 'GET' && SHOW.exec(ctx.path);
    const login = ctx.method === 'POST' && LOGIN.exec(ctx.path);
    if (!show && !login) return next();

    ctx.set('Cache-Control', 'no-store');
    const details = await provider.interactionDetails(ctx.req, ctx.res);
    if (details.uid !== (show || login)[1]) ctx.throw(400, 'interaction mismatch');

    if (show) {
      if (details.prompt.name === 'login') {
        ctx.type = 'html';
        ctx.body = loginPage(details.uid);
        return undefined;
      }
      // Already signed in (a live session): only consent is pending; give it.
      const grantId = await autoConsent(provider, details, details.session.accountId);
      ctx.redirect(
        await provider.interactionResult(ctx.req, ctx.res, { consent: { grantId } }, { mergeWithLastSubmission: true }),
      );
      ctx.status = 303;
      return undefined;
    }

    const form = querystring.parse(await readForm(ctx.req));
    const user = users.find((u) => u.email === form.email);
    if (!user || !sameSecret(user.password, form.password ?? '')) {
      ctx.status = 200;
      ctx.type = 'html';
      ctx.body = loginPage(details.uid, 'Incorrect email or password');
      return undefined;
    }
    const grantId = await autoConsent(provider, details, user.sub);
    const returnTo = await provider.interactionResult(
      ctx.req,
      ctx.res,
      { login: { accountId: user.sub }, consent: { grantId } },
      { mergeWithLastSubmission: false },
    );
    ctx.redirect(returnTo);
    ctx.status = 303;
    return undefined;
  };
}

// oidc-provider drops offline_access from an authorization request unless its prompt includes
// `consent` (OpenID Connect Core §11; lib/actions/authorization/scopes.js). Clients of Cognito
// never send prompt=consent, so a standard provider would silently issue no refresh token. Add
// `consent` to the prompt of such requests; every sign-in is consented to automatically anyway.
// prompt=none requests are left alone (consent cannot be combined with none).
function honourOfflineAccess() {
  return async (ctx, next) => {
    if (ctx.method === 'GET' && ctx.path === ROUTES.authorization) {
      const query = { ...ctx.query };
      const scopes = String(query.scope ?? '').split(' ');
      const prompts = String(query.prompt ?? '').split(' ').filter(Boolean);
      if (scopes.includes('offline_access') && !prompts.includes('consent') && !prompts.includes('none')) {
        query.prompt = [...prompts, 'consent'].join(' ');
        ctx.query = query;
      }
    }
    return next();
  };
}

// Test controls: /_test/health, /_test/fail-next-refresh.
function testControls() {
  let failNextRefresh = false;
  return async (ctx, next) => {
    if (ctx.path === '/_test/health' && ctx.method === 'GET') {
      ctx.body = { ok: true };
      return undefined;
    }
    if (ctx.path === '/_test/fail-next-refresh' && ctx.method === 'POST') {
      failNextRefresh = true;
      ctx.body = { armed: true };
      return undefined;
    }
    if (failNextRefresh && ctx.path === ROUTES.token && ctx.method === 'POST') {
      // Only read the body when armed; hand it on to oidc-provider as a string, which it parses
      // as the urlencoded body (it warns once on stderr that a body was read upstream).
      const raw = await readForm(ctx.req);
      if (querystring.parse(raw).grant_type === 'refresh_token') {
        failNextRefresh = false;
        ctx.status = 503;
        ctx.set('Cache-Control', 'no-store');
        ctx.body = { error: 'temporarily_unavailable' };
        return undefined;
      }
      ctx.request.body = raw;
    }
    return next();
  };
}

// Cognito answers a refresh_token grant without a refresh_token (the client keeps its own);
// oidc-provider without rotation echoes the same value back. Drop it in Cognito mode.
function cognitoRefreshResponse() {
  return async (ctx, next) => {
    await next();
    if (
      ctx.path === ROUTES.token
      && ctx.status === 200
      && ctx.oidc?.params?.grant_type === 'refresh_token'
      && ctx.body
      && typeof ctx.body === 'object'
    ) {
      delete ctx.body.refresh_token;
    }
  };
}

// Discovery under the issuer's path too, as Cognito publishes it
// (https://cognito-idp.REGION.amazonaws.com/POOL/.well-known/openid-configuration).
function discoveryAlias(issuerPath) {
  const alias = `${issuerPath}/.well-known/openid-configuration`;
  return async (ctx, next) => {
    if (issuerPath && ctx.path === alias) ctx.path = '/.well-known/openid-configuration';
    return next();
  };
}

const server = http.createServer();
server.listen(config.port ?? 0, '127.0.0.1', () => {
  const { port } = server.address();
  const origin = `http://127.0.0.1:${port}`;
  // "{origin}" in the configured issuer stands for this process's origin (its port is
  // ephemeral): "{origin}/" gives an issuer ending in "/", as Auth0's and Entra ID v1's do.
  const issuer = (config.issuer ?? origin).replaceAll('{origin}', origin);
  const provider = new Provider(issuer, providerConfiguration());
  const issuerPath = new URL(issuer).pathname.replace(/\/$/, '');

  provider.use(testControls());
  provider.use(discoveryAlias(issuerPath));
  provider.use(honourOfflineAccess());
  provider.use(interactions(provider));
  if (cognito) provider.use(cognitoRefreshResponse());
  for (const event of ['server_error', 'grant.error', 'authorization.error', 'userinfo.error', 'revocation.error']) {
    provider.on(event, (_ctx, err) => console.error(`oidc-provider ${event}:`, err?.message, err?.error_description ?? ''));
  }

  server.on('request', provider.callback());
  process.stdout.write(`${JSON.stringify({ ready: true, port, issuer, origin })}\n`);
});

for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => {
    server.close(() => process.exit(0));
    server.closeAllConnections();
  });
}
