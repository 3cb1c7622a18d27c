"""Changing a channel: its settings by JSON merge patch, on SQLite and PostgreSQL."""

from __future__ import annotations

from crm import Store


def test_update_channel_merges_settings_and_returns_before_and_after(store: Store) -> None:
    channel = store.create_channel(
        provider="planfix_api",
        name="line",
        settings={"pbx_url": "https://a", "secrets": {"pbx_token": "1", "planfix_token": "2"}},
    )

    changed = store.update_channel(
        channel.id,
        name="renamed",
        settings_patch={"secrets": {"pbx_token": "3"}, "pbx_url": None, "last_error": {"s": 401}},
    )

    assert changed is not None
    before, after = changed
    assert before == channel
    assert after.name == "renamed"
    assert after.settings == {
        "secrets": {"pbx_token": "3", "planfix_token": "2"},
        "last_error": {"s": 401},
    }
    assert store.get_channel(channel.id) == after
    assert store.update_channel(channel.id + 100, name="x") is None


def test_update_channel_with_nothing_to_change_keeps_the_channel(store: Store) -> None:
    channel = store.create_channel(provider="uis", name="line", settings={"a": 1})
    changed = store.update_channel(channel.id)
    assert changed == (channel, channel)
