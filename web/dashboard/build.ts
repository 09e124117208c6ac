/**
 * `npm run web:build` (and the install's postinstall): builds the dashboard and the explorer into
 * dist/web/ with Vite. An install without the dev dependencies (npm ci --omit=dev) has no Vite: it
 * says so and skips the build, and the gateway then answers / with how to build it.
 */
import { fileURLToPath } from 'node:url';

const configFile = fileURLToPath(new URL('vite.config.ts', import.meta.url));
const vite = await import('vite').catch(() => null);
if (!vite) {
  console.log('dashboard: Vite is not installed (dev dependencies omitted); skipping the dashboard build. Install them and run npm run web:build.');
} else {
  await vite.build({ configFile });
  console.log('dashboard: built into dist/web/');
}
