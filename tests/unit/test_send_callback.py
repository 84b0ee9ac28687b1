"""The callback data our sends carry and read back from status webhooks."""

from __future__ import annotations

from uuid import uuid4

import pytest

from majlis.meta.callback import Echo, callback_data, read_echo


def test_a_campaign_send_echoes_its_bare_id_and_any_other_send_is_tagged() -> None:
    send_id = uuid4()
    assert callback_data(send_id, bulk=True) == str(send_id)
    assert callback_data(send_id, bulk=False) == f"i:{send_id}"
    assert read_echo(callback_data(send_id, bulk=True)) == Echo(send_id, interactive=False)
    assert read_echo(callback_data(send_id, bulk=False)) == Echo(send_id, interactive=True)


@pytest.mark.parametrize(
    "echoed", [None, 7, "", "campaign=9001", "i:", "i:not-a-uuid", "x:" + str(uuid4())]
)
def test_what_is_not_ours_is_none(echoed: object) -> None:
    assert read_echo(echoed) is None
