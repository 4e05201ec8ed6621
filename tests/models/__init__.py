"""Tests of unseen.models."""
