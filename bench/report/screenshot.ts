/**
 * Renders a bench report in headless Chromium and saves a PNG, to check the
 * charts are visible (not run in CI). Needs Debian's `chromium` package:
 *
 *   apt-get install chromium
 *   node dist/bench/report/screenshot.js bench/results/<run>.html [out.png]
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const [input, output = input?.replace(/\.html$/, '.png')] = process.argv.slice(2);
if (input === undefined || !existsSync(input)) {
  console.error('usage: node dist/bench/report/screenshot.js REPORT.html [OUT.png]');
  process.exit(2);
}
const browser = ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome'].find((path) => existsSync(path));
if (browser === undefined) {
  console.error('no Chromium found: apt-get install chromium');
  process.exit(2);
}
const profile = mkdtempSync(join(tmpdir(), 'mc-chromium-'));
try {
  execFileSync(browser, [
    '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
    `--user-data-dir=${profile}`, '--hide-scrollbars', '--window-size=1280,2600',
    `--screenshot=${resolve(output!)}`, pathToFileURL(resolve(input)).href,
  ], { stdio: 'inherit', timeout: 60_000 });
  console.log(`screenshot: ${output}`);
} finally {
  rmSync(profile, { recursive: true, force: true });
}
