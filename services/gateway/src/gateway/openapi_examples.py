"""Request and response examples of the main routes, for the OpenAPI document.

Keyed by (method, path) as declared, a back end's routes as its fragment names them
(majlis.openapi_backends). Values are made up; ids are placeholders. Every other JSON body or
answer with a schema gets an example synthesized from it (gateway.schema_examples); one here
wins, so write one where the synthesized example says too little (a flow's document).
"""

from __future__ import annotations

from typing import Any

from gateway.schema_examples import PLACEHOLDER_ID as _ID
from gateway.schema_examples import PLACEHOLDER_TIME as _NOW

Example = dict[str, Any]
_FLOW = {
    "name": "Welcome menu",
    "number_id": _ID,
    "priority": 0,
    "triggers": [{"type": "first_message"}],
    "document": {
        "start": "hi",
        "nodes": [
            {"id": "hi", "type": "send_text", "text": "Marhaba! Welcome to Al Noor."},
            {"id": "done", "type": "end"},
        ],
        "edges": [{"from": "hi", "to": "done"}],
    },
}

_CONTACT = {
    "id": _ID,
    "phone": "+971501234567",
    "name": "Khalid",
    "email": None,
    "tags": ["vip"],
    "attributes": {},
    "consent": {"marketing": "unknown", "processing_restricted": False, "updated_at": None},
    "created_at": _NOW,
    "updated_at": _NOW,
    "deleted_at": None,
}

_HOURS = {
    "timezone": "Asia/Dubai",
    "weekly": {
        day: [["09:00", "13:00"], ["16:00", "21:00"]] for day in ("sun", "mon", "tue", "wed", "thu")
    },
    "holidays": ["2026-12-02"],
}

