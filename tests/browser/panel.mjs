// Headless Chromium through the admin panel, as an admin would use it. Driven by
// tests/e2e/panel.rs, which starts the server and passes, in the environment:
//   PANEL_URL (http://127.0.0.1:PORT), ADMIN_ADDRESS, ADMIN_PASSWORD,
//   NEW_DOMAIN, NEW_ACCOUNT, NEW_PASSWORD, SCREENSHOTS (a directory).
// Exits non-zero with a message on the first thing that is not as expected.
import { chromium } from 'playwright-core';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';

const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
};
const url = env('PANEL_URL');
const shots = env('SCREENSHOTS');
const domain = env('NEW_DOMAIN');
const account = env('NEW_ACCOUNT');
mkdirSync(shots, { recursive: true });

function expect(ok, what) {
  if (!ok) throw new Error(`expected: ${what}`);
}

const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  // Playwright gives every launch a fresh, empty profile of its own.
});
try {
  const page = await browser.newPage();
  const shot = (name) => page.screenshot({ path: join(shots, `${name}.png`), fullPage: true });
  const text = () => page.textContent('body');

  // Signed out, the panel sends us to the sign-in page.
  await page.goto(`${url}/`);
  expect(page.url().endsWith('/login'), `redirect to /login, got ${page.url()}`);
  await shot('login');

  // A wrong password is refused with a message.
  await page.fill('input[name=address]', env('ADMIN_ADDRESS'));
  await page.fill('input[name=password]', 'not-the-password');
  await page.click('button:has-text("Sign in")');
  expect((await text()).includes('wrong address or password'), 'the wrong-password message');
  await shot('login-refused');

  await page.fill('input[name=address]', env('ADMIN_ADDRESS'));
  await page.fill('input[name=password]', env('ADMIN_PASSWORD'));
  await page.click('button:has-text("Sign in")');
  expect((await page.textContent('h1')) === 'Dashboard', 'the dashboard after sign-in');
  expect(await page.$('svg polyline') !== null, 'the 48-hour chart');
  await shot('dashboard');

  // A domain, then its DNS records.
  await page.click('nav >> text=Domains');
  await page.fill('input[name=name]', domain);
  await page.click('button:has-text("Add")');
  expect((await page.textContent('h1')) === domain, `the page of ${domain}`);
  const records = await text();
  expect(records.includes(`_domainkey.${domain}`) && records.includes('v=DKIM1'), 'the DKIM TXT record');
  expect(records.includes(`_dmarc.${domain}`) && records.includes('MX'), 'the DMARC and MX records');
  await shot('domain');
  await page.click('nav >> text=Domains');
  expect((await text()).includes(domain), 'the new domain in the list');
  await shot('domains');

  // An account in it.
  await page.click('nav >> text=Accounts');
  await page.fill('form[action="/accounts"] input[name=address]', account);
  await page.fill('form[action="/accounts"] input[name=password]', env('NEW_PASSWORD'));
  await page.fill('form[action="/accounts"] input[name=quota]', '10000000');
  await page.click('button:has-text("Create")');
  expect((await text()).includes(`created ${account}`), 'the created notice');
  await shot('accounts');
  await page.click(`a:has-text("${account}")`);
  expect((await page.textContent('h1')) === account, 'the account page');
  expect((await text()).includes('9.5 MiB'), 'its quota');
  await shot('account');

  const pages = [['Aliases', 'Aliases'], ['Queue', 'Outbound queue'], ['Policy', 'Policy'],
    ['Webhooks', 'Webhooks'], ['Sessions', 'Sessions'], ['API tokens', 'API tokens'], ['Config', 'Config']];
  for (const [name, heading] of pages) {
    await page.click(`nav >> text=${name}`);
    expect((await page.textContent('h1')) === heading, `the ${heading} page`);
    await shot(name.toLowerCase().replace(' ', '-'));
    if (name === 'Webhooks') {
      expect((await text()).includes(env('WEBHOOK_URL')), 'the configured webhook target');
      await page.click('button:has-text("Send test event")');
      // Failed (nothing listens there) or, had some other test bound the port, answered.
      const result = await page.textContent('p.notice');
      expect(result.includes(`test event`) && result.includes(env('WEBHOOK_URL')), 'the test result shown');
      await shot('webhook-tested');
    }
    if (name === 'API tokens') {
      await page.fill('input[name=name]', 'browser test');
      await page.click('button:has-text("Make a token")');
      expect((await page.textContent('#new-token')).startsWith('mrt_'), 'the new token shown once');
      await shot('api-token-made');
    }
  }
  expect((await text()).includes('Generation'), 'the config generation');

  await page.click('button:has-text("Sign out")');
  expect(page.url().endsWith('/login'), 'back at sign-in after signing out');
  await page.goto(`${url}/accounts`);
  expect(page.url().endsWith('/login'), 'signed out for real');
  console.log('panel: all checks passed');
} finally {
  await browser.close();
}
