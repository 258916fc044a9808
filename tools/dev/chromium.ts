/**
 * Debian's Chromium for the status page's browser test. `npm test` runs `install-chromium.ts` first:
 * it uses a Chromium that is already there (CHROMIUM_PATH, or Debian's /usr/bin/chromium), and as root
 * on Debian installs the `chromium` package from Debian's archive. Browser downloads by test tools
 * (`npx playwright install`) need hosts this project cannot reach, so Playwright here is only
 * playwright-core, driving this binary.
 */
import { existsSync } from 'node:fs';

const candidates = ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome'];

export function findChromium(env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (env.CHROMIUM_PATH) return existsSync(env.CHROMIUM_PATH) ? env.CHROMIUM_PATH : undefined;
  return candidates.find((path) => existsSync(path));
}

/**
 * What the browser is started with: headless, as root without the sandbox, and without the background
 * services whose connections this machine's closed network refuses.
 */
export const chromiumArgs = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
