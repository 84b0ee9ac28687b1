"""The tenant-safe data layer: the pool, the one transaction helper, lookups, migrations."""

from majlis.db.lookups import (
    all_tenant_ids,
    claim_login_email,
    tenant_for_phone_number_id,
    tenant_for_waba_id,
    user_for_login,
)
from majlis.db.pool import create_pool
from majlis.db.transactions import DbRole, opened_tenant_transaction, tenant_transaction

__all__ = [
    "DbRole",
    "all_tenant_ids",
    "claim_login_email",
    "create_pool",
    "opened_tenant_transaction",
    "tenant_for_phone_number_id",
    "tenant_for_waba_id",
    "tenant_transaction",
    "user_for_login",
]
