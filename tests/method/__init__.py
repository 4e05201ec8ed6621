"""Tests of unseen.method."""