ROUTE_EXAMPLES: dict[tuple[str, str], Example] = {
    ("POST", "/api/v1/auth/register"): {
        "request": {
            "business_name": "Al Noor Trading",
            "name": "Fatima",
            "email": "fatima@alnoor.ae",
            "password": "correct horse battery staple",
        },
        "response": {"tenant_id": _ID, "user_id": _ID},
    },
    ("POST", "/api/v1/auth/login"): {
        "request": {"email": "fatima@alnoor.ae", "password": "correct horse battery staple"},
        # The answer's example comes from TokenOut: a placeholder, never a real-looking token.
    },
    ("POST", "/api/v1/api-keys"): {
        "request": {"name": "CRM sync", "scopes": ["contacts:read", "contacts:write"]},
        "response": {
            "id": _ID,
            "name": "CRM sync",
            "scopes": ["contacts:read", "contacts:write"],
            "key": "mjk_<tenant>_<key id>_<secret, shown once>",
            "hint": "mjk_…x9Qa",
            "created_at": _NOW,
        },
    },
    ("POST", "/api/v1/numbers"): {
        "request": {
            "phone_number_id": "106540352242922",
            "waba_id": "102290129340398",
            "display_number": "+971 4 123 4567",
            "access_token": "EAAGm0PX4ZCps...",
        },
        "response": {
            "id": _ID,
            "phone_number_id": "106540352242922",
            "waba_id": "102290129340398",
            "display_number": "+971 4 123 4567",
            "status": "active",
            "created_at": _NOW,
            "updated_at": _NOW,
            "quality_rating": "GREEN",
            "messaging_tier": "TIER_1K",
            "quality_event": None,
            "quality_updated_at": None,
            "account_event": None,
            "account_updated_at": None,
            "sending_paused": None,
            "sending_paused_at": None,
            "restrictions": [],
            "send_rate": 80,
            "shared_with_business_app_since": None,
        },
    },
    ("POST", "/api/v1/team/invites"): {
        "request": {"email": "omar@alnoor.ae", "role": "agent"},
        "response": {
            "id": _ID,
            "email": "omar@alnoor.ae",
            "role": "agent",
            "expires_at": _NOW,
            "token": "<tenant id hex>.<invite id hex>.<secret, shown once>",
            "invite_url": "https://app.example.com/invite#token=<tenant id hex>.<invite id hex>."
            "<secret, shown once>",
        },
    },
    ("GET", "/api/v1/plan"): {
        "response": {
            "plan": {
                "name": "starter",
                "title": "Starter",
                "features": ["ai_providers", "api_access", "outbound_webhooks"],
                "limits": {"numbers": 2, "team_members": 10, "api_keys": 5},
            },
            "usage": {"numbers": 1, "team_members": 3, "api_keys": 0},
        }
    },
    ("GET", "/api/v1/platform/residency"): {
        "response": {
            "data_region": "ae",
            "stores": [
                {"name": "postgresql", "host": "db.internal", "port": 5432, "region": "ae"},
                {"name": "redis", "host": "cache.internal", "port": 6379, "region": "ae"},
                {"name": "rabbitmq", "host": "bus.internal", "port": 5672, "region": "ae"},
            ],
            "egress": {
                "allowed_hosts": ["graph.facebook.com", "lookaside.fbsbx.com", "api.openai.com"],
                "tenant_targets": "tenant-chosen URLs (chatflow http_request nodes, outbound "
                "webhooks) are not on the list: they pass the SSRF guard (public addresses "
                "only, checked after DNS resolution and on every redirect)",
                "refused_total": 2,
                "refused_by_host": {"tracker.example.net": 2},
            },
            "encryption_at_rest": {
                "field_encryption": "AES-256-GCM",
                "active_key_id": "k1",
                "blind_index": "HMAC-SHA256",
                "keys_from": "environment (never stored in the database)",
            },
        }
    },
    ("GET", "/api/v1/settings/business-hours"): {"response": {**_HOURS, "is_default": False}},
    ("PUT", "/api/v1/settings/business-hours"): {
        "request": _HOURS,
        "response": {**_HOURS, "is_default": False},
    },
    # Proxied families (the back end owns the route; the gateway documents the main calls).
    ("GET", "/api/v1/contacts"): {"response": {"items": [_CONTACT], "next_cursor": None}},
    ("POST", "/api/v1/contacts"): {
        "request": {"phone": "+971501234567", "name": "Khalid", "tags": ["vip"]},
        "response": _CONTACT,
    },
    ("POST", "/api/v1/webhooks"): {
        "request": {
            "url": "https://crm.example.ae/hooks/majlis",
            "description": "CRM",
            "event_types": ["message.received", "contact.changed"],
        },
        "response": {
            "id": _ID,
            "url": "https://crm.example.ae/hooks/majlis",
            "description": "CRM",
            "event_types": ["contact.changed", "message.received"],
            "enabled": True,
            "disabled_reason": None,
            "previous_secret_expires_at": None,
            "created_at": _NOW,
            "updated_at": _NOW,
            "secret": "whsec_<shown once>",
        },
    },
    ("GET", "/api/v1/webhooks/{endpoint_id}/deliveries"): {
        "response": {
            "items": [
                {
                    "id": _ID,
                    "endpoint_id": _ID,
                    "event_type": "message.received",
                    "state": "succeeded",
                    "attempt": 1,
                    "status_code": 200,
                    "latency_ms": 84,
                    "error_class": None,
                    "next_attempt_at": None,
                    "last_attempt_at": _NOW,
                    "created_at": _NOW,
                }
            ],
            "next_cursor": None,
        }
    },
    ("POST", "/api/v1/flows"): {"request": _FLOW},
    ("PUT", "/api/v1/flows/{flow_id}"): {"request": _FLOW},
    ("POST", "/api/v1/templates"): {
        "request": {
            "number_id": _ID,
            "name": "order_update",
            "category": "UTILITY",
            "language": "ar",
            "components": [
                {
                    "type": "BODY",
                    "text": "طلبك {{1}} في الطريق إليك.",
                    "example": {"body_text": [["A-1024"]]},
                }
            ],
        },
    },
    ("GET", "/api/v1/teams"): {
        "response": {
            "items": [
                {
                    "id": _ID,
                    "name": "Sales",
                    "description": "Quotes and new orders",
                    "member_ids": [_ID],
                    "created_at": _NOW,
                    "updated_at": _NOW,
                }
            ],
            "next_cursor": None,
        }
    },
    ("POST", "/api/v1/teams"): {
        "response": {
            "id": _ID,
            "name": "Sales",
            "description": "Quotes and new orders",
            "member_ids": [],
            "created_at": _NOW,
            "updated_at": _NOW,
        },
    },
}
