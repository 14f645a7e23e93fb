// The customer portal in a real headless Chromium, driven by playwright-core with Debian's
// chromium (run by tests/it/portal.rs, which starts Herald, a receiver and the control server
// the script uses to make the receiver fail). Finds every control by its role and accessible
// name, as a screen reader or a script would, and saves screenshots at desktop and phone width.
"use strict";
const { chromium } = require("playwright-core");
const assert = require("node:assert/strict");
const path = require("node:path");

const env = (k) => {
  const v = process.env[k];
  if (!v) throw new Error(`${k} is not set`);
  return v;
};
const BASE = env("HERALD_BASE");
const APP = env("APP_ID");
const RECEIVER = env("RECEIVER_URL");
const CONTROL = env("CONTROL");
const SHOTS = env("SCREENSHOTS");
const DESKTOP = { width: 1280, height: 860 };
const PHONE = { width: 390, height: 844 };
let checks = 0;
const ok = (what) => {
  checks += 1;
  console.log(`ok ${checks} - ${what}`);
};
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function received() {
  return Number(await (await fetch(`${CONTROL}/count`)).text());
}

async function waitFor(what, f, timeoutMs = 20000) {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = await f();
    if (v) return v;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await sleep(250);
  }
}

/// The card of the endpoint whose URL is `url` on the endpoints page.
function card(page, url) {
  return page.getByRole("listitem").filter({ has: page.getByRole("link", { name: url, exact: true }) });
}

/// Reloads the endpoints page until the endpoint's last status reads `state`.
async function waitForStatus(page, url, state) {
  await waitFor(`last delivery: ${state}`, async () => {
    await page.goto(`${BASE}/portal/app/${APP}/endpoints`);
    return (await card(page, url).getByRole("img", { name: new RegExp(`^Last delivery: ${state}`) }).count()) === 1;
  });
}

async function noSideways(page, what) {
  const [scroll, width] = await page.evaluate(() => [document.documentElement.scrollWidth, window.innerWidth]);
  assert.ok(scroll <= width, `${what}: ${scroll}px wide in a ${width}px window`);
}

async function shoot(page, name) {
  for (const [size, vp] of [["desktop", DESKTOP], ["phone", PHONE]]) {
    await page.setViewportSize(vp);
    await noSideways(page, `${name} (${size})`);
    await page.screenshot({ path: path.join(SHOTS, `${name}-${size}.png`), fullPage: true });
  }
  await page.setViewportSize(DESKTOP);
  ok(`${name}: screenshots, no horizontal scrolling at 390 px`);
}

