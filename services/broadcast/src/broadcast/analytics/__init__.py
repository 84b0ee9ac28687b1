"""Analytics: rollups filled from the platform's events, read through `/api/v1/analytics/...`."""
