/**
 * Opens the live dashboard in headless Chromium (Debian's /usr/bin/chromium, driven by
 * playwright-core) against the admin API over an in-memory target with simulated hand-offs, checks
 * that backends, connections, the rate chart and recent hand-offs render, and keeps a screenshot
 * in test-output/admin-dashboard.png.
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryAdminTarget } from '../../controller/admin/testing/memory-target.js';
import { createAdminApi, type AdminApi } from '../../controller/admin/server.js';

const CHROMIUM = '/usr/bin/chromium';
const OUT = resolve('test-output');
const present = existsSync(CHROMIUM);
if (!present) console.log(`admin-dashboard: skipped: ${CHROMIUM} is absent (apt-get install -y chromium)`);

describe.skipIf(!present)('admin dashboard in headless Chromium', () => {
  let api: AdminApi;
  let target: MemoryAdminTarget;
  let base: string;
  let load: NodeJS.Timeout | undefined;
  const profile = mkdtempSync(join(tmpdir(), 'prism-chromium-'));

  beforeAll(async () => {
    target = new MemoryAdminTarget({
      backends: ['web-1', 'web-2', 'web-3'].map((name, i) => ({ name, ip: `10.0.1.${i + 1}`, mac: `02:00:00:00:01:0${i + 1}`, port: i + 2, agentAddress: `10.0.1.${i + 1}:7070`, weight: i === 2 ? 2 : 1 })),
    });
    target.setLoad('web-1', { recentThroughputBps: 12_500_000, queueLength: 1 });
    target.setLoad('web-2', { recentThroughputBps: 48_000_000, queueLength: 4 });
    target.setLoad('web-3', { recentThroughputBps: 3_000_000 });
    api = await createAdminApi({ target, token: 'dashboard-test-token-0123456789', rateIntervalMs: 250 });
    await api.app.listen({ host: '127.0.0.1', port: 0 });
    const addr = api.app.server.address();
    base = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
    // A running load: 12 clients; every 15 ms one request starts and earlier ones finish.
    const conns = Array.from({ length: 12 }, (_, i) => target.openConnection(`192.168.7.${i + 10}:${40000 + i}`));
    let n = 0;
    load = setInterval(() => {
      for (const t of target.inFlight()) if (Math.random() < 0.6) target.finishTransaction(t.id, Math.random() < 0.05 ? 'timeout' : 'done', 2000 + Math.floor(Math.random() * 500_000));
      const c = conns[n++ % conns.length]!;
      if (target.connection(c)?.owner === 'controller') target.startTransaction(c, { method: n % 5 === 0 ? 'POST' : 'GET', target: `/objects/${n % 40}` });
    }, 15);
  });

  afterAll(async () => {
    if (load) clearInterval(load);
    await api?.app.close();
    rmSync(profile, { recursive: true, force: true });
  });

  it('shows backends with their load, connections, the hand-off rate chart and recent hand-offs', async () => {
    const ctx = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
      viewport: { width: 1280, height: 900 },
    });
    try {
      const page = ctx.pages()[0] ?? (await ctx.newPage());
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(e.message));
      page.on('console', (m) => {
        if (m.type() === 'error') errors.push(m.text());
      });
      await page.goto(`${base}/dashboard?interval=250`);
      // Page-side expressions are strings: this file is compiled without the DOM lib.
      await page.waitForFunction("document.querySelectorAll('#backends tbody tr[data-backend]').length === 3", null, { timeout: 15_000 });
      // Let the chart collect a few intervals of the running load.
      await page.waitForFunction(
        `(document.getElementById('rate-done')?.getAttribute('points') ?? '').trim().split(' ').filter(Boolean).length >= 8
          && document.querySelectorAll('#handoffs tbody tr td').length > 6`,
        null,
        { timeout: 15_000 },
      );
      expect(await page.locator('#backends tbody tr[data-backend]').allTextContents()).toEqual([
        expect.stringContaining('web-1'),
        expect.stringContaining('web-2'),
        expect.stringContaining('web-3'),
      ]);
      expect(await page.locator('#backends tr[data-backend="web-2"]').textContent()).toContain('48.0 MB/s');
      expect(await page.locator('#conn-count').textContent()).toBe('12');
      expect(await page.locator('#health').textContent()).toBe('ok');
      expect(await page.locator('#policy').textContent()).toBe('default');
      expect(await page.locator('#handoffs tbody tr').first().textContent()).toMatch(/web-\d/);
      expect(Number(await page.locator('#pktin').textContent())).toBeGreaterThan(0);
      expect(errors, errors.join('\n')).toEqual([]);

      // Drain one backend from the API: the dashboard shows it.
      const r = await fetch(`${base}/backends/web-3/drain`, { method: 'POST', headers: { authorization: 'Bearer dashboard-test-token-0123456789' } });
      expect(r.status).toBe(200);
      await page.waitForFunction(`document.querySelector('#backends tr[data-backend="web-3"] .pill')?.textContent === 'draining'`, null, { timeout: 5000 });

      mkdirSync(OUT, { recursive: true });
      const shot = join(OUT, 'admin-dashboard.png');
      await page.screenshot({ path: shot, fullPage: true });
      expect(existsSync(shot)).toBe(true);
      console.log(`admin-dashboard: screenshot kept at ${shot}`);
    } finally {
      await ctx.close();
    }
  });
});