(async () => {
  const context = await chromium.launchPersistentContext(env("PROFILE_DIR"), {
    executablePath: env("CHROMIUM"),
    headless: true,
    viewport: DESKTOP,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  const page = context.pages()[0] || (await context.newPage());
  page.setDefaultTimeout(15000);
  try {
    // The link signs in: the key leaves the address bar, a strict HttpOnly cookie holds the session.
    await page.goto(env("LINK"));
    await page.waitForURL(`**/portal/app/${APP}/endpoints`);
    assert.ok(!page.url().includes("key="), page.url());
    const cookie = (await context.cookies()).find((c) => c.name === "herald_portal");
    assert.ok(cookie, "a session cookie");
    assert.equal(cookie.name, "herald_portal");
    assert.equal(cookie.httpOnly, true);
    assert.equal(cookie.sameSite, "Strict");
    ok("the portal link opens the portal and leaves the address bar clean");
    for (const name of ["Endpoints", "Messages", "Event types"]) {
      await page.getByRole("link", { name, exact: true }).waitFor();
    }
    ok("tabs Endpoints, Messages, Event types");

    // Add an endpoint pointing at the real receiver.
    await page.getByRole("button", { name: "Add endpoint" }).click();
    await page.getByLabel("URL", { exact: true }).fill(RECEIVER);
    await page.getByLabel("Description").fill("Billing service");
    await page.getByLabel("Event types").selectOption(["invoice.paid", "simulation.completed"]);
    await shoot(page, "add-endpoint");
    await page.getByRole("button", { name: "Save" }).click();
    await page.getByRole("status").filter({ hasText: "Endpoint added" }).waitFor();
    const ep = card(page, RECEIVER);
    await ep.getByRole("img", { name: /^Last delivery: never sent/ }).waitFor();
    ok("added an endpoint with a URL, a description and two event types: never sent");

    // A test event arrives, and the status turns to succeeded.
    await ep.getByLabel("Event type").selectOption("invoice.paid");
    await ep.getByRole("button", { name: "Send test event" }).click();
    await page.getByRole("status").filter({ hasText: "Test event sent" }).waitFor();
    await waitFor("the test event at the receiver", async () => (await received()) === 1);
    await waitForStatus(page, RECEIVER, "succeeded");
    ok("a test event reached the receiver; last delivery: succeeded");

    // The receiver fails: the status says failed, with the error on hover and in its name.
    await fetch(`${CONTROL}/fail`, { method: "POST" });
    await card(page, RECEIVER).getByRole("button", { name: "Send test event" }).click();
    await waitFor("the failing request", async () => (await received()) === 2);
    await waitForStatus(page, RECEIVER, "failed");
    const bad = card(page, RECEIVER).getByRole("img", { name: /^Last delivery: failed/ });
    assert.match(await bad.getAttribute("aria-label"), /HTTP 500/);
    assert.match(await bad.getAttribute("title"), /HTTP 500/);
    ok("the receiver failed; last delivery: failed, HTTP 500 on hover and for screen readers");
    await shoot(page, "endpoints");

    // The message log, the failed message, and a resend once the receiver is back.
    await page.getByRole("link", { name: "Messages", exact: true }).click();
    await page.getByLabel("Status").selectOption("failed");
    await page.getByRole("button", { name: "Filter" }).click();
    const rows = page.locator("table.messages tbody tr");
    assert.equal(await rows.filter({ hasText: "invoice.paid" }).count(), 1);
    await shoot(page, "messages");
    await rows.filter({ hasText: "invoice.paid" }).getByRole("link").click();
    await page.getByRole("heading", { name: "Payload" }).waitFor();
    assert.match(await page.locator("pre.json").innerText(), /"invoice": 42/);
    assert.match(await page.getByRole("listitem").filter({ hasText: "500 Failed" }).first().innerText(), /Status code 500/);
    ok("the failed message shows its pretty payload and the attempt's status code");
    await shoot(page, "message");
    await page.getByRole("listitem").filter({ hasText: RECEIVER }).getByRole("button", { name: "Resend" }).click();
    await page.getByRole("status").filter({ hasText: "queued to be sent again" }).waitFor();
    await waitFor("the resent message", async () => (await received()) === 3);
    await waitForStatus(page, RECEIVER, "succeeded");
    ok("resent from the page after the receiver recovered: it arrived, last delivery: succeeded");

    // The endpoint's own page: chart, attempts, recovery.
    await card(page, RECEIVER).getByRole("link", { name: RECEIVER, exact: true }).click();
    await page.getByRole("img", { name: /Success rate/ }).waitFor();
    assert.equal(await page.locator("table.attempts tbody tr").count(), 3);
    await page.getByRole("button", { name: "Recover" }).click();
    await page.getByRole("status").filter({ hasText: "being sent again" }).waitFor();
    ok("endpoint page: success-rate chart, three attempts, recover failed since a time");
    await page.getByRole("button", { name: "Reveal secret" }).click();
    assert.match(await page.getByLabel("Signing secret").inputValue(), /^whsec_/);
    const before = await page.getByLabel("Signing secret").inputValue();
    await page.getByRole("button", { name: "Rotate secret" }).click();
    await page.getByRole("status").filter({ hasText: "Secret rotated" }).waitFor();
    assert.notEqual(await page.getByLabel("Signing secret").inputValue(), before);
    ok("revealed and rotated the secret");
    await shoot(page, "endpoint");

    // Disabled, it gets nothing.
    await page.getByRole("button", { name: "Disable" }).click();
    await page.getByRole("status").filter({ hasText: "Endpoint disabled" }).waitFor();
    const published = await fetch(`${BASE}/api/v1/app/${APP}/msg`, {
      method: "POST",
      headers: { authorization: `Bearer ${env("HERALD_TOKEN")}`, "content-type": "application/json" },
      body: JSON.stringify({ eventType: "invoice.paid", payload: { invoice: 43 } }),
    });
    assert.equal(published.status, 202);
    await page.getByRole("button", { name: "Send test event" }).click();
    await sleep(2500);
    assert.equal(await received(), 3);
    await page.getByRole("button", { name: "Enable" }).waitFor();
    ok("disabled: a published message and a test event delivered nothing");
    await page.getByRole("button", { name: "Enable" }).click();
    await page.getByRole("status").filter({ hasText: "Endpoint enabled" }).waitFor();

    // Edit, then delete with a confirmation.
    await page.getByRole("link", { name: "Edit" }).click();
    await page.getByLabel("Description").fill("Billing service (v2)");
    await page.getByRole("button", { name: "Save" }).click();
    await page.getByRole("status").filter({ hasText: "Endpoint saved" }).waitFor();
    await page.getByText("Billing service (v2)").waitFor();
    ok("edited the description");

    await page.getByRole("link", { name: "Event types", exact: true }).click();
    await page.getByRole("heading", { name: "invoice.paid" }).waitFor();
    await page.getByText("Example payload").click();
    ok("event types: the catalogue with descriptions and examples");
    await shoot(page, "event-types");

    await page.getByRole("link", { name: "Endpoints", exact: true }).click();
    await card(page, RECEIVER).getByRole("button", { name: "Delete" }).click();
    await page.getByRole("heading", { name: "Delete this endpoint?" }).waitFor();
    await page.getByRole("button", { name: "Delete" }).click();
    await page.getByRole("status").filter({ hasText: "Endpoint deleted" }).waitFor();
    assert.equal(await card(page, RECEIVER).count(), 0);
    ok("deleted the endpoint after a confirmation");

    // Keyboard: the first tab stop is the skip link, and the tabs are reachable.
    await page.keyboard.press("Tab");
    assert.equal(await page.evaluate(() => document.activeElement.textContent), "Skip to content");
    ok("keyboard: skip link first");

    // Another application's pages show nothing of it.
    for (const p of [`/portal/app/${env("OTHER_APP_ID")}/endpoints`, `/portal/app/${env("OTHER_APP_ID")}/messages`,
      `/portal/app/${APP}/endpoints/${env("OTHER_ENDPOINT_ID")}`]) {
      const r = await page.goto(BASE + p);
      assert.equal(r.status(), 404, p);
      const text = await page.content();
      assert.ok(!/globex/i.test(text), `${p} shows the other application`);
    }
    ok("a link for one application never shows another's");

    // A forged or expired link is refused, and then nothing is shown.
    await context.clearCookies();
    for (const [what, link] of [["forged", `${BASE}/portal/#key=appsk_${"x".repeat(43)}`], ["expired", env("EXPIRED_LINK")]]) {
      await page.goto(link);
      await page.getByRole("alert").filter({ hasText: "not valid or has expired" }).waitFor();
      assert.ok(!page.url().includes("key="), page.url());
      const r = await page.goto(`${BASE}/portal/app/${APP}/endpoints`);
      assert.equal(r.status(), 401);
      assert.ok(!(await page.content()).includes("Acme"), `${what}: the page shows the application`);
      ok(`the ${what} link is refused and shows nothing`);
    }
    await shoot(page, "sign-in");
    console.log(`portal e2e: all checks passed (${checks})`);
  } catch (e) {
    await page.screenshot({ path: path.join(SHOTS, "failure.png"), fullPage: true }).catch(() => {});
    console.log(`failed at ${page.url()}`);
    throw e;
  } finally {
    await context.close();
  }
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
