"""Tests of unseen.worlds (tiny, emoji)."""
