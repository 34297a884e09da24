// Drives headless Chromium over the status board for tests/test_board_browser.py: loads each
// page at each window size, runs axe-core in it, saves a screenshot and reports what it saw as
// JSON on standard output. Usage: node board.cjs '<json job>' (see the Python test).
"use strict";
const fs = require("fs");
const path = require("path");

const job = JSON.parse(process.argv[2]);
const { chromium } = require(path.join(job.tools, "node_modules", "playwright-core"));
const axeSource = fs.readFileSync(
  path.join(job.tools, "node_modules", "axe-core", "axe.min.js"), "utf8");

async function visit(browser, page_, size, javaScript) {
  const context = await browser.newContext({
    viewport: { width: size.width, height: size.height }, javaScriptEnabled: javaScript,
  });
  const page = await context.newPage();
  const problems = [];
  page.on("console", (message) => {
    if (message.type() === "error") { problems.push(message.text()); }
  });
  page.on("pageerror", (error) => problems.push(String(error)));
  const response = await page.goto(job.base + page_.path, { waitUntil: "load", timeout: 30000 });
  const seen = {
    page: page_.name, size: size.name, javaScript, status: response.status(),
    csp: response.headers()["content-security-policy"] || null,
    title: await page.title(),
    text: await page.locator("main").innerText(),
    overflow: await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth),
    cards: await page.locator(".cards > li").count(),
    problems,
  };
  if (javaScript) {
    await page.evaluate(axeSource);
    const result = await page.evaluate(() => window.axe.run(document, {
      runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"] },
    }));
    seen.violations = result.violations.map((v) => ({
      id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map((n) => n.target.join(" ")),
    }));
    seen.passes = result.passes.length;
  }
  const file = path.join(job.shots, `${page_.name}-${size.name}${javaScript ? "" : "-nojs"}.png`);
  await page.screenshot({ path: file, fullPage: true });
  seen.screenshot = file;
  await context.close();
  return seen;
}

async function live(browser) {
  // The board follows the change stream: a closure written now shows without a reload.
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  const problems = [];
  page.on("console", (m) => { if (m.type() === "error") { problems.push(m.text()); } });
  await page.goto(job.base + "/", { waitUntil: "load" });
  await page.locator("#live", { hasText: "Live" }).waitFor({ timeout: 15000 });
  const before = await page.locator("#cp-medininkai").locator("xpath=..").innerText();
  const written = await fetch(job.base + "/v1/checkpoints/medininkai/closures", {
    method: "POST",
    headers: { Authorization: "Bearer " + job.token, "Content-Type": "application/json" },
    body: JSON.stringify({ starts_at: new Date(Date.now() - 60000).toISOString(),
                           reason: "maintenance", description: "Written by the live test." }),
  });
  await page.locator("#live", { hasText: "Updated" }).waitFor({ timeout: 15000 });
  const after = await page.locator("#cp-medininkai").locator("xpath=..").innerText();
  await page.screenshot({ path: path.join(job.shots, "board-live.png"), fullPage: false });
  await context.close();
  return { written: written.status, before, after, problems };
}

(async () => {
  const browser = await chromium.launch({
    executablePath: job.chromium, headless: true, args: job.args, timeout: 60000,
  });
  const out = { visits: [] };
  try {
    for (const page_ of job.pages) {
      for (const size of job.sizes) {
        out.visits.push(await visit(browser, page_, size, true));
      }
    }
    out.visits.push(await visit(browser, job.pages[0], job.sizes[1], false));
    if (job.token) { out.live = await live(browser); }
  } finally {
    await browser.close();
  }
  process.stdout.write(JSON.stringify(out));
})().catch((error) => { console.error(error); process.exit(1); });
