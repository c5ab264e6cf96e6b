// shot.mjs URL OUT.png [WIDTH] [--key KEY] — a screenshot of one page in
// headless Chromium, printing the page's console messages and failed
// requests: for looking at the UI by hand (docs/WEB-UI.md).
import { chromium } from 'playwright-core';

const [url, out, width = '1280'] = process.argv.slice(2);
const ki = process.argv.indexOf('--key');
const browser = await chromium.launch({ executablePath: process.env.AGORA_CHROMIUM || '/usr/bin/chromium', args: ['--no-sandbox'] });
const ctx = await browser.newContext({ viewport: { width: Number(width), height: 900 } });
if (ki > 0) await ctx.addInitScript((k) => sessionStorage.setItem('agora.apiKey', k), process.argv[ki + 1]);
const page = await ctx.newPage();
page.on('console', (m) => console.log(`console.${m.type()}: ${m.text()} ${m.location().url || ''}`));
page.on('pageerror', (e) => console.log(`pageerror: ${e.message}`));
page.on('requestfailed', (r) => console.log(`requestfailed: ${r.url()}`));
await page.goto(url);
await page.waitForTimeout(1500);
await page.screenshot({ path: out, fullPage: true });
await browser.close();
