// A webhook receiver in Express that verifies Herald's deliveries with the public
// `standardwebhooks` library (Herald's default `standard` format is Standard Webhooks).
//
//   npm ci
//   WEBHOOK_SECRET=whsec_... PORT=3000 node server.js
//
// Then point an endpoint at http://127.0.0.1:3000/webhook (Herald needs
// `--allow-target 127.0.0.1/32` to deliver to loopback).

const express = require("express");
const { Webhook } = require("standardwebhooks");

// The endpoint's secret: `herald endpoint secret APP ENDPOINT`.
const webhook = new Webhook(process.env.WEBHOOK_SECRET);
const app = express();

// express.raw keeps the body as bytes: verify them before any JSON parsing, since a
// re-serialised body no longer matches the signature.
app.post("/webhook", express.raw({ type: "*/*" }), (req, res) => {
  let payload;
  try {
    payload = webhook.verify(req.body, req.headers);
  } catch (e) {
    console.log(`rejected: ${e.message}`);
    return res.status(400).json({ error: e.message });
  }
  // webhook-id is the same on every retry of a message: de-duplicate on it.
  console.log(`verified ${req.headers["webhook-id"]}: ${JSON.stringify(payload)}`);
  res.status(204).end();
});

const port = Number(process.env.PORT || 3000);
app.listen(port, "127.0.0.1", () => console.log(`listening on http://127.0.0.1:${port}/webhook`));
