// Drives headless Chromium over the interactive docs for tests/test_docs_browser.py: opens
// /docs/, runs one operation with "Try it out" and reports the status Swagger UI shows and any
// console error (a Content-Security-Policy refusal is one) as JSON on standard output.
// Usage: node docs.cjs '<json job>' (see the Python test).
"use strict";
const path = require("path");

const job = JSON.parse(process.argv[2]);
const { chromium } = require(path.join(job.tools, "node_modules", "playwright-core"));

(async () => {
  const browser = await chromium.launch({
    executablePath: job.chromium, headless: true, args: job.args, timeout: 60000,
  });
  try {
    const page = await browser.newPage();
    const problems = [];
    page.on("console", (m) => { if (m.type() === "error") { problems.push(m.text()); } });
    page.on("pageerror", (error) => problems.push(String(error)));
    const requested = [];
    page.on("request", (request) => requested.push(request.url()));
    await page.goto(job.base + "/docs/", { waitUntil: "load", timeout: 30000 });
    const servers = await page.locator(".servers select").innerText({ timeout: 15000 });
    const operation = page.locator(`#operations-${job.tag}-${job.operation}`);
    await operation.locator(".opblock-summary").click();
    await operation.locator("button.try-out__btn").click();
    await operation.locator("button.execute").click();
    const status = await operation
      .locator(".live-responses-table .response .response-col_status")
      .first()
      .innerText({ timeout: 15000 });
    const body = await operation.locator(".live-responses-table .response-col_description pre")
      .first().innerText();
    process.stdout.write(JSON.stringify({ servers, status: status.trim(), body, problems, requested }));
  } finally {
    await browser.close();
  }
})().catch((error) => { console.error(error); process.exit(1); });
