"""A webhook receiver in Flask that verifies Herald's deliveries with the public
`standardwebhooks` library (Herald's default `standard` format is Standard Webhooks).

    python3 -m venv .venv && .venv/bin/pip install -r requirements.txt
    WEBHOOK_SECRET=whsec_... PORT=5000 .venv/bin/python app.py

Then point an endpoint at http://127.0.0.1:5000/webhook (Herald needs
`--allow-target 127.0.0.1/32` to deliver to loopback).
"""

import os

from flask import Flask, request
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

app = Flask(__name__)
# The endpoint's secret: `herald endpoint secret APP ENDPOINT`.
webhook = Webhook(os.environ["WEBHOOK_SECRET"])


@app.post("/webhook")
def receive():
    # Verify the raw body, before any JSON parsing: a re-serialised body no longer matches.
    body = request.get_data()
    try:
        payload = webhook.verify(body, dict(request.headers))
    except WebhookVerificationError as e:
        print(f"rejected: {e}", flush=True)
        return {"error": str(e)}, 400
    # webhook-id is the same on every retry of a message: de-duplicate on it.
    print(f"verified {request.headers['webhook-id']}: {payload}", flush=True)
    return "", 204


if __name__ == "__main__":
    app.run(host="127.0.0.1", port=int(os.environ.get("PORT", "5000")))
