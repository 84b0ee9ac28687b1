"""The README's settings table stays complete as settings are added."""

from majlis.settings import REPO_ROOT, Settings


def test_every_setting_is_documented() -> None:
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    missing = [
        f"MAJLIS_{name.upper()}"
        for name in Settings.model_fields
        if f"MAJLIS_{name.upper()}" not in readme
    ]
    assert missing == []
