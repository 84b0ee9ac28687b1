"""Outbound webhooks: tenants' endpoints, signed deliveries, retries, the delivery log.

`catalog` maps platform events to webhook payloads, `consumers` turns each into one delivery
per matching endpoint, `worker` sends due deliveries (signed by `signing`, retried on the
schedule of `retries`, through the SSRF guard checked by `targets`), `views` is the API.
"""
